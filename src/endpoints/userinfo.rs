//! `/oauth2/userinfo`: the session's identity as JSON, or 401.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::login::{add_cookies, no_cache, unauthorized};
use super::session;
use super::state::State;
use crate::server::error::HttpError;

#[derive(Serialize)]
struct UserInfo<'a> {
    user: &'a str,
    email: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    groups: &'a [String],
    #[serde(rename = "preferredUsername", skip_serializing_if = "str::is_empty")]
    preferred_username: &'a str,
}

pub async fn userinfo(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let current = session::current(&state, &req).await?;
    let mut res = match &current.session {
        None => unauthorized(),
        Some(s) => {
            let body = UserInfo { user: &s.user, email: &s.email, groups: &s.groups, preferred_username: &s.preferred_username };
            let mut json = serde_json::to_string(&body).map_err(|e| HttpError::internal(e.to_string()))?;
            json.push('\n');
            HttpResponse::Ok().content_type("application/json").body(json)
        }
    };
    add_cookies(&mut res, current.set_cookies);
    no_cache(&mut res);
    Ok(res)
}
