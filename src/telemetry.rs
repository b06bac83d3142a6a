//! Logging setup: env_logger with `RUST_LOG`-style levels, plus oauth2-proxy's logging options.
//!
//! Invariant: nothing logged here or anywhere else contains a secret, a cookie value or a token;
//! secrets are `Secret<T>` and print as `<redacted>`.

use std::path::PathBuf;

/// Validated logging settings (oauth2-proxy's names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub auth_logging: bool,
    pub auth_logging_format: Option<String>,
    pub request_logging: bool,
    pub request_logging_format: Option<String>,
    pub standard_logging: bool,
    pub standard_logging_format: Option<String>,
    pub errors_to_info_log: bool,
    pub exclude_paths: Vec<String>,
    pub local_time: bool,
    pub silence_ping_logging: bool,
    pub request_id_header: String,
    pub file: Option<PathBuf>,
}

/// Starts env_logger. `RUST_LOG` overrides the default level (`info`).
pub fn init() {
    let env = env_logger::Env::default().default_filter_or("info");
    // A second init (tests start many apps in one process) is harmless: keep the first logger.
    let _ = env_logger::Builder::from_env(env).format_timestamp(None).try_init();
}
