//! A GitHub stand-in: the OAuth app endpoints (`/login/oauth/authorize` with a login page,
//! `/login/oauth/access_token`) and the REST API a login reads (`/`, `/user`, `/user/emails`,
//! `/user/orgs`, `/user/teams`, `/repos/{repo}`, `/repos/{repo}/collaborators/{user}`), in
//! GitHub's shapes: form-encoded token answers unless JSON is asked for, refused codes as
//! 200 with `error=bad_verification_code`, `Authorization: token`, 401 `Bad credentials`,
//! pages with `Link` headers, and the same API under `/api/v3` (GitHub Enterprise).
//!
//! It is only as honest as what checks it: every scenario also runs the real oauth2-proxy
//! against it (tests/it/providers.rs), and both must agree.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// One GitHub user.
#[derive(Clone, Default)]
pub struct Account {
    pub login: String,
    /// (address, primary, verified)
    pub emails: Vec<(String, bool, bool)>,
    pub orgs: Vec<String>,
    /// (org, team slug)
    pub teams: Vec<(String, String)>,
    /// repository → (private, pull, push)
    pub repos: HashMap<String, (bool, bool, bool)>,
}

#[derive(Default)]
struct World {
    accounts: HashMap<String, Account>,
    /// Pending logins: interaction id → (redirect_uri, state).
    interactions: HashMap<String, (String, String)>,
    /// Codes not redeemed yet: code → (login, redirect_uri).
    codes: HashMap<String, (String, String)>,
    tokens: HashMap<String, String>,
    /// repository → its collaborators, as the `token` of `collaborator_token` sees them.
    collaborators: HashMap<String, Vec<String>>,
    /// Every API path asked, for the tests that count pages.
    asked: Vec<String>,
    next: u64,
}

/// The token with push access to the repositories (`github_token`).
pub const ADMIN_TOKEN: &str = "ghp_admin_token";
pub const CLIENT_ID: &str = "gatehouse";
pub const CLIENT_SECRET: &str = "gatehouse-secret";

pub struct GitHub {
    pub base: String,
    world: Arc<Mutex<World>>,
    handle: actix_web::dev::ServerHandle,
}

impl GitHub {
    pub fn start(accounts: Vec<Account>, collaborators: &[(&str, &[&str])]) -> GitHub {
        let world = World {
            accounts: accounts.into_iter().map(|a| (a.login.clone(), a)).collect(),
            collaborators: collaborators.iter().map(|(r, us)| (r.to_string(), us.iter().map(|u| u.to_string()).collect())).collect(),
            ..World::default()
        };
        let world = Arc::new(Mutex::new(world));
        let shared = world.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::from(shared.clone()))
                .route("/login/oauth/authorize", web::get().to(authorize))
                .route("/interaction/{id}", web::get().to(login_page))
                .route("/interaction/{id}", web::post().to(login_submit))
                .route("/login/oauth/access_token", web::post().to(access_token))
                .default_service(web::to(api))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        GitHub { base: format!("http://127.0.0.1:{port}"), world, handle }
    }

    /// The user's tokens stop working (the OAuth app's authorization was revoked).
    pub fn revoke(&self, login: &str) {
        self.world.lock().unwrap().tokens.retain(|_, who| who != login);
    }

    /// The API paths asked so far (with their queries).
    pub fn asked(&self) -> Vec<String> {
        self.world.lock().unwrap().asked.clone()
    }

    /// The provider lines of a configuration pointing at this stand-in (`api`: the API root,
    /// `/` as api.github.com or `/api/v3/` as GitHub Enterprise).
    pub fn config(&self, api: &str) -> String {
        format!(
            "provider = \"github\"\nlogin_url = \"{b}/login/oauth/authorize\"\nredeem_url = \"{b}/login/oauth/access_token\"\nvalidate_url = \"{b}{api}\"\n",
            b = self.base
        )
    }
}

impl Drop for GitHub {
    fn drop(&mut self) {
        let h = self.handle.clone();
        actix_web::rt::spawn(async move { h.stop(false).await });
    }
}

type Shared = web::Data<Mutex<World>>;

fn query(req: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect()
}

async fn authorize(world: Shared, req: HttpRequest) -> HttpResponse {
    let q = query(&req);
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) || q.get("response_type").is_some_and(|t| t != "code") {
        return HttpResponse::NotFound().body("unknown application");
    }
    let (Some(redirect), Some(state)) = (q.get("redirect_uri"), q.get("state")) else {
        return HttpResponse::BadRequest().body("redirect_uri and state are required");
    };
    let mut w = world.lock().unwrap();
    w.next += 1;
    let id = format!("i{}", w.next);
    w.interactions.insert(id.clone(), (redirect.clone(), state.clone()));
    HttpResponse::Found().insert_header(("Location", format!("/interaction/{id}"))).finish()
}

async fn login_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html")
        .body("<form method=post><input name=\"login\"><input name=password type=password><button type=submit>Sign in</button></form>")
}

async fn login_submit(world: Shared, id: web::Path<String>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let mut w = world.lock().unwrap();
    let Some((redirect, state)) = w.interactions.remove(id.as_str()) else {
        return HttpResponse::NotFound().finish();
    };
    let login = form.get("login").cloned().unwrap_or_default();
    if !w.accounts.contains_key(&login) {
        return HttpResponse::Ok().body("Incorrect username or password.");
    }
    w.next += 1;
    let code = format!("code{}", w.next);
    w.codes.insert(code.clone(), (login, redirect.clone()));
    let mut to = url::Url::parse(&redirect).unwrap();
    to.query_pairs_mut().append_pair("code", &code).append_pair("state", &state);
    HttpResponse::Found().insert_header(("Location", to.to_string())).finish()
}

/// GitHub's token endpoint: form-encoded answers unless JSON is asked for, refusals as 200.
async fn access_token(world: Shared, req: HttpRequest, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let json = req.headers().get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("json"));
    let answer = |pairs: &[(&str, &str)]| {
        if json {
            let map: serde_json::Map<String, Value> = pairs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            HttpResponse::Ok().json(map)
        } else {
            let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
            HttpResponse::Ok().content_type("application/x-www-form-urlencoded; charset=utf-8").body(body)
        }
    };
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return answer(&[
            ("error", "incorrect_client_credentials"),
            ("error_description", "The client_id and/or client_secret passed are incorrect."),
        ]);
    }
    let mut w = world.lock().unwrap();
    let found = form.get("code").and_then(|c| w.codes.remove(c));
    match found {
        Some((login, redirect)) if form.get("redirect_uri") == Some(&redirect) => {
            w.next += 1;
            let token = format!("gho_token{}", w.next);
            w.tokens.insert(token.clone(), login);
            answer(&[("access_token", &token), ("scope", "read:org,user:email"), ("token_type", "bearer")])
        }
        _ => answer(&[("error", "bad_verification_code"), ("error_description", "The code passed is incorrect or expired.")]),
    }
}

fn bad_credentials() -> HttpResponse {
    HttpResponse::Unauthorized()
        .json(json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}))
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}))
}

/// One page of `items` (`page`, `per_page` as GitHub reads them), with GitHub's `Link`.
fn paged(req: &HttpRequest, path: &str, items: Vec<Value>) -> HttpResponse {
    let q = query(req);
    let per_page: usize = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30).clamp(1, 100);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let chunk: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let mut res = HttpResponse::Ok();
    if last > 1 {
        let at = |p: usize, rel: &str| format!("<{path}?page={p}&per_page={per_page}>; rel=\"{rel}\"");
        let mut links = Vec::new();
        if page < last {
            links.push(at(page + 1, "next"));
            links.push(at(last, "last"));
        }
        if page > 1 {
            links.push(at(1, "first"));
            links.push(at(page - 1, "prev"));
        }
        res.insert_header(("Link", links.join(", ")));
    }
    res.json(chunk)
}

/// The REST API, at the root (api.github.com) or under `/api/v3` (GitHub Enterprise).
async fn api(world: Shared, req: HttpRequest) -> HttpResponse {
    let path = req.path().strip_prefix("/api/v3").unwrap_or(req.path()).to_string();
    let path = if path.is_empty() { "/".to_string() } else { path };
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let token = auth.strip_prefix("token ").or_else(|| auth.strip_prefix("Bearer ")).unwrap_or("");
    let mut w = world.lock().unwrap();
    w.asked.push(format!("{path}?{}", req.query_string()));
    if token == ADMIN_TOKEN {
        // The repository owner's token: it may only ask about collaborators here.
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        return match parts.as_slice() {
            ["repos", owner, name, "collaborators", user] => {
                let listed = w.collaborators.get(&format!("{owner}/{name}")).is_some_and(|c| c.iter().any(|u| u == user));
                if listed { HttpResponse::NoContent().finish() } else { not_found() }
            }
            _ => not_found(),
        };
    }
    let Some(account) = w.tokens.get(token).and_then(|login| w.accounts.get(login)).cloned() else {
        return bad_credentials();
    };
    drop(w);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [] => HttpResponse::Ok().json(json!({"current_user_url": "/user", "organization_url": "/orgs/{org}"})),
        ["user"] => HttpResponse::Ok().json(json!({"login": account.login, "id": 1, "type": "User", "email": null})),
        ["user", "emails"] => HttpResponse::Ok().json(
            account.emails.iter().map(|(e, p, v)| json!({"email": e, "primary": p, "verified": v, "visibility": null})).collect::<Vec<_>>(),
        ),
        ["user", "orgs"] => paged(&req, &path, account.orgs.iter().map(|o| json!({"login": o, "id": 1})).collect()),
        ["user", "teams"] => paged(
            &req,
            &path,
            account.teams.iter().map(|(o, t)| json!({"name": t.to_uppercase(), "slug": t, "organization": {"login": o}})).collect(),
        ),
        ["repos", owner, name] => match account.repos.get(&format!("{owner}/{name}")) {
            Some((private, pull, push)) => HttpResponse::Ok().json(json!({
                "full_name": format!("{owner}/{name}"), "private": private,
                "permissions": {"admin": false, "push": push, "pull": pull}
            })),
            None => not_found(),
        },
        _ => not_found(),
    }
}
