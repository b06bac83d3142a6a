//! Load held with wrk, what it counted, and the table's rows.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::{Gatehouse, rss_mb};

/// What wrk counted.
#[derive(Debug, Default)]
pub struct Counts {
    pub requests: u64,
    pub ok: u64,
    pub unavailable: u64,
    pub other: u64,
    pub socket_errors: u64,
    pub p99: f64,
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
pub async fn wrk_off_thread(url: &str, cookie: &str, connections: u32, seconds: u64) -> Counts {
    let (url, cookie) = (url.to_string(), cookie.to_string());
    actix_web::rt::task::spawn_blocking(move || wrk(&url, &cookie, connections, seconds)).await.unwrap()
}

/// wrk started now on `url` for `seconds`, awaited later: the load beside a fault.
pub fn wrk_beside(url: String, cookie: &str, connections: u32, seconds: u64) -> actix_web::rt::task::JoinHandle<Counts> {
    let cookie = cookie.to_string();
    actix_web::rt::spawn(async move { wrk_off_thread(&url, &cookie, connections, seconds).await })
}

/// A process's open file descriptors.
pub fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// One line of the table.
pub struct Row {
    pub held: String,
    pub injected: String,
    pub answered: String,
    pub lost: u64,
    pub memory: String,
}

/// A load held on `path` with nothing injected: every answer a success, memory flat.
pub async fn hold(name: &str, gate: &Gatehouse, path: &str, cookie: &str, connections: u32, seconds: u64, full: bool) -> Row {
    let url = gate.url(path);
    // Warmed up with the same load, three times: every connection's buffers and the
    // allocator's arenas exist, and the allocator has seen whole sets of connections closed
    // and others opened (as the measured run opens its own). Each new set of 2,048 connections
    // grows RSS a little less, then it stays flat for as long as the set is held: three 90 s
    // holds after one warm-up went 71.8 → 81.7 → 83.2 → 83.3 MB (flat within each hold), and
    // after two warm-ups 77.2 → 83.0. A ceiling the allocator reaches, not a leak.
    for _ in 0..3 {
        wrk_off_thread(&url, cookie, connections, (seconds.min(10) / 2).max(1)).await;
    }
    let before = rss_mb(gate.pid());
    // Sampled during the hold too, so memory that grows and is given back by the end is seen.
    let pid = gate.pid();
    let samples = std::thread::spawn(move || {
        (0..seconds / 5)
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_secs(5));
                rss_mb(pid)
            })
            .fold(0.0_f64, f64::max)
    });
    let c = wrk_off_thread(&url, cookie, connections, seconds).await;
    let after = rss_mb(gate.pid());
    let peak = samples.join().unwrap_or(0.0).max(after);
    // Memory that grows more than 10% under a steady load is a leak. Judged on full runs only:
    // two seconds are not a steady state, so the smoke reports memory without judging it.
    let grew = full && peak > before * 1.10;
    // A status other than success is a loss in any run; socket errors (a stalled connection
    // times out after 5 s) are judged on full runs, as two seconds of a debug build sharing two
    // cores with wrk are no measure of stalls.
    let lost = c.other + c.unavailable + if full { c.socket_errors } else { 0 } + u64::from(grew);
    Row {
        held: format!("{name}: {connections} connections, {seconds} s"),
        injected: "-".into(),
        answered: format!("{} of {} ok, p99 {:.1} ms", c.ok, c.requests, c.p99),
        lost,
        memory: format!("{before:.1} → {after:.1} MB (peak {peak:.1}){}", if grew { " (grew)" } else { "" }),
    }
}
