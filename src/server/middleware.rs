//! The middleware every request passes, outermost first: the access log (and request ID),
//! request metrics, refusals made before routing (oversized HTTP/2 heads, `force_https`) with
//! the pacing of request bodies, and error pages in the configured form.
//!
//! Never: decides whether a request may pass (the gate does) or chooses a status other than
//! through `http::respond`.

use std::sync::Arc;

use super::TrustConfig;
use crate::http::request;
use crate::http::respond;
use crate::metrics::Metrics;
use crate::telemetry::Logger;

/// What the middleware reads: its own settings, not the handlers' state.
pub struct Context {
    pub pages: Arc<crate::pages::Config>,
    pub proxy_prefix: String,
    pub log: Arc<Logger>,
    pub metrics: Arc<Metrics>,
    /// Which peers' forwarded headers are believed (client IP and host in the log,
    /// `force_https`).
    pub trust: TrustConfig,
    /// `ping_path` and `ready_path`: not counted in request metrics.
    pub health_paths: Vec<String>,
    pub force_https: bool,
    /// The HTTPS listener's port, for `force_https`'s redirect.
    pub https_port: Option<u16>,
    /// `allow_query_semicolons`: `;` in a query separates parameters, as `&` does.
    pub query_semicolons: bool,
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
pub(super) async fn error_pages(
    ctx: Arc<Context>,
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody, String>>, actix_web::Error> {
    use actix_web::HttpMessage;
    let res = next.call(req).await?;
    let Some(page) = res.response().extensions().get::<crate::http::error::ErrorPage>().cloned() else {
        return Ok(res.map_into_left_body());
    };
    let request_id = res.request().extensions().get::<crate::telemetry::RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let body = crate::pages::error_page(
        &ctx.pages,
        &crate::pages::ErrorInfo {
            status: page.status,
            message: page.message,
            detail: &page.detail,
            request_id: &request_id,
            prefix: &ctx.proxy_prefix,
            sign_out: page.sign_out,
        },
    );
    let csp = crate::pages::content_security_policy(&ctx.pages, ctx.pages.error_template.is_some());
    let mut res = res.map_body(|_, _| body).map_into_right_body();
    res.headers_mut().insert(actix_web::http::header::CONTENT_SECURITY_POLICY, csp);
    res.headers_mut().remove(actix_web::http::header::CONTENT_LENGTH);
    Ok(res)
}

/// The request log, and the request ID: taken from `request_id_header` or generated, passed
/// on to the upstream in the same header, and written in every log line of the request.
pub(super) async fn access_log(
    ctx: Arc<Context>,
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    use actix_web::http::header::HeaderValue;
    let header = &ctx.log.config().request_id_header;
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
    let health = ctx.health_paths.iter().any(|p| p == req.path());
    if !ctx.log.logs_path(req.path(), health) {
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
    let original = crate::gate::Edge::read(req.request(), &ctx.trust);
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
        ctx.log.request(&crate::telemetry::RequestRecord {
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
pub(super) async fn count(
    ctx: Arc<Context>,
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let health = req.path() == "/robots.txt" || ctx.health_paths.iter().any(|p| p == req.path());
    if health {
        return next.call(req).await;
    }
    // A standard method clones without allocating.
    let method = req.method().clone();
    let started = std::time::Instant::now();
    ctx.metrics.in_flight.inc();
    let res = next.call(req).await;
    ctx.metrics.in_flight.dec();
    let code = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    ctx.metrics.request(code, method.as_str(), started.elapsed().as_secs_f64());
    res
}

/// What is answered or bounded before routing, in one middleware (each layer costs every
/// request): an HTTP/2 request beyond HTTP/1's header bounds gets 431, with `force_https` a
/// plain-HTTP request gets a 308 to the same URL over HTTPS, and a request body must keep
/// coming (`body_rate`).
pub(super) async fn refuse_early(
    cfg: Arc<Context>,
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>, actix_web::Error> {
    if req.version() == actix_web::http::Version::HTTP_2 && too_large(&req) {
        let res = respond::head_too_large();
        return Ok(req.into_response(res).map_into_right_body());
    }
    if cfg.force_https {
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
            let res = respond::permanent_redirect(location);
            return Ok(req.into_response(res).map_into_right_body());
        }
    }
    if cfg.query_semicolons {
        semicolons_as_ampersands(&mut req);
    }
    super::body_rate::pace(&mut req);
    next.call(req).await.map(|r| r.map_into_left_body())
}

/// `allow_query_semicolons`, as Go's `http.AllowQuerySemicolons`: every `;` of the query
/// becomes `&` for whatever reads parameters, so they are the ones oauth2-proxy reads. The
/// target as received is kept ([`request::ReceivedTarget`]): the upstream gets it unchanged,
/// as oauth2-proxy's does.
fn semicolons_as_ampersands(req: &mut actix_web::dev::ServiceRequest) {
    use actix_web::HttpMessage as _;
    let Some(query) = req.uri().query().filter(|q| q.contains(';')) else {
        return;
    };
    let rewritten = format!("{}?{}", req.uri().path(), query.replace(';', "&"));
    let received = req.uri().path_and_query().map_or("/".to_string(), |p| p.to_string());
    req.extensions_mut().insert(request::ReceivedTarget(received));
    let mut parts = req.uri().clone().into_parts();
    match rewritten.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        // `&` is valid wherever `;` was: this cannot fail, and if it did the query stays.
        Err(_) => return,
    }
    if let Ok(uri) = actix_web::http::Uri::from_parts(parts) {
        req.head_mut().uri = uri;
    }
}
