//! OpenID Connect: discovery, the authorization request, code redemption, refresh and ID token
//! verification against the provider's keys.
//!
//! Invariant: the only module that talks to the identity provider. It never touches cookies or
//! HTTP responses to the browser; it returns typed results and typed errors.

use std::path::PathBuf;

use url::Url;

use crate::config::Secret;

/// The provider types Gatehouse implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Oidc,
    /// Keycloak through its OIDC endpoint: handled as plain OIDC.
    KeycloakOidc,
}

/// Where the client secret comes from. A file is read on every use, so it can be rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSecret {
    Value(Secret<String>),
    File(PathBuf),
}

/// PKCE code challenge method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceMethod {
    S256,
    Plain,
}

/// Validated provider settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub kind: ProviderKind,
    pub display_name: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// The issuer exactly as configured (discovery's `issuer` must equal this string).
    pub issuer_url: Option<Url>,
    pub skip_discovery: bool,
    pub jwks_url: Option<Url>,
    pub public_key_files: Vec<PathBuf>,
    pub login_url: Option<Url>,
    pub redeem_url: Option<Url>,
    pub profile_url: Option<Url>,
    pub validate_url: Option<Url>,
    pub skip_claims_from_profile_url: bool,
    /// The claim the session's email comes from, after applying the `user_id_claim` alias rule.
    pub email_claim: String,
    pub groups_claim: String,
    pub audience_claims: Vec<String>,
    pub extra_audiences: Vec<String>,
    pub enabled_signing_algs: Vec<String>,
    pub allow_unverified_email: bool,
    pub skip_issuer_verification: bool,
    pub skip_nonce: bool,
    /// The scope actually requested (defaults applied).
    pub scope: String,
    pub pkce: Option<PkceMethod>,
    pub prompt: Option<String>,
    pub approval_prompt: String,
    pub acr_values: Option<String>,
    pub response_mode: Option<String>,
    pub ca_files: Vec<PathBuf>,
    pub use_system_trust_store: bool,
    pub insecure_skip_verify: bool,
    pub backend_logout_url: Option<String>,
    /// The callback URL as configured; `None` derives it from the request.
    pub redirect_url: Option<String>,
    pub relative_redirect_url: bool,
    pub encode_state: bool,
}
