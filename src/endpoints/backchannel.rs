//! `oidc_backchannel_logout_path` (default `/oauth2/backchannel_logout`): the provider's
//! OpenID Connect Back-Channel Logout 1.0 requests. A verified logout token, seen for the first
//! time, ends the sessions it names: on every instance sharing Redis at once, and in this
//! instance's memory for sessions kept in cookies.
//!
//! Server-to-server: no cookie is read or set, no page rendered, and nothing in the request
//! but its one `logout_token` is used.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::http::error::{LogoutError, logout_answer};
use crate::http::request;
use crate::oidc::verify::LEEWAY_SECS;
use crate::session::ending::Subject;
use crate::state::State;

pub async fn logout(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    logout_answer(receive(&state, &req, &body).await)
}

async fn receive(state: &State, req: &HttpRequest, body: &[u8]) -> Result<(), LogoutError> {
    if req.method() != Method::POST {
        return Err(LogoutError::NotPost);
    }
    if !request::content_type(req).eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(LogoutError::NotForm);
    }
    let tokens: Vec<_> = url::form_urlencoded::parse(body).filter(|(k, _)| k == "logout_token").map(|(_, v)| v).collect();
    let [token] = tokens.as_slice() else { return Err(LogoutError::NoToken) };
    // The route exists only when the rules do.
    let Some(rules) = state.provider.config().backchannel_logout else { return Err(LogoutError::NotPost) };
    let logout = state.provider.verify_logout_token(token, rules).await?;
    // Remembered as long as the token could still be accepted: after that its age refuses it.
    let remember = rules.max_age + std::time::Duration::from_secs(2 * LEEWAY_SECS);
    if !state.sessions.first_sight(&logout.jti, remember).await? {
        return Err(crate::oidc::logout::LogoutTokenError::Replayed.into());
    }
    let who = Subject::logged_out(logout.sid.as_deref(), logout.sub.as_deref());
    let deleted = match state.sessions.end(&who).await {
        Ok(n) => n,
        Err(e) => {
            // Not carried out: the provider may send the same token again.
            state.sessions.forget_sight(&logout.jti).await;
            return Err(e.into());
        }
    };
    let named = who.iter().map(|w| format!("{} {}", w.kind(), w.value())).collect::<Vec<_>>().join(", ");
    log::info!("back-channel logout: sessions of {named} ended ({deleted} in the shared store)");
    Ok(())
}
