//! The authorization request: state, nonce and PKCE values, and the URL the browser is sent to.
//!
//! As in oauth2-proxy, the `state` parameter is `<hash of a random CSRF value>:<return URL>`
//! and the `nonce` parameter is the hash of a random nonce; the raw values stay in the CSRF
//! cookie, so neither can be forged from the URL alone.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::{PkceCodeChallenge, PkceCodeVerifier};
use url::Url;

use super::{Config, Endpoints, LoginParam, PkceMethod, ProviderKind};

/// `n` random bytes, base64url without padding.
pub fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url(SHA-256(value)), the form state and nonce take on the wire.
pub fn hash_b64(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes()))
}

/// A PKCE verifier (96 random bytes, as oauth2-proxy) and its challenge.
pub fn pkce(method: PkceMethod) -> (String, String) {
    let verifier = random_b64(96);
    let challenge = match method {
        PkceMethod::S256 => PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone())).as_str().to_string(),
        PkceMethod::Plain => verifier.clone(),
    };
    (verifier, challenge)
}

/// The provider login URL. Parameters are sorted by name, as Go's `url.Values.Encode` does,
/// so the URL is the one oauth2-proxy would build.
pub fn authorize_url(
    endpoints: &Endpoints,
    cfg: &Config,
    redirect_uri: &str,
    state: &str,
    nonce_hash: Option<&str>,
    pkce_challenge: Option<&str>,
    overrides: &[(String, String)],
) -> Url {
    let (skip_scope, state) = match cfg.kind {
        // oauth2-proxy's AD FS escapes the state once more (AD FS decodes it once).
        ProviderKind::Adfs { skip_scope } => (skip_scope, url::form_urlencoded::byte_serialize(state.as_bytes()).collect()),
        _ => (false, state.to_string()),
    };
    let mut params: Vec<(&str, String)> = vec![
        ("client_id", cfg.client_id.clone()),
        ("redirect_uri", redirect_uri.to_string()),
        ("response_type", "code".to_string()),
        ("state", state),
    ];
    if !skip_scope {
        let scope = if cfg.kind == ProviderKind::Azure { super::azure::scope(&cfg.scope, endpoints) } else { cfg.scope.clone() };
        params.push(("scope", scope));
    }
    if let Some(resource) = super::azure::resource(cfg.azure.as_ref(), endpoints) {
        params.push(("resource", resource.to_string()));
    }
    for (name, value) in LoginParam::resolve(&cfg.login_params, overrides) {
        params.push((name, value.to_string()));
    }
    if let Some(mode) = &cfg.response_mode {
        params.push(("response_mode", mode.clone()));
    }
    if let (Some(challenge), Some(method)) = (pkce_challenge, cfg.pkce) {
        params.push(("code_challenge", challenge.to_string()));
        params.push((
            "code_challenge_method",
            match method {
                PkceMethod::S256 => "S256".to_string(),
                PkceMethod::Plain => "plain".to_string(),
            },
        ));
    }
    if let Some(n) = nonce_hash {
        params.push(("nonce", n.to_string()));
    }
    let mut url = endpoints.authorization.clone();
    let mut all: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    all.extend(params.into_iter().map(|(k, v)| (k.to_string(), v)));
    all.sort_by(|a, b| a.0.cmp(&b.0));
    url.query_pairs_mut().clear().extend_pairs(all);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_challenge_is_the_hash_of_the_verifier() {
        let (verifier, challenge) = pkce(PkceMethod::S256);
        assert_eq!(verifier.len(), 128);
        assert_eq!(challenge, hash_b64(&verifier));
        let (v, c) = pkce(PkceMethod::Plain);
        assert_eq!(v, c);
    }
}
