//! Configuration errors: every problem names the key, the value (redacted for secrets), where
//! the value came from, and how to fix it. Validation collects all of them before reporting.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from, so a message can point at the line to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A line of the `--config` file.
    File { path: PathBuf, line: usize },
    /// An `OAUTH2_PROXY_*` environment variable.
    Env { var: String },
    /// A command-line flag.
    Flag { flag: String },
    /// The `--alpha-config` YAML file, at a dotted path such as `providers[0].clientID`.
    Alpha { path: PathBuf, field: String },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::Flag { flag } => write!(f, "flag --{flag}"),
            Origin::Alpha { path, field } => write!(f, "{} at {field}", path.display()),
        }
    }
}

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The option's key as written in the config file (`cookie_secret`), or the alpha path.
    pub key: String,
    /// The offending value as the user wrote it, already redacted when the option is secret.
    pub value: Option<String>,
    pub origin: Option<Origin>,
    /// What is wrong, lowercase, no trailing period.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        ConfigError { key: key.into(), value: None, origin: None, problem: problem.into(), fix: fix.into() }
    }

    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }

    pub fn origin(mut self, origin: Option<Origin>) -> Self {
        self.origin = origin;
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key)?;
        if let Some(value) = &self.value {
            write!(f, " = {value}")?;
        }
        if let Some(origin) = &self.origin
            && *origin != Origin::Default
        {
            write!(f, " ({origin})")?;
        }
        write!(f, ": {}", self.problem)?;
        if !self.fix.is_empty() {
            write!(f, "\n      fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// Every problem found in one load, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// The keys with a problem, for tests and for `--config-test` summaries.
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|e| e.key.as_str()).collect()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "invalid configuration: {n} problem{}", if n == 1 { "" } else { "s" })?;
        for (i, e) in self.0.iter().enumerate() {
            writeln!(f, "  {}. {e}", i + 1)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The closest known name to `input`, for "did you mean" hints on typos.
pub fn suggest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input = input.to_ascii_lowercase().replace('-', "_");
    candidates
        .into_iter()
        .map(|c| (edit_distance(&input, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance; inputs are short option names, so the quadratic cost is irrelevant.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["cookie_secret", "cookie_secure", "client_id", "upstreams"];
        assert_eq!(suggest("cookie_secrte", known), Some("cookie_secret"));
        assert_eq!(suggest("upstream", known), Some("upstreams"));
        assert_eq!(suggest("client-id", known), Some("client_id"));
        assert_eq!(suggest("totally_unrelated_thing", known), None);
    }
}
