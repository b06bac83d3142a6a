//! Loading the request's session: open it, refresh it when due (single-flight), check it is
//! still authorized, and collect the cookies the response must carry (a refreshed session, or
//! the deletion of an invalid one).

use actix_web::HttpRequest;
use actix_web::cookie::Cookie;

use super::refresh::Outcome;
use super::state::State;
use crate::authz;
use crate::oidc::{self, flow};
use crate::server::error::HttpError;
use crate::server::request;
use crate::session::{self, Loaded, SessionState, SessionStore};

/// The request's session, if any, and the cookies to set on the response.
pub struct Current {
    pub session: Option<SessionState>,
    pub set_cookies: Vec<Cookie<'static>>,
}

pub async fn current(state: &State, req: &HttpRequest) -> Result<Current, HttpError> {
    let cookies = request::cookies(req);
    let host = request::host(req);
    let store_err = |e: session::StoreError| {
        HttpError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "Sessions are unavailable right now. Please try again in a moment.",
            e.to_string(),
        )
    };
    let mut session = match state.store.load(&cookies).await.map_err(store_err)? {
        Loaded::None => {
            return Ok(Current {
                session: None,
                set_cookies: vec![],
            });
        }
        Loaded::Invalid(why) => {
            log::info!("session cookie refused ({why}); clearing it");
            let clear = state
                .store
                .clear(&cookies, &host)
                .await
                .map_err(store_err)?;
            return Ok(Current {
                session: None,
                set_cookies: clear,
            });
        }
        Loaded::Valid(s) => s,
    };

    let mut set_cookies = Vec::new();
    let refresh_after = state.cookie.refresh;
    let now = session::now();
    if !refresh_after.is_zero()
        && session.age(now) > refresh_after
        && let Some(rt) = session.refresh_token.clone()
    {
        {
            match refresh(state, &rt, session.nonce.clone()).await {
                Outcome::Refreshed(tokens) => {
                    session.access_token = Some(tokens.access_token.clone());
                    if let Some(it) = &tokens.id_token {
                        session.id_token = Some(it.clone());
                    }
                    if let Some(new_rt) = &tokens.refresh_token {
                        session.refresh_token = Some(new_rt.clone());
                    }
                    session.created_at = now;
                    session.expires_on = tokens.expires_in.map(|s| now + s);
                    set_cookies = state
                        .store
                        .save(&cookies, &host, &session)
                        .await
                        .map_err(store_err)?;
                }
                Outcome::EndSession => {
                    let clear = state
                        .store
                        .clear(&cookies, &host)
                        .await
                        .map_err(store_err)?;
                    return Ok(Current {
                        session: None,
                        set_cookies: clear,
                    });
                }
                Outcome::Keep => {}
            }
        }
    }

    if let Err(denied) = authz::authorize(
        &state.authz,
        &state.allowed_emails,
        &session.email,
        &session.groups,
    ) {
        log::info!(
            "session of {} no longer authorized ({denied}); clearing it",
            session.user
        );
        let clear = state
            .store
            .clear(&cookies, &host)
            .await
            .map_err(store_err)?;
        return Ok(Current {
            session: None,
            set_cookies: clear,
        });
    }
    Ok(Current {
        session: Some(session),
        set_cookies,
    })
}

async fn refresh(state: &State, refresh_token: &str, nonce: Option<String>) -> Outcome {
    let provider = &state.provider;
    state
        .refreshes
        .run(flow::hash_b64(refresh_token), || async move {
            match provider.refresh(refresh_token).await {
                Ok(mut tokens) => {
                    if let Some(id_token) = &tokens.id_token
                        && let Err(e) = provider.verify_id_token(id_token, nonce.as_deref()).await
                    {
                        log::warn!("refreshed ID token refused, ending the session: {e}");
                        return Outcome::EndSession;
                    }
                    if tokens.refresh_token.is_none() {
                        tokens.refresh_token = Some(refresh_token.to_string());
                    }
                    log::info!("session refreshed");
                    Outcome::Refreshed(std::sync::Arc::new(tokens))
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
        })
        .await
}
