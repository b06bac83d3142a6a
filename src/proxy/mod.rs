//! Reverse-proxy mode: routes authenticated requests to upstreams by path.
//!
//! Invariant: requests reach an upstream only after authentication and authorization said yes,
//! and only with client-sent identity headers removed.

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
