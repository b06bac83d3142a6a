//! Gatehouse: an identity-aware proxy, drop-in compatible with oauth2-proxy.
//!
//! Code map (ARCHITECTURE.md has the full tour):
//! - `config`: options from file, environment, flags and alpha YAML → validated [`Config`].
//! - `app`: [`App::build`] wires everything from a `Config`; `main` and tests both use it.
//! - `server`: listeners, TLS, middleware order, the route table.
//! - `endpoints`: `/ping`, `/oauth2/*` handlers.
//! - `gate`: one view of a request, one decision on it (checks and the proxy alike).
//! - `oidc`: talking to the identity provider.
//! - `session`: session contents and stores.
//! - `authz`: pure authorization policy.
//! - `identity`: who the user is and which headers say so.
//! - `proxy`: reverse-proxy mode.
//! - `telemetry`: logging.
//! - `metrics`: Prometheus metrics.
//! - `dev`: the development issuer and echo app of `make run` (loopback only).

pub mod app;
pub mod authz;
pub mod cli;
pub mod config;
pub mod dev;
pub mod endpoints;
pub mod gate;
pub mod htpasswd;
pub mod identity;
pub mod metrics;
pub mod oidc;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod session;
pub mod telemetry;

pub use app::App;
pub use config::Config;

/// Installs aws-lc-rs as the process-wide rustls crypto provider. rustls, awc and redis all
/// build TLS configs from the process default; two providers in the tree would make that panic
/// at run time, so the choice is made once, explicitly. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A fresh cookie secret: 32 random bytes, base64url without padding (43 characters).
pub fn generate_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
