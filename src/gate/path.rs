//! The path a decision is made on, in the three forms that matter, and whether they agree.
//!
//! oauth2-proxy matches `skip_auth_routes` against the path decoded once (Go's
//! `url.Parse().Path`); apps route on their own reading, which may resolve `..`, drop `;params`,
//! decode `%2F` or collapse `//`. Where those readings can differ, a rule that matches one of
//! them says nothing about the path the app will serve. So a path is *plain* only when every
//! reading is the same, and only a plain path can skip authentication (ARCHITECTURE.md, "The
//! gate"). Such paths are not refused: apps do use encoded slashes and matrix parameters, and
//! with a valid session they pass like any other path.
//!
//! Never: decodes twice, or decides anything; it only describes.

use crate::base::text::percent_decode;

/// A request path (no query), as received and as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPath {
    /// As received: still percent-encoded.
    pub raw: String,
    /// Decoded exactly once, as oauth2-proxy matches it (bytes that are not UTF-8 become U+FFFD).
    pub decoded: String,
    /// As an app would route it ([`normalise_path`]).
    pub normalised: String,
    /// Every reading is the same: no dot segment (plain or encoded), no empty segment, no
    /// `;`, `\`, no encoded `/ \ . % ; ? #`, no control character, valid UTF-8 once decoded,
    /// and no Unicode lookalike of `/`, `\` or `.` (`／`, `∕`, `．`…).
    pub plain: bool,
}

impl RequestPath {
    /// The path part of `uri` (a query and fragment are cut off).
    pub fn parse(uri: &str) -> RequestPath {
        let raw = uri.split(['?', '#']).next().unwrap_or("");
        let decoded_bytes = percent_decode(raw, false).unwrap_or_default();
        let decoded = String::from_utf8_lossy(&decoded_bytes).into_owned();
        RequestPath { plain: !uri.contains('#') && is_plain(raw), normalised: normalise_path(raw), decoded, raw: raw.to_string() }
    }

    /// A path that cannot be trusted at all (several conflicting copies of a forwarded URI):
    /// it is kept for the return URL, but no rule can match it to skip authentication.
    pub fn ambiguous(uri: &str) -> RequestPath {
        RequestPath { plain: false, ..RequestPath::parse(uri) }
    }
}

/// See [`RequestPath::plain`].
fn is_plain(raw: &str) -> bool {
    if !raw.starts_with('/') || raw.bytes().any(|b| b <= b' ' || b == 0x7f || b == b';' || b == b'\\') {
        return false;
    }
    let Some(decoded) = percent_decode(raw, true) else { return false };
    let Ok(text) = std::str::from_utf8(&decoded) else { return false };
    // Characters some servers fold into `/`, `\` or `.` (Unicode best-fit and compatibility
    // mappings): `／..／` could become `/../` behind us.
    if text.chars().any(|c| LOOKALIKES.contains(&c) || c.is_control()) {
        return false;
    }
    // Every escape must stand for an ordinary character.
    let bytes = raw.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' {
            let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            let value = hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]);
            if matches!(value, b'/' | b'\\' | b'.' | b'%' | b';' | b'?' | b'#') || value < 0x20 || value == 0x7f {
                return false;
            }
        }
    }
    // No empty segment but a trailing one (`/a/`), no dot segment.
    let segments: Vec<&str> = raw[1..].split('/').collect();
    let last = segments.len() - 1;
    segments.iter().enumerate().all(|(i, s)| match *s {
        "" => i == last,
        "." | ".." => false,
        _ => true,
    })
}

/// Slashes, backslashes and dots in other forms: fullwidth, small, division and fraction
/// slashes, one-dot leader.
const LOOKALIKES: [char; 10] =
    ['\u{FF0F}', '\u{FF3C}', '\u{FF0E}', '\u{FE52}', '\u{2215}', '\u{2044}', '\u{29F8}', '\u{29F9}', '\u{2024}', '\u{3002}'];

/// The path of a request URI as an app would route it: query and fragment cut, decoded once
/// (bytes that are not UTF-8 become U+FFFD, so they match no rule), a decoded `#` ending it,
/// `;params` removed from each segment, empty and `.` segments dropped and `..` resolved.
pub fn normalise_path(uri: &str) -> String {
    let raw = uri.split(['?', '#']).next().unwrap_or("");
    let decoded = String::from_utf8_lossy(&percent_decode(raw, false).unwrap_or_default()).into_owned();
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
    use super::*;

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

    #[test]
    fn only_paths_every_reader_agrees_on_are_plain() {
        for plain in ["/", "/public/x", "/public/", "/p%75blic/x", "/caf%C3%A9", "/a-b_c~d/e.txt", "/a/b.c/d..e", "/x?y=../z"] {
            let p = RequestPath::parse(plain);
            assert!(p.plain, "{plain} should be plain");
            assert_eq!(p.decoded, p.normalised, "a plain path reads the same either way");
        }
        for odd in [
            "",
            "public/x",
            "/admin/../public/x",
            "/admin/./public/x",
            "/admin/..;/public/x",
            "/admin/..%2Fpublic/x",
            "/admin/%2e%2e/public/x",
            "/admin/%2E./public/x",
            "/admin/%252e%252e/public/x",
            "//public/x",
            "/public//x",
            "/public/x/..",
            "/public/x/.",
            "/public;x=1/y",
            "/public\\..\\admin",
            "/public%5c..%5cadmin",
            "/public%00/x",
            "/public%0a/x",
            "/public%3F/x",
            "/public%23/x",
            "/public#frag",
            "/%c0%ae%c0%ae/admin",
            "/%ff/x",
            "/public/%zz",
            "/public/%",
            "/pub lic/x",
            "/public/x%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fadmin",
            "/public/x%E2%88%95..%E2%88%95admin",
            "/public/%EF%BC%8E%EF%BC%8E/admin",
            "/public/%C2%85/x",
        ] {
            assert!(!RequestPath::parse(odd).plain, "{odd:?} should not be plain");
        }
        assert!(!RequestPath::ambiguous("/public/x").plain);
    }

    #[test]
    fn the_decoded_path_is_decoded_exactly_once() {
        let p = RequestPath::parse("/public/%252e%252e/admin?q=1");
        assert_eq!(p.raw, "/public/%252e%252e/admin");
        assert_eq!(p.decoded, "/public/%2e%2e/admin");
        assert_eq!(p.normalised, "/public/%2e%2e/admin");
        assert!(!p.plain);
    }
}
