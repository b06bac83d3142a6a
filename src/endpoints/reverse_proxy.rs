//! Reverse-proxy mode: every path outside Gatehouse's own is routed to an upstream after the
//! gate says yes. The gate judges the request as itself, and exactly that method and URI are
//! forwarded. Without a session: JSON 401 for API clients, the sign-in page (403) or a
//! redirect to the provider for browsers; requests allowed without a session are forwarded
//! with no identity.

use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::response_identity;
use super::login;
use crate::authz;
use crate::gate::{self, Verdict, View};
use crate::http::error::{HttpError, Refusal, UpstreamError};
use crate::http::request;
use crate::http::respond::{self, SignIn, add_cookies};
use crate::identity;
use crate::proxy::forward::{self, Clients, Forwarding};
use crate::proxy::{Route, Target, Upstream, files, websocket};
use crate::state::{Lifecycle, State};

pub async fn reverse_proxy(
    state: web::Data<State>,
    clients: web::Data<Clients>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, HttpError> {
    let received = request::received_target(&req);
    let (up, rewritten) = match state.router.route(req.path(), received.split_once('?').map_or("", |(_, q)| q)) {
        Route::To(up, rewritten) => (up, rewritten),
        // `//evil.example/app` + `/` would send the browser to another site.
        Route::AddSlash if req.path().starts_with("//") || req.path().starts_with("/\\") => return Ok(respond::not_found()),
        Route::AddSlash => {
            let mut location = format!("{}/", req.path());
            if !req.query_string().is_empty() {
                location = format!("{location}?{}", req.query_string());
            }
            return Ok(respond::moved_permanently(location));
        }
        Route::NotFound => return Ok(respond::not_found()),
    };
    {
        use actix_web::HttpMessage;
        req.extensions_mut().insert(crate::telemetry::LoggedUpstream(up.id.clone()));
    }
    let view = View::proxied(&req, &state.trust);
    let decision = gate::decide(&state, &req, &view).await?;
    let session = match decision.verdict {
        Verdict::Allowed(s) => Some(s),
        Verdict::Anonymous => None,
        Verdict::Forbidden(_) | Verdict::Refused => {
            let mut res = respond::forbidden();
            add_cookies(&mut res, decision.set_cookies);
            return Ok(res);
        }
        // Signed in, but the policy (email domains, groups) refuses the session: a 403 page,
        // as oauth2-proxy answers, and the session is cleared.
        Verdict::Denied => return Ok(HttpError::from(Refusal::PolicyDenied).with_cookies(decision.set_cookies)),
        Verdict::Unauthenticated => {
            let mut res = unauthenticated(&state, &req, &view).await?;
            add_cookies(&mut res, decision.set_cookies);
            return Ok(res);
        }
    };

    let identity = session.as_ref().map(|s| (state.seen_identity(s), s));
    let claims = identity.as_ref().map(|(id, s)| s.claim_values(id));
    let answer = async {
        let add = match &claims {
            Some(c) => identity::render_headers(&state.headers.request, c)?,
            None => Vec::new(),
        };
        let mut res = upstream(&state, &clients, up, rewritten.as_deref(), &req, body, &view, add).await?;
        if let Some(c) = &claims {
            response_identity(&state, &mut res, c)?;
        }
        Ok::<_, HttpError>(res)
    };
    // The session's cookies (a refresh just saved, a session ended) go out with any answer,
    // an error too: a refreshed cookie session dropped here would replay its spent refresh
    // token later.
    match answer.await {
        Ok(mut res) => {
            add_cookies(&mut res, decision.set_cookies);
            Ok(res)
        }
        Err(e) if decision.set_cookies.is_empty() => Err(e),
        Err(e) => Ok(e.with_cookies(decision.set_cookies)),
    }
}

/// The upstream's answer to the request the gate allowed, with `add` (the identity headers),
/// sent to `rewritten` when the route rewrote the target.
#[allow(clippy::too_many_arguments)] // one call site; each is a distinct part of the request
async fn upstream(
    state: &State,
    clients: &Clients,
    up: &Upstream,
    rewritten: Option<&str>,
    req: &HttpRequest,
    body: web::Payload,
    view: &View,
    add: Vec<(actix_web::http::header::HeaderName, actix_web::http::header::HeaderValue)>,
) -> Result<HttpResponse, HttpError> {
    let base = match &up.target {
        Target::Static(code) => return Ok(respond::static_upstream(*code)),
        Target::File(dir) => return Ok(files::serve(req, dir, &up.path).await),
        Target::Unix(_) => &*forward::UNIX_BASE,
        Target::Http(base) => base,
    };
    // Every copy, in order: an edge that adds a line rather than appending to one leaves the
    // client's copy first.
    let forwarded_for = view
        .edge
        .trusted
        .then(|| req.headers().get_all(request::names::X_FORWARDED_FOR).filter_map(request::visible_ascii).collect::<Vec<_>>().join(", "));
    let fwd = Forwarding {
        method: &view.method,
        uri: rewritten.unwrap_or(&view.uri),
        peer: req.peer_addr().map(|p| p.ip()),
        client_ip: view.edge.client_ip,
        forwarded_for: forwarded_for.as_deref(),
        proto: &view.edge.proto,
        host: &view.edge.host,
        strip: &state.request_strip,
        add,
    };
    let result = if up.proxy_websockets && websocket::is_upgrade(req) {
        let mut lifecycle = state.lifecycle.subscribe();
        let closing = async move {
            let _ = lifecycle.wait_for(|l| *l == Lifecycle::Stopping).await;
        };
        websocket::relay(clients, up, base, req, body, fwd, closing).await
    } else {
        forward::forward(clients, up, base, req, body, fwd).await
    };
    result.map_err(|error| {
        state.metrics.upstream_error(error.kind());
        UpstreamError { upstream: up.id.clone(), error }.into()
    })
}

/// No session: API clients get `401 {}`; browsers get the provider (with
/// `skip_provider_button`) or the sign-in page with status 403, as oauth2-proxy answers.
async fn unauthenticated(state: &State, req: &HttpRequest, view: &View) -> Result<HttpResponse, HttpError> {
    if view.client(req, &state.authz).api {
        return Ok(respond::unauthorized_json());
    }
    let rd = if authz::is_valid_redirect(&view.uri, &state.authz.whitelist_domains) { view.uri.as_str() } else { "/" };
    if state.authz.skip_provider_button {
        return login::begin(state, req, state.providers.first(), rd, &[]);
    }
    if let Some(via) = login::default_provider(state, req, rd) {
        return login::begin(state, req, via, rd, &[]);
    }
    login::sign_in_page(state, req, rd, SignIn::Required).await
}
