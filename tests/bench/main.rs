//! `make bench`: Gatehouse against nginx on this machine, in one run, with wrk.
//!
//! Everything starts on loopback: the real OpenID Provider (sessions come from a real login),
//! Redis, nginx (the ceiling, the static app and its own proxy_pass), nginx with the shipped
//! `nginx/` configuration in front of Gatehouse, and the release `gatehouse` binary. Every rung
//! is warmed up, then run in five rounds (each round runs every rung once), and the median
//! reported; the targets are ratios between rungs of the same run, so a noisy machine moves
//! both sides.
//!
//! Without `--full` (as `cargo test` runs it) every rung runs once for one second: a smoke run
//! so the benchmark cannot rot; the table is printed but no target is enforced.

mod harness;
#[allow(dead_code)]
#[path = "../it/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use harness::{Gatehouse, login, rss_mb};
use support::browser::Browser;
use support::op::Op;
use support::peers::{Shipped, nginx, wait_for_port};
use support::redis::Redis;
use support::{free_port, plain_config};

struct Mode {
    full: bool,
    seconds: u32,
    runs: usize,
    connections: u32,
}

#[derive(Debug, Clone, Default)]
struct Result1 {
    rps: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    errors: u64,
    rss_mb: f64,
}

fn wrk(mode: &Mode, url: &str, headers: &[(&str, &str)], tokens: Option<&Path>, seconds: u32) -> Result1 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/report.lua");
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", &format!("-c{}", mode.connections), &format!("-d{seconds}s"), "--timeout", "5s", "-s"]).arg(&script);
    for (k, v) in headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    cmd.arg(url);
    if let Some(t) = tokens {
        cmd.arg("--").arg(t);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("wrk is not installed ({e}): run `make deps` (Debian: apt-get install wrk)"));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("BENCH ")).unwrap_or_else(|| panic!("no wrk summary for {url}:\n{text}"));
    let v: Value = serde_json::from_str(line).unwrap();
    let requests = v["requests"].as_f64().unwrap();
    Result1 {
        rps: requests / v["seconds"].as_f64().unwrap().max(0.001),
        p50: v["p50"].as_f64().unwrap(),
        p99: v["p99"].as_f64().unwrap(),
        p999: v["p999"].as_f64().unwrap(),
        errors: v["errors"].as_u64().unwrap(),
        rss_mb: 0.0,
    }
}

/// Warm up, run `mode.runs` times, keep the run with the median rate.
/// One rung: what wrk requests, and whose memory to report.
struct Spec {
    name: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    tokens: Option<PathBuf>,
    pid: Option<u32>,
    /// Driven by h2load instead of wrk: HTTP/1.1, or HTTP/2 POSTs of this body (gRPC).
    h2load: Option<H2load>,
}

#[derive(Clone)]
enum H2load {
    Http1,
    Grpc(PathBuf),
}

impl Spec {
    fn new(name: &'static str, url: String, headers: &[(&str, &str)], pid: Option<u32>) -> Spec {
        Spec { name, url, headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), tokens: None, pid, h2load: None }
    }
}

/// h2load (nghttp2's wrk for HTTP/2, which gRPC is), with wrk's connection count: the rate
/// from its summary, percentiles from its per-request log.
fn h2load(mode: &Mode, spec: &Spec, how: &H2load, seconds: u32) -> Result1 {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new("h2load");
    cmd.args(["-t1", &format!("-c{}", mode.connections), "-m1", &format!("-D{seconds}"), "--log-file"]).arg(log.path());
    match how {
        H2load::Http1 => {
            cmd.arg("--h1");
        }
        H2load::Grpc(body) => {
            cmd.arg("-d").arg(body).args(["-H", "content-type: application/grpc", "-H", "te: trailers"]);
        }
    }
    for (k, v) in &spec.headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    let out = cmd
        .arg(&spec.url)
        .output()
        .unwrap_or_else(|e| panic!("h2load is not installed ({e}): run `make deps` (Debian: apt-get install nghttp2-client)"));
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |line: &str, after: &str, unit: &str| -> f64 {
        let l = text.lines().find(|l| l.starts_with(line)).unwrap_or_else(|| panic!("no h2load {line:?} for {}:\n{text}", spec.url));
        let rest = &l[l.find(after).unwrap_or_else(|| panic!("{l}")) + after.len()..];
        rest.split(unit).next().unwrap().trim().rsplit(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("{l}"))
    };
    let rps = field("finished in", ",", "req/s");
    let failed =
        field("requests:", "succeeded,", "failed") + field("requests:", "failed,", "errored") + field("requests:", "errored,", "timeout");
    let mut micros: Vec<f64> =
        std::fs::read_to_string(log.path()).unwrap().lines().filter_map(|l| l.split('\t').nth(2)?.parse().ok()).collect();
    micros.sort_by(f64::total_cmp);
    let pct = |p: f64| micros.get(((micros.len() as f64 * p) as usize).min(micros.len().saturating_sub(1))).map_or(0.0, |us| us / 1000.0);
    Result1 { rps, p50: pct(0.5), p99: pct(0.99), p999: pct(0.999), errors: failed as u64, rss_mb: 0.0 }
}

/// Every rung warmed up, then run `mode.runs` times in rounds (each round runs every rung
/// once), and each rung's median kept: a machine that slows down for a minute slows every
/// rung alike, so the ratios between rungs hold.
fn measure(mode: &Mode, specs: &[Spec]) -> Vec<Row> {
    let run = |spec: &Spec, seconds: u32| {
        if let Some(how) = &spec.h2load {
            return h2load(mode, spec, how, seconds);
        }
        let headers: Vec<(&str, &str)> = spec.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        wrk(mode, &spec.url, &headers, spec.tokens.as_deref(), seconds)
    };
    if mode.full {
        for spec in specs {
            run(spec, 2);
        }
    }
    let mut runs: Vec<Vec<Result1>> = specs.iter().map(|_| Vec::new()).collect();
    for _ in 0..mode.runs {
        for (spec, results) in specs.iter().zip(&mut runs) {
            results.push(run(spec, mode.seconds));
        }
    }
    specs
        .iter()
        .zip(runs)
        .map(|(spec, mut results)| {
            results.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            let mut median = results[results.len() / 2].clone();
            median.errors = results.iter().map(|r| r.errors).sum();
            median.rss_mb = spec.pid.map_or(0.0, rss_mb);
            Row { name: spec.name, r: median }
        })
        .collect()
}

/// Opens `n` keep-alive connections, each having answered one `/ping`, and returns them.
fn idle_connections(port: u16, n: usize) -> Vec<std::net::TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        conns.push(s);
    }
    for s in &mut conns {
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
    }
    conns
}

/// Apache with mod_auth_openidc (Debian's packages), protecting the same page.
struct Apache {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Apache {
    fn start(op: &Op, port: u16) -> Apache {
        let module = Path::new("/usr/lib/apache2/modules/mod_auth_openidc.so");
        assert!(
            module.exists(),
            "mod_auth_openidc is not installed: run `make deps` (Debian: apt-get install apache2 libapache2-mod-auth-openidc)"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap().to_string();
        let conf = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/apache/httpd.conf"))
            .unwrap()
            .replace("BENCH_DIR", &root)
            .replace("OP_ISSUER", &op.issuer)
            .replace("9380", &port.to_string());
        std::fs::write(dir.path().join("httpd.conf"), conf).unwrap();
        std::fs::create_dir_all(dir.path().join("html/protected")).unwrap();
        let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/nginx/index.html");
        std::fs::copy(page, dir.path().join("html/protected/index.html")).unwrap();
        // Apache's workers run as www-data: they must read the page.
        let _ = Command::new("chmod").args(["-R", "a+rX"]).arg(dir.path()).status();
        let child = Command::new("apache2")
            .arg("-f")
            .arg(dir.path().join("httpd.conf"))
            .arg("-DFOREGROUND")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("apache2 is not installed: run `make deps` (Debian: apt-get install apache2 libapache2-mod-auth-openidc)");
        wait_for_port(port, "apache2");
        Apache { child, port, _dir: dir }
    }

    /// A real login through mod_auth_openidc; its session cookie.
    async fn login(&self) -> String {
        let mut b = Browser::new(None);
        let page = b.login(&format!("http://localhost:{}/protected/index.html", self.port), "alice").await;
        assert_eq!(page.status, 200, "mod_auth_openidc login: {}", page.body);
        // The page answers 200 to the same session without a browser's Accept header, as wrk sends it.
        let again = b.get_with(&format!("http://localhost:{}/protected/index.html", self.port), &[("Accept", "*/*")]).await;
        assert_eq!(again.status, 200, "mod_auth_openidc with the session: {}", again.body);
        let names = b.cookie_names();
        let name =
            names.iter().find(|n| n.starts_with("mod_auth_openidc_session")).unwrap_or_else(|| panic!("no session cookie: {names:?}"));
        format!("{name}={}", b.cookie(name).unwrap())
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

struct Row {
    name: &'static str,
    r: Result1,
}

#[actix_web::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--full");
    // `--baseline <gatehouse binary>`: another build (an earlier commit) beside this one, on the
    // same configuration and cookie, in the same rounds (`make bench BASELINE=...`).
    let baseline: Option<PathBuf> = std::env::args().skip_while(|a| a != "--baseline").nth(1).map(PathBuf::from);
    let mode = if full { Mode { full, seconds: 3, runs: 5, connections: 32 } } else { Mode { full, seconds: 1, runs: 1, connections: 8 } };
    // The 10,000-connection rung needs more descriptors than the default 1024, here too.
    let _ = Command::new("prlimit").args(["--pid", &std::process::id().to_string(), "--nofile=20000:20000"]).status();

    // Peers: nginx (ceiling, app, proxy_pass), the provider, Redis.
    let (p_ceiling, p_app, p_pass) = (free_port(), free_port(), free_port());
    let bench_nginx = Shipped::copy(
        "tests/bench/nginx",
        &[
            ("127.0.0.1:9202", format!("127.0.0.1:{p_ceiling}")),
            ("127.0.0.1:9280", format!("127.0.0.1:{p_app}")),
            ("127.0.0.1:9281", format!("127.0.0.1:{p_pass}")),
        ],
    );
    std::fs::create_dir_all(bench_nginx.path("html")).unwrap();
    std::fs::copy(bench_nginx.path("index.html"), bench_nginx.path("html/index.html")).unwrap();
    let _nginx = nginx(bench_nginx, p_pass);
    let (p_gate, p_redis_gate, p_front, p_apache, p_o2p) = (free_port(), free_port(), free_port(), free_port(), free_port());
    let op = Op::start(json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [
        format!("http://localhost:{p_gate}/oauth2/callback"), format!("http://localhost:{p_redis_gate}/oauth2/callback"),
        format!("http://localhost:{p_apache}/protected/redirect_uri"), format!("http://localhost:{p_o2p}/oauth2/callback")]}]}));
    let redis = Redis::start(&[]);

    let common = format!(
        "request_logging = false\nauth_logging = false\nreverse_proxy = true\nskip_jwt_bearer_tokens = true\nset_xauthrequest = true\nupstreams = [\"http://127.0.0.1:{p_app}/\"]\n"
    );
    // One worker, as nginx here runs one process: wrk needs the other core of this 2-core
    // machine, and a second worker fighting wrk for it made the checks no faster and their p99
    // three times longer (README). Gatehouse's default, one worker per core, gets its own row.
    let one = format!("{common}workers = 1\n");
    let p_grpc = free_port();
    let gate = Gatehouse::start(&plain_config(&op.issuer, p_gate, &format!("{one}grpc_address = \"127.0.0.1:{p_grpc}\"\n")), p_gate);
    let cookie = login(&gate).await;
    let p_default = free_port();
    let gate_default = Gatehouse::start(&plain_config(&op.issuer, p_default, &common), p_default);
    // Idle memory is checked on the default, which has a thread more; the 10,000 connections
    // (whose memory does not depend on the worker count) are held by the one-worker instance.
    let idle_rss = rss_mb(gate_default.pid());
    let base_gate = baseline.as_ref().map(|bin| {
        assert!(bin.exists(), "--baseline {}: no such binary", bin.display());
        let port = free_port();
        Gatehouse::start_binary(bin, &plain_config(&op.issuer, port, &one), port)
    });
    let redis_gate = Gatehouse::start(
        &plain_config(
            &op.issuer,
            p_redis_gate,
            &format!("{one}session_store_type = \"redis\"\nredis_connection_url = \"{}\"\n", redis.url(0)),
        ),
        p_redis_gate,
    );
    let redis_cookie = login(&redis_gate).await;

    // The shipped nginx configuration in front of Gatehouse, protecting the static app.
    let front = Shipped::copy(
        "nginx",
        &[
            ("127.0.0.1:4180", format!("127.0.0.1:{p_gate}")),
            ("127.0.0.1:8000", format!("127.0.0.1:{p_front}")),
            ("127.0.0.1:8080", format!("127.0.0.1:{p_app}")),
        ],
    );
    let _front = nginx(front, p_front);
    // oauth2-proxy itself, with the same configuration as Gatehouse (installed by `make deps`).
    let o2p_bin = support::peers::deps_dir().join("go/bin/oauth2-proxy");
    assert!(o2p_bin.exists(), "oauth2-proxy is not installed ({}): run `make deps`", o2p_bin.display());
    let o2p =
        Gatehouse::start_binary(&o2p_bin, &plain_config(&op.issuer, p_o2p, &common.replace("skip_jwt_bearer_tokens = true\n", "")), p_o2p);
    let o2p_cookie = login(&o2p).await;
    let apache = Apache::start(&op, p_apache);
    let apache_cookie = apache.login().await;

    // Bearer tokens: one repeated, and many distinct ones for the cold rung.
    let claims = json!({"sub": "svc", "aud": "gatehouse", "email": "svc@example.com", "exp": (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600)});
    let token = op.control("POST", "sign", json!({ "claims": claims })).await["token"].as_str().unwrap().to_string();
    let cold_count = if full { 25_000 } else { 2_000 };
    let tokens_dir = tempfile::tempdir().unwrap();
    let tokens_file = tokens_dir.path().join("tokens");
    // RS256 signing takes the provider about a millisecond a token: give it time.
    let minted: Value = awc::Client::builder()
        .timeout(Duration::from_secs(300))
        .finish()
        .post(format!("{}/__test/sign", op.origin()))
        .send_json(&json!({ "claims": claims, "count": cold_count }))
        .await
        .unwrap()
        .json()
        .limit(64 << 20)
        .await
        .unwrap();
    let list: Vec<&str> = minted["tokens"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    std::fs::write(&tokens_file, list.join("\n")).unwrap();

    let check_body = grpc_check_body(&tokens_dir, p_grpc, p_app, &cookie).await;
    let bearer = format!("Bearer {token}");
    let pid = Some(gate.pid());
    let host_apache = format!("localhost:{p_apache}");
    let specs = vec![
        Spec::new("1 nginx return 202", format!("http://127.0.0.1:{p_ceiling}/"), &[], None),
        Spec::new("2 gatehouse /ping", gate.url("/ping"), &[], pid),
        Spec::new("3 gatehouse /oauth2/auth, cookie session", gate.url("/oauth2/auth"), &[("Cookie", &cookie)], pid),
        // Same secret, so the same cookie opens there.
        Spec::new(
            "3b gatehouse /oauth2/auth, one worker per core",
            gate_default.url("/oauth2/auth"),
            &[("Cookie", &cookie)],
            Some(gate_default.pid()),
        ),
        Spec::new(
            "4 gatehouse /oauth2/auth, Redis session",
            redis_gate.url("/oauth2/auth"),
            &[("Cookie", &redis_cookie)],
            Some(redis_gate.pid()),
        ),
        Spec::new("5a gatehouse /oauth2/auth, bearer (repeated)", gate.url("/oauth2/auth"), &[("Authorization", &bearer)], pid),
        Spec::new("6 nginx auth_request -> gatehouse -> app", format!("http://127.0.0.1:{p_front}/"), &[("Cookie", &cookie)], pid),
        Spec::new("6 baseline: nginx serving the app", format!("http://127.0.0.1:{p_app}/"), &[], None),
        Spec::new("7 gatehouse standalone -> app", gate.url("/"), &[("Cookie", &cookie)], pid),
        // The same check over HTTP/1.1 and as Envoy's gRPC Check, with one load tool for both.
        Spec {
            h2load: Some(H2load::Http1),
            ..Spec::new("11a gatehouse /oauth2/auth (h2load), cookie session", gate.url("/oauth2/auth"), &[("Cookie", &cookie)], pid)
        },
        Spec {
            h2load: Some(H2load::Grpc(check_body.clone())),
            ..Spec::new(
                "11b gatehouse gRPC Check (h2load), cookie session",
                format!("http://127.0.0.1:{p_grpc}/envoy.service.auth.v3.Authorization/Check"),
                &[],
                pid,
            )
        },
        Spec::new("7 baseline: nginx proxy_pass -> app", format!("http://127.0.0.1:{p_pass}/"), &[], None),
        Spec::new("10 oauth2-proxy /oauth2/auth, cookie session", o2p.url("/oauth2/auth"), &[("Cookie", &o2p_cookie)], Some(o2p.pid())),
        Spec::new("10 oauth2-proxy standalone -> app", o2p.url("/"), &[("Cookie", &o2p_cookie)], Some(o2p.pid())),
        // The session is for the host the login used (its redirect URI's), as a browser's is.
        Spec::new(
            "8 apache + mod_auth_openidc, valid session",
            format!("http://127.0.0.1:{p_apache}/protected/index.html"),
            &[("Cookie", &apache_cookie), ("Host", &host_apache)],
            None,
        ),
    ];
    let mut specs = specs;
    if let Some(b) = &base_gate {
        // Same secret, so the same cookie opens there.
        specs.insert(
            3,
            Spec::new("3c baseline binary /oauth2/auth, cookie session", b.url("/oauth2/auth"), &[("Cookie", &cookie)], Some(b.pid())),
        );
        specs.push(Spec::new("7c baseline binary standalone -> app", b.url("/"), &[("Cookie", &cookie)], Some(b.pid())));
    }
    let mut rows = measure(&mode, &specs);
    // Cold: every request a token never seen; one short run, as the token list is finite.
    let cold_mode = Mode { full: false, seconds: 1, runs: 1, connections: mode.connections };
    let cold = measure(
        &cold_mode,
        &[Spec {
            tokens: Some(tokens_file.clone()),
            ..Spec::new("5b gatehouse /oauth2/auth, bearer (all distinct)", gate.url("/oauth2/auth"), &[], pid)
        }],
    );
    if cold[0].r.rps > cold_count as f64 {
        println!("note: the cold bearer rung ran out of distinct tokens ({cold_count}); its rate includes cached ones");
    }
    let at = rows.iter().position(|r| r.name.starts_with("5a")).map_or(rows.len(), |i| i + 1);
    rows.splice(at..at, cold);

    // Rung 9: memory with 10,000 idle keep-alive connections.
    let conns = idle_connections(gate.port, if full { 10_000 } else { 500 });
    let loaded_rss = rss_mb(gate.pid());
    let open = conns.len();
    drop(conns);

    report(&mode, &rows, idle_rss, loaded_rss, open);
}

/// A CheckRequest for the app's page with the session cookie, framed as gRPC (uncompressed,
/// length-prefixed), in a file for h2load; checked first to be allowed.
async fn grpc_check_body(dir: &tempfile::TempDir, p_grpc: u16, p_app: u16, cookie: &str) -> PathBuf {
    use prost::Message;
    let check = support::grpc::Described { host: format!("127.0.0.1:{p_app}"), ..support::grpc::Described::get("/") }
        .header("cookie", cookie)
        .request();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], p_grpc));
    let answer = support::grpc::Client::connect(addr).await.check(check.clone()).await;
    assert!(answer.allowed, "the benchmark's gRPC check is not allowed: {answer:?}");
    let message = check.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&message);
    let path = dir.path().join("check.grpc");
    std::fs::write(&path, framed).unwrap();
    path
}

fn find<'a>(rows: &'a [Row], prefix: &str) -> &'a Result1 {
    &rows.iter().find(|r| r.name.starts_with(prefix)).unwrap_or_else(|| panic!("no rung {prefix}")).r
}

fn report(mode: &Mode, rows: &[Row], idle_rss: f64, loaded_rss: f64, open: usize) {
    println!();
    println!("{:<50} {:>10} {:>8} {:>8} {:>8} {:>7} {:>8}", "rung", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "RSS MB");
    for row in rows {
        let r = &row.r;
        let rss = if r.rss_mb > 0.0 { format!("{:.1}", r.rss_mb) } else { "-".into() };
        println!("{:<50} {:>10.0} {:>8.3} {:>8.3} {:>8.3} {:>7} {:>8}", row.name, r.rps, r.p50, r.p99, r.p999, r.errors, rss);
    }
    println!("9 gatehouse RSS idle: {idle_rss:.1} MB; with {open} idle keep-alive connections: {loaded_rss:.1} MB");
    println!();

    let r = |p: &str| find(rows, p).rps;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let checks: Vec<(String, bool)> = vec![
        (format!("rung 3 >= 0.9 x rung 2: {:.2}", ratio(r("3 "), r("2 "))), ratio(r("3 "), r("2 ")) >= 0.9),
        (format!("rung 3 >= 0.8 x rung 1: {:.2}", ratio(r("3 "), r("1 "))), ratio(r("3 "), r("1 ")) >= 0.8),
        (format!("rung 4 >= 0.6 x rung 3: {:.2}", ratio(r("4 "), r("3 "))), ratio(r("4 "), r("3 ")) >= 0.6),
        (format!("rung 5 cached >= 0.8 x rung 3: {:.2}", ratio(r("5a"), r("3 "))), ratio(r("5a"), r("3 ")) >= 0.8),
        (
            format!("rung 7 >= 1.0 x nginx proxy_pass: {:.2}", ratio(r("7 gatehouse"), r("7 baseline"))),
            ratio(r("7 gatehouse"), r("7 baseline")) >= 1.0,
        ),
        (format!("rung 3 >= 10 x mod_auth_openidc (rung 8): {:.2}", ratio(r("3 "), r("8 "))), ratio(r("3 "), r("8 ")) >= 10.0),
        (format!("rung 6 >= 3 x mod_auth_openidc: {:.2}", ratio(r("6 nginx"), r("8 "))), ratio(r("6 nginx"), r("8 ")) >= 3.0),
        (format!("rung 7 >= 3 x mod_auth_openidc: {:.2}", ratio(r("7 gatehouse"), r("8 "))), ratio(r("7 gatehouse"), r("8 ")) >= 3.0),
        (
            format!("rung 3 >= 3 x oauth2-proxy's /oauth2/auth: {:.2}", ratio(r("3 "), r("10 oauth2-proxy /oauth2"))),
            ratio(r("3 "), r("10 oauth2-proxy /oauth2")) >= 3.0,
        ),
        (format!("rung 3 p99 <= 1 ms: {:.3} ms", find(rows, "3 ").p99), find(rows, "3 ").p99 <= 1.0),
        // HTTP/2 and gRPC framing in hyper and h2 cost more per check than actix's HTTP/1.1
        // (README "Performance"); the target holds that cost, not the judging, to its level.
        (format!("rung 11 gRPC check >= 0.35 x the HTTP check: {:.2}", ratio(r("11b"), r("11a"))), ratio(r("11b"), r("11a")) >= 0.35),
        (format!("RSS idle <= 12 MB: {idle_rss:.1} MB"), idle_rss <= 12.0),
        (format!("RSS with {open} connections <= 64 MB: {loaded_rss:.1} MB"), loaded_rss <= 64.0),
        (format!("no errors in Gatehouse's rungs: {}", ours(rows).map(|r| r.r.errors).sum::<u64>()), ours(rows).all(|r| r.r.errors == 0)),
    ];
    let mut checks = checks;
    if rows.iter().any(|r| r.name.starts_with("3c")) {
        let (check, proxied) = (ratio(r("3 "), r("3c")), ratio(r("7 gatehouse"), r("7c")));
        checks.push((format!("rung 3 >= 0.95 x the baseline binary: {check:.2}"), check >= 0.95));
        checks.push((format!("rung 7 >= 0.95 x the baseline binary: {proxied:.2}"), proxied >= 0.95));
    }
    for (what, ok) in &checks {
        println!("{} {what}", if *ok { "PASS" } else { "FAIL" });
    }

    let json = json!({
        "mode": if mode.full { "full" } else { "smoke" },
        "connections": mode.connections,
        "rungs": rows.iter().map(|row| json!({"rung": row.name, "rps": row.r.rps, "p50_ms": row.r.p50, "p99_ms": row.r.p99, "p999_ms": row.r.p999, "errors": row.r.errors, "rss_mb": row.r.rss_mb})).collect::<Vec<_>>(),
        "rss_idle_mb": idle_rss,
        "rss_connections_mb": loaded_rss,
        "connections_held": open,
        "checks": checks.iter().map(|(w, ok)| json!({"check": w, "pass": ok})).collect::<Vec<_>>(),
    });
    let out: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench.json");
    let _ = std::fs::write(&out, serde_json::to_vec_pretty(&json).unwrap());
    println!("results: {}", out.display());
    // The smoke run checks the benchmark works, not the machine: every rung must have answered,
    // and Gatehouse without an error (a peer's timeouts under load are its own, and shown).
    assert!(rows.iter().all(|r| r.r.rps > 0.0), "a rung did not run: see the table above");
    assert!(ours(rows).all(|r| r.r.errors == 0), "Gatehouse answered with errors: see the table above");
}

/// The rungs Gatehouse answers in (alone or behind nginx).
fn ours(rows: &[Row]) -> impl Iterator<Item = &Row> {
    rows.iter().filter(|r| r.name.contains("gatehouse"))
}
