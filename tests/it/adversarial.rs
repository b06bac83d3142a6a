//! Adversarial differential suite (issue 17): odd requests, sent byte for byte to the real
//! oauth2-proxy v7.15.6 and to Gatehouse with the same configuration, directly (forward-auth
//! checks and standalone mode) and through the shipped nginx, Traefik and Envoy configurations
//! with the real proxies in front of each.
//!
//! The verdict: no request that Gatehouse lets through while oauth2-proxy refuses it. Where
//! Gatehouse refuses what oauth2-proxy lets through, the case names the README "Differences"
//! row that says why ([`Why`]); a named difference that stops showing fails too, so the list
//! cannot go stale. `ADVERSARIAL_SHOW=1` prints every case with both answers.

use std::collections::BTreeMap;

use serde_json::json;

use crate::differential::{Peer, config_text, run};
use crate::forward::{Kind as Edge, Ports, auth_config, shipped, start_edge};
use crate::support::browser::Browser;
use crate::support::op::Op;
use crate::support::peers::{self, Upstream};
use crate::support::{free_port, raw_exchange, raw_status, wait_discovered};

/// The configuration the gate's classes were found with.
pub(crate) const POLICY: &str =
    "reverse_proxy = true\nskip_auth_preflight = true\nskip_auth_routes = [\"GET=^/public/\"]\ntrusted_ips = [\"10.66.0.0/16\"]\n";

/// Why Gatehouse refuses a request oauth2-proxy lets through: each is a row of README
/// "Differences from oauth2-proxy".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Why {
    /// "A path whose readings differ never skips authentication".
    Paths,
    /// "Standalone mode decides on the request it forwards" (oauth2-proxy honours
    /// `X-Forwarded-Uri` there).
    Standalone,
    /// "The forwarded method only narrows".
    Method,
    /// "Two copies of a forwarded header describe nothing".
    Duplicates,
    /// "The client IP: one address, or X-Forwarded-For read from the right".
    ClientIp,
    /// "Constraint headers from the edge" (oauth2-proxy reads none).
    ConstraintHeaders,
    /// "A query parameter with `;` is a value" (Go drops the whole pair, constraint included).
    Semicolons,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Nobody,
    Alice,
    Bob,
}

#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) method: String,
    pub(crate) target: String,
    /// What oauth2-proxy is sent instead, where Gatehouse has a form it lacks (Envoy's path
    /// form: oauth2-proxy answers Envoy with the original path against a static upstream).
    pub(crate) theirs_target: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) who: Who,
    /// Gatehouse must refuse it, whatever oauth2-proxy answers (a bypass both share is still
    /// a bypass).
    pub(crate) must_refuse: bool,
}

pub(crate) fn case(name: impl Into<String>, method: &str, target: &str, headers: &[(&str, &str)], who: Who) -> Case {
    Case {
        name: name.into(),
        method: method.into(),
        target: target.into(),
        theirs_target: None,
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        who,
        must_refuse: false,
    }
}

/// A case Gatehouse must refuse on its own account.
pub(crate) fn refused(c: Case) -> Case {
    Case { must_refuse: true, ..c }
}

/// The first paths of [`PATHS`] skip (`GET=^/public/`); every other one needs a session.
pub(crate) const SKIPPING: usize = 5;

/// The cases where Gatehouse refuses what oauth2-proxy lets through, each with its README row.
/// Exactly these must differ: a new one fails (unexplained), and so does one that stops.
const STRICTER: &[(&str, Why)] = &[
    ("check uri /public%2Fx", Why::Paths),
    ("check uri /public%2fx", Why::Paths),
    ("check uri /public/%c0%af../admin", Why::Paths),
    ("check uri /public/%ff", Why::Paths),
    ("proxy /public%2Fx", Why::Paths),
    ("proxy /public%2fx", Why::Paths),
    ("proxy /public/%c0%af../admin", Why::Paths),
    ("proxy /public/%ff", Why::Paths),
    ("proxy /admin/../public/x", Why::Paths),
    ("proxy //public/x", Why::Paths),
    ("proxy ///public/x", Why::Paths),
    ("proxy /./public/x", Why::Paths),
    ("proxy /public/./x", Why::Paths),
    ("proxy /public//x", Why::Paths),
    ("proxy asterisk", Why::Paths),
    ("proxy /public/%3f/../admin", Why::Paths),
    ("envoy form /public/%3f/../admin", Why::Paths),
    ("check own path dots", Why::Paths),
    ("check uri /public/x%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fadmin", Why::Paths),
    ("proxy /public/x%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fadmin", Why::Paths),
    ("envoy form /public/x%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fadmin", Why::Paths),
    ("envoy form /public%2Fx", Why::Paths),
    ("envoy form /public%2fx", Why::Paths),
    ("envoy form /public/%c0%af../admin", Why::Paths),
    ("envoy form /public/%ff", Why::Paths),
    ("envoy form /admin/../public/x", Why::Paths),
    ("envoy form //public/x", Why::Paths),
    ("envoy form ///public/x", Why::Paths),
    ("envoy form /./public/x", Why::Paths),
    ("envoy form /public/./x", Why::Paths),
    ("envoy form /public//x", Why::Paths),
    ("proxy admin forwarded uri public", Why::Standalone),
    ("check public with method POST", Why::Method),
    ("check public with method PUT", Why::Method),
    ("check public with method DELETE", Why::Method),
    ("check public with method HEAD", Why::Method),
    ("check uri twice public first", Why::Duplicates),
    ("check ip list trusted first", Why::ClientIp),
    ("check alice admins header users", Why::ConstraintHeaders),
    ("check alice semicolon query", Why::Semicolons),
];

/// Paths, plain and odd: controls that must skip, and every way found to make a reader see
/// `/public/` where an app sees something else (or the reverse).
pub(crate) const PATHS: [&str; 50] = [
    "/public/x",
    "/public/",
    "/p%75blic/x",
    "/public/caf%C3%A9",
    "/public/x?y=/admin",
    "/PUBLIC/x",
    "/public",
    "/admin/x",
    "/admin/x?/public/",
    "/admin/x?x=/public/y",
    "/admin/../public/x",
    "/admin/..;/public/x",
    "/admin/..%2Fpublic/x",
    "/admin/..%2fpublic/x",
    "/admin/%2e%2e/public/x",
    "/admin/%2E%2E/public/x",
    "/admin/.%2e/public/x",
    "/admin/%252e%252e/public/x",
    "/admin/..%5Cpublic/x",
    "/admin/..%5cpublic/x",
    "/admin/..\\public/x",
    "//public/x",
    "///public/x",
    "/./public/x",
    "/%2fpublic/x",
    "/%2Fpublic/x",
    "/public/../admin/x",
    "/public/%2e%2e/admin/x",
    "/public/%2E%2E%2Fadmin/x",
    "/public/..%2Fadmin/x",
    "/public/..;/admin/x",
    "/public;/../admin/x",
    "/public;x=1/y",
    "/public/x/..",
    "/public/./x",
    "/public//x",
    "/public%2Fx",
    "/public%2fx",
    "/public/%00/x",
    "/public%00/x",
    "/public/x%00.html",
    "/public/%0a/x",
    "/%c0%ae%c0%ae/public/x",
    "/public/%c0%af../admin",
    "/public/%ff",
    "/public/x%23/../../admin",
    "/public/%3f/../admin",
    "/public/%u002e%u002e/admin",
    "/%70ublic/../admin/x",
    "/public/x%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fadmin",
];

/// The requests, each sent to both. `check` cases ask `/oauth2/auth` about a forwarded
/// request; `proxy` cases are the request itself, for the upstream.
pub(crate) fn cases() -> Vec<Case> {
    use Who::*;
    let mut v = Vec::new();
    for (i, p) in PATHS.iter().enumerate() {
        let guard = |c: Case| if i < SKIPPING { c } else { refused(c) };
        v.push(guard(case(format!("check uri {p}"), "GET", "/oauth2/auth", &[("X-Forwarded-Uri", p)], Nobody)));
        v.push(guard(case(format!("proxy {p}"), "GET", p, &[], Nobody)));
        // Envoy's path form; oauth2-proxy answers Envoy with the original path itself.
        v.push(guard(Case {
            theirs_target: Some(p.to_string()),
            ..case(format!("envoy form {p}"), "GET", &format!("/oauth2/auth{p}"), &[], Nobody)
        }));
    }
    // What an edge written for oauth2-proxy passes on untouched (it sets X-Forwarded-Uri only).
    let fwd = |extra: &[(&'static str, &'static str)]| {
        let mut h = vec![("X-Forwarded-Uri", "/admin/x")];
        h.extend_from_slice(extra);
        h
    };
    for (name, headers) in [
        ("method OPTIONS", fwd(&[("X-Forwarded-Method", "OPTIONS")])),
        ("method options", fwd(&[("X-Forwarded-Method", "options")])),
        ("method OPTIONS,GET", fwd(&[("X-Forwarded-Method", "OPTIONS, GET")])),
        ("original method", fwd(&[("X-Original-Method", "OPTIONS")])),
        ("method underscore", fwd(&[("X_Forwarded_Method", "OPTIONS")])),
        ("method override", fwd(&[("X-HTTP-Method-Override", "OPTIONS")])),
        ("original uri", vec![("X-Original-URI", "/public/x")]),
        ("original url", vec![("X-Original-URL", "/public/x")]),
        ("rewrite url", vec![("X-Rewrite-URL", "/public/x")]),
        ("uri underscore", vec![("X_Forwarded_Uri", "/public/x")]),
        ("uri lower", vec![("x-forwarded-uri", "/admin/x")]),
        ("original beside", fwd(&[("X-Original-URI", "/public/x")])),
        ("prefix", fwd(&[("X-Forwarded-Prefix", "/public")])),
        ("uri absolute", vec![("X-Forwarded-Uri", "http://evil.example/public/x")]),
        ("uri relative", vec![("X-Forwarded-Uri", "public/x")]),
        ("uri empty", vec![("X-Forwarded-Uri", "")]),
        ("uri fragment", vec![("X-Forwarded-Uri", "/admin/x#/public/")]),
        ("uri comma", vec![("X-Forwarded-Uri", "/admin/x,/public/x")]),
        ("uri comma first", vec![("X-Forwarded-Uri", "/public/x,/admin/x")]),
        ("uri space", vec![("X-Forwarded-Uri", "/public/ /../admin")]),
        ("uri tab", vec![("X-Forwarded-Uri", "/public/\t/../admin")]),
        ("uri twice admin first", vec![("X-Forwarded-Uri", "/admin/x"), ("X-Forwarded-Uri", "/public/x")]),
        ("host forged", fwd(&[("X-Forwarded-Host", "public")])),
        ("proto forged", fwd(&[("X-Forwarded-Proto", "https")])),
        ("forwarded rfc7239", fwd(&[("Forwarded", "for=10.66.0.1;proto=https")])),
    ] {
        v.push(case(format!("check {name}"), "GET", "/oauth2/auth", &headers, Nobody));
    }
    // The forwarded method narrows the GET rule (oauth2-proxy sees only the GET).
    for m in ["POST", "PUT", "DELETE", "HEAD"] {
        v.push(case(
            format!("check public with method {m}"),
            "GET",
            "/oauth2/auth",
            &[("X-Forwarded-Uri", "/public/x"), ("X-Forwarded-Method", m)],
            Nobody,
        ));
    }
    v.push(case(
        "check uri twice public first",
        "GET",
        "/oauth2/auth",
        &[("X-Forwarded-Uri", "/public/x"), ("X-Forwarded-Uri", "/admin/x")],
        Nobody,
    ));
    // The check's own method and path.
    for (name, method, target) in [
        ("own OPTIONS", "OPTIONS", "/oauth2/auth"),
        ("own POST", "POST", "/oauth2/auth"),
        ("own lower get", "get", "/oauth2/auth"),
        ("own path encoded", "GET", "/oauth2/%61uth"),
        ("own path dots", "GET", "/oauth2/auth/../../public/x"),
        ("own path semicolon", "GET", "/oauth2/auth;/public/x"),
        ("own query public", "GET", "/oauth2/auth?/public/x"),
        ("own absolute form", "GET", "http://evil.example/oauth2/auth"),
    ] {
        v.push(case(format!("check {name}"), method, target, &[], Nobody));
    }
    // Route constraints: bob is in users, alice in admins.
    for (name, target, headers, who) in [
        ("bob admins", "/oauth2/auth?allowed_groups=admins", vec![], Bob),
        ("bob admins header users", "/oauth2/auth?allowed_groups=admins", vec![("X-Gatehouse-Allowed-Groups", "users")], Bob),
        ("bob admins header users,admins", "/oauth2/auth?allowed_groups=admins", vec![("X-Gatehouse-Allowed-Groups", "admins,users")], Bob),
        ("bob admins repeated", "/oauth2/auth?allowed_groups=admins&allowed_groups=", vec![], Bob),
        ("bob admins spaced", "/oauth2/auth?allowed_groups=admins,%20users", vec![], Bob),
        ("bob Users", "/oauth2/auth?allowed_groups=Users", vec![], Bob),
        ("bob users", "/oauth2/auth?allowed_groups=users", vec![], Bob),
        ("bob emails alice", "/oauth2/auth?allowed_emails=alice@example.com", vec![], Bob),
        ("bob emails upper", "/oauth2/auth?allowed_emails=BOB@example.com", vec![], Bob),
        ("bob emails spaced", "/oauth2/auth?allowed_emails=%20bob@example.com", vec![], Bob),
        ("bob domains upper", "/oauth2/auth?allowed_email_domains=EXAMPLE.COM", vec![], Bob),
        ("bob domains sub", "/oauth2/auth?allowed_email_domains=.example.com", vec![], Bob),
        ("bob domains other", "/oauth2/auth?allowed_email_domains=example.org", vec![], Bob),
        ("bob domains star", "/oauth2/auth?allowed_email_domains=*", vec![], Bob),
        ("bob groups and emails", "/oauth2/auth?allowed_groups=users&allowed_emails=alice@example.com", vec![], Bob),
        ("alice admins", "/oauth2/auth?allowed_groups=admins", vec![], Alice),
        ("alice admins header users", "/oauth2/auth?allowed_groups=admins", vec![("X-Gatehouse-Allowed-Groups", "users")], Alice),
        ("alice admins encoded key", "/oauth2/auth?allowed%5Fgroups=users", vec![], Alice),
        ("alice semicolon query", "/oauth2/auth?allowed_groups=users;x=1", vec![], Alice),
    ] {
        v.push(case(format!("check {name}"), "GET", target, &headers, who));
    }
    // The client IP for trusted_ips (10.66.0.0/16), from X-Real-IP.
    for (name, headers) in [
        ("ip trusted", vec![("X-Real-IP", "10.66.0.1")]),
        ("ip garbage", vec![("X-Real-IP", "x")]),
        ("ip empty", vec![("X-Real-IP", "")]),
        ("ip missing", vec![]),
        ("ip other", vec![("X-Real-IP", "10.67.0.1")]),
        ("ip list trusted first", vec![("X-Real-IP", "10.66.0.1, 1.2.3.4")]),
        ("ip list other first", vec![("X-Real-IP", "1.2.3.4, 10.66.0.1")]),
        ("ip twice", vec![("X-Real-IP", "1.2.3.4"), ("X-Real-IP", "10.66.0.1")]),
        ("ip underscore", vec![("X_Real_IP", "10.66.0.1")]),
        ("ip forwarded-for", vec![("X-Forwarded-For", "10.66.0.1")]),
        ("ip port", vec![("X-Real-IP", "10.66.0.1:443")]),
        ("ip v6 mapped", vec![("X-Real-IP", "::ffff:10.66.0.1")]),
        ("ip leading zeros", vec![("X-Real-IP", "010.066.000.001")]),
    ] {
        v.push(case(format!("check {name}"), "GET", "/oauth2/auth", &headers, Nobody));
    }
    // Standalone: the request is judged as itself, whatever it says about another.
    for (name, method, target, headers) in [
        ("admin method OPTIONS", "GET", "/admin/x", vec![("X-Forwarded-Method", "OPTIONS")]),
        ("admin original method", "GET", "/admin/x", vec![("X-Original-Method", "OPTIONS")]),
        ("admin original uri", "GET", "/admin/x", vec![("X-Original-URI", "/public/x")]),
        ("admin method override", "GET", "/admin/x", vec![("X-HTTP-Method-Override", "OPTIONS")]),
        ("real preflight", "OPTIONS", "/admin/x", vec![]),
        ("lower get public", "get", "/public/x", vec![]),
        ("POST public", "POST", "/public/x", vec![("Content-Length", "0")]),
        ("HEAD public", "HEAD", "/public/x", vec![]),
        ("absolute form public", "GET", "http://evil.example/public/x", vec![]),
        ("absolute form admin", "GET", "http://evil.example/admin/x", vec![]),
        ("asterisk", "OPTIONS", "*", vec![]),
        ("ip trusted", "GET", "/admin/x", vec![("X-Real-IP", "10.66.0.1")]),
        ("method override POST public", "POST", "/public/x", vec![("X-HTTP-Method-Override", "DELETE"), ("Content-Length", "0")]),
        ("ip garbage", "GET", "/admin/x", vec![("X-Real-IP", "garbage")]),
    ] {
        v.push(case(format!("proxy {name}"), method, target, &headers, Nobody));
    }
    // oauth2-proxy honours a trusted X-Forwarded-Uri in proxy mode too, and forwards the real path.
    v.push(case("proxy admin forwarded uri public", "GET", "/admin/x", &[("X-Forwarded-Uri", "/public/x")], Nobody));
    // Credentials that are no session.
    for (name, headers) in [
        ("cookie junk", vec![("Cookie", "_oauth2_proxy=junk")]),
        ("cookie empty", vec![("Cookie", "_oauth2_proxy=")]),
        ("cookie upper name", vec![("Cookie", "_OAUTH2_PROXY=junk")]),
        ("cookie split junk", vec![("Cookie", "_oauth2_proxy_0=junk; _oauth2_proxy_1=junk")]),
        ("bearer junk", vec![("Authorization", "Bearer junk")]),
        ("bearer jwt-shaped", vec![("Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")]),
        ("basic junk", vec![("Authorization", "Basic YWxpY2U6c2VjcmV0")]),
        ("identity forged", vec![("X-Forwarded-User", "alice"), ("X-Auth-Request-User", "alice"), ("GAP-Auth", "alice")]),
    ] {
        v.push(case(format!("check {name}"), "GET", "/oauth2/auth", &[&[("X-Forwarded-Uri", "/admin/x")], &headers[..]].concat(), Nobody));
        v.push(case(format!("proxy {name}"), "GET", "/admin/x", &headers, Nobody));
    }
    // Signed in: the controls that must pass in both.
    v.push(case("check alice session", "GET", "/oauth2/auth", &[("X-Forwarded-Uri", "/admin/x")], Alice));
    v.push(case("proxy alice session", "GET", "/admin/x", &[], Alice));
    v.push(case("proxy alice odd path", "GET", "/admin/../public/x", &[], Alice));
    v
}

/// Every case (status of each), then the verdict.
fn judge(label: &str, results: &[(Case, u16, u16)], expected: &[(String, Why)]) {
    let allowed = |s: u16| (200..300).contains(&s);
    // A switch for the person reading the table, not configuration.
    #[allow(clippy::disallowed_methods)]
    let show = std::env::var_os("ADVERSARIAL_SHOW").is_some();
    let mut wrong = Vec::new();
    for (c, theirs, ours) in results {
        let named = expected.iter().find(|(n, _)| *n == c.name).map(|(_, why)| *why);
        if show {
            eprintln!("{label} | {:<50} | oauth2-proxy {theirs} | gatehouse {ours} | {named:?}", c.name);
        }
        if c.must_refuse && allowed(*ours) {
            wrong.push(format!("MUST BE REFUSED, Gatehouse let it through: {} (oauth2-proxy {theirs}, Gatehouse {ours})", c.name));
            continue;
        }
        match (allowed(*theirs), allowed(*ours), named) {
            (false, true, _) => wrong.push(format!("ALLOWED BY GATEHOUSE ONLY: {} (oauth2-proxy {theirs}, Gatehouse {ours})", c.name)),
            (true, false, None) => {
                wrong.push(format!("refused by Gatehouse only, no README difference named: {} ({theirs} vs {ours})", c.name))
            }
            (true, false, Some(_)) => {}
            (_, _, Some(why)) => wrong.push(format!("named difference {why:?} no longer shows: {} ({theirs} vs {ours})", c.name)),
            _ => {}
        }
    }
    for (name, why) in expected {
        if !results.iter().any(|(c, _, _)| c.name == *name) {
            wrong.push(format!("named difference {why:?} has no case: {name}"));
        }
    }
    assert!(wrong.is_empty(), "{label}: {} of {} cases:\n{}", wrong.len(), results.len(), wrong.join("\n"));
}

/// A provider with alice (admins) and bob (users), knowing every callback given.
fn provider(callbacks: Vec<String>) -> Op {
    Op::start(json!({
        "clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": callbacks}],
        "accounts": [
            {"id": "alice", "claims": {"email": "alice@example.com", "email_verified": true, "preferred_username": "alice", "groups": ["admins"]}},
            {"id": "bob", "claims": {"email": "bob@example.com", "email_verified": true, "preferred_username": "bob", "groups": ["users"]}},
        ],
    }))
}

/// The session cookies of `who` at `base` (logged in through `base`'s own start).
async fn sessions(base: &str) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for who in ["alice", "bob"] {
        let mut b = Browser::new(None);
        let r = b.login(&format!("{base}/oauth2/start?rd=%2F"), who).await;
        assert_eq!(r.status, 302, "{who} at {base}: {}", r.body);
        out.insert(who, b.cookies_starting("_oauth2_proxy"));
    }
    out
}

/// Sends a case; a 301 or 308 to a path on the same server (oauth2-proxy's router cleans `..`
/// and `//` that way) is followed once, since a browser would be served the cleaned path.
pub(crate) async fn send_case(addr: &str, c: &Case, target: &str, cookies: &BTreeMap<&'static str, String>) -> u16 {
    let mut headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    match c.who {
        Who::Alice => headers.push(("Cookie", &cookies["alice"])),
        Who::Bob => headers.push(("Cookie", &cookies["bob"])),
        Who::Nobody => {}
    }
    let (status, location) = raw_exchange(addr, &c.method, target, &headers).await;
    match (status, location) {
        (301 | 308, Some(path)) if path.starts_with('/') && !path.starts_with("//") => {
            raw_exchange(addr, &c.method, &path, &headers).await.0
        }
        (status, _) => status,
    }
}

#[actix_web::test]
async fn gatehouse_never_lets_through_what_oauth2_proxy_refuses() {
    let (theirs_port, ours_port) = (free_port(), free_port());
    let callbacks = [theirs_port, ours_port].iter().map(|p| format!("http://localhost:{p}/oauth2/callback")).collect();
    let op = provider(callbacks);
    let (app_theirs, app_ours) = (Upstream::start(), Upstream::start());
    let theirs = run(Peer::OAuth2Proxy, &config_text(&op.issuer, &app_theirs, theirs_port, POLICY), theirs_port, "oauth2-proxy");
    let ours = run(Peer::Gatehouse, &config_text(&op.issuer, &app_ours, ours_port, POLICY), ours_port, "Gatehouse");
    wait_discovered(&ours.base).await;
    let (their_cookies, our_cookies) = (sessions(&theirs.base).await, sessions(&ours.base).await);

    let all = cases();
    assert!(all.len() >= 150, "the suite has {} cases", all.len());
    let mut results = Vec::new();
    for c in all {
        let t = send_case(&format!("127.0.0.1:{theirs_port}"), &c, c.theirs_target.as_deref().unwrap_or(&c.target), &their_cookies).await;
        let o = send_case(&format!("127.0.0.1:{ours_port}"), &c, &c.target, &our_cookies).await;
        results.push((c, t, o));
    }
    judge("direct", &results, &STRICTER.iter().map(|(n, w)| (n.to_string(), *w)).collect::<Vec<_>>());
    drop((theirs, ours));
}

// === through the shipped edge configurations ===

/// A shipped edge configuration in front of one peer and its own app.
struct Stack {
    app: Upstream,
    _peer: Box<dyn std::any::Any>,
    _proxy: peers::Proxy,
    addr: String,
}

fn edge_stack(edge: Edge, peer: Peer, op: &Op, edge_port: u16) -> Stack {
    let (auth_port, admin_port) = (free_port(), free_port());
    let app = Upstream::start();
    // oauth2-proxy has no /oauth2/verify: its documented forms are the /oauth2/auth address
    // for Traefik, and for Envoy a check of the original path against a static upstream.
    let theirs = [("/oauth2/verify", "/oauth2/auth".to_string()), ("path_prefix: /oauth2/auth", "path_prefix: \"\"".to_string())];
    let more: &[(&str, String)] = if peer == Peer::OAuth2Proxy { &theirs } else { &[] };
    let files = shipped(edge, Ports { auth: auth_port, edge: edge_port, app: app.port, admin: admin_port }, more);
    let mut cfg = auth_config(&files, &op.issuer);
    if peer == Peer::OAuth2Proxy && edge == Edge::Envoy {
        cfg.push_str("upstreams = [\"static://200\"]\n");
    }
    let running = run(peer, &cfg, auth_port, &format!("{peer:?} behind {edge:?}"));
    let proxy = start_edge(edge, files, edge_port);
    Stack { app, _peer: Box::new(running) as Box<dyn std::any::Any>, _proxy: proxy, addr: format!("127.0.0.1:{edge_port}") }
}

impl Stack {
    /// Waits until the edge routes `/oauth2/` to the peer and the peer knows the provider.
    async fn ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let status = raw_status(&self.addr, "GET", "/oauth2/start", &[]).await;
            if status == 302 {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{} never routed to its peer (last {status})", self.addr);
            actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Did the request reach the app? (Through an edge, a 2xx may also be the edge's or the
    /// peer's own answer; what counts is whether the app saw it.) With the path the app saw.
    async fn reaches_app(&self, c: &Case, cookies: &BTreeMap<&'static str, String>) -> (u16, Option<String>) {
        let before = self.app.requests().len();
        let status = send_case(&self.addr, c, &c.target, cookies).await;
        let seen = self.app.requests().get(before).map(|r| r.uri.clone());
        let status = match (&seen, status) {
            (Some(_), _) => 200,
            // Answered 2xx by the edge or the peer itself, without the app: not let through.
            (None, 200..=299) => 0,
            (None, s) => s,
        };
        (status, seen)
    }
}

/// Through each edge, the cases where Gatehouse refuses what oauth2-proxy lets through.
const EDGE_STRICTER: &[(Edge, &str, Why)] = &[
    // Encoded slashes and bytes that are not UTF-8: every edge passes them on as they are.
    (Edge::Nginx, "edge /public%2Fx", Why::Paths),
    (Edge::Nginx, "edge /public%2fx", Why::Paths),
    (Edge::Nginx, "edge /public/%c0%af../admin", Why::Paths),
    (Edge::Nginx, "edge /public/%ff", Why::Paths),
    (Edge::Traefik, "edge /public%2Fx", Why::Paths),
    (Edge::Traefik, "edge /public%2fx", Why::Paths),
    (Edge::Traefik, "edge /public/%c0%af../admin", Why::Paths),
    (Edge::Traefik, "edge /public/%ff", Why::Paths),
    // (Envoy itself refuses an encoded slash: `path_with_escaped_slashes_action`.)
    (Edge::Envoy, "edge /public/%c0%af../admin", Why::Paths),
    (Edge::Envoy, "edge /public/%ff", Why::Paths),
    // Fullwidth solidi, which some servers fold into `/`.
    (Edge::Nginx, "edge /public/x%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fadmin", Why::Paths),
    (Edge::Traefik, "edge /public/x%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fadmin", Why::Paths),
    (Edge::Envoy, "edge /public/x%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fadmin", Why::Paths),
    // nginx and Traefik check with GET and say the real method in X-Forwarded-Method.
    (Edge::Nginx, "edge POST public", Why::Method),
    (Edge::Traefik, "edge POST public", Why::Method),
    // oauth2-proxy has no per-route constraint in an Envoy HTTP check (it has no query).
    (Edge::Envoy, "edge bob admin", Why::ConstraintHeaders),
    (Edge::Envoy, "edge bob admin constraint forged", Why::ConstraintHeaders),
    (Edge::Envoy, "edge bob admin as /ADMIN/x", Why::ConstraintHeaders),
    (Edge::Envoy, "edge bob admin as /Admin/x", Why::ConstraintHeaders),
    (Edge::Envoy, "edge bob admin as /x/../admin/x", Why::ConstraintHeaders),
    (Edge::Envoy, "edge bob admin as //admin/x", Why::ConstraintHeaders),
    (Edge::Envoy, "edge bob admin as /admin//x", Why::ConstraintHeaders),
    (Edge::Envoy, "edge bob admin as /./admin/x", Why::ConstraintHeaders),
];

/// The edge cases: the paths and forged headers of the direct suite, as a client sends them to
/// the edge, plus bob at the admins-only route.
fn edge_cases() -> Vec<Case> {
    use Who::*;
    let mut v: Vec<Case> = PATHS
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let c = case(format!("edge {p}"), "GET", p, &[], Nobody);
            if i < SKIPPING { c } else { refused(c) }
        })
        .collect();
    for (name, headers) in [
        ("method OPTIONS", vec![("X-Forwarded-Method", "OPTIONS")]),
        ("original method", vec![("X-Original-Method", "OPTIONS")]),
        ("forwarded uri", vec![("X-Forwarded-Uri", "/public/x")]),
        ("original uri", vec![("X-Original-URI", "/public/x")]),
        ("uri underscore", vec![("X_Forwarded_Uri", "/public/x")]),
        ("uri twice", vec![("X-Forwarded-Uri", "/public/x"), ("X-Forwarded-Uri", "/public/y")]),
        ("real ip", vec![("X-Real-IP", "127.0.0.1")]),
        ("forwarded for", vec![("X-Forwarded-For", "127.0.0.1")]),
        ("forwarded host", vec![("X-Forwarded-Host", "public")]),
        ("identity forged", vec![("X-Forwarded-User", "alice"), ("X-Auth-Request-User", "alice")]),
        ("constraint forged", vec![("X-Gatehouse-Allowed-Groups", "users")]),
    ] {
        v.push(case(format!("edge admin {name}"), "GET", "/admin/x", &headers, Nobody));
        v.push(case(format!("edge app {name}"), "GET", "/app/x", &headers, Nobody));
    }
    v.push(case("edge preflight", "OPTIONS", "/app/x", &[], Nobody));
    v.push(case("edge POST public", "POST", "/public/x", &[("Content-Length", "0")], Nobody));
    v.push(case("edge alice admin", "GET", "/admin/x", &[], Alice));
    v.push(case("edge alice app", "GET", "/app/x", &[], Alice));
    v.push(case("edge bob app", "GET", "/app/x", &[], Bob));
    v.push(refused(case("edge bob admin", "GET", "/admin/x", &[], Bob)));
    // The admins-only route by another spelling that apps route to it.
    for p in ["/ADMIN/x", "/Admin/x", "/x/../admin/x", "//admin/x", "/admin//x", "/./admin/x"] {
        v.push(refused(case(format!("edge bob admin as {p}"), "GET", p, &[], Bob)));
    }
    v.push(refused(case("edge bob admin constraint forged", "GET", "/admin/x", &[("X-Gatehouse-Allowed-Groups", "users")], Bob)));
    v.push(case("edge bob app constraint forged", "GET", "/app/x", &[("X-Gatehouse-Allowed-Groups", "users")], Bob));
    v
}

async fn through(edge: Edge) {
    let (theirs_port, ours_port) = (free_port(), free_port());
    let callbacks = [theirs_port, ours_port].iter().map(|p| format!("http://127.0.0.1:{p}/oauth2/callback")).collect();
    let op = provider(callbacks);
    let theirs = edge_stack(edge, Peer::OAuth2Proxy, &op, theirs_port);
    let ours = edge_stack(edge, Peer::Gatehouse, &op, ours_port);
    theirs.ready().await;
    ours.ready().await;
    let their_cookies = sessions(&format!("http://{}", theirs.addr)).await;
    let our_cookies = sessions(&format!("http://{}", ours.addr)).await;

    let mut results = Vec::new();
    for mut c in edge_cases() {
        let (t, _) = theirs.reaches_app(&c, &their_cookies).await;
        let (o, seen) = ours.reaches_app(&c, &our_cookies).await;
        // An edge that cleans paths (Traefik, Envoy with normalize_path) turns some odd paths
        // into plain public ones before anyone sees them: then the app was asked for a public
        // page, which is what it got.
        if let Some(uri) = &seen {
            let path = gatehouse::gate::RequestPath::parse(uri);
            if c.who == Who::Nobody && path.plain && path.decoded.starts_with("/public/") {
                c.must_refuse = false;
            }
        }
        results.push((c, t, o));
    }
    let expected: Vec<(String, Why)> = EDGE_STRICTER.iter().filter(|(e, _, _)| *e == edge).map(|(_, n, w)| (n.to_string(), *w)).collect();
    judge(&format!("{edge:?}"), &results, &expected);
}

#[actix_web::test]
async fn through_the_shipped_nginx_gatehouse_never_lets_through_what_oauth2_proxy_refuses() {
    through(Edge::Nginx).await;
}

#[actix_web::test]
async fn through_the_shipped_traefik_gatehouse_never_lets_through_what_oauth2_proxy_refuses() {
    through(Edge::Traefik).await;
}

#[actix_web::test]
async fn through_the_shipped_envoy_gatehouse_never_lets_through_what_oauth2_proxy_refuses() {
    through(Edge::Envoy).await;
}
