//! Open redirects: a corpus of hostile redirect targets, family by family (security.md), and
//! legitimate ones. Every hostile one must be refused by `is_valid_redirect` and, black-box over
//! HTTP, by every entry point that takes a redirect: `/oauth2/sign_out?rd=`, `/oauth2/start?rd=`
//! and the `X-Auth-Request-Redirect` header.

use gatehouse::authz::is_valid_redirect;
use serde_json::json;

use crate::support::browser::Browser;
use crate::support::op::Op;
use crate::support::{Gate, free_port};

const WHITELIST: &str = r#"whitelist_domains = ["good.example.com", ".corp.example", "ports.example:8443", "any.example:*"]"#;

fn whitelist() -> Vec<String> {
    ["good.example.com", ".corp.example", "ports.example:8443", "any.example:*"].iter().map(|s| s.to_string()).collect()
}

/// The hostile corpus: every family of security.md, crossed with several attacker hosts.
fn hostile() -> Vec<String> {
    let hosts = ["evil.com", "evil.example", "attacker.test", "good.example.com.evil.com", "evilgood.example.com", "badcorp.example"];
    let mut out: Vec<String> = Vec::new();
    for h in hosts {
        // Scheme-relative and backslash forms.
        for prefix in ["//", "///", "////", "/\\", "\\\\", "\\/", "/\\/", "\\", "/\\\\", "//\\", "\\//"] {
            out.push(format!("{prefix}{h}"));
            out.push(format!("{prefix}{h}/path?x=1"));
        }
        // Whitespace and control characters between the slashes, raw and encoded.
        for sep in ["%09", "%0a", "%0d", "%0b", "%0c", "%20", "%00", "\t", " ", "%e3%80%80"] {
            out.push(format!("/{sep}/{h}"));
        }
        // Encoded slashes and backslashes, once and twice.
        for enc in ["/%2f", "/%2F", "%2f%2f", "/%5c", "/%5C", "%5c%5c", "/%252f", "/%25252f", "/%255c"] {
            out.push(format!("{enc}{h}"));
        }
        // Dot segments that lead to a scheme-relative path.
        for dots in ["/./", "/../", "/.\\", "/..\\"] {
            out.push(format!("{dots}{h}"));
        }
        // Absolute URLs to hosts not in the list, and tricks to smuggle the good name.
        for scheme in ["http", "https", "HTTPS", "hTTp"] {
            out.push(format!("{scheme}://{h}"));
            out.push(format!("{scheme}://{h}/"));
        }
        out.push(format!("https://good.example.com@{h}/"));
        out.push(format!("https://good.example.com:x@{h}/"));
        out.push(format!("https://{h}#good.example.com"));
        out.push(format!("https://{h}?good.example.com"));
        out.push(format!("https://{h}\\@good.example.com"));
        out.push(format!("https://{h}/.good.example.com"));
        out.push(format!("http:/{h}"));
        out.push(format!("https:{h}"));
        out.push(format!("http:\\\\{h}"));
        out.push(h.to_string());
    }
    // Userinfo on an allowed host.
    out.extend(["https://user:pass@good.example.com/", "https://user@good.example.com/", "https://@good.example.com/"].map(String::from));
    // Odd IP forms.
    out.extend(
        [
            "http://2130706433/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/",
        ]
        .map(String::from),
    );
    // IDN look-alikes and punycode.
    out.extend(
        [
            "https://gооd.example.com/",
            "https://good.exаmple.com/",
            "https://xn--gd-8cd.example.com/",
            "https://good.example.com．evil.com/",
        ]
        .map(String::from),
    );
    // Other schemes.
    out.extend(
        [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "javascript://%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
            "ftp://good.example.com/",
        ]
        .map(String::from),
    );
    // Ports the list does not allow.
    out.extend(
        ["https://good.example.com:8443/", "https://ports.example/", "https://ports.example:9999/", "https://x.corp.example:1/"]
            .map(String::from),
    );
    // Overlong UTF-8 slashes.
    out.extend(["/%c0%afevil.com", "/%e0%80%afevil.com", "/%c0%2fevil.com", "/%c1%9cevil.com"].map(String::from));
    // Empty and blank.
    out.extend(["", " ", "\t/", "\n/"].map(String::from));
    out
}

fn legitimate() -> Vec<String> {
    let mut out: Vec<String> = [
        "/",
        "/app",
        "/app/",
        "/app/page?x=1&y=2",
        "/a/b/c#frag",
        "/path%20with%20space",
        "/?next=//evil.com",
        "/a//b",
        "/a/./b",
        "/a/../b",
        "/%7Euser",
        "/search?q=%2F%2Fevil.com",
        "/ünïcode",
        "/a?b=c#d",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for host in [
        "good.example.com",
        "GOOD.example.com",
        "corp.example",
        "x.corp.example",
        "a.b.corp.example",
        "ports.example:8443",
        "any.example:1",
        "any.example:65535",
        "any.example",
    ] {
        for scheme in ["https", "http"] {
            out.push(format!("{scheme}://{host}/"));
            out.push(format!("{scheme}://{host}/path?x=1"));
        }
    }
    out
}

#[test]
fn the_corpus_is_large_and_every_hostile_target_is_refused() {
    let (bad, good) = (hostile(), legitimate());
    assert!(bad.len() >= 300, "{} hostile payloads", bad.len());
    assert!(good.len() >= 40, "{} legitimate targets", good.len());
    let wl = whitelist();
    let accepted: Vec<&String> = bad.iter().filter(|rd| is_valid_redirect(rd, &wl)).collect();
    assert!(accepted.is_empty(), "hostile targets accepted: {accepted:?}");
    let refused: Vec<&String> = good.iter().filter(|rd| !is_valid_redirect(rd, &wl)).collect();
    assert!(refused.is_empty(), "legitimate targets refused: {refused:?}");
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The return target a `/oauth2/start` answer carries in its state (`<hash>:<rd>`).
fn state_target(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    state.split_once(':').unwrap().1.to_string()
}

#[actix_web::test]
async fn every_entry_point_refuses_every_hostile_target() {
    let port = free_port();
    let op = Op::start(
        json!({"clients": [{"client_id": "gatehouse", "client_secret": "s", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}]}),
    );
    let cfg = format!(
        "provider = \"oidc\"\noidc_issuer_url = \"{}\"\nclient_id = \"gatehouse\"\nclient_secret = \"s\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\ncookie_secure = false\nhttp_address = \"127.0.0.1:{port}\"\nredirect_url = \"http://localhost:{port}/oauth2/callback\"\n{WHITELIST}\n",
        op.issuer
    );
    let gate = Gate::start(&cfg, &[], "localhost");
    gate.wait_ready().await;
    let mut b = Browser::new(None);
    let mut failures = Vec::new();
    for rd in hostile() {
        let out = b.get(&gate.url(&format!("/oauth2/sign_out?rd={}", enc(&rd)))).await;
        if out.header("location") != Some("/") {
            failures.push(format!("sign_out rd={rd:?} → {:?}", out.header("location")));
        }
        let start = b.get(&gate.url(&format!("/oauth2/start?rd={}", enc(&rd)))).await;
        let target = state_target(start.header("location").unwrap());
        if target != "/" {
            failures.push(format!("start rd={rd:?} → {target:?}"));
        }
        // Header values cannot carry control characters; the rest go through the header too.
        if !rd.chars().any(char::is_control) && !rd.is_empty() && rd.is_ascii() {
            let start = b.get_with(&gate.url("/oauth2/start"), &[("X-Auth-Request-Redirect", rd.as_str())]).await;
            let target = state_target(start.header("location").unwrap());
            if target != "/" {
                failures.push(format!("X-Auth-Request-Redirect {rd:?} → {target:?}"));
            }
        }
    }
    for rd in legitimate() {
        let out = b.get(&gate.url(&format!("/oauth2/sign_out?rd={}", enc(&rd)))).await;
        if out.header("location") != Some(gatehouse::http::respond::location_value(&rd).as_str()) {
            failures.push(format!("legitimate sign_out rd={rd:?} → {:?}", out.header("location")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
