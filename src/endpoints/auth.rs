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

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::login::{self, add_cookies, unauthorized};
use super::session;
use super::state::State;
use crate::authz::{self, Constraints};
use crate::identity;
use crate::server::error::HttpError;
use crate::server::forwarded::{self, Original};
use crate::server::request;

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

pub async fn auth_path(state: web::Data<State>, req: HttpRequest, tail: web::Path<String>) -> Result<HttpResponse, HttpError> {
    check(&state, &req, Form::Envoy, Some(&tail)).await
}

pub async fn verify(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    check(&state, &req, Form::Browser, None).await
}

pub async fn verify_path(state: web::Data<State>, req: HttpRequest, tail: web::Path<String>) -> Result<HttpResponse, HttpError> {
    check(&state, &req, Form::Browser, Some(&tail)).await
}

async fn check(state: &State, req: &HttpRequest, form: Form, tail: Option<&str>) -> Result<HttpResponse, HttpError> {
    let original = forwarded::original(req, &state.trust, tail);
    let constraints = constraints(req, tail.is_some());
    let success = if form == Form::Nginx { StatusCode::ACCEPTED } else { StatusCode::OK };
    let current = session::current(state, req).await?;

    let mut res = match &current.session {
        // A person who signed in but may not see this page gets a page that says so; scripts
        // and nginx get oauth2-proxy's plain 403.
        Some(s) if !constraints.allow(&s.email, &s.groups) && form == Form::Browser && is_navigation(state, req, &original) => {
            state.metrics.auth("forbidden");
            return Err(HttpError::forbidden(
                "You are signed in, but this account may not see this page. Ask your administrator for access.",
                format!("{} refused by a route constraint", s.user),
            ));
        }
        Some(s) if !constraints.allow(&s.email, &s.groups) => forbidden(),
        Some(s) => {
            let id = s.identity();
            let mut res = HttpResponse::build(success).finish();
            response_identity(state, &mut res, &s.claim_values(&id));
            res
        }
        None if authz::allowed_without_auth(&state.authz, &original.method, &original.path(), original.client_ip) => {
            HttpResponse::build(success).finish()
        }
        None if form == Form::Browser && is_navigation(state, req, &original) => {
            let rd = return_to(state, &original, tail.is_some());
            login::begin(state, req, &rd)?
        }
        None => unauthorized(),
    };
    state.metrics.auth(match (res.status().as_u16(), current.session.is_some()) {
        (200..=299, true) => "authenticated",
        (200..=299, false) => "skipped",
        (403, _) => "forbidden",
        _ => "unauthenticated",
    });
    add_cookies(&mut res, current.set_cookies);
    Ok(res)
}

/// Route constraints: from the check's query string (nginx, Traefik: `/oauth2/auth?allowed_groups=a`)
/// and from `X-Gatehouse-Allowed-Groups`, `-Emails`, `-Email-Domains` headers, which an Envoy
/// route adds to its check (in the path form the query string is the original request's).
/// A constraint can only narrow access, so it is accepted from any sender.
fn constraints(req: &HttpRequest, path_form: bool) -> Constraints {
    let mut c = Constraints::default();
    if !path_form {
        for (k, v) in request::query(req, &[]).unwrap_or_default() {
            c.add(&k, &v);
        }
    }
    for (name, header) in [
        ("allowed_groups", request::names::X_GATEHOUSE_ALLOWED_GROUPS),
        ("allowed_emails", request::names::X_GATEHOUSE_ALLOWED_EMAILS),
        ("allowed_email_domains", request::names::X_GATEHOUSE_ALLOWED_EMAIL_DOMAINS),
    ] {
        for v in req.headers().get_all(header).filter_map(request::visible_ascii) {
            c.add(name, v);
        }
    }
    c
}

/// The identity headers of an answer to a request with a session (the check's 202, a proxied
/// response): the configured response headers, and `GAP-Auth` (email, else user), which
/// oauth2-proxy always sets.
pub fn response_identity(state: &State, res: &mut HttpResponse, values: &identity::ClaimValues<'_>) {
    for (name, value) in identity::render(&state.headers.response, values) {
        // From the `String` itself: no copy.
        if let Ok(v) = HeaderValue::try_from(value) {
            res.headers_mut().insert(name, v);
        }
    }
    let who = &values.identity;
    let gap = if who.email.is_empty() { &who.user } else { &who.email };
    if let Ok(v) = HeaderValue::from_str(gap) {
        res.headers_mut().insert(HeaderName::from_static("gap-auth"), v);
    }
}

fn forbidden() -> HttpResponse {
    HttpResponse::Forbidden().content_type("text/plain; charset=utf-8").body("Forbidden\n")
}

/// A top-level page load by a person, as opposed to a script or an API client: those get a
/// 401 they can act on instead of a login page they cannot show.
fn is_navigation(state: &State, req: &HttpRequest, original: &Original) -> bool {
    if state.authz.force_json_errors || !matches!(original.method.as_str(), "GET" | "HEAD") {
        return false;
    }
    if state.authz.api_routes.iter().any(|r| r.is_match(&original.path())) {
        return false;
    }
    if request::header(req, "X-Requested-With").is_some_and(|v| v.eq_ignore_ascii_case("XMLHttpRequest")) {
        return false;
    }
    let accept = request::header(req, "Accept").unwrap_or("");
    match request::header(req, "Sec-Fetch-Mode") {
        Some(mode) => mode.eq_ignore_ascii_case("navigate"),
        None => accept.contains("text/html"),
    }
}

/// Where the login returns: the original path and query, relative, so the callback on the
/// same host sends the browser back to it. Only from a trusted proxy (or Envoy's path form,
/// whose path is the check's own); otherwise `/`.
fn return_to(state: &State, original: &Original, path_form: bool) -> String {
    let rd = if original.trusted || path_form { original.uri.as_str() } else { "/" };
    if authz::is_valid_redirect(rd, &state.authz.whitelist_domains) && !rd.starts_with(&format!("{}/", state.proxy_prefix)) {
        rd.to_string()
    } else {
        "/".to_string()
    }
}
