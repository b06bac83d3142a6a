//! Credentials in the `Authorization` header: bearer ID tokens from the real provider
//! (`skip_jwt_bearer_tokens`, `extra_jwt_issuers`, `bearer_token_login_fallback`) and htpasswd
//! users (Basic auth and the sign-in form, with the file changed while running).

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::support::browser::Browser;
use crate::support::op::Op;
use crate::support::{Gate, free_port, gate, header, plain_config, send};

/// A provider, and a Gatehouse accepting its ID tokens as bearer tokens (and handing them out
/// on `/oauth2/auth` with `set_authorization_header`, which is how the test obtains one).
async fn bearer_setup(extra: &str) -> (Op, Gate, String, u16) {
    let port = free_port();
    let metrics = free_port();
    let op = Op::start(
        json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}]}),
    );
    let cfg = format!(
        "skip_jwt_bearer_tokens = true\nset_xauthrequest = true\nset_authorization_header = true\nmetrics_address = \"127.0.0.1:{metrics}\"\n{extra}"
    );
    let gate = Gate::start(&plain_config(&op.issuer, port, &cfg), &[], "localhost");
    gate.wait_ready().await;
    let mut browser = Browser::new(None);
    let r = browser.login(&gate.url("/oauth2/start?rd=/"), "alice").await;
    assert_eq!(r.status, 302, "{}", r.body);
    let r = browser.get(&gate.url("/oauth2/auth")).await;
    assert_eq!(r.status, 202);
    let token = r.header("authorization").and_then(|v| v.strip_prefix("Bearer ")).expect("set_authorization_header").to_string();
    (op, gate, token, metrics)
}

async fn check(gate: &Gate, authorization: &str) -> (u16, Vec<(String, String)>) {
    let (status, headers, _) = send("GET", &gate.url("/oauth2/auth"), &[("Authorization", authorization)]).await;
    (status, headers)
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

async fn counter(metrics_port: u16, series: &str) -> u64 {
    let (_, _, body) = send("GET", &format!("http://127.0.0.1:{metrics_port}/metrics"), &[]).await;
    body.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}

async fn tampered(op: &Op, token: &str, mode: &str) -> String {
    let r = op.control("POST", "tamper-token", json!({"token": token, "mode": mode})).await;
    r["token"].as_str().unwrap_or_else(|| panic!("tamper {mode}: {r}")).to_string()
}

const REFUSED: [&str; 7] = ["expired", "wrong_aud", "wrong_iss", "alg_none", "hs256_confusion", "bad_sig", "unknown_kid"];

/// Also lua-resty-openidc's bearer advisories (#485 JWE confusion, #513 invalid bearer → 500,
/// unsupported algorithms accepted): each case is a 401 here.
#[actix_web::test]
async fn bearer_id_tokens_authenticate_without_a_cookie_and_are_verified_once() {
    let (op, gate, token, metrics) = bearer_setup("").await;

    let (status, headers) = check(&gate, &format!("Bearer {token}")).await;
    assert_eq!(status, 202);
    assert_eq!(header(&headers, "x-auth-request-user"), Some("alice"));
    assert_eq!(header(&headers, "x-auth-request-email"), Some("alice@example.com"));
    assert!(header(&headers, "set-cookie").is_none(), "a bearer session is never saved");

    // oauth2-proxy's Basic forms: the JWT as the user (empty or x-oauth-basic password), or as
    // the password.
    for auth in [basic(&token, ""), basic(&token, "x-oauth-basic"), basic("anyone", &token)] {
        let (status, headers) = check(&gate, &auth).await;
        assert_eq!(status, 202, "{auth:.20}");
        assert_eq!(header(&headers, "x-auth-request-user"), Some("alice"));
    }
    for _ in 0..20 {
        assert_eq!(check(&gate, &format!("Bearer {token}")).await.0, 202);
    }
    // 24 accepted requests with one token: one signature check, the rest from memory.
    assert_eq!(counter(metrics, "gatehouse_bearer_tokens_total{result=\"verified\"}").await, 1);
    assert_eq!(counter(metrics, "gatehouse_bearer_tokens_total{result=\"cached\"}").await, 23);

    for mode in REFUSED {
        let bad = tampered(&op, &token, mode).await;
        let (status, headers) = check(&gate, &format!("Bearer {bad}")).await;
        assert_eq!(status, 401, "{mode} must be refused");
        assert!(header(&headers, "x-auth-request-user").is_none());
    }
    // lua-resty-openidc (#485, #513, accept_unsupported_alg): a JWE-wrapped token, an
    // algorithm nobody supports, an opaque access token, `none` without a signature, a
    // lower-case scheme, two spaces: all 401, never a 500 and never a pass.
    let (h, rest) = token.split_once('.').unwrap();
    let odd_alg =
        format!("{}.{rest}", STANDARD.encode(r#"{"alg":"RS1","kid":"x"}"#).trim_end_matches('=').replace('+', "-").replace('/', "_"));
    let jwe = format!("{h}.{rest}.AAAA.BBBB");
    assert!(h.starts_with("ey"));
    for auth in [
        format!("Bearer {jwe}"),
        format!("Bearer {odd_alg}"),
        "Bearer not-a-jwt".to_string(),
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".to_string(),
        "bearer x".to_string(),
        format!("Bearer  {token}"),
    ] {
        let auth = auth.as_str();
        assert_eq!(check(&gate, auth).await.0, 401, "{auth:.30}");
    }
    assert_eq!(counter(metrics, "gatehouse_bearer_tokens_total{result=\"verified\"}").await, 1, "refusals are never remembered");
}

#[actix_web::test]
async fn without_login_fallback_an_invalid_bearer_token_is_403_even_with_a_session() {
    let (op, gate, token, _) = bearer_setup("bearer_token_login_fallback = false\n").await;
    assert_eq!(check(&gate, &format!("Bearer {token}")).await.0, 202);
    for mode in ["expired", "wrong_aud", "hs256_confusion"] {
        let bad = tampered(&op, &token, mode).await;
        assert_eq!(check(&gate, &format!("Bearer {bad}")).await.0, 403, "{mode}");
    }
    // No token at all is still an ordinary 401.
    assert_eq!(send("GET", &gate.url("/oauth2/auth"), &[]).await.0, 401);
}

/// mod_auth_openidc GHSA-wcvh-g65p-v576: locally verified JWTs not bound to an audience, with
/// `exp` optional. Here every issuer's tokens need its audience, `exp` and `iss`.
#[actix_web::test]
async fn mod_auth_openidc_ghsa_wcvh_g65p_v576_extra_issuers_need_their_audience_exp_and_iss() {
    let other = Op::start(json!({}));
    let (op, gate, _, _) = bearer_setup(&format!("extra_jwt_issuers = [\"{}=api\"]\n", other.issuer)).await;

    let svc = sign(&other, json!({"sub": "svc-1", "aud": "api", "email": "svc@example.com", "groups": ["robots"]})).await;
    let (status, headers) = check(&gate, &format!("Bearer {svc}")).await;
    assert_eq!(status, 202);
    assert_eq!(header(&headers, "x-auth-request-user"), Some("svc-1"));
    assert_eq!(header(&headers, "x-auth-request-email"), Some("svc@example.com"));
    assert_eq!(header(&headers, "x-auth-request-groups"), Some("robots"));

    // Without an email, the subject stands in (email_domains = * allows it).
    let bare = sign(&other, json!({"sub": "svc-2", "aud": "api"})).await;
    assert_eq!(header(&check(&gate, &format!("Bearer {bare}")).await.1, "x-auth-request-email"), Some("svc-2"));

    for (why, token) in [
        ("another audience", sign(&other, json!({"sub": "x", "aud": "not-api"})).await),
        ("the login client as audience", sign(&other, json!({"sub": "x", "aud": "gatehouse"})).await),
        ("expired", sign(&other, json!({"sub": "x", "aud": "api", "iat": 1_000_000_000, "exp": 1_000_000_100})).await),
        ("no exp", sign(&other, json!({"sub": "x", "aud": "api", "exp": null})).await),
        ("the login provider with the extra audience", sign(&op, json!({"sub": "x", "aud": "api"})).await),
        ("an issuer nobody configured", sign(&other, json!({"sub": "x", "aud": "api", "iss": "https://elsewhere.example"})).await),
    ] {
        assert_eq!(check(&gate, &format!("Bearer {token}")).await.0, 401, "{why}");
    }
}

/// A token `op` really signs, with `claims`.
async fn sign(op: &Op, claims: Value) -> String {
    op.control("POST", "sign", json!({ "claims": claims })).await["token"].as_str().unwrap().to_string()
}

/// An htpasswd file: alice with `{SHA}` (`secret`), bob with bcrypt (`hunter2`).
fn htpasswd_text(users: &[(&str, &str)]) -> String {
    users
        .iter()
        .map(|(u, p)| {
            if *u == "alice" {
                format!("{u}:{{SHA}}5en6G6MezRroT3XKqkdPOmY/BfQ=\n")
            } else {
                format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap())
            }
        })
        .collect()
}

async fn wait_for(mut cond: impl AsyncFnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond().await {
        assert!(Instant::now() < deadline, "{what}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn htpasswd_users_sign_in_by_basic_auth_and_by_the_form_and_file_changes_apply() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.htpasswd");
    std::fs::write(&file, htpasswd_text(&[("alice", "secret"), ("bob", "hunter2")])).unwrap();
    let g = gate(&format!("htpasswd_file = \"{}\"\nhtpasswd_user_groups = [\"local\"]\nset_xauthrequest = true\n", file.display()));

    let (status, headers) = check(&g, &basic("alice", "secret")).await;
    assert_eq!(status, 202);
    assert_eq!(header(&headers, "x-auth-request-user"), Some("alice"));
    assert_eq!(header(&headers, "x-auth-request-groups"), Some("local"));
    assert!(header(&headers, "set-cookie").is_none());
    assert_eq!(check(&g, &basic("bob", "hunter2")).await.0, 202);
    for (u, p) in [("alice", "Secret"), ("bob", "hunter3"), ("carol", "x"), ("", "")] {
        assert_eq!(check(&g, &basic(u, p)).await.0, 401, "{u}:{p}");
    }

    // The form: shown on the sign-in page, then posted.
    let (status, _, page) = send("GET", &g.url("/oauth2/sign_in?rd=/app"), &[]).await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"password\"") && page.contains("<label for=\"username\">"), "{page}");
    let post = |form: &'static str| {
        let url = g.url("/oauth2/sign_in");
        async move {
            let client = awc::Client::builder().disable_redirects().finish();
            let mut res = client.post(url).content_type("application/x-www-form-urlencoded").send_body(form).await.unwrap();
            let cookie = res
                .headers()
                .get_all("set-cookie")
                .filter_map(|v| v.to_str().ok()?.strip_prefix("_oauth2_proxy=")?.split(';').next().map(str::to_string))
                .find(|v| !v.is_empty());
            let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_string());
            let body = String::from_utf8_lossy(&res.body().await.unwrap()).into_owned();
            (res.status().as_u16(), location, cookie, body)
        }
    };
    let (status, location, cookie, _) = post("username=bob&password=hunter2&rd=%2Fapp%3Fx%3D1").await;
    assert_eq!((status, location.as_deref()), (302, Some("/app?x=1")));
    let cookie = format!("_oauth2_proxy={}", cookie.expect("a session cookie"));
    let (status, headers, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &cookie)]).await;
    assert_eq!(status, 202);
    assert_eq!(header(&headers, "x-auth-request-user"), Some("bob"));
    let (status, _, _, body) = post("username=&password=x").await;
    assert_eq!(status, 400);
    assert!(body.contains("Enter a username"));
    let (status, _, cookie_set, body) = post("username=bob&password=wrong&rd=/app").await;
    assert_eq!((status, cookie_set.as_deref().unwrap_or("")), (401, ""), "a failed form sets no session");
    assert!(body.contains("not right"));
    let (status, location, _, _) = post("username=bob&password=hunter2&rd=https%3A%2F%2Fevil.example%2F").await;
    assert_eq!((status, location.as_deref()), (302, Some("/")), "the form's rd is validated like every other");

    // The file changes: bob is removed, carol added. No restart.
    std::fs::write(&file, htpasswd_text(&[("alice", "secret"), ("carol", "pw")])).unwrap();
    wait_for(async || check(&g, &basic("carol", "pw")).await.0 == 202, "carol is accepted after the file changed").await;
    assert_eq!(check(&g, &basic("bob", "hunter2")).await.0, 401, "bob's Basic auth stops");
    let (status, _, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &cookie)]).await;
    assert_eq!(status, 401, "bob's form session ends with his entry");

    // A broken file keeps the last good users.
    std::fs::write(&file, "carol:plaintext\n").unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(check(&g, &basic("carol", "pw")).await.0, 202);
}

#[actix_web::test]
async fn htpasswd_users_meet_allowed_groups_and_the_form_can_be_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users");
    std::fs::write(&file, htpasswd_text(&[("alice", "secret")])).unwrap();
    let g = gate(&format!("htpasswd_file = \"{}\"\nallowed_groups = [\"admins\"]\ndisplay_htpasswd_form = false\n", file.display()));
    assert_eq!(check(&g, &basic("alice", "secret")).await.0, 401, "htpasswd users have no groups unless given");
    let (_, _, page) = send("GET", &g.url("/oauth2/sign_in"), &[]).await;
    assert!(!page.contains("password"), "display_htpasswd_form = false hides the form");

    let g = gate(&format!("htpasswd_file = \"{}\"\nallowed_groups = [\"admins\"]\nhtpasswd_user_groups = [\"admins\"]\n", file.display()));
    assert_eq!(check(&g, &basic("alice", "secret")).await.0, 202);
}

#[test]
fn a_broken_htpasswd_file_stops_the_start_with_every_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users");
    std::fs::write(&file, "alice:$apr1$x$y\nbob\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["--config", "tests/fixtures/config/valid/minimal.cfg", "--http-address=127.0.0.1:0"])
        .arg(format!("--htpasswd-file={}", file.display()))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1 (user alice): only bcrypt"), "{err}");
    assert!(err.contains("line 2 is not user:hash"), "{err}");
    assert!(!err.contains("$apr1$x$y"), "hashes are not echoed: {err}");
}
