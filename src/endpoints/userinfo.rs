//! `/oauth2/userinfo`: the session's identity as JSON, or 401.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::gate::authenticate::authenticate;
use crate::http::error::HttpError;
use crate::http::respond::{self, add_cookies, no_cache};
use crate::state::State;

#[derive(Serialize)]
struct UserInfo<'a> {
    user: &'a str,
    email: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    groups: &'a [String],
    #[serde(rename = "preferredUsername", skip_serializing_if = "str::is_empty")]
    preferred_username: &'a str,
    #[serde(rename = "additionalClaims", skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    additional_claims: &'a std::collections::BTreeMap<String, serde_json::Value>,
    /// With several providers, the id of the one that issued the session (Gatehouse's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
}

pub async fn userinfo(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let current = authenticate(&state, &req).await?;
    let mut res = match &current.session {
        None => respond::unauthorized(),
        Some(s) => {
            let seen = state.seen_identity(s);
            let body = UserInfo {
                user: &seen.user,
                email: &s.email,
                groups: &seen.groups,
                preferred_username: &seen.preferred_username,
                additional_claims: &seen.additional,
                provider: state.providers.several().then(|| state.providers.of(s.provider.as_deref()).map(|p| p.id.as_str())).flatten(),
            };
            let mut json = serde_json::to_string(&body)?;
            json.push('\n');
            respond::ok_json(json)
        }
    };
    add_cookies(&mut res, current.set_cookies);
    no_cache(&mut res);
    Ok(res)
}
