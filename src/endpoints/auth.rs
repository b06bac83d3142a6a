//! `/oauth2/auth`: the forward-auth check. 202 with identity headers for a valid session,
//! 401 otherwise; never a redirect, and no no-cache headers (nginx may cache the answer).

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::login::{add_cookies, unauthorized};
use super::session;
use super::state::State;
use crate::identity;
use crate::server::error::HttpError;

pub async fn auth(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let current = session::current(&state, &req).await?;
    let mut res = match &current.session {
        None => unauthorized(),
        Some(s) => {
            let id = s.identity();
            let mut res = HttpResponse::Accepted().finish();
            for (name, value) in identity::render(&state.headers.response, &s.claim_values(&id)) {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::from_str(&value),
                ) {
                    res.headers_mut().insert(n, v);
                }
            }
            let gap = if s.email.is_empty() {
                &s.user
            } else {
                &s.email
            };
            if let Ok(v) = HeaderValue::from_str(gap) {
                res.headers_mut()
                    .insert(HeaderName::from_static("gap-auth"), v);
            }
            res
        }
    };
    add_cookies(&mut res, current.set_cookies);
    Ok(res)
}
