//! Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0, section 2.6): the
//! provider's signed statement that a user's session there ended.
//!
//! Owns the token's validation: signature, `iss` and `aud` exactly as for ID tokens (the same
//! verifier), then the rules only a logout token has. Never decides which sessions end, nor
//! remembers `jti`s: that is `session::ending`'s, which is given the verified [`LogoutToken`].

use std::time::Duration;

use serde_json::{Map, Value};

use super::verify::{self, Expectations, Nonce, TokenKind, VerifyError};
use super::{Error, Provider};

/// The event a logout token must carry (section 2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A verified logout token: whose sessions end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    /// The provider's session; every session of ours opened in it ends.
    pub sid: Option<String>,
    /// The user; with no `sid`, every session of theirs ends.
    pub sub: Option<String>,
    /// The token's identifier: each is honoured once.
    pub jti: String,
    /// When the provider issued it (Unix seconds).
    pub iat: u64,
}

/// Why a logout token was refused: every one is a 400 to the provider.
#[derive(Debug, thiserror::Error)]
pub enum LogoutTokenError {
    #[error("{0}")]
    Verify(#[from] VerifyError),
    #[error("the events claim has no {EVENT} member")]
    Event,
    #[error("the token names neither a sid nor a sub")]
    NoSubject,
    #[error("the token has no sid, which oidc_backchannel_logout_session_required requires")]
    SidRequired,
    #[error("the token has no jti")]
    NoJti,
    #[error("the token was issued {0} s ago, longer than the {1} s accepted")]
    TooOld(u64, u64),
    #[error("the token was already used (jti replayed)")]
    Replayed,
    /// The provider's keys could not be had: not the token's fault.
    #[error("{0}")]
    Provider(Error),
}

impl From<Error> for LogoutTokenError {
    fn from(e: Error) -> Self {
        match e {
            Error::IdToken(v) => LogoutTokenError::Verify(v),
            other => LogoutTokenError::Provider(other),
        }
    }
}

/// How a logout token is judged besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct LogoutRules {
    /// How long after its `iat` a token is still accepted.
    pub max_age: Duration,
    /// `backchannel_logout_session_required`: a token must name a `sid`.
    pub sid_required: bool,
}

impl Provider {
    /// Verifies a logout token: signed by the provider with an ID token algorithm, from its
    /// issuer, for this client (`aud`; no extra audiences: a logout token is addressed to one
    /// client), with the logout event, a `sid` or `sub`, a `jti`, no `nonce`, and issued
    /// within `rules.max_age`.
    pub async fn verify_logout_token(&self, token: &str, rules: LogoutRules) -> Result<LogoutToken, LogoutTokenError> {
        let endpoints = self.endpoints()?;
        let audience_claims = ["aud".to_string()];
        let audiences = [self.cfg.client_id.as_str()];
        let want = Expectations {
            issuer: (!self.cfg.skip_issuer_verification).then_some(endpoints.issuer.as_str()).filter(|i| !i.is_empty()),
            audience_claims: &audience_claims,
            audiences: &audiences,
            nonce: Nonce::Absent,
            authorized_party: None,
            algorithms: &endpoints.algorithms,
            kind: TokenKind::Logout,
        };
        let claims = self.verify_jwt(token, &endpoints, &want).await?;
        logout_claims(&claims, rules, jsonwebtoken::get_current_timestamp())
    }
}

/// The rules only a logout token has, on claims whose signature, issuer, audience and nonce
/// were checked.
fn logout_claims(claims: &Map<String, Value>, rules: LogoutRules, now: u64) -> Result<LogoutToken, LogoutTokenError> {
    let event = claims.get("events").and_then(Value::as_object).and_then(|e| e.get(EVENT));
    if !event.is_some_and(Value::is_object) {
        return Err(LogoutTokenError::Event);
    }
    // Present means a non-empty string: a `sid` of another type is no session we know.
    let text = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(LogoutTokenError::Verify(VerifyError::Malformed)),
    };
    let (sid, sub) = (text("sid")?, text("sub")?);
    if sid.is_none() && sub.is_none() {
        return Err(LogoutTokenError::NoSubject);
    }
    if rules.sid_required && sid.is_none() {
        return Err(LogoutTokenError::SidRequired);
    }
    let jti = text("jti")?.ok_or(LogoutTokenError::NoJti)?;
    let iat = claims.get("iat").and_then(Value::as_f64).ok_or(VerifyError::Missing("iat"))?.max(0.0) as u64;
    let age = now.saturating_sub(iat);
    if age > rules.max_age.as_secs() + verify::LEEWAY_SECS {
        return Err(LogoutTokenError::TooOld(age, rules.max_age.as_secs()));
    }
    Ok(LogoutToken { sid, sub, jti, iat })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const RULES: LogoutRules = LogoutRules { max_age: Duration::from_secs(120), sid_required: false };

    fn check(claims: Value, rules: LogoutRules) -> Result<LogoutToken, LogoutTokenError> {
        logout_claims(claims.as_object().unwrap(), rules, 1_000_000)
    }

    fn good() -> Value {
        json!({"iat": 1_000_000, "jti": "j1", "sid": "s1", "sub": "alice", "events": {EVENT: {}}})
    }

    #[test]
    fn a_logout_token_needs_the_event_a_subject_and_a_jti() {
        let t = check(good(), RULES).unwrap();
        assert_eq!((t.sid.as_deref(), t.sub.as_deref(), t.jti.as_str()), (Some("s1"), Some("alice"), "j1"));
        let without = |k: &str| {
            let mut c = good();
            c.as_object_mut().unwrap().remove(k);
            c
        };
        assert!(matches!(check(without("events"), RULES), Err(LogoutTokenError::Event)));
        let mut wrong_event = good();
        wrong_event["events"] = json!({"http://schemas.openid.net/event/other": {}});
        assert!(matches!(check(wrong_event, RULES), Err(LogoutTokenError::Event)));
        let mut event_not_object = good();
        event_not_object["events"] = json!({EVENT: "yes"});
        assert!(matches!(check(event_not_object, RULES), Err(LogoutTokenError::Event)));
        assert!(matches!(check(without("jti"), RULES), Err(LogoutTokenError::NoJti)));
        assert!(check(without("sid"), RULES).is_ok(), "sub alone ends every session of the user");
        assert!(check(without("sub"), RULES).is_ok(), "sid alone ends that session");
        let mut neither = without("sid");
        neither.as_object_mut().unwrap().remove("sub");
        assert!(matches!(check(neither, RULES), Err(LogoutTokenError::NoSubject)));
        let mut sid_number = good();
        sid_number["sid"] = json!(7);
        assert!(check(sid_number, RULES).is_err());
    }

    #[test]
    fn a_sid_is_required_when_the_operator_says_so_and_old_tokens_are_refused() {
        let strict = LogoutRules { sid_required: true, ..RULES };
        let mut no_sid = good();
        no_sid.as_object_mut().unwrap().remove("sid");
        assert!(matches!(check(no_sid, strict), Err(LogoutTokenError::SidRequired)));
        let mut old = good();
        old["iat"] = json!(1_000_000 - 120 - verify::LEEWAY_SECS - 1);
        assert!(matches!(check(old, RULES), Err(LogoutTokenError::TooOld(..))));
        let mut just_in = good();
        just_in["iat"] = json!(1_000_000 - 120);
        assert!(check(just_in, RULES).is_ok());
    }
}
