//! Authorization policy: who may pass once authenticated, and which requests need no login.
//!
//! Owns email-domain and allow-list checks, group checks, per-route constraints, the
//! skip-auth route rules and Gatehouse's route rules ([`rules`]), which `gate::View` applies
//! to the readings of a request.
//!
//! Invariant: pure and synchronous; no IO, no HTTP types, no clock. Callers hand it values.

pub mod rules;

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
    /// `route_rules` (Gatehouse's own): first match decides.
    pub route_rules: rules::Rules,
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

impl RouteRule {
    /// oauth2-proxy's semantics: the method (if any) must match, and the path must match the
    /// regex (`=`) or not match it (`!=`).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method) && self.regex.is_match(path) != self.negate
    }
}

/// Per-route constraints from one source (`allowed_groups`, `allowed_emails`,
/// `allowed_email_domains`; comma-separated, repeatable), compared as oauth2-proxy's
/// `authOnlyAuthorize` compares them: items split on `,`, empty items skipped, nothing trimmed
/// or folded (a value that differs in case or spacing meets nothing). Within one source a
/// list is met by any item; the gate requires every source to be met.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    pub groups: Vec<String>,
    pub emails: Vec<String>,
    pub email_domains: Vec<String>,
}

impl Constraints {
    /// Adds a constraint by its query-parameter name; other names are ignored.
    pub fn add(&mut self, name: &str, value: &str) {
        let list = match name {
            "allowed_groups" => &mut self.groups,
            "allowed_emails" => &mut self.emails,
            "allowed_email_domains" => &mut self.email_domains,
            _ => return,
        };
        list.extend(value.split(',').filter(|s| !s.is_empty()).map(str::to_string));
    }

    /// Does the session satisfy every constraint given?
    pub fn allow(&self, email: &str, groups: &[String]) -> bool {
        groups_allowed(groups, &self.groups)
            && (self.emails.is_empty() || self.emails.iter().any(|e| e == email))
            && (self.email_domains.is_empty()
                || email.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && !domain.contains('@') && self.email_domains.iter().any(|d| endpoint_allowed(domain, None, d))
                }))
    }
}

/// Why an authenticated user is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("the email address is not in an allowed domain or list")]
    Email,
    #[error("the user is in none of the allowed groups")]
    Groups,
    #[error("the user is no longer in htpasswd_file")]
    Gone,
}

/// Is `email` allowed by `email_domains` or the authenticated-emails list?
/// The address must have exactly one `@`: `a@evil.com@corp.com` belongs to no domain.
pub fn email_allowed(email: &str, domains: &[String], allowed_emails: &std::collections::HashSet<String>) -> bool {
    let email = email.trim().to_ascii_lowercase();
    // `*` allows any non-empty value, as oauth2-proxy: with everyone allowed there is no
    // domain to check, and a bearer token's subject may stand in for the email.
    if !email.is_empty() && domains.iter().any(|d| d == "*") {
        return true;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return false;
    }
    if allowed_emails.contains(&email) {
        return true;
    }
    domains.iter().any(|d| {
        match d.strip_prefix("*.").or_else(|| d.strip_prefix('.')) {
            // `.example.com` and `*.example.com` allow subdomains of example.com.
            Some(parent) => domain.strip_suffix(parent).is_some_and(|head| head.ends_with('.')),
            None => domain == d.as_str(),
        }
    })
}

/// Is the user in one of `allowed` (any overlap)? An empty list allows everyone.
pub fn groups_allowed(groups: &[String], allowed: &[String]) -> bool {
    allowed.is_empty() || groups.iter().any(|g| allowed.contains(g))
}

/// The login-time policy: email, then groups, as oauth2-proxy orders them.
pub fn authorize(cfg: &Config, allowed_emails: &std::collections::HashSet<String>, email: &str, groups: &[String]) -> Result<(), Denied> {
    authorize_provider(cfg, allowed_emails, email, groups, &cfg.allowed_groups, &[])
}

/// [`authorize`] for a session of one provider of several: its own `allowed_groups`, and its
/// own email domains (when it has any) on top of the global ones: a provider's rules only
/// ever narrow who the global rules let in.
pub fn authorize_provider(
    cfg: &Config,
    allowed_emails: &std::collections::HashSet<String>,
    email: &str,
    groups: &[String],
    allowed_groups: &[String],
    provider_domains: &[String],
) -> Result<(), Denied> {
    if !email_allowed(email, &cfg.email_domains, allowed_emails) {
        return Err(Denied::Email);
    }
    if !provider_domains.is_empty() && !email_allowed(email, provider_domains, &std::collections::HashSet::new()) {
        return Err(Denied::Email);
    }
    if !groups_allowed(groups, allowed_groups) {
        return Err(Denied::Groups);
    }
    Ok(())
}

/// The policy for htpasswd users: no provider vouches for an email, so `allowed_groups`
/// (met with `htpasswd_user_groups`) decides, as in oauth2-proxy.
pub fn authorize_htpasswd(cfg: &Config, groups: &[String]) -> Result<(), Denied> {
    if groups_allowed(groups, &cfg.allowed_groups) { Ok(()) } else { Err(Denied::Groups) }
}

/// Is `rd` a safe place to send the browser after login or logout?
///
/// Relative paths are allowed when no browser could read them as scheme-relative (`//host`,
/// `/\host`, with whitespace, control characters or their percent-encodings in between).
/// Absolute `http(s)` URLs are allowed only for hosts in `whitelist_domains`, and never with
/// user information (`https://good@evil`).
pub fn is_valid_redirect(rd: &str, whitelist: &[String]) -> bool {
    if rd.is_empty() || has_control_or_space(rd) {
        return false;
    }
    // Decoded (up to three times, so %252F cannot hide a slash), the target must still be
    // valid UTF-8 (no overlong forms such as %c0%af) without control characters.
    let Some(decoded) = percent_decode(rd) else { return false };
    if decoded.chars().any(char::is_control) {
        return false;
    }
    if rd.starts_with('/') {
        return !looks_scheme_relative(rd) && !looks_scheme_relative(&decoded);
    }
    let lower = rd.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return false;
    }
    let Ok(url) = url::Url::parse(rd) else {
        return false;
    };
    if !url.username().is_empty()
        || url.password().is_some()
        || rd[lower.find("//").map_or(0, |i| i + 2)..].split(['/', '?', '#']).next().is_some_and(|auth| auth.contains('@'))
    {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    host_allowed(host, url.port(), whitelist)
}

/// A relative path a browser would treat as `//host`: `//`, `/\`, `\\`, or a slash, then
/// spaces or dots, then a slash (oauth2-proxy's `[/\\](?:[\s\v]*|\.{1,2})[/\\]`).
fn looks_scheme_relative(path: &str) -> bool {
    let b = path.as_bytes();
    if b.len() < 2 || !matches!(b[0], b'/' | b'\\') {
        return false;
    }
    let rest = &path[1..];
    let after_ws = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{b}');
    if after_ws.starts_with(['/', '\\']) {
        return true;
    }
    for dots in [".", ".."] {
        if let Some(r) = rest.strip_prefix(dots)
            && r.starts_with(['/', '\\'])
        {
            return true;
        }
    }
    false
}

fn has_control_or_space(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// Decodes `%XX` escapes repeatedly (at most three rounds); `None` when a round yields bytes
/// that are not UTF-8 (overlong encodings and other tricks).
fn percent_decode(s: &str) -> Option<String> {
    let mut cur = s.to_string();
    for _ in 0..3 {
        let next = String::from_utf8(crate::base::text::percent_decode(&cur, false)?).ok()?;
        if next == cur {
            break;
        }
        cur = next;
    }
    Some(cur)
}

/// Does `host[:port]` match a whitelist entry? Entries: `host`, `.domain` (domain and
/// subdomains), `*.domain` (subdomains), each optionally with `:port` or `:*`; an entry
/// without a port allows only URLs without one. Host names compare without case.
pub fn host_allowed(host: &str, port: Option<u16>, whitelist: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    whitelist.iter().any(|entry| endpoint_allowed(&host, port, entry))
}

/// One entry of [`host_allowed`], compared exactly (the caller folds case where it should).
fn endpoint_allowed(host: &str, port: Option<u16>, entry: &str) -> bool {
    let (pattern, entry_port) = match entry.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (p == "*" || p.parse::<u16>().is_ok()) => (h, Some(p)),
        _ => (entry, None),
    };
    let name_ok = if let Some(parent) = pattern.strip_prefix("*.") {
        host.strip_suffix(parent).is_some_and(|head| head.len() > 1 && head.ends_with('.'))
    } else if let Some(parent) = pattern.strip_prefix('.') {
        host == parent || host.strip_suffix(parent).is_some_and(|head| head.len() > 1 && head.ends_with('.'))
    } else {
        host == pattern
    };
    let port_ok = match (entry_port, port) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some("*"), _) => true,
        (Some(p), Some(port)) => p.parse::<u16>().ok() == Some(port),
        (Some(_), None) => false,
    };
    name_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn email_domains() {
        let none = HashSet::new();
        let d = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(email_allowed("a@corp.com", &d(&["corp.com"]), &none));
        assert!(!email_allowed("a@evil.com@corp.com", &d(&["corp.com"]), &none));
        assert!(!email_allowed("a@badcorp.com", &d(&[".corp.com"]), &none));
        assert!(email_allowed("a@x.corp.com", &d(&[".corp.com"]), &none));
        assert!(email_allowed("A@CORP.COM", &d(&["corp.com"]), &none));
        assert!(email_allowed("anyone@anything", &d(&["*"]), &none));
        assert!(!email_allowed("", &d(&["*"]), &none));
    }

    #[test]
    fn redirects() {
        let wl: Vec<String> = vec!["app.example.com".into(), ".corp.example".into(), "ports.example:8443".into(), "any.example:*".into()];
        for ok in [
            "/",
            "/app/page?x=1&y=2",
            "/a/b#frag",
            "https://app.example.com/x",
            "http://corp.example/",
            "https://a.corp.example/",
            "https://ports.example:8443/",
            "https://any.example:1234/",
        ] {
            assert!(is_valid_redirect(ok, &wl), "{ok} should be allowed");
        }
        for bad in [
            "",
            "//evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "/%2F/evil.com",
            "/%5Cevil.com",
            "/\t/evil.com",
            "/%09/evil.com",
            "/ /evil.com",
            "/./evil.com",
            "/../evil.com",
            "https://evil.com/",
            "https://app.example.com@evil.com/",
            "https://badcorp.example/",
            "https://ports.example/",
            "https://ports.example:9999/",
            "https://app.example.com:8443/",
            "javascript:alert(1)",
            "data:text/html,x",
            "evil.com",
            "http:/evil.com",
            "/%252F/evil.com",
            "/\u{0}x",
        ] {
            assert!(!is_valid_redirect(bad, &wl), "{bad:?} should be refused");
        }
    }
}
