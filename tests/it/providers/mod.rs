//! Providers beyond generic OIDC, each against a local stand-in that speaks its API, and each
//! scenario run through the real oauth2-proxy v7.15.6 on the same stand-in too: the outcomes
//! must agree (README "Providers").

use serde_json::{Value, json};

use crate::differential::{Peer, Running, both, config_text, keycloak_accounts, try_run_env};
use crate::support::browser::Browser;
use crate::support::cloud::ConnectProxy;
use crate::support::op::Op;
use crate::support::peers::Upstream;
use crate::support::{MINIMAL, load_text, send};

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
    assert_eq!(built, ["oidc", "keycloak-oidc", "gitlab", "google", "entra-id", "azure", "github", "adfs"]);
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

/// oauth2-proxy and Gatehouse on `op` with `common` lines; Gatehouse gets `own` lines too, and
/// oauth2-proxy the environment that takes it to the cloud stand-ins (its fixed Microsoft
/// and Google hosts, through `proxy`, trusting `ca`).
fn cloud_pair(op: &Op, ports: [u16; 2], common: &str, own: &str, proxy: &ConnectProxy, ca: &str) -> Vec<(Peer, Running, Upstream)> {
    let proxy_env = format!("http://127.0.0.1:{}", proxy.port);
    let env = [("HTTPS_PROXY", proxy_env.as_str()), ("SSL_CERT_FILE", ca)];
    let runs: Vec<(Peer, Running, Upstream)> = [(Peer::OAuth2Proxy, ports[0], &env[..], ""), (Peer::Gatehouse, ports[1], &[][..], own)]
        .into_iter()
        .map(|(peer, port, env, own)| {
            let app = Upstream::start();
            let text = config_text(&op.issuer, &app, port, &format!("{common}{own}"));
            let running = try_run_env(peer, &text, None, port, env).unwrap_or_else(|(how, log)| panic!("{peer:?} {how}:\n{log}"));
            (peer, running, app)
        })
        .collect();
    runs
}

/// In each run, each account logs in; what it sees: the login's status, `/oauth2/userinfo`
/// (status, user, email, how many groups) and, when in, `/oauth2/auth` after a refresh
/// (status, how many groups). The browsers stay signed in, per run.
async fn logins_and_refreshes(runs: &[(Peer, Running, Upstream)], accounts: &[&str]) -> (Vec<Vec<String>>, Vec<Vec<Browser>>) {
    let (mut seen, mut browsers) = (Vec::new(), Vec::new());
    for (_, run, _) in runs {
        let (mut out, mut kept) = (Vec::new(), Vec::new());
        for account in accounts {
            let mut browser = Browser::new(None);
            let r = browser.login(&format!("{}/oauth2/start?rd=%2F", run.base), account).await;
            out.push(format!("{account} login {}", r.status));
            let r = browser.get(&format!("{}/oauth2/userinfo", run.base)).await;
            let info: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            let groups = info["groups"].as_array().map_or(0, Vec::len);
            out.push(format!("{account} userinfo {} {} {} {groups}", r.status, info["user"], info["email"]));
            if r.status == 200 {
                actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
                let r = browser.get(&format!("{}/oauth2/auth", run.base)).await;
                let groups = r.headers.iter().find(|(k, _)| k == "x-auth-request-groups").map_or(0, |(_, v)| v.split(',').count());
                out.push(format!("{account} after a refresh {} {groups}", r.status));
            }
            kept.push(browser);
        }
        seen.push(out);
        browsers.push(kept);
    }
    (seen, browsers)
}

mod azure;
mod entra;
mod github;
mod google;
