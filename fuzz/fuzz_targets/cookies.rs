//! Cookie headers: parsing is bounded and never panics, and no input, however shaped, opens
//! as a session without the secret (authentik GHSA-fj56, mod_auth_openidc CVE-2023-28625 and
//! CVE-2024-24814 are this kind of input).
#![no_main]

use std::sync::LazyLock;

use gatehouse::session::jar::{MAX_REQUEST_COOKIES, RequestCookies};
use gatehouse::session::{CookieStore, Found};
use libfuzzer_sys::fuzz_target;

static STORE: LazyLock<CookieStore> = LazyLock::new(|| {
    let text = "provider = \"oidc\"\noidc_issuer_url = \"https://idp.example.com\"\nclient_id = \"app\"\nclient_secret = \"s\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\n";
    let loaded = gatehouse::config::load_texts(
        Some((std::path::Path::new("fuzz.cfg"), text.to_string())),
        None,
        &[],
        &std::collections::HashMap::new(),
        Default::default(),
    )
    .expect("the fuzz configuration loads");
    CookieStore::new(&loaded.config.session.cookie)
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let cookies = RequestCookies::parse(text.split('\n'));
    assert!(cookies.names().count() <= MAX_REQUEST_COOKIES);
    match STORE.read(&cookies) {
        Found::Valid(s) => panic!("a forged cookie opened as a session of {:?}", s.user),
        Found::None | Found::Invalid(_) => {}
    }
});
