//! The HTTP server: listeners, TLS, workers, middleware order and graceful shutdown.
//!
//! Invariant: the only module that binds sockets.

use std::fmt;
use std::path::PathBuf;

use ipnet::IpNet;

/// An address to listen on, as oauth2-proxy writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// `host:port`; an empty host (`:4180`) means every interface.
    Tcp {
        host: String,
        port: u16,
    },
    Unix(PathBuf),
    /// An inherited file descriptor (`fd:3`).
    Fd(i32),
}

impl ListenAddr {
    /// The `host:port` string to bind, with an empty host meaning all interfaces.
    pub fn bind_string(&self) -> Option<String> {
        match self {
            ListenAddr::Tcp { host, port } if host.is_empty() => Some(format!("0.0.0.0:{port}")),
            ListenAddr::Tcp { host, port } if host.contains(':') => Some(format!("[{host}]:{port}")),
            ListenAddr::Tcp { host, port } => Some(format!("{host}:{port}")),
            _ => None,
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp { .. } => f.write_str(&self.bind_string().unwrap_or_default()),
            ListenAddr::Unix(p) => write!(f, "unix://{}", p.display()),
            ListenAddr::Fd(n) => write!(f, "fd:{n}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub min_version: TlsVersion,
    pub cipher_suites: Vec<String>,
}

/// Which peers' forwarded headers are believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustConfig {
    pub reverse_proxy: bool,
    pub trusted_proxy_ips: Vec<IpNet>,
    pub real_client_ip_header: actix_web::http::header::HeaderName,
}

/// Validated server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Plain HTTP listener; `None` when TLS replaces it (oauth2-proxy serves one or the other).
    pub http_address: Option<ListenAddr>,
    /// HTTPS listener, present exactly when `tls` is.
    pub https_address: Option<ListenAddr>,
    pub tls: Option<TlsConfig>,
    pub metrics_address: Option<ListenAddr>,
    pub metrics_secure_address: Option<ListenAddr>,
    pub metrics_tls: Option<TlsConfig>,
    pub proxy_prefix: String,
    pub ping_path: String,
    pub ready_path: String,
    pub ping_user_agent: Option<String>,
    pub force_https: bool,
    /// Worker threads; 0 for one per CPU (actix's default).
    pub workers: usize,
    pub trust: TrustConfig,
}

pub mod error;
pub mod request;
pub mod routes;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::endpoints::State;

/// Binds the configured listeners and returns the server (not yet polled) and its addresses.
pub fn start(
    config: Config,
    state: web::Data<State>,
    upstream_tls: (Arc<rustls::ClientConfig>, Arc<rustls::ClientConfig>),
) -> anyhow::Result<(Server, Vec<SocketAddr>)> {
    let paths = routes::Paths {
        ping: config.ping_path.clone(),
        ping_user_agent: config.ping_user_agent.clone(),
        ready: config.ready_path.clone(),
        prefix: config.proxy_prefix.clone(),
    };
    let https_port = match &config.https_address {
        Some(ListenAddr::Tcp { port, .. }) => Some(*port),
        _ => None,
    };
    let redirect = Arc::new(ForceHttps { enabled: config.force_https, https_port, trust: config.trust.clone() });
    let mut http = HttpServer::new(move || {
        // awc clients are per worker (they are not Send).
        let clients = web::Data::new(crate::proxy::forward::Clients::new(upstream_tls.0.clone(), upstream_tls.1.clone()));
        let redirect = redirect.clone();
        App::new()
            .wrap(actix_web::middleware::from_fn(error_pages))
            .wrap(actix_web::middleware::from_fn(move |req, next| refuse_early(redirect.clone(), req, next)))
            .wrap(actix_web::middleware::from_fn(count))
            .wrap(actix_web::middleware::from_fn(access_log))
            .app_data(state.clone())
            .app_data(clients)
            .configure(|cfg| routes::configure(cfg, &paths))
    })
    // Graceful stop waits for in-flight requests; 30 s matches common orchestrator grace periods.
    .shutdown_timeout(30);
    if config.workers > 0 {
        http = http.workers(config.workers);
    }
    if let Some(addr) = &config.http_address {
        let bind = addr.bind_string().with_context(|| format!("listening on {addr} is not supported yet; use host:port"))?;
        http = http.bind(&bind).with_context(|| format!("cannot listen on {bind}"))?;
    }
    let mut scheme = "http";
    if let (Some(addr), Some(tls_cfg)) = (&config.https_address, &config.tls) {
        let bind = addr.bind_string().with_context(|| format!("listening on {addr} is not supported yet; use host:port"))?;
        let (server_config, reloader) = tls::server_config(tls_cfg)?;
        reloader.watch();
        http = http.bind_rustls_0_23(&bind, server_config).with_context(|| format!("cannot listen on {bind}"))?;
        scheme = "https";
    }
    let addrs = http.addrs();
    for a in &addrs {
        log::info!("listening on {scheme}://{a}");
    }
    Ok((http.run(), addrs))
}

/// HTTP/1 requests with more than 128 KiB of head or 96 headers never reach the app
/// (actix-http's parser refuses them); HTTP/2 requests get the same bounds here, since the h2
/// server actix builds accepts header lists of up to 16 MiB. This bounds the work a request
/// causes, not the h2 decoder's memory (actix does not expose its header-list limit).
pub const MAX_HEAD_BYTES: usize = 131_072;
pub const MAX_HEADERS: usize = 96;

/// An HTTP/2 head beyond HTTP/1's bounds.
fn too_large(req: &actix_web::dev::ServiceRequest) -> bool {
    let headers = req.headers();
    let bytes: usize = headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum::<usize>() + req.uri().to_string().len();
    // Browsers send each cookie as its own field over HTTP/2 (RFC 9113 8.2.3): they count
    // as the one `Cookie` header they are over HTTP/1.
    let fields = headers.len() - headers.get_all(actix_web::http::header::COOKIE).count().saturating_sub(1);
    fields > MAX_HEADERS || bytes > MAX_HEAD_BYTES
}

/// Error pages in the configured form: an `HttpError`'s page is rendered again with the
/// custom `error.html` or the footer, `show_debug_on_error` and the request ID, under the
/// pages' Content-Security-Policy. Other responses pass untouched.
async fn error_pages(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody, String>>, actix_web::Error> {
    use actix_web::HttpMessage;
    let res = next.call(req).await?;
    let Some(page) = res.response().extensions().get::<error::ErrorPage>().cloned() else { return Ok(res.map_into_left_body()) };
    let Some(state) = res.request().app_data::<web::Data<State>>().cloned() else { return Ok(res.map_into_left_body()) };
    let request_id = res.request().extensions().get::<crate::telemetry::RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let body = crate::endpoints::pages::error_page(
        &state.pages,
        &crate::endpoints::pages::ErrorInfo {
            status: page.status,
            message: page.message,
            detail: &page.detail,
            request_id: &request_id,
            prefix: &state.proxy_prefix,
        },
    );
    let csp = crate::endpoints::pages::content_security_policy(&state.pages, state.pages.error_template.is_some());
    let mut res = res.map_body(|_, _| body).map_into_right_body();
    res.headers_mut().insert(actix_web::http::header::CONTENT_SECURITY_POLICY, csp);
    res.headers_mut().remove(actix_web::http::header::CONTENT_LENGTH);
    Ok(res)
}

/// The request log, and the request ID: taken from `request_id_header` or generated, passed
/// on to the upstream in the same header, and written in every log line of the request.
async fn access_log(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    use actix_web::http::header::HeaderValue;
    let Some(state) = req.app_data::<web::Data<State>>().cloned() else { return next.call(req).await };
    let header = &state.log.config().request_id_header;
    let given = req
        .headers()
        .get(header)
        .and_then(request::visible_ascii)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string);
    // The upstream gets exactly one value, the one logged: a generated ID replaces a missing
    // or unusable one, and a second copy the client sent is dropped.
    let several = req.headers().get_all(header).nth(1).is_some();
    let id = match given {
        Some(id) if !several => id,
        given => {
            let id = given.unwrap_or_else(|| crate::telemetry::RequestId::generate().0);
            if let Ok(value) = HeaderValue::from_str(&id) {
                req.headers_mut().insert(header.clone(), value);
            }
            id
        }
    };
    let health = state.health_paths.iter().any(|p| p == req.path());
    if !state.log.logs_path(req.path(), health) {
        // Not logged: only the request ID is needed (for the auth log and the upstream). The
        // request line's fields are not even collected: this is the hot path of every check.
        req.extensions_mut().insert(crate::telemetry::RequestId(id));
        return next.call(req).await;
    }
    req.extensions_mut().insert(crate::telemetry::RequestId(id.clone()));
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_string();
    let uri = req.uri().path_and_query().map_or("/".to_string(), |p| p.to_string());
    let protocol = format!("{:?}", req.version());
    let user_agent = req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let original = crate::gate::Edge::read(req.request(), &state.trust);
    let client = match (original.trusted, original.client_ip, req.peer_addr()) {
        (true, Some(ip), _) => ip.to_string(),
        (_, _, Some(peer)) => peer.to_string(),
        _ => "-".to_string(),
    };
    let res = next.call(req).await?;
    {
        let ext = res.request().extensions();
        let username = ext.get::<crate::telemetry::LoggedUser>().map_or("-".to_string(), |u| u.0.clone());
        let upstream = ext.get::<crate::telemetry::LoggedUpstream>().map_or("-".to_string(), |u| u.0.clone());
        drop(ext);
        let size = res
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        state.log.request(&crate::telemetry::RequestRecord {
            client: &client,
            request_id: &id,
            username: &username,
            host: &original.host,
            method: &method,
            upstream: &upstream,
            uri: &uri,
            protocol: &protocol,
            user_agent: &user_agent,
            status: res.status().as_u16(),
            size,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(res)
}

/// Request metrics: in flight, by status code, duration by method. Health checks are not
/// counted, as in oauth2-proxy.
async fn count(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<State>>().cloned();
    let health = req.path() == "/robots.txt" || state.as_ref().is_some_and(|s| s.health_paths.iter().any(|p| p == req.path()));
    let Some(state) = state.filter(|_| !health) else { return next.call(req).await };
    // A standard method clones without allocating.
    let method = req.method().clone();
    let started = std::time::Instant::now();
    state.metrics.in_flight.inc();
    let res = next.call(req).await;
    state.metrics.in_flight.dec();
    let code = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    state.metrics.request(code, method.as_str(), started.elapsed().as_secs_f64());
    res
}

/// The metrics listeners (`metrics_address`, and `metrics_secure_address` with its TLS files):
/// every path answers the exposition text, as oauth2-proxy's metrics server does.
pub fn metrics_servers(config: &Config, metrics: Arc<crate::metrics::Metrics>) -> anyhow::Result<Vec<Server>> {
    let mut out = Vec::new();
    let make = |m: Arc<crate::metrics::Metrics>| {
        HttpServer::new(move || {
            let m = m.clone();
            App::new().default_service(web::to(move || {
                let m = m.clone();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
                        .body(m.encode())
                }
            }))
        })
        .workers(1)
    };
    if let Some(addr) = &config.metrics_address {
        let bind = addr.bind_string().with_context(|| format!("metrics_address {addr} is not host:port"))?;
        out.push(make(metrics.clone()).bind(&bind).with_context(|| format!("cannot listen on {bind}"))?.run());
        log::info!("metrics on http://{bind}");
    }
    if let (Some(addr), Some(tls_cfg)) = (&config.metrics_secure_address, &config.metrics_tls) {
        let bind = addr.bind_string().with_context(|| format!("metrics_secure_address {addr} is not host:port"))?;
        let (server_config, reloader) = tls::server_config(tls_cfg)?;
        reloader.watch();
        out.push(make(metrics).bind_rustls_0_23(&bind, server_config).with_context(|| format!("cannot listen on {bind}"))?.run());
        log::info!("metrics on https://{bind}");
    }
    Ok(out)
}

/// What is answered before routing, in one middleware (each layer costs every request): an
/// HTTP/2 request beyond HTTP/1's header bounds gets 431, and with `force_https` a plain-HTTP
/// request gets a 308 to the same URL over HTTPS.
struct ForceHttps {
    enabled: bool,
    https_port: Option<u16>,
    trust: TrustConfig,
}

async fn refuse_early(
    cfg: Arc<ForceHttps>,
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>, actix_web::Error> {
    if req.version() == actix_web::http::Version::HTTP_2 && too_large(&req) {
        let res = actix_web::HttpResponse::build(actix_web::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).finish();
        return Ok(req.into_response(res).map_into_right_body());
    }
    if cfg.enabled {
        let original = crate::gate::Edge::read(req.request(), &cfg.trust);
        if original.proto != "https" {
            // The port of the HTTPS listener replaces the request's, when the request had one.
            let host = match (original.host.rsplit_once(':'), cfg.https_port) {
                (Some((h, p)), Some(port)) if p.bytes().all(|b| b.is_ascii_digit()) => {
                    if port == 443 {
                        h.to_string()
                    } else {
                        format!("{h}:{port}")
                    }
                }
                _ => original.host.clone(),
            };
            let location = format!("https://{host}{}", req.uri().path_and_query().map_or("/", |p| p.as_str()));
            let res = actix_web::HttpResponse::PermanentRedirect().insert_header((actix_web::http::header::LOCATION, location)).finish();
            return Ok(req.into_response(res).map_into_right_body());
        }
    }
    next.call(req).await.map(|r| r.map_into_left_body())
}
