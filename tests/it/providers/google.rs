//! Google, on a Google-shaped OpenID Provider and the Directory API stand-in
//! (`support::cloud`), each scenario through oauth2-proxy too.

use serde_json::json;

use super::{cloud_pair, logins_and_refreshes};
use crate::support::cloud::{Cloud, ConnectProxy, Workspace};
use crate::support::{MINIMAL, free_port, load_text};

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
        let own = if extra.is_empty() {
            String::new()
        } else {
            format!("google_admin_api_url = \"https://localhost:{}\"\nprovider_ca_files = [\"{ca}\"]\n", cloud.port)
        };
        let runs = cloud_pair(&op, ports, &common, &own, &proxy, &ca);
        crate::differential::ready(&runs[1].1).await;
        let (seen, mut browsers) = logins_and_refreshes(&runs, &["alice", "bob", "eve"]).await;
        assert_eq!(seen[0], seen[1], "{extra}: oauth2-proxy (left) and Gatehouse (right):\n{}", runs[1].1.log());
        if extra.contains("google_groups") {
            // bob leaves staff, his only allowed group: at the next refresh.
            cloud.workspace.lock().unwrap().members.get_mut("staff@example.com").unwrap().retain(|m| m != "bob@example.org");
            actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
            let mut after = Vec::new();
            for ((_, run, _), kept) in runs.iter().zip(&mut browsers) {
                after.push(kept[1].get(&format!("{}/oauth2/auth", run.base)).await.status);
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
