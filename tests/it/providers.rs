//! Providers beyond generic OIDC, each against a local stand-in that speaks its API, and each
//! scenario run through the real oauth2-proxy v7.15.6 on the same stand-in too: the outcomes
//! must agree (README "Providers").

use serde_json::{Value, json};

use crate::differential::{Peer, Running, both, config_text, keycloak_accounts, run, try_run_env};
use crate::support::browser::Browser;
use crate::support::cloud::{Cloud, ConnectProxy, Workspace};
use crate::support::github::{Account as GhAccount, GitHub};
use crate::support::peers::Upstream;
use crate::support::{MINIMAL, free_port, load_text, send};

fn keycloak() -> Value {
    json!({"jwt_access_tokens": true, "accounts": keycloak_accounts(), "access_token_ttl": 60})
}

/// A role taken away at Keycloak is gone at the next refresh, in both: the session no longer
/// meets `allowed_roles`, so it is removed (401, as every provider-wide group rule).
#[actix_web::test]
async fn a_keycloak_role_taken_away_is_gone_at_the_next_refresh() {
    let b = both(keycloak(), "provider = \"keycloak-oidc\"\nallowed_roles = [\"admin\"]\ncookie_refresh = \"1s\"\n").await;
    let mut browsers = Vec::new();
    for (peer, run) in &b.runs {
        let mut browser = Browser::new(None);
        assert_eq!(browser.login(&format!("{}/oauth2/start?rd=/", run.base), "alice").await.status, 302, "{peer:?} login");
        assert_eq!(browser.get(&format!("{}/oauth2/auth", run.base)).await.status, 202, "{peer:?} with the role");
        browsers.push(browser);
    }
    let mut alice = keycloak_accounts()[0]["claims"].clone();
    alice["realm_access"] = json!({"roles": ["viewer"]});
    b.op.control("POST", "account", json!({"id": "alice", "claims": alice})).await;
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    for ((peer, run), browser) in b.runs.iter().zip(&mut browsers) {
        let r = browser.get(&format!("{}/oauth2/auth", run.base)).await;
        assert_eq!(r.status, 401, "{peer:?} after the role was taken away:\n{}", run.log());
    }
    let (_, refreshed, _) = b.op.grants().await;
    assert!(refreshed >= 2, "both refreshed ({refreshed} refresh grants)");
}

/// A bearer token (`skip_jwt_bearer_tokens`) carries its own roles, read from itself.
#[actix_web::test]
async fn a_keycloak_bearer_token_carries_its_roles() {
    let b = both(keycloak(), "provider = \"keycloak-oidc\"\nallowed_roles = [\"admin\"]\nskip_jwt_bearer_tokens = true\n").await;
    let mut tokens = Vec::new();
    for role in ["admin", "viewer"] {
        let claims = json!({"sub": "svc", "aud": "gatehouse", "email": "svc@example.com", "email_verified": true, "realm_access": {"roles": [role]}});
        tokens.push(b.op.control("POST", "sign", json!({"claims": claims})).await["token"].as_str().unwrap().to_string());
    }
    let (admin, viewer) = (&tokens[0], &tokens[1]);
    for (peer, run) in &b.runs {
        for (label, t, want) in [("the admin role", admin, 202), ("another role", viewer, 401)] {
            let bearer = format!("Bearer {t}");
            let (status, headers, _) = send("GET", &format!("{}/oauth2/auth", run.base), &[("Authorization", &bearer)]).await;
            assert_eq!(status, want, "{peer:?} bearer with {label}: {headers:?}\n{}", run.log());
        }
    }
}

/// `validate_url` (oauth2-proxy's `ValidateSession` of a refreshed OIDC session): after each
/// refresh the new access token goes there as a bearer, and anything but 200 ends the session.
/// The provider's userinfo endpoint accepts it; a path it does not serve refuses it, and so
/// does an endpoint nobody answers on.
#[actix_web::test]
async fn validate_url_judges_each_refreshed_access_token() {
    // An endpoint that cannot be asked ends the session too, as in oauth2-proxy.
    for (validate, after) in [("ISSUER/me", 202), ("ISSUER/nothing-here", 401), ("http://127.0.0.1:9/unreachable", 401)] {
        let extra = format!("validate_url = \"{validate}\"\ncookie_refresh = \"1s\"\n");
        let b = both(json!({"access_token_ttl": 60}), &extra).await;
        for (peer, run) in &b.runs {
            let mut browser = Browser::new(None);
            assert_eq!(browser.login(&format!("{}/oauth2/start?rd=/", run.base), "alice").await.status, 302, "{peer:?} login");
            assert_eq!(browser.get(&format!("{}/oauth2/auth", run.base)).await.status, 202, "{peer:?} before a refresh");
            actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
            let r = browser.get(&format!("{}/oauth2/auth", run.base)).await;
            assert_eq!(r.status, after, "{peer:?} after a refresh validated at {validate}:\n{}", run.log());
        }
        let (_, refreshed, _) = b.op.grants().await;
        assert_eq!(refreshed, 2, "one refresh each");
    }
}

/// Roles are read from the access token, so one that is not a JWT refuses the login in both
/// (rather than a session without roles).
#[actix_web::test]
async fn an_opaque_access_token_refuses_a_keycloak_login() {
    let b = both(json!({"accounts": keycloak_accounts()}), "provider = \"keycloak-oidc\"\n").await;
    for (peer, run) in &b.runs {
        let mut browser = Browser::new(None);
        let r = browser.login(&format!("{}/oauth2/start?rd=/", run.base), "alice").await;
        assert!(r.status >= 400, "{peer:?} logged in with an opaque access token: {}", r.status);
        assert_eq!(browser.get(&format!("{}/oauth2/auth", run.base)).await.status, 401, "{peer:?} has no session");
    }
    let ours = &b.runs[1].1;
    assert!(ours.log().contains("the access token is not a JWT"), "Gatehouse names the reason:\n{}", ours.log());
}

/// `allowed_roles` means nothing without Keycloak's tokens (oauth2-proxy ignores it there):
/// an error, as is the legacy provider's `keycloak_groups`. Alpha `keycloakConfig.roles` is
/// `allowed_roles`.
#[test]
fn keycloak_options_outside_keycloak_oidc_are_errors() {
    let errors = load_text(&format!("{MINIMAL}allowed_roles = [\"admin\"]\n"), &[], vec![]).unwrap_err().to_string();
    assert!(errors.contains("allowed_roles") && errors.contains("keycloak-oidc"), "{errors}");
    let text = format!("{MINIMAL}allowed_roles = [\"admin\", \"app:editor\"]\nallowed_groups = [\"ops\"]\n");
    let cfg = load_text(&text, &[("OAUTH2_PROXY_PROVIDER", "keycloak-oidc")], vec![]).unwrap().config;
    assert_eq!(cfg.authz.allowed_groups, ["ops", "role:admin", "role:app:editor"]);
    let env = [("OAUTH2_PROXY_PROVIDER", "keycloak-oidc"), ("OAUTH2_PROXY_KEYCLOAK_GROUPS", "/admins")];
    let errors = load_text(MINIMAL, &env, vec![]).unwrap_err().to_string();
    assert!(errors.contains("keycloak_groups") && errors.contains("allowed_groups"), "{errors}");

    let alpha = "providers:\n- id: kc\n  provider: keycloak-oidc\n  clientID: app\n  clientSecret: s3cret-client-value\n  oidcConfig:\n    issuerURL: https://idp.example.com\n  keycloakConfig:\n    roles: [admin]\n";
    let legacy = "cookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\n";
    let env = crate::support::env_map(&[]);
    let loaded = gatehouse::config::load_texts(
        Some((std::path::Path::new("a.cfg"), legacy.into())),
        Some((std::path::Path::new("a.yaml"), alpha.into())),
        &[],
        &env,
        Default::default(),
    );
    let cfg = loaded.unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(cfg.authz.allowed_groups, ["role:admin"]);
}

/// Every other provider of oauth2-proxy is refused with what to configure instead, the same
/// words README "Providers" gives; a provider named in one and not the other fails here.
#[test]
fn every_other_provider_is_refused_with_its_alternative_as_readme_says() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("\n## Providers\n").nth(1).unwrap().split("\n## ").next().unwrap();
    let rows: Vec<(String, String, String)> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_end_matches('|').split(" | ").collect();
            (cells[0].trim_end_matches('`').to_string(), cells[1].to_string(), cells.get(2).unwrap_or(&"").trim().to_string())
        })
        .filter(|row| row.0 != "provider")
        .collect();
    let other = gatehouse::config::options::OTHER_PROVIDERS;
    let built: Vec<&str> = rows.iter().filter(|r| r.1.starts_with("built")).map(|r| r.0.as_str()).collect();
    assert_eq!(built, ["oidc", "keycloak-oidc", "gitlab", "google", "entra-id", "github", "adfs"]);
    let refused: Vec<(&str, &str)> = rows.iter().filter(|r| r.1 == "refused").map(|r| (r.0.as_str(), r.2.as_str())).collect();
    assert_eq!(refused, other.to_vec(), "README's refused rows and config::options::OTHER_PROVIDERS");
    assert_eq!(rows.len(), 17, "oauth2-proxy v7.15.6 has 17 providers (providers/providers.go)");
    for (name, instead) in other {
        let errors = load_text(MINIMAL, &[("OAUTH2_PROXY_PROVIDER", name)], vec![]).unwrap_err().to_string();
        assert!(errors.contains(&format!("provider \"{name}\" is not built into Gatehouse")) && errors.contains(instead), "{errors}");
    }
    // Unset, the provider is oauth2-proxy's default, google.
    let unset = MINIMAL.replace("provider = \"oidc\"\n", "");
    assert_eq!(load_text(&unset, &[], vec![]).unwrap().config.oidc.kind, gatehouse::oidc::ProviderKind::Google);
}

/// AD FS's accounts: dave has only a `upn`, alice an email too.
fn adfs() -> Value {
    json!({"adfs_state": true, "access_token_ttl": 60, "accounts": [
        {"id": "dave", "claims": {"upn": "dave@corp.example", "preferred_username": "dave", "groups": ["staff"]}},
        {"id": "alice", "claims": {"email": "alice@example.com", "email_verified": true, "upn": "alice@corp.example"}}
    ]})
}

/// provider = "adfs": a user without an email is known by their `upn`, at login and after a
/// refresh, in both; AD FS's doubly escaped `state` comes back.
#[actix_web::test]
async fn adfs_logins_behave_like_oauth2_proxy() {
    let b = both(adfs(), "provider = \"adfs\"\nset_xauthrequest = true\ncookie_refresh = \"1s\"\n").await;
    let mut seen = Vec::new();
    for (peer, run) in &b.runs {
        let mut out = Vec::new();
        for account in ["dave", "alice"] {
            let mut browser = Browser::new(None);
            let r = browser.login(&format!("{}/oauth2/start?rd=%2Fback%3Fx%3D1", run.base), account).await;
            let location = r.headers.iter().find(|(n, _)| n == "location").map(|(_, v)| v.clone());
            out.push(format!("{account} callback {} {location:?}", r.status));
            let r = browser.get(&format!("{}/oauth2/userinfo", run.base)).await;
            out.push(format!("{account} userinfo {}", r.body.trim()));
            actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
            let r = browser.get(&format!("{}/oauth2/auth", run.base)).await;
            let email = r.headers.iter().find(|(n, _)| n == "x-auth-request-email").map(|(_, v)| v.clone());
            out.push(format!("{account} after a refresh {} {email:?}", r.status));
        }
        seen.push(out);
        let _ = peer;
    }
    assert_eq!(seen[0], seen[1], "oauth2-proxy (left) and Gatehouse (right):\n{}", b.runs[1].1.log());
    assert!(seen[1][1].contains("dave@corp.example"), "{:?}", seen[1]);
    let (_, refreshed, _) = b.op.grants().await;
    assert!(refreshed >= 4, "each session refreshed ({refreshed})");
}

/// AD FS's authorization request: `resource` goes before the scope, and alpha
/// `ADFSConfig.skipScope` leaves the scope out, as oauth2-proxy builds it.
#[actix_web::test]
async fn adfs_authorization_requests_behave_like_oauth2_proxy() {
    use crate::differential::{Peer, try_run_with};
    let op = crate::differential::provider(&[], &adfs());
    let scope_of = |location: &str| {
        let url = url::Url::parse(location).unwrap();
        let scope = url.query_pairs().find(|(k, _)| k == "scope").map(|(_, v)| v.into_owned());
        let state_escaped = url.query_pairs().find(|(k, _)| k == "state").is_some_and(|(_, v)| v.contains("%3A"));
        (scope, state_escaped)
    };
    for (legacy, alpha) in [
        ("provider = \"adfs\"\nresource = \"https://app.example.com\"\nallowed_groups = [\"staff\"]\n".to_string(), None),
        (
            String::new(),
            Some(
                "providers:\n- id: adfs\n  provider: adfs\n  clientID: gatehouse\n  clientSecret: gatehouse-secret\n  ADFSConfig:\n    skipScope: true\n  oidcConfig:\n    issuerURL: ISSUER\n",
            ),
        ),
    ] {
        let mut seen = Vec::new();
        for peer in [Peer::OAuth2Proxy, Peer::Gatehouse] {
            let port = crate::support::free_port();
            let common = format!(
                "cookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\ncookie_secure = false\nupstreams = [\"static://200\"]\nhttp_address = \"127.0.0.1:{port}\"\n"
            );
            let provider = match alpha {
                Some(_) => String::new(),
                None => format!(
                    "oidc_issuer_url = \"{}\"\nclient_id = \"gatehouse\"\nclient_secret = \"gatehouse-secret\"\n{legacy}",
                    op.issuer
                ),
            };
            let (common, alpha_text) = match alpha {
                Some(a) => (
                    common.replace("upstreams = [\"static://200\"]\n", "").replace(&format!("http_address = \"127.0.0.1:{port}\"\n"), ""),
                    Some(format!("server:\n  bindAddress: 127.0.0.1:{port}\n{}", a.replace("ISSUER", &op.issuer))),
                ),
                None => (common, None),
            };
            let run = try_run_with(peer, &format!("{common}{provider}"), alpha_text.as_deref(), port)
                .unwrap_or_else(|(how, log)| panic!("{peer:?} {how}:\n{log}"));
            if peer == Peer::Gatehouse {
                crate::differential::ready(&run).await;
            }
            let (status, headers, _) = send("GET", &format!("{}/oauth2/start?rd=%2Fx", run.base), &[]).await;
            let location = headers.iter().find(|(n, _)| n == "location").map(|(_, v)| v.clone()).unwrap_or_default();
            seen.push((status, scope_of(&location)));
        }
        assert_eq!(seen[0], seen[1], "{legacy}{alpha:?}: oauth2-proxy (left) and Gatehouse (right)");
        assert!(seen[1].1.1, "the state is escaped once more");
    }
}

/// GitLab's accounts: alice (nickname alice-gl, group devs, developer of g/app through her
/// group), bob (group ops, guest of g/app), eve (email not verified).
fn gitlab() -> Value {
    json!({"gitlab": true, "access_token_ttl": 60, "accounts": [
        {"id": "alice", "claims": {"email": "alice@example.com", "email_verified": true, "nickname": "alice-gl", "groups": ["devs"], "gitlab_projects": {"g/app": {"access_level": 30, "via": "group"}, "g/old": {"access_level": 40, "archived": true}}}},
        {"id": "bob", "claims": {"email": "bob@example.org", "email_verified": true, "nickname": "bob-gl", "groups": ["ops"], "gitlab_projects": {"g/app": {"access_level": 10}}}},
        {"id": "eve", "claims": {"email": "eve@example.com", "email_verified": false, "nickname": "eve-gl", "groups": ["devs"]}}
    ]})
}

/// provider = "gitlab": the nickname is the user, GitLab's groups the groups, an unverified
/// email refuses the login, `gitlab_groups` and `gitlab_projects` (with access levels;
/// archived projects never count) decide who may log in, and a refresh keeps the nickname
/// and the project groups; in both, on a GitLab-shaped provider.
#[actix_web::test]
async fn gitlab_logins_behave_like_oauth2_proxy() {
    for extra in [
        "provider = \"gitlab\"\n",
        "provider = \"gitlab\"\ngitlab_projects = [\"g/app\", \"g/old=10\", \"g/none\"]\n",
        "provider = \"gitlab\"\ngitlab_groups = [\"devs\"]\n",
        "provider = \"gitlab\"\ngitlab_projects = [\"g/app=30\"]\n",
        "provider = \"gitlab\"\ngitlab_groups = [\"nobody\"]\ngitlab_projects = [\"g/app=20\"]\n",
    ] {
        let b = both(gitlab(), &format!("{extra}cookie_refresh = \"1s\"\nset_xauthrequest = true\n")).await;
        let mut seen = Vec::new();
        for (_, run) in &b.runs {
            let mut out = Vec::new();
            for account in ["alice", "bob", "eve"] {
                let mut browser = Browser::new(None);
                let r = browser.login(&format!("{}/oauth2/start?rd=%2F", run.base), account).await;
                out.push(format!("{account} login {}", r.status));
                let r = browser.get(&format!("{}/oauth2/userinfo", run.base)).await;
                out.push(format!("{account} userinfo {} {}", r.status, r.body.trim()));
                if r.status == 200 {
                    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
                    let r = browser.get(&format!("{}/oauth2/auth", run.base)).await;
                    let header = |n: &str| r.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
                    // oauth2-proxy de-duplicates the groups through a map: their order is random.
                    let mut groups: Vec<String> = header("x-auth-request-groups").split(',').map(str::to_string).collect();
                    groups.sort();
                    out.push(format!("{account} after a refresh {} user {} groups {groups:?}", r.status, header("x-auth-request-user")));
                }
            }
            seen.push(out);
        }
        assert_eq!(seen[0], seen[1], "{extra}: oauth2-proxy (left) and Gatehouse (right):\n{}", b.runs[1].1.log());
    }
}

/// gitlab options outside provider = "gitlab", `allowed_groups` beside it (oauth2-proxy
/// ignores it there) and a bad access level are errors; the project check asks for read_api.
#[test]
fn gitlab_options_are_checked() {
    let errors = load_text(&format!("{MINIMAL}gitlab_groups = [\"devs\"]\n"), &[], vec![]).unwrap_err().to_string();
    assert!(errors.contains("gitlab_groups") && errors.contains("only used by the gitlab provider"), "{errors}");
    let env = [("OAUTH2_PROXY_PROVIDER", "gitlab")];
    let errors = load_text(&format!("{MINIMAL}allowed_groups = [\"devs\"]\ngitlab_projects = [\"g/p=25\"]\n"), &env, vec![])
        .unwrap_err()
        .to_string();
    assert!(errors.contains("allowed_groups") && errors.contains("gitlab_groups replaces it"), "{errors}");
    assert!(errors.contains("gitlab_projects") && errors.contains("\"25\" is not 10, 20, 30 or 40"), "{errors}");
    let cfg = load_text(&format!("{MINIMAL}gitlab_groups = [\"devs\"]\ngitlab_projects = [\"g/p=40\"]\n"), &env, vec![]).unwrap().config;
    assert_eq!(cfg.oidc.scope, "openid email read_api");
    assert_eq!(cfg.authz.allowed_groups, ["devs", "project:g/p"]);
}

// === GitHub ===

/// GitHub's users: alice (orgs acme and other, team acme:devs, pushes to acme/app), bob (org
/// acme, team acme:ops, pulls from the public acme/app), carol (no verified primary email),
/// dave (150 organizations, `deep` on the second page; a collaborator of acme/app).
fn github_accounts() -> Vec<GhAccount> {
    let email = |e: &str| vec![(e.to_string(), true, true)];
    let repo = |private, pull, push| [("acme/app".to_string(), (private, pull, push))].into_iter().collect();
    let mut dave_orgs: Vec<String> = (1..150).map(|i| format!("o{i}")).collect();
    dave_orgs.push("deep".into());
    vec![
        GhAccount {
            login: "alice".into(),
            emails: email("alice@example.com"),
            orgs: vec!["acme".into(), "other".into()],
            teams: vec![("acme".into(), "devs".into())],
            repos: repo(false, true, true),
        },
        GhAccount {
            login: "bob".into(),
            emails: email("bob@example.org"),
            orgs: vec!["acme".into()],
            teams: vec![("acme".into(), "ops".into())],
            repos: repo(false, true, false),
        },
        GhAccount {
            login: "carol".into(),
            emails: vec![("carol@old.example".into(), true, false), ("carol@example.com".into(), false, true)],
            ..GhAccount::default()
        },
        GhAccount { login: "dave".into(), emails: email("dave@example.com"), orgs: dave_orgs, ..GhAccount::default() },
    ]
}

/// oauth2-proxy and Gatehouse on one GitHub stand-in, with `extra` beside its provider lines.
fn github_pair(gh: &GitHub, api: &str, extra: &str) -> Vec<(Peer, Running, Upstream)> {
    let common = format!("{}{extra}", gh.config(api));
    [Peer::OAuth2Proxy, Peer::Gatehouse]
        .into_iter()
        .map(|peer| {
            let (port, app) = (free_port(), Upstream::start());
            // GitHub is no OpenID Provider: no issuer, and (like most GitHub apps) no PKCE.
            let text: String = config_text("", &app, port, &common)
                .lines()
                .filter(|l| !l.starts_with("oidc_issuer_url") && !l.starts_with("code_challenge_method"))
                .map(|l| format!("{l}\n"))
                .collect();
            (peer, run(peer, &text, port, &format!("{peer:?} with {extra:?}")), app)
        })
        .collect()
}

/// Who may log in, with which user, email and groups: `github_org`, `github_team` (with and
/// without the org), `github_repo` (the user's own access, or `github_token`'s collaborator
/// check), `github_users`, `allowed_groups` on GitHub's groups, organizations on a second page,
/// an email that is not primary and verified, and GitHub Enterprise's `/api/v3` API; in both,
/// on the same stand-in. oauth2-proxy answers a refusal by GitHub's rules with 500, Gatehouse
/// with 403 (README "Differences").
#[actix_web::test]
async fn github_logins_behave_like_oauth2_proxy() {
    let gh = GitHub::start(github_accounts(), &[("acme/app", &["dave"])]);
    let token = crate::support::github::ADMIN_TOKEN;
    for (api, extra) in [
        ("/", String::new()),
        ("/api/v3/", String::new()),
        ("/", "github_org = \"acme\"\n".into()),
        ("/", "github_org = \"ACME\"\ngithub_team = \"Devs, ops2\"\n".into()),
        ("/", "github_team = \"acme:ops\"\n".into()),
        ("/", "github_team = \"ops\"\n".into()),
        ("/", "github_repo = \"acme/app\"\n".into()),
        ("/", format!("github_repo = \"acme/app\"\ngithub_token = \"{token}\"\n")),
        ("/", "github_users = [\"bob\"]\ngithub_org = \"other\"\n".into()),
        ("/", "github_users = [\"bob\"]\n".into()),
        ("/", "github_org = \"deep\"\n".into()),
        ("/", "allowed_groups = [\"acme:devs\", \"deep\"]\n".into()),
    ] {
        let pair = github_pair(&gh, api, &format!("{extra}set_xauthrequest = true\n"));
        let mut seen = Vec::new();
        for (peer, run, _) in &pair {
            let mut out = Vec::new();
            for account in ["alice", "bob", "carol", "dave"] {
                let mut browser = Browser::new(None);
                let r = browser.login(&format!("{}/oauth2/start?rd=%2F", run.base), account).await;
                if *peer == Peer::Gatehouse && r.status != 302 {
                    assert_eq!(r.status, 403, "{account} with {extra:?}: Gatehouse refuses with 403\n{}", run.log());
                }
                out.push(format!("{account} login {}", if r.status == 302 { "in" } else { "refused" }));
                let r = browser.get(&format!("{}/oauth2/userinfo", run.base)).await;
                out.push(format!("{account} userinfo {} {}", r.status, r.body.trim()));
                let r = browser.get(&format!("{}/oauth2/auth", run.base)).await;
                let header = |n: &str| r.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
                let groups = header("x-auth-request-groups");
                out.push(format!(
                    "{account} auth {} {} {} {}",
                    r.status,
                    header("x-auth-request-user"),
                    header("x-auth-request-email"),
                    groups.len()
                ));
            }
            seen.push(out);
        }
        assert_eq!(seen[0], seen[1], "{api} {extra}: oauth2-proxy (left) and Gatehouse (right):\n{}", pair[1].1.log());
    }
}

/// A GitHub session is revalidated when `cookie_refresh` is due (GitHub's tokens are never
/// refreshed): `validate_url` accepts the token and the session goes on; once the user
/// revokes the app, it ends, in both.
#[actix_web::test]
async fn a_github_session_is_revalidated_like_oauth2_proxys() {
    let gh = GitHub::start(github_accounts(), &[]);
    let pair = github_pair(&gh, "/", "cookie_refresh = \"1s\"\n");
    let mut browsers = Vec::new();
    for (peer, run, _) in &pair {
        let mut browser = Browser::new(None);
        assert_eq!(browser.login(&format!("{}/oauth2/start?rd=/", run.base), "alice").await.status, 302, "{peer:?} login");
        browsers.push(browser);
    }
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    let validations = gh.asked().iter().filter(|p| *p == "/?").count();
    for ((peer, run, _), browser) in pair.iter().zip(&mut browsers) {
        assert_eq!(browser.get(&format!("{}/oauth2/auth", run.base)).await.status, 202, "{peer:?} revalidated:\n{}", run.log());
    }
    assert_eq!(gh.asked().iter().filter(|p| *p == "/?").count(), validations + 2, "one revalidation each");
    gh.revoke("alice");
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    for ((peer, run, _), browser) in pair.iter().zip(&mut browsers) {
        assert_eq!(browser.get(&format!("{}/oauth2/auth", run.base)).await.status, 401, "{peer:?} after a revocation:\n{}", run.log());
    }
}

/// github options outside provider = "github", OpenID Connect options beside it, a repository
/// that is not owner/name and a github_token without a repository are errors; GitHub's
/// endpoints and scope are the defaults.
#[test]
fn github_options_are_checked() {
    let errors = load_text(&format!("{MINIMAL}github_org = \"acme\"\n"), &[], vec![]).unwrap_err().to_string();
    assert!(errors.contains("github_org") && errors.contains("only used by the github provider"), "{errors}");
    let env = [("OAUTH2_PROXY_PROVIDER", "github")];
    let text = format!("{MINIMAL}github_repo = \"acme\"\ngithub_token = \"t\"\nskip_jwt_bearer_tokens = true\n");
    let errors = load_text(&text, &env, vec![]).unwrap_err().to_string();
    for (key, problem) in [
        ("oidc_issuer_url", "GitHub speaks plain OAuth 2.0"),
        ("github_repo", "is not owner/name"),
        ("skip_jwt_bearer_tokens", "GitHub issues no JWTs"),
    ] {
        assert!(errors.contains(key) && errors.contains(problem), "{key}: {errors}");
    }
    let text: String = MINIMAL.lines().filter(|l| !l.starts_with("oidc_issuer_url")).map(|l| format!("{l}\n")).collect();
    let cfg = load_text(&format!("{text}github_token = \"t\"\n"), &env, vec![]).unwrap_err().to_string();
    assert!(cfg.contains("github_token") && cfg.contains("without github_repo"), "{cfg}");
    let cfg = load_text(&text, &env, vec![]).unwrap().config;
    assert_eq!(cfg.oidc.scope, "user:email read:org");
    assert_eq!(cfg.oidc.login_url.unwrap().as_str(), "https://github.com/login/oauth/authorize");
    assert_eq!(cfg.oidc.validate_url.unwrap().as_str(), "https://api.github.com/");
}

// === Microsoft Entra ID ===

/// Entra-shaped accounts: alice (tenant t1, one group in the token), bob (tenant t1, in 150
/// groups: too many for the token, so it points at Graph), carol (tenant t2), dave (no
/// tenant at all).
fn entra_accounts() -> Value {
    let overage = json!({"groups": "src1"});
    let sources = json!({"src1": {"endpoint": "https://graph.windows.net/t1/users/bob/getMemberObjects"}});
    json!([
        {"id": "alice", "claims": {"email": "alice@example.com", "email_verified": true, "tid": "t1", "groups": ["g-a"]}},
        {"id": "bob", "claims": {"email": "bob@example.org", "email_verified": true, "tid": "t1", "_claim_names": overage, "_claim_sources": sources}},
        {"id": "carol", "claims": {"email": "carol@example.com", "email_verified": true, "tid": "t2", "groups": ["g-a"]}},
        {"id": "dave", "claims": {"email": "dave@example.com", "email_verified": true, "groups": ["g-a"]}}
    ])
}

/// provider = "entra-id": a token without a tenant is refused, `entra_id_allowed_tenants`
/// narrows the tenants, and a user in too many groups for the token gets them from Microsoft
/// Graph (every page), where `allowed_groups` finds one on the second page; then a refresh. In
/// both, on the same provider and the same Graph: oauth2-proxy reaches its fixed
/// graph.microsoft.com through a CONNECT proxy, Gatehouse through `microsoft_graph_url`.
#[actix_web::test]
async fn entra_id_logins_behave_like_oauth2_proxy() {
    let pki = tempfile::tempdir().unwrap();
    crate::support::test_pki(pki.path());
    let bob_groups: Vec<String> = (0..150).map(|i| format!("g-{i}")).collect();
    let graph = Cloud::start(pki.path(), [("bob".to_string(), bob_groups)].into_iter().collect(), Workspace::default());
    let proxy = ConnectProxy::start(graph.port);
    let ca = pki.path().join("ca.pem").display().to_string();
    for extra in [
        "provider = \"entra-id\"\n".to_string(),
        "provider = \"entra-id\"\nentra_id_allowed_tenants = [\"t1\"]\n".into(),
        "provider = \"entra-id\"\nallowed_groups = [\"g-120\"]\n".into(),
    ] {
        let ports = [free_port(), free_port()];
        let op = crate::differential::provider(
            &ports,
            &json!({"jwt_access_tokens": true, "access_token_ttl": 60, "accounts": entra_accounts()}),
        );
        let common = format!("{extra}cookie_refresh = \"1s\"\nset_xauthrequest = true\n");
        let proxy_env = format!("http://127.0.0.1:{}", proxy.port);
        let mut runs = Vec::new();
        for (peer, port) in [(Peer::OAuth2Proxy, ports[0]), (Peer::Gatehouse, ports[1])] {
            let app = Upstream::start();
            let own = match peer {
                Peer::OAuth2Proxy => String::new(),
                Peer::Gatehouse => format!("microsoft_graph_url = \"https://localhost:{}\"\nprovider_ca_files = [\"{ca}\"]\n", graph.port),
            };
            let text = config_text(&op.issuer, &app, port, &format!("{common}{own}"));
            let env = [("HTTPS_PROXY", proxy_env.as_str()), ("SSL_CERT_FILE", ca.as_str())];
            let env: &[(&str, &str)] = if peer == Peer::OAuth2Proxy { &env } else { &[] };
            let running = try_run_env(peer, &text, None, port, env).unwrap_or_else(|(how, log)| panic!("{peer:?} {how}:\n{log}"));
            runs.push((peer, running, app));
        }
        crate::differential::ready(&runs[1].1).await;
        let mut seen = Vec::new();
        for (_, run, _) in &runs {
            let mut out = Vec::new();
            for account in ["alice", "bob", "carol", "dave"] {
                let mut browser = Browser::new(None);
                let r = browser.login(&format!("{}/oauth2/start?rd=%2F", run.base), account).await;
                out.push(format!("{account} login {}", r.status));
                let r = browser.get(&format!("{}/oauth2/userinfo", run.base)).await;
                let info: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                out.push(format!("{account} userinfo {} {} {}", r.status, info["email"], info["groups"].as_array().map_or(0, Vec::len)));
                if r.status == 200 {
                    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
                    let r = browser.get(&format!("{}/oauth2/auth", run.base)).await;
                    let groups = r.headers.iter().find(|(k, _)| k == "x-auth-request-groups").map_or(0, |(_, v)| v.split(',').count());
                    out.push(format!("{account} after a refresh {} {groups}", r.status));
                }
            }
            seen.push(out);
        }
        // Intended (README "Differences"): oauth2-proxy keeps a refreshed ID token's groups
        // only, so an overage user loses the Graph groups at the first refresh (and with them
        // `allowed_groups`); Gatehouse reads them from Graph again.
        let theirs: Vec<String> = seen[0]
            .iter()
            .map(|line| match line.as_str() {
                "bob after a refresh 202 0" | "bob after a refresh 401 0" => "bob after a refresh 202 150".to_string(),
                other => other.to_string(),
            })
            .collect();
        assert_ne!(theirs, seen[0], "{extra}: oauth2-proxy still loses the overage groups at a refresh");
        assert_eq!(theirs, seen[1], "{extra}: oauth2-proxy (left) and Gatehouse (right):\n{}", runs[1].1.log());
    }
    assert!(graph.asked().iter().any(|q| q.contains("skiptoken=100")), "Graph's second page was read: {:?}", graph.asked());
}

// === Google ===

/// A Google service account: its key pair made with openssl in `dir`, and its key file
/// naming `token_uri`; the Workspace that knows its public key.
fn google_account(dir: &std::path::Path, token_uri: &str) -> (std::path::PathBuf, Workspace) {
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key && openssl pkey -in sa.key -pubout -out sa.pub")
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (Debian: apt-get install openssl)")
        .success();
    assert!(ok, "openssl made no service account key");
    let key = std::fs::read_to_string(dir.join("sa.key")).unwrap();
    let file = dir.join("sa.json");
    let json = json!({
        "type": "service_account", "project_id": "test", "private_key_id": "k1", "private_key": key,
        "client_email": "gatehouse@test.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri
    });
    std::fs::write(&file, json.to_string()).unwrap();
    let alice_in: Vec<(String, Vec<String>)> =
        (0..250).map(|i| (format!("team-{i:03}@example.com"), vec!["alice@example.com".to_string()])).collect();
    let mut members: std::collections::HashMap<String, Vec<String>> = alice_in.into_iter().collect();
    members.insert("admins@example.com".into(), vec!["alice@example.com".into()]);
    members.insert("staff@example.com".into(), vec!["alice@example.com".into(), "bob@example.org".into()]);
    let workspace = Workspace {
        members,
        account_key: std::fs::read(dir.join("sa.pub")).unwrap(),
        account: "gatehouse@test.iam.gserviceaccount.com".into(),
        admin: "admin@example.com".into(),
        // Not the narrowest scope: the first one asked for is refused, as Google refuses it.
        scopes: vec!["https://www.googleapis.com/auth/admin.directory.group.readonly".into()],
        token_uri: token_uri.into(),
    };
    (file, workspace)
}

/// provider = "google": Google's ID token (verified email required, the subject as user),
/// offline access, the token checked at `validate_url` (Google's tokeninfo shape); with a
/// service account, `google_groups` membership (`hasMember`) or every group of the user (two
/// pages); then a refresh. In both, on the same provider and the same Directory API:
/// oauth2-proxy reaches its fixed admin.googleapis.com through a CONNECT proxy, Gatehouse
/// through `google_admin_api_url`. Then bob leaves his only allowed group: both end his session
/// at the next refresh.
#[actix_web::test]
async fn google_logins_behave_like_oauth2_proxy() {
    let pki = tempfile::tempdir().unwrap();
    crate::support::test_pki(pki.path());
    let port = free_port();
    let placeholder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    drop(placeholder);
    let (key_file, workspace) = google_account(pki.path(), &format!("https://localhost:{port}/token"));
    let cloud = Cloud::start_on(pki.path(), port, Default::default(), workspace);
    let proxy = ConnectProxy::start(cloud.port);
    let ca = pki.path().join("ca.pem").display().to_string();
    let sa = format!("google_service_account_json = \"{}\"\ngoogle_admin_email = \"admin@example.com\"\n", key_file.display());
    for extra in [
        String::new(),
        format!("{sa}google_groups = [\"admins@example.com\", \"staff@example.com\", \"nobody@example.com\"]\n"),
        sa.clone(),
    ] {
        let ports = [free_port(), free_port()];
        let uris: Vec<String> = ports.iter().map(|p| format!("http://localhost:{p}/oauth2/callback")).collect();
        let clients = json!([{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": uris, "token_endpoint_auth_method": "client_secret_post"}]);
        let op = crate::support::op::Op::start(json!({"clients": clients, "query_access_tokens": true, "access_token_ttl": 60}));
        let i = &op.issuer;
        let common = format!(
            "provider = \"google\"\nlogin_url = \"{i}/auth\"\nredeem_url = \"{i}/token\"\nvalidate_url = \"{i}/me\"\nscope = \"openid profile email\"\n{extra}cookie_refresh = \"1s\"\nset_xauthrequest = true\n"
        );
        let proxy_env = format!("http://127.0.0.1:{}", proxy.port);
        let mut runs = Vec::new();
        for (peer, port) in [(Peer::OAuth2Proxy, ports[0]), (Peer::Gatehouse, ports[1])] {
            let app = Upstream::start();
            let own = match peer {
                Peer::Gatehouse if !extra.is_empty() => {
                    format!("google_admin_api_url = \"https://localhost:{}\"\nprovider_ca_files = [\"{ca}\"]\n", cloud.port)
                }
                _ => String::new(),
            };
            let text = config_text(&op.issuer, &app, port, &format!("{common}{own}"));
            let env = [("HTTPS_PROXY", proxy_env.as_str()), ("SSL_CERT_FILE", ca.as_str())];
            let env: &[(&str, &str)] = if peer == Peer::OAuth2Proxy { &env } else { &[] };
            let running = try_run_env(peer, &text, None, port, env).unwrap_or_else(|(how, log)| panic!("{peer:?} {how}:\n{log}"));
            runs.push((peer, running, app));
        }
        crate::differential::ready(&runs[1].1).await;
        let mut seen = Vec::new();
        let mut bobs = Vec::new();
        for (_, run, _) in &runs {
            let mut out = Vec::new();
            for account in ["alice", "bob", "eve"] {
                let mut browser = Browser::new(None);
                let r = browser.login(&format!("{}/oauth2/start?rd=%2F", run.base), account).await;
                out.push(format!("{account} login {}", r.status));
                let r = browser.get(&format!("{}/oauth2/userinfo", run.base)).await;
                let info: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                out.push(format!(
                    "{account} userinfo {} {} {} {}",
                    r.status,
                    info["user"],
                    info["email"],
                    info["groups"].as_array().map_or(0, Vec::len)
                ));
                if r.status == 200 {
                    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
                    let r = browser.get(&format!("{}/oauth2/auth", run.base)).await;
                    let groups = r.headers.iter().find(|(k, _)| k == "x-auth-request-groups").map_or(0, |(_, v)| v.split(',').count());
                    out.push(format!("{account} after a refresh {} {groups}", r.status));
                }
                if account == "bob" {
                    bobs.push(browser);
                }
            }
            seen.push(out);
        }
        assert_eq!(seen[0], seen[1], "{extra}: oauth2-proxy (left) and Gatehouse (right):\n{}", runs[1].1.log());
        if extra.contains("google_groups") {
            // bob leaves staff, his only allowed group: at the next refresh.
            cloud.workspace.lock().unwrap().members.get_mut("staff@example.com").unwrap().retain(|m| m != "bob@example.org");
            actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
            let mut after = Vec::new();
            for ((_, run, _), browser) in runs.iter().zip(&mut bobs) {
                after.push(browser.get(&format!("{}/oauth2/auth", run.base)).await.status);
            }
            assert_eq!(after, [401, 401], "both end bob's session at the refresh:\n{}", runs[1].1.log());
        }
    }
}

/// `provider` unset is google (no issuer needed: Google's), with offline access and `openid`
/// always asked for; the service account options go together, are only google's, and
/// `google_groups` needs them and replaces `allowed_groups`; a bad key file is named.
#[test]
fn google_options_are_checked() {
    let text: String =
        MINIMAL.lines().filter(|l| !l.starts_with("provider") && !l.starts_with("oidc_issuer_url")).map(|l| format!("{l}\n")).collect();
    let cfg = load_text(&format!("{text}scope = \"profile email\"\n"), &[], vec![]).unwrap().config;
    assert_eq!(cfg.oidc.kind, gatehouse::oidc::ProviderKind::Google);
    assert_eq!(cfg.oidc.issuer_url_raw, "https://accounts.google.com");
    assert_eq!(cfg.oidc.scope, "openid profile email");
    assert!(cfg.oidc.login_params.iter().any(|p| p.name == "access_type" && p.default == ["offline"]));
    assert_eq!(cfg.oidc.validate_url.unwrap().as_str(), "https://www.googleapis.com/oauth2/v1/tokeninfo");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("sa.json");
    std::fs::write(&bad, "{\"type\": \"service_account\"}").unwrap();
    let errors =
        load_text(&format!("{text}google_groups = [\"g@example.com\"]\nallowed_groups = [\"x\"]\n"), &[], vec![]).unwrap_err().to_string();
    assert!(errors.contains("google_groups") && errors.contains("needs google_service_account_json"), "{errors}");
    assert!(errors.contains("allowed_groups") && errors.contains("google_groups replaces it"), "{errors}");
    let errors = load_text(&format!("{text}google_admin_email = \"a@example.com\"\n"), &[], vec![]).unwrap_err().to_string();
    assert!(errors.contains("without google_service_account_json"), "{errors}");
    let text_bad = format!("{text}google_admin_email = \"a@example.com\"\ngoogle_service_account_json = \"{}\"\n", bad.display());
    let errors = load_text(&text_bad, &[], vec![]).unwrap_err().to_string();
    assert!(errors.contains("google_service_account_json") && errors.contains("is not a service account key file"), "{errors}");
    let errors = load_text(&format!("{MINIMAL}google_admin_email = \"a@example.com\"\n"), &[], vec![]).unwrap_err().to_string();
    assert!(errors.contains("only used by the google provider"), "{errors}");
}
