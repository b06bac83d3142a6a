//! The single route table.

use actix_web::web;

use crate::endpoints::health;

/// Registers every route. The paths come from configuration.
pub fn configure(cfg: &mut web::ServiceConfig, ping_path: &str) {
    cfg.route(ping_path, web::route().to(health::ping));
}
