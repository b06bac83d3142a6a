//! `make soak`: Gatehouse held under load and under faults, counting what is lost.
//!
//! The release `gatehouse` binary, the real provider (sessions from a real login), Redis and an
//! app, on loopback. Each row holds a load with wrk (or, for SIGTERM, requests in flight) and
//! counts every answer: a socket error, a status that is neither success nor (during a Redis
//! fault) 503, a request in flight not answered, or memory that grew more than 10% under a
//! steady load (first against last sample of a hold) is a loss, and any loss fails the run. It prints the table README's
//! "Reliability" section shows.
//!
//! Without `--full` (as `cargo test` runs it) every row runs briefly with fewer connections: a
//! smoke run, so the suite cannot rot; it judges statuses and the faults, and reports (without
//! judging) socket errors and memory under steady load. `--full` holds each load for 60 s
//! (`SOAK_SECONDS` changes that) at full size.

#[allow(dead_code)]
#[path = "../bench/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../it/support/mod.rs"]
mod support;

mod clients;
mod faults;
mod load;

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use harness::{Gatehouse, login};
use load::hold;
use support::op::Op;
use support::peers::Upstream;
use support::redis::Redis;
use support::{free_port, plain_config};

/// Sizes of the run: full, or the smoke `cargo test` runs.
struct Sizes {
    seconds: u64,
    many: u32,
    stall: Duration,
    in_flight: usize,
    idle: usize,
    slowloris: usize,
    abandoned: usize,
}

#[actix_web::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--full");
    #[allow(clippy::disallowed_methods)]
    let seconds = std::env::var_os("SOAK_SECONDS").and_then(|s| s.to_str()?.parse().ok()).unwrap_or(if full { 60 } else { 2 });
    let z = if full {
        Sizes { seconds, many: 2048, stall: Duration::from_secs(5), in_flight: 200, idle: 10_000, slowloris: 1000, abandoned: 100_000 }
    } else {
        Sizes { seconds, many: 512, stall: Duration::from_secs(2), in_flight: 20, idle: 500, slowloris: 50, abandoned: 2000 }
    };
    let _ = Command::new("prlimit").args(["--pid", &std::process::id().to_string(), "--nofile=30000:30000"]).status();

    let (p_cookie, p_redis, p_sentinel) = (free_port(), free_port(), free_port());
    let uris: Vec<_> = [p_cookie, p_redis, p_sentinel].iter().map(|p| format!("http://localhost:{p}/oauth2/callback")).collect();
    let op = Op::start(json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": uris}]}));
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
    let mut sessions = Vec::new();
    for _ in 0..8 {
        sessions.push(login(&redis_gate).await);
    }

    let head_timeout = Duration::from_secs(5);
    let rows = vec![
        hold("/oauth2/auth, cookie session", &gate, "/oauth2/auth", &cookie, 256, z.seconds, full).await,
        hold("/oauth2/auth, cookie session", &gate, "/oauth2/auth", &cookie, z.many, z.seconds, full).await,
        hold("/oauth2/auth, Redis session", &redis_gate, "/oauth2/auth", &redis_cookie, 256, z.seconds, full).await,
        hold("/oauth2/auth, Redis session", &redis_gate, "/oauth2/auth", &redis_cookie, z.many, z.seconds, full).await,
        hold("standalone proxy → app", &gate, "/page", &cookie, 256, z.seconds, full).await,
        hold("standalone proxy → app", &gate, "/page", &cookie, z.many, z.seconds, full).await,
        clients::idle_keep_alive(&gate, z.idle, z.seconds.min(10)).await,
        clients::slowloris(&gate, z.slowloris, false, head_timeout).await,
        clients::slowloris(&gate, z.slowloris, true, head_timeout).await,
        clients::slow_bodies(&gate, &cookie, z.slowloris).await,
        clients::abandoned(&gate, z.abandoned).await,
        clients::never_reads(&gate, &cookie, 16, z.seconds.min(10)).await,
        faults::redis_stall(&redis_gate, &redis, &redis_cookie, z.stall).await,
        faults::sentinel_failover(&op, p_sentinel).await,
        faults::provider_stall(&op, &redis, &sessions, z.stall).await,
        faults::sigterm_in_flight(&op, &app, &cookie, z.in_flight, 20).await,
        faults::upstream_silent(&op, &app, &cookie, 20).await,
        faults::upstream_restart(&op, &cookie, 10).await,
    ];

    println!("\n| held | injected | answered | lost | memory |\n|---|---|---|---:|---|");
    for r in &rows {
        println!("| {} | {} | {} | {} | {} |", r.held, r.injected, r.answered, r.lost, r.memory);
    }
    let lost: u64 = rows.iter().map(|r| r.lost).sum();
    println!("\n{} lost in {} rows", lost, rows.len());
    assert_eq!(lost, 0, "the soak lost answers (table above)");
}
