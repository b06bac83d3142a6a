//! Gatehouse's own HTTP endpoints: health, sign-in, OAuth start and callback, sign-out,
//! userinfo and the forward-auth check.
//!
//! Invariant: handlers never read raw cookies or talk to the provider themselves; they use the
//! session and oidc modules, and return typed errors that `server::error` maps to responses.

pub mod auth;
pub mod health;
pub mod login;
pub mod pages;
pub mod proxy;
pub mod refresh;
pub mod session;
pub mod sign_out;
pub mod state;
pub mod userinfo;

pub use state::State;

use std::path::PathBuf;

/// Validated page settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagesConfig {
    pub provider_display_name: String,
    pub custom_templates_dir: Option<PathBuf>,
    pub custom_sign_in_logo: Option<String>,
    pub banner: Option<String>,
    pub footer: Option<String>,
    pub show_debug_on_error: bool,
    pub display_htpasswd_form: bool,
}
