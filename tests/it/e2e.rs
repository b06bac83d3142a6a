//! The sign-in experience in a real browser: Debian's headless Chromium, driven like a person
//! (`support::chromium`), through Gatehouse's pages and the real provider's login and consent
//! forms. Screenshots land in `$CARGO_TARGET_TMPDIR/screenshots` (kept as test artifacts).

use serde_json::json;

use crate::forward::{Kind, stack};
use crate::support::chromium::Chromium;
use crate::support::op::Op;
use crate::support::peers::Upstream;
use crate::support::{Gate, free_port, plain_config};

/// Standalone Gatehouse in front of the recording app, with its own provider, ready.
struct Standalone {
    _op: Op,
    _app: Upstream,
    gate: Gate,
}

impl Standalone {
    async fn start(extra: &str) -> Standalone {
        let port = free_port();
        let op = Op::start(
            json!({"clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}]}),
        );
        let app = Upstream::start();
        let text = plain_config(&op.issuer, port, &format!("upstreams = [\"http://127.0.0.1:{}/\"]\n{extra}", app.port));
        let gate = Gate::start(&text, &[], "localhost");
        gate.wait_ready().await;
        Standalone { _op: op, _app: app, gate }
    }
}

/// Standalone: a protected URL with a query → the sign-in page → the provider's forms → back
/// at that URL with alice's identity from the app; sign-out; the URL asks for a login again.
#[actix_web::test]
async fn standalone_login_in_chromium_returns_to_the_page_and_sign_out_ends_it() {
    let running = Standalone::start("").await;
    let g = &running.gate;
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

    // Refused as alice by a route constraint: the page offers a sign-out, which is a POST.
    assert_eq!(tab.goto(&g.url("/oauth2/verify?allowed_groups=nobody")).await, 403);
    let page = tab.shown().await;
    assert!(page.text.contains("may not see this page"), "{}", page.text);
    tab.click("form[method=POST][action='/oauth2/sign_out'] button").await;
    assert_eq!(tab.goto(&protected).await, 403, "after sign-out the page asks for a login again");
    let page = tab.shown().await;
    assert!(page.text.contains("Sign in with"), "{}", page.text);
    // The 403 status of the sign-in page itself is logged as a failed load; a blocked style,
    // script or image (our Content-Security-Policy against our own page) must not be.
    let refused: Vec<&String> = page.console.iter().filter(|m| m.contains("Content Security Policy") || m.contains("Refused to")).collect();
    assert!(refused.is_empty(), "the page broke its own Content-Security-Policy: {refused:?}");
}

/// Two tabs of one browser log in at the same time and both land where they started: with
/// the default single CSRF cookie (which keeps both pending logins) and with
/// `cookie_csrf_per_request` (a cookie each).
#[actix_web::test]
async fn two_tabs_logging_in_at_once_both_succeed() {
    two_tabs("").await;
    two_tabs("cookie_csrf_per_request = true\n").await;
}

async fn two_tabs(option: &str) {
    let running = Standalone::start(option).await;
    let g = &running.gate;
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
        assert_eq!(&page.url, url, "{option:?}: {}", page.text);
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

/// `custom_templates_dir` (oauth2-proxy's template names and syntax) changes the sign-in page
/// and the error page; the banner, even with markup, is shown as text and runs nothing.
#[actix_web::test]
async fn custom_templates_and_a_banner_with_markup_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sign_in.html"),
        "{{define \"sign_in.html\"}}<!DOCTYPE html><html><head><title>Acme login</title></head><body>\n\
         <h1 id=\"custom\">Acme staff only</h1>{{ if .SignInMessage }}<p id=\"banner\">{{.SignInMessage}}</p>{{ end }}\n\
         <form method=\"GET\" action=\"{{.ProxyPrefix}}/start\"><input type=\"hidden\" name=\"rd\" value=\"{{.Redirect}}\">\n\
         <button type=\"submit\">Continue with {{.ProviderName}}</button></form>\n\
         {{ if eq .Footer \"-\" }}{{ else }}<footer>{{.Footer}}</footer>{{ end }}</body></html>{{end}}",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("error.html"),
        "{{define \"error.html\"}}<!DOCTYPE html><title>{{.StatusCode}}</title><h1 id=\"err\">Acme error {{.StatusCode}}: {{.Title}}</h1><p>{{.Message}}</p><p>{{.RequestID}}</p>{{end}}",
    )
    .unwrap();
    let extra = format!(
        "custom_templates_dir = \"{}\"\nbanner = \"<script>document.title='pwned'</script> Staff only\"\nfooter = \"Acme IT\"\nprovider_display_name = \"Acme SSO\"\n",
        dir.path().display()
    );
    let running = Standalone::start(&extra).await;
    let g = &running.gate;
    let chromium = Chromium::start();
    let tab = chromium.tab(1280).await;

    assert_eq!(tab.goto(&g.url("/profile")).await, 403);
    let page = tab.shown().await;
    assert_eq!(page.title, "Acme login", "the custom template, and the banner's script did not run");
    assert!(
        page.text.contains("Acme staff only") && page.text.contains("Continue with Acme SSO") && page.text.contains("Acme IT"),
        "{}",
        page.text
    );
    assert!(page.text.contains("<script>document.title='pwned'</script> Staff only"), "the banner is shown as text: {}", page.text);
    tab.screenshot("custom-sign-in.png").await;
    // The custom page still logs in.
    tab.click("button[type=submit]").await;
    tab.sign_in_at_provider("alice").await;
    assert!(tab.shown().await.text.contains("(alice@example.com)"));

    // A callback that was not started here: the custom error page, with the request ID.
    assert_eq!(tab.goto(&g.url("/oauth2/callback?code=x&state=y:%2F")).await, 403);
    let page = tab.shown().await;
    assert!(page.text.contains("Acme error 403: Forbidden"), "{}", page.text);
}

/// The built-in sign-in page at phone and desktop width (`make screenshots` copies these into
/// `tests/screenshots/` for the README): nothing overflows a 390 px screen, the button is
/// reachable by keyboard, and the page keeps to its Content-Security-Policy.
#[actix_web::test]
async fn sign_in_page_at_phone_and_desktop_width() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n").unwrap();
    let extra = format!(
        "banner = \"Use your Acme account.\"\nprovider_display_name = \"Acme SSO\"\ndisplay_htpasswd_form = true\nhtpasswd_file = \"{}\"\n",
        users.display()
    );
    let running = Standalone::start(&extra).await;
    let g = &running.gate;
    let chromium = Chromium::start();
    for width in [390, 1280] {
        let tab = chromium.tab(width).await;
        assert_eq!(tab.goto(&g.url("/profile?from=screenshot")).await, 403);
        let page = tab.shown().await;
        assert!(page.text.contains("Use your Acme account.") && page.text.contains("Sign in with Acme SSO"), "{}", page.text);
        assert!(page.html.contains("<label for=\"username\">") && page.html.contains("<label for=\"password\">"), "labelled form fields");
        let refused: Vec<&String> =
            page.console.iter().filter(|m| m.contains("Content Security Policy") || m.contains("Refused to")).collect();
        assert!(refused.is_empty(), "{width}px: {refused:?}");
        assert!(tab.fits_width().await, "{width}px: the page scrolls sideways");
        assert_eq!(tab.focus_first().await, "BUTTON", "{width}px: Tab reaches the sign-in button first");
        tab.screenshot(&format!("sign-in-{width}.png")).await;
    }
}

/// With the provider down, the browser gets a page that says what happened and what to do,
/// and nothing about Gatehouse's insides (addresses, errors).
#[actix_web::test]
async fn an_unreachable_provider_is_a_plain_503_page_in_chromium() {
    let port = free_port();
    let dead = format!("http://127.0.0.1:{}/oauth2/token", free_port());
    let g = Gate::start(&plain_config(&dead, port, "upstreams = [\"static://200\"]\nfooter = \"Acme IT\"\n"), &[], "localhost");
    let chromium = Chromium::start();
    let tab = chromium.tab(390).await;
    assert_eq!(tab.goto(&g.url("/oauth2/start")).await, 503);
    let page = tab.shown().await;
    assert!(page.text.contains("Service Unavailable") && page.text.contains("try again in a moment"), "{}", page.text);
    assert!(page.text.contains("Acme IT") && page.text.contains("request "), "footer and request ID: {}", page.text);
    assert!(!page.html.contains("127.0.0.1") && !page.html.to_lowercase().contains("connect"), "no internals: {}", page.html);
    tab.screenshot("error-503.png").await;
}

/// `auth_request_response_mode = "form_post"` across sites: the provider on `127.0.0.1`,
/// Gatehouse on `localhost` (another site), so the provider's page POSTs the login back
/// cross-site and only a `SameSite=None; Secure` CSRF cookie comes with it (Chromium treats
/// `http://localhost` as secure, so `cookie_secure` stays at its default).
#[actix_web::test]
async fn form_post_login_across_sites_in_chromium() {
    let port = free_port();
    let op = Op::start(json!({
        "host": "127.0.0.1",
        "clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}]
    }));
    assert!(op.issuer.starts_with("http://127.0.0.1:"), "{}", op.issuer);
    let app = Upstream::start();
    let text = plain_config(
        &op.issuer,
        port,
        &format!("upstreams = [\"http://127.0.0.1:{}/\"]\nauth_request_response_mode = \"form_post\"\n", app.port),
    )
    .replace("cookie_secure = false\n", "");
    let g = Gate::start(&text, &[], "localhost");
    g.wait_ready().await;
    // Headless Chromium lets a fresh cookie without SameSite through a cross-site POST for two
    // minutes, so the login alone does not show the attribute: read it.
    let start = crate::support::browser::Browser::new(None).get(&g.url("/oauth2/start?rd=/")).await;
    let csrf = start.headers_named("set-cookie").into_iter().find(|c| c.starts_with("_oauth2_proxy_csrf=")).expect("a CSRF cookie");
    assert!(csrf.contains("SameSite=None") && csrf.contains("Secure"), "{csrf}");
    let chromium = Chromium::start();
    let tab = chromium.tab(1280).await;
    let protected = g.url("/profile?year=2026");
    assert_eq!(tab.goto(&protected).await, 403, "the sign-in page");
    tab.click("button[type=submit]").await;
    tab.sign_in_at_provider("alice").await;
    let page = tab.shown().await;
    assert_eq!(page.url, protected, "back at the original URL after the provider's form POST");
    assert!(page.text.contains("(alice@example.com)"), "the app names alice: {}", page.text);
}
