//! The login: `/oauth2/sign_in` (page), `/oauth2/start` (to the provider), `/oauth2/callback`
//! (back from the provider, session created).

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::authz;
use crate::base::secret::constant_time_eq;
use crate::gate::authenticate::htpasswd_session;
use crate::http::error::{HttpError, LoginError};
use crate::http::request::{self, param};
use crate::http::respond::{self, SignIn, add_cookies, no_cache, redirect};
use crate::oidc::{IdTokenUse, Identified, flow};
use crate::pages;
use crate::session::jar::RequestCookies;
use crate::session::{self, LoginState, SessionState, SessionStore};
use crate::state::{Registered, State};

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

/// The query of `/oauth2/start` and `/oauth2/sign_in`, with `rd` made whole again when the
/// original URL's own parameters arrived beside it (`request::rd_with_its_query`); a login
/// parameter the request may choose is its own, not put back onto `rd`.
fn query_with_whole_rd(state: &State, req: &HttpRequest) -> Vec<(String, String)> {
    let mut pairs = request::query(req, &[]).unwrap_or_default();
    let choosable = |segment: &&str| {
        let name = url::form_urlencoded::parse(segment.as_bytes()).next().map(|(k, _)| k.into_owned()).unwrap_or_default();
        // With several providers, `provider` is the choice, never the app's.
        (name == "provider" && state.providers.several())
            || state.providers.0.iter().any(|r| r.provider.config().login_params.iter().any(|p| p.allow.is_some() && p.name == name))
    };
    let raw: Vec<&str> = req.query_string().split('&').filter(|s| !choosable(s)).collect();
    if let Some(whole) = request::rd_with_its_query(&raw.join("&")) {
        pairs.retain(|(k, _)| k != "rd");
        pairs.insert(0, ("rd".to_string(), whole));
    }
    pairs
}

/// The callback URL sent to the provider: `redirect_url` when absolute (or when relative URLs
/// are asked for), otherwise built from the request's host. With `cookie_secure` the scheme is
/// https, as in oauth2-proxy.
/// With several providers, each after the first has its own: `<callback>/<id>`.
fn callback_url(state: &State, req: &HttpRequest, via: &Registered) -> String {
    let cfg = state.provider.config();
    let url = match &cfg.redirect_url {
        Some(u) if !u.starts_with('/') => u.clone(),
        Some(path) if cfg.relative_redirect_url => path.clone(),
        configured => {
            let path = configured.clone().unwrap_or_else(|| state.path("callback"));
            if cfg.relative_redirect_url { path } else { absolute(state, req, &path) }
        }
    };
    match state.providers.callback_segment(via) {
        // Into the path, before any query the configured URL has.
        Some(id) => match url.split_once('?') {
            Some((path, query)) => format!("{}/{id}?{query}", path.trim_end_matches('/')),
            None => format!("{}/{id}", url.trim_end_matches('/')),
        },
        None => url,
    }
}

/// A local path as a URL on the request's host. With `cookie_secure` (or over TLS) the
/// scheme is https, as in oauth2-proxy; an absolute URL is returned as is.
pub fn absolute(state: &State, req: &HttpRequest, path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_string();
    }
    let scheme = if state.cookie.secure || req.app_config().secure() { "https" } else { "http" };
    format!("{scheme}://{}{path}", request::host(req))
}

/// `/oauth2/sign_in`: the page, or with `htpasswd_file` a `POST` of its form (`username`,
/// `password`), which signs the user in without the provider, as oauth2-proxy's: 302 to the
/// redirect on success, the page again with 400 (no username) or 401 (wrong credentials).
pub async fn sign_in(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, HttpError> {
    let query = query_with_whole_rd(&state, &req);
    let mut pairs = query.clone();
    let form_post = req.method() == actix_web::http::Method::POST && state.htpasswd.is_some();
    if form_post {
        pairs.extend(url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }
    let rd = app_redirect(&state, &req, &pairs);
    let shown = if form_post {
        match form_login(&state, &req, &pairs).await? {
            Ok(res) => return Ok(res),
            Err(refused) => refused,
        }
    } else {
        SignIn::Asked
    };
    if state.authz.skip_provider_button {
        // As oauth2-proxy: the sign-in page's query may choose login parameters too.
        return begin(&state, &req, state.providers.first(), &rd, &query);
    }
    if matches!(shown, SignIn::Asked)
        && let Some(via) = default_provider(&state, &req, &rd)
    {
        return begin(&state, &req, via, &rd, &query);
    }
    sign_in_page(&state, &req, &rd, shown).await
}

/// Checks the htpasswd form. `Ok(Err(..))` is a refusal to show on the page again.
async fn form_login(state: &State, req: &HttpRequest, pairs: &[(String, String)]) -> Result<Result<HttpResponse, SignIn>, HttpError> {
    let Some(htpasswd) = &state.htpasswd else { return Ok(Err(SignIn::Asked)) };
    let user = param(pairs, "username").unwrap_or("");
    let client = req.peer_addr().map_or("-".to_string(), |p| p.to_string());
    let id = request_id(req);
    if user.is_empty() {
        return Ok(Err(SignIn::MissingUsername));
    }
    let ip = crate::gate::Edge::read(req, &state.trust).client_ip;
    match htpasswd.check(user, param(pairs, "password").unwrap_or(""), ip).await {
        crate::htpasswd::Outcome::Accepted => {}
        crate::htpasswd::Outcome::Refused => {
            state.metrics.htpasswd("refused");
            state.log.auth(&client, &id, user, "AuthFailure", "Invalid authentication via HtpasswdFile");
            return Ok(Err(SignIn::WrongPassword));
        }
        crate::htpasswd::Outcome::Limited => {
            state.metrics.htpasswd("limited");
            return Err(LoginError::TooManyAttempts.into());
        }
    }
    state.metrics.htpasswd("accepted");
    let session = htpasswd_session(state, user);
    if let Err(denied) = authz::authorize_htpasswd(&state.authz, &session.groups) {
        return Err(LoginError::NotAllowed { user: user.to_string(), denied }.into());
    }
    state.log.auth(&client, &id, user, "AuthSuccess", "Authenticated via HtpasswdFile");
    let cookies = state.sessions.save_new(&request::cookies(req), &request::host(req), &session).await?;
    let mut res = redirect(&app_redirect(state, req, pairs));
    add_cookies(&mut res, cookies);
    no_cache(&mut res);
    Ok(Ok(res))
}

fn request_id(req: &HttpRequest) -> String {
    use actix_web::HttpMessage;
    req.extensions().get::<crate::telemetry::RequestId>().map_or("-".to_string(), |r| r.0.clone())
}

/// The provider whose `defaultFor` covers `rd` (its host, else the request's, and its path),
/// when there are several: its logins skip the choice.
pub fn default_provider<'a>(state: &'a State, req: &HttpRequest, rd: &str) -> Option<&'a Registered> {
    if !state.providers.several() {
        return None;
    }
    match url::Url::parse(rd) {
        Ok(u) => state.providers.default_for(u.host_str().unwrap_or_default(), u.path()),
        Err(_) => state.providers.default_for(&request::host(req), rd.split(['?', '#']).next().unwrap_or(rd)),
    }
}

/// A browser that must log in to reach `rd`: with one provider (or a `defaultFor` one) to
/// it, otherwise to the sign-in page, which offers the choice.
pub fn to_login(state: &State, req: &HttpRequest, rd: &str) -> Result<HttpResponse, HttpError> {
    match default_provider(state, req, rd) {
        Some(via) => begin(state, req, via, rd, &[]),
        None if state.providers.several() => {
            let query: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("rd", rd).finish();
            let mut res = redirect(&format!("{}?{query}", state.path("sign_in")));
            no_cache(&mut res);
            Ok(res)
        }
        None => begin(state, req, state.providers.first(), rd, &[]),
    }
}

/// The sign-in page, returning to `rd` after login. The session cookie is cleared: a new login
/// must not inherit an old session (session fixation, GHSA-f24x).
pub async fn sign_in_page(state: &State, req: &HttpRequest, rd: &str, shown: SignIn) -> Result<HttpResponse, HttpError> {
    let sign_in_path = state.path("sign_in");
    let choices: Vec<(&str, &str)> = match state.providers.several() {
        true => state.providers.0.iter().map(|r| (r.id.as_str(), r.provider.config().display_name.as_str())).collect(),
        false => Vec::new(),
    };
    let page = pages::sign_in_page(
        &state.pages,
        &pages::SignIn {
            choices: &choices,
            start_path: &state.path("start"),
            prefix: &state.proxy_prefix,
            rd,
            status: shown.status(),
            htpasswd_form: (state.htpasswd.is_some() && state.pages.display_htpasswd_form).then_some(sign_in_path.as_str()),
            error: shown.message(),
        },
    );
    let csp = pages::content_security_policy(&state.pages, state.pages.sign_in_template.is_some());
    let mut res = respond::page(shown.status(), csp, page);
    let clear = state.sessions.clear(&request::cookies(req), &request::host(req)).await.unwrap_or_default();
    add_cookies(&mut res, clear);
    no_cache(&mut res);
    Ok(res)
}

/// `/oauth2/start`: its query may also choose login parameters (alpha `loginURLParameters`
/// with `allow` rules), as oauth2-proxy's does.
pub async fn start(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let pairs = query_with_whole_rd(&state, &req);
    let rd = app_redirect(&state, &req, &pairs);
    let via = match param(&pairs, "provider").filter(|_| state.providers.several()) {
        // With several providers `provider` names one by id, and an unknown one is the
        // client's mistake; with one it is not Gatehouse's parameter (oauth2-proxy ignores it).
        Some(id) => state.providers.by_id(id).ok_or(LoginError::UnknownProvider)?,
        None => default_provider(&state, &req, &rd).unwrap_or(state.providers.first()),
    };
    begin(&state, &req, via, &rd, &pairs)
}

/// Starts a login that returns to `rd` (already validated): 302 to the provider, with the
/// CSRF cookie holding the login state. `overrides` are the values a login parameter's rules
/// may take from the request (`/oauth2/start`'s query; none elsewhere).
pub fn begin(
    state: &State,
    req: &HttpRequest,
    via: &Registered,
    rd: &str,
    overrides: &[(String, String)],
) -> Result<HttpResponse, HttpError> {
    let endpoints = via.provider.endpoints()?;
    let cfg = via.provider.config();

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
    let url = flow::authorize_url(
        &endpoints,
        cfg,
        &callback_url(state, req, via),
        &oauth_state,
        nonce_hash.as_deref(),
        challenge.as_deref(),
        overrides,
    );

    let provider = state.provider_mark(via);
    let login = LoginState { csrf, nonce, code_verifier: verifier, created_at: session::now(), provider };
    let mut res = redirect(url.as_str());
    add_cookies(&mut res, state.csrf.set(&login, &state_hash, &request::host(req), &request::cookies(req)));
    no_cache(&mut res);
    Ok(res)
}

pub async fn callback(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, HttpError> {
    let (result, clear_csrf) = finish_login(&state, &req, &body).await;
    {
        use actix_web::HttpMessage;
        let id = request_id(&req);
        let who = req.extensions().get::<crate::telemetry::LoggedUser>().map_or("-".to_string(), |u| u.0.clone());
        let client = req.peer_addr().map_or("-".to_string(), |p| p.to_string());
        match &result {
            Ok(_) => state.log.auth(&client, &id, &who, "AuthSuccess", "Authenticated via OAuth2"),
            Err(e) if e.metric() == "refused" || e.metric() == "bad_request" => {
                state.log.auth(&client, &id, &who, "AuthFailure", &format!("Invalid authentication via OAuth2: {e}"))
            }
            Err(e) => state.log.auth(&client, &id, &who, "AuthError", &format!("Error completing the login: {e}")),
        }
    }
    state.metrics.login(match &result {
        Ok(_) => "success",
        Err(e) => e.metric(),
    });
    let result = result.map_err(HttpError::from);
    // Once its CSRF cookie was read, the login attempt is over whatever the outcome: the
    // cookie goes (as in oauth2-proxy, which keeps it when the callback fails earlier).
    let Some(clear) = clear_csrf else { return result };
    Ok(match result {
        Ok(mut res) => {
            add_cookies(&mut res, [clear]);
            res
        }
        Err(e) => e.with_cookies([clear]),
    })
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
    body: &[u8],
) -> (Result<HttpResponse, LoginError>, Option<actix_web::cookie::Cookie<'static>>) {
    // The request's cookies, parsed once for the CSRF read, its deletion and the new session.
    let cookies = request::cookies(req);
    let callback = match read_callback(state, req, &cookies, body) {
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
fn read_callback(state: &State, req: &HttpRequest, cookies: &RequestCookies, body: &[u8]) -> Result<Callback, LoginError> {
    let cfg = state.provider.config();
    // With `response_mode=form_post` the provider's page POSTs the parameters as a form; only
    // then is a body read, and only a form body.
    let form = (cfg.response_mode.as_deref() == Some("form_post")
        && req.method() == actix_web::http::Method::POST
        && request::content_type(req).eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    .then_some(body);
    let pairs = request::query_and_form(req, form, &["state", "code", "error", "iss"]).map_err(LoginError::Repeated)?;
    if let Some(err) = param(&pairs, "error") {
        return Err(LoginError::ProviderSaidNo(err.to_string()));
    }
    let raw_state = param(&pairs, "state").ok_or(LoginError::NoState)?;
    let (state_hash, rd) = split_state(cfg.encode_state, raw_state).ok_or(LoginError::StateMalformed)?;
    let login = state.csrf.read(cookies, &state_hash)?;
    Ok(Callback { state_hash, rd, code: param(&pairs, "code").map(str::to_string), iss: param(&pairs, "iss").map(str::to_string), login })
}

/// The rest of the callback, after the CSRF cookie was read: state check, code redemption,
/// verification, policy, the new session.
async fn complete_login(
    state: &web::Data<State>,
    req: &HttpRequest,
    cookies: &RequestCookies,
    callback: Callback,
) -> Result<HttpResponse, LoginError> {
    let (state, req) = (state.clone(), req.clone());
    let Callback { state_hash, rd, code, iss, login } = callback;
    let host = request::host(&req);
    if !constant_time_eq(flow::hash_b64(&login.csrf).as_bytes(), state_hash.as_bytes()) {
        return Err(LoginError::CsrfMismatch);
    }
    // The provider the login went to, as its CSRF cookie says; the callback must be that
    // provider's own (a code from one provider is never redeemed at another).
    let via = state.providers.of(login.provider.as_deref()).ok_or(LoginError::CsrfMismatch)?;
    if req.match_info().get("provider") != state.providers.callback_segment(via) {
        return Err(LoginError::WrongCallback);
    }
    let cfg = via.provider.config();
    let code = code.filter(|c| !c.is_empty()).ok_or(LoginError::NoCode)?;
    if let (Some(iss), Ok(endpoints)) = (iss, via.provider.endpoints())
        && !cfg.skip_issuer_verification
        && iss != endpoints.issuer
    {
        // RFC 9207: a response from another issuer (mix-up attack) is refused.
        return Err(LoginError::WrongIssuer(iss));
    }

    let tokens = via.provider.redeem(&code, &callback_url(&state, &req, via), login.code_verifier.as_deref()).await?;
    let nonce = (!cfg.skip_nonce).then(|| flow::hash_b64(&login.nonce));
    let Identified { identity, sid } = via.provider.identity(&tokens, IdTokenUse::Login(nonce.as_deref())).await?;
    if let Err(denied) = state.authorize(via, &identity.email, &identity.groups) {
        return Err(LoginError::NotAllowed { user: identity.user, denied });
    }

    let now = session::now();
    let new_session = SessionState {
        user: identity.user.clone(),
        subject: identity.subject,
        email: identity.email,
        groups: identity.groups,
        preferred_username: identity.preferred_username,
        additional_claims: identity.additional,
        access_token: (!state.minimal).then(|| tokens.access_token.clone()),
        id_token: if state.minimal { None } else { tokens.id_token.clone() },
        refresh_token: if state.minimal { None } else { tokens.refresh_token.clone() },
        created_at: now,
        expires_on: tokens.expires_in.map(|s| now.saturating_add(s)),
        nonce,
        sid,
        login_at: session::now_millis(),
        htpasswd: false,
        provider: state.provider_mark(via),
    };
    {
        use actix_web::HttpMessage;
        req.extensions_mut().insert(crate::telemetry::LoggedUser(new_session.email.clone()));
    }
    // A store failure is a 503, as everywhere: the provider and Gatehouse did their part.
    let session_cookies = state.sessions.save_new(cookies, &host, &new_session).await?;
    log::info!("login: {} ({})", identity.user, new_session.email);

    let target = if authz::is_valid_redirect(&rd, &state.authz.whitelist_domains) { rd.as_str() } else { "/" };
    let mut res = redirect(target);
    add_cookies(&mut res, session_cookies);
    no_cache(&mut res);
    Ok(res)
}
