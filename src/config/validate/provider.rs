//! Validation: The provider: issuer, client, endpoints, scopes, verification switches.

use super::provider_types::{TypeSettings, github_rules, not_with_github, type_settings};
use super::*;
use crate::config::alpha::Provider as AlphaProvider;

/// Parameters the authorization request carries whatever the configuration says: a login
/// parameter may not repeat one (oauth2-proxy would send both copies).
const OWN_PARAMS: [&str; 9] =
    ["client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "response_mode"];

/// The authorization request's extra parameters. Legacy: `acr_values`, then `prompt` or else
/// `approval_prompt`, as oauth2-proxy converts them. Alpha: `loginURLParameters` only (the
/// legacy three are provider options, refused beside an alpha provider).
fn login_params(r: &mut Reader<'_>, alpha: Option<(usize, &AlphaProvider)>, kind: Option<ProviderKind>) -> Vec<oidc::LoginParam> {
    let mut params = login_params_as_written(r, alpha);
    if kind == Some(ProviderKind::Google) && !params.iter().any(|p| p.name == "access_type") {
        // oauth2-proxy's Google login URL asks for offline access: a refresh token.
        params.push(oidc::LoginParam { name: "access_type".into(), default: vec!["offline".into()], allow: None });
    }
    params
}

fn login_params_as_written(r: &mut Reader<'_>, alpha: Option<(usize, &AlphaProvider)>) -> Vec<oidc::LoginParam> {
    let fixed = |name: &str, value: String| oidc::LoginParam { name: name.into(), default: vec![value], allow: None };
    let prompt = r.string("prompt");
    let approval_prompt: String = r.get("approval_prompt");
    let acr_values = r.string("acr_values");
    let Some((index, provider)) = alpha else {
        let mut params: Vec<oidc::LoginParam> = acr_values.map(|v| fixed("acr_values", v)).into_iter().collect();
        match prompt {
            Some(p) => params.push(fixed("prompt", p)),
            None if !approval_prompt.is_empty() => params.push(fixed("approval_prompt", approval_prompt)),
            None => {}
        }
        return params;
    };
    let mut params: Vec<oidc::LoginParam> = Vec::new();
    for (i, p) in provider.login_url_parameters.iter().flatten().enumerate() {
        let at = format!("providers[{index}].loginURLParameters[{i}]");
        let mut fail = |field: &str, problem: String, fix: &str| r.errors.push(ConfigError::new(format!("{at}.{field}"), problem, fix));
        if OWN_PARAMS.contains(&p.name.as_str()) {
            fail("name", format!("\"{}\" is a parameter Gatehouse sets itself", p.name), "remove this entry");
            continue;
        }
        if p.name.is_empty() || params.iter().any(|q| q.name == p.name) {
            fail("name", format!("{:?} is empty or appears twice", p.name), "give each parameter one entry");
            continue;
        }
        let mut rules = Vec::new();
        for (j, rule) in p.allow.iter().flatten().enumerate() {
            match (&rule.value, &rule.pattern) {
                (Some(v), None) => rules.push(format!("^{}$", regex::escape(v))),
                (None, Some(pattern)) => rules.push(format!("(?:{pattern})")),
                _ => fail(&format!("allow[{j}]"), "needs exactly one of value or pattern".into(), "write value: x or pattern: ^x$"),
            }
        }
        let allow = match rules.is_empty() {
            true => None,
            false => match regex::Regex::new(&rules.join("|")) {
                Ok(re) => Some(re),
                Err(e) => {
                    fail("allow", format!("is not a valid regular expression ({e})"), "fix the pattern");
                    None
                }
            },
        };
        params.push(oidc::LoginParam { name: p.name.clone(), default: p.default.clone().unwrap_or_default(), allow });
    }
    params
}

/// The provider from the options (the first alpha provider folded into them), or for a
/// further alpha provider from its own folded options; `alpha` is its entry and index.
pub(super) fn oidc_config(r: &mut Reader<'_>, alpha: Option<(usize, &AlphaProvider)>) -> Option<oidc::Config> {
    let kind = provider_kind(r, alpha);
    let display_name: String = r.get("provider_display_name");
    let (client_id, client_secret) = client(r);
    let github = kind == Some(ProviderKind::GitHub);
    let (endpoints, github_rules) = endpoints_and_rules(r, kind, alpha.is_some_and(|(i, _)| i > 0));
    let TypeSettings { gitlab_projects, entra, google, azure } = type_settings(r, kind);
    let claims = claims(r);
    let enabled_signing_algs = signing_algs(r);
    let allow_unverified_email = r.get("insecure_oidc_allow_unverified_email");
    let skip_issuer_verification = r.get("insecure_oidc_skip_issuer_verification");
    let skip_nonce = skip_nonce(r, github);
    let scope = scope(r, kind);
    let pkce = pkce_method(r);
    let login_params = login_params(r, alpha, kind);
    let response_mode = response_mode(r);
    let rp_initiated_logout = r.get("oidc_rp_initiated_logout");
    let backchannel_logout = backchannel_logout(r);
    let ca_files = r.existing_files("provider_ca_files");
    let use_system_trust_store = r.get("use_system_trust_store");
    let insecure_skip_verify = r.get("ssl_insecure_skip_verify");
    let skip_claims_from_profile_url = r.get("skip_claims_from_profile_url");
    let (backend_logout_url, redirect_url, relative_redirect_url) = redirects(r);
    let encode_state = r.get("encode_state");
    let issuer_url_raw = r.string("oidc_issuer_url").unwrap_or_else(|| match kind {
        Some(ProviderKind::Google) => crate::oidc::google::ISSUER.to_string(),
        _ => String::new(),
    });
    let ssl_cert_file = ssl_cert_file(r);
    let Endpoints { skip_discovery, issuer_url, jwks_url, public_key_files, login_url, redeem_url, profile_url, validate_url } = endpoints;
    let Claims { email_claim, groups_claim, audience_claims, extra_audiences } = claims;

    Some(oidc::Config {
        kind: kind?,
        display_name,
        client_id: client_id?,
        client_secret: client_secret?,
        issuer_url,
        issuer_url_raw,
        skip_discovery,
        jwks_url,
        public_key_files,
        login_url,
        redeem_url,
        profile_url,
        validate_url,
        skip_claims_from_profile_url,
        email_claim,
        groups_claim,
        gitlab_projects,
        github: github_rules,
        entra,
        azure,
        google,
        additional_claims: alpha.and_then(|(_, p)| p.additional_claims.clone()).unwrap_or_default(),
        audience_claims,
        extra_audiences,
        enabled_signing_algs,
        allow_unverified_email,
        skip_issuer_verification,
        // GitHub signs no ID token for a nonce to travel in; oauth2-proxy sends none to it.
        skip_nonce: skip_nonce || github,
        scope,
        pkce,
        login_params,
        response_mode,
        rp_initiated_logout,
        backchannel_logout,
        ca_files,
        use_system_trust_store,
        ssl_cert_file,
        insecure_skip_verify,
        backend_logout_url,
        redirect_url,
        relative_redirect_url,
        encode_state,
    })
}

/// `insecure_oidc_skip_nonce`, with its warning (GitHub has no nonce to skip).
fn skip_nonce(r: &mut Reader<'_>, github: bool) -> bool {
    let skip: bool = r.get("insecure_oidc_skip_nonce");
    if skip && !github {
        // oauth2-proxy's `--convert-config-to-alpha` writes its default `insecureSkipNonce: true`.
        r.warnings.push("insecure_oidc_skip_nonce (alpha insecureSkipNonce) is true: the OIDC nonce is neither sent nor checked, so an ID token injected from another login is accepted; remove it to have Gatehouse check it".into());
    }
    skip
}

/// The back-channel logout rules, when it is on; its other options without it are a mistake
/// (they would do nothing).
fn backchannel_logout(r: &mut Reader<'_>) -> Option<crate::oidc::logout::LogoutRules> {
    let on: bool = r.get("oidc_backchannel_logout");
    let max_age: std::time::Duration = r.get("oidc_backchannel_logout_max_age");
    let sid_required = r.get("oidc_backchannel_logout_session_required");
    if !on {
        for key in ["oidc_backchannel_logout_path", "oidc_backchannel_logout_session_required", "oidc_backchannel_logout_max_age"] {
            if r.is_set(key) {
                r.error(key, "is set while oidc_backchannel_logout is off", "also set oidc_backchannel_logout = true, or remove it");
            }
        }
        return None;
    }
    if max_age.is_zero() || max_age > std::time::Duration::from_secs(3600) {
        r.error(
            "oidc_backchannel_logout_max_age",
            format!("is {}", crate::config::duration::format(max_age)),
            "write a duration between 1s and 1h (the provider sends its logout token at once; minutes cover clock skew)",
        );
    }
    Some(crate::oidc::logout::LogoutRules { max_age, sid_required })
}

/// The scope requested, defaults applied as oauth2-proxy's providers apply them: OIDC adds
/// `groups` with `allowed_groups`; AD FS does not, and puts `resource` before it
/// (`https://app/openid email profile`).
fn scope(r: &mut Reader<'_>, kind: Option<ProviderKind>) -> String {
    let allowed_groups: Vec<String> = r.get("allowed_groups");
    let adfs = matches!(kind, Some(ProviderKind::Adfs { .. }));
    let resource = r.string("resource").filter(|s| !s.is_empty());
    if resource.is_some() && !adfs && kind.is_some() && kind != Some(ProviderKind::Azure) {
        r.error(
            "resource",
            "is only used by the adfs and azure providers (oauth2-proxy ignores it with oidc)",
            "remove it, or set provider = \"adfs\" or \"azure\"",
        );
    }
    let gitlab = kind == Some(ProviderKind::GitLab);
    let scope = match r.string("scope") {
        // Google answers the ID token Gatehouse verifies only to `openid` (oauth2-proxy's
        // default "profile email" reads an unverified one).
        Some(s) if kind == Some(ProviderKind::Google) && !s.split(' ').any(|x| x == "openid") => format!("openid {s}"),
        Some(s) => s,
        None if kind == Some(ProviderKind::GitHub) => crate::oidc::github::DEFAULT_SCOPE.to_string(),
        // oauth2-proxy's azure asks for `openid` only (Azure puts the claims in the token).
        None if kind == Some(ProviderKind::Azure) => "openid".to_string(),
        // GitLab's default; its project checks need read_api (added below).
        None if gitlab => "openid email".to_string(),
        None if allowed_groups.is_empty() || adfs => "openid email profile".to_string(),
        None => "openid email profile groups".to_string(),
    };
    let projects: Vec<String> = r.get("gitlab_projects");
    let scope =
        if gitlab && !projects.is_empty() && !scope.split(' ').any(|s| s == "read_api") { format!("{scope} read_api") } else { scope };
    match resource.filter(|_| adfs) {
        Some(resource) => {
            let resource = if resource.ends_with('/') { resource } else { format!("{resource}/") };
            if scope.starts_with(&resource) { scope } else { format!("{resource}{scope}") }
        }
        None => scope,
    }
}

fn provider_kind(r: &mut Reader<'_>, alpha: Option<(usize, &AlphaProvider)>) -> Option<ProviderKind> {
    let provider: String = r.get("provider");
    match provider.as_str() {
        "oidc" => Some(ProviderKind::Oidc),
        "keycloak-oidc" => Some(ProviderKind::KeycloakOidc),
        "gitlab" => Some(ProviderKind::GitLab),
        "github" => Some(ProviderKind::GitHub),
        "entra-id" => Some(ProviderKind::EntraId),
        "azure" => Some(ProviderKind::Azure),
        "google" => Some(ProviderKind::Google),
        "adfs" => {
            let skip_scope = alpha.and_then(|(_, p)| p.adfs_config.as_ref()).and_then(|c| c.skip_scope).unwrap_or(false);
            Some(ProviderKind::Adfs { skip_scope })
        }
        p if let Some((_, instead)) = options::OTHER_PROVIDERS.iter().find(|(name, _)| *name == p) => {
            let default = if r.is_set("provider") { "" } else { " (oauth2-proxy's default)" };
            r.error("provider", format!("provider \"{p}\"{default} is not built into Gatehouse"), *instead);
            None
        }
        p => {
            let hint = suggest(p, ["oidc", "keycloak-oidc", "adfs", "gitlab", "github", "entra-id", "azure", "google"]).unwrap_or("oidc");
            r.error("provider", "unknown provider", format!("did you mean \"{hint}\"?"));
            None
        }
    }
}

/// The client ID and secret (given, or in a file).
fn client(r: &mut Reader<'_>) -> (Option<String>, Option<ClientSecret>) {
    let client_id = r.string("client_id");
    if client_id.is_none() {
        r.error("client_id", "is required", "set client_id to the client ID registered at your identity provider");
    }
    let client_secret = match (r.string("client_secret"), r.existing_file("client_secret_file")) {
        (Some(s), None) => Some(ClientSecret::Value(Secret::new(s))),
        (None, Some(f)) => Some(ClientSecret::File(f)),
        (Some(_), Some(_)) => {
            r.error("client_secret_file", "is set together with client_secret", "keep only one of client_secret and client_secret_file");
            None
        }
        (None, None) => {
            r.error(
                "client_secret",
                "is required",
                "set client_secret (or client_secret_file) to the client secret from your identity provider",
            );
            None
        }
    };
    (client_id, client_secret)
}

/// Where the provider is: discovered from the issuer, or each endpoint given.
struct Endpoints {
    skip_discovery: bool,
    issuer_url: Option<Url>,
    jwks_url: Option<Url>,
    public_key_files: Vec<PathBuf>,
    login_url: Option<Url>,
    redeem_url: Option<Url>,
    profile_url: Option<Url>,
    validate_url: Option<Url>,
}

/// (`known_provider`: the issuer is required; `own_defaults`: the provider type has default
/// authorization and token endpoints, so skipping discovery does not need them.)
fn endpoints(r: &mut Reader<'_>, known_provider: bool, own_defaults: bool) -> Endpoints {
    let skip_discovery: bool = r.get("skip_oidc_discovery");
    let issuer_url = r.url("oidc_issuer_url");
    let jwks_url = r.url("oidc_jwks_url");
    let public_key_files = r.existing_files("oidc_public_key_files");
    let login_url = r.url("login_url");
    let redeem_url = r.url("redeem_url");
    let profile_url = r.url("profile_url");
    let validate_url = r.url("validate_url");
    // Also without discovery, as oauth2-proxy requires it: ID tokens' `iss` is checked
    // against it (without an issuer, any issuer that signs with those keys would do).
    if known_provider && issuer_url.is_none() && !r.is_set("oidc_issuer_url") {
        r.error(
            "oidc_issuer_url",
            if skip_discovery {
                "is required, also with skip_oidc_discovery (ID tokens' issuer is checked against it)"
            } else {
                "is required for the oidc provider"
            },
            "set it to your provider's issuer, e.g. \"https://localhost:9443/oauth2/token\" for WSO2 Identity Server",
        );
    }
    if skip_discovery {
        if login_url.is_none() && !r.is_set("login_url") && !own_defaults {
            r.error("login_url", "is required with skip_oidc_discovery", "set it to the provider's authorization endpoint");
        }
        if redeem_url.is_none() && !r.is_set("redeem_url") && !own_defaults {
            r.error("redeem_url", "is required with skip_oidc_discovery", "set it to the provider's token endpoint");
        }
        if jwks_url.is_none() && public_key_files.is_empty() && !r.is_set("oidc_jwks_url") {
            r.error(
                "oidc_jwks_url",
                "is required with skip_oidc_discovery (or oidc_public_key_files)",
                "set it to the provider's JWKS URL",
            );
        }
        if jwks_url.is_some() && !public_key_files.is_empty() {
            r.error("oidc_public_key_files", "is set together with oidc_jwks_url", "keep only one source of verification keys");
        }
    }
    Endpoints { skip_discovery, issuer_url, jwks_url, public_key_files, login_url, redeem_url, profile_url, validate_url }
}

/// Where the provider is, and GitHub's rules (with github.com's endpoints by default).
fn endpoints_and_rules(r: &mut Reader<'_>, kind: Option<ProviderKind>, further: bool) -> (Endpoints, crate::oidc::github::Rules) {
    // Google's issuer is known: oauth2-proxy's google provider needs none configured.
    let azure = kind == Some(ProviderKind::Azure);
    let mut found = endpoints(r, kind.is_some_and(|k| k.is_oidc() && k != ProviderKind::Google), azure);
    let tenant: String = r.get("azure_tenant");
    if azure {
        found.azure_defaults(r, &tenant);
    } else if kind.is_some() && r.is_set("azure_tenant") && tenant != "common" {
        r.error("azure_tenant", "is only used by the azure provider", "remove it, or set provider = \"azure\"");
    }
    if kind == Some(ProviderKind::Google) {
        if found.issuer_url.is_none() {
            found.issuer_url = Url::parse(crate::oidc::google::ISSUER).ok();
        }
        if found.validate_url.is_none() {
            found.validate_url = Url::parse(crate::oidc::google::VALIDATE_URL).ok();
        }
    }
    let rules = github_rules(r, kind);
    if kind == Some(ProviderKind::GitHub) {
        not_with_github(r, further);
        if (found.login_url.is_some() || found.redeem_url.is_some()) && found.validate_url.is_none() {
            // GitHub Enterprise: its tokens would otherwise be sent to api.github.com.
            r.error(
                "validate_url",
                "is not set while login_url or redeem_url points at a GitHub Enterprise server",
                "set validate_url to its API root too (https://HOST/api/v3/): without it the API calls and the server's tokens would go to api.github.com",
            );
        }
        found.github_defaults();
    }
    (found, rules)
}

impl Endpoints {
    /// Azure AD's v1 endpoints of `azure_tenant` where none were given, or where the common
    /// tenant's were (oauth2-proxy's `overrideTenantURL`); with discovery, the issuer's.
    fn azure_defaults(&mut self, r: &mut Reader<'_>, tenant: &str) {
        let login = crate::oidc::azure::LOGIN_HOST;
        if !self.skip_discovery {
            if r.is_set("azure_tenant") && tenant != "common" {
                r.warnings.push(format!(
                    "azure_tenant \"{tenant}\" chooses the endpoints only with skip_oidc_discovery; with discovery they are oidc_issuer_url's"
                ));
            }
            return;
        }
        for (url, path) in [(&mut self.login_url, "authorize"), (&mut self.redeem_url, "token")] {
            let common = format!("{login}/common/oauth2/{path}");
            if url.as_ref().is_none_or(|u| u.as_str() == common) {
                let host =
                    url.as_ref().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_else(|| "login.microsoftonline.com".into());
                *url = Url::parse(&format!("https://{host}/{tenant}/oauth2/{path}")).ok();
            }
        }
    }

    /// github.com's endpoints where none were given (GitHub Enterprise gives all three).
    fn github_defaults(&mut self) {
        let default = |u: &mut Option<Url>, d: &str| {
            if u.is_none() {
                *u = Url::parse(d).ok();
            }
        };
        default(&mut self.login_url, crate::oidc::github::LOGIN_URL);
        default(&mut self.redeem_url, crate::oidc::github::REDEEM_URL);
        default(&mut self.validate_url, crate::oidc::github::VALIDATE_URL);
    }
}

/// Which claims say who the user is, and which audiences an ID token may have.
struct Claims {
    email_claim: String,
    groups_claim: String,
    audience_claims: Vec<String>,
    extra_audiences: Vec<String>,
}

fn claims(r: &mut Reader<'_>) -> Claims {
    let email_claim_opt: String = r.get("oidc_email_claim");
    let user_id_claim: String = r.get("user_id_claim");
    // oauth2-proxy: the deprecated user_id_claim takes over the email field when the email
    // claim is left at its default. The tutorial relies on this (user_id_claim = "username").
    let email_claim = if email_claim_opt == "email" && user_id_claim != "email" { user_id_claim } else { email_claim_opt };
    let groups_claim: String = r.get("oidc_groups_claim");
    let audience_claims: Vec<String> = r.get("oidc_audience_claims");
    if audience_claims.is_empty() {
        r.error("oidc_audience_claims", "must name at least one claim", "leave it unset for the default [\"aud\"]");
    }
    let extra_audiences = r.get("oidc_extra_audiences");
    Claims { email_claim, groups_claim, audience_claims, extra_audiences }
}

fn signing_algs(r: &mut Reader<'_>) -> Vec<String> {
    let enabled_signing_algs: Vec<String> = r.get("oidc_enabled_signing_algs");
    const ALGS: [&str; 11] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "ES512", "Ed25519"];
    for alg in &enabled_signing_algs {
        if !ALGS.contains(&alg.as_str()) {
            r.entry_error(
                "oidc_enabled_signing_algs",
                alg,
                "is not an accepted ID token signing algorithm",
                "use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA (HMAC and none are never accepted)",
            );
        }
    }
    enabled_signing_algs
}

fn pkce_method(r: &mut Reader<'_>) -> Option<PkceMethod> {
    let ccm = r.string("code_challenge_method");
    let forced = r.string("force_code_challenge_method");
    let (pkce_key, pkce_value) = match (ccm, forced) {
        (Some(v), _) => ("code_challenge_method", Some(v)),
        (None, Some(v)) => ("force_code_challenge_method", Some(v)),
        (None, None) => ("code_challenge_method", None),
    };
    match pkce_value.as_deref() {
        None => None,
        Some("S256") => Some(PkceMethod::S256),
        Some("plain") => Some(PkceMethod::Plain),
        Some(_) => {
            r.error(pkce_key, "is not a PKCE method", "use \"S256\" (recommended) or \"plain\"");
            None
        }
    }
}

/// `backend_logout_url`, `redirect_url` and `relative_redirect_url`, checked.
fn redirects(r: &mut Reader<'_>) -> (Option<String>, Option<String>, bool) {
    let backend_logout_url = r.string("backend_logout_url");
    if let Some(u) = &backend_logout_url
        && let Err(problem) = parse_http_url(&u.replace("{id_token}", "x"))
    {
        r.error("backend_logout_url", problem, "write a full URL; {id_token} may appear in it");
    }
    let redirect_url = r.string("redirect_url");
    let relative_redirect_url = r.get("relative_redirect_url");
    if let Some(u) = &redirect_url
        && !u.starts_with('/')
        && let Err(problem) = parse_http_url(u)
    {
        r.error("redirect_url", problem, "write the full callback URL, e.g. \"http://localhost:4180/oauth2/callback\"");
    }
    (backend_logout_url, redirect_url, relative_redirect_url)
}

/// `SSL_CERT_FILE`, which Go programs read.
fn ssl_cert_file(r: &mut Reader<'_>) -> Option<PathBuf> {
    // Go programs (oauth2-proxy included) trust SSL_CERT_FILE instead of the system store;
    // Gatehouse trusts it too, and accepts a self-signed certificate in it as the exact
    // server certificate.
    let ssl_cert_file = r.env.var("SSL_CERT_FILE").filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(f) = &ssl_cert_file
        && !f.is_file()
    {
        r.errors.push(
            ConfigError::new("SSL_CERT_FILE", "no such file", "point SSL_CERT_FILE at a PEM file, or unset it")
                .value(f.display().to_string())
                .origin(Some(Origin::Env { var: "SSL_CERT_FILE".into() })),
        );
    }
    ssl_cert_file
}

/// `auth_request_response_mode`: how the provider sends the browser back. Only the ways that
/// reach the server can log anyone in; `fragment` (and JARM's `*.jwt` modes) never would.
fn response_mode(r: &mut Reader<'_>) -> Option<String> {
    let mode = r.string("auth_request_response_mode")?;
    match mode.as_str() {
        "" => None,
        "query" | "form_post" => Some(mode),
        other => {
            r.error(
                "auth_request_response_mode",
                format!("{other:?} cannot bring the login back to Gatehouse"),
                "use \"form_post\" or \"query\", or leave it unset (the provider's default for the code flow, query)",
            );
            None
        }
    }
}
