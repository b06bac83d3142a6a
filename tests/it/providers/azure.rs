//! The legacy Azure AD provider (`provider = "azure"`), on an Azure-shaped OpenID Provider
//! (v1 or v2.0 endpoint paths, every claim in the token, v1's string lifetimes) and the
//! Graph stand-in (`support::cloud`), each scenario through oauth2-proxy too.

use serde_json::{Value, json};

use super::{cloud_pair, logins_and_refreshes};
use crate::support::cloud::{Cloud, ConnectProxy, Workspace};
use crate::support::free_port;

/// The client as Azure takes it: credentials in the form (oauth2-proxy's azure sends them so).
fn azure_client(ports: &[u16]) -> Value {
    let uris: Vec<String> = ports.iter().map(|p| format!("http://localhost:{p}/oauth2/callback")).collect();
    json!([{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": uris, "token_endpoint_auth_method": "client_secret_post"}])
}

/// oauth2-proxy's azure never sets the session's user (README "Differences"): where it says
/// `""`, Gatehouse says the ID token's subject.
fn with_subjects(theirs: &[String]) -> Vec<String> {
    theirs
        .iter()
        .map(|line| match line.split_once(" userinfo 200 \"\" ") {
            Some((account, rest)) => format!("{account} userinfo 200 \"{account}\" {rest}"),
            None => line.clone(),
        })
        .collect()
}

/// v1 endpoints, found by discovery: alice's email and group are in the token; dave's ID
/// token has no email, so it comes from the profile (`mail`), erin's from its
/// `userPrincipalName`; `allowed_groups` is met by the token's group; each session is
/// refreshed (v1's lifetimes are strings) and validated at the profile.
#[actix_web::test]
async fn azure_v1_logins_behave_like_oauth2_proxy() {
    let accounts = json!([
        {"id": "alice", "claims": {"email": "alice@example.com", "email_verified": true, "tid": "t1", "groups": ["g-a"]}},
        {"id": "dave", "claims": {"mail": "dave@example.com", "userPrincipalName": "dave@t1.example", "tid": "t1"}},
        {"id": "erin", "claims": {"userPrincipalName": "erin@t1.example", "tid": "t1"}}
    ]);
    let pki = tempfile::tempdir().unwrap();
    crate::support::test_pki(pki.path());
    let ca = pki.path().join("ca.pem").display().to_string();
    let graph = Cloud::start(pki.path(), Default::default(), Workspace::default());
    let proxy = ConnectProxy::start(graph.port);
    for extra in ["", "allowed_groups = [\"g-a\"]\n"] {
        let ports = [free_port(), free_port()];
        let op = crate::differential::provider(
            &ports,
            &json!({"azure": "v1", "jwt_access_tokens": true, "access_token_ttl": 60, "accounts": accounts, "clients": azure_client(&ports)}),
        );
        let common = format!("provider = \"azure\"\nazure_tenant = \"t1\"\n{extra}cookie_refresh = \"1s\"\nset_xauthrequest = true\n");
        let runs = cloud_pair(&op, ports, &common, "", &proxy, &ca);
        crate::differential::ready(&runs[1].1).await;
        let (seen, _) = logins_and_refreshes(&runs, &["alice", "dave", "erin"]).await;
        assert!(seen[0].iter().any(|l| l.contains("userinfo 200 \"\"")), "{extra}: oauth2-proxy's azure still leaves the user empty");
        assert_eq!(with_subjects(&seen[0]), seen[1], "{extra}: oauth2-proxy (left) and Gatehouse (right):\n{}", runs[1].1.log());
        if extra.is_empty() {
            assert!(seen[1].iter().any(|l| l.starts_with("dave userinfo 200") && l.contains("dave@example.com")), "{:?}", seen[1]);
        }
    }
}

/// v2.0 endpoints: the groups come from Microsoft Graph (security groups only, every page,
/// named by `azure_graph_group_field`), beside the token's; a user without an email in the
/// token gets the profile's (Graph's `/me`). Both reach Graph at `profile_url`'s host.
#[actix_web::test]
async fn azure_v2_logins_read_graph_like_oauth2_proxy() {
    let accounts = json!([
        {"id": "alice", "claims": {"email": "alice@example.com", "email_verified": true, "tid": "t1"}},
        {"id": "bob", "claims": {"email": "bob@example.com", "email_verified": true, "tid": "t1", "groups": ["g-a"]}},
        {"id": "dave", "claims": {"tid": "t1"}}
    ]);
    let pki = tempfile::tempdir().unwrap();
    crate::support::test_pki(pki.path());
    let ca = pki.path().join("ca.pem").display().to_string();
    let mut alice: Vec<String> = (0..150).map(|i| format!("g-{i}")).collect();
    alice.push("m-newsletter".into());
    let groups = [("alice".to_string(), alice), ("bob".to_string(), vec!["g-1".to_string()])].into_iter().collect();
    let graph = Cloud::start(pki.path(), groups, Workspace::default());
    for (sub, profile) in [
        ("alice", json!({"id": "a1", "mail": "alice@example.com", "userPrincipalName": "alice@t1.example"})),
        ("bob", json!({"id": "b1", "mail": "bob@example.com", "userPrincipalName": "bob@t1.example"})),
        ("dave", json!({"id": "d1", "mail": null, "otherMails": ["dave@example.com"], "userPrincipalName": "dave@t1.example"})),
    ] {
        graph.profiles.lock().unwrap().insert(sub.into(), profile);
    }
    let proxy = ConnectProxy::start(graph.port);
    for extra in [
        "".to_string(),
        "allowed_groups = [\"g-120\"]\n".into(),
        "azure_graph_group_field = \"displayName\"\nallowed_groups = [\"name-of-g-120\", \"name-of-g-1\"]\n".into(),
    ] {
        let ports = [free_port(), free_port()];
        let op = crate::differential::provider(
            &ports,
            &json!({"azure": "v2", "jwt_access_tokens": true, "access_token_ttl": 60, "accounts": accounts, "clients": azure_client(&ports)}),
        );
        let i = &op.issuer;
        let common = format!(
            "provider = \"azure\"\nskip_oidc_discovery = true\nlogin_url = \"{i}/oauth2/v2.0/authorize\"\nredeem_url = \"{i}/oauth2/v2.0/token\"\noidc_jwks_url = \"{i}/jwks\"\nprofile_url = \"https://localhost:{}/v1.0/me\"\n{extra}cookie_refresh = \"1s\"\nset_xauthrequest = true\n",
            graph.port
        );
        let own = format!("provider_ca_files = [\"{ca}\"]\n");
        let runs = cloud_pair(&op, ports, &common, &own, &proxy, &ca);
        crate::differential::ready(&runs[1].1).await;
        let (seen, _) = logins_and_refreshes(&runs, &["alice", "bob", "dave"]).await;
        // Intended (README "Differences"): oauth2-proxy's azure takes a session's lifetime from
        // v1's `expires_on` only, which v2.0 does not send, so its v2.0 sessions count as
        // expired at their first refresh; Gatehouse reads `expires_in` and keeps them, with
        // the groups read from Graph again.
        let (logins, refreshes): (Vec<String>, Vec<String>) =
            with_subjects(&seen[0]).into_iter().partition(|l| !l.contains("after a refresh"));
        let (ours, our_refreshes): (Vec<String>, Vec<String>) = seen[1].iter().cloned().partition(|l| !l.contains("after a refresh"));
        assert_eq!(logins, ours, "{extra}: oauth2-proxy (left) and Gatehouse (right):\n{}", runs[1].1.log());
        assert!(refreshes.iter().all(|l| l.ends_with(" 401 0")) && runs[0].1.log().contains("session is expired"), "{refreshes:?}");
        for line in &our_refreshes {
            let (account, groups) = line.split_once(" after a refresh 202 ").unwrap_or_else(|| panic!("{line}:\n{}", runs[1].1.log()));
            let at_login = ours.iter().find(|l| l.starts_with(&format!("{account} userinfo"))).unwrap();
            assert!(at_login.ends_with(&format!(" {groups}")), "{account}: the refresh read the same groups ({line}, {at_login})");
        }
        assert_eq!(refreshes.len(), our_refreshes.len());
    }
    let asked = graph.asked();
    assert!(asked.iter().any(|q| q.contains("skiptoken=100")), "Graph's second page was read: {asked:?}");
    assert!(asked.iter().filter(|q| *q != "/me").all(|q| q.contains("securityEnabled")), "only security groups are asked for: {asked:?}");
}

/// A v2.0 session without a refresh token (no `offline_access`) is validated at the profile
/// once per `cookie_refresh`, not on every request (oauth2-proxy asks on every request once it
/// is due, and counts the session expired then: README "Differences"); once the profile no
/// longer answers for the token, the session ends, and a login is refused.
#[actix_web::test]
async fn an_azure_session_without_a_refresh_token_is_revalidated_once_per_period() {
    let pki = tempfile::tempdir().unwrap();
    crate::support::test_pki(pki.path());
    let ca = pki.path().join("ca.pem").display().to_string();
    let graph = Cloud::start(pki.path(), Default::default(), Workspace::default());
    graph.profiles.lock().unwrap().insert("alice".into(), json!({"id": "a1", "mail": "alice@example.com"}));
    let accounts = json!([{"id": "alice", "claims": {"email": "alice@example.com", "email_verified": true, "tid": "t1"}}]);
    let port = free_port();
    let op = crate::differential::provider(
        &[port],
        &json!({"azure": "v2", "jwt_access_tokens": true, "refresh_tokens": false, "accounts": accounts, "clients": azure_client(&[port])}),
    );
    let i = &op.issuer;
    let app = crate::support::peers::Upstream::start();
    let extra = format!(
        "provider = \"azure\"\nskip_oidc_discovery = true\nlogin_url = \"{i}/oauth2/v2.0/authorize\"\nredeem_url = \"{i}/oauth2/v2.0/token\"\noidc_jwks_url = \"{i}/jwks\"\nprofile_url = \"https://localhost:{}/v1.0/me\"\nprovider_ca_files = [\"{ca}\"]\ncookie_refresh = \"1s\"\n",
        graph.port
    );
    let run = crate::differential::start(crate::differential::Peer::Gatehouse, &op, &app, port, &extra);
    crate::differential::ready(&run).await;
    let mut browser = crate::support::browser::Browser::new(None);
    assert_eq!(browser.login(&format!("{}/oauth2/start?rd=%2F", run.base), "alice").await.status, 302, "{}", run.log());
    let profile_asks = || graph.asked().iter().filter(|q| *q == "/me").count();
    let before = profile_asks();
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    for _ in 0..3 {
        assert_eq!(browser.get(&format!("{}/oauth2/auth", run.base)).await.status, 202, "{}", run.log());
    }
    assert_eq!(profile_asks(), before + 1, "one validation for the period, not one per request");
    graph.profiles.lock().unwrap().clear();
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(browser.get(&format!("{}/oauth2/auth", run.base)).await.status, 401, "the profile refused the token: the session ends");
    // As oauth2-proxy's callback (`ValidateSession`, 403): a login the profile refuses.
    let mut again = crate::support::browser::Browser::new(None);
    assert_eq!(again.login(&format!("{}/oauth2/start?rd=%2F", run.base), "alice").await.status, 403, "{}", run.log());
}

/// The authorization request as oauth2-proxy builds it: v1 (found by discovery) carries
/// `resource`; v2.0 (the login URL says so) drops `groups` from the scope, adds Graph's
/// `.default` on the profile's host, and never sends `resource`. Every parameter but the
/// random ones is compared by value.
#[actix_web::test]
async fn azure_authorization_requests_behave_like_oauth2_proxy() {
    use crate::differential::{Peer, try_run};
    let op = crate::differential::provider(&[], &json!({"azure": "v1"}));
    let i = &op.issuer;
    let request = |location: &str| -> Vec<(String, String)> {
        let url = url::Url::parse(location).unwrap();
        let mut q: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let random = ["state", "nonce", "code_challenge"].contains(&k.as_ref());
                (k.into_owned(), if random { "*".into() } else { v.into_owned() })
            })
            .collect();
        q.sort();
        q.insert(0, ("path".into(), url.path().into()));
        q
    };
    for extra in [
        "resource = \"https://api.example\"\n".to_string(),
        format!(
            "skip_oidc_discovery = true\nlogin_url = \"{i}/oauth2/v2.0/authorize\"\nredeem_url = \"{i}/oauth2/v2.0/token\"\noidc_jwks_url = \"{i}/jwks\"\nprofile_url = \"https://localhost:8443/v1.0/me\"\nscope = \"openid email groups\"\nresource = \"https://api.example\"\n"
        ),
    ] {
        let mut seen = Vec::new();
        for peer in [Peer::OAuth2Proxy, Peer::Gatehouse] {
            let port = free_port();
            let text = format!(
                "provider = \"azure\"\noidc_issuer_url = \"{i}\"\nclient_id = \"gatehouse\"\nclient_secret = \"gatehouse-secret\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\ncookie_secure = false\nupstreams = [\"static://200\"]\nhttp_address = \"127.0.0.1:{port}\"\nredirect_url = \"http://localhost:4180/oauth2/callback\"\n{extra}"
            );
            let run = try_run(peer, &text, port).unwrap_or_else(|(how, log)| panic!("{peer:?} {how}:\n{log}"));
            if peer == Peer::Gatehouse {
                crate::differential::ready(&run).await;
            }
            let (status, headers, _) = crate::support::send("GET", &format!("{}/oauth2/start?rd=%2Fx", run.base), &[]).await;
            let location = crate::support::header(&headers, "location").unwrap_or_default().to_string();
            assert_eq!(status, 302, "{peer:?}: {location}\n{}", run.log());
            seen.push(request(&location));
        }
        // Intended (README "Differences"): oauth2-proxy's azure sends no nonce (and so checks
        // none); Gatehouse sends and checks one, as for every OpenID Provider.
        let nonce = ("nonce".to_string(), "*".to_string());
        assert!(!seen[0].contains(&nonce) && seen[1].contains(&nonce), "{seen:?}");
        seen[1].retain(|p| *p != nonce);
        assert_eq!(seen[0], seen[1], "{extra}: oauth2-proxy (left) and Gatehouse (right)");
        let scope = seen[1].iter().find(|(k, _)| k == "scope").map(|(_, v)| v.as_str()).unwrap_or_default();
        if extra.contains("v2.0") {
            assert_eq!(scope, "openid email https://localhost:8443/.default");
            assert!(!seen[1].iter().any(|(k, _)| k == "resource"));
        } else {
            assert!(seen[1].contains(&("resource".into(), "https://api.example".into())), "{:?}", seen[1]);
        }
    }
}

/// Azure's options: the tenant names the default v1 endpoints when discovery is skipped
/// (with discovery it only warns); the group field must be a property name; `resource` goes
/// with azure (and adfs) only; alpha `azureConfig` is read.
#[test]
fn azure_options_are_read_and_checked() {
    let base = "client_id = \"c\"\nclient_secret = \"s\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\n";
    let skip = "skip_oidc_discovery = true\noidc_issuer_url = \"https://sts.windows.net/t1/\"\noidc_jwks_url = \"https://login.microsoftonline.com/t1/discovery/keys\"\n";
    let cfg = crate::support::load_text(
        &format!("{base}provider = \"azure\"\nazure_tenant = \"t1\"\nresource = \"https://api.example\"\n{skip}"),
        &[],
        vec![],
    )
    .unwrap()
    .config;
    assert_eq!(cfg.oidc.login_url.unwrap().as_str(), "https://login.microsoftonline.com/t1/oauth2/authorize");
    assert_eq!(cfg.oidc.redeem_url.unwrap().as_str(), "https://login.microsoftonline.com/t1/oauth2/token");
    assert_eq!(cfg.oidc.scope, "openid");
    let azure = cfg.oidc.azure.unwrap();
    assert_eq!((azure.graph_group_field.as_str(), azure.resource.as_deref()), ("id", Some("https://api.example")));

    let discovered = crate::support::load_text(
        &format!("{base}provider = \"azure\"\nazure_tenant = \"t1\"\noidc_issuer_url = \"https://sts.windows.net/t1/\"\n"),
        &[],
        vec![],
    )
    .unwrap();
    assert!(discovered.warnings.iter().any(|w| w.contains("azure_tenant")), "{:?}", discovered.warnings);

    let errors = crate::support::load_text(
        &format!("{base}provider = \"azure\"\nazure_graph_group_field = \"id)\"\noidc_issuer_url = \"https://sts.windows.net/t1/\"\n"),
        &[],
        vec![],
    )
    .unwrap_err()
    .to_string();
    assert!(errors.contains("azure_graph_group_field"), "{errors}");
    let errors = crate::support::load_text(&format!(
        "{base}provider = \"oidc\"\noidc_issuer_url = \"https://i.example\"\nazure_graph_group_field = \"displayName\"\nazure_tenant = \"t1\"\n"
    ), &[], vec![])
    .unwrap_err()
    .to_string();
    assert!(errors.contains("azure_graph_group_field") && errors.contains("azure_tenant"), "{errors}");

    let alpha = "providers:\n  - id: az\n    provider: azure\n    clientID: c\n    clientSecret: s\n    oidcConfig: {issuerURL: 'https://login.microsoftonline.com/t1/v2.0'}\n    azureConfig: {tenant: t1, graphGroupField: displayName}\n";
    let cfg =
        crate::support::load_alpha("cookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\n", alpha)
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
    assert_eq!(cfg.oidc.azure.unwrap().graph_group_field, "displayName");
}
