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
    assert!(body.contains("Redis"), "{body}");
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
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("g.cfg");
    std::fs::write(
        &cfg,
        format!("{MINIMAL}http_address = \"127.0.0.1:{port}\"\ncookie_secure = false\nupstreams = [\"http://127.0.0.1:{}/\"]\n", app.port),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, "gatehouse");
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
    let deadline = Instant::now() + Duration::from_secs(25);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        assert!(Instant::now() < deadline, "gatehouse did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    assert!(stopping.elapsed() < Duration::from_secs(10), "it took {:?} to stop", stopping.elapsed());
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
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("alice"), "no user data in metrics");
    assert_eq!(get(&format!("http://127.0.0.1:{metrics_port}/anything")).await.0, 200, "every path, as oauth2-proxy");
}
