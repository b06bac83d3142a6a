//! The one place that turns errors into HTTP responses. Classified by who is to blame: the
//! client (4xx), the identity provider (502/503), or Gatehouse itself (500). Bodies are short
//! pages that say what happened and what to do, never internals; details go to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::endpoints::pages;
use crate::oidc;

/// An error answer.
#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    /// What the user is told (plain text; escaped when rendered).
    pub message: &'static str,
    /// What the log is told (never a token or secret).
    pub detail: String,
}

impl HttpError {
    pub fn new(status: StatusCode, message: &'static str, detail: impl Into<String>) -> Self {
        HttpError { status, message, detail: detail.into() }
    }

    pub fn bad_request(message: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, message)
    }

    /// Too many wrong passwords for one user from one address (htpasswd).
    pub fn too_many_attempts(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "Too many failed sign-in attempts. Wait a minute, then try again.", detail)
    }

    pub fn forbidden(message: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong inside Gatehouse. Please try again; if it persists, tell your administrator.",
            detail,
        )
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.detail, self.status.as_u16())
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
            // An unavailable dependency (provider, Redis) logs its own changes of state, once;
            // logging every refused request would flood the log during an outage.
            log::debug!("{}: {}", self.status.as_u16(), self.detail);
        } else if self.status.is_server_error() {
            log::error!("{}: {}", self.status.as_u16(), self.detail);
        } else {
            log::info!("{}: {}", self.status.as_u16(), self.detail);
        }
        let mut res = HttpResponse::build(self.status)
            .content_type("text/html; charset=utf-8")
            .body(pages::plain_error_page(self.status, self.message));
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store, must-revalidate, max-age=0"));
        // `server::pages` renders it again with the configured pages and the request ID.
        res.extensions_mut().insert(ErrorPage { status: self.status, message: self.message, detail: self.detail.clone() });
        res
    }
}

/// An error page to render with the configured pages (custom `error.html`, footer,
/// `show_debug_on_error`), carried in the response's extensions.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub message: &'static str,
    pub detail: String,
}

impl From<oidc::Error> for HttpError {
    fn from(e: oidc::Error) -> Self {
        use oidc::Error as E;
        let detail = e.to_string();
        match e {
            E::NotReady => HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The identity provider is not reachable yet. Please try again in a moment.",
                detail,
            ),
            E::Unreachable(_) => {
                HttpError::new(StatusCode::BAD_GATEWAY, "The identity provider could not be reached. Please try again in a moment.", detail)
            }
            E::BadResponse(_) | E::NoIdToken => HttpError::new(
                StatusCode::BAD_GATEWAY,
                "The identity provider gave an unexpected answer. Please try again; if it persists, tell your administrator.",
                detail,
            ),
            E::Rejected { .. } => HttpError::forbidden("The identity provider refused the login. Please sign in again.", detail),
            E::IdToken(_) => HttpError::forbidden(
                "The identity provider's answer could not be verified, so you were not signed in. Please sign in again.",
                detail,
            ),
            E::Claims(_) => HttpError::forbidden(
                "Your account at the identity provider does not give what this site needs (a verified email address). Ask your administrator.",
                detail,
            ),
            E::Internal(_) => HttpError::internal(detail),
        }
    }
}
