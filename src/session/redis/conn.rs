//! The connection: standalone Redis, the master a Sentinel set names, or a Cluster; each
//! operation bounded in time.

use std::time::Duration;

use base64::Engine;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{Cmd, FromRedisValue, RedisError, RedisResult};
use url::Url;

use crate::session::{RedisConfig, RedisTopology};

/// Each Redis operation waits at most this long: a stalled Redis fails the request (503)
/// quickly instead of hanging it.
const OP_TIMEOUT: Duration = Duration::from_secs(2);

fn timed_out() -> RedisError {
    RedisError::from((redis::ErrorKind::Io, "timed out"))
}

/// A connection to standalone Redis, the master a Sentinel set names, or a Cluster, renewed
/// when it has been idle longer than `redis_connection_idle_timeout`.
pub(super) struct Conn {
    link: Link,
    idle: Idle,
}

/// `redis_connection_idle_timeout`, as oauth2-proxy's pool applies it (go-redis
/// `ConnMaxIdleTime`): a connection unused for longer is not used again but replaced, so one
/// a firewall or Redis's own `timeout` dropped in silence never carries a request.
struct Idle {
    limit: Option<Duration>,
    last_use: std::sync::Mutex<std::time::Instant>,
}

impl Idle {
    /// Marks a use now; true when the previous one is older than the limit.
    fn expired(&self) -> bool {
        let Some(limit) = self.limit else {
            return false;
        };
        let now = std::time::Instant::now();
        let mut last = self.last_use.lock().unwrap_or_else(|e| e.into_inner());
        let expired = now.duration_since(*last) > limit;
        *last = now;
        expired
    }
}

enum Link {
    Standalone {
        client: redis::Client,
        config: ConnectionManagerConfig,
        manager: std::sync::Mutex<ConnectionManager>,
    },
    /// The master is looked up again after any error, so a failover is followed without a
    /// restart.
    Sentinel {
        client: tokio::sync::Mutex<SentinelClient>,
        master: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    },
    Cluster {
        client: ClusterClient,
        conn: tokio::sync::Mutex<Option<ClusterConnection>>,
    },
}

impl Conn {
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        if self.idle.expired() {
            self.renew().await?;
        }
        match &self.link {
            Link::Standalone { manager, .. } => {
                let mut m = manager.lock().unwrap_or_else(|e| e.into_inner()).clone();
                cmd.query_async(&mut m).await
            }
            Link::Sentinel { client, master } => {
                // One retry: the first error after a failover is the old master's.
                let mut last = timed_out();
                for _ in 0..2 {
                    let conn = {
                        let mut guard = master.lock().await;
                        if guard.is_none() {
                            let found =
                                actix_web::rt::time::timeout(OP_TIMEOUT, async { client.lock().await.get_async_connection().await })
                                    .await
                                    .map_err(|_| timed_out());
                            match found {
                                Ok(Ok(c)) => *guard = Some(c),
                                Ok(Err(e)) | Err(e) => {
                                    last = e;
                                    continue;
                                }
                            }
                        }
                        guard.clone().expect("set above")
                    };
                    match actix_web::rt::time::timeout(OP_TIMEOUT, cmd.query_async(&mut conn.clone())).await {
                        Ok(Ok(v)) => return Ok(v),
                        Ok(Err(e)) => last = e,
                        Err(_) => last = timed_out(),
                    }
                    *master.lock().await = None;
                }
                Err(last)
            }
            Link::Cluster { client, conn } => {
                let c = {
                    let mut guard = conn.lock().await;
                    if guard.is_none() {
                        let made =
                            actix_web::rt::time::timeout(OP_TIMEOUT, client.get_async_connection()).await.map_err(|_| timed_out())??;
                        *guard = Some(made);
                    }
                    guard.clone().expect("set above")
                };
                actix_web::rt::time::timeout(OP_TIMEOUT, cmd.query_async(&mut c.clone())).await.map_err(|_| timed_out())?
            }
        }
    }

    /// Drops the idle connection; the next command opens a new one.
    async fn renew(&self) -> RedisResult<()> {
        match &self.link {
            Link::Standalone { client, config, manager } => {
                let fresh = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?;
                *manager.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
            }
            Link::Sentinel { master, .. } => *master.lock().await = None,
            Link::Cluster { conn, .. } => *conn.lock().await = None,
        }
        log::debug!("the Redis connection was idle longer than redis_connection_idle_timeout; opened a new one");
        Ok(())
    }
}

/// A URL without its password, for messages.
fn redact(u: &str) -> String {
    match Url::parse(u) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        _ => u.to_string(),
    }
}

/// A URL with `redis_username` / `redis_password` applied.
fn with_credentials(url: &str, username: Option<&str>, password: Option<&str>) -> anyhow::Result<String> {
    let mut url = Url::parse(url)?;
    if let Some(user) = username {
        url.set_username(user).map_err(|_| anyhow::anyhow!("a user name cannot be set on {url}"))?;
    }
    if let Some(password) = password {
        url.set_password(Some(password)).map_err(|_| anyhow::anyhow!("a password cannot be set on this URL"))?;
    }
    Ok(url.to_string())
}

pub(super) fn connect(cfg: &RedisConfig) -> anyhow::Result<Conn> {
    let idle = Idle {
        limit: (!cfg.idle_timeout.is_zero()).then_some(cfg.idle_timeout),
        last_use: std::sync::Mutex::new(std::time::Instant::now()),
    };
    Ok(Conn { link: link(cfg)?, idle })
}

fn link(cfg: &RedisConfig) -> anyhow::Result<Link> {
    if cfg.insecure_skip_tls_verify {
        log::warn!("redis_insecure_skip_tls_verify is set: the Redis servers' certificates are NOT verified");
    }
    match &cfg.topology {
        RedisTopology::Standalone { url } => standalone(cfg, url),
        RedisTopology::Sentinel { master_name, urls, password } => sentinel(cfg, master_name, urls, password.as_ref()),
        RedisTopology::Cluster { urls } => cluster(cfg, urls),
    }
}

fn standalone(cfg: &RedisConfig, url: &str) -> anyhow::Result<Link> {
    let user = cfg.username.as_deref();
    let password = cfg.password.as_ref().map(|p| p.expose().as_str());
    let mut url = with_credentials(url, user, password)?;
    let tls = url.starts_with("rediss://");
    if tls && cfg.insecure_skip_tls_verify {
        url.push_str("#insecure");
    }
    let client = match (&cfg.ca_path, tls) {
        (Some(ca), true) => {
            redis::Client::build_with_tls(url.as_str(), redis::TlsCertificates { client_tls: None, root_cert: Some(trust_with(ca)?) })?
        }
        _ => redis::Client::open(url.as_str())?,
    };
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(OP_TIMEOUT))
        .set_response_timeout(Some(OP_TIMEOUT))
        .set_number_of_retries(1);
    let manager = std::sync::Mutex::new(ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?);
    Ok(Link::Standalone { client, config, manager })
}

fn sentinel(
    cfg: &RedisConfig,
    master_name: &str,
    urls: &[String],
    sentinel_password: Option<&crate::base::Secret<String>>,
) -> anyhow::Result<Link> {
    let user = cfg.username.as_deref();
    let password = cfg.password.as_ref().map(|p| p.expose().as_str());
    // TLS when the sentinels' URLs say `rediss://`, then for the master too, as
    // oauth2-proxy's go-redis failover client uses one TLS setting for both.
    let tls = urls.iter().any(|u| u.to_ascii_lowercase().starts_with("rediss://"));
    let mut sentinel_user = None;
    let mut sentinel_password = sentinel_password.as_ref().map(|p| p.expose().to_string());
    let mut sentinels = Vec::new();
    for u in urls {
        let url = Url::parse(u)?;
        let host = url.host_str().ok_or_else(|| anyhow::anyhow!("{} has no host", redact(u)))?.to_string();
        let port = url.port().unwrap_or(26379);
        sentinels.push(match tls {
            true => redis::ConnectionAddr::TcpTls { host, port, insecure: cfg.insecure_skip_tls_verify, tls_params: None },
            false => redis::ConnectionAddr::Tcp(host, port),
        });
        if !url.username().is_empty() {
            sentinel_user = Some(url.username().to_string());
        }
        if sentinel_password.is_none() {
            sentinel_password = url.password().map(str::to_string);
        }
    }
    // Unlike oauth2-proxy (its issue #2052), the database number of the URLs is used.
    let db = urls.first().and_then(|u| Url::parse(u).ok()).and_then(|u| u.path().trim_start_matches('/').parse::<i64>().ok()).unwrap_or(0);
    let mut b = redis::sentinel::SentinelClientBuilder::new(sentinels, master_name, SentinelServerType::Master)?.set_client_to_redis_db(db);
    if let Some(u) = user {
        b = b.set_client_to_redis_username(u);
    }
    if let Some(p) = password {
        b = b.set_client_to_redis_password(p);
    }
    if let Some(u) = sentinel_user {
        b = b.set_client_to_sentinel_username(u);
    }
    if let Some(p) = sentinel_password {
        b = b.set_client_to_sentinel_password(p);
    }
    if tls {
        let mode = if cfg.insecure_skip_tls_verify { redis::TlsMode::Insecure } else { redis::TlsMode::Secure };
        b = b.set_client_to_redis_tls_mode(mode).set_client_to_sentinel_tls_mode(mode);
        if let Some(ca) = &cfg.ca_path {
            let certs = redis::TlsCertificates { client_tls: None, root_cert: Some(trust_with(ca)?) };
            b = b.set_client_to_redis_certificates(certs.clone()).set_client_to_sentinel_certificates(certs);
        }
    }
    Ok(Link::Sentinel { client: tokio::sync::Mutex::new(b.build()?), master: tokio::sync::Mutex::new(None) })
}

fn cluster(cfg: &RedisConfig, urls: &[String]) -> anyhow::Result<Link> {
    let user = cfg.username.as_deref();
    let password = cfg.password.as_ref().map(|p| p.expose().as_str());
    let mut b = ClusterClient::builder(urls.to_vec());
    if let Some(u) = user {
        b = b.username(u);
    }
    if let Some(p) = password {
        b = b.password(p);
    }
    if urls.iter().any(|u| u.to_ascii_lowercase().starts_with("rediss://")) {
        if cfg.insecure_skip_tls_verify {
            b = b.tls(redis::TlsMode::Insecure);
        }
        if let Some(ca) = &cfg.ca_path {
            b = b.certs(redis::TlsCertificates { client_tls: None, root_cert: Some(trust_with(ca)?) });
        }
    }
    Ok(Link::Cluster { client: b.build()?, conn: tokio::sync::Mutex::new(None) })
}

/// The system's trusted roots plus `redis_ca_path`, as PEM: oauth2-proxy adds the CA to the
/// system pool, while the redis crate's `root_cert` replaces it, so both go in.
fn trust_with(ca: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("redis_ca_path {}: {e}", ca.display()))?;
    for cert in rustls_native_certs::load_native_certs().certs {
        pem.extend_from_slice(b"\n-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        for line in b64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    Ok(pem)
}
