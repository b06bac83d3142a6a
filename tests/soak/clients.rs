//! Clients that hold connections: idle keep-alive, slowloris heads and bodies, abandoned
//! connections and a client that never reads its answer. Others are served meanwhile, and file descriptors
//! return to where they were.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Gatehouse, rss_mb};
use crate::load::{Row, fds, wrk_beside, wrk_off_thread};

fn ping(gate: &Gatehouse) -> String {
    format!("GET /ping HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", gate.port)
}

/// Sends `request` and reads one answer: whether it was a 200.
async fn exchange(s: &mut TcpStream, request: &str) -> bool {
    let mut buf = [0u8; 1024];
    s.write_all(request.as_bytes()).await.is_ok()
        && matches!(tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await, Ok(Ok(n)) if buf[..n].starts_with(b"HTTP/1.1 200"))
}

/// Connections closed by reset (`SO_LINGER` 0): no `TIME_WAIT` left on our side, so a hundred
/// thousand of them do not run out of ports.
fn abandon(s: TcpStream) {
    #[allow(deprecated)]
    let _ = s.set_linger(Some(Duration::ZERO));
}

/// `n` keep-alive connections opened, each answered once, then held idle for `seconds` while
/// others load `/ping`; each must still answer at the end.
pub async fn idle_keep_alive(gate: &Gatehouse, n: usize, seconds: u64) -> Row {
    let addr = format!("127.0.0.1:{}", gate.port);
    let (rss0, fd0) = (rss_mb(gate.pid()), fds(gate.pid()));
    let mut conns = Vec::with_capacity(n);
    let mut failed = 0u64;
    for _ in 0..n {
        match TcpStream::connect(&addr).await {
            Ok(mut s) => match exchange(&mut s, &ping(gate)).await {
                true => conns.push(s),
                false => failed += 1,
            },
            Err(_) => failed += 1,
        }
    }
    let rss1 = rss_mb(gate.pid());
    let beside = wrk_off_thread(&gate.url("/ping"), "", 16, seconds).await;
    for s in conns.iter_mut() {
        if !exchange(s, &ping(gate)).await {
            failed += 1;
        }
    }
    conns.into_iter().for_each(abandon);
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let fd1 = fds(gate.pid());
    Row {
        held: format!("{n} idle keep-alive connections, {seconds} s, /ping loaded beside"),
        injected: "-".into(),
        answered: format!(
            "{} of {n} answered again after idling; /ping {} of {} ok, p99 {:.1} ms",
            n as u64 - failed.min(n as u64),
            beside.ok,
            beside.requests,
            beside.p99
        ),
        lost: failed + beside.other + beside.socket_errors + u64::from(fd1 > fd0 + 8),
        memory: format!("{rss0:.1} → {rss1:.1} MB ({:.1} KB each); fds {fd0} → {fd1} after", (rss1 - rss0) * 1024.0 / n as f64),
    }
}

/// One slowloris connection: `prefix` sent whole, then a header line every second, never the
/// end of the head.
async fn trickle(addr: String, prefix: String, limit: Duration) -> Option<Duration> {
    let mut s = TcpStream::connect(&addr).await.ok()?;
    if !prefix.is_empty() && !exchange(&mut s, &prefix).await {
        return Some(Duration::ZERO);
    }
    let head = format!("GET /ping HTTP/1.1\r\nHost: {addr}\r\n");
    drip_until_let_go(s, &head, b"X-Slow: 1\r\n", limit).await
}

/// Sends `start`, then `drip` every second, until the server answers or closes: how long that
/// took (`None`: still connected after `limit`).
async fn drip_until_let_go(mut s: TcpStream, start: &str, drip: &[u8], limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    if s.write_all(start.as_bytes()).await.is_err() {
        return Some(Duration::ZERO);
    }
    let mut buf = [0u8; 1024];
    while started.elapsed() < limit {
        tokio::select! {
            // An answer (408) or the end of the connection: either way the server let go.
            _ = s.read(&mut buf) => return Some(started.elapsed()),
            _ = actix_web::rt::time::sleep(Duration::from_secs(1)) => {
                if s.write_all(drip).await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
    abandon(s);
    None
}

/// How many of the slow clients were still held, and the longest any took to be let go.
async fn tally(tasks: Vec<actix_web::rt::task::JoinHandle<Option<Duration>>>) -> (u64, Duration) {
    let (mut held, mut longest) = (0u64, Duration::ZERO);
    for t in tasks {
        match t.await.unwrap() {
            Some(after) => longest = longest.max(after),
            None => held += 1,
        }
    }
    (held, longest)
}

/// `n` clients sending a request head a line per second (on a fresh connection, or after a
/// first request on a kept-alive one): each is closed within the head timeout, while others
/// load `/ping`.
pub async fn slowloris(gate: &Gatehouse, n: usize, reused: bool, head_timeout: Duration) -> Row {
    let addr = format!("127.0.0.1:{}", gate.port);
    let limit = head_timeout * 3;
    // Beside the slow clients while they should be cut (the head timeout and a little more).
    let beside = wrk_beside(gate.url("/ping"), "", 16, head_timeout.as_secs() + 3);
    let prefix = if reused { ping(gate) } else { String::new() };
    let tasks: Vec<_> = (0..n).map(|_| actix_web::rt::spawn(trickle(addr.clone(), prefix.clone(), limit))).collect();
    let (held, longest) = tally(tasks).await;
    let beside = beside.await.unwrap();
    let late = longest > head_timeout + Duration::from_secs(2);
    Row {
        held: format!("/ping loaded, 16 connections; {n} slowloris clients"),
        injected: format!("a header line per second{}", if reused { ", after a first request on the connection" } else { "" }),
        answered: format!(
            "{} of {n} closed, the last after {:.1} s; /ping {} of {} ok, p99 {:.1} ms",
            n as u64 - held,
            longest.as_secs_f64(),
            beside.ok,
            beside.requests,
            beside.p99
        ),
        lost: held + u64::from(late) + beside.other + beside.socket_errors,
        memory: "-".into(),
    }
}

/// One slow body: a proxied upload announcing 100,000 bytes and sending one a second.
async fn slow_body(addr: String, cookie: String, limit: Duration) -> Option<Duration> {
    let s = TcpStream::connect(&addr).await.ok()?;
    let head = format!("POST /upload HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nContent-Length: 100000\r\n\r\n");
    drip_until_let_go(s, &head, b"x", limit).await
}

/// `n` clients uploading through the proxy a byte a second (slowloris for bodies): each is
/// cut once it falls behind (240 bytes a second after 5 s), while others load `/ping`.
pub async fn slow_bodies(gate: &Gatehouse, cookie: &str, n: usize) -> Row {
    let addr = format!("127.0.0.1:{}", gate.port);
    let limit = Duration::from_secs(15);
    let beside = wrk_beside(gate.url("/ping"), "", 16, 8);
    let tasks: Vec<_> = (0..n).map(|_| actix_web::rt::spawn(slow_body(addr.clone(), cookie.to_string(), limit))).collect();
    let (held, longest) = tally(tasks).await;
    let beside = beside.await.unwrap();
    Row {
        held: format!("/ping loaded, 16 connections; {n} uploads through the proxy"),
        injected: "a body byte per second".into(),
        answered: format!(
            "{} of {n} cut, the last after {:.1} s; /ping {} of {} ok, p99 {:.1} ms",
            n as u64 - held,
            longest.as_secs_f64(),
            beside.ok,
            beside.requests,
            beside.p99
        ),
        lost: held + u64::from(longest > Duration::from_secs(8)) + beside.other + beside.socket_errors,
        memory: "-".into(),
    }
}

/// `n` connections opened and abandoned (reset: half before sending anything, half in the
/// middle of a request head) while `/ping` is loaded; its p99 is reported and file
/// descriptors return to where they were.
pub async fn abandoned(gate: &Gatehouse, n: usize) -> Row {
    let addr = format!("127.0.0.1:{}", gate.port);
    let fd0 = fds(gate.pid());
    let started = Instant::now();
    let beside = wrk_beside(gate.url("/ping"), "", 4, if n > 10_000 { 10 } else { 4 });
    let mut refused = 0u64;
    for i in 0..n {
        match TcpStream::connect(&addr).await {
            Ok(mut s) => {
                if i % 2 == 1 {
                    let _ = s.write_all(b"GET /oauth2/auth HTTP/1.1\r\nHost: x\r\nCookie: _oauth2").await;
                }
                abandon(s);
            }
            Err(_) => refused += 1,
        }
    }
    let took = started.elapsed();
    let beside = beside.await.unwrap();
    // Connections reset in a head are dropped when the server next reads them.
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let fd1 = fds(gate.pid());
    Row {
        held: format!("/ping loaded, 4 connections; {n} connections opened and reset, in {:.0} s", took.as_secs_f64()),
        injected: "half reset before a byte, half in a request head".into(),
        answered: format!("/ping {} of {} ok, p99 {:.1} ms; {refused} connects refused", beside.ok, beside.requests, beside.p99),
        lost: refused + beside.other + beside.socket_errors + u64::from(fd1 > fd0 + 8),
        memory: format!("fds {fd0} → {fd1}"),
    }
}

/// `n` clients ask for 200 MB through the proxy and never read it, for `seconds`, while others
/// use the proxy: those are served, memory stays bounded (the upstream is read only as fast as
/// the client reads), and each client's connection and its upstream connection are freed once
/// the client goes away.
pub async fn never_reads(gate: &Gatehouse, cookie: &str, n: usize, seconds: u64) -> Row {
    let addr = format!("127.0.0.1:{}", gate.port);
    let (rss0, fd0) = (rss_mb(gate.pid()), fds(gate.pid()));
    let request = format!("GET /download/209715200 HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n");
    let mut conns = Vec::new();
    for _ in 0..n {
        if let Ok(mut s) = TcpStream::connect(&addr).await
            && s.write_all(request.as_bytes()).await.is_ok()
        {
            conns.push(s);
        }
    }
    let beside = wrk_off_thread(&gate.url("/page"), cookie, 32, seconds).await;
    let rss1 = rss_mb(gate.pid());
    let opened = conns.len() as u64;
    let held = fds(gate.pid());
    conns.into_iter().for_each(abandon);
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let fd1 = fds(gate.pid());
    // Each client that went away frees its connection and the upstream connection that fed it
    // (wrk's 32 keep their pooled upstream connections, so the count before is no baseline).
    let kept = fd1 + 2 * opened as usize > held;
    let grew = rss1 - rss0 > 64.0;
    Row {
        held: format!("standalone proxy, 32 connections, {seconds} s; {n} clients never reading a 200 MB answer"),
        injected: "clients that stop reading".into(),
        answered: format!("{} of {} ok, p99 {:.1} ms", beside.ok, beside.requests, beside.p99),
        lost: (n as u64 - opened) + beside.other + beside.socket_errors + u64::from(grew) + u64::from(kept),
        memory: format!("{rss0:.1} → {rss1:.1} MB{}; fds {fd0}, {held} while held, {fd1} after", if grew { " (grew)" } else { "" }),
    }
}
