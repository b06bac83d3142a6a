//! GitLab (`provider = "gitlab"`), as oauth2-proxy's: OpenID Connect, then at login GitLab's
//! own userinfo (`/oauth/userinfo`: the `nickname` becomes the user, its `groups` the groups,
//! an unverified email refuses the login) and, for each of `gitlab_projects`, the project API
//! (`/api/v4/projects/<path>`): a user with at least the project's access level gets the group
//! `project:<path>`. A refresh keeps the nickname and the project groups, as oauth2-proxy's.
//!
//! Never trusts what it cannot verify: the ID token is checked first, GitLab's answers only
//! fill in its subject's identity, and one that cannot be read refuses the login.

use serde::Deserialize;
use url::Url;

use super::claims::ClaimsError;
use super::http::Call;
use super::{Error, Provider};
use crate::identity::Identity;

/// The prefix that keeps project memberships apart from groups.
pub const PROJECT_PREFIX: &str = "project:";

/// One of `gitlab_projects`: `group/project` and the least access level (10 guest, 20
/// reporter, the default, 30 developer, 40 maintainer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub path: String,
    pub access_level: u32,
}

impl Project {
    /// `group/project` or `group/project=30`.
    pub fn parse(s: &str) -> Result<Project, String> {
        match s.split_once('=') {
            None => Ok(Project { path: s.to_string(), access_level: 20 }),
            Some((path, level)) => match level.parse::<u32>() {
                Ok(l @ (10 | 20 | 30 | 40)) => Ok(Project { path: path.to_string(), access_level: l }),
                _ => Err(format!("access level \"{level}\" is not 10, 20, 30 or 40")),
            },
        }
    }

    pub fn group(&self) -> String {
        format!("{PROJECT_PREFIX}{}", self.path)
    }
}

#[derive(Deserialize)]
struct Userinfo {
    #[serde(default)]
    nickname: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
struct ProjectInfo {
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    permissions: Permissions,
}

#[derive(Deserialize, Default)]
struct Permissions {
    project_access: Option<Access>,
    group_access: Option<Access>,
}

#[derive(Deserialize)]
struct Access {
    access_level: u32,
}

impl Provider {
    /// At login: GitLab's userinfo and project memberships into `identity` (the ID token's).
    pub(super) async fn gitlab_login(&self, identity: &mut Identity, access_token: &str) -> Result<(), Error> {
        let origin = self.endpoints()?.authorization.clone();
        let at = |path: &str| {
            let mut u: Url = origin.clone();
            u.set_path(path);
            u.set_query(None);
            u
        };
        let res = self.http.get(Call::Userinfo, &at("/oauth/userinfo"), Some(access_token)).await?;
        if res.status != 200 {
            return Err(Error::BadResponse(format!("GitLab's userinfo answered {}", res.status)));
        }
        let info: Userinfo =
            serde_json::from_slice(&res.body).map_err(|e| Error::BadResponse(super::http::unreadable("GitLab's userinfo", &e)))?;
        if !self.cfg.allow_unverified_email && !info.email_verified {
            return Err(ClaimsError::Unverified.into());
        }
        let unsafe_value = std::iter::once(&info.nickname)
            .chain(std::iter::once(&info.email))
            .chain(&info.groups)
            .any(|v| v.chars().any(char::is_control));
        if unsafe_value {
            return Err(ClaimsError::NotHeaderSafe("GitLab userinfo".into()).into());
        }
        identity.subject = Some(identity.user.clone());
        if !info.nickname.is_empty() {
            identity.user = info.nickname;
        }
        if !info.email.is_empty() {
            identity.email = info.email;
        }
        if !info.groups.is_empty() {
            identity.groups = info.groups;
        }
        for project in &self.cfg.gitlab_projects {
            // Each project path as one escaped segment (`group%2Fproject`), as GitLab's API wants.
            let escaped: String = url::form_urlencoded::byte_serialize(project.path.as_bytes()).collect();
            let mut url = at("/api/v4/projects/");
            url.set_path(&format!("/api/v4/projects/{escaped}"));
            match self.project_level(&url, access_token).await {
                Some(level) if level >= project.access_level => identity.groups.push(project.group()),
                Some(_) => log::info!("{} lacks the access level gitlab_projects asks for {}", identity.user, project.path),
                None => {}
            }
        }
        Ok(())
    }

    /// The user's access level to a project that is not archived; `None` (logged) otherwise.
    async fn project_level(&self, url: &Url, access_token: &str) -> Option<u32> {
        let res = match self.http.get(Call::Userinfo, url, Some(access_token)).await {
            Ok(res) if res.status == 200 => res,
            Ok(res) => {
                log::warn!("GitLab's project API answered {} for {}", res.status, url.path());
                return None;
            }
            Err(e) => {
                log::warn!("GitLab's project API failed: {e}");
                return None;
            }
        };
        let info: ProjectInfo = serde_json::from_slice(&res.body).ok()?;
        if info.archived {
            return None;
        }
        info.permissions.project_access.or(info.permissions.group_access).map(|a| a.access_level)
    }
}

/// After a refresh: the login's nickname and project groups stay (oauth2-proxy's), beside the
/// refreshed ID token's groups, each once.
pub fn carry_over(refreshed: &mut Identity, before: &Identity) {
    refreshed.subject = Some(std::mem::replace(&mut refreshed.user, before.user.clone()));
    let projects = before.groups.iter().filter(|g| g.starts_with(PROJECT_PREFIX)).cloned();
    for group in projects {
        if !refreshed.groups.contains(&group) {
            refreshed.groups.push(group);
        }
    }
    let mut seen = std::collections::HashSet::new();
    refreshed.groups.retain(|g| seen.insert(g.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_parse_with_oauth2_proxys_access_levels() {
        assert_eq!(Project::parse("g/p").unwrap(), Project { path: "g/p".into(), access_level: 20 });
        assert_eq!(Project::parse("g/p=40").unwrap().access_level, 40);
        assert!(Project::parse("g/p=25").is_err());
        assert!(Project::parse("g/p=x").is_err());
    }

    #[test]
    fn a_refresh_keeps_the_nickname_and_the_projects() {
        let before = Identity { user: "alice".into(), groups: vec!["devs".into(), "project:g/p".into()], ..Default::default() };
        let mut after = Identity { user: "u-1".into(), groups: vec!["devs".into(), "ops".into()], ..Default::default() };
        carry_over(&mut after, &before);
        assert_eq!((after.user.as_str(), after.subject.as_deref()), ("alice", Some("u-1")));
        assert_eq!(after.groups, ["devs", "ops", "project:g/p"]);
    }
}
