//! The Redis session store against a real `redis-server`: one conformance suite for both
//! stores, the tutorial's Redis snippet end to end, sign-out revocation, two instances sharing
//! Redis, and Redis stalling under requests.

use std::process::Command;
use std::time::{Duration, Instant};

use gatehouse::session::jar::RequestCookies;
use gatehouse::session::{Found, SessionState, SessionStore, Sessions, now};
use serde_json::json;

use crate::support::browser::Browser;
use crate::support::echo;
use crate::support::op::Op;
use crate::support::redis::Redis;
use crate::support::{Gate, MINIMAL, free_port, load_text, plain_config};

fn session(user: &str) -> SessionState {
    SessionState {
        user: user.into(),
        subject: None,
        email: format!("{user}@example.com"),
        groups: vec!["admins".into()],
        preferred_username: user.into(),
        additional_claims: Default::default(),
        access_token: Some("ACCESS-TOKEN-MARKER".into()),
        id_token: Some("ID-TOKEN-MARKER".into()),
        refresh_token: Some("REFRESH-TOKEN-MARKER".into()),
        created_at: now(),
        expires_on: None,
        nonce: None,
        sid: None,
        login_at: 0,
        htpasswd: false,
        provider: None,
    }
}

/// The session tickets' keys (`<cookie_name>-<32 hex>`), not the indexes beside them.
const TICKETS: &str = "_oauth2_proxy-????????????????????????????????";

fn tickets(lines: &str) -> usize {
    lines.lines().filter(|l| !l.is_empty()).count()
}

fn store(extra: &str) -> Sessions {
    let cfg = load_text(&format!("{MINIMAL}{extra}"), &[], vec![]).unwrap().config;
    Sessions::new(&cfg.session, Default::default()).unwrap()
}

/// What every store must do (oauth2-proxy's RunSessionStoreTests, in spirit).
async fn conformance(store: &Sessions) {
    let s = session("alice");
    let set = store.save(&RequestCookies::default(), "h", &s).await.unwrap();
    let req = echo(&set);
    match store.load(&req).await.unwrap() {
        Found::Valid(back) => assert_eq!(*back, s),
        other => panic!("round trip: {other:?}"),
    }
    // Saving again with the request's cookies updates the same session.
    let mut updated = s.clone();
    updated.access_token = Some("NEW-ACCESS".into());
    let set2 = store.save(&req, "h", &updated).await.unwrap();
    match store.load(&echo(&set2)).await.unwrap() {
        Found::Valid(back) => assert_eq!(back.access_token.as_deref(), Some("NEW-ACCESS")),
        other => panic!("update: {other:?}"),
    }
    // No cookie, a foreign cookie, a damaged cookie.
    assert!(matches!(store.load(&RequestCookies::default()).await.unwrap(), Found::None));
    let damaged = RequestCookies::parse(["_oauth2_proxy=AAAA"]);
    assert!(matches!(store.load(&damaged).await.unwrap(), Found::Invalid(_)));
    // Expired sessions are not sessions.
    let mut old = session("bob");
    old.created_at = now() - 8 * 24 * 3600;
    let set = store.save(&RequestCookies::default(), "h", &old).await.unwrap();
    assert!(matches!(store.load(&echo(&set)).await.unwrap(), Found::Invalid(_)));
    // Clearing deletes the cookie.
    let cleared = store.clear(&echo(&set2), "h").await.unwrap();
    assert!(cleared.iter().any(|c| c.name() == "_oauth2_proxy" && c.value().is_empty()));
}

#[actix_web::test]
async fn both_stores_pass_the_conformance_suite() {
    conformance(&store("")).await;
    let redis = Redis::start(&[]);
    conformance(&store(&format!("session_store_type = \"redis\"\nredis_connection_url = \"{}\"\n", redis.url(0)))).await;
}

#[actix_web::test]
async fn redis_holds_only_ciphertext_and_sign_out_revokes() {
    let redis = Redis::start(&[]);
    let s = store(&format!("session_store_type = \"redis\"\nredis_connection_url = \"{}\"\n", redis.url(3)));
    let set = s.save(&RequestCookies::default(), "h", &session("alice")).await.unwrap();
    let cookie = set[0].to_string();
    assert!(cookie.len() < 300, "the cookie holds a ticket only ({} bytes)", cookie.len());
    let keys = redis.cli(&["-n", "3", "KEYS", TICKETS]);
    assert!(keys.starts_with("_oauth2_proxy-") && keys.lines().count() == 1, "{keys}");
    let raw = redis.cli(&["-n", "3", "GET", &keys]);
    for secret in ["alice", "example.com", "ACCESS-TOKEN", "ID-TOKEN", "REFRESH-TOKEN", "admins"] {
        assert!(!raw.contains(secret), "{secret} in clear in Redis");
    }
    // Replaying the cookie after sign-out finds nothing.
    let req = echo(&set);
    s.clear(&req, "h").await.unwrap();
    assert_eq!(redis.cli(&["-n", "3", "DBSIZE"]), "0");
    assert!(matches!(s.load(&req).await.unwrap(), Found::Invalid(_)));
}

fn gate_config(op: &Op, port: u16, redis_url: &str) -> String {
    plain_config(
        &op.issuer,
        port,
        &format!("set_xauthrequest = true\nsession_store_type = \"redis\"\nredis_connection_url = \"{redis_url}\"\n"),
    )
}

fn op_for(ports: &[u16]) -> Op {
    let uris: Vec<String> = ports.iter().map(|p| format!("http://localhost:{p}/oauth2/callback")).collect();
    Op::start(json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": uris}]}))
}

#[actix_web::test]
async fn the_tutorials_redis_snippet_logs_alice_in_with_and_without_a_password() {
    for (extra_args, db, url_of) in [(vec![], 1u32, None), (vec!["--requirepass", "secret"], 2, Some("secret"))] {
        let redis = Redis::start(&extra_args);
        let url = match url_of {
            None => redis.url(db),
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}/{db}", redis.port),
        };
        let port = free_port();
        let op = op_for(&[port]);
        let gate = Gate::start(&gate_config(&op, port, &url), &[], "localhost");
        gate.wait_ready().await;
        let mut b = Browser::new(None);
        let r = b.login(&gate.url("/oauth2/start?rd=%2F"), "alice").await;
        assert_eq!(r.status, 302, "{}", r.body);
        let cookie = b.cookie("_oauth2_proxy").unwrap();
        assert!(cookie.len() < 300, "{} bytes", cookie.len());
        assert_eq!(b.get(&gate.url("/oauth2/auth")).await.status, 202);

        let auth: Vec<&str> = url_of.map(|pw| vec!["-a", pw, "--no-auth-warning"]).unwrap_or_default();
        let db_s = db.to_string();
        let mut args = auth.clone();
        args.extend(["-n", db_s.as_str(), "KEYS", TICKETS]);
        let key = redis.cli(&args);
        assert!(key.starts_with("_oauth2_proxy-"), "the session lives in db {db}: {key:?}");
        let mut ttl_args = auth.clone();
        ttl_args.extend(["-n", db_s.as_str(), "TTL", key.as_str()]);
        let ttl: u64 = redis.cli(&ttl_args).parse().unwrap();
        assert!((604_700..=604_800).contains(&ttl), "TTL is cookie_expire (168h): {ttl}");
        let mut get_args = auth.clone();
        get_args.extend(["-n", db_s.as_str(), "GET", key.as_str()]);
        let raw = redis.cli(&get_args);
        // A JWT starts with base64 of {"alg": whatever the token; eight characters never appear by chance.
        assert!(!raw.contains("alice") && !raw.contains("eyJhbGci"), "no identity or token in clear");

        // Sign-out deletes the key; the old cookie is dead.
        let old = cookie.clone();
        b.get(&gate.url("/oauth2/sign_out")).await;
        let mut size_args = auth.clone();
        size_args.extend(["-n", db_s.as_str(), "DBSIZE"]);
        assert_eq!(redis.cli(&size_args), "0");
        b.add_cookie("localhost", "_oauth2_proxy", &old);
        assert_eq!(b.get(&gate.url("/oauth2/auth")).await.status, 401, "a copied cookie dies with sign-out");
    }
}

#[actix_web::test]
async fn two_instances_share_sessions_through_redis() {
    let redis = Redis::start(&[]);
    let (pa, pb) = (free_port(), free_port());
    let op = op_for(&[pa, pb]);
    let a = Gate::start(&gate_config(&op, pa, &redis.url(0)), &[], "localhost");
    let b_gate = Gate::start(&gate_config(&op, pb, &redis.url(0)), &[], "localhost");
    a.wait_ready().await;
    b_gate.wait_ready().await;
    let mut browser = Browser::new(None);
    assert_eq!(browser.login(&a.url("/oauth2/start?rd=%2F"), "alice").await.status, 302);
    // Browsers ignore ports: the cookie set by A goes to B too.
    let r = browser.get(&b_gate.url("/oauth2/auth")).await;
    assert_eq!((r.status, r.header("x-auth-request-user")), (202, Some("alice")));
    browser.get(&b_gate.url("/oauth2/sign_out")).await;
    // Signed out through B: the copy A would accept is gone too.
    let cookie = {
        let mut b2 = Browser::new(None);
        b2.login(&a.url("/oauth2/start?rd=%2F"), "alice").await;
        b2.cookie("_oauth2_proxy").unwrap()
    };
    let mut stranger = Browser::new(None);
    stranger.add_cookie("localhost", "_oauth2_proxy", &cookie);
    assert_eq!(stranger.get(&a.url("/oauth2/auth")).await.status, 202);
    stranger.get(&b_gate.url("/oauth2/sign_out")).await;
    let mut again = Browser::new(None);
    again.add_cookie("localhost", "_oauth2_proxy", &cookie);
    assert_eq!(again.get(&a.url("/oauth2/auth")).await.status, 401, "signed out on B, refused on A");
}

#[actix_web::test]
async fn a_stalled_redis_fails_closed_and_recovers() {
    let redis = Redis::start(&[]);
    let metrics_port = free_port();
    let g = Gate::start(
        &format!(
            "{MINIMAL}http_address = \"127.0.0.1:0\"\ncookie_secure = false\nsession_store_type = \"redis\"\nredis_connection_url = \"{}\"\nmetrics_address = \"127.0.0.1:{metrics_port}\"\n",
            redis.url(0)
        ),
        &[],
        "127.0.0.1",
    );
    let s = store(&format!("session_store_type = \"redis\"\nredis_connection_url = \"{}\"\n", redis.url(0)));
    let set = s.save(&RequestCookies::default(), "127.0.0.1", &session("alice")).await.unwrap();
    let cookie = format!("_oauth2_proxy={}", set[0].value());
    let client = awc::Client::builder().timeout(Duration::from_secs(10)).finish();
    assert_eq!(client.get(g.url("/oauth2/auth")).insert_header(("Cookie", cookie.clone())).send().await.unwrap().status(), 202);

    Command::new("kill").args(["-STOP", &redis.pid().to_string()]).status().unwrap();
    let stalled = Instant::now();
    let mut statuses = Vec::new();
    while stalled.elapsed() < Duration::from_secs(5) {
        let status = client
            .get(g.url("/oauth2/auth"))
            .insert_header(("Cookie", cookie.clone()))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        statuses.push(status);
    }
    Command::new("kill").args(["-CONT", &redis.pid().to_string()]).status().unwrap();
    assert!(statuses.iter().all(|s| *s == 503 || *s == 0), "no 2xx without a session store: {statuses:?}");

    let resumed = Instant::now();
    loop {
        let status = client.get(g.url("/oauth2/auth")).insert_header(("Cookie", cookie.clone())).send().await.unwrap().status();
        if status == 202 {
            break;
        }
        assert!(resumed.elapsed() < Duration::from_secs(1), "not back within 1 s of SIGCONT: {status}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    // The outage is in the metrics: commands timed, failures counted.
    let mut res = client.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap();
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    let value = |series: &str| text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok()).unwrap_or(0.0);
    assert!(value("gatehouse_redis_errors_total") >= 1.0, "{text}");
    assert!(value("gatehouse_redis_command_duration_seconds_count") >= 3.0, "{text}");
    assert!(value("gatehouse_session_store_errors_total") >= 1.0, "{text}");
}

#[actix_web::test]
async fn a_store_failure_at_login_is_a_503_like_every_store_failure() {
    let redis = Redis::start(&[]);
    let port = free_port();
    let op = op_for(&[port]);
    let gate = Gate::start(&gate_config(&op, port, &redis.url(0)), &[], "localhost");
    gate.wait_ready().await;
    // The login itself touches only the provider; the callback's save finds Redis stalled.
    Command::new("kill").args(["-STOP", &redis.pid().to_string()]).status().unwrap();
    let mut b = Browser::new(None);
    let r = b.login(&gate.url("/oauth2/start?rd=%2F"), "alice").await;
    Command::new("kill").args(["-CONT", &redis.pid().to_string()]).status().unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(b.cookie("_oauth2_proxy").is_none(), "no session without a store");
}

#[test]
fn config_test_probes_redis() {
    let redis = Redis::start(&[]);
    let run = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["--config-test", "--config", "tests/fixtures/config/valid/minimal.cfg", "--session-store-type=redis"])
            .arg(format!("--redis-connection-url={url}"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    };
    assert_eq!(run(&redis.url(0)).status.code(), Some(0));
    let dead = run(&format!("redis://127.0.0.1:{}/0", free_port()));
    assert_eq!(dead.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dead.stderr).contains("session_store_type = \"redis\""), "{}", String::from_utf8_lossy(&dead.stderr));
}

#[actix_web::test]
async fn a_session_survives_a_sentinel_failover() {
    use crate::support::redis::SentinelSet;
    let set = SentinelSet::start();
    let urls = set.urls().iter().map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(", ");
    let cfg = format!(
        "session_store_type = \"redis\"\nredis_use_sentinel = true\nredis_sentinel_master_name = \"mymaster\"\nredis_sentinel_connection_urls = [{urls}]\n"
    );
    let s = store(&cfg);
    let g = Gate::start(&format!("{MINIMAL}http_address = \"127.0.0.1:0\"\ncookie_secure = false\n{cfg}"), &[], "127.0.0.1");
    let set_cookies = s.save(&RequestCookies::default(), "127.0.0.1", &session("alice")).await.unwrap();
    let cookie = format!("_oauth2_proxy={}", set_cookies[0].value());
    let client = awc::Client::builder().timeout(Duration::from_secs(10)).finish();
    let auth = |c: String| {
        let (client, url) = (client.clone(), g.url("/oauth2/auth"));
        async move { client.get(url).insert_header(("Cookie", c)).send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
    };
    assert_eq!(auth(cookie.clone()).await, 202);
    assert_eq!(tickets(&set.master.cli(&["-n", "4", "KEYS", TICKETS])), 1, "db 4 of the sentinel URLs is used");

    // Let the replica catch up, then fail over.
    set.master.cli(&["WAIT", "1", "2000"]);
    let before = set.master_port();
    set.sentinels[0].cli(&["SENTINEL", "FAILOVER", "mymaster"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while set.master_port() == before {
        assert!(Instant::now() < deadline, "no failover happened");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(set.master_port(), set.replica.port.to_string());
    // The existing session still works and a new one can be written, without a restart.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if auth(cookie.clone()).await == 202 {
            break;
        }
        assert!(Instant::now() < deadline, "the session did not come back after the failover");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    let new_cookies = s.save(&RequestCookies::default(), "127.0.0.1", &session("bob")).await.unwrap();
    assert_eq!(auth(format!("_oauth2_proxy={}", new_cookies[0].value())).await, 202);
}

#[actix_web::test]
async fn a_hundred_sessions_in_a_cluster() {
    use crate::support::redis::Cluster;
    let cluster = Cluster::start();
    let urls = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(", ");
    let cfg = format!("session_store_type = \"redis\"\nredis_use_cluster = true\nredis_cluster_connection_urls = [{urls}]\n");
    let s = store(&cfg);
    let g = Gate::start(
        &format!("{MINIMAL}http_address = \"127.0.0.1:0\"\ncookie_secure = false\nset_xauthrequest = true\n{cfg}"),
        &[],
        "127.0.0.1",
    );
    let mut cookies = Vec::new();
    for i in 0..100 {
        let set = s.save(&RequestCookies::default(), "h", &session(&format!("user{i}"))).await.unwrap();
        cookies.push(format!("_oauth2_proxy={}", set[0].value()));
    }
    let client = awc::Client::default();
    for (i, c) in cookies.iter().enumerate() {
        let res = client.get(g.url("/oauth2/auth")).insert_header(("Cookie", c.clone())).send().await.unwrap();
        assert_eq!(res.status(), 202);
        assert_eq!(res.headers().get("x-auth-request-user").unwrap(), format!("user{i}").as_str());
    }
    let total: usize = cluster.nodes.iter().map(|n| tickets(&n.cli(&["KEYS", TICKETS]))).sum();
    assert_eq!(total, 100);
    assert!(cluster.nodes.iter().all(|n| tickets(&n.cli(&["KEYS", TICKETS])) > 0), "sessions spread over every master");
}

#[actix_web::test]
async fn three_instances_refresh_a_session_once() {
    let redis = Redis::start(&[]);
    let ports = [free_port(), free_port(), free_port()];
    let uris: Vec<String> = ports.iter().map(|p| format!("http://localhost:{p}/oauth2/callback")).collect();
    let op = Op::start(
        json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": uris}], "rotate_refresh_tokens": true}),
    );
    let gates: Vec<Gate> =
        ports.iter().map(|p| Gate::start(&(gate_config(&op, *p, &redis.url(0)) + "cookie_refresh = \"1s\"\n"), &[], "localhost")).collect();
    for g in &gates {
        g.wait_ready().await;
    }
    let mut b = Browser::new(None);
    assert_eq!(b.login(&gates[0].url("/oauth2/start?rd=%2F"), "alice").await.status, 302);
    let cookie = format!("_oauth2_proxy={}", b.cookie("_oauth2_proxy").unwrap());
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;

    let mut tasks = Vec::new();
    for g in &gates {
        for _ in 0..20 {
            let (url, cookie) = (g.url("/oauth2/userinfo"), cookie.clone());
            tasks.push(actix_web::rt::spawn(async move {
                awc::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .finish()
                    .get(url)
                    .insert_header(("Cookie", cookie))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200, "every request succeeds");
    }
    let (_, ok, failed) = op.grants().await;
    assert_eq!((ok, failed), (1, 0), "exactly one refresh grant for 60 requests on 3 instances");
}

#[actix_web::test]
async fn rediss_with_a_private_ca_or_without_verification() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    crate::support::test_pki(d);
    let port = free_port();
    let mut server = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--tls-cert-file")
        .arg(d.join("srv.pem"))
        .arg("--tls-key-file")
        .arg(d.join("srv.key"))
        .arg("--dir")
        .arg(d)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    crate::support::peers::wait_for_port(port, "redis-server (TLS)");
    let url = format!("rediss://127.0.0.1:{port}/0");
    let base = format!("session_store_type = \"redis\"\nredis_connection_url = \"{url}\"\n");

    let with_ca = store(&format!("{base}redis_ca_path = \"{}\"\n", d.join("ca.pem").display()));
    let set = with_ca.save(&RequestCookies::default(), "h", &session("alice")).await.unwrap();
    assert!(matches!(with_ca.load(&echo(&set)).await.unwrap(), Found::Valid(_)), "trusted through redis_ca_path");

    let untrusted = store(&base);
    assert!(untrusted.save(&RequestCookies::default(), "h", &session("alice")).await.is_err(), "an unknown CA is refused");

    let insecure = store(&format!("{base}redis_insecure_skip_tls_verify = true\n"));
    let set = insecure.save(&RequestCookies::default(), "h", &session("bob")).await.unwrap();
    assert!(matches!(insecure.load(&echo(&set)).await.unwrap(), Found::Valid(_)));
    let _ = server.kill();
    let _ = server.wait();
}

/// Session fixation (GHSA-f24x-5g9q-753f) where Redis makes it possible: an attacker plants
/// their own ticket cookie in the victim's browser, the victim logs in (straight through
/// `/oauth2/start`, past the sign-in page that would clear it); the attacker's ticket must not
/// now hold the victim's session.
#[actix_web::test]
async fn ghsa_f24x_a_planted_redis_ticket_never_carries_the_next_login() {
    let redis = Redis::start(&[]);
    let port = free_port();
    let op = op_for(&[port]);
    let gate = Gate::start(&gate_config(&op, port, &redis.url(4)), &[], "localhost");
    gate.wait_ready().await;

    let mut attacker = Browser::new(None);
    assert_eq!(attacker.login(&gate.url("/oauth2/start?rd=%2F"), "bob").await.status, 302);
    let planted = attacker.cookie("_oauth2_proxy").unwrap();

    let mut victim = Browser::new(None);
    victim.add_cookie("localhost", "_oauth2_proxy", &planted);
    assert_eq!(victim.login(&gate.url("/oauth2/start?rd=%2F"), "alice").await.status, 302);
    let fresh = victim.cookie("_oauth2_proxy").unwrap();
    assert_ne!(fresh, planted, "the login made a new ticket");
    let r = victim.get(&gate.url("/oauth2/auth")).await;
    assert_eq!(r.header("x-auth-request-user"), Some("alice"));

    let r = attacker.get(&gate.url("/oauth2/auth")).await;
    assert_eq!(r.status, 401, "the planted ticket was deleted: {:?}", r.header("x-auth-request-user"));
    assert_eq!(tickets(&redis.cli(&["-n", "4", "KEYS", TICKETS])), 1, "only the victim's session is stored");
}

/// A provider hung (`SIGSTOP`) for `hung` while `during` runs, then resumed.
async fn with_provider_hung<T>(op: &Op, hung: Duration, during: impl std::future::Future<Output = T>) -> T {
    let pid = op.pid().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    let resume = actix_web::rt::spawn(async move {
        actix_web::rt::time::sleep(hung).await;
        Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    });
    let out = during.await;
    resume.await.unwrap();
    out
}

async fn check(url: &str, cookie: &str) -> (u16, Option<String>, Duration) {
    let sent = Instant::now();
    let res =
        awc::Client::builder().timeout(Duration::from_secs(30)).finish().get(url).insert_header(("Cookie", cookie)).send().await.unwrap();
    let set =
        res.headers().get_all("set-cookie").filter_map(|v| v.to_str().ok()).find(|c| c.starts_with("_oauth2_proxy=")).map(str::to_string);
    (res.status().as_u16(), set, sent.elapsed())
}

/// A slow provider and a session due for refresh. With Redis (the refresh saves itself) a
/// still-valid session goes on after 2 s, and a sign-out meanwhile is not undone when the
/// refresh lands (it saves only where the session still is). With cookies (only a response can
/// save the refresh) the request waits and carries the new cookie, so no refresh is bought and
/// lost (a rotated refresh token would then be replayed).
#[actix_web::test]
async fn a_slow_refresh_is_never_lost_nor_undoes_a_sign_out() {
    let redis = Redis::start(&[]);
    let (p_redis, p_cookie) = (free_port(), free_port());
    let uris: Vec<String> = [p_redis, p_cookie].iter().map(|p| format!("http://localhost:{p}/oauth2/callback")).collect();
    let op = Op::start(
        json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": uris}], "rotate_refresh_tokens": true}),
    );
    let in_redis = Gate::start(&(gate_config(&op, p_redis, &redis.url(0)) + "cookie_refresh = \"1s\"\n"), &[], "localhost");
    let in_cookie = Gate::start(&plain_config(&op.issuer, p_cookie, "cookie_refresh = \"1s\"\n"), &[], "localhost");
    in_redis.wait_ready().await;
    in_cookie.wait_ready().await;
    let login = |g: &Gate| {
        let start = g.url("/oauth2/start?rd=%2F");
        async move {
            let mut b = Browser::new(None);
            assert_eq!(b.login(&start, "alice").await.status, 302);
            format!("_oauth2_proxy={}", b.cookie("_oauth2_proxy").unwrap())
        }
    };
    let (redis_cookie, cookie_cookie) = (login(&in_redis).await, login(&in_cookie).await);
    // Due: older than `cookie_refresh` in whole seconds.
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;

    // Redis: the check goes on after 2 s; a sign-out follows while the refresh is still hung.
    let auth = in_redis.url("/oauth2/auth");
    let (status, _, took) = with_provider_hung(&op, Duration::from_secs(4), async {
        let checked = check(&auth, &redis_cookie).await;
        let client = awc::Client::builder().disable_redirects().timeout(Duration::from_secs(10)).finish();
        let signed_out = client.get(in_redis.url("/oauth2/sign_out")).insert_header(("Cookie", redis_cookie.as_str())).send().await;
        assert!(signed_out.is_ok_and(|r| r.status() == 302), "signed out");
        checked
    })
    .await;
    assert_eq!(status, 202, "a still-valid session goes on while the provider hangs");
    assert!(took < Duration::from_millis(3500), "it waited {took:?}");
    // The refresh lands: the provider granted it, and Gatehouse had a moment to save it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while op.grants().await.1 == 0 {
        assert!(Instant::now() < deadline, "the hung refresh was never granted: {:?}", op.grants().await);
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(check(&auth, &redis_cookie).await.0, 401, "the refresh that landed after the sign-out did not bring the session back");

    // Cookies: the check waits for the hung provider and carries the refreshed session.
    let (status, set, took) = with_provider_hung(&op, Duration::from_secs(3), check(&in_cookie.url("/oauth2/auth"), &cookie_cookie)).await;
    assert_eq!(status, 202);
    assert!(set.is_some(), "the refreshed session is saved in the answer ({took:?})");
    assert!(took > Duration::from_millis(2500), "the cookie session waited for its refresh ({took:?})");
}

/// A session whose tokens have expired cannot go on without its refresh: when the provider is
/// slow, the check waits for it rather than ending the session. A guard for the second wait in
/// `refresh_for` (the same path serves an expired ID token, which ID-token leeway (30 s) makes
/// too slow to test here; an expired access token takes it in 2 s).
#[actix_web::test]
async fn a_session_that_needs_its_slow_refresh_waits_for_it() {
    let redis = Redis::start(&[]);
    let port = free_port();
    let op = Op::start(json!({
        "clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}],
        "access_token_ttl": 2,
    }));
    let g = Gate::start(&(gate_config(&op, port, &redis.url(0)) + "cookie_refresh = \"1s\"\n"), &[], "localhost");
    g.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&g.url("/oauth2/start?rd=%2F"), "alice").await.status, 302);
    let cookie = format!("_oauth2_proxy={}", b.cookie("_oauth2_proxy").unwrap());
    actix_web::rt::time::sleep(Duration::from_millis(3100)).await;
    let (status, _, took) = with_provider_hung(&op, Duration::from_secs(3), check(&g.url("/oauth2/auth"), &cookie)).await;
    assert_eq!(status, 202, "refreshed once the provider answered ({took:?})");
    assert!(took > Duration::from_millis(2500), "{took:?}");
}

/// A session stored before the index existed (or by oauth2-proxy) is not in the index a
/// logout ends sessions through: the logout's record in Redis ends it on every instance, and
/// a user's session logged in after the logout stays.
#[actix_web::test]
async fn a_session_the_index_does_not_know_is_ended_by_the_logouts_record() {
    use gatehouse::session::ending::Subject;
    let redis = Redis::start(&[]);
    let text = format!("session_store_type = \"redis\"\nredis_connection_url = \"{}\"\n", redis.url(0));
    let (here, there) = (store(&text), store(&text));
    let old = echo(&here.save(&RequestCookies::default(), "h", &session("alice")).await.unwrap());
    let bob = echo(&here.save(&RequestCookies::default(), "h", &session("bob")).await.unwrap());
    // As before the upgrade: no index entries.
    for key in redis.cli(&["KEYS", "_oauth2_proxy-index-*"]).lines() {
        redis.cli(&["DEL", key]);
    }
    assert!(matches!(there.load(&old).await.unwrap(), Found::Valid(_)));
    assert_eq!(here.end(&[Subject::User("alice".into())]).await.unwrap(), 0, "the index knows no session of alice");
    assert!(matches!(there.load(&old).await.unwrap(), Found::Invalid(_)), "ended on the other instance by the record");
    assert!(matches!(there.load(&bob).await.unwrap(), Found::Valid(_)), "bob's stays");
    let later = SessionState { login_at: gatehouse::session::now_millis() + 5, ..session("alice") };
    let later = echo(&here.save(&RequestCookies::default(), "h", &later).await.unwrap());
    assert!(matches!(there.load(&later).await.unwrap(), Found::Valid(_)), "a login after the logout stays");
}

/// `redis_connection_idle_timeout`: a connection idle longer is replaced before the next
/// command (oauth2-proxy's pool drops such connections), so one Redis's `timeout` or a
/// firewall dropped in silence never carries a request; without it the one connection stays.
#[actix_web::test]
async fn a_connection_idle_longer_than_redis_connection_idle_timeout_is_replaced() {
    let redis = crate::support::redis::Redis::start(&[]);
    // The ids of the connections other than the one asking (redis-cli's own).
    let connections = || {
        let list = redis.cli(&["CLIENT", "LIST"]);
        let ids: Vec<String> = list
            .lines()
            .filter(|l| !l.contains("cmd=client|list"))
            .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")).map(str::to_string))
            .collect();
        ids
    };
    for (idle, renewed) in [("0", false), ("1", true)] {
        let sessions = store(&format!(
            "session_store_type = \"redis\"\nredis_connection_url = \"{}\"\nredis_connection_idle_timeout = {idle}\n",
            redis.url(0)
        ));
        let set = sessions.save(&RequestCookies::default(), "h", &session("alice")).await.unwrap();
        let before = connections();
        actix_web::rt::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert!(matches!(sessions.load(&echo(&set)).await.unwrap(), Found::Valid(_)), "idle timeout {idle}");
        assert_eq!(connections() != before, renewed, "idle timeout {idle}: a new connection after 1.5 s idle");
        // In use, it stays.
        let before = connections();
        for _ in 0..3 {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
            sessions.load(&echo(&set)).await.unwrap();
        }
        assert_eq!(connections(), before, "idle timeout {idle}: a connection in use is kept");
    }
}

/// `redis_ca_path` and `redis_insecure_skip_tls_verify` with Sentinel (TLS to the sentinels
/// and to the master they name) and with Cluster (TLS to every node): trusted through the
/// CA, refused without it, accepted unverified when asked.
#[actix_web::test]
async fn rediss_sentinel_and_cluster_with_a_private_ca_or_without_verification() {
    use crate::support::redis::Redis;
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path();
    crate::support::test_pki(pki);
    let ca = pki.join("ca.pem");

    // One master and one sentinel, both TLS only.
    let master = Redis::start_tls(pki, &[]);
    let sentinel_port = free_port();
    let conf = pki.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port 0\ntls-port {sentinel_port}\nbind 127.0.0.1\ndir {}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients no\ntls-replication yes\nsentinel monitor mymaster 127.0.0.1 {} 1\n",
            pki.display(),
            pki.join("srv.pem").display(),
            pki.join("srv.key").display(),
            ca.display(),
            master.port
        ),
    )
    .unwrap();
    let mut sentinel = Command::new("redis-server").arg(&conf).arg("--sentinel").stdout(std::process::Stdio::null()).spawn().unwrap();
    crate::support::peers::wait_for_port(sentinel_port, "redis sentinel (TLS)");
    let sentinel_cfg = format!(
        "session_store_type = \"redis\"\nredis_use_sentinel = true\nredis_sentinel_master_name = \"mymaster\"\nredis_sentinel_connection_urls = [\"rediss://127.0.0.1:{sentinel_port}/2\"]\n"
    );

    // Three cluster nodes, TLS between them too.
    let nodes: Vec<Redis> = (0..3)
        .map(|_| {
            let bus = free_port().to_string();
            Redis::start_tls(
                pki,
                &["--tls-cluster", "yes", "--cluster-enabled", "yes", "--cluster-node-timeout", "2000", "--cluster-port", &bus],
            )
        })
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
    let out = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(&ca)
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "cluster create: {}", String::from_utf8_lossy(&out.stdout));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !nodes.iter().all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok")) {
        assert!(std::time::Instant::now() < deadline, "the TLS cluster never became ok");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let urls: Vec<String> = addrs.iter().map(|a| format!("\"rediss://{a}\"")).collect();
    let cluster_cfg =
        format!("session_store_type = \"redis\"\nredis_use_cluster = true\nredis_cluster_connection_urls = [{}]\n", urls.join(", "));

    for (what, base) in [("sentinel", &sentinel_cfg), ("cluster", &cluster_cfg)] {
        let with_ca = store(&format!("{base}redis_ca_path = \"{}\"\n", ca.display()));
        for user in ["alice", "bob", "carol"] {
            let set = with_ca.save(&RequestCookies::default(), "h", &session(user)).await.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(matches!(with_ca.load(&echo(&set)).await.unwrap(), Found::Valid(_)), "{what}: trusted through redis_ca_path");
        }
        let untrusted = store(base);
        assert!(untrusted.save(&RequestCookies::default(), "h", &session("alice")).await.is_err(), "{what}: an unknown CA is refused");
        let insecure = store(&format!("{base}redis_insecure_skip_tls_verify = true\n"));
        let set = insecure.save(&RequestCookies::default(), "h", &session("bob")).await.unwrap_or_else(|e| panic!("{what} insecure: {e}"));
        assert!(matches!(insecure.load(&echo(&set)).await.unwrap(), Found::Valid(_)), "{what}: unverified");
    }
    // The sentinel's database number reached the master.
    assert!(master.cli(&["-n", "2", "DBSIZE"]).parse::<u64>().unwrap() > 0, "sessions in database 2");
    let _ = sentinel.kill();
    let _ = sentinel.wait();
}
