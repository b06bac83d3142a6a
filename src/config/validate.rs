//! Raw options → typed [`Config`]. Every check runs, every problem is collected, and defaults
//! are applied here and nowhere else.
//!
//! The checks follow oauth2-proxy's `pkg/validation`, plus a few that oauth2-proxy defers to
//! request time (a bad `code_challenge_method` fails at `/oauth2/start` there; here at start).

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use ipnet::IpNet;
use regex::Regex;
use url::Url;

use super::alpha::{self, AlphaConfig};
use super::duration;
use super::error::{ConfigError, ConfigErrors, Origin, suggest};
use super::options::{self, Legacy, OptionSpec, Status};
use super::source::RawConfig;
use super::value::{OptionType, RawValue};
use super::{Config, NotImplemented};
use crate::authz::{self, RouteRule};
use crate::base::Secret;
use crate::base::secret::key_bytes;
use crate::identity::{self, Claim, HeaderRule, HeaderValueSource, LegacyHeaders};
use crate::oidc::{self, ClientSecret, PkceMethod, ProviderKind};
use crate::proxy::{self, Target, Upstream};
use crate::server::{self, ListenAddr, TlsConfig, TlsVersion, TrustConfig};
use crate::session::{self, CookieConfig, RedisConfig, RedisTopology, SameSite, StoreConfig};
use crate::telemetry;

/// Reads typed values out of a [`RawConfig`], recording problems instead of stopping.
struct Reader<'a> {
    raw: &'a RawConfig,
    /// Things worth telling the user that are not errors.
    warnings: Vec<String>,
    env: &'a dyn super::source::Env,
    errors: &'a mut ConfigErrors,
    used: HashSet<&'static str>,
}

fn spec(key: &str) -> &'static OptionSpec {
    // Keys below are literals checked by `every_option_is_read` and `every_read_key_exists`.
    options::find(key).unwrap_or_else(|| panic!("validate reads unknown option `{key}`"))
}

impl Reader<'_> {
    fn get<T: OptionType>(&mut self, key: &'static str) -> T {
        let spec = spec(key);
        self.used.insert(spec.key);
        if let Some(sourced) = self.raw.get(key) {
            match T::from_raw(&sourced.value) {
                Ok(v) => return v,
                Err(problem) => {
                    let fix = format!("write {}", T::KIND.describe());
                    self.error(key, problem, fix);
                }
            }
        }
        T::from_raw(&RawValue::Str(spec.default.to_string())).unwrap_or_else(|e| panic!("default of `{key}` does not parse: {e}"))
    }

    /// A string option; empty means unset.
    fn string(&mut self, key: &'static str) -> Option<String> {
        Some(self.get::<String>(key)).filter(|s| !s.is_empty())
    }

    fn is_set(&self, key: &str) -> bool {
        self.raw.get(key).is_some()
    }

    fn origin(&self, key: &str) -> Option<Origin> {
        self.raw.get(key).map(|s| s.origin.clone())
    }

    /// The value as the user wrote it, redacted for secrets.
    fn shown(&self, key: &str) -> Option<String> {
        let sourced = self.raw.get(key)?;
        Some(if spec(key).secret {
            match &sourced.value {
                RawValue::Str(s) => format!("<redacted, {} bytes>", s.len()),
                _ => "<redacted>".to_string(),
            }
        } else {
            sourced.value.display()
        })
    }

    fn error(&mut self, key: &str, problem: impl Into<String>, fix: impl Into<String>) {
        let mut e = ConfigError::new(key, problem, fix).origin(self.origin(key));
        e.value = self.shown(key);
        self.errors.push(e);
    }

    /// A problem with one entry of a list option: the entry is shown, not the whole list.
    fn entry_error(&mut self, key: &str, entry: &str, problem: impl Into<String>, fix: impl Into<String>) {
        let e = ConfigError::new(key, problem, fix).value(format!("{entry:?}")).origin(self.origin(key));
        self.errors.push(e);
    }

    fn url(&mut self, key: &'static str) -> Option<Url> {
        let s = self.string(key)?;
        match parse_http_url(&s) {
            Ok(u) => Some(u),
            Err(problem) => {
                self.error(key, problem, "write a full URL such as https://idp.example.com/path");
                None
            }
        }
    }

    fn existing_file(&mut self, key: &'static str) -> Option<PathBuf> {
        let s = self.string(key)?;
        let p = PathBuf::from(&s);
        if !p.is_file() {
            self.error(key, "no such file", "check the path; it is resolved relative to the working directory");
        }
        Some(p)
    }

    fn existing_files(&mut self, key: &'static str) -> Vec<PathBuf> {
        let list: Vec<String> = self.get(key);
        list.into_iter()
            .map(PathBuf::from)
            .inspect(|p| {
                if !p.is_file() {
                    self.entry_error(key, &p.display().to_string(), "no such file", "check the path");
                }
            })
            .collect()
    }

    fn regexes(&mut self, key: &'static str) -> Vec<Regex> {
        let list: Vec<String> = self.get(key);
        list.into_iter()
            .filter_map(|r| match Regex::new(&r) {
                Ok(re) => Some(re),
                Err(e) => {
                    self.entry_error(
                        key,
                        &r,
                        format!("is not a valid regular expression: {}", one_line(&e.to_string())),
                        "fix the pattern (Rust/RE2 regex syntax)",
                    );
                    None
                }
            })
            .collect()
    }

    fn nets(&mut self, key: &'static str) -> Vec<IpNet> {
        let list: Vec<String> = self.get(key);
        list.into_iter()
            .filter_map(|s| match parse_net(&s) {
                Some(n) => Some(n),
                None => {
                    self.entry_error(
                        key,
                        &s,
                        "is not an IP address or CIDR range",
                        "write an address like 10.0.0.1 or a range like 10.0.0.0/8",
                    );
                    None
                }
            })
            .collect()
    }

    fn samesite(&mut self, key: &'static str) -> Option<SameSite> {
        let v: String = self.get(key);
        match v.as_str() {
            "" => Some(SameSite::Unset),
            "lax" => Some(SameSite::Lax),
            "strict" => Some(SameSite::Strict),
            "none" => Some(SameSite::None),
            other => {
                let hint = match other.to_ascii_lowercase().as_str() {
                    l @ ("lax" | "strict" | "none") => format!("write it in lower case: \"{l}\""),
                    _ => "use one of \"lax\", \"strict\", \"none\", or leave it empty".to_string(),
                };
                self.error(key, "is not a SameSite value", hint);
                None
            }
        }
    }

    fn listen(&mut self, key: &'static str) -> Option<ListenAddr> {
        let s = self.string(key)?;
        match parse_listen(&s) {
            Ok(a) => Some(a),
            Err(problem) => {
                self.error(key, problem, "write host:port (\"127.0.0.1:4180\", \":4180\"), unix:///path or fd:N");
                None
            }
        }
    }

    fn absolute_path(&mut self, key: &'static str) -> String {
        let v: String = self.get(key);
        if !v.starts_with('/') {
            self.error(key, "must be a path starting with /", format!("write \"/{}\"", v.trim_start_matches('/')));
        }
        v
    }
}

/// Turns merged raw options (and the alpha config, if any) into a [`Config`].
pub fn validate(
    raw: &RawConfig,
    env: &dyn super::source::Env,
    alpha: Option<(&Path, &AlphaConfig)>,
    errors: &mut ConfigErrors,
    warnings: &mut Vec<String>,
) -> Option<(Config, Vec<NotImplemented>)> {
    let mut r = Reader { raw, env, errors, used: HashSet::new(), warnings: Vec::new() };

    if let Some((path, _)) = alpha {
        legacy_with_alpha(&mut r, path);
    }
    let server = server_config(&mut r);
    let oidc = oidc_config(&mut r);
    let session = session_config(&mut r);
    let authz = authz_config(&mut r);
    let headers = headers_config(&mut r, alpha.map(|(_, a)| a));
    let proxy = proxy_config(&mut r, alpha.map(|(_, a)| a));
    let logging = logging_config(&mut r);
    let pages = pages_config(&mut r, &authz);
    let dev = dev_config(&mut r);
    cross_checks(&mut r, &session, &headers);
    let not_implemented = status_checks(&mut r);
    warnings.append(&mut r.warnings);
    if cfg!(debug_assertions) {
        let unread: Vec<&str> = options::all().map(|o| o.key).filter(|k| !r.used.contains(k)).collect();
        assert!(unread.is_empty(), "validation never reads {unread:?}");
    }

    if !r.errors.is_empty() {
        return None;
    }
    let config = Config { server: server?, oidc: oidc?, session: session?, authz, headers, proxy, logging, pages, dev };
    Some((config, not_implemented))
}

/// oauth2-proxy loads the main config without its legacy flag set when alpha config is used,
/// so these keys are unknown there; we say where they belong instead.
fn legacy_with_alpha(r: &mut Reader<'_>, alpha_path: &Path) {
    let offending: Vec<(&'static str, Legacy)> = r
        .raw
        .iter()
        .filter(|(_, s)| !matches!(s.origin, Origin::Alpha { .. }))
        .map(|(k, _)| (k, spec(k).legacy))
        .filter(|(_, l)| *l != Legacy::No)
        .collect();
    for (key, legacy) in offending {
        r.error(
            key,
            "cannot be combined with --alpha-config (oauth2-proxy refuses it too)",
            format!("move it to `{}` in {}", legacy.alpha_section(), alpha_path.display()),
        );
    }
}

// === server ===

fn server_config(r: &mut Reader<'_>) -> Option<server::Config> {
    let http_address = r.listen("http_address");
    let https_address = r.listen("https_address");
    let cert = r.string("tls_cert_file");
    let key = r.string("tls_key_file");
    let min_version: String = r.get("tls_min_version");
    let cipher_suites: Vec<String> = r.get("tls_cipher_suites");
    let min_version = match min_version.as_str() {
        "" | "TLS1.2" => TlsVersion::Tls12,
        "TLS1.3" => TlsVersion::Tls13,
        _ => {
            r.error("tls_min_version", "is not a TLS version", "use \"TLS1.2\" or \"TLS1.3\"");
            TlsVersion::Tls12
        }
    };
    let tls = tls_pair(r, "tls_cert_file", cert, "tls_key_file", key).map(|(cert_file, key_file)| TlsConfig {
        cert_file,
        key_file,
        min_version,
        cipher_suites,
    });
    // With TLS, oauth2-proxy serves HTTPS only, on https_address. The tutorial's TLS snippet
    // sets http_address = "0.0.0.0:443" instead, so an explicit http_address is the HTTPS
    // address when https_address is left at its default.
    let (http, https) = match &tls {
        None => (http_address, None),
        Some(_) if !r.is_set("https_address") && r.is_set("http_address") => (None, http_address),
        Some(_) => (None, https_address),
    };

    let metrics_address = r.listen("metrics_address");
    let metrics_secure_address = r.listen("metrics_secure_address");
    let mcert = r.string("metrics_tls_cert_file");
    let mkey = r.string("metrics_tls_key_file");
    let metrics_tls = tls_pair(r, "metrics_tls_cert_file", mcert, "metrics_tls_key_file", mkey).map(|(c, k)| TlsConfig {
        cert_file: c,
        key_file: k,
        min_version: TlsVersion::Tls12,
        cipher_suites: vec![],
    });
    if metrics_secure_address.is_some() && metrics_tls.is_none() {
        r.error(
            "metrics_secure_address",
            "needs metrics_tls_cert_file and metrics_tls_key_file",
            "set both files, or use metrics_address for plain HTTP",
        );
    }

    let mut proxy_prefix = r.absolute_path("proxy_prefix");
    while proxy_prefix.len() > 1 && proxy_prefix.ends_with('/') {
        proxy_prefix.pop();
    }
    let ping_path = r.absolute_path("ping_path");
    let ready_path = r.absolute_path("ready_path");
    let ping_user_agent = r.string("ping_user_agent");
    let force_https = r.get("force_https");
    let workers: i64 = r.get("workers");
    if !(0..=1024).contains(&workers) {
        r.error("workers", format!("is {workers}"), "write 0 (one per CPU) or a number of threads up to 1024");
    }

    let reverse_proxy = r.get("reverse_proxy");
    let trusted_proxy_ips = r.nets("trusted_proxy_ips");
    let real_client_ip_header: String = r.get("real_client_ip_header");
    const REAL_IP_HEADERS: [&str; 5] = ["X-Real-IP", "X-Forwarded-For", "X-ProxyUser-IP", "X-Envoy-External-Address", "CF-Connecting-IP"];
    let real_client_ip_header = match REAL_IP_HEADERS.iter().find(|h| h.eq_ignore_ascii_case(&real_client_ip_header)) {
        Some(h) => actix_web::http::header::HeaderName::from_bytes(h.as_bytes()).expect("the supported names are header names"),
        None => {
            r.error("real_client_ip_header", "is not a supported client-IP header", format!("use one of {}", REAL_IP_HEADERS.join(", ")));
            actix_web::http::header::HeaderName::from_static("x-real-ip")
        }
    };
    if http.is_none() && https.is_none() {
        return None;
    }
    Some(server::Config {
        http_address: http,
        https_address: https,
        tls,
        metrics_address,
        metrics_secure_address,
        metrics_tls,
        proxy_prefix,
        ping_path,
        ready_path,
        ping_user_agent,
        force_https,
        workers: workers.clamp(0, 1024) as usize,
        trust: TrustConfig { reverse_proxy, trusted_proxy_ips, real_client_ip_header },
    })
}

fn tls_pair(
    r: &mut Reader<'_>,
    cert_key: &'static str,
    cert: Option<String>,
    key_key: &'static str,
    key: Option<String>,
) -> Option<(PathBuf, PathBuf)> {
    match (cert, key) {
        (None, None) => None,
        (Some(c), Some(k)) => {
            for (opt, p) in [(cert_key, &c), (key_key, &k)] {
                if !Path::new(p).is_file() {
                    r.error(opt, "no such file", "check the path of the PEM file");
                }
            }
            Some((c.into(), k.into()))
        }
        (Some(_), None) => {
            r.error(cert_key, format!("is set but {key_key} is not"), format!("set {key_key} to the private key file too"));
            None
        }
        (None, Some(_)) => {
            r.error(key_key, format!("is set but {cert_key} is not"), format!("set {cert_key} to the certificate file too"));
            None
        }
    }
}

// === oidc ===

const OTHER_PROVIDERS: [&str; 16] = [
    "google",
    "github",
    "gitlab",
    "azure",
    "entra-id",
    "adfs",
    "keycloak",
    "bitbucket",
    "digitalocean",
    "facebook",
    "linkedin",
    "login.gov",
    "nextcloud",
    "cidaas",
    "sourcehut",
    "oidc-generic",
];

fn oidc_config(r: &mut Reader<'_>) -> Option<oidc::Config> {
    let provider: String = r.get("provider");
    let kind = match provider.as_str() {
        "oidc" => Some(ProviderKind::Oidc),
        "keycloak-oidc" => Some(ProviderKind::KeycloakOidc),
        p if OTHER_PROVIDERS.contains(&p) => {
            let default = if r.is_set("provider") { "" } else { " (oauth2-proxy's default)" };
            r.error(
                "provider",
                format!("provider \"{p}\"{default} is not supported: Gatehouse implements OpenID Connect"),
                "set provider = \"oidc\" and oidc_issuer_url to your identity provider's issuer",
            );
            None
        }
        p => {
            let hint = suggest(p, ["oidc", "keycloak-oidc"]).unwrap_or("oidc");
            r.error("provider", "unknown provider", format!("did you mean \"{hint}\"?"));
            None
        }
    };
    let display_name: String = r.get("provider_display_name");
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

    let skip_discovery: bool = r.get("skip_oidc_discovery");
    let issuer_url = r.url("oidc_issuer_url");
    let jwks_url = r.url("oidc_jwks_url");
    let public_key_files = r.existing_files("oidc_public_key_files");
    let login_url = r.url("login_url");
    let redeem_url = r.url("redeem_url");
    let profile_url = r.url("profile_url");
    let validate_url = r.url("validate_url");
    if kind.is_some() && issuer_url.is_none() && !r.is_set("oidc_issuer_url") && !skip_discovery {
        r.error(
            "oidc_issuer_url",
            "is required for the oidc provider",
            "set it to your provider's issuer, e.g. \"https://localhost:9443/oauth2/token\" for WSO2 Identity Server",
        );
    }
    if skip_discovery {
        if login_url.is_none() && !r.is_set("login_url") {
            r.error("login_url", "is required with skip_oidc_discovery", "set it to the provider's authorization endpoint");
        }
        if redeem_url.is_none() && !r.is_set("redeem_url") {
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
    let allow_unverified_email = r.get("insecure_oidc_allow_unverified_email");
    let skip_issuer_verification = r.get("insecure_oidc_skip_issuer_verification");
    let skip_nonce = r.get("insecure_oidc_skip_nonce");
    let allowed_groups: Vec<String> = r.get("allowed_groups");
    let scope = match r.string("scope") {
        Some(s) => s,
        None if allowed_groups.is_empty() => "openid email profile".to_string(),
        None => "openid email profile groups".to_string(),
    };
    let ccm = r.string("code_challenge_method");
    let forced = r.string("force_code_challenge_method");
    let (pkce_key, pkce_value) = match (ccm, forced) {
        (Some(v), _) => ("code_challenge_method", Some(v)),
        (None, Some(v)) => ("force_code_challenge_method", Some(v)),
        (None, None) => ("code_challenge_method", None),
    };
    let pkce = match pkce_value.as_deref() {
        None => None,
        Some("S256") => Some(PkceMethod::S256),
        Some("plain") => Some(PkceMethod::Plain),
        Some(_) => {
            r.error(pkce_key, "is not a PKCE method", "use \"S256\" (recommended) or \"plain\"");
            None
        }
    };
    let prompt = r.string("prompt");
    let approval_prompt: String = r.get("approval_prompt");
    let acr_values = r.string("acr_values");
    let response_mode = r.string("auth_request_response_mode");
    let ca_files = r.existing_files("provider_ca_files");
    let use_system_trust_store = r.get("use_system_trust_store");
    let insecure_skip_verify = r.get("ssl_insecure_skip_verify");
    let skip_claims_from_profile_url = r.get("skip_claims_from_profile_url");
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
    let encode_state = r.get("encode_state");
    let issuer_url_raw = r.string("oidc_issuer_url").unwrap_or_default();
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
        audience_claims,
        extra_audiences,
        enabled_signing_algs,
        allow_unverified_email,
        skip_issuer_verification,
        skip_nonce,
        scope,
        pkce,
        prompt,
        approval_prompt,
        acr_values,
        response_mode,
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

// === session ===

fn session_config(r: &mut Reader<'_>) -> Option<session::Config> {
    let name: String = r.get("cookie_name");
    if name.is_empty() || name.len() > 256 || !name.bytes().all(is_cookie_name_byte) {
        r.error(
            "cookie_name",
            "is not a valid cookie name",
            "use 1 to 256 letters, digits and !#$%&'*+-.^_`|~ (for example \"_oauth2_proxy\")",
        );
    }
    let secret_value = r.string("cookie_secret");
    let secret_file = r.existing_file("cookie_secret_file");
    let secret: Option<(Vec<u8>, &'static str)> = match (secret_value, secret_file) {
        (Some(s), None) => Some((s.into_bytes(), "cookie_secret")),
        (None, Some(f)) => match std::fs::read(&f) {
            // Used verbatim, as oauth2-proxy does: a trailing newline counts.
            Ok(bytes) => Some((bytes, "cookie_secret_file")),
            Err(_) => None,
        },
        (Some(_), Some(_)) => {
            r.error("cookie_secret_file", "is set together with cookie_secret", "keep only one of cookie_secret and cookie_secret_file");
            None
        }
        (None, None) => {
            r.error("cookie_secret", "is required", GENERATE_SECRET_FIX);
            None
        }
    };
    let cookie_keys = secret.and_then(|(secret, key)| {
        let derived = key_bytes(&secret);
        if matches!(derived.len(), 16 | 24 | 32) {
            return Some((Secret::new(secret), Secret::new(derived)));
        }
        let std_b64 = secret.iter().any(|b| *b == b'+' || *b == b'/');
        let trailing_nl = secret.ends_with(b"\n");
        let problem = format!(
            "must be 16, 24 or 32 bytes, or base64url of that many bytes; it is {} bytes and not valid base64url of 16, 24 or 32 bytes",
            secret.len()
        );
        let fix = if std_b64 {
            format!("it looks like standard base64: replace + with - and / with _ (base64url), or {GENERATE_SECRET_FIX}")
        } else if trailing_nl && key == "cookie_secret_file" {
            format!("the file ends with a newline, which counts; write it with `printf '%s'`, or {GENERATE_SECRET_FIX}")
        } else {
            GENERATE_SECRET_FIX.to_string()
        };
        r.error(key, problem, fix);
        None
    });
    let mut domains: Vec<String> = r.get("cookie_domains");
    domains.iter_mut().for_each(|d| *d = d.to_ascii_lowercase());
    let path = r.absolute_path("cookie_path");
    let expire: Duration = r.get("cookie_expire");
    let refresh: Duration = r.get("cookie_refresh");
    if !refresh.is_zero() && refresh >= expire {
        r.error(
            "cookie_refresh",
            format!("must be less than cookie_expire ({})", duration::format(expire)),
            "lower cookie_refresh (the provider's access-token lifetime minus a minute is typical) or raise cookie_expire",
        );
    }
    let secure: bool = r.get("cookie_secure");
    let httponly = r.get("cookie_httponly");
    let samesite = r.samesite("cookie_samesite");
    let csrf_samesite = r.samesite("cookie_csrf_samesite");
    let csrf_per_request = r.get("cookie_csrf_per_request");
    let limit: i64 = r.get("cookie_csrf_per_request_limit");
    if limit < 0 {
        r.error("cookie_csrf_per_request_limit", "cannot be negative", "use 0 for no limit, or a positive number");
    }
    let csrf_expire: Duration = r.get("cookie_csrf_expire");
    if csrf_expire.is_zero() {
        r.error("cookie_csrf_expire", "must be longer than zero", "leave it unset for the default 15m");
    }
    if samesite == Some(SameSite::None) && !secure {
        r.error(
            "cookie_samesite",
            "\"none\" needs cookie_secure = true: browsers drop SameSite=None cookies without Secure",
            "set cookie_secure = true (and serve over HTTPS), or use \"lax\"",
        );
    }

    // Browsers silently drop a prefixed cookie whose attributes break the prefix's rules (RFC
    // 6265bis 4.1.3), which users see as an endless sign-in loop; say so at start instead.
    let lower = name.to_ascii_lowercase();
    if (lower.starts_with("__secure-") || lower.starts_with("__host-")) && !secure {
        r.error(
            "cookie_secure",
            format!("is false, but cookie_name \"{name}\" has a prefix that browsers accept only on Secure cookies"),
            "set cookie_secure = true (and serve over HTTPS), or drop the __Secure-/__Host- prefix",
        );
    }
    if lower.starts_with("__host-") {
        if !domains.is_empty() {
            r.error(
                "cookie_domains",
                format!("is set, but cookie_name \"{name}\" is a __Host- cookie, which browsers refuse with a Domain"),
                "remove cookie_domains, or drop the __Host- prefix",
            );
        }
        if path != "/" {
            r.error(
                "cookie_path",
                format!("is \"{path}\", but cookie_name \"{name}\" is a __Host- cookie, which browsers accept only with Path=/"),
                "leave cookie_path unset (\"/\"), or drop the __Host- prefix",
            );
        }
    }

    let store = redis_or_cookie(r);
    let minimal = r.get("session_cookie_minimal");
    let (secret, key) = cookie_keys?;
    Some(session::Config {
        cookie: CookieConfig {
            name,
            secret,
            key,
            domains,
            path,
            expire,
            refresh,
            secure,
            httponly,
            samesite: samesite?,
            csrf_per_request,
            csrf_per_request_limit: limit.max(0) as usize,
            csrf_expire,
            csrf_samesite: match csrf_samesite? {
                SameSite::Unset => samesite?,
                other => other,
            },
        },
        store: store?,
        minimal,
    })
}

const GENERATE_SECRET_FIX: &str = "generate one with `gatehouse generate-secret` (32 random bytes, base64url)";

fn is_cookie_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn redis_or_cookie(r: &mut Reader<'_>) -> Option<StoreConfig> {
    let kind: String = r.get("session_store_type");
    let url = r.string("redis_connection_url");
    let username = r.string("redis_username");
    let password = r.string("redis_password").map(Secret::new);
    let use_sentinel: bool = r.get("redis_use_sentinel");
    let master = r.string("redis_sentinel_master_name");
    let sentinel_password = r.string("redis_sentinel_password").map(Secret::new);
    let sentinel_urls: Vec<String> = r.get("redis_sentinel_connection_urls");
    let use_cluster: bool = r.get("redis_use_cluster");
    let cluster_urls: Vec<String> = r.get("redis_cluster_connection_urls");
    let ca_path = r.existing_file("redis_ca_path");
    let insecure_skip_tls_verify = r.get("redis_insecure_skip_tls_verify");
    let idle: i64 = r.get("redis_connection_idle_timeout");
    if idle < 0 {
        r.error("redis_connection_idle_timeout", "cannot be negative", "use 0 to keep idle connections, or a number of seconds");
    } else if idle > 0 {
        r.warnings.push("redis_connection_idle_timeout has no effect: Gatehouse keeps one multiplexed connection per Redis node, with no pool of idle connections to close".into());
    }
    for (key, urls) in [
        ("redis_connection_url", url.iter().cloned().collect::<Vec<_>>()),
        ("redis_sentinel_connection_urls", sentinel_urls.clone()),
        ("redis_cluster_connection_urls", cluster_urls.clone()),
    ] {
        for u in urls {
            if let Err(problem) = parse_redis_url(&u) {
                r.entry_error(key, &redact_url(&u), problem, "write redis://[user:password@]host:port[/db] (rediss:// for TLS)");
            }
        }
    }
    // Wired for standalone Redis only: refused rather than silently ignored elsewhere.
    if kind == "redis" && (use_sentinel || use_cluster) {
        let topology = if use_sentinel { "redis_use_sentinel" } else { "redis_use_cluster" };
        if ca_path.is_some() {
            r.error(
                "redis_ca_path",
                format!("is not supported with {topology} yet"),
                "remove it, or use a standalone Redis (redis_connection_url)",
            );
        }
        if insecure_skip_tls_verify {
            r.error(
                "redis_insecure_skip_tls_verify",
                format!("is not supported with {topology} yet"),
                "remove it, or use a standalone Redis (redis_connection_url)",
            );
        }
    }
    match kind.as_str() {
        "cookie" => Some(StoreConfig::Cookie),
        "redis" => {
            let topology = match (use_sentinel, use_cluster) {
                (true, true) => {
                    r.error("redis_use_cluster", "cannot be combined with redis_use_sentinel", "choose Sentinel or Cluster");
                    None
                }
                (true, false) => {
                    if master.is_none() {
                        r.error(
                            "redis_sentinel_master_name",
                            "is required with redis_use_sentinel",
                            "set it to the master name the sentinels monitor",
                        );
                    }
                    if sentinel_urls.is_empty() {
                        r.error(
                            "redis_sentinel_connection_urls",
                            "is required with redis_use_sentinel",
                            "list the sentinels as redis://host:26379 URLs",
                        );
                    }
                    master.map(|m| RedisTopology::Sentinel { master_name: m, urls: sentinel_urls, password: sentinel_password })
                }
                (false, true) => {
                    if cluster_urls.is_empty() {
                        r.error(
                            "redis_cluster_connection_urls",
                            "is required with redis_use_cluster",
                            "list some cluster nodes as redis://host:port URLs",
                        );
                    }
                    Some(RedisTopology::Cluster { urls: cluster_urls })
                }
                (false, false) => match url {
                    Some(u) => Some(RedisTopology::Standalone { url: u }),
                    None => {
                        r.error(
                            "redis_connection_url",
                            "is required with session_store_type = \"redis\"",
                            "set it, e.g. \"redis://127.0.0.1:6379/1\"",
                        );
                        None
                    }
                },
            };
            Some(StoreConfig::Redis(RedisConfig {
                topology: topology?,
                username,
                password,
                ca_path,
                insecure_skip_tls_verify,
                idle_timeout: Duration::from_secs(idle.max(0) as u64),
            }))
        }
        _ => {
            r.error("session_store_type", "is not a session store", "use \"cookie\" (the default) or \"redis\"");
            None
        }
    }
}

fn parse_redis_url(u: &str) -> Result<(), String> {
    let url = Url::parse(u).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "redis" | "rediss" => {}
        "unix" | "redis+unix" => return Ok(()),
        s => {
            return Err(format!("has scheme \"{s}\"; Redis URLs start with redis:// or rediss://"));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err(format!("has \"/{db}\" where a database number belongs"));
    }
    Ok(())
}

/// A URL with its password replaced, for messages.
fn redact_url(u: &str) -> String {
    match Url::parse(u) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("<redacted>"));
            url.to_string()
        }
        _ => u.to_string(),
    }
}

// === authz ===

fn authz_config(r: &mut Reader<'_>) -> authz::Config {
    let mut email_domains: Vec<String> = r.get("email_domains");
    email_domains.iter_mut().for_each(|d| *d = d.to_ascii_lowercase());
    let authenticated_emails_file = r.existing_file("authenticated_emails_file");
    let htpasswd_file = r.existing_file("htpasswd_file");
    if email_domains.is_empty() && authenticated_emails_file.is_none() && htpasswd_file.is_none() {
        r.error(
            "email_domains",
            "no users are allowed: set email_domains, authenticated_emails_file or htpasswd_file",
            "set email_domains = [\"*\"] to allow any user the provider authenticates, or list your domains",
        );
    }
    let mut allowed_groups: Vec<String> = r.get("allowed_groups");
    allowed_groups.retain(|g| !g.is_empty());
    let whitelist: Vec<String> = r.get("whitelist_domains");
    let whitelist_domains = whitelist
        .into_iter()
        .filter_map(|d| match check_whitelist_entry(&d) {
            Ok(()) => Some(d.to_ascii_lowercase()),
            Err(problem) => {
                r.entry_error("whitelist_domains", &d, problem, "write host, .example.com (subdomains), host:8080 or host:*");
                None
            }
        })
        .collect();
    let routes: Vec<String> = r.get("skip_auth_routes");
    let mut skip_auth_routes: Vec<RouteRule> = routes
        .into_iter()
        .filter_map(|route| match parse_route(&route) {
            Ok(rule) => Some(rule),
            Err(problem) => {
                r.entry_error(
                    "skip_auth_routes",
                    &route,
                    problem,
                    "write METHOD=regex, METHOD!=regex, regex or !=regex, e.g. \"GET=^/health$\"",
                );
                None
            }
        })
        .collect();
    skip_auth_routes.extend(r.regexes("skip_auth_regex").into_iter().map(|regex| RouteRule { method: None, negate: false, regex }));
    let api_routes = r.regexes("api_routes");
    let trusted_ips = r.nets("trusted_ips");
    let issuers: Vec<String> = r.get("extra_jwt_issuers");
    let extra_jwt_issuers = issuers
        .into_iter()
        .filter_map(|entry| match entry.split_once('=') {
            Some((iss, aud)) if !aud.is_empty() && parse_http_url(iss).is_ok() => Some((iss.to_string(), aud.to_string())),
            _ => {
                r.entry_error("extra_jwt_issuers", &entry, "is not issuer=audience", "write \"https://issuer.example.com=my-audience\"");
                None
            }
        })
        .collect();
    authz::Config {
        email_domains,
        authenticated_emails_file,
        allowed_groups,
        whitelist_domains,
        skip_auth_routes,
        skip_auth_preflight: r.get("skip_auth_preflight"),
        api_routes,
        trusted_ips,
        skip_provider_button: r.get("skip_provider_button"),
        force_json_errors: r.get("force_json_errors"),
        skip_jwt_bearer_tokens: r.get("skip_jwt_bearer_tokens"),
        extra_jwt_issuers,
        bearer_token_login_fallback: r.get("bearer_token_login_fallback"),
        htpasswd_file,
        htpasswd_user_groups: r.get("htpasswd_user_groups"),
    }
}

/// oauth2-proxy's route syntax: the method part is everything before the first `=` or `!=`.
pub fn parse_route(route: &str) -> Result<RouteRule, String> {
    let (method, negate, pattern) = match route.find('=') {
        None => (None, false, route),
        Some(i) => {
            let (head, negate) = match route[..i].strip_suffix('!') {
                Some(h) => (h, true),
                None => (&route[..i], false),
            };
            let method = if head.is_empty() { None } else { Some(head.to_ascii_uppercase()) };
            (method, negate, &route[i + 1..])
        }
    };
    if let Some(m) = &method
        && !m.bytes().all(|b| b.is_ascii_uppercase())
    {
        return Err(format!("\"{m}\" is not an HTTP method"));
    }
    let regex = Regex::new(pattern).map_err(|e| format!("has an invalid regular expression: {}", one_line(&e.to_string())))?;
    Ok(RouteRule { method, negate, regex })
}

fn check_whitelist_entry(entry: &str) -> Result<(), String> {
    let host = entry.strip_prefix("*.").or_else(|| entry.strip_prefix('.')).unwrap_or(entry);
    let (host, port) = match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, Some(p)),
        _ => (host, None),
    };
    if host.is_empty() || host.contains('/') || host.contains('@') || host.chars().any(char::is_whitespace) {
        return Err("is not a domain".into());
    }
    match port {
        None | Some("*") => Ok(()),
        Some(p) if p.parse::<u16>().is_ok() => Ok(()),
        Some(_) => Err("has an invalid port".into()),
    }
}

// === headers ===

fn headers_config(r: &mut Reader<'_>, alpha: Option<&AlphaConfig>) -> identity::Config {
    let legacy = LegacyHeaders {
        pass_basic_auth: r.get("pass_basic_auth"),
        pass_access_token: r.get("pass_access_token"),
        pass_user_headers: r.get("pass_user_headers"),
        pass_authorization_header: r.get("pass_authorization_header"),
        set_basic_auth: r.get("set_basic_auth"),
        set_xauthrequest: r.get("set_xauthrequest"),
        set_authorization_header: r.get("set_authorization_header"),
        prefer_email_to_user: r.get("prefer_email_to_user"),
        basic_auth_password: r.string("basic_auth_password").map(Secret::new),
        skip_auth_strip_headers: r.get("skip_auth_strip_headers"),
    };
    match alpha {
        Some(a) if a.inject_request_headers.is_some() || a.inject_response_headers.is_some() => identity::Config {
            request: alpha_headers(r, "injectRequestHeaders", a.inject_request_headers.as_deref().unwrap_or_default()),
            response: alpha_headers(r, "injectResponseHeaders", a.inject_response_headers.as_deref().unwrap_or_default()),
            prefer_email_to_user: false,
        },
        // With alpha config but no header sections, oauth2-proxy injects nothing.
        Some(_) => identity::Config::default(),
        None => legacy.into_config(),
    }
}

fn alpha_headers(r: &mut Reader<'_>, section: &str, headers: &[alpha::Header]) -> Vec<HeaderRule> {
    let mut rules = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let at = format!("{section}[{i}]");
        if h.name.is_empty() || !h.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            r.errors.push(ConfigError::new(format!("{at}.name"), "is not a header name", "use letters, digits and -"));
            continue;
        }
        let mut values = Vec::new();
        for (j, v) in h.values.iter().enumerate() {
            let at = format!("{at}.values[{j}]");
            let secret = secret_source(r, &at, v.value.as_deref(), v.from_env.as_deref(), v.from_file.as_deref());
            match (&v.claim, secret) {
                (Some(c), None) => {
                    let password = v.basic_auth_password.as_ref().and_then(|s| {
                        secret_source(
                            r,
                            &format!("{at}.basicAuthPassword"),
                            s.value.as_deref(),
                            s.from_env.as_deref(),
                            s.from_file.as_deref(),
                        )
                    });
                    values.push(HeaderValueSource::Claim {
                        claim: Claim::parse(c),
                        prefix: v.prefix.clone().unwrap_or_default(),
                        basic_auth_password: password,
                    });
                }
                (None, Some(s)) => values.push(HeaderValueSource::Secret(s)),
                _ => r.errors.push(ConfigError::new(
                    at,
                    "needs exactly one of claim, value, fromEnv or fromFile",
                    "give the value one source",
                )),
            }
        }
        rules.push(HeaderRule::new(&h.name, h.preserve_request_value, values).expect("the name's characters were checked above"));
    }
    rules
}

/// Reads an alpha SecretSource: base64 `value`, an environment variable, or a file.
fn secret_source(
    r: &mut Reader<'_>,
    at: &str,
    value: Option<&str>,
    from_env: Option<&str>,
    from_file: Option<&str>,
) -> Option<Secret<String>> {
    match (value, from_env, from_file) {
        (None, None, None) => None,
        (Some(v), None, None) => match base64::engine::general_purpose::STANDARD.decode(v) {
            Ok(bytes) => Some(Secret::new(String::from_utf8_lossy(&bytes).into_owned())),
            Err(_) => {
                r.errors.push(ConfigError::new(format!("{at}.value"), "is not base64", "secret values are base64-encoded in alpha config"));
                None
            }
        },
        (None, Some(var), None) => match r.env.var(var) {
            Some(v) => Some(Secret::new(v)),
            None => {
                r.errors.push(ConfigError::new(
                    format!("{at}.fromEnv"),
                    format!("environment variable {var} is not set"),
                    format!("export {var}"),
                ));
                None
            }
        },
        (None, None, Some(file)) => match std::fs::read_to_string(file) {
            Ok(v) => Some(Secret::new(v)),
            Err(e) => {
                r.errors.push(ConfigError::new(format!("{at}.fromFile"), format!("cannot be read: {e}"), "check the path"));
                None
            }
        },
        _ => {
            r.errors.push(ConfigError::new(at, "sets more than one of value, fromEnv and fromFile", "keep one"));
            None
        }
    }
}

// === proxy ===

fn proxy_config(r: &mut Reader<'_>, alpha: Option<&AlphaConfig>) -> proxy::Config {
    let list: Vec<String> = r.get("upstreams");
    let pass_host_header = r.get("pass_host_header");
    let proxy_websockets = r.get("proxy_websockets");
    let insecure = r.get("ssl_upstream_insecure_skip_verify");
    let flush_interval = r.get("flush_interval");
    let timeout = r.get("upstream_timeout");
    let disable_keep_alives = r.get("disable_keep_alives");
    let allow_query_semicolons = r.get("allow_query_semicolons");
    let mut upstreams = Vec::new();
    let mut proxy_raw_path = false;
    if let Some(cfg) = alpha.and_then(|a| a.upstream_config.as_ref()) {
        proxy_raw_path = cfg.proxy_raw_path;
        for (i, u) in cfg.upstreams.iter().enumerate() {
            if let Some(up) = alpha_upstream(r, i, u) {
                upstreams.push(up);
            }
        }
    } else {
        for s in list {
            match legacy_upstream(&s) {
                Ok((id, path, target)) => {
                    let is_static = matches!(target, Target::Static(_));
                    upstreams.push(Upstream {
                        id,
                        path,
                        rewrite_target: None,
                        target,
                        pass_host_header,
                        proxy_websockets: proxy_websockets && !is_static,
                        flush_interval,
                        timeout,
                        insecure_skip_tls_verify: insecure && !is_static,
                        disable_keep_alives,
                    })
                }
                Err(problem) => r.entry_error(
                    "upstreams",
                    &s,
                    problem,
                    "write http(s)://host[:port][/path], file:///dir#/path/, static://202 or unix:///socket",
                ),
            }
        }
    }
    let mut ids = HashSet::new();
    let mut paths = HashSet::new();
    for u in &upstreams {
        if !paths.insert(u.path.clone()) {
            r.entry_error(
                "upstreams",
                &u.path,
                "two upstreams route the same path",
                "give every upstream a distinct path (the path part of the URL is the route)",
            );
        } else if !ids.insert(u.id.clone()) {
            r.entry_error("upstreams", &u.id, "the same upstream ID appears twice", "give every upstream a unique ID");
        }
    }
    proxy::Config { upstreams, proxy_raw_path, allow_query_semicolons }
}

/// oauth2-proxy's legacy conversion: the URL's path is both the ID and the route.
fn legacy_upstream(s: &str) -> Result<(String, String, Target), String> {
    let url = Url::parse(s).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "http" | "https" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err("has no host".into());
            }
            let path = url.path().to_string();
            Ok((path.clone(), path, Target::Http(url)))
        }
        "file" => {
            let dir = PathBuf::from(url.path());
            let mount = url.fragment().filter(|f| !f.is_empty()).unwrap_or(url.path()).to_string();
            if !mount.starts_with('/') {
                return Err("mount path (after #) must start with /".into());
            }
            Ok((mount.clone(), mount, Target::File(dir)))
        }
        "static" => {
            let code = url.host_str().unwrap_or("");
            let code: u16 =
                code.parse().ok().filter(|c| (100..=599).contains(c)).ok_or_else(|| format!("\"{code}\" is not an HTTP status code"))?;
            Ok((s.to_string(), "/".to_string(), Target::Static(code)))
        }
        "unix" => Err("is a unix socket upstream, which Gatehouse does not support yet; listen on loopback TCP instead".into()),
        other => Err(format!("has scheme \"{other}\"; use http, https, file, static or unix")),
    }
}

fn alpha_upstream(r: &mut Reader<'_>, i: usize, u: &alpha::Upstream) -> Option<Upstream> {
    let at = format!("upstreamConfig.upstreams[{i}]");
    let mut ok = true;
    let mut fail = |field: &str, problem: String, fix: &str| {
        r.errors.push(ConfigError::new(format!("{at}.{field}"), problem, fix));
        ok = false;
    };
    if u.id.is_empty() {
        fail("id", "is required".into(), "give the upstream a unique id");
    }
    if !u.path.starts_with('/') && !u.path.starts_with('^') {
        fail("path", format!("{:?} must start with / (or ^ for a regex)", u.path), "write the route, e.g. /app/");
    }
    let target = if u.r#static {
        Target::Static(u.static_code.unwrap_or(200))
    } else {
        match legacy_upstream(&u.uri) {
            Ok((_, _, t @ (Target::Http(_) | Target::Unix(_)))) => t,
            Ok((_, _, Target::File(dir))) => Target::File(dir),
            Ok((_, _, Target::Static(c))) => Target::Static(c),
            Err(problem) => {
                fail(
                    "uri",
                    format!("{:?} {problem}", u.uri),
                    "write http(s)://host[:port], file:///dir or unix:///socket, or set static: true",
                );
                Target::Static(200)
            }
        }
    };
    let mut dur = |field: &str, v: &Option<String>, default: Duration| match v {
        None => default,
        Some(s) => duration::parse(s).unwrap_or_else(|problem| {
            r.errors.push(ConfigError::new(format!("{at}.{field}"), problem, "write a duration such as \"30s\""));
            ok = false;
            default
        }),
    };
    let flush_interval = dur("flushInterval", &u.flush_interval, Duration::from_secs(1));
    let timeout = dur("timeout", &u.timeout, Duration::from_secs(30));
    ok.then(|| Upstream {
        id: u.id.clone(),
        path: u.path.clone(),
        rewrite_target: Some(u.rewrite_target.clone()).filter(|s| !s.is_empty()),
        target,
        pass_host_header: u.pass_host_header.unwrap_or(true),
        proxy_websockets: u.proxy_websockets.unwrap_or(true),
        flush_interval,
        timeout,
        insecure_skip_tls_verify: u.insecure_skip_tls_verify,
        disable_keep_alives: u.disable_keep_alives,
    })
}

// === logging and pages ===

fn logging_config(r: &mut Reader<'_>) -> telemetry::Config {
    for key in ["logging_max_size", "logging_max_age", "logging_max_backups"] {
        let v: i64 = r.get(key);
        if v < 0 {
            r.error(key, "cannot be negative", "use 0 or a positive number");
        }
    }
    // Read whether or not a file is set: every option is read once by validation.
    let rotation = telemetry::output::FileConfig {
        path: PathBuf::new(),
        max_size: r.get::<i64>("logging_max_size").max(0) as u64 * 1024 * 1024,
        max_backups: r.get::<i64>("logging_max_backups").max(0) as usize,
        max_age: std::time::Duration::from_secs(r.get::<i64>("logging_max_age").max(0) as u64 * 86_400),
        compress: r.get("logging_compress"),
        local_time: r.get("logging_local_time"),
    };
    let request_id_header = actix_web::http::header::HeaderName::try_from(r.get::<String>("request_id_header")).unwrap_or_else(|_| {
        r.error("request_id_header", "is not a header name", "use letters, digits and - (the default is X-Request-Id)");
        actix_web::http::header::HeaderName::from_static("x-request-id")
    });
    telemetry::Config {
        auth_logging: r.get("auth_logging"),
        auth_logging_format: r.string("auth_logging_format"),
        request_logging: r.get("request_logging"),
        request_logging_format: r.string("request_logging_format"),
        standard_logging: r.get("standard_logging"),
        standard_logging_format: r.string("standard_logging_format"),
        errors_to_info_log: r.get("errors_to_info_log"),
        exclude_paths: r.get("exclude_logging_paths"),
        local_time: r.get("logging_local_time"),
        silence_ping_logging: r.get("silence_ping_logging"),
        request_id_header,
        file: r.string("logging_filename").map(|f| telemetry::output::FileConfig { path: PathBuf::from(f), ..rotation }),
        json: match r.get::<String>("log_format").as_str() {
            "text" => false,
            "json" => true,
            _ => {
                r.error("log_format", "is not a log format", "use \"text\" or \"json\"");
                false
            }
        },
    }
}

fn pages_config(r: &mut Reader<'_>, authz: &crate::authz::Config) -> crate::pages::Config {
    use crate::pages;
    let dir = r.string("custom_templates_dir").map(PathBuf::from);
    if let Some(d) = &dir
        && !d.is_dir()
    {
        r.error("custom_templates_dir", "no such directory", "check the path");
    }
    // A template that does not load stops the start, with its line (oauth2-proxy's rule too).
    let mut template = |name: &str, fields: &[&str]| {
        let path = dir.as_ref()?.join(name);
        let text = std::fs::read_to_string(&path).ok()?;
        match crate::pages::template::Template::parse(&text, name, fields) {
            Ok(t) => Some(t),
            Err(problem) => {
                r.error(
                    "custom_templates_dir",
                    format!("{}: {problem}", path.display()),
                    "fix the template, or remove it to use the built-in page",
                );
                None
            }
        }
    };
    let sign_in_template = template("sign_in.html", pages::SIGN_IN_FIELDS);
    let robots = dir.as_ref().and_then(|d| std::fs::read_to_string(d.join("robots.txt")).ok());
    let error_template = template("error.html", pages::ERROR_FIELDS);
    let logo = match r.string("custom_sign_in_logo") {
        None => String::new(),
        Some(v) => match pages::logo_markup(&v) {
            Ok(markup) => markup,
            Err(problem) => {
                r.error("custom_sign_in_logo", problem, "give an https:// URL or a .svg, .png, .jpg or .jpeg file, or \"-\" for none");
                String::new()
            }
        },
    };
    let banner = match r.string("banner") {
        Some(b) if b == "-" => String::new(),
        Some(b) => b,
        // oauth2-proxy's default banner names the allowed domains.
        None if authz.authenticated_emails_file.is_none() => match authz.email_domains.as_slice() {
            [] => String::new(),
            [one] if one == "*" => String::new(),
            [one] => format!("Authenticate using {one}"),
            many => format!("Authenticate using one of the following domains: {}", many.join(", ")),
        },
        None => String::new(),
    };
    crate::pages::Config {
        provider_display_name: r.get("provider_display_name"),
        custom_templates_dir: dir,
        robots,
        sign_in_template,
        error_template,
        logo,
        banner,
        footer: r.string("footer"),
        show_debug_on_error: r.get("show_debug_on_error"),
        display_htpasswd_form: r.get("display_htpasswd_form"),
    }
}

/// The development issuer and echo app: loopback only, and the issuer must be the one
/// Gatehouse logs in with.
fn dev_config(r: &mut Reader<'_>) -> crate::dev::Config {
    let mut addr = |key: &'static str| -> Option<std::net::SocketAddr> {
        let s = r.string(key)?;
        match s.parse::<std::net::SocketAddr>() {
            Ok(a) if a.ip().is_loopback() => Some(a),
            Ok(_) => {
                r.error(key, "is not a loopback address; the development servers never listen elsewhere", "use 127.0.0.1:<port>");
                None
            }
            Err(_) => {
                r.error(key, "is not ip:port", "write it like \"127.0.0.1:4181\"");
                None
            }
        }
    };
    let issuer = addr("dev_issuer_address");
    let echo = addr("dev_echo_address");
    if let Some(a) = issuer {
        let want = format!("http://{a}");
        if r.string("oidc_issuer_url").as_deref() != Some(want.as_str()) {
            r.error(
                "oidc_issuer_url",
                format!("must be {want} to log in with the development issuer"),
                format!("set oidc_issuer_url = \"{want}\""),
            );
        }
    }
    crate::dev::Config { issuer, echo }
}

/// Checks that involve more than one module's options.
fn cross_checks(r: &mut Reader<'_>, session: &Option<session::Config>, headers: &identity::Config) {
    let Some(s) = session else { return };
    if s.minimal {
        let needs_tokens = headers
            .request
            .iter()
            .chain(&headers.response)
            .flat_map(|h| &h.values)
            .any(|v| matches!(v, HeaderValueSource::Claim { claim: Claim::AccessToken | Claim::IdToken | Claim::RefreshToken, .. }));
        if needs_tokens {
            r.error(
                "session_cookie_minimal",
                "keeps no tokens, but a header needs one (pass_access_token, pass_authorization_header or set_authorization_header)",
                "turn off session_cookie_minimal or the token headers",
            );
        }
        if !s.cookie.refresh.is_zero() {
            r.error(
                "session_cookie_minimal",
                "keeps no refresh token, so cookie_refresh cannot work",
                "turn off session_cookie_minimal or set cookie_refresh = \"0\"",
            );
        }
    }
}

/// Refuses options Gatehouse does not support, and lists options it will not honour yet.
fn status_checks(r: &mut Reader<'_>) -> Vec<NotImplemented> {
    // An unsupported option's only use is this check.
    r.used.extend(options::all().filter(|o| matches!(o.status, Status::Unsupported(_))).map(|o| o.key));
    let mut planned = Vec::new();
    let set: Vec<(&'static str, RawValue, Origin)> = r.raw.iter().map(|(k, s)| (k, s.value.clone(), s.origin.clone())).collect();
    for (key, value, origin) in set {
        let spec = spec(key);
        if spec.status == Status::Ready || same_as_default(spec, &value) {
            continue;
        }
        match spec.status {
            Status::Unsupported(why) => r.error(key, "is not supported by Gatehouse", why),
            Status::Planned(feature) => planned.push(NotImplemented { key, feature, origin }),
            Status::Ready => {}
        }
    }
    planned
}

fn same_as_default(spec: &OptionSpec, value: &RawValue) -> bool {
    let default = RawValue::Str(spec.default.to_string());
    fn typed<T: OptionType + PartialEq>(a: &RawValue, b: &RawValue) -> bool {
        matches!((T::from_raw(a), T::from_raw(b)), (Ok(x), Ok(y)) if x == y)
    }
    use super::value::Kind;
    match spec.kind {
        Kind::Str => typed::<String>(value, &default),
        Kind::Bool => typed::<bool>(value, &default),
        Kind::Int => typed::<i64>(value, &default),
        Kind::Dur => typed::<Duration>(value, &default),
        Kind::List => typed::<Vec<String>>(value, &default),
    }
}

// === small parsers ===

fn parse_http_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("has scheme \"{}\"; only http and https are allowed", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(url)
}

fn parse_listen(s: &str) -> Result<ListenAddr, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(path) = lower.strip_prefix("unix://") {
        let path = s[s.len() - path.len()..].split(',').next().unwrap_or("");
        if path.is_empty() {
            return Err("has no socket path".into());
        }
        return Ok(ListenAddr::Unix(PathBuf::from(path)));
    }
    if let Some(n) = lower.strip_prefix("fd:") {
        return n.parse().map(ListenAddr::Fd).map_err(|_| "fd: must be followed by a number".into());
    }
    let hostport = if lower.starts_with("http://") { &s[7..] } else { s };
    if hostport.contains("://") {
        return Err("has a scheme other than http:// (use tls_cert_file for HTTPS)".into());
    }
    let (host, port) = hostport.rsplit_once(':').ok_or("has no port")?;
    let port: u16 = port.parse().map_err(|_| format!("\"{port}\" is not a port number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.contains('/') {
        return Err("has a path; write only host:port".into());
    }
    Ok(ListenAddr::Tcp { host: host.to_string(), port })
}

fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}
