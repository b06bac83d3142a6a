//! Reverse-proxy mode: routes authenticated requests to upstreams by path.
//!
//! Invariant: requests reach an upstream only after authentication and authorization said yes,
//! and only with client-sent identity headers removed.

pub mod files;
pub mod forward;
pub mod headers;
pub mod websocket;

pub use forward::ProxyError;

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

/// What an upstream is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Http(Url),
    /// Static files from a directory.
    File(PathBuf),
    /// A fixed answer with this status and the body `Authenticated`.
    Static(u16),
    Unix(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub id: String,
    /// The routing key: with a trailing `/` a prefix, without one an exact path.
    pub path: String,
    pub rewrite_target: Option<String>,
    pub target: Target,
    pub pass_host_header: bool,
    pub proxy_websockets: bool,
    pub flush_interval: Duration,
    pub timeout: Duration,
    pub insecure_skip_tls_verify: bool,
    pub disable_keep_alives: bool,
}

/// Validated upstream settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub upstreams: Vec<Upstream>,
    pub proxy_raw_path: bool,
    pub allow_query_semicolons: bool,
}

/// Where a request goes.
pub enum Route<'a> {
    To(&'a Upstream),
    /// The path names a prefix upstream without its trailing slash: `301` to add it.
    AddSlash,
    NotFound,
}

/// Upstreams by path: the longest matching path wins. A path ending in `/` matches itself and
/// everything below it; any other path matches exactly.
#[derive(Debug, Clone, Default)]
pub struct Router {
    upstreams: Vec<Upstream>,
}

impl Router {
    pub fn new(mut upstreams: Vec<Upstream>) -> Router {
        upstreams.sort_by_key(|u| std::cmp::Reverse(u.path.len()));
        Router { upstreams }
    }

    pub fn is_empty(&self) -> bool {
        self.upstreams.is_empty()
    }

    pub fn route(&self, path: &str) -> Route<'_> {
        let found = self.upstreams.iter().find(|u| if u.path.ends_with('/') { path.starts_with(&u.path) } else { path == u.path });
        match found {
            Some(u) => Route::To(u),
            None if self.upstreams.iter().any(|u| u.path.ends_with('/') && u.path.len() > 1 && u.path[..u.path.len() - 1] == *path) => {
                Route::AddSlash
            }
            None => Route::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(path: &str) -> Upstream {
        Upstream {
            id: path.into(),
            path: path.into(),
            rewrite_target: None,
            target: Target::Static(200),
            pass_host_header: true,
            proxy_websockets: true,
            flush_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
            insecure_skip_tls_verify: false,
            disable_keep_alives: false,
        }
    }

    #[test]
    fn longest_prefix_wins_and_exact_paths_are_exact() {
        let r = Router::new(vec![up("/"), up("/api/"), up("/api/v2/"), up("/exact")]);
        let id = |p: &str| match r.route(p) {
            Route::To(u) => u.id.clone(),
            Route::AddSlash => "301".into(),
            Route::NotFound => "404".into(),
        };
        assert_eq!(id("/x"), "/");
        assert_eq!(id("/api/x"), "/api/");
        assert_eq!(id("/api/v2/x"), "/api/v2/");
        assert_eq!(id("/exact"), "/exact");
        assert_eq!(id("/exact/more"), "/");
        let r = Router::new(vec![up("/app/")]);
        assert!(matches!(r.route("/app"), Route::AddSlash));
        assert!(matches!(r.route("/other"), Route::NotFound));
    }
}
