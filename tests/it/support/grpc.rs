//! A gRPC ext_authz client: CheckRequests sent straight to Gatehouse's `grpc_address`, as Envoy
//! sends them but with anything a test wants in them (tonic's client, envoy-types' messages).

use std::net::SocketAddr;
use std::path::Path;

use envoy_types::ext_authz::v3::pb::CheckRequest;
use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, check_response::HttpResponse};
use tonic::transport::Channel;

/// What Envoy would do with the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// OK: the request goes on to the upstream.
    pub allowed: bool,
    /// The denial's HTTP status (200 when allowed; 0 when the check failed as gRPC, which
    /// Envoy with `failure_mode_allow: false` answers 403).
    pub status: u16,
    /// Headers set on the upstream request (allowed) or the client's answer (denied).
    pub headers: Vec<(String, String)>,
    /// Headers removed from the upstream request.
    pub removed: Vec<String>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A described request: what Envoy puts in `attributes.request.http`.
#[derive(Debug, Clone, Default)]
pub struct Described {
    pub method: String,
    pub path: String,
    pub host: String,
    pub scheme: String,
    pub headers: Vec<(String, String)>,
    /// Sent as `header_map` (Envoy's `encode_raw_headers: true`) instead of `headers`.
    pub raw_headers: bool,
    pub source: Option<String>,
    pub context: Vec<(String, String)>,
}

impl Described {
    pub fn get(path: &str) -> Described {
        Described { method: "GET".into(), path: path.into(), host: "app.example".into(), scheme: "http".into(), ..Default::default() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Described {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn context(mut self, key: &str, value: &str) -> Described {
        self.context.push((key.into(), value.into()));
        self
    }

    /// The CheckRequest. Repeated headers are merged with `,` in `headers` (as Envoy does;
    /// `; ` for cookies), kept apart in `header_map`.
    pub fn request(&self) -> CheckRequest {
        let mut http = HttpRequest {
            method: self.method.clone(),
            path: self.path.clone(),
            host: self.host.clone(),
            scheme: self.scheme.clone(),
            ..Default::default()
        };
        if self.raw_headers {
            use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
            let headers = self
                .headers
                .iter()
                .map(|(k, v)| HeaderValue { key: k.to_ascii_lowercase(), raw_value: v.clone().into_bytes(), ..Default::default() })
                .collect();
            http.header_map = Some(HeaderMap { headers });
        } else {
            for (k, v) in &self.headers {
                let k = k.to_ascii_lowercase();
                let sep = if k == "cookie" { "; " } else { "," };
                http.headers.entry(k).and_modify(|old| *old = format!("{old}{sep}{v}")).or_insert_with(|| v.clone());
            }
        }
        let source = self.source.as_ref().map(|ip| Peer {
            address: Some(Address {
                address: Some(address::Address::SocketAddress(SocketAddress { address: ip.clone(), ..Default::default() })),
            }),
            ..Default::default()
        });
        CheckRequest {
            attributes: Some(AttributeContext {
                source,
                request: Some(Request { http: Some(http), ..Default::default() }),
                context_extensions: self.context.iter().cloned().collect(),
                ..Default::default()
            }),
        }
    }
}

/// A connection to a gRPC check listener.
pub struct Client(pub AuthorizationClient<Channel>);

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let channel =
            Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap_or_else(|e| panic!("gRPC {addr}: {e}"));
        Client(AuthorizationClient::new(channel))
    }

    /// Over TLS, trusting `ca` (PEM) and presenting `identity` (certificate and key PEM files),
    /// if given. `Err` when no channel could be made.
    pub async fn connect_tls(addr: SocketAddr, ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Client, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        gatehouse::install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(ca).unwrap()).unwrap();
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let mut config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(vec![CertificateDer::from_pem_file(cert).unwrap()], PrivateKeyDer::from_pem_file(key).unwrap())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let dial = tower::service_fn(move |_: http::Uri| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let tls = connector.connect(ServerName::IpAddress(addr.ip().into()), tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        });
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_with_connector(dial)
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(Client(AuthorizationClient::new(channel)))
    }

    /// Sends a check; a gRPC error is an answer too (Envoy refuses).
    pub async fn check(&mut self, request: CheckRequest) -> Answer {
        let res = match self.0.check(request).await {
            Ok(res) => res.into_inner(),
            Err(_) => return Answer { allowed: false, status: 0, headers: vec![], removed: vec![] },
        };
        let pairs = |list: Vec<envoy_types::pb::envoy::config::core::v3::HeaderValueOption>| -> Vec<(String, String)> {
            list.into_iter()
                .filter_map(|o| o.header)
                .map(|h| {
                    let value = if h.raw_value.is_empty() { h.value } else { String::from_utf8_lossy(&h.raw_value).into_owned() };
                    (h.key, value)
                })
                .collect()
        };
        let ok = res.status.as_ref().is_some_and(|s| s.code == 0);
        match res.http_response {
            Some(HttpResponse::OkResponse(r)) if ok => {
                Answer { allowed: true, status: 200, headers: pairs(r.headers), removed: r.headers_to_remove }
            }
            Some(HttpResponse::DeniedResponse(r)) if !ok => {
                Answer { allowed: false, status: r.status.map_or(403, |s| s.code as u16), headers: pairs(r.headers), removed: vec![] }
            }
            // Envoy takes the gRPC status: not OK is a refusal (403).
            _ => Answer { allowed: ok, status: if ok { 200 } else { 403 }, headers: vec![], removed: vec![] },
        }
    }
}
