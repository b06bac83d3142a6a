//! What `make bench` and `make soak` share: the `gatehouse` binary started with a file limit,
//! a real login for its session cookie, and a process's resident memory.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::browser::Browser;
use crate::support::peers::wait_for_port;

pub fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// The release (or, in the smoke run, debug) `gatehouse` binary with a file limit for the
/// 10,000-connection rung.
pub struct Gatehouse {
    pub child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Gatehouse {
    pub fn start(config: &str, port: u16) -> Gatehouse {
        Gatehouse::start_binary(Path::new(env!("CARGO_BIN_EXE_gatehouse")), config, port)
    }

    /// The same, for another binary reading the same configuration file (oauth2-proxy).
    pub fn start_binary(bin: &Path, config: &str, port: u16) -> Gatehouse {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gatehouse.cfg");
        std::fs::write(&file, config).unwrap();
        let child = Command::new("prlimit")
            .arg("--nofile=20000:20000")
            .arg(bin)
            .arg("--config")
            .arg(&file)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("prlimit (util-linux) starts gatehouse with a higher file limit");
        wait_for_port(port, "gatehouse");
        Gatehouse { child, port, _dir: dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn login(gate: &Gatehouse) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut b = Browser::new(None);
    loop {
        let r = b.login(&format!("http://localhost:{}/oauth2/start?rd=%2F", gate.port), "alice").await;
        if r.status == 302 {
            break;
        }
        assert!(Instant::now() < deadline, "login failed: {} {}", r.status, r.body);
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    format!("_oauth2_proxy={}", b.cookie("_oauth2_proxy").expect("a session cookie"))
}
