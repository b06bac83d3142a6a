//! What the gate, the middleware and the handlers share: the provider, the session store, the
//! policy, and the settings they need. Built once by `App::build`, shared by every worker.

use std::collections::HashSet;
use std::sync::Arc;

use crate::authz;
use crate::identity::{self, Identity};
use crate::oidc::Provider;
use crate::reload::Watched;
use crate::session::{CookieConfig, CsrfCookies, SessionState, Sessions};

use crate::pages;
use crate::session::Refreshes;

/// Where the process is in its life (`App::serve` moves it on at SIGTERM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Serving,
    /// SIGTERM came: `/ready` answers 503, and requests are still served for `shutdown_delay`.
    Draining,
    /// The listeners close; requests in flight are answered and WebSockets are closed.
    Stopping,
}

/// One provider users may log in with, and who it may let in.
pub struct Registered {
    /// Alpha `id`; empty for the legacy single provider.
    pub id: String,
    pub provider: Arc<Provider>,
    /// Its sessions must be in one of these groups (none: no group rule).
    pub allowed_groups: Vec<String>,
    /// Its sessions' emails must also match one of these (none: no further rule).
    pub email_domains: Vec<String>,
    /// Hosts (`app.example.com`, `*.example.com`) and path prefixes (`/admin/`) whose logins
    /// go to it without a choice.
    pub default_for: Vec<String>,
}

/// The providers (alpha `providers:`), in their order; at least one.
pub struct Providers(pub Vec<Registered>);

impl Providers {
    pub fn first(&self) -> &Registered {
        &self.0[0]
    }

    /// More than one: a choice to offer, and sessions that remember theirs.
    pub fn several(&self) -> bool {
        self.0.len() > 1
    }

    pub fn by_id(&self, id: &str) -> Option<&Registered> {
        self.0.iter().find(|p| p.id == id)
    }

    /// The provider that issued a session (or began a login): the one it names; with one
    /// provider, that one when it names none. `None` when it names one no longer configured,
    /// or none while there are several (a session from before: which provider issued it
    /// cannot be known, so the session ends rather than be judged by another's rules).
    pub fn of(&self, named: Option<&str>) -> Option<&Registered> {
        match named {
            None if self.several() => None,
            None => Some(self.first()),
            Some(id) => self.by_id(id),
        }
    }

    /// The last segment of a provider's callback path: none for the first (so one provider's
    /// callback is oauth2-proxy's), its id for each further one. A callback then names the
    /// provider its URL was registered for, and a code one provider sends to another's
    /// callback is refused (the mix-up attack, OAuth 2.0 Security BCP 4.4.2).
    pub fn callback_segment<'a>(&self, via: &'a Registered) -> Option<&'a str> {
        (self.several() && via.id != self.first().id).then_some(via.id.as_str())
    }

    /// With several providers, the prefix of the user and groups a provider's sessions show
    /// rules, headers and userinfo: its id, for every provider (`gh:acme`, `corp:admins`).
    /// A provider's users choose much of what it says (anyone can found a GitHub organization,
    /// and a GitHub team is already `org:team`), so no provider's word may pass for another's;
    /// ids hold no `:`, so the first `:` always ends the provider's name. With one provider,
    /// nothing (everything as in oauth2-proxy).
    pub fn qualifier<'a>(&self, via: &'a Registered) -> Option<&'a str> {
        self.several().then_some(via.id.as_str())
    }

    /// The provider whose `defaultFor` takes a login to `host` and `path`, if one does.
    pub fn default_for(&self, host: &str, path: &str) -> Option<&Registered> {
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        self.0.iter().find(|p| {
            p.default_for.iter().any(|rule| match rule.strip_prefix("*.") {
                _ if rule.starts_with('/') => path.starts_with(rule.as_str()),
                Some(domain) => host.ends_with(&format!(".{}", domain.to_ascii_lowercase())),
                None => host == rule.to_ascii_lowercase(),
            })
        })
    }

    /// Every provider has its endpoints and keys.
    pub fn ready(&self) -> bool {
        self.0.iter().all(|p| p.provider.is_ready())
    }
}

pub struct State {
    /// The first provider (with one provider, the only one).
    pub provider: Arc<Provider>,
    pub providers: Providers,
    pub sessions: Sessions,
    pub csrf: CsrfCookies,
    pub cookie: CookieConfig,
    pub authz: authz::Config,
    /// `authenticated_emails_file`, lower-cased, reloaded when the file changes.
    pub allowed_emails: Option<Arc<Watched<HashSet<String>>>>,
    /// `skip_jwt_bearer_tokens`: the bearer token verifier and its memory.
    pub bearer: Option<crate::oidc::bearer::Bearer>,
    /// `htpasswd_file`, reloaded when the file changes.
    pub htpasswd: Option<crate::htpasswd::Htpasswd>,
    pub headers: identity::Config,
    /// `headers.request_strip()`, computed once: client headers never passed upstream.
    pub request_strip: Vec<String>,
    pub pages: Arc<pages::Config>,
    pub proxy_prefix: String,
    /// Which peers' forwarded headers are believed.
    pub trust: crate::http::request::TrustConfig,
    pub refreshes: Refreshes,
    /// Upstreams by path (reverse-proxy mode); empty in forward-auth-only deployments.
    pub router: crate::proxy::Router,
    /// Where the process is in its life: `/ready` answers 503 once it is not `Serving`, and
    /// relayed WebSockets close with "going away" (1001) when it is `Stopping`.
    pub lifecycle: Arc<tokio::sync::watch::Sender<Lifecycle>>,
    /// `session_cookie_minimal`: keep no tokens in the session.
    pub minimal: bool,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub log: Arc<crate::telemetry::Logger>,
}

static NO_EMAILS: std::sync::LazyLock<Arc<HashSet<String>>> = std::sync::LazyLock::new(Arc::default);

impl State {
    /// The addresses in `authenticated_emails_file` as it is now (empty without one).
    pub fn allowed_emails(&self) -> Arc<HashSet<String>> {
        match &self.allowed_emails {
            Some(w) => w.get(),
            None => NO_EMAILS.clone(),
        }
    }

    /// The policy's verdict on a session `via` a provider: `email_domains` (or the emails
    /// file), the provider's groups, and the provider's own email domains.
    pub fn authorize(&self, via: &Registered, email: &str, groups: &[String]) -> Result<(), authz::Denied> {
        authz::authorize_provider(&self.authz, &self.allowed_emails(), email, groups, &via.allowed_groups, &via.email_domains)
    }

    /// What a session records of its provider: its id when there are several, else nothing
    /// (single-provider sessions stay as they were).
    pub fn provider_mark(&self, via: &Registered) -> Option<String> {
        self.providers.several().then(|| via.id.clone())
    }

    /// The identity of a session as rules, headers and userinfo see it: qualified by its
    /// provider ([`Providers::qualifier`]); htpasswd users are nobody's.
    pub fn seen_identity(&self, s: &SessionState) -> Identity {
        let identity = s.identity();
        match self.qualifier_of(s) {
            Some(q) => identity.qualified(q),
            None => identity,
        }
    }

    /// The groups of a session as rules see them (borrowed when unqualified).
    pub fn seen_groups<'a>(&self, s: &'a SessionState) -> std::borrow::Cow<'a, [String]> {
        crate::identity::qualify_groups(&s.groups, self.qualifier_of(s))
    }

    fn qualifier_of(&self, s: &SessionState) -> Option<&str> {
        if s.htpasswd {
            return None;
        }
        // A session of a provider no longer configured never reaches a rule.
        self.providers.of(s.provider.as_deref()).and_then(|via| self.providers.qualifier(via))
    }

    pub fn path(&self, endpoint: &str) -> String {
        format!("{}/{endpoint}", self.proxy_prefix)
    }
}
