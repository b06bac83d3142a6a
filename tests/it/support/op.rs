//! The real OpenID Provider (npm `oidc-provider`, `tests/peers/op`), started on a free port.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct Op {
    child: Child,
    pub issuer: String,
    pub port: u16,
    _dir: tempfile::TempDir,
    /// The certificate clients must trust (wso2 shape over HTTPS).
    pub ca: Option<PathBuf>,
}

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/op")
}

/// The tutorial's certificate: `openssl req -x509 ... -subj "/CN=localhost"` (CA:TRUE, no SAN).
pub fn tutorial_cert() -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    (dir.join("cert.pem"), dir.join("cert.key"))
}

/// Accounts every test provider knows.
pub fn accounts() -> Value {
    json!([
        {"id": "alice", "claims": {"email": "alice@example.com", "email_verified": true, "username": "alice@wso2.example", "preferred_username": "alice", "groups": ["admins", "users"], "name": "Alice"}},
        {"id": "bob", "claims": {"email": "bob@example.org", "email_verified": true, "username": "bob@other.example", "preferred_username": "bob", "groups": ["users"]}},
        {"id": "eve", "claims": {"email": "eve@example.com", "email_verified": false, "username": "eve@wso2.example", "groups": ["users"]}}
    ])
}

impl Op {
    /// Starts the provider with `config` (see tests/peers/op/README.md). Fails with the install
    /// command when the peer's dependencies are missing.
    pub fn start(mut config: Value) -> Op {
        let dir = peer_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the OpenID Provider test peer is not installed: run `make deps` (or `cd tests/peers/op && npm ci`)"
        );
        if config.get("accounts").is_none() {
            config["accounts"] = accounts();
        }
        config["exit_on_stdin_eof"] = json!(true);
        let ca = config.get("tls").and_then(|t| t.get("cert")).and_then(Value::as_str).map(PathBuf::from);
        let tmp = tempfile::tempdir().unwrap();
        let cfg_path = tmp.path().join("op.json");
        std::fs::write(&cfg_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let mut child = Command::new("node")
            .arg(dir.join("op.mjs"))
            .arg(&cfg_path)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node is needed for the OpenID Provider test peer: install Node.js 20+");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let ready = loop {
            assert!(Instant::now() < deadline, "the OpenID Provider did not start");
            match lines.next() {
                Some(Ok(line)) if line.starts_with("READY ") => {
                    break serde_json::from_str::<Value>(&line[6..]).unwrap();
                }
                Some(Ok(_)) => continue,
                _ => {
                    panic!("the OpenID Provider exited before it was ready (see its stderr above)")
                }
            }
        };
        // Keep draining stdout so the peer never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Op { child, issuer: ready["issuer"].as_str().unwrap().to_string(), port: ready["port"].as_u64().unwrap() as u16, _dir: tmp, ca }
    }

    pub fn origin(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://localhost:{}", self.port)
    }

    pub async fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let client = super::browser::client(self.ca.as_deref());
        let url = format!("{}/__test/{path}", self.origin());
        let mut res = match method {
            "GET" => client.get(&url).send().await.unwrap(),
            _ => client.post(&url).send_json(&body).await.unwrap(),
        };
        res.json::<Value>().limit(64 << 20).await.unwrap()
    }

    /// Counts of token-endpoint grants: (authorization_code ok, refresh_token ok, refresh_token failed).
    pub async fn grants(&self) -> (u64, u64, u64) {
        let s = self.control("GET", "stats", Value::Null).await;
        let n = |g: &str, k: &str| s["grants"][g][k].as_u64().unwrap_or(0);
        (n("authorization_code", "ok"), n("refresh_token", "ok"), n("refresh_token", "failed"))
    }

    #[allow(dead_code)] // `make soak`'s
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        let _ = self.child.stdin.take().map(|mut s| s.flush());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        self.stop();
    }
}
