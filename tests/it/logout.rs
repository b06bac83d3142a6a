//! Ending sessions from the provider's side: OpenID Connect Back-Channel Logout with the real
//! provider's feature turned on, across instances sharing Redis and a cookie-only instance,
//! and every logout token the spec says to refuse.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::login::{tutorial, wso2_op_with};
use crate::support::browser::Browser;
use crate::support::op::{Op, tutorial_cert};
use crate::support::redis::Redis;
use crate::support::{Gate, free_port, header, plain_config, send};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A client of the test provider whose logout tokens go to the first port's Gatehouse.
fn client(id: &str, ports: &[u16]) -> Value {
    let uris: Vec<String> = ports.iter().map(|p| format!("http://localhost:{p}/oauth2/callback")).collect();
    json!({
        "client_id": id, "client_secret": "gatehouse-secret", "redirect_uris": uris,
        // 127.0.0.1: Node resolves `localhost` to ::1 first, where Gatehouse does not listen.
        "backchannel_logout_uri": format!("http://127.0.0.1:{}/oauth2/backchannel_logout", ports[0]),
    })
}

/// POSTs a logout token the way a provider does.
async fn post_logout(url: &str, token: &str) -> (u16, Vec<(String, String)>, String) {
    let client = awc::Client::default();
    let mut res = client.post(url).send_form(&[("logout_token", token)]).await.unwrap();
    let headers = res.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let body = String::from_utf8_lossy(&res.body().await.unwrap_or_default()).into_owned();
    (res.status().as_u16(), headers, body)
}

/// What `/oauth2/auth` answers a request carrying `cookie` (a `Cookie` header's value).
async fn check(gate: &Gate, cookie: &str) -> u16 {
    send("GET", &gate.url("/oauth2/auth"), &[("Cookie", cookie)]).await.0
}

/// Waits up to a second for `/oauth2/auth` to refuse `cookie`; returns how long it took.
async fn refused_within_a_second(gate: &Gate, cookie: &str, whose: &str) -> Duration {
    let started = Instant::now();
    loop {
        match check(gate, cookie).await {
            401 => return started.elapsed(),
            status if started.elapsed() > Duration::from_secs(1) => panic!("{whose} still answered {status} after a second"),
            _ => actix_web::rt::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Signs the browser's user out at the provider as a person would: its end-session page
/// (from discovery), confirmed with "sign out everywhere".
async fn sign_out_at_provider(browser: &mut Browser, op: &Op) {
    let discovery = browser.get(&format!("{}/.well-known/openid-configuration", op.issuer)).await;
    let meta: Value = serde_json::from_str(&discovery.body).unwrap();
    let page = browser.get(meta["end_session_endpoint"].as_str().unwrap()).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let field = |body: &str, marker: &str| body.split(marker).nth(1).and_then(|v| v.split('"').next()).map(str::to_string);
    let xsrf = field(&page.body, "name=\"xsrf\" value=\"").expect("the confirmation form");
    let action = field(&page.body, "action=\"").unwrap();
    let done = browser.request("POST", &action, Some(&[("xsrf", &xsrf), ("logout", "yes")]), &[]).await;
    assert!((200..400).contains(&done.status), "{}", done.body);
}

/// The acceptance flow: alice logged in on two instances sharing Redis and on a cookie-only
/// instance (another client of the same provider), bob on one of each. Alice signs out at the
/// provider, which sends each client a logout token: every one of her sessions is refused
/// within a second, on every instance, and bob's stay. Her next login is untouched.
#[actix_web::test]
async fn a_logout_at_the_provider_ends_alice_everywhere_and_bob_nowhere() {
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let redis = Redis::start(&[]);
    let op = Op::start(json!({"clients": [client("gatehouse", &[pa, pb]), client("gatehouse-c", &[pc])]}));
    let shared = format!("session_store_type = \"redis\"\nredis_connection_url = \"{}\"\noidc_backchannel_logout = true\n", redis.url(0));
    let a = Gate::start(&plain_config(&op.issuer, pa, &shared), &[], "localhost");
    let b = Gate::start(&plain_config(&op.issuer, pb, &shared), &[], "localhost");
    let cookie_only = plain_config(&op.issuer, pc, "oidc_backchannel_logout = true\ncookie_name = \"_gh_c\"\n")
        .replace("client_id = \"gatehouse\"", "client_id = \"gatehouse-c\"");
    let c = Gate::start(&cookie_only, &[], "localhost");
    for g in [&a, &b, &c] {
        g.wait_ready().await;
    }

    // Alice: one browser, so one provider session; a login through each instance.
    let mut alice = Browser::new(None);
    assert_eq!(alice.login(&a.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    let alice_a = alice.cookies_starting("_oauth2_proxy");
    alice.remove_cookie("_oauth2_proxy");
    assert_eq!(alice.login(&b.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    let alice_b = alice.cookies_starting("_oauth2_proxy");
    assert_ne!(alice_a, alice_b, "two sessions in Redis");
    assert_eq!(alice.login(&c.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    let alice_c = alice.cookies_starting("_gh_c");
    let mut bob = Browser::new(None);
    assert_eq!(bob.login(&a.url("/oauth2/start?rd=/"), "bob").await.status, 302);
    let bob_ab = bob.cookies_starting("_oauth2_proxy");
    assert_eq!(bob.login(&c.url("/oauth2/start?rd=/"), "bob").await.status, 302);
    let bob_c = bob.cookies_starting("_gh_c");
    for (g, cookie) in [(&a, &alice_a), (&b, &alice_a), (&a, &alice_b), (&b, &alice_b), (&c, &alice_c), (&b, &bob_ab), (&c, &bob_c)] {
        assert_eq!(check(g, cookie).await, 202, "signed in before the logout");
    }
    assert_eq!(redis.cli(&["--scan", "--pattern", "_oauth2_proxy-index-*"]).lines().count(), 4, "alice's and bob's sub and sid indexes");
    assert_eq!(redis.cli(&["--scan", "--pattern", "_oauth2_proxy-index-sid-*"]).lines().count(), 2);

    sign_out_at_provider(&mut alice, &op).await;
    let observed = op.control("GET", "observed", Value::Null).await;
    let delivered: Vec<(String, bool)> = observed["backchannel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["client"].as_str().unwrap().to_string(), d["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(delivered.len(), 2, "one logout token per client: {observed}");
    assert!(delivered.iter().all(|(_, ok)| *ok), "each answered 200: {observed}");
    assert!(observed["backchannel"].as_array().unwrap().iter().all(|d| d["sid"].is_string()), "the tokens name the provider session");

    for (g, cookie, whose) in [
        (&a, &alice_a, "alice's first Redis session on A"),
        (&b, &alice_a, "alice's first Redis session on B"),
        (&a, &alice_b, "alice's second Redis session on A"),
        (&b, &alice_b, "alice's second Redis session on B"),
        (&c, &alice_c, "alice's cookie session"),
    ] {
        refused_within_a_second(g, cookie, whose).await;
    }
    for (g, cookie) in [(&a, &bob_ab), (&b, &bob_ab), (&c, &bob_c)] {
        assert_eq!(check(g, cookie).await, 202, "bob's sessions stay");
    }
    assert_eq!(
        redis.cli(&["--scan", "--pattern", "_oauth2_proxy-index-sid-*"]).lines().count(),
        1,
        "alice's provider session is gone from the index"
    );

    // Alice signs in again: a session opened after the logout is untouched.
    let mut again = Browser::new(None);
    assert_eq!(again.login(&c.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    assert_eq!(check(&c, &again.cookies_starting("_gh_c")).await, 202);
    assert_eq!(again.login(&a.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    assert_eq!(check(&b, &again.cookies_starting("_oauth2_proxy")).await, 202);
}

/// A logout token with these claims, signed by the test provider (`sign` options too).
async fn logout_token(op: &Op, claims: Value, options: Value) -> String {
    let mut body = json!({"claims": claims, "typ": "logout+jwt"});
    if let (Some(b), Some(o)) = (body.as_object_mut(), options.as_object()) {
        b.extend(o.clone());
    }
    op.control("POST", "sign", body).await["token"].as_str().unwrap().to_string()
}

/// Every logout token the spec says to refuse is answered 400 with the spec's cache headers
/// and ends nothing; a good one ends alice's session and only once (its replay is refused).
#[actix_web::test]
async fn logout_tokens_that_are_replayed_misaddressed_nonced_foreign_or_old_end_nothing() {
    let port = free_port();
    let op = Op::start(json!({"clients": [client("gatehouse", &[port])]}));
    let g = Gate::start(&plain_config(&op.issuer, port, "oidc_backchannel_logout = true\n"), &[], "localhost");
    g.wait_ready().await;
    let mut alice = Browser::new(None);
    assert_eq!(alice.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    let session = alice.cookies_starting("_oauth2_proxy");
    let endpoint = g.url("/oauth2/backchannel_logout");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let good = |jti: &str| json!({"aud": "gatehouse", "sub": "alice", "jti": jti, "events": {EVENT: {}}});
    let with = |jti: &str, k: &str, v: Value| {
        let mut c = good(jti);
        c[k] = v;
        c
    };
    let without = |jti: &str, k: &str| {
        let mut c = good(jti);
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let refused = [
        ("another audience", logout_token(&op, with("j1", "aud", json!("someone-else")), json!({})).await),
        ("a nonce", logout_token(&op, with("j2", "nonce", json!("n")), json!({})).await),
        ("another key", logout_token(&op, good("j3"), json!({"key": "other"})).await),
        ("older than the window", logout_token(&op, with("j4", "iat", json!(now - 600)), json!({})).await),
        ("no logout event", logout_token(&op, without("j5", "events"), json!({})).await),
        ("no jti", logout_token(&op, without("j6", "jti"), json!({})).await),
        ("neither sid nor sub", logout_token(&op, without("j7", "sub"), json!({})).await),
        ("another issuer", logout_token(&op, with("j8", "iss", json!("https://evil.example")), json!({})).await),
        ("expired", logout_token(&op, with("j9", "exp", json!(now - 120)), json!({})).await),
        ("unsigned", {
            let t = logout_token(&op, good("j10"), json!({})).await;
            let parts: Vec<&str> = t.split('.').collect();
            let none = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, br#"{"alg":"none"}"#);
            format!("{none}.{}.", parts[1])
        }),
        ("not a JWT", "logout".to_string()),
    ];
    for (why, token) in &refused {
        let (status, headers, body) = post_logout(&endpoint, token).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(header(&headers, "cache-control"), Some("no-cache, no-store"), "{why}");
        assert_eq!(header(&headers, "pragma"), Some("no-cache"), "{why}");
        assert_eq!(body, r#"{"error":"invalid_request"}"#, "{why}");
        assert_eq!(check(&g, &session).await, 202, "{why} ended nothing");
    }
    // Not a logout request at all.
    assert_eq!(send("GET", &endpoint, &[]).await.0, 405);
    let token = logout_token(&op, good("j-good"), json!({})).await;
    let client = awc::Client::default();
    let json_body =
        client.post(&endpoint).insert_header(("Content-Type", "application/json")).send_body(format!("{{\"logout_token\":\"{token}\"}}"));
    assert_eq!(json_body.await.unwrap().status().as_u16(), 400, "a JSON body");
    let twice = client.post(&endpoint).send_form(&[("logout_token", token.as_str()), ("logout_token", token.as_str())]);
    assert_eq!(twice.await.unwrap().status().as_u16(), 400, "two tokens");
    assert_eq!(check(&g, &session).await, 202);

    let (status, headers, _) = post_logout(&endpoint, &token).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache, no-store"));
    assert_eq!(check(&g, &session).await, 401, "the good token ended alice's session");
    // The same token again: refused, and alice's next login is not ended by it.
    let mut again = Browser::new(None);
    assert_eq!(again.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    let (status, _, _) = post_logout(&endpoint, &token).await;
    assert_eq!(status, 400, "a replayed token");
    assert_eq!(check(&g, &again.cookies_starting("_oauth2_proxy")).await, 202, "the replay ended nothing");
}

/// The tutorial's provider settings (WSO2-shaped: HTTPS, issuer `…/oauth2/token`, PKCE) with
/// back-channel logout: WSO2's "Back Channel Logout URL" is Gatehouse's endpoint, and a
/// sign-out at the provider ends the session here.
#[actix_web::test]
async fn the_tutorials_wso2_shaped_provider_logs_alice_out_through_the_back_channel() {
    let port = free_port();
    let op = wso2_op_with(port, json!({"backchannel_logout_uri": format!("http://127.0.0.1:{port}/oauth2/backchannel_logout")}));
    let (cert, _) = tutorial_cert();
    let extra = format!("provider_ca_files = [\"{}\"]\noidc_backchannel_logout = true\n", cert.display());
    let g = Gate::start(&tutorial(&op, port, &extra), &[], "localhost");
    g.wait_ready().await;
    let mut alice = Browser::new(op.ca.as_deref());
    assert_eq!(alice.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    let session = alice.cookies_starting("_oauth2_proxy");
    assert_eq!(check(&g, &session).await, 202);
    sign_out_at_provider(&mut alice, &op).await;
    let observed = op.control("GET", "observed", Value::Null).await;
    assert_eq!(observed["backchannel"][0]["ok"], true, "{observed}");
    refused_within_a_second(&g, &session, "alice's session").await;
}

/// `gatehouse sessions list|revoke` against the configured Redis, and the admin endpoints on
/// the metrics listener: alice's sessions end on every instance, bob's stay; the endpoints
/// refuse calls without the token and are absent from an instance without a token file and
/// from the public listener.
#[actix_web::test]
async fn sessions_revoke_ends_alice_on_every_instance_and_nobody_else() {
    let (pa, pb, ma, mb) = (free_port(), free_port(), free_port(), free_port());
    let redis = Redis::start(&[]);
    let op = Op::start(json!({"clients": [client("gatehouse", &[pa, pb])]}));
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, "s3cret-admin-token-0123456789\n").unwrap();
    let shared = format!("session_store_type = \"redis\"\nredis_connection_url = \"{}\"\n", redis.url(0));
    let a_text = plain_config(
        &op.issuer,
        pa,
        &format!("{shared}metrics_address = \"127.0.0.1:{ma}\"\nadmin_token_file = \"{}\"\n", token_file.display()),
    );
    let a = Gate::start(&a_text, &[], "localhost");
    let b = Gate::start(&plain_config(&op.issuer, pb, &format!("{shared}metrics_address = \"127.0.0.1:{mb}\"\n")), &[], "localhost");
    a.wait_ready().await;
    b.wait_ready().await;
    let login = |gate: &Gate, user: &'static str| {
        let url = gate.url("/oauth2/start?rd=/");
        async move {
            let mut browser = Browser::new(None);
            assert_eq!(browser.login(&url, user).await.status, 302);
            browser.cookies_starting("_oauth2_proxy")
        }
    };
    let (alice_1, alice_2, bob) = (login(&a, "alice").await, login(&b, "alice").await, login(&a, "bob").await);

    let cfg = dir.path().join("gatehouse.cfg");
    std::fs::write(&cfg, &a_text).unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse")).args(args).arg("--config").arg(&cfg).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, listed, err) = cli(&["sessions", "list", "--user", "alice"]);
    assert!(ok && listed.starts_with("2 sessions of user alice"), "{listed}{err}");
    let (ok, revoked, err) = cli(&["sessions", "revoke", "--user", "alice"]);
    assert!(ok && revoked.starts_with("revoked 2 sessions of user alice"), "{revoked}{err}");
    for (g, cookie) in [(&a, &alice_1), (&b, &alice_1), (&a, &alice_2), (&b, &alice_2)] {
        assert_eq!(check(g, cookie).await, 401, "alice's sessions end on every instance");
    }
    for g in [&a, &b] {
        assert_eq!(check(g, &bob).await, 202, "bob's stays");
    }
    assert!(cli(&["sessions", "list", "--user", "alice"]).1.starts_with("0 sessions"));

    // The admin endpoint, with the token only, on the metrics listener only.
    let alice_3 = login(&b, "alice").await;
    let admin = |port: u16, path: &str| format!("http://127.0.0.1:{port}/admin/sessions{path}");
    let bearer = [("Authorization", "Bearer s3cret-admin-token-0123456789")];
    for headers in [&[][..], &[("Authorization", "Bearer wrong")][..], &[("Authorization", "s3cret-admin-token-0123456789")][..]] {
        let (status, h, _) = send("GET", &admin(ma, "?user=alice"), headers).await;
        assert_eq!(status, 401, "{headers:?}");
        assert_eq!(header(&h, "www-authenticate"), Some("Bearer"));
        assert_eq!(send("POST", &admin(ma, "/revoke?user=alice"), headers).await.0, 401);
    }
    assert_eq!(send("GET", &admin(ma, ""), &bearer).await.0, 400, "whose sessions");
    assert_eq!(send("GET", &admin(ma, "?user=alice&sid=x"), &bearer).await.0, 400, "one of user and sid");
    let (status, _, listed) = send("GET", &admin(ma, "?user=alice"), &bearer).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&listed).unwrap()["sessions"].as_array().unwrap().len(), 1, "{listed}");
    // Absent where not configured: the other instance's metrics listener, and the public one.
    assert!(!send("POST", &admin(mb, "/revoke?user=alice"), &bearer).await.2.contains("revoked"), "no admin routes without a token file");
    send("POST", &a.url("/admin/sessions/revoke?user=alice"), &bearer).await;
    assert_eq!(check(&a, &alice_3).await, 202, "nothing revoked alice's new session so far");
    let (status, _, body) = send("POST", &admin(ma, "/revoke?user=alice"), &bearer).await;
    assert_eq!((status, body.as_str()), (200, r#"{"revoked":1}"#));
    assert_eq!(check(&b, &alice_3).await, 401);
    assert_eq!(check(&b, &bob).await, 202);
}
