//! What a session holds, and what loading one found.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::CookieConfig;
use super::refresh::Grant;
use crate::identity::Identity;

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch: when a login happened, finer than a second so that a
/// logout and a new login in the same second are told apart.
pub fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// How far in the future a session's creation time may lie (clock skew between instances),
/// as oauth2-proxy allows.
pub const FUTURE_SKEW_SECS: u64 = 300;

/// A logged-in user's session. Short field names keep the cookie small.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    #[serde(rename = "u")]
    pub user: String,
    /// The provider's subject when `user` is not it (GitLab's nickname): what a refresh must
    /// name again.
    #[serde(rename = "sb", default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(rename = "e", default)]
    pub email: String,
    #[serde(rename = "g", default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(rename = "pu", default, skip_serializing_if = "String::is_empty")]
    pub preferred_username: String,
    /// Alpha `additionalClaims`, as the provider stated them.
    #[serde(rename = "ac", default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub additional_claims: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(rename = "at", default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(rename = "it", default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(rename = "rt", default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the session was created or last refreshed (Unix seconds).
    #[serde(rename = "ca")]
    pub created_at: u64,
    /// When the access token expires (Unix seconds), if the provider said.
    #[serde(rename = "eo", default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<u64>,
    /// The nonce hash the ID token must carry, when nonces are checked.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The provider's session this login belongs to (the ID token's `sid`): what a
    /// back-channel logout names.
    #[serde(rename = "sd", default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the user logged in (Unix milliseconds). Unlike `created_at`, a refresh never moves
    /// it: a logout ends every session logged in before it. Zero (a session from before this
    /// field, or oauth2-proxy's) counts as before any logout.
    #[serde(rename = "li", default, skip_serializing_if = "is_zero")]
    pub login_at: u64,
    /// Signed in with the htpasswd form, not the provider: no tokens, no refresh, and the
    /// user must still be in the file.
    #[serde(rename = "hp", default, skip_serializing_if = "std::ops::Not::not")]
    pub htpasswd: bool,
    /// The provider that issued it, by id, when there are several: its refreshes and rules
    /// are that provider's.
    #[serde(rename = "pv", default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl fmt::Debug for SessionState {
    // Tokens never reach a log, even through a stray `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionState")
            .field("user", &self.user)
            .field("email", &self.email)
            .field("groups", &self.groups)
            .field("created_at", &self.created_at)
            .field("login_at", &self.login_at)
            .field("expires_on", &self.expires_on)
            .field("tokens", &"<redacted>")
            .finish()
    }
}

impl SessionState {
    pub fn identity(&self) -> Identity {
        Identity {
            user: self.user.clone(),
            subject: self.subject.clone(),
            email: self.email.clone(),
            groups: self.groups.clone(),
            preferred_username: self.preferred_username.clone(),
            additional: self.additional_claims.clone(),
        }
    }

    /// The values identity headers are built from; `identity` is `self.identity()`.
    pub fn claim_values<'a>(&'a self, identity: &'a Identity) -> crate::identity::ClaimValues<'a> {
        crate::identity::ClaimValues {
            identity,
            access_token: self.access_token.as_deref(),
            id_token: self.id_token.as_deref(),
            refresh_token: self.refresh_token.as_deref(),
            created_at: self.created_at,
            expires_on: self.expires_on,
        }
    }

    pub fn age(&self, now: u64) -> Duration {
        Duration::from_secs(now.saturating_sub(self.created_at))
    }
}

/// What loading a session found.
#[derive(Debug)]
pub enum Found {
    /// No session cookie.
    None,
    /// Shared, so a remembered session is handed out without copying its tokens.
    Valid(Arc<SessionState>),
    /// A cookie that is tampered, truncated, sealed with another secret, expired or oversized.
    /// Treated as no session, and cleared.
    Invalid(&'static str),
}

/// A session that opened, unless it was created in the future or is older than
/// `cookie_expire` (0: no limit).
pub(super) fn fresh(cfg: &CookieConfig, session: Arc<SessionState>, now: u64) -> Found {
    if session.created_at > now + FUTURE_SKEW_SECS {
        return Found::Invalid("created in the future");
    }
    if !cfg.expire.is_zero() && session.age(now) > cfg.expire {
        return Found::Invalid("expired");
    }
    Found::Valid(session)
}

impl SessionState {
    /// Is the session older than `refresh` (oauth2-proxy's `needsRefresh`; zero: never)?
    pub fn refresh_due(&self, refresh: Duration, now: u64) -> bool {
        !refresh.is_zero() && self.age(now) > refresh
    }

    /// A refresh-token grant into the session: new tokens and times, and, when a new ID token
    /// came back, the identity it states (oauth2-proxy's `redeemRefreshToken`), so a user
    /// removed from a group loses it at the next refresh.
    pub fn apply_grant(&mut self, grant: &Grant, now: u64) {
        let tokens = &grant.tokens;
        if let Some(id) = &grant.identity {
            self.user = id.user.clone();
            self.subject = id.subject.clone();
            self.email = id.email.clone();
            self.groups = id.groups.clone();
            self.preferred_username = id.preferred_username.clone();
            self.additional_claims = id.additional.clone();
        }
        self.access_token = Some(tokens.access_token.clone());
        if let Some(it) = &tokens.id_token {
            self.id_token = Some(it.clone());
        }
        if let Some(rt) = &tokens.refresh_token {
            self.refresh_token = Some(rt.clone());
        }
        self.created_at = now;
        self.expires_on = tokens.expires_in.map(|s| now.saturating_add(s));
        // A session from before login times were kept gets one at its first refresh: any logout
        // recorded earlier already refused it at the load that led here.
        if self.login_at == 0 {
            self.login_at = now.saturating_mul(1000);
        }
    }
}
