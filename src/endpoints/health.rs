//! Health: `/ping` (liveness), `/ready` (readiness), `/robots.txt`. None of them authorises
//! anything, whatever the User-Agent (GHSA-5hvv-m4w4-gf6v).

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};

use super::state::State;
use crate::session::Store;

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

pub async fn robots() -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::plaintext()).body("User-agent: *\nDisallow: /")
}
