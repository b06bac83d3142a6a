//! HTTP calls to the identity provider over awc.
//!
//! awc clients are `!Send`, and provider calls are rare (discovery, keys, login, refresh), so a
//! client is built per call from the shared TLS configuration instead of being kept per thread.
//! Redirects are never followed: the endpoints come from discovery, and following a redirect
//! from a token endpoint would send the client secret elsewhere.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header;
use awc::{Client, Connector};
use base64::Engine;
use rustls::ClientConfig;
use url::Url;

use openidconnect::StandardErrorResponse;
use openidconnect::core::CoreErrorResponseType;

use super::{Error, OAuthError, TokenSet};
use crate::metrics::Metrics;

/// The largest provider response read (discovery documents and key sets are a few KB).
const BODY_LIMIT: usize = 1024 * 1024;

pub struct Http {
    tls: Arc<ClientConfig>,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

/// Which provider endpoint a call is for: the `endpoint` label of the latency metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Discovery,
    Keys,
    Token,
    Userinfo,
    /// `validate_url`, asked about a refreshed access token.
    Validate,
    Logout,
}

impl Call {
    fn label(self) -> &'static str {
        match self {
            Call::Discovery => "discovery",
            Call::Keys => "jwks",
            Call::Token => "token",
            Call::Userinfo => "userinfo",
            Call::Validate => "validate",
            Call::Logout => "logout",
        }
    }
}

/// A provider response: status, content type, `Link` (GitHub's pages) and body.
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub link: Option<String>,
    pub body: bytes::Bytes,
}

/// How a GET authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    /// `Authorization: Bearer <token>`, asking for JSON.
    Bearer(&'a str),
    /// Microsoft Graph: a bearer token, with `ConsistencyLevel: eventual` (as oauth2-proxy).
    Graph(&'a str),
    /// GitHub's API: `Authorization: token <token>`, asking for its v3 JSON.
    GitHub(&'a str),
}

/// How the client authenticates at the token endpoint.
pub enum ClientAuth<'a> {
    Basic {
        id: &'a str,
        secret: &'a str,
    },
    Post {
        id: &'a str,
        secret: &'a str,
    },
    /// The form authenticates itself (a JWT assertion grant).
    None,
}

impl Http {
    pub fn new(tls: Arc<ClientConfig>, timeout: Duration, metrics: Arc<Metrics>) -> Self {
        Http { tls, timeout, metrics }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn client(&self) -> Client {
        let connector = Connector::new().rustls_0_23(self.tls.clone()).timeout(self.timeout);
        Client::builder().connector(connector).disable_redirects().timeout(self.timeout).finish()
    }

    pub async fn get(&self, call: Call, url: &Url, bearer: Option<&str>) -> Result<Response, Error> {
        self.get_with(call, url, bearer.map_or(Auth::None, Auth::Bearer)).await
    }

    pub async fn get_with(&self, call: Call, url: &Url, auth: Auth<'_>) -> Result<Response, Error> {
        let start = Instant::now();
        let res = self.get_inner(url, auth).await;
        self.metrics.idp(call.label(), start.elapsed().as_secs_f64(), res.is_ok());
        res
    }

    async fn get_inner(&self, url: &Url, auth: Auth<'_>) -> Result<Response, Error> {
        let req = self.client().get(url.as_str());
        let req = match auth {
            Auth::None => req.insert_header((header::ACCEPT, "application/json")),
            Auth::Bearer(token) => {
                req.insert_header((header::ACCEPT, "application/json")).insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
            }
            Auth::Graph(token) => req
                .insert_header((header::ACCEPT, "application/json"))
                .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
                .insert_header(("ConsistencyLevel", "eventual")),
            Auth::GitHub(token) => req
                .insert_header((header::ACCEPT, "application/vnd.github.v3+json"))
                .insert_header((header::AUTHORIZATION, format!("token {token}"))),
        };
        let res = req.send().await.map_err(|e| Error::Unreachable(format!("GET {}: {e}", without_query(url))))?;
        read(res, url).await
    }

    pub async fn post_form(&self, call: Call, url: &Url, form: &[(&str, &str)], auth: ClientAuth<'_>) -> Result<Response, Error> {
        let start = Instant::now();
        let res = self.post_form_inner(url, form, auth).await;
        self.metrics.idp(call.label(), start.elapsed().as_secs_f64(), res.is_ok());
        res
    }

    async fn post_form_inner(&self, url: &Url, form: &[(&str, &str)], auth: ClientAuth<'_>) -> Result<Response, Error> {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let mut req = self.client().post(url.as_str()).insert_header((header::ACCEPT, "application/json"));
        match auth {
            ClientAuth::Basic { id, secret } => {
                // RFC 6749 2.3.1: both parts are form-encoded before base64.
                let user = url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>();
                let pass = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>();
                let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                req = req.insert_header((header::AUTHORIZATION, format!("Basic {creds}")));
            }
            ClientAuth::Post { id, secret } => {
                fields.push(("client_id", id));
                fields.push(("client_secret", secret));
            }
            ClientAuth::None => {}
        }
        let res = req.send_form(&fields).await.map_err(|e| Error::Unreachable(format!("POST {}: {e}", without_query(url))))?;
        read(res, url).await
    }
}

async fn read<S>(mut res: awc::ClientResponse<S>, url: &Url) -> Result<Response, Error>
where
    S: futures_core::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    let status = res.status().as_u16();
    let content_type = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let link = res.headers().get(header::LINK).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = res.body().limit(BODY_LIMIT).await.map_err(|e| Error::Unreachable(format!("reading {}: {e}", without_query(url))))?;
    Ok(Response { status, content_type, link, body })
}

/// A URL for logs: no query string (it may carry codes or tokens).
pub fn without_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// A token response: JSON, or the form encoding GitHub answers with unless asked for JSON.
pub(super) fn token_set(body: &[u8]) -> Result<TokenSet, Error> {
    match serde_json::from_slice(body) {
        Ok(tokens) => Ok(tokens),
        Err(e) => {
            let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
            match form.get("access_token").filter(|t| !t.is_empty()) {
                Some(at) => Ok(TokenSet {
                    access_token: at.clone(),
                    id_token: form.get("id_token").cloned(),
                    refresh_token: form.get("refresh_token").cloned(),
                    expires_in: form.get("expires_in").and_then(|v| v.parse().ok()),
                }),
                None => Err(Error::BadResponse(unreadable("the token response", &e))),
            }
        }
    }
}

/// An OAuth error in a form-encoded token response (`error=bad_verification_code&...`).
pub(super) fn form_error(body: &[u8]) -> Option<OAuthError> {
    let (_, code) = url::form_urlencoded::parse(body).find(|(k, _)| k == "error")?;
    let json = serde_json::json!({ "error": code });
    serde_json::from_value::<StandardErrorResponse<CoreErrorResponseType>>(json).ok().map(|e| OAuthError(e.error().clone()))
}

pub(super) fn oauth_error(body: &[u8]) -> Option<OAuthError> {
    serde_json::from_slice::<StandardErrorResponse<CoreErrorResponseType>>(body).ok().map(|e| OAuthError(e.error().clone()))
}

/// A token lifetime in seconds: a JSON number, or a string holding one (Azure AD v1 answers
/// `"expires_in": "3599"`). Anything else is no lifetime.
pub(super) fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize;
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Why a provider's JSON answer could not be read, without quoting it: serde's messages
/// repeat the offending value, which in a token answer may be a token.
pub(super) fn unreadable(what: &str, e: &serde_json::Error) -> String {
    format!("{what} is not valid JSON of the expected shape ({:?} at line {}, column {})", e.classify(), e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_numbers_or_strings_of_numbers() {
        let read = |json: &str| token_set(json.as_bytes()).map(|t| t.expires_in).map_err(|e| e.to_string());
        assert_eq!(read(r#"{"access_token": "a", "expires_in": 3599}"#), Ok(Some(3599)));
        assert_eq!(read(r#"{"access_token": "a", "expires_in": "3599", "expires_on": "1700000000"}"#), Ok(Some(3599)));
        assert_eq!(read(r#"{"access_token": "a", "expires_in": "soon"}"#), Ok(None));
        assert_eq!(read(r#"{"access_token": "a"}"#), Ok(None));
        // An unreadable answer is described without repeating it (it may hold a token).
        let e = read(r#"{"access_token": ["secret-value"]}"#).unwrap_err();
        assert!(!e.contains("secret-value"), "{e}");
    }
}
