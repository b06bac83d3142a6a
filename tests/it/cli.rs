//! The `gatehouse` binary as users run it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gatehouse::config::options;

/// Runs the binary to completion; a run that does not end within 30 s is killed and fails the
/// test (a server that was expected to refuse to start must not hang the suite).
fn gatehouse(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gatehouse");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("gatehouse {args:?} did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn config_test_accepts_the_tutorial_file() {
    let out = gatehouse(&["--config-test", "--config", "tests/fixtures/tutorial/oauth2-proxy.cfg"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("configuration is valid"));
}

#[test]
fn config_test_rejects_a_broken_file_with_every_message() {
    let out = gatehouse(&["--config-test", "--config", "tests/fixtures/config/invalid/many_mistakes.cfg"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("invalid configuration: 7 problems"), "{err}");
    assert!(err.contains("did you mean `cookie_secret`?"), "{err}");
}

#[test]
fn bad_secrets_are_never_printed() {
    let out = gatehouse(&[
        "--config-test",
        "--config",
        "tests/fixtures/config/valid/minimal.cfg",
        "--cookie-secret=SUPER-SECRET-MARKER",
        "--client-secret=CLIENT-MARKER",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("cookie_secret = <redacted, 19 bytes> (flag --cookie-secret)"), "{all}");
    assert!(!all.contains("SUPER-SECRET") && !all.contains("CLIENT-MARKER"), "{all}");
}

#[test]
fn a_missing_config_file_is_named() {
    let out = gatehouse(&["--config-test", "--config", "tests/fixtures/nope.cfg"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--config: cannot read tests/fixtures/nope.cfg"), "{}", text(&out.stderr));
}

#[test]
fn version_and_generate_secret() {
    let out = gatehouse(&["--version"]);
    assert_eq!(text(&out.stdout).trim(), format!("gatehouse {}", env!("CARGO_PKG_VERSION")));

    let out = gatehouse(&["generate-secret"]);
    assert!(out.status.success());
    let secret = text(&out.stdout).trim().to_string();
    assert_eq!(secret.len(), 43);
    let other = text(&gatehouse(&["generate-secret"]).stdout).trim().to_string();
    assert_ne!(secret, other, "secrets are random");
    // A generated secret is a valid cookie secret.
    let out = gatehouse(&["--config-test", "--config", "tests/fixtures/config/valid/minimal.cfg", &format!("--cookie-secret={secret}")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn help_lists_every_option_under_its_topic() {
    let out = gatehouse(&["--help"]);
    let help = text(&out.stdout);
    for (topic, opts) in options::TOPICS {
        assert!(help.contains(&format!("{}:", topic.heading())), "missing heading {}", topic.heading());
        for o in opts.iter().filter(|o| !o.no_flag) {
            assert!(help.contains(&format!("--{}", o.flag())), "missing --{}", o.flag());
        }
    }
    assert!(help.contains("--config-test"));
    assert!(help.contains("generate-secret"));
    assert!(help.contains("OAUTH2_PROXY_"));
}

#[test]
fn invalid_configuration_at_start_exits_64() {
    let out = gatehouse(&["--config", "tests/fixtures/config/invalid/bad_url.cfg"]);
    assert_eq!(out.status.code(), Some(64));
}

/// Starts the real binary on a free port and checks the startup log and /ping.
#[test]
fn serves_ping_and_logs_where_it_listens() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["--config", "tests/fixtures/config/valid/minimal.cfg", "--http-address=127.0.0.1:0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Standard log lines go to stdout, as oauth2-proxy's.
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut log = String::new();
    let addr = loop {
        assert!(Instant::now() < deadline, "no listening line in:\n{log}");
        let line = lines.next().expect("gatehouse exited early").unwrap();
        log.push_str(&line);
        log.push('\n');
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim().to_string();
        }
    };
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    stream.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    assert!(resp.ends_with("OK"), "{resp}");
    child.kill().unwrap();
    child.wait().unwrap();
    // Drain what was logged so far: the provider line, and no secret.
    for line in lines.map_while(Result::ok) {
        log.push_str(&line);
    }
    assert!(log.contains("provider: Oidc, issuer https://idp.example.com, client_id app"), "{log}");
    assert!(!log.contains("s3cret-client-value") && !log.contains("AAECAwQF"), "{log}");
}

/// No option left behind: every flag the real oauth2-proxy v7.15.6 accepts is one of ours,
/// either implemented or refused at start with its reason; README's option table lists the
/// refused ones and the counts. An option added to oauth2-proxy, or to our table without a
/// status, fails here.
#[test]
fn every_oauth2_proxy_option_is_implemented_or_refused_with_its_reason() {
    let out = Command::new(crate::differential::oauth2_proxy_bin()).arg("--help").output().unwrap();
    let help = text(&out.stdout) + &text(&out.stderr);
    let theirs: std::collections::BTreeSet<String> =
        help.lines().filter_map(|l| l.trim_start().strip_prefix("--")).map(|l| l.split([' ', '=']).next().unwrap().to_string()).collect();
    // The command line's own switches, not configuration.
    let command_line = ["config", "alpha-config", "config-test", "version", "convert-config-to-alpha"];
    let ours: std::collections::HashMap<String, &options::OptionSpec> =
        options::all().filter(|o| !o.no_flag).map(|o| (o.flag(), o)).collect();
    let missing: Vec<&String> = theirs.iter().filter(|f| !command_line.contains(&f.as_str()) && !ours.contains_key(*f)).collect();
    assert!(missing.is_empty(), "oauth2-proxy options Gatehouse does not know: {missing:?}");
    let (mut built, mut refused) = (0, Vec::new());
    for flag in theirs.iter().filter(|f| !command_line.contains(&f.as_str())) {
        match ours[flag].status {
            options::Status::Ready => built += 1,
            options::Status::Unsupported(why) => {
                assert!(why.len() > 20, "{flag}: refused without a reason");
                refused.push(ours[flag].key);
            }
        }
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("\n### Every oauth2-proxy option\n").nth(1).expect("README has \"### Every oauth2-proxy option\"");
    let section = section.split("\n#").next().unwrap();
    let counts = format!("{} options: Gatehouse implements {built} and refuses {}", built + refused.len(), refused.len());
    assert!(section.contains(&counts), "README should say \"{counts}\"");
    let listed: std::collections::BTreeSet<&str> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| l.split(" | ").next().unwrap().split('`').skip(1).step_by(2))
        .collect();
    let refused: std::collections::BTreeSet<&str> = refused.into_iter().collect();
    assert_eq!(listed, refused, "README's refused options and the option table's");
}

/// The configuration both proxies start with without a provider on the network.
fn offline(listen: &str) -> String {
    format!(
        "provider = \"oidc\"\nclient_id = \"app\"\nclient_secret = \"s\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\noidc_issuer_url = \"http://127.0.0.1:1\"\nskip_oidc_discovery = true\nlogin_url = \"http://127.0.0.1:1/auth\"\nredeem_url = \"http://127.0.0.1:1/token\"\noidc_jwks_url = \"http://127.0.0.1:1/jwks\"\nhttp_address = \"{listen}\"\n"
    )
}

/// `GET /ping` over the unix socket at `path`, once it answers (within 15 s): the status line
/// and the body.
fn ping_unix(path: &std::path::Path, child: &mut std::process::Child) -> Result<(String, String), String> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited ({status}) before listening"));
        }
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(path) {
            s.write_all(b"GET /ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
            let mut answer = String::new();
            s.read_to_string(&mut answer).unwrap();
            let status = answer.lines().next().unwrap_or("").to_string();
            let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
            return Ok((status, body));
        }
        if Instant::now() > deadline {
            return Err("did not listen within 15 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `http_address = "unix:///path,mode=0660"`, as oauth2-proxy serves it: the socket answers
/// and has that mode. A socket left by a crash is replaced; a live one, or a file that is no
/// socket, is refused.
#[test]
fn serves_on_a_unix_socket_as_oauth2_proxy_does() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let mut answers = Vec::new();
    for (name, bin) in [
        ("oauth2-proxy", crate::differential::oauth2_proxy_bin()),
        ("gatehouse", std::path::PathBuf::from(env!("CARGO_BIN_EXE_gatehouse"))),
    ] {
        let sock = dir.path().join(format!("{name}.sock"));
        let cfg = dir.path().join(format!("{name}.cfg"));
        std::fs::write(&cfg, offline(&format!("unix://{},mode=0660", sock.display()))).unwrap();
        let mut child = Command::new(bin).arg("--config").arg(&cfg).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let answer = ping_unix(&sock, &mut child);
        let mode = std::fs::metadata(&sock).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        answers.push((answer, format!("{mode:o}")));
        if name == "gatehouse" {
            // A second Gatehouse on the live socket is refused, and the first keeps it.
            let second = gatehouse(&["--config", cfg.to_str().unwrap()]);
            assert_ne!(second.status.code(), Some(0));
            assert!(text(&second.stderr).contains("another process listens on"), "{}", text(&second.stderr));
            child.kill().unwrap();
            child.wait().unwrap();
            // The socket file the killed process left behind is taken over.
            assert!(sock.exists(), "a killed process leaves its socket file");
            let mut again = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
                .arg("--config")
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let answer = ping_unix(&sock, &mut again);
            again.kill().unwrap();
            again.wait().unwrap();
            assert_eq!(answer.map(|a| a.0), Ok("HTTP/1.1 200 OK".to_string()), "after a crash");
        } else {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
    assert_eq!(answers[0], answers[1], "oauth2-proxy (left) and Gatehouse (right)");
    assert_eq!(answers[1], (Ok(("HTTP/1.1 200 OK".to_string(), "OK".to_string())), "660".to_string()));

    // Over a unix socket with reverse_proxy, the peer is the edge: its X-Forwarded-Proto is
    // believed (force_https lets an HTTPS request through), a client's own request is not.
    let sock = dir.path().join("edge.sock");
    let cfg = dir.path().join("edge.cfg");
    std::fs::write(&cfg, offline(&format!("unix://{}", sock.display())) + "reverse_proxy = true\nforce_https = true\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = |extra: &str| {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        write!(s, "GET /oauth2/sign_in HTTP/1.1\r\nHost: app.example.com\r\n{extra}Connection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer.lines().next().unwrap_or("").to_string()
    };
    ping_unix(&sock, &mut child).unwrap();
    assert_eq!(status(""), "HTTP/1.1 308 Permanent Redirect", "plain HTTP is sent to HTTPS");
    assert_eq!(status("X-Forwarded-Proto: https\r\n"), "HTTP/1.1 200 OK", "the edge said HTTPS");
    child.kill().unwrap();
    child.wait().unwrap();

    // A regular file at the path is not a stale socket.
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, "data").unwrap();
    let cfg = dir.path().join("file.cfg");
    std::fs::write(&cfg, offline(&format!("unix://{}", file.display()))).unwrap();
    let out = gatehouse(&["--config", cfg.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("exists and is not a socket"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "data");
}

/// What cannot be listened on is refused by `--config-test`, not first at bind.
#[test]
fn listen_addresses_gatehouse_cannot_serve_fail_the_config_test() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key, says) in [
        ("http_address = \"fd:3\"\n", "http_address", "fd: (systemd socket activation) is not supported"),
        (
            "https_address = \"unix:///tmp/x.sock\"\ntls_cert_file = \"tests/fixtures/tls/cert.pem\"\ntls_key_file = \"tests/fixtures/tls/cert.key\"\n",
            "https_address",
            "cannot be a unix socket",
        ),
        ("grpc_address = \"unix:///tmp/g.sock\"\n", "grpc_address", "cannot be a unix socket"),
        ("metrics_address = \"unix:///tmp/m.sock,perm=1\"\n", "metrics_address", "the only one is mode=<octal>"),
        ("metrics_address = \"unix://relative.sock\"\n", "metrics_address", "needs an absolute socket path"),
    ] {
        let cfg = dir.path().join("c.cfg");
        std::fs::write(&cfg, format!("{}{extra}", offline("127.0.0.1:4180").replace("http_address = \"127.0.0.1:4180\"\n", ""))).unwrap();
        let out = gatehouse(&["--config-test", "--config", cfg.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra}: {err}");
        assert!(err.contains(key) && err.contains(says), "{extra}: {err}");
    }
}
