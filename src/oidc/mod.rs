//! OpenID Connect: discovery, the authorization request, code redemption, refresh and ID token
//! verification against the provider's keys.
//!
//! Invariant: the only module that talks to the identity provider. It never touches cookies or
//! HTTP responses to the browser; it returns typed results and typed errors.

pub mod azure;
pub mod bearer;
pub mod claims;
mod config;
pub mod entra;
pub mod flow;
pub mod github;
pub mod gitlab;
pub mod google;
pub mod http;
pub mod keycloak;
pub mod keys;
pub mod logout;
mod renew;
pub mod tls;
pub mod verify;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use openidconnect::core::{CoreErrorResponseType, CoreProviderMetadata};
use serde_json::{Map, Value};
use url::Url;

use crate::identity::Identity;
use claims::ClaimsError;
pub use config::{ClientSecret, Config, LoginParam, PkceMethod, ProviderKind};
use http::{Call, ClientAuth, Http, form_error, oauth_error, token_set};
use keys::{KeyCache, KeySource};
use verify::{Expectations, Nonce, VerifyError};

/// What went wrong talking to the provider, classified by who is to blame.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Discovery has not succeeded yet (the provider was unreachable at start).
    #[error("the identity provider is not available yet")]
    NotReady,
    #[error("the identity provider cannot be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider answered something unexpected: {0}")]
    BadResponse(String),
    /// The token endpoint refused the grant with an OAuth error.
    #[error("the identity provider refused the request: {code}")]
    Rejected { code: OAuthError },
    #[error("the token response has no ID token")]
    NoIdToken,
    #[error("the ID token is not acceptable: {0}")]
    IdToken(#[from] VerifyError),
    #[error("{0}")]
    Claims(#[from] ClaimsError),
    /// The provider's own rules (GitHub's organization, team, repository, users) refuse
    /// this user.
    #[error("the provider's rules refuse this user: {0}")]
    Denied(String),
    #[error("{0}")]
    Internal(String),
}

/// Which ID token is verified: the nonce and `azp` rules differ.
#[derive(Debug, Clone, Copy)]
pub enum IdTokenUse<'a> {
    /// From the callback's code, with the login's nonce (`None` when the nonce is skipped).
    Login(Option<&'a str>),
    /// A session's stored or refreshed ID token, with the nonce its login used.
    Session(Option<&'a str>),
    /// A bearer token a client presented (`skip_jwt_bearer_tokens`): other clients' tokens
    /// with an accepted audience are allowed, so `azp` is not ours to check.
    Bearer,
}

/// An OAuth error code from the token endpoint, parsed once at the boundary so callers decide
/// with `match`, never by looking inside strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError(pub CoreErrorResponseType);

impl OAuthError {
    /// The refresh token is dead (revoked, expired, or the client is no longer allowed):
    /// the session must end.
    pub fn ends_session(&self) -> bool {
        matches!(
            self.0,
            CoreErrorResponseType::InvalidGrant | CoreErrorResponseType::InvalidClient | CoreErrorResponseType::UnauthorizedClient
        )
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

/// Who an ID token names, and in which of the provider's sessions.
#[derive(Debug, Clone)]
pub struct Identified {
    pub identity: Identity,
    /// The ID token's `sid`, if any.
    pub sid: Option<String>,
}

/// The tokens a grant returned.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    #[serde(default)]
    pub id_token: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// A number, or (Azure AD v1) a string holding one.
    #[serde(default, deserialize_with = "http::seconds")]
    pub expires_in: Option<u64>,
}

/// The provider's endpoints and signing algorithms, from discovery or configuration.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub issuer: String,
    pub authorization: Url,
    pub token: Url,
    pub userinfo: Option<Url>,
    pub end_session: Option<Url>,
    pub algorithms: Vec<Algorithm>,
    pub keys: KeySource,
}

/// The identity provider as Gatehouse uses it. Shared by every worker (`Send + Sync`).
pub struct Provider {
    cfg: Config,
    http: Http,
    endpoints: RwLock<Option<Arc<Endpoints>>>,
    keys: KeyCache,
    /// Set once the token endpoint refused HTTP Basic client authentication and accepted the
    /// credentials in the form, as oauth2-proxy's auto-detection does.
    auth_in_form: AtomicBool,
    unreachable_logged: AtomicBool,
    /// google: the service account's Directory token.
    google_tokens: google::TokenCache,
}

impl Provider {
    pub fn new(cfg: Config, metrics: Arc<crate::metrics::Metrics>) -> anyhow::Result<Provider> {
        let trust = tls::Trust {
            ca_files: cfg.ca_files.clone(),
            use_system_trust_store: cfg.use_system_trust_store,
            ssl_cert_file: cfg.ssl_cert_file.clone(),
            insecure_skip_verify: cfg.insecure_skip_verify,
        };
        if cfg.insecure_skip_verify {
            log::warn!(
                "ssl_insecure_skip_verify is set: the identity provider's TLS certificate is NOT verified; anyone on the network path can impersonate it"
            );
        }
        let http = Http::new(tls::client_config(&trust)?, Duration::from_secs(10), metrics);
        // GitHub and Azure take the client's credentials in the form (oauth2-proxy sends them so).
        let auth_in_form = AtomicBool::new(!cfg.kind.is_oidc() || cfg.kind == ProviderKind::Azure);
        Ok(Provider {
            cfg,
            http,
            endpoints: RwLock::new(None),
            keys: KeyCache::default(),
            auth_in_form,
            unreachable_logged: AtomicBool::new(false),
            google_tokens: google::TokenCache::default(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// True once endpoints and keys are loaded.
    pub fn is_ready(&self) -> bool {
        self.endpoints().is_ok()
    }

    pub fn endpoints(&self) -> Result<Arc<Endpoints>, Error> {
        match &*self.endpoints.read().unwrap_or_else(|e| e.into_inner()) {
            Some(e) if matches!(e.keys, KeySource::None) || self.keys.is_loaded() => Ok(e.clone()),
            _ => Err(Error::NotReady),
        }
    }

    /// Keeps trying discovery in the background until it succeeds: Gatehouse starts even when
    /// the provider is down, answers 503 for logins meanwhile, and logs each change of state
    /// once (not once per attempt).
    pub fn spawn_discovery(self: &Arc<Self>) {
        let provider = self.clone();
        actix_web::rt::spawn(async move {
            let mut delay = Duration::from_millis(250);
            loop {
                match provider.discover().await {
                    Ok(()) => {
                        if provider.unreachable_logged.swap(false, Ordering::Relaxed) {
                            log::info!("identity provider reachable again; logins are possible");
                        }
                        return;
                    }
                    Err(e) => {
                        if !provider.unreachable_logged.swap(true, Ordering::Relaxed) {
                            log::warn!("identity provider discovery failed, retrying in the background: {e}");
                        }
                        actix_web::rt::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(10));
                    }
                }
            }
        });
    }

    /// One discovery attempt: metadata (unless skipped) and keys.
    pub async fn discover(&self) -> Result<(), Error> {
        let endpoints =
            if self.cfg.skip_discovery || !self.cfg.kind.is_oidc() { self.static_endpoints()? } else { self.fetch_metadata().await? };
        let n = self.keys.load(&self.http, &endpoints.keys).await?;
        log::info!(
            "identity provider ready: issuer {}, {} signing key{}, algorithms {:?}",
            endpoints.issuer,
            n,
            if n == 1 { "" } else { "s" },
            endpoints.algorithms
        );
        *self.endpoints.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(endpoints));
        Ok(())
    }

    fn static_endpoints(&self) -> Result<Endpoints, Error> {
        let c = &self.cfg;
        let missing = |what: &str| Error::Internal(format!("{what} is required with skip_oidc_discovery"));
        if !c.kind.is_oidc() {
            // Validation filled in GitHub's own endpoints where none were given.
            return Ok(Endpoints {
                issuer: String::new(),
                authorization: c.login_url.clone().ok_or_else(|| missing("login_url"))?,
                token: c.redeem_url.clone().ok_or_else(|| missing("redeem_url"))?,
                userinfo: None,
                end_session: None,
                algorithms: Vec::new(),
                keys: KeySource::None,
            });
        }
        let keys = match (&c.jwks_url, c.public_key_files.is_empty()) {
            (Some(u), _) => KeySource::Jwks(u.clone()),
            (None, false) => KeySource::PemFiles(c.public_key_files.clone()),
            (None, true) => return Err(missing("oidc_jwks_url")),
        };
        Ok(Endpoints {
            issuer: c.issuer_url_raw.clone(),
            authorization: c.login_url.clone().ok_or_else(|| missing("login_url"))?,
            token: c.redeem_url.clone().ok_or_else(|| missing("redeem_url"))?,
            userinfo: c.profile_url.clone(),
            end_session: None,
            algorithms: self.algorithms(&[]),
            keys,
        })
    }

    /// The accepted ID token algorithms: what the provider announces, asymmetric only,
    /// narrowed to `oidc_enabled_signing_algs` when set. RS256 when nothing is announced.
    fn algorithms(&self, announced: &[String]) -> Vec<Algorithm> {
        let parse = |s: &String| s.parse::<Algorithm>().ok().filter(|a| verify::is_asymmetric(*a));
        let mut algs: Vec<Algorithm> = announced.iter().filter_map(parse).collect();
        if algs.is_empty() {
            algs.push(Algorithm::RS256);
        }
        if !self.cfg.enabled_signing_algs.is_empty() {
            let enabled: Vec<Algorithm> = self.cfg.enabled_signing_algs.iter().filter_map(parse).collect();
            algs.retain(|a| enabled.contains(a));
        }
        algs
    }

    async fn fetch_metadata(&self) -> Result<Endpoints, Error> {
        // The configured string, not a normalised URL: a trailing slash matters to the
        // exact issuer comparison, as in oauth2-proxy.
        let issuer_str = self.cfg.issuer_url_raw.clone();
        if issuer_str.is_empty() {
            return Err(Error::Internal("oidc_issuer_url is not set".into()));
        }
        let discovery = Url::parse(&format!("{}/.well-known/openid-configuration", issuer_str.trim_end_matches('/')))
            .map_err(|e| Error::Internal(format!("discovery URL: {e}")))?;
        let res = self.http.get(Call::Discovery, &discovery, None).await?;
        if res.status != 200 {
            return Err(Error::BadResponse(format!("discovery at {} answered {}", http::without_query(&discovery), res.status)));
        }
        let meta: CoreProviderMetadata = serde_json::from_slice(&res.body)
            .map_err(|e| Error::BadResponse(format!("the discovery document is not valid OpenID provider metadata: {e}")))?;
        let raw: Value = serde_json::from_slice(&res.body).unwrap_or_default();
        let announced_issuer = meta.issuer().as_str().to_string();
        if announced_issuer != issuer_str && !self.cfg.skip_issuer_verification {
            return Err(Error::BadResponse(format!(
                "discovery's issuer \"{announced_issuer}\" is not the configured oidc_issuer_url \"{issuer_str}\" (they must match exactly; insecure_oidc_skip_issuer_verification turns this check off)"
            )));
        }
        let url = |v: Option<&str>| v.and_then(|s| Url::parse(s).ok());
        let token =
            meta.token_endpoint().map(|t| t.url().clone()).ok_or_else(|| Error::BadResponse("discovery has no token_endpoint".into()))?;
        let announced: Vec<String> = raw
            .get("id_token_signing_alg_values_supported")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let algorithms = self.algorithms(&announced);
        if algorithms.is_empty() {
            return Err(Error::BadResponse(format!(
                "none of the provider's signing algorithms {announced:?} is enabled by oidc_enabled_signing_algs"
            )));
        }
        Ok(Endpoints {
            // With issuer verification skipped, tokens carry the provider's own issuer.
            issuer: announced_issuer,
            authorization: meta.authorization_endpoint().url().clone(),
            token,
            userinfo: meta.userinfo_endpoint().map(|u| u.url().clone()),
            end_session: url(raw.get("end_session_endpoint").and_then(Value::as_str)),
            algorithms,
            keys: KeySource::Jwks(meta.jwks_uri().url().clone()),
        })
    }

    fn client_secret(&self) -> Result<String, Error> {
        match &self.cfg.client_secret {
            ClientSecret::Value(s) => Ok(s.expose().clone()),
            // Read on every use, so a rotated secret file takes effect without a restart.
            ClientSecret::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| Error::Internal(format!("cannot read client_secret_file {}: {e}", path.display()))),
        }
    }

    /// Calls the token endpoint with a grant, authenticating the client with HTTP Basic first
    /// and, if the provider refuses that, with form parameters (remembered afterwards).
    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenSet, Error> {
        let endpoints = self.endpoints()?;
        let secret = self.client_secret()?;
        let id = self.cfg.client_id.as_str();
        let in_form = self.auth_in_form.load(Ordering::Relaxed);
        let auth = |form: bool| {
            if form { ClientAuth::Post { id, secret: &secret } } else { ClientAuth::Basic { id, secret: &secret } }
        };
        let mut res = self.http.post_form(Call::Token, &endpoints.token, form, auth(in_form)).await?;
        if !in_form && (res.status == 401 || oauth_error(&res.body).is_some_and(|e| e.0 == CoreErrorResponseType::InvalidClient)) {
            let retry = self.http.post_form(Call::Token, &endpoints.token, form, auth(true)).await?;
            if retry.status == 200 {
                self.auth_in_form.store(true, Ordering::Relaxed);
            }
            res = retry;
        }
        // GitHub answers a refused code with 200 and an `error`.
        if let Some(code) = oauth_error(&res.body).or_else(|| form_error(&res.body)) {
            return Err(Error::Rejected { code });
        }
        if res.status != 200 {
            return Err(Error::BadResponse(format!("the token endpoint answered {}", res.status)));
        }
        token_set(&res.body)
    }

    /// Redeems an authorization code.
    pub async fn redeem(&self, code: &str, redirect_uri: &str, code_verifier: Option<&str>) -> Result<TokenSet, Error> {
        let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)];
        if let Some(v) = code_verifier {
            form.push(("code_verifier", v));
        }
        let endpoints = self.endpoints()?;
        if let Some(resource) = azure::resource(self.cfg.azure.as_ref(), &endpoints) {
            form.push(("resource", resource));
        }
        self.token_request(&form).await
    }

    /// Uses a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, Error> {
        self.token_request(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    /// Verifies an ID token, refetching the keys once if it names an unknown key.
    pub async fn verify_id_token(&self, token: &str, used: IdTokenUse<'_>) -> Result<Map<String, Value>, Error> {
        let endpoints = self.endpoints()?;
        let client = self.cfg.client_id.as_str();
        let mut audiences: Vec<&str> = vec![client];
        audiences.extend(self.cfg.extra_audiences.iter().map(String::as_str));
        let (nonce, authorized_party) = match used {
            IdTokenUse::Login(n) => (n.map_or(Nonce::Skip, Nonce::Required), Some(client)),
            IdTokenUse::Session(n) => (n.map_or(Nonce::Skip, Nonce::IfPresent), Some(client)),
            IdTokenUse::Bearer => (Nonce::Skip, None),
        };
        let want = Expectations {
            issuer: (!self.cfg.skip_issuer_verification).then_some(endpoints.issuer.as_str()).filter(|i| !i.is_empty()),
            audience_claims: &self.cfg.audience_claims,
            audiences: &audiences,
            nonce,
            authorized_party,
            algorithms: &endpoints.algorithms,
            kind: verify::TokenKind::IdToken,
        };
        self.verify_jwt(token, &endpoints, &want).await
    }

    /// Verifies a JWT the provider signed, refetching the keys once if it names an unknown key.
    async fn verify_jwt(&self, token: &str, endpoints: &Endpoints, want: &Expectations<'_>) -> Result<Map<String, Value>, Error> {
        match verify::verify(token, &self.keys.current(), want) {
            Err(VerifyError::UnknownKey) => {
                if self.keys.refetch(&self.http, &endpoints.keys).await? {
                    log::info!("signing keys refetched for an unknown key id");
                }
                Ok(verify::verify(token, &self.keys.current(), want)?)
            }
            other => Ok(other?),
        }
    }

    /// Claims from the userinfo endpoint, if it has one.
    pub async fn userinfo(&self, access_token: &str) -> Result<Option<Map<String, Value>>, Error> {
        let endpoints = self.endpoints()?;
        let Some(url) = &endpoints.userinfo else {
            return Ok(None);
        };
        let res = self.http.get(Call::Userinfo, url, Some(access_token)).await?;
        if res.status != 200 {
            return Err(Error::BadResponse(format!("the userinfo endpoint answered {}", res.status)));
        }
        if res.content_type.starts_with("application/jwt") {
            // A signed userinfo response: its claims are used as oauth2-proxy does, unverified,
            // because they only fill gaps next to a verified ID token of the same login.
            let text = String::from_utf8_lossy(&res.body).trim().to_string();
            let claims = jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(&text)
                .map_err(|_| Error::BadResponse("the userinfo JWT is malformed".into()))?;
            return Ok(Some(claims.claims));
        }
        serde_json::from_slice(&res.body).map(Some).map_err(|_| Error::BadResponse("the userinfo response is not a JSON object".into()))
    }

    /// Turns a token response into the user's identity: verifies the ID token (a login's or a
    /// refresh's), asks userinfo for missing claims, applies the claim mapping.
    pub async fn identity(&self, tokens: &TokenSet, used: IdTokenUse<'_>) -> Result<Identified, Error> {
        if self.cfg.kind == ProviderKind::GitHub {
            return Ok(Identified { identity: self.github_identity(&tokens.access_token).await?, sid: None });
        }
        let id_token = tokens.id_token.as_deref().ok_or(Error::NoIdToken)?;
        let mut id_claims = self.verify_id_token(id_token, used).await?;
        let c = &self.cfg;
        let userinfo = if c.kind == ProviderKind::Azure {
            // Azure's profile is Graph's `/me`, not OIDC userinfo: it can only give the email.
            self.azure_profile(&mut id_claims, &tokens.access_token).await?
        } else if !c.skip_claims_from_profile_url && claims::missing(&id_claims, &c.email_claim, &c.groups_claim, &c.additional_claims) {
            self.userinfo(&tokens.access_token).await?
        } else {
            None
        };
        let mapped = claims::identity(&id_claims, userinfo.as_ref(), &c.email_claim, &c.groups_claim, c.allow_unverified_email);
        let mut identity = match (mapped, c.kind) {
            // AD FS, as oauth2-proxy's: a user without an email is known by their `upn`.
            (Err(ClaimsError::NoEmail(_)), ProviderKind::Adfs { .. }) => {
                claims::identity(&id_claims, userinfo.as_ref(), "upn", &c.groups_claim, c.allow_unverified_email)?
            }
            (mapped, _) => mapped?,
        };
        self.add_roles(&mut identity, &tokens.access_token)?;
        if c.kind == ProviderKind::EntraId {
            self.entra_identity(&id_claims, &tokens.access_token, &mut identity).await?;
        }
        if c.kind == ProviderKind::Azure {
            self.azure_groups(&mut identity, &tokens.access_token).await?;
            // As oauth2-proxy's: Azure's sessions carry no preferred username.
            identity.preferred_username.clear();
        }
        if c.kind == ProviderKind::Google {
            // As oauth2-proxy's: Google's groups are the Directory's, never the ID token's, and
            // Google names no preferred username.
            identity.groups = self.google_groups(&identity.email).await?.unwrap_or_default();
            identity.preferred_username.clear();
        }
        // As oauth2-proxy's callback (its `ValidateSession`): Google's token must also pass
        // `validate_url`, Azure's the profile.
        if matches!(c.kind, ProviderKind::Google | ProviderKind::Azure)
            && matches!(used, IdTokenUse::Login(_))
            && !self.validate_access_token(&tokens.access_token).await?
        {
            return Err(Error::Denied("validate_url refused the new access token".into()));
        }
        identity.additional = claims::additional(&id_claims, userinfo.as_ref(), &c.additional_claims)?;
        if c.kind == ProviderKind::GitLab && matches!(used, IdTokenUse::Login(_)) {
            self.gitlab_login(&mut identity, &tokens.access_token).await?;
        }
        // The provider's session, which a back-channel logout names (`sid`, Back-Channel
        // Logout 2.1): kept only when it is a string a logout token could repeat.
        let sid = id_claims.get("sid").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        Ok(Identified { identity, sid })
    }
}

impl Provider {
    /// keycloak-oidc: the roles `access_token` carries join the groups (other providers have
    /// none to add).
    pub fn add_roles(&self, identity: &mut Identity, access_token: &str) -> Result<(), ClaimsError> {
        if self.cfg.kind == ProviderKind::KeycloakOidc {
            identity.groups.extend(keycloak::roles(access_token)?);
        }
        Ok(())
    }

    /// Calls `backend_logout_url` (with `{id_token}` replaced). Failures are logged only: the
    /// local sign-out happens regardless.
    pub async fn backend_logout(&self, id_token: &str) {
        let Some(template) = &self.cfg.backend_logout_url else {
            return;
        };
        let encoded: String = url::form_urlencoded::byte_serialize(id_token.as_bytes()).collect();
        let Ok(url) = Url::parse(&template.replace("{id_token}", &encoded)) else {
            log::warn!("backend_logout_url does not form a URL");
            return;
        };
        match self.http.get(Call::Logout, &url, None).await {
            Ok(res) if matches!(res.status, 200 | 204) => {}
            Ok(res) => log::warn!("backend logout at {} answered {}", http::without_query(&url), res.status),
            Err(e) => log::warn!("backend logout failed: {e}"),
        }
    }
}
