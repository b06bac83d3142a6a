//! The alpha YAML configuration (`--alpha-config`): `upstreamConfig`, `injectRequestHeaders`,
//! `injectResponseHeaders`, `server`, `metricsServer` and `providers`, and Gatehouse's own
//! `routeRules` (`route_rules`, one rule per entry).
//!
//! oauth2-proxy substitutes `${VAR}` from the environment, then decodes with mapstructure, which
//! matches keys case-insensitively and rejects unknown ones. We do the same by normalising every
//! key (lower case, no `_`) before a `deny_unknown_fields` decode, so `clientID`, `clientId` and
//! `client_id` are one key. Scalar settings are then folded into the legacy option keys so one
//! validator checks both forms; upstreams and header rules keep their richer shape.

use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;
use serde_yaml_ng::Value;

mod provider;

pub use provider::*;

use super::error::{ConfigError, ConfigErrors, Origin};
use super::options;
use super::source::{Env, RawConfig};
use super::value::RawValue;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlphaConfig {
    #[serde(rename = "upstreamconfig", default)]
    pub upstream_config: Option<UpstreamConfig>,
    #[serde(rename = "injectrequestheaders", default)]
    pub inject_request_headers: Option<Vec<Header>>,
    #[serde(rename = "injectresponseheaders", default)]
    pub inject_response_headers: Option<Vec<Header>>,
    #[serde(default)]
    pub server: Option<Server>,
    #[serde(rename = "metricsserver", default)]
    pub metrics_server: Option<Server>,
    #[serde(default)]
    pub providers: Option<Vec<Provider>>,
    /// Gatehouse's own: `route_rules`, one rule per entry.
    #[serde(rename = "routerules", default)]
    pub route_rules: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    #[serde(rename = "proxyrawpath", default)]
    pub proxy_raw_path: bool,
    #[serde(default)]
    pub upstreams: Vec<Upstream>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub path: String,
    #[serde(rename = "rewritetarget", default)]
    pub rewrite_target: String,
    #[serde(default)]
    pub uri: String,
    #[serde(rename = "insecureskiptlsverify", default)]
    pub insecure_skip_tls_verify: bool,
    #[serde(default)]
    pub r#static: bool,
    #[serde(rename = "staticcode", default)]
    pub static_code: Option<u16>,
    #[serde(rename = "flushinterval", default)]
    pub flush_interval: Option<String>,
    #[serde(rename = "passhostheader", default)]
    pub pass_host_header: Option<bool>,
    #[serde(rename = "proxywebsockets", default)]
    pub proxy_websockets: Option<bool>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(rename = "disablekeepalives", default)]
    pub disable_keep_alives: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: String,
    #[serde(rename = "preserverequestvalue", default)]
    pub preserve_request_value: bool,
    #[serde(rename = "insecureskipheadernormalization", default)]
    pub insecure_skip_header_normalization: bool,
    #[serde(default)]
    pub values: Vec<HeaderValue>,
}

/// A header value: a session claim (`claim`, `prefix`, `basicAuthPassword`) or a secret
/// (`value` base64, `fromEnv`, `fromFile`), flattened as oauth2-proxy embeds them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeaderValue {
    #[serde(default)]
    pub claim: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(rename = "basicauthpassword", default)]
    pub basic_auth_password: Option<SecretSource>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(rename = "fromenv", default)]
    pub from_env: Option<String>,
    #[serde(rename = "fromfile", default)]
    pub from_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(rename = "fromenv", default)]
    pub from_env: Option<String>,
    #[serde(rename = "fromfile", default)]
    pub from_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Server {
    #[serde(rename = "bindaddress", default)]
    pub bind_address: Option<String>,
    #[serde(rename = "securebindaddress", default)]
    pub secure_bind_address: Option<String>,
    #[serde(default)]
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub key: Option<SecretSource>,
    #[serde(default)]
    pub cert: Option<SecretSource>,
    #[serde(rename = "minversion", default)]
    pub min_version: Option<String>,
    #[serde(rename = "ciphersuites", default)]
    pub cipher_suites: Option<Vec<String>>,
}

/// Parses alpha YAML text. `${VAR}` and `${VAR:-default}` are substituted from `env` first.
pub fn parse(path: &Path, text: &str, env: &dyn Env, errors: &mut ConfigErrors) -> Option<AlphaConfig> {
    let at = |field: &str| Origin::Alpha { path: path.to_path_buf(), field: field.to_string() };
    let text = match envsubst(text, env) {
        Ok(t) => t,
        Err(missing) => {
            for var in missing {
                errors.push(
                    ConfigError::new(
                        format!("${{{var}}}"),
                        format!("environment variable {var} is not set"),
                        format!("export {var}, or write ${{{var}:-default}} to give a default"),
                    )
                    .origin(Some(at("(substitution)"))),
                );
            }
            return None;
        }
    };
    let value: Value = match serde_yaml_ng::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            errors.push(ConfigError::new(
                path.display().to_string(),
                format!("is not valid YAML: {e}"),
                "check the indentation and quoting near the position shown",
            ));
            return None;
        }
    };
    let value = normalise_keys(value);
    if value.is_null() {
        return Some(AlphaConfig::default());
    }
    match serde_path_to_error::deserialize::<_, AlphaConfig>(value) {
        Ok(cfg) => Some(cfg),
        Err(e) => {
            let field = e.path().to_string();
            let inner = e.into_inner().to_string();
            let fix = if inner.contains("unknown field") {
                "remove it, or check the spelling against the alpha-config reference (keys are case-insensitive)"
            } else {
                "give the field a value of the expected type"
            };
            errors.push(ConfigError::new(field.clone(), inner, fix).origin(Some(at(&field))));
            None
        }
    }
}

/// A provider section holding nothing but oauth2-proxy's defaults, as its
/// `--convert-config-to-alpha` writes every section: `false`, empty, or Azure's `common`
/// tenant. It sets nothing, so it is no setting of a provider Gatehouse does not build.
fn only_defaults(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Sequence(items) => items.is_empty(),
        Value::Mapping(m) => m.iter().all(|(k, v)| (k.as_str() == Some("tenant") && v.as_str() == Some("common")) || only_defaults(v)),
        _ => false,
    }
}

/// Lower-cases mapping keys and removes `_`, recursively; and reads oauth2-proxy v7's own
/// written form (`--convert-config-to-alpha`) as its documented one: a header value's
/// `claimSource:` and `secretSource:` mappings are merged into the value, and a secret
/// `value` written as a list of bytes becomes its base64 text.
fn normalise_keys(v: Value) -> Value {
    match v {
        Value::Mapping(m) => {
            let mut out = serde_yaml_ng::Mapping::new();
            for (k, v) in m {
                let k = match k {
                    Value::String(s) => Value::String(s.to_ascii_lowercase().replace('_', "")),
                    other => other,
                };
                let v = normalise_keys(v);
                match (k.as_str(), v) {
                    (Some("claimsource" | "secretsource"), Value::Mapping(inner)) => out.extend(inner),
                    (Some("value"), Value::Sequence(bytes)) if bytes.iter().all(|b| b.as_u64().is_some_and(|b| b <= 255)) => {
                        let raw: Vec<u8> = bytes.iter().filter_map(Value::as_u64).map(|b| b as u8).collect();
                        out.insert(k, Value::String(base64::engine::general_purpose::STANDARD.encode(raw)));
                    }
                    (_, v) => {
                        out.insert(k, v);
                    }
                }
            }
            Value::Mapping(out)
        }
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(normalise_keys).collect()),
        other => other,
    }
}

/// `${VAR}` and `${VAR:-default}` substitution. Returns the names of unset variables that had
/// no default; oauth2-proxy would substitute an empty string, which hides the mistake.
fn envsubst(text: &str, env: &dyn Env) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        match (env.var(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => missing.push(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if missing.is_empty() { Ok(out) } else { Err(missing) }
}

/// Folds the alpha provider, server and metrics settings into legacy option keys, so one
/// validator checks both forms and messages name the YAML field.
pub fn fold_into(alpha: &AlphaConfig, path: &Path, raw: &mut RawConfig, errors: &mut ConfigErrors) {
    if let Some(p) = alpha.providers.as_ref().and_then(|p| p.first()) {
        fold_provider(p, 0, path, raw, errors);
    }
    let mut set = |key: &str, field: String, value: RawValue| {
        let spec = options::find(key).expect("alpha fields map to known option keys");
        raw.set(spec, value, Origin::Alpha { path: path.to_path_buf(), field });
    };
    let s = |v: &String| RawValue::Str(v.clone());
    let l = |v: &Vec<String>| RawValue::List(v.iter().cloned().map(RawValue::Str).collect());

    if let Some(rules) = &alpha.route_rules {
        set("route_rules", "routeRules".into(), l(rules));
    }
    for (section, server, addr_key, secure_key, cert_key, key_key) in [
        ("server", &alpha.server, "http_address", "https_address", "tls_cert_file", "tls_key_file"),
        (
            "metricsServer",
            &alpha.metrics_server,
            "metrics_address",
            "metrics_secure_address",
            "metrics_tls_cert_file",
            "metrics_tls_key_file",
        ),
    ] {
        let Some(server) = server else { continue };
        let f = |name: &str| format!("{section}.{name}");
        if let Some(a) = &server.bind_address {
            set(addr_key, f("bindAddress"), s(a));
        }
        if let Some(a) = &server.secure_bind_address {
            set(secure_key, f("secureBindAddress"), s(a));
        }
        if let Some(tls) = &server.tls {
            for (name, source, key) in [("cert", &tls.cert, cert_key), ("key", &tls.key, key_key)] {
                match source {
                    Some(SecretSource { from_file: Some(file), value: None, from_env: None }) => {
                        set(key, f(&format!("tls.{name}.fromFile")), s(file));
                    }
                    Some(_) => errors.push(ConfigError::new(
                        f(&format!("tls.{name}")),
                        "only fromFile is supported for TLS material",
                        format!("write the PEM to a file and set {section}.tls.{name}.fromFile"),
                    )),
                    None => {}
                }
            }
            if let Some(v) = &tls.min_version
                && section == "server"
            {
                set("tls_min_version", f("tls.minVersion"), s(v));
            }
            if let Some(v) = &tls.cipher_suites
                && section == "server"
            {
                set("tls_cipher_suites", f("tls.cipherSuites"), l(v));
            }
        }
    }
}

/// Folds `providers[index]` into legacy provider keys in `raw` (the first provider into the
/// main options; each further one into options of its own, validated the same way).
pub fn fold_provider(p: &Provider, index: usize, path: &Path, raw: &mut RawConfig, errors: &mut ConfigErrors) {
    let mut set = |key: &str, field: String, value: RawValue| {
        let spec = options::find(key).expect("alpha fields map to known option keys");
        raw.set(spec, value, Origin::Alpha { path: path.to_path_buf(), field });
    };
    let s = |v: &String| RawValue::Str(v.clone());
    let b = |v: &bool| RawValue::Bool(*v);
    let l = |v: &Vec<String>| RawValue::List(v.iter().cloned().map(RawValue::Str).collect());
    let f = |name: &str| format!("providers[{index}].{name}");
    macro_rules! fold {
        ($field:expr, $key:literal, $name:literal, $conv:ident) => {
            if let Some(v) = &$field {
                set($key, f($name), $conv(v));
            }
        };
    }
    fold!(p.provider, "provider", "provider", s);
    fold!(p.name, "provider_display_name", "name", s);
    fold!(p.client_id, "client_id", "clientID", s);
    fold!(p.client_secret, "client_secret", "clientSecret", s);
    fold!(p.client_secret_file, "client_secret_file", "clientSecretFile", s);
    fold!(p.scope, "scope", "scope", s);
    fold!(p.login_url, "login_url", "loginURL", s);
    fold!(p.redeem_url, "redeem_url", "redeemURL", s);
    fold!(p.profile_url, "profile_url", "profileURL", s);
    fold!(p.validate_url, "validate_url", "validateURL", s);
    fold!(p.skip_claims_from_profile_url, "skip_claims_from_profile_url", "skipClaimsFromProfileURL", b);
    fold!(p.resource, "resource", "resource", s);
    fold!(p.allowed_groups, "allowed_groups", "allowedGroups", l);
    fold!(p.code_challenge_method, "code_challenge_method", "code_challenge_method", s);
    fold!(p.auth_request_response_mode, "auth_request_response_mode", "authRequestResponseMode", s);
    fold!(p.backend_logout_url, "backend_logout_url", "backendLogoutURL", s);
    fold!(p.ca_files, "provider_ca_files", "caFiles", l);
    fold!(p.use_system_trust_store, "use_system_trust_store", "useSystemTrustStore", b);
    if let Some(o) = &p.oidc_config {
        let f = |name: &str| format!("providers[{index}].oidcConfig.{name}");
        macro_rules! fold_oidc {
            ($field:expr, $key:literal, $name:literal, $conv:ident) => {
                if let Some(v) = &$field {
                    set($key, f($name), $conv(v));
                }
            };
        }
        fold_oidc!(o.issuer_url, "oidc_issuer_url", "issuerURL", s);
        fold_oidc!(o.insecure_allow_unverified_email, "insecure_oidc_allow_unverified_email", "insecureAllowUnverifiedEmail", b);
        fold_oidc!(o.insecure_skip_issuer_verification, "insecure_oidc_skip_issuer_verification", "insecureSkipIssuerVerification", b);
        fold_oidc!(o.insecure_skip_nonce, "insecure_oidc_skip_nonce", "insecureSkipNonce", b);
        fold_oidc!(o.skip_discovery, "skip_oidc_discovery", "skipDiscovery", b);
        fold_oidc!(o.jwks_url, "oidc_jwks_url", "jwksURL", s);
        fold_oidc!(o.email_claim, "oidc_email_claim", "emailClaim", s);
        fold_oidc!(o.groups_claim, "oidc_groups_claim", "groupsClaim", s);
        fold_oidc!(o.user_id_claim, "user_id_claim", "userIDClaim", s);
        fold_oidc!(o.audience_claims, "oidc_audience_claims", "audienceClaims", l);
        fold_oidc!(o.extra_audiences, "oidc_extra_audiences", "extraAudiences", l);
        fold_oidc!(o.public_key_files, "oidc_public_key_files", "publicKeyFiles", l);
        fold_oidc!(o.enabled_signing_algs, "oidc_enabled_signing_algs", "enabledSigningAlgs", l);
    }
    if let Some(g) = &p.gitlab_config {
        let f = |name: &str| format!("providers[{index}].gitlabConfig.{name}");
        if let Some(v) = g.group.as_ref().filter(|v| !v.is_empty()) {
            set("gitlab_groups", f("group"), l(v));
        }
        if let Some(v) = g.projects.as_ref().filter(|v| !v.is_empty()) {
            set("gitlab_projects", f("projects"), l(v));
        }
    }
    if let Some(g) = &p.github_config {
        let f = |name: &str| format!("providers[{index}].githubConfig.{name}");
        for (key, name, value) in [
            ("github_org", "org", &g.org),
            ("github_team", "team", &g.team),
            ("github_repo", "repo", &g.repo),
            ("github_token", "token", &g.token),
        ] {
            if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
                set(key, f(name), s(v));
            }
        }
        if let Some(v) = g.users.as_ref().filter(|v| !v.is_empty()) {
            set("github_users", f("users"), l(v));
        }
    }
    if let Some(g) = &p.google_config {
        let f = |name: &str| format!("providers[{index}].googleConfig.{name}");
        if let Some(v) = g.group.as_ref().filter(|v| !v.is_empty()) {
            set("google_groups", f("group"), l(v));
        }
        for (key, name, value) in [
            ("google_admin_email", "adminEmail", &g.admin_email),
            ("google_service_account_json", "serviceAccountJson", &g.service_account_json),
            ("google_target_principal", "targetPrincipal", &g.target_principal),
            ("google_admin_api_user_scope", "adminAPIUserScope", &g.admin_api_user_scope),
            ("google_admin_api_url", "adminAPIURL", &g.admin_api_url),
        ] {
            if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
                set(key, f(name), s(v));
            }
        }
        for (key, name, value) in [
            ("google_use_application_default_credentials", "useApplicationDefaultCredentials", &g.use_application_default_credentials),
            ("google_use_organization_id", "useOrganizationID", &g.use_organization_id),
        ] {
            if let Some(v) = value {
                set(key, f(name), b(v));
            }
        }
    }
    if let Some(e) = &p.entra_id_config {
        let f = |name: &str| format!("providers[{index}].microsoftEntraIDConfig.{name}");
        if let Some(v) = e.allowed_tenants.as_ref().filter(|v| !v.is_empty()) {
            set("entra_id_allowed_tenants", f("allowedTenants"), l(v));
        }
        if let Some(v) = &e.federated_token_auth {
            set("entra_id_federated_token_auth", f("federatedTokenAuth"), b(v));
        }
        if let Some(v) = &e.graph_url {
            set("microsoft_graph_url", f("graphURL"), s(v));
        }
    }
    if let Some(k) = &p.keycloak_config {
        let f = |name: &str| format!("providers[{index}].keycloakConfig.{name}");
        if let Some(v) = &k.roles {
            set("allowed_roles", f("roles"), l(v));
        }
        if let Some(v) = &k.groups {
            set("keycloak_groups", f("groups"), l(v));
        }
    }
    if let Some(a) = &p.azure_config {
        let f = |name: &str| format!("providers[{index}].azureConfig.{name}");
        if let Some(v) = &a.tenant {
            set("azure_tenant", f("tenant"), s(v));
        }
        if let Some(v) = &a.graph_group_field {
            set("azure_graph_group_field", f("graphGroupField"), s(v));
        }
    }
    let others = [("bitbucketConfig", &p.bitbucket_config), ("loginGovConfig", &p.login_gov_config)];
    for (name, section) in others {
        if section.as_ref().is_some_and(|v| !only_defaults(v)) {
            errors.push(
                ConfigError::new(
                    f(name),
                    "settings for a provider Gatehouse does not build (README \"Providers\" lists the ones it builds)",
                    "remove this section; README \"Providers\" says what to configure instead",
                )
                .origin(Some(Origin::Alpha { path: path.to_path_buf(), field: f(name) })),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn substitutes_env_and_reports_missing() {
        let env: HashMap<String, String> = [("ID".to_string(), "abc".to_string())].into();
        assert_eq!(envsubst("a: ${ID}, b: ${NOPE:-x}", &env).unwrap(), "a: abc, b: x");
        assert_eq!(envsubst("${MISSING}", &env).unwrap_err(), ["MISSING"]);
    }

    #[test]
    fn keys_are_case_insensitive_and_unknown_keys_fail() {
        let env: HashMap<String, String> = HashMap::new();
        let mut errors = ConfigErrors::default();
        let cfg =
            parse(Path::new("a.yaml"), "Providers:\n- ClientId: x\n  oidcConfig: {IssuerURL: 'https://i'}\n", &env, &mut errors).unwrap();
        let p = &cfg.providers.unwrap()[0];
        assert_eq!(p.client_id.as_deref(), Some("x"));
        assert!(errors.is_empty());

        let bad = parse(Path::new("a.yaml"), "providers:\n- clientIDD: x\n", &env, &mut errors);
        assert!(bad.is_none());
        assert!(errors.to_string().contains("providers[0]"), "{errors}");
    }
}
