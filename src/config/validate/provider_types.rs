//! Validation: the settings only one provider type has (GitLab's projects, GitHub's rules,
//! Entra ID's tenants and Graph, Google's Directory), each refused beside another type.

use super::*;

/// The type-specific settings of a provider (each `None` or empty for other types).
pub(super) struct TypeSettings {
    pub gitlab_projects: Vec<crate::oidc::gitlab::Project>,
    pub entra: Option<crate::oidc::entra::Settings>,
    pub google: Option<crate::oidc::google::Directory>,
    pub azure: Option<crate::oidc::azure::Settings>,
}

pub(super) fn type_settings(r: &mut Reader<'_>, kind: Option<ProviderKind>) -> TypeSettings {
    TypeSettings {
        gitlab_projects: gitlab_projects(r, kind),
        entra: entra_settings(r, kind),
        google: google_directory(r, kind),
        azure: azure_settings(r, kind),
    }
}

/// `gitlab_projects`, with GitLab only.
fn gitlab_projects(r: &mut Reader<'_>, kind: Option<ProviderKind>) -> Vec<crate::oidc::gitlab::Project> {
    let list: Vec<String> = r.get("gitlab_projects");
    let groups: Vec<String> = r.get("gitlab_groups");
    if kind.is_some_and(|k| k != ProviderKind::GitLab) {
        for key in ["gitlab_projects", "gitlab_groups"] {
            if r.is_set(key) && !(if key == "gitlab_groups" { &groups } else { &list }).is_empty() {
                r.error(key, "is only used by the gitlab provider", "remove it, or set provider = \"gitlab\"");
            }
        }
    }
    list.iter()
        .filter_map(|p| match crate::oidc::gitlab::Project::parse(p) {
            Ok(project) => Some(project),
            Err(problem) => {
                r.entry_error("gitlab_projects", p, problem, "write group/project or group/project=<10|20|30|40>");
                None
            }
        })
        .collect()
}

/// OpenID Connect options do nothing for GitHub, which speaks plain OAuth 2.0: refused rather
/// than ignored.
/// (`further`: a provider after the first, for which bearer tokens come from the others.)
pub(super) fn not_with_github(r: &mut Reader<'_>, further: bool) {
    // Set to its default (as a converted alpha file writes them out), an option is no setting.
    let mut used: Vec<&str> =
        ["oidc_issuer_url", "oidc_jwks_url", "profile_url", "backend_logout_url"].into_iter().filter(|k| r.string(k).is_some()).collect();
    used.extend(["skip_oidc_discovery", "oidc_rp_initiated_logout", "oidc_backchannel_logout"].into_iter().filter(|k| r.get::<bool>(k)));
    if !r.get::<Vec<String>>("oidc_public_key_files").is_empty() {
        used.push("oidc_public_key_files");
    }
    for key in used {
        r.error(key, "is an OpenID Connect option; GitHub speaks plain OAuth 2.0, so it would do nothing", "remove it");
    }
    let bearer: bool = r.get("skip_jwt_bearer_tokens");
    let issuers: Vec<String> = r.get("extra_jwt_issuers");
    if bearer && issuers.is_empty() && !further {
        r.error(
            "skip_jwt_bearer_tokens",
            "GitHub issues no JWTs, so no bearer token could ever be accepted",
            "remove it, or name the issuers of the JWTs to accept in extra_jwt_issuers",
        );
    }
}

/// The Directory API settings (google with a service account): `google_service_account_json`
/// and `google_admin_email` together, the key file read and checked now.
fn google_directory(r: &mut Reader<'_>, kind: Option<ProviderKind>) -> Option<crate::oidc::google::Directory> {
    let file = r.string("google_service_account_json");
    let admin_email = r.string("google_admin_email");
    let api = r.url("google_admin_api_url");
    let mut groups: Vec<String> = r.get("google_groups");
    let legacy: Vec<String> = r.get("google_group");
    if groups.is_empty() {
        groups = legacy;
    }
    groups.retain(|g| !g.is_empty());
    if kind != Some(ProviderKind::Google) {
        for key in ["google_service_account_json", "google_admin_email", "google_admin_api_url", "google_groups", "google_group"] {
            if kind.is_some() && r.is_set(key) {
                r.error(key, "is only used by the google provider", "remove it, or set provider = \"google\"");
            }
        }
        return None;
    }
    let (file, admin_email) = match (file, admin_email) {
        (Some(f), Some(a)) => (f, a),
        (None, None) => {
            if !groups.is_empty() {
                let key = if r.is_set("google_groups") { "google_groups" } else { "google_group" };
                r.error(key, "needs google_service_account_json and google_admin_email to read the groups", "set both, or remove it");
            }
            return None;
        }
        (Some(_), None) => {
            r.error(
                "google_service_account_json",
                "is set without google_admin_email (oauth2-proxy refuses it too)",
                "set google_admin_email to the Workspace administrator the service account acts as",
            );
            return None;
        }
        (None, Some(_)) => {
            r.error(
                "google_admin_email",
                "is set without google_service_account_json (oauth2-proxy refuses it too)",
                "set google_service_account_json to the service account's key file",
            );
            return None;
        }
    };
    let account = match std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot be read ({e})"))
        .and_then(|t| crate::oidc::google::ServiceAccount::parse(&t))
    {
        Ok(a) => a,
        Err(problem) => {
            r.error(
                "google_service_account_json",
                problem,
                "download the key file of the service account (IAM, service accounts, keys, JSON)",
            );
            return None;
        }
    };
    let api_url = api.unwrap_or_else(|| Url::parse(crate::oidc::google::ADMIN_API_URL).expect("a URL"));
    Some(crate::oidc::google::Directory { key_file: file.into(), account, admin_email, api_url, groups })
}

/// `entra_id_allowed_tenants` and `microsoft_graph_url`, with entra-id only.
fn entra_settings(r: &mut Reader<'_>, kind: Option<ProviderKind>) -> Option<crate::oidc::entra::Settings> {
    let allowed_tenants: Vec<String> = r.get("entra_id_allowed_tenants");
    let graph = r.url("microsoft_graph_url");
    if kind != Some(ProviderKind::EntraId) {
        for key in ["entra_id_allowed_tenants", "microsoft_graph_url"] {
            if kind.is_some() && r.is_set(key) {
                r.error(key, "is only used by the entra-id provider", "remove it, or set provider = \"entra-id\"");
            }
        }
        return None;
    }
    if allowed_tenants.iter().all(String::is_empty) && r.get::<bool>("insecure_oidc_skip_issuer_verification") {
        r.warnings.push("entra-id with insecure_oidc_skip_issuer_verification and no entra_id_allowed_tenants: users of every Entra tenant may log in; name yours in entra_id_allowed_tenants".into());
    }
    let graph_url = graph.unwrap_or_else(|| Url::parse(crate::oidc::entra::GRAPH_URL).expect("a URL"));
    Some(crate::oidc::entra::Settings { allowed_tenants: allowed_tenants.into_iter().filter(|t| !t.is_empty()).collect(), graph_url })
}

/// `azure_graph_group_field` (and `resource`, v1's), with azure only.
fn azure_settings(r: &mut Reader<'_>, kind: Option<ProviderKind>) -> Option<crate::oidc::azure::Settings> {
    let field: String = r.get("azure_graph_group_field");
    let resource = r.string("resource").filter(|s| !s.is_empty());
    if kind != Some(ProviderKind::Azure) {
        if kind.is_some() && !field.is_empty() {
            r.error("azure_graph_group_field", "is only used by the azure provider", "remove it, or set provider = \"azure\"");
        }
        return None;
    }
    if field.chars().any(|c| !(c.is_ascii_alphanumeric() || c == '_')) {
        r.error(
            "azure_graph_group_field",
            format!("{field:?} is not the name of a Microsoft Graph group property"),
            "use id (the default), displayName, or another property such as mailNickname",
        );
    }
    if r.get::<bool>("insecure_oidc_skip_issuer_verification") {
        r.warnings.push("azure with insecure_oidc_skip_issuer_verification: users of every Azure AD tenant may log in, with the email addresses their own tenant's administrators gave them; prefer provider = \"entra-id\" with entra_id_allowed_tenants".into());
    }
    if !field.is_empty() && field != "id" {
        r.warnings.push(format!("azure_graph_group_field = \"{field}\": group names are not unique in Azure AD (and users may be allowed to create groups); allowed_groups by name trusts whoever can name a group so: prefer ids"));
    }
    let graph_group_field = if field.is_empty() { crate::oidc::azure::DEFAULT_GROUP_FIELD.to_string() } else { field };
    Some(crate::oidc::azure::Settings { graph_group_field, resource })
}

/// `github_org`, `github_team`, `github_repo`, `github_token`, `github_users`; with GitHub only.
pub(super) fn github_rules(r: &mut Reader<'_>, kind: Option<ProviderKind>) -> crate::oidc::github::Rules {
    let rules = crate::oidc::github::Rules {
        org: r.get("github_org"),
        team: r.get("github_team"),
        repo: r.get("github_repo"),
        token: r.string("github_token").filter(|t| !t.is_empty()).map(Secret::new),
        users: r.get::<Vec<String>>("github_users").into_iter().filter(|u| !u.is_empty()).collect(),
    };
    let keys = ["github_org", "github_team", "github_repo", "github_token", "github_users"];
    if kind.is_some_and(|k| k != ProviderKind::GitHub) {
        for key in keys {
            if !r.is_set(key) {
                continue;
            }
            r.error(key, "is only used by the github provider", "remove it, or set provider = \"github\"");
        }
    }
    if !rules.repo.is_empty() && rules.repo.split('/').filter(|p| !p.is_empty()).count() != 2 {
        r.error("github_repo", format!("\"{}\" is not owner/name", rules.repo), "write the repository as owner/name");
    }
    if rules.token.is_some() && rules.repo.is_empty() {
        r.error(
            "github_token",
            "is set without github_repo",
            "set github_repo to the repository whose collaborators may log in, or remove it",
        );
    }
    rules
}
