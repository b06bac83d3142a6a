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
    // Warmed up with the same load, twice: every connection's buffers and the allocator's
    // arenas exist, and the allocator has seen a whole set of connections closed and another
    // opened (as the measured run opens its own).
    for _ in 0..2 {
        wrk_off_thread(&url, cookie, connections, (seconds.min(10) / 2).max(1)).await;
    }
    let idle_before = rss_mb(gate.pid());
    // Memory is judged under the load, every 5 s of the hold but its end: the first sample (all the
    // connections open and warm) against the last. Between two wrk runs every connection is
    // closed and what the allocator keeps of their buffers varies by run (a set of 2,048 is
    // about 30 MB): idle RSS before and after is reported, not judged. Under load it is flat:
    // 81.7 MB in each of 18 samples of a 90 s hold at 2,048 connections.
    let pid = gate.pid();
    let samples = std::thread::spawn(move || {
        (0..(seconds / 5).saturating_sub(1))
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_secs(5));
                rss_mb(pid)
            })
            .collect::<Vec<f64>>()
    });
    let c = wrk_off_thread(&url, cookie, connections, seconds).await;
    let idle_after = rss_mb(gate.pid());
    let samples = samples.join().unwrap_or_default();
    let (first, last) = (samples.first().copied().unwrap_or(0.0), samples.last().copied().unwrap_or(0.0));
    // Memory that grows more than 10% under a steady load is a leak. Judged on full runs only:
    // two seconds are not a steady state, so the smoke reports memory without judging it.
    let grew = full && last > first * 1.10;
    // A status other than success is a loss in any run; socket errors (a stalled connection
    // times out after 5 s) are judged on full runs, as two seconds of a debug build sharing two
    // cores with wrk are no measure of stalls.
    let lost = c.other + c.unavailable + if full { c.socket_errors } else { 0 } + u64::from(grew);
    let loaded = if samples.is_empty() { String::new() } else { format!("loaded {first:.1} → {last:.1} MB; ") };
    Row {
        held: format!("{name}: {connections} connections, {seconds} s"),
        injected: "-".into(),
        answered: format!("{} of {} ok, p99 {:.1} ms", c.ok, c.requests, c.p99),
        lost,
        memory: format!("{loaded}idle {idle_before:.1} → {idle_after:.1} MB{}", if grew { " (grew)" } else { "" }),
    }
}
