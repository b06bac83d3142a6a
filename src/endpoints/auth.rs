//! Forward-auth checks, in three forms:
//!
//! - `/oauth2/auth` (nginx `auth_request`), exactly as oauth2-proxy: 202 with identity headers,
//!   401 without a session, 403 when the check's own query constraints fail. Never a redirect
//!   (nginx turns anything but 2xx/401/403 into a 500), and no no-cache headers, so nginx may
//!   cache the answer.
//! - `/oauth2/auth/<path>` (Envoy `ext_authz` with `path_prefix`): a check of `<path>` with the
//!   check's own method; 200 on success, because Envoy treats only 200 as "allowed".
//! - `/oauth2/verify` and `/oauth2/verify/<path>` (Traefik ForwardAuth, Envoy): like the above,
//!   answered 200 on success, but an unauthenticated *browser navigation* gets a 302 straight
//!   to the provider's login, returning to the original URL afterwards. Traefik and Envoy hand
//!   the auth service's answer to the browser as is, so no error-page plumbing is needed.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::login;
use crate::authz;
use crate::authz::Constraints;
use crate::gate::{self, Edge, Verdict, View};
use crate::http::error::{HttpError, Refusal};
use crate::http::respond::{self, add_cookies};
use crate::identity::{self, Unrenderable};
use crate::state::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// nginx: 202, never redirects.
    Nginx,
    /// Envoy path form: 200, never redirects.
    Envoy,
    /// Traefik and Envoy for browsers: 200, redirects navigations to the login.
    Browser,
}

pub async fn auth(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    check(&state, &req, Form::Nginx, None).await
}

pub async fn auth_path(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let tail = envoy_tail(&state, &req, "auth")?;
    check(&state, &req, Form::Envoy, Some(tail)).await
}

pub async fn verify(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    check(&state, &req, Form::Browser, None).await
}

pub async fn verify_path(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let tail = envoy_tail(&state, &req, "verify")?;
    check(&state, &req, Form::Browser, Some(tail)).await
}

/// The original path in Envoy's form (`/oauth2/auth` + `/original/path`), cut from the path as
/// received, so it is decoded exactly once (by the gate). A check path whose prefix arrived
/// percent-encoded is not Envoy's and is refused.
fn envoy_tail<'a>(state: &State, req: &'a HttpRequest, endpoint: &str) -> Result<&'a str, HttpError> {
    req.uri()
        .path()
        .strip_prefix(state.path(endpoint).as_str())
        .filter(|tail| tail.starts_with('/'))
        .ok_or_else(|| Refusal::MalformedCheckPath.into())
}

async fn check(state: &State, req: &HttpRequest, form: Form, tail: Option<&str>) -> Result<HttpResponse, HttpError> {
    let view = View::check(req, &state.trust, tail);
    render(state, req, form, &view).await
}

/// A check Envoy describes over gRPC (`endpoints::grpc`): `req` holds the original request's
/// method, path and headers, `edge` what Envoy says of it, `context` its route's constraints.
/// Answered as `/oauth2/verify` answers: 200 with identity, a 302 to the login for a
/// navigation, else 401 or 403.
pub async fn described(state: &State, req: &HttpRequest, edge: Edge, context: Vec<Constraints>) -> Result<HttpResponse, HttpError> {
    render(state, req, Form::Browser, &View::described(req, edge, context)).await
}

async fn render(state: &State, req: &HttpRequest, form: Form, view: &View) -> Result<HttpResponse, HttpError> {
    let decision = gate::decide(state, req, view).await?;
    let accepted = form == Form::Nginx;
    let mut res = match &decision.verdict {
        // A person who signed in but may not see this page gets a page that says so; scripts
        // and nginx get oauth2-proxy's plain 403.
        Verdict::Forbidden(s) if form == Form::Browser && view.client(req, &state.authz).navigation => {
            return Err(Refusal::RouteConstraint { user: s.user.clone() }.into());
        }
        Verdict::Forbidden(_) | Verdict::Refused => respond::forbidden(),
        Verdict::Allowed(s) => {
            let id = state.seen_identity(s);
            let mut res = respond::passed(accepted);
            response_identity(state, &mut res, &s.claim_values(&id))?;
            res
        }
        Verdict::Anonymous => respond::passed(accepted),
        Verdict::Unauthenticated if form == Form::Browser && view.client(req, &state.authz).navigation => {
            let rd = return_to(state, view);
            login::to_login(state, req, &rd)?
        }
        Verdict::Unauthenticated | Verdict::Denied => respond::unauthorized(),
    };
    add_cookies(&mut res, decision.set_cookies);
    Ok(res)
}

/// The identity headers of an answer to a request with a session (the check's 2xx, a proxied
/// response): the configured response headers, and `GAP-Auth` (email, else user), which
/// oauth2-proxy always sets. A value that cannot be a header refuses the answer: a 2xx always
/// carries the whole identity.
pub fn response_identity(state: &State, res: &mut HttpResponse, values: &identity::ClaimValues<'_>) -> Result<(), HttpError> {
    // Converted as they are inserted: a value that fails discards the whole response.
    for (name, value) in identity::render(&state.headers.response, values) {
        let value = HeaderValue::try_from(value).map_err(|_| Unrenderable(name.clone()))?;
        res.headers_mut().insert(name, value);
    }
    let who = &values.identity;
    let gap = if who.email.is_empty() { &who.user } else { &who.email };
    let gap = HeaderValue::from_str(gap).map_err(|_| Unrenderable(HeaderName::from_static("gap-auth")))?;
    res.headers_mut().insert(HeaderName::from_static("gap-auth"), gap);
    Ok(())
}

/// Where the login returns: the original path and query, relative, so the callback on the
/// same host sends the browser back to it. Only from a trusted proxy or the request line
/// (Envoy's path form); otherwise `/`.
fn return_to(state: &State, view: &View) -> String {
    let rd = if view.edge.trusted || view.path_from_request_line { view.uri.as_str() } else { "/" };
    if authz::is_valid_redirect(rd, &state.authz.whitelist_domains) && !rd.starts_with(&format!("{}/", state.proxy_prefix)) {
        rd.to_string()
    } else {
        "/".to_string()
    }
}
