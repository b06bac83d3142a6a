//! Microsoft Entra ID (`provider = "entra-id"`), as oauth2-proxy's: OpenID Connect, plus the
//! tenant rule (the token's `tid`, or the tenant in a `login.microsoftonline.com` issuer, must
//! be one of `entra_id_allowed_tenants` when set; a token naming no tenant is refused) and the
//! group overage: when a user is in too many groups for the ID token, Entra leaves `groups`
//! out and points at them (`_claim_names.groups`); the groups are then read from Microsoft
//! Graph (`/v1.0/me/transitiveMemberOf`, every page), with the access token.
//!
//! Never sends the access token anywhere but the configured Graph origin: a `@odata.nextLink`
//! to another origin refuses the login.

use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::http::{Auth, Call};
use super::{Error, Provider};
use crate::identity::Identity;

/// Global Azure's Graph; national clouds have their own (`microsoft_graph_url`).
pub const GRAPH_URL: &str = "https://graph.microsoft.com";

/// At most this many pages of 100 groups are read.
const MAX_PAGES: usize = 50;

/// `entra_id_allowed_tenants` and where Graph is.
#[derive(Debug, Clone)]
pub struct Settings {
    pub allowed_tenants: Vec<String>,
    /// Graph's origin (`https://graph.microsoft.com`).
    pub graph_url: Url,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    value: Vec<Map<String, Value>>,
    #[serde(rename = "@odata.nextLink", default)]
    next: Option<String>,
}

/// The token's tenant: `tid`, else the tenant of a `https://login.microsoftonline.com/<t>/v2.0`
/// issuer (oauth2-proxy's `getTenantFromToken`).
pub fn tenant(claims: &Map<String, Value>) -> Option<String> {
    if let Some(tid) = claims.get("tid").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        return Some(tid.to_string());
    }
    let iss = claims.get("iss").and_then(Value::as_str)?;
    let t = iss.strip_prefix("https://login.microsoftonline.com/")?.strip_suffix("/v2.0")?;
    (!t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')).then(|| t.to_string())
}

/// Whether the groups are too many for the token (`_claim_names` names `groups`).
pub fn overage(claims: &Map<String, Value>) -> bool {
    claims.get("_claim_names").and_then(Value::as_object).is_some_and(|names| names.contains_key("groups"))
}

impl Provider {
    /// The tenant rule, then the overage groups from Graph, into `identity`.
    pub(super) async fn entra_identity(
        &self,
        claims: &Map<String, Value>,
        access_token: &str,
        identity: &mut Identity,
    ) -> Result<(), Error> {
        let settings = self.entra_tenant(claims)?;
        if overage(claims) {
            for group in self.graph_groups(settings, access_token).await? {
                if !identity.groups.contains(&group) {
                    identity.groups.push(group);
                }
            }
        }
        Ok(())
    }

    /// The tenant rule: the token names a tenant, one of `entra_id_allowed_tenants` when set.
    /// Bearer tokens are held to it too (oauth2-proxy checks it at login and refresh only).
    pub(super) fn entra_tenant(&self, claims: &Map<String, Value>) -> Result<&Settings, Error> {
        let settings = self.cfg.entra.as_ref().ok_or_else(|| Error::Internal("entra-id without its settings".into()))?;
        let Some(tenant) = tenant(claims) else {
            return Err(Error::Denied("the token names no Entra tenant (tid)".into()));
        };
        if !settings.allowed_tenants.is_empty() && !settings.allowed_tenants.contains(&tenant) {
            return Err(Error::Denied(format!("tenant {tenant} is not one of entra_id_allowed_tenants")));
        }
        Ok(settings)
    }

    /// Every group id of `/me/transitiveMemberOf`.
    async fn graph_groups(&self, settings: &Settings, access_token: &str) -> Result<Vec<String>, Error> {
        let mut url = settings.graph_url.clone();
        url.set_path(&format!("{}/v1.0/me/transitiveMemberOf", url.path().trim_end_matches('/')));
        url.set_query(Some("$select=id&$top=100"));
        self.graph_pages(url, "id", access_token).await
    }

    /// The `field` of every object of a Graph list, page after page (`@odata.nextLink`, only
    /// on the first page's origin: the access token goes nowhere else). More than
    /// [`MAX_PAGES`] pages refuse rather than cut the list short. (Shared with `azure`.)
    pub(super) async fn graph_pages(&self, first: Url, field: &str, access_token: &str) -> Result<Vec<String>, Error> {
        let origin = first.origin();
        let mut url = first;
        let mut found = Vec::new();
        for _ in 0..MAX_PAGES {
            let res = self.http.get_with(Call::Userinfo, &url, Auth::Graph(access_token)).await?;
            if res.status != 200 {
                return Err(Error::BadResponse(format!("Microsoft Graph answered {}", res.status)));
            }
            let page: Page = serde_json::from_slice(&res.body)
                .map_err(|e| Error::BadResponse(super::http::unreadable("Microsoft Graph's answer", &e)))?;
            // A value that is not a string, or could not travel as a header, names no group.
            found.extend(
                page.value
                    .iter()
                    .filter_map(|m| m.get(field).and_then(Value::as_str))
                    .filter(|v| !v.is_empty() && !v.chars().any(char::is_control))
                    .map(str::to_string),
            );
            let Some(next) = page.next else { return Ok(found) };
            let next = Url::parse(&next).map_err(|_| Error::BadResponse("Microsoft Graph's next page is not a URL".into()))?;
            if next.origin() != origin {
                return Err(Error::BadResponse(format!(
                    "Microsoft Graph's next page is elsewhere ({})",
                    super::http::without_query(&next)
                )));
            }
            url = next;
        }
        Err(Error::BadResponse(format!("Microsoft Graph has more than {MAX_PAGES} pages of groups")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_tenant_is_tid_or_the_issuers() {
        assert_eq!(tenant(&claims(json!({"tid": "t1", "iss": "https://login.microsoftonline.com/t2/v2.0"}))).as_deref(), Some("t1"));
        assert_eq!(tenant(&claims(json!({"iss": "https://login.microsoftonline.com/t2/v2.0"}))).as_deref(), Some("t2"));
        assert_eq!(tenant(&claims(json!({"iss": "https://sts.windows.net/t3/"}))), None);
        assert_eq!(tenant(&claims(json!({"tid": ""}))), None);
    }

    #[test]
    fn overage_is_named_by_claim_names() {
        assert!(overage(&claims(json!({"_claim_names": {"groups": "src1"}}))));
        assert!(!overage(&claims(json!({"_claim_names": {"roles": "src1"}, "groups": ["a"]}))));
    }
}
