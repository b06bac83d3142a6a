//! `/ping`: liveness. It answers `OK` for the exact configured path, and authorises nothing.

use actix_web::{HttpResponse, http::header::ContentType};

pub async fn ping() -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::plaintext()).body("OK")
}
