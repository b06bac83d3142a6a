//! Operations: readiness, health, and a graceful stop.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::op::Op;
use crate::support::peers::{Upstream, wait_for_port};
use crate::support::redis::Redis;
use crate::support::{Gate, MINIMAL, free_port, session_cookie};

async fn get(url: &str) -> (u16, String) {
    let mut res = awc::Client::builder().timeout(Duration::from_secs(10)).finish().get(url).send().await.unwrap();
    (res.status().as_u16(), String::from_utf8_lossy(&res.body().await.unwrap()).into_owned())
}

#[actix_web::test]
async fn ready_follows_the_provider_and_redis_while_ping_stays_ok() {
    let redis = Redis::start(&[]);
    let (port, op_port) = (free_port(), free_port());
    let cfg = format!(
        "provider = \"oidc\"\noidc_issuer_url = \"http://localhost:{op_port}\"\nclient_id = \"gatehouse\"\nclient_secret = \"gatehouse-secret\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\nhttp_address = \"127.0.0.1:{port}\"\nsession_store_type = \"redis\"\nredis_connection_url = \"{}\"\nready_path = \"/readyz\"\n",
        redis.url(0)
    );
    let g = Gate::start(&cfg, &[], "127.0.0.1");
    let (status, body) = get(&g.url("/readyz")).await;
    assert_eq!(status, 503, "provider down");
    assert!(body.contains("identity provider"), "{body}");
    assert_eq!(get(&g.url("/ping")).await, (200, "OK".to_string()));

    let _op = Op::start(
        json!({"port": op_port, "clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": ["http://localhost/cb"]}]}),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&g.url("/readyz")).await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }

    Command::new("kill").args(["-STOP", &redis.pid().to_string()]).status().unwrap();
    let (status, body) = get(&g.url("/readyz")).await;
    Command::new("kill").args(["-CONT", &redis.pid().to_string()]).status().unwrap();
    assert_eq!(status, 503, "Redis stalled");
    assert!(body.contains("session store does not answer"), "{body}");
    assert_eq!(get(&g.url("/ping")).await.0, 200);
    assert_eq!(get(&g.url("/readyz")).await.0, 200, "ready again");
    assert_eq!(get(&g.url("/robots.txt")).await, (200, "User-agent: *\nDisallow: /".to_string()));
}

#[actix_web::test]
async fn health_checks_never_authorise_anything() {
    let app = Upstream::start();
    let g = Gate::start(
        &format!("{MINIMAL}http_address = \"127.0.0.1:0\"\nupstreams = [\"http://127.0.0.1:{}/\"]\n", app.port),
        &[],
        "127.0.0.1",
    );
    for ua in ["GoogleHC/1.0", "kube-probe/1.30", "ELB-HealthChecker/2.0"] {
        let res = awc::Client::default()
            .get(g.url("/app"))
            .insert_header(("User-Agent", ua))
            .insert_header(("Accept", "application/json"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{ua}");
    }
    assert!(app.requests().is_empty());
}

#[actix_web::test]
async fn sigterm_finishes_in_flight_requests_then_exits_0() {
    let app = Upstream::start();
    let (mut child, port, _dir) = start_binary("", &app);
    let cookie = session_cookie("alice", "alice@example.com", &[]).await;

    let mut tasks = Vec::new();
    for i in 0..50 {
        let path = if i % 5 == 0 { "/slow".to_string() } else { format!("/fast/{i}") };
        let (url, cookie) = (format!("http://127.0.0.1:{port}{path}"), cookie.clone());
        tasks.push(actix_web::rt::spawn(async move {
            let client = awc::Client::builder().timeout(Duration::from_secs(20)).finish();
            let mut res = client.get(url).insert_header(("Cookie", cookie)).send().await.map_err(|e| e.to_string())?;
            let body = res.body().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((res.status().as_u16(), String::from_utf8_lossy(&body).into_owned()))
        }));
    }
    // Let every request reach Gatehouse, then ask it to stop.
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let stopping = Instant::now();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    for t in tasks {
        let (status, body) = t.await.unwrap().expect("an in-flight request was dropped");
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(wait_exit(&mut child, Duration::from_secs(25)), Some(0));
    assert!(stopping.elapsed() < Duration::from_secs(10), "it took {:?} to stop", stopping.elapsed());
}

/// The `gatehouse` binary with `extra` config lines, standalone in front of `app`.
fn start_binary(extra: &str, app: &Upstream) -> (std::process::Child, u16, tempfile::TempDir) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("g.cfg");
    let listen = if extra.contains("https_address") { String::new() } else { format!("http_address = \"127.0.0.1:{port}\"\n") };
    std::fs::write(
        &cfg,
        format!(
            "{MINIMAL}{listen}cookie_secure = false\nupstreams = [\"http://127.0.0.1:{}/\"]\n{}",
            app.port,
            extra.replace("{port}", &port.to_string())
        ),
    )
    .unwrap();
    (spawn(&cfg, port), port, dir)
}

/// The `gatehouse` binary with the configuration file `cfg`, once it listens on `port`.
fn spawn(cfg: &std::path::Path, port: u16) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--config")
        .arg(cfg)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, "gatehouse");
    child
}

fn wait_exit(child: &mut std::process::Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "gatehouse did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issue 22, loss 1: with a second listener (metrics), actix's own signal handling stopped the
/// whole runtime as soon as that idle listener had stopped, and every request still waiting on
/// the upstream got an empty reply. Requests accepted before SIGTERM are answered, over
/// HTTP/1.1 (keep-alive) and HTTP/2.
#[actix_web::test]
async fn sigterm_answers_every_request_in_flight_whatever_else_listens() {
    let app = Upstream::start();
    let (cert, key) = crate::support::op::tutorial_cert();
    let h2 =
        format!("https_address = \"127.0.0.1:{{port}}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n", cert.display(), key.display());
    for (name, tls) in [("HTTP/1.1", ""), ("HTTP/2", h2.as_str())] {
        let metrics = free_port();
        let (mut child, port, _dir) = start_binary(&format!("metrics_address = \"127.0.0.1:{metrics}\"\n{tls}"), &app);
        let cookie = session_cookie("alice", "alice@example.com", &[]).await;
        let url = if tls.is_empty() { format!("http://127.0.0.1:{port}/slow") } else { format!("https://localhost:{port}/slow") };
        let client =
            if tls.is_empty() { awc::Client::builder().timeout(Duration::from_secs(20)).finish() } else { crate::standalone::h2_client() };
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (client, url, cookie) = (client.clone(), url.clone(), cookie.clone());
            tasks.push(actix_web::rt::spawn(async move {
                let mut res = client.get(url).insert_header(("Cookie", cookie)).send().await.map_err(|e| e.to_string())?;
                let body = res.body().await.map_err(|e| e.to_string())?;
                Ok::<_, String>((res.status().as_u16(), res.version(), String::from_utf8_lossy(&body).into_owned(), Instant::now()))
            }));
        }
        // Every request is waiting on the upstream (it answers /slow after 3 s).
        actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
        let signalled = Instant::now();
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        for t in tasks {
            let (status, version, body, done) = t.await.unwrap().unwrap_or_else(|e| panic!("{name}: a request in flight was lost: {e}"));
            assert_eq!((status, body.as_str()), (200, "slow"), "{name}");
            assert!(done > signalled, "{name}: answered before the signal, so it was not in flight");
            if !tls.is_empty() {
                assert_eq!(version, awc::http::Version::HTTP_2);
            }
        }
        assert_eq!(wait_exit(&mut child, Duration::from_secs(25)), Some(0), "{name}");
    }
}

/// At SIGTERM an open WebSocket is closed properly: the client gets a Close frame saying
/// "going away" (1001), not a cut connection, and the process does not wait out the drain
/// timeout for it.
#[actix_web::test]
async fn sigterm_closes_websockets_with_going_away() {
    use futures_util::StreamExt;
    let app = Upstream::start();
    let (mut child, port, _dir) = start_binary("proxy_websockets = true\n", &app);
    let cookie = session_cookie("alice", "alice@example.com", &[]).await;
    let (res, mut ws) =
        awc::Client::default().ws(format!("http://127.0.0.1:{port}/ws")).set_header("Cookie", cookie).connect().await.unwrap();
    assert_eq!(res.status(), 101);
    assert!(matches!(ws.next().await, Some(Ok(awc::ws::Frame::Text(_)))), "the echo's greeting");
    let signalled = Instant::now();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let frame = actix_web::rt::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a frame before the connection ends");
    match frame {
        Some(Ok(awc::ws::Frame::Close(Some(reason)))) => assert_eq!(reason.code, awc::ws::CloseCode::Away),
        other => panic!("expected Close(going away), got {other:?}"),
    }
    drop(ws);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), Some(0));
    assert!(signalled.elapsed() < Duration::from_secs(5), "it waited {:?} for the WebSocket", signalled.elapsed());
}

/// Issue 22, loss 2: with `shutdown_delay`, SIGTERM turns `/ready` to 503 at once while new
/// requests are still served for the delay; then the listeners close and the process exits 0.
#[actix_web::test]
async fn shutdown_delay_keeps_serving_while_ready_says_503() {
    let app = Upstream::start();
    let (mut child, port, _dir) = start_binary("shutdown_delay = \"2s\"\nskip_auth_routes = [\"^/open/\"]\n", &app);
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    assert_eq!(get(&url("/ping")).await.0, 200);
    let signalled = Instant::now();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = get(&url("/ready")).await;
    assert_eq!((status, body.as_str()), (503, "error: shutting down\n"));
    // New connections are still accepted and served during the delay.
    for i in 0..5 {
        let (status, body) = get(&url(&format!("/open/{i}"))).await;
        assert_eq!((status, body), (200, format!("app saw /open/{i}")));
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(signalled.elapsed() < Duration::from_millis(1800), "the checks above took the whole delay");
    // A request still in flight when the delay ends keeps the process alive while the listener
    // is already closed; it is answered.
    let cookie = session_cookie("alice", "alice@example.com", &[]).await;
    let slow = actix_web::rt::spawn(async move {
        let client = awc::Client::builder().timeout(Duration::from_secs(20)).finish();
        let mut res = client.get(format!("http://127.0.0.1:{port}/slow")).insert_header(("Cookie", cookie)).send().await.unwrap();
        (res.status().as_u16(), res.body().await.unwrap())
    });
    while signalled.elapsed() < Duration::from_millis(2500) {
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(child.try_wait().unwrap().is_none(), "alive: a request is in flight");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the listener closes when the delay ends");
    assert_eq!(slow.await.unwrap(), (200, actix_web::web::Bytes::from_static(b"slow")));
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), Some(0));
    assert!(signalled.elapsed() >= Duration::from_secs(2), "stopped before shutdown_delay passed");
}

/// A second signal during the drain stops at once, whatever is still in flight.
#[actix_web::test]
async fn a_second_signal_stops_at_once() {
    let app = Upstream::start();
    let (mut child, port, _dir) = start_binary("", &app);
    let cookie = session_cookie("alice", "alice@example.com", &[]).await;
    let _slow = actix_web::rt::spawn(async move {
        let client = awc::Client::builder().timeout(Duration::from_secs(20)).finish();
        let _ = client.get(format!("http://127.0.0.1:{port}/slow")).insert_header(("Cookie", cookie)).send().await;
    });
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert!(child.try_wait().unwrap().is_none(), "the first signal drains: the slow request is still in flight");
    let second = Instant::now();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), Some(1));
    assert!(second.elapsed() < Duration::from_secs(1), "the second signal took {:?}", second.elapsed());
}

#[actix_web::test]
async fn metrics_count_what_happened() {
    use crate::support::browser::Browser;
    let app = Upstream::start();
    let (port, metrics_port) = (free_port(), free_port());
    let op = Op::start(
        json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}]}),
    );
    let cfg = format!(
        "provider = \"oidc\"\noidc_issuer_url = \"{}\"\nclient_id = \"gatehouse\"\nclient_secret = \"gatehouse-secret\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\ncookie_secure = false\nhttp_address = \"127.0.0.1:{port}\"\nredirect_url = \"http://localhost:{port}/oauth2/callback\"\nupstreams = [\"http://127.0.0.1:{}/\"]\nmetrics_address = \"127.0.0.1:{metrics_port}\"\n",
        op.issuer, app.port
    );
    let g = Gate::start(&cfg, &[], "localhost");
    g.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&g.url("/oauth2/start?rd=%2F"), "alice").await.status, 302, "one login");
    assert_eq!(Browser::new(None).get(&g.url("/oauth2/auth")).await.status, 401, "one denied check");
    assert_eq!(b.get(&g.url("/app")).await.status, 200, "one proxied request");
    let (status, text) = get(&format!("http://127.0.0.1:{metrics_port}/metrics")).await;
    assert_eq!(status, 200);
    for line in [
        "gatehouse_logins_total{result=\"success\"} 1",
        "gatehouse_auth_decisions_total{result=\"unauthenticated\"} 1",
        "gatehouse_auth_decisions_total{result=\"authenticated\"} 1",
        "oauth2_proxy_requests_total{code=\"401\"} 1",
        "oauth2_proxy_requests_in_flight 0",
        "oauth2_proxy_response_duration_seconds_count{method=\"GET\"}",
        // The login's calls to the provider: one code redemption, timed.
        "gatehouse_idp_request_duration_seconds_count{endpoint=\"token\",result=\"ok\"} 1",
        "gatehouse_idp_request_duration_seconds_count{endpoint=\"discovery\",result=\"ok\"} 1",
        "gatehouse_idp_request_duration_seconds_count{endpoint=\"jwks\",result=\"ok\"} 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("alice"), "no user data in metrics");
    assert_eq!(get(&format!("http://127.0.0.1:{metrics_port}/anything")).await.0, 200, "every path, as oauth2-proxy");
}

/// Runs the binary through a login, an API request, a proxied request and a ping, and returns
/// what it printed on stdout and stderr, with the browser's session cookie.
async fn logged_run(extra: &str) -> (String, String, String) {
    use crate::support::browser::Browser;
    use std::io::Read;
    let app = Upstream::start();
    let port = free_port();
    let op = Op::start(
        json!({"clients": [{"client_id": "gatehouse", "client_secret": "CLIENT-SECRET-MARKER", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}]}),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("g.cfg");
    std::fs::write(
        &cfg,
        format!(
            "provider = \"oidc\"\noidc_issuer_url = \"{}\"\nclient_id = \"gatehouse\"\nclient_secret = \"CLIENT-SECRET-MARKER\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\ncookie_secure = false\nhttp_address = \"127.0.0.1:{port}\"\nredirect_url = \"http://localhost:{port}/oauth2/callback\"\nupstreams = [\"http://127.0.0.1:{}/\"]\npass_access_token = true\n{extra}",
            op.issuer, app.port
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    wait_for_port(port, "gatehouse");
    let base = format!("http://localhost:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&format!("{base}/oauth2/start")).await.0 == 503 {
        assert!(Instant::now() < deadline);
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let mut b = Browser::new(None);
    assert_eq!(b.login(&format!("{base}/oauth2/start?rd=%2Fapp"), "alice").await.status, 302);
    let cookie = b.cookie("_oauth2_proxy").unwrap();
    assert_eq!(
        b.get_with(&format!("{base}/app/page?x=1"), &[("User-Agent", "test \"agent\""), ("X-Request-Id", "req-123")]).await.status,
        200
    );
    // No ID, or one that is not sane: Gatehouse makes one up and the app gets that instead.
    assert_eq!(b.get(&format!("{base}/app/generated-id")).await.status, 200);
    assert_eq!(b.get_with(&format!("{base}/app/replaced-id"), &[("X-Request-Id", "not a sane id")]).await.status, 200);
    // Two copies: the app gets one, the first (the one logged).
    let raw = format!(
        "GET /app/two-ids HTTP/1.1\r\nHost: localhost:{port}\r\nCookie: _oauth2_proxy={cookie}\r\nX-Request-Id: first-id\r\nX-Request-Id: second id\r\nConnection: close\r\n\r\n"
    );
    let answer = crate::support::raw_request(&format!("127.0.0.1:{port}"), &raw).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(b.get(&format!("{base}/oauth2/userinfo")).await.status, 200);
    get(&format!("{base}/ping")).await;
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    let seen = app.requests();
    assert!(seen.iter().any(|r| r.header("x-request-id") == Some("req-123")), "the request ID is passed upstream");
    let made: Vec<String> = ["generated-id", "replaced-id"]
        .iter()
        .map(|path| {
            let r = seen.iter().find(|r| r.uri.contains(path)).unwrap_or_else(|| panic!("{path} reached the app"));
            r.header("x-request-id").unwrap_or_else(|| panic!("{path} came without a request ID")).to_string()
        })
        .collect();
    let two = seen.iter().find(|r| r.uri.contains("two-ids")).expect("the request with two IDs reached the app");
    let ids: Vec<&str> = two.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("x-request-id")).map(|(_, v)| v.as_str()).collect();
    assert_eq!(ids, ["first-id"], "one request ID reaches the app");
    let generated = regex::Regex::new("^[A-Za-z0-9_-]{16}$").unwrap();
    assert!(made.iter().all(|id| generated.is_match(id)) && made[0] != made[1], "generated request IDs: {made:?}");
    (out_t.join().unwrap(), err_t.join().unwrap(), cookie)
}

#[actix_web::test]
async fn request_and_auth_logs_in_oauth2_proxys_formats_and_no_secrets() {
    let (out, err, cookie) = logged_run("silence_ping_logging = true\n").await;
    let request = regex::Regex::new(r#"^127\.0\.0\.1:\d+ - req-123 - alice@example\.com \[\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\] localhost:\d+ GET / "/app/page\?x=1" HTTP/1\.1 "test \\"agent\\"" 200 \d+ \d+\.\d{3}$"#).unwrap();
    assert!(out.lines().any(|l| request.is_match(l)), "no request line like oauth2-proxy's in:\n{out}");
    let auth = regex::Regex::new(
        r"^127\.0\.0\.1:\d+ - \S+ - alice@example\.com \[\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\] \[AuthSuccess\] Authenticated via OAuth2$",
    )
    .unwrap();
    assert!(out.lines().any(|l| auth.is_match(l)), "no auth line in:\n{out}");
    assert!(!out.contains("\"/ping\""), "silence_ping_logging");
    let all = format!("{out}\n{err}");
    for secret in [cookie.as_str(), "CLIENT-SECRET-MARKER", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "eyJhbGci"] {
        assert!(!all.contains(secret), "{secret} appears in the logs");
    }
}

#[actix_web::test]
async fn json_logs_are_one_object_per_line() {
    let (out, _, _) = logged_run("log_format = \"json\"\n").await;
    let mut kinds = std::collections::HashSet::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        kinds.insert(v["type"].as_str().unwrap().to_string());
        if v["type"] == "request" && v["uri"] == "/app/page?x=1" {
            assert_eq!(v["request_id"], "req-123");
            assert_eq!(v["username"], "alice@example.com");
            assert_eq!(v["status"], 200);
        }
    }
    assert_eq!(kinds, ["auth", "request", "standard"].into_iter().map(String::from).collect());
}

#[actix_web::test]
async fn standard_lines_follow_standard_logging_format_and_everything_can_go_to_a_file() {
    // Standard lines on stdout, in the configured template.
    let (out, _, _) = logged_run("standard_logging_format = \"STD <{{.File}}> {{.Message}}\"\n").await;
    let std_line = regex::Regex::new(r"^STD <app\.rs:\d+> provider: Oidc, issuer http://localhost:\d+, client_id gatehouse$").unwrap();
    assert!(out.lines().any(|l| std_line.is_match(l)), "no standard line in the template in:\n{out}");

    // The default template is oauth2-proxy's `[{{.Timestamp}}] [{{.File}}] {{.Message}}`.
    let (out, _, _) = logged_run("").await;
    let default = regex::Regex::new(r"^\[\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\] \[app\.rs:\d+\] provider: Oidc").unwrap();
    assert!(out.lines().any(|l| default.is_match(l)), "{out}");

    // standard_logging = false: no standard lines; request lines stay.
    let (out, _, _) = logged_run("standard_logging = false\n").await;
    assert!(!out.contains("provider: Oidc"), "{out}");
    assert!(out.contains("\"/app/page?x=1\""), "{out}");

    // logging_filename: every kind of line in the file (created with its directory), none on stdout.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("logs/gatehouse.log");
    let (out, _, cookie) = logged_run(&format!("logging_filename = \"{}\"\n", file.display())).await;
    let text = std::fs::read_to_string(&file).unwrap();
    for want in ["provider: Oidc", "[AuthSuccess]", "\"/app/page?x=1\""] {
        assert!(text.contains(want), "{want} not in the log file:\n{text}");
        assert!(!out.contains(want), "{want} still on stdout");
    }
    assert!(!text.contains(&cookie) && !text.contains("CLIENT-SECRET-MARKER"));
}

#[actix_web::test]
async fn ping_user_agent_narrows_the_ping_and_opens_nothing() {
    let app = Upstream::start();
    let g = Gate::start(
        &format!(
            "{MINIMAL}http_address = \"127.0.0.1:0\"\nping_user_agent = \"GoogleHC/1.0\"\nupstreams = [\"http://127.0.0.1:{}/\"]\n",
            app.port
        ),
        &[],
        "127.0.0.1",
    );
    let client = awc::Client::default();
    let mut res = client.get(g.url("/ping")).insert_header(("User-Agent", "GoogleHC/1.0")).send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.body().await.unwrap()), (200, "OK".into()));
    let res = client
        .get(g.url("/ping"))
        .insert_header(("User-Agent", "curl/8"))
        .insert_header(("Accept", "application/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "another User-Agent on /ping is a normal request (needs a session)");
    let res = client
        .get(g.url("/app"))
        .insert_header(("User-Agent", "GoogleHC/1.0"))
        .insert_header(("Accept", "application/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the User-Agent opens no other path");
    assert!(app.requests().is_empty());
}

/// Error lines go to stderr, or to stdout with `errors_to_info_log`; `standard_logging = false`
/// silences the rest but not errors. The error here is a broken htpasswd file at a reload.
#[test]
fn error_lines_go_to_stderr_unless_errors_to_info_log() {
    use std::io::Read;
    for (extra, want_on_stdout) in [(vec![], false), (vec!["--errors-to-info-log"], true), (vec!["--standard-logging=false"], false)] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users");
        std::fs::write(&file, "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n").unwrap();
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["--config", "tests/fixtures/config/valid/minimal.cfg", &format!("--http-address=127.0.0.1:{port}")])
            .arg(format!("--htpasswd-file={}", file.display()))
            .args(&extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_port(port, "gatehouse");
        std::fs::write(&file, "alice:not-a-hash\n").unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        child.kill().unwrap();
        child.wait().unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let (errors_in, other) = if want_on_stdout { (&out, &err) } else { (&err, &out) };
        assert!(errors_in.contains("htpasswd_file not reloaded"), "{extra:?}: stdout:\n{out}\nstderr:\n{err}");
        assert!(!other.contains("htpasswd_file not reloaded"), "{extra:?}");
        assert_eq!(out.contains("listening on"), extra.first() != Some(&"--standard-logging=false"), "{extra:?}: {out}");
    }
}

/// An idle keep-alive connection stays open longer than any edge keeps its own idle connections
/// (actix's default closed it after 5 s): the edge, which is the one that sends, closes first,
/// so no request is sent on a connection we are closing.
#[actix_web::test]
async fn an_idle_keep_alive_connection_outlasts_the_edges() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let g = crate::support::gate("");
    let addr = g.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let ping = format!("GET /ping HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut buf = vec![0u8; 4096];
    for round in 0..2 {
        tcp.write_all(ping.as_bytes()).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.expect("an answer").unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(answer.starts_with("HTTP/1.1 200"), "round {round} after the connection idled: {answer:?}");
        if round == 0 {
            tokio::time::sleep(Duration::from_secs(7)).await;
        }
    }
}

/// Slowloris on a kept-alive connection: after one request, the next head sent a line per
/// second gets 408 within the head timeout (5 s), like a first request's. actix-http timed only
/// the first head, so this connection was held for ever (patched in vendor/actix-http).
#[actix_web::test]
async fn a_slow_head_on_a_reused_connection_is_cut_like_a_first_one() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let g = crate::support::gate("");
    let addr = g.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    tcp.write_all(format!("GET /ping HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    tcp.write_all(format!("GET /ping HTTP/1.1\r\nHost: {addr}\r\n").as_bytes()).await.unwrap();
    let started = Instant::now();
    let answer = loop {
        assert!(started.elapsed() < Duration::from_secs(9), "a head trickled for 9 s still holds the connection");
        tokio::select! {
            n = tcp.read(&mut buf) => break String::from_utf8_lossy(&buf[..n.unwrap_or(0)]).into_owned(),
            _ = tokio::time::sleep(Duration::from_secs(1)) => { let _ = tcp.write_all(b"X-Slow: 1\r\n").await; }
        }
    };
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(7), "cut after {:?}", started.elapsed());
}

/// A check answered before its chunked body arrives: the connection closes after the answer
/// instead of waiting, with no timer, for a body that never comes (patched in
/// vendor/actix-http; a sized body already closed it).
#[actix_web::test]
async fn an_unread_chunked_body_does_not_hold_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let g = crate::support::gate("");
    let addr = g.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(format!("POST /oauth2/auth HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n").as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(7), tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(read.is_ok(), "the connection is still open, waiting for the body: {answer}");
}

/// Forward-auth checks in flight at SIGTERM are answered too: checks of a cookie session due
/// for a refresh wait on a hung provider (`SIGSTOP`) when the signal arrives; the provider
/// comes back, every check gets its 202 with the refreshed session, and the process exits 0.
#[actix_web::test]
async fn sigterm_answers_forward_auth_checks_in_flight() {
    use crate::support::browser::Browser;
    let port = free_port();
    let op = Op::start(json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret",
        "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}]}));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("g.cfg");
    std::fs::write(&cfg, crate::support::plain_config(&op.issuer, port, "cookie_refresh = \"1s\"\n")).unwrap();
    let mut child = spawn(&cfg, port);
    crate::support::wait_discovered(&format!("http://localhost:{port}")).await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&format!("http://localhost:{port}/oauth2/start?rd=%2F"), "alice").await.status, 302);
    let cookie = format!("_oauth2_proxy={}", b.cookie("_oauth2_proxy").unwrap());
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;

    let op_pid = op.pid().to_string();
    Command::new("kill").args(["-STOP", &op_pid]).status().unwrap();
    let checks: Vec<_> = (0..10)
        .map(|_| {
            let (url, cookie) = (format!("http://127.0.0.1:{port}/oauth2/auth"), cookie.clone());
            actix_web::rt::spawn(async move {
                let client = awc::Client::builder().timeout(Duration::from_secs(20)).finish();
                client.get(url).insert_header(("Cookie", cookie)).send().await.map(|r| r.status().as_u16()).map_err(|e| e.to_string())
            })
        })
        .collect();
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    Command::new("kill").args(["-CONT", &op_pid]).status().unwrap();
    for c in checks {
        assert_eq!(c.await.unwrap(), Ok(202), "a check in flight at SIGTERM is answered");
    }
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), Some(0));
}
