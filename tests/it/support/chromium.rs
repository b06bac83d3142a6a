//! Headless Chromium (Debian's `/usr/bin/chromium`) driven through `tests/peers/browser/drive.mjs`
//! (playwright-core): a real browser walking Gatehouse's pages and the provider's forms.
//! Async over HTTP, so the in-process servers of the test keep running while it waits.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use super::free_port;

pub struct Chromium {
    child: Child,
    url: String,
    client: awc::Client,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Closing stdin lets the driver close the browser; kill in case it hangs.
        drop(self.child.stdin.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/browser")
}

/// Where screenshots go: kept after the run, for people and for CI artifacts.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Chromium {
    pub fn start() -> Chromium {
        #[allow(clippy::disallowed_methods)] // where the test machine's browser is, not configuration
        let chromium = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
        assert!(
            chromium.exists(),
            "Chromium is not installed ({} missing): run `make deps` (Debian: apt-get install chromium)",
            chromium.display()
        );
        assert!(
            peer_dir().join("node_modules/playwright-core").is_dir(),
            "the browser driver is not installed: run `make deps` (or `cd tests/peers/browser && npm ci`)"
        );
        let port = free_port();
        let mut child = Command::new("node")
            .arg(peer_dir().join("drive.mjs"))
            .arg(port.to_string())
            .current_dir(peer_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node is needed for the browser driver: install Node.js 20+");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        match lines.next() {
            Some(Ok(line)) if line == "READY" => {}
            other => panic!("the browser driver did not start ({other:?}; see its stderr above)"),
        }
        std::thread::spawn(move || for _ in lines {});
        Chromium {
            child,
            url: format!("http://127.0.0.1:{port}/"),
            client: awc::Client::builder().timeout(std::time::Duration::from_secs(60)).finish(),
        }
    }

    async fn cmd(&self, command: Value) -> Value {
        let mut res = self.client.post(&self.url).send_json(&command).await.unwrap_or_else(|e| panic!("browser driver {command}: {e}"));
        let out: Value = res.json().limit(16 << 20).await.unwrap();
        assert!(res.status().is_success(), "browser {command}: {}", out["error"].as_str().unwrap_or(""));
        out
    }

    /// A fresh browser profile (its own cookies) with one tab of the given width.
    pub async fn tab(&self, width: u32) -> Tab<'_> {
        let context = self.cmd(json!({"op": "context", "width": width, "height": 800})).await["id"].as_u64().unwrap();
        self.tab_in(context).await
    }

    /// Another tab in the same profile as `other` (shares its cookies).
    pub async fn tab_beside(&self, other: &Tab<'_>) -> Tab<'_> {
        self.tab_in(other.context).await
    }

    async fn tab_in(&self, context: u64) -> Tab<'_> {
        let page = self.cmd(json!({"op": "page", "context": context})).await["id"].as_u64().unwrap();
        Tab { chromium: self, context, page }
    }
}

/// What a tab shows.
#[derive(Debug)]
pub struct Shown {
    pub url: String,
    pub title: String,
    pub text: String,
    pub html: String,
    /// Console errors so far (Content-Security-Policy violations among them).
    pub console: Vec<String>,
}

pub struct Tab<'a> {
    chromium: &'a Chromium,
    context: u64,
    page: u64,
}

impl Tab<'_> {
    pub async fn goto(&self, url: &str) -> u16 {
        self.chromium.cmd(json!({"op": "goto", "page": self.page, "url": url})).await["status"].as_u64().unwrap() as u16
    }

    /// Clicks and waits for the page it leads to.
    pub async fn click(&self, selector: &str) {
        self.chromium.cmd(json!({"op": "click", "page": self.page, "selector": selector})).await;
    }

    pub async fn fill(&self, selector: &str, value: &str) {
        self.chromium.cmd(json!({"op": "fill", "page": self.page, "selector": selector, "value": value})).await;
    }

    pub async fn shown(&self) -> Shown {
        let s = self.chromium.cmd(json!({"op": "state", "page": self.page})).await;
        let text = |k: &str| s[k].as_str().unwrap_or("").to_string();
        Shown {
            url: text("url"),
            title: text("title"),
            text: text("text"),
            html: text("html"),
            console: s["console"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default(),
        }
    }

    async fn evaluate(&self, expression: &str) -> Value {
        self.chromium.cmd(json!({"op": "evaluate", "page": self.page, "expression": expression})).await["value"].clone()
    }

    /// Nothing wider than the viewport (no sideways scrolling on a phone).
    pub async fn fits_width(&self) -> bool {
        self.evaluate("document.documentElement.scrollWidth <= window.innerWidth").await == Value::Bool(true)
    }

    /// Presses Tab once on the loaded page and says which element has the focus.
    pub async fn focus_first(&self) -> String {
        self.chromium.cmd(json!({"op": "press", "page": self.page, "key": "Tab"})).await;
        self.evaluate("document.activeElement ? document.activeElement.tagName : ''").await.as_str().unwrap_or("").to_string()
    }

    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let path = artifacts().join(name);
        self.chromium.cmd(json!({"op": "screenshot", "page": self.page, "path": path})).await;
        path
    }

    /// The provider's login and consent forms, as a person fills them.
    pub async fn sign_in_at_provider(&self, account: &str) {
        let shown = self.shown().await;
        assert!(shown.html.contains("name=\"login\""), "expected the provider's login form at {}: {:.300}", shown.url, shown.text);
        self.fill("input[name=login]", account).await;
        self.fill("input[name=password]", "any").await;
        self.click("button[type=submit]").await;
        // Consent, the first time this profile meets the client.
        if self.shown().await.url.contains("/interaction/") {
            self.click("button[type=submit]").await;
        }
    }
}
