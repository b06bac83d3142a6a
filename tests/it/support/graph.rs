//! A Microsoft Graph stand-in for entra-id's group overage: `GET /v1.0/me/transitiveMemberOf`
//! over HTTPS (the test PKI's `srv` certificate, which names graph.microsoft.com and
//! localhost), the caller known by its access token (a JWT from the test provider, read, not
//! verified: the stand-in plays the resource, not the judge), its groups 100 per page with
//! Graph's `@odata.nextLink` on its own host.
//!
//! oauth2-proxy asks the real `https://graph.microsoft.com` (a fixed URL): it reaches this
//! stand-in through [`ConnectProxy`] (`HTTPS_PROXY`) and trusts the test CA (`SSL_CERT_FILE`);
//! Gatehouse is pointed at it with `microsoft_graph_url`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use serde_json::{Value, json};

pub struct Graph {
    pub port: u16,
    asked: Arc<Mutex<Vec<String>>>,
    handle: actix_web::dev::ServerHandle,
}

type Groups = web::Data<HashMap<String, Vec<String>>>;
type Asked = web::Data<Arc<Mutex<Vec<String>>>>;

impl Graph {
    /// Serves `groups` (subject → group ids) with the PKI in `pki` (`support::test_pki`).
    pub fn start(pki: &Path, groups: HashMap<String, Vec<String>>) -> Graph {
        use rustls::pki_types::pem::PemObject;
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(pki.join("srv.pem")).unwrap().map(Result::unwrap).collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(pki.join("srv.key")).unwrap();
        let tls = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).unwrap();
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let (groups, seen) = (web::Data::new(groups), web::Data::new(asked.clone()));
        let server = HttpServer::new(move || {
            App::new().app_data(groups.clone()).app_data(seen.clone()).route("/v1.0/me/transitiveMemberOf", web::get().to(member_of))
        })
        .workers(1)
        .bind_rustls_0_23(("127.0.0.1", 0), tls)
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Graph { port, asked, handle }
    }

    /// The pages asked so far (their queries).
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        let h = self.handle.clone();
        actix_web::rt::spawn(async move { h.stop(false).await });
    }
}

/// The subject of a JWT access token, unverified.
fn subject(req: &HttpRequest) -> Option<String> {
    let auth = req.headers().get("authorization")?.to_str().ok()?;
    let payload = auth.strip_prefix("Bearer ")?.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok()?.get("sub")?.as_str().map(str::to_string)
}

async fn member_of(req: HttpRequest, groups: Groups, asked: Asked) -> HttpResponse {
    asked.lock().unwrap().push(req.query_string().to_string());
    let Some(sub) = subject(&req) else {
        return HttpResponse::Unauthorized()
            .json(json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}));
    };
    let all = groups.get(&sub).cloned().unwrap_or_default();
    let q: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let skip: usize = q.get("$skiptoken").and_then(|s| s.parse().ok()).unwrap_or(0);
    let top: usize = q.get("$top").and_then(|s| s.parse().ok()).unwrap_or(100).clamp(1, 999);
    let page: Vec<Value> = all.iter().skip(skip).take(top).map(|id| json!({"@odata.type": "#microsoft.graph.group", "id": id})).collect();
    let host = req.connection_info().host().to_string();
    let mut body = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id)", "value": page});
    if skip + top < all.len() {
        body["@odata.nextLink"] =
            json!(format!("https://{host}/v1.0/me/transitiveMemberOf?$select=id&$top={top}&$skiptoken={}", skip + top));
    }
    HttpResponse::Ok().json(body)
}

/// An HTTP `CONNECT` proxy that takes every tunnel to `127.0.0.1:<to>` (Graph's stand-in),
/// whatever host it names: oauth2-proxy's `HTTPS_PROXY`.
pub struct ConnectProxy {
    pub port: u16,
}

impl ConnectProxy {
    pub fn start(to: u16) -> ConnectProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                std::thread::spawn(move || tunnel(client, to));
            }
        });
        ConnectProxy { port }
    }
}

fn tunnel(mut client: std::net::TcpStream, to: u16) {
    use std::io::{Read, Write};
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).unwrap_or(0) == 0 || head.len() > 8192 {
            return;
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"CONNECT ") {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
        return;
    }
    let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", to)) else { return };
    let _ = client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n");
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(std::net::Shutdown::Write);
    });
    let (mut c, mut s) = (client, server);
    let _ = std::io::copy(&mut s, &mut c);
    let _ = c.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}
