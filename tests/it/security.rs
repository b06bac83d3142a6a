//! Hardening checks over HTTP: what an attacker can send and what Gatehouse must do with it.
//! (Open redirects have their own corpus in `redirects.rs`.)

use crate::support::{gate, send, session_cookie};

#[actix_web::test]
async fn cookie_bombs_cost_bounded_work_and_never_authenticate() {
    let g = gate("");
    let session = session_cookie("alice", "alice@example.com", &[]).await;
    let (status, _, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &session)]).await;
    assert_eq!(status, 202, "the session itself is good");

    // A valid session hidden behind hundreds of junk cookies is not looked for.
    let junk: String = (0..400).map(|i| format!("j{i}=x; ")).collect();
    let (status, _, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &format!("{junk}{session}"))]).await;
    assert_eq!(status, 401);
    // A header past the server's limit is refused outright, never a 2xx or a dropped connection.
    let huge = format!("{}{session}", "j=x; ".repeat(40_000));
    let (status, _, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &huge)]).await;
    assert!((400..500).contains(&status), "{status}");
    // Too many session chunks: refused without being joined.
    let chunks: String = (0..20).map(|i| format!("_oauth2_proxy_{i}=AAAA; ")).collect();
    let (status, _, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &chunks)]).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn skip_rules_match_the_normalised_path() {
    let g = gate("reverse_proxy = true\nskip_auth_routes = [\"GET=^/public/\"]\napi_routes = [\"^/api/\"]\n");
    let check = |uri: &'static str| {
        let url = g.url("/oauth2/auth");
        async move { send("GET", &url, &[("X-Forwarded-Uri", uri), ("X-Forwarded-Method", "GET")]).await.0 }
    };
    assert_eq!(check("/public/page").await, 202, "the rule itself works");
    assert_eq!(check("/public/a/../b").await, 202, "still under /public/");
    for bypass in [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E%2fadmin",
        "/public/./../admin",
        "/admin;/public/",
        "/admin%23/public/",
        "/admin?/public/",
        "/admin#/public/",
        "//public/../admin",
        "/public/..;/admin",
    ] {
        assert_eq!(check(bypass).await, 401, "{bypass} must not borrow the /public/ rule");
    }
}
