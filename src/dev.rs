//! The development issuer and echo app behind `make run`: a tiny OpenID Provider where any
//! name logs in, and an app that shows the identity headers it received. They exist so a
//! newcomer sees a login work in a minute with no identity provider to set up.
//!
//! Invariant: development only. They listen on loopback addresses only (validation refuses
//! anything else), hold everything in memory, and log a warning at start. Nothing else in
//! Gatehouse depends on this module.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::base::text::escape_html as escape;
use crate::oidc::flow;

/// Validated development settings (Gatehouse's own options, not oauth2-proxy's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Where the development issuer listens; `oidc_issuer_url` must be `http://<this>`.
    pub issuer: Option<SocketAddr>,
    /// Where the echo app listens.
    pub echo: Option<SocketAddr>,
}

/// What the issuer accepts: the client Gatehouse is configured with.
pub struct Client {
    pub id: String,
    pub secret: String,
}

struct Issuer {
    url: String,
    client: Client,
    key: EncodingKey,
    kid: String,
    jwk: Value,
    codes: Mutex<HashMap<String, (Login, Instant)>>,
    tokens: Mutex<HashMap<String, String>>,
}

#[derive(Clone)]
struct Login {
    name: String,
    redirect_uri: String,
    nonce: Option<String>,
    challenge: Option<String>,
}

/// Starts the development issuer on `addr`.
pub fn issuer(addr: SocketAddr, client: Client) -> anyhow::Result<Server> {
    log::warn!("DEVELOPMENT OpenID issuer on http://{addr}: anyone can log in with any name; never use it in production");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|_| anyhow::anyhow!("cannot generate a key"))?;
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).map_err(|_| anyhow::anyhow!("cannot load the key"))?;
    let point = pair.public_key().as_ref();
    let kid = flow::random_b64(8);
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]), "kid": kid, "alg": "ES256", "use": "sig"});
    let issuer = web::Data::new(Issuer {
        url: format!("http://{addr}"),
        client,
        key: EncodingKey::from_ec_der(pkcs8.as_ref()),
        kid,
        jwk,
        codes: Mutex::default(),
        tokens: Mutex::default(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(issuer.clone())
            .route("/.well-known/openid-configuration", web::get().to(discovery))
            .route("/jwks", web::get().to(jwks))
            .route("/authorize", web::get().to(login_form))
            .route("/authorize", web::post().to(login_submit))
            .route("/token", web::post().to(token))
            .route("/userinfo", web::get().to(userinfo))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?
    .run();
    Ok(server)
}

async fn discovery(i: web::Data<Issuer>) -> HttpResponse {
    let u = &i.url;
    HttpResponse::Ok().json(json!({
        "issuer": u,
        "authorization_endpoint": format!("{u}/authorize"),
        "token_endpoint": format!("{u}/token"),
        "userinfo_endpoint": format!("{u}/userinfo"),
        "jwks_uri": format!("{u}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
}

async fn jwks(i: web::Data<Issuer>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"keys": [i.jwk]}))
}

fn page(body: &str) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Development issuer</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}.warn{{background:#fff3cd;padding:.75rem;border-radius:6px}}input,button{{font-size:1rem;padding:.5rem}}</style></head><body>{body}</body></html>"
    ))
}

async fn login_form(req: HttpRequest) -> HttpResponse {
    let hidden: String = url::form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(&k), escape(&v)))
        .collect();
    page(&format!(
        "<p class=\"warn\">Gatehouse development issuer: <strong>not for production</strong>. Any name logs in.</p>\
         <form method=\"post\" action=\"/authorize\">{hidden}<label for=\"name\">Your name</label><br><input id=\"name\" name=\"name\" value=\"alice\" autofocus> <button type=\"submit\">Log in</button></form>"
    ))
}

async fn login_submit(i: web::Data<Issuer>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let f = form.into_inner();
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let name: String = get("name").trim().chars().filter(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_')).take(64).collect();
    let redirect_uri = get("redirect_uri");
    let loopback = url::Url::parse(&redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(|h| matches!(h, "localhost" | "127.0.0.1" | "[::1]")))
        .unwrap_or(false);
    if name.is_empty() || get("client_id") != i.client.id || !loopback {
        return HttpResponse::BadRequest().body("bad login request: a name, this client and a loopback redirect_uri are needed\n");
    }
    let code = flow::random_b64(24);
    let login =
        Login { name, redirect_uri: redirect_uri.clone(), nonce: f.get("nonce").cloned(), challenge: f.get("code_challenge").cloned() };
    let mut codes = i.codes.lock().unwrap_or_else(|e| e.into_inner());
    codes.retain(|_, (_, at)| at.elapsed() < Duration::from_secs(60));
    codes.insert(code.clone(), (login, Instant::now()));
    let mut target = url::Url::parse(&redirect_uri).expect("checked above");
    target.query_pairs_mut().append_pair("code", &code).append_pair("state", &get("state")).append_pair("iss", &i.url);
    HttpResponse::Found().insert_header((header::LOCATION, target.to_string())).finish()
}

fn client_ok(i: &Issuer, req: &HttpRequest, form: &HashMap<String, String>) -> bool {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((id, secret)) => (
            url::form_urlencoded::parse(format!("x={id}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default(),
            url::form_urlencoded::parse(format!("x={secret}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default(),
        ),
        None => (form.get("client_id").cloned().unwrap_or_default(), form.get("client_secret").cloned().unwrap_or_default()),
    };
    id == i.client.id && secret == i.client.secret
}

async fn token(i: web::Data<Issuer>, req: HttpRequest, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let f = form.into_inner();
    let error = |e: &str| HttpResponse::BadRequest().json(json!({"error": e}));
    if !client_ok(&i, &req, &f) {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    let login = match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some((login, _)) = f.get("code").and_then(|c| i.codes.lock().unwrap_or_else(|e| e.into_inner()).remove(c)) else {
                return error("invalid_grant");
            };
            if f.get("redirect_uri") != Some(&login.redirect_uri) {
                return error("invalid_grant");
            }
            if let Some(challenge) = &login.challenge
                && f.get("code_verifier").map(|v| flow::hash_b64(v)).as_ref() != Some(challenge)
            {
                return error("invalid_grant");
            }
            login
        }
        Some("refresh_token") => {
            let Some(name) = f.get("refresh_token").and_then(|t| i.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(t).cloned()) else {
                return error("invalid_grant");
            };
            Login { name, redirect_uri: String::new(), nonce: None, challenge: None }
        }
        _ => return error("unsupported_grant_type"),
    };
    let now = crate::session::now();
    let mut claims = claims_for(&login.name);
    claims["iss"] = json!(i.url);
    claims["aud"] = json!(i.client.id);
    claims["iat"] = json!(now);
    claims["exp"] = json!(now + 3600);
    if let Some(n) = &login.nonce {
        claims["nonce"] = json!(n);
    }
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(i.kid.clone());
    let Ok(id_token) = jsonwebtoken::encode(&h, &claims, &i.key) else {
        return HttpResponse::InternalServerError().finish();
    };
    let (access, refresh) = (flow::random_b64(24), flow::random_b64(24));
    let mut tokens = i.tokens.lock().unwrap_or_else(|e| e.into_inner());
    tokens.insert(access.clone(), login.name.clone());
    tokens.insert(refresh.clone(), login.name.clone());
    HttpResponse::Ok()
        .json(json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600, "id_token": id_token, "refresh_token": refresh}))
}

fn claims_for(name: &str) -> Value {
    let id = name.to_ascii_lowercase();
    json!({"sub": id, "email": format!("{id}@example.com"), "email_verified": true, "preferred_username": name, "name": name, "groups": ["demo"]})
}

async fn userinfo(i: web::Data<Issuer>, req: HttpRequest) -> HttpResponse {
    let token =
        req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    match i.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(token) {
        Some(name) => HttpResponse::Ok().json(claims_for(name)),
        None => HttpResponse::Unauthorized().finish(),
    }
}

/// Starts the echo app on `addr`: a page listing the request headers, identity first.
pub fn echo(addr: SocketAddr) -> anyhow::Result<Server> {
    log::warn!("DEVELOPMENT echo app on http://{addr}");
    let server = HttpServer::new(|| App::new().default_service(web::to(echo_page))).workers(1).disable_signals().bind(addr)?.run();
    Ok(server)
}

async fn echo_page(req: HttpRequest) -> HttpResponse {
    let mut rows: Vec<(String, String)> =
        req.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    rows.sort_by_key(|(k, _)| (!k.starts_with("x-forwarded-") && !k.starts_with("x-auth-request-"), k.clone()));
    let user = req.headers().get("x-forwarded-user").and_then(|v| v.to_str().ok()).unwrap_or("nobody");
    let table: String = rows
        .iter()
        .map(|(k, v)| {
            let shown = if k == "x-forwarded-access-token" || k == "authorization" || k == "cookie" {
                format!("{}… (hidden)", v.chars().take(8).collect::<String>())
            } else {
                v.clone()
            };
            format!("<tr><td><code>{}</code></td><td><code>{}</code></td></tr>", escape(k), escape(&shown))
        })
        .collect();
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Echo app</title><style>body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}}td{{padding:.2rem .6rem;border-bottom:1px solid #ddd;word-break:break-all}}</style></head>\
         <body><h1>Hello, {}</h1><p>This page is the demo app behind Gatehouse. It received these headers for <code>{}</code>:</p><table>{table}</table><form method=\"POST\" action=\"/oauth2/sign_out\"><button type=\"submit\">Sign out</button></form></body></html>",
        escape(user),
        escape(&req.uri().to_string())
    ))
}

/// The issuer and echo servers for `cfg`.
pub fn servers(cfg: &Config, client: Client) -> anyhow::Result<Vec<Server>> {
    let mut out = Vec::new();
    if let Some(addr) = cfg.issuer {
        out.push(issuer(addr, client)?);
    }
    if let Some(addr) = cfg.echo {
        out.push(echo(addr)?);
    }
    Ok(out)
}
