//! One refresh per session. Across instances, the store sees to it
//! (`SessionStore::refresh_once`); within this process, [`Refreshes`] does.
//!
//! Many requests of one browser arrive together, all carrying the same session that is due for
//! a refresh. Only one may use the refresh token: with rotating refresh tokens a second use
//! revokes the whole grant at the provider (RFC 6819 5.2.2.3) and logs the user out. The first
//! request refreshes; the others, on any worker, wait for its outcome and share it. Outcomes
//! are kept briefly so a request that arrives just after, still carrying the old cookie, gets
//! the new tokens instead of replaying the old refresh token.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::oidc::TokenSet;

/// How long an outcome is reused for requests carrying the same refresh token.
const KEEP_OUTCOME: Duration = Duration::from_secs(30);

/// How a refresh ended.
#[derive(Debug, Clone)]
pub enum RefreshOutcome {
    /// New tokens (the refresh token is the new one, or the old one if none was returned),
    /// and the identity their new ID token states, if one came back. The request saves them.
    Granted(Arc<Grant>),
    /// Another instance refreshed the session; this is what it saved.
    RefreshedElsewhere(Arc<super::SessionState>),
    /// Refreshed and saved under the store's lock: the session and the cookies that save set
    /// (a session oauth2-proxy stored moves to a new ticket then, so it is saved only once).
    GrantedAndSaved(Arc<super::SessionState>, Arc<SetCookies>),
    /// The provider refused the refresh token for good: the session ends.
    EndSession,
    /// A passing failure (provider or store unreachable): keep the session as it is for now.
    KeepForNow,
}

/// What a refresh-token grant gave.
#[derive(Debug)]
pub struct Grant {
    pub tokens: TokenSet,
    /// From the new ID token (verified) and userinfo, exactly as at login; `None` when the
    /// provider returned no ID token (the old identity stays, as in oauth2-proxy).
    pub identity: Option<crate::identity::Identity>,
}

/// Cookies a save set; never printed (they carry session tickets).
pub struct SetCookies(pub Vec<actix_web::cookie::Cookie<'static>>);

impl std::fmt::Debug for SetCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SetCookies(<{} redacted>)", self.0.len())
    }
}

type Flight = Arc<OnceCell<RefreshOutcome>>;

#[derive(Default)]
pub struct Refreshes {
    flights: Mutex<HashMap<String, (Instant, Flight)>>,
}

impl Refreshes {
    /// Runs `refresh` once per `key` (a hash of the refresh token); concurrent and slightly
    /// later callers with the same key get the same outcome.
    pub async fn run<F, Fut>(&self, key: String, refresh: F) -> RefreshOutcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = RefreshOutcome>,
    {
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.retain(|_, (started, _)| started.elapsed() < KEEP_OUTCOME);
            flights.entry(key).or_insert_with(|| (Instant::now(), Arc::new(OnceCell::new()))).1.clone()
        };
        let outcome = flight.get_or_init(refresh).await.clone();
        if matches!(outcome, RefreshOutcome::KeepForNow) {
            // A passing failure should be retried by the next request, not remembered.
            self.flights.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, (_, f)| !Arc::ptr_eq(f, &flight));
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[actix_web::test]
    async fn concurrent_callers_share_one_refresh() {
        let refreshes = Arc::new(Refreshes::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (r, c) = (refreshes.clone(), calls.clone());
            tasks.push(actix_web::rt::spawn(async move {
                r.run("k".into(), || async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    actix_web::rt::time::sleep(Duration::from_millis(50)).await;
                    RefreshOutcome::EndSession
                })
                .await
            }));
        }
        for t in tasks {
            assert!(matches!(t.await.unwrap(), RefreshOutcome::EndSession));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
