//! The session admin endpoints, served on the metrics listener only, and only when
//! `admin_token_file` is set: `GET /admin/sessions?user=alice` (or `?sid=`) lists a shared
//! store's sessions of a user; `POST /admin/sessions/revoke?user=alice` (or `?sid=`) ends
//! them, on every instance sharing Redis and in this instance's memory for cookie sessions.
//!
//! Every request needs `Authorization: Bearer <the file's token>`; the file is read each time,
//! so the token can be rotated without a restart. Never on the public listener.

use std::path::PathBuf;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::base::secret::constant_time_eq;
use crate::http::error::AdminError;
use crate::http::request;
use crate::http::respond::ok_json;
use crate::session::ending::Subject;
use crate::state::State;

/// Where the admin token is read from.
#[derive(Clone)]
struct AdminToken(PathBuf);

/// The admin routes for the metrics listener: none without a token file.
pub fn routes(token_file: Option<PathBuf>, state: web::Data<State>) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg: &mut web::ServiceConfig| {
        let Some(file) = token_file.clone() else { return };
        cfg.service(
            web::scope("/admin")
                .app_data(state.clone())
                .app_data(web::Data::new(AdminToken(file)))
                .route("/sessions", web::get().to(list))
                .route("/sessions/revoke", web::post().to(revoke)),
        );
    }
}

/// The request carries the admin token. An unreadable or empty file lets nobody in.
fn authenticated(req: &HttpRequest, token: &AdminToken) -> Result<(), AdminError> {
    let expected = std::fs::read_to_string(&token.0).unwrap_or_default();
    let expected = expected.trim();
    // The scheme is case-insensitive (RFC 9110 11.1).
    let presented = request::header(req, "Authorization")
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim());
    if expected.is_empty() || !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(AdminError::Unauthenticated);
    }
    Ok(())
}

/// Whose sessions: exactly one of `user` or `sid`, once.
fn subject(req: &HttpRequest) -> Result<Subject, AdminError> {
    let pairs = request::query(req, &["user", "sid"]).map_err(|_| AdminError::Who)?;
    match (request::param(&pairs, "user"), request::param(&pairs, "sid")) {
        (Some(user), None) if !user.is_empty() => Ok(Subject::User(user.to_string())),
        (None, Some(sid)) if !sid.is_empty() => Ok(Subject::Sid(sid.to_string())),
        _ => Err(AdminError::Who),
    }
}

async fn list(state: web::Data<State>, token: web::Data<AdminToken>, req: HttpRequest) -> Result<HttpResponse, AdminError> {
    authenticated(&req, &token)?;
    let who = subject(&req)?;
    let sessions = state.sessions.list(&who).await?.ok_or(AdminError::NotListable)?;
    Ok(ok_json(serde_json::json!({ "sessions": sessions }).to_string()))
}

async fn revoke(state: web::Data<State>, token: web::Data<AdminToken>, req: HttpRequest) -> Result<HttpResponse, AdminError> {
    authenticated(&req, &token)?;
    let who = subject(&req)?;
    let revoked = state.sessions.end(std::slice::from_ref(&who)).await?;
    log::info!("admin: sessions of {} {} revoked ({revoked} in the shared store)", who.kind(), who.value());
    Ok(ok_json(serde_json::json!({ "revoked": revoked }).to_string()))
}
