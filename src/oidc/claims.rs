//! Claims → identity, as oauth2-proxy's generic OIDC provider maps them: user = `sub`, email
//! from the configured email claim (dot paths allowed), groups from the groups claim (a string
//! becomes a one-element list), `preferred_username`; `email_verified: false` refuses the login
//! unless allowed.

use serde_json::{Map, Value};

use crate::identity::Identity;

/// Why claims do not make an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("neither the ID token nor the userinfo endpoint gave an email ({0} claim)")]
    NoEmail(String),
    #[error("the email address is not verified by the provider")]
    Unverified,
    #[error("the token has no subject")]
    NoSubject,
    /// OIDC Core 5.3.2: userinfo about someone else must not be used.
    #[error("the userinfo response is about another subject than the ID token")]
    SubjectMismatch,
    /// A value that would have to travel as a header cannot be one.
    #[error("the {0} claim holds a control character, so it cannot be passed on as a header")]
    NotHeaderSafe(String),
    /// keycloak-oidc reads roles from the access token, which must then be a JWT.
    #[error("the access token is not a JWT, so its Keycloak roles cannot be read")]
    AccessTokenNotJwt,
}

/// Looks up a dot path (`realm_access.roles`).
pub fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut cur = claims.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// True when the ID token lacks a claim the identity needs (so userinfo should be asked).
pub fn missing(claims: &Map<String, Value>, email_claim: &str, groups_claim: &str, additional: &[String]) -> bool {
    lookup(claims, email_claim).is_none()
        || lookup(claims, groups_claim).is_none()
        || additional.iter().any(|c| lookup(claims, c).is_none())
}

/// Builds the identity from ID token claims, filling gaps from userinfo claims.
pub fn identity(
    id_claims: &Map<String, Value>,
    userinfo: Option<&Map<String, Value>>,
    email_claim: &str,
    groups_claim: &str,
    allow_unverified_email: bool,
) -> Result<Identity, ClaimsError> {
    // A claim the ID token states as `null` is missing there (oauth2-proxy's claim extractor
    // then asks the profile too).
    let get = |path: &str| lookup(id_claims, path).filter(|v| !v.is_null()).or_else(|| userinfo.and_then(|u| lookup(u, path)));
    let user = id_claims.get("sub").and_then(as_text).filter(|s| !s.is_empty()).ok_or(ClaimsError::NoSubject)?;
    if let Some(u) = userinfo
        && u.get("sub").and_then(as_text).as_deref() != Some(user.as_str())
    {
        return Err(ClaimsError::SubjectMismatch);
    }
    let email = get(email_claim).and_then(as_text).unwrap_or_default();
    if email.is_empty() {
        return Err(ClaimsError::NoEmail(email_claim.to_string()));
    }
    if email_claim == "email" && !allow_unverified_email {
        let verified = get("email_verified");
        let unverified = matches!(verified, Some(Value::Bool(false))) || matches!(verified, Some(Value::String(s)) if s == "false");
        if unverified {
            return Err(ClaimsError::Unverified);
        }
    }
    let groups = match get(groups_claim) {
        Some(Value::Array(items)) => items.iter().filter_map(as_text).collect(),
        Some(other) => as_text(other).into_iter().collect(),
        None => Vec::new(),
    };
    let preferred_username = get("preferred_username").and_then(as_text).unwrap_or_default();
    // Every value reaches an upstream or an edge proxy as a header: one that cannot be a
    // header refuses the login, rather than a success with part of the identity missing.
    let unsafe_claim = [("sub", &user), (email_claim, &email), ("preferred_username", &preferred_username)]
        .into_iter()
        .chain(groups.iter().map(|g| (groups_claim, g)))
        .find(|(_, v)| v.chars().any(char::is_control));
    if let Some((claim, _)) = unsafe_claim {
        return Err(ClaimsError::NotHeaderSafe(claim.to_string()));
    }
    Ok(Identity { user, subject: None, email, groups, preferred_username, additional: Default::default() })
}

/// The alpha `additionalClaims` the provider states (the ID token's, else userinfo's), kept
/// as they are. One that could not travel as a header refuses the login, as the others do.
pub fn additional(
    id_claims: &Map<String, Value>,
    userinfo: Option<&Map<String, Value>>,
    names: &[String],
) -> Result<std::collections::BTreeMap<String, Value>, ClaimsError> {
    let mut out = std::collections::BTreeMap::new();
    for name in names {
        let Some(value) = lookup(id_claims, name).or_else(|| userinfo.and_then(|u| lookup(u, name))) else { continue };
        if crate::identity::coerce(value).iter().any(|v| v.chars().any(char::is_control)) {
            return Err(ClaimsError::NotHeaderSafe(name.clone()));
        }
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_claim_in_the_id_token_is_asked_of_userinfo() {
        let id = serde_json::json!({"sub": "u1", "email": null}).as_object().unwrap().clone();
        let info = serde_json::json!({"sub": "u1", "email": "u1@example.com"}).as_object().unwrap().clone();
        assert_eq!(identity(&id, Some(&info), "email", "groups", false).unwrap().email, "u1@example.com");
        assert_eq!(identity(&id, None, "email", "groups", false), Err(ClaimsError::NoEmail("email".into())));
    }
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn tutorial_mapping_takes_email_from_username() {
        let c = map(json!({"sub": "u1", "username": "alice@wso2.example", "groups": "admins"}));
        let id = identity(&c, None, "username", "groups", false).unwrap();
        assert_eq!(id.email, "alice@wso2.example");
        assert_eq!(id.groups, ["admins"]);
    }

    #[test]
    fn unverified_email_refused_unless_allowed() {
        let c = map(json!({"sub": "u1", "email": "a@x", "email_verified": false}));
        assert_eq!(identity(&c, None, "email", "groups", false), Err(ClaimsError::Unverified));
        assert!(identity(&c, None, "email", "groups", true).is_ok());
    }

    #[test]
    fn userinfo_about_another_subject_is_refused() {
        let c = map(json!({"sub": "u1"}));
        for ui in [json!({"sub": "u2", "email": "a@x"}), json!({"email": "a@x"}), json!({"sub": "U1", "email": "a@x"})] {
            assert_eq!(identity(&c, Some(&map(ui.clone())), "email", "groups", true), Err(ClaimsError::SubjectMismatch), "{ui}");
        }
        assert!(identity(&c, Some(&map(json!({"sub": "u1", "email": "a@x"}))), "email", "groups", true).is_ok());
    }

    #[test]
    fn claims_that_cannot_be_headers_refuse_the_login() {
        for (claims, bad) in [
            (json!({"sub": "u1\r\nX-Admin: 1", "email": "a@x"}), "sub"),
            (json!({"sub": "u1", "email": "a@x\n"}), "email"),
            (json!({"sub": "u1", "email": "a@x", "groups": ["ok", "ad\u{0}mins"]}), "groups"),
            (json!({"sub": "u1", "email": "a@x", "preferred_username": "al\u{7f}ice"}), "preferred_username"),
        ] {
            assert_eq!(identity(&map(claims), None, "email", "groups", true), Err(ClaimsError::NotHeaderSafe(bad.into())));
        }
        // Non-ASCII text is a valid header value (UTF-8 bytes), as in oauth2-proxy.
        assert!(identity(&map(json!({"sub": "u1", "email": "zoë@x", "groups": ["équipe"]})), None, "email", "groups", true).is_ok());
    }

    #[test]
    fn dot_paths_and_userinfo_fallback() {
        let c = map(json!({"sub": "u1", "email": "a@x"}));
        let ui = map(json!({"sub": "u1", "realm": {"roles": ["r1", "r2"]}}));
        let id = identity(&c, Some(&ui), "email", "realm.roles", false).unwrap();
        assert_eq!(id.groups, ["r1", "r2"]);
    }
}
