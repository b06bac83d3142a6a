//! Envoy's gRPC external authorization: the shipped `envoy/envoy-grpc.yaml` with the real
//! Envoy and Gatehouse's `grpc_address`, everything the HTTP ext_authz tests show (a browser
//! login and return, an API 401, forged identity headers dropped, a refreshed cookie reaching
//! the browser, Gatehouse down is a refusal) plus a route's `context_extensions` group rule.

use std::time::Duration;

use serde_json::json;

use crate::forward::{Kind, Ports, auth_config, shipped};
use crate::support::browser::Browser;
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
        Self::start_with(grpc_down, &[])
    }

    /// [`Self::start`], with lines of the shipped Gatehouse configuration replaced.
    fn start_with(grpc_down: bool, replace: &[(&str, &str)]) -> GrpcStack {
        let (gate_port, grpc_port, edge, admin) = (free_port(), free_port(), free_port(), free_port());
        let app = Upstream::start();
        let op = Op::start(json!({
            "clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://127.0.0.1:{edge}/oauth2/callback")], "require_pkce": true}],
        }));
        let envoy_grpc = if grpc_down { free_port() } else { grpc_port };
        let files = shipped(
            Kind::Envoy,
            Ports { auth: gate_port, edge, app: app.port, admin },
            &[("port_value: 4190", format!("port_value: {envoy_grpc}"))],
        );
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
    let s = GrpcStack::start_with(false, &[("skip_auth_routes = [\"GET=^/public/\"]\n", crate::rules::policy_lines().as_str())]);
    crate::support::wait_discovered(&s.base).await;
    let wrong = crate::rules::judged_through(&s.base, &s.app).await;
    assert!(wrong.is_empty(), "gRPC:\n  {}", wrong.join("\n  "));
}
