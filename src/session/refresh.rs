//! One refresh per session. Across instances, the store sees to it
//! (`SessionStore::refresh_once`); within this process, [`Refreshes`] does.
//!
//! Many requests of one browser arrive together, all carrying the same session that is due for
//! a refresh. Only one may use the refresh token: with rotating refresh tokens a second use
//! revokes the whole grant at the provider (RFC 6819 5.2.2.3) and logs the user out. The first
//! request starts the refresh as a task of its own; every request of that session, on any
//! worker, waits for its outcome and shares it. Outcomes are kept briefly so a request that
//! arrives just after, still carrying the old cookie, gets the new tokens instead of replaying
//! the old refresh token.
//!
//! The provider being down or slow must not stop a session that is still valid: a request
//! that can go on without the refresh waits for it only so long, and a failed refresh is tried
//! again after a pause, not by every request (no herd at a provider that is struggling).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::oidc::TokenSet;

/// How long an outcome is reused for requests carrying the same refresh token.
const KEEP_OUTCOME: Duration = Duration::from_secs(30);

/// How long after a passing failure (provider or store unreachable) the next refresh of that
/// session is tried; meanwhile its requests go on with the session as it is.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

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

/// A refresh's outcome once it is known, and when it became known.
type Flight = watch::Receiver<Option<(Instant, RefreshOutcome)>>;

#[derive(Default)]
pub struct Refreshes {
    flights: Mutex<HashMap<String, (Instant, Flight)>>,
}

/// Whether a flight is still worth keeping: running, or ended recently enough to share.
fn keep(flight: &Flight) -> bool {
    match &*flight.borrow() {
        // Running, unless its task is gone without an outcome (the runtime stopping).
        None => flight.has_changed().is_ok(),
        Some((done, RefreshOutcome::KeepForNow)) => done.elapsed() < RETRY_AFTER,
        Some((done, _)) => done.elapsed() < KEEP_OUTCOME,
    }
}

impl Refreshes {
    /// Runs `refresh` once per `key` (a hash of the refresh token) as a task of its own;
    /// concurrent and slightly later callers with the same key get the same outcome. With
    /// `patience`, a caller that can go on without the refresh (its session is still valid)
    /// waits only until the refresh has run that long, then gets [`RefreshOutcome::KeepForNow`]
    /// while the refresh goes on for the requests after it: while a provider hangs, one request
    /// of the session waits `patience`, not every one.
    pub async fn run<F, Fut>(&self, key: String, refresh: F, patience: Option<Duration>) -> RefreshOutcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = RefreshOutcome> + 'static,
    {
        let (started, mut flight) = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.retain(|_, (_, f)| keep(f));
            match flights.get(&key) {
                Some(f) => f.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    let work = refresh();
                    // Its own task: a request that stops waiting (or whose client goes away)
                    // never cancels a refresh halfway, which could spend the refresh token
                    // without keeping what it bought.
                    actix_web::rt::spawn(async move {
                        let outcome = work.await;
                        let _ = tx.send(Some((Instant::now(), outcome)));
                    });
                    let started = Instant::now();
                    flights.insert(key, (started, rx.clone()));
                    (started, rx)
                }
            }
        };
        let outcome = async {
            match flight.wait_for(Option::is_some).await {
                Ok(done) => done.as_ref().map_or(RefreshOutcome::KeepForNow, |(_, o)| o.clone()),
                Err(_) => RefreshOutcome::KeepForNow,
            }
        };
        match patience {
            None => outcome.await,
            Some(limit) => tokio::time::timeout_at((started + limit).into(), outcome).await.unwrap_or(RefreshOutcome::KeepForNow),
        }
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
                r.run(
                    "k".into(),
                    || async move {
                        c.fetch_add(1, Ordering::SeqCst);
                        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
                        RefreshOutcome::EndSession
                    },
                    None,
                )
                .await
            }));
        }
        for t in tasks {
            assert!(matches!(t.await.unwrap(), RefreshOutcome::EndSession));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[actix_web::test]
    async fn a_slow_refresh_lets_a_still_valid_session_go_on_and_shares_its_outcome_later() {
        let refreshes = Refreshes::default();
        let slow = || async {
            actix_web::rt::time::sleep(Duration::from_millis(300)).await;
            RefreshOutcome::EndSession
        };
        let started = Instant::now();
        let impatient = refreshes.run("k".into(), slow, Some(Duration::from_millis(50))).await;
        assert!(matches!(impatient, RefreshOutcome::KeepForNow), "gave up waiting: {impatient:?}");
        // A request arriving after the patience has run out does not wait at all.
        let next =
            refreshes.run("k".into(), || async { panic!("a second refresh of the same token") }, Some(Duration::from_millis(50))).await;
        assert!(matches!(next, RefreshOutcome::KeepForNow) && started.elapsed() < Duration::from_millis(200), "{next:?}");
        // The refresh went on without the request that started it; the next caller shares it.
        let later = refreshes.run("k".into(), || async { panic!("a second refresh of the same token") }, None).await;
        assert!(matches!(later, RefreshOutcome::EndSession), "{later:?}");
    }

    #[actix_web::test]
    async fn a_failed_refresh_is_tried_again_after_a_pause_not_by_every_request() {
        let refreshes = Refreshes::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let failing = || {
            let c = calls.clone();
            move || async move {
                c.fetch_add(1, Ordering::SeqCst);
                RefreshOutcome::KeepForNow
            }
        };
        for _ in 0..50 {
            assert!(matches!(refreshes.run("k".into(), failing(), None).await, RefreshOutcome::KeepForNow));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one attempt while the failure is fresh");
        // Aged past the pause, the failure is forgotten and the next request tries again.
        for (_, f) in refreshes.flights.lock().unwrap().values_mut() {
            *f = watch::channel(Some((Instant::now() - RETRY_AFTER, RefreshOutcome::KeepForNow))).1;
        }
        refreshes.run("k".into(), failing(), None).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
