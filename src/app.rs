//! `App`: everything wired together from a validated `Config`. `main` and the tests both start
//! Gatehouse through [`App::build`], so the tests run exactly what users run.

use std::net::SocketAddr;

use actix_web::dev::{Server, ServerHandle};

use crate::config::Config;
use crate::server;

/// A built, bound, not yet running Gatehouse.
pub struct App {
    server: Server,
    addrs: Vec<SocketAddr>,
}

impl App {
    /// Binds the listeners and assembles the server. Port 0 picks a free port; see [`App::addrs`].
    pub fn build(config: Config) -> anyhow::Result<App> {
        crate::install_crypto_provider();
        let Config { server, oidc, .. } = config;
        let (srv, addrs) = server::start(server)?;
        log::info!(
            "provider: {:?}, issuer {}, client_id {}",
            oidc.kind,
            oidc.issuer_url
                .as_ref()
                .map_or("(discovery skipped)".to_string(), |u| u.to_string()),
            oidc.client_id
        );
        Ok(App { server: srv, addrs })
    }

    /// The addresses actually bound (with the real port when 0 was asked for).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGINT/SIGTERM, or [`App::handle`]).
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}
