//! OpenID Foundation relying-party conformance (issue 23). Each test is named after an RP test
//! ID of the Basic and Config RP profiles for the code flow (`rp-id_token-aud` is
//! `rp_id_token_aud`), plus the rules Core 3.1.3.7 adds that the profiles have no ID for
//! (`azp`, an `iat` in the future). The real provider (oidc-provider) misbehaves the way the
//! case says (`/__test/tamper` for one ID token, `/__test/misbehave` for discovery, keys,
//! userinfo and client authentication), and the same login runs through Gatehouse and through
//! the real oauth2-proxy v7.15.6 with the same configuration.
//!
//! Gatehouse must give the expected outcome, and a refusal must name its rule in Gatehouse's
//! log. oauth2-proxy's outcome is printed beside it (past the test harness's capture, so every
//! run shows the table README "OpenID conformance" lists); it is not judged, since where it
//! differs Gatehouse is the stricter one, on purpose.

use std::io::Write;

use serde_json::{Value, json};

use crate::differential::{Peer, Running, config_text, try_run};
use crate::support::browser::Browser;
use crate::support::free_port;
use crate::support::op::Op;
use crate::support::peers::Upstream;

/// How a login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The callback set a session that `/oauth2/auth` accepts.
    LoggedIn,
    /// No session: the callback's status (or 503 when the provider was never usable).
    Refused(u16),
    /// The proxy refused to start (oauth2-proxy exits when discovery fails).
    DidNotStart,
}

impl Outcome {
    fn logged_in(&self) -> bool {
        *self == Outcome::LoggedIn
    }

    fn show(&self) -> String {
        match self {
            Outcome::LoggedIn => "logged in".into(),
            Outcome::Refused(status) => format!("refused ({status})"),
            Outcome::DidNotStart => "refused (exits at start)".into(),
        }
    }
}

/// One case: how the provider misbehaves and what Gatehouse must do.
struct Case {
    id: &'static str,
    /// Provider configuration (`signing_alg`, `claims_in_id_token`).
    op: Value,
    /// `/__test/misbehave` body, set before either proxy starts.
    misbehave: Value,
    /// An ID token tampering (`/__test/tamper` mode) for the one login.
    tamper: Option<&'static str>,
    /// Configuration lines for both proxies.
    extra: &'static str,
    /// `None`: logged in; `Some(rule)`: refused, with `rule` in Gatehouse's log.
    refused_for: Option<&'static str>,
}

fn case(id: &'static str) -> Case {
    Case { id, op: json!({}), misbehave: json!({}), tamper: None, extra: "", refused_for: None }
}

/// A provider for `case`, knowing both proxies' callbacks.
fn provider(case: &Case, ports: &[u16]) -> Op {
    let uris: Vec<String> = ports.iter().map(|p| format!("http://localhost:{p}/oauth2/callback")).collect();
    let mut cfg = case.op.clone();
    cfg["clients"] = json!([{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": uris}]);
    Op::start(cfg)
}

/// Starts `peer` with the case's configuration; `None` when it exits instead of listening.
fn start(peer: Peer, op: &Op, app: &Upstream, port: u16, extra: &str) -> Option<Running> {
    let text = config_text(&op.issuer, app, port, &format!("set_xauthrequest = true\nrequest_logging = false\n{extra}"));
    try_run(peer, &text, port).ok()
}

/// Waits (briefly) until `base` can start a login; false when the provider stays unusable.
async fn discovered(base: &str) -> bool {
    let client = awc::Client::builder().disable_redirects().finish();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if let Ok(res) = client.get(format!("{base}/oauth2/start")).send().await
            && res.status() != 503
        {
            return true;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Logs alice in at `base` (a tampering armed first), then asks `/oauth2/auth` with the
/// cookies the callback set. The email `/oauth2/auth` answered is returned with a login.
async fn login(op: &Op, base: &str, tamper: Option<&str>) -> (Outcome, Option<String>) {
    if !discovered(base).await {
        return (Outcome::Refused(503), None);
    }
    if let Some(mode) = tamper {
        op.control("POST", "tamper", json!({"mode": mode})).await;
    }
    let mut b = Browser::new(None);
    let callback = b.login(&format!("{base}/oauth2/start?rd=%2F"), "alice").await;
    op.control("POST", "tamper", json!({"mode": "off"})).await;
    let auth = b.get(&format!("{base}/oauth2/auth")).await;
    if auth.status == 202 {
        (Outcome::LoggedIn, auth.header("x-auth-request-email").map(str::to_string))
    } else {
        (Outcome::Refused(callback.status), None)
    }
}

/// One proxy's outcome for `case`, and its log.
async fn outcome(peer: Peer, case: &Case, op: &Op, app: &Upstream, port: u16) -> (Outcome, Option<String>, String) {
    let Some(running) = start(peer, op, app, port, case.extra) else {
        return (Outcome::DidNotStart, None, String::new());
    };
    let (outcome, email) = login(op, &running.base, case.tamper).await;
    (outcome, email, running.log())
}

/// Prints a row of the comparison past the harness's capture.
fn report(id: &str, expected: &str, ours: &Outcome, theirs: &Outcome) {
    let differs = if ours.logged_in() == theirs.logged_in() { "" } else { "  ← differs" };
    let line = format!("conformance {id}: expected {expected}; Gatehouse {}; oauth2-proxy {}{differs}\n", ours.show(), theirs.show());
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Runs `case` through both proxies and judges Gatehouse. Returns the provider for checks of
/// what it saw.
async fn judge(case: Case) -> Op {
    let (ours_port, theirs_port) = (free_port(), free_port());
    let op = provider(&case, &[ours_port, theirs_port]);
    op.control("POST", "misbehave", case.misbehave.clone()).await;
    let app = Upstream::start();
    let (ours, email, log) = outcome(Peer::Gatehouse, &case, &op, &app, ours_port).await;
    let (theirs, _, _) = outcome(Peer::OAuth2Proxy, &case, &op, &app, theirs_port).await;
    let expected = match case.refused_for {
        None => "logged in".to_string(),
        Some(rule) => format!("refused: {rule}"),
    };
    report(case.id, &expected, &ours, &theirs);
    match case.refused_for {
        None => {
            assert!(ours.logged_in(), "{}: Gatehouse did not log alice in ({ours:?}); its log:\n{log}", case.id);
            assert_eq!(email.as_deref(), Some("alice@example.com"), "{}: the identity Gatehouse answered", case.id);
        }
        Some(rule) => {
            assert!(!ours.logged_in(), "{}: Gatehouse logged alice in; its log:\n{log}", case.id);
            assert!(log.contains(rule), "{}: Gatehouse's log does not name the rule {rule:?}:\n{log}", case.id);
        }
    }
    op
}

// --- Basic RP: response type, scopes, client authentication ---------------------------------

/// The provider allows the `code` response type only, so any other request fails this login.
#[actix_web::test]
async fn rp_response_type_code() {
    judge(case("rp-response_type-code")).await;
}

/// The ID token carries only `sub`; the email comes from userinfo.
#[actix_web::test]
async fn rp_scope_userinfo_claims() {
    judge(Case { op: json!({"claims_in_id_token": false}), ..case("rp-scope-userinfo-claims") }).await;
}

#[actix_web::test]
async fn rp_token_endpoint_client_secret_basic() {
    let op = judge(Case { misbehave: json!({"client_auth": "basic"}), ..case("rp-token_endpoint-client_secret_basic") }).await;
    let stats = op.control("GET", "stats", Value::Null).await;
    assert_eq!(stats["last_token_request"]["client_auth"], "basic");
}

/// A provider that takes the client secret only in the form: Gatehouse, like oauth2-proxy,
/// tries HTTP Basic first and then the form, and remembers it.
#[actix_web::test]
async fn rp_token_endpoint_client_secret_post() {
    let op = judge(Case { misbehave: json!({"client_auth": "post"}), ..case("rp-token_endpoint-client_secret_post") }).await;
    let stats = op.control("GET", "stats", Value::Null).await;
    assert_eq!(stats["last_token_request"]["client_auth"], "post");
}

// --- Basic RP: the ID token -------------------------------------------------------------------

#[actix_web::test]
async fn rp_nonce_invalid() {
    judge(Case { tamper: Some("wrong_nonce"), refused_for: Some("the nonce does not match this login"), ..case("rp-nonce-invalid") }).await;
}

/// Not an OpenID Foundation case: the nonce Gatehouse sent is missing from the token.
#[actix_web::test]
async fn nonce_absent() {
    judge(Case { tamper: Some("no_nonce"), refused_for: Some("the nonce does not match this login"), ..case("nonce-absent") }).await;
}

/// `insecure_oidc_skip_nonce = true` (oauth2-proxy's default) still neither sends nor checks it.
#[actix_web::test]
async fn nonce_skipped_when_configured() {
    judge(Case { tamper: Some("wrong_nonce"), extra: "insecure_oidc_skip_nonce = true\n", ..case("nonce-skipped-when-configured") }).await;
}

#[actix_web::test]
async fn rp_id_token_aud() {
    judge(Case { tamper: Some("wrong_aud"), refused_for: Some("the audience does not include this client"), ..case("rp-id_token-aud") })
        .await;
}

/// Core 3.1.3.7 step 4: several audiences and no `azp`.
#[actix_web::test]
async fn azp_missing_with_several_audiences() {
    judge(Case {
        tamper: Some("multi_aud_no_azp"),
        refused_for: Some("its azp is not this client"),
        ..case("azp-missing-with-several-audiences")
    })
    .await;
}

/// Core 3.1.3.7 step 5: an `azp` naming another client.
#[actix_web::test]
async fn azp_of_another_client() {
    judge(Case { tamper: Some("other_azp"), refused_for: Some("its azp is not this client"), ..case("azp-of-another-client") }).await;
}

/// Several audiences with our `azp`: accepted.
#[actix_web::test]
async fn azp_ours_with_several_audiences() {
    judge(Case { tamper: Some("multi_aud_azp"), ..case("azp-ours-with-several-audiences") }).await;
}

#[actix_web::test]
async fn rp_id_token_kid_absent_single_jwks() {
    judge(Case { tamper: Some("kid_absent"), ..case("rp-id_token-kid-absent-single-jwks") }).await;
}

/// No `kid` and three keys published: each key of the token's family is tried.
#[actix_web::test]
async fn rp_id_token_kid_absent_multiple_jwks() {
    judge(Case { tamper: Some("kid_absent"), misbehave: json!({"extra_keys": 2}), ..case("rp-id_token-kid-absent-multiple-jwks") }).await;
}

#[actix_web::test]
async fn rp_id_token_iat() {
    judge(Case { tamper: Some("no_iat"), refused_for: Some("the claim iat is missing"), ..case("rp-id_token-iat") }).await;
}

/// Not an OpenID Foundation case: issued an hour from now.
#[actix_web::test]
async fn iat_in_the_future() {
    judge(Case { tamper: Some("iat_future"), refused_for: Some("issued in the future"), ..case("iat-in-the-future") }).await;
}

#[actix_web::test]
async fn rp_id_token_issuer_mismatch() {
    judge(Case { tamper: Some("wrong_iss"), refused_for: Some("the issuer does not match"), ..case("rp-id_token-issuer-mismatch") }).await;
}

#[actix_web::test]
async fn rp_id_token_sub() {
    judge(Case { tamper: Some("no_sub"), refused_for: Some("the claim sub is missing"), ..case("rp-id_token-sub") }).await;
}

#[actix_web::test]
async fn rp_id_token_bad_sig_rs256() {
    judge(Case { tamper: Some("bad_sig"), refused_for: Some("the signature does not verify"), ..case("rp-id_token-bad-sig-rs256") }).await;
}

#[actix_web::test]
async fn rp_id_token_sig_es256() {
    judge(Case { op: json!({"signing_alg": "ES256"}), ..case("rp-id_token-sig-es256") }).await;
}

#[actix_web::test]
async fn rp_id_token_bad_sig_es256() {
    judge(Case {
        op: json!({"signing_alg": "ES256"}),
        tamper: Some("bad_sig"),
        refused_for: Some("the signature does not verify"),
        ..case("rp-id_token-bad-sig-es256")
    })
    .await;
}

/// An unsigned ID token. The profile lets a code-flow client that registered
/// `id_token_signed_response_alg = none` accept it; Gatehouse never accepts `alg: none`
/// (README "Differences").
#[actix_web::test]
async fn rp_id_token_sig_none() {
    judge(Case {
        tamper: Some("alg_none"),
        refused_for: Some("the token is not a well-formed signed JWT"),
        ..case("rp-id_token-sig-none")
    })
    .await;
}

// --- Basic RP: userinfo -----------------------------------------------------------------------

#[actix_web::test]
async fn rp_userinfo_bad_sub_claim() {
    judge(Case {
        op: json!({"claims_in_id_token": false}),
        misbehave: json!({"userinfo": "other_sub"}),
        refused_for: Some("the userinfo response is about another subject than the ID token"),
        ..case("rp-userinfo-bad-sub-claim")
    })
    .await;
}

/// Not an OpenID Foundation case: a userinfo answer without `sub` (which Core 5.3.2 requires).
#[actix_web::test]
async fn userinfo_without_sub() {
    judge(Case {
        op: json!({"claims_in_id_token": false}),
        misbehave: json!({"userinfo": "no_sub"}),
        refused_for: Some("the userinfo response is about another subject than the ID token"),
        ..case("userinfo-without-sub")
    })
    .await;
}

#[actix_web::test]
async fn rp_userinfo_bearer_header() {
    let op = judge(Case {
        op: json!({"claims_in_id_token": false}),
        misbehave: json!({"userinfo_token": "header"}),
        ..case("rp-userinfo-bearer-header")
    })
    .await;
    let seen = op.control("GET", "observed", Value::Null).await;
    assert_eq!(seen["userinfo_token"][0], "header");
}

/// A provider that takes the access token only in the request body. Gatehouse sends it in the
/// header (RFC 6750 §2.1, which every resource server must accept; the body is the optional
/// alternative the profile lets an RP choose), so this login fails, closed: the userinfo claims
/// it needs never came (502, as for any broken provider answer).
#[actix_web::test]
async fn rp_userinfo_bearer_body() {
    judge(Case {
        op: json!({"claims_in_id_token": false}),
        misbehave: json!({"userinfo_token": "body"}),
        refused_for: Some("the userinfo endpoint answered 401"),
        ..case("rp-userinfo-bearer-body")
    })
    .await;
}

// --- Config RP: discovery and keys ------------------------------------------------------------

/// Everything comes from the issuer's discovery document: no endpoint is configured.
#[actix_web::test]
async fn rp_discovery_openid_configuration() {
    judge(case("rp-discovery-openid-configuration")).await;
}

/// The keys come from the discovery document's `jwks_uri`, wherever it points: WSO2's shape
/// puts them at `/oauth2/jwks`, which no rule derives from the issuer `…/oauth2/token`.
#[actix_web::test]
async fn rp_discovery_jwks_uri_keys() {
    judge(Case { op: json!({"shape": "wso2"}), ..case("rp-discovery-jwks_uri-keys") }).await;
}

/// Discovery names another issuer than the one configured: nobody is logged in.
#[actix_web::test]
async fn rp_discovery_issuer_not_matching_config() {
    judge(Case {
        misbehave: json!({"discovery": {"issuer": "http://localhost:1/another-issuer"}}),
        refused_for: Some("is not the configured oidc_issuer_url"),
        ..case("rp-discovery-issuer-not-matching-config")
    })
    .await;
}

/// The provider signs with a new key (new `kid`) after a first login: the next login makes
/// Gatehouse fetch the keys again and verify with the new one.
#[actix_web::test]
async fn rp_key_rotation_op_sign_key() {
    let c = case("rp-key-rotation-op-sign-key");
    let (ours_port, theirs_port) = (free_port(), free_port());
    let op = provider(&c, &[ours_port, theirs_port]);
    let app = Upstream::start();
    let ours = start(Peer::Gatehouse, &op, &app, ours_port, "").expect("Gatehouse starts");
    let theirs = start(Peer::OAuth2Proxy, &op, &app, theirs_port, "").expect("oauth2-proxy starts");
    for run in [&ours, &theirs] {
        assert!(login(&op, &run.base, None).await.0.logged_in(), "the first login, before the rotation");
    }
    op.control("POST", "rotate-keys", Value::Null).await;
    let (after, _) = login(&op, &ours.base, None).await;
    let (theirs_after, _) = login(&op, &theirs.base, None).await;
    report(c.id, "logged in", &after, &theirs_after);
    assert!(after.logged_in(), "Gatehouse did not pick up the rotated key; its log:\n{}", ours.log());
}

// --- Refresh (Core 12.2): the nonce of a refreshed ID token -------------------------------------

/// A refreshed ID token without the nonce keeps the session (providers differ on repeating it);
/// one with another nonce ends it. Through Gatehouse only: what oauth2-proxy does with a nonce
/// it never sent says nothing here.
#[actix_web::test]
async fn a_refreshed_id_token_may_drop_the_nonce_but_not_change_it() {
    let (op, g) = crate::login::plain(json!({"access_token_ttl": 60}), "cookie_refresh = \"1s\"\n");
    g.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    for (mode, status) in [("no_nonce", 202), ("wrong_nonce", 401)] {
        op.control("POST", "tamper", json!({"mode": mode})).await;
        actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(b.get(&g.url("/oauth2/auth")).await.status, status, "a refreshed ID token with {mode}");
        let stats = op.control("GET", "stats", Value::Null).await;
        assert_eq!(stats["tampered"].as_array().and_then(|t| t.last()), Some(&json!(mode)), "the refresh got the {mode} token");
    }
}

// --- Form Post RP: `auth_request_response_mode = "form_post"` ----------------------------------

/// The provider's page POSTs the code back as a form.
#[actix_web::test]
async fn rp_response_mode_form_post() {
    judge(Case { extra: "auth_request_response_mode = \"form_post\"\n", ..case("rp-response_mode-form_post") }).await;
}

/// The Basic RP cases hold with the form too: a foreign nonce.
#[actix_web::test]
async fn rp_response_mode_form_post_nonce_invalid() {
    judge(Case {
        extra: "auth_request_response_mode = \"form_post\"\n",
        tamper: Some("wrong_nonce"),
        refused_for: Some("the nonce does not match this login"),
        ..case("rp-nonce-invalid (form_post)")
    })
    .await;
}

/// The form is read only where it is expected, and never adds to the query: a second `state`
/// in the body is refused (400) like a repeated one in the query, and without `form_post`
/// configured a POSTed form is no callback at all (403, no state), whatever it holds.
#[actix_web::test]
async fn a_form_callback_is_read_only_when_configured_and_never_merged() {
    for (form_post, expected) in [(true, 400), (false, 403)] {
        let extra = if form_post { "auth_request_response_mode = \"form_post\"\n" } else { "" };
        let (_op, g) = crate::login::plain(json!({}), extra);
        g.wait_ready().await;
        let mut b = Browser::new(None);
        let start = b.get(&g.url("/oauth2/start?rd=/")).await;
        let to_provider = start.location().expect("the login starts");
        let state = to_provider.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).unwrap();
        let response_mode = to_provider.query_pairs().find(|(k, _)| k == "response_mode").map(|(_, v)| v.into_owned());
        assert_eq!(response_mode.as_deref(), form_post.then_some("form_post"));
        let query = if form_post { format!("?state={state}") } else { String::new() };
        let r = b.request("POST", &g.url(&format!("/oauth2/callback{query}")), Some(&[("state", &state), ("code", "forged")]), &[]).await;
        assert_eq!(r.status, expected, "form_post {form_post}: {}", r.body);
        assert!(b.get(&g.url("/oauth2/auth")).await.status == 401, "nobody is logged in");
        // A callback buffers a few short fields, not whatever a client sends: 16 KiB at most.
        let big = "x".repeat(20 << 10);
        let r = b.request("POST", &g.url("/oauth2/callback"), Some(&[("state", &state), ("code", &big)]), &[]).await;
        assert_eq!(r.status, 413, "{}", r.body);
    }
}
