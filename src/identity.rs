//! Who the user is, and which headers carry that to upstreams and edge proxies.
//!
//! Owns [`Identity`] (the claims a session holds) and the header rules built from oauth2-proxy's
//! `pass_*`/`set_*` options or alpha `inject*Headers`. Both configuration forms become the same
//! [`HeaderRule`] list, so header semantics live in one place.
//!
//! Invariant: pure values, no IO and no HTTP types.

use crate::base::Secret;

/// The identity a session carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The `sub` claim (GitLab: the nickname, the `sub` being in `subject`).
    pub user: String,
    /// The provider's subject when `user` is not it (GitLab's nickname).
    pub subject: Option<String>,
    pub email: String,
    pub groups: Vec<String>,
    pub preferred_username: String,
    /// The alpha `additionalClaims` the provider stated, as they were.
    pub additional: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Identity {
    /// This identity as one provider among several shows it: user, preferred username and
    /// each group prefixed with `<by>:`, so it can never pass for another provider's.
    pub fn qualified(mut self, by: &str) -> Identity {
        let q = |v: &mut String| {
            if !v.is_empty() {
                *v = format!("{by}:{v}");
            }
        };
        q(&mut self.user);
        q(&mut self.preferred_username);
        self.groups = qualify_groups(&self.groups, Some(by)).into_owned();
        // The alpha `additionalClaims` too, each value as the text a header carries.
        for value in self.additional.values_mut() {
            let text = |s: String| serde_json::Value::String(format!("{by}:{s}"));
            *value = match value {
                serde_json::Value::Array(_) => {
                    serde_json::Value::Array(coerce(value).into_iter().filter(|s| !s.is_empty()).map(text).collect())
                }
                _ => coerce(value).into_iter().find(|s| !s.is_empty()).map_or(serde_json::Value::Null, text),
            };
        }
        self
    }
}

/// `groups` prefixed with `<by>:` when `by` is given ([`Identity::qualified`]).
pub fn qualify_groups<'a>(groups: &'a [String], by: Option<&str>) -> std::borrow::Cow<'a, [String]> {
    match by {
        Some(by) => groups.iter().filter(|g| !g.is_empty()).map(|g| format!("{by}:{g}")).collect::<Vec<_>>().into(),
        None => groups.into(),
    }
}

/// A session value a header can be built from (oauth2-proxy's claim names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    User,
    Email,
    Groups,
    PreferredUsername,
    AccessToken,
    IdToken,
    RefreshToken,
    CreatedAt,
    ExpiresOn,
    /// Any other claim name (alpha `additionalClaims`).
    Other(String),
}

impl Claim {
    /// The claim's name as configuration writes it (the inverse of [`Claim::parse`]).
    pub fn name(&self) -> &str {
        match self {
            Claim::User => "user",
            Claim::Email => "email",
            Claim::Groups => "groups",
            Claim::PreferredUsername => "preferred_username",
            Claim::AccessToken => "access_token",
            Claim::IdToken => "id_token",
            Claim::RefreshToken => "refresh_token",
            Claim::CreatedAt => "created_at",
            Claim::ExpiresOn => "expires_on",
            Claim::Other(name) => name,
        }
    }

    pub fn parse(name: &str) -> Claim {
        match name {
            "user" => Claim::User,
            "email" => Claim::Email,
            "groups" => Claim::Groups,
            "preferred_username" => Claim::PreferredUsername,
            "access_token" => Claim::AccessToken,
            "id_token" => Claim::IdToken,
            "refresh_token" => Claim::RefreshToken,
            "created_at" => Claim::CreatedAt,
            "expires_on" => Claim::ExpiresOn,
            other => Claim::Other(other.to_string()),
        }
    }
}

/// Where one value of a header comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValueSource {
    /// A session claim, optionally prefixed (`Bearer `) or turned into Basic credentials.
    Claim { claim: Claim, prefix: String, basic_auth_password: Option<Secret<String>> },
    /// A fixed secret value.
    Secret(Secret<String>),
}

/// One header to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRule {
    pub name: String,
    /// `name`, parsed once (a custom header name built from text allocates each time).
    pub header: actix_web::http::header::HeaderName,
    /// Keep a client-sent copy instead of removing it first (`skip_auth_strip_headers = false`,
    /// `preserveRequestValue`). A value Gatehouse sets still replaces it: oauth2-proxy appends
    /// (`forged,alice`), which lets an app that reads the first value trust the client.
    pub preserve_request_value: bool,
    pub values: Vec<HeaderValueSource>,
}

/// The header rules for requests sent upstream and for responses (including `/oauth2/auth`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub request: Vec<HeaderRule>,
    pub response: Vec<HeaderRule>,
}

/// The legacy header switches, as oauth2-proxy's `LegacyHeaders` has them.
#[derive(Debug, Clone, Default)]
pub struct LegacyHeaders {
    pub pass_basic_auth: bool,
    pub pass_access_token: bool,
    pub pass_user_headers: bool,
    pub pass_authorization_header: bool,
    pub set_basic_auth: bool,
    pub set_xauthrequest: bool,
    pub set_authorization_header: bool,
    pub prefer_email_to_user: bool,
    pub basic_auth_password: Option<Secret<String>>,
    pub skip_auth_strip_headers: bool,
}

impl HeaderRule {
    /// A rule for `name`, which must be a valid header name (letters, digits, `-`, `_`).
    pub fn new(name: &str, preserve_request_value: bool, values: Vec<HeaderValueSource>) -> Option<HeaderRule> {
        let header = actix_web::http::header::HeaderName::from_bytes(name.as_bytes()).ok()?;
        Some(HeaderRule { name: name.to_string(), header, preserve_request_value, values })
    }
}

fn claim(name: &str, c: Claim) -> HeaderRule {
    prefixed(name, c, "")
}

fn prefixed(name: &str, c: Claim, prefix: &str) -> HeaderRule {
    HeaderRule::new(name, false, vec![HeaderValueSource::Claim { claim: c, prefix: prefix.to_string(), basic_auth_password: None }])
        .expect("Gatehouse's own header names are valid")
}

fn basic_auth(prefer_email: bool, password: Option<Secret<String>>) -> HeaderRule {
    HeaderRule::new(
        "Authorization",
        false,
        vec![HeaderValueSource::Claim {
            claim: if prefer_email { Claim::Email } else { Claim::User },
            prefix: "Basic ".to_string(),
            basic_auth_password: Some(password.unwrap_or_else(|| Secret::new(String::new()))),
        }],
    )
    .expect("a valid header name")
}

impl LegacyHeaders {
    /// The header rules these switches mean, exactly as oauth2-proxy converts them.
    pub fn into_config(self) -> Config {
        let mut request = Vec::new();
        let has_password = self.basic_auth_password.as_ref().is_some_and(|p| !p.expose().is_empty());
        if self.pass_basic_auth && has_password {
            request.push(basic_auth(self.prefer_email_to_user, self.basic_auth_password.clone()));
        }
        // pass_user_headers is a subset of pass_basic_auth in oauth2-proxy: either enables them.
        if self.pass_basic_auth || self.pass_user_headers {
            request.push(claim("X-Forwarded-Groups", Claim::Groups));
            if self.prefer_email_to_user {
                request.push(claim("X-Forwarded-User", Claim::Email));
            } else {
                request.push(claim("X-Forwarded-User", Claim::User));
                request.push(claim("X-Forwarded-Email", Claim::Email));
            }
            request.push(claim("X-Forwarded-Preferred-Username", Claim::PreferredUsername));
        }
        if self.pass_access_token {
            request.push(claim("X-Forwarded-Access-Token", Claim::AccessToken));
        }
        if self.pass_authorization_header {
            request.push(prefixed("Authorization", Claim::IdToken, "Bearer "));
        }
        for rule in &mut request {
            rule.preserve_request_value = !self.skip_auth_strip_headers;
        }

        let mut response = Vec::new();
        if self.set_xauthrequest {
            response.push(claim("X-Auth-Request-User", Claim::User));
            response.push(claim("X-Auth-Request-Email", Claim::Email));
            response.push(claim("X-Auth-Request-Preferred-Username", Claim::PreferredUsername));
            response.push(claim("X-Auth-Request-Groups", Claim::Groups));
            if self.pass_access_token {
                response.push(claim("X-Auth-Request-Access-Token", Claim::AccessToken));
            }
        }
        if self.set_basic_auth {
            response.push(basic_auth(self.prefer_email_to_user, self.basic_auth_password));
        }
        if self.set_authorization_header {
            response.push(prefixed("Authorization", Claim::IdToken, "Bearer "));
        }
        Config { request, response }
    }
}

/// The session values headers are built from.
pub struct ClaimValues<'a> {
    pub identity: &'a Identity,
    pub access_token: Option<&'a str>,
    pub id_token: Option<&'a str>,
    pub refresh_token: Option<&'a str>,
    pub created_at: u64,
    pub expires_on: Option<u64>,
}

impl ClaimValues<'_> {
    /// Calls `f` with each value of `claim`, skipping empty ones, without copying them.
    fn each(&self, claim: &Claim, mut f: impl FnMut(&str)) {
        let mut one = |s: &str| {
            if !s.is_empty() {
                f(s)
            }
        };
        match claim {
            Claim::User => one(&self.identity.user),
            Claim::Email => one(&self.identity.email),
            // Each group as it is, as oauth2-proxy flattens a list claim.
            Claim::Groups => self.identity.groups.iter().for_each(|g| f(g)),
            Claim::PreferredUsername => one(&self.identity.preferred_username),
            Claim::AccessToken => one(self.access_token.unwrap_or_default()),
            Claim::IdToken => one(self.id_token.unwrap_or_default()),
            Claim::RefreshToken => one(self.refresh_token.unwrap_or_default()),
            Claim::CreatedAt => one(&self.created_at.to_string()),
            Claim::ExpiresOn => one(&self.expires_on.map(|e| e.to_string()).unwrap_or_default()),
            Claim::Other(name) => self.identity.additional.get(name).iter().flat_map(|v| coerce(v)).for_each(|v| one(&v)),
        }
    }
}

/// An additional claim as the strings a header carries, as oauth2-proxy coerces it: a list
/// gives each entry, anything else one value; strings as they are, other values as JSON.
pub fn coerce(value: &serde_json::Value) -> Vec<String> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    match value {
        serde_json::Value::Array(items) => items.iter().map(text).collect(),
        other => vec![text(other)],
    }
}

/// The headers `rules` produce for a session: `(name, value)`, values of one header joined
/// with `,` (oauth2-proxy's flattening, so groups arrive as `a,b,c`). A header whose claims are
/// all empty is left out.
pub fn render(rules: &[HeaderRule], claims: &ClaimValues<'_>) -> Vec<(actix_web::http::header::HeaderName, String)> {
    use base64::Engine;
    let mut out = Vec::with_capacity(rules.len());
    for rule in rules {
        // Built in place: this runs for every check and every proxied request.
        let mut joined = String::new();
        let mut count = 0;
        let mut push = |joined: &mut String, prefix: &str, v: &str| {
            if count > 0 {
                joined.push(',');
            }
            count += 1;
            joined.push_str(prefix);
            joined.push_str(v);
        };
        for source in &rule.values {
            match source {
                HeaderValueSource::Secret(s) => push(&mut joined, "", s.expose()),
                HeaderValueSource::Claim { claim, prefix, basic_auth_password } => claims.each(claim, |v| match basic_auth_password {
                    Some(password) => {
                        push(&mut joined, prefix, &base64::engine::general_purpose::STANDARD.encode(format!("{v}:{}", password.expose())))
                    }
                    None => push(&mut joined, prefix, v),
                }),
            }
        }
        if count > 0 {
            out.push((rule.header.clone(), joined));
        }
    }
    out
}

/// A header whose value would not be a valid header value (a control character in a claim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrenderable(pub actix_web::http::header::HeaderName);

/// [`render`], as header values: all of them, or the first header that cannot be one. A caller
/// refuses the request then, so a request never passes with part of its identity missing.
pub fn render_headers(
    rules: &[HeaderRule],
    claims: &ClaimValues<'_>,
) -> Result<Vec<(actix_web::http::header::HeaderName, actix_web::http::header::HeaderValue)>, Unrenderable> {
    render(rules, claims)
        .into_iter()
        // From the `String` itself: no copy.
        .map(|(name, value)| match actix_web::http::header::HeaderValue::try_from(value) {
            Ok(v) => Ok((name, v)),
            Err(_) => Err(Unrenderable(name)),
        })
        .collect()
}

/// Identity headers oauth2-proxy or Gatehouse set in some configuration. A client-sent copy
/// of any of them is removed on the way to an upstream even when this configuration does not
/// set it: an app may trust a header that the proxy in front happens not to manage.
const WELL_KNOWN: [&str; 13] = [
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Forwarded-Preferred-Username",
    "X-Forwarded-Groups",
    "X-Forwarded-Access-Token",
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Preferred-Username",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Access-Token",
    "X-Auth-Request-Id-Token",
    "Gap-Auth",
    "Gap-Signature",
];

impl Config {
    /// Request headers whose client-sent copies never reach an upstream: the configured ones
    /// (unless `preserveRequestValue` / `skip_auth_strip_headers = false` keeps them) and
    /// every [`WELL_KNOWN`] name that no rule preserves.
    pub fn request_strip(&self) -> Vec<String> {
        let preserved = |name: &str| self.request.iter().any(|r| r.preserve_request_value && same_header(&r.name, name));
        self.request
            .iter()
            .filter(|r| !r.preserve_request_value)
            .map(|r| r.name.clone())
            .chain(WELL_KNOWN.iter().filter(|n| !preserved(n)).map(|n| n.to_string()))
            .collect()
    }
}

/// Do two header names match, in any case and with `_` for `-`?
/// Client-sent copies of these are removed before any are added (GHSA-vjrc-mh2v-45x6).
pub fn same_header(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).all(|(x, y)| {
            let norm = |c: u8| {
                if c == b'_' { b'-' } else { c.to_ascii_lowercase() }
            };
            norm(x) == norm(y)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qualified_identity_names_its_provider_in_user_and_groups() {
        let id = Identity {
            user: "alice".into(),
            email: "a@x".into(),
            groups: vec!["acme".into(), String::new(), "acme:ops".into()],
            ..Identity::default()
        };
        let mut id = id;
        id.additional.insert("roles".into(), serde_json::json!(["admin", 3]));
        id.additional.insert("dept".into(), serde_json::json!("sales"));
        let q = id.clone().qualified("gh");
        assert_eq!(q.additional["roles"], serde_json::json!(["gh:admin", "gh:3"]));
        assert_eq!(q.additional["dept"], serde_json::json!("gh:sales"));
        assert_eq!((q.user.as_str(), q.email.as_str(), q.preferred_username.as_str()), ("gh:alice", "a@x", ""));
        assert_eq!(q.groups, ["gh:acme", "gh:acme:ops"]);
        assert!(matches!(qualify_groups(&id.groups, None), std::borrow::Cow::Borrowed(_)));
    }

    fn names(rules: &[HeaderRule]) -> Vec<&str> {
        rules.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn tutorial_switches_give_the_tutorial_headers() {
        let cfg = LegacyHeaders {
            pass_basic_auth: true,
            pass_user_headers: true,
            pass_access_token: true,
            set_xauthrequest: true,
            set_authorization_header: true,
            skip_auth_strip_headers: true,
            ..Default::default()
        }
        .into_config();
        assert_eq!(
            names(&cfg.request),
            ["X-Forwarded-Groups", "X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username", "X-Forwarded-Access-Token"]
        );
        assert_eq!(
            names(&cfg.response),
            [
                "X-Auth-Request-User",
                "X-Auth-Request-Email",
                "X-Auth-Request-Preferred-Username",
                "X-Auth-Request-Groups",
                "X-Auth-Request-Access-Token",
                "Authorization"
            ]
        );
        assert!(cfg.request.iter().all(|r| !r.preserve_request_value));
    }

    #[test]
    fn prefer_email_drops_the_email_header() {
        let cfg =
            LegacyHeaders { pass_user_headers: true, prefer_email_to_user: true, skip_auth_strip_headers: true, ..Default::default() }
                .into_config();
        assert_eq!(names(&cfg.request), ["X-Forwarded-Groups", "X-Forwarded-User", "X-Forwarded-Preferred-Username"]);
    }
}
