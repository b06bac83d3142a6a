//! Sessions: what a logged-in user's session holds, and where it is kept (sealed in cookies, or
//! in Redis behind a ticket cookie).
//!
//! Invariant: session contents leave this module only sealed; no other module sees cookie
//! ciphertext or key material.

pub mod cookie;
pub mod crypto;
pub mod oauth2_proxy;
pub mod redis;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::cookie::Cookie;
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::identity::Identity;
use cookie::{CookieFactory, RequestCookies};
use crypto::{Purpose, Sealer};

/// The SameSite attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// No attribute (the browser's default, Lax in current browsers).
    Unset,
    Lax,
    Strict,
    None,
}

/// Cookie settings shared by the session and CSRF cookies.
#[derive(Debug, Clone)]
pub struct CookieConfig {
    pub name: String,
    /// The secret as configured: oauth2-proxy signs with the string itself.
    pub secret: Secret<Vec<u8>>,
    /// The 16, 24 or 32 key bytes derived from the secret (base64url-decoded when it decodes to
    /// a valid length, else the raw bytes).
    pub key: Secret<Vec<u8>>,
    pub domains: Vec<String>,
    pub path: String,
    pub expire: Duration,
    pub refresh: Duration,
    pub secure: bool,
    pub httponly: bool,
    pub samesite: SameSite,
    pub csrf_per_request: bool,
    pub csrf_per_request_limit: usize,
    pub csrf_expire: Duration,
    pub csrf_samesite: SameSite,
}

/// How Gatehouse reaches Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTopology {
    Standalone { url: String },
    Sentinel { master_name: String, urls: Vec<String>, password: Option<Secret<String>> },
    Cluster { urls: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub topology: RedisTopology,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    pub ca_path: Option<PathBuf>,
    pub insecure_skip_tls_verify: bool,
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    Cookie,
    Redis(RedisConfig),
}

/// Validated session settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub cookie: CookieConfig,
    pub store: StoreConfig,
    pub minimal: bool,
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// How far in the future a session's creation time may lie (clock skew between instances),
/// as oauth2-proxy allows.
pub(crate) const FUTURE_SKEW_SECS: u64 = 300;

/// A logged-in user's session. Short field names keep the cookie small.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    #[serde(rename = "u")]
    pub user: String,
    #[serde(rename = "e", default)]
    pub email: String,
    #[serde(rename = "g", default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(rename = "pu", default, skip_serializing_if = "String::is_empty")]
    pub preferred_username: String,
    #[serde(rename = "at", default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(rename = "it", default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(rename = "rt", default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the session was created or last refreshed (Unix seconds).
    #[serde(rename = "ca")]
    pub created_at: u64,
    /// When the access token expires (Unix seconds), if the provider said.
    #[serde(rename = "eo", default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<u64>,
    /// The nonce hash the ID token must carry, when nonces are checked.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Signed in with the htpasswd form, not the provider: no tokens, no refresh, and the
    /// user must still be in the file.
    #[serde(rename = "hp", default, skip_serializing_if = "std::ops::Not::not")]
    pub htpasswd: bool,
}

impl fmt::Debug for SessionState {
    // Tokens never reach a log, even through a stray `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionState")
            .field("user", &self.user)
            .field("email", &self.email)
            .field("groups", &self.groups)
            .field("created_at", &self.created_at)
            .field("expires_on", &self.expires_on)
            .field("tokens", &"<redacted>")
            .finish()
    }
}

impl SessionState {
    pub fn identity(&self) -> Identity {
        Identity {
            user: self.user.clone(),
            email: self.email.clone(),
            groups: self.groups.clone(),
            preferred_username: self.preferred_username.clone(),
        }
    }

    /// The values identity headers are built from; `identity` is `self.identity()`.
    pub fn claim_values<'a>(&'a self, identity: &'a Identity) -> crate::identity::ClaimValues<'a> {
        crate::identity::ClaimValues {
            identity,
            access_token: self.access_token.as_deref(),
            id_token: self.id_token.as_deref(),
            refresh_token: self.refresh_token.as_deref(),
            created_at: self.created_at,
            expires_on: self.expires_on,
        }
    }

    pub fn age(&self, now: u64) -> Duration {
        Duration::from_secs(now.saturating_sub(self.created_at))
    }
}

/// What loading a session found.
#[derive(Debug)]
pub enum Loaded {
    /// No session cookie.
    None,
    /// Shared, so a remembered session is handed out without copying its tokens.
    Valid(Arc<SessionState>),
    /// A cookie that is tampered, truncated, sealed with another secret, expired or oversized.
    /// Treated as no session, and cleared.
    Invalid(&'static str),
}

/// A session store failed (Redis unreachable); never a reason to let a request through.
#[derive(Debug, thiserror::Error)]
#[error("session store: {0}")]
pub struct StoreError(pub String);

/// Where sessions are kept. The cookie store keeps the whole session in the cookie; the Redis
/// store will keep it server-side behind a ticket. Both return the cookies to set.
pub trait SessionStore {
    fn load(&self, cookies: &RequestCookies) -> impl Future<Output = Result<Loaded, StoreError>>;
    fn save(
        &self,
        cookies: &RequestCookies,
        host: &str,
        session: &SessionState,
    ) -> impl Future<Output = Result<Vec<Cookie<'static>>, StoreError>>;
    fn clear(&self, cookies: &RequestCookies, host: &str) -> impl Future<Output = Result<Vec<Cookie<'static>>, StoreError>>;
}

/// The whole session, sealed, in the session cookie (split when large).
pub struct CookieStore {
    cookies: CookieFactory,
    sealer: Sealer,
    /// Tells this store's entries in the per-thread cache of opened cookies from another's.
    id: u64,
}

/// How many opened sessions each worker thread remembers per store.
const OPENED_CACHE: usize = 1024;

/// A session a worker thread opened, remembered by its store and exact cookie value.
#[derive(Clone)]
struct Remembered {
    session: Arc<SessionState>,
    /// For a Redis session: its key and the stored value that opened. The key is read on every
    /// request (a sign-out or expiry must take effect at once); the session is reused only
    /// while the stored value is byte-for-byte this one.
    stored: Option<Arc<(String, Vec<u8>)>>,
}

/// One store's remembered sessions, by exact cookie value.
type Opened = HashMap<Box<str>, Remembered, ByTail>;

/// Hashes a cookie value by its last 32 bytes only (equality still compares all of it):
/// hashing all 800 and more bytes of a session cookie was 1.5% of a check. The tail of a sealed
/// value is its authentication tag (of an oauth2-proxy cookie, its signature), which differs
/// between any two cookies, and only values that opened are inserted, so nobody can fill a
/// bucket with colliding keys.
#[derive(Default)]
struct ByTail(std::hash::RandomState);

impl std::hash::BuildHasher for ByTail {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

struct TailHasher(std::hash::DefaultHasher);

impl std::hash::Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(&bytes[bytes.len().saturating_sub(32)..]);
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

thread_local! {
    /// Sessions this thread opened, by store and exact cookie value: a browser sends the same
    /// cookie with every request, and opening it (base64, AES-GCM, JSON) is most of what a
    /// forward-auth check costs. Per thread, so no lock; only values that opened go in, and
    /// the expiry is checked again on every hit. A Redis session is still read from Redis on
    /// every request ([`Remembered::stored`]).
    static OPENED: std::cell::RefCell<HashMap<u64, Opened>> = std::cell::RefCell::default();
}

/// A store's identity in [`OPENED`], unique per process.
fn store_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn remembered(store: u64, cookie: &str) -> Option<Remembered> {
    OPENED.with_borrow(|c| c.get(&store).and_then(|m| m.get(cookie)).cloned())
}

/// Drops what a cookie opened to (signed out, expired): its tokens need not stay in memory.
fn forget(store: u64, cookie: &str) {
    OPENED.with_borrow_mut(|c| c.get_mut(&store).and_then(|m| m.remove(cookie)));
}

fn remember(store: u64, cookie: &str, entry: Remembered) {
    OPENED.with_borrow_mut(|c| {
        let mine = c.entry(store).or_default();
        if mine.len() >= OPENED_CACHE {
            mine.clear();
        }
        mine.insert(cookie.into(), entry);
    });
}

impl CookieStore {
    pub fn new(cfg: &CookieConfig) -> Self {
        CookieStore { cookies: CookieFactory::new(cfg.clone()), sealer: Sealer::new(cfg.secret.expose(), Purpose::Session), id: store_id() }
    }

    /// `open`, remembering what opened (see [`OPENED`]).
    fn open_cached(&self, value: &str) -> Loaded {
        if let Some(hit) = remembered(self.id, value) {
            return fresh(self.cookies.config(), hit.session, now());
        }
        let loaded = self.open(value);
        if let Loaded::Valid(session) = &loaded {
            remember(self.id, value, Remembered { session: session.clone(), stored: None });
        }
        loaded
    }

    fn open(&self, value: &str) -> Loaded {
        let cfg = self.cookies.config();
        let now = now();
        // A cookie oauth2-proxy wrote (a switch from it logs nobody out).
        if oauth2_proxy::is_theirs(value) {
            return match oauth2_proxy::open_cookie(cfg, value, now) {
                Ok(session) => fresh(cfg, Arc::new(session), now),
                Err(why) => Loaded::Invalid(why),
            };
        }
        let Ok(plain) = self.sealer.open(&cfg.name, value) else {
            return Loaded::Invalid("does not open");
        };
        let Ok(session) = serde_json::from_slice::<SessionState>(&plain) else {
            return Loaded::Invalid("unreadable");
        };
        fresh(cfg, Arc::new(session), now)
    }
}

/// A session that opened, unless it was created in the future or is older than
/// `cookie_expire` (0: no limit).
fn fresh(cfg: &CookieConfig, session: Arc<SessionState>, now: u64) -> Loaded {
    if session.created_at > now + FUTURE_SKEW_SECS {
        return Loaded::Invalid("created in the future");
    }
    if !cfg.expire.is_zero() && session.age(now) > cfg.expire {
        return Loaded::Invalid("expired");
    }
    Loaded::Valid(session)
}

impl CookieStore {
    /// `load` without the async wrapper: a cookie session needs no I/O (the fuzz targets and
    /// the benchmarks call this directly).
    pub fn read(&self, cookies: &RequestCookies) -> Loaded {
        match cookie::read_chunked(cookies, &self.cookies.config().name) {
            Ok(None) => Loaded::None,
            Ok(Some(value)) => self.open_cached(&value),
            Err(_) => Loaded::Invalid("too many chunks"),
        }
    }
}

impl SessionStore for CookieStore {
    async fn load(&self, cookies: &RequestCookies) -> Result<Loaded, StoreError> {
        Ok(self.read(cookies))
    }

    async fn save(&self, cookies: &RequestCookies, host: &str, session: &SessionState) -> Result<Vec<Cookie<'static>>, StoreError> {
        let json = serde_json::to_vec(session).map_err(|e| StoreError(e.to_string()))?;
        let sealed = self.sealer.seal(&self.cookies.config().name, &json);
        Ok(self.cookies.session_cookies(sealed, host, cookies))
    }

    async fn clear(&self, cookies: &RequestCookies, host: &str) -> Result<Vec<Cookie<'static>>, StoreError> {
        Ok(self.cookies.clear_session(cookies, host))
    }
}

/// The login state kept in the CSRF cookie between `/oauth2/start` and `/oauth2/callback`.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginState {
    /// The raw CSRF value; the `state` parameter carries its hash.
    #[serde(rename = "s")]
    pub csrf: String,
    /// The raw nonce; the ID token carries its hash.
    #[serde(rename = "n")]
    pub nonce: String,
    #[serde(rename = "cv", default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
    #[serde(rename = "ca")]
    pub created_at: u64,
}

/// Why the CSRF cookie did not give a login state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    #[error("no CSRF cookie")]
    Missing,
    #[error("the CSRF cookie does not open")]
    Invalid,
    #[error("the CSRF cookie has expired")]
    Expired,
}

/// The CSRF cookie: `<name>_csrf`, or `<name>_<8 chars of the state hash>_csrf` per request.
pub struct CsrfCookies {
    cookies: CookieFactory,
    sealer: Sealer,
}

impl CsrfCookies {
    pub fn new(cfg: &CookieConfig) -> Self {
        CsrfCookies { cookies: CookieFactory::new(cfg.clone()), sealer: Sealer::new(cfg.secret.expose(), Purpose::Csrf) }
    }

    pub fn name(&self, state_hash: &str) -> String {
        let cfg = self.cookies.config();
        if cfg.csrf_per_request {
            format!("{}_{}_csrf", cfg.name, state_hash.chars().take(8).collect::<String>())
        } else {
            format!("{}_csrf", cfg.name)
        }
    }

    /// The cookie to set at `/oauth2/start`, plus deletions of the oldest per-request CSRF
    /// cookies beyond `cookie_csrf_per_request_limit`. With the single CSRF cookie (the
    /// default), the logins still pending in it are kept beside the new one (at most
    /// [`PENDING_LOGINS`]), so two tabs signing in at once both come back.
    pub fn set(&self, login: &LoginState, state_hash: &str, host: &str, request: &RequestCookies) -> Vec<Cookie<'static>> {
        let cfg = self.cookies.config();
        let name = self.name(state_hash);
        let mut pending = if cfg.csrf_per_request { Vec::new() } else { self.pending(request, &name) };
        pending.retain(|p| p.csrf != login.csrf);
        let keep = pending.len().saturating_sub(PENDING_LOGINS - 1);
        pending.drain(..keep);
        pending.push(login.clone());
        let mut out = vec![self.write(&name, &pending, host)];
        if cfg.csrf_per_request && cfg.csrf_per_request_limit > 0 {
            let prefix = format!("{}_", cfg.name);
            let existing: Vec<&str> =
                request.names().filter(|n| n.starts_with(&prefix) && n.ends_with("_csrf") && n.len() == prefix.len() + 8 + 5).collect();
            // Cookies arrive oldest first in practice (browsers order by creation time).
            let excess = (existing.len() + 1).saturating_sub(cfg.csrf_per_request_limit);
            out.extend(existing.iter().take(excess).map(|n| self.cookies.expire(n, host, self.cookies.config().csrf_samesite)));
        }
        out
    }

    fn write(&self, name: &str, pending: &[LoginState], host: &str) -> Cookie<'static> {
        let cfg = self.cookies.config();
        let json = serde_json::to_vec(pending).expect("login states serialise");
        self.cookies.build(name, self.sealer.seal(name, &json), host, cfg.csrf_expire, cfg.csrf_samesite)
    }

    /// The login states in the named CSRF cookie, unexpired ones only; `Err` when there is no
    /// such cookie or it does not open.
    fn pending_or(&self, request: &RequestCookies, name: &str) -> Result<Vec<LoginState>, CsrfError> {
        let value = request.get(name).ok_or(CsrfError::Missing)?;
        let plain = self.sealer.open(name, value).map_err(|_| CsrfError::Invalid)?;
        let states = match serde_json::from_slice::<PendingLogins>(&plain) {
            Ok(PendingLogins::Many(v)) => v,
            // A cookie written before pending logins were kept together.
            Ok(PendingLogins::One(one)) => vec![one],
            Err(_) => return Err(CsrfError::Invalid),
        };
        let (max_age, now) = (self.cookies.config().csrf_expire.as_secs(), now());
        Ok(states.into_iter().filter(|l| now.saturating_sub(l.created_at) <= max_age).collect())
    }

    fn pending(&self, request: &RequestCookies, name: &str) -> Vec<LoginState> {
        self.pending_or(request, name).unwrap_or_default()
    }

    /// The login state whose CSRF value `state_hash` names.
    pub fn read(&self, request: &RequestCookies, state_hash: &str) -> Result<LoginState, CsrfError> {
        let pending = self.pending_or(request, &self.name(state_hash))?;
        // Compared in constant time; a state that matches none is the callback's mismatch.
        let found = pending.iter().find(|l| constant_time_eq(crate::oidc::flow::hash_b64(&l.csrf).as_bytes(), state_hash.as_bytes()));
        found.or(pending.last()).cloned().ok_or(CsrfError::Expired)
    }

    /// Ends the login `state_hash` names: the cookie goes, or keeps the other logins still
    /// pending in it. A state that names none of them (a mismatch) ends them all, as in
    /// oauth2-proxy.
    pub fn clear(&self, state_hash: &str, host: &str, request: &RequestCookies) -> Cookie<'static> {
        let name = self.name(state_hash);
        let mut pending = self.pending(request, &name);
        let before = pending.len();
        pending.retain(|l| !constant_time_eq(crate::oidc::flow::hash_b64(&l.csrf).as_bytes(), state_hash.as_bytes()));
        if pending.is_empty() || pending.len() == before {
            self.cookies.expire(&name, host, self.cookies.config().csrf_samesite)
        } else {
            self.write(&name, &pending, host)
        }
    }
}

/// How many logins one browser may have pending in the single CSRF cookie (tabs signing in at
/// once); the oldest goes first.
pub const PENDING_LOGINS: usize = 4;

/// The CSRF cookie's content: the pending logins, or (written before they were kept
/// together) one.
#[derive(Deserialize)]
#[serde(untagged)]
enum PendingLogins {
    Many(Vec<LoginState>),
    One(LoginState),
}

/// Equality that takes the same time wherever the inputs differ (secrets, their hashes).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The configured store.
pub enum Store {
    Cookie(Box<CookieStore>),
    Redis(std::sync::Arc<redis::RedisStore>),
}

impl Store {
    pub fn new(cfg: &Config, metrics: std::sync::Arc<crate::metrics::Metrics>) -> anyhow::Result<Store> {
        Ok(match &cfg.store {
            StoreConfig::Cookie => Store::Cookie(Box::new(CookieStore::new(&cfg.cookie))),
            StoreConfig::Redis(r) => Store::Redis(std::sync::Arc::new(redis::RedisStore::new(&cfg.cookie, r, metrics)?)),
        })
    }
}

impl Store {
    /// Saves a session just created by a login: never under an identifier the request
    /// brought (session fixation). Cookie sessions carry no identifier, so this is `save`.
    pub async fn save_new(&self, cookies: &RequestCookies, host: &str, session: &SessionState) -> Result<Vec<Cookie<'static>>, StoreError> {
        match self {
            Store::Cookie(s) => s.save(cookies, host, session).await,
            Store::Redis(s) => s.save_new(cookies, host, session).await,
        }
    }
}

impl SessionStore for Store {
    async fn load(&self, cookies: &RequestCookies) -> Result<Loaded, StoreError> {
        match self {
            Store::Cookie(s) => s.load(cookies).await,
            Store::Redis(s) => s.load(cookies).await,
        }
    }

    async fn save(&self, cookies: &RequestCookies, host: &str, session: &SessionState) -> Result<Vec<Cookie<'static>>, StoreError> {
        match self {
            Store::Cookie(s) => s.save(cookies, host, session).await,
            Store::Redis(s) => s.save(cookies, host, session).await,
        }
    }

    async fn clear(&self, cookies: &RequestCookies, host: &str) -> Result<Vec<Cookie<'static>>, StoreError> {
        match self {
            Store::Cookie(s) => s.clear(cookies, host).await,
            Store::Redis(s) => s.clear(cookies, host).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_sessions_are_found_by_the_whole_value() {
        let tail = "T".repeat(32);
        let (a, b) = (format!("first-{tail}"), format!("second-{tail}"));
        let mut opened = Opened::default();
        let session = Arc::new(SessionState { user: "alice".into(), ..SessionState::default() });
        opened.insert(a.as_str().into(), Remembered { session, stored: None });
        assert_eq!(opened.get(a.as_str()).map(|r| r.session.user.as_str()), Some("alice"));
        // Same tail, so the same hash: still not the same cookie.
        assert!(!opened.contains_key(b.as_str()));
        assert!(!opened.contains_key(tail.as_str()));
        assert!(!opened.contains_key(""));
    }
}
