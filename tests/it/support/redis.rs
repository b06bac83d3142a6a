//! A real `redis-server` on a free loopback port, stopped when dropped.

use std::process::{Child, Command, Stdio};

use super::free_port;
use super::peers::wait_for_port;

pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
    /// `redis-cli`'s TLS arguments, for a server that speaks only TLS.
    cli_tls: Vec<String>,
}

impl Redis {
    /// Starts Redis with extra arguments (`--requirepass x`).
    pub fn start(extra: &[&str]) -> Redis {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--logfile",
                "",
            ])
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server is needed: run `make deps` (Debian: apt-get install redis-server)");
        wait_for_port(port, "redis-server");
        Redis { child, port, _dir: dir, cli_tls: Vec::new() }
    }

    /// Starts Redis speaking only TLS, with `pki`'s server certificate (`support::test_pki`)
    /// and any extra arguments (`--tls-cluster yes`). Clients need not present certificates.
    pub fn start_tls(pki: &std::path::Path, extra: &[&str]) -> Redis {
        let tls_port = free_port().to_string();
        let (cert, key, ca) = (pki.join("srv.pem"), pki.join("srv.key"), pki.join("ca.pem"));
        let mut args: Vec<String> = ["--port", "0", "--tls-port", &tls_port, "--tls-auth-clients", "no", "--tls-replication", "yes"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for (flag, path) in [("--tls-cert-file", &cert), ("--tls-key-file", &key), ("--tls-ca-cert-file", &ca)] {
            args.push(flag.into());
            args.push(path.display().to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let port = tls_port.parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""])
            .arg("--dir")
            .arg(dir.path())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server is needed: run `make deps` (Debian: apt-get install redis-server)");
        wait_for_port(port, "redis-server (TLS)");
        Redis { child, port, _dir: dir, cli_tls: vec!["--tls".into(), "--cacert".into(), ca.display().to_string()] }
    }

    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Runs `redis-cli` against this server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out =
            Command::new("redis-cli").args(&self.cli_tls).args(["-p", &self.port.to_string()]).args(args).output().expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis master, one replica and three sentinels watching them as `mymaster`.
pub struct SentinelSet {
    pub master: Redis,
    pub replica: Redis,
    pub sentinels: Vec<Redis>,
}

impl SentinelSet {
    pub fn start() -> SentinelSet {
        let master = Redis::start(&[]);
        let m = master.port.to_string();
        let replica = Redis::start(&["--replicaof", "127.0.0.1", &m]);
        let sentinels = (0..3)
            .map(|_| {
                let port = free_port();
                let dir = tempfile::tempdir().unwrap();
                let conf = dir.path().join("sentinel.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {m} 2\nsentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n",
                        dir.path().display()
                    ),
                )
                .unwrap();
                let child = Command::new("redis-server").arg(&conf).arg("--sentinel").stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("redis-server --sentinel");
                wait_for_port(port, "redis sentinel");
                Redis { child, port, _dir: dir, cli_tls: Vec::new() }
            })
            .collect();
        SentinelSet { master, replica, sentinels }
    }

    pub fn urls(&self) -> Vec<String> {
        self.sentinels.iter().map(|s| format!("redis://127.0.0.1:{}/4", s.port)).collect()
    }

    /// The port sentinels currently name as the master.
    pub fn master_port(&self) -> String {
        let out = self.sentinels[0].cli(&["SENTINEL", "get-master-addr-by-name", "mymaster"]);
        out.lines().nth(1).unwrap_or("").to_string()
    }
}

/// Three Redis Cluster masters.
pub struct Cluster {
    pub nodes: Vec<Redis>,
}

impl Cluster {
    pub fn start() -> Cluster {
        // The bus port defaults to port + 10000, inside the ephemeral range where a parallel
        // test's outgoing connection may hold it: it gets a free port of its own.
        let nodes: Vec<Redis> = (0..3)
            .map(|_| {
                let bus = free_port().to_string();
                Redis::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "2000", "--cluster-port", &bus])
            })
            .collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster");
        assert!(out.status.success(), "cluster create: {}", String::from_utf8_lossy(&out.stdout));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !nodes.iter().all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok")) {
            assert!(std::time::Instant::now() < deadline, "the cluster never became ok");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Cluster { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("redis://127.0.0.1:{}", n.port)).collect()
    }
}
