//! The login: `/oauth2/sign_in` (page), `/oauth2/start` (to the provider), `/oauth2/callback`
//! (back from the provider, session created).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::pages;
use super::state::State;
use crate::authz;
use crate::oidc::flow;
use crate::server::error::HttpError;
use crate::server::request::{self, param};
use crate::session::cookie::RequestCookies;
use crate::session::{self, LoginState, SessionState, SessionStore};

/// `no-cache` headers for every `/oauth2/*` answer except `/oauth2/auth` (oauth2-proxy's set).
pub fn no_cache(res: &mut HttpResponse) {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store, must-revalidate, max-age=0"));
    h.insert(header::EXPIRES, HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 UTC"));
    h.insert(header::HeaderName::from_static("x-accel-expires"), HeaderValue::from_static("0"));
}

pub fn add_cookies(res: &mut HttpResponse, cookies: impl IntoIterator<Item = actix_web::cookie::Cookie<'static>>) {
    for c in cookies {
        // Cookie values are base64url and attributes are ours: always a valid header value.
        if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

/// oauth2-proxy's plain-text 401.
pub fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized().content_type("text/plain; charset=utf-8").body("Unauthorized\n")
}

/// A 302 as oauth2-proxy's (Go's `http.Redirect`) looks: `Location`, and a one-line HTML
/// body with its content type, for clients that show the body.
pub fn redirect(location: &str) -> HttpResponse {
    let location = location_value(location);
    let body = format!("<a href=\"{}\">Found</a>.\n\n", super::pages::escape(&location));
    HttpResponse::Found().insert_header((header::LOCATION, location)).content_type("text/html; charset=utf-8").body(body)
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

/// Where to send the browser after login: `rd`, then `X-Auth-Request-Redirect`, each only if
/// it passes redirect validation; otherwise `/`.
///
/// A target inside Gatehouse's own prefix becomes `/`: nginx sends the original URI as
/// `X-Auth-Request-Redirect` on every `/oauth2/` request, and "back to `/oauth2/sign_out`"
/// would loop.
pub fn app_redirect(state: &State, req: &HttpRequest, pairs: &[(String, String)]) -> String {
    let own = format!("{}/", state.proxy_prefix);
    [param(pairs, "rd"), request::header(req, "X-Auth-Request-Redirect")]
        .into_iter()
        .flatten()
        .find(|rd| authz::is_valid_redirect(rd, &state.authz.whitelist_domains))
        .map(|rd| if rd.starts_with(&own) { "/" } else { rd })
        .unwrap_or("/")
        .to_string()
}

/// The callback URL sent to the provider: `redirect_url` when absolute (or when relative URLs
/// are asked for), otherwise built from the request's host. With `cookie_secure` the scheme is
/// https, as in oauth2-proxy.
fn callback_url(state: &State, req: &HttpRequest) -> String {
    let cfg = state.provider.config();
    match &cfg.redirect_url {
        Some(u) if !u.starts_with('/') => u.clone(),
        Some(path) if cfg.relative_redirect_url => path.clone(),
        configured => {
            let path = configured.clone().unwrap_or_else(|| state.path("callback"));
            if cfg.relative_redirect_url {
                return path;
            }
            let scheme = if state.cookie.secure || req.app_config().secure() { "https" } else { "http" };
            format!("{scheme}://{}{path}", request::host(req))
        }
    }
}

/// `/oauth2/sign_in`: the page, or with `htpasswd_file` a `POST` of its form (`username`,
/// `password`), which signs the user in without the provider, as oauth2-proxy's: 302 to the
/// redirect on success, the page again with 400 (no username) or 401 (wrong credentials).
pub async fn sign_in(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, HttpError> {
    let mut pairs = request::query(&req, &[]).unwrap_or_default();
    let form_post = req.method() == actix_web::http::Method::POST && state.htpasswd.is_some();
    if form_post {
        pairs.extend(url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }
    let rd = app_redirect(&state, &req, &pairs);
    let failure = if form_post {
        match form_login(&state, &req, &pairs).await? {
            Ok(res) => return Ok(res),
            Err(failure) => Some(failure),
        }
    } else {
        None
    };
    if state.authz.skip_provider_button {
        return begin(&state, &req, &rd);
    }
    match failure {
        Some((status, why)) => sign_in_page(&state, &req, &rd, status, Some(why)).await,
        None => sign_in_page(&state, &req, &rd, StatusCode::OK, None).await,
    }
}

/// Checks the htpasswd form. `Ok(Err(..))` is a refusal to show on the page again.
async fn form_login(
    state: &State,
    req: &HttpRequest,
    pairs: &[(String, String)],
) -> Result<Result<HttpResponse, (StatusCode, &'static str)>, HttpError> {
    let Some(htpasswd) = &state.htpasswd else { return Ok(Err((StatusCode::OK, ""))) };
    let user = param(pairs, "username").unwrap_or("");
    let client = req.peer_addr().map_or("-".to_string(), |p| p.to_string());
    let id = request_id(req);
    if user.is_empty() {
        return Ok(Err((StatusCode::BAD_REQUEST, "Enter a username.")));
    }
    let ip = crate::gate::Edge::read(req, &state.trust).client_ip;
    match htpasswd.check(user, param(pairs, "password").unwrap_or(""), ip).await {
        crate::htpasswd::Outcome::Accepted => {}
        crate::htpasswd::Outcome::Refused => {
            state.metrics.htpasswd("refused");
            state.log.auth(&client, &id, user, "AuthFailure", "Invalid authentication via HtpasswdFile");
            return Ok(Err((StatusCode::UNAUTHORIZED, "The username or password is not right.")));
        }
        crate::htpasswd::Outcome::Limited => {
            state.metrics.htpasswd("limited");
            return Err(HttpError::too_many_attempts("htpasswd sign-in limited"));
        }
    }
    state.metrics.htpasswd("accepted");
    let session = super::session::htpasswd_session(state, user);
    if let Err(denied) = authz::authorize_htpasswd(&state.authz, &session.groups) {
        return Err(HttpError::forbidden(
            "You signed in, but this account is not allowed here. Ask your administrator for access.",
            format!("htpasswd login of {user} refused: {denied}"),
        ));
    }
    state.log.auth(&client, &id, user, "AuthSuccess", "Authenticated via HtpasswdFile");
    let cookies = state
        .store
        .save_new(&request::cookies(req), &request::host(req), &session)
        .await
        .map_err(|e| super::session::store_error(state, e))?;
    let mut res = redirect(&app_redirect(state, req, pairs));
    add_cookies(&mut res, cookies);
    no_cache(&mut res);
    Ok(Ok(res))
}

fn request_id(req: &HttpRequest) -> String {
    use actix_web::HttpMessage;
    req.extensions().get::<crate::telemetry::RequestId>().map_or("-".to_string(), |r| r.0.clone())
}

/// The sign-in page, returning to `rd` after login. The session cookie is cleared: a new login
/// must not inherit an old session (session fixation, GHSA-f24x).
pub async fn sign_in_page(
    state: &State,
    req: &HttpRequest,
    rd: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, HttpError> {
    let sign_in_path = state.path("sign_in");
    let page = pages::sign_in_page(
        &state.pages,
        &pages::SignIn {
            start_path: &state.path("start"),
            prefix: &state.proxy_prefix,
            rd,
            status,
            htpasswd_form: (state.htpasswd.is_some() && state.pages.display_htpasswd_form).then_some(sign_in_path.as_str()),
            error: error.filter(|e| !e.is_empty()),
        },
    );
    let mut res = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", pages::content_security_policy(&state.pages, state.pages.sign_in_template.is_some())))
        .body(page);
    let clear = state.store.clear(&request::cookies(req), &request::host(req)).await.unwrap_or_default();
    add_cookies(&mut res, clear);
    no_cache(&mut res);
    Ok(res)
}

pub async fn start(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let pairs = request::query(&req, &[]).unwrap_or_default();
    let rd = app_redirect(&state, &req, &pairs);
    begin(&state, &req, &rd)
}

/// Starts a login that returns to `rd` (already validated): 302 to the provider, with the
/// CSRF cookie holding the login state.
pub fn begin(state: &State, req: &HttpRequest, rd: &str) -> Result<HttpResponse, HttpError> {
    let endpoints = state.provider.endpoints()?;
    let cfg = state.provider.config();

    let csrf = flow::random_b64(32);
    let nonce = flow::random_b64(32);
    let (verifier, challenge) = match cfg.pkce {
        Some(method) => {
            let (v, c) = flow::pkce(method);
            (Some(v), Some(c))
        }
        None => (None, None),
    };
    let state_hash = flow::hash_b64(&csrf);
    let mut oauth_state = format!("{state_hash}:{rd}");
    if cfg.encode_state {
        oauth_state = URL_SAFE_NO_PAD.encode(oauth_state);
    }
    let nonce_hash = (!cfg.skip_nonce).then(|| flow::hash_b64(&nonce));
    let url = flow::authorize_url(&endpoints, cfg, &callback_url(state, req), &oauth_state, nonce_hash.as_deref(), challenge.as_deref());

    let login = LoginState { csrf, nonce, code_verifier: verifier, created_at: session::now() };
    let mut res = redirect(url.as_str());
    add_cookies(&mut res, state.csrf.set(&login, &state_hash, &request::host(req), &request::cookies(req)));
    no_cache(&mut res);
    Ok(res)
}

pub async fn callback(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let (result, clear_csrf) = finish_login(&state, &req).await;
    {
        use actix_web::HttpMessage;
        let id = request_id(&req);
        let who = req.extensions().get::<crate::telemetry::LoggedUser>().map_or("-".to_string(), |u| u.0.clone());
        let client = req.peer_addr().map_or("-".to_string(), |p| p.to_string());
        match &result {
            Ok(_) => state.log.auth(&client, &id, &who, "AuthSuccess", "Authenticated via OAuth2"),
            Err(e) if e.status.is_server_error() => {
                state.log.auth(&client, &id, &who, "AuthError", &format!("Error completing the login: {}", e.detail))
            }
            Err(e) => state.log.auth(&client, &id, &who, "AuthFailure", &format!("Invalid authentication via OAuth2: {}", e.detail)),
        }
    }
    state.metrics.login(match &result {
        Ok(_) => "success",
        Err(e) if e.status.as_u16() == 400 => "bad_request",
        Err(e) if e.status.as_u16() == 403 => "refused",
        Err(e) if e.status.is_server_error() && e.status.as_u16() != 500 => "provider_unavailable",
        Err(_) => "internal",
    });
    // Once its CSRF cookie was read, the login attempt is over whatever the outcome: the
    // cookie goes (as in oauth2-proxy, which keeps it when the callback fails earlier).
    let Some(clear) = clear_csrf else { return result };
    let mut res = result.unwrap_or_else(|e| actix_web::ResponseError::error_response(&e));
    add_cookies(&mut res, [clear]);
    Ok(res)
}

/// `state` as `/oauth2/start` made it: `<csrf hash>:<rd>`, base64url-encoded with `encode_state`.
fn split_state(encoded: bool, raw: &str) -> Option<(String, String)> {
    let text = if encoded { String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()? } else { raw.to_string() };
    text.split_once(':').map(|(hash, rd)| (hash.to_string(), rd.to_string()))
}

/// The callback's outcome, and the CSRF cookie's deletion once that cookie was read.
async fn finish_login(
    state: &web::Data<State>,
    req: &HttpRequest,
) -> (Result<HttpResponse, HttpError>, Option<actix_web::cookie::Cookie<'static>>) {
    // The request's cookies, parsed once for the CSRF read, its deletion and the new session.
    let cookies = request::cookies(req);
    let callback = match read_callback(state, req, &cookies) {
        Ok(read) => read,
        Err(e) => return (Err(e), None),
    };
    let clear = state.csrf.clear(&callback.state_hash, &request::host(req), &cookies);
    (complete_login(state, req, &cookies, callback).await, Some(clear))
}

/// A callback's parameters and the login state its CSRF cookie held.
struct Callback {
    state_hash: String,
    rd: String,
    code: Option<String>,
    iss: Option<String>,
    login: LoginState,
}

/// The callback's parameters checked and its login state read from the CSRF cookie.
fn read_callback(state: &State, req: &HttpRequest, cookies: &RequestCookies) -> Result<Callback, HttpError> {
    let pairs = request::query(req, &["state", "code", "error", "iss"]).map_err(|name| {
        HttpError::bad_request(if name == "state" || name == "code" {
            "The login response was malformed. Please sign in again."
        } else {
            "The login response was malformed."
        })
    })?;
    if let Some(err) = param(&pairs, "error") {
        return Err(HttpError::forbidden(
            "The identity provider did not sign you in. Please try again, or ask your administrator.",
            format!("the provider returned error {err:?}"),
        ));
    }
    let cfg = state.provider.config();
    let raw_state = param(&pairs, "state").ok_or_else(|| {
        HttpError::forbidden("The login response was not for this browser. Please sign in again.", "callback without state")
    })?;
    let (state_hash, rd) = split_state(cfg.encode_state, raw_state).ok_or_else(|| {
        HttpError::forbidden("The login response was not for this browser. Please sign in again.", "callback state has no ':'")
    })?;
    let login = state
        .csrf
        .read(cookies, &state_hash)
        .map_err(|e| HttpError::forbidden("Unable to find a valid CSRF token for this login. Please sign in again.", e.to_string()))?;
    Ok(Callback { state_hash, rd, code: param(&pairs, "code").map(str::to_string), iss: param(&pairs, "iss").map(str::to_string), login })
}

/// The rest of the callback, after the CSRF cookie was read: state check, code redemption,
/// verification, policy, the new session.
async fn complete_login(
    state: &web::Data<State>,
    req: &HttpRequest,
    cookies: &RequestCookies,
    callback: Callback,
) -> Result<HttpResponse, HttpError> {
    let (state, req) = (state.clone(), req.clone());
    let Callback { state_hash, rd, code, iss, login } = callback;
    let host = request::host(&req);
    if !session::constant_time_eq(flow::hash_b64(&login.csrf).as_bytes(), state_hash.as_bytes()) {
        return Err(HttpError::forbidden("CSRF token mismatch. Please sign in again.", "callback state does not match the CSRF cookie"));
    }
    let cfg = state.provider.config();
    let code = code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| HttpError::bad_request("The login response had no authorization code. Please sign in again."))?;
    if let (Some(iss), Ok(endpoints)) = (iss, state.provider.endpoints())
        && !cfg.skip_issuer_verification
        && iss != endpoints.issuer
    {
        // RFC 9207: a response from another issuer (mix-up attack) is refused.
        return Err(HttpError::forbidden(
            "The login response came from an unexpected identity provider. Please sign in again.",
            format!("callback iss {iss:?} is not the provider's issuer"),
        ));
    }

    let tokens = state.provider.redeem(&code, &callback_url(&state, &req), login.code_verifier.as_deref()).await?;
    let nonce = (!cfg.skip_nonce).then(|| flow::hash_b64(&login.nonce));
    let identity = state.provider.identity(&tokens, nonce.as_deref()).await?;
    if let Err(denied) = authz::authorize(&state.authz, &state.allowed_emails(), &identity.email, &identity.groups) {
        return Err(HttpError::forbidden(
            "You signed in, but this account is not allowed here. Ask your administrator for access.",
            format!("login of {} refused: {denied}", identity.user),
        ));
    }

    let now = session::now();
    let new_session = SessionState {
        user: identity.user.clone(),
        email: identity.email,
        groups: identity.groups,
        preferred_username: identity.preferred_username,
        access_token: (!state.store_minimal()).then(|| tokens.access_token.clone()),
        id_token: if state.store_minimal() { None } else { tokens.id_token.clone() },
        refresh_token: if state.store_minimal() { None } else { tokens.refresh_token.clone() },
        created_at: now,
        expires_on: tokens.expires_in.map(|s| now + s),
        nonce,
        htpasswd: false,
    };
    {
        use actix_web::HttpMessage;
        req.extensions_mut().insert(crate::telemetry::LoggedUser(new_session.email.clone()));
    }
    // A store failure is a 503, as everywhere: the provider and Gatehouse did their part.
    let session_cookies = state.store.save_new(cookies, &host, &new_session).await.map_err(|e| super::session::store_error(&state, e))?;
    log::info!("login: {} ({})", identity.user, new_session.email);

    let target = if authz::is_valid_redirect(&rd, &state.authz.whitelist_domains) { rd.as_str() } else { "/" };
    let mut res = redirect(target);
    add_cookies(&mut res, session_cookies);
    no_cache(&mut res);
    Ok(res)
}
