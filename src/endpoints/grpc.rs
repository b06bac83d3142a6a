//! Envoy's gRPC external authorization (`envoy.service.auth.v3.Authorization/Check`) on
//! `grpc_address`, HTTP/2 in plaintext or over TLS (`grpc_tls_*`, the main listener's rustls
//! setup, optionally with client certificates).
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
//! which are not. So each of a few threads of Gatehouse's own (actix arbiters, one per worker)
//! runs a tonic server on the shared listener, and hands each check its connections bring to a
//! judging loop on the same thread, where it is judged as a task of its own.
//! Never: decides anything itself, or reads a header the gate would not.

use std::net::{IpAddr, SocketAddr};

use actix_web::{HttpResponse, web};
use envoy_types::ext_authz::v3::CheckResponseExt;
use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction, HeaderValue,
    HeaderValueOption, HttpStatus, OkHttpResponse,
};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

use super::auth;
use crate::authz::Constraints;
use crate::gate::Edge;
use crate::server::TlsConfig;
use crate::state::{Lifecycle, State};

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
    /// `None` (the check is refused) when the request cannot be described faithfully: no HTTP
    /// attributes, a context key that looks like a constraint but is none, or pseudo-headers
    /// that contradict the fields.
    fn read(check: CheckRequest) -> Option<Described> {
        let attributes = check.attributes?;
        let http = attributes.request?.http?;
        let source = attributes.source.and_then(|s| s.address).and_then(|a| a.address).and_then(|a| match a {
            envoy_types::pb::envoy::config::core::v3::address::Address::SocketAddress(s) => {
                s.address.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
            }
            _ => None,
        });
        let mut context = Vec::new();
        for (key, value) in &attributes.context_extensions {
            let mut c = Constraints::default();
            c.add(key, value);
            if c != Constraints::default() {
                context.push(c);
            } else if key.to_ascii_lowercase().contains("allow") {
                // A misspelt or empty constraint (`allowed_group`, `Allowed_Groups`) would
                // silently narrow nothing.
                log::error!(
                    "context_extensions key {key:?} is not allowed_groups, allowed_emails or allowed_email_domains with a value; refused"
                );
                return None;
            }
        }
        // `encode_raw_headers: true` sends every header line as it came, in `header_map`;
        // otherwise `headers` holds them merged. Both are read (Envoy sets one).
        let mut headers: Vec<(String, String)> = http.headers.into_iter().collect();
        for h in http.header_map.map(|m| m.headers).unwrap_or_default() {
            let value = if h.raw_value.is_empty() { h.value } else { String::from_utf8(h.raw_value).ok()? };
            headers.push((h.key, value));
        }
        // Envoy's pseudo-headers say again what the fields say; where they do not, which one
        // the upstream is sent is unknown: refused.
        let (pseudo, headers): (Vec<_>, Vec<_>) = headers.into_iter().partition(|(k, _)| k.starts_with(':'));
        for (name, value) in &pseudo {
            let field = match name.as_str() {
                ":path" => &http.path,
                ":authority" => &http.host,
                ":method" => &http.method,
                ":scheme" => &http.scheme,
                _ => continue,
            };
            if value != field {
                log::warn!("gRPC check: {name} disagrees with the request's field; refused");
                return None;
            }
        }
        Some(Described { method: http.method, path: http.path, host: http.host, scheme: http.scheme, headers, source, context })
    }
}

struct Job {
    check: Described,
    reply: oneshot::Sender<CheckResponse>,
}

/// The gRPC service of one serving thread: hands each check to that thread's judging loop.
struct Checker {
    jobs: mpsc::Sender<Job>,
}

/// Checks waiting for a thread's judging loop at most; more wait in tonic (back-pressure on
/// Envoy).
const QUEUE: usize = 1024;

/// Checks being judged on one thread at most: a thread takes no more from its queue until one
/// is answered.
const JUDGING: usize = 1024;

/// A TLS client that has not finished its handshake by then is dropped.
const HANDSHAKE: Duration = Duration::from_secs(5);

/// TLS handshakes in progress on one thread at most: no more connections are accepted until one
/// ends (a connection flood cannot starve the checks of the connections already made).
const HANDSHAKING: usize = 256;

#[tonic::async_trait]
impl Authorization for Checker {
    async fn check(&self, request: tonic::Request<CheckRequest>) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let check = match Described::read(request.into_inner()) {
            Some(check) => check,
            // A denial, not a gRPC error: an Envoy with `failure_mode_allow: true` lets a
            // request through when the check fails, never when it is denied.
            None => return Ok(tonic::Response::new(denial(400))),
        };
        let (reply, answer) = oneshot::channel();
        let stopping = || tonic::Response::new(denial(503));
        if self.jobs.send(Job { check, reply }).await.is_err() {
            return Ok(stopping());
        }
        Ok(answer.await.map_or_else(|_| stopping(), tonic::Response::new))
    }
}

/// The gRPC listener, bound and serving.
pub struct Listening {
    /// The address bound (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// Ends once every serving thread has stopped and answered its checks in flight.
    pub done: actix_web::rt::task::JoinHandle<()>,
}

/// Binds `addr` and serves checks on it (TLS with `tls`) from `threads` threads of their own,
/// each accepting connections and judging their checks itself, as the HTTP workers do; stops
/// gracefully (no new connections, checks in flight answered) once `lifecycle` reaches
/// `Stopping`. Must run inside the actix runtime.
pub fn serve(
    addr: &str,
    tls: Option<&TlsConfig>,
    threads: usize,
    state: web::Data<State>,
    lifecycle: watch::Receiver<Lifecycle>,
) -> anyhow::Result<Listening> {
    use anyhow::Context;
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr} (grpc_address)"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let acceptor = match tls {
        None => None,
        Some(cfg) => {
            let (mut config, reloader) = crate::server::tls::server_config(cfg)?;
            reloader.watch();
            // gRPC is HTTP/2 only.
            config.alpn_protocols = vec![b"h2".to_vec()];
            Some(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
        }
    };
    let mut finished = Vec::new();
    for _ in 0..threads.max(1) {
        let (listener, acceptor, state, lifecycle) = (listener.try_clone()?, acceptor.clone(), state.clone(), lifecycle.clone());
        let (finish, on_finish) = oneshot::channel::<()>();
        finished.push(on_finish);
        // An arbiter: a thread running actix tasks, which the gate's requests are.
        actix_rt::Arbiter::new().spawn_fn(move || {
            actix_web::rt::spawn(async move {
                if let Err(e) = serve_here(listener, acceptor, state, lifecycle).await {
                    log::error!("gRPC external authorization stopped: {e}");
                }
                let _ = finish.send(());
                actix_rt::Arbiter::current().stop();
            });
        });
    }
    let done = actix_web::rt::spawn(async move {
        for f in finished {
            let _ = f.await;
        }
    });
    log::info!("gRPC external authorization on {bound}{}", if tls.is_some() { " (TLS)" } else { "" });
    Ok(Listening { addr: bound, done })
}

/// One serving thread: a tonic server on the shared listener, whose connections run on this
/// thread (tonic spawns them on the current runtime) and whose checks are judged here too, a
/// task each: no check crosses a thread.
async fn serve_here(
    listener: std::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    state: web::Data<State>,
    mut lifecycle: watch::Receiver<Lifecycle>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
    let judging = std::sync::Arc::new(tokio::sync::Semaphore::new(JUDGING));
    actix_web::rt::spawn(async move {
        while let Some(job) = queue.recv().await {
            // Envoy gave up on it (its timeout): nobody would read the answer.
            if job.reply.is_closed() {
                continue;
            }
            let Ok(permit) = judging.clone().acquire_owned().await else { return };
            let state = state.clone();
            actix_web::rt::spawn(async move {
                let _ = job.reply.send(judge(&state, job.check).await);
                drop(permit);
            });
        }
    });
    let stopping = async move {
        let _ = lifecycle.wait_for(|l| *l == Lifecycle::Stopping).await;
    };
    // Envoy keeps its connections for hours: a dead one is found by pings, not by waiting.
    let builder = tonic::transport::Server::builder()
        .max_concurrent_streams(Some(JUDGING as u32))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(AuthorizationServer::new(Checker { jobs }));
    match acceptor {
        None => {
            let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            builder.serve_with_incoming_shutdown(incoming, stopping).await?
        }
        Some(acceptor) => builder.serve_with_incoming_shutdown(tls_incoming(listener, acceptor), stopping).await?,
    }
    Ok(())
}

/// TLS connections as they finish their handshakes, each in a task of its own so that a slow or
/// silent client holds up nobody else.
fn tls_incoming(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) -> impl futures_core::Stream<Item = std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>> {
    let (ready, mut connections) = mpsc::channel(64);
    let handshaking = std::sync::Arc::new(tokio::sync::Semaphore::new(HANDSHAKING));
    actix_web::rt::spawn(async move {
        loop {
            let permit = tokio::select! {
                _ = ready.closed() => return,
                permit = handshaking.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            let tcp = tokio::select! {
                _ = ready.closed() => return,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        // Out of descriptors, typically: wait rather than spin.
                        log::warn!("gRPC listener: cannot accept: {e}");
                        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let (ready, acceptor) = (ready.clone(), acceptor.clone());
            actix_web::rt::spawn(async move {
                match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = ready.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => log::debug!("gRPC listener: TLS handshake failed: {e}"),
                    Err(_) => log::debug!("gRPC listener: TLS handshake not finished in {HANDSHAKE:?}"),
                }
                drop(permit);
            });
        }
    });
    futures_util::stream::poll_fn(move |cx| connections.poll_recv(cx))
}

/// The gate's answer to a described request, as Envoy takes it.
async fn judge(state: &web::Data<State>, check: Described) -> CheckResponse {
    let Some(req) = request_of(state, &check) else {
        return denial(400);
    };
    let edge = Edge { trusted: false, host: check.host.clone(), proto: check.scheme.clone(), client_ip: check.source };
    let sent: Vec<String> = check.headers.iter().map(|(k, _)| k.clone()).collect();
    let res = match auth::described(state, &req, edge, check.context).await {
        Ok(res) => res,
        Err(e) => actix_web::ResponseError::error_response(&e),
    };
    carried_over(state, res, &sent).await
}

/// The original request, as the gate reads requests (with the shared state, as a request of
/// the server's has: a refresh finds it there). `None` when Envoy's description does not make
/// one (a method or path that is not HTTP): refused.
fn request_of(state: &web::Data<State>, check: &Described) -> Option<actix_web::HttpRequest> {
    let method = actix_web::http::Method::from_bytes(check.method.as_bytes()).ok()?;
    // Envoy describes a request by its path (origin form: an absolute URL's authority is the
    // host field); anything else (`*`, `x`, `http://…`) is no path the upstream would be sent.
    // A fragment is never sent to a server either (Envoy refuses it unless told to strip it).
    if !check.path.starts_with('/') || check.path.contains('#') {
        return None;
    }
    let uri: actix_web::http::Uri = check.path.parse().ok()?;
    let mut test = actix_web::test::TestRequest::default().method(method).uri(&uri.to_string()).app_data(state.clone());
    if let Some(ip) = check.source {
        test = test.peer_addr(SocketAddr::new(ip, 0));
    }
    use actix_web::http::header::{HOST, HeaderName, HeaderValue};
    test = test.insert_header((HOST, HeaderValue::from_str(&check.host).ok()?));
    for (name, value) in &check.headers {
        // Checked here: the test request builder panics on what is not a header.
        let (name, value) = (HeaderName::from_bytes(name.as_bytes()).ok()?, HeaderValue::from_str(value).ok()?);
        // Where the client is, Envoy says (`source`); a client's forwarding headers say nothing.
        if name == HOST || FORWARDING.iter().any(|f| name.as_str() == *f) || name.as_str() == state.trust.real_client_ip_header.as_str() {
            continue;
        }
        // Envoy merges repeated headers with `,`: copies of a constraint header, each of which
        // must hold, would become one list any item of which does. Each item is its own copy
        // (a constraint can only narrow).
        if name.as_str().starts_with("x-gatehouse-allowed") {
            for item in value.to_str().ok()?.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                test = test.append_header((name.clone(), HeaderValue::from_str(item).ok()?));
            }
            continue;
        }
        test = test.append_header((name, value));
    }
    Some(test.to_http_request())
}

/// Headers a client may send to say where it is: never copied into the judged request.
const FORWARDING: [&str; 5] = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-uri", "x-real-ip"];

/// `/oauth2/verify`'s answer as a `CheckResponse`. `sent`: the header names of the client's
/// request, whose copies of identity headers are removed in every spelling.
async fn carried_over(state: &State, res: HttpResponse, sent: &[String]) -> CheckResponse {
    let status = res.status().as_u16();
    let headers: Vec<(String, Vec<u8>)> = res.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec())).collect();
    if res.status().is_success() {
        let (cookies, identity): (Vec<_>, Vec<_>) = headers.into_iter().partition(|(k, _)| k == "set-cookie");
        // The client's copies of every identity header go, whatever their case or `_`: the
        // request rules' and response rules' names and the well-known ones, always (Envoy may
        // have left them out of the check: `allowed_headers`), and any other spelling the check
        // shows. Ours then replace them (Envoy removes after it adds, so a header we set is not
        // in the list).
        let identity_names = state.request_strip.iter().chain(state.headers.response.iter().map(|r| &r.name));
        let mut remove: Vec<String> = Vec::new();
        for known in identity_names {
            let spellings =
                std::iter::once(known.to_ascii_lowercase()).chain(sent.iter().filter(|n| crate::identity::same_header(n, known)).cloned());
            for name in spellings {
                if !identity.iter().any(|(k, _)| k.eq_ignore_ascii_case(&name)) && !remove.contains(&name) {
                    remove.push(name);
                }
            }
        }
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

/// A denial with no headers or body: a check Gatehouse cannot judge (400) or could not finish (503).
fn denial(status: u16) -> CheckResponse {
    denied_response(status, Vec::new(), String::new())
}

fn denied_response(status: u16, headers: Vec<(String, Vec<u8>)>, body: String) -> CheckResponse {
    let denied = DeniedHttpResponse {
        status: Some(HttpStatus { code: i32::from(status) }),
        headers: headers.into_iter().map(|(k, v)| option(k, v, HeaderAppendAction::AppendIfExistsOrAdd)).collect(),
        body,
    };
    let mut answer = CheckResponse::with_status(tonic::Status::permission_denied(""));
    answer.set_http_response(denied);
    answer
}

/// A header for Envoy: as text when it is, else as raw bytes (a name with non-ASCII letters
/// must arrive whole, never be dropped).
#[allow(deprecated)]
fn option(key: String, value: Vec<u8>, action: HeaderAppendAction) -> HeaderValueOption {
    let (value, raw_value) = match String::from_utf8(value) {
        Ok(text) if text.is_ascii() => (text, Vec::new()),
        Ok(text) => (String::new(), text.into_bytes()),
        Err(e) => (String::new(), e.into_bytes()),
    };
    HeaderValueOption {
        header: Some(HeaderValue { key, value, raw_value }),
        append: None,
        append_action: action.into(),
        keep_empty_value: false,
    }
}

#[cfg(test)]
mod tests {
    use envoy_types::ext_authz::v3::pb::CheckRequest;
    use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};

    use super::*;

    fn check(context: &[(&str, &str)]) -> CheckRequest {
        let http = HttpRequest { method: "GET".into(), path: "/x".into(), host: "app".into(), ..Default::default() };
        CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(Request { http: Some(http), ..Default::default() }),
                context_extensions: context.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_misspelt_constraint_refuses_the_check_and_a_right_one_narrows_it() {
        assert!(Described::read(check(&[("allowed_group", "admins")])).is_none(), "fails closed");
        let d = Described::read(check(&[("allowed_groups", "admins"), ("team", "x")])).unwrap();
        assert_eq!(d.context.len(), 1);
        assert_eq!(d.context[0].groups, ["admins"]);
        assert!(Described::read(CheckRequest::default()).is_none());
    }

    #[test]
    fn header_values_that_are_not_ascii_travel_as_raw_bytes() {
        let h = option("x-remote-user".into(), "josé".as_bytes().to_vec(), HeaderAppendAction::OverwriteIfExistsOrAdd);
        let v = h.header.unwrap();
        assert_eq!((v.value.as_str(), v.raw_value.as_slice()), ("", "josé".as_bytes()));
        let h = option("x-remote-user".into(), b"alice".to_vec(), HeaderAppendAction::OverwriteIfExistsOrAdd);
        assert_eq!(h.header.unwrap().value, "alice");
    }
}
