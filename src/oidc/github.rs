//! GitHub (`provider = "github"`), as oauth2-proxy's: plain OAuth 2.0, no ID token. At login
//! the REST API says who the user is (`/user`: the login becomes the user; `/user/emails`: the
//! primary verified address), which organizations and teams they belong to (`/user/orgs`,
//! `/user/teams`, every page: groups `org` and `org:team`), and whether `github_org`,
//! `github_team`, `github_repo` (with `github_token`, a collaborator check) and `github_users`
//! let them in. A session is revalidated (`validate_url`, the API root) at login and whenever
//! `cookie_refresh` is due, since GitHub's tokens are never refreshed.
//!
//! GitHub Enterprise: `login_url`, `redeem_url` and `validate_url` (`https://HOST/api/v3/`)
//! point at the server; the API lives under the `/api/vN` prefix of `validate_url`.
//!
//! Never trusts what it cannot read: an API answer that is not what GitHub documents refuses
//! the login (fail closed), and a restriction it cannot check denies.

use serde::Deserialize;
use url::Url;

use super::claims::ClaimsError;
use super::http::{Auth, Call};
use super::{Error, Provider};
use crate::base::Secret;
use crate::identity::Identity;

/// github.com's endpoints, oauth2-proxy's defaults.
pub const LOGIN_URL: &str = "https://github.com/login/oauth/authorize";
pub const REDEEM_URL: &str = "https://github.com/login/oauth/access_token";
pub const VALIDATE_URL: &str = "https://api.github.com/";
pub const DEFAULT_SCOPE: &str = "user:email read:org";

/// At most this many pages of organizations or teams are read (100 each): a provider that
/// never says "last page" cannot keep a login going forever.
const MAX_PAGES: u32 = 50;

/// `github_org`, `github_team`, `github_repo`, `github_token`, `github_users`.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub org: String,
    /// Comma-separated: `team` with `org`, or `org:team` without.
    pub team: String,
    /// `owner/name`.
    pub repo: String,
    /// A token with push access to `repo`: collaborators of it may log in.
    pub token: Option<Secret<String>>,
    /// These logins may log in whatever the other rules say.
    pub users: Vec<String>,
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    login: String,
}

#[derive(Deserialize)]
struct Email {
    #[serde(default)]
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

/// GitHub names an organization by `login`; Gitea (which speaks this API) by `name`.
#[derive(Deserialize, Default)]
struct Org {
    #[serde(default)]
    login: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct Team {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    organization: Org,
}

#[derive(Deserialize, Default)]
struct Repo {
    #[serde(default)]
    private: bool,
    #[serde(default)]
    permissions: Permissions,
}

#[derive(Deserialize, Default)]
struct Permissions {
    #[serde(default)]
    pull: bool,
    #[serde(default)]
    push: bool,
}

/// An API path under `validate_url`: its `/api/vN` prefix (GitHub Enterprise) or its whole
/// path (github.com's `/`), as oauth2-proxy's `makeGitHubAPIEndpoint`.
pub fn api_url(validate: &Url, endpoint: &str, query: &[(&str, &str)]) -> Url {
    let path = validate.path();
    let base = api_prefix(path).unwrap_or(path);
    let mut url = validate.clone();
    url.set_path(&format!("{}/{}", base.trim_end_matches('/'), endpoint.trim_start_matches('/')));
    url.set_query(None);
    url.set_fragment(None);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url
}

/// `/api/v3` of `/api/v3/...`.
fn api_prefix(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/v")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then(|| &path[..6 + digits])
}

/// Whether `Link` names a next page (`<...>; rel="next"`); `None` without a `Link` header.
fn has_next(link: Option<&str>) -> Option<bool> {
    link.map(|l| l.split(',').any(|part| part.split(';').skip(1).any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\""))))
}

impl Provider {
    fn github_validate_url(&self) -> Result<Url, Error> {
        self.cfg.validate_url.clone().ok_or_else(|| Error::Internal("the github provider has no validate_url".into()))
    }

    /// A GET of the GitHub API with `token`; the status and body when it answered.
    async fn github_get(&self, url: &Url, token: &str) -> Result<super::http::Response, Error> {
        self.http.get_with(Call::Userinfo, url, Auth::GitHub(token)).await
    }

    /// A JSON answer (200) of the GitHub API, or the error that refuses the login.
    async fn github_json<T: serde::de::DeserializeOwned>(&self, endpoint: &str, token: &str) -> Result<T, Error> {
        let url = api_url(&self.github_validate_url()?, endpoint, &[]);
        let res = self.github_get(&url, token).await?;
        if res.status != 200 {
            return Err(Error::BadResponse(format!("GitHub's {endpoint} answered {}", res.status)));
        }
        serde_json::from_slice(&res.body).map_err(|e| Error::BadResponse(super::http::unreadable(&format!("GitHub's {endpoint}"), &e)))
    }

    /// Every page of a list (`/user/orgs`, `/user/teams`): page after page of 100 until one is
    /// empty, as oauth2-proxy reads them, stopping early when `Link` says there is no next.
    async fn github_pages<T: serde::de::DeserializeOwned>(&self, endpoint: &str, token: &str) -> Result<Vec<T>, Error> {
        let validate = self.github_validate_url()?;
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let page = page.to_string();
            let url = api_url(&validate, endpoint, &[("page", page.as_str()), ("per_page", "100")]);
            let res = self.github_get(&url, token).await?;
            if res.status != 200 {
                return Err(Error::BadResponse(format!("GitHub's {endpoint} answered {}", res.status)));
            }
            let items: Vec<T> = serde_json::from_slice(&res.body)
                .map_err(|e| Error::BadResponse(super::http::unreadable(&format!("GitHub's {endpoint}"), &e)))?;
            if items.is_empty() {
                return Ok(all);
            }
            all.extend(items);
            if has_next(res.link.as_deref()) == Some(false) {
                return Ok(all);
            }
        }
        Err(Error::BadResponse(format!("GitHub's {endpoint} has more than {MAX_PAGES} pages")))
    }

    /// The login: groups, restrictions, email and user, in oauth2-proxy's order, then the
    /// session's validation (`validate_url`) as oauth2-proxy's callback does.
    pub(super) async fn github_identity(&self, token: &str) -> Result<Identity, Error> {
        let rules = &self.cfg.github;
        let mut groups: Vec<String> = self
            .github_pages::<Org>("/user/orgs", token)
            .await?
            .into_iter()
            .map(|o| if o.login.is_empty() { o.name } else { o.login })
            .collect();
        let teams: Vec<Team> = self.github_pages("/user/teams", token).await?;
        groups.extend(teams.into_iter().map(|t| match t.organization.login.is_empty() {
            false => format!("{}:{}", t.organization.login, t.slug),
            true => format!("{}:{}", t.organization.name, t.name),
        }));
        let user: User = self.github_json("/user", token).await?;
        if user.login.is_empty() || user.login.chars().any(char::is_control) {
            return Err(Error::BadResponse("GitHub's /user names no login".into()));
        }
        let listed = rules.users.contains(&user.login);
        if !listed {
            self.github_restrictions(rules, &groups, &user.login, token).await?;
        }
        let emails: Vec<Email> = self.github_json("/user/emails", token).await?;
        let email = emails.into_iter().find(|e| e.verified && e.primary).map(|e| e.email).unwrap_or_default();
        if email.is_empty() {
            // oauth2-proxy's email check refuses an empty address whatever email_domains says.
            return Err(ClaimsError::NoEmail("a primary verified GitHub email".into()).into());
        }
        if !self.github_token_valid(token).await? {
            return Err(Error::Denied("validate_url refused the new access token".into()));
        }
        let identity = Identity { user: user.login, email, groups, ..Identity::default() };
        let header_values = std::iter::once(&identity.user).chain(std::iter::once(&identity.email)).chain(&identity.groups);
        if header_values.into_iter().any(|v| v.chars().any(char::is_control)) {
            return Err(ClaimsError::NotHeaderSafe("GitHub API".into()).into());
        }
        Ok(identity)
    }

    /// oauth2-proxy's `checkRestrictions` and collaborator check for a user not in
    /// `github_users`: the organization (and team), else the team, then the repository.
    async fn github_restrictions(&self, rules: &Rules, groups: &[String], login: &str, token: &str) -> Result<(), Error> {
        if !rules.users.is_empty() && rules.org.is_empty() && rules.repo.is_empty() {
            return Err(Error::Denied(format!("{login} is not one of github_users")));
        }
        let denied = |why: &str| Err(Error::Denied(why.to_string()));
        match (rules.org.is_empty(), rules.team.is_empty()) {
            (false, false) => {
                let mut member = false;
                for (org, team) in groups.iter().filter_map(|g| g.split_once(':')) {
                    if org.eq_ignore_ascii_case(&rules.org) {
                        member = true;
                        if rules.team.split(',').any(|t| t.trim().eq_ignore_ascii_case(team)) {
                            return Ok(());
                        }
                    }
                }
                return denied(if member { "user is missing required team" } else { "user is missing required organization" });
            }
            (false, true) => {
                if !groups.iter().any(|g| !g.contains(':') && *g == rules.org) {
                    return denied("user is missing required organization");
                }
            }
            (true, false) => {
                for team in groups.iter().filter(|g| g.contains(':')) {
                    for wanted in rules.team.split(',') {
                        if !wanted.contains(':') {
                            return denied("team name is invalid (write org:team without github_org)");
                        }
                        if wanted.trim().eq_ignore_ascii_case(team.trim()) {
                            return self.github_repo_rules(rules, login, token).await;
                        }
                    }
                }
                return denied("user is missing required team");
            }
            (true, true) => {}
        }
        self.github_repo_rules(rules, login, token).await
    }

    /// `github_repo` without `github_org`: with `github_token`, the user must be a
    /// collaborator; without, the user's own token must push to it (or pull from it, private).
    async fn github_repo_rules(&self, rules: &Rules, login: &str, token: &str) -> Result<(), Error> {
        if !rules.org.is_empty() || rules.repo.is_empty() {
            return Ok(());
        }
        let Some(repo_token) = &rules.token else {
            let url = api_url(&self.github_validate_url()?, &format!("/repos/{}", rules.repo), &[]);
            let res = self.github_get(&url, token).await?;
            let repo: Repo = match res.status {
                200 => {
                    serde_json::from_slice(&res.body).map_err(|e| Error::BadResponse(super::http::unreadable("GitHub's repository", &e)))?
                }
                // GitHub hides a repository the user cannot see: not found is no access.
                404 => return Err(Error::Denied(format!("{login} cannot see {}", rules.repo))),
                status => return Err(Error::BadResponse(format!("GitHub's /repos/{} answered {status}", rules.repo))),
            };
            return match repo.permissions.push || (repo.private && repo.permissions.pull) {
                true => Ok(()),
                false => Err(Error::Denied("user doesn't have repository access".into())),
            };
        };
        let mut url = api_url(&self.github_validate_url()?, &format!("/repos/{}/collaborators", rules.repo), &[]);
        // The login as one escaped segment: whatever GitHub answered, it names a collaborator,
        // never another path.
        url.path_segments_mut().map_err(|_| Error::Internal("validate_url cannot take a path".into()))?.push(login);
        let res = self.github_get(&url, repo_token.expose()).await?;
        match res.status {
            204 => Ok(()),
            status => Err(Error::Denied(format!("{login} is not a collaborator of {} (GitHub answered {status})", rules.repo))),
        }
    }

    /// oauth2-proxy's GitHub `ValidateSession`: `validate_url` answers 200 to the token.
    /// `Ok(false)` for any other answer; unreachable is an error.
    pub async fn github_token_valid(&self, token: &str) -> Result<bool, Error> {
        if token.is_empty() {
            return Ok(false);
        }
        let url = self.github_validate_url()?;
        let res = self.http.get_with(Call::Validate, &url, Auth::GitHub(token)).await?;
        if res.status != 200 {
            log::info!("validate_url {} answered {} for a GitHub token", super::http::without_query(&url), res.status);
        }
        Ok(res.status == 200)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_lives_under_validate_urls_prefix() {
        let at = |v: &str, e: &str| api_url(&Url::parse(v).unwrap(), e, &[]).to_string();
        assert_eq!(at("https://api.github.com/", "/user"), "https://api.github.com/user");
        assert_eq!(at("https://ghe.example/api/v3/", "/user/orgs"), "https://ghe.example/api/v3/user/orgs");
        assert_eq!(at("https://ghe.example/api/v3/meta?x=1", "/user"), "https://ghe.example/api/v3/user");
        assert_eq!(at("http://127.0.0.1:9/gh/", "/user"), "http://127.0.0.1:9/gh/user");
        let paged = api_url(&Url::parse("https://api.github.com/").unwrap(), "/user/teams", &[("page", "2"), ("per_page", "100")]);
        assert_eq!(paged.as_str(), "https://api.github.com/user/teams?page=2&per_page=100");
    }

    #[test]
    fn link_headers_say_whether_a_next_page_exists() {
        assert_eq!(has_next(None), None);
        assert_eq!(has_next(Some("<https://api.github.com/user/orgs?page=2>; rel=\"next\", <...>; rel=\"last\"")), Some(true));
        assert_eq!(has_next(Some("<https://api.github.com/user/orgs?page=1>; rel=\"prev\"")), Some(false));
    }
}
