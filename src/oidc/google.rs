//! Google (`provider = "google"`, oauth2-proxy's default): OpenID Connect against
//! `https://accounts.google.com` (offline access asked for, so sessions refresh), and, with a
//! service account (`google_service_account_json`, acting as `google_admin_email`), the
//! user's Google groups from the Admin SDK Directory API: membership of each of
//! `google_groups` (`hasMember`), or without them every group of the user. Groups are read at
//! login and at every refresh, so a user taken out of the groups loses the session then.
//!
//! The service account's token comes from its own JWT (RS256, its private key) at its
//! `token_uri`, asked for the narrowest Directory scope the account was granted (oauth2-proxy's
//! order), and is kept until a minute before it expires.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;

use super::http::{Auth, Call, ClientAuth};
use super::{Error, Provider};
use crate::base::Secret;

pub const ISSUER: &str = "https://accounts.google.com";
pub const ADMIN_API_URL: &str = "https://admin.googleapis.com";
/// oauth2-proxy's default `validate_url` for Google: the token must still be known there.
pub const VALIDATE_URL: &str = "https://www.googleapis.com/oauth2/v1/tokeninfo";

/// The Directory scopes tried in turn, as oauth2-proxy does: the first the account may use wins.
const SCOPES: [&str; 4] = [
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member",
    "https://www.googleapis.com/auth/admin.directory.group",
];

/// At most this many pages of 200 groups are read.
const MAX_PAGES: usize = 50;

/// A service account key file's fields Gatehouse uses.
#[derive(Clone)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key_id: String,
    pub private_key: Secret<String>,
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount").field("client_email", &self.client_email).field("token_uri", &self.token_uri).finish()
    }
}

#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    #[serde(default)]
    private_key_id: String,
    private_key: String,
    token_uri: String,
}

impl ServiceAccount {
    /// Reads and checks a key file: a service account's, with a usable RSA key.
    pub fn parse(text: &str) -> Result<ServiceAccount, String> {
        let file: KeyFile = serde_json::from_str(text).map_err(|e| format!("is not a service account key file ({e})"))?;
        let account = ServiceAccount {
            client_email: file.client_email,
            private_key_id: file.private_key_id,
            private_key: Secret::new(file.private_key),
            token_uri: file.token_uri,
        };
        jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.expose().as_bytes())
            .map_err(|_| "its private_key is not an RSA private key in PEM".to_string())?;
        Url::parse(&account.token_uri).map_err(|_| format!("its token_uri {:?} is not a URL", account.token_uri))?;
        Ok(account)
    }
}

/// The Directory settings: who asks, as whom, where, and which groups matter.
#[derive(Debug, Clone)]
pub struct Directory {
    /// `google_service_account_json`, as given.
    pub key_file: std::path::PathBuf,
    pub account: ServiceAccount,
    pub admin_email: String,
    pub api_url: Url,
    /// `google_groups`: only these are checked (and one is required); empty: every group.
    pub groups: Vec<String>,
}

/// The service account's current token and the scope that worked.
#[derive(Default)]
pub struct TokenCache {
    token: Mutex<Option<(String, Instant)>>,
    scope: Mutex<Option<&'static str>>,
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct Member {
    #[serde(rename = "isMember", default)]
    is_member: bool,
}

#[derive(Deserialize)]
struct MemberStatus {
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct GroupsPage {
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(rename = "nextPageToken", default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Group {
    #[serde(default)]
    email: String,
}

#[derive(serde::Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

impl Provider {
    /// The user's Google groups: those of `google_groups` they are a member of, or all of
    /// theirs. `None` without a Directory (the ID token's groups stay).
    pub(super) async fn google_groups(&self, email: &str) -> Result<Option<Vec<String>>, Error> {
        let Some(dir) = &self.cfg.google else { return Ok(None) };
        if dir.groups.is_empty() {
            // As oauth2-proxy: without google_groups nothing depends on the list, so a failure
            // to read it leaves the user without groups rather than without a login.
            return Ok(Some(self.all_groups(dir, email).await.unwrap_or_else(|e| {
                log::warn!("Google groups of {email} could not be read: {e}");
                Vec::new()
            })));
        }
        let mut member_of = Vec::new();
        for group in &dir.groups {
            if self.is_member(dir, group, email).await? {
                member_of.push(group.clone());
            }
        }
        Ok(Some(member_of))
    }

    fn directory_url(dir: &Directory, path: &[&str]) -> Url {
        let mut url = dir.api_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(["admin", "directory", "v1"]).extend(path);
        }
        url
    }

    /// `hasMember` (nested groups count); a 400 (a member outside the domain) is asked again
    /// as the member's status, a 404 (no such group) is no.
    async fn is_member(&self, dir: &Directory, group: &str, email: &str) -> Result<bool, Error> {
        let token = self.directory_token(dir).await?;
        let res = self
            .http
            .get_with(Call::Userinfo, &Self::directory_url(dir, &["groups", group, "hasMember", email]), Auth::Bearer(&token))
            .await?;
        match res.status {
            200 => serde_json::from_slice::<Member>(&res.body)
                .map(|m| m.is_member)
                .map_err(|e| Error::BadResponse(super::http::unreadable("Google's hasMember", &e))),
            400 => {
                let url = Self::directory_url(dir, &["groups", group, "members", email]);
                let res = self.http.get_with(Call::Userinfo, &url, Auth::Bearer(&token)).await?;
                Ok(res.status == 200 && serde_json::from_slice::<MemberStatus>(&res.body).is_ok_and(|m| m.status == "ACTIVE"))
            }
            404 => {
                log::warn!("Google group {group} does not exist");
                Ok(false)
            }
            status => Err(Error::BadResponse(format!("Google's Directory API answered {status} for group {group}"))),
        }
    }

    /// Every group of the user (their addresses), page after page.
    async fn all_groups(&self, dir: &Directory, email: &str) -> Result<Vec<String>, Error> {
        let token = self.directory_token(dir).await?;
        let mut groups = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = Self::directory_url(dir, &["groups"]);
            url.query_pairs_mut().append_pair("maxResults", "200").append_pair("userKey", email);
            if let Some(t) = &page_token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let res = self.http.get_with(Call::Userinfo, &url, Auth::Bearer(&token)).await?;
            if res.status != 200 {
                return Err(Error::BadResponse(format!("Google's Directory API answered {} for the groups of a user", res.status)));
            }
            let page: GroupsPage =
                serde_json::from_slice(&res.body).map_err(|e| Error::BadResponse(super::http::unreadable("Google's group list", &e)))?;
            groups.extend(page.groups.into_iter().map(|g| g.email).filter(|e| !e.is_empty() && !e.chars().any(char::is_control)));
            match page.next.filter(|t| !t.is_empty()) {
                Some(t) => page_token = Some(t),
                None => return Ok(groups),
            }
        }
        Err(Error::BadResponse(format!("Google's group list has more than {MAX_PAGES} pages")))
    }

    /// The service account's token, from the cache or a new JWT grant.
    async fn directory_token(&self, dir: &Directory) -> Result<String, Error> {
        if let Some((token, until)) = &*self.google_tokens.token.lock().unwrap_or_else(|e| e.into_inner())
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let known = *self.google_tokens.scope.lock().unwrap_or_else(|e| e.into_inner());
        let scopes: Vec<&'static str> = match known {
            Some(s) => vec![s],
            None => SCOPES.to_vec(),
        };
        for scope in scopes {
            match self.service_account_grant(dir, scope).await? {
                Some(token) => {
                    *self.google_tokens.scope.lock().unwrap_or_else(|e| e.into_inner()) = Some(scope);
                    let until = Instant::now() + Duration::from_secs(token.expires_in.unwrap_or(3600).saturating_sub(60));
                    *self.google_tokens.token.lock().unwrap_or_else(|e| e.into_inner()) = Some((token.access_token.clone(), until));
                    return Ok(token.access_token);
                }
                None => continue,
            }
        }
        Err(Error::Internal("the Google service account may use none of the Directory API's group scopes".into()))
    }

    /// One JWT grant for `scope`; `None` when the account is not allowed that scope.
    async fn service_account_grant(&self, dir: &Directory, scope: &str) -> Result<Option<Token>, Error> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let a = &dir.account;
        let claims = Assertion { iss: &a.client_email, sub: &dir.admin_email, scope, aud: &a.token_uri, iat: now, exp: now + 3600 };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = (!a.private_key_id.is_empty()).then(|| a.private_key_id.clone());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(a.private_key.expose().as_bytes())
            .map_err(|_| Error::Internal("the service account's private key is not RSA".into()))?;
        let assertion =
            jsonwebtoken::encode(&header, &claims, &key).map_err(|e| Error::Internal(format!("signing the service account's JWT: {e}")))?;
        let url = Url::parse(&a.token_uri).map_err(|_| Error::Internal("the service account's token_uri is not a URL".into()))?;
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
        let res = self.http.post_form(Call::Token, &url, &form, ClientAuth::None).await?;
        if res.status == 200 {
            return serde_json::from_slice(&res.body)
                .map(Some)
                .map_err(|e| Error::BadResponse(super::http::unreadable("the service account's token", &e)));
        }
        let body: serde_json::Value = serde_json::from_slice(&res.body).unwrap_or_default();
        if body["error"] == "unauthorized_client" {
            return Ok(None);
        }
        Err(Error::BadResponse(format!("the service account's token endpoint answered {} ({})", res.status, body["error"])))
    }
}
