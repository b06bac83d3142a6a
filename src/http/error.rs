//! The error table: the one place that turns errors into HTTP answers. Every failure is a
//! typed error of the concern it belongs to (`oidc::Error`, `session::StoreError`,
//! `session::CsrfError`, `proxy::ProxyError` (as [`UpstreamError`]), `identity::Unrenderable`,
//! and the request-level [`AuthError`], [`LoginError`] and [`Refusal`] defined here), and each is mapped to a status
//! and a page below, and nowhere else. Classified by who is to blame: the client (4xx), a
//! dependency (the identity provider, the session store, the upstream: 502/503/504), or
//! Gatehouse itself (500). Bodies are short pages that say what happened and what to do,
//! never internals; details go to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::authz::Denied;
use crate::identity::Unrenderable;
use crate::oidc;
use crate::oidc::logout::LogoutTokenError;
use crate::pages;
use crate::proxy::ProxyError;
use crate::session::{CsrfError, StoreError};

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
    fn new(status: StatusCode, message: &'static str, detail: impl Into<String>) -> Self {
        HttpError { status, message, detail: detail.into() }
    }

    fn bad_request(message: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, message)
    }

    fn forbidden(message: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message, detail)
    }

    fn unavailable(message: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message, detail)
    }

    fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong inside Gatehouse. Please try again; if it persists, tell your administrator.",
            detail,
        )
    }

    /// The answer this error gives, with a `Set-Cookie` for each of `cookies` (a login's
    /// CSRF cookie, a session that ended): for handlers that must send cookies with an error.
    pub fn with_cookies(&self, cookies: impl IntoIterator<Item = actix_web::cookie::Cookie<'static>>) -> HttpResponse {
        let mut res = self.error_response();
        super::respond::add_cookies(&mut res, cookies);
        res
    }
}

// === the request-level errors ===

/// Why the gate could not load a request's session or credentials.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bearer token that does not verify, without `bearer_token_login_fallback`.
    #[error("bearer token refused: {0}")]
    BearerRefused(String),
    /// Too many wrong passwords for one user from one address (htpasswd).
    #[error("{0} limited")]
    TooManyAttempts(&'static str),
}

/// Why a login (the callback, or the htpasswd form) did not sign the user in.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// A callback parameter given twice (`state` and `code` are the ones that matter).
    #[error("the callback repeats {0:?}")]
    Repeated(String),
    #[error("the provider returned error {0:?}")]
    ProviderSaidNo(String),
    #[error("callback without state")]
    NoState,
    #[error("callback state has no ':'")]
    StateMalformed,
    #[error(transparent)]
    Csrf(#[from] CsrfError),
    #[error("callback state does not match the CSRF cookie")]
    CsrfMismatch,
    #[error("callback without a code")]
    NoCode,
    /// `/oauth2/start?provider=` names no configured provider.
    #[error("no provider has the id /oauth2/start asked for")]
    UnknownProvider,
    /// The callback is another provider's than the login's (mix-up attack).
    #[error("the callback is not the callback of the provider the login went to")]
    WrongCallback,
    /// RFC 9207: a response from another issuer (mix-up attack).
    #[error("callback iss {0:?} is not the provider's issuer")]
    WrongIssuer(String),
    #[error(transparent)]
    Provider(#[from] oidc::Error),
    #[error("login of {user} refused: {denied}")]
    NotAllowed { user: String, denied: Denied },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("htpasswd sign-in limited")]
    TooManyAttempts,
}

impl LoginError {
    /// The `gatehouse_logins_total` label of this failure.
    pub fn metric(&self) -> &'static str {
        use oidc::Error as O;
        match self {
            LoginError::Repeated(_) | LoginError::NoCode | LoginError::UnknownProvider => "bad_request",
            LoginError::Store(_) => "store_unavailable",
            LoginError::Provider(O::NotReady | O::Unreachable(_) | O::BadResponse(_) | O::NoIdToken) => "provider_unavailable",
            LoginError::Provider(O::Internal(_)) => "internal",
            _ => "refused",
        }
    }
}

/// A request refused for what it is, not for a failure.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// An Envoy check path whose prefix arrived percent-encoded.
    #[error("the check path is malformed")]
    MalformedCheckPath,
    /// A browser navigation refused by a route constraint (Traefik, Envoy).
    #[error("{user} refused by a route constraint")]
    RouteConstraint { user: String },
    /// A session the policy (email domains, groups) refused, in the standalone proxy.
    #[error("session failed authorization checks")]
    PolicyDenied,
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
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
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
        // Refused as this account: the page offers a sign-out, to come back as another.
        let sign_out = self.status == StatusCode::FORBIDDEN;
        res.extensions_mut().insert(ErrorPage { status: self.status, message: self.message, detail: self.detail.clone(), sign_out });
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
    /// The page offers a sign-out (a POST form).
    pub sign_out: bool,
}

// === the table ===

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
            E::Denied(_) => HttpError::forbidden(
                "Your account at the identity provider is not one this site lets in (organization, team, repository or user). Ask your administrator.",
                detail,
            ),
            E::Internal(_) => HttpError::internal(detail),
        }
    }
}

impl From<StoreError> for HttpError {
    /// A store failure is a 503 wherever it happens: the client did nothing wrong, and the
    /// request is refused rather than let through.
    fn from(e: StoreError) -> Self {
        HttpError::unavailable("Sessions are unavailable right now. Please try again in a moment.", e.to_string())
    }
}

impl From<CsrfError> for HttpError {
    fn from(e: CsrfError) -> Self {
        HttpError::forbidden("Unable to find a valid CSRF token for this login. Please sign in again.", e.to_string())
    }
}

/// An upstream that failed, named (the log says which).
#[derive(Debug, thiserror::Error)]
#[error("upstream {upstream}: {error}")]
pub struct UpstreamError {
    pub upstream: String,
    pub error: ProxyError,
}

impl From<UpstreamError> for HttpError {
    fn from(e: UpstreamError) -> Self {
        let detail = e.to_string();
        match e.error {
            ProxyError::Timeout(_) => {
                HttpError::new(StatusCode::GATEWAY_TIMEOUT, "The application took too long to answer. Please try again.", detail)
            }
            ProxyError::Unreachable(_) => {
                HttpError::new(StatusCode::BAD_GATEWAY, "The application could not be reached. Please try again in a moment.", detail)
            }
            ProxyError::RequestBody(_) => {
                HttpError::new(StatusCode::REQUEST_TIMEOUT, "Your request's content did not arrive in time. Please try again.", detail)
            }
        }
    }
}

impl From<Unrenderable> for HttpError {
    /// An identity that cannot travel as headers: refused, never passed with a header missing.
    fn from(e: Unrenderable) -> Self {
        HttpError::forbidden(
            "Your account's details cannot be passed on to this application. Ask your administrator.",
            format!("identity header {} would not be a valid header value", e.0),
        )
    }
}

impl From<serde_json::Error> for HttpError {
    fn from(e: serde_json::Error) -> Self {
        HttpError::internal(e.to_string())
    }
}

impl From<AuthError> for HttpError {
    fn from(e: AuthError) -> Self {
        let detail = e.to_string();
        match e {
            AuthError::Store(e) => e.into(),
            AuthError::BearerRefused(_) => HttpError::forbidden("The token sent with this request is not valid here.", detail),
            AuthError::TooManyAttempts(_) => too_many_attempts(detail),
        }
    }
}

fn too_many_attempts(detail: String) -> HttpError {
    HttpError::new(StatusCode::TOO_MANY_REQUESTS, "Too many failed sign-in attempts. Wait a minute, then try again.", detail)
}

impl From<LoginError> for HttpError {
    fn from(e: LoginError) -> Self {
        use LoginError as L;
        const NOT_THIS_BROWSER: &str = "The login response was not for this browser. Please sign in again.";
        let detail = e.to_string();
        match e {
            L::Repeated(name) if name == "state" || name == "code" => {
                HttpError::bad_request("The login response was malformed. Please sign in again.")
            }
            L::Repeated(_) => HttpError::bad_request("The login response was malformed."),
            L::ProviderSaidNo(_) => {
                HttpError::forbidden("The identity provider did not sign you in. Please try again, or ask your administrator.", detail)
            }
            L::NoState | L::StateMalformed => HttpError::forbidden(NOT_THIS_BROWSER, detail),
            L::Csrf(e) => e.into(),
            L::CsrfMismatch => HttpError::forbidden("CSRF token mismatch. Please sign in again.", detail),
            L::NoCode => HttpError::bad_request("The login response had no authorization code. Please sign in again."),
            L::UnknownProvider => HttpError::bad_request("There is no such identity provider here. Please choose one on the sign-in page."),
            L::WrongIssuer(_) | L::WrongCallback => {
                HttpError::forbidden("The login response came from an unexpected identity provider. Please sign in again.", detail)
            }
            L::Provider(e) => e.into(),
            L::NotAllowed { .. } => {
                HttpError::forbidden("You signed in, but this account is not allowed here. Ask your administrator for access.", detail)
            }
            L::Store(e) => e.into(),
            L::TooManyAttempts => too_many_attempts(detail),
        }
    }
}

impl From<Refusal> for HttpError {
    fn from(e: Refusal) -> Self {
        let detail = e.to_string();
        match e {
            Refusal::MalformedCheckPath => HttpError::bad_request("The check path is malformed."),
            Refusal::RouteConstraint { .. } => HttpError::forbidden(
                "You are signed in, but this account may not see this page. Ask your administrator for access.",
                detail,
            ),
            Refusal::PolicyDenied => {
                HttpError::forbidden("You are signed in, but this account is not allowed here. Ask your administrator for access.", detail)
            }
        }
    }
}

/// Why a back-channel logout request ended nothing. Answered as the spec asks (section 2.8):
/// JSON with an OAuth error code, never cached; the detail goes to the log only.
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("back-channel logout must be a POST")]
    NotPost,
    #[error("back-channel logout body is not application/x-www-form-urlencoded")]
    NotForm,
    #[error("back-channel logout without exactly one logout_token")]
    NoToken,
    #[error("logout token refused: {0}")]
    Token(#[from] LogoutTokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The answer to a back-channel logout: 200 when its sessions ended, 400 for a request or
/// token that is not acceptable, 405 for another method, 503 when the provider's keys or the
/// session store are unavailable (the provider may send it again; nothing was ended).
pub fn logout_answer(outcome: Result<(), LogoutError>) -> HttpResponse {
    let Err(e) = outcome else {
        return super::respond::logout_ended();
    };
    let (status, code) = match &e {
        LogoutError::NotPost => (StatusCode::METHOD_NOT_ALLOWED, "invalid_request"),
        LogoutError::Token(LogoutTokenError::Provider(_)) | LogoutError::Store(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
        _ => (StatusCode::BAD_REQUEST, "invalid_request"),
    };
    log::info!("back-channel logout refused ({}): {e}", status.as_u16());
    super::respond::logout_refused(status, code)
}

/// Why a session admin request (`endpoints::admin`) was refused. Answered as JSON.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the admin token is missing or wrong")]
    Unauthenticated,
    #[error("name exactly one of user or sid")]
    Who,
    #[error("sessions are kept in browsers' cookies, where they cannot be listed; revoking works")]
    NotListable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AdminError::Who => StatusCode::BAD_REQUEST,
            AdminError::NotListable => StatusCode::NOT_IMPLEMENTED,
            AdminError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        log::info!("admin request refused: {self}");
        // The store's own error stays in the log.
        let said = match self {
            AdminError::Store(_) => "the session store is unavailable".to_string(),
            other => other.to_string(),
        };
        let mut res =
            HttpResponse::build(self.status_code()).content_type("application/json").body(serde_json::json!({ "error": said }).to_string());
        if matches!(self, AdminError::Unauthenticated) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}
