//! Headers between the client and an upstream: hop-by-hop headers removed (including those
//! named in `Connection`), client-sent copies of identity headers removed in every spelling,
//! `X-Forwarded-For` appended, `X-Forwarded-Proto` and `-Host` set.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::identity;

/// RFC 9110 7.6.1, plus `Proxy-Connection` and `Keep-Alive` which old clients still send.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` must not be forwarded: one of the fixed hop-by-hop set, or named in the
/// message's `Connection` header. Allocates nothing (this runs for every header of every
/// proxied request and response).
pub fn is_hop_by_hop(headers: &HeaderMap, name: &HeaderName) -> bool {
    let name = name.as_str();
    HOP_BY_HOP.contains(&name)
        || headers
            .get_all(actix_web::http::header::CONNECTION)
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|token| token.trim().eq_ignore_ascii_case(name)))
}

/// Copies `from` into a list of headers to forward, without hop-by-hop headers and without
/// any header whose name matches one of `strip` (case-insensitively, `_` as `-`).
pub fn forwardable<'a>(from: &'a HeaderMap, strip: &[String]) -> Vec<(&'a HeaderName, &'a HeaderValue)> {
    from.iter().filter(|(name, _)| !is_hop_by_hop(from, name) && !strip.iter().any(|s| identity::same_header(s, name.as_str()))).collect()
}

/// `X-Forwarded-For` with the peer appended to what a trusted proxy sent (or only the peer).
pub fn forwarded_for(previous: Option<&str>, peer: Option<std::net::IpAddr>) -> Option<String> {
    match (previous.filter(|p| !p.trim().is_empty()), peer) {
        (Some(p), Some(ip)) => Some(format!("{p}, {ip}")),
        (Some(p), None) => Some(p.to_string()),
        (None, Some(ip)) => Some(ip.to_string()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_named_headers_are_hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert(HeaderName::from_static("connection"), HeaderValue::from_static("keep-alive, X-Auth-Request-User"));
        h.insert(HeaderName::from_static("x-auth-request-user"), HeaderValue::from_static("mallory"));
        h.insert(HeaderName::from_static("accept"), HeaderValue::from_static("*/*"));
        let kept: Vec<&str> = forwardable(&h, &[]).iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(kept, ["accept"]);
    }

    #[test]
    fn identity_headers_are_stripped_in_every_spelling() {
        let mut h = HeaderMap::new();
        for name in ["x-forwarded-user", "x_forwarded_user", "x-forwarded_user", "accept"] {
            h.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_static("v"));
        }
        let kept: Vec<&str> = forwardable(&h, &["X-Forwarded-User".to_string()]).iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(kept, ["accept"]);
    }
}
