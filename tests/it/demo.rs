//! `make run`: the demo configuration, run by the real binary, driven like a person would.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::browser::Browser;
use crate::support::free_port;
use crate::support::peers::{Shipped, wait_for_child};

#[actix_web::test]
async fn the_demo_logs_in_any_name_and_the_echo_app_shows_it() {
    let (gate, issuer, echo) = (free_port(), free_port(), free_port());
    let files = Shipped::copy(
        "deploy",
        &[
            ("127.0.0.1:4180", format!("127.0.0.1:{gate}")),
            ("127.0.0.1:4181", format!("127.0.0.1:{issuer}")),
            ("127.0.0.1:4182", format!("127.0.0.1:{echo}")),
        ],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--config")
        .arg(files.path("demo.cfg"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Standard log lines (warnings included) go to stdout, as oauth2-proxy's.
    let stdout = child.stdout.take().unwrap();
    let log = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    let mut log = Some(log);
    wait_for_child(&mut child, gate, "the demo", || log.take().map(|l| l.join().unwrap()).unwrap_or_default());
    let log = log.expect("still running, so its log is still being read");
    let base = format!("http://127.0.0.1:{gate}");

    let mut b = Browser::new(None);
    // Discovery of the built-in issuer happens right after start.
    let mut page = b.get(&format!("{base}/")).await;
    assert_eq!(page.status, 403, "the sign-in page: {}", page.body);
    assert!(page.body.contains("Sign in with"));
    let mut to_issuer = b.get(&format!("{base}/oauth2/start?rd=%2F")).await;
    for _ in 0..50 {
        if to_issuer.status != 503 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        to_issuer = b.get(&format!("{base}/oauth2/start?rd=%2F")).await;
    }
    assert_eq!(to_issuer.status, 302, "{}", to_issuer.body);
    let authorize = to_issuer.location().unwrap();
    assert!(authorize.as_str().starts_with(&format!("http://127.0.0.1:{issuer}/authorize?")));
    let form = b.get(authorize.as_str()).await;
    assert!(form.body.contains("not for production") && form.body.contains("name=\"name\""), "{}", form.body);

    // Submit the form as a browser does: its hidden fields (the authorization request) and a name.
    let mut fields: Vec<(String, String)> = authorize.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    fields.push(("name".into(), "carol".into()));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let back = b.request("POST", &format!("http://127.0.0.1:{issuer}/authorize"), Some(&fields), &[]).await;
    assert_eq!(back.status, 302);
    let callback = b.get(back.location().unwrap().as_str()).await;
    assert_eq!((callback.status, callback.header("location")), (302, Some("/")), "{}", callback.body);

    page = b.get(&format!("{base}/")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Hello, carol"), "{}", page.body);
    assert!(page.body.contains("<code>x-forwarded-email</code></td><td><code>carol@example.com</code>"), "{}", page.body);

    child.kill().unwrap();
    child.wait().unwrap();
    let log = log.join().unwrap();
    assert!(log.contains("DEVELOPMENT OpenID issuer"), "the demo says loudly what it is:\n{log}");
    // And nothing that is not true: the demo verifies every certificate it would meet (issue 22).
    assert!(!log.contains("NOT verified") && !log.contains("insecure_skip_verify"), "a warning about an option not set:\n{log}");
}
