//! `--convert-config-to-alpha`: the alpha YAML that means what the loaded legacy
//! configuration means (its server, upstreams, headers and provider), as oauth2-proxy's
//! option of that name prints it. Everything else stays in the `--config` file.
//!
//! Written from the validated [`Config`], so every default is spelled out; loading the output
//! beside the remaining legacy options gives the same `Config` back (tested both in Gatehouse
//! and in the real oauth2-proxy). Never reads the environment or the disk.

use serde_yaml_ng::{Mapping, Value};

use super::Config;
use crate::identity::{HeaderRule, HeaderValueSource};
use crate::oidc::{ClientSecret, PkceMethod, ProviderKind};
use crate::proxy::Target;
use crate::server::{ListenAddr, TlsConfig, TlsVersion};

/// The alpha YAML for `cfg`.
pub fn to_alpha(cfg: &Config) -> String {
    let mut doc = Mapping::new();
    put(&mut doc, "server", server(cfg.server.http_address.as_ref(), cfg.server.https_address.as_ref(), cfg.server.tls.as_ref()));
    let metrics = server(cfg.server.metrics_address.as_ref(), cfg.server.metrics_secure_address.as_ref(), cfg.server.metrics_tls.as_ref());
    if metrics.as_mapping().is_some_and(|m| !m.is_empty()) {
        put(&mut doc, "metricsServer", metrics);
    }
    put(&mut doc, "upstreamConfig", upstreams(cfg));
    put(&mut doc, "injectRequestHeaders", Value::Sequence(cfg.headers.request.iter().map(header).collect()));
    put(&mut doc, "injectResponseHeaders", Value::Sequence(cfg.headers.response.iter().map(header).collect()));
    put(&mut doc, "providers", Value::Sequence(vec![provider(cfg)]));
    serde_yaml_ng::to_string(&Value::Mapping(doc)).unwrap_or_default()
}

fn put(m: &mut Mapping, key: &str, value: impl Into<Value>) {
    m.insert(Value::String(key.to_string()), value.into());
}

fn strings(items: &[String]) -> Value {
    Value::Sequence(items.iter().cloned().map(Value::String).collect())
}

fn from_file(path: &std::path::Path) -> Value {
    let mut m = Mapping::new();
    put(&mut m, "fromFile", path.display().to_string());
    Value::Mapping(m)
}

/// `server` / `metricsServer`: an unset address is `-` (no listener), as oauth2-proxy reads it.
fn server(plain: Option<&ListenAddr>, secure: Option<&ListenAddr>, tls: Option<&TlsConfig>) -> Value {
    let mut m = Mapping::new();
    if let Some(a) = plain {
        put(&mut m, "bindAddress", a.to_string());
    }
    if let (Some(a), Some(tls)) = (secure, tls) {
        if plain.is_none() {
            put(&mut m, "bindAddress", "-");
        }
        put(&mut m, "secureBindAddress", a.to_string());
        let mut t = Mapping::new();
        put(&mut t, "cert", from_file(&tls.cert_file));
        put(&mut t, "key", from_file(&tls.key_file));
        put(&mut t, "minVersion", if tls.min_version == TlsVersion::Tls13 { "TLS1.3" } else { "TLS1.2" });
        if !tls.cipher_suites.is_empty() {
            put(&mut t, "cipherSuites", strings(&tls.cipher_suites));
        }
        put(&mut m, "tls", Value::Mapping(t));
    }
    Value::Mapping(m)
}

fn upstreams(cfg: &Config) -> Value {
    let list = cfg
        .proxy
        .upstreams
        .iter()
        .map(|u| {
            let mut m = Mapping::new();
            put(&mut m, "id", u.id.as_str());
            put(&mut m, "path", u.path.as_str());
            if let Some(t) = &u.rewrite_target {
                put(&mut m, "rewriteTarget", t.as_str());
            }
            match &u.target {
                Target::Http(url) => put(&mut m, "uri", url.as_str()),
                Target::File(dir) => put(&mut m, "uri", format!("file://{}", dir.display())),
                Target::Unix(path) => put(&mut m, "uri", format!("unix://{}", path.display())),
                Target::Static(code) => {
                    put(&mut m, "static", true);
                    put(&mut m, "staticCode", u64::from(*code));
                }
            }
            put(&mut m, "insecureSkipTLSVerify", u.insecure_skip_tls_verify);
            put(&mut m, "passHostHeader", u.pass_host_header);
            put(&mut m, "proxyWebSockets", u.proxy_websockets);
            put(&mut m, "flushInterval", super::duration::format(u.flush_interval));
            put(&mut m, "timeout", super::duration::format(u.timeout));
            put(&mut m, "disableKeepAlives", u.disable_keep_alives);
            Value::Mapping(m)
        })
        .collect();
    let mut m = Mapping::new();
    put(&mut m, "proxyRawPath", cfg.proxy.proxy_raw_path);
    put(&mut m, "upstreams", Value::Sequence(list));
    Value::Mapping(m)
}

/// A header in oauth2-proxy's written form (`claimSource:` / `secretSource:` with the secret
/// as base64, which Gatehouse and oauth2-proxy both read).
fn header(rule: &HeaderRule) -> Value {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let values = rule
        .values
        .iter()
        .map(|v| {
            let mut source = Mapping::new();
            let mut value = Mapping::new();
            match v {
                HeaderValueSource::Claim { claim, prefix, basic_auth_password } => {
                    put(&mut source, "claim", claim.name());
                    if !prefix.is_empty() {
                        put(&mut source, "prefix", prefix.as_str());
                    }
                    if let Some(p) = basic_auth_password {
                        let mut secret = Mapping::new();
                        put(&mut secret, "value", b64(p.expose()));
                        put(&mut source, "basicAuthPassword", Value::Mapping(secret));
                    }
                    put(&mut value, "claimSource", Value::Mapping(source));
                }
                HeaderValueSource::Secret(s) => {
                    put(&mut source, "value", b64(s.expose()));
                    put(&mut value, "secretSource", Value::Mapping(source));
                }
            }
            Value::Mapping(value)
        })
        .collect();
    let mut m = Mapping::new();
    put(&mut m, "name", rule.name.as_str());
    put(&mut m, "preserveRequestValue", rule.preserve_request_value);
    put(&mut m, "values", Value::Sequence(values));
    Value::Mapping(m)
}

fn provider(cfg: &Config) -> Value {
    let o = &cfg.oidc;
    let mut m = Mapping::new();
    put(&mut m, "id", format!("oidc={}", o.client_id));
    put(&mut m, "provider", o.kind.name());
    if let ProviderKind::Adfs { skip_scope } = o.kind {
        let mut a = Mapping::new();
        put(&mut a, "skipScope", skip_scope);
        put(&mut m, "ADFSConfig", Value::Mapping(a));
    }
    if !o.display_name.is_empty() {
        put(&mut m, "name", o.display_name.as_str());
    }
    put(&mut m, "clientID", o.client_id.as_str());
    match &o.client_secret {
        ClientSecret::Value(s) => put(&mut m, "clientSecret", s.expose().as_str()),
        ClientSecret::File(path) => put(&mut m, "clientSecretFile", path.display().to_string()),
    }
    put(&mut m, "scope", o.scope.as_str());
    for (key, url) in
        [("loginURL", &o.login_url), ("redeemURL", &o.redeem_url), ("profileURL", &o.profile_url), ("validateURL", &o.validate_url)]
    {
        if let Some(u) = url {
            put(&mut m, key, u.as_str());
        }
    }
    put(&mut m, "skipClaimsFromProfileURL", o.skip_claims_from_profile_url);
    groups(cfg, &mut m);
    if let Some(method) = o.pkce {
        put(&mut m, "code_challenge_method", if method == PkceMethod::S256 { "S256" } else { "plain" });
    }
    if let Some(mode) = &o.response_mode {
        put(&mut m, "authRequestResponseMode", mode.as_str());
    }
    if let Some(u) = &o.backend_logout_url {
        put(&mut m, "backendLogoutURL", u.as_str());
    }
    if !o.ca_files.is_empty() {
        let files: Vec<String> = o.ca_files.iter().map(|p| p.display().to_string()).collect();
        put(&mut m, "caFiles", strings(&files));
    }
    put(&mut m, "useSystemTrustStore", o.use_system_trust_store);
    if !o.additional_claims.is_empty() {
        put(&mut m, "additionalClaims", strings(&o.additional_claims));
    }
    let params = login_params(o);
    if !params.is_empty() {
        put(&mut m, "loginURLParameters", Value::Sequence(params));
    }
    put(&mut m, "oidcConfig", oidc_config(o));
    Value::Mapping(m)
}

fn oidc_config(o: &crate::oidc::Config) -> Value {
    let mut c = Mapping::new();
    put(&mut c, "issuerURL", o.issuer_url_raw.as_str());
    put(&mut c, "insecureAllowUnverifiedEmail", o.allow_unverified_email);
    put(&mut c, "insecureSkipIssuerVerification", o.skip_issuer_verification);
    put(&mut c, "insecureSkipNonce", o.skip_nonce);
    put(&mut c, "skipDiscovery", o.skip_discovery);
    if let Some(u) = &o.jwks_url {
        put(&mut c, "jwksURL", u.as_str());
    }
    put(&mut c, "emailClaim", o.email_claim.as_str());
    put(&mut c, "groupsClaim", o.groups_claim.as_str());
    put(&mut c, "audienceClaims", strings(&o.audience_claims));
    if !o.extra_audiences.is_empty() {
        put(&mut c, "extraAudiences", strings(&o.extra_audiences));
    }
    if !o.public_key_files.is_empty() {
        let files: Vec<String> = o.public_key_files.iter().map(|p| p.display().to_string()).collect();
        put(&mut c, "publicKeyFiles", strings(&files));
    }
    if !o.enabled_signing_algs.is_empty() {
        put(&mut c, "enabledSigningAlgs", strings(&o.enabled_signing_algs));
    }
    Value::Mapping(c)
}

/// The allowed groups, where the provider type keeps them: `allowedGroups`, keycloak-oidc's
/// `keycloakConfig.roles`, GitLab's `gitlabConfig`.
fn groups(cfg: &Config, m: &mut Mapping) {
    let o = &cfg.oidc;
    let (roles, groups): (Vec<String>, Vec<String>) = cfg
        .authz
        .allowed_groups
        .iter()
        .cloned()
        .partition(|g| o.kind == ProviderKind::KeycloakOidc && g.starts_with(crate::oidc::keycloak::ROLE_PREFIX));
    if o.kind == ProviderKind::GitLab {
        // gitlab_groups and the project groups are the allowed groups; the projects are written
        // as given (with their access levels).
        let mut g = Mapping::new();
        let plain: Vec<String> = groups.iter().filter(|g| !g.starts_with(crate::oidc::gitlab::PROJECT_PREFIX)).cloned().collect();
        let projects: Vec<String> = o.gitlab_projects.iter().map(|p| format!("{}={}", p.path, p.access_level)).collect();
        put(&mut g, "group", strings(&plain));
        put(&mut g, "projects", strings(&projects));
        put(m, "gitlabConfig", Value::Mapping(g));
    } else if !groups.is_empty() && o.google.as_ref().is_none_or(|d| d.groups.is_empty()) {
        put(m, "allowedGroups", strings(&groups));
    }
    if let Some(d) = &o.google {
        let mut g = Mapping::new();
        put(&mut g, "group", strings(&d.groups));
        put(&mut g, "adminEmail", d.admin_email.as_str());
        put(&mut g, "serviceAccountJson", d.key_file.display().to_string().as_str());
        put(m, "googleConfig", Value::Mapping(g));
    }
    if let Some(e) = o.entra.as_ref().filter(|e| !e.allowed_tenants.is_empty()) {
        let mut g = Mapping::new();
        put(&mut g, "allowedTenants", strings(&e.allowed_tenants));
        put(m, "microsoftEntraIDConfig", Value::Mapping(g));
    }
    if let Some(a) = &o.azure {
        // The tenant is already in the endpoints written out.
        let mut g = Mapping::new();
        put(&mut g, "graphGroupField", a.graph_group_field.as_str());
        put(m, "azureConfig", Value::Mapping(g));
        if let Some(resource) = &a.resource {
            put(m, "resource", resource.as_str());
        }
    }
    if o.kind == ProviderKind::GitHub {
        let r = &o.github;
        let mut g = Mapping::new();
        put(&mut g, "org", r.org.as_str());
        put(&mut g, "team", r.team.as_str());
        put(&mut g, "repo", r.repo.as_str());
        put(&mut g, "token", r.token.as_ref().map_or("", |t| t.expose().as_str()));
        put(&mut g, "users", strings(&r.users));
        put(m, "githubConfig", Value::Mapping(g));
    }
    if !roles.is_empty() {
        let roles: Vec<String> = roles.iter().map(|r| r.trim_start_matches(crate::oidc::keycloak::ROLE_PREFIX).to_string()).collect();
        let mut k = Mapping::new();
        put(&mut k, "roles", strings(&roles));
        put(m, "keycloakConfig", Value::Mapping(k));
    }
}

fn login_params(o: &crate::oidc::Config) -> Vec<Value> {
    o.login_params
        .iter()
        .map(|p| {
            let mut lp = Mapping::new();
            put(&mut lp, "name", p.name.as_str());
            put(&mut lp, "default", strings(&p.default));
            if let Some(re) = &p.allow {
                let mut rule = Mapping::new();
                put(&mut rule, "pattern", re.as_str());
                put(&mut lp, "allow", Value::Sequence(vec![Value::Mapping(rule)]));
            }
            Value::Mapping(lp)
        })
        .collect()
}
