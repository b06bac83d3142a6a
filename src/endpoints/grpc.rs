//! Envoy's gRPC external authorization (`envoy.service.auth.v3.Authorization/Check`) on
//! `grpc_address`, plaintext HTTP/2.
//!
//! The decision is the gate's, unchanged: a `CheckRequest`'s original method, path (with its
//! query), host, scheme and headers become the request the gate reads (`auth::described`,
//! judged as itself, like a proxied request; the client address is Envoy's `source`), and the
//! route's `context_extensions` (`allowed_groups`, `allowed_emails`, `allowed_email_domains`)
//! narrow it like a check URL's query. The answer `/oauth2/verify` would give is then carried
//! over: a 200 becomes an `OkHttpResponse` (identity headers set on the upstream request, the
//! client's copies removed, a refreshed cookie for the browser), anything else a
//! `DeniedHttpResponse` with the same status, headers and body (the 302 to the login, 401, 403).
//!
//! tonic serves from its own tasks, which must be `Send`; the gate works on actix requests,
//! which are not. So each check is handed to this instance's actix thread and judged there,
//! concurrently (a task each).
//! Never: decides anything itself, or reads a header the gate would not.

use std::net::{IpAddr, SocketAddr};

use actix_web::{HttpResponse, web};
use envoy_types::ext_authz::v3::CheckResponseExt;
use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction, HeaderValue,
    HeaderValueOption, HttpStatus, OkHttpResponse,
};
use tokio::sync::{mpsc, oneshot};

use super::auth;
use crate::authz::Constraints;
use crate::gate::Edge;
use crate::state::State;

/// What Envoy says of the request to check: plain data, so it can cross to the actix thread.
#[derive(Debug, Clone, Default)]
struct Described {
    method: String,
    /// Path and query as the client sent them.
    path: String,
    host: String,
    scheme: String,
    headers: Vec<(String, String)>,
    source: Option<IpAddr>,
    context: Vec<Constraints>,
}

impl Described {
    fn read(check: CheckRequest) -> Option<Described> {
        let attributes = check.attributes?;
        let http = attributes.request?.http?;
        let source = attributes.source.and_then(|s| s.address).and_then(|a| a.address).and_then(|a| match a {
            envoy_types::pb::envoy::config::core::v3::address::Address::SocketAddress(s) => s.address.parse::<IpAddr>().ok(),
            _ => None,
        });
        let mut context = Vec::new();
        for (key, value) in &attributes.context_extensions {
            let mut c = Constraints::default();
            c.add(key, value);
            if c != Constraints::default() {
                context.push(c);
            }
        }
        // Envoy's pseudo-headers (`:path`, `:authority`) say again what the fields say.
        let headers = http.headers.into_iter().filter(|(k, _)| !k.starts_with(':')).collect();
        Some(Described { method: http.method, path: http.path, host: http.host, scheme: http.scheme, headers, source, context })
    }
}

struct Job {
    check: Described,
    reply: oneshot::Sender<CheckResponse>,
}

/// The gRPC service: hands each check to the actix thread.
struct Checker {
    jobs: mpsc::UnboundedSender<Job>,
}

#[tonic::async_trait]
impl Authorization for Checker {
    async fn check(&self, request: tonic::Request<CheckRequest>) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let check = Described::read(request.into_inner()).ok_or_else(|| tonic::Status::invalid_argument("no HTTP request attributes"))?;
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { check, reply }).map_err(|_| tonic::Status::unavailable("stopping"))?;
        answer.await.map(tonic::Response::new).map_err(|_| tonic::Status::unavailable("stopping"))
    }
}

/// Binds `addr` and serves checks on it, on the calling (actix) thread; returns the address
/// bound (the real port when 0 was asked for).
pub fn serve(addr: &str, state: web::Data<State>) -> anyhow::Result<SocketAddr> {
    use anyhow::Context;
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr} (grpc_address)"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
    actix_web::rt::spawn(async move {
        while let Some(job) = queue.recv().await {
            let state = state.clone();
            actix_web::rt::spawn(async move {
                let _ = job.reply.send(judge(&state, job.check).await);
            });
        }
    });
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tonic::transport::Server::builder().add_service(AuthorizationServer::new(Checker { jobs })).serve_with_incoming(incoming);
    actix_web::rt::spawn(async move {
        if let Err(e) = server.await {
            log::error!("gRPC external authorization stopped: {e}");
        }
    });
    log::info!("gRPC external authorization on {bound}");
    Ok(bound)
}

/// The gate's answer to a described request, as Envoy takes it.
async fn judge(state: &web::Data<State>, check: Described) -> CheckResponse {
    let Some(req) = request_of(state, &check) else {
        return denied_response(400, Vec::new(), String::new());
    };
    let edge = Edge { trusted: false, host: check.host.clone(), proto: check.scheme.clone(), client_ip: check.source };
    let res = match auth::described(state, &req, edge, check.context).await {
        Ok(res) => res,
        Err(e) => actix_web::ResponseError::error_response(&e),
    };
    carried_over(state, res).await
}

/// The original request, as the gate reads requests (with the shared state, as a request of
/// the server's has: a refresh finds it there). `None` when Envoy's description does not make
/// one (a method or path that is not HTTP): refused.
fn request_of(state: &web::Data<State>, check: &Described) -> Option<actix_web::HttpRequest> {
    let method = actix_web::http::Method::from_bytes(check.method.as_bytes()).ok()?;
    let uri: actix_web::http::Uri = check.path.parse().ok()?;
    let mut test = actix_web::test::TestRequest::default().method(method).uri(&uri.to_string()).app_data(state.clone());
    if let Some(ip) = check.source {
        test = test.peer_addr(SocketAddr::new(ip, 0));
    }
    test = test.insert_header((actix_web::http::header::HOST, check.host.as_str()));
    for (name, value) in &check.headers {
        if name != "host" {
            test = test.append_header((name.as_str(), value.as_str()));
        }
    }
    Some(test.to_http_request())
}

/// `/oauth2/verify`'s answer as a `CheckResponse`.
async fn carried_over(state: &State, res: HttpResponse) -> CheckResponse {
    let status = res.status().as_u16();
    let headers: Vec<(String, String)> =
        res.headers().iter().filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
    if res.status().is_success() {
        let (cookies, identity): (Vec<_>, Vec<_>) = headers.into_iter().partition(|(k, _)| k == "set-cookie");
        // The client's copies of every identity header go; ours replace the client's. (Envoy
        // removes after it adds: a header we set is not in the list.)
        let remove = state.request_strip.iter().filter(|n| !identity.iter().any(|(k, _)| k.eq_ignore_ascii_case(n))).cloned().collect();
        #[allow(deprecated)]
        let ok = OkHttpResponse {
            headers: identity.into_iter().map(|(k, v)| option(k, v, HeaderAppendAction::OverwriteIfExistsOrAdd)).collect(),
            headers_to_remove: remove,
            response_headers_to_add: cookies.into_iter().map(|(k, v)| option(k, v, HeaderAppendAction::AppendIfExistsOrAdd)).collect(),
            ..Default::default()
        };
        let mut answer = CheckResponse::with_status(tonic::Status::ok(""));
        answer.set_http_response(ok);
        return answer;
    }
    let body = actix_web::body::to_bytes(res.into_body()).await.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    denied_response(status, headers, body)
}

fn denied_response(status: u16, headers: Vec<(String, String)>, body: String) -> CheckResponse {
    let denied = DeniedHttpResponse {
        status: Some(HttpStatus { code: i32::from(status) }),
        headers: headers.into_iter().map(|(k, v)| option(k, v, HeaderAppendAction::AppendIfExistsOrAdd)).collect(),
        body,
    };
    let mut answer = CheckResponse::with_status(tonic::Status::permission_denied(""));
    answer.set_http_response(denied);
    answer
}

#[allow(deprecated)]
fn option(key: String, value: String, action: HeaderAppendAction) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue { key, value, raw_value: Vec::new() }),
        append: None,
        append_action: action.into(),
        keep_empty_value: false,
    }
}
