//! Envoy's gRPC external authorization: the shipped `envoy/envoy-grpc.yaml` with the real
//! Envoy and Gatehouse's `grpc_address`, everything the HTTP ext_authz tests show (a browser
//! login and return, an API 401, forged identity headers dropped, a refreshed cookie reaching
//! the browser, Gatehouse down is a refusal) plus a route's `context_extensions` group rule.

use std::time::Duration;

use serde_json::json;

use crate::forward::{Kind, Ports, auth_config, shipped};
use crate::support::browser::Browser;
use crate::support::grpc::{Client, Described};
use crate::support::op::Op;
use crate::support::peers::{self, Upstream};
use crate::support::{Gate, free_port, send};

struct GrpcStack {
    op: Op,
    _gate: Gate,
    app: Upstream,
    _proxy: peers::Proxy,
    base: String,
}

impl GrpcStack {
    /// The shipped gRPC configuration; `grpc_down`: Envoy's gRPC cluster points at a port where
    /// nothing listens.
    fn start(grpc_down: bool) -> GrpcStack {
        Self::start_with(grpc_down, &[], &[])
    }

    /// [`Self::start`], with lines of the shipped Gatehouse configuration replaced, and text of
    /// the shipped Envoy files.
    fn start_with(grpc_down: bool, replace: &[(&str, &str)], envoy: &[(&str, String)]) -> GrpcStack {
        let (gate_port, grpc_port, edge, admin) = (free_port(), free_port(), free_port(), free_port());
        let app = Upstream::start();
        let op = Op::start(json!({
            "clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://127.0.0.1:{edge}/oauth2/callback")], "require_pkce": true}],
        }));
        let envoy_grpc = if grpc_down { free_port() } else { grpc_port };
        let mut more = vec![("port_value: 4190", format!("port_value: {envoy_grpc}"))];
        more.extend(envoy.iter().cloned());
        let files = shipped(Kind::Envoy, Ports { auth: gate_port, edge, app: app.port, admin }, &more);
        let cfg = replace.iter().fold(auth_config(&files, &op.issuer), |cfg, (from, to)| cfg.replace(from, to))
            + &format!("grpc_address = \"127.0.0.1:{grpc_port}\"\ncookie_refresh = \"2s\"\n");
        let gate = Gate::start(&cfg, &[], "127.0.0.1");
        let proxy = peers::envoy_with(files, edge, "envoy-grpc.yaml");
        GrpcStack { op, _gate: gate, app, _proxy: proxy, base: format!("http://127.0.0.1:{edge}") }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn login(&self, account: &str, path: &str) -> Browser {
        let mut b = Browser::new(None);
        let callback = b.login(&self.url(path), account).await;
        assert_eq!(callback.status, 302, "{account}: {}", callback.body);
        assert_eq!(callback.header("location"), Some(path), "back at the page first asked for");
        b
    }
}

#[actix_web::test]
async fn envoy_checks_over_grpc_as_over_http() {
    let s = GrpcStack::start(false);
    crate::support::wait_discovered(&s.base).await;

    // A browser is sent to the provider's login and comes back to the page, query intact.
    let mut alice = s.login("alice", "/app/page?x=1&y=2").await;
    let page = alice.get(&s.url("/app/page?x=1&y=2")).await;
    assert_eq!((page.status, page.body.as_str()), (200, "app saw /app/page?x=1&y=2"));
    let seen = s.app.requests().pop().unwrap();
    assert_eq!(seen.header("x-auth-request-user"), Some("alice"), "{seen:?}");
    assert_eq!(seen.header("x-auth-request-groups"), Some("admins,users"));

    // An API client without a session gets 401, not a redirect.
    let (status, headers, _) = send("GET", &s.url("/api/thing"), &[("Accept", "application/json"), ("Sec-Fetch-Mode", "cors")]).await;
    assert_eq!(status, 401);
    assert_eq!(crate::support::header(&headers, "location"), None);

    // Forged identity headers never reach the app, with or without a session.
    s.app.clear();
    let forged = [("X-Auth-Request-User", "mallory"), ("X-Forwarded-User", "mallory"), ("X-Auth-Request-Groups", "admins")];
    assert_eq!(alice.get_with(&s.url("/app/forged"), &forged).await.status, 200);
    let seen = s.app.requests().pop().unwrap();
    assert!(seen.headers.iter().all(|(_, v)| !v.contains("mallory")), "forged header reached the app: {:?}", seen.headers);
    assert_eq!(seen.header("x-auth-request-groups"), Some("admins,users"), "ours, not the client's");

    // The admin route's context_extensions: admins only.
    assert_eq!(alice.get(&s.url("/admin/x")).await.status, 200);
    let mut bob = s.login("bob", "/app/").await;
    s.app.clear();
    assert_eq!(bob.get(&s.url("/admin/x")).await.status, 403, "bob is not in admins");
    assert_eq!(bob.get(&s.url("/ADMIN/x")).await.status, 403);
    assert_eq!(bob.get(&s.url("/admin;jsessionid=1/x")).await.status, 403, "a path parameter");
    assert_eq!(bob.get(&s.url("/admin")).await.status, 403);
    assert_eq!(bob.get(&s.url("/admin%2Fx")).await.status, 400, "an encoded slash is refused by Envoy");
    assert!(s.app.requests().is_empty(), "the app never saw bob's admin requests");

    // A session older than cookie_refresh is refreshed during the check; the browser gets it.
    actix_web::rt::time::sleep(Duration::from_millis(3_100)).await;
    let page = alice.get(&s.url("/app/after")).await;
    assert_eq!(page.status, 200);
    assert_eq!(s.op.grants().await.1, 1, "one refresh grant");
    assert!(page.headers_named("set-cookie").iter().any(|c| c.starts_with("_oauth2_proxy=")), "{:?}", page.headers);
}

/// The shipped `#tls ` block of `envoy-grpc.yaml`, enabled as written: the real Envoy checks
/// over mutual TLS, and a login and the admin rule work as over plaintext.
#[actix_web::test]
async fn envoy_checks_over_mutual_tls_with_the_shipped_block() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    crate::support::test_pki(d);
    let f = |name: &str| d.join(name).display().to_string();
    let envoy = [
        ("#tls ", String::new()),
        ("/etc/envoy/gatehouse-ca.pem", f("ca.pem")),
        ("/etc/envoy/envoy-client.pem", f("client.pem")),
        ("/etc/envoy/envoy-client.key", f("client.key")),
    ];
    let tls = format!(
        "grpc_tls_cert_file = \"{}\"\ngrpc_tls_key_file = \"{}\"\ngrpc_tls_client_ca_file = \"{}\"\nskip_auth_routes",
        f("srv.pem"),
        f("srv.key"),
        f("ca.pem")
    );
    let s = GrpcStack::start_with(false, &[("skip_auth_routes", tls.as_str())], &envoy);
    crate::support::wait_discovered(&s.base).await;
    let mut alice = s.login("alice", "/app/page").await;
    assert_eq!(alice.get(&s.url("/admin/x")).await.status, 200);
    let mut bob = s.login("bob", "/app/").await;
    assert_eq!(bob.get(&s.url("/admin/x")).await.status, 403, "bob is not in admins");
    assert_eq!(bob.get(&s.url("/app/x")).await.status, 200);
}

#[actix_web::test]
async fn envoy_refuses_when_the_grpc_check_cannot_be_asked() {
    let s = GrpcStack::start(true);
    crate::support::wait_discovered(&s.base).await;
    s.app.clear();
    let (status, _, _) = send("GET", &s.url("/app/page"), &[("Accept", "text/html")]).await;
    assert_eq!(status, 403, "failure_mode_allow: false");
    assert!(s.app.requests().is_empty());
}

/// route_rules hold over the gRPC check as over the HTTP forms (`rules.rs`'s table).
#[actix_web::test]
async fn route_rules_hold_over_the_grpc_check() {
    let s = GrpcStack::start_with(false, &[("skip_auth_routes = [\"GET=^/public/\"]\n", crate::rules::policy_lines().as_str())], &[]);
    crate::support::wait_discovered(&s.base).await;
    let wrong = crate::rules::judged_through(&s.base, &s.app).await;
    assert!(wrong.is_empty(), "gRPC:\n  {}", wrong.join("\n  "));
}

// === the gate's adversarial suite, as raw CheckRequests ===

/// Where the gRPC check refuses what the same Gatehouse's standalone mode lets through, and why.
/// Exactly these may differ; a new one fails, and so does one that stops showing.
const GRPC_STRICTER: &[(&str, &str)] = &[
    // Over gRPC only Envoy's `source` says where the client is; a client's header says nothing.
    ("proxy ip trusted", "client-IP headers are not read"),
    // Envoy turns an absolute-form target into a path and a host; a CheckRequest path that is
    // not a path describes nothing.
    ("proxy absolute form public", "a path that is not origin-form is refused"),
];

/// A standalone Gatehouse with the adversarial policy, and its gRPC listener.
fn adversarial_gate(app: &Upstream, extra: &str) -> (crate::support::Gate, std::net::SocketAddr) {
    let port = free_port();
    let gate = crate::support::gate(&format!(
        "{}upstreams = [\"http://127.0.0.1:{}/\"]\ngrpc_address = \"127.0.0.1:{port}\"\n{extra}",
        crate::adversarial::POLICY,
        app.port
    ));
    (gate, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

/// alice (admins) and bob (users), sealed with the test secret.
async fn test_sessions() -> std::collections::BTreeMap<&'static str, String> {
    let mut out = std::collections::BTreeMap::new();
    out.insert("alice", crate::support::session_cookie("alice", "alice@example.com", &["admins"]).await);
    out.insert("bob", crate::support::session_cookie("bob", "bob@example.com", &["users"]).await);
    out
}

/// A case of the HTTP suite as Envoy would describe it.
fn described(c: &crate::adversarial::Case, cookies: &std::collections::BTreeMap<&'static str, String>) -> Described {
    use crate::adversarial::Who;
    let mut d = Described { method: c.method.clone(), path: c.target.clone(), ..Described::get("") };
    d.headers = c.headers.clone();
    match c.who {
        Who::Alice => d.headers.push(("cookie".into(), cookies["alice"].clone())),
        Who::Bob => d.headers.push(("cookie".into(), cookies["bob"].clone())),
        Who::Nobody => {}
    }
    d
}

/// Every request of the gate's adversarial suite, sent as a CheckRequest and to the same
/// Gatehouse over HTTP: the gRPC check lets nothing through that an HTTP form refuses, and
/// judges a request as itself exactly as standalone mode does (but for [`GRPC_STRICTER`]).
#[actix_web::test]
async fn the_adversarial_suite_over_grpc_gets_nothing_the_http_forms_refuse() {
    let app = Upstream::start();
    let (gate, grpc) = adversarial_gate(&app, "");
    let cookies = test_sessions().await;
    let addr = gate.base.trim_start_matches("http://").to_string();
    let mut client = Client::connect(grpc).await;
    let allowed = |s: u16| (200..300).contains(&s);
    let (mut wrong, mut shown) = (Vec::new(), Vec::new());
    let all = crate::adversarial::cases();
    for c in &all {
        let http = crate::adversarial::send_case(&addr, c, &c.target, &cookies).await;
        let answer = client.check(described(c, &cookies).request()).await;
        let named = GRPC_STRICTER.iter().find(|(n, _)| *n == c.name);
        if answer.allowed && (c.must_refuse || !allowed(http)) {
            wrong.push(format!("ALLOWED OVER gRPC ONLY: {} (HTTP {http})", c.name));
        }
        // A proxied request is judged as itself, as a CheckRequest is.
        if c.name.starts_with("proxy ") && allowed(http) && !answer.allowed {
            match named {
                Some(_) => shown.push(c.name.clone()),
                None => {
                    wrong.push(format!("refused over gRPC only, not in GRPC_STRICTER: {} (HTTP {http}, gRPC {})", c.name, answer.status))
                }
            }
        }
    }
    for (name, why) in GRPC_STRICTER {
        if !shown.iter().any(|n| n == name) {
            wrong.push(format!("GRPC_STRICTER {name} ({why}) no longer shows"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases:\n{}", wrong.len(), all.len(), wrong.join("\n"));
}

/// What only a CheckRequest can say: Envoy's `source`, pseudo-headers, raw header lists,
/// context keys, fields Envoy never leaves empty. Each with the verdict it must get.
#[actix_web::test]
async fn odd_check_requests_are_refused_and_envoys_statements_are_honoured() {
    let app = Upstream::start();
    let (_gate, grpc) = adversarial_gate(&app, "");
    let cookies = test_sessions().await;
    let (alice, bob) = (cookies["alice"].as_str(), cookies["bob"].as_str());
    let mut client = Client::connect(grpc).await;
    let admin = || Described::get("/admin/x");
    let with_source = |ip: &str| Described { source: Some(ip.into()), ..admin() };
    let raw = |d: Described| Described { raw_headers: true, ..d };
    let cases: Vec<(&str, Described, bool)> = vec![
        // Controls: what must pass.
        ("public", Described::get("/public/x"), true),
        ("alice", admin().header("cookie", alice), true),
        ("alice, raw headers", raw(admin().header("cookie", alice)), true),
        ("alice, admins route", admin().header("cookie", alice).context("allowed_groups", "admins"), true),
        ("alice, an unrelated context key", admin().header("cookie", alice).context("team", "x"), true),
        ("source trusted", with_source("10.66.0.1"), true),
        ("source trusted, IPv4-mapped", with_source("::ffff:10.66.0.1"), true),
        // Client statements Envoy passes on: never believed.
        ("source other, X-Real-IP trusted", with_source("1.2.3.4").header("x-real-ip", "10.66.0.1"), false),
        ("X-Forwarded-For trusted", admin().header("x-forwarded-for", "10.66.0.1"), false),
        ("X-Forwarded-Uri public", admin().header("x-forwarded-uri", "/public/x"), false),
        ("X-Envoy-Original-Path public", admin().header("x-envoy-original-path", "/public/x"), false),
        ("X-Original-URI public", admin().header("x-original-uri", "/public/x"), false),
        ("raw X-Forwarded-Uri twice", raw(admin().header("x-forwarded-uri", "/public/x").header("x-forwarded-uri", "/public/y")), false),
        ("forged identity", admin().header("x-forwarded-user", "alice").header("x-auth-request-user", "alice"), false),
        ("bob, admins route", admin().header("cookie", bob).context("allowed_groups", "admins"), false),
        // Envoy merges repeated headers with `,`: two constraint copies must both hold still.
        (
            "bob, constraint copies users and admins",
            admin().header("cookie", bob).header("x-gatehouse-allowed-groups", "users").header("x-gatehouse-allowed-groups", "admins"),
            false,
        ),
        ("bob, constraint copy users", admin().header("cookie", bob).header("x-gatehouse-allowed-groups", "users"), true),
        (
            "bob, forged groups, admins route",
            admin().header("cookie", bob).header("x-auth-request-groups", "admins").context("allowed_groups", "admins"),
            false,
        ),
        // Context keys that look like constraints but are none: refused, not ignored.
        ("alice, misspelt key", admin().header("cookie", alice).context("allowed_group", "admins"), false),
        ("alice, capitalised key", admin().header("cookie", alice).context("Allowed_Groups", "admins"), false),
        ("alice, empty constraint", admin().header("cookie", alice).context("allowed_groups", ""), false),
        ("alice, dashed key", admin().header("cookie", alice).context("allowed-groups", "admins"), false),
        // Pseudo-headers that contradict the fields: which one the upstream gets is unknown.
        ("`:path` public, path admin", admin().header(":path", "/public/x"), false),
        ("`:path` admin, path public", Described::get("/public/x").header(":path", "/admin/x"), false),
        ("`:authority` other", Described::get("/public/x").header(":authority", "other.example"), false),
        ("`:method` POST", Described::get("/public/x").header(":method", "POST"), false),
        // Fields Envoy never sends so.
        ("empty path", Described::get(""), false),
        ("absolute path", Described::get("http://app.example/public/x"), false),
        ("OPTIONS asterisk (a preflight skip would allow OPTIONS)", Described { method: "OPTIONS".into(), ..Described::get("*") }, false),
        ("relative path", Described::get("public/x"), false),
        ("asterisk", Described::get("*"), false),
        ("fragment", Described::get("/public/x#/../../admin"), false),
        ("empty method", Described { method: String::new(), ..Described::get("/public/x") }, false),
        ("lower-case method", Described { method: "get".into(), ..Described::get("/public/x") }, false),
        ("method with a space", Described { method: "GET /public/x".into(), ..admin() }, false),
        ("header value with a newline", admin().header("cookie", &format!("{alice}\r\nx: y")), false),
        ("header name with a space", admin().header("bad name", "x").header("cookie", alice), false),
    ];
    let mut wrong = Vec::new();
    for (name, d, expected) in &cases {
        let answer = client.check(d.request()).await;
        if answer.allowed != *expected {
            wrong.push(format!(
                "{name}: {} (status {}), expected {}",
                if answer.allowed { "allowed" } else { "refused" },
                answer.status,
                if *expected { "allowed" } else { "refused" }
            ));
        }
    }
    // A check that describes nothing is denied (400), not failed as gRPC: an Envoy with
    // `failure_mode_allow: true` would let a failed check through.
    let answer = client.check(envoy_types::ext_authz::v3::pb::CheckRequest::default()).await;
    assert_eq!((answer.allowed, answer.status), (false, 400), "{answer:?}");
    assert_eq!(client.check(Described::get("").request()).await.status, 400);
    // Identity headers the check never showed (Envoy's `allowed_headers` may leave them out)
    // are removed all the same, on a request let through without a session too.
    let answer = client.check(Described::get("/public/x").request()).await;
    assert!(answer.allowed);
    for name in ["x-forwarded-user", "x-forwarded-email", "x-auth-request-user", "x-auth-request-groups", "gap-auth"] {
        assert!(answer.removed.iter().any(|r| r == name), "{name} not removed: {:?}", answer.removed);
    }
    let answer = client.check(admin().header("cookie", alice).header("X_Forwarded_User", "mallory").request()).await;
    assert!(answer.allowed);
    assert!(answer.removed.iter().any(|r| r == "x_forwarded_user"), "{:?}", answer.removed);
    assert!(!answer.removed.iter().any(|r| answer.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(r))), "a header set is not removed");
    let mut not_utf8 = raw(admin().header("cookie", alice)).request();
    let http = not_utf8.attributes.as_mut().and_then(|a| a.request.as_mut()).and_then(|r| r.http.as_mut()).unwrap();
    http.header_map.as_mut().unwrap().headers[0].raw_value.push(0xff);
    assert!(!client.check(not_utf8).await.allowed);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `grpc_tls_*`: the gRPC listener over TLS, and with `grpc_tls_client_ca_file` only for
/// clients with a certificate from that CA.
#[actix_web::test]
async fn the_grpc_listener_speaks_tls_and_asks_for_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    crate::support::test_pki(d);
    let port = free_port();
    let f = |name: &str| d.join(name).display().to_string();
    let tls = format!(
        "grpc_address = \"127.0.0.1:{port}\"\ngrpc_tls_cert_file = \"{}\"\ngrpc_tls_key_file = \"{}\"\nset_xauthrequest = true\n",
        f("srv.pem"),
        f("srv.key")
    );
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let alice = crate::support::session_cookie("alice", "alice@example.com", &["admins"]).await;
    let check = Described::get("/x").header("cookie", &alice).request();
    let (ca, client, other) = (d.join("ca.pem"), (d.join("client.pem"), d.join("client.key")), (d.join("other.pem"), d.join("other.key")));

    // TLS: answered over TLS, with the identity; a plaintext client gets nothing.
    {
        let _gate = crate::support::gate(&tls);
        let answer = Client::connect_tls(addr, &ca, None).await.unwrap().check(check.clone()).await;
        assert!(answer.allowed, "{answer:?}");
        assert_eq!(answer.header("x-auth-request-user"), Some("alice"));
        let plain = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect().await;
        let refused = match plain {
            Err(_) => true,
            Ok(ch) => {
                !Client(envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient::new(ch))
                    .check(check.clone())
                    .await
                    .allowed
            }
        };
        assert!(refused, "plaintext h2c to the TLS listener");
    }

    // Mutual TLS: the CA's client certificate only.
    let next = free_port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], next));
    let mtls = tls.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{next}"));
    let _gate = crate::support::gate(&format!("{mtls}grpc_tls_client_ca_file = \"{}\"\n", f("ca.pem")));
    let answered = |c: Result<Client, String>| {
        let check = check.clone();
        async move {
            match c {
                Err(_) => false,
                Ok(mut c) => c.check(check).await.status != 0,
            }
        }
    };
    assert!(answered(Client::connect_tls(addr, &ca, Some((&client.0, &client.1))).await).await, "the CA's client");
    assert!(!answered(Client::connect_tls(addr, &ca, None).await).await, "no client certificate");
    assert!(!answered(Client::connect_tls(addr, &ca, Some((&other.0, &other.1))).await).await, "another CA's client");
    let stranger = (d.join("stranger.pem"), d.join("stranger.key"));
    assert!(answered(Client::connect_tls(addr, &ca, Some((&stranger.0, &stranger.1))).await).await, "any client of the CA");

    // grpc_tls_client_names: only the named one of the CA's clients.
    let last = free_port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], last));
    let named = mtls.replace(&format!("127.0.0.1:{next}"), &format!("127.0.0.1:{last}"));
    let _named = crate::support::gate(&format!(
        "{named}grpc_tls_client_ca_file = \"{}\"\ngrpc_tls_client_names = [\"Envoy.Internal\", \"spiffe://cluster.local/ns/x/sa/y\"]\n",
        f("ca.pem")
    ));
    assert!(answered(Client::connect_tls(addr, &ca, Some((&client.0, &client.1))).await).await, "the named client");
    assert!(!answered(Client::connect_tls(addr, &ca, Some((&stranger.0, &stranger.1))).await).await, "another of the CA's clients");
}

#[test]
fn grpc_tls_options_need_each_other() {
    let errors = |extra: &str| match crate::support::load_text(&format!("{}{extra}", crate::support::MINIMAL), &[], vec![]) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    let e = errors("grpc_tls_cert_file = \"/etc/hostname\"\ngrpc_tls_key_file = \"/etc/hostname\"\n");
    assert!(e.contains("grpc_tls_cert_file") && e.contains("grpc_address"), "{e}");
    let e = errors("grpc_address = \"127.0.0.1:4190\"\ngrpc_tls_client_ca_file = \"/etc/hostname\"\n");
    assert!(e.contains("grpc_tls_client_ca_file") && e.contains("grpc_tls_cert_file"), "{e}");
    let e = errors("grpc_address = \"127.0.0.1:4190\"\ngrpc_tls_client_names = [\"envoy\"]\n");
    assert!(e.contains("grpc_tls_client_names") && e.contains("grpc_tls_client_ca_file"), "{e}");
    let e = errors("grpc_address = \"127.0.0.1:4190\"\ngrpc_tls_cert_file = \"/etc/hostname\"\n");
    assert!(e.contains("grpc_tls_key_file"), "{e}");
}

/// A stop (SIGTERM's, after `shutdown_delay`) closes the gRPC listener with the main one and
/// answers the checks in flight before `App::run` returns.
#[actix_web::test]
async fn a_check_in_flight_is_answered_when_gatehouse_stops() {
    use base64::Engine;
    // A check that takes a while: an htpasswd password at a bcrypt cost that takes ≥ 0.8 s here.
    let mut cost = 8;
    let (hash, took) = loop {
        let start = std::time::Instant::now();
        let hash = bcrypt::hash("pw", cost).unwrap();
        let took = start.elapsed();
        if took >= Duration::from_millis(800) || cost == 16 {
            break (hash, took);
        }
        cost += 1;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, format!("alice:{hash}\n")).unwrap();
    let port = free_port();
    let text = format!(
        "{}http_address = \"127.0.0.1:0\"\nhtpasswd_file = \"{}\"\ngrpc_address = \"127.0.0.1:{port}\"\nrequest_logging = false\n",
        crate::support::MINIMAL,
        file.display()
    );
    let app = gatehouse::App::build(crate::support::load_text(&text, &[], vec![]).unwrap().config).unwrap();
    let addr = app.grpc_addr().unwrap();
    let handle = app.handle();
    let finished = actix_web::rt::spawn(app.run());

    let mut client = Client::connect(addr).await;
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:pw");
    let check = Described::get("/x").header("authorization", &format!("Basic {basic}")).request();
    let in_flight = actix_web::rt::spawn(async move { client.check(check).await });
    actix_web::rt::time::sleep(took / 4).await;
    assert!(!in_flight.is_finished(), "the check is still being judged");
    handle.stop(true).await;
    let answer = in_flight.await.unwrap();
    assert!(answer.allowed, "the check in flight is answered: {answer:?}");
    actix_web::rt::time::timeout(Duration::from_secs(10), finished)
        .await
        .expect("run returns once the checks are answered")
        .unwrap()
        .unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err(), "the gRPC listener is closed");
}
