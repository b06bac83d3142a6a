//! The provider's validated settings: which provider type, its client, endpoints, claims,
//! the authorization request's parameters. Plain values, read by the rest of `oidc`.

use std::path::PathBuf;

use url::Url;

use crate::base::Secret;

use super::logout;

/// The provider types Gatehouse implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Oidc,
    /// Keycloak through its OIDC endpoint: OIDC, plus the access token's roles as
    /// `role:` groups ([`keycloak`]).
    KeycloakOidc,
    /// Microsoft AD FS: OIDC whose users often have no `email`, only a `upn` (used instead),
    /// and whose authorization request may leave `scope` out (alpha `ADFSConfig.skipScope`).
    Adfs {
        skip_scope: bool,
    },
    /// GitLab: OIDC, then GitLab's userinfo and project API at login ([`super::gitlab`]).
    GitLab,
    /// Google: OIDC, and with a service account the user's Google groups ([`super::google`]).
    Google,
    /// Microsoft Entra ID: OIDC, tenants and the group overage ([`super::entra`]).
    EntraId,
    /// oauth2-proxy's legacy Azure AD provider: OIDC on the v1 or v2.0 endpoints, the email
    /// from Graph's profile when the token has none, v2.0's groups from Graph ([`super::azure`]).
    Azure,
    /// GitHub: plain OAuth 2.0 and GitHub's REST API ([`super::github`]); no ID tokens.
    GitHub,
}

impl ProviderKind {
    /// The name `provider` gives it.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Oidc => "oidc",
            ProviderKind::KeycloakOidc => "keycloak-oidc",
            ProviderKind::Adfs { .. } => "adfs",
            ProviderKind::GitLab => "gitlab",
            ProviderKind::GitHub => "github",
            ProviderKind::EntraId => "entra-id",
            ProviderKind::Azure => "azure",
            ProviderKind::Google => "google",
        }
    }

    /// Whether the provider speaks OpenID Connect (discovery, ID tokens, signing keys).
    pub fn is_oidc(self) -> bool {
        self != ProviderKind::GitHub
    }
}

/// Where the client secret comes from. A file is read on every use, so it can be rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSecret {
    Value(Secret<String>),
    File(PathBuf),
}

/// One extra parameter of the authorization request (oauth2-proxy's `LoginURLParameter`).
#[derive(Debug, Clone)]
pub struct LoginParam {
    pub name: String,
    /// Sent unless `/oauth2/start` chose allowed values instead.
    pub default: Vec<String>,
    /// The values `/oauth2/start?<name>=` may choose (any of the rules, as one regex).
    pub allow: Option<regex::Regex>,
}

impl LoginParam {
    /// The parameters to send: each default, replaced by the values of `overrides` (the
    /// `/oauth2/start` query) that its rules allow, when there are any.
    pub fn resolve<'a>(params: &'a [LoginParam], overrides: &'a [(String, String)]) -> Vec<(&'a str, &'a str)> {
        let mut out = Vec::new();
        for p in params {
            let chosen: Vec<&str> = match &p.allow {
                Some(re) => overrides.iter().filter(|(k, v)| *k == p.name && re.is_match(v)).map(|(_, v)| v.as_str()).collect(),
                None => Vec::new(),
            };
            let values: Vec<&str> = if chosen.is_empty() { p.default.iter().map(String::as_str).collect() } else { chosen };
            out.extend(values.into_iter().map(|v| (p.name.as_str(), v)));
        }
        out
    }
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
    /// The issuer as a URL, for building requests.
    pub issuer_url: Option<Url>,
    /// The issuer exactly as configured: discovery's `issuer` must equal this string.
    pub issuer_url_raw: String,
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
    /// Alpha `additionalClaims`: kept in the session for headers (`claim: <name>`) and userinfo.
    pub additional_claims: Vec<String>,
    /// `gitlab_projects` (GitLab only): each a group `project:<path>` for its members.
    pub gitlab_projects: Vec<super::gitlab::Project>,
    /// google's Directory API, with a service account (google only).
    pub google: Option<super::google::Directory>,
    /// entra-id's tenants and Graph (entra-id only).
    pub entra: Option<super::entra::Settings>,
    /// azure's Graph group field and protected resource (azure only).
    pub azure: Option<super::azure::Settings>,
    /// `github_*` (GitHub only): who may log in.
    pub github: super::github::Rules,
    pub audience_claims: Vec<String>,
    pub extra_audiences: Vec<String>,
    pub enabled_signing_algs: Vec<String>,
    pub allow_unverified_email: bool,
    pub skip_issuer_verification: bool,
    pub skip_nonce: bool,
    /// The scope actually requested (defaults applied).
    pub scope: String,
    pub pkce: Option<PkceMethod>,
    /// Extra parameters of the authorization request: `prompt` (or `approval_prompt`) and
    /// `acr_values`, or the alpha `loginURLParameters`, with the values `/oauth2/start` may
    /// choose.
    pub login_params: Vec<LoginParam>,
    pub response_mode: Option<String>,
    /// Sign-out goes on to the provider's `end_session_endpoint` (Gatehouse's own option).
    pub rp_initiated_logout: bool,
    /// Back-Channel Logout tokens are accepted, judged by these rules (Gatehouse's own).
    pub backchannel_logout: Option<logout::LogoutRules>,
    pub ca_files: Vec<PathBuf>,
    pub use_system_trust_store: bool,
    /// `SSL_CERT_FILE` from the environment: trusted (and pinned) like a CA file.
    pub ssl_cert_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
    pub backend_logout_url: Option<String>,
    /// The callback URL as configured; `None` derives it from the request.
    pub redirect_url: Option<String>,
    pub relative_redirect_url: bool,
    pub encode_state: bool,
}
