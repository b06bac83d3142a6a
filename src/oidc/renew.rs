//! Keeping a session: what a refresh or a revalidation asks the provider and keeps of the
//! identity before it (`validate_url`, GitHub's and Azure's revalidation, Keycloak's roles
//! and Google's groups after a refresh without an ID token, GitLab's nickname).
//!
//! Never decides when a session is refreshed (the gate does) nor stores it.

use super::http::{self, Call};
use super::{Error, Provider, ProviderKind, azure, gitlab, keycloak};
use crate::identity::Identity;

impl Provider {
    /// After a refresh, with `validate_url`: does it accept the new access token (a GET with
    /// it as the bearer answered 200, oauth2-proxy's `validateToken`)? `Ok(true)` without
    /// `validate_url`; an unreachable endpoint is an error (the caller keeps the old session).
    pub async fn validate_access_token(&self, access_token: &str) -> Result<bool, Error> {
        let url = match (&self.cfg.validate_url, self.cfg.kind) {
            (Some(url), _) => url.clone(),
            // Azure's sessions are validated at the profile (oauth2-proxy's default there).
            (None, ProviderKind::Azure) => azure::profile_url(&*self.endpoints()?),
            (None, _) => return Ok(true),
        };
        let url = &url;
        if access_token.is_empty() {
            return Ok(false);
        }
        let res = if self.cfg.kind == ProviderKind::Google {
            // Google's tokeninfo (oauth2-proxy's default `validateToken`) reads the token from
            // the query.
            let mut url = url.clone();
            url.query_pairs_mut().append_pair("access_token", access_token);
            self.http.get(Call::Validate, &url, None).await?
        } else {
            self.http.get(Call::Validate, url, Some(access_token)).await?
        };
        if res.status != 200 {
            log::warn!("validate_url {} answered {} for a refreshed access token", http::without_query(url), res.status);
        }
        Ok(res.status == 200)
    }

    /// What a refresh keeps of the identity `before` it in the `refreshed` one (GitLab: the
    /// nickname and project groups; others: nothing, the refreshed identity is the whole).
    pub fn carry_over(&self, refreshed: &mut Identity, before: &Identity) {
        if self.cfg.kind == ProviderKind::GitLab {
            gitlab::carry_over(refreshed, before);
        }
    }

    /// A session that was not refreshed stays valid while its access token passes
    /// validation (Azure's, at the profile), not while its ID token verifies.
    pub fn validates_access_token(&self) -> bool {
        self.cfg.kind == ProviderKind::Azure
    }

    /// A session is kept by revalidating its access token when `cookie_refresh` is due, not by
    /// a refresh grant: GitHub's (its tokens are never refreshed), and Azure's without a
    /// refresh token (v2.0 without `offline_access`), validated at the profile as oauth2-proxy
    /// does; through the refresh machinery, so once per session and period, not per request.
    pub fn revalidates(&self, has_refresh_token: bool) -> bool {
        match self.cfg.kind {
            ProviderKind::GitHub => true,
            ProviderKind::Azure => !has_refresh_token,
            _ => false,
        }
    }

    /// The revalidation of [`Provider::revalidates`]: does the provider still accept the
    /// access token? Unreachable is an error.
    pub async fn revalidate(&self, access_token: &str) -> Result<bool, Error> {
        match self.cfg.kind {
            ProviderKind::GitHub => self.github_token_valid(access_token).await,
            _ => self.validate_access_token(access_token).await,
        }
    }

    /// After a refresh without an ID token, the identity `before` it as it now stands, or
    /// `None` when nothing is to change: keycloak-oidc's groups with the roles of the new
    /// access token in place of the old ones; google's groups read again from the Directory
    /// (as oauth2-proxy's `RefreshSession` checks them again).
    pub async fn refreshed_identity(&self, before: &Identity, access_token: &str) -> Result<Option<Identity>, Error> {
        match self.cfg.kind {
            ProviderKind::KeycloakOidc => {
                let groups = keycloak::replace_roles(&before.groups, access_token)?;
                Ok(Some(Identity { groups, ..before.clone() }))
            }
            ProviderKind::Google => match self.google_groups(&before.email).await? {
                Some(groups) => Ok(Some(Identity { groups, ..before.clone() })),
                None => Ok(None),
            },
            ProviderKind::Oidc
            | ProviderKind::Adfs { .. }
            | ProviderKind::GitLab
            | ProviderKind::GitHub
            | ProviderKind::EntraId
            | ProviderKind::Azure => Ok(None),
        }
    }
}
