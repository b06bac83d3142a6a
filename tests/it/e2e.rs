//! The sign-in experience in a real browser: Debian's headless Chromium, driven like a person
//! (`support::chromium`), through Gatehouse's pages and the real provider's login and consent
//! forms. Screenshots land in `$CARGO_TARGET_TMPDIR/screenshots` (kept as test artifacts).

use serde_json::json;

use crate::forward::{Kind, stack};
use crate::support::chromium::Chromium;
use crate::support::op::Op;
use crate::support::peers::Upstream;
use crate::support::{Gate, free_port, plain_config};

fn provider(port: u16) -> Op {
    Op::start(
        json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}]}),
    )
}

/// Standalone: a protected URL with a query → the sign-in page → the provider's forms → back
/// at that URL with alice's identity from the app; sign-out; the URL asks for a login again.
#[actix_web::test]
async fn standalone_login_in_chromium_returns_to_the_page_and_sign_out_ends_it() {
    let port = free_port();
    let op = provider(port);
    let app = Upstream::start();
    let g = Gate::start(&plain_config(&op.issuer, port, &format!("upstreams = [\"http://127.0.0.1:{}/\"]\n", app.port)), &[], "localhost");
    g.wait_ready().await;
    let chromium = Chromium::start();
    let tab = chromium.tab(1280).await;
    let protected = g.url("/profile?tab=keys&x=1");

    assert_eq!(tab.goto(&protected).await, 403, "the sign-in page");
    let page = tab.shown().await;
    assert!(page.text.contains("Sign in with"), "{}", page.text);
    assert!(!page.title.is_empty(), "the sign-in page has a title");
    tab.screenshot("standalone-sign-in.png").await;

    tab.click("button[type=submit]").await;
    tab.sign_in_at_provider("alice").await;
    let page = tab.shown().await;
    assert_eq!(page.url, protected, "back at the original URL");
    assert!(page.text.contains("(alice@example.com)"), "the app names alice: {}", page.text);
    assert!(page.text.contains("tab=keys&x=1"), "{}", page.text);
    tab.screenshot("standalone-signed-in.png").await;

    tab.goto(&g.url("/oauth2/sign_out")).await;
    assert_eq!(tab.goto(&protected).await, 403, "after sign-out the page asks for a login again");
    let page = tab.shown().await;
    assert!(page.text.contains("Sign in with"), "{}", page.text);
    // The 403 status of the sign-in page itself is logged as a failed load; a blocked style,
    // script or image (our Content-Security-Policy against our own page) must not be.
    let refused: Vec<&String> = page.console.iter().filter(|m| m.contains("Content Security Policy") || m.contains("Refused to")).collect();
    assert!(refused.is_empty(), "the page broke its own Content-Security-Policy: {refused:?}");
}

/// Two tabs of one browser log in at the same time: each callback finds its own CSRF cookie
/// (`cookie_csrf_per_request`), so both land where they started.
#[actix_web::test]
async fn two_tabs_logging_in_at_once_both_succeed() {
    let port = free_port();
    let op = provider(port);
    let app = Upstream::start();
    let extra = format!("upstreams = [\"http://127.0.0.1:{}/\"]\ncookie_csrf_per_request = true\n", app.port);
    let g = Gate::start(&plain_config(&op.issuer, port, &extra), &[], "localhost");
    g.wait_ready().await;
    let chromium = Chromium::start();
    let first = chromium.tab(1280).await;
    let second = chromium.tab_beside(&first).await;
    let (a, b) = (g.url("/profile?tab=a"), g.url("/profile?tab=b"));
    first.goto(&a).await;
    second.goto(&b).await;
    first.click("button[type=submit]").await;
    second.click("button[type=submit]").await;
    first.sign_in_at_provider("alice").await;
    second.sign_in_at_provider("alice").await;
    for (tab, url) in [(&first, &a), (&second, &b)] {
        let page = tab.shown().await;
        assert_eq!(&page.url, url, "{}", page.text);
        assert!(page.text.contains("(alice@example.com)"), "{}", page.text);
    }
}

/// The same browser login through each shipped edge-proxy configuration (`nginx/`, `traefik/`,
/// `envoy/`): the page asked for, query intact, showing alice's identity.
async fn browser_login_through(kind: Kind) {
    let s = stack(kind);
    s.wait_ready().await;
    let chromium = Chromium::start();
    let tab = chromium.tab(1280).await;
    let protected = s.url("/app/profile?x=1&y=2");
    tab.goto(&protected).await;
    if tab.shown().await.text.contains("Sign in with") {
        tab.screenshot(&format!("{kind:?}-sign-in.png").to_lowercase()).await;
        tab.click("button[type=submit]").await;
    }
    tab.sign_in_at_provider("alice").await;
    let page = tab.shown().await;
    assert_eq!(page.url, protected, "{kind:?}: {}", page.text);
    assert!(page.text.contains("(alice@example.com)"), "{kind:?}: {}", page.text);
}

#[actix_web::test]
async fn browser_login_through_nginx() {
    browser_login_through(Kind::Nginx).await;
}

#[actix_web::test]
async fn browser_login_through_traefik() {
    browser_login_through(Kind::Traefik).await;
}

#[actix_web::test]
async fn browser_login_through_envoy() {
    browser_login_through(Kind::Envoy).await;
}
