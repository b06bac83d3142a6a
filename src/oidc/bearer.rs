//! Bearer tokens (`skip_jwt_bearer_tokens`): JWTs a client sends instead of a session cookie,
//! verified against the login provider (its issuer, the client ID and extra audiences) or one
//! of `extra_jwt_issuers` (`issuer=audience`, keys from that issuer's discovery or
//! `<issuer>/.well-known/jwks.json`).
//!
//! The issuer is chosen by the token's (unverified) `iss`, then everything is verified: the
//! signature with the issuer's keys (asymmetric algorithms only, so neither `alg: none` nor
//! HMAC-with-a-public-key can pass), `iss`, `aud`, `exp`, `iat` and `sub`. A token that passed
//! is remembered by its SHA-256 until its `exp` (bounded), so a client repeating its token
//! costs a hash and a map lookup, not a signature check.
//!
//! Never sees HTTP: the caller extracts the token and decides what a refusal means.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use url::Url;

use super::keys::{KeyCache, KeySource};
use super::verify::{self, Expectations, Nonce, VerifyError};
use super::{Error, IdTokenUse, Provider, claims};
use crate::identity::Identity;

/// How many verified tokens are remembered; when full, expired ones go, then all.
const REMEMBERED: usize = 10_000;

/// Every asymmetric algorithm jsonwebtoken verifies: an extra issuer announces nothing we
/// could narrow this with before discovery, and the key's family still has to match.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A verified bearer token's identity and when it stops being valid.
#[derive(Debug, Clone)]
pub struct Verified {
    pub identity: Arc<Identity>,
    pub expires_at: u64,
    /// Which of the providers issued it (its index; extra issuers count as the first's).
    pub provider: usize,
}

/// How a verification went, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Remembered from an earlier request: no signature check.
    Cached,
    /// Checked now.
    Verified,
}

/// One `extra_jwt_issuers` entry.
struct ExtraIssuer {
    issuer: String,
    audience: String,
    keys: KeyCache,
    /// The JWKS location once discovery (or its fallback) has told it.
    source: RwLock<Option<KeySource>>,
}

pub struct Bearer {
    extra: Vec<ExtraIssuer>,
    remembered: RwLock<HashMap<[u8; 32], Verified>>,
    /// Signature checks done (cache misses that reached a key), for the tests and the bench.
    pub signature_checks: AtomicU64,
}

impl Bearer {
    pub fn new(extra_issuers: &[(String, String)]) -> Bearer {
        Bearer {
            extra: extra_issuers
                .iter()
                .map(|(issuer, audience)| ExtraIssuer {
                    issuer: issuer.clone(),
                    audience: audience.clone(),
                    keys: KeyCache::default(),
                    source: RwLock::new(None),
                })
                .collect(),
            remembered: RwLock::new(HashMap::new()),
            signature_checks: AtomicU64::new(0),
        }
    }

    /// Verifies `token`, from memory when it passed before and has not expired.
    /// `providers` are those a token may come from, in their order (the first also checks
    /// `extra_jwt_issuers`).
    pub async fn verify(&self, providers: &[&Provider], token: &str, now: u64) -> Result<(Verified, Path), Error> {
        let key = token_hash(token);
        if let Some(v) = self.remembered.read().unwrap_or_else(|e| e.into_inner()).get(&key)
            && now < v.expires_at
        {
            return Ok((v.clone(), Path::Cached));
        }
        let verified = self.verify_now(providers, token).await?;
        if verified.expires_at > now {
            let mut map = self.remembered.write().unwrap_or_else(|e| e.into_inner());
            if map.len() >= REMEMBERED {
                map.retain(|_, v| v.expires_at > now);
                if map.len() >= REMEMBERED {
                    map.clear();
                }
            }
            map.insert(key, verified.clone());
        }
        Ok((verified, Path::Verified))
    }

    async fn verify_now(&self, providers: &[&Provider], token: &str) -> Result<Verified, Error> {
        let iss = unverified_issuer(token)?;
        // The provider whose issuer the token names; the first otherwise (its extra issuers,
        // or its skipped issuer check).
        let index = providers.iter().position(|p| p.endpoints().is_ok_and(|e| !e.issuer.is_empty() && e.issuer == iss)).unwrap_or(0);
        let provider = *providers.get(index).ok_or_else(|| Error::Internal("no provider".into()))?;
        let endpoints = provider.endpoints()?;
        let cfg = &provider.cfg;
        let (claims, identity) = if iss == endpoints.issuer || cfg.skip_issuer_verification && self.extra_for(&iss).is_none() {
            self.signature_checks.fetch_add(1, Ordering::Relaxed);
            let claims = provider.verify_id_token(token, IdTokenUse::Bearer).await?;
            if cfg.kind == super::ProviderKind::EntraId {
                provider.entra_tenant(&claims)?;
            }
            let mut identity = bearer_identity(&claims, &cfg.email_claim, &cfg.groups_claim, cfg.allow_unverified_email)?;
            // As oauth2-proxy: the bearer token stands in for the access token.
            provider.add_roles(&mut identity, token)?;
            identity.additional = claims::additional(&claims, None, &cfg.additional_claims)?;
            (claims, identity)
        } else if let Some(extra) = self.extra_for(&iss) {
            let claims = self.verify_extra(provider, extra, token).await?;
            // Fixed claims for other issuers, as oauth2-proxy: email and groups.
            let identity = bearer_identity(&claims, "email", "groups", false)?;
            (claims, identity)
        } else {
            return Err(VerifyError::Issuer.into());
        };
        let expires_at = claims.get("exp").and_then(Value::as_u64).ok_or(VerifyError::Missing("exp"))?;
        Ok(Verified { identity: Arc::new(identity), expires_at, provider: index })
    }

    fn extra_for(&self, iss: &str) -> Option<&ExtraIssuer> {
        self.extra.iter().find(|e| e.issuer == iss)
    }

    async fn verify_extra(&self, provider: &Provider, extra: &ExtraIssuer, token: &str) -> Result<Map<String, Value>, Error> {
        let audiences = [extra.audience.as_str()];
        let audience_claims = ["aud".to_string()];
        let want = Expectations {
            issuer: Some(&extra.issuer),
            audience_claims: &audience_claims,
            audiences: &audiences,
            nonce: Nonce::Skip,
            authorized_party: None,
            algorithms: &ASYMMETRIC,
            kind: verify::TokenKind::IdToken,
        };
        if !extra.keys.is_loaded() {
            self.load_extra(provider, extra).await?;
        }
        self.signature_checks.fetch_add(1, Ordering::Relaxed);
        match verify::verify(token, &extra.keys.current(), &want) {
            Err(VerifyError::UnknownKey) => {
                self.load_extra(provider, extra).await?;
                Ok(verify::verify(token, &extra.keys.current(), &want)?)
            }
            other => Ok(other?),
        }
    }

    /// Finds the extra issuer's JWKS (discovery, else `/.well-known/jwks.json`) and loads it,
    /// at most once per refetch interval whatever the traffic.
    async fn load_extra(&self, provider: &Provider, extra: &ExtraIssuer) -> Result<(), Error> {
        let known = extra.source.read().unwrap_or_else(|e| e.into_inner()).clone();
        let source = match known {
            Some(s) => s,
            None => {
                let s = KeySource::Jwks(discover_jwks(provider, &extra.issuer).await?);
                *extra.source.write().unwrap_or_else(|e| e.into_inner()) = Some(s.clone());
                s
            }
        };
        extra.keys.refetch(&provider.http, &source).await.map(|_| ())
    }
}

/// oauth2-proxy's bearer sessions: the claims mapped as for a login, the email falling back to
/// the subject (access-token-like JWTs often carry no email).
fn bearer_identity(
    claims: &Map<String, Value>,
    email: &str,
    groups: &str,
    allow_unverified: bool,
) -> Result<Identity, claims::ClaimsError> {
    match claims::identity(claims, None, email, groups, allow_unverified) {
        Err(claims::ClaimsError::NoEmail(_)) => claims::identity(claims, None, "sub", groups, true),
        other => other,
    }
}

async fn discover_jwks(provider: &Provider, issuer: &str) -> Result<Url, Error> {
    let base = issuer.trim_end_matches('/');
    let bad = |e: url::ParseError| Error::Internal(format!("extra_jwt_issuers {issuer}: {e}"));
    let discovery = Url::parse(&format!("{base}/.well-known/openid-configuration")).map_err(bad)?;
    if let Ok(res) = provider.http.get(super::http::Call::Discovery, &discovery, None).await
        && res.status == 200
        && let Ok(doc) = serde_json::from_slice::<Value>(&res.body)
        && doc.get("issuer").and_then(Value::as_str) == Some(issuer)
        && let Some(jwks) = doc.get("jwks_uri").and_then(Value::as_str).and_then(|u| Url::parse(u).ok())
    {
        return Ok(jwks);
    }
    Url::parse(&format!("{base}/.well-known/jwks.json")).map_err(bad)
}

/// The `iss` claim, read without verification, only to pick the verifier.
fn unverified_issuer(token: &str) -> Result<String, VerifyError> {
    let payload = token.split('.').nth(1).ok_or(VerifyError::Malformed)?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).map_err(|_| VerifyError::Malformed)?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)?;
    claims.get("iss").and_then(Value::as_str).map(str::to_string).ok_or(VerifyError::Missing("iss"))
}

fn token_hash(token: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Is `s` shaped like a compact JWS, as oauth2-proxy decides before trying a verifier
/// (`^ey…\.ey…\.…$`, base64url characters, a non-empty signature)?
pub fn looks_like_jwt(s: &str) -> bool {
    let b64url = |p: &str| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let mut parts = s.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(sig), None) => {
            h.starts_with("ey") && p.starts_with("ey") && !sig.is_empty() && b64url(h) && b64url(p) && b64url(sig)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(!looks_like_jwt("eyJh.eyJz."), "alg none has no signature");
        assert!(!looks_like_jwt("eyJh.eyJz.c2ln.more"), "JWE has five parts");
        assert!(!looks_like_jwt("abc.eyJz.c2ln"));
        assert!(!looks_like_jwt("eyJh.eyJz.c2l+"));
        assert!(!looks_like_jwt(""));
    }

    #[test]
    fn issuer_is_read_from_the_payload() {
        let p = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, br#"{"iss":"https://i"}"#);
        assert_eq!(unverified_issuer(&format!("eyJh.{p}.sig")).unwrap(), "https://i");
        assert_eq!(unverified_issuer("eyJh.!!.sig"), Err(VerifyError::Malformed));
    }
}
