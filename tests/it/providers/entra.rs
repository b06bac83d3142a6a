//! Microsoft Entra ID, on an Entra-shaped OpenID Provider and the Graph stand-in
//! (`support::cloud`), each scenario through oauth2-proxy too.

use serde_json::{Value, json};

use super::{cloud_pair, logins_and_refreshes};
use crate::support::cloud::{Cloud, ConnectProxy, Workspace};
use crate::support::free_port;

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
        let own = format!("microsoft_graph_url = \"https://localhost:{}\"\nprovider_ca_files = [\"{ca}\"]\n", graph.port);
        let runs = cloud_pair(&op, ports, &common, &own, &proxy, &ca);
        crate::differential::ready(&runs[1].1).await;
        let (seen, _) = logins_and_refreshes(&runs, &["alice", "bob", "carol", "dave"]).await;
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
