//! `/oauth2/sign_out`: clears every session cookie and redirects to a validated `rd` (with
//! `{id_token}` replaced, for a provider logout URL), calling `backend_logout_url` first. With
//! `oidc_rp_initiated_logout`, a signed-in user is sent to the provider's discovered
//! `end_session_endpoint` instead (OpenID Connect RP-Initiated Logout 1.0), which sends them
//! on to that `rd`.

use actix_web::{HttpRequest, HttpResponse, web};

use super::login::{absolute, app_redirect};
use crate::gate::authenticate::authenticate;
use crate::http::error::HttpError;
use crate::http::request;
use crate::http::respond::{add_cookies, no_cache, redirect};
use crate::oidc::Provider;
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
    // The provider that issued the session is the one told (with several, each its own).
    let via = current.as_ref().and_then(|s| state.providers.of(s.provider.as_deref())).unwrap_or(state.providers.first());

    if current.is_some() {
        via.provider.backend_logout(&id_token).await;
    }

    let cookies = request::cookies(&req);
    let clear = state.sessions.clear(&cookies, &request::host(&req)).await?;
    if let Some(s) = &current {
        log::info!("sign-out: {}", s.user);
    }
    // On to the provider only for a sign-out this site asked for: a cross-site link may end
    // the session here (as in oauth2-proxy), not the user's single sign-on everywhere. An `rd`
    // already naming the provider's logout (`{id_token}`) is left to do it.
    let cross_site = request::header(&req, "Sec-Fetch-Site") == Some("cross-site");
    let hand_written = rd.contains("{id_token}");
    let target = match current.as_ref().and_then(|s| s.id_token.as_deref()) {
        Some(hint) if via.provider.config().rp_initiated_logout && !cross_site && !hand_written => {
            end_session_url(&via.provider, &req, &state, hint, &target).unwrap_or(target)
        }
        _ => target,
    };
    let mut res = redirect(&target);
    add_cookies(&mut res, clear);
    no_cache(&mut res);
    Ok(res)
}

/// The provider's `end_session_endpoint` with the session's ID token as `id_token_hint`, our
/// `client_id`, `post_logout_redirect_uri` (the validated `rd`, as a URL, which the operator
/// registers at the provider) and a `state`. `None` when discovery gave no such endpoint.
fn end_session_url(provider: &Provider, req: &HttpRequest, state: &State, id_token: &str, after: &str) -> Option<String> {
    let endpoints = provider.endpoints().ok()?;
    let Some(mut url) = endpoints.end_session.clone() else {
        log::warn!("oidc_rp_initiated_logout is set, but the provider announces no end_session_endpoint: signed out here only");
        return None;
    };
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("client_id", &provider.config().client_id)
        .append_pair("post_logout_redirect_uri", &absolute(state, req, after))
        .append_pair("state", &crate::oidc::flow::random_b64(16));
    Some(url.to_string())
}
