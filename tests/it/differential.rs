//! Drop-in proof: the same configuration, provider, upstream and scripted client, once with
//! the real oauth2-proxy (v7.15.6, `go install`ed by `make deps`) and once with Gatehouse;
//! what a browser, an edge proxy or the app can observe must be the same, except the
//! differences README "Differences from oauth2-proxy" lists (each named here with its reason).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::op::Op;
use crate::support::peers::{Upstream, deps_dir, wait_for_child};
use crate::support::{free_port, send, wait_discovered};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    OAuth2Proxy,
    Gatehouse,
}

/// One proxy process on a free port, with the scenario's configuration.
struct Running {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn oauth2_proxy_bin() -> PathBuf {
    let bin = deps_dir().join("go/bin/oauth2-proxy");
    assert!(
        bin.exists(),
        "oauth2-proxy v7.15.6 is not installed ({} missing): run `make deps` (it runs `go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6`; Go is needed)",
        bin.display()
    );
    bin
}

fn start(peer: Peer, op: &Op, app: &Upstream, port: u16, extra: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("proxy.cfg");
    // A scenario may set email_domains itself; TOML refuses a key twice (in both proxies).
    let domains = if extra.contains("email_domains") { "" } else { "email_domains = [\"*\"]\n" };
    std::fs::write(
        &cfg,
        format!(
            "provider = \"oidc\"\noidc_issuer_url = \"{}\"\nclient_id = \"gatehouse\"\nclient_secret = \"gatehouse-secret\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n{domains}cookie_secure = false\nhttp_address = \"127.0.0.1:{port}\"\nredirect_url = \"http://localhost:{port}/oauth2/callback\"\ncode_challenge_method = \"S256\"\nupstreams = [\"http://127.0.0.1:{}/\"]\n{extra}",
            op.issuer, app.port
        ),
    )
    .unwrap();
    let bin = match peer {
        Peer::OAuth2Proxy => oauth2_proxy_bin(),
        Peer::Gatehouse => PathBuf::from(env!("CARGO_BIN_EXE_gatehouse")),
    };
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut child =
        Command::new(bin).arg("--config").arg(&cfg).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
    let what = format!("{peer:?} with {extra:?}");
    wait_for_child(&mut child, port, &what, || std::fs::read_to_string(dir.path().join("log")).unwrap_or_default());
    Running { child, base: format!("http://localhost:{port}"), _dir: dir }
}

/// Gatehouse discovers the provider in the background (oauth2-proxy before listening, an
/// intended difference); the comparison starts once both are ready.
async fn ready(run: &Running) {
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
                out.push(format!("{label} set-cookie {} {}", c.name(), attrs.join(" ")));
            }
            "x-auth-request-user" | "x-auth-request-email" | "x-auth-request-groups" | "x-auth-request-preferred-username" | "gap-auth" => {
                out.push(format!("{label} {} {value}", name.to_ascii_lowercase()));
            }
            _ => {}
        }
    }
}

/// The scripted client: the same requests against either proxy.
async fn script(run: &Running, app: &Upstream) -> Vec<String> {
    let base = run.base.as_str();
    let mut out = Vec::new();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let url = format!("{base}{path}");
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            send("GET", &url, &h).await
        }
    };

    for (label, path, headers) in [
        ("ping", "/ping", vec![]),
        ("auth without session", "/oauth2/auth", vec![]),
        ("auth with a malformed cookie", "/oauth2/auth", vec![("Cookie", "_oauth2_proxy=garbage")]),
        ("auth with forged identity headers", "/oauth2/auth", vec![("X-Forwarded-User", "admin"), ("X-Auth-Request-User", "admin")]),
        ("api request without session", "/api/data", vec![("Accept", "application/json")]),
        ("start", "/oauth2/start?rd=%2Fapp%3Fx%3D1", vec![]),
        ("start with an offsite rd", "/oauth2/start?rd=https%3A%2F%2Fevil.example%2F", vec![]),
        ("sign out with rd", "/oauth2/sign_out?rd=%2Fbye", vec![]),
        ("sign out with an offsite rd", "/oauth2/sign_out?rd=%2F%5Cevil.example", vec![]),
        ("userinfo without session", "/oauth2/userinfo", vec![]),
    ] {
        let (status, headers, _) = get(path, &headers).await;
        observe(label, base, status, &headers, &mut out);
    }
    let before: Vec<String> = app.requests().iter().map(|r| r.uri.clone()).collect();
    out.push(format!("app saw before login {before:?}"));

    // A login, then what the edge proxy and the app see.
    let mut b = Browser::new(None);
    let r = b.login(&format!("{base}/oauth2/start?rd=%2Fhome"), "alice").await;
    observe("callback", base, r.status, &r.headers, &mut out);
    let r = b.get(&format!("{base}/oauth2/auth")).await;
    observe("auth with session", base, r.status, &r.headers, &mut out);
    for (label, query) in [
        ("auth with a met group constraint", "allowed_groups=admins"),
        ("auth with an unmet group constraint", "allowed_groups=nobody"),
        ("auth with an email constraint", "allowed_emails=alice@example.com"),
        ("auth with an unmet domain constraint", "allowed_email_domains=example.org"),
    ] {
        let r = b.get_with(&format!("{base}/oauth2/auth?{query}"), &[("Accept", "*/*")]).await;
        observe(label, base, r.status, &r.headers, &mut out);
    }
    let r = b.get_with(&format!("{base}/oauth2/auth"), &[("Accept", "application/json"), ("Cookie", "_oauth2_proxy=AAAA")]).await;
    observe("auth with a damaged session cookie", base, r.status, &r.headers, &mut out);
    let r = b.get(&format!("{base}/oauth2/userinfo")).await;
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
            ] {
                // Token values differ between runs; whether one was sent does not.
                let v = last.header(h).map(|v| if v.len() > 40 { "<token>".to_string() } else { v.to_string() });
                out.push(format!("app {h} {}", v.as_deref().unwrap_or("-")));
            }
        }
        None => out.push("app did not see the proxied request".into()),
    }
    out
}

/// Runs the script against both and compares, line by line. `intended` lists the lines
/// (by their label prefix) where Gatehouse differs on purpose, with the reason.
async fn compare(extra: &str, intended: &[(&str, &str)]) {
    let mut results = Vec::new();
    for peer in [Peer::OAuth2Proxy, Peer::Gatehouse] {
        let port = free_port();
        let op = Op::start(
            json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}]}),
        );
        let app = Upstream::start();
        let run = start(peer, &op, &app, port, extra);
        ready(&run).await;
        let lines = script(&run, &app).await;
        // Each run has its own provider: its origin is not a difference.
        results.push(lines.into_iter().map(|l| l.replace(&op.origin(), "OP")).collect::<Vec<_>>());
    }
    let (theirs, ours) = (&results[0], &results[1]);
    let allowed = |line: &str| intended.iter().any(|(prefix, _)| line.starts_with(prefix));
    let only_theirs: Vec<&String> = theirs.iter().filter(|l| !ours.contains(l) && !allowed(l)).collect();
    let only_ours: Vec<&String> = ours.iter().filter(|l| !theirs.contains(l) && !allowed(l)).collect();
    assert!(
        only_theirs.is_empty() && only_ours.is_empty(),
        "oauth2-proxy and Gatehouse differ ({extra:?}):\n  oauth2-proxy only: {only_theirs:#?}\n  Gatehouse only: {only_ours:#?}"
    );
}

#[actix_web::test]
async fn the_default_configuration_behaves_like_oauth2_proxy() {
    compare("", &[]).await;
}

#[actix_web::test]
async fn set_xauthrequest_behaves_like_oauth2_proxy() {
    compare("set_xauthrequest = true\n", &[]).await;
}

/// One option (or a small group) at a time, each compared with oauth2-proxy.
#[actix_web::test]
async fn single_options_behave_like_oauth2_proxy() {
    for extra in [
        "pass_access_token = true\n",
        "pass_user_headers = false\n",
        "pass_basic_auth = false\n",
        "prefer_email_to_user = true\n",
        "set_authorization_header = true\nset_xauthrequest = true\n",
        "pass_authorization_header = true\n",
        "skip_provider_button = true\n",
        "skip_auth_preflight = true\n",
        "skip_auth_routes = [\"GET=^/api/\"]\n",
        "api_routes = [\"^/api/\"]\n",
        "whitelist_domains = [\"evil.example\"]\n",
        "cookie_name = \"_custom\"\n",
        "cookie_samesite = \"strict\"\n",
        "cookie_httponly = false\n",
        "cookie_path = \"/\"\ncookie_domains = [\"localhost\"]\n",
        "email_domains = [\"example.org\"]\n",
        "allowed_groups = [\"admins\"]\n",
        "allowed_groups = [\"nobody\"]\n",
        "proxy_prefix = \"/auth\"\n",
        "reverse_proxy = true\n",
    ] {
        compare(extra, &[]).await;
    }
}

/// The sessions oauth2-proxy wrote (cookie store, then Redis) open in Gatehouse with the same
/// `cookie_secret`: a rolling switch from oauth2-proxy logs nobody out.
#[actix_web::test]
async fn sessions_oauth2_proxy_wrote_open_in_gatehouse() {
    let redis = crate::support::redis::Redis::start(&[]);
    for store in ["", &format!("session_store_type = \"redis\"\nredis_connection_url = \"{}\"\n", redis.url(0))] {
        let extra = format!("set_xauthrequest = true\npass_access_token = true\n{store}");
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
        let r = b.get(&format!("{}/oauth2/auth", ours.base)).await;
        assert_eq!((r.status, r.header("x-auth-request-user")), (202, Some("alice")), "{store:?}: {:?}", r.headers);
        assert_eq!(r.header("x-auth-request-email"), Some("alice@example.com"));
        let r = b.get(&format!("{}/app", ours.base)).await;
        assert_eq!(r.status, 200, "{store:?}");
        let seen = app.requests();
        let last = seen.last().expect("the app saw the request");
        assert_eq!(last.header("x-forwarded-user"), Some("alice"));
        assert_eq!(last.header("x-forwarded-access-token").map(str::to_string), their_token, "the access token oauth2-proxy stored");
        // A damaged one still does not open.
        let mut bad = cookie.clone();
        bad.insert(3, 'x');
        let (status, _, _) = send("GET", &format!("{}/oauth2/auth", ours.base), &[("Cookie", &format!("_oauth2_proxy={bad}"))]).await;
        assert_eq!(status, 401, "{store:?}");
        // Signing out at Gatehouse ends the session oauth2-proxy stored, key and all.
        let r = b.get(&format!("{}/oauth2/sign_out", ours.base)).await;
        assert_eq!(r.status, 302);
        if !store.is_empty() {
            assert_eq!(redis.cli(&["KEYS", "_oauth2_proxy-*"]).trim(), "", "the oauth2-proxy session key is deleted");
        }
        let (status, _, _) = send("GET", &format!("{}/oauth2/auth", ours.base), &[("Cookie", &format!("_oauth2_proxy={cookie}"))]).await;
        assert_eq!(status, if store.is_empty() { 202 } else { 401 }, "{store:?}: a cookie session cannot be revoked, a Redis one can");
    }
}
