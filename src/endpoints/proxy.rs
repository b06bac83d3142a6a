//! Reverse-proxy mode: every path outside Gatehouse's own is routed to an upstream after the
//! session says yes. Without a session: JSON 401 for API clients, the sign-in page (403) or a
//! redirect to the provider for browsers; requests allowed without a session are forwarded
//! with no identity.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::login::{self, add_cookies};
use super::session;
use super::state::State;
use crate::authz::{self, Constraints};
use crate::identity;
use crate::proxy::forward::{self, Clients, Forwarding, ProxyError};
use crate::proxy::{Route, Target, files, websocket};
use crate::server::error::HttpError;
use crate::server::forwarded;
use crate::server::request;

pub async fn proxy(
    state: web::Data<State>,
    clients: web::Data<Clients>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, HttpError> {
    let up = match state.router.route(req.path()) {
        Route::To(up) => up,
        Route::AddSlash => {
            let mut location = format!("{}/", req.path());
            if !req.query_string().is_empty() {
                location = format!("{location}?{}", req.query_string());
            }
            return Ok(HttpResponse::MovedPermanently().insert_header((header::LOCATION, location)).finish());
        }
        Route::NotFound => return Ok(HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("404 page not found\n")),
    };
    {
        use actix_web::HttpMessage;
        req.extensions_mut().insert(crate::telemetry::LoggedUpstream(up.id.clone()));
    }
    let original = forwarded::original(&req, &state.trust, None);
    let current = session::current(&state, &req).await?;
    let session = match &current.session {
        Some(s) => {
            let mut constraints = Constraints::default();
            for (k, v) in request::query(&req, &[]).unwrap_or_default() {
                constraints.add(&k, &v);
            }
            if !constraints.allow(&s.email, &s.groups) {
                state.metrics.auth("forbidden");
                let mut res = HttpResponse::Forbidden().content_type("text/plain; charset=utf-8").body("Forbidden\n");
                add_cookies(&mut res, current.set_cookies);
                return Ok(res);
            }
            state.metrics.auth("authenticated");
            Some(s)
        }
        // Signed in, but the policy (email domains, groups) refuses the session: a 403 page,
        // as oauth2-proxy answers, and the session is cleared.
        None if current.denied => {
            state.metrics.auth("forbidden");
            let mut res = actix_web::ResponseError::error_response(&HttpError::forbidden(
                "You are signed in, but this account is not allowed here. Ask your administrator for access.",
                "session failed authorization checks",
            ));
            add_cookies(&mut res, current.set_cookies);
            return Ok(res);
        }
        None if authz::allowed_without_auth(&state.authz, &original.method, &original.path(), original.client_ip) => {
            state.metrics.auth("skipped");
            None
        }
        None => {
            state.metrics.auth("unauthenticated");
            let mut res = unauthenticated(&state, &req, &original.uri).await?;
            add_cookies(&mut res, current.set_cookies);
            return Ok(res);
        }
    };

    let identity = session.map(|s| (s.identity(), s));
    let claims = identity.as_ref().map(|(id, s)| s.claim_values(id));
    let add = claims.as_ref().map(|c| identity::render(&state.headers.request, c)).unwrap_or_default();

    let mut res = match &up.target {
        Target::Static(code) => HttpResponse::build(StatusCode::from_u16(*code).unwrap_or(StatusCode::OK))
            .content_type("text/plain; charset=utf-8")
            .body("Authenticated"),
        Target::File(dir) => files::serve(&req, dir, &up.path).await,
        Target::Unix(_) => {
            return Err(HttpError::new(
                StatusCode::BAD_GATEWAY,
                "The application could not be reached.",
                "unix upstreams are not supported",
            ));
        }
        Target::Http(base) => {
            let fwd = Forwarding {
                peer: req.peer_addr().map(|p| p.ip()),
                forwarded_for: if original.trusted { request::header(&req, request::names::X_FORWARDED_FOR) } else { None },
                proto: &original.proto,
                host: &original.host,
                strip: &state.request_strip,
                add,
            };
            let result = if up.proxy_websockets && websocket::is_upgrade(&req) {
                websocket::relay(&clients, up, base, &req, body, fwd).await
            } else {
                forward::forward(&clients, up, base, &req, body, fwd).await
            };
            result.map_err(|e| {
                let (status, message, kind) = match e {
                    ProxyError::Timeout(_) => {
                        (StatusCode::GATEWAY_TIMEOUT, "The application took too long to answer. Please try again.", "timeout")
                    }
                    ProxyError::Unreachable(_) => {
                        (StatusCode::BAD_GATEWAY, "The application could not be reached. Please try again in a moment.", "unreachable")
                    }
                };
                state.metrics.upstream_error(kind);
                HttpError::new(status, message, format!("upstream {}: {e}", up.id))
            })?
        }
    };
    if let Some(c) = &claims {
        super::auth::response_identity(&state, &mut res, c);
    }
    add_cookies(&mut res, current.set_cookies);
    Ok(res)
}

/// No session: API clients get `401 {}`; browsers get the provider (with
/// `skip_provider_button`) or the sign-in page with status 403, as oauth2-proxy answers.
async fn unauthenticated(state: &State, req: &HttpRequest, uri: &str) -> Result<HttpResponse, HttpError> {
    let accept = request::header(req, "Accept").unwrap_or("");
    if state.authz.force_json_errors
        || accept.contains("application/json")
        || state.authz.api_routes.iter().any(|r| r.is_match(&crate::server::forwarded::normalise_path(uri)))
    {
        return Ok(HttpResponse::Unauthorized().content_type("application/json").body("{}"));
    }
    let rd = if authz::is_valid_redirect(uri, &state.authz.whitelist_domains) { uri } else { "/" };
    if state.authz.skip_provider_button {
        return login::begin(state, req, rd);
    }
    login::sign_in_page(state, req, rd, StatusCode::FORBIDDEN, None).await
}
