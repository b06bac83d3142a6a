//! Tidy: the shape of `src/`, held by reading it (in the spirit of rust-analyzer's tidy test).
//!
//! - **Layers.** Every top-level module has a layer ([`LAYERS`]); a module uses `crate::…`
//!   paths of its own module and of lower layers only, so there are no cycles between modules.
//! - **Configuration calls nothing at run time**: `config/` never names the request path
//!   (`http`, `state`, `gate`, `server`'s middleware, `endpoints`, `app`).
//! - **The domain has no HTTP server in it**: `base`, `pages`, `identity`, `authz`, `htpasswd`,
//!   `oidc` and `session` never name requests, responses or server machinery.
//! - **Status codes are chosen in one place**: the error table (`http/error.rs`) and the plain
//!   answers (`http/respond.rs`); the gate's verdicts are rendered by choosing among those.
//! - **Rooms stay small**: no file over [`MAX_FILE_LINES`] lines and no function over
//!   [`MAX_FN_LINES`], except the flat tables and mappings named in [`LONG`].
//!
//! `ARCHITECTURE.md` ("Layers") says the same in prose; change both together.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top-level modules, bottom layer first. A module may use its own layer's *earlier* entries
/// only through a lower number: equal numbers never import each other.
const LAYERS: &[(&str, u8)] = &[
    ("base", 0),
    ("metrics", 1),
    ("reload", 1),
    ("telemetry", 1),
    ("pages", 2),
    ("identity", 3),
    ("authz", 4),
    ("htpasswd", 4),
    ("oidc", 4),
    ("session", 5),
    ("proxy", 5),
    ("http", 6),
    ("state", 7),
    ("gate", 8),
    ("server", 9),
    ("endpoints", 10),
    ("dev", 10),
    ("config", 11),
    ("app", 12),
    ("cli", 12),
];

/// Items of the crate root (`lib.rs`) every layer may use.
const ROOT_ITEMS: &[&str] = &["install_crypto_provider", "generate_secret"];

/// What configuration may never name: the run-time path of a request.
const NOT_FOR_CONFIG: &[&str] = &["http", "state", "gate", "endpoints", "app"];

/// Modules without an HTTP server in them, and the names that would put one there.
const NO_SERVER: &[&str] = &["base", "pages", "identity", "authz", "htpasswd", "oidc", "session"];
const SERVER_NAMES: &[&str] = &["HttpRequest", "HttpResponse", "ServiceRequest", "ResponseError", "HttpServer", "actix_web::web"];

/// Files that choose status codes: the error table and the plain answers.
/// The proxy's forwarding relays the upstream's status, and its file server answers as Go's;
/// `dev` is the demo's own issuer and echo app.
const STATUS_CHOOSERS: &[&str] = &["http/error.rs", "http/respond.rs", "proxy/forward.rs", "proxy/files.rs", "dev.rs"];
/// How a status is chosen in code.
const STATUS_NAMES: &[&str] = &[
    "StatusCode::",
    "HttpResponse::Ok",
    "HttpResponse::Found",
    "HttpResponse::build",
    "HttpResponse::Not",
    "HttpResponse::Forbidden",
    "HttpResponse::Unauthorized",
    "HttpResponse::Service",
    "HttpResponse::Moved",
    "HttpResponse::Permanent",
    "HttpResponse::Bad",
    "HttpResponse::Internal",
];

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;
/// Flat tables and mappings, which read best whole.
const LONG: &[&str] = &["config/options.rs", "config/alpha/mod.rs::fold_provider"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, as (path relative to `src/`, text without its test module).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src()).unwrap().to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&p).unwrap();
            (rel, without_tests(&text).to_string())
        })
        .collect()
}

/// The text before the file's `#[cfg(test)]` module (tests may reach anywhere).
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// The top-level module a file belongs to; `None` for the crate root and `main.rs`.
fn module_of(rel: &str) -> Option<&str> {
    let first = rel.split('/').next().unwrap();
    match first {
        "lib.rs" | "main.rs" => None,
        f => Some(f.strip_suffix(".rs").unwrap_or(f)),
    }
}

/// The top-level modules a text names through `crate::` paths, `use crate::{a, b::c}` too.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        // `gatehouse::crate::` does not occur; `$crate::` in macros is another crate's.
        if text[..i].ends_with('$') {
            continue;
        }
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            out.insert(name);
        }
    }
    out
}

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// Every way `text` (the file `rel`) breaks the layering.
fn layering_violations(rel: &str, text: &str) -> Vec<String> {
    let Some(me) = module_of(rel) else { return vec![] };
    let Some(my_layer) = layer(me) else {
        return vec![format!("src/{rel}: module `{me}` has no layer; add it to LAYERS in tests/it/tidy.rs and to ARCHITECTURE.md")];
    };
    let mut out = Vec::new();
    for used in crate_refs(text) {
        if used == me || ROOT_ITEMS.contains(&used.as_str()) || used.chars().next().is_some_and(char::is_uppercase) {
            continue;
        }
        match layer(&used) {
            None => out.push(format!("src/{rel}: uses crate::{used}, which is not a layered module")),
            Some(l) if l >= my_layer => {
                out.push(format!("src/{rel}: `{me}` (layer {my_layer}) uses crate::{used} (layer {l}); a module uses only lower layers"))
            }
            Some(_) if me == "config" && NOT_FOR_CONFIG.contains(&used.as_str()) => {
                out.push(format!("src/{rel}: configuration uses crate::{used}, which runs requests; config calls nothing at run time"))
            }
            Some(_) => {}
        }
    }
    if NO_SERVER.contains(&me) {
        for name in SERVER_NAMES {
            if text.contains(name) {
                out.push(format!("src/{rel}: `{me}` names {name}; the domain knows no HTTP server"));
            }
        }
    }
    out
}

fn status_violations(rel: &str, text: &str) -> Vec<String> {
    if STATUS_CHOOSERS.contains(&rel) {
        return vec![];
    }
    STATUS_NAMES
        .iter()
        .filter(|n| text.contains(*n))
        .map(|n| format!("src/{rel}: chooses a status ({n}); use http::respond or a typed error mapped in http/error.rs"))
        .collect()
}

/// Functions longer than [`MAX_FN_LINES`]: from a line starting `fn` (after visibility and
/// `async`) to the line that closes it at the same indentation.
fn long_functions(rel: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let sig = ["pub(crate) ", "pub(super) ", "pub ", "async ", "const "].iter().fold(trimmed, |t, p| t.strip_prefix(p).unwrap_or(t));
        let sig = sig.strip_prefix("async ").unwrap_or(sig);
        let Some(rest) = sig.strip_prefix("fn ") else { continue };
        if line.trim_end().ends_with(';') {
            continue;
        }
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let close = format!("{indent}}}");
        if let Some(end) = lines[i + 1..].iter().position(|l| *l == close) {
            let length = end + 2;
            if length > MAX_FN_LINES && !LONG.contains(&format!("{rel}::{name}").as_str()) {
                out.push(format!("src/{rel}: fn {name} is {length} lines (at most {MAX_FN_LINES}); split it along its seams"));
            }
        }
    }
    out
}

#[test]
fn modules_use_only_lower_layers() {
    let violations: Vec<String> = sources().iter().flat_map(|(rel, text)| layering_violations(rel, text)).collect();
    assert!(violations.is_empty(), "the layering (ARCHITECTURE.md, \"Layers\") is broken:\n  {}", violations.join("\n  "));
}

#[test]
fn status_codes_are_chosen_in_the_error_table_and_the_plain_answers() {
    let violations: Vec<String> = sources().iter().flat_map(|(rel, text)| status_violations(rel, text)).collect();
    assert!(violations.is_empty(), "status codes chosen outside http/:\n  {}", violations.join("\n  "));
}

#[test]
fn files_and_functions_stay_small() {
    let mut violations = Vec::new();
    for (rel, text) in sources() {
        // Counted with the tests: a file is read whole.
        let lines = std::fs::read_to_string(src().join(&rel)).unwrap().lines().count();
        if lines > MAX_FILE_LINES && !LONG.contains(&rel.as_str()) {
            violations.push(format!("src/{rel}: {lines} lines (at most {MAX_FILE_LINES}); split it along its seams"));
        }
        violations.extend(long_functions(&rel, &text));
    }
    assert!(violations.is_empty(), "rooms too big:\n  {}", violations.join("\n  "));
}

#[test]
fn one_module_style() {
    // `foo/mod.rs`, never `foo.rs` beside `foo/`.
    let mut both = Vec::new();
    for (rel, _) in sources() {
        if let Some(stem) = rel.strip_suffix(".rs")
            && src().join(stem).is_dir()
        {
            both.push(format!("src/{rel} beside src/{stem}/"));
        }
    }
    assert!(both.is_empty(), "use foo/mod.rs: {both:?}");
}

/// The checks themselves can fail: each catches the mistake it is for.
#[test]
fn the_checks_catch_what_they_are_for() {
    // A domain module reaching up to a handler, and configuration calling the gate.
    let up = layering_violations("session/store.rs", "use crate::endpoints::login;\n");
    assert!(up.iter().any(|v| v.contains("uses crate::endpoints")), "{up:?}");
    let grouped = layering_violations("oidc/mod.rs", "use crate::{identity, server};\n");
    assert!(grouped.iter().any(|v| v.contains("crate::server")) && !grouped.iter().any(|v| v.contains("identity")), "{grouped:?}");
    let config = layering_violations("config/validate/mod.rs", "let v = crate::gate::View::check(req);\n");
    assert!(config.iter().any(|v| v.contains("crate::gate")), "{config:?}");
    let server = layering_violations("session/store.rs", "fn f(r: &actix_web::HttpRequest) {}\n");
    assert!(server.iter().any(|v| v.contains("HttpRequest")), "{server:?}");
    let unknown = layering_violations("newroom/mod.rs", "");
    assert!(unknown.iter().any(|v| v.contains("has no layer")), "{unknown:?}");
    // A handler choosing its own status.
    let status = status_violations("endpoints/login.rs", "HttpResponse::build(StatusCode::IM_A_TEAPOT)");
    assert_eq!(status.len(), 2, "{status:?}");
    // A long function.
    let body = format!("fn long() {{\n{}}}\n", "    let x = 1;\n".repeat(MAX_FN_LINES));
    assert_eq!(long_functions("gate/mod.rs", &body).len(), 1);
    // What is allowed stays allowed.
    assert!(layering_violations("gate/mod.rs", "use crate::session::SessionState;\nuse crate::http::error::AuthError;\n").is_empty());
    assert!(layering_violations("oidc/tls.rs", "crate::install_crypto_provider();\n").is_empty());
}
