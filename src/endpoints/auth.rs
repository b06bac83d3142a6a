//! `/oauth2/auth`: the forward-auth check. 202 with identity headers for a valid session,
//! 401 otherwise; never a redirect, and no no-cache headers (nginx may cache the answer).

use actix_web::{HttpRequest, HttpResponse, web};

use super::login::add_cookies;
use super::session;
use super::state::State;
use crate::identity::{self, ClaimValues};
use crate::server::error::HttpError;

pub async fn auth(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let current = session::current(&state, &req).await?;
    let mut res = match &current.session {
        None => HttpResponse::Unauthorized()
            .content_type("text/plain; charset=utf-8")
            .body("Unauthorized\n"),
        Some(s) => {
            let id = s.identity();
            let claims = ClaimValues {
                identity: &id,
                access_token: s.access_token.as_deref(),
                id_token: s.id_token.as_deref(),
                refresh_token: s.refresh_token.as_deref(),
                created_at: s.created_at,
                expires_on: s.expires_on,
            };
            let mut res = HttpResponse::Accepted().finish();
            for (name, value) in identity::render(&state.headers.response, &claims) {
                if let (Ok(n), Ok(v)) = (
                    actix_web::http::header::HeaderName::try_from(name.as_str()),
                    actix_web::http::header::HeaderValue::from_str(&value),
                ) {
                    res.headers_mut().insert(n, v);
                }
            }
            let gap = if s.email.is_empty() {
                &s.user
            } else {
                &s.email
            };
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(gap) {
                res.headers_mut().insert(
                    actix_web::http::header::HeaderName::from_static("gap-auth"),
                    v,
                );
            }
            res
        }
    };
    add_cookies(&mut res, current.set_cookies);
    Ok(res)
}
