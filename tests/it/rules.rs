//! `route_rules`: one six-rule policy, 42 requests (odd paths, hosts and methods included), each
//! judged for nobody, alice and bob in standalone mode and through `/oauth2/auth` with a
//! trusted proxy's forwarded headers: the same verdict in both, the one the table states;
//! and `--config-test --explain` says the same of each.

use crate::support::peers::Upstream;
use crate::support::{Gate, MINIMAL, raw_request, session_cookie};

/// The policy: public pages, read-only docs, an admin area, writes on the API host for
/// writers, a closed area, and reports for one email domain.
const POLICY: &str = r#"route_rules = [
  "path=^/public/ allow",
  "path=^/docs/ methods=GET,HEAD allow",
  "path=^/admin/ allowed_groups=admins",
  'host=^api\.example\.com(:\d+)?$ path=. methods=POST,PUT,DELETE allowed_groups=writers',
  "path=^/internal/ deny",
  "path=^/reports/ allowed_email_domains=example.com",
]
"#;

/// What a request gets: through (`P`), asked to log in (`L`), refused (`F`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V {
    P,
    L,
    F,
}
use V::{F, L, P};

/// (method, host, path as sent, [nobody, alice (admins, users; example.com), bob (users,
/// writers; example.org)]).
const CASES: &[(&str, &str, &str, [V; 3])] = &[
    ("GET", "app.example.com", "/public/a", [P, P, P]),
    ("POST", "app.example.com", "/public/a", [P, P, P]),
    ("GET", "app.example.com", "/docs/x", [P, P, P]),
    ("HEAD", "app.example.com", "/docs/x", [P, P, P]),
    ("POST", "app.example.com", "/docs/x", [L, P, P]),
    ("GET", "app.example.com", "/admin/", [L, P, F]),
    ("GET", "app.example.com", "/admin/users?x=1", [L, P, F]),
    ("GET", "app.example.com", "/public/../admin/", [L, P, F]),
    ("GET", "app.example.com", "/public/%2e%2e/admin/", [L, P, F]),
    ("GET", "app.example.com", "/internal/x", [F, F, F]),
    ("GET", "app.example.com", "/public/../internal/x", [F, F, F]),
    ("GET", "app.example.com", "/reports/q", [L, P, F]),
    ("POST", "api.example.com", "/anything", [L, F, P]),
    ("DELETE", "api.example.com", "/public/x", [P, P, P]),
    ("GET", "api.example.com", "/anything", [L, P, P]),
    ("PUT", "api.example.com:8443", "/x", [L, F, P]),
    ("POST", "API.Example.COM", "/x", [L, F, P]),
    ("POST", "api.example.com.", "/x", [L, F, P]),
    ("GET", "app.example.com", "/Admin/", [L, P, P]),
    ("GET", "app.example.com", "//admin/", [L, P, F]),
    ("GET", "app.example.com", "/admin", [L, P, P]),
    ("GET", "app.example.com", "/docs/../admin/", [L, P, F]),
    ("GET", "app.example.com", "/docs/%2fadmin", [L, P, P]),
    ("OPTIONS", "app.example.com", "/admin/", [L, P, F]),
    ("GET", "app.example.com", "/public", [L, P, P]),
    ("GET", "app.example.com", "/internal", [L, P, P]),
    ("GET", "app.example.com", "/internal/", [F, F, F]),
    ("HEAD", "app.example.com", "/internal/x", [F, F, F]),
    ("GET", "app.example.com", "/reports/", [L, P, F]),
    ("POST", "app.example.com", "/reports/x", [L, P, F]),
    ("GET", "app.example.com", "/public/x?y=/admin/", [P, P, P]),
    ("GET", "app.example.com", "/public/%00", [L, P, P]),
    ("GET", "app.example.com", "/admin%2f", [L, P, F]),
    ("PATCH", "api.example.com", "/x", [L, P, P]),
    ("GET", "app.example.com", "/docs/", [P, P, P]),
    ("POST", "api.example.com", "/internal/x", [L, F, P]),
    ("GET", "api.example.com", "/internal/x", [F, F, F]),
    ("GET", "app.example.com", "/admin/../public/x", [L, P, F]),
    ("GET", "app.example.com", "/reports/../docs/", [L, P, F]),
    ("GET", "app.example.com", "/", [L, P, P]),
    ("GET", "app.example.com", "/public/a/../../internal/", [F, F, F]),
    ("DELETE", "app.example.com", "/admin/x", [L, P, F]),
];

/// Requests stating other methods than their own (method-override headers an app may obey),
/// or none at all: judged as every method they state, and as any method when a check states
/// none. (method, override header value, X-Forwarded-Method for the check, [nobody, alice, bob]).
type Override = (&'static str, &'static str, &'static str, Option<&'static str>, [V; 3]);
const OVERRIDES: &[Override] = &[
    // bob may write on the API host; alice may not, whatever the request line says.
    ("GET", "api.example.com", "/x", Some("DELETE"), [L, F, P]),
    ("POST", "app.example.com", "/docs/x", Some("GET"), [L, P, P]),
];

/// The status of one raw request: byte for byte, with its own `Host`.
async fn status(addr: &str, method: &str, target: &str, host: &str, headers: &[(&str, &str)]) -> u16 {
    let mut text = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    let answer = raw_request(addr, &text).await;
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn verdict(status: u16, pass: u16) -> Option<V> {
    match status {
        s if s == pass => Some(P),
        401 => Some(L),
        403 => Some(F),
        _ => None,
    }
}

#[actix_web::test]
async fn one_policy_gives_the_same_verdicts_standalone_and_behind_an_edge_and_explain_agrees() {
    let app = Upstream::start();
    let standalone = Gate::start(
        &format!(
            "{MINIMAL}http_address = \"127.0.0.1:0\"\ncookie_secure = false\nupstreams = [\"http://127.0.0.1:{}/\"]\n{POLICY}",
            app.port
        ),
        &[],
        "127.0.0.1",
    );
    let forward = Gate::start(
        &format!("{MINIMAL}http_address = \"127.0.0.1:0\"\ncookie_secure = false\nreverse_proxy = true\n{POLICY}"),
        &[],
        "127.0.0.1",
    );
    let alice = session_cookie("alice", "alice@example.com", &["admins", "users"]).await;
    let bob = session_cookie("bob", "bob@example.org", &["users", "writers"]).await;
    let sessions: [Option<&str>; 3] = [None, Some(&alice), Some(&bob)];
    let addr = |g: &Gate| g.url("").trim_start_matches("http://").to_string();
    let (sa, fa) = (addr(&standalone), addr(&forward));

    let mut wrong = Vec::new();
    let every: Vec<Override> = CASES.iter().map(|&(m, h, p, w)| (m, h, p, None, w)).chain(OVERRIDES.iter().copied()).collect();
    for (method, host, path, over, want) in &every {
        for (who, cookie) in sessions.iter().enumerate() {
            let mut headers = vec![("Accept", "application/json")];
            if let Some(c) = cookie {
                headers.push(("Cookie", c));
            }
            if let Some(o) = over {
                headers.push(("X-HTTP-Method-Override", o));
            }
            let alone = verdict(status(&sa, method, path, host, &headers).await, 200);
            let mut check = headers.clone();
            check.extend([("X-Forwarded-Method", *method), ("X-Forwarded-Host", *host), ("X-Forwarded-Uri", *path)]);
            let behind = verdict(status(&fa, method, "/oauth2/auth", "gatehouse.internal", &check).await, 202);
            if alone != Some(want[who]) || behind != Some(want[who]) {
                wrong.push(format!(
                    "{method} (override {over:?}) {host}{path} as {who}: want {:?}, standalone {alone:?}, forward-auth {behind:?}",
                    want[who]
                ));
            }
        }
    }
    // A check that states no method is judged as any: a write rule applies to alice's check.
    let alice_check = [("Cookie", alice.as_str()), ("X-Forwarded-Host", "api.example.com"), ("X-Forwarded-Uri", "/x")];
    if status(&fa, "GET", "/oauth2/auth", "gatehouse.internal", &alice_check).await != 403 {
        wrong.push("a check without X-Forwarded-Method skipped the write rule".into());
    }
    assert!(wrong.is_empty(), "{} of {} verdicts differ:\n  {}", wrong.len(), every.len() * 3, wrong.join("\n  "));

    // --explain reads each request as the gate does, and says what the table says for nobody.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gatehouse.cfg");
    std::fs::write(&cfg, format!("{MINIMAL}{POLICY}")).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.arg("--config").arg(&cfg).arg("--config-test");
    for (method, host, path, _) in CASES {
        cmd.arg("--explain").arg(method).arg(format!("http://{host}{path}"));
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(": ")).skip_while(|l| !l.contains("http://")).collect();
    assert_eq!(lines.len(), CASES.len(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for ((method, host, path, want), line) in CASES.iter().zip(&lines) {
        assert!(line.starts_with(&format!("{method} http://{host}{path}: ")), "{line}");
        let said = match want {
            [P, ..] => line.contains(": public, by rule"),
            [F, F, F] => line.contains(": refused to everyone (403), by rule"),
            _ => line.contains(": a session is needed") || line.contains(": no rule matches"),
        };
        assert!(said, "--explain disagrees with the table: {line}");
    }
}

/// How much a verdict lets through: a refusal by the edge itself (400) counts as refused.
fn rank(v: V) -> u8 {
    match v {
        F => 0,
        L => 1,
        P => 2,
    }
}

/// What the policy gives `user` (email, groups) for a request the app received as it is:
/// the oracle for requests an edge proxy cleaned up before passing them on.
fn oracle(rules: &gatehouse::authz::rules::Rules, method: &str, host: &str, uri: &str, user: Option<(&str, &[&str])>) -> V {
    use gatehouse::authz::rules::{Judgement, Methods};
    let path = gatehouse::gate::RequestPath::parse(uri);
    let groups: Vec<String> = user.map(|(_, g)| g.iter().map(|s| s.to_string()).collect()).unwrap_or_default();
    let stated = [method.to_string()];
    match (rules.judge(Methods::Known(&stated), host, &[&path.decoded, &path.normalised], path.plain), user) {
        (Judgement::Allow(_), _) => P,
        (Judgement::Deny(_), _) => F,
        (_, None) => L,
        (Judgement::Require(matched), Some((email, _))) => {
            if rules.constraints(&matched).all(|c| c.allow(email, &groups)) {
                P
            } else {
                F
            }
        }
        (Judgement::NoRule, Some(_)) => P,
    }
}

/// The same policy in each shipped nginx, Traefik and Envoy configuration, with the real
/// proxies (and over Envoy's gRPC check, `grpc.rs`), for every GET and HEAD of the table:
/// nothing reaches the app that the policy refuses for the request the app received (an edge
/// may refuse an odd path itself, or clean it up before passing it on), and every plain GET
/// gets exactly the table's verdict.
#[actix_web::test]
async fn the_policy_holds_through_the_shipped_edges() {
    use crate::forward::{Kind, stack_with};
    for kind in [Kind::Nginx, Kind::Traefik, Kind::Envoy] {
        let s = stack_with(kind, &[("skip_auth_routes = [\"GET=^/public/\"]\n", policy_lines().as_str())]);
        s.wait_ready().await;
        let wrong = judged_through(&s.url(""), &s.app).await;
        assert!(wrong.is_empty(), "{kind:?}:\n  {}", wrong.join("\n  "));
    }
}

/// [`POLICY`], to put in place of a shipped configuration's line.
pub(crate) fn policy_lines() -> String {
    POLICY.trim_end().to_string() + "\n"
}

/// The table's GETs and HEADs sent through the edge at `base` in front of `app`: what got
/// through that should not have, or was judged otherwise than the table says.
pub(crate) async fn judged_through(base: &str, app: &Upstream) -> Vec<String> {
    let policy = crate::support::load_text(&format!("{MINIMAL}{POLICY}"), &[], vec![]).unwrap().config.authz.route_rules;
    let users: [Option<(&str, &str, &[&str])>; 3] =
        [None, Some(("alice", "alice@example.com", &["admins", "users"])), Some(("bob", "bob@example.org", &["users", "writers"]))];
    let edge = base.trim_start_matches("http://").to_string();
    let mut wrong = Vec::new();
    for (method, host, path, want) in CASES.iter().filter(|c| matches!(c.0, "GET" | "HEAD")) {
        for (who, user) in users.iter().enumerate() {
            // A fresh cookie each time: the stacks refresh sessions older than 2 s.
            let cookie = match user {
                Some((u, e, g)) => Some(session_cookie(u, e, g).await),
                None => None,
            };
            let mut headers = vec![("Accept", "application/json"), ("Sec-Fetch-Mode", "cors")];
            if let Some(c) = &cookie {
                headers.push(("Cookie", c));
            }
            app.clear();
            let got = match status(&edge, method, path, host, &headers).await {
                200 => P,
                302 | 401 => L,
                400 | 403 | 404 => F,
                other => {
                    wrong.push(format!("{method} {host}{path} as {who}: status {other}"));
                    continue;
                }
            };
            if got == P && rank(got) > rank(want[who]) {
                // Passed where the table refuses: only if the app got a cleaned-up request
                // that the policy lets this user have.
                let seen = app.requests().pop().map(|r| r.uri).unwrap_or_default();
                let fair = seen != *path && oracle(&policy, method, host, &seen, user.map(|(_, e, g)| (e, g))) == P;
                if !fair {
                    wrong.push(format!("{method} {host}{path} as {who}: want {:?}, got through as {seen}", want[who]));
                }
            }
            // The shipped configurations protect /admin/ themselves too, without case (and
            // envoy-grpc.yaml /admin as well).
            let edge_rule = path.to_ascii_lowercase().trim_end_matches('/') == "/admin";
            let plain = *method == "GET" && !path.contains("..") && !path.contains('%') && !path.contains("//") && !edge_rule;
            if plain && got != want[who] {
                wrong.push(format!("{method} {host}{path} as {who}: want {:?}, got {got:?}", want[who]));
            }
        }
    }
    wrong
}

/// A check that does not say which request it is about (an edge that sends no
/// `X-Forwarded-Uri`, or two copies of it) cannot be judged by path: every rule that could
/// match applies, so a `deny` refuses everyone and no narrowing rule is skipped.
#[actix_web::test]
async fn a_check_without_the_original_path_meets_every_rule_that_could_match() {
    let narrowing = r#"route_rules = ["path=^/public/ allow", "path=^/admin/ allowed_groups=admins"]"#;
    let g = Gate::start(
        &format!("{MINIMAL}http_address = \"127.0.0.1:0\"\ncookie_secure = false\nreverse_proxy = true\n{narrowing}\n"),
        &[],
        "127.0.0.1",
    );
    let addr = g.url("").trim_start_matches("http://").to_string();
    let alice = session_cookie("alice", "alice@example.com", &["admins"]).await;
    let bob = session_cookie("bob", "bob@example.org", &["users"]).await;
    let ask = |cookie: &str, uris: &[&'static str]| {
        let mut headers = vec![("Cookie", cookie.to_string())];
        headers.extend(uris.iter().map(|u| ("X-Forwarded-Uri", u.to_string())));
        headers
    };
    for uris in [&[][..], &["/public/x", "/public/y"][..]] {
        for (cookie, want) in [(&alice, 202), (&bob, 403)] {
            let headers = ask(cookie, uris);
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(status(&addr, "GET", "/oauth2/auth", "app.example.com", &headers).await, want, "{uris:?}");
        }
        assert_eq!(status(&addr, "GET", "/oauth2/auth", "app.example.com", &[]).await, 401, "no allow widens");
    }
    let closed = r#"route_rules = ["path=^/public/ allow", "path=^/internal/ deny"]"#;
    let g = Gate::start(
        &format!("{MINIMAL}http_address = \"127.0.0.1:0\"\ncookie_secure = false\nreverse_proxy = true\n{closed}\n"),
        &[],
        "127.0.0.1",
    );
    let addr = g.url("").trim_start_matches("http://").to_string();
    assert_eq!(status(&addr, "GET", "/oauth2/auth", "app.example.com", &[("Cookie", &alice)]).await, 403, "a deny might be the match");
    let known = [("Cookie", alice.as_str()), ("X-Forwarded-Uri", "/app/")];
    assert_eq!(status(&addr, "GET", "/oauth2/auth", "app.example.com", &known).await, 202);
}
