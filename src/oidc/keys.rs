//! The provider's signing keys: fetched from the JWKS URL (or read from PEM files), kept as
//! ready-to-use decoding keys, and refetched when a token names a key we do not have, at most
//! once per [`REFETCH_INTERVAL`] so a flood of forged `kid`s cannot turn into a flood of fetches.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use jsonwebtoken::{AlgorithmFamily, DecodingKey};
use url::Url;

use super::Error;
use super::http::Http;

pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// One verification key.
#[derive(Clone)]
pub struct Key {
    pub kid: Option<String>,
    pub family: AlgorithmFamily,
    pub key: DecodingKey,
}

/// Where keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    Jwks(Url),
    PemFiles(Vec<PathBuf>),
    /// A plain OAuth 2.0 provider (GitHub) signs no ID tokens: nothing to load, nothing a
    /// token could be verified with.
    None,
}

#[derive(Default)]
pub struct KeyCache {
    keys: RwLock<Arc<Vec<Key>>>,
    last_fetch: Mutex<Option<Instant>>,
}

impl KeyCache {
    pub fn current(&self) -> Arc<Vec<Key>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn is_loaded(&self) -> bool {
        !self.current().is_empty()
    }

    /// Loads the keys now, whatever the rate limit.
    pub async fn load(&self, http: &Http, source: &KeySource) -> Result<usize, Error> {
        let keys = match source {
            KeySource::Jwks(url) => fetch_jwks(http, url).await?,
            KeySource::PemFiles(files) => read_pems(files)?,
            KeySource::None => Vec::new(),
        };
        let n = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(n)
    }

    /// Refetches after an unknown `kid`, unless the last such refetch was too recent (the
    /// initial load does not count, so a key rotated just after start is still picked up).
    /// Returns whether a fetch happened.
    pub async fn refetch(&self, http: &Http, source: &KeySource) -> Result<bool, Error> {
        {
            let mut last = self.last_fetch.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < REFETCH_INTERVAL) {
                return Ok(false);
            }
            *last = Some(Instant::now());
        }
        let res = self.load(http, source).await;
        http.metrics().jwks_refresh(if res.is_ok() { "ok" } else { "failed" });
        res.map(|_| true)
    }
}

async fn fetch_jwks(http: &Http, url: &Url) -> Result<Vec<Key>, Error> {
    let res = http.get(super::http::Call::Keys, url, None).await?;
    if res.status != 200 {
        return Err(Error::BadResponse(format!("the JWKS URL answered {}", res.status)));
    }
    let set: JwkSet =
        serde_json::from_slice(&res.body).map_err(|e| Error::BadResponse(format!("the JWKS is not a JSON Web Key Set: {e}")))?;
    let keys: Vec<Key> = set
        .keys
        .iter()
        .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
        .filter_map(|jwk| {
            let family = match jwk.algorithm {
                AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
                AlgorithmParameters::EllipticCurve(_) => AlgorithmFamily::Ec,
                AlgorithmParameters::OctetKeyPair(_) => AlgorithmFamily::Ed,
                // Symmetric keys in a public key set are never used: HMAC ID tokens are refused.
                _ => return None,
            };
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some(Key { kid: jwk.common.key_id.clone(), family, key })
        })
        .collect();
    if keys.is_empty() {
        return Err(Error::BadResponse("the JWKS holds no usable signing key".into()));
    }
    Ok(keys)
}

fn read_pems(files: &[PathBuf]) -> Result<Vec<Key>, Error> {
    files
        .iter()
        .map(|f| {
            let pem = std::fs::read(f).map_err(|e| Error::Internal(format!("cannot read {}: {e}", f.display())))?;
            let (family, key) = DecodingKey::from_rsa_pem(&pem)
                .map(|k| (AlgorithmFamily::Rsa, k))
                .or_else(|_| DecodingKey::from_ec_pem(&pem).map(|k| (AlgorithmFamily::Ec, k)))
                .or_else(|_| DecodingKey::from_ed_pem(&pem).map(|k| (AlgorithmFamily::Ed, k)))
                .map_err(|_| Error::Internal(format!("{} is not an RSA, EC or Ed25519 public key in PEM", f.display())))?;
            Ok(Key { kid: None, family, key })
        })
        .collect()
}
