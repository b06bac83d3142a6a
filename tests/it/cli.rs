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
