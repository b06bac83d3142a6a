//! What handlers read from a request, in one place: the host, the cookies, query parameters.
//!
//! The host comes from the `Host` header (or the HTTP/2 authority), never from
//! `X-Forwarded-Host`: forwarded headers are believed only from trusted proxies, which is a
//! decision made elsewhere, not a default.

use actix_web::HttpRequest;
use actix_web::http::header;
use ipnet::IpNet;

use crate::session::jar::RequestCookies;

pub fn host(req: &HttpRequest) -> String {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

pub fn cookies(req: &HttpRequest) -> RequestCookies {
    RequestCookies::parse(req.headers().get_all(header::COOKIE).filter_map(visible_ascii))
}

/// A header's value as text. Hot paths pass a [`names`] constant: a `&str` name is parsed into
/// a header name on every lookup.
pub fn header(req: &HttpRequest, name: impl header::AsHeaderName) -> Option<&str> {
    req.headers().get(name).and_then(visible_ascii)
}

pub use crate::base::names;

/// Which peers' forwarded headers are believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustConfig {
    pub reverse_proxy: bool,
    pub trusted_proxy_ips: Vec<IpNet>,
    pub real_client_ip_header: actix_web::http::header::HeaderName,
}

/// `HeaderValue::to_str`, with the same rule (visible ASCII and tab, else `None`), checked
/// without an early exit so the compiler vectorises it: `to_str`'s byte-at-a-time loop over a
/// session cookie was 3% of a forward-auth check.
pub fn visible_ascii(value: &header::HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    let visible = bytes.iter().fold(true, |ok, &b| ok & ((b.wrapping_sub(0x20) < 0x5f) | (b == b'\t')));
    if visible { std::str::from_utf8(bytes).ok() } else { None }
}

/// The request's media type, without parameters (`charset`), or "" when none or unreadable.
pub fn content_type(req: &HttpRequest) -> &str {
    let value = req.headers().get(actix_web::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    value.split(';').next().unwrap_or("").trim()
}

/// Connection data of a request that came over a unix socket (set by the server when the
/// connection is accepted): its peer is a local process with no address.
#[derive(Debug, Clone, Copy)]
pub struct UnixPeer;

/// The request line's path and query as the client sent them, kept when
/// `allow_query_semicolons` rewrote the query's `;` to `&` for reading.
#[derive(Debug, Clone)]
pub struct ReceivedTarget(pub String);

/// The request line's path and query, as received: what is forwarded and matched as a URI
/// (the query's parameters are read from the rewritten form).
pub fn received_target(req: &HttpRequest) -> String {
    use actix_web::HttpMessage as _;
    match req.extensions().get::<ReceivedTarget>() {
        Some(t) => t.0.clone(),
        None => req.uri().path_and_query().map_or("/".to_string(), |p| p.to_string()),
    }
}

/// Query parameters, decoded. Returns `Err(name)` when one of `single` appears more than once:
/// a callback with two `state` or `code` values is an attack, not a request to guess at.
pub fn query(req: &HttpRequest, single: &[&str]) -> Result<Vec<(String, String)>, String> {
    query_and_form(req, None, single)
}

/// [`query`], followed by the parameters of a form body (`application/x-www-form-urlencoded`,
/// as a `response_mode=form_post` callback brings them); `single` counts both together, so a
/// `state` in the query and another in the body is refused too.
pub fn query_and_form(req: &HttpRequest, form: Option<&[u8]>, single: &[&str]) -> Result<Vec<(String, String)>, String> {
    let decode = |bytes: &[u8]| -> Vec<(String, String)> {
        url::form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    };
    let mut pairs = decode(req.query_string().as_bytes());
    pairs.extend(form.map(decode).unwrap_or_default());
    for name in single {
        if pairs.iter().filter(|(k, _)| k == name).count() > 1 {
            return Err(name.to_string());
        }
    }
    Ok(pairs)
}

/// `rd` with the query parameters meant for it put back. oauth2-proxy's documented nginx and
/// Envoy configurations send `rd=$scheme://$host$request_uri` unencoded, so the original URL's
/// `&y=2` arrives as a parameter of `/oauth2/start` itself (oauth2-proxy drops it). Every other
/// parameter goes back onto `rd`, in its original order and encoding, except the sign-in
/// form's own (`username`, `password`), which never travel in a redirect. An unencoded `rd`
/// (one with a literal `?`) is taken as written too, so its own escapes are not decoded. `None`
/// without `rd`, with nothing to put back, or when the whole would be longer than
/// [`MAX_RD_BYTES`]. The result is a redirect like any other: validate it.
pub fn rd_with_its_query(raw_query: &str) -> Option<String> {
    let mut rd = None;
    let mut rest = Vec::new();
    for segment in raw_query.split('&').filter(|s| !s.is_empty()) {
        let (key, value) = url::form_urlencoded::parse(segment.as_bytes()).next().unwrap_or_default();
        match key.as_ref() {
            "rd" if rd.is_none() => {
                let raw = segment.split_once('=').map_or("", |(_, v)| v);
                rd = Some(if raw.contains('?') { raw.to_string() } else { value.into_owned() });
            }
            // A second `rd` is not the original URL's; the first one wins, as for `param`.
            "rd" | "username" | "password" => {}
            _ => rest.push(segment),
        }
    }
    let rd = rd?;
    if rest.is_empty() {
        return None;
    }
    let joiner = if rd.contains('?') { '&' } else { '?' };
    let whole = format!("{rd}{joiner}{}", rest.join("&"));
    (whole.len() <= MAX_RD_BYTES).then_some(whole)
}

/// The longest `rd` put back together: a longer one makes authorization URLs that providers
/// and proxies refuse (414), which would break the login instead of losing the query.
pub const MAX_RD_BYTES: usize = 2048;

pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// What an `Authorization` header carries, split as oauth2-proxy splits it: exactly
/// `<Type> <value>` with one space, the type case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Bearer(String),
    Basic { user: String, password: String },
}

impl Credentials {
    /// The JWT these credentials carry, as oauth2-proxy finds it: the bearer token, or in
    /// Basic the user (with an empty or `x-oauth-basic` password) or else the password.
    pub fn jwt(&self) -> Option<&str> {
        use crate::oidc::bearer::looks_like_jwt;
        match self {
            Credentials::Bearer(t) => Some(t.as_str()),
            Credentials::Basic { user, password } if looks_like_jwt(user) && matches!(password.as_str(), "" | "x-oauth-basic") => {
                Some(user.as_str())
            }
            Credentials::Basic { password, .. } if looks_like_jwt(password) => Some(password.as_str()),
            Credentials::Basic { .. } => None,
        }
    }
}

/// The request's `Authorization` credentials; `None` when absent or not of a known form.
pub fn credentials(req: &HttpRequest) -> Option<Credentials> {
    parse_authorization(visible_ascii(req.headers().get(header::AUTHORIZATION)?)?)
}

/// Splits an `Authorization` value into credentials.
pub fn parse_authorization(value: &str) -> Option<Credentials> {
    use base64::Engine;
    let (kind, rest) = value.split_once(' ')?;
    if rest.contains(' ') {
        return None;
    }
    match kind {
        "Bearer" => Some(Credentials::Bearer(rest.to_string())),
        "Basic" => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
            let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
            Some(Credentials::Basic { user: user.to_string(), password: password.to_string() })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_ascii_is_to_str() {
        for b in 0..=255u8 {
            for at in [0, 1, 31, 32, 33, 100] {
                let mut bytes = vec![b'a'; 101];
                bytes[at] = b;
                let Ok(value) = header::HeaderValue::from_bytes(&bytes) else { continue };
                assert_eq!(visible_ascii(&value), value.to_str().ok(), "byte {b:#x} at {at}");
            }
        }
        assert_eq!(visible_ascii(&header::HeaderValue::from_static("")), Some(""));
    }

    #[test]
    fn rd_gets_back_the_parameters_that_were_its_own() {
        let whole = |q: &str| rd_with_its_query(q);
        assert_eq!(whole("rd=https://app.example.com/page?x=1&y=2").as_deref(), Some("https://app.example.com/page?x=1&y=2"));
        assert_eq!(whole("rd=/page&y=2&z=a%20b").as_deref(), Some("/page?y=2&z=a%20b"));
        assert_eq!(whole("y=2&z=3&rd=/page").as_deref(), Some("/page?y=2&z=3"), "in their original order");
        // An unencoded rd keeps its own escapes and pluses as written.
        assert_eq!(whole("rd=/p?q=a%26b&y=1").as_deref(), Some("/p?q=a%26b&y=1"));
        assert_eq!(whole("rd=/p?q=a+b&y=1").as_deref(), Some("/p?q=a+b&y=1"));
        // The sign-in form's fields never travel in a redirect.
        assert_eq!(whole("rd=/p&username=u&password=p").as_deref(), None);
        assert_eq!(whole(&format!("rd=/p&y={}", "a".repeat(MAX_RD_BYTES))), None, "too long to travel");
        assert_eq!(whole("rd=%2Fpage%3Fx%3D1&y=2").as_deref(), Some("/page?x=1&y=2"), "an encoded rd decodes once");
        assert_eq!(whole("rd=/a&rd=/b&y=2").as_deref(), Some("/a?y=2"), "the first rd wins");
        assert_eq!(whole("rd=/page"), None, "nothing to put back");
        assert_eq!(whole("y=2"), None, "no rd");
        assert_eq!(whole(""), None);
    }

    #[test]
    fn putting_parameters_back_never_makes_an_off_site_redirect_valid() {
        let wl = ["app.example.com".to_string()];
        for query in [
            "rd=&//evil.com",
            "rd&//evil.com",
            "rd=https://evil.com&x=1",
            "r%64=//evil.com&rd=/ok&x",
            "rd=/&/evil.com",
            "rd=/\\evil.com&x=1",
            "rd=https://app.example.com&@evil.com",
            "rd=https://app.example.com.evil.com/&x=1",
            "rd=/%2F%2Fevil.com&x=1",
            "rd=%2F%2Fevil.com&x=1",
            "rd=/ok?&%0d%0aLocation:%20//evil.com",
            "rd=//evil.com?x=1&y=2",
        ] {
            let Some(whole) = rd_with_its_query(query) else { continue };
            let valid = crate::authz::is_valid_redirect(&whole, &wl);
            let off_site =
                url::Url::parse("https://app.example.com/").unwrap().join(&whole).map_or(true, |u| u.host_str() != Some("app.example.com"));
            assert!(!(valid && off_site), "{query} became the valid off-site redirect {whole}");
        }
    }
}
