//! Configuration parsing: any text, read as the legacy file and as alpha YAML, is either a
//! configuration or a list of errors, never a panic. `make fuzz` seeds it with the test
//! fixtures (`tests/fixtures/config/`, `tests/fixtures/alpha/`).
#![no_main]

use std::collections::HashMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

const BASE: &str = "provider = \"oidc\"\nclient_id = \"app\"\nclient_secret = \"s\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let env: HashMap<String, String> = HashMap::new();
    let _ = gatehouse::config::load_texts(Some((Path::new("fuzz.cfg"), text.clone())), None, &[], &env, Default::default());
    let _ = gatehouse::config::load_texts(
        Some((Path::new("fuzz.cfg"), BASE.to_string())),
        Some((Path::new("fuzz.yaml"), text)),
        &[],
        &env,
        Default::default(),
    );
});
