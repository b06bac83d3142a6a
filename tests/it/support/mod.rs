//! Helpers shared by the integration tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gatehouse::config::{self, ConfigErrors, FlagValues, Loaded, Sources};

/// A path under `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// An environment for the loader, from pairs (tests never touch the process environment).
pub fn env_map(env: &[(&str, &str)]) -> HashMap<String, String> {
    env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Loads a config file as `--config` would, with the given environment and flags only.
pub fn load(file: Option<&Path>, env: &[(&str, &str)], flags: Vec<FlagValues>) -> Result<Loaded, ConfigErrors> {
    let env = env_map(env);
    let sources = Sources { config_file: file.map(Path::to_path_buf), alpha_config: None, flags };
    config::load(&sources, &env)
}

/// Loads a fixture that must be valid.
pub fn load_ok(rel: &str) -> Loaded {
    load(Some(&fixture(rel)), &[], vec![]).unwrap_or_else(|e| panic!("{rel} should load:\n{e}"))
}

/// The smallest valid configuration as file text.
pub const MINIMAL: &str = r#"provider = "oidc"
oidc_issuer_url = "https://idp.example.com"
client_id = "app"
client_secret = "s3cret-client-value"
cookie_secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
email_domains = ["*"]
"#;

/// Loads config text (as a file named `test.cfg`) with an environment map and flags.
pub fn load_text(text: &str, env: &[(&str, &str)], flags: Vec<FlagValues>) -> Result<Loaded, ConfigErrors> {
    let env = env_map(env);
    config::load_texts(Some((Path::new("test.cfg"), text.to_string())), None, &flags, &env, ConfigErrors::default())
}

/// Loads a legacy file's text beside alpha YAML text (`test.cfg`, `a.yaml`), no environment.
pub fn load_alpha(legacy: &str, alpha: &str) -> Result<Loaded, ConfigErrors> {
    let env = env_map(&[]);
    config::load_texts(
        Some((Path::new("test.cfg"), legacy.to_string())),
        Some((Path::new("a.yaml"), alpha.to_string())),
        &[],
        &env,
        ConfigErrors::default(),
    )
}

pub fn flag(key: &'static str, values: &[&str]) -> FlagValues {
    FlagValues { key, values: values.iter().map(|v| v.to_string()).collect() }
}

pub mod browser;
pub mod chromium;
pub mod cloud;
pub mod github;
pub mod grpc;
pub mod op;
pub mod peers;
pub mod redis;

/// A free loopback port, for when a port must be known before its server starts (a callback
/// URL registered at the provider). The tiny race with other processes is acceptable in tests.
/// A loopback port nobody listens on, for a server a test starts next. Taken below Linux's
/// ephemeral range (32768 and up), so no outgoing connection of a parallel test can grab it as
/// its source port before the server binds; each port is handed out once per process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Processes (the test binaries, a second `make test`) start at different places.
    let _ = NEXT.compare_exchange(u32::MAX, std::process::id() * 97 % SPAN, Ordering::Relaxed, Ordering::Relaxed);
    loop {
        let port = (LOW + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A Gatehouse started in-process from config text, served until dropped.
pub struct Gate {
    pub base: String,
    handle: gatehouse::app::Handle,
}

impl Gate {
    /// Builds and runs Gatehouse on `http_address` taken from the text (use a fixed free port
    /// or 0). `base_host` is the host the browser uses (`localhost` or `127.0.0.1`).
    pub fn start(text: &str, env: &[(&str, &str)], base_host: &str) -> Gate {
        // In-process servers write their request logs straight to stdout, past the test
        // harness's capture; the logs themselves are tested through the binary (ops.rs).
        let quiet =
            if text.contains("request_logging") { String::new() } else { "request_logging = false\nauth_logging = false\n".to_string() };
        let loaded = load_text(&format!("{text}\n{quiet}"), env, vec![]).unwrap_or_else(|e| panic!("test config should load:\n{e}"));
        let app = gatehouse::App::build(loaded.config).unwrap();
        let port = app.addrs()[0].port();
        let handle = app.handle();
        actix_web::rt::spawn(app.run());
        Gate { base: format!("http://{base_host}:{port}"), handle }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits until the provider is discovered (start answers something other than 503).
    pub async fn wait_ready(&self) {
        wait_discovered(&self.base).await;
    }
}

/// Waits until the proxy at `base` has discovered its provider (`/oauth2/start` answers
/// something other than 503).
pub async fn wait_discovered(base: &str) {
    let client = awc::Client::builder().disable_redirects().finish();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Ok(res) = client.get(format!("{base}/oauth2/start")).send().await
            && res.status() != 503
        {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{base} did not discover the provider in time");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_web::rt::spawn(async move { handle.stop(false).await });
    }
}

/// A private PKI in `dir` made with openssl: `ca.pem` (`ca.key`); `srv.pem`/`srv.key` for
/// 127.0.0.1 and localhost; `client.pem`/`client.key`, a client certificate from that CA;
/// `other.pem`/`other.key`, a client certificate from another CA.
pub fn test_pki(dir: &Path) {
    let sh = |script: &str| {
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl (Debian: apt-get install openssl)")
            .success();
        assert!(ok, "{script}");
    };
    for ca in ["ca", "otherca"] {
        sh(&format!("openssl req -x509 -newkey rsa:2048 -nodes -keyout {ca}.key -out {ca}.pem -days 2 -subj /CN=gatehouse-test-{ca}"));
    }
    sh(
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:gatehouse.internal,DNS:graph.microsoft.com,DNS:admin.googleapis.com\nbasicConstraints=CA:FALSE\n' > srv.cnf",
    );
    sh("printf 'subjectAltName=DNS:envoy.internal\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > client.cnf");
    sh("printf 'subjectAltName=DNS:stranger.internal\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > stranger.cnf");
    for (name, ca, ext) in
        [("srv", "ca", "srv"), ("client", "ca", "client"), ("other", "otherca", "client"), ("stranger", "ca", "stranger")]
    {
        sh(&format!(
            "openssl req -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.csr -subj /CN={name} && openssl x509 -req -in {name}.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial -out {name}.pem -days 2 -extfile {ext}.cnf"
        ));
    }
}

/// A session cookie for `user`, sealed with the test secret, without a login.
pub async fn session_cookie(user: &str, email: &str, groups: &[&str]) -> String {
    use gatehouse::session::jar::RequestCookies;
    use gatehouse::session::{CookieStore, SessionState, SessionStore, now};
    let cfg = load_text(MINIMAL, &[], vec![]).unwrap().config.session.cookie;
    let s = SessionState {
        user: user.into(),
        subject: None,
        email: email.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        preferred_username: user.into(),
        additional_claims: Default::default(),
        access_token: Some("access-token-value".into()),
        id_token: Some("id.token.value".into()),
        refresh_token: None,
        created_at: now(),
        expires_on: None,
        nonce: None,
        sid: None,
        login_at: 0,
        htpasswd: false,
        provider: None,
    };
    let set = CookieStore::new(&cfg).save(&RequestCookies::default(), "h", &s).await.unwrap();
    format!("_oauth2_proxy={}", set[0].value())
}

/// The `Cookie` header a browser sends back after receiving `set` (deletions left out).
pub fn echo(set: &[actix_web::cookie::Cookie<'static>]) -> gatehouse::session::jar::RequestCookies {
    let header: Vec<String> = set.iter().filter(|c| !c.value().is_empty()).map(|c| format!("{}={}", c.name(), c.value())).collect();
    gatehouse::session::jar::RequestCookies::parse([header.join("; ").as_str()])
}

/// A Gatehouse on a free loopback port with the minimal configuration plus `extra`.
pub fn gate(extra: &str) -> Gate {
    Gate::start(&format!("{MINIMAL}http_address = \"127.0.0.1:0\"\ncookie_secure = false\n{extra}"), &[], "127.0.0.1")
}

/// Sends `raw` byte for byte to `addr` (`host:port`) and returns the whole answer: for what an
/// HTTP client would normalise (repeated headers, `Connection` tokens). `raw` should close.
pub async fn raw_request(addr: &str, raw: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(raw.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A server may reset a connection it refuses; what arrived before counts.
    let _ = tcp.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends `method target` byte for byte to `addr` (`host:port`: no client normalises the path)
/// with `headers`, and returns the status code; 0 when the server closed without answering.
pub async fn raw_status(addr: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> u16 {
    raw_exchange(addr, method, target, headers).await.0
}

/// [`raw_status`], with the `Location` of the answer.
pub async fn raw_exchange(addr: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> (u16, Option<String>) {
    let mut text = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    let answer = raw_request(addr, &text).await;
    let head = answer.split("\r\n\r\n").next().unwrap_or("");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let location =
        head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("location")).map(|(_, v)| v.trim().to_string()));
    (status, location)
}

/// One request, redirects not followed: status, headers, body (first MiB).
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
    let client = awc::Client::builder().disable_redirects().timeout(std::time::Duration::from_secs(30)).finish();
    let mut req = client.request(awc::http::Method::from_bytes(method.as_bytes()).unwrap(), url);
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut res = req.send().await.unwrap();
    let headers = res.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let body = String::from_utf8_lossy(&res.body().limit(1 << 20).await.unwrap_or_default()).into_owned();
    (res.status().as_u16(), headers, body)
}

/// A response header by name, case-insensitively.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Gatehouse against a test provider at `issuer`, on `port`, with the callback on `localhost`
/// (PKCE S256) and `extra` appended.
pub fn plain_config(issuer: &str, port: u16, extra: &str) -> String {
    format!(
        r#"provider = "oidc"
oidc_issuer_url = "{issuer}"
client_id = "gatehouse"
client_secret = "gatehouse-secret"
cookie_secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
email_domains = ["*"]
cookie_secure = false
http_address = "127.0.0.1:{port}"
redirect_url = "http://localhost:{port}/oauth2/callback"
code_challenge_method = "S256"
{extra}
"#
    )
}
