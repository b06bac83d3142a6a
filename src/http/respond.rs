//! The plain answers: every response Gatehouse builds that is not an error page (those come
//! from [`super::error`]) or a page from `pages`. Handlers, the gate's renderers and the
//! middleware use these, so each answer looks the same wherever it is given, and each status
//! code is chosen here.

use actix_web::HttpResponse;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType, HeaderValue};

use crate::base::text::escape_html;

const TEXT: &str = "text/plain; charset=utf-8";

/// `no-cache` headers for every `/oauth2/*` answer except `/oauth2/auth` (oauth2-proxy's set).
pub fn no_cache(res: &mut HttpResponse) {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store, must-revalidate, max-age=0"));
    h.insert(header::EXPIRES, HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 UTC"));
    h.insert(header::HeaderName::from_static("x-accel-expires"), HeaderValue::from_static("0"));
}

/// Appends `Set-Cookie` headers.
pub fn add_cookies(res: &mut HttpResponse, cookies: impl IntoIterator<Item = Cookie<'static>>) {
    for c in cookies {
        // Cookie values are base64url and attributes are ours: always a valid header value.
        if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

/// `Cache-Control: no-cache, no-store` and `Pragma: no-cache`: Back-Channel Logout 2.8's
/// headers on every answer to a logout token.
fn logout_headers(res: &mut HttpResponse) {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A back-channel logout that ended the sessions it named: `200 OK`, empty.
pub fn logout_ended() -> HttpResponse {
    let mut res = HttpResponse::Ok().finish();
    logout_headers(&mut res);
    res
}

/// A back-channel logout refused, with its OAuth error code as JSON (section 2.8).
pub fn logout_refused(status: StatusCode, code: &'static str) -> HttpResponse {
    let mut res = HttpResponse::build(status).content_type("application/json").body(format!("{{\"error\":\"{code}\"}}"));
    logout_headers(&mut res);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    res
}

/// `200 OK` with a plain-text body (health checks, `robots.txt`).
pub fn ok_text(body: impl Into<String>) -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::plaintext()).body(body.into())
}

/// `200 OK` with a JSON body (`/oauth2/userinfo`).
pub fn ok_json(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(body)
}

/// The metrics exposition text.
pub fn openmetrics(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(body)
}

/// `503` with the reason a readiness check failed (no secrets, no internals beyond that).
pub fn not_ready(reason: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable().content_type(ContentType::plaintext()).body(format!("error: {reason}\n"))
}

/// A check that passed: `202` for nginx's `auth_request` (oauth2-proxy's answer), `200` for
/// Traefik and Envoy, which take only 200 as "allowed".
pub fn passed(accepted: bool) -> HttpResponse {
    HttpResponse::build(if accepted { StatusCode::ACCEPTED } else { StatusCode::OK }).finish()
}

/// oauth2-proxy's plain-text 401.
pub fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized().content_type(TEXT).body("Unauthorized\n")
}

/// The standalone proxy's 401 for API clients, as oauth2-proxy answers them.
pub fn unauthorized_json() -> HttpResponse {
    HttpResponse::Unauthorized().content_type("application/json").body("{}")
}

/// oauth2-proxy's plain-text 403.
pub fn forbidden() -> HttpResponse {
    HttpResponse::Forbidden().content_type(TEXT).body("Forbidden\n")
}

/// Go's plain 404, as oauth2-proxy's proxy answers a path no upstream serves.
pub fn not_found() -> HttpResponse {
    HttpResponse::NotFound().content_type(TEXT).body("404 page not found\n")
}

/// An HTTP/2 request beyond HTTP/1's header bounds.
pub fn head_too_large() -> HttpResponse {
    HttpResponse::build(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).finish()
}

/// A 302 as oauth2-proxy's (Go's `http.Redirect`) looks: `Location`, and a one-line HTML
/// body with its content type, for clients that show the body.
pub fn redirect(location: &str) -> HttpResponse {
    let location = location_value(location);
    let body = format!("<a href=\"{}\">Found</a>.\n\n", escape_html(&location));
    HttpResponse::Found().insert_header((header::LOCATION, location)).content_type("text/html; charset=utf-8").body(body)
}

/// `301` to the same path with a slash (a proxied directory, as Go's mux answers).
pub fn moved_permanently(location: String) -> HttpResponse {
    HttpResponse::MovedPermanently().insert_header((header::LOCATION, location)).finish()
}

/// `308` to the same URL over HTTPS (`force_https`): the method and body are kept.
pub fn permanent_redirect(location: String) -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, location)).finish()
}

/// A `static://<code>` upstream's answer: the configured status (200 when it is not a valid
/// status), as oauth2-proxy's static upstream answers.
pub fn static_upstream(code: u16) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(code).unwrap_or(StatusCode::OK)).content_type(TEXT).body("Authenticated")
}

/// An HTML page with its Content-Security-Policy, answered with `status`.
pub fn page(status: StatusCode, csp: HeaderValue, body: String) -> HttpResponse {
    HttpResponse::build(status).content_type("text/html; charset=utf-8").insert_header((header::CONTENT_SECURITY_POLICY, csp)).body(body)
}

/// A redirect target as a `Location` value: bytes outside printable ASCII percent-encoded
/// (a validated target may hold non-ASCII text, which a header cannot carry raw).
pub fn location_value(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    for b in target.bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why the sign-in page is shown; it sets the page's status, as oauth2-proxy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// `/oauth2/sign_in` asked for: 200.
    Asked,
    /// The htpasswd form came without a username: 400.
    MissingUsername,
    /// The htpasswd form's credentials are wrong: 401.
    WrongPassword,
    /// The standalone proxy's browser without a session: 403.
    Required,
}

impl SignIn {
    pub fn status(self) -> StatusCode {
        match self {
            SignIn::Asked => StatusCode::OK,
            SignIn::MissingUsername => StatusCode::BAD_REQUEST,
            SignIn::WrongPassword => StatusCode::UNAUTHORIZED,
            SignIn::Required => StatusCode::FORBIDDEN,
        }
    }

    /// What the page says about the last form submission.
    pub fn message(self) -> Option<&'static str> {
        match self {
            SignIn::MissingUsername => Some("Enter a username."),
            SignIn::WrongPassword => Some("The username or password is not right."),
            SignIn::Asked | SignIn::Required => None,
        }
    }
}
