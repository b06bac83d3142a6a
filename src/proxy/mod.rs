//! Reverse-proxy mode: routes authenticated requests to upstreams by path.
//!
//! Invariant: requests reach an upstream only after authentication and authorization said yes,
//! and only with client-sent identity headers removed.

pub mod files;
pub mod forward;
pub mod headers;
pub mod router;
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
    /// The routing key: with a trailing `/` a prefix, without one an exact path; with
    /// `rewrite_target`, a regular expression.
    pub path: String,
    /// alpha `rewriteTarget`: the path matched by `path`'s regex is replaced with this
    /// (`$1`, `${name}`), and a `?query` in it joins the request's.
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
    /// alpha `proxyRawPath`: route on the path as received (`%2F` is not a separator) rather
    /// than on the path decoded once.
    pub proxy_raw_path: bool,
}

pub use router::{Route, Router};
