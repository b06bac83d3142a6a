//! TLS for calls to the identity provider.
//!
//! Trust comes from `provider_ca_files` (which replace the system store unless
//! `use_system_trust_store`), `SSL_CERT_FILE`, or the system store. A self-signed certificate
//! made by `openssl req -x509` carries `CA:TRUE`, and webpki refuses such a certificate as a
//! server certificate (`CaUsedAsEndEntity`); WSO2 Identity Server's default certificate and the
//! tutorial's own command both produce one. So a server certificate that is byte-identical to a
//! configured certificate is accepted, after checking its validity period and that it names
//! the host (its subjectAltName, or its CN when it has none).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme};

/// Where the provider's certificates are trusted from.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub ca_files: Vec<PathBuf>,
    pub use_system_trust_store: bool,
    /// `SSL_CERT_FILE`, read by `config` from the environment.
    pub ssl_cert_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

/// Builds the rustls client configuration for provider calls.
pub fn client_config(trust: &Trust) -> anyhow::Result<Arc<ClientConfig>> {
    crate::install_crypto_provider();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    // No warning here: this also builds the unverified client kept for upstreams with
    // `ssl_upstream_insecure_skip_verify`, whether any has it or not; the provider and the app
    // warn about what is actually set.
    if trust.insecure_skip_verify {
        let mut cfg = builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider))).with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        return Ok(Arc::new(cfg));
    }

    let mut pinned = Vec::new();
    for file in trust.ca_files.iter().chain(trust.ssl_cert_file.as_ref()) {
        pinned.extend(read_certs(file)?);
    }
    let mut roots = RootCertStore::empty();
    let use_system = trust.ca_files.is_empty() || trust.use_system_trust_store;
    if use_system {
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
    }
    for cert in &pinned {
        // A configured certificate is a trust anchor (it may be a CA), and also pinned as an
        // exact server certificate (below).
        let _ = roots.add(cert.clone());
    }
    if roots.is_empty() {
        bail!("no trusted certificates for the identity provider: the system store is empty and no provider_ca_files are set");
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
    let verifier = PinnedOrWebPki { inner, pinned };
    let mut cfg = builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(certs)
}

/// WebPKI verification, plus exact-match acceptance of configured certificates.
#[derive(Debug)]
struct PinnedOrWebPki {
    inner: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(ok) => Ok(ok),
            Err(err) => {
                if self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
                    check_pinned(end_entity, server_name, now)?;
                    return Ok(ServerCertVerified::assertion());
                }
                Err(err)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Validity period and host name of a pinned certificate.
fn check_pinned(der: &CertificateDer<'_>, server_name: &ServerName<'_>, now: UnixTime) -> Result<(), TlsError> {
    use x509_parser::prelude::*;
    let (_, cert) =
        X509Certificate::from_der(der.as_ref()).map_err(|_| TlsError::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    let now = now.as_secs() as i64;
    let validity = cert.validity();
    if now < validity.not_before.timestamp() {
        return Err(TlsError::InvalidCertificate(rustls::CertificateError::NotValidYet));
    }
    if now > validity.not_after.timestamp() {
        return Err(TlsError::InvalidCertificate(rustls::CertificateError::Expired));
    }
    let names_host = match cert.subject_alternative_name() {
        Ok(Some(san)) => san.value.general_names.iter().any(|n| match (n, server_name) {
            (GeneralName::DNSName(d), ServerName::DnsName(h)) => dns_matches(d, h.as_ref()),
            (GeneralName::IPAddress(ip), ServerName::IpAddress(addr)) => ip_matches(ip, addr),
            _ => false,
        }),
        // No subjectAltName at all (openssl req -x509 -subj /CN=... makes such certificates):
        // fall back to the common name, for a certificate the user configured explicitly.
        Ok(None) => match server_name {
            ServerName::DnsName(h) => {
                cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).any(|cn| dns_matches(cn, h.as_ref()))
            }
            ServerName::IpAddress(addr) => cert
                .subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .any(|cn| cn.parse::<std::net::IpAddr>().ok() == Some(std::net::IpAddr::from(*addr))),
            _ => false,
        },
        Err(_) => false,
    };
    if !names_host {
        return Err(TlsError::InvalidCertificate(rustls::CertificateError::NotValidForName));
    }
    Ok(())
}

fn dns_matches(pattern: &str, host: &str) -> bool {
    let (pattern, host) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

fn ip_matches(bytes: &[u8], addr: &rustls::pki_types::IpAddr) -> bool {
    let ip: std::net::IpAddr = (*addr).into();
    match ip {
        std::net::IpAddr::V4(v4) => bytes == v4.octets(),
        std::net::IpAddr::V6(v6) => bytes == v6.octets(),
    }
}

/// `ssl_insecure_skip_verify`: accepts any certificate (handshake signatures are still checked).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matches_one_label_only() {
        assert!(dns_matches("*.example.com", "idp.example.com"));
        assert!(!dns_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_matches("*.example.com", "example.com"));
        assert!(dns_matches("LocalHost", "localhost"));
    }
}
