//! ID token verification: signature against the provider's keys, allowed algorithms, issuer,
//! audience (oauth2-proxy's `oidc_audience_claims` rule), authorized party, expiry, issue time
//! and nonce (OpenID Connect Core 3.1.3.7).
//!
//! `alg: none` and HMAC algorithms are never accepted: an ID token from a provider with
//! asymmetric keys that claims HS256 is a key-confusion attempt, not a configuration.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::keys::Key;

/// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a well-formed signed JWT")]
    Malformed,
    #[error("the signing algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("no key of the provider matches the token's key id")]
    UnknownKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the issuer does not match")]
    Issuer,
    #[error("the audience does not include this client")]
    Audience,
    #[error("the nonce does not match this login")]
    Nonce,
    #[error("the token has several audiences and its azp is not this client")]
    AuthorizedParty,
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("the claim {0} is missing")]
    Missing(&'static str),
    /// A logout token where an ID token was expected (Back-Channel Logout 4.1: the two must
    /// never pass for each other).
    #[error("the token is a logout token")]
    LogoutToken,
}

/// What the verifier checks besides the signature.
pub struct Expectations<'a> {
    /// `None` skips the issuer check (`insecure_oidc_skip_issuer_verification`).
    pub issuer: Option<&'a str>,
    pub audience_claims: &'a [String],
    pub audiences: &'a [&'a str],
    pub nonce: Nonce<'a>,
    /// The client the token must have been issued to (`azp`) when it names several audiences
    /// or any `azp`; `None` for bearer tokens, which other clients may hold.
    pub authorized_party: Option<&'a str>,
    pub algorithms: &'a [Algorithm],
    pub kind: TokenKind,
}

/// Which kind of JWT is verified: they differ in the claims they must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An ID token (or a bearer JWT): `exp`, `iat` and `sub` are required.
    IdToken,
    /// A back-channel logout token: `iat` is required; `sub` may be absent (a `sid` names the
    /// session instead) and `exp`, which the first drafts of the spec lacked, is checked when
    /// present.
    Logout,
}

/// How the `nonce` claim is checked.
#[derive(Debug, Clone, Copy)]
pub enum Nonce<'a> {
    /// Not checked (`insecure_oidc_skip_nonce`, bearer tokens).
    Skip,
    /// At the callback: the token must carry the login's nonce (Core 3.1.3.7, step 11).
    Required(&'a str),
    /// A refreshed or stored ID token: the login's nonce if it carries one. Providers differ
    /// on repeating it after a refresh, and a token from the token endpoint in exchange for
    /// our refresh token cannot have been injected by a browser, which is what a nonce stops.
    IfPresent(&'a str),
    /// A logout token: a `nonce` is forbidden (Back-Channel Logout 2.4), so an ID token can
    /// never be replayed as one.
    Absent,
}

/// The algorithms an ID token may be signed with: never HMAC, never none.
pub fn is_asymmetric(alg: Algorithm) -> bool {
    !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// The token's header `kid`, when it parses.
pub fn key_id(token: &str) -> Result<Option<String>, VerifyError> {
    jsonwebtoken::decode_header(token).map(|h| h.kid).map_err(|_| VerifyError::Malformed)
}

/// Verifies `token` against `keys`. `UnknownKey` tells the caller a key refetch may help.
pub fn verify(token: &str, keys: &[Key], want: &Expectations<'_>) -> Result<Map<String, Value>, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    let alg = header.alg;
    if !is_asymmetric(alg) || !want.algorithms.contains(&alg) {
        return Err(VerifyError::Algorithm(format!("{alg:?}")));
    }
    let candidates: Vec<&Key> = keys
        .iter()
        .filter(|k| k.family == alg.family())
        .filter(|k| match (&header.kid, &k.kid) {
            (Some(want), Some(have)) => want == have,
            // A token without `kid` may be checked against every key of its family, and a key
            // without `kid` (PEM files) against any token.
            _ => true,
        })
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::UnknownKey);
    }

    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECS;
    validation.validate_aud = false;
    validation.validate_nbf = true;
    let required: &[&str] = match want.kind {
        TokenKind::IdToken => &["exp", "iat", "sub"],
        TokenKind::Logout => &["iat"],
    };
    validation.required_spec_claims = required.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
    if let Some(iss) = want.issuer {
        validation.set_issuer(&[iss]);
        validation.required_spec_claims.insert("iss".into());
    }

    let mut last = VerifyError::Signature;
    for key in candidates {
        match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
            Ok(data) => return check_claims(data.claims, want),
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind as K;
                last = match e.kind() {
                    K::InvalidSignature | K::InvalidEcdsaKey | K::InvalidRsaKey(_) | K::InvalidKeyFormat => VerifyError::Signature,
                    K::ExpiredSignature => return Err(VerifyError::Expired),
                    K::ImmatureSignature => return Err(VerifyError::NotYetValid),
                    K::InvalidIssuer => return Err(VerifyError::Issuer),
                    K::MissingRequiredClaim(c) => {
                        return Err(VerifyError::Missing(match c.as_str() {
                            "exp" => "exp",
                            "iat" => "iat",
                            "iss" => "iss",
                            _ => "sub",
                        }));
                    }
                    K::InvalidAlgorithm => VerifyError::Algorithm(format!("{alg:?}")),
                    _ => VerifyError::Malformed,
                };
            }
        }
    }
    Err(last)
}

fn check_claims(claims: Map<String, Value>, want: &Expectations<'_>) -> Result<Map<String, Value>, VerifyError> {
    if !claims.get("iat").is_some_and(Value::is_number) {
        return Err(VerifyError::Missing("iat"));
    }
    if want.kind == TokenKind::IdToken && claims.contains_key("events") {
        return Err(VerifyError::LogoutToken);
    }
    // oauth2-proxy: the first audience claim present must contain the client ID or an extra
    // audience.
    let aud = want.audience_claims.iter().find_map(|c| claims.get(c)).ok_or(VerifyError::Audience)?;
    let ok = match aud {
        Value::String(s) => want.audiences.contains(&s.as_str()),
        Value::Array(items) => items.iter().filter_map(Value::as_str).any(|a| want.audiences.contains(&a)),
        _ => false,
    };
    if !ok {
        return Err(VerifyError::Audience);
    }
    if let Some(client) = want.authorized_party {
        // Core 3.1.3.7 steps 4 and 5: a token for several audiences must say which one it was
        // issued to, and a token issued to another client is not ours, whatever its `aud`.
        // Several audiences in `aud` itself, whichever claim the audience check read.
        let several = matches!(claims.get("aud"), Some(Value::Array(items)) if items.len() > 1);
        match claims.get("azp") {
            Some(Value::String(azp)) if azp == client => {}
            None if !several => {}
            _ => return Err(VerifyError::AuthorizedParty),
        }
    }
    let iat = claims.get("iat").and_then(Value::as_f64).unwrap_or(0.0);
    if iat > (jsonwebtoken::get_current_timestamp() + LEEWAY_SECS) as f64 {
        return Err(VerifyError::IssuedInFuture);
    }
    // Present means present: a `nonce` of another type (`null`, a number) is a wrong one.
    let carried = claims.get("nonce");
    let nonce_ok = match want.nonce {
        Nonce::Skip => true,
        Nonce::Required(n) => carried.and_then(Value::as_str) == Some(n),
        Nonce::IfPresent(n) => carried.is_none_or(|c| c.as_str() == Some(n)),
        Nonce::Absent => carried.is_none(),
    };
    if !nonce_ok {
        return Err(VerifyError::Nonce);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn want<'a>(nonce: Nonce<'a>, authorized_party: Option<&'a str>) -> Expectations<'a> {
        const CLAIMS: &[String] = &[];
        Expectations {
            issuer: None,
            audience_claims: CLAIMS,
            audiences: &["app", "extra"],
            nonce,
            authorized_party,
            algorithms: &[],
            kind: TokenKind::IdToken,
        }
    }

    fn check(claims: serde_json::Value, want: &Expectations<'_>) -> Result<(), VerifyError> {
        let aud = ["aud".to_string()];
        let want = Expectations { audience_claims: &aud, ..*want };
        check_claims(claims.as_object().unwrap().clone(), &want).map(|_| ())
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn several_audiences_need_our_azp() {
        let ours = want(Nonce::Skip, Some("app"));
        assert_eq!(check(json!({"iat": now(), "aud": ["app", "other"]}), &ours), Err(VerifyError::AuthorizedParty));
        assert_eq!(check(json!({"iat": now(), "aud": ["app", "other"], "azp": "other"}), &ours), Err(VerifyError::AuthorizedParty));
        assert_eq!(check(json!({"iat": now(), "aud": "app", "azp": "other"}), &ours), Err(VerifyError::AuthorizedParty));
        assert_eq!(check(json!({"iat": now(), "aud": "app", "azp": 7}), &ours), Err(VerifyError::AuthorizedParty));
        assert_eq!(check(json!({"iat": now(), "aud": ["app", "other"], "azp": "app"}), &ours), Ok(()));
        assert_eq!(check(json!({"iat": now(), "aud": ["app"]}), &ours), Ok(()));
        // Counted in `aud` whichever claim the audience check reads first.
        let by_client_id = ["client_id".to_string(), "aud".to_string()];
        let first_client_id = Expectations { audience_claims: &by_client_id, ..want(Nonce::Skip, Some("app")) };
        let token = json!({"iat": now(), "client_id": "app", "aud": ["app", "other"]});
        assert_eq!(check_claims(token.as_object().unwrap().clone(), &first_client_id).map(|_| ()), Err(VerifyError::AuthorizedParty));
        // Bearer tokens of other clients with an accepted audience: azp is theirs.
        let bearer = want(Nonce::Skip, None);
        assert_eq!(check(json!({"iat": now(), "aud": ["extra", "x"], "azp": "x"}), &bearer), Ok(()));
    }

    #[test]
    fn a_logout_token_never_passes_for_an_id_token() {
        let w = want(Nonce::Skip, None);
        let logout = json!({"iat": now(), "aud": "app", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}});
        assert_eq!(check(logout.clone(), &w), Err(VerifyError::LogoutToken));
        let as_logout = Expectations { kind: TokenKind::Logout, nonce: Nonce::Absent, ..w };
        assert_eq!(check(logout, &as_logout), Ok(()));
        assert_eq!(
            check(json!({"iat": now(), "aud": "app", "nonce": "n"}), &as_logout),
            Err(VerifyError::Nonce),
            "an ID token is no logout token"
        );
    }

    #[test]
    fn an_iat_past_the_leeway_in_the_future_is_refused() {
        let w = want(Nonce::Skip, None);
        assert_eq!(check(json!({"iat": now() + LEEWAY_SECS + 5, "aud": "app"}), &w), Err(VerifyError::IssuedInFuture));
        assert_eq!(check(json!({"iat": now() + LEEWAY_SECS - 5, "aud": "app"}), &w), Ok(()));
        assert_eq!(check(json!({"iat": "soon", "aud": "app"}), &w), Err(VerifyError::Missing("iat")));
    }

    #[test]
    fn the_nonce_is_required_at_login_and_kept_if_present_after() {
        let at = |n: Nonce<'static>, claims: serde_json::Value| check(claims, &want(n, None));
        let base = |nonce: Option<&str>| {
            let mut c = json!({"iat": now(), "aud": "app"});
            if let Some(n) = nonce {
                c["nonce"] = json!(n);
            }
            c
        };
        assert_eq!(at(Nonce::Required("n1"), base(Some("n1"))), Ok(()));
        assert_eq!(at(Nonce::Required("n1"), base(None)), Err(VerifyError::Nonce));
        assert_eq!(at(Nonce::Required("n1"), base(Some("n2"))), Err(VerifyError::Nonce));
        assert_eq!(at(Nonce::IfPresent("n1"), base(None)), Ok(()));
        assert_eq!(at(Nonce::IfPresent("n1"), base(Some("n1"))), Ok(()));
        assert_eq!(at(Nonce::IfPresent("n1"), base(Some("n2"))), Err(VerifyError::Nonce));
        let mut null = base(None);
        null["nonce"] = serde_json::Value::Null;
        assert_eq!(at(Nonce::IfPresent("n1"), null), Err(VerifyError::Nonce), "a nonce of another type is a wrong one");
        assert_eq!(at(Nonce::Skip, base(Some("n2"))), Ok(()));
    }
}
