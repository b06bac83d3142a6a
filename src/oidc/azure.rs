//! oauth2-proxy's legacy Azure AD provider (`provider = "azure"`, its `providers/azure.go`):
//! OpenID Connect against Azure AD's v1 or v2.0 endpoints. What it adds to OIDC:
//!
//! - v1 endpoints take the protected `resource` in the authorization request and the code
//!   redemption; v2.0 endpoints (the login URL says `v2.0`) take Graph's `.default` scope
//!   instead, and never `groups`.
//! - A user whose verified ID token has no email is known by the profile (Graph's `/me`):
//!   `mail`, else the first of `otherMails`, else `userPrincipalName`.
//! - On v2.0, the user's security groups come from Graph (`/v1.0/me/transitiveMemberOf`, named
//!   by `azure_graph_group_field`) besides the token's, at login and at every refresh.
//! - The profile (unless `validate_url` says otherwise) is where a session's access token is
//!   validated.
//!
//! Never reads an unverified token's claims, and never sends the access token to another
//! origin than the profile's (Graph's next pages included).

use serde_json::{Map, Value};
use url::Url;

use super::http::Call;
use super::{Endpoints, Error, Provider};
use crate::identity::Identity;

/// Azure AD's login host, whose `/<tenant>/oauth2/{authorize,token}` are the v1 endpoints.
pub const LOGIN_HOST: &str = "https://login.microsoftonline.com";

/// Where the profile is when neither discovery nor `profile_url` says.
pub const PROFILE_URL: &str = "https://graph.microsoft.com/v1.0/me";

/// `azure_graph_group_field`'s default: groups are named by their object id.
pub const DEFAULT_GROUP_FIELD: &str = "id";

/// The azure provider's own settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which field of a Graph group names it (`id`, `displayName`, or another of its fields).
    pub graph_group_field: String,
    /// `resource`: the API the v1 access token is for.
    pub resource: Option<String>,
}

/// Whether these are Azure AD's v2.0 endpoints (oauth2-proxy: the login URL says `v2.0`).
pub fn is_v2(endpoints: &Endpoints) -> bool {
    endpoints.authorization.as_str().contains("v2.0")
}

/// The profile: discovery's userinfo or `profile_url`, else Graph's `/me`.
pub fn profile_url(endpoints: &Endpoints) -> Url {
    endpoints.userinfo.clone().unwrap_or_else(|| Url::parse(PROFILE_URL).expect("a URL"))
}

/// Graph's origin as oauth2-proxy finds it: always https, on the profile's host (and port).
fn graph_origin(profile: &Url) -> String {
    let host = profile.host_str().unwrap_or_default();
    match profile.port() {
        Some(port) => format!("https://{host}:{port}"),
        None => format!("https://{host}"),
    }
}

/// The scope the authorization request carries: on v2.0, without `groups` (not a scope
/// there) and with Graph's `.default` (so the access token can read the groups).
pub fn scope(configured: &str, endpoints: &Endpoints) -> String {
    if !is_v2(endpoints) {
        return configured.to_string();
    }
    let graph = format!("{}/.default", graph_origin(&profile_url(endpoints)));
    let mut parts: Vec<&str> = configured.split(' ').filter(|s| !s.is_empty() && *s != "groups").collect();
    if !parts.contains(&graph.as_str()) {
        parts.push(&graph);
    }
    parts.join(" ")
}

/// The `resource` parameter of the authorization request and the code redemption (v1 only).
pub fn resource<'a>(settings: Option<&'a Settings>, endpoints: &Endpoints) -> Option<&'a str> {
    settings.and_then(|s| s.resource.as_deref()).filter(|_| !is_v2(endpoints))
}

/// Graph's security groups of the caller, with the group field selected.
fn groups_url(profile: &Url, field: &str) -> Result<Url, Error> {
    let mut select = "displayName,id".to_string();
    if field != "displayName" && field != "id" {
        select.push(',');
        select.push_str(field);
    }
    let url = format!("{}/v1.0/me/transitiveMemberOf?$count=true&$filter=securityEnabled+eq+true&$select={select}", graph_origin(profile));
    Url::parse(&url).map_err(|e| Error::Internal(format!("Microsoft Graph's groups URL: {e}")))
}

/// The email a Graph profile names: `mail`, else the first of `otherMails`, else
/// `userPrincipalName` (oauth2-proxy's `getEmailFromJSON`); `claim` first, as oauth2-proxy's
/// claim extractor reads it there before.
fn profile_email(profile: &Map<String, Value>, claim: &str) -> Option<String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    text(super::claims::lookup(profile, claim))
        .or_else(|| text(profile.get("mail")))
        .or_else(|| text(profile.get("otherMails").and_then(Value::as_array).and_then(|m| m.first())))
        .or_else(|| text(profile.get("userPrincipalName")))
}

impl Provider {
    /// What fills the gaps of a verified ID token: with an email there, nothing; without (or
    /// an empty one, which then goes), the profile's email, as userinfo claims about the same
    /// subject.
    pub(super) async fn azure_profile(
        &self,
        id_claims: &mut Map<String, Value>,
        access_token: &str,
    ) -> Result<Option<Map<String, Value>>, Error> {
        let claim = self.cfg.email_claim.as_str();
        if super::claims::lookup(id_claims, claim).and_then(Value::as_str).is_some_and(|e| !e.is_empty()) {
            return Ok(None);
        }
        let profile = profile_url(&*self.endpoints()?);
        let res = self.http.get(Call::Userinfo, &profile, Some(access_token)).await?;
        if res.status != 200 {
            return Err(Error::BadResponse(format!("the profile ({}) answered {}", super::http::without_query(&profile), res.status)));
        }
        let found: Map<String, Value> =
            serde_json::from_slice(&res.body).map_err(|_| Error::BadResponse("the profile is not a JSON object".into()))?;
        let Some(email) = profile_email(&found, claim) else {
            return Ok(None);
        };
        if id_claims.get(claim).is_some_and(|v| v.as_str() == Some("")) {
            id_claims.remove(claim);
        }
        let mut fill = Map::new();
        // The profile answered for this access token, so for the ID token's subject.
        fill.insert("sub".into(), id_claims.get("sub").cloned().unwrap_or_default());
        fill.insert(claim.to_string(), Value::String(email));
        Ok(Some(fill))
    }

    /// On v2.0 endpoints, the user's Graph security groups join the token's.
    pub(super) async fn azure_groups(&self, identity: &mut Identity, access_token: &str) -> Result<(), Error> {
        let endpoints = self.endpoints()?;
        if !is_v2(&endpoints) {
            return Ok(());
        }
        let field = self.cfg.azure.as_ref().map_or(DEFAULT_GROUP_FIELD, |s| s.graph_group_field.as_str());
        let url = groups_url(&profile_url(&endpoints), field)?;
        for group in self.graph_pages(url, field, access_token).await? {
            if !identity.groups.contains(&group) {
                identity.groups.push(group);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::keys::KeySource;
    use serde_json::json;

    fn endpoints(authorization: &str, userinfo: Option<&str>) -> Endpoints {
        Endpoints {
            issuer: String::new(),
            authorization: Url::parse(authorization).unwrap(),
            token: Url::parse("https://login.microsoftonline.com/t/oauth2/token").unwrap(),
            userinfo: userinfo.map(|u| Url::parse(u).unwrap()),
            end_session: None,
            algorithms: Vec::new(),
            keys: KeySource::None,
        }
    }

    #[test]
    fn v2_scope_drops_groups_and_asks_for_graph() {
        let v1 = endpoints("https://login.microsoftonline.com/t/oauth2/authorize", None);
        let v2 = endpoints("https://login.microsoftonline.com/t/oauth2/v2.0/authorize", None);
        assert_eq!(scope("openid groups", &v1), "openid groups");
        assert_eq!(scope("openid email groups", &v2), "openid email https://graph.microsoft.com/.default");
        let own = endpoints("http://127.0.0.1:9/oauth2/v2.0/authorize", Some("http://localhost:8443/v1.0/me"));
        assert_eq!(scope("openid https://localhost:8443/.default", &own), "openid https://localhost:8443/.default");
    }

    #[test]
    fn resource_only_on_v1() {
        let s = Settings { graph_group_field: "id".into(), resource: Some("https://api".into()) };
        assert_eq!(resource(Some(&s), &endpoints("https://h/t/oauth2/authorize", None)), Some("https://api"));
        assert_eq!(resource(Some(&s), &endpoints("https://h/t/oauth2/v2.0/authorize", None)), None);
    }

    #[test]
    fn groups_url_selects_the_field() {
        let me = Url::parse("https://graph.microsoft.com/v1.0/me").unwrap();
        assert_eq!(
            groups_url(&me, "id").unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/me/transitiveMemberOf?$count=true&$filter=securityEnabled+eq+true&$select=displayName,id"
        );
        assert!(groups_url(&me, "mailNickname").unwrap().as_str().ends_with("$select=displayName,id,mailNickname"));
        // oauth2-proxy asks https on the profile's host, whatever the profile's scheme.
        let plain = Url::parse("http://localhost:8080/me").unwrap();
        assert!(groups_url(&plain, "id").unwrap().as_str().starts_with("https://localhost:8080/v1.0/me/"));
    }

    #[test]
    fn the_profile_email_is_mail_then_other_mails_then_upn() {
        let m = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(profile_email(&m(json!({"mail": "a@x", "userPrincipalName": "u@x"})), "email").as_deref(), Some("a@x"));
        assert_eq!(
            profile_email(&m(json!({"mail": null, "otherMails": ["o@x"], "userPrincipalName": "u@x"})), "email").as_deref(),
            Some("o@x")
        );
        assert_eq!(profile_email(&m(json!({"mail": "", "otherMails": [], "userPrincipalName": "u@x"})), "email").as_deref(), Some("u@x"));
        assert_eq!(profile_email(&m(json!({"email": "e@x", "mail": "a@x"})), "email").as_deref(), Some("e@x"));
        assert_eq!(profile_email(&m(json!({"id": "1"})), "email"), None);
    }
}
