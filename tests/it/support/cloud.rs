//! Cloud API stand-ins over HTTPS (the test PKI's `srv` certificate, which names
//! graph.microsoft.com, admin.googleapis.com and localhost):
//!
//! - Microsoft Graph for entra-id's group overage and azure's groups:
//!   `GET /v1.0/me/transitiveMemberOf`, the caller known by its access token (a JWT from the
//!   test provider, read, not verified: the stand-in plays the resource, not the judge), its
//!   groups 100 per page with Graph's `@odata.nextLink` on its own host; `$select` (`id`,
//!   `displayName` = `name-of-<id>`, `mailNickname` = `nick-<id>`), and `$filter` for
//!   security groups (ids starting `m-` are mail groups), which as in Graph needs
//!   `ConsistencyLevel: eventual`. `GET /v1.0/me`: the caller's profile (`profiles`).
//! - Google's service-account token endpoint (`POST /token`: the JWT assertion verified with
//!   the account's public key, its claims checked, only the scopes granted) and the Admin SDK
//!   Directory API (`groups/{g}/hasMember/{email}`, `groups?userKey=`, 200 per page with
//!   `nextPageToken`).
//!
//! oauth2-proxy asks the real hosts (fixed URLs): it reaches these stand-ins through
//! [`ConnectProxy`] (`HTTPS_PROXY`) and trusts the test CA (`SSL_CERT_FILE`); Gatehouse is
//! pointed at them with `microsoft_graph_url` and `google_admin_api_url`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use serde_json::{Value, json};

/// Google Workspace as the Directory API sees it.
#[derive(Default)]
pub struct Workspace {
    /// group address → member addresses
    pub members: HashMap<String, Vec<String>>,
    /// The service account's public key (PEM), its address and the administrator it acts as.
    pub account_key: Vec<u8>,
    pub account: String,
    pub admin: String,
    /// The Directory scopes the account was granted.
    pub scopes: Vec<String>,
    /// The token endpoint's URL (the assertions' audience).
    pub token_uri: String,
}

pub struct Cloud {
    pub port: u16,
    asked: Arc<Mutex<Vec<String>>>,
    pub workspace: Arc<Mutex<Workspace>>,
    /// Graph's `/v1.0/me` per subject.
    pub profiles: Arc<Mutex<HashMap<String, Value>>>,
    handle: actix_web::dev::ServerHandle,
}

type Groups = web::Data<HashMap<String, Vec<String>>>;
type Asked = web::Data<Arc<Mutex<Vec<String>>>>;
type Work = web::Data<Arc<Mutex<Workspace>>>;
type Profiles = web::Data<Arc<Mutex<HashMap<String, Value>>>>;

/// The Directory token the stand-in hands out.
const DIRECTORY_TOKEN: &str = "ya29.directory-token";

impl Cloud {
    /// Serves Graph's `groups` (subject → group ids) and `workspace`, with the PKI in `pki`
    /// (`support::test_pki`).
    pub fn start(pki: &Path, groups: HashMap<String, Vec<String>>, workspace: Workspace) -> Cloud {
        Cloud::start_on(pki, 0, groups, workspace)
    }

    /// [`Cloud::start`] on `port` (0: a free one).
    pub fn start_on(pki: &Path, port: u16, groups: HashMap<String, Vec<String>>, workspace: Workspace) -> Cloud {
        use rustls::pki_types::pem::PemObject;
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(pki.join("srv.pem")).unwrap().map(Result::unwrap).collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(pki.join("srv.key")).unwrap();
        let tls = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).unwrap();
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let workspace = Arc::new(Mutex::new(workspace));
        let profiles: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
        let (groups, seen, work) = (web::Data::new(groups), web::Data::new(asked.clone()), web::Data::new(workspace.clone()));
        let me = web::Data::new(profiles.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(groups.clone())
                .app_data(seen.clone())
                .app_data(work.clone())
                .app_data(me.clone())
                .route("/v1.0/me", web::get().to(graph_me))
                .route("/v1.0/me/transitiveMemberOf", web::get().to(member_of))
                .route("/token", web::post().to(google_token))
                .route("/admin/directory/v1/groups/{group}/hasMember/{email}", web::get().to(has_member))
                .route("/admin/directory/v1/groups", web::get().to(user_groups))
        })
        .workers(1)
        .bind_rustls_0_23(("127.0.0.1", port), tls)
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Cloud { port, asked, workspace, profiles, handle }
    }

    /// The pages asked so far (their queries; `/me` for a profile).
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for Cloud {
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

fn graph_unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}))
}

async fn graph_me(req: HttpRequest, profiles: Profiles, asked: Asked) -> HttpResponse {
    asked.lock().unwrap().push("/me".into());
    let Some(sub) = subject(&req) else { return graph_unauthorized() };
    match profiles.lock().unwrap().get(&sub) {
        Some(profile) => HttpResponse::Ok().json(profile),
        None => HttpResponse::NotFound().json(json!({"error": {"code": "Request_ResourceNotFound", "message": "no such user"}})),
    }
}

async fn member_of(req: HttpRequest, groups: Groups, asked: Asked) -> HttpResponse {
    asked.lock().unwrap().push(req.query_string().to_string());
    let Some(sub) = subject(&req) else { return graph_unauthorized() };
    let q: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let filtered = get("$filter").is_some();
    if filtered && req.headers().get("consistencylevel").and_then(|v| v.to_str().ok()) != Some("eventual") {
        return HttpResponse::BadRequest().json(json!({"error": {"code": "Request_UnsupportedQuery", "message": "Unsupported Query."}}));
    }
    let mut all = groups.get(&sub).cloned().unwrap_or_default();
    if filtered {
        all.retain(|id| !id.starts_with("m-"));
    }
    let select = get("$select").unwrap_or_else(|| "id".into());
    let skip: usize = get("$skiptoken").and_then(|s| s.parse().ok()).unwrap_or(0);
    let top: usize = get("$top").and_then(|s| s.parse().ok()).unwrap_or(100).clamp(1, 999);
    let object = |id: &String| {
        let mut o = json!({"@odata.type": "#microsoft.graph.group"});
        for field in select.split(',') {
            o[field] = match field {
                "id" => json!(id),
                "displayName" => json!(format!("name-of-{id}")),
                "mailNickname" => json!(format!("nick-{id}")),
                _ => Value::Null,
            };
        }
        o
    };
    let page: Vec<Value> = all.iter().skip(skip).take(top).map(object).collect();
    let host = req.connection_info().host().to_string();
    let mut body = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id)", "value": page});
    if skip + top < all.len() {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        next.extend_pairs(q.iter().filter(|(k, _)| k != "$skiptoken")).append_pair("$skiptoken", &(skip + top).to_string());
        body["@odata.nextLink"] = json!(format!("https://{host}{}?{}", req.path(), next.finish()));
    }
    HttpResponse::Ok().json(body)
}

fn google_error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(
        json!({"error": {"code": status, "message": message, "errors": [{"message": message, "domain": "global", "reason": "notFound"}]}}),
    )
}

/// The service account's JWT grant: the assertion verified with its public key; a scope it
/// was not granted is refused as Google refuses it.
async fn google_token(work: Work, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let w = work.lock().unwrap();
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return HttpResponse::BadRequest().json(json!({"error": "unsupported_grant_type"}));
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&w.account_key).unwrap();
    let mut rules = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    rules.set_audience(&[w.token_uri.as_str()]);
    rules.set_issuer(&[w.account.as_str()]);
    rules.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    let Ok(claims) = jsonwebtoken::decode::<Value>(form.get("assertion").map_or("", String::as_str), &key, &rules) else {
        return HttpResponse::BadRequest().json(json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}));
    };
    if claims.claims["sub"] != w.admin.as_str() {
        return HttpResponse::BadRequest().json(json!({"error": "invalid_grant", "error_description": "Invalid email or User ID"}));
    }
    let scope = claims.claims["scope"].as_str().unwrap_or_default();
    if !scope.split(' ').all(|s| w.scopes.iter().any(|g| g == s)) {
        return HttpResponse::BadRequest().json(json!({
            "error": "unauthorized_client",
            "error_description": "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."
        }));
    }
    HttpResponse::Ok().json(json!({"access_token": DIRECTORY_TOKEN, "expires_in": 3599, "token_type": "Bearer"}))
}

fn directory_caller(req: &HttpRequest) -> bool {
    req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {DIRECTORY_TOKEN}"))
}

async fn has_member(req: HttpRequest, path: web::Path<(String, String)>, work: Work) -> HttpResponse {
    if !directory_caller(&req) {
        return google_error(401, "Login Required.");
    }
    let (group, email) = path.into_inner();
    match work.lock().unwrap().members.get(&group) {
        Some(members) => HttpResponse::Ok().json(json!({"isMember": members.contains(&email)})),
        None => google_error(404, "Resource Not Found: groupKey"),
    }
}

async fn user_groups(req: HttpRequest, work: Work) -> HttpResponse {
    if !directory_caller(&req) {
        return google_error(401, "Login Required.");
    }
    let q: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let user = q.get("userKey").cloned().unwrap_or_default();
    let max: usize = q.get("maxResults").and_then(|m| m.parse().ok()).unwrap_or(200).clamp(1, 200);
    let skip: usize = q.get("pageToken").and_then(|t| t.strip_prefix("p").and_then(|n| n.parse().ok())).unwrap_or(0);
    let mut all: Vec<String> = work.lock().unwrap().members.iter().filter(|(_, m)| m.contains(&user)).map(|(g, _)| g.clone()).collect();
    all.sort();
    let page: Vec<Value> = all.iter().skip(skip).take(max).map(|g| json!({"kind": "admin#directory#group", "email": g})).collect();
    let mut body = json!({"kind": "admin#directory#groups", "groups": page});
    if skip + max < all.len() {
        body["nextPageToken"] = json!(format!("p{}", skip + max));
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
