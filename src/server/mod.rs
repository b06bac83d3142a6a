//! The HTTP server: listeners, TLS, workers, middleware order and graceful shutdown.
//!
//! Invariant: the only module that binds sockets.

use std::fmt;
use std::path::PathBuf;

use ipnet::IpNet;

/// An address to listen on, as oauth2-proxy writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// `host:port`; an empty host (`:4180`) means every interface.
    Tcp {
        host: String,
        port: u16,
    },
    Unix(PathBuf),
    /// An inherited file descriptor (`fd:3`).
    Fd(i32),
}

impl ListenAddr {
    /// The `host:port` string to bind, with an empty host meaning all interfaces.
    pub fn bind_string(&self) -> Option<String> {
        match self {
            ListenAddr::Tcp { host, port } if host.is_empty() => Some(format!("0.0.0.0:{port}")),
            ListenAddr::Tcp { host, port } if host.contains(':') => Some(format!("[{host}]:{port}")),
            ListenAddr::Tcp { host, port } => Some(format!("{host}:{port}")),
            _ => None,
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp { .. } => f.write_str(&self.bind_string().unwrap_or_default()),
            ListenAddr::Unix(p) => write!(f, "unix://{}", p.display()),
            ListenAddr::Fd(n) => write!(f, "fd:{n}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub min_version: TlsVersion,
    pub cipher_suites: Vec<String>,
}

/// Which peers' forwarded headers are believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustConfig {
    pub reverse_proxy: bool,
    pub trusted_proxy_ips: Vec<IpNet>,
    pub real_client_ip_header: String,
}

/// Validated server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Plain HTTP listener; `None` when TLS replaces it (oauth2-proxy serves one or the other).
    pub http_address: Option<ListenAddr>,
    /// HTTPS listener, present exactly when `tls` is.
    pub https_address: Option<ListenAddr>,
    pub tls: Option<TlsConfig>,
    pub metrics_address: Option<ListenAddr>,
    pub metrics_secure_address: Option<ListenAddr>,
    pub metrics_tls: Option<TlsConfig>,
    pub proxy_prefix: String,
    pub ping_path: String,
    pub ready_path: String,
    pub ping_user_agent: Option<String>,
    pub force_https: bool,
    pub trust: TrustConfig,
}

pub mod error;
pub mod forwarded;
pub mod request;
pub mod routes;

use std::net::SocketAddr;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::endpoints::State;

/// Binds the configured listeners and returns the server (not yet polled) and its addresses.
pub fn start(config: Config, state: web::Data<State>) -> anyhow::Result<(Server, Vec<SocketAddr>)> {
    let ping_path = config.ping_path.clone();
    let prefix = config.proxy_prefix.clone();
    let mut http = HttpServer::new(move || App::new().app_data(state.clone()).configure(|cfg| routes::configure(cfg, &ping_path, &prefix)))
        // Graceful stop waits for in-flight requests; 30 s matches common orchestrator grace periods.
        .shutdown_timeout(30);
    let addr = config.http_address.as_ref().or(config.https_address.as_ref()).context("no listen address")?;
    let bind = addr.bind_string().with_context(|| format!("listening on {addr} is not supported yet; use host:port"))?;
    http = http.bind(&bind).with_context(|| format!("cannot listen on {bind}"))?;
    let addrs = http.addrs();
    for a in &addrs {
        log::info!("listening on http://{a}");
    }
    Ok((http.run(), addrs))
}
