//! OpenID Connect login against the real provider (npm `oidc-provider`), plain and
//! WSO2-shaped, driven like a browser.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::browser::Browser;
use crate::support::op::{Op, tutorial_cert};
use crate::support::{Gate, fixture, free_port, plain_config};

fn client(port: u16, require_pkce: bool) -> Value {
    json!({"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")], "require_pkce": require_pkce})
}

/// A plain-HTTP provider and a Gatehouse in front of it. `op_extra` merges into the provider's
/// config; `gate_extra` is appended to Gatehouse's.
pub(crate) fn plain(op_extra: Value, gate_extra: &str) -> (Op, Gate) {
    let port = free_port();
    let mut cfg = json!({"clients": [client(port, true)]});
    if let (Some(base), Some(extra)) = (cfg.as_object_mut(), op_extra.as_object()) {
        base.extend(extra.clone());
    }
    let op = Op::start(cfg);
    let gate = Gate::start(&plain_config(&op.issuer, port, gate_extra), &[], "localhost");
    (op, gate)
}

/// The tutorial's file with only ports, client credentials, cookie secret and CA substituted.
pub(crate) fn tutorial(op: &Op, port: u16, ca_line: &str) -> String {
    std::fs::read_to_string(fixture("tutorial/oauth2-proxy.cfg"))
        .unwrap()
        .replace("https://localhost:9443", &op.origin())
        .replace("localhost:4180", &format!("localhost:{port}"))
        .replace("127.0.0.1:4180", &format!("127.0.0.1:{port}"))
        + ca_line
}

/// The tutorial's WSO2-shaped provider (HTTPS, issuer `…/oauth2/token`), its client given
/// `client_extra` fields too.
pub(crate) fn wso2_op_with(port: u16, client_extra: Value) -> Op {
    let (cert, key) = tutorial_cert();
    let mut client = json!({"client_id": "oauth2-proxy-app", "client_secret": "tutorial-client-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")], "require_pkce": true});
    if let (Some(c), Some(extra)) = (client.as_object_mut(), client_extra.as_object()) {
        c.extend(extra.clone());
    }
    Op::start(json!({"shape": "wso2", "tls": {"cert": cert, "key": key}, "clients": [client]}))
}

fn wso2_op(port: u16) -> Op {
    wso2_op_with(port, json!({}))
}

fn start_url(gate: &Gate, rd: &str) -> String {
    let rd: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
    gate.url(&format!("/oauth2/start?rd={rd}"))
}

async fn userinfo(browser: &mut Browser, gate: &Gate) -> (u16, Value) {
    let r = browser.get(&gate.url("/oauth2/userinfo")).await;
    (r.status, serde_json::from_str(&r.body).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn tutorial_config_logs_alice_in_through_a_wso2_shaped_provider() {
    let port = free_port();
    let op = wso2_op(port);
    assert!(op.issuer.ends_with("/oauth2/token"), "WSO2's issuer form: {}", op.issuer);
    let (cert, _) = tutorial_cert();
    let gate = Gate::start(&tutorial(&op, port, &format!("provider_ca_files = [\"{}\"]\n", cert.display())), &[], "localhost");
    gate.wait_ready().await;

    let mut browser = Browser::new(op.ca.as_deref());
    let resp = browser.login(&start_url(&gate, "/app/page?x=1&y=2"), "alice").await;
    assert_eq!(resp.status, 302, "{}", resp.body);
    assert_eq!(resp.header("location"), Some("/app/page?x=1&y=2"));
    assert!(browser.cookie("_oauth2_proxy").is_some());
    assert!(browser.cookie("_oauth2_proxy_csrf").is_none(), "the CSRF cookie is cleared after login");

    let (status, info) = userinfo(&mut browser, &gate).await;
    assert_eq!(status, 200);
    // user_id_claim = "username": the email field is the `username` claim.
    assert_eq!(info, json!({"user": "alice", "email": "alice@wso2.example", "groups": ["admins", "users"], "preferredUsername": "alice"}));

    let stats = op.control("GET", "stats", Value::Null).await;
    assert_eq!(stats["grants"]["authorization_code"]["ok"], 1);
    assert_eq!(stats["last_token_request"]["had_code_verifier"], true, "PKCE verifier sent");
}

#[actix_web::test]
async fn ssl_cert_file_trusts_the_self_signed_provider() {
    let port = free_port();
    let op = wso2_op(port);
    let (cert, _) = tutorial_cert();
    let cert = cert.display().to_string();
    let gate = Gate::start(&tutorial(&op, port, ""), &[("SSL_CERT_FILE", cert.as_str())], "localhost");
    gate.wait_ready().await;
    let mut browser = Browser::new(op.ca.as_deref());
    let resp = browser.login(&start_url(&gate, "/"), "alice").await;
    assert_eq!(resp.status, 302, "{}", resp.body);
    assert_eq!(userinfo(&mut browser, &gate).await.0, 200);
}

#[actix_web::test]
async fn an_untrusted_provider_certificate_keeps_gatehouse_not_ready() {
    let port = free_port();
    let op = wso2_op(port);
    let gate = Gate::start(&tutorial(&op, port, ""), &[], "localhost");
    actix_web::rt::time::sleep(Duration::from_millis(700)).await;
    let mut browser = Browser::new(None);
    let r = browser.get(&gate.url("/oauth2/start")).await;
    assert_eq!(r.status, 503, "no trust, no discovery: {}", r.body);
}

#[actix_web::test]
async fn a_provider_requiring_pkce_refuses_a_login_without_it() {
    let port = free_port();
    let op = Op::start(json!({"clients": [client(port, true)]}));
    let text = plain_config(&op.issuer, port, "").replace("code_challenge_method = \"S256\"\n", "");
    let gate = Gate::start(&text, &[], "localhost");
    gate.wait_ready().await;
    let mut browser = Browser::new(None);
    let resp = browser.login(&start_url(&gate, "/"), "alice").await;
    assert_eq!(resp.status, 403, "the provider's error reaches the callback: {}", resp.body);
    assert!(browser.cookie("_oauth2_proxy").is_none());
}

#[actix_web::test]
async fn csrf_and_state_are_checked_and_a_callback_cannot_be_replayed() {
    let (op, gate) = plain(json!({}), "");
    gate.wait_ready().await;

    // A callback with a state this browser never started.
    let mut stranger = Browser::new(None);
    let r = stranger.get(&gate.url("/oauth2/callback?code=abc&state=AAAA%3A%2F")).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("CSRF"), "{}", r.body);

    // State mismatch: a real CSRF cookie, another state.
    let mut b = Browser::new(None);
    let start = b.get(&start_url(&gate, "/")).await;
    assert_eq!(start.status, 302);
    let r = b.get(&gate.url("/oauth2/callback?code=abc&state=bm90LXRoZS1oYXNo%3A%2F")).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("CSRF token mismatch"), "{}", r.body);

    // Duplicated parameters are refused outright.
    let r = b.get(&gate.url("/oauth2/callback?code=a&code=b&state=x%3A%2F")).await;
    assert_eq!(r.status, 400);

    // The provider's error.
    let r = b.get(&gate.url("/oauth2/callback?error=access_denied&state=x%3A%2F")).await;
    assert_eq!(r.status, 403);

    // Missing CSRF cookie: the login completes at the provider, but the callback is refused.
    let mut b = Browser::new(None);
    let first = b.get(&start_url(&gate, "/")).await;
    b.remove_cookie("_oauth2_proxy_csrf");
    let resp = b.login(first.location().unwrap().as_str(), "alice").await;
    assert_eq!(resp.status, 403);
    assert!(b.cookie("_oauth2_proxy").is_none());

    // Replay: a successful callback URL used again.
    let mut b = Browser::new(None);
    let resp = b.login(&start_url(&gate, "/"), "alice").await;
    assert_eq!(resp.status, 302);
    let replay = b.get(resp.url.as_str()).await;
    assert_eq!(replay.status, 403, "replayed callback: {}", replay.body);
    drop(op);
}

#[actix_web::test]
async fn tampered_id_tokens_are_refused_and_make_no_session() {
    let (op, gate) = plain(json!({}), "insecure_oidc_skip_nonce = false\n");
    gate.wait_ready().await;
    for mode in ["wrong_aud", "wrong_iss", "expired", "bad_sig", "alg_none", "unknown_kid", "hs256_confusion", "wrong_nonce"] {
        let set = op.control("POST", "tamper", json!({"mode": mode})).await;
        assert_eq!(set["ok"], true, "{set}");
        let mut b = Browser::new(None);
        let resp = b.login(&start_url(&gate, "/"), "alice").await;
        assert_eq!(resp.status, 403, "{mode}: {}", resp.body);
        assert!(b.cookie("_oauth2_proxy").is_none(), "{mode} made a session");
        assert_eq!(userinfo(&mut b, &gate).await.0, 401, "{mode}");
    }
    let stats = op.control("GET", "stats", Value::Null).await;
    assert_eq!(stats["tampered"].as_array().unwrap().len(), 8, "{stats}");
}

#[actix_web::test]
async fn a_rotated_signing_key_is_fetched_when_a_token_names_it() {
    let metrics = free_port();
    let (op, gate) = plain(json!({}), &format!("metrics_address = \"127.0.0.1:{metrics}\"\n"));
    gate.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302);
    op.control("POST", "rotate-keys", json!({})).await;
    let mut b = Browser::new(None);
    let resp = b.login(&start_url(&gate, "/"), "alice").await;
    assert_eq!(resp.status, 302, "new kid after rotation: {}", resp.body);
    // The refetch is counted (and the initial load is not a refetch).
    let text = b.get(&format!("http://127.0.0.1:{metrics}/metrics")).await.body;
    assert!(text.contains("gatehouse_jwks_refreshes_total{result=\"ok\"} 1"), "{text}");
}

#[actix_web::test]
async fn login_policy_email_verified_domains_and_groups() {
    let (_op, gate) = plain(json!({}), "allowed_groups = [\"admins\"]\n");
    gate.wait_ready().await;
    let mut eve = Browser::new(None);
    assert_eq!(eve.login(&start_url(&gate, "/"), "eve").await.status, 403, "unverified email");
    let mut bob = Browser::new(None);
    assert_eq!(bob.login(&start_url(&gate, "/"), "bob").await.status, 403, "not in admins");
    let mut alice = Browser::new(None);
    assert_eq!(alice.login(&start_url(&gate, "/"), "alice").await.status, 302);
}

#[actix_web::test]
async fn email_domains_are_enforced_at_login() {
    let port = free_port();
    let op = Op::start(json!({"clients": [client(port, true)]}));
    let gate = Gate::start(
        &plain_config(&op.issuer, port, "").replace("email_domains = [\"*\"]", "email_domains = [\"example.com\"]"),
        &[],
        "localhost",
    );
    gate.wait_ready().await;
    let mut bob = Browser::new(None);
    assert_eq!(bob.login(&start_url(&gate, "/"), "bob").await.status, 403, "example.org is not allowed");
    let mut alice = Browser::new(None);
    assert_eq!(alice.login(&start_url(&gate, "/"), "alice").await.status, 302);
}

#[actix_web::test]
async fn missing_claims_come_from_userinfo() {
    let (_op, gate) = plain(json!({"claims_in_id_token": false}), "");
    gate.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302);
    let (status, info) = userinfo(&mut b, &gate).await;
    assert_eq!(status, 200);
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["groups"], json!(["admins", "users"]));
}

#[actix_web::test]
async fn tampered_and_oversized_cookies_are_no_session_and_are_cleared() {
    let (_op, gate) = plain(json!({}), "");
    gate.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302);
    let good = b.cookie("_oauth2_proxy").unwrap();

    let mut flipped = good.clone().into_bytes();
    let i = flipped.len() / 2;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    for (what, value) in [
        ("flipped byte", String::from_utf8(flipped).unwrap()),
        ("truncated", good[..good.len() - 10].to_string()),
        ("garbage", "not-a-session".to_string()),
    ] {
        b.set_cookie("_oauth2_proxy", &value);
        let r = b.get(&gate.url("/oauth2/userinfo")).await;
        assert_eq!(r.status, 401, "{what}");
        assert!(
            r.headers_named("set-cookie").iter().any(|c| c.starts_with("_oauth2_proxy=;") && c.contains("Max-Age=0")),
            "{what}: cleared: {:?}",
            r.headers
        );
        b.add_cookie("localhost", "_oauth2_proxy", &good);
    }
    let r = b.get(&gate.url("/oauth2/auth")).await;
    assert_eq!(r.status, 202, "the good cookie still works");

    // Ten thousand chunk cookies: refused (by the header limit or the chunk bound), never 2xx.
    let header: String = (0..10_000).map(|i| format!("_oauth2_proxy_{i}=x")).collect::<Vec<_>>().join("; ");
    let started = Instant::now();
    let raw = awc::Client::default().get(gate.url("/oauth2/auth")).insert_header(("Cookie", header)).send().await;
    if let Ok(res) = raw {
        assert!(!res.status().is_success(), "{}", res.status());
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[actix_web::test]
async fn sign_out_clears_the_session_and_validates_rd() {
    let (_op, gate) = plain(json!({}), "whitelist_domains = [\"app.example.com\"]\n");
    gate.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302);
    let r = b.get(&gate.url("/oauth2/sign_out?rd=https%3A%2F%2Fevil.example%2F")).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/"), "a foreign rd becomes /");
    assert!(b.cookie("_oauth2_proxy").is_none());
    assert_eq!(userinfo(&mut b, &gate).await.0, 401);

    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302);
    let r = b.get(&gate.url("/oauth2/sign_out?rd=https%3A%2F%2Fapp.example.com%2Fbye")).await;
    assert_eq!(r.header("location"), Some("https://app.example.com/bye"), "a whitelisted rd is kept");
}

#[actix_web::test]
async fn a_provider_down_at_start_gives_503_then_works_without_restart() {
    let port = free_port();
    let op_port = free_port();
    let issuer = format!("http://localhost:{op_port}");
    let gate = Gate::start(&plain_config(&issuer, port, ""), &[], "localhost");
    let mut b = Browser::new(None);
    let r = b.get(&start_url(&gate, "/")).await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("not reachable yet"), "{}", r.body);

    let _op = Op::start(json!({"port": op_port, "clients": [client(port, true)]}));
    gate.wait_ready().await;
    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302);
}

#[actix_web::test]
async fn concurrent_requests_refresh_once_and_a_revoked_refresh_token_ends_the_session() {
    let (op, gate) = plain(json!({"access_token_ttl": 60, "rotate_refresh_tokens": true}), "cookie_refresh = \"1s\"\n");
    gate.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302);
    let cookie = format!("_oauth2_proxy={}", b.cookie("_oauth2_proxy").unwrap());
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (url, cookie) = (gate.url("/oauth2/userinfo"), cookie.clone());
        tasks.push(actix_web::rt::spawn(async move {
            let res = awc::Client::default().get(url).insert_header(("Cookie", cookie)).send().await.unwrap();
            let refreshed = res.headers().get_all("set-cookie").any(|v| v.to_str().unwrap_or("").starts_with("_oauth2_proxy="));
            (res.status().as_u16(), refreshed)
        }));
    }
    for t in tasks {
        let (status, refreshed) = t.await.unwrap();
        assert_eq!(status, 200);
        assert!(refreshed, "every response carries the refreshed cookie");
    }
    let (_, refresh_ok, refresh_failed) = op.grants().await;
    assert_eq!((refresh_ok, refresh_failed), (1, 0), "exactly one refresh grant for 20 concurrent requests");

    // The browser takes the refreshed cookie; then the provider revokes every refresh token.
    let r = b.get(&gate.url("/oauth2/userinfo")).await;
    assert_eq!(r.status, 200);
    op.control("POST", "revoke-refresh-tokens", json!({})).await;
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    let r = b.get(&gate.url("/oauth2/userinfo")).await;
    assert_eq!(r.status, 401, "a revoked refresh token ends the session");
    assert!(b.cookie("_oauth2_proxy").is_none(), "and the cookie is cleared");
}

#[actix_web::test]
async fn skip_oidc_discovery_uses_the_configured_endpoints() {
    let port = free_port();
    let op = Op::start(json!({"clients": [client(port, true)]}));
    let i = &op.issuer;
    let extra = format!(
        "skip_oidc_discovery = true\nlogin_url = \"{i}/auth\"\nredeem_url = \"{i}/token\"\noidc_jwks_url = \"{i}/jwks\"\nprofile_url = \"{i}/me\"\n"
    );
    let gate = Gate::start(&plain_config(i, port, &extra), &[], "localhost");
    gate.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302);
    assert_eq!(userinfo(&mut b, &gate).await.1["email"], "alice@example.com");
}

#[actix_web::test]
async fn ssl_insecure_skip_verify_reaches_an_untrusted_provider() {
    let port = free_port();
    let op = wso2_op(port);
    let gate = Gate::start(&tutorial(&op, port, "ssl_insecure_skip_verify = true\n"), &[], "localhost");
    gate.wait_ready().await;
    let mut b = Browser::new(op.ca.as_deref());
    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302);
}

#[actix_web::test]
async fn es256_tokens_and_extra_audiences() {
    let (op, gate) = plain(json!({"signing_alg": "ES256"}), "oidc_extra_audiences = [\"someone-else\"]\n");
    gate.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302, "ES256");
    // The provider now sends aud = "someone-else", which this configuration accepts.
    op.control("POST", "tamper", json!({"mode": "wrong_aud"})).await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302, "extra audience accepted");
}

#[actix_web::test]
async fn authenticated_emails_file_allows_listed_users_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("emails.txt");
    std::fs::write(&file, "# allowed\nBob@Example.org\n").unwrap();
    let port = free_port();
    let op = Op::start(json!({"clients": [client(port, true)]}));
    let text = plain_config(&op.issuer, port, &format!("authenticated_emails_file = \"{}\"\n", file.display()))
        .replace("email_domains = [\"*\"]\n", "");
    let gate = Gate::start(&text, &[], "localhost");
    gate.wait_ready().await;
    let mut bob = Browser::new(None);
    assert_eq!(bob.login(&start_url(&gate, "/"), "bob").await.status, 302, "listed (case-insensitive)");
    let mut alice = Browser::new(None);
    assert_eq!(alice.login(&start_url(&gate, "/"), "alice").await.status, 403, "not listed");
    assert_eq!(bob.get(&gate.url("/oauth2/auth")).await.status, 202);

    // Editing the file takes effect without a restart, for new logins and live sessions.
    std::fs::write(&file, "alice@example.com\n").unwrap();
    let mut status = 0;
    for _ in 0..50 {
        status = bob.get(&gate.url("/oauth2/auth")).await.status;
        if status != 202 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // As oauth2-proxy does: a session whose email is no longer allowed is removed (401).
    assert_eq!(status, 401, "bob's session is refused once he is taken off the list");
    let mut alice = Browser::new(None);
    assert_eq!(alice.login(&start_url(&gate, "/"), "alice").await.status, 302, "alice, newly listed");

    // A file that cannot be read keeps the last good list (alice stays in, bob out).
    std::fs::remove_file(&file).unwrap();
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(alice.get(&gate.url("/oauth2/auth")).await.status, 202);
    assert_eq!(bob.get(&gate.url("/oauth2/auth")).await.status, 401);
}

#[actix_web::test]
async fn sign_in_page_and_skip_provider_button() {
    let (_op, gate) = plain(json!({}), "provider_display_name = \"WSO2 <Identity> Server\"\n");
    gate.wait_ready().await;
    let mut b = Browser::new(None);
    b.add_cookie("localhost", "_oauth2_proxy", "an-old-session");
    let page = b.get(&gate.url("/oauth2/sign_in?rd=%2Fapp")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign in with WSO2 &lt;Identity&gt; Server"), "{}", page.body);
    assert!(page.body.contains("action=\"/oauth2/start\"") && page.body.contains("value=\"/app\""));
    assert!(b.cookie("_oauth2_proxy").is_none(), "an old session cookie is cleared at sign-in");
    assert_eq!(page.header("cache-control"), Some("no-cache, no-store, must-revalidate, max-age=0"));

    let (op2, gate2) = plain(json!({}), "skip_provider_button = true\n");
    gate2.wait_ready().await;
    let r = b.get(&gate2.url("/oauth2/sign_in")).await;
    assert_eq!(r.status, 302);
    assert!(r.header("location").unwrap().starts_with(&format!("{}/auth?", op2.issuer)));
}

#[actix_web::test]
async fn sign_out_substitutes_the_id_token_and_calls_the_backend_logout_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = listener.local_addr().unwrap();
    let seen = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 8192];
        let n = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
        String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_string()
    });
    let extra = format!("backend_logout_url = \"http://{backend}/logout?token={{id_token}}\"\nwhitelist_domains = [\"idp.example.com\"]\n");
    let (_op, gate) = plain(json!({}), &extra);
    gate.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&start_url(&gate, "/"), "alice").await.status, 302);
    let rd: String = url::form_urlencoded::byte_serialize(b"https://idp.example.com/logout?id_token_hint={id_token}").collect();
    let r = b.get(&gate.url(&format!("/oauth2/sign_out?rd={rd}"))).await;
    assert_eq!(r.status, 302);
    let location = r.header("location").unwrap();
    assert!(location.starts_with("https://idp.example.com/logout?id_token_hint=ey"), "{location}");
    let request_line = seen.join().unwrap();
    assert!(request_line.starts_with("GET /logout?token=ey"), "{request_line}");
}

#[actix_web::test]
async fn per_request_csrf_cookies_are_capped() {
    let (_op, gate) = plain(json!({}), "cookie_csrf_per_request = true\ncookie_csrf_per_request_limit = 2\n");
    gate.wait_ready().await;
    let mut b = Browser::new(None);
    for _ in 0..4 {
        assert_eq!(b.get(&start_url(&gate, "/")).await.status, 302);
    }
    let csrf: Vec<String> = b.cookie_names().into_iter().filter(|n| n.ends_with("_csrf")).collect();
    assert_eq!(csrf.len(), 2, "at most 2 live CSRF cookies: {csrf:?}");
    // Two tabs: both logins complete, each with its own CSRF cookie.
    let mut b = Browser::new(None);
    let tab1 = b.get(&start_url(&gate, "/one")).await.location().unwrap();
    let tab2 = b.get(&start_url(&gate, "/two")).await.location().unwrap();
    let r1 = b.login(tab1.as_str(), "alice").await;
    let r2 = b.login(tab2.as_str(), "alice").await;
    assert_eq!((r1.status, r1.header("location")), (302, Some("/one")));
    assert_eq!((r2.status, r2.header("location")), (302, Some("/two")));
}

/// `oidc_rp_initiated_logout`: sign-out ends the session here and sends the browser to the
/// provider's discovered `end_session_endpoint` with the session's ID token as the hint, our
/// client ID, the validated `rd` as `post_logout_redirect_uri` and a `state`; the provider
/// signs alice out (its next login asks for her password again) and returns to that URL. An
/// off-site `rd` is refused like any redirect: the provider is asked to return to `/`.
#[actix_web::test]
async fn rp_initiated_logout_signs_out_at_the_provider_and_comes_back() {
    let port = free_port();
    let op = Op::start(json!({"clients": [{
        "client_id": "gatehouse", "client_secret": "gatehouse-secret",
        "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")],
        "post_logout_redirect_uris": [format!("http://localhost:{port}/goodbye")]
    }]}));
    let g = Gate::start(&plain_config(&op.issuer, port, "oidc_rp_initiated_logout = true\n"), &[], "localhost");
    g.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);

    let out = b.get(&g.url("/oauth2/sign_out?rd=/goodbye")).await;
    assert_eq!(out.status, 302);
    let to_provider = out.location().unwrap();
    assert!(to_provider.as_str().starts_with(&format!("{}/session/end?", op.issuer)), "{to_provider}");
    let param = |name: &str| to_provider.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let hint = param("id_token_hint").expect("an id_token_hint");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, hint.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "alice", "the hint is alice's ID token");
    assert_eq!(param("client_id").as_deref(), Some("gatehouse"));
    let after = format!("http://localhost:{port}/goodbye");
    assert_eq!(param("post_logout_redirect_uri").as_deref(), Some(after.as_str()));
    let sent_state = param("state").expect("a state");
    assert_eq!(b.get(&g.url("/oauth2/auth")).await.status, 401, "signed out here first");

    // The provider's confirmation page, confirmed as a person would.
    let page = b.get(to_provider.as_str()).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let xsrf =
        page.body.split("name=\"xsrf\" value=\"").nth(1).and_then(|v| v.split('"').next()).expect("the confirmation form").to_string();
    let action = page.body.split("action=\"").nth(1).and_then(|v| v.split('"').next()).unwrap().to_string();
    let confirmed = b.request("POST", &action, Some(&[("xsrf", &xsrf), ("logout", "yes")]), &[]).await;
    let back = confirmed.location().expect("the provider sends the browser back");
    assert_eq!(back.as_str(), format!("{after}?state={sent_state}"));

    // Signed out at the provider too: the next login asks for the password again.
    let start = b.get(&g.url("/oauth2/start?rd=/")).await;
    let mut at_provider = b.get(start.location().unwrap().as_str()).await;
    while let Some(next) = at_provider.location().filter(|_| (300..400).contains(&at_provider.status)) {
        at_provider = b.get(next.as_str()).await;
    }
    assert!(at_provider.body.contains("name=\"login\""), "the provider asks alice to sign in again: {}", at_provider.body);

    // An off-site rd is refused before the provider sees it.
    let mut b2 = Browser::new(None);
    assert_eq!(b2.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    let out = b2.get(&g.url("/oauth2/sign_out?rd=https://evil.example/x")).await;
    let to_provider = out.location().unwrap();
    let after = to_provider.query_pairs().find(|(k, _)| k == "post_logout_redirect_uri").map(|(_, v)| v.into_owned());
    assert_eq!(after, Some(format!("http://localhost:{port}/")), "{to_provider}");
}

/// A refresh token the provider revoked through its own revocation endpoint (RFC 7009, as an
/// administrator or the user's "sign out everywhere" would) ends the session at its next
/// refresh: 401, and the cookie cleared.
#[actix_web::test]
async fn a_refresh_token_revoked_at_the_provider_ends_the_session_at_its_next_refresh() {
    use gatehouse::session::jar::RequestCookies;
    use gatehouse::session::{CookieStore, Found};
    let (op, g) = plain(json!({"access_token_ttl": 60}), "cookie_refresh = \"1s\"\n");
    g.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    // The refresh token Gatehouse holds, read from the cookie with the same secret.
    let cfg = crate::support::load_text(&plain_config(&op.issuer, 1, ""), &[], vec![]).unwrap().config.session.cookie;
    let cookie = format!("_oauth2_proxy={}", b.cookie("_oauth2_proxy").unwrap());
    let Found::Valid(session) = CookieStore::new(&cfg).read(&RequestCookies::parse([cookie.as_str()])) else { panic!("the cookie opens") };
    let refresh_token = session.refresh_token.clone().expect("a refresh token");

    let revoked = awc::Client::default()
        .post(format!("{}/token/revocation", op.issuer))
        .basic_auth("gatehouse", "gatehouse-secret")
        .send_form(&[("token", refresh_token.as_str()), ("token_type_hint", "refresh_token")])
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200, "the provider's revocation endpoint took it");
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(b.get(&g.url("/oauth2/auth")).await.status, 401, "the refresh failed with invalid_grant: the session ended");
    assert!(b.cookie("_oauth2_proxy").is_none(), "and its cookie is cleared");
}

/// RP-initiated logout goes to the provider only when this site asked for it: a cross-site
/// link signs out here only (not out of the user's single sign-on), and an `rd` that already
/// names the provider's logout with `{id_token}` (oauth2-proxy's way) is followed as written.
#[actix_web::test]
async fn rp_initiated_logout_is_not_started_from_another_site_nor_twice() {
    let (op, g) = plain(json!({}), "oidc_rp_initiated_logout = true\nwhitelist_domains = [\"localhost:*\"]\n");
    g.wait_ready().await;
    let end_session = format!("{}/session/end", op.issuer);

    let mut b = Browser::new(None);
    assert_eq!(b.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    let out = b.get_with(&g.url("/oauth2/sign_out?rd=/bye"), &[("Sec-Fetch-Site", "cross-site")]).await;
    assert_eq!(out.header("location"), Some("/bye"), "a cross-site sign-out stays local");
    assert_eq!(b.get(&g.url("/oauth2/auth")).await.status, 401, "but it does sign out here");

    let mut b = Browser::new(None);
    assert_eq!(b.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    let rd: String = url::form_urlencoded::byte_serialize(format!("{end_session}?id_token_hint={{id_token}}").as_bytes()).collect();
    let out = b.get(&g.url(&format!("/oauth2/sign_out?rd={rd}"))).await;
    let location = out.header("location").unwrap_or_default().to_string();
    assert!(location.starts_with(&format!("{end_session}?id_token_hint=ey")), "the hand-written logout URL, once: {location}");
    assert!(!location.contains("post_logout_redirect_uri"), "{location}");
}
