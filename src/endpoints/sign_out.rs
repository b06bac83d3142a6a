//! `/oauth2/sign_out`: clears every session cookie and redirects to a validated `rd` (with
//! `{id_token}` replaced, for a provider logout URL), calling `backend_logout_url` first.

use actix_web::{HttpRequest, HttpResponse, web};

use super::login::app_redirect;
use crate::gate::authenticate::authenticate;
use crate::http::error::HttpError;
use crate::http::request;
use crate::http::respond::{add_cookies, no_cache, redirect};
use crate::session::SessionStore;
use crate::state::State;

pub async fn sign_out(
    state: web::Data<State>,
    req: HttpRequest,
    body: Option<web::Form<Vec<(String, String)>>>,
) -> Result<HttpResponse, HttpError> {
    let mut pairs = request::query(&req, &[]).unwrap_or_default();
    if let Some(form) = body {
        pairs.extend(form.into_inner());
    }
    let rd = app_redirect(&state, &req, &pairs);
    let current = authenticate(&state, &req).await.ok().and_then(|c| c.session);
    let id_token = current.as_ref().and_then(|s| s.id_token.clone()).unwrap_or_default();
    let encoded: String = url::form_urlencoded::byte_serialize(id_token.as_bytes()).collect();
    let target = rd.replace("{id_token}", &encoded);

    if current.is_some() {
        state.provider.backend_logout(&id_token).await;
    }

    let cookies = request::cookies(&req);
    let clear = state.sessions.clear(&cookies, &request::host(&req)).await?;
    if let Some(s) = &current {
        log::info!("sign-out: {}", s.user);
    }
    let mut res = redirect(&target);
    add_cookies(&mut res, clear);
    no_cache(&mut res);
    Ok(res)
}
