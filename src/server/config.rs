//! The server's validated settings: listeners, TLS, and which peers' forwarded headers are
//! believed.

use std::fmt;
use std::path::PathBuf;

pub use crate::http::request::TrustConfig;

/// An address to listen on, as oauth2-proxy writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// `host:port`; an empty host (`:4180`) means every interface.
    Tcp { host: String, port: u16 },
    /// `unix:///path`, optionally `,mode=0660` (octal, applied to the socket file).
    Unix { path: PathBuf, mode: Option<u32> },
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
            ListenAddr::Unix { path, .. } => write!(f, "unix://{}", path.display()),
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
    /// Clients must present a certificate issued by one of these CAs (mutual TLS); only the
    /// gRPC listener offers it (`grpc_tls_client_ca_file`).
    pub client_ca_file: Option<PathBuf>,
    /// With `client_ca_file`: a client certificate must also carry one of these DNS or URI
    /// subject alternative names (`grpc_tls_client_names`); empty: any the CAs issued.
    pub client_names: Vec<String>,
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
    /// Where back-channel logout tokens are received (`None`: not at all).
    pub backchannel_logout_path: Option<String>,
    /// `admin_token_file`: the session admin endpoints, on the metrics listener, need its token.
    pub admin_token_file: Option<std::path::PathBuf>,
    /// `grpc_address`: Envoy's gRPC external authorization (`endpoints::grpc`).
    pub grpc_address: Option<ListenAddr>,
    /// `grpc_tls_cert_file`/`_key_file` (and `grpc_tls_client_ca_file`): the gRPC listener
    /// speaks TLS (HTTP/2 by ALPN) instead of plaintext.
    pub grpc_tls: Option<TlsConfig>,
    pub force_https: bool,
    /// `allow_query_semicolons`: `;` separates query parameters (the middleware rewrites it).
    pub allow_query_semicolons: bool,
    /// Worker threads; 0 for one per CPU (actix's default).
    pub workers: usize,
    /// After SIGTERM: how long `/ready` answers 503 while requests are still served, so load
    /// balancers stop sending before the listeners close.
    pub shutdown_delay: std::time::Duration,
    pub trust: TrustConfig,
}
