//! The cookie session store on its own: sealing, splitting, expiry, and every kind of damage.

use std::time::Duration;

use gatehouse::session::jar::{MAX_COOKIE_LINE, RequestCookies};
use gatehouse::session::{CookieConfig, CookieStore, Found, SessionState, SessionStore, now};

use crate::support::echo;
use crate::support::{MINIMAL, load_text};

fn cookie_config(extra: &str) -> CookieConfig {
    load_text(&format!("{MINIMAL}{extra}"), &[], vec![]).unwrap().config.session.cookie
}

fn session(token_len: usize) -> SessionState {
    let token = |c: char| std::iter::repeat_n(c, token_len).collect::<String>();
    SessionState {
        user: "alice".into(),
        subject: None,
        email: "alice@example.com".into(),
        groups: vec!["admins".into()],
        preferred_username: "alice".into(),
        additional_claims: Default::default(),
        access_token: Some(token('a')),
        id_token: Some(token('i')),
        refresh_token: Some(token('r')),
        created_at: now(),
        expires_on: None,
        nonce: None,
        sid: None,
        login_at: 0,
        htpasswd: false,
        provider: None,
    }
}

async fn load(store: &CookieStore, req: &RequestCookies) -> Found {
    store.load(req).await.unwrap()
}

#[actix_web::test]
async fn a_small_session_round_trips_in_one_cookie() {
    let store = CookieStore::new(&cookie_config(""));
    let s = session(20);
    let set = store.save(&RequestCookies::default(), "app.example.com", &s).await.unwrap();
    assert_eq!(set.len(), 1);
    let c = &set[0];
    assert_eq!(c.name(), "_oauth2_proxy");
    assert_eq!(c.http_only(), Some(true));
    assert_eq!(c.secure(), Some(true));
    assert_eq!(c.max_age(), Some(actix_web::cookie::time::Duration::hours(168)));
    match load(&store, &echo(&set)).await {
        Found::Valid(back) => assert_eq!(*back, s),
        other => panic!("{other:?}"),
    }
    assert!(!c.value().contains("alice"), "the session is sealed, not readable");
}

#[actix_web::test]
async fn three_big_tokens_split_into_chunks_and_rejoin() {
    let store = CookieStore::new(&cookie_config(""));
    let s = session(1500);
    let set = store.save(&RequestCookies::default(), "app.example.com", &s).await.unwrap();
    let names: Vec<&str> = set.iter().map(|c| c.name()).collect();
    assert!(names.len() >= 2, "{names:?}");
    assert_eq!(names[0], "_oauth2_proxy_0");
    for c in &set {
        assert!(c.to_string().len() <= MAX_COOKIE_LINE, "every Set-Cookie line fits");
    }
    match load(&store, &echo(&set)).await {
        Found::Valid(back) => assert_eq!(*back, s),
        other => panic!("{other:?}"),
    }
    // Saving a small session later deletes the leftover chunks.
    let small = store.save(&echo(&set), "app.example.com", &session(10)).await.unwrap();
    assert!(small.iter().any(|c| c.name() == "_oauth2_proxy" && !c.value().is_empty()));
    assert!(small.iter().filter(|c| c.name().starts_with("_oauth2_proxy_")).all(|c| c.value().is_empty()));
}

#[actix_web::test]
async fn damaged_foreign_and_expired_cookies_are_invalid() {
    let store = CookieStore::new(&cookie_config("cookie_expire = \"1h\"\n"));
    let set = store.save(&RequestCookies::default(), "h", &session(50)).await.unwrap();
    let value = set[0].value().to_string();

    let flipped = {
        let mut b = value.clone().into_bytes();
        b[30] = if b[30] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let truncated = value[..value.len() - 5].to_string();
    let other_text = MINIMAL.replace("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY");
    let other = CookieStore::new(&load_text(&other_text, &[], vec![]).unwrap().config.session.cookie);
    let foreign = other.save(&RequestCookies::default(), "h", &session(50)).await.unwrap()[0].value().to_string();
    for (what, v) in [("flipped", flipped), ("truncated", truncated), ("foreign secret", foreign), ("empty", String::new())] {
        let req = RequestCookies::parse([format!("_oauth2_proxy={v}").as_str()]);
        assert!(matches!(load(&store, &req).await, Found::Invalid(_)), "{what}");
    }

    let mut old = session(50);
    old.created_at = now() - 2 * 3600;
    let set = store.save(&RequestCookies::default(), "h", &old).await.unwrap();
    assert!(matches!(load(&store, &echo(&set)).await, Found::Invalid("expired")));

    let mut future = session(50);
    future.created_at = now() + 3600;
    let set = store.save(&RequestCookies::default(), "h", &future).await.unwrap();
    assert!(matches!(load(&store, &echo(&set)).await, Found::Invalid(_)));
}

#[actix_web::test]
async fn clearing_removes_every_chunk_and_keeps_other_cookies() {
    let store = CookieStore::new(&cookie_config(""));
    let req = RequestCookies::parse(["_oauth2_proxy_0=a; _oauth2_proxy_1=b; _oauth2_proxy_csrf=c; other=d"]);
    let cleared = store.clear(&req, "h").await.unwrap();
    let names: Vec<&str> = cleared.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["_oauth2_proxy_0", "_oauth2_proxy_1"]);
    assert!(cleared.iter().all(|c| c.max_age() == Some(actix_web::cookie::time::Duration::ZERO)));
}

#[test]
fn cookie_attributes_follow_the_configuration() {
    let cfg = cookie_config(
        "cookie_secure = false\ncookie_samesite = \"strict\"\ncookie_domains = [\".example.com\", \"app.example.com\"]\ncookie_path = \"/app\"\ncookie_expire = \"0\"\n",
    );
    assert_eq!(cfg.expire, Duration::ZERO);
    let store = CookieStore::new(&cfg);
    let set = actix_web::rt::System::new()
        .block_on(async { store.save(&RequestCookies::default(), "app.example.com:8443", &session(5)).await.unwrap() });
    let line = set[0].to_string();
    assert!(line.contains("Domain=app.example.com"), "the longest matching domain wins: {line}");
    assert!(
        line.contains("Path=/app") && line.contains("SameSite=Strict") && !line.contains("Secure") && !line.contains("Max-Age"),
        "{line}"
    );
}

/// The single CSRF cookie keeps the logins a browser has pending (tabs signing in at once), at
/// most `PENDING_LOGINS`, oldest out first; finishing one keeps the others.
#[test]
fn the_csrf_cookie_keeps_pending_logins_of_several_tabs() {
    use gatehouse::oidc::flow::hash_b64;
    use gatehouse::session::{CsrfCookies, CsrfError, LoginState, PENDING_LOGINS};
    let csrf = CsrfCookies::new(&cookie_config(""));
    let login = |n: usize| LoginState {
        csrf: format!("csrf-{n}"),
        nonce: format!("nonce-{n}"),
        code_verifier: None,
        created_at: now(),
        provider: None,
    };
    let mut jar = RequestCookies::default();
    for n in 0..=PENDING_LOGINS {
        let set = csrf.set(&login(n), &hash_b64(&login(n).csrf), "h", &jar);
        jar = echo(&set);
    }
    // The first login was pushed out; the others are all there.
    let first = hash_b64("csrf-0");
    assert_eq!(csrf.read(&jar, &first).unwrap().csrf, format!("csrf-{PENDING_LOGINS}"), "no match: the newest, for the mismatch check");
    for n in 1..=PENDING_LOGINS {
        assert_eq!(csrf.read(&jar, &hash_b64(&format!("csrf-{n}"))).unwrap().nonce, format!("nonce-{n}"));
    }
    // A callback whose state names none of them (a mismatch) ends them all, as oauth2-proxy.
    assert!(csrf.clear(&hash_b64("csrf-unknown"), "h", &jar).value().is_empty());
    // Finishing one keeps the rest; finishing the last deletes the cookie.
    let mut left = jar;
    for n in 1..=PENDING_LOGINS {
        let c = csrf.clear(&hash_b64(&format!("csrf-{n}")), "h", &left);
        if n < PENDING_LOGINS {
            assert!(!c.value().is_empty());
            left = echo(&[c]);
            assert!(csrf.read(&left, &hash_b64(&format!("csrf-{}", n + 1))).is_ok());
        } else {
            assert!(c.value().is_empty(), "the last pending login deletes the cookie");
        }
    }
    assert!(matches!(csrf.read(&RequestCookies::default(), &first), Err(CsrfError::Missing)));
}

/// With `form_post` the CSRF cookie is `SameSite=None`, so any site can make the browser send
/// a callback with a made-up state: that mismatch keeps the logins in progress.
#[test]
fn a_cross_site_csrf_cookie_is_not_ended_by_a_made_up_state() {
    use gatehouse::oidc::flow::hash_b64;
    use gatehouse::session::{CsrfCookies, LoginState};
    let csrf = CsrfCookies::new(&cookie_config("auth_request_response_mode = \"form_post\"\n"));
    let login = LoginState { csrf: "csrf-1".into(), nonce: "nonce-1".into(), code_verifier: None, created_at: now(), provider: None };
    let set = csrf.set(&login, &hash_b64(&login.csrf), "h", &RequestCookies::default());
    assert!(set[0].to_string().contains("SameSite=None"), "{}", set[0]);
    let jar = echo(&set);
    let kept = csrf.clear(&hash_b64("made-up"), "h", &jar);
    assert!(!kept.value().is_empty(), "the pending login stays");
    assert_eq!(csrf.read(&echo(&[kept]), &hash_b64("csrf-1")).unwrap().nonce, "nonce-1");
    assert!(csrf.clear(&hash_b64("csrf-1"), "h", &jar).value().is_empty(), "its own callback ends it");
}

/// Opened cookies are remembered per worker thread (opening is most of a check's cost); a
/// remembered one still expires, and a damaged copy of it never opens.
#[actix_web::test]
async fn remembered_cookie_sessions_still_expire() {
    let store = CookieStore::new(&cookie_config("cookie_expire = \"1s\"\n"));
    let s = SessionState { user: "alice".into(), email: "alice@example.com".into(), created_at: now(), ..Default::default() };
    let set = store.save(&RequestCookies::default(), "h", &s).await.unwrap();
    let jar = echo(&set);
    for _ in 0..3 {
        assert!(matches!(store.read(&jar), Found::Valid(_)));
    }
    let value = set[0].value().to_string();
    let other = if value.ends_with('A') { 'B' } else { 'A' };
    let damaged = RequestCookies::parse([format!("_oauth2_proxy={}{other}", &value[..value.len() - 1]).as_str()]);
    assert!(matches!(store.read(&damaged), Found::Invalid(_)));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(matches!(store.read(&jar), Found::Invalid("expired")), "the remembered session expired");
}

/// Rotating the cookie secret through `cookie_secret_file` logs nobody out: with the new
/// secret first and the old one after it, sessions sealed with the old one still open (also
/// while the file changes under concurrent requests) and are sealed with the new one at their
/// next write (a refresh); once the old secret leaves the file, what it sealed opens no more.
#[actix_web::test]
async fn a_cookie_secret_rotated_through_its_file_logs_nobody_out() {
    use crate::support::browser::Browser;
    const OLD: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const NEW: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cookie-secret");
    std::fs::write(&file, OLD).unwrap();
    let port = crate::support::free_port();
    let op = crate::support::op::Op::start(serde_json::json!({
        "access_token_ttl": 60,
        "clients": [{"client_id": "gatehouse", "client_secret": "gatehouse-secret", "redirect_uris": [format!("http://localhost:{port}/oauth2/callback")]}]
    }));
    let text =
        crate::support::plain_config(&op.issuer, port, &format!("cookie_secret_file = \"{}\"\ncookie_refresh = \"1s\"\n", file.display()))
            .replace(&format!("cookie_secret = \"{OLD}\"\n"), "");
    let g = crate::support::Gate::start(&text, &[], "localhost");
    g.wait_ready().await;
    let mut b = Browser::new(None);
    assert_eq!(b.login(&g.url("/oauth2/start?rd=/"), "alice").await.status, 302);
    let sealed_old = b.cookie("_oauth2_proxy").unwrap();

    // Requests keep coming while the file changes: every one is answered 202.
    let auth = g.url("/oauth2/auth");
    let load = (0..4).map(|_| {
        let (auth, cookie) = (auth.clone(), format!("_oauth2_proxy={sealed_old}"));
        actix_web::rt::spawn(async move {
            let client = awc::Client::default();
            let mut statuses = Vec::new();
            for _ in 0..60 {
                let r = client.get(&auth).insert_header(("Cookie", cookie.as_str())).send().await.unwrap();
                statuses.push(r.status().as_u16());
                actix_web::rt::time::sleep(Duration::from_millis(25)).await;
            }
            statuses
        })
    });
    let load: Vec<_> = load.collect();
    std::fs::write(&file, format!("{NEW}\n{OLD}\n")).unwrap();
    for task in load {
        let statuses = task.await.unwrap();
        assert!(statuses.iter().all(|s| *s == 202), "a session answered otherwise while the secret rotated: {statuses:?}");
    }
    // The next write of the session (its refresh, due after a second) seals with the new one.
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(b.get(&auth).await.status, 202, "the old secret still opens after the rotation");
    let sealed_new = b.cookie("_oauth2_proxy").unwrap();
    assert_ne!(sealed_old, sealed_new, "the refresh wrote the session again");

    // The old secret leaves the file: what it sealed opens no more, what the new one sealed does.
    std::fs::write(&file, NEW).unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    let old_cookie = format!("_oauth2_proxy={sealed_old}");
    let r = awc::Client::default().get(&auth).insert_header(("Cookie", old_cookie.as_str())).send().await.unwrap();
    assert_eq!(r.status(), 401, "a cookie sealed with a secret taken off the ring");
    assert_eq!(b.get(&auth).await.status, 202, "the session re-sealed at its refresh");
}
