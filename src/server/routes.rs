//! The single route table.

use actix_web::web;

use crate::endpoints::{auth, health, login, proxy, sign_out, userinfo};

/// Registers every route. Paths come from configuration (`ping_path`, `ready_path`,
/// `proxy_prefix`). No route restricts the method, as in oauth2-proxy.
pub fn configure(cfg: &mut web::ServiceConfig, paths: &Paths) {
    let prefix = &paths.prefix;
    let p = |endpoint: &str| format!("{prefix}/{endpoint}");
    cfg.route(&paths.ping, web::route().to(health::ping))
        .route(&paths.ready, web::route().to(health::ready))
        .route("/robots.txt", web::route().to(health::robots))
        .route(&p("auth"), web::route().to(auth::auth))
        .route(&p("auth/{tail:.*}"), web::route().to(auth::auth_path))
        .route(&p("verify"), web::route().to(auth::verify))
        .route(&p("verify/{tail:.*}"), web::route().to(auth::verify_path))
        .route(&p("sign_in"), web::route().to(login::sign_in))
        .route(&p("start"), web::route().to(login::start))
        .route(&p("callback"), web::route().to(login::callback))
        .route(&p("sign_out"), web::route().to(sign_out::sign_out))
        .route(&p("userinfo"), web::route().to(userinfo::userinfo))
        // Everything else: reverse-proxy mode (404 when no upstreams are configured).
        .default_service(web::to(proxy::proxy));
}

/// The configurable paths.
#[derive(Clone)]
pub struct Paths {
    pub ping: String,
    pub ready: String,
    pub prefix: String,
}
