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
pub mod template;
pub mod userinfo;

pub use state::State;

use std::path::PathBuf;

/// Validated page settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagesConfig {
    pub provider_display_name: String,
    pub custom_templates_dir: Option<PathBuf>,
    /// `sign_in.html` and `error.html` from `custom_templates_dir`, parsed at load.
    pub sign_in_template: Option<template::Template>,
    pub error_template: Option<template::Template>,
    /// `robots.txt` from `custom_templates_dir`.
    pub robots: Option<String>,
    /// The logo's markup, built by Gatehouse from `custom_sign_in_logo` ("" for none).
    pub logo: String,
    /// The text above the sign-in button ("" for none): `banner`, or oauth2-proxy's default
    /// naming the allowed email domains.
    pub banner: String,
    pub footer: Option<String>,
    pub show_debug_on_error: bool,
    pub display_htpasswd_form: bool,
}
