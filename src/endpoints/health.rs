//! Health: `/ping` (liveness), `/ready` (readiness), `/robots.txt`. None of them authorises
//! anything, whatever the User-Agent (GHSA-5hvv-m4w4-gf6v).

use actix_web::{HttpResponse, web};

use crate::http::respond;
use crate::session::SessionStore;
use crate::state::{Lifecycle, State};

/// `OK`. With `ping_user_agent` set, the route table sends only that User-Agent here; any other
/// request to the path is handled like any request (oauth2-proxy after GHSA-5hvv-m4w4-gf6v).
/// The User-Agent never makes another path a health check.
pub async fn ping() -> HttpResponse {
    respond::ok_text("OK")
}

/// 200 `OK` once the provider's discovery and keys are loaded and the session store answers
/// (Redis; the cookie store always does), until a SIGTERM; otherwise 503 with the reason (no
/// secrets, no internals beyond that).
pub async fn ready(state: web::Data<State>) -> HttpResponse {
    if *state.lifecycle.borrow() != Lifecycle::Serving {
        return respond::not_ready("shutting down");
    }
    if !state.providers.ready() {
        return respond::not_ready("the identity provider has not been discovered yet");
    }
    if let Err(e) = state.sessions.ping().await {
        log::debug!("not ready: {e}");
        return respond::not_ready("the session store does not answer");
    }
    respond::ok_text("OK")
}

/// `robots.txt`: `custom_templates_dir/robots.txt` when there is one, else "keep out".
pub async fn robots(state: web::Data<State>) -> HttpResponse {
    let body = state.pages.robots.clone().unwrap_or_else(|| "User-agent: *\nDisallow: /".to_string());
    respond::ok_text(body)
}
