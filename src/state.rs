//! What the gate, the middleware and the handlers share: the provider, the session store, the
//! policy, and the settings they need. Built once by `App::build`, shared by every worker.

use std::collections::HashSet;
use std::sync::Arc;

use crate::authz;
use crate::identity;
use crate::oidc::Provider;
use crate::reload::Watched;
use crate::session::{CookieConfig, CsrfCookies, Sessions};

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

pub struct State {
    pub provider: Arc<Provider>,
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

    pub fn path(&self, endpoint: &str) -> String {
        format!("{}/{endpoint}", self.proxy_prefix)
    }
}
