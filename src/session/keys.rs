//! The cookie secrets as a key ring: the first secret seals, every secret opens, so a secret
//! can be replaced without logging anyone out (put the new one first and keep the old one
//! until the sessions it sealed have been rewritten or have expired). Built from
//! `cookie_secret` and `cookie_secrets_previous`, or from the lines of `cookie_secret_file`;
//! replaced whole when that file changes or on SIGHUP (`reload::Watched`).
//!
//! Owns which secret seals and which may open. Never logs, prints or compares a secret
//! outside `crypto`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::crypto::{OpenError, Purpose, Sealer};
use crate::base::Secret;
use crate::base::secret::key_bytes;
use crate::reload::Watched;

/// One cookie secret: as configured (oauth2-proxy signs with the text itself) and the 16, 24
/// or 32 key bytes derived from it (base64url-decoded when that gives a valid length).
#[derive(Clone, Debug)]
pub struct CookieSecret {
    pub raw: Secret<Vec<u8>>,
    pub key: Secret<Vec<u8>>,
}

impl CookieSecret {
    /// The secret, or what is wrong with it (never its value).
    pub fn new(raw: Vec<u8>) -> Result<CookieSecret, String> {
        let key = key_bytes(&raw);
        if matches!(key.len(), 16 | 24 | 32) {
            return Ok(CookieSecret { raw: Secret::new(raw), key: Secret::new(key) });
        }
        Err(format!(
            "must be 16, 24 or 32 bytes, or base64url of that many bytes; it is {} bytes and not valid base64url of 16, 24 or 32 bytes",
            raw.len()
        ))
    }
}

/// The secrets in `cookie_secret_file`: the whole file as one secret, used verbatim as
/// oauth2-proxy does (a trailing newline counts), unless it holds more than one line: then a
/// secret per non-empty line (without its line ending), the first sealing.
pub fn file_secrets(bytes: &[u8]) -> Vec<Vec<u8>> {
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).filter(|l| !l.is_empty()).collect();
    if lines.len() > 1 { lines.into_iter().map(<[u8]>::to_vec).collect() } else { vec![bytes.to_vec()] }
}

/// `cookie_secret_file`, whose secrets are read again when it changes, and the
/// `cookie_secrets_previous` that follow them in the ring each time.
#[derive(Clone, Debug)]
pub struct SecretFile {
    pub path: std::path::PathBuf,
    pub previous: Vec<CookieSecret>,
}

impl SecretFile {
    /// The ring the file makes now; an error names the secret's place and the problem, never
    /// its value.
    pub fn load(&self) -> anyhow::Result<KeyRing> {
        let bytes = std::fs::read(&self.path)?;
        let mut secrets = Vec::new();
        for (n, raw) in file_secrets(&bytes).into_iter().enumerate() {
            secrets.push(CookieSecret::new(raw).map_err(|problem| anyhow::anyhow!("secret {} of the file {problem}", n + 1))?);
        }
        secrets.extend(self.previous.iter().cloned());
        KeyRing::new(secrets).ok_or_else(|| anyhow::anyhow!("the file holds no secret"))
    }
}

/// Every purpose, in `KeyRing::sealers` order (a cookie secret seals the first three; a
/// sealer for each keeps the lookup total).
const PURPOSES: [Purpose; 4] = [Purpose::Session, Purpose::Csrf, Purpose::Ticket, Purpose::RedisValue];

/// The ring: its secrets, and their sealers made once.
pub struct KeyRing {
    secrets: Vec<CookieSecret>,
    sealers: Vec<[Sealer; 4]>,
    /// Tells rings apart (a session remembered as opened under one ring is not under the next).
    generation: u64,
}

impl KeyRing {
    /// A ring of `secrets`, the first sealing; `None` when there is none.
    pub fn new(secrets: Vec<CookieSecret>) -> Option<KeyRing> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        if secrets.is_empty() {
            return None;
        }
        let sealers = secrets.iter().map(|s| PURPOSES.map(|p| Sealer::new(s.raw.expose(), p))).collect();
        Some(KeyRing { secrets, sealers, generation: NEXT.fetch_add(1, Ordering::Relaxed) })
    }

    fn index(purpose: Purpose) -> usize {
        match purpose {
            Purpose::Session => 0,
            Purpose::Csrf => 1,
            Purpose::Ticket => 2,
            Purpose::RedisValue => 3,
        }
    }

    /// Seals with the first secret.
    pub fn seal(&self, purpose: Purpose, context: &str, plaintext: &[u8]) -> String {
        self.sealers[0][Self::index(purpose)].seal(context, plaintext)
    }

    /// Opens with whichever secret sealed it.
    pub fn open(&self, purpose: Purpose, context: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let i = Self::index(purpose);
        self.sealers.iter().find_map(|s| s[i].open(context, sealed).ok()).ok_or(OpenError)
    }

    /// Every secret, the sealing one first (for reading oauth2-proxy's formats).
    pub fn secrets(&self) -> &[CookieSecret] {
        &self.secrets
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// The ring in use: fixed at start, or reloaded from `cookie_secret_file`.
#[derive(Clone)]
pub enum Keys {
    Fixed(Arc<KeyRing>),
    Watched(Arc<Watched<KeyRing>>),
}

impl Keys {
    pub fn get(&self) -> Arc<KeyRing> {
        match self {
            Keys::Fixed(ring) => ring.clone(),
            Keys::Watched(w) => w.get(),
        }
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} secrets, <redacted>)", self.get().secrets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secrets: &[&str]) -> KeyRing {
        KeyRing::new(secrets.iter().map(|s| CookieSecret::new(s.as_bytes().to_vec()).unwrap()).collect()).unwrap()
    }

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn the_first_seals_and_every_one_opens() {
        let old = ring(&[A]);
        let sealed_old = old.seal(Purpose::Session, "c", b"alice");
        let rotated = ring(&[B, A]);
        assert_eq!(rotated.open(Purpose::Session, "c", &sealed_old).unwrap(), b"alice", "the previous secret still opens");
        let sealed_new = rotated.seal(Purpose::Session, "c", b"alice");
        assert!(old.open(Purpose::Session, "c", &sealed_new).is_err(), "the new value is sealed with the new secret");
        assert!(ring(&[B]).open(Purpose::Session, "c", &sealed_old).is_err(), "a secret taken off the ring opens nothing");
        assert!(rotated.open(Purpose::Csrf, "c", &sealed_old).is_err(), "purposes stay apart");
        assert_ne!(old.generation(), rotated.generation());
    }

    #[test]
    fn a_secret_file_is_verbatim_unless_it_has_several_lines() {
        assert_eq!(file_secrets(b"one\n"), vec![b"one\n".to_vec()], "oauth2-proxy's reading: the newline counts");
        assert_eq!(file_secrets(b"one"), vec![b"one".to_vec()]);
        assert_eq!(file_secrets(b"new\r\n\nold\n"), vec![b"new".to_vec(), b"old".to_vec()]);
        assert!(CookieSecret::new(b"short".to_vec()).unwrap_err().contains("5 bytes"));
        assert!(KeyRing::new(Vec::new()).is_none());
    }
}
