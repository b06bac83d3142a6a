//! Sessions: what a logged-in user's session holds, and where it is kept (sealed in cookies, or
//! in Redis behind a ticket cookie).
//!
//! Rooms: [`state`] (what a session holds), [`store`] (the trait and the configured store),
//! [`cookie_store`] and [`redis`] (the backends), [`opened`] (the per-thread memory of opened
//! sessions), [`csrf`] (the login state between start and callback), [`refresh`] (one refresh
//! per session), [`jar`] (reading, chunking and building cookies), [`crypto`] (sealing) and
//! [`oauth2_proxy`] (reading what oauth2-proxy wrote), [`ending`] (sessions ended by a logout
//! elsewhere or an operator).
//!
//! Invariant: session contents leave this module only sealed; no other module sees cookie
//! ciphertext or key material, or names a backend.
//! Never: reads HTTP requests or builds responses; it is given cookies and returns cookies.

pub mod cookie_store;
pub mod crypto;
pub mod csrf;
pub mod ending;
pub mod jar;
pub mod keys;
pub mod oauth2_proxy;
mod opened;
pub mod redis;
pub mod refresh;
pub mod state;
pub mod store;

use std::path::PathBuf;
use std::time::Duration;

pub use cookie_store::CookieStore;
pub use csrf::{CsrfCookies, CsrfError, LoginState, PENDING_LOGINS};
pub use refresh::{Grant, RefreshOutcome, Refreshes};
pub use state::{FUTURE_SKEW_SECS, Found, SessionState, now, now_millis};
pub use store::{Operation, SessionStore, Sessions, StoreError};

use crate::base::Secret;

/// The SameSite attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// No attribute (the browser's default, Lax in current browsers).
    Unset,
    Lax,
    Strict,
    None,
}

/// Cookie settings shared by the session and CSRF cookies.
#[derive(Debug, Clone)]
pub struct CookieConfig {
    pub name: String,
    /// The cookie secrets (`keys::KeyRing`): the first seals, each opens.
    pub keys: keys::Keys,
    /// `cookie_secret_file`, when the secrets come from it (reloaded when it changes).
    pub secret_file: Option<keys::SecretFile>,
    pub domains: Vec<String>,
    pub path: String,
    pub expire: Duration,
    pub refresh: Duration,
    pub secure: bool,
    pub httponly: bool,
    pub samesite: SameSite,
    pub csrf_per_request: bool,
    pub csrf_per_request_limit: usize,
    pub csrf_expire: Duration,
    pub csrf_samesite: SameSite,
}

/// How Gatehouse reaches Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTopology {
    Standalone { url: String },
    Sentinel { master_name: String, urls: Vec<String>, password: Option<Secret<String>> },
    Cluster { urls: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub topology: RedisTopology,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    pub ca_path: Option<PathBuf>,
    pub insecure_skip_tls_verify: bool,
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    Cookie,
    Redis(RedisConfig),
}

/// Validated session settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub cookie: CookieConfig,
    pub store: StoreConfig,
    pub minimal: bool,
}
