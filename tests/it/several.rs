//! Several providers at once (alpha `providers:`, which oauth2-proxy reads and then uses only
//! the first of): two real OpenID Providers and the GitHub stand-in beside each other, each
//! chosen on the sign-in page or by `/oauth2/start?provider=<id>`, each session refreshed at
//! its own provider and judged by its provider's rules, bearer tokens from either issuer.

use serde_json::{Value, json};

use crate::differential::{Peer, Running, provider, try_run_with};
use crate::support::browser::Browser;
use crate::support::chromium::Chromium;
use crate::support::github::{Account, GitHub};
use crate::support::op::Op;
use crate::support::peers::Upstream;
use crate::support::{free_port, send};

/// Two OpenID Providers (corp: only `admins`; partner: only example.org, the default for
/// `/partner/`) and GitHub, with Gatehouse in front of an app.
struct Three {
    corp: Op,
    partner: Op,
    github: GitHub,
    gate: Running,
    app: Upstream,
}

fn github_users() -> Vec<Account> {
    vec![Account {
        login: "alice".into(),
        emails: vec![("alice@example.com".into(), true, true)],
        orgs: vec!["acme".into()],
        ..Account::default()
    }]
}

async fn three(extra_alpha: &str) -> Three {
    three_with(extra_alpha, "").await
}

/// [`three`] with more of the main configuration file.
async fn three_with(extra_alpha: &str, extra_text: &str) -> Three {
    let port = free_port();
    let corp = provider(&[port], &json!({"access_token_ttl": 60}));
    // partner: a further provider, so its callback is its own (and only that is registered).
    let callback = format!("http://localhost:{port}/oauth2/callback/partner");
    let client = json!([{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [callback]}]);
    let partner = provider(&[port], &json!({"access_token_ttl": 60, "clients": client}));
    let github = GitHub::start(github_users(), &[]);
    let app = Upstream::start();
    let oidc = |id: &str, name: &str, issuer: &str, more: &str| {
        format!(
            "  - id: {id}\n    name: {name}\n    provider: oidc\n    clientID: gatehouse\n    clientSecret: gatehouse-secret\n    codeChallengeMethod: S256\n    oidcConfig:\n      issuerURL: {issuer}\n{more}"
        )
    };
    let alpha = format!(
        "server:\n  bindAddress: 127.0.0.1:{port}\nupstreamConfig:\n  upstreams:\n    - id: app\n      path: /\n      uri: http://127.0.0.1:{app}/\ninjectRequestHeaders:\n  - name: X-Forwarded-User\n    values:\n      - claim: user\n  - name: X-Forwarded-Email\n    values:\n      - claim: email\nproviders:\n{}{}  - id: gh\n    name: GitHub\n    provider: github\n    clientID: gatehouse\n    clientSecret: gatehouse-secret\n    loginURL: {gh}/login/oauth/authorize\n    redeemURL: {gh}/login/oauth/access_token\n    validateURL: {gh}/\n    emailDomains: [\"*\"]\n{extra_alpha}",
        oidc("corp", "Corp SSO", &corp.issuer, "    allowedGroups: [admins]\n"),
        oidc("partner", "Partner", &partner.issuer, "    emailDomains: [example.org]\n    defaultFor: [/partner/]\n"),
        app = app.port,
        gh = github.base,
    );
    let text = format!(
        "cookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\ncookie_secure = false\ncookie_refresh = \"1s\"\nskip_jwt_bearer_tokens = true\nredirect_url = \"http://localhost:{port}/oauth2/callback\"\n{extra_text}"
    );
    let gate =
        try_run_with(Peer::Gatehouse, &text, Some(&alpha), port).unwrap_or_else(|(how, log)| panic!("Gatehouse {how}:\n{log}\n{alpha}"));
    let client = awc::Client::default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while client.get(format!("{}/ready", gate.base)).send().await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
        assert!(std::time::Instant::now() < deadline, "the three providers were not ready:\n{}", gate.log());
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Three { corp, partner, github, gate, app }
}

/// Route rules naming groups, each qualified by its provider's id (`acme` is no provider's).
const RULES: &str = "route_rules = [\"path=^/users/ allowed_groups=corp:users\", \"path=^/partners/ allowed_groups=partner:users\", \"path=^/acme/ allowed_groups=acme\", \"path=^/gh-acme/ allowed_groups=gh:acme\"]\nreverse_proxy = true\n";

/// Logs `account` in at provider `id`; the callback's status.
async fn login(t: &Three, browser: &mut Browser, id: &str, account: &str) -> u16 {
    browser.login(&format!("{}/oauth2/start?provider={id}&rd=%2F", t.gate.base), account).await.status
}

async fn userinfo(t: &Three, browser: &mut Browser) -> Value {
    let r = browser.get(&format!("{}/oauth2/userinfo", t.gate.base)).await;
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

/// Each provider logs its users in by id, under its own rules: corp lets in only `admins`,
/// partner only example.org addresses; the session says which provider issued it; an unknown
/// id is a 400; `/partner/` goes straight to its default provider, other pages offer the
/// choice; each session refreshes (or, GitHub's, revalidates) at its own provider.
#[actix_web::test]
async fn each_provider_logs_in_under_its_own_rules_and_refreshes_at_itself() {
    let t = three("").await;
    let (status, _, page) = send("GET", &format!("{}/oauth2/sign_in?rd=%2F", t.gate.base), &[]).await;
    assert_eq!(status, 200);
    for (id, name) in [("corp", "Corp SSO"), ("partner", "Partner"), ("gh", "GitHub")] {
        assert!(page.contains(&format!("name=\"provider\" value=\"{id}\"")) && page.contains(&format!("Sign in with {name}")), "{page}");
    }
    let (status, _, _) = send("GET", &format!("{}/oauth2/start?provider=nope", t.gate.base), &[]).await;
    assert_eq!(status, 400, "an unknown provider id");

    let mut sessions = Vec::new();
    for (id, account, want) in
        [("corp", "alice", 302), ("corp", "bob", 403), ("partner", "alice", 403), ("partner", "bob", 302), ("gh", "alice", 302)]
    {
        let mut browser = Browser::new(None);
        assert_eq!(login(&t, &mut browser, id, account).await, want, "{account} at {id}:\n{}", t.gate.log());
        if want == 302 {
            let info = userinfo(&t, &mut browser).await;
            assert_eq!(info["provider"], id, "{info}");
            sessions.push((id, account, browser));
        }
    }

    // `defaultFor`: /partner/ goes to partner at once; elsewhere the page offers the choice.
    let html = [("Accept", "text/html")];
    let (status, headers, _) = send("GET", &format!("{}/partner/page", t.gate.base), &html).await;
    let location = crate::support::header(&headers, "location").unwrap_or_default().to_string();
    assert!(status == 302 && location.starts_with(&t.partner.issuer), "{status} {location}");
    let (status, _, page) = send("GET", &format!("{}/elsewhere", t.gate.base), &html).await;
    assert!(status == 403 && page.contains("value=\"gh\""), "{status} {page}");

    let validations = || t.github.asked().iter().filter(|p| *p == "/?").count();
    let before = validations();
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    for (id, account, browser) in &mut sessions {
        let r = browser.get(&format!("{}/oauth2/auth", t.gate.base)).await;
        assert_eq!(r.status, 202, "{account} at {id} after its refresh:\n{}", t.gate.log());
    }
    assert_eq!(t.corp.grants().await.1, 1, "corp refreshed its own session");
    assert_eq!(t.partner.grants().await.1, 1, "partner refreshed its own session");
    assert_eq!(validations(), before + 1, "GitHub revalidated its own session");
}

async fn token(op: &Op, claims: Value) -> String {
    op.control("POST", "sign", json!({"claims": claims})).await["token"].as_str().unwrap().to_string()
}

/// A bearer token from either OpenID Provider works, under its provider's rules; one signed by
/// one provider that names the other as issuer does not.
#[actix_web::test]
async fn bearer_tokens_from_each_issuer_work_under_their_providers_rules() {
    let t = three("").await;
    let claims =
        |email: &str, groups: &[&str]| json!({"sub": "svc", "aud": "gatehouse", "email": email, "email_verified": true, "groups": groups});
    let mut forged = claims("svc@example.org", &["admins"]);
    forged["iss"] = json!(t.corp.issuer);
    for (label, bearer, want) in [
        ("corp, an admin", token(&t.corp, claims("svc@example.com", &["admins"])).await, 202),
        ("corp, not an admin", token(&t.corp, claims("svc@example.com", &["users"])).await, 401),
        ("partner, example.org", token(&t.partner, claims("svc@example.org", &[])).await, 202),
        ("partner, example.com", token(&t.partner, claims("svc@example.com", &[])).await, 401),
        ("partner's key, corp's issuer", token(&t.partner, forged.clone()).await, 401),
    ] {
        let auth = format!("Bearer {bearer}");
        let (status, _, _) = send("GET", &format!("{}/oauth2/auth", t.gate.base), &[("Authorization", &auth)]).await;
        assert_eq!(status, want, "{label}:\n{}", t.gate.log());
    }
}

/// In a real browser: the sign-in page offers the three providers, and picking each in turn
/// logs in there and comes back to the page asked for.
#[actix_web::test]
async fn a_browser_picks_each_provider_in_turn() {
    let t = three("").await;
    let chromium = Chromium::start();
    for (id, account, email) in
        [("corp", "alice", "alice@example.com"), ("partner", "bob", "bob@example.org"), ("gh", "alice", "alice@example.com")]
    {
        let tab = chromium.tab(1280).await;
        let protected = format!("{}/profile?via={id}", t.gate.base);
        assert_eq!(tab.goto(&protected).await, 403, "the sign-in page");
        tab.click(&format!("form:has(input[value={id}]) button")).await;
        tab.sign_in_at_provider(account).await;
        let page = tab.shown().await;
        assert_eq!(page.url, protected, "{id}: back at the page: {}", page.text);
        assert!(page.text.contains(&format!("({email})")), "{id}: the app names {email}: {}", page.text);
        tab.goto(&format!("{}/oauth2/sign_out", t.gate.base)).await;
    }
}

/// The list's mistakes, all at once: ids missing or repeated, a further provider's own
/// mistakes (named by its place in the list), a `defaultFor` that is neither host nor path,
/// callbacks that would differ, `skip_provider_button` beside a choice, further providers
/// without `emailDomains`, (with bearer tokens) an issuer used twice, an id that is no path
/// segment, and `extra_jwt_issuers` (whose tokens would pass for the first provider's).
#[test]
fn a_list_of_providers_is_checked_as_a_whole() {
    let text = "cookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\nskip_provider_button = true\nskip_jwt_bearer_tokens = true\nextra_jwt_issuers = [\"https://ci.example=ci\"]\n";
    let oidc = |id: &str, more: &str| {
        format!(
            "  - {id}provider: oidc\n    clientID: app\n    clientSecret: s3cret\n    oidcConfig:\n      issuerURL: https://idp.example.com\n{more}"
        )
    };
    let alpha = format!(
        "providers:\n{}{}{}{}",
        oidc("id: a\n    ", "    defaultFor: [\"https://x/\"]\n"),
        oidc("id: a\n    ", "    authRequestResponseMode: form_post\n"),
        oidc("", ""),
        "  - id: gh\n    provider: github\n    clientSecret: s3cret\n    githubConfig:\n      repo: nope\n  - id: ..\n    provider: github\n    clientID: c\n    clientSecret: s3cret\n    emailDomains: [\"*\"]\n"
    );
    let errors = crate::support::load_alpha(text, &alpha).unwrap_err().to_string();
    for expected in [
        "providers[0].defaultFor",
        "providers[1].id",
        "\"a\" is used twice",
        "providers[1]: its authRequestResponseMode differs",
        "providers[2].id",
        "providers[3] client_id",
        "github_repo",
        "skip_provider_button",
        "providers[1].emailDomains",
        "providers[3].emailDomains",
        "providers[1]: its issuer \"https://idp.example.com\" is an earlier provider's too",
        "providers[4].id",
        "extra_jwt_issuers",
    ] {
        assert!(errors.contains(expected), "{expected}:\n{errors}\n{alpha}");
    }
}

/// README's example of several providers loads as README says it does.
#[test]
fn readmes_example_loads() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("### Several providers at once").nth(1).unwrap();
    let yaml = section.split("```yaml\n").nth(1).unwrap().split("```").next().unwrap();
    let legacy = "cookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\n";
    let cfg = crate::support::load_alpha(legacy, yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}")).config;
    let ids: Vec<&str> = cfg.providers.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["corp", "partner", "gh"]);
    assert_eq!(cfg.providers[0].allowed_groups, ["staff"]);
    assert_eq!(cfg.providers[1].email_domains, ["partner.example"]);
    assert_eq!(cfg.providers[1].default_for, ["/partner/", "partner.app.example"]);
    assert_eq!(cfg.providers[2].oidc.as_ref().unwrap().github.org, "acme");
}

/// With one provider, `provider` is not Gatehouse's parameter: `/oauth2/start?provider=x`
/// logs in as without it, as oauth2-proxy does (only several providers make it a choice).
#[actix_web::test]
async fn one_provider_ignores_the_provider_parameter_as_oauth2_proxy_does() {
    let b = crate::differential::both(json!({}), "").await;
    for (peer, run) in &b.runs {
        let (status, headers, _) = send("GET", &format!("{}/oauth2/start?provider=nope&rd=%2F", run.base), &[]).await;
        let location = crate::support::header(&headers, "location").unwrap_or_default();
        assert!(status == 302 && location.starts_with(&b.op.issuer), "{peer:?}: {status} {location}");
    }
}

/// The codes each OpenID Provider redeemed.
async fn code_grants(t: &Three) -> (u64, u64) {
    (t.corp.grants().await.0, t.partner.grants().await.0)
}

/// The mix-up attack: a code the provider sent to one provider's callback, taken to another
/// provider's callback, is refused there and never redeemed (at either provider): each
/// provider after the first has its own callback, and the callback must be the one of the
/// provider the login went to.
#[actix_web::test]
async fn a_code_at_another_providers_callback_is_refused() {
    let t = three("").await;
    let before = code_grants(&t).await;
    for (id, account, elsewhere) in [
        ("partner", "bob", vec!["/oauth2/callback", "/oauth2/callback/corp", "/oauth2/callback/gh"]),
        ("corp", "alice", vec!["/oauth2/callback/partner", "/oauth2/callback/corp", "/oauth2/callback/nope"]),
    ] {
        for wrong in elsewhere {
            let mut browser = Browser::new(None);
            let callback = browser.login_until_callback(&format!("{}/oauth2/start?provider={id}&rd=%2F", t.gate.base), account).await;
            let mut moved = callback.clone();
            moved.set_path(wrong);
            let r = browser.get(moved.as_str()).await;
            assert_eq!(r.status, 403, "{id}'s code at {wrong}:\n{}", t.gate.log());
            assert!(r.body.contains("unexpected identity provider"), "{}", r.body);
        }
    }
    assert_eq!(code_grants(&t).await, before, "no code was redeemed");
    // The right callback still logs in (the CSRF cookie of a refused attempt is gone).
    let mut browser = Browser::new(None);
    let callback = browser.login_until_callback(&format!("{}/oauth2/start?provider=partner&rd=%2F", t.gate.base), "bob").await;
    assert_eq!(callback.path(), "/oauth2/callback/partner");
    assert_eq!(browser.get(callback.as_str()).await.status, 302, "{}", t.gate.log());
}

/// What each provider asserts is qualified by its id wherever it is seen: a GitHub
/// organization or a partner's group named like another provider's does not meet a rule for
/// that provider's; rules name them as `<id>:<group>`; the app and userinfo see `corp:alice`,
/// `partner:bob` and `gh:alice`.
#[actix_web::test]
async fn a_further_providers_user_and_groups_are_qualified_by_its_id() {
    let t = three_with("", RULES).await;
    let seen_user = |t: &Three| t.app.seen.lock().unwrap().last().and_then(|s| s.header("x-forwarded-user").map(str::to_string));
    for (id, account, user, groups, allowed, refused) in [
        ("corp", "alice", "corp:alice", json!(["corp:admins", "corp:users"]), vec!["/users/"], vec!["/partners/", "/acme/", "/gh-acme/"]),
        ("partner", "bob", "partner:bob", json!(["partner:users"]), vec!["/partners/"], vec!["/users/", "/acme/", "/gh-acme/"]),
        ("gh", "alice", "gh:alice", json!(["gh:acme"]), vec!["/gh-acme/"], vec!["/users/", "/partners/", "/acme/"]),
    ] {
        let mut browser = Browser::new(None);
        assert_eq!(login(&t, &mut browser, id, account).await, 302, "{account} at {id}:\n{}", t.gate.log());
        let info = userinfo(&t, &mut browser).await;
        assert_eq!((&info["user"], &info["groups"]), (&json!(user), &groups), "{id}: {info}");
        for path in allowed {
            let r = browser.get(&format!("{}{path}page", t.gate.base)).await;
            assert_eq!(r.status, 200, "{account} at {id} on {path}");
            assert_eq!(seen_user(&t).as_deref(), Some(user), "the app is told the qualified user");
        }
        for path in refused {
            assert_eq!(browser.get(&format!("{}{path}page", t.gate.base)).await.status, 403, "{account} at {id} on {path}");
        }
        // (The check names its request: without it, every narrowing rule would apply.)
        let check = |groups: &str| format!("{}/oauth2/auth?allowed_groups={groups}", t.gate.base);
        let elsewhere = [("X-Forwarded-Uri", "/elsewhere")];
        let r = browser.get_with(&check("corp:users"), &elsewhere).await;
        assert_eq!(r.status, if id == "corp" { 202 } else { 403 }, "{id}: the check's allowed_groups=corp:users:\n{}", t.gate.log());
        assert_eq!(browser.get_with(&check("users"), &elsewhere).await.status, 403, "{id}: an unqualified group is no provider's");
        let route = [("X-Forwarded-Uri", "/elsewhere"), ("X-Gatehouse-Allowed-Groups", "corp:users")];
        let r = browser.get_with(&format!("{}/oauth2/auth", t.gate.base), &route).await;
        assert_eq!(r.status, if id == "corp" { 202 } else { 403 }, "{id}: X-Gatehouse-Allowed-Groups: corp:users");
    }
}
