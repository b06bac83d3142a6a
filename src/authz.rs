//! Authorization policy: who may pass once authenticated, and which requests need no login.
//!
//! Owns email-domain and allow-list checks, group checks and the skip-auth route rules.
//!
//! Invariant: pure and synchronous; no IO, no HTTP types, no clock. Callers hand it values.

use std::path::PathBuf;

use ipnet::IpNet;
use regex::Regex;

/// A `skip_auth_routes` entry: `METHOD=regex`, `METHOD!=regex`, `regex` or `!=regex`.
#[derive(Debug, Clone)]
pub struct RouteRule {
    /// Upper-cased method, or `None` for any method.
    pub method: Option<String>,
    /// `!=`: the rule matches paths the regex does *not* match.
    pub negate: bool,
    pub regex: Regex,
}

/// Validated authorization settings.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Lower-cased; `*` allows any email, `.d` and `*.d` allow subdomains.
    pub email_domains: Vec<String>,
    pub authenticated_emails_file: Option<PathBuf>,
    pub allowed_groups: Vec<String>,
    /// Redirect targets allowed after login and logout (lower-cased, with port rules).
    pub whitelist_domains: Vec<String>,
    pub skip_auth_routes: Vec<RouteRule>,
    pub skip_auth_preflight: bool,
    pub api_routes: Vec<Regex>,
    pub trusted_ips: Vec<IpNet>,
    pub skip_provider_button: bool,
    pub force_json_errors: bool,
    pub skip_jwt_bearer_tokens: bool,
    /// `issuer=audience` pairs.
    pub extra_jwt_issuers: Vec<(String, String)>,
    pub bearer_token_login_fallback: bool,
    pub htpasswd_file: Option<PathBuf>,
    pub htpasswd_user_groups: Vec<String>,
}
