//! The HTTP server: listeners, TLS, workers, middleware order and graceful shutdown.
//!
//! Invariant: the only module that binds sockets.

pub mod body_rate;
pub mod config;
pub mod middleware;
pub mod tls;

pub use config::{Config, ListenAddr, TlsConfig, TlsVersion, TrustConfig};

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use middleware::Context as Middleware;

use crate::state::State;

/// How long a graceful stop waits for the requests in flight; 30 s matches common orchestrator
/// grace periods (the shipped Kubernetes manifest adds `shutdown_delay` to it).
pub const SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long an idle keep-alive connection stays open. The peer that closes an idle connection
/// must be the one that sends on it: when we close first, a request the edge sends at that
/// moment is lost (AWS and Google load balancers answer 502 then, and document that a backend's
/// keep-alive must outlast theirs). So it outlasts the edges' defaults: nginx upstream
/// keepalive 60 s, Traefik 90 s, AWS ALB 60 s, Google 600 s (Envoy's 1 h is lowered to 60 s in
/// the shipped `envoy.yaml`). It is also the HTTP/2 ping interval, which finds a vanished
/// client, and bounds what an idle client holds; oauth2-proxy (Go) never closes idle
/// connections.
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(620);

/// Binds an `HttpServer` to a [`PlainSocket`] (a macro: `HttpServer`'s type parameters are
/// actix's own).
macro_rules! bind_plain {
    ($server:expr, $addr:expr) => {
        match plain_socket($addr)? {
            PlainSocket::Tcp(bind) => $server.bind(&bind).with_context(|| format!("cannot listen on {bind}"))?,
            PlainSocket::Unix(listener) => $server.listen_uds(listener).with_context(|| format!("cannot listen on {}", $addr))?,
        }
    };
}

/// Binds the configured listeners and returns the server (not yet polled) and its addresses.
/// `routes` registers the handlers (the app passes `endpoints::routes`): the server knows the
/// middleware order, never the handlers.
pub fn start(
    config: Config,
    state: web::Data<State>,
    upstream_tls: (Arc<rustls::ClientConfig>, Arc<rustls::ClientConfig>),
    routes: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
) -> anyhow::Result<(Server, Vec<SocketAddr>)> {
    let https_port = match &config.https_address {
        Some(ListenAddr::Tcp { port, .. }) => Some(*port),
        _ => None,
    };
    let ctx = Arc::new(Middleware {
        pages: state.pages.clone(),
        proxy_prefix: config.proxy_prefix.clone(),
        log: state.log.clone(),
        metrics: state.metrics.clone(),
        trust: config.trust.clone(),
        health_paths: vec![config.ping_path.clone(), config.ready_path.clone()],
        force_https: config.force_https,
        https_port,
        query_semicolons: config.allow_query_semicolons,
    });
    let mut http = HttpServer::new(move || {
        // awc clients are per worker (they are not Send).
        let clients = web::Data::new(crate::proxy::forward::Clients::new(upstream_tls.0.clone(), upstream_tls.1.clone()));
        let (c1, c2, c3, c4) = (ctx.clone(), ctx.clone(), ctx.clone(), ctx.clone());
        App::new()
            .wrap(from_fn(move |req, next| middleware::error_pages(c1.clone(), req, next)))
            .wrap(from_fn(move |req, next| middleware::refuse_early(c2.clone(), req, next)))
            .wrap(from_fn(move |req, next| middleware::count(c3.clone(), req, next)))
            .wrap(from_fn(move |req, next| middleware::access_log(c4.clone(), req, next)))
            .app_data(state.clone())
            .app_data(clients)
            .configure(routes.clone())
    })
    // Requests over a unix socket are marked: their peer has no address to judge.
    .on_connect(|conn, data| {
        if conn.downcast_ref::<actix_web::rt::net::UnixStream>().is_some() {
            data.insert(crate::http::request::UnixPeer);
        }
    })
    .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs())
    .keep_alive(KEEP_ALIVE)
    // Signals are `App::serve`'s: actix's own handling stops the whole runtime once any one
    // server (an idle metrics listener) has stopped, cutting the requests still in flight.
    .disable_signals();
    if config.workers > 0 {
        http = http.workers(config.workers);
    }
    if let Some(addr) = &config.http_address {
        http = bind_plain!(http, addr);
    }
    let mut scheme = "http";
    if let (Some(addr), Some(tls_cfg)) = (&config.https_address, &config.tls) {
        let bind = addr.bind_string().with_context(|| format!("listening on {addr} is not supported yet; use host:port"))?;
        let (server_config, reloader) = tls::server_config(tls_cfg)?;
        reloader.watch();
        http = http.bind_rustls_0_23(&bind, server_config).with_context(|| format!("cannot listen on {bind}"))?;
        scheme = "https";
    }
    let addrs = http.addrs();
    for a in &addrs {
        log::info!("listening on {scheme}://{a}");
    }
    if let Some(addr @ ListenAddr::Unix { .. }) = &config.http_address {
        log::info!("listening on {addr}");
    }
    Ok((http.run(), addrs))
}

/// The metrics listeners (`metrics_address`, and `metrics_secure_address` with its TLS files):
/// every path answers the exposition text, as oauth2-proxy's metrics server does.
/// `admin` adds routes before that (the session admin endpoints, when configured).
pub fn metrics_servers<F>(config: &Config, metrics: Arc<crate::metrics::Metrics>, admin: F) -> anyhow::Result<Vec<Server>>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let mut out = Vec::new();
    let make = |m: Arc<crate::metrics::Metrics>| {
        let admin = admin.clone();
        HttpServer::new(move || {
            let m = m.clone();
            App::new().configure(admin.clone()).default_service(web::to(move || {
                let m = m.clone();
                async move { crate::http::respond::openmetrics(m.encode()) }
            }))
        })
        .workers(1)
        .disable_signals()
    };
    if let Some(addr) = &config.metrics_address {
        out.push(bind_plain!(make(metrics.clone()), addr).run());
        log::info!("metrics on {addr}");
    }
    if let (Some(addr), Some(tls_cfg)) = (&config.metrics_secure_address, &config.metrics_tls) {
        let bind = addr.bind_string().with_context(|| format!("metrics_secure_address {addr} is not host:port"))?;
        let (server_config, reloader) = tls::server_config(tls_cfg)?;
        reloader.watch();
        out.push(make(metrics).bind_rustls_0_23(&bind, server_config).with_context(|| format!("cannot listen on {bind}"))?.run());
        log::info!("metrics on https://{bind}");
    }
    Ok(out)
}

/// Where a plain-HTTP listener binds: `host:port`, or an open unix socket (validation refuses
/// the rest).
enum PlainSocket {
    Tcp(String),
    Unix(std::os::unix::net::UnixListener),
}

fn plain_socket(addr: &ListenAddr) -> anyhow::Result<PlainSocket> {
    match addr {
        ListenAddr::Unix { path, mode } => Ok(PlainSocket::Unix(unix_listener(path, *mode)?)),
        _ => addr.bind_string().map(PlainSocket::Tcp).with_context(|| format!("cannot listen on {addr}: write host:port")),
    }
}

/// A unix socket at `path`: a socket file nobody answers on (left by a crash) is replaced;
/// a live one, or a file that is no socket, is an error rather than taken over.
fn unix_listener(path: &std::path::Path, mode: Option<u32>) -> anyhow::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        anyhow::ensure!(meta.file_type().is_socket(), "{} exists and is not a socket; remove it or choose another path", path.display());
        anyhow::ensure!(
            std::os::unix::net::UnixStream::connect(path).is_err(),
            "another process listens on {}; stop it or choose another path",
            path.display()
        );
        std::fs::remove_file(path).with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path).with_context(|| format!("cannot listen on unix://{}", path.display()))?;
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set mode {mode:o} on {}", path.display()))?;
    }
    Ok(listener)
}
