//! The gate: one view of a request, one decision on it.
//!
//! Every way Gatehouse is asked whether a request may pass goes through here: nginx's
//! `/oauth2/auth`, Traefik's and Envoy's `/oauth2/verify`, Envoy's path form, and the
//! standalone proxy. [`View`] reads the request once (method, path in its readings, host,
//! scheme, client IP, constraints, and where each came from); [`decide`] loads the session and
//! turns the view into a [`Verdict`] once. Handlers only render the verdict, and the proxy
//! forwards exactly the method and URI the verdict was made on (`View::method`, `View::uri`).
//!
//! The rules it keeps (ARCHITECTURE.md, "The gate"):
//! - what a client can put in a request may only narrow access, never widen it;
//! - a proxied request is judged as itself, never by forwarded URI or method headers;
//! - a path skips authentication only when every reading of it agrees ([`path`]);
//! - constraints from several sources must all hold;
//! - an unknown client IP is never a trusted one.
//!
//! Never: builds responses or chooses status codes; those are the endpoints' (rendering) and
//! `http::error`'s.

pub mod authenticate;
pub mod path;
pub mod view;

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::cookie::Cookie;

pub use path::RequestPath;
pub use view::{Client, Edge, View};

use crate::http::error::AuthError;
use crate::session::SessionState;
use crate::state::State;

/// What the gate says about a request.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// A session that meets the policy and every constraint: pass, with its identity.
    Allowed(Arc<SessionState>),
    /// No usable session, but a rule lets the request through (preflight, skip route,
    /// trusted IP): pass, with no identity.
    Anonymous,
    /// No session: log in (a navigation) or 401.
    Unauthenticated,
    /// Signed in, but a route constraint refuses this session.
    Forbidden(Arc<SessionState>),
    /// Signed in, but the policy (email, groups, htpasswd file) refused the session, which
    /// was cleared.
    Denied,
}

/// A verdict and the cookies the response must carry (a refreshed session, or the deletion
/// of one that ended), whatever it renders as.
pub struct Decision {
    pub verdict: Verdict,
    pub set_cookies: Vec<Cookie<'static>>,
}

/// Decides on `view`: loads the request's session (oauth2-proxy's loaders, refresh included,
/// so rules see refreshed groups at once) and applies the policy, the constraints and the
/// rules for requests that need no session.
pub async fn decide(state: &State, req: &HttpRequest, view: &View) -> Result<Decision, AuthError> {
    let current = authenticate::authenticate(state, req).await?;
    let verdict = match current.session {
        Some(s) if !view.constraints_allow(&s.email, &s.groups) => Verdict::Forbidden(s),
        Some(s) => Verdict::Allowed(s),
        None if view.allowed_without_auth(&state.authz) => Verdict::Anonymous,
        None if current.denied => Verdict::Denied,
        None => Verdict::Unauthenticated,
    };
    state.metrics.auth(match verdict {
        Verdict::Allowed(_) => "authenticated",
        Verdict::Anonymous => "skipped",
        Verdict::Forbidden(_) | Verdict::Denied => "forbidden",
        Verdict::Unauthenticated => "unauthenticated",
    });
    Ok(Decision { verdict, set_cookies: current.set_cookies })
}
