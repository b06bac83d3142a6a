//! Authentication: who sent the request. oauth2-proxy's chain of loaders in its order (a
//! bearer JWT, htpasswd Basic auth, the stored session), the stored session refreshed when due
//! (once per session, across requests and instances), checked against the policy, and the
//! cookies the response must carry (a refreshed session, or the deletion of an ended one).
//!
//! Never: builds a response or chooses a status; failures are [`AuthError`]s.

use std::sync::Arc;

use actix_web::cookie::Cookie;
use actix_web::{HttpRequest, web};

use crate::authz;
use crate::http::error::AuthError;
use crate::http::request::{self, Credentials};
use crate::oidc::bearer::Path;
use crate::oidc::{self, IdTokenUse, flow};
use crate::session::jar::RequestCookies;
use crate::session::{self, Found, Grant, RefreshOutcome, SessionState, SessionStore};
use crate::state::State;

/// Who the request is from: its session, if any, and the cookies to set on the response.
pub struct Authenticated {
    pub session: Option<Arc<SessionState>>,
    pub set_cookies: Vec<Cookie<'static>>,
    /// A valid session was refused by the policy (email or groups) and cleared.
    pub denied: bool,
}

impl Authenticated {
    fn nobody() -> Self {
        Authenticated { session: None, set_cookies: vec![], denied: false }
    }
}

/// No session, and every session cookie the request carried deleted.
async fn end_session(state: &State, cookies: &RequestCookies, host: &str) -> Result<Authenticated, AuthError> {
    let set_cookies = state.sessions.clear(cookies, host).await?;
    Ok(Authenticated { set_cookies, ..Authenticated::nobody() })
}

/// oauth2-proxy's `validateSession`, for a session that was due but not refreshed: its tokens
/// have not expired, and its ID token (with the login's nonce) still verifies.
async fn still_valid(state: &State, s: &SessionState, now: u64) -> bool {
    if s.expires_on.is_some_and(|at| at < now) {
        return false;
    }
    let Some(via) = state.providers.of(s.provider.as_deref()) else { return false };
    if via.provider.validates_access_token() {
        let token = s.access_token.as_deref().unwrap_or_default();
        return matches!(via.provider.validate_access_token(token).await, Ok(true));
    }
    match &s.id_token {
        Some(token) => match via.provider.verify_id_token(token, IdTokenUse::Session(s.nonce.as_deref())).await {
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
pub async fn authenticate(state: &State, req: &HttpRequest) -> Result<Authenticated, AuthError> {
    let reads_credentials = state.bearer.is_some() || state.htpasswd.is_some();
    if reads_credentials
        && let Some(creds) = request::credentials(req)
        && let Some(found) = from_credentials(state, req, &creds).await?
    {
        return Ok(found);
    }
    from_store(state, req).await
}

/// A session from the `Authorization` header. Never saved: the client sends its credentials
/// with every request, so no cookie is set.
async fn from_credentials(state: &State, req: &HttpRequest, creds: &Credentials) -> Result<Option<Authenticated>, AuthError> {
    if let (Some(bearer), Some(token)) = (&state.bearer, creds.jwt()) {
        let now = session::now();
        let providers: Vec<&oidc::Provider> = state.providers.0.iter().map(|r| &*r.provider).collect();
        match bearer.verify(&providers, token, now).await {
            Ok((v, path)) => {
                let via = &state.providers.0[v.provider];
                state.metrics.bearer(if path == Path::Cached { "cached" } else { "verified" });
                let id = &*v.identity;
                let s = SessionState {
                    user: id.user.clone(),
                    email: id.email.clone(),
                    groups: id.groups.clone(),
                    preferred_username: id.preferred_username.clone(),
                    additional_claims: id.additional.clone(),
                    access_token: Some(token.to_string()),
                    id_token: Some(token.to_string()),
                    created_at: now,
                    expires_on: Some(v.expires_at),
                    provider: state.provider_mark(via),
                    ..SessionState::default()
                };
                let verdict = state.authorize(via, &s.email, &s.groups);
                return Ok(Some(accepted(req, s, verdict)));
            }
            Err(e) => {
                state.metrics.bearer("refused");
                log::info!("bearer token refused: {e}");
                if !state.authz.bearer_token_login_fallback {
                    return Err(AuthError::BearerRefused(e.to_string()));
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
                return Err(AuthError::TooManyAttempts("Basic auth"));
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
        login_at: session::now_millis(),
        htpasswd: true,
        ..SessionState::default()
    }
}

/// A session from credentials, after the policy's verdict.
fn accepted(req: &HttpRequest, s: SessionState, verdict: Result<(), authz::Denied>) -> Authenticated {
    if let Err(denied) = verdict {
        log::info!("credentials of {} not authorized ({denied})", s.user);
        return Authenticated { denied: true, ..Authenticated::nobody() };
    }
    logged_user(req, &s);
    Authenticated { session: Some(Arc::new(s)), ..Authenticated::nobody() }
}

fn logged_user(req: &HttpRequest, s: &SessionState) {
    use actix_web::HttpMessage;
    let who = if s.email.is_empty() { s.user.clone() } else { s.email.clone() };
    req.extensions_mut().insert(crate::telemetry::LoggedUser(who));
}

/// The stored session (cookie or Redis), refreshed when due, checked against the policy.
async fn from_store(state: &State, req: &HttpRequest) -> Result<Authenticated, AuthError> {
    let cookies = request::cookies(req);
    // Only a refresh or an ended session needs the host: not built for every check.
    let host = || request::host(req);
    let mut session = match state.sessions.load(&cookies).await? {
        Found::None => return Ok(Authenticated::nobody()),
        Found::Invalid(why) => {
            log::info!("session cookie refused ({why}); clearing it");
            return end_session(state, &cookies, &host()).await;
        }
        Found::Valid(s) => s,
    };

    // htpasswd sessions are nobody's provider's (and never refreshed by one).
    let via = match state.providers.of(session.provider.as_deref()) {
        Some(via) => via,
        None if session.htpasswd => state.providers.first(),
        None => {
            log::info!("session of {} names no configured provider; clearing it", session.user);
            return end_session(state, &cookies, &host()).await;
        }
    };
    let mut set_cookies = Vec::new();
    let now = session::now();
    if session.refresh_due(state.cookie.refresh, now) {
        // oauth2-proxy's `refreshSessionIfNeeded`: refresh when there is a refresh token, and
        // a session that was not refreshed must still validate (`validateSession`).
        // GitHub's tokens are never refreshed: its sessions are revalidated instead, through
        // the same once-per-session machinery.
        let has_refresh_token = session.refresh_token.as_deref().is_some_and(|t| !t.is_empty());
        let refreshable = has_refresh_token || via.provider.revalidates(has_refresh_token);
        let refreshed = match refreshable && !session.htpasswd {
            false => false,
            // Boxed: a refresh (and the store's lock around it) is rare, and inlined its
            // state would double the size of every request's future.
            true => match Box::pin(refresh_for(state, req, &session, &cookies, host(), now)).await {
                RefreshOutcome::Granted(grant) => {
                    Arc::make_mut(&mut session).apply_grant(&grant, now);
                    set_cookies = state.sessions.save(&cookies, &host(), &session).await?;
                    true
                }
                RefreshOutcome::RefreshedElsewhere(fresh) => {
                    session = fresh;
                    true
                }
                RefreshOutcome::GrantedAndSaved(saved, set) => {
                    session = saved;
                    set_cookies = set.0.clone();
                    true
                }
                RefreshOutcome::EndSession => return end_session(state, &cookies, &host()).await,
                RefreshOutcome::KeepForNow => false,
            },
        };
        if !refreshed && !session.htpasswd && !Box::pin(still_valid(state, &session, now)).await {
            log::info!("session of {} expired and could not be refreshed; clearing it", session.user);
            return end_session(state, &cookies, &host()).await;
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
        state.authorize(via, &session.email, &session.groups)
    };
    if let Err(denied) = verdict {
        log::info!("session of {} no longer authorized ({denied}); clearing it", session.user);
        return end_session(state, &cookies, &host()).await.map(|a| Authenticated { denied: true, ..a });
    }
    Ok(Authenticated { session: Some(session), set_cookies, denied: false })
}

/// oauth2-proxy's refresh of a provider without refresh tokens (GitHub): the session counts as
/// refreshed (a new `created_at`, saved) when `validate_url` still accepts its access token,
/// and ends otherwise, unreachable included (as oauth2-proxy's `validateToken`).
async fn revalidate(provider: &oidc::Provider, session: &SessionState) -> RefreshOutcome {
    let token = session.access_token.clone().unwrap_or_default();
    match provider.revalidate(&token).await {
        Ok(true) => {
            let tokens = oidc::TokenSet { access_token: token, id_token: None, refresh_token: None, expires_in: None };
            RefreshOutcome::Granted(Arc::new(Grant { tokens, identity: None }))
        }
        Ok(false) => {
            log::info!("validate_url no longer accepts the session's access token; the session ends");
            RefreshOutcome::EndSession
        }
        Err(e) => {
            log::warn!("validate_url could not be asked; the session ends: {e}");
            RefreshOutcome::EndSession
        }
    }
}

/// How long a request waits for a refresh the store saves itself before it goes on with the
/// session as it is (the refresh goes on for the requests after it).
const REFRESH_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// The session's refresh, as this request needs it. Where the store saves a refresh itself
/// (Redis), the request waits for it only [`REFRESH_PATIENCE`], unless the session cannot go
/// on without it (it no longer validates): then, and with the cookie store, whose only save is
/// this response, it waits for the outcome.
async fn refresh_for(
    state: &State,
    req: &HttpRequest,
    session: &Arc<SessionState>,
    cookies: &RequestCookies,
    host: String,
    now: u64,
) -> RefreshOutcome {
    let patient = state.sessions.saves_refreshes_itself();
    let patience = patient.then_some(REFRESH_PATIENCE);
    let outcome = refresh(req, session, cookies, host.clone(), patience).await;
    if patient && matches!(outcome, RefreshOutcome::KeepForNow) && !still_valid(state, session, now).await {
        return refresh(req, session, cookies, host, None).await;
    }
    outcome
}

/// One refresh per session: in this process through `Refreshes`, and across instances through
/// the store (`SessionStore::refresh_once`). The refresh runs as a task of its own, so it owns
/// what it needs: the shared state, the session and the request's cookies.
async fn refresh(
    req: &HttpRequest,
    session: &Arc<SessionState>,
    cookies: &RequestCookies,
    host: String,
    patience: Option<std::time::Duration>,
) -> RefreshOutcome {
    let Some(shared) = req.app_data::<web::Data<State>>().cloned() else {
        log::error!("no shared state to refresh a session with; keeping it as it is");
        return RefreshOutcome::KeepForNow;
    };
    let rt = session.refresh_token.clone().unwrap_or_default();
    // The tokens, the provider, the user and when the session was last refreshed: requests
    // still carrying this cookie share one refresh, and the refreshed session (a newer
    // `created_at`) gets a refresh of its own when it is due again, even when the provider
    // does not rotate refresh tokens. The access token tells apart sessions without a refresh
    // token (GitHub's), which must never share another session's outcome.
    let at = session.access_token.as_deref().unwrap_or_default();
    let who = format!("{}\n{}", session.provider.as_deref().unwrap_or_default(), session.user);
    let key = format!("{}.{}.{}.{}", flow::hash_b64(&rt), flow::hash_b64(at), flow::hash_b64(&who), session.created_at);
    let (session, cookies, state) = (session.clone(), cookies.clone(), shared.clone());
    let work = move || async move {
        let grant = || redeem_refresh_token(&shared, &rt, &session);
        shared.sessions.refresh_once(&cookies, &host, &session, grant).await
    };
    state.refreshes.run(key, work, patience).await
}

/// The refresh-token grant, counted in the refresh metric.
async fn redeem_refresh_token(state: &State, refresh_token: &str, session: &SessionState) -> RefreshOutcome {
    let outcome = grant(state, refresh_token, session).await;
    state.metrics.refresh(match outcome {
        RefreshOutcome::Granted(_) | RefreshOutcome::RefreshedElsewhere(_) | RefreshOutcome::GrantedAndSaved(..) => "refreshed",
        RefreshOutcome::EndSession => "ended",
        RefreshOutcome::KeepForNow => "failed",
    });
    outcome
}

/// The refresh-token grant, with the refreshed ID token verified and read as at login.
async fn grant(state: &State, refresh_token: &str, session: &SessionState) -> RefreshOutcome {
    // The provider that issued the session refreshes it.
    let Some(via) = state.providers.of(session.provider.as_deref()) else { return RefreshOutcome::EndSession };
    let provider = &via.provider;
    if provider.revalidates(!refresh_token.is_empty()) {
        return revalidate(provider, session).await;
    }
    match provider.refresh(refresh_token).await {
        Ok(mut tokens) => {
            let identity = match &tokens.id_token {
                // No ID token: the identity stays, but Keycloak's roles are the new access
                // token's (one taken away at the provider is gone now).
                None => match provider.refreshed_identity(&session.identity(), &tokens.access_token).await {
                    Ok(identity) => identity,
                    Err(e) => {
                        log::warn!("refreshed session refused, ending it: {e}");
                        return RefreshOutcome::EndSession;
                    }
                },
                Some(_) => match provider.identity(&tokens, IdTokenUse::Session(session.nonce.as_deref())).await {
                    // The same subject, or the session ends: a refresh token never turns one
                    // user's session into another's.
                    Ok(id) if id.identity.user != *session.subject.as_ref().unwrap_or(&session.user) => {
                        log::warn!("refreshed ID token names another subject; ending the session");
                        return RefreshOutcome::EndSession;
                    }
                    // The login's `sid` stays: the provider's session is the one it opened.
                    Ok(mut id) => {
                        provider.carry_over(&mut id.identity, &session.identity());
                        Some(id.identity)
                    }
                    Err(e) => {
                        log::warn!("refreshed ID token refused, ending the session: {e}");
                        return RefreshOutcome::EndSession;
                    }
                },
            };
            // oauth2-proxy's `ValidateSession` of a refreshed OIDC session: `validate_url`, when
            // set, must accept the new access token.
            match provider.validate_access_token(&tokens.access_token).await {
                Ok(true) => {}
                Ok(false) => {
                    log::info!("validate_url refused the refreshed access token; the session ends");
                    return RefreshOutcome::EndSession;
                }
                // As oauth2-proxy: a token that could not be validated is not valid.
                Err(e) => {
                    log::warn!("validate_url could not be asked; the session ends: {e}");
                    return RefreshOutcome::EndSession;
                }
            }
            // No new refresh token (or an empty one): the old one stays, as in Go's x/oauth2.
            if tokens.refresh_token.as_deref().is_none_or(str::is_empty) {
                tokens.refresh_token = Some(refresh_token.to_string());
            }
            log::info!("session refreshed");
            RefreshOutcome::Granted(Arc::new(Grant { tokens, identity }))
        }
        Err(oidc::Error::Rejected { code }) if code.ends_session() => {
            log::info!("refresh token refused by the provider ({code}); the session ends");
            RefreshOutcome::EndSession
        }
        Err(e) => {
            log::warn!("session refresh failed, keeping the session for now: {e}");
            RefreshOutcome::KeepForNow
        }
    }
}
