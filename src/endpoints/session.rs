//! Loading the request's session: open it, refresh it when due (once per session, across
//! requests and, with Redis, across instances), check it is still authorized, and collect the
//! cookies the response must carry (a refreshed session, or the deletion of an invalid one).

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;

use super::refresh::{Outcome, Refreshed, SetCookies};
use super::state::State;
use crate::authz;
use crate::oidc::bearer::Path;
use crate::oidc::{self, flow};
use crate::server::error::HttpError;
use crate::server::request::{self, Credentials};
use crate::session::cookie::RequestCookies;
use crate::session::redis::LockAttempt;
use crate::session::{self, Loaded, SessionState, SessionStore, Store, StoreError};

/// The request's session, if any, and the cookies to set on the response.
pub struct Current {
    pub session: Option<Arc<SessionState>>,
    pub set_cookies: Vec<Cookie<'static>>,
    /// A valid session was refused by the policy (email or groups) and cleared.
    pub denied: bool,
}

pub(super) fn store_error(state: &State, e: StoreError) -> HttpError {
    state.metrics.store_errors.inc();
    HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "Sessions are unavailable right now. Please try again in a moment.", e.to_string())
}

/// No session, and every session cookie the request carried deleted.
async fn ended(state: &State, cookies: &RequestCookies, host: &str) -> Result<Current, HttpError> {
    let set_cookies = state.store.clear(cookies, host).await.map_err(|e| store_error(state, e))?;
    Ok(Current { session: None, set_cookies, denied: false })
}

/// Is the session older than `cookie_refresh` (oauth2-proxy's `needsRefresh`)?
fn due(state: &State, s: &SessionState, now: u64) -> bool {
    !state.cookie.refresh.is_zero() && s.age(now) > state.cookie.refresh
}

/// oauth2-proxy's `validateSession`, for a session that was due but not refreshed: its tokens
/// have not expired, and its ID token (with the login's nonce) still verifies.
async fn still_valid(state: &State, s: &SessionState, now: u64) -> bool {
    if s.expires_on.is_some_and(|at| at < now) {
        return false;
    }
    match &s.id_token {
        Some(token) => match state.provider.verify_id_token(token, s.nonce.as_deref()).await {
            Ok(_) => true,
            Err(e) => {
                log::info!("the session's ID token no longer verifies: {e}");
                false
            }
        },
        None => false,
    }
}

/// The request's session, from oauth2-proxy's chain of loaders in its order: a bearer JWT
/// (`skip_jwt_bearer_tokens`), htpasswd Basic auth, then the stored session (cookie or Redis).
pub async fn current(state: &State, req: &HttpRequest) -> Result<Current, HttpError> {
    let reads_credentials = state.bearer.is_some() || state.htpasswd.is_some();
    if reads_credentials
        && let Some(creds) = request::credentials(req)
        && let Some(found) = from_credentials(state, req, &creds).await?
    {
        return Ok(found);
    }
    stored(state, req).await
}

/// A session from the `Authorization` header. Never saved: the client sends its credentials
/// with every request, so no cookie is set.
async fn from_credentials(state: &State, req: &HttpRequest, creds: &Credentials) -> Result<Option<Current>, HttpError> {
    if let (Some(bearer), Some(token)) = (&state.bearer, creds.jwt()) {
        let now = session::now();
        match bearer.verify(&state.provider, token, now).await {
            Ok((v, path)) => {
                state.metrics.bearer(if path == Path::Cached { "cached" } else { "verified" });
                let id = &*v.identity;
                let s = SessionState {
                    user: id.user.clone(),
                    email: id.email.clone(),
                    groups: id.groups.clone(),
                    preferred_username: id.preferred_username.clone(),
                    access_token: Some(token.to_string()),
                    id_token: Some(token.to_string()),
                    created_at: now,
                    expires_on: Some(v.expires_at),
                    ..SessionState::default()
                };
                let verdict = authz::authorize(&state.authz, &state.allowed_emails(), &s.email, &s.groups);
                return Ok(Some(accepted(req, s, verdict)));
            }
            Err(e) => {
                state.metrics.bearer("refused");
                log::info!("bearer token refused: {e}");
                if !state.authz.bearer_token_login_fallback {
                    return Err(HttpError::forbidden(
                        "The token sent with this request is not valid here.",
                        format!("bearer token refused: {e}"),
                    ));
                }
            }
        }
    }
    if let (Some(htpasswd), Credentials::Basic { user, password }) = (&state.htpasswd, creds)
        && creds.jwt().is_none()
    {
        let ip = crate::gate::Edge::read(req, &state.trust).client_ip;
        match htpasswd.check(user, password, ip).await {
            crate::htpasswd::Outcome::Accepted => {
                state.metrics.htpasswd("accepted");
                let s = htpasswd_session(state, user);
                let verdict = authz::authorize_htpasswd(&state.authz, &s.groups);
                return Ok(Some(accepted(req, s, verdict)));
            }
            crate::htpasswd::Outcome::Refused => {
                state.metrics.htpasswd("refused");
                log::info!("Basic auth refused for user {user:?}");
            }
            crate::htpasswd::Outcome::Limited => {
                state.metrics.htpasswd("limited");
                return Err(HttpError::too_many_attempts("Basic auth limited"));
            }
        }
    }
    Ok(None)
}

/// The session of an htpasswd user: the name, and `htpasswd_user_groups`.
pub fn htpasswd_session(state: &State, user: &str) -> SessionState {
    SessionState {
        user: user.to_string(),
        groups: state.authz.htpasswd_user_groups.clone(),
        created_at: session::now(),
        htpasswd: true,
        ..SessionState::default()
    }
}

/// A session from credentials, after the policy's verdict.
fn accepted(req: &HttpRequest, s: SessionState, verdict: Result<(), authz::Denied>) -> Current {
    if let Err(denied) = verdict {
        log::info!("credentials of {} not authorized ({denied})", s.user);
        return Current { session: None, set_cookies: vec![], denied: true };
    }
    logged_user(req, &s);
    Current { session: Some(Arc::new(s)), set_cookies: vec![], denied: false }
}

fn logged_user(req: &HttpRequest, s: &SessionState) {
    use actix_web::HttpMessage;
    let who = if s.email.is_empty() { s.user.clone() } else { s.email.clone() };
    req.extensions_mut().insert(crate::telemetry::LoggedUser(who));
}

async fn stored(state: &State, req: &HttpRequest) -> Result<Current, HttpError> {
    let cookies = request::cookies(req);
    // Only a refresh or an ended session needs the host: not built for every check.
    let host = || request::host(req);
    let mut session = match state.store.load(&cookies).await.map_err(|e| store_error(state, e))? {
        Loaded::None => return Ok(Current { session: None, set_cookies: vec![], denied: false }),
        Loaded::Invalid(why) => {
            log::info!("session cookie refused ({why}); clearing it");
            return ended(state, &cookies, &host()).await;
        }
        Loaded::Valid(s) => s,
    };

    let mut set_cookies = Vec::new();
    let now = session::now();
    if due(state, &session, now) {
        // oauth2-proxy's `refreshSessionIfNeeded`: refresh when there is a refresh token, and
        // a session that was not refreshed must still validate (`validateSession`).
        let refreshed = match session.refresh_token.is_some() {
            false => false,
            true => match refresh(state, &session, &cookies, &host()).await {
                Outcome::Refreshed(r) => {
                    apply(Arc::make_mut(&mut session), &r, now);
                    set_cookies = state.store.save(&cookies, &host(), &session).await.map_err(|e| store_error(state, e))?;
                    true
                }
                Outcome::Reloaded(fresh) => {
                    session = fresh;
                    true
                }
                Outcome::Saved(saved, set) => {
                    session = saved;
                    set_cookies = set.0.clone();
                    true
                }
                Outcome::EndSession => return ended(state, &cookies, &host()).await,
                Outcome::Keep => false,
            },
        };
        if !refreshed && !session.htpasswd && !still_valid(state, &session, now).await {
            log::info!("session of {} expired and could not be refreshed; clearing it", session.user);
            return ended(state, &cookies, &host()).await;
        }
    }

    logged_user(req, &session);
    let verdict = if session.htpasswd {
        // A user removed from the file is signed out at their next request.
        match &state.htpasswd {
            Some(h) if h.has_user(&session.user) => authz::authorize_htpasswd(&state.authz, &session.groups),
            _ => Err(authz::Denied::Gone),
        }
    } else {
        authz::authorize(&state.authz, &state.allowed_emails(), &session.email, &session.groups)
    };
    if let Err(denied) = verdict {
        log::info!("session of {} no longer authorized ({denied}); clearing it", session.user);
        return ended(state, &cookies, &host()).await.map(|c| Current { denied: true, ..c });
    }
    Ok(Current { session: Some(session), set_cookies, denied: false })
}

/// A refresh's result into the session: new tokens and times, and, when a new ID token came
/// back, the identity it states (oauth2-proxy's `redeemRefreshToken`), so a user removed from
/// a group loses it at the next refresh.
fn apply(session: &mut SessionState, refreshed: &Refreshed, now: u64) {
    let tokens = &refreshed.tokens;
    if let Some(id) = &refreshed.identity {
        session.user = id.user.clone();
        session.email = id.email.clone();
        session.groups = id.groups.clone();
        session.preferred_username = id.preferred_username.clone();
    }
    session.access_token = Some(tokens.access_token.clone());
    if let Some(it) = &tokens.id_token {
        session.id_token = Some(it.clone());
    }
    if let Some(rt) = &tokens.refresh_token {
        session.refresh_token = Some(rt.clone());
    }
    session.created_at = now;
    session.expires_on = tokens.expires_in.map(|s| now + s);
}

/// One refresh per session: in this process through `Refreshes`, and across instances through
/// the Redis store's lock. The instance holding the lock refreshes and saves before releasing
/// it; the others wait, then read the refreshed session.
async fn refresh(state: &State, session: &SessionState, cookies: &RequestCookies, host: &str) -> Outcome {
    let rt = session.refresh_token.clone().unwrap_or_default();
    state
        .refreshes
        .run(flow::hash_b64(&rt), || async move {
            let Store::Redis(store) = &state.store else { return grant(state, &rt, session).await };
            match store.lock(cookies).await {
                Ok(LockAttempt::Held(lock)) => {
                    // Another instance may have refreshed between our read and our lock.
                    if let Ok(Loaded::Valid(fresh)) = store.load(cookies).await
                        && !due(state, &fresh, session::now())
                    {
                        store.unlock(lock).await;
                        return Outcome::Reloaded(fresh);
                    }
                    let mut outcome = grant(state, &rt, session).await;
                    if let Outcome::Refreshed(refreshed) = &outcome {
                        let mut updated = session.clone();
                        apply(&mut updated, refreshed, session::now());
                        match store.save(cookies, host, &updated).await {
                            Ok(set) => outcome = Outcome::Saved(Arc::new(updated), Arc::new(SetCookies(set))),
                            // The request saves again, and answers 503 if that fails too.
                            Err(e) => log::warn!("refreshed session not saved: {e}"),
                        }
                    }
                    store.unlock(lock).await;
                    outcome
                }
                Ok(LockAttempt::Busy(key)) => {
                    store.wait_unlocked(&key).await;
                    match store.load(cookies).await {
                        Ok(Loaded::Valid(fresh)) if !due(state, &fresh, session::now()) => Outcome::Reloaded(fresh),
                        Ok(Loaded::Valid(_)) => Outcome::Keep,
                        Ok(_) => Outcome::EndSession,
                        Err(_) => Outcome::Keep,
                    }
                }
                Ok(LockAttempt::NoTicket) | Err(_) => Outcome::Keep,
            }
        })
        .await
}

/// The refresh-token grant, with the refreshed ID token verified and read as at login.
async fn grant(state: &State, refresh_token: &str, session: &SessionState) -> Outcome {
    let outcome = grant_inner(state, refresh_token, session).await;
    state.metrics.refresh(match outcome {
        Outcome::Refreshed(_) | Outcome::Reloaded(_) | Outcome::Saved(..) => "refreshed",
        Outcome::EndSession => "ended",
        Outcome::Keep => "failed",
    });
    outcome
}

async fn grant_inner(state: &State, refresh_token: &str, session: &SessionState) -> Outcome {
    let provider = &state.provider;
    match provider.refresh(refresh_token).await {
        Ok(mut tokens) => {
            let identity = match &tokens.id_token {
                None => None,
                Some(_) => match provider.identity(&tokens, session.nonce.as_deref()).await {
                    // The same subject, or the session ends: a refresh token never turns one
                    // user's session into another's.
                    Ok(id) if id.user != session.user => {
                        log::warn!("refreshed ID token names another subject; ending the session");
                        return Outcome::EndSession;
                    }
                    Ok(id) => Some(id),
                    Err(e) => {
                        log::warn!("refreshed ID token refused, ending the session: {e}");
                        return Outcome::EndSession;
                    }
                },
            };
            if tokens.refresh_token.is_none() {
                tokens.refresh_token = Some(refresh_token.to_string());
            }
            log::info!("session refreshed");
            Outcome::Refreshed(Arc::new(Refreshed { tokens, identity }))
        }
        Err(oidc::Error::Rejected { code }) if code.ends_session() => {
            log::info!("refresh token refused by the provider ({code}); the session ends");
            Outcome::EndSession
        }
        Err(e) => {
            log::warn!("session refresh failed, keeping the session for now: {e}");
            Outcome::Keep
        }
    }
}
