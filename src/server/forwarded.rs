//! The original request behind a forward-auth check, and whether to believe what the edge
//! proxy says about it.
//!
//! `X-Forwarded-*` and `X-Original-*` headers are believed only with `reverse_proxy = true` and
//! only from a peer in `trusted_proxy_ips` (loopback by default). From anyone else they are
//! ignored for every decision: skip routes, the return URL, the client IP, the scheme
//! (GHSA-7x63-xv5r-3p2x).

use std::net::IpAddr;

use actix_web::HttpRequest;

use super::TrustConfig;
use super::request;

/// What a check is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub method: String,
    /// Path and query, as the client sent them (still percent-encoded).
    pub uri: String,
    pub host: String,
    pub proto: String,
    pub client_ip: Option<IpAddr>,
    /// The peer is a trusted proxy, so the values above came from it.
    pub trusted: bool,
}

impl Original {
    /// The path without query or fragment, percent-decoded once: what route rules match.
    pub fn path(&self) -> String {
        let path = self.uri.split(['?', '#']).next().unwrap_or("/");
        percent_decode(path)
    }
}

/// Is the peer a trusted proxy?
pub fn trusted(req: &HttpRequest, trust: &TrustConfig) -> bool {
    trust.reverse_proxy && req.peer_addr().is_some_and(|p| trust.trusted_proxy_ips.iter().any(|net| net.contains(&p.ip())))
}

/// The original request of a check. `path_tail` is the path Envoy appended to the check path
/// (`/oauth2/auth/<tail>`); it wins over `X-Forwarded-Uri`, and the check's own method is the
/// original method in that form.
pub fn original(req: &HttpRequest, trust: &TrustConfig, path_tail: Option<&str>) -> Original {
    let trusted = trusted(req, trust);
    let fwd = |names: &[&str]| -> Option<String> {
        if !trusted {
            return None;
        }
        names
            .iter()
            .find_map(|n| request::header(req, n))
            .map(|v| v.split(',').next().unwrap_or("").trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (method, uri) = match path_tail {
        Some(tail) => {
            let mut uri = format!("/{}", tail.trim_start_matches('/'));
            if !req.query_string().is_empty() {
                uri.push('?');
                uri.push_str(req.query_string());
            }
            (req.method().as_str().to_string(), uri)
        }
        None => (
            fwd(&["X-Forwarded-Method", "X-Original-Method"]).unwrap_or_else(|| req.method().as_str().to_string()),
            fwd(&["X-Forwarded-Uri", "X-Original-URI"])
                .unwrap_or_else(|| req.uri().path_and_query().map_or("/".to_string(), |p| p.to_string())),
        ),
    };
    let peer = req.peer_addr().map(|p| p.ip());
    let client_ip = match fwd(&[trust.real_client_ip_header.as_str()]) {
        Some(v) => v.parse().ok().or(peer),
        None => peer,
    };
    Original {
        method: method.to_ascii_uppercase(),
        uri,
        host: fwd(&["X-Forwarded-Host"]).unwrap_or_else(|| request::host(req)),
        proto: fwd(&["X-Forwarded-Proto"]).unwrap_or_else(|| if req.app_config().secure() { "https".into() } else { "http".into() }),
        client_ip,
        trusted,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}
