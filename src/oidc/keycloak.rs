//! Keycloak's roles (`provider = "keycloak-oidc"`), read as oauth2-proxy reads them: realm
//! roles from the access token's `realm_access.roles`, client roles from
//! `resource_access.<client>.roles` as `<client>:<role>`, each joined to the groups as
//! `role:<name>` so `allowed_roles = ["admin"]` is `allowed_groups = ["role:admin"]`.
//!
//! The access token is read, not verified: it came from the token endpoint in the same TLS
//! exchange as the verified ID token (or it *is* the verified bearer token), as in
//! oauth2-proxy. It never reads any other token.

use serde_json::{Map, Value};

use super::claims::ClaimsError;

/// The prefix that keeps roles apart from groups.
pub const ROLE_PREFIX: &str = "role:";

/// The roles an access token carries, each as `role:<name>`. A token that is not a JWT is
/// refused (oauth2-proxy refuses it too): a login whose roles cannot be read must not pass
/// as one without roles, or `allowed_roles` would be decided on nothing.
pub fn roles(access_token: &str) -> Result<Vec<String>, ClaimsError> {
    let claims = payload(access_token).ok_or(ClaimsError::AccessTokenNotJwt)?;
    let mut roles: Vec<String> = names(claims.get("realm_access")).map(|r| format!("{ROLE_PREFIX}{r}")).collect();
    if let Some(Value::Object(clients)) = claims.get("resource_access") {
        for (client, access) in clients {
            roles.extend(names(Some(access)).map(|r| format!("{ROLE_PREFIX}{client}:{r}")));
        }
    }
    match roles.iter().find(|r| r.chars().any(char::is_control)) {
        Some(_) => Err(ClaimsError::NotHeaderSafe("realm_access/resource_access roles".into())),
        None => Ok(roles),
    }
}

/// The string entries of `{"roles": [...]}`; anything else holds no roles.
fn names(access: Option<&Value>) -> impl Iterator<Item = &str> {
    access.and_then(|a| a.get("roles")).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

/// The JWT's payload as a JSON object, unverified (see the module's doc for why).
fn payload(token: &str) -> Option<Map<String, Value>> {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (_header, body, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The identity's groups after a refresh that returned no ID token: the login's groups stay,
/// its roles are replaced by the new access token's, so a role taken away at Keycloak is gone
/// at the next refresh.
pub fn replace_roles(groups: &[String], access_token: &str) -> Result<Vec<String>, ClaimsError> {
    let mut kept: Vec<String> = groups.iter().filter(|g| !g.starts_with(ROLE_PREFIX)).cloned().collect();
    kept.extend(roles(access_token)?);
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    fn jwt(claims: Value) -> String {
        let b = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!("{}.{}.sig", b(br#"{"alg":"RS256"}"#), b(claims.to_string().as_bytes()))
    }

    #[test]
    fn realm_and_client_roles_become_prefixed_groups() {
        let token = jwt(json!({
            "realm_access": {"roles": ["admin", "offline_access"]},
            "resource_access": {"app": {"roles": ["editor"]}, "account": {"roles": ["view-profile"]}, "odd": {"roles": "x"}, "bare": 3}
        }));
        assert_eq!(roles(&token).unwrap(), ["role:admin", "role:offline_access", "role:account:view-profile", "role:app:editor"]);
    }

    #[test]
    fn a_token_without_roles_has_none_and_one_that_is_no_jwt_is_refused() {
        assert_eq!(roles(&jwt(json!({"sub": "u"}))).unwrap(), Vec::<String>::new());
        for bad in ["opaque-token", "a.b", "a.!!.c", "a.b.c.d", "x.W10.y"] {
            assert_eq!(roles(bad), Err(ClaimsError::AccessTokenNotJwt), "{bad}");
        }
        let control = jwt(json!({"realm_access": {"roles": ["ad\nmin"]}}));
        assert!(matches!(roles(&control), Err(ClaimsError::NotHeaderSafe(_))));
    }

    #[test]
    fn a_refresh_replaces_the_roles_and_keeps_the_groups() {
        let groups = ["users".to_string(), "role:admin".to_string()];
        let token = jwt(json!({"realm_access": {"roles": ["viewer"]}}));
        assert_eq!(replace_roles(&groups, &token).unwrap(), ["users", "role:viewer"]);
    }
}
