//! Configuration: oauth2-proxy's legacy options (file, `OAUTH2_PROXY_*` environment, flags) and
//! alpha YAML, validated into one typed [`Config`] with a sub-config per module.
//!
//! Two layers. [`source`] reads each source into untyped values that remember where they came
//! from; [`validate`] turns the merged values into real types and collects every problem.
//! Nothing downstream sees an `Option` soup or re-checks a value.
//!
//! Invariant: the only module that reads configuration files or the process environment.

pub mod alpha;
pub mod convert;
pub mod duration;
pub mod error;
pub mod options;
pub mod source;
pub mod validate;
pub mod value;

use std::path::{Path, PathBuf};

pub use crate::base::Secret;
pub use error::{ConfigError, ConfigErrors, Origin};
pub use source::{Env, FlagValues, ProcessEnv};

use crate::{authz, dev, identity, oidc, pages, proxy, server, session, telemetry};

/// The validated configuration: one part per module, handed out by `App::build`.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: server::Config,
    /// The first provider (with a single provider, the only one).
    pub oidc: oidc::Config,
    /// Every provider a user may log in with (alpha `providers:`), the first one's settings
    /// being `oidc`: at least one entry.
    pub providers: Vec<ProviderEntry>,
    pub session: session::Config,
    pub authz: authz::Config,
    pub headers: identity::Config,
    pub proxy: proxy::Config,
    pub logging: telemetry::Config,
    pub pages: pages::Config,
    pub dev: dev::Config,
}

/// One of the providers a user may choose (Gatehouse's use of oauth2-proxy's `providers:`
/// list, which oauth2-proxy refuses beyond the first).
#[derive(Debug, Clone)]
pub struct ProviderEntry {
    /// Alpha `id` (`/oauth2/start?provider=<id>`); empty for the legacy single provider.
    pub id: String,
    /// Its settings; `None` for the first, whose settings are [`Config::oidc`].
    pub oidc: Option<oidc::Config>,
    /// Its `allowedGroups` (and roles or project groups): its sessions must be in one.
    pub allowed_groups: Vec<String>,
    /// Gatehouse's `emailDomains`: its sessions' emails must also match one (narrowing the
    /// global `email_domains`); empty for no further rule.
    pub email_domains: Vec<String>,
    /// Gatehouse's `defaultFor`: hosts (`app.example.com`, `*.example.com`) and path prefixes
    /// (`/admin/`) whose logins go to this provider without a choice.
    pub default_for: Vec<String>,
}

/// Where to read configuration from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--config`: the legacy TOML-style file.
    pub config_file: Option<PathBuf>,
    /// `--alpha-config`: the YAML file.
    pub alpha_config: Option<PathBuf>,
    /// Option flags from the command line.
    pub flags: Vec<FlagValues>,
}

/// A successful load.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Things worth saying that are not errors (misspelt environment variables).
    pub warnings: Vec<String>,
}

/// Loads and validates configuration from every source. Precedence: flag > env > file > default.
pub fn load(sources: &Sources, env: &dyn Env) -> Result<Loaded, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let file = sources.config_file.as_deref().and_then(|p| read_config_file(p, "--config", &mut errors).map(|t| (p, t)));
    let alpha = sources.alpha_config.as_deref().and_then(|p| read_config_file(p, "--alpha-config", &mut errors).map(|t| (p, t)));
    load_texts(file, alpha, &sources.flags, env, errors)
}

/// Loads from file contents already read: `(path for messages, text)`. Tests use it directly
/// with a map for `env`, so they never touch the process environment.
pub fn load_texts(
    file: Option<(&Path, String)>,
    alpha: Option<(&Path, String)>,
    flags: &[FlagValues],
    env: &dyn Env,
    mut errors: ConfigErrors,
) -> Result<Loaded, ConfigErrors> {
    let mut warnings = Vec::new();
    let mut raw = source::RawConfig::default();
    if let Some((path, text)) = &file {
        match source::from_file_text(path, text, &mut errors) {
            Some(r) => raw = r,
            None => return Err(errors),
        }
    }
    raw.overlay(source::from_env(env, &mut warnings));
    raw.overlay(source::from_flags(flags));

    let mut alpha_cfg = None;
    if let Some((path, text)) = &alpha
        && let Some(cfg) = alpha::parse(path, text, env, &mut errors)
    {
        alpha::fold_into(&cfg, path, &mut raw, &mut errors);
        alpha_cfg = Some((*path, cfg));
    }

    let validated = validate::validate(&raw, env, alpha_cfg.as_ref().map(|(p, c)| (*p, c)), &mut errors, &mut warnings);
    match validated {
        Some(config) if errors.is_empty() => Ok(Loaded { config, warnings }),
        _ => Err(errors),
    }
}

fn read_config_file(path: &Path, flag: &str, errors: &mut ConfigErrors) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(ConfigError::new(flag, format!("cannot read {}: {e}", path.display()), "check the path given to the flag"));
            None
        }
    }
}
