//! Providers beyond generic OIDC, each against a local stand-in that speaks its API, and each
//! scenario run through the real oauth2-proxy v7.15.6 on the same stand-in too: the outcomes
//! must agree (README "Providers").

use serde_json::{Value, json};

use crate::differential::{Peer, Running, keycloak_accounts, provider, ready, start};
use crate::support::browser::Browser;
use crate::support::op::Op;
use crate::support::peers::Upstream;
use crate::support::{MINIMAL, free_port, load_text, send};

/// oauth2-proxy and Gatehouse on one provider with the same configuration `extra`.
struct Both {
    op: Op,
    runs: Vec<(Peer, Running)>,
    _apps: Vec<Upstream>,
}

async fn both(op_extra: Value, extra: &str) -> Both {
    let ports = [free_port(), free_port()];
    let op = provider(&ports, &op_extra);
    let apps = vec![Upstream::start(), Upstream::start()];
    let runs = vec![
        (Peer::OAuth2Proxy, start(Peer::OAuth2Proxy, &op, &apps[0], ports[0], extra)),
        (Peer::Gatehouse, start(Peer::Gatehouse, &op, &apps[1], ports[1], extra)),
    ];
    ready(&runs[1].1).await;
    Both { op, runs, _apps: apps }
}

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
