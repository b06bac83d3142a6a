//! Validation: Who may pass: email domains and lists, groups, skip routes, redirects.

use super::*;

/// `allowed_roles`, as the groups Keycloak's roles become (`role:<name>`, oauth2-proxy's
/// `addAllowedRoles`). With another provider nothing would carry a role, and oauth2-proxy
/// ignores the option there; ignoring a restriction would widen access, so it is refused.
fn allowed_roles(r: &mut Reader<'_>) -> Vec<String> {
    let mut roles: Vec<String> = r.get("allowed_roles");
    roles.retain(|g| !g.is_empty());
    let provider: String = r.get("provider");
    if !roles.is_empty() && provider != "keycloak-oidc" {
        r.error(
            "allowed_roles",
            format!("is set while provider = \"{provider}\" (only Keycloak's access tokens carry roles)"),
            "set provider = \"keycloak-oidc\", or write the roles' group names in allowed_groups",
        );
    }
    roles.into_iter().map(|role| format!("{}{role}", crate::oidc::keycloak::ROLE_PREFIX)).collect()
}

/// GitLab, as oauth2-proxy's: `gitlab_groups` and the `gitlab_projects` groups replace
/// `allowed_groups`, which oauth2-proxy then ignores; ignoring a restriction would widen
/// access, so `allowed_groups` beside provider = "gitlab" is refused.
fn gitlab_groups(r: &mut Reader<'_>, allowed_groups: &mut Vec<String>) {
    let provider: String = r.get("provider");
    if provider != "gitlab" {
        return;
    }
    if !allowed_groups.is_empty() {
        r.error(
            "allowed_groups",
            "is ignored by oauth2-proxy's gitlab provider (gitlab_groups replaces it)",
            "write the groups in gitlab_groups (and projects in gitlab_projects)",
        );
    }
    let groups: Vec<String> = r.get("gitlab_groups");
    let projects: Vec<String> = r.get("gitlab_projects");
    *allowed_groups = groups.into_iter().filter(|g| !g.is_empty()).collect();
    allowed_groups.extend(projects.iter().filter_map(|p| crate::oidc::gitlab::Project::parse(p).ok()).map(|p| p.group()));
}

/// The groups a provider's sessions must be in: `allowed_groups`, Keycloak's roles, GitLab's
/// groups and projects (each provider of a list has its own).
pub(super) fn provider_groups(r: &mut Reader<'_>) -> Vec<String> {
    let mut allowed_groups: Vec<String> = r.get("allowed_groups");
    allowed_groups.retain(|g| !g.is_empty());
    allowed_groups.extend(allowed_roles(r));
    gitlab_groups(r, &mut allowed_groups);
    google_groups(r, &mut allowed_groups);
    allowed_groups
}

/// Google, as oauth2-proxy's: `google_groups` become the allowed groups (and oauth2-proxy then
/// ignores `allowed_groups`, which beside them is refused).
fn google_groups(r: &mut Reader<'_>, allowed_groups: &mut Vec<String>) {
    let provider: String = r.get("provider");
    let mut groups: Vec<String> = r.get("google_groups");
    if groups.is_empty() {
        groups = r.get("google_group");
    }
    groups.retain(|g| !g.is_empty());
    if provider != "google" || groups.is_empty() {
        return;
    }
    if !allowed_groups.is_empty() {
        r.error(
            "allowed_groups",
            "is ignored by oauth2-proxy's google provider (google_groups replaces it)",
            "write the groups in google_groups",
        );
    }
    *allowed_groups = groups;
}

pub(super) fn authz_config(r: &mut Reader<'_>) -> authz::Config {
    let mut email_domains: Vec<String> = r.get("email_domains");
    email_domains.iter_mut().for_each(|d| *d = d.to_ascii_lowercase());
    let authenticated_emails_file = r.existing_file("authenticated_emails_file");
    let htpasswd_file = r.existing_file("htpasswd_file");
    if email_domains.is_empty() && authenticated_emails_file.is_none() && htpasswd_file.is_none() {
        r.error(
            "email_domains",
            "no users are allowed: set email_domains, authenticated_emails_file or htpasswd_file",
            "set email_domains = [\"*\"] to allow any user the provider authenticates, or list your domains",
        );
    }
    let allowed_groups = provider_groups(r);
    let whitelist: Vec<String> = r.get("whitelist_domains");
    let whitelist_domains = whitelist
        .into_iter()
        .filter_map(|d| match check_whitelist_entry(&d) {
            Ok(()) => Some(d.to_ascii_lowercase()),
            Err(problem) => {
                r.entry_error("whitelist_domains", &d, problem, "write host, .example.com (subdomains), host:8080 or host:*");
                None
            }
        })
        .collect();
    let routes: Vec<String> = r.get("skip_auth_routes");
    let mut skip_auth_routes: Vec<RouteRule> = routes
        .into_iter()
        .filter_map(|route| match parse_route(&route) {
            Ok(rule) => Some(rule),
            Err(problem) => {
                r.entry_error(
                    "skip_auth_routes",
                    &route,
                    problem,
                    "write METHOD=regex, METHOD!=regex, regex or !=regex, e.g. \"GET=^/health$\"",
                );
                None
            }
        })
        .collect();
    skip_auth_routes.extend(r.regexes("skip_auth_regex").into_iter().map(|regex| RouteRule { method: None, negate: false, regex }));
    let route_rules = route_rules(r);
    let api_routes = r.regexes("api_routes");
    let trusted_ips = r.nets("trusted_ips");
    let issuers: Vec<String> = r.get("extra_jwt_issuers");
    let extra_jwt_issuers = issuers
        .into_iter()
        .filter_map(|entry| match entry.split_once('=') {
            Some((iss, aud)) if !aud.is_empty() && parse_http_url(iss).is_ok() => Some((iss.to_string(), aud.to_string())),
            _ => {
                r.entry_error("extra_jwt_issuers", &entry, "is not issuer=audience", "write \"https://issuer.example.com=my-audience\"");
                None
            }
        })
        .collect();
    authz::Config {
        email_domains,
        authenticated_emails_file,
        allowed_groups,
        whitelist_domains,
        skip_auth_routes,
        route_rules,
        skip_auth_preflight: r.get("skip_auth_preflight"),
        api_routes,
        trusted_ips,
        skip_provider_button: r.get("skip_provider_button"),
        force_json_errors: r.get("force_json_errors"),
        skip_jwt_bearer_tokens: r.get("skip_jwt_bearer_tokens"),
        extra_jwt_issuers,
        bearer_token_login_fallback: r.get("bearer_token_login_fallback"),
        htpasswd_file,
        htpasswd_user_groups: r.get("htpasswd_user_groups"),
    }
}

/// `route_rules`: a list of rules in a file, or one string of rules separated by `;` or new
/// lines (the environment, a flag): rules hold commas, so a list is never split on them.
fn route_rules(r: &mut Reader<'_>) -> authz::rules::Rules {
    let lines: Vec<String> = match r.raw.get("route_rules").map(|s| s.value.clone()) {
        Some(RawValue::List(items)) => {
            r.used.insert("route_rules");
            items
                .iter()
                .map(|item| {
                    // Not a string: refused rather than dropped (a dropped deny fails open).
                    item.scalar_string().unwrap_or_else(|| "<not a string>".to_string())
                })
                .collect()
        }
        _ => {
            let text: String = r.get("route_rules");
            // Comments go first, whole lines, so `# path=. deny; path=. allow` stays a comment.
            text.lines().filter(|l| !l.trim_start().starts_with('#')).flat_map(|l| l.split(';')).map(str::to_string).collect()
        }
    };
    if host_rules_in_standalone(r, &lines) {
        r.warnings.push(
            "route_rules with host= in front of upstreams: the upstream is chosen by path, and the client chooses the Host it sends, so a host rule holds only if the upstream serves sites by that same name"
                .to_string(),
        );
    }
    let rules = lines
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| match authz::rules::Rule::parse(line) {
            Ok(rule) => Some(rule),
            Err(problem) => {
                r.entry_error("route_rules", line, problem, "write e.g. \"path=^/admin/ methods=GET,POST allowed_groups=admins\", \"path=^/docs/ allow\" or \"path=^/internal/ deny\"");
                None
            }
        })
        .collect();
    authz::rules::Rules(rules)
}

fn host_rules_in_standalone(r: &Reader<'_>, lines: &[String]) -> bool {
    r.is_set("upstreams") && lines.iter().any(|l| l.split_whitespace().any(|w| w.starts_with("host=")))
}

/// oauth2-proxy's route syntax: the method part is everything before the first `=` or `!=`.
pub fn parse_route(route: &str) -> Result<RouteRule, String> {
    let (method, negate, pattern) = match route.find('=') {
        None => (None, false, route),
        Some(i) => {
            let (head, negate) = match route[..i].strip_suffix('!') {
                Some(h) => (h, true),
                None => (&route[..i], false),
            };
            let method = if head.is_empty() { None } else { Some(head.to_ascii_uppercase()) };
            (method, negate, &route[i + 1..])
        }
    };
    if let Some(m) = &method
        && !m.bytes().all(|b| b.is_ascii_uppercase())
    {
        return Err(format!("\"{m}\" is not an HTTP method"));
    }
    let regex = Regex::new(pattern).map_err(|e| format!("has an invalid regular expression: {}", one_line(&e.to_string())))?;
    Ok(RouteRule { method, negate, regex })
}

pub(super) fn check_whitelist_entry(entry: &str) -> Result<(), String> {
    let host = entry.strip_prefix("*.").or_else(|| entry.strip_prefix('.')).unwrap_or(entry);
    let (host, port) = match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, Some(p)),
        _ => (host, None),
    };
    if host.is_empty() || host.contains('/') || host.contains('@') || host.chars().any(char::is_whitespace) {
        return Err("is not a domain".into());
    }
    match port {
        None | Some("*") => Ok(()),
        Some(p) if p.parse::<u16>().is_ok() => Ok(()),
        Some(_) => Err("has an invalid port".into()),
    }
}
