//! Sessions oauth2-proxy wrote, read so that switching from oauth2-proxy to Gatehouse (or
//! running both behind one load balancer for a while) logs nobody out:
//! - its session cookie: a signed value over AES-CFB(LZ4-frame(msgpack(SessionState)));
//! - its Redis ticket cookie: a signed `v2.<b64 id>.<b64 secret>` (or the older
//!   `<id>.<b64 secret>`), the session in Redis under `id` as AES-128-GCM(msgpack).
//!
//! Read-only: Gatehouse never writes these formats. A session it saves (a login, a refresh)
//! is sealed in its own format, which oauth2-proxy cannot read.
//! Cipher work is `crypto::oauth2_proxy`'s; this module owns the framing and the fields.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmpv::Value;

use super::crypto::oauth2_proxy as primitives;
use super::keys::{CookieSecret, KeyRing};
use super::{CookieConfig, FUTURE_SKEW_SECS, SessionState};

/// oauth2-proxy's values carry `|`, which Gatehouse's (base64url) never do.
pub fn is_theirs(value: &str) -> bool {
    value.contains('|')
}

/// A decompressed session larger than this is refused (an LZ4 frame can expand ~250×).
const MAX_PLAIN: u64 = 256 * 1024;

/// Opens a signed value with whichever secret of the ring signed it, checking its time as
/// oauth2-proxy does: within `(now − cookie_expire, now + 5 min)`, no check when
/// `cookie_expire` is 0. Returns the payload and that secret.
fn open_signed<'r>(cfg: &CookieConfig, ring: &'r KeyRing, value: &str, now: u64) -> Result<(Vec<u8>, &'r CookieSecret), &'static str> {
    let (payload, signed_at, secret) = ring
        .secrets()
        .iter()
        .find_map(|s| primitives::open_signed(s.raw.expose(), &cfg.name, value).map(|(p, at)| (p, at, s)))
        .ok_or("does not open")?;
    let expire = cfg.expire.as_secs();
    if expire != 0 && (signed_at >= now + FUTURE_SKEW_SECS || signed_at + expire <= now) {
        return Err("expired");
    }
    Ok((payload, secret))
}

/// The session in an oauth2-proxy session cookie (already joined from its chunks).
pub fn open_cookie(cfg: &CookieConfig, ring: &KeyRing, value: &str, now: u64) -> Result<SessionState, &'static str> {
    let (payload, secret) = open_signed(cfg, ring, value, now)?;
    let compressed = primitives::cfb_decrypt(secret.key.expose(), &payload).ok_or("does not open")?;
    let mut packed = Vec::new();
    lz4_flex::frame::FrameDecoder::new(compressed.as_slice()).take(MAX_PLAIN + 1).read_to_end(&mut packed).map_err(|_| "unreadable")?;
    if packed.len() as u64 > MAX_PLAIN {
        return Err("too large");
    }
    decode_state(&packed)
}

/// An oauth2-proxy Redis ticket: the key and the session's own secret.
pub struct Ticket {
    pub id: String,
    secret: Vec<u8>,
}

impl Ticket {
    /// The ticket in an oauth2-proxy ticket cookie. Its id must be `<cookie_name>-…`, the
    /// only keys oauth2-proxy writes, so a ticket never names another Redis key.
    pub fn from_cookie(cfg: &CookieConfig, ring: &KeyRing, value: &str, now: u64) -> Result<Ticket, &'static str> {
        let (payload, _) = open_signed(cfg, ring, value, now)?;
        let text = std::str::from_utf8(&payload).map_err(|_| "not a ticket")?;
        let parts: Vec<&str> = text.split('.').collect();
        let (id, secret) = match parts.as_slice() {
            ["v2", id, secret] => {
                (String::from_utf8(URL_SAFE_NO_PAD.decode(id).map_err(|_| "not a ticket")?).map_err(|_| "not a ticket")?, *secret)
            }
            [id, secret] => (id.to_string(), *secret),
            _ => return Err("not a ticket"),
        };
        if !id.strip_prefix(&cfg.name).is_some_and(|rest| rest.starts_with('-')) {
            return Err("not a ticket");
        }
        let secret = URL_SAFE_NO_PAD.decode(secret).map_err(|_| "not a ticket")?;
        Ok(Ticket { id, secret })
    }

    /// The session oauth2-proxy stored under this ticket.
    pub fn open(&self, value: &[u8]) -> Result<SessionState, &'static str> {
        let packed = primitives::gcm_open(&self.secret, value).ok_or("does not open")?;
        decode_state(&packed)
    }
}

/// oauth2-proxy's `SessionState` in msgpack: a map with short keys, all optional; times as
/// the msgpack timestamp extension (-1); the nonce as raw bytes.
fn decode_state(packed: &[u8]) -> Result<SessionState, &'static str> {
    let value = rmpv::decode::read_value_with_max_depth(&mut &packed[..], 8).map_err(|_| "unreadable")?;
    let Value::Map(fields) = value else { return Err("unreadable") };
    let mut s = SessionState::default();
    let text = |v: &Value| v.as_str().map(str::to_string).ok_or("unreadable");
    let token = |v: &Value| text(v).map(|t| (!t.is_empty()).then_some(t));
    for (k, v) in &fields {
        match k.as_str().ok_or("unreadable")? {
            "ca" => s.created_at = timestamp(v)?,
            "eo" => s.expires_on = Some(timestamp(v)?),
            "at" => s.access_token = token(v)?,
            "it" => s.id_token = token(v)?,
            "rt" => s.refresh_token = token(v)?,
            // Gatehouse keeps the hash the ID token carries; oauth2-proxy the raw bytes.
            "n" => {
                let raw = match v {
                    Value::Binary(b) => b.as_slice(),
                    Value::String(t) => t.as_bytes(),
                    _ => return Err("unreadable"),
                };
                s.nonce = Some(URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, raw)));
            }
            "e" => s.email = text(v)?,
            "u" => s.user = text(v)?,
            "pu" => s.preferred_username = text(v)?,
            "g" => {
                s.groups = match v {
                    Value::Nil => Vec::new(),
                    Value::Array(items) => items.iter().map(text).collect::<Result<_, _>>()?,
                    _ => return Err("unreadable"),
                }
            }
            // Additional claims and anything newer: not needed to serve the session.
            _ => {}
        }
    }
    if s.created_at == 0 {
        return Err("unreadable");
    }
    // oauth2-proxy keeps the nonce even when it did not send it (its default
    // `insecure_oidc_skip_nonce = true`); a refreshed ID token is held to it only when the
    // login's ID token carries it.
    if s.nonce.is_some() && s.nonce != s.id_token.as_deref().and_then(nonce_claim) {
        s.nonce = None;
    }
    // oauth2-proxy's htpasswd sessions carry a user and groups only: no token and no email
    // (a provider login with `session_cookie_minimal` has no tokens but has the email, and
    // keeps the full email and domain checks). Gatehouse holds such a user to the file.
    s.htpasswd = s.access_token.is_none() && s.id_token.is_none() && s.refresh_token.is_none() && s.email.is_empty();
    Ok(s)
}

/// The `nonce` claim of a JWT this session holds (read, not verified: the session itself is
/// authenticated, and the claim only decides what a refreshed token is held to).
fn nonce_claim(jwt: &str) -> Option<String> {
    let payload = URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1)?).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    claims.get("nonce")?.as_str().map(str::to_string)
}

/// Unix seconds of a msgpack timestamp (extension -1: 4, 8 or 12 bytes).
fn timestamp(v: &Value) -> Result<u64, &'static str> {
    let Value::Ext(-1, data) = v else { return Err("unreadable") };
    let secs = match data.len() {
        4 => u64::from(u32::from_be_bytes(data[..4].try_into().map_err(|_| "unreadable")?)),
        8 => u64::from_be_bytes(data[..8].try_into().map_err(|_| "unreadable")?) & ((1 << 34) - 1),
        12 => {
            let secs = i64::from_be_bytes(data[4..12].try_into().map_err(|_| "unreadable")?);
            u64::try_from(secs).map_err(|_| "unreadable")?
        }
        _ => return Err("unreadable"),
    };
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::keys::Keys;
    use std::sync::Arc;
    use std::time::Duration;

    /// A session cookie the real oauth2-proxy v7.15.6 wrote after a login of alice at the test
    /// provider (`tests/fixtures/oauth2-proxy/`), with its secret.
    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn fixture() -> (String, u64) {
        let text = include_str!("../../tests/fixtures/oauth2-proxy/session-cookie.txt").trim().to_string();
        let signed_at = text.split('|').nth(1).unwrap().parse().unwrap();
        (text, signed_at)
    }

    fn open_with(cfg: &CookieConfig, value: &str, now: u64) -> Result<SessionState, &'static str> {
        open_cookie(cfg, &cfg.keys.get(), value, now)
    }

    fn cfg(secret: &str, expire: u64) -> CookieConfig {
        CookieConfig {
            name: "_oauth2_proxy".into(),
            keys: Keys::Fixed(Arc::new(KeyRing::new(vec![CookieSecret::new(secret.as_bytes().to_vec()).unwrap()]).unwrap())),
            secret_file: None,
            domains: Vec::new(),
            path: "/".into(),
            expire: Duration::from_secs(expire),
            refresh: Duration::ZERO,
            secure: false,
            httponly: true,
            samesite: crate::session::SameSite::Unset,
            csrf_per_request: false,
            csrf_per_request_limit: 0,
            csrf_expire: Duration::from_secs(900),
            csrf_samesite: crate::session::SameSite::Unset,
        }
    }

    #[test]
    fn a_cookie_oauth2_proxy_wrote_opens_with_every_field() {
        let (value, at) = fixture();
        assert!(is_theirs(&value));
        let s = open_with(&cfg(SECRET, 168 * 3600), &value, at + 10).expect("opens");
        assert_eq!((s.user.as_str(), s.email.as_str()), ("alice", "alice@example.com"));
        assert_eq!(s.created_at, at);
        assert!(s.expires_on.is_some_and(|e| e > at));
        assert!(s.access_token.is_some() && s.id_token.as_deref().is_some_and(|t| t.starts_with("ey")));
        // This login sent no nonce (oauth2-proxy's default), so none is required later.
        assert!(s.nonce.is_none() && !s.htpasswd);
    }

    #[test]
    fn a_cookie_oauth2_proxy_wrote_is_refused_when_damaged_expired_or_under_another_secret() {
        let (value, at) = fixture();
        let c = cfg(SECRET, 168 * 3600);
        assert_eq!(open_with(&c, &value, at + 168 * 3600).err(), Some("expired"));
        assert_eq!(open_with(&c, &value, at - FUTURE_SKEW_SECS).err(), Some("expired"));
        assert!(open_with(&cfg(SECRET, 0), &value, at + 1000 * 24 * 3600).is_ok(), "cookie_expire 0: no age check");
        let other = cfg("BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 168 * 3600);
        assert_eq!(open_with(&other, &value, at).err(), Some("does not open"));
        let mut named = c.clone();
        named.name = "_other".into();
        assert_eq!(open_with(&named, &value, at).err(), Some("does not open"), "the MAC binds the cookie name");
        for i in [0, 10, value.find('|').unwrap() - 3, value.len() - 5] {
            let mut bad = value.clone().into_bytes();
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            assert!(open_with(&c, &String::from_utf8(bad).unwrap(), at).is_err(), "byte {i}");
        }
        assert!(open_with(&c, "a|b|c|d", at).is_err());
        assert!(open_with(&c, "||", at).is_err());
    }

    #[test]
    fn msgpack_timestamps_of_every_width() {
        assert_eq!(timestamp(&Value::Ext(-1, 1_700_000_000u32.to_be_bytes().to_vec())), Ok(1_700_000_000));
        let with_nanos = (5u64 << 34) | 1_700_000_000;
        assert_eq!(timestamp(&Value::Ext(-1, with_nanos.to_be_bytes().to_vec())), Ok(1_700_000_000));
        let mut wide = 7u32.to_be_bytes().to_vec();
        wide.extend_from_slice(&20_000_000_000i64.to_be_bytes());
        assert_eq!(timestamp(&Value::Ext(-1, wide)), Ok(20_000_000_000));
        let mut negative = 0u32.to_be_bytes().to_vec();
        negative.extend_from_slice(&(-5i64).to_be_bytes());
        assert!(timestamp(&Value::Ext(-1, negative)).is_err());
        assert!(timestamp(&Value::Ext(2, vec![0; 4])).is_err());
        assert!(timestamp(&Value::from(5)).is_err());
    }

    #[test]
    fn sessions_without_tokens_or_email_are_htpasswd_sessions_and_without_a_time_unreadable() {
        let mut buf = Vec::new();
        let map = Value::Map(vec![
            (Value::from("u"), Value::from("bob")),
            (Value::from("ca"), Value::Ext(-1, 1_700_000_000u32.to_be_bytes().to_vec())),
            (Value::from("ac"), Value::Map(vec![(Value::from("x"), Value::from(1))])),
        ]);
        rmpv::encode::write_value(&mut buf, &map).unwrap();
        let s = decode_state(&buf).unwrap();
        assert!(s.htpasswd && s.user == "bob");
        // A provider login stored minimal (no tokens) still has its email: not htpasswd.
        let mut buf = Vec::new();
        let minimal = Value::Map(vec![
            (Value::from("u"), Value::from("carol")),
            (Value::from("e"), Value::from("carol@example.com")),
            (Value::from("ca"), Value::Ext(-1, 1_700_000_000u32.to_be_bytes().to_vec())),
        ]);
        rmpv::encode::write_value(&mut buf, &minimal).unwrap();
        assert!(!decode_state(&buf).unwrap().htpasswd);
        let mut buf = Vec::new();
        rmpv::encode::write_value(&mut buf, &Value::Map(vec![(Value::from("u"), Value::from("bob"))])).unwrap();
        assert!(decode_state(&buf).is_err());
        assert!(decode_state(b"\xc1").is_err());
    }
}
