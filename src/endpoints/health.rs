//! Health: `/ping` (liveness), `/ready` (readiness), `/robots.txt`. None of them authorises
//! anything, whatever the User-Agent (GHSA-5hvv-m4w4-gf6v).

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};

use super::state::State;
use crate::session::Store;

/// `OK`. With `ping_user_agent` set, the route table sends only that User-Agent here; any other
/// request to the path is handled like any request (oauth2-proxy after GHSA-5hvv-m4w4-gf6v).
/// The User-Agent never makes another path a health check.
pub async fn ping() -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::plaintext()).body("OK")
}

/// 200 `OK` once the provider's discovery and keys are loaded and, with the Redis store,
/// Redis answers; otherwise 503 with the reason (no secrets, no internals beyond that).
pub async fn ready(state: web::Data<State>) -> HttpResponse {
    if !state.provider.is_ready() {
        return HttpResponse::ServiceUnavailable()
            .content_type(ContentType::plaintext())
            .body("error: the identity provider has not been discovered yet\n");
    }
    if let Store::Redis(redis) = &state.store
        && redis.ping().await.is_err()
    {
        return HttpResponse::ServiceUnavailable().content_type(ContentType::plaintext()).body("error: Redis does not answer\n");
    }
    HttpResponse::Ok().content_type(ContentType::plaintext()).body("OK")
}

/// `robots.txt`: `custom_templates_dir/robots.txt` when there is one, else "keep out".
pub async fn robots(state: web::Data<State>) -> HttpResponse {
    let body = state.pages.robots.clone().unwrap_or_else(|| "User-agent: *\nDisallow: /".to_string());
    HttpResponse::Ok().content_type(ContentType::plaintext()).body(body)
}
