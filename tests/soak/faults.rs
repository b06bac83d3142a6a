//! Faults injected under load: Redis stopped or failed over, the provider hung while
//! refreshes are due, SIGTERM with requests in flight, an upstream that never answers or
//! crashes in the middle of its answers.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Gatehouse, login};
use crate::load::{Row, wrk_beside};
use crate::support::op::Op;
use crate::support::peers::Upstream;
use crate::support::redis::{Redis, SentinelSet};
use crate::support::{free_port, plain_config};

fn signal(pid: u32, sig: &str) {
    Command::new("kill").args([sig, &pid.to_string()]).status().unwrap();
}

fn client(timeout: Duration) -> awc::Client {
    // No limit on the client's connections (awc's default is 100).
    awc::Client::builder().connector(awc::Connector::new().limit(0)).timeout(timeout).disable_redirects().finish()
}

/// How long until `url` answers 202 again (polled every 20 ms, up to 10 s).
async fn recovery(url: &str, cookie: &str) -> Duration {
    let since = Instant::now();
    let client = client(Duration::from_secs(5));
    while since.elapsed() < Duration::from_secs(10) {
        if client.get(url).insert_header(("Cookie", cookie)).send().await.is_ok_and(|r| r.status() == 202) {
            return since.elapsed();
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    since.elapsed()
}

/// Redis stopped (`SIGSTOP`) for `stall` under load: answers are successes or 503, never a
/// hang, an error or another status; after `SIGCONT` the next check succeeds within a second.
pub async fn redis_stall(gate: &Gatehouse, redis: &Redis, cookie: &str, stall: Duration) -> Row {
    let url = gate.url("/oauth2/auth");
    let load = stall.as_secs() + 4;
    let wrk = wrk_beside(url.clone(), cookie, 64, load);
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    signal(redis.pid(), "-STOP");
    actix_web::rt::time::sleep(stall).await;
    signal(redis.pid(), "-CONT");
    let recovered = recovery(&url, cookie).await;
    let c = wrk.await.unwrap();
    Row {
        held: format!("/oauth2/auth, Redis session: 64 connections, {load} s"),
        injected: format!("Redis stopped {} s, then resumed", stall.as_secs()),
        answered: format!("{} ok, {} 503, recovered in {} ms", c.ok, c.unavailable, recovered.as_millis()),
        lost: c.socket_errors + c.other + u64::from(recovered > Duration::from_secs(1)),
        memory: "-".into(),
    }
}

/// A Sentinel failover under load (sessions in Redis behind three sentinels): answers are
/// successes or 503, the session survives, and checks succeed within a second of the switch.
pub async fn sentinel_failover(op: &Op, port: u16) -> Row {
    let set = SentinelSet::start();
    let urls = set.urls().iter().map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(", ");
    let extra = format!(
        "request_logging = false\nauth_logging = false\nsession_store_type = \"redis\"\nredis_use_sentinel = true\n\
         redis_sentinel_master_name = \"mymaster\"\nredis_sentinel_connection_urls = [{urls}]\n"
    );
    let gate = Gatehouse::start(&plain_config(&op.issuer, port, &extra), port);
    let cookie = login(&gate).await;
    set.master.cli(&["WAIT", "1", "2000"]);
    let url = gate.url("/oauth2/auth");
    let wrk = wrk_beside(url.clone(), &cookie, 64, 10);
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let before = set.master_port();
    set.sentinels[0].cli(&["SENTINEL", "FAILOVER", "mymaster"]);
    let deadline = Instant::now() + Duration::from_secs(8);
    while set.master_port() == before && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let switched = set.master_port() != before;
    let recovered = recovery(&url, &cookie).await;
    let c = wrk.await.unwrap();
    Row {
        held: "/oauth2/auth, Redis Sentinel session: 64 connections, 10 s".into(),
        injected: "SENTINEL FAILOVER (the replica becomes the master)".into(),
        answered: format!("{} ok, {} 503, session answered {} ms after the switch", c.ok, c.unavailable, recovered.as_millis()),
        lost: c.socket_errors + c.other + u64::from(!switched) + u64::from(recovered > Duration::from_secs(1)),
        memory: "-".into(),
    }
}

/// What one browser saw: statuses other than 202, and its slowest answer.
#[derive(Default)]
struct Seen {
    refused: u64,
    answered: u64,
    slowest: Duration,
}

/// A browser checking its session until `until`, keeping the cookies it is given.
async fn browse(url: String, mut cookie: String, until: Instant) -> Seen {
    let client = client(Duration::from_secs(15));
    let mut seen = Seen::default();
    while Instant::now() < until {
        let sent = Instant::now();
        match client.get(&url).insert_header(("Cookie", cookie.clone())).send().await {
            Ok(res) if res.status() == 202 => {
                let set = res.headers().get_all("set-cookie").filter_map(|v| v.to_str().ok());
                if let Some(c) = set.filter_map(|v| v.split(';').next()).find(|c| c.starts_with("_oauth2_proxy=")) {
                    cookie = c.to_string();
                }
                seen.answered += 1;
            }
            _ => seen.refused += 1,
        }
        seen.slowest = seen.slowest.max(sent.elapsed());
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    seen
}

/// The provider hung (`SIGSTOP`) for `stall` while `cookies.len()` Redis sessions are due for a
/// refresh every second (with Redis the refresh saves itself, so requests need not wait for it;
/// a cookie session waits, as only a response can save it): sessions keep working, no check waits more than the refresh's patience
/// (2 s) and a second, and the provider gets at most three refreshes per session in the hang
/// and the second after (the one it was hung on, the next due one, and one spare), not one per
/// request.
pub async fn provider_stall(op: &Op, redis: &Redis, cookies: &[String], stall: Duration) -> Row {
    let port = free_port();
    let extra = format!(
        "request_logging = false\nauth_logging = false\ncookie_refresh = \"1s\"\nsession_store_type = \"redis\"\nredis_connection_url = \"{}\"\n",
        redis.url(0)
    );
    let refreshing = Gatehouse::start(&plain_config(&op.issuer, port, &extra), port);
    let run = stall + Duration::from_secs(6);
    let until = Instant::now() + run;
    let browsers: Vec<_> = cookies.iter().map(|c| actix_web::rt::spawn(browse(refreshing.url("/oauth2/auth"), c.clone(), until))).collect();
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    op.control("POST", "reset-stats", json!({})).await;
    signal(op.pid(), "-STOP");
    actix_web::rt::time::sleep(stall).await;
    signal(op.pid(), "-CONT");
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let (_, ok, failed) = op.grants().await;
    let mut all = Seen::default();
    for b in browsers {
        let s = b.await.unwrap();
        all.refused += s.refused;
        all.answered += s.answered;
        all.slowest = all.slowest.max(s.slowest);
    }
    let n = cookies.len() as u64;
    let herd = ok + failed > 3 * n;
    let slow = all.slowest > Duration::from_secs(3);
    Row {
        held: format!("/oauth2/auth, {n} Redis sessions due for a refresh every second, {} s", run.as_secs()),
        injected: format!("provider hung {} s (SIGSTOP), then resumed", stall.as_secs()),
        answered: format!(
            "{} of {} ok, slowest {:.1} s; the provider got {} refresh grants in the hang and the second after",
            all.answered,
            all.answered + all.refused,
            all.slowest.as_secs_f64(),
            ok + failed
        ),
        lost: all.refused + u64::from(herd) + u64::from(slow),
        memory: "-".into(),
    }
}

/// A WebSocket through the proxy, opened and greeted (counted in `opened`), then held until it
/// ends: whether it ended with a Close frame saying "going away" (1001).
async fn websocket_closed_going_away(url: String, cookie: String, opened: std::rc::Rc<std::cell::Cell<usize>>) -> bool {
    use futures_util::StreamExt;
    let Ok((_, mut ws)) = awc::Client::default().ws(url).set_header("Cookie", cookie).connect().await else { return false };
    if !matches!(ws.next().await, Some(Ok(awc::ws::Frame::Text(_)))) {
        return false;
    }
    opened.set(opened.get() + 1);
    let frame = actix_web::rt::time::timeout(Duration::from_secs(30), ws.next()).await;
    matches!(frame, Ok(Some(Ok(awc::ws::Frame::Close(Some(reason))))) if reason.code == awc::ws::CloseCode::Away)
}

/// SIGTERM while `n` requests wait on a slow upstream (3 s) and `sockets` WebSockets are open,
/// with a metrics listener beside the main one (which once cut them all): every request is
/// answered, every WebSocket gets a Close frame saying "going away", and the process exits 0.
pub async fn sigterm_in_flight(op: &Op, app: &Upstream, cookie: &str, n: usize, sockets: usize) -> Row {
    let (port, metrics) = (free_port(), free_port());
    let extra =
        format!("proxy_websockets = true\nupstreams = [\"http://127.0.0.1:{}/\"]\nmetrics_address = \"127.0.0.1:{metrics}\"\n", app.port);
    let mut gate = Gatehouse::start(&plain_config(&op.issuer, port, &extra), port);
    let opened = std::rc::Rc::new(std::cell::Cell::new(0));
    let sockets_held: Vec<_> = (0..sockets)
        .map(|_| actix_web::rt::spawn(websocket_closed_going_away(gate.url("/ws"), cookie.to_string(), opened.clone())))
        .collect();
    let client = client(Duration::from_secs(20));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let request = client.get(gate.url("/slow")).insert_header(("Cookie", cookie.to_string()));
            actix_web::rt::spawn(async move { request.send().await.map(|r| r.status().as_u16()).ok() })
        })
        .collect();
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let open = opened.get();
    signal(gate.pid(), "-TERM");
    let mut answered = 0u64;
    for t in tasks {
        if t.await.unwrap() == Some(200) {
            answered += 1;
        }
    }
    let mut closed = 0u64;
    for c in sockets_held {
        closed += u64::from(c.await.unwrap());
    }
    let exit = gate.child.wait().unwrap().code();
    Row {
        held: format!("standalone proxy, {n} requests waiting on a 3 s upstream, {sockets} WebSockets open, a metrics listener beside"),
        injected: "SIGTERM".into(),
        answered: format!(
            "{answered} of {n} answered, {closed} of {sockets} WebSockets ({open} open at the signal) closed with 1001, exit {}",
            exit.map_or("by signal".to_string(), |c| c.to_string())
        ),
        lost: (n as u64 - answered) + (sockets as u64 - closed) + u64::from(exit != Some(0)),
        memory: "-".into(),
    }
}

/// An upstream that accepts connections and never answers, beside a healthy one:
/// `upstream_timeout` (2 s) answers 504 for each request to it, and the healthy one is served.
pub async fn upstream_silent(op: &Op, app: &Upstream, cookie: &str, n: usize) -> Row {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().map_while(Result::ok).collect();
        drop(held);
    });
    let port = free_port();
    let extra = format!(
        "request_logging = false\nupstream_timeout = \"2s\"\nupstreams = [\"http://127.0.0.1:{silent_port}/silent/\", \"http://127.0.0.1:{}/\"]\n",
        app.port
    );
    let gate = Gatehouse::start(&plain_config(&op.issuer, port, &extra), port);
    let beside = wrk_beside(gate.url("/page"), cookie, 16, 4);
    let client = client(Duration::from_secs(10));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let request = client.get(gate.url(&format!("/silent/{i}"))).insert_header(("Cookie", cookie.to_string()));
            actix_web::rt::spawn(async move {
                let sent = Instant::now();
                (request.send().await.map(|r| r.status().as_u16()).unwrap_or(0), sent.elapsed())
            })
        })
        .collect();
    let (mut timed_out, mut slowest) = (0u64, Duration::ZERO);
    for t in tasks {
        let (status, took) = t.await.unwrap();
        if status == 504 && took < Duration::from_secs(4) {
            timed_out += 1;
        }
        slowest = slowest.max(took);
    }
    let beside = beside.await.unwrap();
    Row {
        held: "standalone proxy, 16 connections to a healthy upstream, 4 s".into(),
        injected: format!("{n} requests to an upstream that never answers (upstream_timeout 2 s)"),
        answered: format!(
            "{timed_out} of {n} got 504, the last after {:.1} s; healthy {} of {} ok",
            slowest.as_secs_f64(),
            beside.ok,
            beside.requests
        ),
        lost: (n as u64 - timed_out) + beside.other + beside.socket_errors,
        memory: "-".into(),
    }
}

/// What a client got for a response the upstream was streaming.
async fn drip_answer(client: awc::Client, url: String, cookie: String, want: usize) -> &'static str {
    match client.get(url).insert_header(("Cookie", cookie)).send().await {
        Ok(mut res) if res.status() == 200 => match res.body().limit(1 << 20).await {
            Ok(body) if body.len() == want => "whole",
            // A body that ends early without an error would pass a cut answer off as whole.
            Ok(_) => "short",
            Err(_) => "cut",
        },
        Ok(res) if res.status() == 502 => "502",
        _ => "other",
    }
}

/// The upstream crashes while streaming answers (each 3 s long), then comes back on its
/// port: the cut answers end in an error (never a short answer that looks whole), requests
/// while it is down get 502, it is used again at once when back, and checks of sessions are not
/// affected.
pub async fn upstream_restart(op: &Op, cookie: &str, n: usize) -> Row {
    let app = Upstream::start();
    let app_port = app.port;
    let port = free_port();
    let extra = format!("request_logging = false\nupstreams = [\"http://127.0.0.1:{app_port}/\"]\n");
    let gate = Gatehouse::start(&plain_config(&op.issuer, port, &extra), port);
    let checks = wrk_beside(gate.url("/oauth2/auth"), cookie, 8, 5);
    let c = client(Duration::from_secs(10));
    let streams: Vec<_> =
        (0..n).map(|_| actix_web::rt::spawn(drip_answer(c.clone(), gate.url("/drip/30"), cookie.to_string(), 30 * 1024))).collect();
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    app.crash().await;
    let mut kinds = std::collections::BTreeMap::<&str, u64>::new();
    for s in streams {
        *kinds.entry(s.await.unwrap()).or_default() += 1;
    }
    let down = drip_answer(c.clone(), gate.url("/drip/1"), cookie.to_string(), 1024).await;
    let back = Upstream::start_on(app_port);
    let since = Instant::now();
    let mut again = "";
    while since.elapsed() < Duration::from_secs(5) {
        again = drip_answer(c.clone(), gate.url("/drip/1"), cookie.to_string(), 1024).await;
        if again == "whole" {
            break;
        }
    }
    let served_again = since.elapsed();
    drop(back);
    let checks = checks.await.unwrap();
    let cut = kinds.get("cut").copied().unwrap_or(0);
    Row {
        held: "/oauth2/auth, 8 connections, 5 s, beside the proxy's answers".into(),
        injected: format!("upstream crashed while streaming {n} answers, then restarted"),
        answered: format!(
            "{cut} of {n} cut with an error ({kinds:?}); while down: {down}; back: {again} after {} ms; checks {} of {} ok",
            served_again.as_millis(),
            checks.ok,
            checks.requests
        ),
        lost: (n as u64 - cut) + u64::from(down != "502") + u64::from(again != "whole") + checks.other + checks.socket_errors,
        memory: "-".into(),
    }
}
