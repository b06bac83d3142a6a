//! Forwarding a request to an HTTP upstream with awc, streaming both bodies.
//!
//! The request URI is forwarded exactly as received (percent-encoding kept). Bodies are
//! streamed, never buffered: a sized body stays sized, a chunked one stays chunked.
//! `upstream_timeout` bounds the wait for the upstream's response headers; once they arrive,
//! a long body (a download, Server-Sent Events) streams for as long as it lasts.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use awc::{Client, Connector};
use url::Url;

use super::Upstream;
use super::headers;
use crate::base::names;

/// Why forwarding failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the upstream cannot be reached: {0}")]
    Unreachable(String),
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// The client's own body failed while it was passed on: it arrived too slowly
    /// (`server::body_rate`) or the client went away. Not the upstream's fault.
    #[error("the request body could not be read: {0}")]
    RequestBody(String),
}

impl ProxyError {
    /// The `gatehouse_upstream_errors_total` label.
    pub fn kind(&self) -> &'static str {
        match self {
            ProxyError::Unreachable(_) => "unreachable",
            ProxyError::Timeout(_) => "timeout",
            ProxyError::RequestBody(_) => "request_body",
        }
    }
}

/// The awc clients of one worker: verifying upstream certificates, and not (for upstreams
/// with `ssl_upstream_insecure_skip_verify`), and one per `unix://` socket, made at its
/// first request.
pub struct Clients {
    verified: Client,
    unverified: Client,
    unix: std::cell::RefCell<std::collections::HashMap<std::path::PathBuf, Client>>,
}

impl Clients {
    pub fn new(verified: Arc<rustls::ClientConfig>, unverified: Arc<rustls::ClientConfig>) -> Clients {
        let make = |tls| {
            Client::builder()
                // No cap on connections to upstreams (awc's default is 100 per worker), as Go's
                // transport in oauth2-proxy: past it, requests queued inside Gatehouse behind slow
                // ones (found by `make soak`).
                .connector(Connector::new().rustls_0_23(tls).timeout(Duration::from_secs(10)).limit(0))
                .disable_redirects()
                // Our own timeout covers the wait for response headers only; awc's would also
                // cut long response bodies.
                .disable_timeout()
                .no_default_headers()
                .finish()
        };
        Clients { verified: make(verified), unverified: make(unverified), unix: Default::default() }
    }

    /// The client for an upstream: one that dials its unix socket, or one verifying its
    /// certificate unless it is configured not to. (A `Client` is a cheap handle.)
    pub fn pick(&self, up: &Upstream) -> Client {
        if let super::Target::Unix(path) = &up.target {
            return self.unix.borrow_mut().entry(path.clone()).or_insert_with(|| unix_client(path.clone())).clone();
        }
        if up.insecure_skip_tls_verify { self.unverified.clone() } else { self.verified.clone() }
    }
}

/// The URL a request to a unix socket names: the socket is the connection, `localhost` only
/// the `Host` a request without `pass_host_header` carries (as oauth2-proxy's).
pub static UNIX_BASE: std::sync::LazyLock<Url> = std::sync::LazyLock::new(|| Url::parse("http://localhost").expect("a valid URL"));

/// A client whose every connection is to the socket at `path`, whatever the URL says.
fn unix_client(path: std::path::PathBuf) -> Client {
    use actix_tls::connect::{ConnectError, ConnectInfo, Connection};
    use actix_web::http::Uri;
    let dial = actix_web::dev::fn_service(move |info: ConnectInfo<Uri>| {
        let path = path.clone();
        async move {
            let stream = actix_rt::net::UnixStream::connect(&path).await.map_err(ConnectError::Io)?;
            Ok::<_, ConnectError>(Connection::new(info.request().clone(), stream))
        }
    });
    Client::builder()
        .connector(Connector::new().connector(dial).timeout(Duration::from_secs(10)).limit(0))
        .disable_redirects()
        .disable_timeout()
        .no_default_headers()
        .finish()
}

/// The request as the gate judged it, and what the proxy adds about it.
pub struct Forwarding<'a> {
    /// The method and the path and query (as received) the verdict was made on.
    pub method: &'a actix_web::http::Method,
    pub uri: &'a str,
    pub peer: Option<IpAddr>,
    /// The client's address as the gate read it, sent as `X-Real-IP` (none when unknown).
    pub client_ip: Option<IpAddr>,
    /// `X-Forwarded-For` from a trusted proxy (every copy, in order), to append to.
    pub forwarded_for: Option<&'a str>,
    pub proto: &'a str,
    pub host: &'a str,
    /// Header names whose client-sent copies are removed (every spelling).
    pub strip: &'a [String],
    /// Headers to add (identity).
    pub add: Vec<(HeaderName, HeaderValue)>,
}

/// Headers that describe a request or its client (every real-IP header oauth2-proxy can be told
/// to read among them): the upstream gets none of the client's copies, in any spelling (an app
/// may read `X_Real_IP` as `X-Real-IP`). The proxy sets its own `X-Forwarded-For`, `-Proto`,
/// `-Host` and `X-Real-IP`.
const DESCRIBING: [&str; 21] = [
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Uri",
    "X-Forwarded-Method",
    "X-Forwarded-Prefix",
    "X-Forwarded-Ssl",
    "X-Forwarded-Server",
    "X-Forwarded-Scheme",
    "X-Url-Scheme",
    "Forwarded",
    "X-Real-IP",
    "X-ProxyUser-IP",
    "X-Envoy-External-Address",
    "CF-Connecting-IP",
    "True-Client-IP",
    "X-Client-IP",
    "X-Original-URI",
    "X-Original-Method",
    "X-Original-URL",
];

/// The upstream URL for a request: the upstream's scheme and authority, the request's path
/// and query exactly as received (the gate's `View::uri`).
pub fn upstream_url(base: &Url, path_and_query: &str) -> String {
    let authority = match base.port() {
        Some(p) => format!("{}:{p}", base.host_str().unwrap_or("")),
        None => base.host_str().unwrap_or("").to_string(),
    };
    format!("{}://{authority}{path_and_query}", base.scheme())
}

/// Every header to send upstream, in order: the client's forwardable headers (without
/// `Host`, `Content-Length` and the [`DESCRIBING`] ones), then `Host` (with
/// `pass_host_header`), `X-Forwarded-For`, `-Proto`, `-Host`, `X-Real-IP`, then the identity
/// headers. Later entries replace earlier ones of the same name.
pub fn upstream_headers(up: &Upstream, req: &HttpRequest, fwd: &Forwarding<'_>) -> Vec<(HeaderName, HeaderValue)> {
    let mut out: Vec<(HeaderName, HeaderValue)> = headers::forwardable(req.headers(), fwd.strip)
        .into_iter()
        .filter(|(n, _)| {
            *n != header::HOST && *n != header::CONTENT_LENGTH && !DESCRIBING.iter().any(|d| crate::identity::same_header(d, n.as_str()))
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    // Names are constants or parsed at load: a custom `HeaderName` built from text allocates.
    let mut set = |n: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.retain(|(existing, _)| *existing != n);
            out.push((n, v));
        }
    };
    if up.pass_host_header
        && let Some(host) = req.headers().get(header::HOST).and_then(|h| h.to_str().ok())
    {
        set(header::HOST, host);
    }
    if let Some(xff) = headers::forwarded_for(fwd.forwarded_for, fwd.peer) {
        set(names::X_FORWARDED_FOR, &xff);
    }
    set(names::X_FORWARDED_PROTO, fwd.proto);
    set(names::X_FORWARDED_HOST, fwd.host);
    if let Some(ip) = fwd.client_ip {
        set(names::X_REAL_IP, &ip.to_string());
    }
    for (name, value) in &fwd.add {
        out.retain(|(existing, _)| existing != name);
        out.push((name.clone(), value.clone()));
    }
    out
}

pub async fn forward(
    clients: &Clients,
    up: &Upstream,
    base: &Url,
    req: &HttpRequest,
    body: web::Payload,
    fwd: Forwarding<'_>,
) -> Result<HttpResponse, ProxyError> {
    let mut out = clients.pick(up).request(fwd.method.clone(), upstream_url(base, fwd.uri).as_str());
    for (name, value) in upstream_headers(up, req, &fwd) {
        out = out.append_header((name, value));
    }
    if up.disable_keep_alives {
        out = out.force_close();
    }

    let length = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let chunked = req.headers().get(header::TRANSFER_ENCODING).is_some();
    let send = match (length, chunked) {
        (Some(n), false) if n > 0 => out.send_body(SizedStream::new(n, body)),
        (_, true) => out.send_stream(body),
        // HTTP/2 has no Transfer-Encoding: a body of unannounced length is known only by its
        // frames. Its first chunk (or its end) tells whether there is one to stream.
        (None, false) if req.version() == actix_web::http::Version::HTTP_2 => {
            use futures_util::StreamExt;
            let mut body = body;
            match body.next().await {
                None => out.send(),
                Some(first) => out.send_stream(futures_util::stream::once(async move { first }).chain(body)),
            }
        }
        _ => out.send(),
    };
    let res = match actix_web::rt::time::timeout(up.timeout, send).await {
        Err(_) => return Err(ProxyError::Timeout(up.timeout)),
        Ok(Err(awc::error::SendRequestError::Timeout)) => return Err(ProxyError::Timeout(up.timeout)),
        Ok(Err(awc::error::SendRequestError::Body(e))) => return Err(ProxyError::RequestBody(e.to_string())),
        Ok(Err(e)) => return Err(ProxyError::Unreachable(e.to_string())),
        Ok(Ok(res)) => res,
    };

    let mut answer = HttpResponse::build(res.status());
    for (name, value) in headers::forwardable(res.headers(), &[]) {
        if name != header::CONTENT_LENGTH {
            answer.append_header((name.clone(), value.clone()));
        }
    }
    let length = res.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    Ok(match length {
        Some(n) => answer.body(SizedStream::new(n, res)),
        None => answer.streaming(res),
    })
}
