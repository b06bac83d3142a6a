//! Redirect validation: whatever `is_valid_redirect` accepts, a browser resolving it as a
//! `Location` on our page (WHATWG URL parsing, as the `url` crate implements it) lands on our
//! own host or a whitelisted one, over http(s), without user information.
#![no_main]

use gatehouse::authz::is_valid_redirect;
use gatehouse::http::respond::location_value;
use libfuzzer_sys::fuzz_target;
use url::Url;

const OWN: &str = "app.example";

fn whitelist() -> Vec<String> {
    ["corp.example", ".sub.example", "*.wild.example:*", "port.example:8443"].iter().map(|s| s.to_string()).collect()
}

fn host_allowed(u: &Url) -> bool {
    let Some(host) = u.host_str() else { return false };
    let port = u.port_or_known_default();
    host == OWN
        || host == "corp.example" && matches!(port, Some(80 | 443))
        || (host == "sub.example" || host.ends_with(".sub.example")) && matches!(port, Some(80 | 443))
        || host == "wild.example"
        || host.ends_with(".wild.example")
        || host == "port.example" && port == Some(8443)
}

fuzz_target!(|data: &[u8]| {
    let Ok(rd) = std::str::from_utf8(data) else { return };
    if !is_valid_redirect(rd, &whitelist()) {
        return;
    }
    assert!(!rd.chars().any(|c| c.is_control() || c == ' '), "accepted with a control character: {rd:?}");
    let base = Url::parse(&format!("https://{OWN}/some/page")).unwrap();
    let landed = base.join(&location_value(rd)).unwrap_or_else(|e| panic!("accepted {rd:?} but a browser cannot resolve it: {e}"));
    assert!(matches!(landed.scheme(), "http" | "https"), "accepted {rd:?} lands on scheme {}", landed.scheme());
    assert!(landed.username().is_empty() && landed.password().is_none(), "accepted {rd:?} carries user information");
    assert!(host_allowed(&landed), "accepted {rd:?} lands on {landed}");
});
