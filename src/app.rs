//! `App`: everything wired together from a validated `Config`. `main` and the tests both start
//! Gatehouse through [`App::build`], so the tests run exactly what users run.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use actix_web::dev::{Server, ServerHandle};
use actix_web::web;
use anyhow::Context;

use crate::config::Config;
use crate::endpoints::grpc::Listening;
use crate::oidc::{Provider, tls};
use crate::reload::Watched;
use crate::server;
use crate::session::ending::Subject;
use crate::session::{CsrfCookies, Refreshes, Sessions};
use crate::state::{Lifecycle, Providers, Registered, State};

/// `gatehouse sessions list|revoke`: the sessions of `who` in the configured Redis, listed or
/// ended (on every instance sharing it). Returns the report to print.
pub async fn sessions_command(config: &Config, revoke: bool, who: &Subject) -> anyhow::Result<String> {
    let sessions = Sessions::new(&config.session, Default::default())?;
    let named = format!("{} {}", if matches!(who, Subject::Sid(_)) { "provider session" } else { "user" }, who.value());
    if revoke {
        if !sessions.saves_refreshes_itself() {
            anyhow::bail!(
                "sessions are kept in browsers' cookies (session_store_type is not redis): a command cannot reach them; use each instance's admin endpoint (admin_token_file)"
            );
        }
        let n = sessions.end(std::slice::from_ref(who)).await?;
        return Ok(format!("revoked {n} session{} of {named}\n", if n == 1 { "" } else { "s" }));
    }
    let Some(list) = sessions.list(who).await? else {
        anyhow::bail!("sessions are kept in browsers' cookies (session_store_type is not redis), where they cannot be listed");
    };
    let mut out = format!("{} session{} of {named}\n", list.len(), if list.len() == 1 { "" } else { "s" });
    for s in list {
        let login: chrono::DateTime<chrono::Utc> = (std::time::UNIX_EPOCH + Duration::from_millis(s.login_at)).into();
        let left = s.ttl.map_or("no expiry".to_string(), |t| format!("{t} s left"));
        out.push_str(&format!("  {}  logged in {}  {left}\n", s.ticket, login.format("%Y-%m-%dT%H:%M:%SZ")));
    }
    Ok(out)
}

/// The listeners beside the main one, sharing its state: metrics (with the session admin
/// endpoints, which need this instance's revocation record) and the gRPC checks, which stop
/// with the main listener (`lifecycle`).
fn side_listeners(
    server: &server::Config,
    state: &web::Data<State>,
    metrics: Arc<crate::metrics::Metrics>,
    lifecycle: &watch::Sender<Lifecycle>,
    extra: &mut Vec<Server>,
) -> anyhow::Result<Option<Listening>> {
    let admin = crate::endpoints::admin::routes(server.admin_token_file.clone(), state.clone());
    extra.extend(server::metrics_servers(server, metrics, admin)?);
    let Some(addr) = &server.grpc_address else { return Ok(None) };
    let bind = addr.bind_string().with_context(|| format!("grpc_address {addr} is not host:port"))?;
    // As many judging threads as the main listener has workers.
    let threads = match server.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    Ok(Some(crate::endpoints::grpc::serve(&bind, server.grpc_tls.as_ref(), threads, state.clone(), lifecycle.subscribe())?))
}

/// Every provider, each discovering in the background: the first (`oidc`) and the list.
fn register(
    oidc: crate::oidc::Config,
    entries: Vec<crate::config::ProviderEntry>,
    metrics: &Arc<crate::metrics::Metrics>,
) -> anyhow::Result<(Arc<Provider>, Providers)> {
    let first = Arc::new(Provider::new(oidc, metrics.clone())?);
    let mut registered = Vec::new();
    for e in entries {
        let provider = match e.oidc {
            None => first.clone(),
            Some(cfg) => Arc::new(Provider::new(cfg, metrics.clone())?),
        };
        provider.spawn_discovery();
        registered.push(Registered {
            id: e.id,
            provider,
            allowed_groups: e.allowed_groups,
            email_domains: e.email_domains,
            default_for: e.default_for,
        });
    }
    Ok((first, Providers(registered)))
}

/// A built, bound, not yet running Gatehouse.
pub struct App {
    server: Server,
    /// The development issuer and echo app, when configured.
    extra: Vec<Server>,
    addrs: Vec<SocketAddr>,
    /// The gRPC external authorization listener, when `grpc_address` is set.
    grpc: Option<Listening>,
    /// Every provider, for readiness.
    providers: Vec<Arc<Provider>>,
    /// Moved on at SIGTERM (`State::lifecycle`).
    lifecycle: Arc<watch::Sender<Lifecycle>>,
    shutdown_delay: Duration,
}

impl App {
    /// Binds the listeners and assembles the server; starts provider discovery in the
    /// background. Must run inside the actix runtime. Port 0 picks a free port.
    pub fn build(config: Config) -> anyhow::Result<App> {
        crate::install_crypto_provider();
        let Config { server, oidc, providers: entries, mut session, authz, headers, pages, proxy, dev, logging } = config;
        follow_secret_file(&mut session.cookie)?;
        let allowed_emails = match &authz.authenticated_emails_file {
            Some(f) => {
                let path = f.clone();
                let watched = Watched::new("authenticated_emails_file", vec![f.clone()], move || read_emails(&path))?;
                watched.watch();
                Some(watched)
            }
            None => None,
        };
        let htpasswd = authz.htpasswd_file.as_deref().map(crate::htpasswd::Htpasswd::load).transpose()?;
        let bearer = authz.skip_jwt_bearer_tokens.then(|| crate::oidc::bearer::Bearer::new(&authz.extra_jwt_issuers));
        log::info!(
            "provider: {:?}, issuer {}, client_id {}",
            oidc.kind,
            if oidc.skip_discovery { "(discovery skipped)" } else { oidc.issuer_url_raw.as_str() },
            oidc.client_id
        );
        // Upstream TLS trusts the system store (and SSL_CERT_FILE); one configuration also
        // skips verification, for upstreams with ssl_upstream_insecure_skip_verify.
        let upstream_trust = tls::Trust { use_system_trust_store: true, ssl_cert_file: oidc.ssl_cert_file.clone(), ..Default::default() };
        let upstream_tls = (
            tls::client_config(&upstream_trust)?,
            tls::client_config(&tls::Trust { insecure_skip_verify: true, ..upstream_trust.clone() })?,
        );
        let dev_client = crate::dev::Client {
            id: oidc.client_id.clone(),
            secret: match &oidc.client_secret {
                crate::oidc::ClientSecret::Value(s) => s.expose().clone(),
                crate::oidc::ClientSecret::File(f) => std::fs::read_to_string(f).unwrap_or_default().trim_end().to_string(),
            },
        };
        let mut extra = crate::dev::servers(&dev, dev_client)?;
        let metrics = Arc::new(crate::metrics::Metrics::default());
        if proxy.upstreams.iter().any(|u| u.insecure_skip_tls_verify) {
            log::warn!("ssl_upstream_insecure_skip_verify is set: upstream TLS certificates are NOT verified");
        }
        let (provider, providers) = register(oidc, entries, &metrics)?;
        let all: Vec<Arc<Provider>> = providers.0.iter().map(|r| r.provider.clone()).collect();
        let lifecycle = Arc::new(watch::Sender::new(Lifecycle::Serving));
        let shutdown_delay = server.shutdown_delay;
        let state = web::Data::new(State {
            provider: provider.clone(),
            providers,
            sessions: Sessions::new(&session, metrics.clone())?,
            csrf: CsrfCookies::new(&session.cookie),
            cookie: session.cookie.clone(),
            authz,
            allowed_emails,
            bearer,
            htpasswd,
            request_strip: headers.request_strip(),
            headers,
            pages: Arc::new(pages),
            proxy_prefix: server.proxy_prefix.clone(),
            trust: server.trust.clone(),
            refreshes: Refreshes::default(),
            minimal: session.minimal,
            lifecycle: lifecycle.clone(),
            router: crate::proxy::Router::new(proxy.upstreams, proxy.proxy_raw_path),
            metrics: metrics.clone(),
            log: Arc::new(crate::telemetry::Logger::new(logging)?),
        });
        let paths = crate::endpoints::routes::Paths {
            ping: server.ping_path.clone(),
            ping_user_agent: server.ping_user_agent.clone(),
            ready: server.ready_path.clone(),
            prefix: server.proxy_prefix.clone(),
            backchannel_logout: server.backchannel_logout_path.clone(),
            provider_callbacks: state.providers.several(),
        };
        let grpc = side_listeners(&server, &state, metrics, &lifecycle, &mut extra)?;
        let routes = move |cfg: &mut web::ServiceConfig| crate::endpoints::routes::configure(cfg, &paths);
        let (srv, addrs) = server::start(server, state, upstream_tls, routes)?;
        Ok(App { server: srv, extra, addrs, grpc, providers: all, lifecycle, shutdown_delay })
    }

    /// The addresses actually bound (with the real port when 0 was asked for).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The gRPC check listener's address, when configured (the real port when 0 was asked for).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().map(|g| g.addr)
    }

    /// True once every identity provider's discovery and keys are loaded.
    pub fn provider_ready(&self) -> bool {
        self.providers.iter().all(|p| p.is_ready())
    }

    /// A handle to stop the servers from elsewhere.
    pub fn handle(&self) -> Handle {
        Handle {
            servers: std::iter::once(&self.server).chain(&self.extra).map(Server::handle).collect(),
            lifecycle: self.lifecycle.clone(),
        }
    }

    /// Serves until stopped through [`App::handle`] (the tests' way). Returns once the main
    /// listener has stopped and the gRPC checks in flight are answered (30 s at most).
    pub async fn run(self) -> std::io::Result<()> {
        for extra in self.extra {
            actix_web::rt::spawn(extra);
        }
        let served = self.server.await;
        if let Some(grpc) = self.grpc {
            // It stops on the same signal (Lifecycle::Stopping), usually long before.
            self.lifecycle.send_replace(Lifecycle::Stopping);
            if actix_web::rt::time::timeout(Duration::from_secs(30), grpc.done).await.is_err() {
                log::warn!("gRPC checks still in flight after 30 s: cut");
            }
        }
        served
    }

    /// Serves until a signal (the binary's way). SIGTERM or SIGINT: `/ready` answers 503 at
    /// once, requests are still served for `shutdown_delay` (load balancers keep sending for a
    /// while), then the listeners close and every request already accepted is answered (up to
    /// 30 s) before the servers stop; the metrics listener stops last. A second signal, or
    /// SIGQUIT, stops at once.
    pub async fn serve(self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut term, mut int, mut quit) =
            (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?, signal(SignalKind::quit())?);
        let (handle, lifecycle, delay) = (self.handle(), self.lifecycle.clone(), self.shutdown_delay);
        actix_web::rt::spawn(async move {
            let graceful = tokio::select! {
                _ = term.recv() => true,
                _ = int.recv() => true,
                _ = quit.recv() => false,
            };
            if !graceful {
                log::info!("SIGQUIT: stopping at once");
                return handle.stop(false).await;
            }
            lifecycle.send_replace(Lifecycle::Draining);
            log::info!("stopping: /ready answers 503; serving for {delay:?} more, then finishing the requests in flight");
            let drained = async {
                actix_web::rt::time::sleep(delay).await;
                lifecycle.send_replace(Lifecycle::Stopping);
                handle.stop(true).await;
            };
            tokio::select! {
                _ = drained => {}
                // actix reads one stop command per server and is deep in the graceful one, so
                // a second signal ends the process itself.
                _ = term.recv() => stop_now(),
                _ = int.recv() => stop_now(),
                _ = quit.recv() => stop_now(),
            }
        });
        self.run().await
    }
}

/// A second signal during the drain: stop without waiting for the requests in flight.
fn stop_now() {
    log::warn!("second signal: stopping at once, requests in flight are cut");
    std::process::exit(1);
}

/// Checks what validation cannot: that the Redis store answers (`--config-test`).
pub async fn probe(config: &Config) -> anyhow::Result<()> {
    Sessions::probe(&config.session).await.map_err(|e| anyhow::anyhow!("session_store_type = \"redis\": {e}"))
}

/// Stops Gatehouse's servers.
#[derive(Clone)]
pub struct Handle {
    servers: Vec<ServerHandle>,
    /// Moved to `Stopping`, which stops the gRPC listener.
    lifecycle: Arc<watch::Sender<Lifecycle>>,
}

impl Handle {
    pub async fn stop(&self, graceful: bool) {
        self.lifecycle.send_replace(Lifecycle::Stopping);
        for h in &self.servers {
            h.stop(graceful).await;
        }
    }
}

/// The cookie secrets from `cookie_secret_file` follow the file (a rotation): re-read when it
/// changes and on SIGHUP.
fn follow_secret_file(cookie: &mut crate::session::CookieConfig) -> anyhow::Result<()> {
    if let Some(file) = cookie.secret_file.clone() {
        let watched = Watched::new("cookie_secret_file", vec![file.path.clone()], move || file.load())?;
        watched.watch();
        cookie.keys = crate::session::keys::Keys::Watched(watched);
    }
    Ok(())
}

/// `authenticated_emails_file`: one address per line (first CSV column), `#` comments;
/// read at start and again whenever the file changes or on SIGHUP.
fn read_emails(path: &Path) -> anyhow::Result<HashSet<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read authenticated_emails_file {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split(',').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect())
}
