//! `make soak`: Gatehouse held under load and under faults, counting what is lost.
//!
//! The release `gatehouse` binary, the real provider (sessions from a real login), Redis and an
//! app, on loopback. Each row holds a load with wrk (or, for SIGTERM, requests in flight) and
//! counts every answer: a socket error, a status that is neither success nor (during a Redis
//! fault) 503, a request in flight not answered, or memory that grew more than 10% between
//! warm-up and the end is a loss, and any loss fails the run. It prints the table README's
//! "Reliability" section shows.
//!
//! Without `--full` (as `cargo test` runs it) every row runs for two seconds with fewer
//! connections: a smoke run, so the suite cannot rot; it judges statuses, the Redis fault and
//! SIGTERM, and reports (without judging) socket errors and memory. `--full` holds each load for 60 s
//! (`SOAK_SECONDS` changes that).

#[allow(dead_code)]
#[path = "../bench/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../it/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use harness::{Gatehouse, login, rss_mb};
use support::op::Op;
use support::peers::Upstream;
use support::redis::Redis;
use support::{free_port, plain_config};

/// What wrk counted.
#[derive(Debug, Default)]
struct Counts {
    requests: u64,
    ok: u64,
    unavailable: u64,
    other: u64,
    socket_errors: u64,
    p99: f64,
}

fn wrk(url: &str, cookie: &str, connections: u32, seconds: u64) -> Counts {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/soak/status.lua");
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--timeout", "5s", "-s"])
        .arg(&script)
        .args(["-H", &format!("Cookie: {cookie}")])
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("wrk is not installed ({e}): run `make deps` (Debian: apt-get install wrk)"));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("SOAK ")).unwrap_or_else(|| panic!("no wrk summary for {url}:\n{text}"));
    let v: Value = serde_json::from_str(line).unwrap();
    if v["socket_errors"].as_u64() != Some(0) {
        eprintln!("{url}: socket errors: connect {} read {} write {} timeout {}", v["connect"], v["read"], v["write"], v["timeout"]);
    }
    let n = |k: &str| v[k].as_u64().unwrap();
    Counts {
        requests: n("requests"),
        ok: n("ok"),
        unavailable: n("unavailable"),
        other: n("other"),
        socket_errors: n("socket_errors"),
        p99: v["p99"].as_f64().unwrap(),
    }
}

/// `wrk` on a thread of its own: this process's runtime also serves the app and must not
/// wait on wrk.
async fn wrk_off_thread(url: &str, cookie: &str, connections: u32, seconds: u64) -> Counts {
    let (url, cookie) = (url.to_string(), cookie.to_string());
    actix_web::rt::task::spawn_blocking(move || wrk(&url, &cookie, connections, seconds)).await.unwrap()
}

/// One line of the table.
struct Row {
    held: String,
    injected: String,
    answered: String,
    lost: u64,
    memory: String,
}

/// A load held on `url` with nothing injected: every answer a success, memory flat.
async fn hold(name: &str, gate: &Gatehouse, path: &str, cookie: &str, connections: u32, seconds: u64, full: bool) -> Row {
    let url = gate.url(path);
    // Warmed up with the same load long enough for every connection's buffers and the
    // allocator's arenas to exist: what grows after that is what a leak looks like.
    wrk_off_thread(&url, cookie, connections, seconds.min(10)).await;
    let before = rss_mb(gate.pid());
    let c = wrk_off_thread(&url, cookie, connections, seconds).await;
    let after = rss_mb(gate.pid());
    // Memory that grows more than 10% under a steady load is a leak. Judged on full runs only:
    // two seconds are not a steady state, so the smoke reports memory without judging it.
    let grew = full && after > before * 1.10;
    // A status other than success is a loss in any run; socket errors (a stalled connection
    // times out after 5 s) are judged on full runs, as two seconds of a debug build sharing two
    // cores with wrk are no measure of stalls.
    let lost = c.other + c.unavailable + if full { c.socket_errors } else { 0 } + u64::from(grew);
    Row {
        held: format!("{name}: {connections} connections, {seconds} s"),
        injected: "-".into(),
        answered: format!("{} of {} ok, p99 {:.1} ms", c.ok, c.requests, c.p99),
        lost,
        memory: format!("{before:.1} → {after:.1} MB{}", if grew { " (grew)" } else { "" }),
    }
}

/// Redis stopped (`SIGSTOP`) for `stall` under load: answers are successes or 503, never a
/// hang, an error or another status; after `SIGCONT` the next check succeeds within a second.
async fn redis_stall(gate: &Gatehouse, redis: &Redis, cookie: &str, stall: Duration) -> Row {
    let url = gate.url("/oauth2/auth");
    let load = stall.as_secs() + 4;
    let wrk_run = actix_web::rt::spawn({
        let (url, cookie) = (url.clone(), cookie.to_string());
        async move { wrk_off_thread(&url, &cookie, 64, load).await }
    });
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let pid = redis.pid().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    actix_web::rt::time::sleep(stall).await;
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    let resumed = Instant::now();
    let client = awc::Client::builder().timeout(Duration::from_secs(5)).finish();
    let recovered = loop {
        let status = client.get(&url).insert_header(("Cookie", cookie)).send().await.map(|r| r.status().as_u16()).ok();
        if status == Some(202) {
            break resumed.elapsed();
        }
        if resumed.elapsed() > Duration::from_secs(10) {
            break Duration::from_secs(10);
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    };
    let c = wrk_run.await.unwrap();
    let slow = recovered > Duration::from_secs(1);
    Row {
        held: format!("/oauth2/auth, Redis session: 64 connections, {load} s"),
        injected: format!("Redis stopped {} s, then resumed", stall.as_secs()),
        answered: format!("{} ok, {} 503, recovered in {} ms", c.ok, c.unavailable, recovered.as_millis()),
        lost: c.socket_errors + c.other + u64::from(slow),
        memory: "-".into(),
    }
}

/// SIGTERM while `n` requests wait on a slow upstream (3 s), with a metrics listener beside the
/// main one (which once cut them all): every one is answered, and the process exits 0.
async fn sigterm_in_flight(op: &Op, app: &Upstream, cookie: &str, n: usize) -> Row {
    let (port, metrics) = (free_port(), free_port());
    let extra = format!("upstreams = [\"http://127.0.0.1:{}/\"]\nmetrics_address = \"127.0.0.1:{metrics}\"\n", app.port);
    let mut gate = Gatehouse::start(&plain_config(&op.issuer, port, &extra), port);
    // No limit on the client's connections (awc's default is 100), so every request is
    // accepted by Gatehouse before the signal.
    let connector = awc::Connector::new().limit(0);
    let client = awc::Client::builder().connector(connector).timeout(Duration::from_secs(20)).finish();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let request = client.get(gate.url("/slow")).insert_header(("Cookie", cookie.to_string()));
            actix_web::rt::spawn(async move { request.send().await.map(|r| r.status().as_u16()).ok() })
        })
        .collect();
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    Command::new("kill").args(["-TERM", &gate.pid().to_string()]).status().unwrap();
    let mut answered = 0u64;
    for t in tasks {
        if t.await.unwrap() == Some(200) {
            answered += 1;
        }
    }
    let exit = gate.child.wait().unwrap().code();
    Row {
        held: format!("standalone proxy, {n} requests waiting on a 3 s upstream, a metrics listener beside"),
        injected: "SIGTERM".into(),
        answered: format!("{answered} of {n}, exit {}", exit.map_or("by signal".to_string(), |c| c.to_string())),
        lost: n as u64 - answered + u64::from(exit != Some(0)),
        memory: "-".into(),
    }
}

#[actix_web::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--full");
    #[allow(clippy::disallowed_methods)]
    let seconds = std::env::var_os("SOAK_SECONDS").and_then(|s| s.to_str()?.parse().ok()).unwrap_or(if full { 60 } else { 2 });
    let (many, stall) = if full { (2048, Duration::from_secs(5)) } else { (512, Duration::from_secs(2)) };
    let _ = Command::new("prlimit").args(["--pid", &std::process::id().to_string(), "--nofile=20000:20000"]).status();

    let (p_cookie, p_redis) = (free_port(), free_port());
    let op = Op::start(json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [
        format!("http://localhost:{p_cookie}/oauth2/callback"), format!("http://localhost:{p_redis}/oauth2/callback")]}]}));
    let redis = Redis::start(&[]);
    let app = Upstream::start();
    let common = format!("request_logging = false\nauth_logging = false\nupstreams = [\"http://127.0.0.1:{}/\"]\n", app.port);
    let gate = Gatehouse::start(&plain_config(&op.issuer, p_cookie, &common), p_cookie);
    let cookie = login(&gate).await;
    let redis_gate = Gatehouse::start(
        &plain_config(
            &op.issuer,
            p_redis,
            &format!("{common}session_store_type = \"redis\"\nredis_connection_url = \"{}\"\n", redis.url(0)),
        ),
        p_redis,
    );
    let redis_cookie = login(&redis_gate).await;

    let rows = vec![
        hold("/oauth2/auth, cookie session", &gate, "/oauth2/auth", &cookie, 256, seconds, full).await,
        hold("/oauth2/auth, cookie session", &gate, "/oauth2/auth", &cookie, many, seconds, full).await,
        hold("/oauth2/auth, Redis session", &redis_gate, "/oauth2/auth", &redis_cookie, 256, seconds, full).await,
        hold("standalone proxy → app", &gate, "/page", &cookie, 256, seconds, full).await,
        redis_stall(&redis_gate, &redis, &redis_cookie, stall).await,
        sigterm_in_flight(&op, &app, &cookie, if full { 200 } else { 20 }).await,
    ];

    println!("\n| held | injected | answered | lost | memory |\n|---|---|---|---:|---|");
    for r in &rows {
        println!("| {} | {} | {} | {} | {} |", r.held, r.injected, r.answered, r.lost, r.memory);
    }
    let lost: u64 = rows.iter().map(|r| r.lost).sum();
    println!("\n{} lost in {} rows", lost, rows.len());
    assert_eq!(lost, 0, "the soak lost answers (table above)");
}
