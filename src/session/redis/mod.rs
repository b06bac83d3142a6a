//! The Redis session store: the browser's cookie holds only a sealed *ticket* (the Redis key
//! and a per-session secret); Redis holds only the session sealed with that secret. A Redis
//! dump reveals no token or identity, a stolen cookie dies with sign-out (the key is deleted),
//! and the cookie stays small.

mod conn;
pub mod index;

use std::time::Duration;

use actix_web::cookie::Cookie;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::{Cmd, FromRedisValue};

use super::jar::{CookieFactory, RequestCookies};
use super::opened::{self, Remembered};
use super::refresh::{RefreshOutcome, SetCookies};
use super::state::fresh;
use super::{CookieConfig, Found, Operation, RedisConfig, SessionState, SessionStore, StoreError, now, oauth2_proxy};
use crate::oidc::flow::random_b64;
use crate::session::crypto::{Purpose, Sealer};
use crate::session::keys::KeyRing;
use conn::{Conn, connect};

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

/// What a request's session cookie points at.
enum Presented {
    Ours(Ticket),
    /// A session oauth2-proxy stored (read so a switch from it logs nobody out; a save moves
    /// it to a Gatehouse ticket and deletes the old key).
    Theirs(oauth2_proxy::Ticket),
}

impl Presented {
    fn id(&self) -> &str {
        match self {
            Presented::Ours(t) => &t.id,
            Presented::Theirs(t) => &t.id,
        }
    }
}

/// How long the key of a session oauth2-proxy stored lives on after Gatehouse moved it to a
/// ticket of its own (requests already in flight with the old cookie).
const MOVED_GRACE: Duration = Duration::from_secs(60);

pub struct RedisStore {
    /// Whether the last operation worked: outages and recoveries are logged once each.
    healthy: std::sync::atomic::AtomicBool,
    conn: Conn,
    cookies: CookieFactory,
    /// Command latency and errors.
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// This store's sessions in the per-thread memory of opened sessions (`super::opened`).
    id: u64,
}

/// A Redis failure; the store's public operations name what they were doing (`during`).
fn store_error(e: redis::RedisError) -> StoreError {
    StoreError::new(Operation::Load, format!("redis: {e}"))
}

impl RedisStore {
    /// Prepares the connection; it is made on first use and remade after failures, each try
    /// bounded, so a Redis outage fails requests quickly (503) instead of hanging them.
    pub fn new(cookie: &CookieConfig, cfg: &RedisConfig, metrics: std::sync::Arc<crate::metrics::Metrics>) -> anyhow::Result<RedisStore> {
        Ok(RedisStore {
            metrics,
            healthy: std::sync::atomic::AtomicBool::new(true),
            conn: connect(cfg)?,
            cookies: CookieFactory::new(cookie.clone()),
            id: opened::store_id(),
        })
    }

    /// Runs a command, logging the first failure of an outage and the first success after it.
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        use std::sync::atomic::Ordering;
        let start = std::time::Instant::now();
        let result = self.conn.query(cmd).await;
        self.metrics.redis(start.elapsed().as_secs_f64(), result.is_ok());
        match result {
            Ok(v) => {
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    log::info!("Redis is reachable again");
                }
                Ok(v)
            }
            Err(e) => {
                if self.healthy.swap(false, Ordering::Relaxed) {
                    log::error!("Redis is unreachable, sessions are unavailable (503) until it is back: {e}");
                }
                Err(store_error(e))
            }
        }
    }

    /// The ticket the request's cookie carries: Gatehouse's, or one oauth2-proxy wrote.
    fn presented(&self, cookies: &RequestCookies) -> Option<Presented> {
        self.presented_with(&self.cookies.config().keys.get(), cookies)
    }

    /// [`Self::presented`] with the key ring the caller holds.
    fn presented_with(&self, ring: &KeyRing, cookies: &RequestCookies) -> Option<Presented> {
        let cfg = self.cookies.config();
        let sealed = cookies.get(&cfg.name)?;
        if oauth2_proxy::is_theirs(sealed) {
            return oauth2_proxy::Ticket::from_cookie(cfg, ring, sealed, now()).ok().map(Presented::Theirs);
        }
        // The ticket in the cookie, sealed under the cookie secrets.
        let plain = ring.open(Purpose::Ticket, &cfg.name, sealed).ok()?;
        Ticket::decode(std::str::from_utf8(&plain).ok()?, &cfg.name).map(Presented::Ours)
    }

    /// The session in a stored value, remembered for this cookie when it opens, under the
    /// generation of the key ring that opened its ticket (a ring reloaded meanwhile must not
    /// adopt what the old one opened).
    fn open_stored(&self, cookie: &str, ticket: &Presented, value: Vec<u8>, generation: u64) -> Found {
        let session = match ticket {
            Presented::Ours(t) => {
                let Some(plain) = std::str::from_utf8(&value).ok().and_then(|v| t.sealer().open(&t.id, v).ok()) else {
                    return Found::Invalid("does not open");
                };
                let Ok(session) = serde_json::from_slice::<SessionState>(&plain) else { return Found::Invalid("unreadable") };
                session
            }
            Presented::Theirs(t) => match t.open(&value) {
                Ok(session) => session,
                Err(why) => return Found::Invalid(why),
            },
        };
        let loaded = fresh(self.cookies.config(), std::sync::Arc::new(session), now());
        // Only Gatehouse's tickets: an oauth2-proxy ticket cookie carries its own signed time,
        // checked when it is read, which a remembered session would skip.
        if let (Found::Valid(session), Presented::Ours(_)) = (&loaded, ticket) {
            let stored = Some(std::sync::Arc::new((ticket.id().to_string(), value)));
            opened::remember(self.id, generation, cookie, Remembered { session: session.clone(), stored });
        }
        loaded
    }

    /// A write, a read and a delete of a throw-away key: what `--config-test` runs.
    pub async fn probe(&self) -> Result<(), StoreError> {
        self.probe_inner().await.map_err(|e| e.during(Operation::Ping))
    }

    async fn probe_inner(&self) -> Result<(), StoreError> {
        let key = format!("{}-healthcheck-{}", self.cookies.config().name, random_b64(8));
        self.query::<()>(redis::cmd("SET").arg(&key).arg("ok").arg("EX").arg(60)).await?;
        let got: Option<String> = self.query(redis::cmd("GET").arg(&key)).await?;
        self.query::<()>(redis::cmd("DEL").arg(&key)).await?;
        if got.as_deref() == Some("ok") { Ok(()) } else { Err(StoreError::new(Operation::Ping, "redis: the health key did not read back")) }
    }
}

/// How long a refresh lock lives unless renewed; renewed every third of it while the refresh
/// runs, so a slow provider cannot let a second instance in (oauth2-proxy's fixed 2 s lease can).
const LOCK_LEASE: Duration = Duration::from_secs(6);
/// How long an instance waits for another one's refresh before going on without it.
const LOCK_WAIT: Duration = Duration::from_secs(15);

/// Releases the lock only if it is still ours.
const UNLOCK: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
/// Extends the lock only if it is still ours.
const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

/// What asking for a session's refresh lock gave.
enum LockAttempt {
    /// Ours, under this key and token, until released.
    Held { key: String, token: String },
    /// Another instance is refreshing this session; its lock's key.
    Busy(String),
    /// The request has no valid ticket.
    NoTicket,
}

impl RedisStore {
    /// Tries to take the session's refresh lock (`<ticket>.lock`, `SET NX PX`).
    async fn lock(&self, cookies: &RequestCookies) -> Result<LockAttempt, StoreError> {
        // oauth2-proxy locks `<ticket id>.lock` too: during a switch, neither refreshes a
        // session the other is refreshing.
        let Some(ticket) = self.presented(cookies) else { return Ok(LockAttempt::NoTicket) };
        let key = format!("{}.lock", ticket.id());
        let token = random_b64(16);
        let lease = LOCK_LEASE.as_millis() as u64;
        let got: Option<String> = self.query(redis::cmd("SET").arg(&key).arg(&token).arg("NX").arg("PX").arg(lease)).await?;
        Ok(if got.is_some() { LockAttempt::Held { key, token } } else { LockAttempt::Busy(key) })
    }

    /// Renews the lock every third of its lease, for as long as it is polled (the refresh
    /// runs beside it and drops it when done), so a slow provider cannot let a second instance
    /// in (oauth2-proxy's fixed 2 s lease can).
    async fn keep_locked(&self, key: &str, token: &str) -> std::convert::Infallible {
        let lease = LOCK_LEASE.as_millis() as u64;
        loop {
            actix_web::rt::time::sleep(LOCK_LEASE / 3).await;
            let _ = self.conn.query::<i64>(redis::cmd("EVAL").arg(RENEW).arg(1).arg(key).arg(token).arg(lease)).await;
        }
    }

    async fn unlock(&self, key: &str, token: &str) {
        let _ = self.conn.query::<i64>(redis::cmd("EVAL").arg(UNLOCK).arg(1).arg(key).arg(token)).await;
    }

    /// Waits until another instance's lock is gone (or [`LOCK_WAIT`] passed).
    async fn wait_unlocked(&self, key: &str) {
        let started = std::time::Instant::now();
        while started.elapsed() < LOCK_WAIT {
            match self.conn.query::<i64>(redis::cmd("EXISTS").arg(key)).await {
                Ok(0) | Err(_) => return,
                Ok(_) => actix_web::rt::time::sleep(Duration::from_millis(25)).await,
            }
        }
    }

    /// The refresh under our lock: read the session again (another instance may have
    /// refreshed it between our read and our lock), else grant and save before unlocking.
    async fn refresh_locked<F, Fut>(&self, cookies: &RequestCookies, host: &str, session: &SessionState, grant: F) -> RefreshOutcome
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = RefreshOutcome>,
    {
        let refresh = self.cookies.config().refresh;
        match self.load(cookies).await {
            // Refreshed by another instance meanwhile: not due any more, or due again but with
            // a newer refresh token (this request's may be spent, with rotating tokens).
            Ok(Found::Valid(fresh)) if !fresh.refresh_due(refresh, now()) || fresh.refresh_token != session.refresh_token => {
                return RefreshOutcome::RefreshedElsewhere(fresh);
            }
            // Signed out (or expired) while this refresh waited for the lock: nothing to refresh.
            Ok(Found::None | Found::Invalid(_)) => return RefreshOutcome::EndSession,
            _ => {}
        }
        let outcome = grant().await;
        let RefreshOutcome::Granted(granted) = &outcome else { return outcome };
        let mut updated = session.clone();
        updated.apply_grant(granted, now());
        match self.save_refreshed(cookies, host, &updated).await {
            Ok(Some(set)) => RefreshOutcome::GrantedAndSaved(std::sync::Arc::new(updated), std::sync::Arc::new(SetCookies(set))),
            Ok(None) => {
                log::info!("session of {} signed out while it was being refreshed; not saved", session.user);
                RefreshOutcome::EndSession
            }
            // The request saves again, and answers 503 if that fails too.
            Err(e) => {
                log::warn!("refreshed session not saved: {e}");
                outcome
            }
        }
    }
}

impl SessionStore for RedisStore {
    async fn load(&self, cookies: &RequestCookies) -> Result<Found, StoreError> {
        let found = self.load_inner(cookies).await.map_err(|e| e.during(Operation::Load))?;
        // A session without a login time (stored before the index existed, or by oauth2-proxy)
        // may be missing from the index a logout ends sessions through: the logout's record
        // ends it instead, on every instance.
        if let Found::Valid(session) = &found
            && session.login_at == 0
            && self.ended_since_login(session).await.map_err(|e| e.during(Operation::Load))?
        {
            return Ok(Found::Invalid("ended by a logout"));
        }
        Ok(found)
    }

    async fn save(&self, cookies: &RequestCookies, host: &str, session: &SessionState) -> Result<Vec<Cookie<'static>>, StoreError> {
        self.save_inner(cookies, host, session).await.map_err(|e| e.during(Operation::Save))
    }

    async fn clear(&self, cookies: &RequestCookies, host: &str) -> Result<Vec<Cookie<'static>>, StoreError> {
        self.clear_inner(cookies, host).await.map_err(|e| e.during(Operation::Clear))
    }

    /// Under a new ticket, the request's old one deleted. A ticket planted in the browser
    /// before the login never carries the new session (fixation).
    async fn save_new(&self, cookies: &RequestCookies, host: &str, session: &SessionState) -> Result<Vec<Cookie<'static>>, StoreError> {
        self.replace(self.presented(cookies), cookies, host, session).await.map_err(|e| e.during(Operation::Save))
    }

    /// The instance holding the session's lock refreshes and saves before releasing it; the
    /// others wait, then read the refreshed session.
    async fn refresh_once<F, Fut>(&self, cookies: &RequestCookies, host: &str, session: &SessionState, grant: F) -> RefreshOutcome
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = RefreshOutcome>,
    {
        match self.lock(cookies).await {
            Ok(LockAttempt::Held { key, token }) => {
                let outcome = tokio::select! {
                    outcome = self.refresh_locked(cookies, host, session, grant) => outcome,
                    never = self.keep_locked(&key, &token) => match never {},
                };
                self.unlock(&key, &token).await;
                outcome
            }
            Ok(LockAttempt::Busy(key)) => {
                self.wait_unlocked(&key).await;
                match self.load(cookies).await {
                    Ok(Found::Valid(fresh)) if !fresh.refresh_due(self.cookies.config().refresh, now()) => {
                        RefreshOutcome::RefreshedElsewhere(fresh)
                    }
                    Ok(Found::Valid(_)) | Err(_) => RefreshOutcome::KeepForNow,
                    Ok(_) => RefreshOutcome::EndSession,
                }
            }
            Ok(LockAttempt::NoTicket) | Err(_) => RefreshOutcome::KeepForNow,
        }
    }

    /// `PING`, for readiness.
    async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ()).map_err(|e| e.during(Operation::Ping))
    }
}

impl RedisStore {
    async fn load_inner(&self, cookies: &RequestCookies) -> Result<Found, StoreError> {
        let Some(cookie) = cookies.get(&self.cookies.config().name) else { return Ok(Found::None) };
        // A session this thread opened before: its key is still read, and the session reused
        // only if the stored value is unchanged (a refresh elsewhere changes it).
        // One key ring for the whole load: the ticket opened and the session remembered under it.
        let ring = self.cookies.config().keys.get();
        if let Some(hit) = opened::remembered(self.id, ring.generation(), cookie)
            && let Some(stored) = &hit.stored
        {
            let value: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(&stored.0)).await?;
            let loaded = match value {
                None => Found::Invalid("signed out or expired"),
                Some(value) if value == stored.1 => fresh(self.cookies.config(), hit.session, now()),
                Some(value) => match self.presented_with(&ring, cookies) {
                    Some(ticket) => self.open_stored(cookie, &ticket, value, ring.generation()),
                    None => Found::Invalid("not a valid ticket"),
                },
            };
            if !matches!(loaded, Found::Valid(_)) {
                opened::forget(self.id, cookie);
            }
            return Ok(loaded);
        }
        let Some(ticket) = self.presented_with(&ring, cookies) else { return Ok(Found::Invalid("not a valid ticket")) };
        // Bytes: oauth2-proxy stores raw ciphertext, Gatehouse base64url text.
        let value: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(ticket.id())).await?;
        let Some(value) = value else { return Ok(Found::Invalid("signed out or expired")) };
        Ok(self.open_stored(cookie, &ticket, value, ring.generation()))
    }

    async fn save_inner(&self, cookies: &RequestCookies, host: &str, session: &SessionState) -> Result<Vec<Cookie<'static>>, StoreError> {
        // A refresh keeps the ticket, so every instance and tab keeps finding the session. A
        // session oauth2-proxy stored moves to a Gatehouse ticket (its format is read-only).
        match self.presented(cookies) {
            Some(Presented::Ours(ticket)) => self.write(ticket, cookies, host, session).await,
            // Parallel requests may still carry the old cookie: its key lives on a minute,
            // so they are not logged out by the move.
            // A sign-out within that minute deletes it too (`<new id>.from` names it).
            Some(theirs @ Presented::Theirs(_)) => {
                let ticket = Ticket::new(&self.cookies.config().name);
                let from = format!("{}.from", ticket.id);
                let cookies_out = self.write(ticket, cookies, host, session).await?;
                self.query::<()>(redis::cmd("SET").arg(&from).arg(theirs.id()).arg("EX").arg(MOVED_GRACE.as_secs())).await?;
                self.query::<()>(redis::cmd("EXPIRE").arg(theirs.id()).arg(MOVED_GRACE.as_secs())).await?;
                Ok(cookies_out)
            }
            None => self.replace(None, cookies, host, session).await,
        }
    }

    async fn clear_inner(&self, cookies: &RequestCookies, host: &str) -> Result<Vec<Cookie<'static>>, StoreError> {
        if let Some(ticket) = self.presented(cookies) {
            if let Presented::Ours(t) = &ticket {
                // Out of the indexes too, which needs whose session it was.
                if let Found::Valid(session) = self.load_inner(cookies).await? {
                    self.unindex(&t.id, &session).await?;
                }
                // The oauth2-proxy session this one was moved from, if that was under a minute ago.
                let from = format!("{}.from", t.id);
                let moved: Option<String> = self.query(redis::cmd("GET").arg(&from)).await?;
                if let Some(old) = moved.filter(|o| o.starts_with(&format!("{}-", self.cookies.config().name))) {
                    self.query::<()>(redis::cmd("DEL").arg(old).arg(&from)).await?;
                }
            }
            self.query::<()>(redis::cmd("DEL").arg(ticket.id())).await?;
        }
        Ok(self.cookies.clear_session(cookies, host))
    }
}

impl RedisStore {
    /// Saves under a new ticket and deletes the old one's key.
    async fn replace(
        &self,
        old: Option<Presented>,
        cookies: &RequestCookies,
        host: &str,
        session: &SessionState,
    ) -> Result<Vec<Cookie<'static>>, StoreError> {
        if let Some(old) = old {
            self.query::<()>(redis::cmd("DEL").arg(old.id())).await?;
        }
        self.write(Ticket::new(&self.cookies.config().name), cookies, host, session).await
    }

    async fn write(
        &self,
        ticket: Ticket,
        cookies: &RequestCookies,
        host: &str,
        session: &SessionState,
    ) -> Result<Vec<Cookie<'static>>, StoreError> {
        Ok(self.write_if(ticket, cookies, host, session, false).await?.unwrap_or_default())
    }

    /// A refreshed session, saved only where it still is (`SET … XX`): a sign-out that deleted
    /// the ticket while the refresh ran wins, and `None` says so. An oauth2-proxy session moves
    /// to a new ticket as in any save.
    async fn save_refreshed(
        &self,
        cookies: &RequestCookies,
        host: &str,
        session: &SessionState,
    ) -> Result<Option<Vec<Cookie<'static>>>, StoreError> {
        match self.presented(cookies) {
            Some(Presented::Ours(ticket)) => self.write_if(ticket, cookies, host, session, true).await,
            _ => self.save_inner(cookies, host, session).await.map(Some),
        }
        .map_err(|e| e.during(Operation::Save))
    }

    /// Writes the session under `ticket` (only if its key exists, with `existing`: `None` when
    /// it does not) and returns the cookies that carry the ticket.
    async fn write_if(
        &self,
        ticket: Ticket,
        cookies: &RequestCookies,
        host: &str,
        session: &SessionState,
        existing: bool,
    ) -> Result<Option<Vec<Cookie<'static>>>, StoreError> {
        let json = serde_json::to_vec(session).map_err(|e| StoreError::new(Operation::Save, e))?;
        let value = ticket.sealer().seal(&ticket.id, &json);
        let mut cmd = redis::cmd("SET");
        cmd.arg(&ticket.id).arg(value);
        let ttl = self.cookies.config().expire;
        if !ttl.is_zero() {
            cmd.arg("EX").arg(ttl.as_secs().max(1));
        }
        if existing {
            cmd.arg("XX");
        }
        // `OK`, or nil when `XX` found no key.
        let written: Option<String> = self.query(&cmd).await?;
        if written.is_none() {
            return Ok(None);
        }
        self.index(&ticket, session).await?;
        if self.ended_since_login(session).await? {
            // Logged out at the provider while this login completed: the cookie carries a
            // ticket that is already gone, and the next request finds no session.
            log::info!("session of {} ended by a logout while it was saved", session.user);
            self.query::<()>(redis::cmd("DEL").arg(&ticket.id)).await?;
        }
        let cfg = self.cookies.config();
        let sealed = cfg.keys.get().seal(Purpose::Ticket, &cfg.name, ticket.encode().as_bytes());
        Ok(Some(self.cookies.session_cookies(sealed, host, cookies)))
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
