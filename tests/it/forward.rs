//! Forward auth: the `/oauth2/auth` contract in-process, then nginx, Traefik and Envoy, each
//! real and each run from the configuration files the project ships (only ports filled in),
//! in front of an app that records what it receives, against the real OpenID Provider.

use std::time::Duration;

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::op::Op;
use crate::support::peers::{self, Shipped, Upstream};
use crate::support::{Gate, free_port, gate, header, send, session_cookie};

const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[actix_web::test]
async fn auth_endpoint_contract() {
    let g = gate("set_xauthrequest = true\npass_access_token = true\nset_authorization_header = true\n");
    let cookie = session_cookie("alice-sub", "alice@example.com", &["admins", "users"]).await;

    let (status, headers, body) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &cookie)]).await;
    assert_eq!(status, 202);
    assert_eq!(body, "");
    assert_eq!(header(&headers, "x-auth-request-user"), Some("alice-sub"));
    assert_eq!(header(&headers, "x-auth-request-email"), Some("alice@example.com"));
    assert_eq!(header(&headers, "x-auth-request-groups"), Some("admins,users"));
    assert_eq!(header(&headers, "x-auth-request-preferred-username"), Some("alice-sub"));
    assert_eq!(header(&headers, "x-auth-request-access-token"), Some("access-token-value"));
    assert_eq!(header(&headers, "authorization"), Some("Bearer id.token.value"));
    assert_eq!(header(&headers, "gap-auth"), Some("alice@example.com"));
    assert_eq!(header(&headers, "cache-control"), None, "/oauth2/auth may be cached by nginx");

    let (status, headers, body) = send("GET", &g.url("/oauth2/auth"), &[]).await;
    assert_eq!((status, body.as_str()), (401, "Unauthorized\n"));
    assert_eq!(header(&headers, "location"), None, "never a redirect");

    let (status, _, body) = send("GET", &g.url("/oauth2/auth?allowed_groups=ops,admins"), &[("Cookie", &cookie)]).await;
    assert_eq!(status, 202, "{body}");
    let (status, _, body) = send("GET", &g.url("/oauth2/auth?allowed_groups=ops"), &[("Cookie", &cookie)]).await;
    assert_eq!((status, body.as_str()), (403, "Forbidden\n"));
    let (status, _, _) = send("GET", &g.url("/oauth2/auth?allowed_emails=bob@example.com"), &[("Cookie", &cookie)]).await;
    assert_eq!(status, 403);
    let (status, _, _) = send("GET", &g.url("/oauth2/auth?allowed_email_domains=example.com"), &[("Cookie", &cookie)]).await;
    assert_eq!(status, 202);
    let (status, _, _) = send("GET", &g.url("/oauth2/auth?allowed_email_domains=Example.com"), &[("Cookie", &cookie)]).await;
    assert_eq!(status, 403, "compared exactly, as oauth2-proxy compares");
    let (status, _, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &cookie), ("X-Gatehouse-Allowed-Groups", "ops")]).await;
    assert_eq!(status, 403, "a constraint header narrows access, whoever sent it");

    // A browser without a session still gets 401 here: nginx cannot pass a redirect on.
    let (status, _, _) = send("GET", &g.url("/oauth2/auth"), &[("Accept", "text/html"), ("Sec-Fetch-Mode", "navigate")]).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn envoy_path_form_and_browser_form() {
    let g = gate("set_xauthrequest = true\nreverse_proxy = true\n");
    let cookie = session_cookie("alice-sub", "alice@example.com", &["users"]).await;

    let (status, headers, _) = send("POST", &g.url("/oauth2/auth/api/thing?q=1"), &[("Cookie", &cookie)]).await;
    assert_eq!(status, 200, "Envoy allows only 200");
    assert_eq!(header(&headers, "x-auth-request-user"), Some("alice-sub"));
    let (status, _, _) = send("POST", &g.url("/oauth2/auth/api/thing?q=1"), &[]).await;
    assert_eq!(status, 401);

    // /oauth2/verify: discovery never succeeds here (no provider), so a navigation that needs
    // a login gets the 503 page; an API request gets its 401 without asking the provider.
    let nav = [("Accept", "text/html"), ("Sec-Fetch-Mode", "navigate")];
    let (status, _, _) = send("GET", &g.url("/oauth2/verify/app/page?x=1"), &nav).await;
    assert_eq!(status, 503);
    for headers in [
        vec![("Accept", "application/json")],
        vec![("Accept", "text/html"), ("Sec-Fetch-Mode", "cors")],
        vec![("Accept", "text/html"), ("X-Requested-With", "XMLHttpRequest")],
    ] {
        let (status, _, _) = send("GET", &g.url("/oauth2/verify/app/page"), &headers).await;
        assert_eq!(status, 401, "{headers:?}");
    }
    let (status, _, _) = send("GET", &g.url("/oauth2/verify"), &[("Cookie", &cookie)]).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn requests_allowed_without_a_session() {
    let g = gate(
        "reverse_proxy = true\nskip_auth_preflight = true\nskip_auth_routes = [\"GET=^/public/\", \"POST!=^/private\"]\ntrusted_ips = [\"10.9.9.9\"]\n",
    );
    let fwd = |method: &'static str, uri: &'static str| vec![("X-Forwarded-Method", method), ("X-Forwarded-Uri", uri)];
    // The check's own method must agree with the forwarded one to widen: nginx and Traefik
    // always check with GET (oauth2-proxy sees GET too), so only GET rules can skip there.
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &fwd("OPTIONS", "/anything")).await.0, 401, "a forwarded preflight");
    assert_eq!(send("OPTIONS", &g.url("/oauth2/auth"), &fwd("OPTIONS", "/anything")).await.0, 202, "a preflight check");
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &fwd("GET", "/public/x")).await.0, 202, "skip route");
    assert_eq!(send("POST", &g.url("/oauth2/auth"), &fwd("POST", "/public/x")).await.0, 202, "POST!=^/private");
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &fwd("POST", "/public/x")).await.0, 401, "the methods disagree");
    assert_eq!(send("POST", &g.url("/oauth2/auth"), &fwd("POST", "/private/x")).await.0, 401);
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &fwd("GET", "/app?next=/public/")).await.0, 401, "the query is not the path");
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &fwd("GET", "/app#/public/")).await.0, 401, "nor the fragment");
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &fwd("GET", "/%70ublic/x")).await.0, 202, "the path is decoded once");
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &[("X-Real-IP", "10.9.9.9")]).await.0, 202, "trusted_ips");
    // Envoy form: the check's own method and path.
    assert_eq!(send("OPTIONS", &g.url("/oauth2/auth/anything"), &[]).await.0, 200);
    assert_eq!(send("GET", &g.url("/oauth2/auth/public/x"), &[]).await.0, 200);
}

#[actix_web::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    // The test client connects from 127.0.0.1, which this configuration does not trust.
    let g = gate(
        "reverse_proxy = true\ntrusted_proxy_ips = [\"10.0.0.1\"]\nskip_auth_routes = [\"GET=^/public/\"]\nskip_auth_preflight = true\ntrusted_ips = [\"10.9.9.9\"]\n",
    );
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &[("X-Forwarded-Uri", "/public/x")]).await.0, 401, "forged X-Forwarded-Uri");
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &[("X-Forwarded-Method", "OPTIONS")]).await.0, 401, "forged method");
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &[("X-Real-IP", "10.9.9.9")]).await.0, 401, "forged client IP");
    // Without reverse_proxy nobody is trusted, loopback included.
    let g = gate("skip_auth_routes = [\"GET=^/public/\"]\n");
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &[("X-Forwarded-Uri", "/public/x")]).await.0, 401);
}

// === the real proxies ===

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Nginx,
    Traefik,
    Envoy,
}

/// A shipped proxy configuration in front of Gatehouse and the app, with its own provider.
pub(crate) struct Stack {
    op: Op,
    _gate: Gate,
    pub(crate) app: Upstream,
    _proxy: peers::Proxy,
    base: String,
}

pub(crate) fn stack(kind: Kind) -> Stack {
    stack_with(kind, &[])
}

/// [`stack`], with lines of the shipped Gatehouse configuration replaced.
pub(crate) fn stack_with(kind: Kind, replace: &[(&str, &str)]) -> Stack {
    let (gate_port, proxy_port, admin_port) = (free_port(), free_port(), free_port());
    let app = Upstream::start();
    let op = Op::start(json!({
        "clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://127.0.0.1:{proxy_port}/oauth2/callback")], "require_pkce": true}],
        "rotate_refresh_tokens": true,
    }));
    let files = shipped(kind, Ports { auth: gate_port, edge: proxy_port, app: app.port, admin: admin_port }, &[]);
    // Short, so a refresh happens during the test.
    let cfg = replace.iter().fold(auth_config(&files, &op.issuer), |cfg, (from, to)| cfg.replace(from, to)) + "cookie_refresh = \"2s\"\n";
    let gate = Gate::start(&cfg, &[], "127.0.0.1");
    let proxy = start_edge(kind, files, proxy_port);
    Stack { op, _gate: gate, app, _proxy: proxy, base: format!("http://127.0.0.1:{proxy_port}") }
}

/// The ports a shipped edge configuration is given.
pub(crate) struct Ports {
    pub(crate) auth: u16,
    pub(crate) edge: u16,
    pub(crate) app: u16,
    pub(crate) admin: u16,
}

/// `kind`'s shipped folder with these ports filled in, and `more` replacements after them.
pub(crate) fn shipped(kind: Kind, p: Ports, more: &[(&str, String)]) -> Shipped {
    let folder = match kind {
        Kind::Nginx => "nginx",
        Kind::Traefik => "traefik",
        Kind::Envoy => "envoy",
    };
    let mut replace = vec![
        ("127.0.0.1:4180", format!("127.0.0.1:{}", p.auth)),
        ("127.0.0.1:8000", format!("127.0.0.1:{}", p.edge)),
        ("127.0.0.1:8080", format!("127.0.0.1:{}", p.app)),
        ("port_value: 4180", format!("port_value: {}", p.auth)),
        ("port_value: 8000", format!("port_value: {}", p.edge)),
        ("port_value: 8080", format!("port_value: {}", p.app)),
        ("port_value: 9901", format!("port_value: {}", p.admin)),
    ];
    replace.extend(more.iter().cloned());
    Shipped::copy(folder, &replace)
}

/// The folder's `oauth2-proxy.cfg` with its placeholders filled for the test provider.
pub(crate) fn auth_config(files: &Shipped, issuer: &str) -> String {
    files
        .read("oauth2-proxy.cfg")
        .replace("https://localhost:9443/oauth2/token", issuer)
        .replace("<your_client_id>", "gatehouse")
        .replace("<your_client_secret>", "gatehouse-secret")
        .replace("<output of gatehouse generate-secret>", SECRET)
}

/// The real edge proxy of `kind` on `port`, running `files`.
pub(crate) fn start_edge(kind: Kind, files: Shipped, port: u16) -> peers::Proxy {
    match kind {
        Kind::Nginx => peers::nginx(files, port),
        Kind::Traefik => peers::traefik(files, port),
        Kind::Envoy => peers::envoy(files, port),
    }
}

impl Stack {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits until the proxy routes to Gatehouse (Traefik loads its routers after it listens).
    async fn wait_routed(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (status, _, _) = send("GET", &self.url("/oauth2/userinfo"), &[]).await;
            if status == 401 {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "the proxy never routed /oauth2/ to Gatehouse (last status {status})");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Routed, and Gatehouse has discovered its provider (it may still be at it right after start).
    pub(crate) async fn wait_ready(&self) {
        self.wait_routed().await;
        crate::support::wait_discovered(&self.base).await;
    }

    async fn login(&self, account: &str, path: &str) -> Browser {
        let mut b = Browser::new(None);
        let callback = b.login(&self.url(path), account).await;
        assert_eq!(callback.status, 302, "{account}: {}", callback.body);
        assert_eq!(callback.header("location"), Some(path), "back at the page first asked for");
        b
    }
}

async fn forward_auth_through(kind: Kind) {
    let s = stack(kind);
    s.wait_ready().await;

    // A browser is sent to the provider's login and comes back to the page, query intact.
    let mut alice = s.login("alice", "/app/page?x=1&y=2").await;
    let page = alice.get(&s.url("/app/page?x=1&y=2")).await;
    assert_eq!((page.status, page.body.as_str()), (200, "app saw /app/page?x=1&y=2"), "{kind:?}");
    let seen = s.app.requests().pop().unwrap();
    assert_eq!(seen.header("x-auth-request-user"), Some("alice"), "{kind:?}: {seen:?}");
    assert_eq!(seen.header("x-auth-request-email"), Some("alice@example.com"));
    assert_eq!(seen.header("x-auth-request-groups"), Some("admins,users"));

    // An API client without a session gets 401, not a redirect.
    let (status, headers, _) = send("GET", &s.url("/api/thing"), &[("Accept", "application/json"), ("Sec-Fetch-Mode", "cors")]).await;
    assert_eq!(status, 401, "{kind:?}");
    assert_eq!(header(&headers, "location"), None);

    // Forged identity headers never reach the app.
    s.app.clear();
    let forged = [
        ("X-Auth-Request-User", "mallory"),
        ("X_Forwarded_User", "mallory"),
        ("X-Forwarded-User", "mallory"),
        ("X-Auth-Request-Access-Token", "mallory"),
        ("X-Forwarded-Email", "mallory@evil.example"),
    ];
    let page = alice.get_with(&s.url("/app/forged"), &forged).await;
    assert_eq!(page.status, 200);
    let seen = s.app.requests().pop().unwrap();
    assert!(seen.headers.iter().all(|(_, v)| !v.contains("mallory")), "{kind:?}: forged header reached the app: {:?}", seen.headers);
    assert_eq!(seen.header("x-auth-request-user"), Some("alice"));

    // The same forged headers without a session: no way in.
    let mut stranger = Browser::new(None);
    let r = stranger
        .get_with(&s.url("/app/forged"), &[("Accept", "application/json"), ("Sec-Fetch-Mode", "cors"), ("X-Auth-Request-User", "mallory")])
        .await;
    assert_eq!(r.status, 401);

    // allowed_groups on the route: bob is not an admin; alice is.
    s.app.clear();
    let mut bob = s.login("bob", "/app/bob").await;
    let r = bob.get(&s.url("/admin/panel")).await;
    assert_eq!(r.status, 403, "{kind:?}");
    if kind != Kind::Nginx {
        assert!(r.body.contains("may not see this page"), "{kind:?}: a 403 page for a person: {}", r.body);
    }
    assert!(s.app.requests().iter().all(|r| r.uri != "/admin/panel"), "the app never saw the admin request");
    assert_eq!(alice.get(&s.url("/admin/panel")).await.status, 200);
    if kind == Kind::Envoy {
        // The admin route's other spellings: a path parameter (Java apps serve /admin;x/ as
        // /admin/) meets the same check, and an encoded slash is refused by Envoy itself.
        assert_eq!(bob.get(&s.url("/admin;jsessionid=1/panel")).await.status, 403);
        assert_eq!(bob.get(&s.url("/admin%2Fpanel")).await.status, 400);
    }

    // Preflights need no login where the check carries the real method (Envoy); nginx and
    // Traefik check with GET, and a forwarded method only narrows (as oauth2-proxy, which
    // sees only the GET). Skip routes need no login; a forged X-Forwarded-Uri opens nothing.
    let (status, _, body) = send("OPTIONS", &s.url("/app/cors"), &[("Origin", "http://other.example")]).await;
    if kind == Kind::Envoy {
        assert_eq!((status, body.as_str()), (200, "app saw /app/cors"), "{kind:?}: preflight");
        assert_eq!(s.app.requests().last().unwrap().method, "OPTIONS");
    } else {
        // nginx's sign-in location may answer for Gatehouse (its /oauth2/verify sees OPTIONS),
        // but the app is never reached.
        assert!(s.app.requests().iter().all(|r| r.method != "OPTIONS"), "{kind:?}: preflight checked as a GET: {status} {body}");
    }
    let (status, _, body) = send("GET", &s.url("/public/info"), &[("Accept", "application/json")]).await;
    assert_eq!((status, body.as_str()), (200, "app saw /public/info"), "{kind:?}: skip route");
    let (status, _, _) = send(
        "GET",
        &s.url("/app/secret"),
        &[("Accept", "application/json"), ("X-Forwarded-Uri", "/public/x"), ("X-Original-URI", "/public/x")],
    )
    .await;
    assert_eq!(status, 401, "{kind:?}: forged X-Forwarded-Uri");

    // A refresh during a check reaches the browser as a new cookie through the proxy.
    let before = alice.cookie("_oauth2_proxy").unwrap();
    // Session ages count whole seconds: wait until it is surely older than cookie_refresh (2s).
    actix_web::rt::time::sleep(Duration::from_millis(3100)).await;
    let page = alice.get(&s.url("/app/after-refresh")).await;
    assert_eq!(page.status, 200, "{kind:?}");
    assert!(
        page.headers_named("set-cookie").iter().any(|c| c.starts_with("_oauth2_proxy=")),
        "{kind:?}: refreshed cookie: {:?}",
        page.headers
    );
    assert_ne!(alice.cookie("_oauth2_proxy").unwrap(), before);
    assert_eq!(s.op.grants().await.1, 1, "one refresh grant");
    assert_eq!(alice.get(&s.url("/app/after-refresh")).await.status, 200, "the new cookie works");

    // Sign-out through the proxy; the next request goes to the login again.
    let r = alice.get(&s.url("/oauth2/sign_out")).await;
    assert_eq!((r.status, r.header("location")), (302, Some("/")), "{kind:?}");
    let r = alice.get(&s.url("/app/page")).await;
    assert_eq!(r.status, 302, "{kind:?}: {}", r.body);
    assert!(r.header("location").unwrap().starts_with(&s.op.issuer), "to the provider: {:?}", r.header("location"));
}

#[actix_web::test]
async fn nginx_auth_request_with_the_shipped_config() {
    forward_auth_through(Kind::Nginx).await;
}

#[actix_web::test]
async fn traefik_forward_auth_with_the_shipped_config() {
    forward_auth_through(Kind::Traefik).await;
}

#[actix_web::test]
async fn envoy_ext_authz_with_the_shipped_config() {
    forward_auth_through(Kind::Envoy).await;
}

/// Issue 22, loss 3: oauth2-proxy's documented nginx configuration sends the original URI to
/// `/oauth2/start` unencoded (`rd=$request_uri`), so `/app/page?x=1&y=2` arrives as
/// `rd=/app/page?x=1` and `y=2`. oauth2-proxy drops `y`; Gatehouse puts it back onto `rd`.
#[actix_web::test]
async fn the_whole_original_url_survives_oauth2_proxys_documented_nginx_config() {
    let (gate_port, proxy_port, admin_port) = (free_port(), free_port(), free_port());
    let app = Upstream::start();
    let op = Op::start(json!({
        "clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://127.0.0.1:{proxy_port}/oauth2/callback")], "require_pkce": true}],
    }));
    let documented = "error_page 401 = /oauth2/start?rd=$request_uri;".to_string();
    let files = shipped(
        Kind::Nginx,
        Ports { auth: gate_port, edge: proxy_port, app: app.port, admin: admin_port },
        &[("error_page 401 = @gatehouse_signin;", documented)],
    );
    assert!(files.read("nginx.conf").contains("rd=$request_uri"), "the documented form is in place");
    let _gate = Gate::start(&auth_config(&files, &op.issuer), &[], "127.0.0.1");
    let _proxy = start_edge(Kind::Nginx, files, proxy_port);
    let base = format!("http://127.0.0.1:{proxy_port}");
    crate::support::wait_discovered(&base).await;

    back_at_the_whole_url(&base).await;
}

/// Through the edge at `base`, a login started by any of these URLs comes back to all of it.
async fn back_at_the_whole_url(base: &str) {
    for path in ["/app/page?x=1&y=2", "/app/page?y=2&x=a%20b&x=c", "/app/plain"] {
        let mut b = Browser::new(None);
        let callback = b.login(&format!("{base}{path}"), "alice").await;
        assert_eq!((callback.status, callback.header("location")), (302, Some(path)), "back at the whole URL");
        let page = b.get(&format!("{base}{path}")).await;
        assert_eq!((page.status, page.body), (200, format!("app saw {path}")));
    }
}

/// Issue 22, loss 3, through Envoy: the usual oauth2-proxy setup turns the check's 401 into a
/// redirect with a local reply, `Location: /oauth2/start?rd=%REQ(:path)%`, the path unencoded,
/// so `&y=2` becomes a parameter of `/oauth2/start`; Gatehouse puts it back onto `rd`.
#[actix_web::test]
async fn the_whole_original_url_survives_the_usual_envoy_redirect_to_oauth2_start() {
    let (gate_port, proxy_port, admin_port) = (free_port(), free_port(), free_port());
    let app = Upstream::start();
    let op = Op::start(json!({
        "clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://127.0.0.1:{proxy_port}/oauth2/callback")], "require_pkce": true}],
    }));
    // oauth2-proxy's check (/oauth2/auth: 202 or 401), the 401 made a redirect by Envoy.
    let local_reply = "stat_prefix: web
                local_reply_config:
                  mappers:
                    - filter:
                        status_code_filter:
                          comparison: { op: EQ, value: { default_value: 401, runtime_key: unused_401 } }
                      status_code: 302
                      headers_to_add:
                        - header: { key: location, value: \"/oauth2/start?rd=%REQ(:path)%\" }
                          append_action: OVERWRITE_IF_EXISTS_OR_ADD
";
    let files = shipped(
        Kind::Envoy,
        Ports { auth: gate_port, edge: proxy_port, app: app.port, admin: admin_port },
        &[("stat_prefix: web\n", local_reply.to_string()), ("path_prefix: /oauth2/verify", "path_prefix: /oauth2/auth".to_string())],
    );
    assert!(files.read("envoy.yaml").contains("rd=%REQ(:path)%"), "the usual form is in place");
    let _gate = Gate::start(&auth_config(&files, &op.issuer), &[], "127.0.0.1");
    let _proxy = start_edge(Kind::Envoy, files, proxy_port);
    let base = format!("http://127.0.0.1:{proxy_port}");
    crate::support::wait_discovered(&base).await;
    let (status, headers, _) = crate::support::send("GET", &format!("{base}/app/page?x=1&y=2"), &[]).await;
    let location = crate::support::header(&headers, "location");
    assert_eq!((status, location), (302, Some("/oauth2/start?rd=/app/page?x=1&y=2")), "Envoy's redirect, unencoded");
    back_at_the_whole_url(&base).await;
}

/// `auth_request_response_mode = "form_post"` behind each shipped edge: the provider's form
/// POSTs the login back through the edge (which must pass the body on), the app then gets
/// alice; a POSTed callback with a second `state` is refused (400) there as well. The shipped
/// files' `cookie_samesite = "lax"` is refused with form_post (a Lax CSRF cookie stays behind
/// a cross-site POST), so it gives way here; over plain HTTP the CSRF cookie has no SameSite.
async fn form_post_through(kind: Kind) {
    let s = stack_with(kind, &[("cookie_samesite = \"lax\"\n", "auth_request_response_mode = \"form_post\"\n")]);
    s.wait_ready().await;
    let mut b = Browser::new(None);
    let start = b.get(&s.url("/oauth2/start?rd=/app/profile")).await;
    let to_provider = start.location().expect("the login starts");
    assert!(to_provider.query_pairs().any(|(k, v)| k == "response_mode" && v == "form_post"), "{to_provider}");
    let state = to_provider.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).unwrap();
    let polluted =
        b.request("POST", &s.url(&format!("/oauth2/callback?state={state}")), Some(&[("state", &state), ("code", "x")]), &[]).await;
    assert_eq!(polluted.status, 400, "{kind:?}: a second state in the body");
    let back = b.login(to_provider.as_str(), "alice").await;
    assert_eq!(back.status, 302, "{kind:?}: the form POST reached the callback through the edge: {}", back.body);
    let page = b.get(&s.url("/app/profile")).await;
    assert!(page.body.contains("(alice@example.com)"), "{kind:?}: {}", page.body);
}

#[actix_web::test]
async fn form_post_login_through_the_shipped_nginx() {
    form_post_through(Kind::Nginx).await;
}

#[actix_web::test]
async fn form_post_login_through_the_shipped_traefik() {
    form_post_through(Kind::Traefik).await;
}

#[actix_web::test]
async fn form_post_login_through_the_shipped_envoy() {
    form_post_through(Kind::Envoy).await;
}
