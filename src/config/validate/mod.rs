//! Raw options → typed [`Config`]. Every check runs, every problem is collected, and defaults
//! are applied here and nowhere else.
//!
//! The checks follow oauth2-proxy's `pkg/validation`, plus a few that oauth2-proxy defers to
//! request time (a bad `code_challenge_method` fails at `/oauth2/start` there; here at start).

mod cookies;
mod headers;
mod listeners;
mod logs_and_pages;
mod policy;
mod provider;
mod provider_types;
mod providers;
mod upstreams;

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use ipnet::IpNet;
use regex::Regex;
use url::Url;

use super::Config;
use super::alpha::{self, AlphaConfig};
use super::duration;
use super::error::{ConfigError, ConfigErrors, Origin, suggest};
use super::options::{self, Legacy, OptionSpec, Status};
use super::source::RawConfig;
use super::value::{OptionType, RawValue};
use crate::authz::{self, RouteRule};
use crate::base::Secret;
use crate::identity::{self, Claim, HeaderRule, HeaderValueSource, LegacyHeaders};
use crate::oidc::{self, ClientSecret, PkceMethod, ProviderKind};
use crate::proxy::{self, Target, Upstream};
use crate::server::{self, ListenAddr, TlsConfig, TlsVersion, TrustConfig};
use crate::session::{self, CookieConfig, RedisConfig, RedisTopology, SameSite, StoreConfig};
use crate::telemetry;

use cookies::session_config;
use headers::headers_config;
use listeners::server_config;
use logs_and_pages::{dev_config, logging_config, pages_config};
use policy::authz_config;
use provider::oidc_config;
use upstreams::proxy_config;

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

    /// A listen address; `unix` says whether this listener may be a unix socket (plain HTTP
    /// ones may). Whatever cannot be listened on is refused here, so `--config-test` says so.
    fn listen(&mut self, key: &'static str, unix: bool) -> Option<ListenAddr> {
        let s = self.string(key)?;
        // oauth2-proxy's "no listener here" (its alpha conversion writes it for a TLS-only server).
        if s == "-" {
            return None;
        }
        match parse_listen(&s) {
            Ok(ListenAddr::Fd(_)) => {
                self.error(
                    key,
                    "fd: (systemd socket activation) is not supported: Gatehouse opens its own sockets",
                    "write host:port, or unix:///path for a plain-HTTP listener",
                );
                None
            }
            Ok(ListenAddr::Unix { .. }) if !unix => {
                self.error(key, "cannot be a unix socket (only the plain-HTTP http_address and metrics_address can)", "write host:port");
                None
            }
            Ok(a) => Some(a),
            Err(problem) => {
                self.error(key, problem, "write host:port (\"127.0.0.1:4180\", \":4180\") or unix:///path");
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
) -> Option<Config> {
    let mut r = Reader { raw, env, errors, used: HashSet::new(), warnings: Vec::new() };

    if let Some((path, _)) = alpha {
        legacy_with_alpha(&mut r, path);
    }
    let server = server_config(&mut r);
    let first = alpha.and_then(|(_, a)| a.providers.as_ref()).and_then(|p| p.first()).map(|p| (0, p));
    let oidc = oidc_config(&mut r, first);
    let mut session = session_config(&mut r);
    let authz = authz_config(&mut r);
    let providers = providers::providers(&mut r, alpha, oidc.as_ref(), &authz.allowed_groups);
    let headers = headers_config(&mut r, alpha.map(|(_, a)| a));
    let proxy = proxy_config(&mut r, alpha.map(|(_, a)| a));
    let logging = logging_config(&mut r);
    let pages = pages_config(&mut r, &authz);
    let dev = dev_config(&mut r);
    cross_checks(&mut r, &session, &headers);
    form_post_csrf(&mut r, &oidc, &mut session);
    status_checks(&mut r);
    warnings.append(&mut r.warnings);
    if cfg!(debug_assertions) {
        let unread: Vec<&str> = options::all().map(|o| o.key).filter(|k| !r.used.contains(k)).collect();
        assert!(unread.is_empty(), "validation never reads {unread:?}");
    }

    if !r.errors.is_empty() {
        return None;
    }
    let config = Config { server: server?, oidc: oidc?, providers, session: session?, authz, headers, proxy, logging, pages, dev };
    Some(config)
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

/// With `auth_request_response_mode = "form_post"` the provider's page POSTs the login back
/// from its own site: a `SameSite=Lax` or `Strict` CSRF cookie would stay behind and no login
/// could complete, so that is an error; left unset it becomes `None` (over HTTPS).
fn form_post_csrf(r: &mut Reader<'_>, oidc: &Option<oidc::Config>, session: &mut Option<session::Config>) {
    let (Some(o), Some(s)) = (oidc, session) else { return };
    if o.response_mode.as_deref() != Some("form_post") {
        return;
    }
    let key = if r.string("cookie_csrf_samesite").is_some_and(|v| !v.is_empty()) { "cookie_csrf_samesite" } else { "cookie_samesite" };
    match s.cookie.csrf_samesite {
        SameSite::Lax | SameSite::Strict => r.error(
            key,
            "keeps the CSRF cookie out of the provider's cross-site form POST (auth_request_response_mode = \"form_post\"), so no login could complete",
            "set cookie_csrf_samesite = \"none\" (with cookie_secure = true), or use auth_request_response_mode = \"query\"",
        ),
        SameSite::Unset if s.cookie.secure => s.cookie.csrf_samesite = SameSite::None,
        SameSite::Unset => r.warnings.push(
            "auth_request_response_mode = \"form_post\" with cookie_secure = false: the CSRF cookie cannot be SameSite=None without Secure, so logins complete only when the provider is on the same site as Gatehouse".to_string(),
        ),
        SameSite::None => {}
    }
}

/// Refuses options Gatehouse does not support, each with its reason.
fn status_checks(r: &mut Reader<'_>) {
    // An unsupported option's only use is this check.
    r.used.extend(options::all().filter(|o| matches!(o.status, Status::Unsupported(_))).map(|o| o.key));
    let set: Vec<(&'static str, RawValue)> = r.raw.iter().map(|(k, s)| (k, s.value.clone())).collect();
    for (key, value) in set {
        let spec = spec(key);
        if let Status::Unsupported(why) = spec.status
            && !same_as_default(spec, &value)
        {
            r.error(key, "is not supported by Gatehouse", why);
        }
    }
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

// === small parsers, shared by the sections ===

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
    if let Some(rest) = lower.strip_prefix("unix://") {
        // oauth2-proxy's form: the path, then `,mode=<octal>`.
        let mut parts = s[s.len() - rest.len()..].split(',');
        let path = parts.next().unwrap_or("");
        if !path.starts_with('/') {
            return Err("needs an absolute socket path (unix:///run/gatehouse.sock)".into());
        }
        let mut mode = None;
        for option in parts {
            match option.split_once('=') {
                Some(("mode", m)) => mode = Some(u32::from_str_radix(m, 8).map_err(|_| format!("socket mode \"{m}\" is not octal"))?),
                _ => return Err(format!("has the socket option \"{option}\"; the only one is mode=<octal>")),
            }
        }
        return Ok(ListenAddr::Unix { path: PathBuf::from(path), mode });
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
