//! Drop-in proof: the same configuration, provider, upstream and scripted client, once with
//! the real oauth2-proxy (v7.15.6, `go install`ed by `make deps`) and once with Gatehouse;
//! what a browser, an edge proxy or the app can observe must be the same, except the
//! differences README "Differences from oauth2-proxy" lists (each named here with its reason).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::op::Op;
use crate::support::peers::{Upstream, child_listens, deps_dir};
use crate::support::{free_port, send, wait_discovered};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    OAuth2Proxy,
    Gatehouse,
}

/// One proxy process on a free port, with the scenario's configuration.
pub(crate) struct Running {
    child: Child,
    pub(crate) base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn oauth2_proxy_bin() -> PathBuf {
    let bin = deps_dir().join("go/bin/oauth2-proxy");
    assert!(
        bin.exists(),
        "oauth2-proxy v7.15.6 is not installed ({} missing): run `make deps` (it runs `go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6`; Go is needed)",
        bin.display()
    );
    bin
}

/// The scenario's configuration: the common lines, each replaced by a line of `extra` that
/// sets the same key (TOML refuses a key twice, in both proxies), then `extra`.
pub(crate) fn config_text(issuer: &str, app: &Upstream, port: u16, extra: &str) -> String {
    let key = |line: &str| line.split_once('=').map(|(k, _)| k.trim().to_string());
    let overridden: Vec<String> = extra.lines().filter_map(key).collect();
    let base = format!(
        "provider = \"oidc\"\noidc_issuer_url = \"{}\"\nclient_id = \"gatehouse\"\nclient_secret = \"gatehouse-secret\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\ncookie_secure = false\nhttp_address = \"127.0.0.1:{port}\"\nredirect_url = \"http://localhost:{port}/oauth2/callback\"\ncode_challenge_method = \"S256\"\nupstreams = [\"http://127.0.0.1:{}/\"]\n",
        issuer, app.port
    );
    let kept: String = base.lines().filter(|l| key(l).is_none_or(|k| !overridden.contains(&k))).map(|l| format!("{l}\n")).collect();
    format!("{kept}{extra}")
}

pub(crate) fn start(peer: Peer, op: &Op, app: &Upstream, port: u16, extra: &str) -> Running {
    run(peer, &config_text(&op.issuer, app, port, extra), port, &format!("{peer:?} with {extra:?}"))
}

/// `peer`'s binary with configuration `text`, listening on `port` (which the text names).
pub(crate) fn run(peer: Peer, text: &str, port: u16, what: &str) -> Running {
    try_run(peer, text, port).unwrap_or_else(|(how, log)| panic!("{what} {how} on {port}:\n{log}"))
}

/// [`run`], or how the binary did not come to listen and what it printed.
pub(crate) fn try_run(peer: Peer, text: &str, port: u16) -> Result<Running, (String, String)> {
    try_run_with(peer, text, None, port)
}

/// [`try_run`] with an alpha YAML configuration (`--alpha-config`) beside the file.
pub(crate) fn try_run_with(peer: Peer, text: &str, alpha: Option<&str>, port: u16) -> Result<Running, (String, String)> {
    try_run_env(peer, text, alpha, port, &[])
}

/// [`try_run_with`] with environment variables set for the process.
pub(crate) fn try_run_env(
    peer: Peer,
    text: &str,
    alpha: Option<&str>,
    port: u16,
    env: &[(&str, &str)],
) -> Result<Running, (String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("proxy.cfg");
    std::fs::write(&cfg, text).unwrap();
    let bin = match peer {
        Peer::OAuth2Proxy => oauth2_proxy_bin(),
        Peer::Gatehouse => PathBuf::from(env!("CARGO_BIN_EXE_gatehouse")),
    };
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut command = Command::new(bin);
    command.arg("--config").arg(&cfg);
    if let Some(alpha) = alpha {
        let path = dir.path().join("alpha.yaml");
        std::fs::write(&path, alpha).unwrap();
        command.arg("--alpha-config").arg(path);
    }
    command.envs(env.iter().copied());
    let mut child = command.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
    let listening = child_listens(&mut child, port);
    let running = Running { child, base: format!("http://localhost:{port}"), _dir: dir };
    match listening {
        Ok(()) => Ok(running),
        Err(how) => Err((how, running.log())),
    }
}

impl Running {
    /// What the binary printed so far (its log).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("log")).unwrap_or_default()
    }
}

/// A provider that knows both proxies' callbacks, with `op_extra`'s settings too.
pub(crate) fn provider(ports: &[u16], op_extra: &serde_json::Value) -> Op {
    let uris: Vec<String> = ports
        .iter()
        .flat_map(|p| ["/oauth2", "/auth", "/sso/oauth2"].map(|prefix| format!("http://localhost:{p}{prefix}/callback")))
        .collect();
    let mut cfg = json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": uris}]});
    if let (Some(cfg), Some(extra)) = (cfg.as_object_mut(), op_extra.as_object()) {
        cfg.extend(extra.clone());
    }
    Op::start(cfg)
}

/// Gatehouse discovers the provider in the background (oauth2-proxy before listening, an
/// intended difference); the comparison starts once both are ready.
pub(crate) async fn ready(run: &Running) {
    wait_discovered(&run.base).await;
}

/// What a client can observe of one answer: status, a normalised `Location`, the content type
/// (without parameters) and the `Set-Cookie` names with their attributes (not values, not
/// expiry times).
fn observe(label: &str, base: &str, status: u16, headers: &[(String, String)], out: &mut Vec<String>) {
    out.push(format!("{label} status {status}"));
    for (name, value) in headers {
        match name.to_ascii_lowercase().as_str() {
            "location" => {
                let v = value.replace(base, "BASE");
                // Random values (state, nonce, PKCE challenge) are replaced by their names.
                let v = match v.split_once('?') {
                    Some((path, query)) if path.contains("/auth") => {
                        let mut names: Vec<String> = url::form_urlencoded::parse(query.as_bytes()).map(|(k, _)| k.into_owned()).collect();
                        names.sort();
                        format!("{path}?{}", names.join("&"))
                    }
                    _ => v,
                };
                out.push(format!("{label} location {v}"));
            }
            "content-type" => out.push(format!("{label} content-type {}", value.split(';').next().unwrap_or("").trim())),
            "set-cookie" => {
                let c = actix_web::cookie::Cookie::parse(value.clone()).unwrap();
                let mut attrs = vec![format!("path={}", c.path().unwrap_or("-"))];
                if let Some(d) = c.domain() {
                    attrs.push(format!("domain={d}"));
                }
                if c.http_only() == Some(true) {
                    attrs.push("httponly".into());
                }
                if c.secure() == Some(true) {
                    attrs.push("secure".into());
                }
                if let Some(s) = c.same_site() {
                    attrs.push(format!("samesite={s}"));
                }
                let cleared = c.value().is_empty() || c.max_age().is_some_and(|m| m.whole_seconds() <= 0);
                attrs.push(if cleared { "cleared".into() } else { "set".into() });
                // Per-request CSRF cookies carry 8 characters of the state hash.
                let name = match c.name().strip_suffix("_csrf") {
                    Some(n) if n.len() > 9 && n.as_bytes()[n.len() - 9] == b'_' => format!("{}_<hash>_csrf", &n[..n.len() - 9]),
                    _ => c.name().to_string(),
                };
                out.push(format!("{label} set-cookie {name} {}", attrs.join(" ")));
            }
            "x-auth-request-user" | "x-auth-request-email" | "x-auth-request-groups" | "x-auth-request-preferred-username" | "gap-auth" => {
                out.push(format!("{label} {} {value}", name.to_ascii_lowercase()));
            }
            _ => {}
        }
    }
}

/// The scripted client: the same requests against either proxy. A `# wait N` line in the
/// scenario's configuration adds a look at the session N seconds after the login (expiry,
/// refresh).
async fn script(run: &Running, app: &Upstream, extra: &str) -> Vec<String> {
    let base = run.base.as_str();
    let mut out = Vec::new();
    // Every route under the scenario's `proxy_prefix`.
    let prefix = extra.lines().find_map(|l| l.strip_prefix("proxy_prefix = ")).map_or("/oauth2", |v| v.trim().trim_matches('"'));
    let at = |path: &str| match path.strip_prefix("/oauth2/") {
        Some(rest) => format!("{base}{prefix}/{rest}"),
        None => format!("{base}{path}"),
    };
    let get = |path: &str, headers: &[(&str, &str)]| {
        let url = at(path);
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            send("GET", &url, &h).await
        }
    };

    const PAGE: (&str, &str) = ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
    for (label, path, headers) in [
        ("ping", "/ping", vec![]),
        ("ping path", "/healthz", vec![]),
        ("ready path", "/readyz", vec![]),
        ("ping by user agent", "/app", vec![("User-Agent", "kube-probe/1.0")]),
        ("auth without session", "/oauth2/auth", vec![]),
        ("auth as json without session", "/oauth2/auth", vec![("Accept", "application/json")]),
        ("auth with a malformed cookie", "/oauth2/auth", vec![("Cookie", "_oauth2_proxy=garbage")]),
        ("auth with a malformed split cookie", "/oauth2/auth", vec![("Cookie", "_oauth2_proxy_0=a|b; _oauth2_proxy_1=c")]),
        ("auth with forged identity headers", "/oauth2/auth", vec![("X-Forwarded-User", "admin"), ("X-Auth-Request-User", "admin")]),
        ("auth with a bearer that is no JWT", "/oauth2/auth", vec![("Authorization", "Bearer not-a-jwt")]),
        ("api request without session", "/api/data", vec![("Accept", "application/json")]),
        ("browser request without session", "/app?x=1", vec![PAGE]),
        ("public request without session", "/public/x", vec![PAGE]),
        ("preflight without session", "/app", vec![("Origin", "http://other.example"), ("Access-Control-Request-Method", "GET")]),
        ("sign in page", "/oauth2/sign_in", vec![PAGE]),
        ("start", "/oauth2/start?rd=%2Fapp%3Fx%3D1", vec![]),
        ("start with an offsite rd", "/oauth2/start?rd=https%3A%2F%2Fevil.example%2F", vec![]),
        ("sign out with rd", "/oauth2/sign_out?rd=%2Fbye", vec![]),
        ("sign out with an offsite rd", "/oauth2/sign_out?rd=%2F%5Cevil.example", vec![]),
        ("sign out with a port rd", "/oauth2/sign_out?rd=https%3A%2F%2Fevil.example%3A8443%2F", vec![]),
        ("sign out with a subdomain rd", "/oauth2/sign_out?rd=https%3A%2F%2Fsub.evil.example%2F", vec![]),
        ("sign out with a protocol-relative rd", "/oauth2/sign_out?rd=%2F%2Fevil.example%2F", vec![]),
        ("sign out with a header rd", "/oauth2/sign_out", vec![("X-Auth-Request-Redirect", "/from-header")]),
        ("userinfo without session", "/oauth2/userinfo", vec![]),
    ] {
        let (status, headers, _) = get(path, &headers).await;
        observe(label, base, status, &headers, &mut out);
    }
    let before: Vec<String> = app.requests().iter().map(|r| r.uri.clone()).collect();
    out.push(format!("app saw before login {before:?}"));

    // Where logins land, and who may log in at all.
    for (label, rd, headers, account) in [
        ("login to an offsite rd", "?rd=https%3A%2F%2Fevil.example%2Fx", vec![], "alice"),
        ("login to a port rd", "?rd=https%3A%2F%2Fevil.example%3A8443%2Fx", vec![], "alice"),
        ("login to a subdomain rd", "?rd=https%3A%2F%2Fsub.evil.example%2Fy", vec![], "alice"),
        ("login to a protocol-relative rd", "?rd=%2F%2Fevil.example%2Fz", vec![], "alice"),
        ("login to a header rd", "", vec![("X-Auth-Request-Redirect", "/from-header?q=1")], "alice"),
        ("login of bob", "?rd=%2Fbob", vec![], "bob"),
        ("login of eve (unverified email)", "?rd=%2Feve", vec![], "eve"),
    ] {
        let mut other = Browser::new(None);
        let r = other.login_with(&format!("{}{rd}", at("/oauth2/start")), &headers, account).await;
        observe(label, base, r.status, &r.headers, &mut out);
        if r.status == 302 {
            let r = other.get_with(&at("/oauth2/auth"), &[("Accept", "*/*")]).await;
            observe(&format!("{label}, then auth"), base, r.status, &r.headers, &mut out);
        }
    }

    // A login, then what the edge proxy and the app see.
    let mut b = Browser::new(None);
    let r = b.login(&at("/oauth2/start?rd=%2Fhome"), "alice").await;
    observe("callback", base, r.status, &r.headers, &mut out);
    let r = b.get(&at("/oauth2/auth")).await;
    observe("auth with session", base, r.status, &r.headers, &mut out);
    for (label, query) in [
        ("auth with a met group constraint", "allowed_groups=admins"),
        ("auth with one of two groups", "allowed_groups=nobody,users"),
        ("auth with an unmet group constraint", "allowed_groups=nobody"),
        ("auth with an email constraint", "allowed_emails=alice@example.com"),
        ("auth with an unmet email constraint", "allowed_emails=bob@example.org"),
        ("auth with a domain constraint", "allowed_email_domains=example.com"),
        ("auth with an unmet domain constraint", "allowed_email_domains=example.org"),
    ] {
        let r = b.get_with(&format!("{}?{query}", at("/oauth2/auth")), &[("Accept", "*/*")]).await;
        observe(label, base, r.status, &r.headers, &mut out);
    }
    // Not from the browser: its session must survive this.
    let (status, headers, _) = send("GET", &at("/oauth2/auth"), &[("Accept", "application/json"), ("Cookie", "_oauth2_proxy=AAAA")]).await;
    observe("auth with a damaged session cookie", base, status, &headers, &mut out);
    let r = b.get(&at("/oauth2/userinfo")).await;
    observe("userinfo", base, r.status, &r.headers, &mut out);
    out.push(format!("userinfo body {}", serde_json::from_str::<serde_json::Value>(&r.body).unwrap_or_default()));
    let r = b.get_with(&format!("{base}/home?q=1"), &[("X-Forwarded-User", "forged")]).await;
    observe("proxied", base, r.status, &r.headers, &mut out);
    let seen = app.requests();
    match seen.iter().rev().find(|r| r.uri.starts_with("/home")) {
        Some(last) => {
            out.push(format!("app uri {}", last.uri));
            for h in [
                "x-forwarded-user",
                "x-forwarded-email",
                "x-forwarded-preferred-username",
                "x-forwarded-groups",
                "x-forwarded-access-token",
                "authorization",
                "gap-auth",
            ] {
                // Token values differ between runs; whether one was sent does not.
                let v = last.header(h).map(|v| if v.len() > 40 { "<token>".to_string() } else { v.to_string() });
                out.push(format!("app {h} {}", v.as_deref().unwrap_or("-")));
            }
        }
        None => out.push("app did not see the proxied request".into()),
    }
    if let Some(secs) = extra.lines().find_map(|l| l.strip_prefix("# wait ")) {
        actix_web::rt::time::sleep(std::time::Duration::from_secs(secs.trim().parse().unwrap())).await;
        let r = b.get(&at("/oauth2/auth")).await;
        observe("auth later", base, r.status, &r.headers, &mut out);
        let r = b.get(&at("/oauth2/auth")).await;
        observe("auth later again", base, r.status, &r.headers, &mut out);
    }
    let r = b.get(&at("/oauth2/sign_out?rd=%2Fbye")).await;
    observe("sign out", base, r.status, &r.headers, &mut out);
    let r = b.get(&at("/oauth2/auth")).await;
    observe("auth after sign out", base, r.status, &r.headers, &mut out);
    out
}

/// oauth2-proxy's Redis store answers every request that brought no session cookie with a
/// deletion of it; Gatehouse does not (README "Differences").
fn redis_anonymous_deletions() -> Vec<(String, &'static str)> {
    let why = "in Redis mode, no Set-Cookie deleting a session cookie the request did not bring (it would only defeat shared caches)";
    [
        "ping path",
        "ready path",
        "ping by user agent",
        "browser request without session",
        "public request without session",
        "preflight without session",
        "sign in page",
        "sign out with rd",
        "sign out with an offsite rd",
        "sign out with a port rd",
        "sign out with a subdomain rd",
        "sign out with a protocol-relative rd",
        "sign out with a header rd",
    ]
    .into_iter()
    .map(|label| (format!("{label} set-cookie _oauth2_proxy "), why))
    .collect()
}

/// README "Differences": a login refused by policy or by the provider's answer is a 403 page,
/// not oauth2-proxy's 500.
const UNVERIFIED_EMAIL: (&str, &str) =
    ("login of eve", "an account without a verified email is a refused login (403), not a Gatehouse fault (500)");

/// README "Differences": Gatehouse sends a `nonce` in the authorization request unless
/// `insecure_oidc_skip_nonce = true`; oauth2-proxy sends none unless it is `false`. Gatehouse's
/// authorization URLs are compared without that parameter, and each must have had it, so the
/// difference cannot go unnoticed if it goes.
fn without_nonce(extra: &str, ours: Vec<String>) -> Vec<String> {
    let skipped = extra.contains("insecure_oidc_skip_nonce = true");
    ours.into_iter()
        .map(|line| {
            if !line.contains(" location ") || !line.contains("client_id&") {
                return line;
            }
            assert_eq!(line.contains("&nonce"), !skipped, "{extra:?}: Gatehouse's authorization request and its nonce: {line}");
            line.replace("&nonce", "")
        })
        .collect()
}

/// Runs the script against both (at once, on one provider) and compares, line by line.
/// `intended` lists the lines (by their label prefix) where Gatehouse differs on purpose,
/// with the reason; each must really differ, so the list cannot go stale.
async fn compare(extra: &str, intended: &[(&str, &str)]) {
    compare_on(&serde_json::Value::Null, extra, intended).await;
}

/// [`compare`] with a provider given `op_extra`'s settings (tests/peers/op/README.md).
async fn compare_on(op_extra: &serde_json::Value, extra: &str, intended: &[(&str, &str)]) {
    // For a developer chasing one difference: DIFFERENTIAL_ONLY=<part of the configuration>.
    #[allow(clippy::disallowed_methods)] // a developer's switch for this test, not configuration
    if std::env::var("DIFFERENTIAL_ONLY").is_ok_and(|only| !extra.contains(&only)) {
        return;
    }
    let ports = [free_port(), free_port()];
    let op = provider(&ports, op_extra);
    let apps = [Upstream::start(), Upstream::start()];
    let theirs = start(Peer::OAuth2Proxy, &op, &apps[0], ports[0], extra);
    let ours = start(Peer::Gatehouse, &op, &apps[1], ports[1], extra);
    ready(&ours).await;
    let (theirs, ours) = futures_util::future::join(script(&theirs, &apps[0], extra), script(&ours, &apps[1], extra)).await;
    let ours = without_nonce(extra, ours);
    #[allow(clippy::disallowed_methods)]
    if std::env::var_os("DIFFERENTIAL_SHOW").is_some() {
        eprintln!("{extra:?}\n  oauth2-proxy: {theirs:#?}\n  Gatehouse: {ours:#?}");
    }
    // Allowed wherever it shows; required to show only where a scenario lists it.
    let mut allowed_anywhere = intended.to_vec();
    allowed_anywhere.push(UNVERIFIED_EMAIL);
    let allowed = |line: &str| allowed_anywhere.iter().any(|(prefix, _)| line.starts_with(prefix));
    let only_theirs: Vec<&String> = theirs.iter().filter(|l| !ours.contains(l) && !allowed(l)).collect();
    let only_ours: Vec<&String> = ours.iter().filter(|l| !theirs.contains(l) && !allowed(l)).collect();
    assert!(
        only_theirs.is_empty() && only_ours.is_empty(),
        "oauth2-proxy and Gatehouse differ ({extra:?}):\n  oauth2-proxy only: {only_theirs:#?}\n  Gatehouse only: {only_ours:#?}"
    );
    for (prefix, why) in intended {
        let differs = theirs.iter().chain(ours.iter()).filter(|l| l.starts_with(prefix)).any(|l| !(theirs.contains(l) && ours.contains(l)));
        assert!(differs, "{extra:?}: the intended difference {prefix:?} ({why}) no longer shows; remove it here and in the README");
    }
}

#[actix_web::test]
async fn the_default_configuration_behaves_like_oauth2_proxy() {
    compare("", &[UNVERIFIED_EMAIL]).await;
}

/// The tutorial's `oauth2-proxy.cfg`, and its Redis variant, unchanged but for the provider's,
/// the app's and Redis's addresses.
#[actix_web::test]
async fn the_tutorial_configuration_behaves_like_oauth2_proxy() {
    let redis = crate::support::redis::Redis::start(&[]);
    for file in ["tutorial/oauth2-proxy.cfg", "tutorial/oauth2-proxy-redis.cfg"] {
        let text = std::fs::read_to_string(crate::support::fixture(file)).unwrap().replace("redis://127.0.0.1:6379/1", &redis.url(1));
        let local =
            ["provider", "oidc_issuer_url", "oidc_jwks_url", "redirect_url", "client_id", "client_secret", "http_address", "upstreams"];
        let extra: String =
            text.lines().filter(|l| !local.iter().any(|k| l.starts_with(&format!("{k} ")))).map(|l| format!("{l}\n")).collect();
        let intended = if file.contains("redis") { redis_anonymous_deletions() } else { Vec::new() };
        let intended: Vec<(&str, &str)> = intended.iter().map(|(l, w)| (l.as_str(), *w)).collect();
        compare(&extra, &intended).await;
    }
}

/// What the edge proxy and the app are told.
#[actix_web::test]
async fn identity_header_options_behave_like_oauth2_proxy() {
    for extra in [
        "set_xauthrequest = true\n",
        "pass_access_token = true\n",
        "pass_access_token = true\nset_xauthrequest = true\n",
        "pass_user_headers = false\n",
        "pass_basic_auth = false\n",
        "pass_basic_auth = true\nbasic_auth_password = \"app-password\"\n",
        "set_basic_auth = true\nbasic_auth_password = \"app-password\"\n",
        "prefer_email_to_user = true\n",
        "prefer_email_to_user = true\nset_xauthrequest = true\npass_basic_auth = true\n",
        "set_authorization_header = true\n",
        "set_authorization_header = true\nset_xauthrequest = true\n",
        "pass_authorization_header = true\n",
        "pass_authorization_header = true\npass_access_token = true\n",
        "pass_host_header = false\n",
        "user_id_claim = \"username\"\nset_xauthrequest = true\n",
        "oidc_email_claim = \"username\"\n",
        "oidc_groups_claim = \"roles\"\nset_xauthrequest = true\n",
        "session_cookie_minimal = true\n",
    ] {
        compare(extra, &[]).await;
    }
    compare(
        "skip_auth_strip_headers = false\n",
        &[(
            "app x-forwarded-user",
            "a header Gatehouse sets replaces the client's even when client headers are kept; oauth2-proxy appends (`forged,alice`)",
        )],
    )
    .await;
}

/// Who may log in: email domains, lists and groups.
#[actix_web::test]
async fn email_and_group_rules_behave_like_oauth2_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let emails = dir.path().join("emails");
    std::fs::write(&emails, "alice@example.com\n").unwrap();
    for extra in [
        "email_domains = [\"example.com\"]\n".to_string(),
        "email_domains = [\"example.org\"]\n".into(),
        "email_domains = [\"example.com\", \"example.org\"]\n".into(),
        "email_domains = [\"EXAMPLE.COM\"]\n".into(),
        "email_domains = [\"sub.example.com\"]\n".into(),
        format!("email_domains = []\nauthenticated_emails_file = \"{}\"\n", emails.display()),
        format!("email_domains = [\"example.org\"]\nauthenticated_emails_file = \"{}\"\n", emails.display()),
        "allowed_groups = [\"admins\"]\n".into(),
        "allowed_groups = [\"nobody\"]\n".into(),
        "allowed_groups = [\"users\"]\n".into(),
        "allowed_groups = [\"admins\", \"nobody\"]\n".into(),
        "allowed_groups = [\"admins\"]\nemail_domains = [\"example.com\"]\n".into(),
        "scope = \"openid email\"\n".into(),
    ] {
        compare(&extra, &[]).await;
    }
}

/// Where a browser may be sent, and where the routes live.
#[actix_web::test]
async fn redirects_and_routes_behave_like_oauth2_proxy() {
    for extra in [
        "whitelist_domains = [\"evil.example\"]\n",
        "whitelist_domains = [\"evil.example:8443\"]\n",
        "whitelist_domains = [\"evil.example:*\"]\n",
        "whitelist_domains = [\".evil.example\"]\n",
        "proxy_prefix = \"/auth\"\nredirect_url = \"/auth/callback\"\n",
        "proxy_prefix = \"/sso/oauth2\"\nredirect_url = \"/sso/oauth2/callback\"\n",
        "redirect_url = \"/oauth2/callback\"\n",
        "reverse_proxy = true\n",
        "reverse_proxy = true\nreal_client_ip_header = \"X-Real-IP\"\n",
        "skip_provider_button = true\n",
        "skip_auth_preflight = true\n",
        "skip_auth_routes = [\"GET=^/api/\"]\n",
        "skip_auth_routes = [\"^/public\"]\n",
        "skip_auth_regex = [\"^/public\"]\n",
        "api_routes = [\"^/api/\"]\n",
        "api_routes = [\"^/api/\"]\nskip_provider_button = true\n",
        "force_json_errors = true\n",
        "ping_path = \"/healthz\"\n",
        "ping_user_agent = \"kube-probe/1.0\"\n",
        "ready_path = \"/readyz\"\n",
        "encode_state = true\n",
    ] {
        compare(extra, &[]).await;
    }
    compare(
        "trusted_ips = [\"127.0.0.1\"]\n",
        &[("userinfo", "a request let in by trusted_ips has no user: /oauth2/userinfo says 401, not 200 with an empty object")],
    )
    .await;
}

/// Cookie attributes, lifetimes and refresh.
#[actix_web::test]
async fn cookie_options_behave_like_oauth2_proxy() {
    for extra in [
        "cookie_name = \"_custom\"\n",
        "cookie_secure = true\n",
        "cookie_samesite = \"strict\"\n",
        "cookie_samesite = \"lax\"\n",
        "cookie_httponly = false\n",
        "cookie_path = \"/\"\ncookie_domains = [\"localhost\"]\n",
        "cookie_domains = [\"example.com\", \"localhost\"]\n",
        "cookie_path = \"/app\"\n",
        "cookie_expire = \"1h\"\n",
        "cookie_expire = \"0\"\n",
        "cookie_expire = \"3s\"\n# wait 4\n",
        "cookie_refresh = \"1s\"\n# wait 2\n",
        "cookie_csrf_per_request = true\n",
        "cookie_csrf_per_request = true\ncookie_csrf_per_request_limit = 2\n",
        "cookie_csrf_expire = \"5m\"\n",
    ] {
        compare(extra, &[]).await;
    }
}

/// Provider options and the Redis store.
#[actix_web::test]
async fn provider_and_store_options_behave_like_oauth2_proxy() {
    let redis = crate::support::redis::Redis::start(&[]);
    for extra in [
        "code_challenge_method = \"plain\"\n".to_string(),
        "approval_prompt = \"force\"\n".into(),
        "prompt = \"login\"\n".into(),
        "oidc_extra_audiences = [\"other\"]\n".into(),
        "insecure_oidc_allow_unverified_email = true\n".into(),
        "skip_jwt_bearer_tokens = true\n".into(),
    ] {
        compare(&extra, &[]).await;
    }
    let intended = redis_anonymous_deletions();
    let intended: Vec<(&str, &str)> = intended.iter().map(|(l, w)| (l.as_str(), *w)).collect();
    for extra in [
        format!("session_store_type = \"redis\"\nredis_connection_url = \"{}\"\n", redis.url(0)),
        format!("session_store_type = \"redis\"\nredis_connection_url = \"{}\"\ncookie_refresh = \"1s\"\n# wait 2\n", redis.url(0)),
    ] {
        compare(&extra, &intended).await;
    }
}

/// oauth2-proxy and Gatehouse on one provider with the same configuration `extra`, where
/// `ISSUER` stands for the provider's issuer URL.
pub(crate) struct Both {
    pub(crate) op: Op,
    pub(crate) runs: Vec<(Peer, Running)>,
    pub(crate) apps: Vec<Upstream>,
}

pub(crate) async fn both(op_extra: serde_json::Value, extra: &str) -> Both {
    let ports = [free_port(), free_port()];
    let op = provider(&ports, &op_extra);
    let apps = vec![Upstream::start(), Upstream::start()];
    let extra = &extra.replace("ISSUER", &op.issuer);
    let runs = vec![
        (Peer::OAuth2Proxy, start(Peer::OAuth2Proxy, &op, &apps[0], ports[0], extra)),
        (Peer::Gatehouse, start(Peer::Gatehouse, &op, &apps[1], ports[1], extra)),
    ];
    ready(&runs[1].1).await;
    Both { op, runs, apps }
}

/// Alpha upstreams with `rewriteTarget` (a regex `path`), and `proxyRawPath`: the same
/// upstream is picked and it receives the same request target from both.
#[actix_web::test]
async fn rewritten_and_raw_path_upstreams_behave_like_oauth2_proxy() {
    let requests = [
        "/api/v1/users?b=2&a=1",
        "/api/v1/a%20b/c~d*e",
        "/api/v1/x?q=a+b&r=%7e&s=1",
        "/api/v1/x?q=1;r=2&t=3",
        "/api/v1",
        "/docs%2Fx",
        "/docs/x%2Fy?z=1",
        "/other",
    ];
    // Signed in with Basic auth: a skip route would not do, as Gatehouse never skips for a
    // path with an encoded slash (README "Differences").
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n").unwrap();
    let basic = "Basic YWxpY2U6c2VjcmV0"; // alice:secret
    for raw_path in [false, true] {
        // Per proxy: the app, and the docs app (so the observation says which one answered).
        let apps = [[Upstream::start(), Upstream::start()], [Upstream::start(), Upstream::start()]];
        let mut seen: Vec<Vec<String>> = Vec::new();
        for (peer, [app, docs]) in [Peer::OAuth2Proxy, Peer::Gatehouse].into_iter().zip(&apps) {
            let port = free_port();
            let text = format!(
                "cookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\nhtpasswd_file = \"{}\"\n",
                users.display()
            );
            let upstream = format!("http://127.0.0.1:{}", app.port);
            let docs_upstream = format!("http://127.0.0.1:{}", docs.port);
            let alpha = format!(
                "server:\n  bindAddress: 127.0.0.1:{port}\nproviders:\n- id: op\n  provider: oidc\n  clientID: app\n  clientSecret: s\n  oidcConfig:\n    issuerURL: http://127.0.0.1:1\n    skipDiscovery: true\n    jwksURL: http://127.0.0.1:1/jwks\n  loginURL: http://127.0.0.1:1/auth\n  redeemURL: http://127.0.0.1:1/token\nupstreamConfig:\n  proxyRawPath: {raw_path}\n  upstreams:\n  - id: rewrite\n    path: ^/api/v1/(.*)$\n    rewriteTarget: /v1/$1?from=rewrite\n    uri: {upstream}\n  - id: docs\n    path: /docs/\n    uri: {docs_upstream}\n  - id: root\n    path: /\n    uri: {upstream}\n"
            );
            let run = try_run_with(peer, &text, Some(&alpha), port).unwrap_or_else(|(how, log)| panic!("{peer:?} {how}:\n{log}"));
            let mut out = Vec::new();
            for path in requests {
                let before = (app.requests().len(), docs.requests().len());
                let (status, headers, _) = send("GET", &format!("{}{path}", run.base), &[("Authorization", basic)]).await;
                let location = headers.iter().find(|(n, _)| n == "location").map(|(_, v)| v.clone()).unwrap_or_default();
                let got = match (app.requests().get(before.0), docs.requests().get(before.1)) {
                    (Some(r), None) => format!("app got {}", r.uri),
                    (None, Some(r)) => format!("docs got {}", r.uri),
                    other => format!("{other:?}"),
                };
                out.push(format!("{path}: {status} {location} {got}"));
            }
            seen.push(out);
        }
        assert_eq!(seen[0], seen[1], "proxyRawPath {raw_path}: oauth2-proxy (left) and Gatehouse (right)");
        let docs = seen[1].iter().find(|l| l.starts_with("/docs%2Fx")).unwrap();
        assert_eq!(docs.contains("docs got"), !raw_path, "an encoded slash separates only without proxyRawPath: {docs}");
    }
}

/// Alpha `loginURLParameters`: defaults, and the values `/oauth2/start` may choose by `value`
/// or `pattern`; a value no rule allows keeps the default; a chosen parameter is not put back
/// onto `rd`. The provider gets the same parameters from both.
#[actix_web::test]
async fn login_url_parameters_behave_like_oauth2_proxy() {
    let ports = [free_port(), free_port()];
    let op = provider(&ports, &serde_json::Value::Null);
    let requests = [
        "/oauth2/start?rd=%2Fx",
        "/oauth2/start?rd=%2Fx&prompt=consent&login_hint=alice%40example.com",
        "/oauth2/start?prompt=none&login_hint=evil%40evil.example",
        "/oauth2/start?prompt=select_account&prompt=none&ui_locales=de",
        "/oauth2/start?rd=/x&login_hint=bob%40example.com&y=1",
    ];
    let mut seen: Vec<Vec<String>> = Vec::new();
    for (peer, port) in [Peer::OAuth2Proxy, Peer::Gatehouse].into_iter().zip(ports) {
        let text = format!(
            "cookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\ncookie_secure = false\nredirect_url = \"http://localhost:{port}/oauth2/callback\"\nupstreams = []\n"
        );
        let alpha = format!(
            "server:\n  bindAddress: 127.0.0.1:{port}\nupstreamConfig:\n  upstreams:\n  - id: app\n    path: /\n    static: true\nproviders:\n- id: op\n  provider: oidc\n  clientID: gatehouse\n  clientSecret: gatehouse-secret\n  oidcConfig:\n    issuerURL: {}\n  loginURLParameters:\n  - name: prompt\n    default: [login]\n    allow:\n    - value: consent\n    - pattern: ^select_account$\n  - name: login_hint\n    allow:\n    - pattern: ^[a-z]+@example\\.com$\n  - name: ui_locales\n    default: [fr]\n",
            op.issuer
        );
        let text = text.replace("upstreams = []\n", "");
        let run = try_run_with(peer, &text, Some(&alpha), port).unwrap_or_else(|(how, log)| panic!("{peer:?} {how}:\n{log}"));
        if peer == Peer::Gatehouse {
            ready(&run).await;
        }
        let mut out = Vec::new();
        for path in requests {
            let (status, headers, _) = send("GET", &format!("{}{path}", run.base), &[]).await;
            let location = headers.iter().find(|(n, _)| n == "location").map(|(_, v)| v.clone()).unwrap_or_default();
            let url = url::Url::parse(&location).unwrap_or_else(|e| panic!("{peer:?} {path}: {status} {location:?}: {e}"));
            let mut kept: Vec<String> = url
                .query_pairs()
                .filter(|(k, _)| ["prompt", "login_hint", "ui_locales", "approval_prompt", "acr_values"].contains(&k.as_ref()))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            // oauth2-proxy escapes the return URL inside `state`; Gatehouse does not (both
            // read their own form back).
            let rd = url.query_pairs().find(|(k, _)| k == "state").and_then(|(_, v)| {
                v.split_once(':').map(|(_, rd)| url::form_urlencoded::parse(format!("x={rd}").as_bytes()).next().unwrap().1.into_owned())
            });
            // README "Differences": Gatehouse puts `/oauth2/start`'s other parameters back onto
            // `rd` (oauth2-proxy drops them), but never a login parameter the request chose.
            let rd = rd.map(|rd| if rd == "/x?y=1" && path.ends_with("&y=1") { "/x".to_string() } else { rd });
            kept.push(format!("rd {rd:?}"));
            out.push(format!("{path}: {status} {kept:?}"));
        }
        seen.push(out);
    }
    assert_eq!(seen[0], seen[1], "oauth2-proxy (left) and Gatehouse (right)");
    assert!(seen[1][1].contains("prompt=consent") && seen[1][1].contains("login_hint=alice@example.com"), "{}", seen[1][1]);
}

/// Alpha `additionalClaims`: kept in the session, shown by `/oauth2/userinfo` and passed in
/// headers by `claim:` (a list claim as its entries joined), in both.
#[actix_web::test]
async fn additional_claims_behave_like_oauth2_proxy() {
    let ports = [free_port(), free_port()];
    let op = provider(&ports, &serde_json::Value::Null);
    let apps = [Upstream::start(), Upstream::start()];
    let mut seen: Vec<Vec<String>> = Vec::new();
    for ((peer, port), app) in [Peer::OAuth2Proxy, Peer::Gatehouse].into_iter().zip(ports).zip(&apps) {
        let text = format!(
            "cookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\ncookie_secure = false\nredirect_url = \"http://localhost:{port}/oauth2/callback\"\n"
        );
        let alpha = format!(
            "server:\n  bindAddress: 127.0.0.1:{port}\nupstreamConfig:\n  upstreams:\n  - id: app\n    path: /\n    uri: http://127.0.0.1:{}\nproviders:\n- id: op\n  provider: oidc\n  clientID: gatehouse\n  clientSecret: gatehouse-secret\n  additionalClaims: [name, username, groups, absent]\n  oidcConfig:\n    issuerURL: {}\ninjectRequestHeaders:\n- name: X-Name\n  values:\n  - claimSource:\n      claim: name\n- name: X-Username\n  values:\n  - claimSource:\n      claim: username\n      prefix: 'u:'\n- name: X-Absent\n  values:\n  - claimSource:\n      claim: absent\n",
            app.port, op.issuer
        );
        let run = try_run_with(peer, &text, Some(&alpha), port).unwrap_or_else(|(how, log)| panic!("{peer:?} {how}:\n{log}"));
        if peer == Peer::Gatehouse {
            ready(&run).await;
        }
        let mut b = Browser::new(None);
        let r = b.login(&format!("{}/oauth2/start?rd=%2Fhome", run.base), "alice").await;
        let mut out = vec![format!("callback {}", r.status)];
        let r = b.get(&format!("{}/oauth2/userinfo", run.base)).await;
        out.push(format!("userinfo {}", serde_json::from_str::<serde_json::Value>(&r.body).unwrap_or_default()));
        b.get(&format!("{}/home", run.base)).await;
        let last = app.requests().into_iter().rev().find(|r| r.uri.starts_with("/home"));
        for h in ["x-name", "x-username", "x-absent"] {
            out.push(format!("app {h} {:?}", last.as_ref().and_then(|r| r.header(h)).map(str::to_string)));
        }
        seen.push(out);
    }
    assert_eq!(seen[0], seen[1], "oauth2-proxy (left) and Gatehouse (right)");
    assert!(seen[1].iter().any(|l| l.contains("\"name\":\"Alice\"")), "{:?}", seen[1]);
}

/// `allow_query_semicolons = true`: `;` separates the parameters Gatehouse reads, as `&`, in
/// both; the app gets the query as the client wrote it.
#[actix_web::test]
async fn query_semicolons_behave_like_oauth2_proxy() {
    let b = both(serde_json::Value::Null, "allow_query_semicolons = true\nskip_auth_routes = [\"^/public/\"]\n").await;
    for (peer, run) in &b.runs {
        let (status, headers, _) = send("GET", &format!("{}/oauth2/sign_out?rd=%2Fbye;x=1", run.base), &[]).await;
        let location = headers.iter().find(|(n, _)| n == "location").map(|(_, v)| v.as_str());
        assert_eq!((status, location), (302, Some("/bye")), "{peer:?}: rd ends at the semicolon");
    }
    for ((peer, run), app) in b.runs.iter().zip(&b.apps) {
        let (status, _, _) = send("GET", &format!("{}/public/x?a=1;b=2", run.base), &[]).await;
        assert_eq!(status, 200, "{peer:?}");
        let seen = app.requests().last().map(|r| r.uri.clone());
        assert_eq!(seen.as_deref(), Some("/public/x?a=1;b=2"), "{peer:?}: the app gets the query as written");
    }
}

/// Keycloak's accounts: alice has the realm role `admin` and the client role `gatehouse:editor`,
/// bob the realm role `viewer`, eve none. One client each, so oauth2-proxy's group order (a Go
/// map's) is fixed.
pub(crate) fn keycloak_accounts() -> serde_json::Value {
    let mut accounts = crate::support::op::accounts();
    let roles = [
        json!({"realm_access": {"roles": ["admin"]}, "resource_access": {"gatehouse": {"roles": ["editor"]}}}),
        json!({"realm_access": {"roles": ["viewer"]}}),
        json!({}),
    ];
    for (account, roles) in accounts.as_array_mut().unwrap().iter_mut().zip(roles) {
        account["claims"].as_object_mut().unwrap().extend(roles.as_object().unwrap().clone());
    }
    accounts
}

/// keycloak-oidc: roles from the access token become `role:` groups; `allowed_roles` admits
/// realm and client roles, beside `allowed_groups`.
#[actix_web::test]
async fn keycloak_roles_behave_like_oauth2_proxy() {
    let op = json!({"jwt_access_tokens": true, "accounts": keycloak_accounts()});
    for extra in [
        "provider = \"keycloak-oidc\"\n",
        "provider = \"keycloak-oidc\"\nset_xauthrequest = true\npass_access_token = true\n",
        "provider = \"keycloak-oidc\"\nallowed_roles = [\"admin\"]\n",
        "provider = \"keycloak-oidc\"\nallowed_roles = [\"gatehouse:editor\"]\n",
        "provider = \"keycloak-oidc\"\nallowed_roles = [\"viewer\"]\n",
        "provider = \"keycloak-oidc\"\nallowed_roles = [\"nobody\"]\nallowed_groups = [\"admins\"]\n",
        "provider = \"keycloak-oidc\"\nallowed_roles = [\"editor\"]\n",
        "provider = \"keycloak-oidc\"\nallowed_roles = [\"admin\"]\ncookie_refresh = \"1s\"\n# wait 2\n",
    ] {
        compare_on(&op, extra, &[]).await;
    }
}

/// README "Differences": with the provider unreachable at start, oauth2-proxy exits;
/// Gatehouse starts, answers what needs no provider, and 503 for what does (its recovery when
/// the provider comes up is `login::a_provider_down_at_start_gives_503_then_works_without_restart`).
#[actix_web::test]
async fn an_unreachable_provider_at_start_is_an_intended_difference() {
    let app = Upstream::start();
    let dead = format!("http://127.0.0.1:{}/oauth2/token", free_port());
    let dir = tempfile::tempdir().unwrap();
    for peer in [Peer::OAuth2Proxy, Peer::Gatehouse] {
        let port = free_port();
        let cfg = dir.path().join(format!("{peer:?}.cfg"));
        std::fs::write(&cfg, config_text(&dead, &app, port, "")).unwrap();
        let bin = match peer {
            Peer::OAuth2Proxy => oauth2_proxy_bin(),
            Peer::Gatehouse => PathBuf::from(env!("CARGO_BIN_EXE_gatehouse")),
        };
        let mut child =
            Command::new(bin).arg("--config").arg(&cfg).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        if peer == Peer::OAuth2Proxy {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                assert!(std::time::Instant::now() < deadline, "oauth2-proxy kept running without its provider: the difference is gone");
                std::thread::sleep(std::time::Duration::from_millis(50));
            };
            assert!(!status.success());
            continue;
        }
        let run = Running { child, base: format!("http://localhost:{port}"), _dir: tempfile::tempdir().unwrap() };
        crate::support::peers::wait_for_port(port, "gatehouse without its provider");
        assert_eq!(send("GET", &format!("{}/ping", run.base), &[]).await.0, 200);
        assert_eq!(send("GET", &format!("{}/oauth2/auth", run.base), &[]).await.0, 401);
        assert_eq!(send("GET", &format!("{}/oauth2/start", run.base), &[]).await.0, 503);
    }
}

/// The sessions oauth2-proxy wrote (cookie store, then Redis) open in Gatehouse with the same
/// `cookie_secret`: a rolling switch from oauth2-proxy logs nobody out.
#[actix_web::test]
async fn sessions_oauth2_proxy_wrote_open_in_gatehouse() {
    let redis = crate::support::redis::Redis::start(&[]);
    for store in ["", &format!("session_store_type = \"redis\"\nredis_connection_url = \"{}\"\n", redis.url(0))] {
        let refresh = if store.is_empty() { "" } else { "cookie_refresh = \"1s\"\n" };
        let extra = format!("set_xauthrequest = true\npass_access_token = true\n{refresh}{store}");
        let port = free_port();
        let op = Op::start(
            json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}]}),
        );
        let app = Upstream::start();
        let theirs = start(Peer::OAuth2Proxy, &op, &app, port, &extra);
        let mut b = Browser::new(None);
        let r = b.login(&format!("{}/oauth2/start?rd=%2F", theirs.base), "alice").await;
        assert_eq!(r.status, 302, "oauth2-proxy login failed: {}", r.body);
        let cookie = b.cookie("_oauth2_proxy").expect("oauth2-proxy set its session cookie");
        let r = b.get(&format!("{}/app", theirs.base)).await;
        assert_eq!(r.status, 200);
        let their_token = app.requests().last().and_then(|s| s.header("x-forwarded-access-token").map(str::to_string));
        assert!(their_token.is_some(), "oauth2-proxy forwarded the access token");
        drop(theirs);
        app.clear();

        // Gatehouse in its place, same port, same configuration, same browser.
        let ours = start(Peer::Gatehouse, &op, &app, port, &extra);
        ready(&ours).await;
        if !store.is_empty() {
            // Due for refresh (cookie_refresh 1s): Gatehouse refreshes the session oauth2-proxy
            // stored and moves it to a ticket of its own; the old key lives on a minute, so a
            // request already in flight with the old cookie is not logged out.
            actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
            let r = b.get(&format!("{}/oauth2/auth", ours.base)).await;
            assert_eq!(r.status, 202, "refreshed: {:?}", r.headers);
            let moved = b.cookie("_oauth2_proxy").unwrap();
            assert!(moved != cookie && !moved.contains('|'), "a Gatehouse ticket now");
            let ttls: Vec<i64> = redis
                .cli(&["KEYS", "_oauth2_proxy-*"])
                .lines()
                .filter(|k| !k.ends_with(".from"))
                .map(|k| redis.cli(&["TTL", k]).parse().unwrap())
                .collect();
            assert!(ttls.iter().any(|t| (1..=60).contains(t)) && ttls.iter().any(|t| *t > 60), "old key expiring, new key kept: {ttls:?}");
            let (status, _, _) =
                send("GET", &format!("{}/oauth2/auth", ours.base), &[("Cookie", &format!("_oauth2_proxy={cookie}"))]).await;
            assert_eq!(status, 202, "the old cookie still works during the grace minute");
        }
        let r = b.get(&format!("{}/oauth2/auth", ours.base)).await;
        assert_eq!((r.status, r.header("x-auth-request-user")), (202, Some("alice")), "{store:?}: {:?}", r.headers);
        assert_eq!(r.header("x-auth-request-email"), Some("alice@example.com"));
        let r = b.get(&format!("{}/app", ours.base)).await;
        assert_eq!(r.status, 200, "{store:?}");
        let seen = app.requests();
        let last = seen.last().expect("the app saw the request");
        assert_eq!(last.header("x-forwarded-user"), Some("alice"));
        if store.is_empty() {
            assert_eq!(last.header("x-forwarded-access-token").map(str::to_string), their_token, "the access token oauth2-proxy stored");
        } else {
            // Refreshed above: the provider's new access token.
            assert!(last.header("x-forwarded-access-token").is_some_and(|t| Some(t.to_string()) != their_token));
        }
        // A damaged one still does not open.
        let mut bad = cookie.clone();
        bad.insert(3, 'x');
        let (status, _, _) = send("GET", &format!("{}/oauth2/auth", ours.base), &[("Cookie", &format!("_oauth2_proxy={bad}"))]).await;
        assert_eq!(status, 401, "{store:?}");
        // Signing out at Gatehouse ends the session oauth2-proxy stored, key and all.
        let r = b.get(&format!("{}/oauth2/sign_out", ours.base)).await;
        assert_eq!(r.status, 302);
        if !store.is_empty() {
            assert_eq!(redis.cli(&["KEYS", "_oauth2_proxy-*"]).trim(), "", "every key of the session is deleted, the moved-from one too");
        }
        let (status, _, _) = send("GET", &format!("{}/oauth2/auth", ours.base), &[("Cookie", &format!("_oauth2_proxy={cookie}"))]).await;
        assert_eq!(status, if store.is_empty() { 202 } else { 401 }, "{store:?}: a cookie session cannot be revoked, a Redis one can");
    }
}
