//! The single route table.

use actix_web::web;

use super::{auth, backchannel, health, login, reverse_proxy, sign_out, userinfo};

/// Registers every route. Paths come from configuration (`ping_path`, `ready_path`,
/// `proxy_prefix`). No route restricts the method, as in oauth2-proxy.
pub fn configure(cfg: &mut web::ServiceConfig, paths: &Paths) {
    let prefix = &paths.prefix;
    let p = |endpoint: &str| format!("{prefix}/{endpoint}");
    // With `ping_user_agent`, only that User-Agent gets the ping: any other request to the
    // path falls through to the proxy like any request (GHSA-5hvv-m4w4-gf6v).
    let ping = match paths.ping_user_agent.clone() {
        Some(ua) => web::route().guard(actix_web::guard::fn_guard(move |ctx| {
            ctx.head().headers().get(actix_web::http::header::USER_AGENT).is_some_and(|v| v.as_bytes() == ua.as_bytes())
        })),
        None => web::route(),
    };
    cfg.route(&paths.ping, ping.to(health::ping))
        .route(&paths.ready, web::route().to(health::ready))
        .route("/robots.txt", web::route().to(health::robots))
        .route(&p("auth"), web::route().to(auth::auth))
        .route(&p("auth/{tail:.*}"), web::route().to(auth::auth_path))
        .route(&p("verify"), web::route().to(auth::verify))
        .route(&p("verify/{tail:.*}"), web::route().to(auth::verify_path))
        .service(web::resource(p("sign_in")).app_data(form_limit()).route(web::route().to(login::sign_in)))
        .route(&p("start"), web::route().to(login::start))
        .service(web::resource(p("callback")).app_data(form_limit()).route(web::route().to(login::callback)))
        .route(&p("sign_out"), web::route().to(sign_out::sign_out))
        .route(&p("userinfo"), web::route().to(userinfo::userinfo))
        .configure(|cfg| {
            // With several providers, each after the first has its own callback (the mix-up
            // defence); with one, the path is the app's, as in oauth2-proxy.
            if paths.provider_callbacks {
                cfg.service(web::resource(p("callback/{provider}")).app_data(form_limit()).route(web::route().to(login::callback)));
            }
            if let Some(path) = &paths.backchannel_logout {
                cfg.service(web::resource(path.as_str()).app_data(form_limit()).route(web::route().to(backchannel::logout)));
            }
        })
        // Everything else: reverse-proxy mode (404 when no upstreams are configured).
        .default_service(web::to(reverse_proxy::reverse_proxy));
}

/// The bodies the sign-in form and a `form_post` callback read are a few short fields: 16 KiB
/// (not actix's 256 KiB) is plenty, and caps what a request can make them buffer.
fn form_limit() -> web::PayloadConfig {
    web::PayloadConfig::new(16 << 10)
}

/// The configurable paths.
#[derive(Clone)]
pub struct Paths {
    pub ping: String,
    pub ping_user_agent: Option<String>,
    pub ready: String,
    pub prefix: String,
    /// `oidc_backchannel_logout_path`, when back-channel logout is on.
    pub backchannel_logout: Option<String>,
    /// Several providers: each after the first has its own callback, `callback/<id>`.
    pub provider_callbacks: bool,
}
