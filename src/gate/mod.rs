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

use crate::authz::Constraints;
use crate::authz::rules::{Judgement, Methods, Rules};
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
    /// A route rule refuses the request to everyone (`deny`).
    Refused,
}

/// A verdict and the cookies the response must carry (a refreshed session, or the deletion
/// of one that ended), whatever it renders as.
pub struct Decision {
    pub verdict: Verdict,
    pub set_cookies: Vec<Cookie<'static>>,
}

/// The constraints (the view's and the matched rules') allow this email and these groups.
fn allowed(view: &View, required: &[&Constraints], email: &str, groups: &[String]) -> bool {
    view.constraints_allow(email, groups) && required.iter().all(|c| c.allow(email, groups))
}

/// Decides on `view`: loads the request's session (oauth2-proxy's loaders, refresh included,
/// so rules see refreshed groups at once) and applies the policy, the constraints and the
/// rules for requests that need no session.
pub async fn decide(state: &State, req: &HttpRequest, view: &View) -> Result<Decision, AuthError> {
    // Route rules first: where one matches it decides, and skip routes, trusted IPs and
    // preflights no longer widen.
    let rules = &state.authz.route_rules;
    let judgement = view.judge_rules(rules);
    if let Judgement::Deny(i) = judgement {
        log::info!("refused by route rule {} ({})", i + 1, rules.0[i].text);
        state.metrics.auth("forbidden");
        return Ok(Decision { verdict: Verdict::Refused, set_cookies: Vec::new() });
    }
    let required: Vec<&Constraints> = match &judgement {
        Judgement::Require(matched) => rules.constraints(matched).collect(),
        _ => Vec::new(),
    };
    let current = authenticate::authenticate(state, req).await?;
    let verdict = match current.session {
        // Rules see the groups as headers show them (a further provider's qualified by its id).
        Some(s) if !allowed(view, &required, &s.email, &state.seen_groups(&s)) => Verdict::Forbidden(s),
        Some(s) => Verdict::Allowed(s),
        // Public by a rule, unless another source (the check's query, a route header) asks for
        // someone in particular: a constraint can only narrow.
        None if matches!(judgement, Judgement::Allow(_)) && view.constraints_allow("", &[]) => Verdict::Anonymous,
        None if judgement == Judgement::NoRule && view.allowed_without_auth(&state.authz) => Verdict::Anonymous,
        None if current.denied => Verdict::Denied,
        None => Verdict::Unauthenticated,
    };
    state.metrics.auth(match verdict {
        Verdict::Allowed(_) => "authenticated",
        Verdict::Anonymous => "skipped",
        Verdict::Forbidden(_) | Verdict::Denied | Verdict::Refused => "forbidden",
        Verdict::Unauthenticated => "unauthenticated",
    });
    Ok(Decision { verdict, set_cookies: current.set_cookies })
}

/// `--explain METHOD URL`: what `route_rules` decide for a request, in words, read as the gate
/// reads it (both readings of the path; an `allow` only on a plain path).
pub fn explain(rules: &Rules, method: &str, url: &str) -> String {
    // Read as sent, not as a URL parser would clean it up: an edge proxy passes dot segments
    // and encodings on, and the gate reads both readings of them.
    let Some((authority, uri)) = url.split_once("://").map(|(_, rest)| match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    }) else {
        return format!("{method} {url}: not an absolute URL (write https://host/path?query)");
    };
    let uri = if uri.starts_with('?') { format!("/{uri}") } else { uri };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let path = RequestPath::parse(&uri);
    let method = method.to_ascii_uppercase();
    let rule = |i: usize| format!("rule {} ({})", i + 1, rules.0[i].text);
    let stated = [method.clone()];
    let said = match rules.judge(Methods::Known(&stated), host, &[&path.decoded, &path.normalised], path.plain) {
        Judgement::NoRule => "no rule matches: the other options decide (a session, unless skip_auth_routes, trusted_ips or skip_auth_preflight let it through)".to_string(),
        Judgement::Allow(i) => format!("public, by {}", rule(i)),
        Judgement::Deny(i) => format!("refused to everyone (403), by {}", rule(i)),
        Judgement::Require(matched) if matched.is_empty() => {
            "a session is needed: an allow rule matches, but the path is not plain (encoded or dot segments) or its readings disagree, so it does not widen".to_string()
        }
        Judgement::Require(matched) => {
            format!("a session is needed that meets {}", matched.iter().map(|&i| rule(i)).collect::<Vec<_>>().join(" and "))
        }
    };
    format!("{method} {url}: {said}")
}
