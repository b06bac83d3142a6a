//! Sealing: AES-256-GCM with keys derived from `cookie_secret` by HKDF-SHA256, one key per
//! purpose (session, CSRF), so a value sealed for one purpose never opens as another.
//!
//! Invariant: the only module that touches cipher primitives.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What a sealed value is for; part of the key derivation.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    Session,
    Csrf,
    /// The Redis ticket in the cookie.
    Ticket,
    /// A session in Redis, under its per-session secret.
    RedisValue,
}

impl Purpose {
    fn info(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"gatehouse session v1",
            Purpose::Csrf => b"gatehouse csrf v1",
            Purpose::Ticket => b"gatehouse ticket v1",
            Purpose::RedisValue => b"gatehouse redis value v1",
        }
    }
}

/// A sealing key for one purpose.
pub struct Sealer {
    key: LessSafeKey,
}

/// Opening failed: tampered, truncated, sealed with another secret, or not ours at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sealed value does not open")]
pub struct OpenError;

impl Sealer {
    pub fn new(secret: &[u8], purpose: Purpose) -> Sealer {
        let prk = Salt::new(HKDF_SHA256, b"gatehouse").extract(secret);
        let mut key = [0u8; 32];
        prk.expand(&[purpose.info()], &AES_256_GCM).and_then(|okm| okm.fill(&mut key)).expect("HKDF can produce a 32-byte key");
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("a 32-byte key is valid for AES-256-GCM"));
        Sealer { key }
    }

    /// Encrypts and authenticates `plaintext`, binding it to `context` (the cookie name), and
    /// returns base64url text safe for a cookie value.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system random generator is available");
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut buf)
            .expect("sealing cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        URL_SAFE_NO_PAD.encode(out)
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let mut bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| OpenError)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(OpenError);
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN]).map_err(|_| OpenError)?;
        let plain = self.key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut bytes[NONCE_LEN..]).map_err(|_| OpenError)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_kind_of_damage() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef", Purpose::Session);
        let sealed = s.seal("_oauth2_proxy", b"hello");
        assert_eq!(s.open("_oauth2_proxy", &sealed).unwrap(), b"hello");
        assert!(s.open("other_name", &sealed).is_err(), "bound to the cookie name");
        let mut flipped = sealed.clone().into_bytes();
        flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
        assert!(s.open("_oauth2_proxy", std::str::from_utf8(&flipped).unwrap()).is_err());
        assert!(s.open("_oauth2_proxy", &sealed[..sealed.len() - 4]).is_err());
        assert!(s.open("_oauth2_proxy", "not base64 !").is_err());
        let other = Sealer::new(b"another secret, another key!!!!!", Purpose::Session);
        assert!(other.open("_oauth2_proxy", &sealed).is_err());
        let csrf = Sealer::new(b"0123456789abcdef0123456789abcdef", Purpose::Csrf);
        assert!(csrf.open("_oauth2_proxy", &sealed).is_err(), "purposes do not mix");
    }
}
