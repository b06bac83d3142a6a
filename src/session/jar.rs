//! Cookies: reading the request's `Cookie` header within bounds, building `Set-Cookie` values
//! with the configured attributes, and splitting large values into `<name>_0`, `<name>_1`, …
//! the way oauth2-proxy does (each `Set-Cookie` line at most 4000 characters).

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite as CookieSameSite, time};

use super::{CookieConfig, SameSite};

/// oauth2-proxy's limit on one `Set-Cookie` line.
pub const MAX_COOKIE_LINE: usize = 4000;
/// Chunks read at most: a session never needs more, and a request carrying thousands of
/// chunk cookies is refused without looking at them.
pub const MAX_CHUNKS: usize = 8;

/// How many cookies of one request are looked at.
pub const MAX_REQUEST_COOKIES: usize = 256;

/// The request's cookies, parsed once: the headers' text, and where each name and value is in
/// it (one allocation for the text and one for the index, whatever the number of cookies).
#[derive(Debug, Default, Clone)]
pub struct RequestCookies {
    raw: String,
    pairs: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

impl RequestCookies {
    /// Parses `Cookie` header values (`a=b; c=d`). Malformed pieces are skipped; pieces after
    /// the first [`MAX_REQUEST_COOKIES`] are ignored, so a cookie bomb costs bounded work
    /// (lookups are linear) and can only make a request less authenticated, never more.
    pub fn parse<'a>(headers: impl IntoIterator<Item = &'a str>) -> RequestCookies {
        let mut raw = String::new();
        for header in headers {
            if !raw.is_empty() {
                raw.push(';');
            }
            raw.push_str(header);
        }
        let at = |sub: &str| {
            let start = sub.as_ptr() as usize - raw.as_ptr() as usize;
            start..start + sub.len()
        };
        let mut pairs = Vec::new();
        for piece in raw.split(';').take(MAX_REQUEST_COOKIES) {
            if let Some((name, value)) = piece.trim().split_once('=') {
                let name = name.trim();
                if !name.is_empty() {
                    pairs.push((at(name), at(value.trim().trim_matches('"'))));
                }
            }
        }
        RequestCookies { pairs, raw }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| &self.raw[n.clone()] == name).map(|(_, v)| &self.raw[v.clone()])
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(n, _)| &self.raw[n.clone()])
    }
}

/// Why a (possibly chunked) cookie value was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    TooManyChunks,
}

/// Reads `name`, or joins `name_0`, `name_1`, … (bounded by [`MAX_CHUNKS`]).
pub fn read_chunked<'a>(cookies: &'a RequestCookies, name: &str) -> Result<Option<std::borrow::Cow<'a, str>>, ChunkError> {
    if let Some(v) = cookies.get(name) {
        return Ok(Some(v.into()));
    }
    let mut joined = String::new();
    for i in 0..=MAX_CHUNKS {
        match cookies.get(&format!("{name}_{i}")) {
            Some(_) if i == MAX_CHUNKS => return Err(ChunkError::TooManyChunks),
            Some(part) => joined.push_str(part),
            None if i == 0 => return Ok(None),
            None => break,
        }
    }
    Ok(Some(joined.into()))
}

/// Builds cookies with the configured attributes.
#[derive(Clone)]
pub struct CookieFactory {
    cfg: CookieConfig,
}

impl CookieFactory {
    pub fn new(cfg: CookieConfig) -> Self {
        CookieFactory { cfg }
    }

    pub fn config(&self) -> &CookieConfig {
        &self.cfg
    }

    /// The cookie domain for a request host: the longest configured domain the host is in;
    /// with none matching, the shortest configured one (oauth2-proxy's fallback).
    fn domain_for(&self, host: &str) -> Option<String> {
        if self.cfg.domains.is_empty() {
            return None;
        }
        let host = host
            .rsplit_once(':')
            .filter(|(h, p)| !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
            .to_ascii_lowercase();
        let mut domains = self.cfg.domains.clone();
        domains.sort_by_key(|d| std::cmp::Reverse(d.len()));
        let matching = domains.iter().find(|d| {
            let bare = d.trim_start_matches('.');
            host == bare || host.ends_with(&format!(".{bare}"))
        });
        match matching {
            Some(d) => Some(d.clone()),
            None => {
                let fallback = domains.last().cloned();
                log::warn!("request host {host} is in none of cookie_domains; using {}", fallback.as_deref().unwrap_or(""));
                fallback
            }
        }
    }

    /// A cookie with every configured attribute.
    pub fn build(&self, name: &str, value: String, host: &str, max_age: Duration, samesite: SameSite) -> Cookie<'static> {
        let mut c = Cookie::new(name.to_string(), value);
        c.set_path(self.cfg.path.clone());
        if let Some(d) = self.domain_for(host) {
            c.set_domain(d);
        }
        if !max_age.is_zero() {
            c.set_max_age(time::Duration::seconds(max_age.as_secs() as i64));
        }
        c.set_http_only(self.cfg.httponly);
        c.set_secure(self.cfg.secure);
        c.set_same_site(match samesite {
            SameSite::Unset => None,
            SameSite::Lax => Some(CookieSameSite::Lax),
            SameSite::Strict => Some(CookieSameSite::Strict),
            SameSite::None => Some(CookieSameSite::None),
        });
        c
    }

    /// A cookie that deletes `name` (empty value, `Max-Age=0`, the attributes it was set with,
    /// as oauth2-proxy's deletions carry them).
    pub fn expire(&self, name: &str, host: &str, samesite: SameSite) -> Cookie<'static> {
        let mut c = self.build(name, String::new(), host, Duration::ZERO, samesite);
        c.set_max_age(time::Duration::ZERO);
        c
    }

    /// The session cookie(s) for a value: one cookie, or chunks when the line would pass
    /// [`MAX_COOKIE_LINE`]. Leftover chunks of an earlier, larger session are deleted.
    pub fn session_cookies(&self, value: String, host: &str, request: &RequestCookies) -> Vec<Cookie<'static>> {
        let name = self.cfg.name.clone();
        let whole = self.build(&name, value.clone(), host, self.cfg.expire, self.cfg.samesite);
        let mut out = Vec::new();
        let written: Vec<String> = if whole.to_string().len() <= MAX_COOKIE_LINE {
            out.push(whole);
            vec![name.clone()]
        } else {
            let overhead = self.build(&format!("{name}_00"), String::new(), host, self.cfg.expire, self.cfg.samesite).to_string().len();
            let room = MAX_COOKIE_LINE.saturating_sub(overhead).max(64);
            let mut names = Vec::new();
            for (i, part) in value.as_bytes().chunks(room).enumerate() {
                let chunk_name = format!("{name}_{i}");
                // Values are base64url text, so every byte boundary is a char boundary.
                out.push(self.build(&chunk_name, String::from_utf8_lossy(part).into_owned(), host, self.cfg.expire, self.cfg.samesite));
                names.push(chunk_name);
            }
            log::warn!(
                "the session cookie is {} bytes and was split into {} cookies; the redis session store keeps cookies small",
                value.len(),
                names.len()
            );
            names
        };
        for stale in session_cookie_names(request, &name) {
            if !written.contains(&stale) {
                out.push(self.expire(&stale, host, self.cfg.samesite));
            }
        }
        out
    }

    /// Deletes every session cookie the request carries (`name` and `name_N`).
    pub fn clear_session(&self, request: &RequestCookies, host: &str) -> Vec<Cookie<'static>> {
        session_cookie_names(request, &self.cfg.name).iter().map(|n| self.expire(n, host, self.cfg.samesite)).collect()
    }
}

/// The request's cookies named `name` or `name_<digits>`.
fn session_cookie_names(request: &RequestCookies, name: &str) -> Vec<String> {
    let mut names: Vec<String> = request
        .names()
        .filter(|n| {
            *n == name
                || n.strip_prefix(name)
                    .and_then(|r| r.strip_prefix('_'))
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
        .collect();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_joins_chunks() {
        let c = RequestCookies::parse(["a=1; _s_0=ab; _s_1=cd", "other=x"]);
        assert_eq!(read_chunked(&c, "_s").unwrap().as_deref(), Some("abcd"));
        assert_eq!(read_chunked(&c, "missing").unwrap(), None);
        assert_eq!(c.get("other"), Some("x"));
    }

    #[test]
    fn cookie_count_is_bounded() {
        let bomb: String = (0..100_000).map(|i| format!("c{i}=v; ")).collect();
        let c = RequestCookies::parse([bomb.as_str(), "late=1"]);
        assert_eq!(c.names().count(), MAX_REQUEST_COOKIES);
        assert_eq!(c.get("late"), None, "cookies past the bound are not read");
        assert_eq!(c.get("c0"), Some("v"));
    }

    #[test]
    fn too_many_chunks_is_refused_without_joining() {
        let header: String = (0..10_000).map(|i| format!("_s_{i}=x; ")).collect();
        let c = RequestCookies::parse([header.as_str()]);
        assert_eq!(read_chunked(&c, "_s"), Err(ChunkError::TooManyChunks));
    }

    #[test]
    fn chunk_names_match_digits_only() {
        let c = RequestCookies::parse(["_s=1; _s_0=2; _s_12=3; _s_csrf=4; _s_x=5; _sx=6"]);
        assert_eq!(session_cookie_names(&c, "_s"), ["_s", "_s_0", "_s_12"]);
    }
}
