//! Standalone mode: Gatehouse as the reverse proxy in front of the app, as the tutorial runs
//! oauth2-proxy. Upstream routing, identity headers, streaming, errors, TLS.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::op::{Op, tutorial_cert};
use crate::support::peers::Upstream;
use crate::support::{Gate, MINIMAL, fixture, free_port, gate, header, send, session_cookie};

async fn sealed(user: &str, groups: &[&str]) -> String {
    session_cookie(user, &format!("{user}@example.com"), groups).await
}

#[actix_web::test]
async fn the_tutorial_literally() {
    let app = Upstream::start();
    let port = free_port();
    let (cert, key) = tutorial_cert();
    let op = Op::start(json!({
        "shape": "wso2",
        "tls": {"cert": cert, "key": key},
        "clients": [{"client_id": "oauth2-proxy-app", "client_secret": "tutorial-client-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")], "require_pkce": true}],
    }));
    // The tutorial's file; only ports, credentials (already in the fixture) and the CA change.
    let cfg = std::fs::read_to_string(fixture("tutorial/oauth2-proxy.cfg"))
        .unwrap()
        .replace("https://localhost:9443", &op.origin())
        .replace("localhost:4180", &format!("localhost:{port}"))
        .replace("127.0.0.1:4180", &format!("127.0.0.1:{port}"))
        .replace("localhost:8080", &format!("localhost:{}", app.port))
        + &format!("provider_ca_files = [\"{}\"]\n", cert.display());
    let gate = Gate::start(&cfg, &[], "localhost");
    gate.wait_ready().await;

    let mut b = Browser::new(op.ca.as_deref());
    let page = b.get(&gate.url("/home")).await;
    assert_eq!(page.status, 403, "the sign-in page, as oauth2-proxy answers");
    assert!(page.body.contains("action=\"/oauth2/start\"") && page.body.contains("value=\"/home\""), "{}", page.body);
    let callback = b.login(&gate.url("/oauth2/start?rd=%2Fhome"), "alice").await;
    assert_eq!((callback.status, callback.header("location")), (302, Some("/home")));

    let home = b.get(&gate.url("/home")).await;
    assert_eq!((home.status, home.body.as_str()), (200, "app saw /home"));
    let seen = app.requests().pop().unwrap();
    assert_eq!(seen.header("x-forwarded-user"), Some("alice"));
    assert_eq!(seen.header("x-forwarded-email"), Some("alice@wso2.example"), "user_id_claim = username");
    assert_eq!(seen.header("x-forwarded-groups"), Some("admins,users"));
    assert_eq!(seen.header("x-forwarded-preferred-username"), Some("alice"));
    assert!(seen.header("x-forwarded-access-token").is_some_and(|t| !t.is_empty()));
    // set_xauthrequest and set_authorization_header are response headers, as in oauth2-proxy.
    assert_eq!(home.header("x-auth-request-user"), Some("alice"));
    assert!(home.header("authorization").is_some_and(|a| a.starts_with("Bearer ey")));
}

#[actix_web::test]
async fn routing_static_and_file_upstreams() {
    let (a, b) = (Upstream::start(), Upstream::start());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello from a file").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/index.html"), "<p>index</p>").unwrap();
    let g = gate(&format!(
        "upstreams = [\"http://127.0.0.1:{}/\", \"http://127.0.0.1:{}/api/\", \"http://127.0.0.1:{}/exact\", \"file://{}#/files/\"]\n",
        a.port,
        b.port,
        b.port,
        dir.path().display()
    ));
    let cookie = sealed("alice", &["users"]).await;
    let c = [("Cookie", cookie.as_str())];
    assert_eq!(send("GET", &g.url("/x/y"), &c).await.2, "app saw /x/y");
    assert_eq!(b.requests().len(), 0);
    assert_eq!(
        send("GET", &g.url("/api/v1/z?q=1"), &c).await.2,
        "app saw /api/v1/z?q=1",
        "the longest prefix wins; the path is forwarded unchanged"
    );
    assert_eq!(send("GET", &g.url("/exact"), &c).await.2, "app saw /exact");
    assert_eq!(b.requests().len(), 2);
    assert_eq!(send("GET", &g.url("/exact/below"), &c).await.2, "app saw /exact/below", "an exact path does not match below itself");
    assert_eq!(a.requests().last().unwrap().uri, "/exact/below");

    assert_eq!(send("GET", &g.url("/files/hello.txt"), &c).await.2, "hello from a file");
    assert_eq!(send("GET", &g.url("/files/sub/"), &c).await.2, "<p>index</p>");
    for escape in ["/files/../Cargo.toml", "/files/%2e%2e/Cargo.toml", "/files/..%2f..%2fetc%2fpasswd", "/files/sub/..%2f..%2fx"] {
        let (status, _, body) = send("GET", &g.url(escape), &c).await;
        assert!(status == 404 || body.starts_with("app saw"), "{escape}: {status} {body}");
        assert!(!body.contains("[package]") && !body.contains("root:"), "{escape} escaped the directory");
    }
    assert_eq!(send("GET", &g.url("/files/hello.txt"), &[]).await.0, 403, "files need a session too");

    let s = gate("upstreams = [\"static://202\"]\n");
    let (status, _, body) = send("GET", &s.url("/anything"), &c).await;
    assert_eq!((status, body.as_str()), (202, "Authenticated"));
}

#[actix_web::test]
async fn headers_to_the_upstream() {
    let app = Upstream::start();
    let g =
        gate(&format!("upstreams = [\"http://127.0.0.1:{}/\"]\npass_access_token = true\npass_authorization_header = true\n", app.port));
    let cookie = sealed("alice", &["admins", "users"]).await;
    let (status, _, _) = send(
        "GET",
        &g.url("/enc/a%2Fb%20c?x=%2F"),
        &[
            ("Cookie", &cookie),
            ("X-Forwarded-User", "mallory"),
            ("X_Forwarded_User", "mallory"),
            ("x-forwarded-email", "mallory@evil.example"),
            ("X-Forwarded-Access-Token", "stolen"),
            ("Authorization", "Bearer forged"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "hop-value"),
            ("Keep-Alive", "timeout=5"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("Accept", "text/plain"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let seen = app.requests().pop().unwrap();
    assert_eq!(seen.uri, "/enc/a%2Fb%20c?x=%2F", "the URI is forwarded exactly as received");
    assert!(seen.headers.iter().all(|(_, v)| !v.contains("mallory") && v != "stolen" && v != "Bearer forged"), "{:?}", seen.headers);
    assert_eq!(seen.header("x-forwarded-user"), Some("alice"));
    assert_eq!(seen.header("x-forwarded-email"), Some("alice@example.com"));
    assert_eq!(seen.header("x-forwarded-access-token"), Some("access-token-value"));
    assert_eq!(seen.header("authorization"), Some("Bearer id.token.value"));
    assert_eq!(seen.header("keep-alive"), None);

    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"), "a client's X-Forwarded-For is not believed without reverse_proxy");
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(seen.header("accept"), Some("text/plain"));
    assert!(seen.header("host").is_some_and(|h| h.starts_with("127.0.0.1:")), "pass_host_header keeps the client's Host");

    // awc rewrites Connection itself, so this one goes out byte for byte.
    let raw = format!(
        "GET /hop HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close, X-Hop\r\nX-Hop: hop-value\r\nTE: trailers\r\nUpgrade: h2c\r\n\r\n"
    );
    let answer = crate::support::raw_request(g.base.trim_start_matches("http://"), &raw).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = app.requests().pop().unwrap();
    assert_eq!(seen.uri, "/hop");
    for hop in ["x-hop", "te", "upgrade"] {
        assert_eq!(seen.header(hop), None, "{hop} is hop-by-hop: {:?}", seen.headers);
    }
}

#[actix_web::test]
async fn unauthenticated_requests_get_the_page_json_or_the_provider() {
    let app = Upstream::start();
    let g = gate(&format!(
        "upstreams = [\"http://127.0.0.1:{}/\"]\napi_routes = [\"^/api/\"]\nskip_auth_routes = [\"GET=^/public/\"]\n",
        app.port
    ));
    let (status, headers, body) = send("GET", &g.url("/page?x=1"), &[("Accept", "text/html")]).await;
    assert_eq!(status, 403);
    assert!(body.contains("value=\"/page?x=1\""), "{body}");
    assert!(header(&headers, "content-type").unwrap().starts_with("text/html"));
    let (status, headers, body) = send("GET", &g.url("/page"), &[("Accept", "application/json")]).await;
    assert_eq!((status, body.as_str(), header(&headers, "content-type")), (401, "{}", Some("application/json")));
    assert_eq!(send("GET", &g.url("/api/x"), &[("Accept", "text/html")]).await.0, 401, "api_routes");
    assert_eq!(send("GET", &g.url("/public/x"), &[]).await.2, "app saw /public/x", "skip_auth_routes");
    assert_eq!(app.requests().len(), 1, "only the skip route reached the app");
}

#[actix_web::test]
async fn upstream_errors_are_502_and_504() {
    let app = Upstream::start();
    let dead = free_port();
    let g =
        gate(&format!("upstreams = [\"http://127.0.0.1:{dead}/\", \"http://127.0.0.1:{}/slow\"]\nupstream_timeout = \"1s\"\n", app.port));
    let cookie = sealed("alice", &[]).await;
    let (status, _, body) = send("GET", &g.url("/x"), &[("Cookie", &cookie)]).await;
    assert_eq!(status, 502);
    assert!(body.contains("could not be reached"), "{body}");
    let started = Instant::now();
    let (status, _, _) = send("GET", &g.url("/slow"), &[("Cookie", &cookie)]).await;
    assert_eq!(status, 504);
    assert!(started.elapsed() < Duration::from_millis(2900), "answered at the timeout, not when the upstream finished");
}

/// An upstream that answers every request with `answer`, then (a moment later, as a crash
/// would) closes the connection.
fn cutting_upstream(answer: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let _ = conn.read(&mut [0u8; 4096]);
            let _ = conn.write_all(answer.as_bytes());
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    port
}

/// An upstream that dies in the middle of its answer: the answer Gatehouse passes on must end
/// as cut too (no last chunk, fewer bytes than announced), never as a shorter whole one. awc
/// took a cut chunked body for a complete one (patched in vendor/actix-http); Go's reverse
/// proxy aborts the answer here.
#[actix_web::test]
async fn a_chunked_answer_cut_by_the_upstream_stays_cut() {
    let chunked = cutting_upstream("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    let sized = cutting_upstream("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nhello");
    let until_close = cutting_upstream("HTTP/1.0 200 OK\r\n\r\nwhole until the end");
    let g = gate(&format!(
        "upstreams = [\"http://127.0.0.1:{chunked}/chunked/\", \"http://127.0.0.1:{sized}/sized/\", \"http://127.0.0.1:{until_close}/close/\"]\n"
    ));
    let cookie = sealed("alice", &[]).await;
    let addr = g.base.trim_start_matches("http://").to_string();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");

    let answer = crate::support::raw_request(&addr, &get("/chunked/x")).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("hello"), "{answer}");
    assert!(!answer.ends_with("0\r\n\r\n"), "a cut chunked answer was finished as whole: {answer:?}");

    let answer = crate::support::raw_request(&addr, &get("/sized/x")).await;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert!(answer.to_ascii_lowercase().contains("content-length: 1000") && body.len() < 1000, "{answer:?}");

    // A body that ends with the connection by design is whole.
    let (status, _, body) = send("GET", &g.url("/close/x"), &[("Cookie", &cookie)]).await;
    assert_eq!((status, body.as_str()), (200, "whole until the end"));
}

#[actix_web::test]
async fn server_sent_events_arrive_as_they_are_sent() {
    let app = Upstream::start();
    let g = gate(&format!("upstreams = [\"http://127.0.0.1:{}/\"]\n", app.port));
    let cookie = sealed("alice", &[]).await;
    let client = awc::Client::builder().disable_timeout().finish();
    let mut res = client.get(g.url("/sse")).insert_header(("Cookie", cookie)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let started = Instant::now();
    let first = std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut res), cx)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event 0"));
    assert!(started.elapsed() < Duration::from_millis(250), "the first event came before the stream ended ({:?})", started.elapsed());
}

/// The real binary, so its memory can be measured.
struct Binary {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Binary {
    fn start(extra: &str) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = dir.path().join("gatehouse.cfg");
        std::fs::write(&cfg, format!("{MINIMAL}http_address = \"127.0.0.1:{port}\"\ncookie_secure = false\n{extra}")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
        crate::support::peers::wait_for_port(port, "gatehouse");
        Binary { child, port, _dir: dir }
    }

    /// Peak resident memory so far, in bytes.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        kb * 1024
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[actix_web::test]
async fn a_gigabyte_streams_both_ways_in_flat_memory() {
    const GIB: u64 = 1 << 30;
    let app = Upstream::start();
    let g = Binary::start(&format!("upstreams = [\"http://127.0.0.1:{}/\"]\n", app.port));
    let cookie = sealed("alice", &[]).await;
    let client = awc::Client::builder().disable_timeout().finish();

    // Download.
    let mut res =
        client.get(format!("http://127.0.0.1:{}/download/{GIB}", g.port)).insert_header(("Cookie", cookie.clone())).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut received: u64 = 0;
    while let Some(chunk) = std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut res), cx)).await {
        received += chunk.unwrap().len() as u64;
    }
    assert_eq!(received, GIB);

    // Upload.
    let chunk = actix_web::web::Bytes::from(vec![7u8; 256 * 1024]);
    struct Body(actix_web::web::Bytes, u64);
    impl futures_core::Stream for Body {
        type Item = Result<actix_web::web::Bytes, std::io::Error>;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
            if self.1 == 0 {
                return std::task::Poll::Ready(None);
            }
            let n = (self.0.len() as u64).min(self.1);
            self.1 -= n;
            std::task::Poll::Ready(Some(Ok(self.0.slice(..n as usize))))
        }
    }
    let mut res = client
        .post(format!("http://127.0.0.1:{}/upload", g.port))
        .insert_header(("Cookie", cookie))
        .send_body(actix_web::body::SizedStream::new(GIB, Body(chunk, GIB)))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body().await.unwrap(), GIB.to_string());

    let peak = g.peak_rss();
    assert!(peak < 64 * 1024 * 1024, "Gatehouse's peak RSS was {} MiB", peak / (1024 * 1024));
}

// === TLS ===

/// Accepts any server certificate and remembers it (the test checks which one was served).
#[derive(Debug)]
struct Capture(std::sync::Mutex<Vec<Vec<u8>>>, Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.0.lock().unwrap().push(end_entity.to_vec());
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.1.signature_verification_algorithms.supported_schemes()
    }
}

/// An HTTPS client that offers only HTTP/2 and accepts any certificate.
pub(crate) fn h2_client() -> awc::Client {
    tls_client(&[&rustls::version::TLS13], &[b"h2"]).0
}

fn tls_client(versions: &[&'static rustls::SupportedProtocolVersion], alpn: &[&[u8]]) -> (awc::Client, Arc<Capture>) {
    gatehouse::install_crypto_provider();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let capture = Arc::new(Capture(Default::default(), provider.clone()));
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(capture.clone())
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    let client = awc::Client::builder().connector(awc::Connector::new().rustls_0_23(Arc::new(cfg))).disable_redirects().finish();
    (client, capture)
}

fn pem_der(path: &std::path::Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(path).unwrap().to_vec()
}

#[actix_web::test]
async fn the_tutorials_tls_snippet_serves_https_with_its_certificate() {
    let app = Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = tutorial_cert();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("cert.key"));
    std::fs::copy(&cert, &cert_file).unwrap();
    std::fs::copy(&key, &key_file).unwrap();
    let port = free_port();
    // The tutorial's TLS snippet, ports and paths filled in.
    let snippet = format!(
        "upstreams = [\"http://127.0.0.1:{}/\"]\nhttp_address = \"127.0.0.1:{port}\"\ncookie_secure = true\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\ntls_min_version = \"TLS1.3\"  # Optional, for stronger security\n",
        app.port,
        cert_file.display(),
        key_file.display()
    );
    let _g = Gate::start(&format!("{MINIMAL}{snippet}"), &[], "127.0.0.1");
    let url = format!("https://localhost:{port}/oauth2/userinfo");

    let (h2, capture) = tls_client(&[&rustls::version::TLS13], &[b"h2", b"http/1.1"]);
    let res = h2.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401, "served over HTTPS");
    assert_eq!(res.version(), awc::http::Version::HTTP_2, "HTTP/2 by ALPN");
    assert_eq!(capture.0.lock().unwrap().last().unwrap(), &pem_der(&cert), "the tutorial's openssl certificate");

    let (tls12, _) = tls_client(&[&rustls::version::TLS12], &[b"http/1.1"]);
    assert!(tls12.get(&url).send().await.is_err(), "a TLS 1.2-only client is refused with tls_min_version = TLS1.3");

    // Replace the certificate on disk: new connections get the new one, without a restart.
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(dir.path().join("new.key"))
        .arg("-out")
        .arg(dir.path().join("new.pem"))
        .stderr(Stdio::null())
        .status()
        .expect("openssl makes the replacement certificate");
    assert!(status.success());
    std::fs::rename(dir.path().join("new.key"), &key_file).unwrap();
    std::fs::rename(dir.path().join("new.pem"), &cert_file).unwrap();
    let new_der = pem_der(&cert_file);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (fresh, capture) = tls_client(&[&rustls::version::TLS13], &[b"http/1.1"]);
        let _ = fresh.get(&url).send().await;
        if capture.0.lock().unwrap().last() == Some(&new_der) {
            break;
        }
        assert!(Instant::now() < deadline, "the new certificate was not picked up");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn force_https_redirects_plain_http() {
    let g = gate("force_https = true\n");
    let (status, headers, _) = send("GET", &g.url("/some/page?x=1"), &[]).await;
    assert_eq!(status, 308);
    let location = header(&headers, "location").unwrap();
    assert!(location.starts_with("https://127.0.0.1") && location.ends_with("/some/page?x=1"), "{location}");
}

#[actix_web::test]
async fn websockets_are_proxied_with_identity() {
    use futures_util::{SinkExt, StreamExt};
    let app = Upstream::start();
    let g = gate(&format!("upstreams = [\"http://127.0.0.1:{}/\"]\n", app.port));
    let cookie = sealed("alice", &[]).await;
    let (res, mut ws) = awc::Client::default()
        .ws(g.url("/ws"))
        .set_header("Cookie", cookie)
        .set_header("X-Forwarded-User", "mallory")
        .connect()
        .await
        .unwrap();
    assert_eq!(res.status(), 101);
    let text = |f: Option<Result<awc::ws::Frame, _>>| match f {
        Some(Ok(awc::ws::Frame::Text(b))) => String::from_utf8(b.to_vec()).unwrap(),
        other => panic!("expected text, got {other:?}"),
    };
    assert_eq!(text(ws.next().await), "hello alice", "the upstream saw alice, not the forged header");
    ws.send(awc::ws::Message::Text("ping one".into())).await.unwrap();
    assert_eq!(text(ws.next().await), "echo ping one");
    ws.send(awc::ws::Message::Binary(actix_web::web::Bytes::from_static(b"\x00\x01\x02"))).await.unwrap();
    match ws.next().await {
        Some(Ok(awc::ws::Frame::Binary(b))) => assert_eq!(&b[..], b"\x00\x01\x02"),
        other => panic!("expected binary, got {other:?}"),
    }
    ws.send(awc::ws::Message::Close(None)).await.unwrap();

    // Without a session the handshake is refused like any request.
    let refused = awc::Client::default().ws(g.url("/ws")).connect().await;
    assert!(refused.is_err(), "no session, no WebSocket");
}

#[actix_web::test]
async fn https_upstreams_are_verified_unless_told_otherwise() {
    // The WSO2-shaped provider serves HTTPS with the tutorial's self-signed certificate: a
    // convenient HTTPS upstream.
    let (cert, key) = tutorial_cert();
    let op = Op::start(json!({"shape": "wso2", "tls": {"cert": cert, "key": key}}));
    let cookie = sealed("alice", &[]).await;
    let c = [("Cookie", cookie.as_str())];

    // Gatehouse's own prefix moves aside so /oauth2/jwks reaches the upstream.
    let ups = format!("upstreams = [\"{}/\"]\nproxy_prefix = \"/gatehouse\"\n", op.origin());
    let strict = gate(&ups);
    assert_eq!(send("GET", &strict.url("/oauth2/jwks"), &c).await.0, 502, "untrusted upstream certificate");
    let insecure = gate(&format!("{ups}ssl_upstream_insecure_skip_verify = true\n"));
    let (status, _, body) = send("GET", &insecure.url("/oauth2/jwks"), &c).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"keys\""));
    let cert = cert.display().to_string();
    let trusted = Gate::start(
        &format!("{MINIMAL}http_address = \"127.0.0.1:0\"\ncookie_secure = false\n{ups}"),
        &[("SSL_CERT_FILE", cert.as_str())],
        "127.0.0.1",
    );
    assert_eq!(send("GET", &trusted.url("/oauth2/jwks"), &c).await.0, 200, "trusted through SSL_CERT_FILE");
}

#[actix_web::test]
async fn basic_auth_to_the_upstream_and_a_refused_session() {
    let app = Upstream::start();
    let g = gate(&format!(
        "upstreams = [\"http://127.0.0.1:{}/\"]\npass_basic_auth = true\nbasic_auth_password = \"upstream-pw\"\nprefer_email_to_user = true\nallowed_groups = [\"admins\"]\n",
        app.port
    ));
    let admin = sealed("alice", &["admins"]).await;
    let (status, _, _) = send("GET", &g.url("/x"), &[("Cookie", &admin)]).await;
    assert_eq!(status, 200);
    let seen = app.requests().pop().unwrap();
    use base64::Engine;
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice@example.com:upstream-pw"));
    assert_eq!(seen.header("authorization"), Some(expected.as_str()));
    assert_eq!(seen.header("x-forwarded-user"), Some("alice@example.com"), "prefer_email_to_user");
    assert_eq!(seen.header("x-forwarded-email"), None);

    // A session outside allowed_groups: the 403 page, the cookie cleared, the app untouched.
    app.clear();
    let user = sealed("bob", &["users"]).await;
    let (status, headers, body) = send("GET", &g.url("/x"), &[("Cookie", &user), ("Accept", "text/html")]).await;
    assert_eq!(status, 403);
    assert!(body.contains("not allowed here"), "{body}");
    assert!(headers.iter().any(|(n, v)| n == "set-cookie" && v.starts_with("_oauth2_proxy=;")), "{headers:?}");
    assert!(app.requests().is_empty());
}

/// A request body sent a byte a second (slowloris for bodies) is cut once it falls behind 240
/// bytes a second after a 5 s grace: the client gets 408 (not a 502: the upstream did nothing
/// wrong) and the upstream, which had started taking the upload, is not left waiting.
#[actix_web::test]
async fn a_body_sent_a_byte_a_second_is_cut() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = Upstream::start();
    let g = gate(&format!("upstreams = [\"http://127.0.0.1:{}/\"]\n", app.port));
    let cookie = sealed("alice", &[]).await;
    let addr = g.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!("POST /upload HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nContent-Length: 100000\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = vec![0u8; 4096];
    let n = loop {
        assert!(started.elapsed() < Duration::from_secs(10), "a body a byte a second is still being taken");
        tokio::select! {
            n = tcp.read(&mut answer) => break n.unwrap_or(0),
            _ = tokio::time::sleep(Duration::from_secs(1)) => { let _ = tcp.write_all(b"x").await; }
        }
    };
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(4), "cut after {took:?}, before the grace");
    assert!(answer.starts_with("HTTP/1.1 408"), "the client's slowness, not the upstream's: {answer}");
}

/// The same over HTTP/2, where a body need not announce its length (no `Content-Length`, no
/// chunked encoding): it is paced too.
#[actix_web::test]
async fn an_http2_body_without_a_length_is_paced_too() {
    let app = Upstream::start();
    let (cert, key) = crate::support::op::tutorial_cert();
    let port = free_port();
    let _g = gate(&format!(
        "upstreams = [\"http://127.0.0.1:{}/\"]\nhttps_address = \"127.0.0.1:{port}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
        app.port,
        cert.display(),
        key.display()
    ));
    let cookie = sealed("alice", &[]).await;
    let drip = futures_util::stream::unfold((), |_| async {
        actix_web::rt::time::sleep(Duration::from_secs(1)).await;
        Some((Ok::<_, actix_web::Error>(actix_web::web::Bytes::from_static(b"x")), ()))
    });
    let started = Instant::now();
    let request = h2_client().post(format!("https://localhost:{port}/upload")).timeout(Duration::from_secs(15));
    let res = request.insert_header(("Cookie", cookie)).send_stream(drip).await.unwrap();
    assert_eq!(res.version(), awc::http::Version::HTTP_2);
    assert_eq!(res.status(), 408);
    assert!(started.elapsed() >= Duration::from_secs(4) && started.elapsed() < Duration::from_secs(9), "{:?}", started.elapsed());
}

/// `upstreams = ["unix:///path/app.sock"]`, as oauth2-proxy serves it: the app behind a unix
/// socket gets the request as received, with `Host` passed on (or `localhost` without
/// `pass_host_header`).
#[actix_web::test]
async fn a_unix_socket_upstream_gets_what_oauth2_proxy_sends() {
    use crate::differential::{Peer, try_run};
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n").unwrap();
    for pass_host in [true, false] {
        let mut seen = Vec::new();
        for peer in [Peer::OAuth2Proxy, Peer::Gatehouse] {
            let sock = dir.path().join(format!("{peer:?}-{pass_host}.sock"));
            let app = Upstream::start_unix(&sock);
            let port = free_port();
            let text = format!(
                "provider = \"oidc\"\nclient_id = \"app\"\nclient_secret = \"s\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\noidc_issuer_url = \"http://127.0.0.1:1\"\nskip_oidc_discovery = true\nlogin_url = \"http://127.0.0.1:1/auth\"\nredeem_url = \"http://127.0.0.1:1/token\"\noidc_jwks_url = \"http://127.0.0.1:1/jwks\"\nhttp_address = \"127.0.0.1:{port}\"\nhtpasswd_file = \"{}\"\nupstreams = [\"unix://{}\"]\npass_host_header = {pass_host}\n",
                users.display(),
                sock.display()
            );
            let run = try_run(peer, &text, port).unwrap_or_else(|(how, log)| panic!("{peer:?} {how}:\n{log}"));
            let basic = ("Authorization", "Basic YWxpY2U6c2VjcmV0");
            let (status, _, body) = send("GET", &format!("{}/some/path%2Fx?q=1", run.base), &[basic]).await;
            let got = app.requests().last().map(|r| (r.uri.clone(), r.header("host").unwrap_or("-").replace(&port.to_string(), "PORT")));
            seen.push(format!("{status} {body} {got:?}"));
        }
        assert_eq!(seen[0], seen[1], "pass_host_header {pass_host}: oauth2-proxy (left) and Gatehouse (right)");
        assert!(seen[1].starts_with("200 app saw /some/path%2Fx?q=1"), "{}", seen[1]);
    }
}

/// An add-the-slash redirect never sends a browser to another site: with a rewrite upstream
/// whose regex is not anchored, `//evil.example/app` would otherwise get
/// `Location: //evil.example/app/` (the review of issue 19 found it).
#[actix_web::test]
async fn the_add_a_slash_redirect_never_leaves_the_site() {
    let env = crate::support::env_map(&[]);
    let legacy = format!("{MINIMAL}request_logging = false\n").replace("provider = \"oidc\"\noidc_issuer_url = \"https://idp.example.com\"\nclient_id = \"app\"\nclient_secret = \"s3cret-client-value\"\n", "");
    let alpha = "server:\n  bindAddress: 127.0.0.1:0\nproviders:\n- id: op\n  provider: oidc\n  clientID: app\n  clientSecret: s\n  oidcConfig:\n    issuerURL: https://idp.example.com\nupstreamConfig:\n  upstreams:\n  - id: app\n    path: /app/(.*)\n    rewriteTarget: /$1\n    static: true\n";
    let loaded = gatehouse::config::load_texts(
        Some((std::path::Path::new("a.cfg"), legacy)),
        Some((std::path::Path::new("a.yaml"), alpha.to_string())),
        &[],
        &env,
        Default::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let app = gatehouse::App::build(loaded.config).unwrap();
    let addr = format!("127.0.0.1:{}", app.addrs()[0].port());
    actix_web::rt::spawn(app.run());
    let answer =
        crate::support::raw_request(&addr, "GET //evil.example/app HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 404") && !answer.to_ascii_lowercase().contains("location:"), "{answer}");
    let answer = crate::support::raw_request(&addr, "GET /x/app HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 301") && answer.contains("location: /x/app/"), "a local path still gets its slash: {answer}");
}
