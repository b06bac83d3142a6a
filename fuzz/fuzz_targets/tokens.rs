//! JWT handling: `Authorization` parsing, the JWT shape check, header and claims decoding and
//! verification never panic, and nothing verifies without the private key: not `alg: none`,
//! not HMAC keyed with the public key, not any header or claims the fuzzer invents.
#![no_main]

use std::sync::LazyLock;

use gatehouse::oidc::bearer::looks_like_jwt;
use gatehouse::oidc::keys::Key;
use gatehouse::oidc::verify::{Expectations, Nonce, TokenKind, verify};
use gatehouse::http::request::parse_authorization;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use libfuzzer_sys::fuzz_target;

// A public key whose private half was thrown away when it was made.
const N: &str = "tk3UJ4Y9D_R4x4iy5kjLfrqkJPm7pcA1FhXjXQeXA4gw8X_1Mhp5rluHxdDGuEOMAkuj0YBBKvvxdXi_sgwRyJOKHZTmPLYISoJzUAcEmR9w4DqbnJBbPph-nwehzJnzaj2q62PZWjBZiKllTrs9wtu3oBn0VuXeicc-AzmZ_k5r2UVRT8__eD-kdbkZpbpkAW7_J9TtK0h5Aex54Y3b5PcV6_bBrPJtdQH1UE1dTZdm4nt6Tkdnm-ghETcIB1gwLI_fFeNF7YtPKnggZYQMOP-iJ0IbcXhofQOaancRTqI4cibg0l-LGEKT57uberng4vVJZ3ems6pGcbKi-WId6w";

static KEYS: LazyLock<Vec<Key>> = LazyLock::new(|| {
    let key = DecodingKey::from_rsa_components(N, "AQAB").expect("the fuzz key decodes");
    vec![Key { kid: Some("k1".into()), family: AlgorithmFamily::Rsa, key }]
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let creds = parse_authorization(text);
    let token = creds.as_ref().and_then(|c| c.jwt()).unwrap_or(text);
    let _ = looks_like_jwt(token);
    let audience_claims = ["aud".to_string()];
    // ID tokens and back-channel logout tokens go through the same verifier.
    for (kind, nonce) in [(TokenKind::IdToken, Nonce::Required("n")), (TokenKind::Logout, Nonce::Absent)] {
        let want = Expectations {
            issuer: Some("https://idp.example.com"),
            audience_claims: &audience_claims,
            audiences: &["app"],
            nonce,
            authorized_party: Some("app"),
            algorithms: &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::HS256],
            kind,
        };
        if let Ok(claims) = verify(token, &KEYS, &want) {
            panic!("a token verified without the private key: {claims:?}");
        }
    }
});
