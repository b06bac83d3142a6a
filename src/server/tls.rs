//! The TLS listener: rustls with the configured certificate and key, minimum version and
//! cipher suites, HTTP/2 and HTTP/1.1 by ALPN, and the certificate reloaded from disk when the
//! files change or on SIGHUP, without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedCipherSuite};

use super::{TlsConfig, TlsVersion};

/// The server configuration and the reloader behind it.
pub fn server_config(cfg: &TlsConfig) -> anyhow::Result<(ServerConfig, Arc<CertReloader>)> {
    crate::install_crypto_provider();
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if !cfg.cipher_suites.is_empty() {
        provider.cipher_suites = cipher_suites(&provider.cipher_suites, &cfg.cipher_suites)?;
    }
    let provider = Arc::new(provider);
    let reloader = Arc::new(CertReloader::new(cfg.cert_file.clone(), cfg.key_file.clone(), provider.clone())?);
    let versions: &[&rustls::SupportedProtocolVersion] = match cfg.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .context("the configured cipher suites and TLS versions have nothing in common")?
        .with_no_client_auth()
        .with_cert_resolver(reloader.clone());
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((server, reloader))
}

/// Suites by their IANA names (Go's names for TLS 1.3 suites, `TLS_AES_128_GCM_SHA256`, too).
fn cipher_suites(all: &[SupportedCipherSuite], names: &[String]) -> anyhow::Result<Vec<SupportedCipherSuite>> {
    let name_of = |s: &SupportedCipherSuite| s.suite().as_str().unwrap_or("").replace("TLS13_", "TLS_");
    let mut chosen = Vec::new();
    let mut unknown = Vec::new();
    for n in names {
        match all.iter().find(|s| name_of(s).eq_ignore_ascii_case(&n.replace("TLS13_", "TLS_"))) {
            Some(s) => chosen.push(*s),
            None => unknown.push(n.clone()),
        }
    }
    if !unknown.is_empty() {
        let known: Vec<String> = all.iter().map(name_of).collect();
        bail!("tls_cipher_suites: {} not supported; choose from {}", unknown.join(", "), known.join(", "));
    }
    // TLS 1.3 always needs its own suites.
    for s in all.iter().filter(|s| s.tls13().is_some()) {
        if !chosen.iter().any(|c| c.suite() == s.suite()) && !chosen.iter().any(|c| c.tls13().is_some()) {
            chosen.push(*s);
        }
    }
    Ok(chosen)
}

/// Serves the current certificate and reloads it from disk.
#[derive(Debug)]
pub struct CertReloader {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<(Arc<CertifiedKey>, Option<SystemTime>)>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl CertReloader {
    fn new(cert_file: PathBuf, key_file: PathBuf, provider: Arc<CryptoProvider>) -> anyhow::Result<CertReloader> {
        let key = load(&cert_file, &key_file, &provider)?;
        let stamp = modified(&cert_file).max(modified(&key_file));
        Ok(CertReloader { cert_file, key_file, provider, current: RwLock::new((key, stamp)) })
    }

    /// Reads the files again; on failure the old certificate stays (and the error is logged).
    pub fn reload(&self) {
        match load(&self.cert_file, &self.key_file, &self.provider) {
            Ok(key) => {
                let stamp = modified(&self.cert_file).max(modified(&self.key_file));
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = (key, stamp);
                log::info!("TLS certificate reloaded from {}", self.cert_file.display());
            }
            Err(e) => log::error!("TLS certificate not reloaded, keeping the current one: {e:#}"),
        }
    }

    fn changed(&self) -> bool {
        let stamp = modified(&self.cert_file).max(modified(&self.key_file));
        stamp.is_some() && stamp != self.current.read().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Watches the files (every second) and SIGHUP, reloading on change.
    pub fn watch(self: &Arc<Self>) {
        let me = self.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(Duration::from_secs(1));
            #[cfg(unix)]
            let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                #[cfg(unix)]
                {
                    let hup_fired = async {
                        match hup.as_mut() {
                            Some(h) => h.recv().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = tick.tick() => { if me.changed() { me.reload(); } }
                        _ = hup_fired => { me.reload(); }
                    }
                }
                #[cfg(not(unix))]
                {
                    tick.tick().await;
                    if me.changed() {
                        me.reload();
                    }
                }
            }
        });
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).0.clone())
    }
}

fn load(cert_file: &Path, key_file: &Path, provider: &CryptoProvider) -> anyhow::Result<Arc<CertifiedKey>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .with_context(|| format!("cannot read tls_cert_file {}", cert_file.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("tls_cert_file {} is not PEM certificates", cert_file.display()))?;
    if certs.is_empty() {
        bail!("tls_cert_file {} holds no certificate", cert_file.display());
    }
    let key =
        PrivateKeyDer::from_pem_file(key_file).with_context(|| format!("tls_key_file {} is not a PEM private key", key_file.display()))?;
    let signing = provider.key_provider.load_private_key(key).context("the private key is not usable (RSA, ECDSA or Ed25519)")?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().context("tls_key_file does not belong to tls_cert_file")?;
    Ok(Arc::new(certified))
}
