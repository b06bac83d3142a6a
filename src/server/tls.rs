//! The TLS listeners' rustls setup: the configured certificate and key, minimum version and
//! cipher suites, HTTP/2 and HTTP/1.1 by ALPN, the certificate reloaded from disk when the
//! files change or on SIGHUP, without a restart, and (the gRPC listener's) client certificates
//! checked against CAs and, optionally, names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedCipherSuite};

use super::{TlsConfig, TlsVersion};
use crate::reload::Watched;

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
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .context("the configured cipher suites and TLS versions have nothing in common")?;
    let builder = match &cfg.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(file) => builder.with_client_cert_verifier(client_verifier(file, &cfg.client_names, provider)?),
    };
    let mut server = builder.with_cert_resolver(reloader.clone());
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((server, reloader))
}

/// Client certificates must chain to one of the CAs in `file` (read once, at start) and, when
/// `names` are given, carry one of them as a DNS or URI subject alternative name.
fn client_verifier(file: &Path, names: &[String], provider: Arc<CryptoProvider>) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file).with_context(|| format!("cannot read {}", file.display()))? {
        let cert = cert.with_context(|| format!("{} is not PEM certificates", file.display()))?;
        roots.add(cert).with_context(|| format!("{} holds a certificate that is not a CA", file.display()))?;
    }
    if roots.is_empty() {
        bail!("{} holds no certificate", file.display());
    }
    let chained = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .with_context(|| format!("the CAs in {} cannot verify client certificates", file.display()))?;
    if names.is_empty() {
        return Ok(chained);
    }
    Ok(Arc::new(NamedClients { chained, names: names.to_vec() }))
}

/// A CA shared by many services (a mesh's, a company's) vouches for all of them: only the
/// clients named here may ask.
#[derive(Debug)]
struct NamedClients {
    chained: Arc<dyn ClientCertVerifier>,
    names: Vec<String>,
}

impl ClientCertVerifier for NamedClients {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.chained.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.chained.verify_client_cert(end_entity, intermediates, now)?;
        if subject_names(end_entity).iter().any(|n| self.names.iter().any(|allowed| allowed == n)) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.chained.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.chained.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.chained.supported_verify_schemes()
    }
}

/// A certificate's DNS and URI subject alternative names (an Istio workload's is
/// `spiffe://…`); none when it cannot be read.
fn subject_names(der: &CertificateDer<'_>) -> Vec<String> {
    use x509_parser::prelude::*;
    let Ok((_, cert)) = X509Certificate::from_der(der.as_ref()) else { return Vec::new() };
    let Ok(Some(san)) = cert.subject_alternative_name() else { return Vec::new() };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
            GeneralName::URI(u) => Some(u.to_string()),
            _ => None,
        })
        .collect()
}

/// Whether every name in `names` is a cipher suite Gatehouse can offer; `Err` holds those that
/// are not and those it can (configuration validation, so `--config-test` reports it).
pub fn check_cipher_suites(names: &[String]) -> Result<(), (Vec<String>, Vec<String>)> {
    let all = rustls::crypto::aws_lc_rs::default_provider().cipher_suites;
    let unknown: Vec<String> = names.iter().filter(|n| !all.iter().any(|s| suite_is(s, n))).cloned().collect();
    if unknown.is_empty() { Ok(()) } else { Err((unknown, all.iter().map(suite_name).collect())) }
}

/// A suite's IANA name, with Go's names for TLS 1.3 suites (`TLS_AES_128_GCM_SHA256`).
fn suite_name(s: &SupportedCipherSuite) -> String {
    s.suite().as_str().unwrap_or("").replace("TLS13_", "TLS_")
}

fn suite_is(s: &SupportedCipherSuite, name: &str) -> bool {
    suite_name(s).eq_ignore_ascii_case(&name.replace("TLS13_", "TLS_"))
}

/// Suites by their IANA names (Go's names for TLS 1.3 suites, `TLS_AES_128_GCM_SHA256`, too).
fn cipher_suites(all: &[SupportedCipherSuite], names: &[String]) -> anyhow::Result<Vec<SupportedCipherSuite>> {
    let mut chosen = Vec::new();
    let mut unknown = Vec::new();
    for n in names {
        match all.iter().find(|s| suite_is(s, n)) {
            Some(s) => chosen.push(*s),
            None => unknown.push(n.clone()),
        }
    }
    if !unknown.is_empty() {
        let known: Vec<String> = all.iter().map(suite_name).collect();
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

/// Serves the current certificate, reloaded from disk by [`Watched`].
#[derive(Debug)]
pub struct CertReloader(Arc<Watched<CertifiedKey>>);

impl CertReloader {
    fn new(cert_file: PathBuf, key_file: PathBuf, provider: Arc<CryptoProvider>) -> anyhow::Result<CertReloader> {
        let files = vec![cert_file.clone(), key_file.clone()];
        Ok(CertReloader(Watched::new("TLS certificate", files, move || load(&cert_file, &key_file, &provider))?))
    }

    /// Watches the files (every second) and SIGHUP, reloading on change.
    pub fn watch(&self) {
        self.0.watch();
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.get())
    }
}

fn load(cert_file: &Path, key_file: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
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
    Ok(certified)
}
