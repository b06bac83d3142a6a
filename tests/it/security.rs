//! Hardening checks over HTTP: what an attacker can send and what Gatehouse must do with it.
//! (Open redirects have their own corpus in `redirects.rs`.)

use crate::support::{Gate, MINIMAL, gate, header, send, session_cookie};

/// mod_auth_openidc CVE-2023-28625 (crash on a crafted `Cookie` header) and CVE-2024-24814
/// (a chunk count of 99999999 allocated before checking): bounded, never a crash, never a pass.
/// The `cookies` fuzz target covers the rest of the input space.
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
    // Empty names, bare separators, a huge chunk number.
    for odd in [";;;;", "=; =x; ;=;", "_oauth2_proxy_99999999=AAAA", "_oauth2_proxy_0=A; _oauth2_proxy_99999999=B", "\"\"=\"\""] {
        let (status, _, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", odd)]).await;
        assert_eq!(status, 401, "{odd}");
    }
    // Too many session chunks: refused without being joined.
    let chunks: String = (0..20).map(|i| format!("_oauth2_proxy_{i}=AAAA; ")).collect();
    let (status, _, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &chunks)]).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn skip_rules_match_only_paths_every_reading_agrees_on() {
    let g = gate("reverse_proxy = true\nskip_auth_routes = [\"GET=^/public/\"]\napi_routes = [\"^/api/\"]\n");
    let check = |uri: &'static str| {
        let url = g.url("/oauth2/auth");
        async move { send("GET", &url, &[("X-Forwarded-Uri", uri), ("X-Forwarded-Method", "GET")]).await.0 }
    };
    assert_eq!(check("/public/page").await, 202, "the rule itself works");
    // A path whose readings differ never skips, even one that stays under /public/ (issue 17).
    assert_eq!(check("/public/a/../b").await, 401, "dot segments never skip");
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

// One test per oauth2-proxy advisory, named after it. Each runs over HTTP against a started
// Gatehouse, where the advisory's attacker was.

/// Where `/oauth2/sign_out?rd=<rd>` sends the browser.
async fn sign_out_target(g: &Gate, rd: &str) -> String {
    let rd: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
    let (status, headers, _) = send("GET", &g.url(&format!("/oauth2/sign_out?rd={rd}")), &[]).await;
    assert_eq!(status, 302);
    header(&headers, "location").unwrap_or("").to_string()
}

#[actix_web::test]
async fn ghsa_qqxw_m5fj_f7gv_backslash_and_scheme_relative_redirects() {
    let g = gate("");
    for rd in ["/\\evil.com", "//evil.com", "\\\\evil.com", "/\\/evil.com", "\\/evil.com", "///evil.com"] {
        assert_eq!(sign_out_target(&g, rd).await, "/", "{rd}");
    }
    assert_eq!(sign_out_target(&g, "/app/page").await, "/app/page", "a local path still works");
}

/// mod_auth_openidc #449/#453 and #565, Authelia GHSA-36f2-fcrx-fp4j: open redirects on logout
/// (`/\\phish`, `%2f%5c…`). Sign-out validates its target like every other redirect.
#[actix_web::test]
async fn mod_auth_openidc_449_565_authelia_ghsa_36f2_logout_redirects() {
    let g = gate("");
    for rd in [
        "/\\phish.example",
        "%2f%5cphish.example",
        "/%2f%5cphish.example",
        "/%5c%5cphish.example",
        "https://phish.example/",
        "\\/phish.example",
    ] {
        assert_eq!(sign_out_target(&g, rd).await, "/", "{rd}");
    }
}

/// mod_auth_openidc CVE-2022-23527: open redirect in the default setup, where no allow-list was
/// configured. Without `whitelist_domains`, no absolute URL is a redirect target, at any entry.
#[actix_web::test]
async fn mod_auth_openidc_cve_2022_23527_no_allow_list_means_same_host_only() {
    let g = gate("");
    for rd in ["https://evil.example/", "http://127.0.0.1/", "https://localhost/"] {
        assert_eq!(sign_out_target(&g, rd).await, "/", "{rd}");
        let enc: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
        let (_, _, body) = send("GET", &g.url(&format!("/oauth2/sign_in?rd={enc}")), &[]).await;
        assert!(!body.contains("evil.example") && !body.contains("value=\"http"), "sign-in keeps no absolute rd: {body}");
    }
}

#[actix_web::test]
async fn ghsa_j7px_6hwj_hpjg_encoded_whitespace_between_slashes() {
    let g = gate("");
    for rd in ["/%09/evil.com", "/%0a/evil.com", "/%0b/evil.com", "/%0d/evil.com", "/\t/evil.com", "/%2509/evil.com", "/%20/evil.com"] {
        assert_eq!(sign_out_target(&g, rd).await, "/", "{rd}");
    }
}

#[actix_web::test]
async fn ghsa_5m6c_jp6f_2vcv_redirect_variants() {
    let g = gate("whitelist_domains = [\"good.example.com\"]\n");
    for rd in [
        "https://good.example.com@evil.com/",
        "https://evil.com\\@good.example.com/",
        "https://evil.com#good.example.com",
        "https://good.example.com.evil.com/",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://xn--gd-0ia.example.com/",
        "https://good.example.com:8443/",
        "https://0x7f000001/",
        "/%2F%2Fevil.com",
        "/%5Cevil.com",
    ] {
        assert_eq!(sign_out_target(&g, rd).await, "/", "{rd}");
    }
    assert_eq!(sign_out_target(&g, "https://good.example.com/x").await, "https://good.example.com/x");
}

#[actix_web::test]
async fn ghsa_4mf2_f3wh_gvf2_whitelist_label_boundary_and_ports() {
    let g = gate("whitelist_domains = [\".example.com\", \"ports.test:8443\", \"any.test:*\"]\n");
    for rd in
        ["https://badexample.com/", "https://example.com.evil/", "https://ports.test/", "https://ports.test:9443/", "https://xany.test:1/"]
    {
        assert_eq!(sign_out_target(&g, rd).await, "/", "{rd}");
    }
    for rd in ["https://example.com/", "https://a.b.example.com/x", "https://ports.test:8443/", "https://any.test:1234/"] {
        assert_eq!(sign_out_target(&g, rd).await, rd, "{rd}");
    }
}

#[actix_web::test]
async fn ghsa_652x_m2gr_hppm_configured_group_check_fails_closed() {
    let g = gate("allowed_groups = [\"admins\"]\n");
    let no_groups = session_cookie("alice", "alice@example.com", &[]).await;
    let (status, _, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &no_groups)]).await;
    assert!(!(200..300).contains(&status), "a session without groups passed an allowed_groups check: {status}");
    let admin = session_cookie("alice", "alice@example.com", &["admins"]).await;
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &[("Cookie", &admin)]).await.0, 202);
    // A per-route group constraint with a group-less session: refused too.
    let g = gate("");
    let (status, _, _) = send("GET", &g.url("/oauth2/auth?allowed_groups=admins"), &[("Cookie", &no_groups)]).await;
    assert_eq!(status, 403);
}

/// A forward-auth check of `uri` from a trusted proxy, without a session.
async fn check(g: &Gate, uri: &str, extra: &[(&str, &str)]) -> u16 {
    let mut headers = vec![("X-Forwarded-Uri", uri), ("X-Forwarded-Method", "GET")];
    headers.extend_from_slice(extra);
    send("GET", &g.url("/oauth2/auth"), &headers).await.0
}

#[actix_web::test]
async fn ghsa_7rh7_c77v_6434_skip_routes_ignore_the_query() {
    let g = gate("reverse_proxy = true\nskip_auth_routes = [\"GET=^/status\", \"GET=/public$\"]\n");
    assert_eq!(check(&g, "/status", &[]).await, 202);
    assert_eq!(check(&g, "/public", &[]).await, 202);
    for uri in ["/private?x=/status", "/private?/public", "/private?q=/public"] {
        assert_eq!(check(&g, uri, &[]).await, 401, "{uri}");
    }
}

#[actix_web::test]
async fn ghsa_pxq7_h93f_9jrg_fragments_in_allowed_routes() {
    let g = gate("reverse_proxy = true\nskip_auth_routes = [\"GET=/public$\", \"GET=^/open/\"]\n");
    for uri in ["/admin#/public", "/admin%23/public", "/open%23/../admin", "/admin#/open/"] {
        assert_eq!(check(&g, uri, &[]).await, 401, "{uri}");
    }
}

#[actix_web::test]
async fn ghsa_7x63_xv5r_3p2x_forwarded_uri_from_untrusted_peers() {
    // Loopback is not a trusted proxy here, so X-Forwarded-Uri cannot pick the public route.
    let g = gate("reverse_proxy = true\ntrusted_proxy_ips = [\"10.0.0.1\"]\nskip_auth_routes = [\"GET=^/public/\"]\n");
    assert_eq!(check(&g, "/public/x", &[("X-Original-URI", "/public/x"), ("X-Forwarded-Prefix", "/public")]).await, 401);
    // Nor without reverse_proxy at all (oauth2-proxy's default trusts everyone).
    let g = gate("skip_auth_routes = [\"GET=^/public/\"]\n");
    assert_eq!(check(&g, "/public/x", &[]).await, 401);
    // From a trusted peer with reverse_proxy, the rule applies.
    let g = gate("reverse_proxy = true\nskip_auth_routes = [\"GET=^/public/\"]\n");
    assert_eq!(check(&g, "/public/x", &[]).await, 202);
}

#[actix_web::test]
async fn ghsa_5hvv_m4w4_gf6v_health_user_agent_never_authorises() {
    let g = gate("ping_user_agent = \"kube-probe/1.30\"\n");
    for path in ["/oauth2/auth", "/oauth2/userinfo", "/private"] {
        let (status, _, _) = send("GET", &g.url(path), &[("User-Agent", "kube-probe/1.30")]).await;
        assert!(!(200..300).contains(&status), "{path} answered {status} to the probe's User-Agent");
    }
    assert_eq!(send("GET", &g.url("/ping"), &[("User-Agent", "kube-probe/1.30")]).await.0, 200);
}

#[actix_web::test]
async fn ghsa_c5c4_8r6x_56w3_multi_at_emails() {
    let text = format!(
        "{}http_address = \"127.0.0.1:0\"\ncookie_secure = false\n",
        MINIMAL.replace("email_domains = [\"*\"]", "email_domains = [\"corp.com\"]")
    );
    let g = Gate::start(&text, &[], "127.0.0.1");
    for email in ["a@evil.com@corp.com", "a@corp.com@evil.com", "\"a@corp.com\"@evil.com", "a@evil.com\n@corp.com", "a@evilcorp.com"] {
        let cookie = session_cookie("a", email, &[]).await;
        let (status, _, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &cookie)]).await;
        assert!(!(200..300).contains(&status), "{email:?} passed email_domains = corp.com ({status})");
    }
    let cookie = session_cookie("a", "A@Corp.COM", &[]).await;
    assert_eq!(send("GET", &g.url("/oauth2/auth"), &[("Cookie", &cookie)]).await.0, 202);
}

#[actix_web::test]
async fn ghsa_f24x_5g9q_753f_sign_in_clears_the_old_session() {
    let g = gate("");
    let old = session_cookie("alice", "alice@example.com", &[]).await;
    // (A completed login writes a new session over any old one at the callback.)
    let (status, headers, _) = send("GET", &g.url("/oauth2/sign_in"), &[("Cookie", &old)]).await;
    assert_eq!(status, 200);
    let cleared =
        headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("set-cookie") && v.starts_with("_oauth2_proxy=;") && v.contains("Max-Age=0"));
    assert!(cleared, "the sign-in page must clear the existing session cookie: {headers:?}");
}

#[actix_web::test]
async fn ghsa_vjrc_mh2v_45x6_identity_header_variants_are_stripped() {
    let app = crate::support::peers::Upstream::start();
    let g = gate(&format!("upstreams = [\"http://127.0.0.1:{}/\"]\npass_access_token = true\n", app.port));
    let cookie = session_cookie("alice", "alice@example.com", &["users"]).await;
    let forged = [
        ("Cookie", cookie.as_str()),
        ("X_Forwarded_User", "mallory"),
        ("x_forwarded_email", "mallory@evil.example"),
        ("X-FORWARDED-USER", "mallory"),
        ("X-Forwarded_Preferred-Username", "mallory"),
        ("X-Auth-Request-User", "mallory"),
        ("X_Auth_Request_Email", "mallory@evil.example"),
        ("X-Forwarded-Groups", "mallory-admins"),
        ("X_Forwarded_Access_Token", "mallory-token"),
        ("Gap-Auth", "mallory"),
        // Naming our own headers hop-by-hop must not make Gatehouse drop what it adds.
        ("Connection", "keep-alive, X-Forwarded-User, X-Forwarded-Email"),
    ];
    assert_eq!(send("GET", &g.url("/app"), &forged).await.0, 200);
    let seen = app.requests().pop().unwrap();
    assert!(seen.headers.iter().all(|(_, v)| !v.contains("mallory")), "a forged header reached the app: {:?}", seen.headers);
    assert_eq!(seen.header("x-forwarded-user"), Some("alice"));
    assert_eq!(seen.header("x-forwarded-email"), Some("alice@example.com"));
}

// Forward-auth failures of other projects (security.md, section 3), and mod_auth_openidc's.

#[actix_web::test]
async fn authelia_ghsa_68wm_pfjf_wqp6_malformed_forwarded_uri_is_never_2xx() {
    let g = gate("reverse_proxy = true\nskip_auth_routes = [\"GET=^/public/\"]\n");
    for uri in
        ["", " ", "%", "%zz", "not a uri", "http://[::1", "http://", "*", "..", "/%", "//", "?", "#", "https://evil.example/public/x"]
    {
        let status = check(&g, uri, &[("X-Original-URL", uri)]).await;
        assert!((400..500).contains(&status), "X-Forwarded-Uri {uri:?} → {status}");
    }
}

#[actix_web::test]
async fn authentik_ghsa_fj56_pfjf_malformed_session_cookies_are_unauthenticated() {
    let g = gate("set_xauthrequest = true\n");
    let good = session_cookie("alice", "alice@example.com", &[]).await;
    let value = good.split_once('=').unwrap().1.to_string();
    let mut flipped = value.clone().into_bytes();
    let mid = flipped.len() / 2;
    flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let cookies = [
        "_oauth2_proxy=".to_string(),
        "_oauth2_proxy=garbage".to_string(),
        "_oauth2_proxy===".to_string(),
        format!("_oauth2_proxy={}", &value[..value.len() / 2]),
        format!("_oauth2_proxy={flipped}"),
        format!("_oauth2_proxy={value}{value}"),
        format!("_oauth2_proxy_1={value}"),
        format!("_oauth2_proxy_0={}; _oauth2_proxy_2={}", &value[..10], &value[10..]),
        "_oauth2_proxy_0=; _oauth2_proxy_1=".to_string(),
        ";;;=;_oauth2_proxy".to_string(),
    ];
    for cookie in &cookies {
        let (status, headers, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", cookie)]).await;
        assert_eq!(status, 401, "{cookie:.40}");
        assert_eq!(header(&headers, "x-auth-request-user"), None);
    }
    // The same value correctly split into chunks is a session (the gap above was not).
    let chunks = format!("_oauth2_proxy_0={}; _oauth2_proxy_1={}", &value[..10], &value[10..]);
    let (status, headers, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &chunks)]).await;
    assert_eq!((status, header(&headers, "x-auth-request-user")), (202, Some("alice")));
    let (status, headers, _) = send("GET", &g.url("/oauth2/auth"), &[("Cookie", &good)]).await;
    assert_eq!((status, header(&headers, "x-auth-request-user")), (202, Some("alice")), "a 2xx always carries the identity");
}

#[actix_web::test]
async fn traefik_ghsa_6384_m2mw_rf54_forwarded_prefix_never_decides() {
    let g = gate("reverse_proxy = true\nskip_auth_routes = [\"GET=^/public/\"]\n");
    for (name, value) in [
        ("X-Forwarded-Prefix", "/public"),
        ("X-Forwarded-Prefix", "/public/"),
        ("X-Original-URI", "/public/x"),
        ("X-Rewrite-URL", "/public/x"),
    ] {
        assert_eq!(check(&g, "/admin", &[(name, value)]).await, 401, "{name}: {value}");
    }
}

#[actix_web::test]
async fn mod_auth_openidc_duplicated_callback_parameters_are_refused() {
    let g = gate("");
    for query in ["state=a&state=b&code=c", "state=a&code=c&code=d", "code=c&state=a&state=a"] {
        let (status, _, _) = send("GET", &g.url(&format!("/oauth2/callback?{query}")), &[]).await;
        assert_eq!(status, 400, "{query}");
    }
}

#[actix_web::test]
async fn mod_auth_openidc_ghsa_59jp_unauthenticated_requests_never_reach_the_upstream() {
    let app = crate::support::peers::Upstream::start();
    let g = gate(&format!("upstreams = [\"http://127.0.0.1:{}/\"]\n", app.port));
    for (method, accept) in [("GET", "text/html"), ("POST", "application/json"), ("HEAD", "*/*"), ("PUT", "text/html"), ("OPTIONS", "*/*")]
    {
        let (status, _, body) = send(method, &g.url("/secret/page"), &[("Accept", accept)]).await;
        assert!(!(200..300).contains(&status), "{method} → {status}");
        assert!(!body.contains("app saw"), "{method}: {body:.200}");
    }
    assert!(app.requests().is_empty(), "the upstream saw {:?}", app.requests());
}

#[actix_web::test]
async fn mod_auth_openidc_reflected_values_are_escaped() {
    let g = gate("");
    let payload = "/\"><script>alert(1)</script><img src=x onerror=alert(2)>";
    let rd: String = url::form_urlencoded::byte_serialize(payload.as_bytes()).collect();
    let (status, _, body) = send("GET", &g.url(&format!("/oauth2/sign_in?rd={rd}")), &[]).await;
    assert_eq!(status, 200);
    assert!(!body.contains("<script>alert(1)") && !body.contains("<img src=x"), "{body}");
    // Sign-out reflects nothing: the target is refused, so the Location is the root.
    assert_eq!(sign_out_target(&g, payload).await, "/");
}
