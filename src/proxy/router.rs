//! Which upstream a request goes to, as oauth2-proxy's router picks it: upstreams with a
//! `rewriteTarget` first (their `path` a regular expression, the longest first), then the
//! longest matching path; `/app` gets a `301` to `/app/` when only that would match.
//!
//! Routing never decides whether a request may pass (the gate did, on the request as received);
//! it only picks where an allowed request goes and, for a rewrite, the target sent there.

use regex::Regex;

use super::Upstream;

/// Where a request goes.
pub enum Route<'a> {
    /// To this upstream, with the request target to send when a rewrite made one (else the
    /// target as received).
    To(&'a Upstream, Option<String>),
    /// The path names a route only with a trailing slash: `301` to add it.
    AddSlash,
    NotFound,
}

/// Upstreams in matching order.
#[derive(Debug, Clone, Default)]
pub struct Router {
    /// Upstreams with a rewrite, each with its compiled `path`, longest path first.
    rewrites: Vec<(Regex, Upstream)>,
    /// The others, longest path first. A path ending in `/` matches itself and everything
    /// below it; any other path matches exactly.
    paths: Vec<Upstream>,
    /// `proxyRawPath`: match the path as received instead of decoded once.
    raw_path: bool,
}

impl Router {
    /// A rewrite upstream whose `path` is not a valid regex is left out (configuration
    /// validation refuses it first).
    pub fn new(upstreams: Vec<Upstream>, raw_path: bool) -> Router {
        let (mut rewrites, mut paths): (Vec<Upstream>, Vec<Upstream>) = upstreams.into_iter().partition(|u| u.rewrite_target.is_some());
        rewrites.sort_by_key(|u| std::cmp::Reverse(u.path.len()));
        paths.sort_by_key(|u| std::cmp::Reverse(u.path.len()));
        let rewrites = rewrites.into_iter().filter_map(|u| Regex::new(&u.path).ok().map(|re| (re, u))).collect();
        Router { rewrites, paths, raw_path }
    }

    pub fn is_empty(&self) -> bool {
        self.rewrites.is_empty() && self.paths.is_empty()
    }

    /// The route of a request whose path and query are `raw_path` and `raw_query` as
    /// received. Prefix and exact paths match the path decoded once, unless `proxyRawPath`;
    /// rewrite patterns always see it decoded, as oauth2-proxy's do.
    pub fn route(&self, raw_path: &str, raw_query: &str) -> Route<'_> {
        let decoded = decode(raw_path);
        let path = if self.raw_path { raw_path } else { decoded.as_ref() };
        if let Some(found) = self.find(path, &decoded, raw_query) {
            return found;
        }
        let slashed = (format!("{path}/"), format!("{decoded}/"));
        match self.find(&slashed.0, &slashed.1, raw_query) {
            Some(_) if !path.ends_with('/') => Route::AddSlash,
            _ => Route::NotFound,
        }
    }

    fn find(&self, path: &str, decoded: &str, raw_query: &str) -> Option<Route<'_>> {
        // A rewrite builds a new path from the decoded one: only a plain path may take part, or
        // `/api/..%2Finternal` would climb out of the target (`/public/../internal`).
        let rewrites = if !self.rewrites.is_empty() && plain(decoded) { self.rewrites.as_slice() } else { &[] };
        if let Some((re, up)) = rewrites.iter().find(|(re, _)| re.is_match(decoded)) {
            let target = up.rewrite_target.as_deref().unwrap_or_default();
            return Some(Route::To(up, Some(rewritten(&re.replace_all(decoded, target), raw_query))));
        }
        self.paths
            .iter()
            .find(|u| if u.path.ends_with('/') { path.starts_with(&u.path) } else { path == u.path })
            .map(|u| Route::To(u, None))
    }
}

/// A path with no dot or empty segments, backslashes or control characters.
fn plain(decoded: &str) -> bool {
    let segments = decoded.strip_prefix('/').unwrap_or(decoded).split('/');
    let mut segments = segments.peekable();
    let mut ok = true;
    while let Some(s) = segments.next() {
        // An empty last segment is a trailing slash; any other empty one is `//`.
        if s == "." || s == ".." || (s.is_empty() && segments.peek().is_some()) {
            ok = false;
        }
    }
    ok && !decoded.contains('\\') && !decoded.chars().any(char::is_control)
}

/// The path decoded once (not UTF-8: as received, which then matches only literal routes).
fn decode(raw: &str) -> std::borrow::Cow<'_, str> {
    // Most paths have no escape: no copy for them (this runs for every proxied request).
    if !raw.contains('%') {
        return std::borrow::Cow::Borrowed(raw);
    }
    crate::base::text::percent_decode(raw, false)
        .and_then(|b| String::from_utf8(b).ok())
        .map_or(std::borrow::Cow::Borrowed(raw), std::borrow::Cow::Owned)
}

/// The request target a rewrite sends, as oauth2-proxy builds it: the new path escaped as Go
/// escapes a path, and the query re-encoded with the rewrite's own parameters added (sorted
/// by name, as Go's `url.Values` encodes them).
fn rewritten(new: &str, raw_query: &str) -> String {
    let (path, extra) = match new.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (new, None),
    };
    let mut params: Vec<(String, String)> = go_parse_query(raw_query);
    params.extend(extra.map(go_parse_query).unwrap_or_default());
    // Stable: the values of one name keep their order.
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", go_escape(k, false), go_escape(v, false))).collect();
    let path = if path.starts_with('/') { go_escape(path, true) } else { format!("/{}", go_escape(path, true)) };
    if query.is_empty() { path } else { format!("{path}?{}", query.join("&")) }
}

/// Go's `url.ParseQuery`: pairs split on `&`; a pair holding `;` or a bad escape is dropped.
fn go_parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty() && !s.contains(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let un = |s: &str| crate::base::text::percent_decode(&s.replace('+', " "), true).and_then(|b| String::from_utf8(b).ok());
            Some((un(k)?, un(v)?))
        })
        .collect()
}

/// Go's `url.PathEscape`-like escaping of a path (`path`) or `url.QueryEscape` (a space is
/// `+`): unreserved characters stay, and in a path also `$&+,/:;=@`.
fn go_escape(s: &str, path: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (path && b"$&+,/:;=@".contains(&b));
        match b {
            _ if keep => out.push(b as char),
            b' ' if !path => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Target;
    use std::time::Duration;

    fn up(path: &str, rewrite: Option<&str>) -> Upstream {
        Upstream {
            id: path.into(),
            path: path.into(),
            rewrite_target: rewrite.map(str::to_string),
            target: Target::Static(200),
            pass_host_header: true,
            proxy_websockets: true,
            flush_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
            insecure_skip_tls_verify: false,
            disable_keep_alives: false,
        }
    }

    fn id(r: &Router, path: &str) -> String {
        match r.route(path, "") {
            Route::To(u, _) => u.id.clone(),
            Route::AddSlash => "301".into(),
            Route::NotFound => "404".into(),
        }
    }

    #[test]
    fn longest_prefix_wins_and_exact_paths_are_exact() {
        let r = Router::new(vec![up("/", None), up("/api/", None), up("/api/v2/", None), up("/exact", None)], false);
        assert_eq!(id(&r, "/x"), "/");
        assert_eq!(id(&r, "/api/x"), "/api/");
        assert_eq!(id(&r, "/api/v2/x"), "/api/v2/");
        assert_eq!(id(&r, "/exact"), "/exact");
        assert_eq!(id(&r, "/exact/more"), "/");
        let r = Router::new(vec![up("/app/", None)], false);
        assert_eq!(id(&r, "/app"), "301");
        assert_eq!(id(&r, "/other"), "404");
    }

    #[test]
    fn an_encoded_slash_separates_unless_the_raw_path_is_routed() {
        let ups = || vec![up("/", None), up("/api/", None)];
        assert_eq!(id(&Router::new(ups(), false), "/api%2Fx"), "/api/");
        assert_eq!(id(&Router::new(ups(), true), "/api%2Fx"), "/");
    }

    #[test]
    fn rewrites_come_first_and_build_the_target_as_oauth2_proxy_does() {
        let r = Router::new(vec![up("/", None), up("^/api/v1/(.*)$", Some("/v1/$1?from=rewrite"))], false);
        let target = |path: &str, query: &str| match r.route(path, query) {
            Route::To(u, t) => format!("{} {}", u.id, t.unwrap_or_default()),
            _ => "none".into(),
        };
        assert_eq!(target("/api/v1/users", "b=2&a=1"), "^/api/v1/(.*)$ /v1/users?a=1&b=2&from=rewrite");
        assert_eq!(target("/api/v1/a%20b/c~d*e", ""), "^/api/v1/(.*)$ /v1/a%20b/c~d%2Ae?from=rewrite");
        assert_eq!(target("/api/v1/x", "q=a+b;c&r=%zz&s=%7e"), "^/api/v1/(.*)$ /v1/x?from=rewrite&s=~");
        assert_eq!(target("/other", "x=1"), "/ ");
        let r = Router::new(vec![up("^/only/(.*)$", Some("/$1"))], false);
        assert_eq!(id(&r, "/only"), "301");
    }

    #[test]
    fn only_a_plain_path_is_rewritten() {
        let r = Router::new(vec![up("/", None), up("^/api/(.*)$", Some("/public/$1"))], false);
        for escape in ["/api/..%2Finternal", "/api/../internal", "/api/x/%2E%2E/y", "/api//x", "/api/..%5Cx", "/api/a%0Ab"] {
            assert_eq!(id(&r, escape), "/", "{escape} goes on as received, not rewritten");
        }
        assert_eq!(id(&r, "/api/a/b/"), "^/api/(.*)$");
    }
}
