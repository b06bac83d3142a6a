//! The gate (issue 17): one view of a request, one decision, made on exactly what is forwarded.
//! One test per class of request that once got through, and one per rule; each sends the
//! request that would get around the rule. The same requests go through the real edge proxies
//! and to oauth2-proxy in `adversarial.rs`.

use std::time::Duration;

use serde_json::json;

use crate::adversarial::{PATHS, SKIPPING};
use crate::support::browser::Browser;
use crate::support::peers::Upstream;
use crate::support::{Gate, MINIMAL, gate, raw_status, send, session_cookie};

/// The configuration every class was found with: a reverse proxy in front, preflights and
/// `GET /public/` open, an app upstream.
fn attacked(app: &Upstream, extra: &str) -> Gate {
    gate(&format!(
        "reverse_proxy = true\nskip_auth_preflight = true\nskip_auth_routes = [\"GET=^/public/\"]\nupstreams = [\"http://127.0.0.1:{}/\"]\n{extra}",
        app.port
    ))
}

async fn cookie(user: &str, groups: &[&str]) -> String {
    session_cookie(user, &format!("{user}@example.com"), groups).await
}

/// Sends the request byte for byte; the status code of the answer.
async fn raw(g: &Gate, method: &str, target: &str, headers: &[(&str, &str)]) -> u16 {
    raw_status(g.base.trim_start_matches("http://"), method, target, headers).await
}

#[actix_web::test]
async fn class_1_the_proxy_decides_on_the_request_it_forwards() {
    let app = Upstream::start();
    let g = attacked(&app, "");
    for forged in [
        [("X-Forwarded-Method", "OPTIONS")],
        [("X-Original-Method", "OPTIONS")],
        [("X-Original-URI", "/public/x")],
        [("X-Forwarded-Uri", "/public/x")],
    ] {
        let status = raw(&g, "GET", "/admin/x", &forged).await;
        assert!(!(200..300).contains(&status), "{forged:?} on GET /admin/x without a session: {status}");
    }
    assert!(app.requests().is_empty(), "the app saw nothing: {:?}", app.requests());

    // What is allowed is what is forwarded: the request's own method and path.
    assert_eq!(raw(&g, "GET", "/public/x?q=1", &[("X-Forwarded-Uri", "/admin/x"), ("X-Forwarded-Method", "POST")]).await, 200);
    let seen = app.requests();
    assert_eq!((seen[0].method.as_str(), seen[0].uri.as_str()), ("GET", "/public/x?q=1"));
    assert_eq!(raw(&g, "OPTIONS", "/admin/x", &[]).await, 200, "a real preflight passes");
    assert_eq!(app.requests()[1].method, "OPTIONS");
}

#[actix_web::test]
async fn class_2_paths_the_app_reads_differently_never_skip() {
    let app = Upstream::start();
    let g = attacked(&app, "");
    // Every path of the adversarial suite but the ones that skip.
    for path in &PATHS[SKIPPING..] {
        let standalone = raw(&g, "GET", path, &[]).await;
        assert!(!(200..300).contains(&standalone), "standalone {path}: {standalone}");
        let nginx_form = raw(&g, "GET", "/oauth2/auth", &[("X-Forwarded-Uri", path)]).await;
        assert_eq!(nginx_form, 401, "X-Forwarded-Uri {path}");
        let envoy_form = raw(&g, "GET", &format!("/oauth2/auth{path}"), &[]).await;
        assert!(matches!(envoy_form, 400 | 401 | 404), "Envoy path form {path}: {envoy_form}");
    }
    assert!(app.requests().is_empty(), "the app saw nothing: {:?}", app.requests());
    // The Envoy form decodes once: %252e is "%2e" text, not a dot segment to resolve twice.
    assert_eq!(raw(&g, "GET", "/oauth2/auth/admin/%252e%252e/public/x", &[]).await, 401);

    // The same paths with a session pass, as the request they are.
    let c = cookie("alice", &["admins"]).await;
    for path in ["/admin/../public/x", "/public;v=1/x", "/a%2Fb"] {
        assert_eq!(raw(&g, "GET", path, &[("Cookie", &c)]).await, 200, "{path} with a session");
        assert_eq!(app.requests().last().unwrap().uri, path, "forwarded as received");
    }
    // And the plain forms still skip.
    for ok in ["/public/x", "/p%75blic/x"] {
        assert_eq!(raw(&g, "GET", ok, &[]).await, 200, "{ok}");
        assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("X-Forwarded-Uri", ok)]).await, 202, "{ok}");
        assert_eq!(raw(&g, "GET", &format!("/oauth2/auth{ok}"), &[]).await, 200, "{ok}");
    }
}

#[actix_web::test]
async fn class_3_a_client_cannot_widen_route_constraints() {
    let app = Upstream::start();
    let g = attacked(&app, "");
    let bob = cookie("bob", &["users"]).await;
    let alice = cookie("alice", &["admins"]).await;
    let check = "/oauth2/auth?allowed_groups=admins";
    assert_eq!(raw(&g, "GET", check, &[("Cookie", &bob)]).await, 403);
    for widen in ["users", "admins,users", " users", "users,admins"] {
        assert_eq!(raw(&g, "GET", check, &[("Cookie", &bob), ("X-Gatehouse-Allowed-Groups", widen)]).await, 403, "{widen}");
    }
    // Every source must be met: the header narrows the query's constraint, never widens it.
    assert_eq!(raw(&g, "GET", check, &[("Cookie", &alice)]).await, 202);
    assert_eq!(raw(&g, "GET", check, &[("Cookie", &alice), ("X-Gatehouse-Allowed-Groups", "users")]).await, 403);
    // Two copies are two constraints.
    assert_eq!(
        raw(
            &g,
            "GET",
            "/oauth2/auth",
            &[("Cookie", &alice), ("X-Gatehouse-Allowed-Groups", "admins"), ("X-Gatehouse-Allowed-Groups", "users")]
        )
        .await,
        403
    );
    // Values compare exactly, as oauth2-proxy's: no trimming, no case folding.
    for (query, status) in [
        ("allowed_groups=admins", 202),
        ("allowed_groups=%20admins", 403),
        ("allowed_groups=Admins", 403),
        ("allowed_groups=,admins,", 202),
        ("allowed_emails=alice@example.com", 202),
        ("allowed_emails=Alice@example.com", 403),
        ("allowed_emails=%20alice@example.com", 403),
        ("allowed_email_domains=example.com", 202),
        ("allowed_email_domains=EXAMPLE.com", 403),
        ("allowed_email_domains=.example.com", 202),
        ("allowed_email_domains=ample.com", 403),
        ("allowed_groups=admins&allowed_emails=bob@example.com", 403),
    ] {
        assert_eq!(raw(&g, "GET", &format!("/oauth2/auth?{query}"), &[("Cookie", &alice)]).await, status, "{query}");
    }

    // From a peer that is not a trusted proxy too: a constraint can only narrow, and an edge
    // not (yet) in trusted_proxy_ips must not lose its route's rule.
    let untrusted = attacked(&app, "trusted_proxy_ips = [\"10.0.0.0/8\"]\n");
    assert_eq!(raw(&untrusted, "GET", "/oauth2/auth", &[("Cookie", &alice), ("X-Gatehouse-Allowed-Groups", "nobody")]).await, 403);
    assert_eq!(raw(&untrusted, "GET", "/oauth2/auth", &[("Cookie", &alice), ("X-Gatehouse-Allowed-Groups", "admins")]).await, 202);
}

#[actix_web::test]
async fn class_4_headers_oauth2_proxy_ignores_decide_nothing() {
    let app = Upstream::start();
    let g = attacked(&app, "");
    // An nginx configuration written for oauth2-proxy sets X-Forwarded-Uri and nothing else:
    // the client's own method and X-Original-* headers arrive untouched.
    for forged in [
        vec![("X-Forwarded-Uri", "/admin/x"), ("X-Forwarded-Method", "OPTIONS")],
        vec![("X-Forwarded-Uri", "/admin/x"), ("X-Original-Method", "OPTIONS")],
        vec![("X-Original-URI", "/public/x")],
        vec![("X-Original-URL", "/public/x")],
        vec![("X-Forwarded-Uri", "/admin/x"), ("X-Original-URI", "/public/x")],
        vec![("X-Forwarded-Uri", "/admin/x"), ("X-Forwarded-Prefix", "/public")],
    ] {
        assert_eq!(raw(&g, "GET", "/oauth2/auth", &forged).await, 401, "{forged:?}");
        assert_eq!(raw(&g, "GET", "/oauth2/verify", &forged).await, 401, "{forged:?}");
    }
    // The forwarded method only narrows: a POST to /public/ is not the GET the rule opens.
    assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("X-Forwarded-Uri", "/public/x")]).await, 202);
    assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("X-Forwarded-Uri", "/public/x"), ("X-Forwarded-Method", "GET")]).await, 202);
    assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("X-Forwarded-Uri", "/public/x"), ("X-Forwarded-Method", "POST")]).await, 401);
    // A forwarded method that says nothing usable (two copies, not a method) may not widen,
    // nor may a method-override header an app would obey.
    assert_eq!(
        raw(&g, "GET", "/oauth2/auth", &[("X-Forwarded-Uri", "/public/x"), ("X-Forwarded-Method", "GET"), ("X-Forwarded-Method", "POST")])
            .await,
        401
    );
    assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("X-Forwarded-Uri", "/public/x"), ("X-Forwarded-Method", "G(E)T")]).await, 401);
    assert_eq!(raw(&g, "GET", "/public/x", &[("X-HTTP-Method-Override", "DELETE")]).await, 403);
    // A check that names no request: its own path is no request's, and opens no rule.
    let negated = gate("reverse_proxy = true\nskip_auth_routes = [\"!=^/admin\"]\n");
    assert_eq!(raw(&negated, "GET", "/oauth2/auth", &[]).await, 401);
    assert_eq!(raw(&negated, "GET", "/oauth2/auth", &[("X-Forwarded-Uri", "/app")]).await, 202);
    // A second copy of the forwarded URI (one the edge appended) makes the path unknown.
    assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("X-Forwarded-Uri", "/public/x"), ("X-Forwarded-Uri", "/admin/x")]).await, 401);
    assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("X-Forwarded-Uri", "")]).await, 401);
}

#[actix_web::test]
async fn class_5_an_unknown_client_ip_is_never_trusted() {
    let app = Upstream::start();
    let g = attacked(&app, "trusted_ips = [\"127.0.0.1/32\"]\n");
    for (headers, status) in [
        (vec![("X-Real-IP", "x")], 401),
        (vec![], 401),
        (vec![("X-Real-IP", "")], 401),
        (vec![("X-Real-IP", "10.1.2.3")], 401),
        (vec![("X-Real-IP", "127.0.0.1, 10.1.2.3")], 401),
        (vec![("X-Real-IP", "127.0.0.1"), ("X-Real-IP", "10.1.2.3")], 401),
        (vec![("X-Real-IP", "127.0.0.1")], 202),
        (vec![("X-Real-IP", "127.0.0.1:5555")], 202),
    ] {
        assert_eq!(raw(&g, "GET", "/oauth2/auth", &headers).await, status, "{headers:?}");
    }

    // X-Forwarded-For: the rightmost address that is not a trusted proxy is the client.
    let xff = attacked(&app, "trusted_ips = [\"127.0.0.1/32\"]\nreal_client_ip_header = \"X-Forwarded-For\"\n");
    for (value, status) in [
        ("127.0.0.1, 10.1.2.3", 401),
        ("10.1.2.3, 127.0.0.1", 401),
        ("x, 127.0.0.1", 401),
        ("127.0.0.1", 202),
        ("127.0.0.1, 127.0.0.1", 202),
    ] {
        assert_eq!(raw(&xff, "GET", "/oauth2/auth", &[("X-Forwarded-For", value)]).await, status, "{value}");
    }

    // Without reverse_proxy, the peer's own address decides and headers are ignored.
    let direct = gate("trusted_ips = [\"127.0.0.1/32\"]\n");
    assert_eq!(raw(&direct, "GET", "/oauth2/auth", &[("X-Real-IP", "x")]).await, 202);
}

#[actix_web::test]
async fn rule_standalone_forwards_no_client_copy_of_describing_headers() {
    let app = Upstream::start();
    // The test client is not a trusted proxy here: everything it says about itself is a
    // client's word.
    let g = attacked(&app, "trusted_proxy_ips = [\"10.0.0.0/8\"]\n");
    let c = cookie("alice", &["admins"]).await;
    let forged = [
        ("Cookie", c.as_str()),
        ("X-Real-IP", "6.6.6.6"),
        ("X_Real_IP", "6.6.6.6"),
        ("X-Forwarded-Uri", "/forged"),
        ("X-Forwarded-Method", "FORGED"),
        ("X-Forwarded-Prefix", "/forged"),
        ("X-Forwarded-Port", "6666"),
        ("X-Original-URI", "/forged"),
        ("X-Original-Method", "FORGED"),
        ("X-Original-URL", "/forged"),
        ("X_Forwarded_For", "6.6.6.6"),
    ];
    assert_eq!(raw(&g, "GET", "/admin/x", &forged).await, 200);
    let seen = app.requests().pop().unwrap();
    for (name, value) in &seen.headers {
        assert!(!value.contains("6.6.6.6") && !value.contains("forged") && !value.contains("FORGED"), "{name}: {value} reached the app");
    }
    assert_eq!(seen.header("x-real-ip"), Some("127.0.0.1"), "the address the gate read");

    // From a trusted proxy, its X-Real-IP is the client's address, passed on once.
    let trusting = attacked(&app, "");
    assert_eq!(raw(&trusting, "GET", "/admin/x", &[("Cookie", &c), ("X-Real-IP", "10.9.8.7"), ("X_Real_IP", "6.6.6.6")]).await, 200);
    let seen = app.requests().pop().unwrap();
    assert_eq!(seen.header("x-real-ip"), Some("10.9.8.7"));
    assert!(seen.headers.iter().all(|(_, v)| v != "6.6.6.6"), "{seen:?}");
}

#[actix_web::test]
async fn rule_a_2xx_always_carries_the_whole_identity() {
    // A session whose claims cannot be headers (written before this rule, or by another
    // proxy): refused, never answered 2xx with a header missing.
    let app = Upstream::start();
    let g = attacked(&app, "");
    let bad = session_cookie("alice", "alice\u{7f}@example.com", &["admins"]).await;
    assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("Cookie", &bad)]).await, 403);
    assert_eq!(raw(&g, "GET", "/admin/x", &[("Cookie", &bad)]).await, 403);
    assert!(app.requests().is_empty());
}

#[actix_web::test]
async fn rule_htpasswd_guessing_is_limited() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    // bcrypt of "right" (cost 4, to keep the test fast).
    std::fs::write(&file, format!("alice:{}\n", bcrypt::hash("right", 4).unwrap())).unwrap();
    let g = gate(&format!("htpasswd_file = \"{}\"\n", file.display()));
    let basic = |p: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("alice:{p}")));
    for _ in 0..gatehouse::htpasswd::FAILURES {
        assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("Authorization", &basic("wrong"))]).await, 401);
    }
    // Past the limit, even the right password waits for the window to end.
    assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("Authorization", &basic("wrong"))]).await, 429);
    assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("Authorization", &basic("right"))]).await, 429);
    // Another user is not limited by alice's failures.
    let bob = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("bob:x"));
    assert_eq!(raw(&g, "GET", "/oauth2/auth", &[("Authorization", &bob)]).await, 401);
}

#[actix_web::test]
async fn rule_http2_has_http1s_header_bounds_and_keeps_bodies() {
    let app = Upstream::start();
    let (cert, key) = crate::support::op::tutorial_cert();
    let port = crate::support::free_port();
    let _g = Gate::start(
        &format!(
            "{MINIMAL}upstreams = [\"http://127.0.0.1:{}/\"]\nhttps_address = \"127.0.0.1:{port}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\nskip_auth_routes = [\"^/public/\"]\n",
            app.port,
            cert.display(),
            key.display()
        ),
        &[],
        "127.0.0.1",
    );
    let client = crate::standalone::h2_client();
    let url = |p: &str| format!("https://localhost:{port}{p}");
    let big = "a".repeat(1 << 20);
    let res = client.get(url("/public/x")).insert_header(("Cookie", format!("x={big}"))).send().await.unwrap();
    assert_eq!(res.version(), awc::http::Version::HTTP_2);
    assert_eq!(res.status(), 431, "a 1 MiB Cookie over HTTP/2 is refused as over HTTP/1");
    let res = client.get(url("/public/x")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // A body of unannounced length (HTTP/2 has no chunked encoding) reaches the app.
    let body = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(actix_web::web::Bytes::from_static(b"hello "))]);
    let mut res = client.post(url("/public/upload")).send_stream(body).await.unwrap();
    assert_eq!(res.status(), 200);
    let _ = res.body().await;
    let seen = app.requests().pop().unwrap();
    assert!(seen.header("transfer-encoding").is_some() || seen.header("content-length").is_some(), "{seen:?}");
}

#[actix_web::test]
async fn class_6_a_refresh_updates_the_identity() {
    let (op, g) = crate::login::plain(json!({"access_token_ttl": 60}), "cookie_refresh = \"1s\"\n");
    g.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    assert_eq!(b.get(&g.url("/oauth2/auth?allowed_groups=admins")).await.status, 202);

    // The provider removes alice from admins and changes her address.
    let claims = json!({"email": "alice2@example.com", "email_verified": true, "preferred_username": "al", "groups": ["users"]});
    op.control("POST", "account", json!({"id": "alice", "claims": claims})).await;
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    let r = b.get(&g.url("/oauth2/auth?allowed_groups=admins")).await;
    assert_eq!(r.status, 403, "the refresh that this check caused took admins away at once");
    let r = b.get(&g.url("/oauth2/auth")).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("gap-auth"), Some("alice2@example.com"));
    let info: serde_json::Value = serde_json::from_str(&b.get(&g.url("/oauth2/userinfo")).await.body).unwrap();
    assert_eq!(info["groups"], json!(["users"]));
    assert_eq!(info["preferredUsername"], "al");
}

#[actix_web::test]
async fn rule_a_refresh_about_another_subject_ends_the_session() {
    let (op, g) = crate::login::plain(json!({"access_token_ttl": 60}), "cookie_refresh = \"1s\"\n");
    g.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    // The next ID token the provider issues (the refresh's) is validly signed, for mallory.
    op.control("POST", "tamper", json!({"mode": "other_sub"})).await;
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    let r = b.get(&g.url("/oauth2/auth")).await;
    assert_eq!(r.status, 401, "a refresh never turns alice's session into mallory's");
    assert!(b.cookie("_oauth2_proxy").is_none(), "and the session is cleared");
}

#[actix_web::test]
async fn rule_a_due_session_that_cannot_refresh_must_still_be_valid() {
    // oauth2-proxy's validateSession: provider down, so the refresh fails; the session lives
    // while its tokens do, and ends when they expire.
    let (mut op, g) = crate::login::plain(json!({"access_token_ttl": 4, "id_token_ttl": 4}), "cookie_refresh = \"1s\"\n");
    g.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    op.stop();
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(b.get(&g.url("/oauth2/auth")).await.status, 202, "due, not refreshed, still valid");
    actix_web::rt::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(b.get(&g.url("/oauth2/auth")).await.status, 401, "expired and not refreshed");
    let _ = send("GET", &g.url("/ping"), &[]).await;
}

/// Every check moves the gate's future: its size is what a check with a cookie session pays,
/// whatever rare path (a refresh under the store's lock, Redis I/O, a bearer token's first
/// verification) could be inlined into it. Those are boxed; this holds them boxed. Not a timing:
/// a size, which `make bench` shows the effect of (rung 3 lost 5% when it doubled).
#[test]
fn the_gate_future_of_a_check_stays_small() {
    use std::future::Future;
    fn size<'a, F, Fut>(_: F) -> usize
    where
        F: Fn(&'a gatehouse::state::State, &'a actix_web::HttpRequest, &'a gatehouse::gate::View) -> Fut,
        Fut: Future,
    {
        std::mem::size_of::<Fut>()
    }
    let bytes = size(gatehouse::gate::decide);
    assert!(bytes <= 2048, "gate::decide's future is {bytes} bytes; box the rare path that grew it");
}
