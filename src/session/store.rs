//! The session store: the trait every backend implements, its error, and the configured
//! store. Nothing outside `session/` names a backend: saving a login's new session, refreshing
//! a session once across instances, and health are the trait's too.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use actix_web::cookie::Cookie;

use super::cookie_store::CookieStore;
use super::ending::{Revocations, SeenTokens, Subject};
use super::jar::RequestCookies;
use super::redis::RedisStore;
pub use super::redis::index::IndexedSession;
use super::refresh::RefreshOutcome;
use super::{Config, Found, SessionState, StoreConfig, now_millis};
use crate::metrics::Metrics;

/// What a store was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Load,
    Save,
    Clear,
    /// Taking or waiting for a refresh lock.
    Lock,
    /// Answering a health check or `--config-test`'s probe.
    Ping,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Load => "load a session",
            Operation::Save => "save a session",
            Operation::Clear => "clear a session",
            Operation::Lock => "lock a session for its refresh",
            Operation::Ping => "answer",
        })
    }
}

/// A session store failed (Redis unreachable); never a reason to let a request through. The
/// error table answers every one with 503.
#[derive(Debug, thiserror::Error)]
#[error("the session store could not {operation}: {cause}")]
pub struct StoreError {
    pub operation: Operation,
    cause: String,
}

impl StoreError {
    pub fn new(operation: Operation, cause: impl fmt::Display) -> Self {
        StoreError { operation, cause: cause.to_string() }
    }

    /// The same failure, named by the operation the caller was doing.
    pub fn during(self, operation: Operation) -> Self {
        StoreError { operation, ..self }
    }
}

/// Where sessions are kept. The cookie store keeps the whole session in the cookie; the Redis
/// store keeps it server-side behind a ticket. Every operation returns the cookies to set.
pub trait SessionStore {
    fn load(&self, cookies: &RequestCookies) -> impl Future<Output = Result<Found, StoreError>>;
    fn save(
        &self,
        cookies: &RequestCookies,
        host: &str,
        session: &SessionState,
    ) -> impl Future<Output = Result<Vec<Cookie<'static>>, StoreError>>;
    fn clear(&self, cookies: &RequestCookies, host: &str) -> impl Future<Output = Result<Vec<Cookie<'static>>, StoreError>>;

    /// Saves a session just created by a login: never under an identifier the request
    /// brought (session fixation).
    fn save_new(
        &self,
        cookies: &RequestCookies,
        host: &str,
        session: &SessionState,
    ) -> impl Future<Output = Result<Vec<Cookie<'static>>, StoreError>>;

    /// Runs `grant` (the refresh-token grant) for `session` at most once across every instance
    /// sharing this store. A store shared between instances locks the session, reads it
    /// again (another instance may have refreshed it), and saves the refreshed session before
    /// unlocking; a store in the browser's cookie has nothing to share and just runs `grant`.
    fn refresh_once<F, Fut>(
        &self,
        cookies: &RequestCookies,
        host: &str,
        session: &SessionState,
        grant: F,
    ) -> impl Future<Output = RefreshOutcome>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = RefreshOutcome>;

    /// Whether the store answers (readiness).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>>;
}

/// The configured store. Every failure it passes on is counted
/// (`gatehouse_session_store_errors`).
pub struct Sessions {
    backend: Backend,
    metrics: Arc<Metrics>,
    /// Logouts this instance was told of: consulted on every load.
    revoked: Revocations,
    /// Logout tokens honoured, when no shared store remembers them.
    seen: SeenTokens,
}

enum Backend {
    Cookie(Box<CookieStore>),
    Redis(Box<RedisStore>),
}

impl Sessions {
    pub fn new(cfg: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Sessions> {
        let backend = match &cfg.store {
            StoreConfig::Cookie => Backend::Cookie(Box::new(CookieStore::new(&cfg.cookie))),
            StoreConfig::Redis(r) => Backend::Redis(Box::new(RedisStore::new(&cfg.cookie, r, metrics.clone())?)),
        };
        Ok(Sessions { backend, metrics, revoked: Revocations::new(cfg.cookie.expire), seen: SeenTokens::default() })
    }

    /// Whether a refresh is saved by the refresh itself (a shared store, under its lock), so a
    /// request may go on without waiting for it. A cookie session is saved only by a response
    /// carrying it: the request must wait, or the new tokens could be bought and lost.
    pub fn saves_refreshes_itself(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    fn counted<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() {
            self.metrics.store_errors.inc();
        }
        result
    }

    /// Ends every session of `who` logged in until now: remembered here, so a session in a
    /// browser's cookie is refused from the next request on, and deleted from a shared store
    /// (every instance). Returns how many stored sessions were deleted.
    pub async fn end(&self, who: &[Subject]) -> Result<usize, StoreError> {
        let at = now_millis();
        let mut ended = 0;
        for one in who {
            self.revoked.record(one, at);
            if let Backend::Redis(s) = &self.backend {
                ended += self.counted(s.end(one, at).await)?;
            }
        }
        Ok(ended)
    }

    /// Forgets a logout token's `jti` after its logout failed, so the provider may retry it.
    pub async fn forget_sight(&self, jti: &str) {
        match &self.backend {
            Backend::Cookie(_) => self.seen.forget(jti),
            Backend::Redis(s) => {
                if let Err(e) = s.forget_sight(jti).await {
                    log::warn!("a failed logout's jti could not be forgotten; the provider's retry will be refused: {e}");
                }
            }
        }
    }

    /// The sessions a shared store holds for `who` (none of them opened); `None` when sessions
    /// live only in browsers' cookies, where nobody can list them.
    pub async fn list(&self, who: &Subject) -> Result<Option<Vec<IndexedSession>>, StoreError> {
        match &self.backend {
            Backend::Cookie(_) => Ok(None),
            Backend::Redis(s) => self.counted(s.sessions_of(who).await).map(Some),
        }
    }

    /// True the first time a logout token's `jti` is shown: across every instance when the
    /// store is shared, to this process otherwise.
    pub async fn first_sight(&self, jti: &str, ttl: std::time::Duration) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Cookie(_) => Ok(self.seen.first_sight(jti, ttl)),
            Backend::Redis(s) => self.counted(s.first_sight(jti, ttl).await),
        }
    }

    /// What `--config-test` checks: a shared store answers a write, a read and a delete.
    pub async fn probe(cfg: &Config) -> Result<(), StoreError> {
        match &cfg.store {
            StoreConfig::Cookie => Ok(()),
            StoreConfig::Redis(r) => {
                let store = RedisStore::new(&cfg.cookie, r, Default::default()).map_err(|e| StoreError::new(Operation::Ping, e))?;
                store.probe().await
            }
        }
    }
}

impl SessionStore for Sessions {
    async fn load(&self, cookies: &RequestCookies) -> Result<Found, StoreError> {
        let found = self.counted(match &self.backend {
            Backend::Cookie(s) => s.load(cookies).await,
            // Boxed: Redis commands are I/O anyway, and a cookie session's check (no I/O at all)
            // should not carry their state in its future.
            Backend::Redis(s) => Box::pin(s.load(cookies)).await,
        })?;
        Ok(match found {
            Found::Valid(session) if self.revoked.ended(&session) => Found::Invalid("ended by a logout"),
            other => other,
        })
    }

    async fn save(&self, cookies: &RequestCookies, host: &str, session: &SessionState) -> Result<Vec<Cookie<'static>>, StoreError> {
        self.counted(match &self.backend {
            Backend::Cookie(s) => s.save(cookies, host, session).await,
            Backend::Redis(s) => Box::pin(s.save(cookies, host, session)).await,
        })
    }

    async fn clear(&self, cookies: &RequestCookies, host: &str) -> Result<Vec<Cookie<'static>>, StoreError> {
        self.counted(match &self.backend {
            Backend::Cookie(s) => s.clear(cookies, host).await,
            Backend::Redis(s) => Box::pin(s.clear(cookies, host)).await,
        })
    }

    async fn save_new(&self, cookies: &RequestCookies, host: &str, session: &SessionState) -> Result<Vec<Cookie<'static>>, StoreError> {
        self.counted(match &self.backend {
            Backend::Cookie(s) => s.save_new(cookies, host, session).await,
            Backend::Redis(s) => Box::pin(s.save_new(cookies, host, session)).await,
        })
    }

    async fn refresh_once<F, Fut>(&self, cookies: &RequestCookies, host: &str, session: &SessionState, grant: F) -> RefreshOutcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = RefreshOutcome>,
    {
        match &self.backend {
            Backend::Cookie(s) => s.refresh_once(cookies, host, session, grant).await,
            Backend::Redis(s) => Box::pin(s.refresh_once(cookies, host, session, grant)).await,
        }
    }

    /// Not counted: readiness reports an outage itself.
    async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Cookie(s) => s.ping().await,
            Backend::Redis(s) => s.ping().await,
        }
    }
}
