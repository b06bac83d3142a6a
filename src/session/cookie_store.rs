//! The cookie store: the whole session, sealed, in the session cookie (split when large).

use std::future::Future;
use std::sync::Arc;

use actix_web::cookie::Cookie;

use super::crypto::Purpose;
use super::jar::{self, CookieFactory, RequestCookies};
use super::keys::KeyRing;
use super::opened::{self, Remembered};
use super::refresh::RefreshOutcome;
use super::state::fresh;
use super::{CookieConfig, Found, Operation, SessionState, SessionStore, StoreError, now, oauth2_proxy};

/// The whole session, sealed, in the session cookie (split when large).
pub struct CookieStore {
    cookies: CookieFactory,
    /// Tells this store's entries in the per-thread cache of opened cookies from another's.
    id: u64,
}

impl CookieStore {
    pub fn new(cfg: &CookieConfig) -> Self {
        CookieStore { cookies: CookieFactory::new(cfg.clone()), id: opened::store_id() }
    }

    /// `open`, remembering what opened (see [`OPENED`]).
    fn open_cached(&self, value: &str) -> Found {
        let ring = self.cookies.config().keys.get();
        if let Some(hit) = opened::remembered(self.id, ring.generation(), value) {
            return fresh(self.cookies.config(), hit.session, now());
        }
        let loaded = self.open(&ring, value);
        if let Found::Valid(session) = &loaded {
            opened::remember(self.id, ring.generation(), value, Remembered { session: session.clone(), stored: None });
        }
        loaded
    }

    fn open(&self, ring: &KeyRing, value: &str) -> Found {
        let cfg = self.cookies.config();
        let now = now();
        // A cookie oauth2-proxy wrote (a switch from it logs nobody out).
        if oauth2_proxy::is_theirs(value) {
            return match oauth2_proxy::open_cookie(cfg, ring, value, now) {
                Ok(session) => fresh(cfg, Arc::new(session), now),
                Err(why) => Found::Invalid(why),
            };
        }
        let Ok(plain) = ring.open(Purpose::Session, &cfg.name, value) else {
            return Found::Invalid("does not open");
        };
        let Ok(session) = serde_json::from_slice::<SessionState>(&plain) else {
            return Found::Invalid("unreadable");
        };
        fresh(cfg, Arc::new(session), now)
    }
}

impl CookieStore {
    /// `load` without the async wrapper: a cookie session needs no I/O (the fuzz targets and
    /// the benchmarks call this directly).
    pub fn read(&self, cookies: &RequestCookies) -> Found {
        match jar::read_chunked(cookies, &self.cookies.config().name) {
            Ok(None) => Found::None,
            Ok(Some(value)) => self.open_cached(&value),
            Err(_) => Found::Invalid("too many chunks"),
        }
    }
}

impl SessionStore for CookieStore {
    async fn load(&self, cookies: &RequestCookies) -> Result<Found, StoreError> {
        Ok(self.read(cookies))
    }

    async fn save(&self, cookies: &RequestCookies, host: &str, session: &SessionState) -> Result<Vec<Cookie<'static>>, StoreError> {
        let json = serde_json::to_vec(session).map_err(|e| StoreError::new(Operation::Save, e))?;
        let cfg = self.cookies.config();
        let sealed = cfg.keys.get().seal(Purpose::Session, &cfg.name, &json);
        Ok(self.cookies.session_cookies(sealed, host, cookies))
    }

    async fn clear(&self, cookies: &RequestCookies, host: &str) -> Result<Vec<Cookie<'static>>, StoreError> {
        Ok(self.cookies.clear_session(cookies, host))
    }

    /// A cookie session carries no identifier a planted cookie could fix: this is `save`.
    async fn save_new(&self, cookies: &RequestCookies, host: &str, session: &SessionState) -> Result<Vec<Cookie<'static>>, StoreError> {
        self.save(cookies, host, session).await
    }

    /// Nothing is shared between instances: the grant runs, and the request saves its outcome.
    async fn refresh_once<F, Fut>(&self, _: &RequestCookies, _: &str, _: &SessionState, grant: F) -> RefreshOutcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = RefreshOutcome>,
    {
        grant().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
