//! The CSRF cookie: the login state kept between `/oauth2/start` and `/oauth2/callback`.

use actix_web::cookie::Cookie;
use serde::{Deserialize, Serialize};

use super::crypto::Purpose;
use super::jar::{CookieFactory, RequestCookies};
use super::{CookieConfig, SameSite, now};
use crate::base::secret::constant_time_eq;

/// The login state kept in the CSRF cookie between `/oauth2/start` and `/oauth2/callback`.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginState {
    /// The raw CSRF value; the `state` parameter carries its hash.
    #[serde(rename = "s")]
    pub csrf: String,
    /// The raw nonce; the ID token carries its hash.
    #[serde(rename = "n")]
    pub nonce: String,
    #[serde(rename = "cv", default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
    #[serde(rename = "ca")]
    pub created_at: u64,
    /// The provider this login went to, by id, when there are several.
    #[serde(rename = "pv", default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// Why the CSRF cookie did not give a login state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    #[error("no CSRF cookie")]
    Missing,
    #[error("the CSRF cookie does not open")]
    Invalid,
    #[error("the CSRF cookie has expired")]
    Expired,
}

/// The CSRF cookie: `<name>_csrf`, or `<name>_<8 chars of the state hash>_csrf` per request.
pub struct CsrfCookies {
    cookies: CookieFactory,
}

impl CsrfCookies {
    pub fn new(cfg: &CookieConfig) -> Self {
        CsrfCookies { cookies: CookieFactory::new(cfg.clone()) }
    }

    pub fn name(&self, state_hash: &str) -> String {
        let cfg = self.cookies.config();
        if cfg.csrf_per_request {
            format!("{}_{}_csrf", cfg.name, state_hash.chars().take(8).collect::<String>())
        } else {
            format!("{}_csrf", cfg.name)
        }
    }

    /// The cookie to set at `/oauth2/start`, plus deletions of the oldest per-request CSRF
    /// cookies beyond `cookie_csrf_per_request_limit`. With the single CSRF cookie (the
    /// default), the logins still pending in it are kept beside the new one (at most
    /// [`PENDING_LOGINS`]), so two tabs signing in at once both come back.
    pub fn set(&self, login: &LoginState, state_hash: &str, host: &str, request: &RequestCookies) -> Vec<Cookie<'static>> {
        let cfg = self.cookies.config();
        let name = self.name(state_hash);
        let mut pending = if cfg.csrf_per_request { Vec::new() } else { self.pending(request, &name) };
        pending.retain(|p| p.csrf != login.csrf);
        let keep = pending.len().saturating_sub(PENDING_LOGINS - 1);
        pending.drain(..keep);
        pending.push(login.clone());
        let mut out = vec![self.write(&name, &pending, host)];
        if cfg.csrf_per_request && cfg.csrf_per_request_limit > 0 {
            let prefix = format!("{}_", cfg.name);
            let existing: Vec<&str> =
                request.names().filter(|n| n.starts_with(&prefix) && n.ends_with("_csrf") && n.len() == prefix.len() + 8 + 5).collect();
            // Cookies arrive oldest first in practice (browsers order by creation time).
            let excess = (existing.len() + 1).saturating_sub(cfg.csrf_per_request_limit);
            out.extend(existing.iter().take(excess).map(|n| self.cookies.expire(n, host, self.cookies.config().csrf_samesite)));
        }
        out
    }

    fn write(&self, name: &str, pending: &[LoginState], host: &str) -> Cookie<'static> {
        let cfg = self.cookies.config();
        let json = serde_json::to_vec(pending).expect("login states serialise");
        self.cookies.build(name, cfg.keys.get().seal(Purpose::Csrf, name, &json), host, cfg.csrf_expire, cfg.csrf_samesite)
    }

    /// The login states in the named CSRF cookie, unexpired ones only; `Err` when there is no
    /// such cookie or it does not open.
    fn pending_or(&self, request: &RequestCookies, name: &str) -> Result<Vec<LoginState>, CsrfError> {
        let value = request.get(name).ok_or(CsrfError::Missing)?;
        let plain = self.cookies.config().keys.get().open(Purpose::Csrf, name, value).map_err(|_| CsrfError::Invalid)?;
        let states = match serde_json::from_slice::<PendingLogins>(&plain) {
            Ok(PendingLogins::Many(v)) => v,
            // A cookie written before pending logins were kept together.
            Ok(PendingLogins::One(one)) => vec![one],
            Err(_) => return Err(CsrfError::Invalid),
        };
        let (max_age, now) = (self.cookies.config().csrf_expire.as_secs(), now());
        Ok(states.into_iter().filter(|l| now.saturating_sub(l.created_at) <= max_age).collect())
    }

    fn pending(&self, request: &RequestCookies, name: &str) -> Vec<LoginState> {
        self.pending_or(request, name).unwrap_or_default()
    }

    /// The login state whose CSRF value `state_hash` names.
    pub fn read(&self, request: &RequestCookies, state_hash: &str) -> Result<LoginState, CsrfError> {
        let pending = self.pending_or(request, &self.name(state_hash))?;
        // Compared in constant time; a state that matches none is the callback's mismatch.
        let found = pending.iter().find(|l| constant_time_eq(crate::oidc::flow::hash_b64(&l.csrf).as_bytes(), state_hash.as_bytes()));
        found.or(pending.last()).cloned().ok_or(CsrfError::Expired)
    }

    /// Ends the login `state_hash` names: the cookie goes, or keeps the other logins still
    /// pending in it. A state that names none of them (a mismatch) ends them all, as in
    /// oauth2-proxy, unless the cookie is `SameSite=None` (`form_post`): then any site can make
    /// the browser send a callback with a made-up state, and must not end the logins in
    /// progress with it.
    pub fn clear(&self, state_hash: &str, host: &str, request: &RequestCookies) -> Cookie<'static> {
        let name = self.name(state_hash);
        let mut pending = self.pending(request, &name);
        let before = pending.len();
        pending.retain(|l| !constant_time_eq(crate::oidc::flow::hash_b64(&l.csrf).as_bytes(), state_hash.as_bytes()));
        let cross_site = self.cookies.config().csrf_samesite == SameSite::None;
        if pending.is_empty() || (pending.len() == before && !cross_site) {
            self.cookies.expire(&name, host, self.cookies.config().csrf_samesite)
        } else {
            self.write(&name, &pending, host)
        }
    }
}

/// How many logins one browser may have pending in the single CSRF cookie (tabs signing in at
/// once); the oldest goes first.
pub const PENDING_LOGINS: usize = 4;

/// The CSRF cookie's content: the pending logins, or (written before they were kept
/// together) one.
#[derive(Deserialize)]
#[serde(untagged)]
enum PendingLogins {
    Many(Vec<LoginState>),
    One(LoginState),
}
