//! Gatehouse: an identity-aware proxy, drop-in compatible with oauth2-proxy.
//!
//! Code map, from the bottom layer up (ARCHITECTURE.md has the full tour; the tidy test in
//! `tests/it/tidy.rs` holds the layering: a module imports only from layers below its own):
//! - `base`: pure helpers (secrets, text encodings).
//! - `metrics`, `telemetry`, `reload`: counting, logging, watching files.
//! - `pages`: the HTML pages and their templates.
//! - `identity`, `authz`, `htpasswd`, `oidc`, `session`, `proxy`: the domain; no HTTP server.
//! - `http`: reading requests, the one error table, plain responses.
//! - `state`: what the gate, the middleware and the handlers share.
//! - `gate`: one view of a request, one decision on it (checks and the proxy alike).
//! - `server`: listeners, TLS, middleware.
//! - `endpoints`: the handlers and the route table.
//! - `dev`: the development issuer and echo app of `make run` (loopback only).
//! - `config`: options from file, environment, flags and alpha YAML → validated [`Config`].
//! - `app`, `cli`: [`App::build`] wires everything from a `Config`; `main` and tests both use it.

pub mod app;
pub mod authz;
pub mod base;
pub mod cli;
pub mod config;
pub mod dev;
pub mod endpoints;
pub mod gate;
pub mod htpasswd;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod session;
pub mod state;
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
