//! Sealing: AES-256-GCM with keys derived from `cookie_secret` by HKDF-SHA256, one key per
//! purpose (session, CSRF), so a value sealed for one purpose never opens as another.
//!
//! `oauth2_proxy` holds the primitives of oauth2-proxy's formats, only for *reading* the
//! sessions it wrote (see `session::oauth2_proxy`).
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

/// oauth2-proxy's primitives, to open what it wrote; Gatehouse never seals with them.
pub mod oauth2_proxy {
    use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    use aws_lc_rs::cipher::{AES_128, AES_192, AES_256, DecryptingKey, DecryptionContext, UnboundCipherKey};
    use aws_lc_rs::hmac;
    use aws_lc_rs::iv::FixedLength;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE;

    /// Opens oauth2-proxy's signed value `b64(payload)|unix_seconds|b64(HMAC-SHA256)`: the MAC
    /// is keyed by the configured secret *string* over `name ‖ b64(payload) ‖ seconds`.
    /// Returns the payload and the signed time; the caller checks the time window.
    pub fn open_signed(secret: &[u8], name: &str, value: &str) -> Option<(Vec<u8>, u64)> {
        let mut parts = value.split('|');
        let (payload, time, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let tag = URL_SAFE.decode(mac).ok()?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let mut ctx = hmac::Context::with_key(&key);
        for part in [name, payload, time] {
            ctx.update(part.as_bytes());
        }
        // Constant-time comparison of the whole tag.
        let expected = ctx.sign();
        if expected.as_ref().len() != tag.len() || aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), &tag).is_err() {
            return None;
        }
        let time: u64 = time.parse().ok()?;
        Some((URL_SAFE.decode(payload).ok()?, time))
    }

    /// AES-CFB128 with the 16-byte IV in front, as oauth2-proxy's cookie cipher.
    pub fn cfb_decrypt(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        let alg = match key.len() {
            16 => &AES_128,
            24 => &AES_192,
            32 => &AES_256,
            _ => return None,
        };
        if data.len() < 16 {
            return None;
        }
        let (iv, body) = data.split_at(16);
        let iv: [u8; 16] = iv.try_into().ok()?;
        let key = DecryptingKey::cfb128(UnboundCipherKey::new(alg, key).ok()?).ok()?;
        let mut buf = body.to_vec();
        let plain = key.decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv))).ok()?;
        Some(plain.to_vec())
    }

    /// AES-128-GCM with the 12-byte nonce in front and no associated data, as oauth2-proxy's
    /// Redis values under their ticket's 16-byte secret.
    pub fn gcm_open(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        if data.len() < NONCE_LEN + AES_128_GCM.tag_len() {
            return None;
        }
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, key).ok()?);
        let nonce = Nonce::try_assume_unique_for_key(&data[..NONCE_LEN]).ok()?;
        let mut buf = data[NONCE_LEN..].to_vec();
        Some(key.open_in_place(nonce, Aad::empty(), &mut buf).ok()?.to_vec())
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
