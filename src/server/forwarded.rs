//! The original request behind a forward-auth check, and whether to believe what the edge
//! proxy says about it.
//!
//! `X-Forwarded-*` and `X-Original-*` headers are believed only with `reverse_proxy = true` and
//! only from a peer in `trusted_proxy_ips` (loopback by default). From anyone else they are
//! ignored for every decision: skip routes, the return URL, the client IP, the scheme
//! (GHSA-7x63-xv5r-3p2x).

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;

use super::TrustConfig;
use super::request;
use super::request::names::*;

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
    /// What route rules match: the path as the app behind will see it ([`normalise_path`]).
    pub fn path(&self) -> String {
        normalise_path(&self.uri)
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
    let fwd = |names: &[&HeaderName]| -> Option<String> {
        if !trusted {
            return None;
        }
        names
            .iter()
            .find_map(|n| request::header(req, *n))
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
            fwd(&[&X_FORWARDED_METHOD, &X_ORIGINAL_METHOD]).unwrap_or_else(|| req.method().as_str().to_string()),
            fwd(&[&X_FORWARDED_URI, &X_ORIGINAL_URI])
                .unwrap_or_else(|| req.uri().path_and_query().map_or("/".to_string(), |p| p.to_string())),
        ),
    };
    let peer = req.peer_addr().map(|p| p.ip());
    let client_ip = match fwd(&[&trust.real_client_ip_header]) {
        Some(v) => v.parse().ok().or(peer),
        None => peer,
    };
    Original {
        method: method.to_ascii_uppercase(),
        uri,
        host: fwd(&[&X_FORWARDED_HOST]).unwrap_or_else(|| request::host(req)),
        proto: fwd(&[&X_FORWARDED_PROTO]).unwrap_or_else(|| if req.app_config().secure() { "https".into() } else { "http".into() }),
        client_ip,
        trusted,
    }
}

/// The path of a request URI as an app would route it: query and fragment cut, decoded once
/// (bytes that are not UTF-8 become U+FFFD, so they match no rule), a decoded `#` ending it,
/// `;params` removed from each segment, empty and `.` segments dropped and `..` resolved.
/// Rules match this, not the raw URI, so `/public/../admin`, `/public/%2e%2e/admin`,
/// `//admin`, `/admin;x=/public/` or `/admin%23/public/` cannot borrow a skip rule.
pub fn normalise_path(uri: &str) -> String {
    let raw = uri.split(['?', '#']).next().unwrap_or("");
    let decoded = String::from_utf8_lossy(&request::percent_decode(raw, false).unwrap_or_default()).into_owned();
    let decoded = decoded.split('#').next().unwrap_or("");
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment.split(';').next().unwrap_or("") {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = decoded.len() > 1 && (decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/.."));
    let mut out = format!("/{}", segments.join("/"));
    if trailing && out.len() > 1 {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalise_path;

    #[test]
    fn paths_are_normalised_once() {
        for (uri, want) in [
            ("/", "/"),
            ("", "/"),
            ("/a/b?x=/public/", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E%2Fadmin", "/admin"),
            ("/public/./x", "/public/x"),
            ("//admin", "/admin"),
            ("/../../admin", "/admin"),
            ("/admin;jsessionid=1/x", "/admin/x"),
            ("/admin;/public/", "/admin/public/"),
            ("/admin%23/public/", "/admin"),
            ("/admin#/public/", "/admin"),
            ("/caf%C3%A9", "/café"),
            ("/public/%252e%252e/admin", "/public/%2e%2e/admin"),
            ("/x/%ff/..", "/x/"),
        ] {
            assert_eq!(normalise_path(uri), want, "{uri}");
        }
    }
}
