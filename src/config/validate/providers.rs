//! Validation: the list of providers (alpha `providers:`). oauth2-proxy reads the list and uses
//! its first entry only (oauth2-proxy #926); Gatehouse lets users choose among all of them.
//! Each further provider is validated exactly as the first, from options of its own (the
//! global options with its fields folded over them), and every problem is reported with the
//! rest.

use super::*;
use crate::config::ProviderEntry;
use crate::config::alpha::Provider as AlphaProvider;

/// Every provider, the first being `first` (already validated from the main options).
pub(super) fn providers(
    r: &mut Reader<'_>,
    alpha: Option<(&Path, &AlphaConfig)>,
    first: Option<&oidc::Config>,
    first_groups: &[String],
) -> Vec<ProviderEntry> {
    let list: &[AlphaProvider] = alpha.and_then(|(_, a)| a.providers.as_deref()).unwrap_or_default();
    let own = |r: &mut Reader<'_>, i: usize, p: Option<&AlphaProvider>| {
        let mut domains: Vec<String> = p.and_then(|p| p.email_domains.clone()).unwrap_or_default();
        domains.iter_mut().for_each(|d| *d = d.to_ascii_lowercase());
        let default_for = p.and_then(|p| p.default_for.clone()).unwrap_or_default();
        for entry in &default_for {
            if let Err(problem) = check_default_for(entry) {
                r.errors.push(ConfigError::new(
                    format!("providers[{i}].defaultFor"),
                    format!("{entry:?} {problem}"),
                    "write a host (app.example.com, *.example.com) or a path prefix (/admin/)",
                ));
            }
        }
        (p.and_then(|p| p.id.clone()).unwrap_or_default(), domains, default_for)
    };
    let (id, email_domains, default_for) = own(r, 0, list.first());
    let mut entries = vec![ProviderEntry { id, oidc: None, allowed_groups: first_groups.to_vec(), email_domains, default_for }];
    let Some((path, _)) = alpha.filter(|_| list.len() > 1) else {
        return entries;
    };
    for (i, p) in list.iter().enumerate().skip(1) {
        let mut raw = RawConfig::default();
        for (key, sourced) in r.raw.iter().filter(|(k, _)| spec(k).legacy != Legacy::Provider) {
            raw.set(spec(key), sourced.value.clone(), sourced.origin.clone());
        }
        alpha::fold_provider(p, i, path, &mut raw, r.errors);
        let before = r.errors.len();
        let mut own_reader = Reader { raw: &raw, env: r.env, errors: &mut *r.errors, used: HashSet::new(), warnings: Vec::new() };
        let oidc = oidc_config(&mut own_reader, Some((i, p)));
        let allowed_groups = policy::provider_groups(&mut own_reader);
        let warnings = std::mem::take(&mut own_reader.warnings);
        r.warnings.extend(warnings.into_iter().map(|w| format!("providers[{i}]: {w}")));
        // A problem with a setting this provider lacks names the provider it belongs to.
        for e in r.errors.0.iter_mut().skip(before).filter(|e| !matches!(e.origin, Some(Origin::Alpha { .. }))) {
            e.key = format!("providers[{i}] {}", e.key);
        }
        let (id, email_domains, default_for) = own(r, i, Some(p));
        if email_domains.is_empty() {
            r.errors.push(ConfigError::new(
                format!("providers[{i}].emailDomains"),
                "is not set: the emails this provider vouches for reach the same email rules and headers as the first provider's, so it must say which it may vouch for",
                "write emailDomains: [\"partner.example\"], or [\"*\"] to trust it with any address",
            ));
        }
        entries.push(ProviderEntry { id, oidc, allowed_groups, email_domains, default_for });
    }
    ids(r, &entries);
    if !r.get::<Vec<String>>("extra_jwt_issuers").is_empty() {
        r.error(
            "extra_jwt_issuers",
            "is set with several providers: the tokens of those issuers would be judged and named as the first provider's",
            "give each such issuer its own entry in providers: (its bearer tokens are then its own), or remove it",
        );
    }
    one_callback(r, first, &entries);
    distinct_issuers(r, first, &entries);
    if r.get::<bool>("skip_provider_button") {
        r.error(
            "skip_provider_button",
            "is set with several providers (oauth2-proxy refuses it too): there is a choice to show",
            "remove it; a provider's defaultFor skips the choice for its hosts and paths",
        );
    }
    if first.is_some_and(|f| f.backchannel_logout.is_some()) {
        r.warnings.push("oidc_backchannel_logout applies to the first provider only".into());
    }
    entries
}

/// One callback serves every provider, so how it is reached and read is the same for all.
fn one_callback(r: &mut Reader<'_>, first: Option<&oidc::Config>, entries: &[ProviderEntry]) {
    let Some(first) = first else { return };
    for (i, e) in entries.iter().enumerate() {
        let Some(o) = &e.oidc else { continue };
        let differs = [
            ("authRequestResponseMode", o.response_mode != first.response_mode),
            ("encode_state", o.encode_state != first.encode_state),
            ("redirect_url", o.redirect_url != first.redirect_url || o.relative_redirect_url != first.relative_redirect_url),
        ];
        for (name, _) in differs.iter().filter(|(_, d)| *d) {
            r.errors.push(ConfigError::new(
                format!("providers[{i}]"),
                format!("its {name} differs from the first provider's"),
                "give every provider the same one: one callback serves them all",
            ));
        }
    }
}

/// A bearer token is judged by the provider its `iss` names: two providers with one issuer
/// would leave the second's tokens judged by the first's audience and rules.
fn distinct_issuers(r: &mut Reader<'_>, first: Option<&oidc::Config>, entries: &[ProviderEntry]) {
    if !r.get::<bool>("skip_jwt_bearer_tokens") {
        return;
    }
    // Compared without a trailing slash: discovery may answer either form.
    let mut seen: Vec<&str> = first.map(|f| f.issuer_url_raw.trim_end_matches('/')).into_iter().collect();
    for (i, e) in entries.iter().enumerate().skip(1) {
        let Some(issuer) = e.oidc.as_ref().map(|o| o.issuer_url_raw.trim_end_matches('/')).filter(|s| !s.is_empty()) else { continue };
        if seen.contains(&issuer) {
            r.errors.push(ConfigError::new(
                format!("providers[{i}]"),
                format!("its issuer {issuer:?} is an earlier provider's too, so with skip_jwt_bearer_tokens its bearer tokens could not be told apart"),
                "give each provider its own issuer, or configure that issuer once",
            ));
        }
        seen.push(issuer);
    }
}

/// Several providers need ids: each is chosen by it (`/oauth2/start?provider=<id>`) and
/// remembered by it in the session.
fn ids(r: &mut Reader<'_>, entries: &[ProviderEntry]) {
    let mut seen = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        let at = format!("providers[{i}].id");
        // An id is a path segment of its callback: `.` and `..` would not stay one.
        if e.id.is_empty() || e.id == "." || e.id == ".." || !e.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            r.errors.push(ConfigError::new(
                at,
                format!("{:?} is not an id", e.id),
                "give every provider an id of letters, digits, '-', '_' or '.' (it appears in /oauth2/start?provider=<id>)",
            ));
        } else if !seen.insert(e.id.as_str()) {
            r.errors.push(ConfigError::new(at, format!("{:?} is used twice", e.id), "give every provider its own id"));
        }
    }
}

/// A `defaultFor` entry: `/path/prefix`, `host` or `*.domain`.
fn check_default_for(entry: &str) -> Result<(), &'static str> {
    if let Some(path) = entry.strip_prefix('/') {
        return if path.contains(char::is_whitespace) { Err("is not a path prefix") } else { Ok(()) };
    }
    let host = entry.strip_prefix("*.").unwrap_or(entry);
    let valid = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
    if valid { Ok(()) } else { Err("is neither a host nor a path prefix starting with /") }
}
