//! The Redis session store: the browser's cookie holds only a sealed *ticket* (the Redis key
//! and a per-session secret); Redis holds only the session sealed with that secret. A Redis
//! dump reveals no token or identity, a stolen cookie dies with sign-out (the key is deleted),
//! and the cookie stays small.

use std::time::Duration;

use actix_web::cookie::Cookie;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use url::Url;

use super::cookie::{CookieFactory, RequestCookies};
use super::crypto::{Purpose, Sealer};
use super::{CookieConfig, FUTURE_SKEW_SECS, Loaded, RedisConfig, RedisTopology, SessionState, SessionStore, StoreError, now};

/// A session's address in Redis and its key.
struct Ticket {
    /// `<cookie_name>-<32 hex>`: also the Redis key.
    id: String,
    secret: [u8; 32],
}

impl Ticket {
    fn new(cookie_name: &str) -> Ticket {
        let mut raw = [0u8; 48];
        aws_lc_rs::rand::fill(&mut raw).expect("the system random generator is available");
        let hex: String = raw[..16].iter().map(|b| format!("{b:02x}")).collect();
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&raw[16..]);
        Ticket { id: format!("{cookie_name}-{hex}"), secret }
    }

    fn encode(&self) -> String {
        format!("v1.{}.{}", self.id, URL_SAFE_NO_PAD.encode(self.secret))
    }

    fn decode(s: &str, cookie_name: &str) -> Option<Ticket> {
        let rest = s.strip_prefix("v1.")?;
        let (id, secret) = rest.rsplit_once('.')?;
        let hex = id.strip_prefix(cookie_name)?.strip_prefix('-')?;
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let secret: [u8; 32] = URL_SAFE_NO_PAD.decode(secret).ok()?.try_into().ok()?;
        Some(Ticket { id: id.to_string(), secret })
    }

    fn sealer(&self) -> Sealer {
        Sealer::new(&self.secret, Purpose::RedisValue)
    }
}

pub struct RedisStore {
    conn: ConnectionManager,
    cookies: CookieFactory,
    /// Seals the ticket in the cookie (under `cookie_secret`).
    tickets: Sealer,
}

fn store_error(e: redis::RedisError) -> StoreError {
    StoreError(format!("redis: {e}"))
}

impl RedisStore {
    /// Prepares the connection; it is made on first use and remade after failures, each try
    /// bounded, so a Redis outage fails requests quickly (503) instead of hanging them.
    pub fn new(cookie: &CookieConfig, cfg: &RedisConfig) -> anyhow::Result<RedisStore> {
        let url = match &cfg.topology {
            RedisTopology::Standalone { url } => url.clone(),
            _ => anyhow::bail!("Redis Sentinel and Cluster are not supported yet"),
        };
        let mut url = Url::parse(&url)?;
        if let Some(user) = &cfg.username {
            url.set_username(user).map_err(|_| anyhow::anyhow!("redis_username cannot be set on this URL"))?;
        }
        if let Some(password) = &cfg.password {
            url.set_password(Some(password.expose())).map_err(|_| anyhow::anyhow!("redis_password cannot be set on this URL"))?;
        }
        let client = redis::Client::open(url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisStore { conn, cookies: CookieFactory::new(cookie.clone()), tickets: Sealer::new(cookie.secret.expose(), Purpose::Ticket) })
    }

    fn ticket(&self, cookies: &RequestCookies) -> Option<Ticket> {
        let name = &self.cookies.config().name;
        let sealed = cookies.get(name)?;
        let plain = self.tickets.open(name, sealed).ok()?;
        Ticket::decode(std::str::from_utf8(&plain).ok()?, name)
    }

    /// A write, a read and a delete of a throw-away key: what `--config-test` runs.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let key = format!("{}-healthcheck-{}", self.cookies.config().name, super::super::oidc::flow::random_b64(8));
        let mut c = self.conn.clone();
        redis::cmd("SET").arg(&key).arg("ok").arg("EX").arg(60).query_async::<()>(&mut c).await.map_err(store_error)?;
        let got: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut c).await.map_err(store_error)?;
        redis::cmd("DEL").arg(&key).query_async::<()>(&mut c).await.map_err(store_error)?;
        if got.as_deref() == Some("ok") { Ok(()) } else { Err(StoreError("redis: the health key did not read back".into())) }
    }
}

impl SessionStore for RedisStore {
    async fn load(&self, cookies: &RequestCookies) -> Result<Loaded, StoreError> {
        if cookies.get(&self.cookies.config().name).is_none() {
            return Ok(Loaded::None);
        }
        let Some(ticket) = self.ticket(cookies) else { return Ok(Loaded::Invalid("not a valid ticket")) };
        let mut c = self.conn.clone();
        let value: Option<String> = redis::cmd("GET").arg(&ticket.id).query_async(&mut c).await.map_err(store_error)?;
        let Some(value) = value else { return Ok(Loaded::Invalid("signed out or expired")) };
        let Ok(plain) = ticket.sealer().open(&ticket.id, &value) else { return Ok(Loaded::Invalid("does not open")) };
        let Ok(session) = serde_json::from_slice::<SessionState>(&plain) else { return Ok(Loaded::Invalid("unreadable")) };
        let cfg = self.cookies.config();
        let now = now();
        if session.created_at > now + FUTURE_SKEW_SECS || (!cfg.expire.is_zero() && session.age(now) > cfg.expire) {
            return Ok(Loaded::Invalid("expired"));
        }
        Ok(Loaded::Valid(session))
    }

    async fn save(&self, cookies: &RequestCookies, host: &str, session: &SessionState) -> Result<Vec<Cookie<'static>>, StoreError> {
        // A refresh keeps the ticket, so every instance and tab keeps finding the session.
        let ticket = self.ticket(cookies).unwrap_or_else(|| Ticket::new(&self.cookies.config().name));
        let json = serde_json::to_vec(session).map_err(|e| StoreError(e.to_string()))?;
        let value = ticket.sealer().seal(&ticket.id, &json);
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(&ticket.id).arg(value);
        let ttl = self.cookies.config().expire;
        if !ttl.is_zero() {
            cmd.arg("EX").arg(ttl.as_secs().max(1));
        }
        cmd.query_async::<()>(&mut c).await.map_err(store_error)?;
        let name = self.cookies.config().name.clone();
        let sealed = self.tickets.seal(&name, ticket.encode().as_bytes());
        Ok(self.cookies.session_cookies(sealed, host, cookies))
    }

    async fn clear(&self, cookies: &RequestCookies, host: &str) -> Result<Vec<Cookie<'static>>, StoreError> {
        if let Some(ticket) = self.ticket(cookies) {
            let mut c = self.conn.clone();
            redis::cmd("DEL").arg(&ticket.id).query_async::<()>(&mut c).await.map_err(store_error)?;
        }
        Ok(self.cookies.clear_session(cookies, host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_round_trip_and_refuse_foreign_shapes() {
        let t = Ticket::new("_oauth2_proxy");
        let back = Ticket::decode(&t.encode(), "_oauth2_proxy").unwrap();
        assert_eq!((back.id, back.secret), (t.id.clone(), t.secret));
        assert!(Ticket::decode(&t.encode(), "other").is_none());
        assert!(Ticket::decode("v1._oauth2_proxy-zz.AAAA", "_oauth2_proxy").is_none());
        assert!(Ticket::decode("v2.x.y", "_oauth2_proxy").is_none());
    }
}
