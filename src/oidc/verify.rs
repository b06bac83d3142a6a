//! ID token verification: signature against the provider's keys, allowed algorithms, issuer,
//! audience (oauth2-proxy's `oidc_audience_claims` rule), expiry and nonce.
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
    #[error("the claim {0} is missing")]
    Missing(&'static str),
}

/// What the verifier checks besides the signature.
pub struct Expectations<'a> {
    /// `None` skips the issuer check (`insecure_oidc_skip_issuer_verification`).
    pub issuer: Option<&'a str>,
    pub audience_claims: &'a [String],
    pub audiences: &'a [&'a str],
    /// The expected `nonce` claim value, when the nonce is checked.
    pub nonce: Option<&'a str>,
    pub algorithms: &'a [Algorithm],
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
    validation.required_spec_claims = ["exp", "iat", "sub"].iter().map(|s| s.to_string()).collect::<HashSet<_>>();
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
    if let Some(nonce) = want.nonce
        && claims.get("nonce").and_then(Value::as_str) != Some(nonce)
    {
        return Err(VerifyError::Nonce);
    }
    Ok(claims)
}
