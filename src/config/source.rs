//! The three sources of legacy options (the `--config` file, `OAUTH2_PROXY_*` environment
//! variables and command-line flags), each read into a [`RawConfig`] of untyped values that
//! remember where they came from. Precedence is applied by [`RawConfig::overlay`]:
//! flag > environment > file > default.
//!
//! This is the only module that reads the process environment, and it does so through the
//! [`Env`] trait so tests can load configurations from a map without touching global state.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::error::{ConfigError, ConfigErrors, Origin, suggest};
use super::options::{self, OptionSpec};
use super::value::{Kind, RawValue, split_list};

/// Access to environment variables.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    /// Every variable, for spotting misspelt `OAUTH2_PROXY_*` names.
    fn vars(&self) -> Vec<(String, String)>;
}

/// The real process environment.
pub struct ProcessEnv;

// The one place that reads the process environment.
#[allow(clippy::disallowed_methods)]
impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars().collect()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn vars(&self) -> Vec<(String, String)> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// A raw value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced {
    pub value: RawValue,
    pub origin: Origin,
}

/// Untyped option values by key. Keys are always keys of the option table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawConfig {
    values: BTreeMap<&'static str, Sourced>,
}

impl RawConfig {
    pub fn get(&self, key: &str) -> Option<&Sourced> {
        self.values.get(key)
    }

    pub fn set(&mut self, spec: &'static OptionSpec, value: RawValue, origin: Origin) {
        self.values.insert(spec.key, Sourced { value, origin });
    }

    /// Lays `higher` over `self`: every key `higher` sets wins.
    pub fn overlay(&mut self, higher: RawConfig) {
        self.values.extend(higher.values);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Sourced)> {
        self.values.iter().map(|(k, v)| (*k, v))
    }
}

/// Reads a legacy TOML-style config file's text. `path` is only used in messages.
///
/// viper reads this file as TOML with flat keys. Unknown keys are errors (oauth2-proxy uses
/// `UnmarshalExact`); a key set twice is an error naming both lines, because the usual cause is
/// pasting a snippet (the tutorial's TLS block sets `http_address` again) and the reader cannot
/// tell which line wins.
///
/// Returns `None` when the file is not TOML at all: every other check would only add noise.
pub fn from_file_text(path: &Path, text: &str, errors: &mut ConfigErrors) -> Option<RawConfig> {
    let file_err = |problem: String, fix: &str| ConfigError::new(path.display().to_string(), problem, fix.to_string());
    let occurrences = scan_keys(text);
    let mut text = text.to_string();
    let mut lines_of: HashMap<String, usize> = HashMap::new();
    let mut first_seen: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut blank = Vec::new();
    for occ in &occurrences {
        if let Some(&(first_line, first_end)) = first_seen.get(occ.key.as_str()) {
            let spec = options::find(&occ.key);
            errors.push(
                ConfigError::new(
                    occ.key.clone(),
                    format!("set twice in {}: on line {first_line} and again on line {}", path.display(), occ.start),
                    format!(
                        "keep only the one you mean and delete the other{}",
                        if spec.is_some_and(|s| s.key == "http_address") {
                            " (the tutorial's TLS snippet sets http_address = \"0.0.0.0:443\"; replace the earlier line with it)"
                        } else {
                            ""
                        }
                    ),
                )
                .origin(Some(Origin::File { path: path.to_path_buf(), line: occ.start })),
            );
            // Keep the later value so the rest of the file can still be checked.
            blank.push((first_line, first_end));
        }
        first_seen.insert(&occ.key, (occ.start, occ.end));
        lines_of.insert(occ.key.clone(), occ.start);
    }
    if !blank.is_empty() {
        text = text
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let n = i + 1;
                if blank.iter().any(|(s, e)| (*s..=*e).contains(&n)) { "" } else { line }
            })
            .collect::<Vec<_>>()
            .join("\n");
    }

    let table: toml::Table = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            let msg = e.to_string().replace('\n', "\n      ");
            errors.push(file_err(
                format!("is not a valid config file: {msg}"),
                "the file uses TOML syntax: key = \"value\", key = [\"a\", \"b\"], key = true; quote strings",
            ));
            return None;
        }
    };

    let mut raw = RawConfig::default();
    for (key, value) in table {
        let line = lines_of.get(&key).copied().unwrap_or(0);
        let origin = Origin::File { path: path.to_path_buf(), line };
        match options::find(&key) {
            Some(spec) => raw.set(spec, from_toml(value), origin),
            None => errors.push(unknown_key(&key, origin)),
        }
    }
    Some(raw)
}

fn unknown_key(key: &str, origin: Origin) -> ConfigError {
    let fix = match suggest(key, options::all().map(|o| o.key)) {
        Some(s) => format!("did you mean `{s}`?"),
        None if matches!(key, "config" | "alpha_config" | "config_test" | "version") => {
            format!("`{key}` is a command-line flag only (--{})", key.replace('_', "-"))
        }
        None => "remove it; `gatehouse --help` lists every option".to_string(),
    };
    ConfigError::new(key, "unknown option", fix).origin(Some(origin))
}

fn from_toml(value: toml::Value) -> RawValue {
    match value {
        toml::Value::String(s) => RawValue::Str(s),
        toml::Value::Integer(i) => RawValue::Int(i),
        toml::Value::Float(f) => RawValue::Float(f),
        toml::Value::Boolean(b) => RawValue::Bool(b),
        toml::Value::Array(items) => RawValue::List(items.into_iter().map(from_toml).collect()),
        toml::Value::Datetime(_) => RawValue::Other("date"),
        toml::Value::Table(_) => RawValue::Other("table"),
    }
}

/// A top-level `key = …` in the file, spanning lines `start..=end` (arrays may span lines).
struct KeyOccurrence {
    key: String,
    start: usize,
    end: usize,
}

/// Finds top-level keys and their line spans without a TOML parser, because the parser stops
/// at the first duplicate while we want to name both lines and keep going.
fn scan_keys(text: &str) -> Vec<KeyOccurrence> {
    let mut found: Vec<KeyOccurrence> = Vec::new();
    let mut depth: i32 = 0;
    let mut in_table = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if depth > 0 {
            depth += bracket_delta(line);
            if let Some(last) = found.last_mut() {
                last.end = n;
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            // A [table] header: what follows is not top level (and is reported as unknown).
            in_table = true;
            continue;
        }
        if in_table || trimmed.starts_with('#') {
            continue;
        }
        let Some(eq) = trimmed.find('=') else {
            continue;
        };
        let key = trimmed[..eq].trim().trim_matches('"');
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            continue;
        }
        depth = bracket_delta(&trimmed[eq + 1..]).max(0);
        found.push(KeyOccurrence { key: key.to_string(), start: n, end: n });
    }
    found
}

/// Net `[` minus `]` outside quoted strings and comments on one line.
fn bracket_delta(line: &str) -> i32 {
    let mut delta = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in line.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' => break,
                '[' => delta += 1,
                ']' => delta -= 1,
                _ => {}
            },
        }
    }
    delta
}

/// Reads `OAUTH2_PROXY_<KEY>` for every option. Misspelt `OAUTH2_PROXY_*` variables are not
/// errors (the environment is shared with other tools) but produce a warning with a suggestion.
pub fn from_env(env: &dyn Env, warnings: &mut Vec<String>) -> RawConfig {
    let mut raw = RawConfig::default();
    for spec in options::all() {
        let var = spec.env_var();
        if let Some(value) = env.var(&var) {
            raw.set(spec, RawValue::Str(value), Origin::Env { var });
        }
    }
    let known: Vec<String> = options::all().map(|o| o.env_var()).collect();
    let mut names: Vec<String> =
        env.vars().into_iter().map(|(k, _)| k).filter(|k| k.starts_with("OAUTH2_PROXY_") && !known.contains(k)).collect();
    names.sort();
    for name in names {
        let key = name["OAUTH2_PROXY_".len()..].to_ascii_lowercase();
        let hint = match suggest(&key, options::all().map(|o| o.key)) {
            Some(s) => format!("; did you mean OAUTH2_PROXY_{}?", s.to_ascii_uppercase()),
            None => String::new(),
        };
        warnings.push(format!("environment variable {name} is not an option and is ignored{hint}"));
    }
    raw
}

/// A flag as given on the command line: every occurrence, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagValues {
    pub key: &'static str,
    pub values: Vec<String>,
}

/// Turns parsed flags into raw values. List flags are repeatable and each occurrence may hold
/// comma-separated values (pflag `StringSlice`); for other flags the last occurrence wins.
pub fn from_flags(flags: &[FlagValues]) -> RawConfig {
    let mut raw = RawConfig::default();
    for f in flags {
        let Some(spec) = options::find(f.key) else {
            continue;
        };
        let Some(last) = f.values.last() else {
            continue;
        };
        let value = match spec.kind {
            Kind::List => RawValue::List(f.values.iter().flat_map(|v| split_list(v)).map(RawValue::Str).collect()),
            _ => RawValue::Str(last.clone()),
        };
        raw.set(spec, value, Origin::Flag { flag: spec.flag() });
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn load(text: &str) -> (RawConfig, ConfigErrors) {
        let mut errors = ConfigErrors::default();
        let raw = from_file_text(&PathBuf::from("test.cfg"), text, &mut errors).unwrap_or_default();
        (raw, errors)
    }

    #[test]
    fn file_values_remember_their_line() {
        let (raw, errors) =
            load("# comment\nprovider = \"oidc\"\n\nemail_domains = [\n  \"a.com\",\n  \"b.com\",\n]\ncookie_secure = false\n");
        assert!(errors.is_empty(), "{errors}");
        let p = raw.get("provider").unwrap();
        assert_eq!(p.origin, Origin::File { path: "test.cfg".into(), line: 2 });
        assert_eq!(raw.get("cookie_secure").unwrap().origin, Origin::File { path: "test.cfg".into(), line: 8 });
    }

    #[test]
    fn duplicate_keys_name_both_lines_and_keep_checking() {
        let (raw, errors) = load("http_address = \"127.0.0.1:4180\"\nbogus_key = 1\nhttp_address = \"0.0.0.0:443\"\n");
        assert_eq!(errors.keys(), ["http_address", "bogus_key"]);
        let msg = errors.to_string();
        assert!(msg.contains("line 1") && msg.contains("line 3"), "{msg}");
        assert_eq!(raw.get("http_address").unwrap().value, RawValue::Str("0.0.0.0:443".into()));
    }

    #[test]
    fn brackets_inside_strings_do_not_confuse_the_scanner() {
        let (raw, errors) = load("skip_auth_routes = [\"GET=^/api/[a-z]+$\"]\nprovider = \"oidc\"\n");
        assert!(errors.is_empty(), "{errors}");
        assert_eq!(raw.get("provider").unwrap().origin, Origin::File { path: "test.cfg".into(), line: 2 });
    }

    #[test]
    fn flags_split_lists_and_take_the_last_scalar() {
        let raw = from_flags(&[
            FlagValues { key: "email_domains", values: vec!["a.com,b.com".into(), "c.com".into()] },
            FlagValues { key: "provider", values: vec!["google".into(), "oidc".into()] },
        ]);
        let domains = &raw.get("email_domains").unwrap().value;
        assert_eq!(domains.display(), "[\"a.com\", \"b.com\", \"c.com\"]");
        assert_eq!(raw.get("provider").unwrap().value, RawValue::Str("oidc".into()));
    }

    #[test]
    fn misspelt_env_vars_warn_with_a_suggestion() {
        let env: HashMap<String, String> = [("OAUTH2_PROXY_EMAIL_DOMAIN".to_string(), "*".to_string())].into();
        let mut warnings = vec![];
        let raw = from_env(&env, &mut warnings);
        assert!(raw.get("email_domains").is_none());
        assert!(warnings[0].contains("OAUTH2_PROXY_EMAIL_DOMAINS"), "{warnings:?}");
    }
}
