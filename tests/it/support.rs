//! Helpers shared by the integration tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gatehouse::config::{self, ConfigErrors, FlagValues, Loaded, Sources};

/// A path under `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Loads a config file as `--config` would, with the given environment and flags only.
pub fn load(
    file: Option<&Path>,
    env: &[(&str, &str)],
    flags: Vec<FlagValues>,
) -> Result<Loaded, ConfigErrors> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sources = Sources {
        config_file: file.map(Path::to_path_buf),
        alpha_config: None,
        flags,
    };
    config::load(&sources, &env)
}

/// Loads a fixture that must be valid.
pub fn load_ok(rel: &str) -> Loaded {
    load(Some(&fixture(rel)), &[], vec![]).unwrap_or_else(|e| panic!("{rel} should load:\n{e}"))
}

/// The smallest valid configuration as file text.
pub const MINIMAL: &str = r#"provider = "oidc"
oidc_issuer_url = "https://idp.example.com"
client_id = "app"
client_secret = "s3cret-client-value"
cookie_secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
email_domains = ["*"]
"#;

/// Loads config text (as a file named `test.cfg`) with an environment map and flags.
pub fn load_text(
    text: &str,
    env: &[(&str, &str)],
    flags: Vec<FlagValues>,
) -> Result<Loaded, ConfigErrors> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    config::load_texts(
        Some((Path::new("test.cfg"), text.to_string())),
        None,
        &flags,
        &env,
        ConfigErrors::default(),
    )
}

pub fn flag(key: &'static str, values: &[&str]) -> FlagValues {
    FlagValues {
        key,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}
