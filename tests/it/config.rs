//! Configuration loading, end to end through `config::load`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use gatehouse::config::options;
use gatehouse::config::{self, ConfigErrors, FlagValues, Sources};
use gatehouse::identity::{Claim, HeaderValueSource};
use gatehouse::oidc::{ClientSecret, PkceMethod, ProviderKind};
use gatehouse::proxy::Target;
use gatehouse::server::{ListenAddr, TlsVersion};
use gatehouse::session::{RedisTopology, SameSite, StoreConfig};

use crate::support::{MINIMAL, fixture, flag, load, load_ok, load_text};

const TUTORIAL: &str = "tutorial/oauth2-proxy.cfg";

#[test]
fn tutorial_fixture_is_the_tutorials_file_with_only_placeholders_filled() {
    let original = std::fs::read_to_string(fixture("tutorial/original.cfg.txt")).unwrap();
    let filled = original
        .replace("<your_client_id>", "oauth2-proxy-app")
        .replace("<your_client_secret>", "tutorial-client-secret")
        .replace("<your_32_byte_base64_secret>", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    assert_eq!(std::fs::read_to_string(fixture(TUTORIAL)).unwrap(), filled);
}

#[test]
fn tutorial_values_land_in_the_typed_config() {
    let cfg = load_ok(TUTORIAL).config;
    let o = &cfg.oidc;
    assert_eq!(o.kind, ProviderKind::Oidc);
    assert_eq!(o.issuer_url.as_ref().unwrap().as_str(), "https://localhost:9443/oauth2/token");
    assert_eq!(o.jwks_url.as_ref().unwrap().as_str(), "https://localhost:9443/oauth2/jwks");
    assert_eq!(o.redirect_url.as_deref(), Some("http://localhost:4180/oauth2/callback"));
    assert_eq!(o.client_id, "oauth2-proxy-app");
    match &o.client_secret {
        ClientSecret::Value(s) => assert_eq!(s.expose(), "tutorial-client-secret"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(o.scope, "openid email profile");
    assert_eq!(o.pkce, Some(PkceMethod::S256));
    // user_id_claim = "username" with the email claim at its default: email comes from `username`.
    assert_eq!(o.email_claim, "username");
    assert!(!o.skip_nonce, "Gatehouse sends and checks a nonce unless insecure_oidc_skip_nonce = true (README Differences)");

    assert_eq!(cfg.authz.email_domains, ["*"]);
    assert!(!cfg.authz.skip_auth_preflight);

    assert_eq!(cfg.server.http_address, Some(ListenAddr::Tcp { host: "127.0.0.1".into(), port: 4180 }));
    assert!(cfg.server.tls.is_none());

    assert_eq!(cfg.proxy.upstreams.len(), 1);
    let up = &cfg.proxy.upstreams[0];
    assert_eq!(up.path, "/");
    assert_eq!(up.target, Target::Http("http://localhost:8080".parse().unwrap()));
    assert_eq!(up.timeout, Duration::from_secs(30));

    let request: Vec<&str> = cfg.headers.request.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        request,
        ["X-Forwarded-Groups", "X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username", "X-Forwarded-Access-Token"]
    );
    let response: Vec<&str> = cfg.headers.response.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        response,
        [
            "X-Auth-Request-User",
            "X-Auth-Request-Email",
            "X-Auth-Request-Preferred-Username",
            "X-Auth-Request-Groups",
            "X-Auth-Request-Access-Token",
            "Authorization"
        ]
    );
    match &cfg.headers.response[5].values[0] {
        HeaderValueSource::Claim { claim, prefix, .. } => {
            assert_eq!(*claim, Claim::IdToken);
            assert_eq!(prefix, "Bearer ");
        }
        other => panic!("unexpected {other:?}"),
    }

    let c = &cfg.session.cookie;
    assert!(!c.secure);
    assert_eq!(c.samesite, SameSite::Lax);
    assert_eq!(c.csrf_samesite, SameSite::Lax, "inherits cookie_samesite");
    assert!(!c.csrf_per_request);
    assert_eq!(c.keys.get().secrets()[0].key.expose(), &(0u8..32).collect::<Vec<_>>(), "base64url secret decodes to 32 key bytes");
    assert_eq!(c.name, "_oauth2_proxy");
    assert_eq!(c.expire, Duration::from_secs(168 * 3600));
    assert_eq!(cfg.session.store, StoreConfig::Cookie);
}

#[test]
fn tutorial_redis_snippet_selects_the_redis_store() {
    let cfg = load_ok("tutorial/oauth2-proxy-redis.cfg").config;
    match cfg.session.store {
        StoreConfig::Redis(r) => assert_eq!(r.topology, RedisTopology::Standalone { url: "redis://127.0.0.1:6379/1".into() }),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn tutorial_tls_snippet_serves_https_on_http_address() {
    let cfg = load_ok("tutorial/oauth2-proxy-tls.cfg").config;
    let tls = cfg.server.tls.as_ref().expect("tls");
    assert_eq!(tls.min_version, TlsVersion::Tls13);
    assert!(tls.cert_file.ends_with("tests/fixtures/tls/cert.pem"));
    assert_eq!(cfg.server.http_address, None, "with TLS only HTTPS is served, as in oauth2-proxy");
    assert_eq!(cfg.server.https_address, Some(ListenAddr::Tcp { host: "0.0.0.0".into(), port: 443 }));
    assert!(cfg.session.cookie.secure);
}

#[test]
fn pasting_the_tls_snippet_names_both_lines_of_each_repeated_key() {
    let errors = load(Some(&fixture("tutorial/tls-snippet-pasted.cfg")), &[], vec![]).unwrap_err();
    assert_eq!(errors.keys(), ["http_address", "cookie_secure"]);
    let text = errors.to_string();
    assert!(text.contains("on line 14 and again on line 28"), "{text}");
    assert!(text.contains("on line 23 and again on line 29"), "{text}");
    assert!(text.contains("replace the earlier line"), "{text}");
}

/// The tutorial file's entries, read with the TOML parser, as (key, values) pairs.
fn tutorial_entries() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(fixture(TUTORIAL)).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    table
        .into_iter()
        .map(|(k, v)| {
            let values = match v {
                toml::Value::Array(a) => a.into_iter().map(|x| x.as_str().unwrap().to_string()).collect(),
                toml::Value::String(s) => vec![s],
                other => vec![other.to_string()],
            };
            (k, values)
        })
        .collect()
}

#[test]
fn the_same_options_as_flags_and_as_env_give_the_same_config() {
    let from_file = load_ok(TUTORIAL).config;
    let entries = tutorial_entries();

    let flags: Vec<FlagValues> =
        entries.iter().map(|(k, v)| FlagValues { key: options::find(k).unwrap().key, values: v.clone() }).collect();
    let from_flags = load(None, &[], flags).unwrap().config;

    let env: Vec<(String, String)> = entries.iter().map(|(k, v)| (options::find(k).unwrap().env_var(), v.join(","))).collect();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let from_env = load(None, &env_refs, vec![]).unwrap().config;

    // Debug output covers every field; secrets are redacted there, so compare them directly.
    let dbg = |c: &gatehouse::Config| format!("{c:?}");
    assert_eq!(dbg(&from_file), dbg(&from_flags));
    assert_eq!(dbg(&from_file), dbg(&from_env));
    for c in [&from_flags, &from_env] {
        assert_eq!(c.session.cookie.keys.get().secrets()[0].raw.expose(), from_file.session.cookie.keys.get().secrets()[0].raw.expose());
        assert_eq!(c.oidc.client_secret, from_file.oidc.client_secret);
    }
}

#[test]
fn precedence_is_flag_then_env_then_file_then_default() {
    let file = format!("{MINIMAL}cookie_name = \"from_file\"\ncookie_path = \"/file\"\ncookie_domains = [\"file.example\"]\n");
    let env = [("OAUTH2_PROXY_COOKIE_NAME", "from_env"), ("OAUTH2_PROXY_COOKIE_PATH", "/env")];
    let flags = vec![flag("cookie_name", &["from_flag"])];
    let c = load_text(&file, &env, flags).unwrap().config.session.cookie;
    assert_eq!(c.name, "from_flag");
    assert_eq!(c.path, "/env");
    assert_eq!(c.domains, ["file.example"]);
    assert_eq!(c.csrf_expire, Duration::from_secs(15 * 60), "default");
}

#[test]
fn env_lists_are_comma_split_and_flags_repeat() {
    let text = MINIMAL.replace("email_domains = [\"*\"]\n", "");
    let cfg = load_text(&text, &[("OAUTH2_PROXY_EMAIL_DOMAINS", "a.example,b.example")], vec![]).unwrap().config;
    assert_eq!(cfg.authz.email_domains, ["a.example", "b.example"]);
    let cfg = load_text(&text, &[], vec![flag("email_domains", &["a.example", "b.example,c.example"])]).unwrap().config;
    assert_eq!(cfg.authz.email_domains, ["a.example", "b.example", "c.example"]);
}

#[test]
fn valid_fixtures_load() {
    for entry in std::fs::read_dir(fixture("config/valid")).unwrap() {
        let path = entry.unwrap().path();
        if let Err(e) = load(Some(&path), &[], vec![]) {
            panic!("{} should be valid:\n{e}", path.display());
        }
    }
    let weak = load_ok("config/valid/weak_typing.cfg").config;
    assert!(!weak.session.cookie.secure);
    assert_eq!(weak.authz.email_domains, ["example.com", "example.org"]);
    assert_eq!(weak.session.cookie.refresh, Duration::from_secs(90 * 60));
    assert_eq!(weak.session.cookie.keys.get().secrets()[0].key.expose().len(), 16, "a raw 16-byte secret is used as is");
}

/// Each invalid fixture declares its expected problems in `# expect: KEY | TEXT` lines; the
/// load must report exactly those keys, each with its text.
#[test]
fn every_invalid_fixture_fails_with_its_expected_messages() {
    let dir = fixture("config/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 25, "at least 25 invalid configurations");
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let expects: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|l| {
                let (k, t) = l.split_once(" | ").unwrap();
                (k.to_string(), t.to_string())
            })
            .collect();
        assert!(!expects.is_empty(), "{} has no expect lines", path.display());
        let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().to_path_buf();
        let errors = match load(Some(&rel), &[], vec![]) {
            Ok(_) => {
                failures.push(format!("{}: loaded, but should fail", rel.display()));
                continue;
            }
            Err(e) => e,
        };
        let mut got: Vec<String> = errors.keys().iter().map(|k| k.to_string()).collect();
        let mut want: Vec<String> = expects.iter().map(|(k, _)| k.clone()).collect();
        got.sort();
        want.sort();
        if got != want {
            failures.push(format!("{}: expected problems with {want:?}, got {got:?}\n{errors}", rel.display()));
            continue;
        }
        for (key, text) in &expects {
            let rendered: Vec<String> = errors.iter().filter(|e| &e.key == key).map(|e| e.to_string()).collect();
            if !rendered.iter().any(|r| r.contains(text.as_str())) {
                failures.push(format!("{}: the {key} message lacks {text:?}: {rendered:?}", rel.display()));
            }
        }
        // Every problem about a value that was given names where it was given.
        for e in errors.iter() {
            if e.value.is_some() && e.origin.is_none() {
                failures.push(format!("{}: {} has no origin", rel.display(), e.key));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn many_mistakes_are_reported_in_one_run_with_their_lines() {
    let errors = load(Some(Path::new("tests/fixtures/config/invalid/many_mistakes.cfg")), &[], vec![]).unwrap_err();
    assert_eq!(errors.len(), 7);
    let text = errors.to_string();
    assert!(text.starts_with("invalid configuration: 7 problems"), "{text}");
    assert!(text.contains("cookie_expire = \"7days\" (tests/fixtures/config/invalid/many_mistakes.cfg:"), "{text}");
}

#[test]
fn secrets_never_appear_in_error_output() {
    let text = r#"
provider = "oidc"
oidc_issuer_url = "https://idp.example.com"
client_id = "app"
client_secret = "CLIENT-SECRET-MARKER"
client_secret_file = "/nonexistent"
cookie_secret = "COOKIE-SECRET-MARKER"
email_domains = ["*"]
basic_auth_password = "BASIC-PASSWORD-MARKER"
session_store_type = "redis"
redis_connection_url = "http://user:REDIS-PASSWORD-MARKER@127.0.0.1:6379"
redis_password = "REDIS-PW2-MARKER"
github_token = "GITHUB-TOKEN-MARKER"
cookie_secrte = "x"
"#;
    let env = [("OAUTH2_PROXY_REDIS_SENTINEL_PASSWORD", "SENTINEL-MARKER")];
    let errors: ConfigErrors = load_text(text, &env, vec![flag("signature_key", &["sha1:SIGNATURE-MARKER"])]).unwrap_err();
    let rendered = format!("{errors}\n{errors:?}");
    assert!(errors.len() >= 5, "{rendered}");
    for marker in
        ["CLIENT-SECRET", "COOKIE-SECRET", "BASIC-PASSWORD", "REDIS-PASSWORD", "REDIS-PW2", "GITHUB-TOKEN", "SENTINEL", "SIGNATURE"]
    {
        assert!(!rendered.contains(marker), "{marker} leaked:\n{rendered}");
    }
    assert!(rendered.contains("cookie_secret = <redacted, 20 bytes>"), "{rendered}");
}

#[test]
fn secrets_never_appear_in_a_valid_configs_debug_output() {
    let loaded = load_ok(TUTORIAL);
    let dbg = format!("{:?}", loaded.config);
    assert!(!dbg.contains("tutorial-client-secret"));
    assert!(!dbg.contains("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"));
}

#[test]
fn alpha_yaml_parses_and_combines_with_the_legacy_file() {
    let env: std::collections::HashMap<String, String> =
        [("GATEHOUSE_TEST_CLIENT_SECRET".to_string(), "from-env-secret".to_string())].into();
    let sources =
        Sources { config_file: Some(fixture("alpha/oauth2-proxy.cfg")), alpha_config: Some(fixture("alpha/alpha.yaml")), flags: vec![] };
    let cfg = config::load(&sources, &env).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(cfg.oidc.client_id, "oauth2-proxy-app");
    assert_eq!(cfg.oidc.client_secret, ClientSecret::Value(gatehouse::base::Secret::new("from-env-secret".into())));
    assert_eq!(cfg.oidc.issuer_url.unwrap().as_str(), "https://localhost:9443/oauth2/token");
    assert_eq!(cfg.oidc.email_claim, "username");
    assert_eq!(cfg.oidc.pkce, Some(PkceMethod::S256));
    assert_eq!(cfg.server.http_address, Some(ListenAddr::Tcp { host: "127.0.0.1".into(), port: 4180 }));
    let request: Vec<&str> = cfg.headers.request.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(request, ["X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Access-Token", "Authorization"]);
    assert_eq!(cfg.headers.response.len(), 2);
    assert_eq!(cfg.proxy.upstreams[0].id, "app");
    assert_eq!(cfg.proxy.upstreams[0].timeout, Duration::from_secs(45));
    assert!(!cfg.session.cookie.secure);
}

#[test]
fn alpha_yaml_refuses_legacy_options_it_replaces() {
    let env: std::collections::HashMap<String, String> = [("GATEHOUSE_TEST_CLIENT_SECRET".to_string(), "x".to_string())].into();
    let legacy = format!(
        "{}upstreams = [\"http://localhost:8080\"]\nset_xauthrequest = true\n",
        std::fs::read_to_string(fixture("alpha/oauth2-proxy.cfg")).unwrap()
    );
    let alpha = std::fs::read_to_string(fixture("alpha/alpha.yaml")).unwrap();
    let errors = config::load_texts(
        Some((Path::new("main.cfg"), legacy)),
        Some((Path::new("alpha.yaml"), alpha)),
        &[],
        &env,
        ConfigErrors::default(),
    )
    .unwrap_err();
    assert_eq!(errors.keys(), ["set_xauthrequest", "upstreams"]);
    assert!(errors.to_string().contains("move it to `upstreamConfig` in alpha.yaml"), "{errors}");
}

#[test]
fn alpha_yaml_reports_unset_variables_and_unknown_fields() {
    let env: std::collections::HashMap<String, String> = Default::default();
    let alpha = "providers:\n  - clientID: ${NOT_SET_ANYWHERE}\n";
    let errors = config::load_texts(None, Some((Path::new("a.yaml"), alpha.into())), &[], &env, ConfigErrors::default()).unwrap_err();
    assert!(errors.to_string().contains("environment variable NOT_SET_ANYWHERE is not set"), "{errors}");

    let alpha = "server:\n  bindAddress: 127.0.0.1:4180\n  bindAdress: typo\n";
    let errors = config::load_texts(None, Some((Path::new("a.yaml"), alpha.into())), &[], &env, ConfigErrors::default()).unwrap_err();
    assert!(errors.to_string().contains("unknown field `bindadress`"), "{errors}");
}

/// The configuration `make run` uses must load and leave nothing unimplemented.
#[test]
fn shipped_demo_config_loads_and_can_start() {
    let loaded =
        load(Some(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/demo.cfg"))), &[], vec![]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.server.http_address, Some(ListenAddr::Tcp { host: "127.0.0.1".into(), port: 4180 }));
    assert_eq!(loaded.config.dev.issuer, Some("127.0.0.1:4181".parse().unwrap()));
}

#[test]
fn development_servers_are_loopback_only_and_must_be_the_issuer() {
    let errors = load_text(&format!("{MINIMAL}dev_issuer_address = \"0.0.0.0:4181\"\ndev_echo_address = \"10.1.2.3:80\"\n"), &[], vec![])
        .unwrap_err();
    assert_eq!(errors.keys(), ["dev_issuer_address", "dev_echo_address"]);
    let errors = load_text(&format!("{MINIMAL}dev_issuer_address = \"127.0.0.1:4181\"\n"), &[], vec![]).unwrap_err();
    assert!(errors.to_string().contains("set oidc_issuer_url = \"http://127.0.0.1:4181\""), "{errors}");
}

/// Page options are checked at load, each mistake naming its key, all at once: a template
/// that does not parse (with its file and line), a logo that is neither a URL nor an image.
#[test]
fn broken_page_templates_and_logos_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sign_in.html"), "{{define \"sign_in.html\"}}\n<p>{{.Nope}}</p>{{end}}").unwrap();
    std::fs::write(dir.path().join("error.html"), "{{ if .Message }}unclosed").unwrap();
    let text = format!("{MINIMAL}custom_templates_dir = \"{}\"\ncustom_sign_in_logo = \"logo.gif\"\n", dir.path().display());
    let errors = load_text(&text, &[], vec![]).unwrap_err();
    let shown = errors.to_string();
    assert_eq!(errors.keys(), ["custom_templates_dir", "custom_templates_dir", "custom_sign_in_logo"], "{shown}");
    assert!(shown.contains("sign_in.html: line 2: unknown field `.Nope`"), "{shown}");
    assert!(shown.contains("error.html: line 1: `if` without its `end`"), "{shown}");
    assert!(shown.contains("\"logo.gif\" is neither an https:// URL nor a .svg, .png, .jpg or .jpeg file"), "{shown}");

    // Good templates load; the banner defaults to the allowed domain, as in oauth2-proxy.
    std::fs::write(dir.path().join("sign_in.html"), "<p>{{.SignInMessage}}</p>").unwrap();
    std::fs::write(dir.path().join("error.html"), "<p>{{.Message}}</p>").unwrap();
    std::fs::write(dir.path().join("robots.txt"), "User-agent: *\nAllow: /\n").unwrap();
    let text = format!("{MINIMAL}custom_templates_dir = \"{}\"\nemail_domains = [\"example.com\"]\n", dir.path().display());
    let pages = load_text(&text.replace("email_domains = [\"*\"]\n", ""), &[], vec![]).unwrap().config.pages;
    assert!(pages.sign_in_template.is_some() && pages.error_template.is_some());
    assert_eq!(pages.banner, "Authenticate using example.com");
    assert_eq!(pages.robots.as_deref(), Some("User-agent: *\nAllow: /\n"));
}

/// `workers` (Gatehouse only): a number of threads, 0 for one per CPU.
#[test]
fn workers_is_a_thread_count() {
    assert_eq!(load_text(&format!("{MINIMAL}workers = 3\n"), &[], vec![]).unwrap().config.server.workers, 3);
    assert_eq!(load_text(MINIMAL, &[], vec![]).unwrap().config.server.workers, 0);
    let errors = load_text(&format!("{MINIMAL}workers = -1\n"), &[], vec![]).unwrap_err();
    assert_eq!(errors.keys(), ["workers"], "{errors}");
    assert!(errors.to_string().contains("0 (one per CPU)"), "{errors}");
}

/// `tls_cipher_suites` is checked at load (so by `--config-test`), each unknown name on its own
/// with the suites to choose from; Go's and IANA's names both work.
#[test]
fn cipher_suites_are_checked_when_the_configuration_loads() {
    let ok = format!("{MINIMAL}tls_cipher_suites = [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\", \"TLS_AES_128_GCM_SHA256\"]\n");
    assert!(load_text(&ok, &[], vec![]).is_ok());
    let bad = format!("{MINIMAL}tls_cipher_suites = [\"TLS_RSA_WITH_RC4_128_SHA\", \"TLS_AES_128_GCM_SHA256\", \"nonsense\"]\n");
    let errors = load_text(&bad, &[], vec![]).unwrap_err();
    assert_eq!(errors.keys(), ["tls_cipher_suites", "tls_cipher_suites"], "{errors}");
    let text = errors.to_string();
    assert!(text.contains("TLS_RSA_WITH_RC4_128_SHA") && text.contains("nonsense") && text.contains("choose from TLS_"), "{text}");
}

/// Back-channel logout and the admin endpoints are off by default; their options are refused
/// where they would do nothing (naming the key and the fix), and the endpoint path follows
/// `proxy_prefix` unless given.
#[test]
fn backchannel_logout_and_admin_options_name_what_they_need() {
    let cfg = load_text(MINIMAL, &[], vec![]).unwrap().config;
    assert!(cfg.oidc.backchannel_logout.is_none() && cfg.server.backchannel_logout_path.is_none() && cfg.server.admin_token_file.is_none());
    let on = load_text(
        &format!(
            "{MINIMAL}oidc_backchannel_logout = true
proxy_prefix = \"/auth\"
"
        ),
        &[],
        vec![],
    )
    .unwrap()
    .config;
    assert_eq!(on.server.backchannel_logout_path.as_deref(), Some("/auth/backchannel_logout"));
    let rules = on.oidc.backchannel_logout.unwrap();
    assert_eq!((rules.max_age.as_secs(), rules.sid_required), (180, false));
    let errors = load_text(
        &format!(
            "{MINIMAL}oidc_backchannel_logout_max_age = \"10m\"\nadmin_token_file = \"Cargo.toml\"\noidc_backchannel_logout_path = \"/x\"\n"
        ),
        &[],
        vec![],
    )
    .unwrap_err();
    let text = errors.to_string();
    assert_eq!(errors.keys(), ["admin_token_file", "oidc_backchannel_logout_path", "oidc_backchannel_logout_max_age"], "{errors}");
    assert!(text.contains("set oidc_backchannel_logout = true") && text.contains("set metrics_address"), "{errors}");
    let errors = load_text(
        &format!(
            "{MINIMAL}oidc_backchannel_logout = true\noidc_backchannel_logout_max_age = \"2h\"\noidc_backchannel_logout_path = \"x\"\n"
        ),
        &[],
        vec![],
    )
    .unwrap_err();
    assert_eq!(errors.keys(), ["oidc_backchannel_logout_path", "oidc_backchannel_logout_max_age"], "{errors}");
}

/// `auth_request_response_mode`: `form_post` makes the CSRF cookie `SameSite=None` (the
/// provider's page POSTs from its own site); a `lax` or `strict` CSRF cookie, or a mode that can
/// never reach the server, is refused naming the key.
#[test]
fn form_post_needs_a_csrf_cookie_that_crosses_sites() {
    let form_post = "auth_request_response_mode = \"form_post\"\n";
    let cfg = load_text(&format!("{MINIMAL}{form_post}"), &[], vec![]).unwrap().config;
    assert_eq!(cfg.oidc.response_mode.as_deref(), Some("form_post"));
    assert_eq!(cfg.session.cookie.csrf_samesite, SameSite::None);
    assert_eq!(cfg.session.cookie.samesite, SameSite::Unset, "the session cookie is not widened");
    let explicit = load_text(&format!("{MINIMAL}{form_post}cookie_csrf_samesite = \"none\"\n"), &[], vec![]).unwrap().config;
    assert_eq!(explicit.session.cookie.csrf_samesite, SameSite::None);

    let errors = load_text(&format!("{MINIMAL}{form_post}cookie_samesite = \"lax\"\n"), &[], vec![]).unwrap_err();
    assert_eq!(errors.keys(), ["cookie_samesite"], "{errors}");
    assert!(errors.to_string().contains("cookie_csrf_samesite = \"none\""), "{errors}");
    let errors = load_text(&format!("{MINIMAL}{form_post}cookie_csrf_samesite = \"strict\"\n"), &[], vec![]).unwrap_err();
    assert_eq!(errors.keys(), ["cookie_csrf_samesite"], "{errors}");
    let errors = load_text(&format!("{MINIMAL}auth_request_response_mode = \"fragment\"\n"), &[], vec![]).unwrap_err();
    assert_eq!(errors.keys(), ["auth_request_response_mode"], "{errors}");
    assert!(errors.to_string().contains("\"form_post\""), "{errors}");

    let errors = load_text(&format!("{MINIMAL}cookie_csrf_samesite = \"none\"\ncookie_secure = false\n"), &[], vec![]).unwrap_err();
    assert_eq!(errors.keys(), ["cookie_csrf_samesite"], "browsers drop SameSite=None without Secure: {errors}");

    // Over plain HTTP the cookie cannot be SameSite=None: a warning, the login works same-site.
    let plain = load_text(&format!("{MINIMAL}{form_post}cookie_secure = false\n"), &[], vec![]).unwrap();
    assert_eq!(plain.config.session.cookie.csrf_samesite, SameSite::Unset);
    assert!(plain.warnings.iter().any(|w| w.contains("form_post")), "{:?}", plain.warnings);
}

/// The key ring: `cookie_secrets_previous` and the further lines of `cookie_secret_file` open
/// but never seal; each secret is checked and a bad one named by its place, never its value.
#[test]
fn previous_cookie_secrets_join_the_ring_and_are_checked() {
    const OLD: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let cfg = load_text(&format!("{MINIMAL}cookie_secrets_previous = [\"{OLD}\"]\n"), &[], vec![]).unwrap().config;
    assert_eq!(cfg.session.cookie.keys.get().secrets().len(), 2);
    assert!(cfg.session.cookie.secret_file.is_none());

    let errors = load_text(&format!("{MINIMAL}cookie_secrets_previous = [\"{OLD}\", \"hunter2\"]\n"), &[], vec![]).unwrap_err();
    assert_eq!(errors.keys(), ["cookie_secrets_previous"], "{errors}");
    assert!(errors.to_string().contains("entry 2 ") && !errors.to_string().contains("hunter2"), "{errors}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets");
    std::fs::write(&file, format!("{OLD}\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")).unwrap();
    let text = MINIMAL.replace("cookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n", "");
    let with_file = format!("{text}cookie_secret_file = \"{}\"\n", file.display());
    let cfg = load_text(&with_file, &[], vec![]).unwrap().config;
    let ring = cfg.session.cookie.keys.get();
    assert_eq!(ring.secrets().len(), 2, "a secret per line");
    assert_eq!(ring.secrets()[0].raw.expose(), OLD.as_bytes(), "the first line seals");
    assert_eq!(cfg.session.cookie.secret_file.as_ref().map(|f| f.path.clone()), Some(file.clone()));

    std::fs::write(&file, format!("{OLD}\nnot-a-secret\n")).unwrap();
    let errors = load_text(&with_file, &[], vec![]).unwrap_err();
    assert_eq!(errors.keys(), ["cookie_secret_file"], "{errors}");
    assert!(errors.to_string().contains("secret 2 of the file") && !errors.to_string().contains("not-a-secret"), "{errors}");
}

/// `route_rules` in every source: a list in the file, one `;`-separated string in the
/// environment or a flag (rules hold commas), a list in alpha YAML (`routeRules`); a rule
/// that does not parse is named with what is wrong.
#[test]
fn route_rules_come_from_every_source_and_bad_ones_are_named() {
    let texts = |cfg: &gatehouse::config::Config| cfg.authz.route_rules.0.iter().map(|r| r.text.clone()).collect::<Vec<_>>();
    let want = ["path=^/a/ allow", "path=^/b/ methods=GET,POST allowed_groups=x,y"];
    let file = load_text(&format!("{MINIMAL}route_rules = [\"{}\", \"{}\"]\n", want[0], want[1]), &[], vec![]).unwrap().config;
    assert_eq!(texts(&file), want);
    let joined = format!("{}; {}", want[0], want[1]);
    assert_eq!(texts(&load_text(MINIMAL, &[("OAUTH2_PROXY_ROUTE_RULES", &joined)], vec![]).unwrap().config), want);
    assert_eq!(texts(&load_text(MINIMAL, &[], vec![flag("route_rules", &[&joined])]).unwrap().config), want);

    let env: std::collections::HashMap<String, String> =
        [("GATEHOUSE_TEST_CLIENT_SECRET".to_string(), "from-env-secret".to_string())].into();
    let legacy = std::fs::read_to_string(fixture("alpha/oauth2-proxy.cfg")).unwrap();
    let alpha = std::fs::read_to_string(fixture("alpha/alpha.yaml")).unwrap() + &format!("routeRules:\n  - {}\n  - {}\n", want[0], want[1]);
    let loaded =
        config::load_texts(Some((Path::new("test.cfg"), legacy)), Some((Path::new("a.yaml"), alpha)), &[], &env, ConfigErrors::default());
    assert_eq!(texts(&loaded.unwrap_or_else(|e| panic!("{e}")).config), want);

    let errors =
        load_text(&format!("{MINIMAL}route_rules = [\"path=( deny\", \"path=^/x/ allow deny\", \"allow\"]\n"), &[], vec![]).unwrap_err();
    let text = errors.to_string();
    assert_eq!(errors.keys(), ["route_rules", "route_rules", "route_rules"], "{errors}");
    assert!(text.contains("path=( is not a regular expression (error: unclosed group)"), "{errors}");
    assert!(text.contains("a rule needs path=<regex>"), "{errors}");
}

/// Alpha settings oauth2-proxy accepts but that would not do what they say: a regex `path`
/// without `rewriteTarget` (oauth2-proxy reads it literally, so it never matches), an invalid
/// regex with one, and `insecureSkipHeaderNormalization` (it would let client spellings with
/// `_` through). Each is named with its fix.
#[test]
fn alpha_settings_that_would_not_do_what_they_say_are_errors() {
    let legacy = "cookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\n";
    let load = |alpha: &str| {
        let alpha = format!(
            "{alpha}providers:\n- id: op\n  provider: oidc\n  clientID: app\n  clientSecret: s\n  oidcConfig:\n    issuerURL: https://idp.example.com\n"
        );
        crate::support::load_alpha(legacy, &alpha)
    };
    let up = |path: &str, rewrite: &str| {
        format!(
            "upstreamConfig:\n  upstreams:\n  - id: a\n    path: \"{path}\"\n    rewriteTarget: \"{rewrite}\"\n    uri: http://127.0.0.1:9\n"
        )
    };
    let errors = load(&up("^/api/(.*)$", "")).unwrap_err().to_string();
    assert!(errors.contains("upstreamConfig.upstreams[0].path") && errors.contains("only one with rewriteTarget"), "{errors}");
    let errors = load(&up("^/api/(.*$", "/$1")).unwrap_err().to_string();
    assert!(errors.contains("is not a valid regular expression"), "{errors}");
    let cfg = load(&up("^/api/(.*)$", "/$1")).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(cfg.proxy.upstreams[0].rewrite_target.as_deref(), Some("/$1"));
    // Login parameters: none may repeat one Gatehouse sets, each rule has one of value or
    // pattern, and a pattern must compile.
    let params = |entries: &str| {
        format!(
            "providers:\n- id: op\n  provider: oidc\n  clientID: app\n  clientSecret: s\n  oidcConfig:\n    issuerURL: https://idp.example.com\n  loginURLParameters:\n{entries}"
        )
    };
    let load_alpha = |alpha: String| crate::support::load_alpha(legacy, &alpha);
    let errors = load_alpha(params("  - name: redirect_uri\n    allow: [{pattern: .*}]\n  - name: prompt\n    allow: [{value: login, pattern: x}]\n  - name: hint\n    allow: [{pattern: '('}]\n")).unwrap_err().to_string();
    for says in [
        "loginURLParameters[0].name",
        "a parameter Gatehouse sets itself",
        "loginURLParameters[1].allow[0]",
        "exactly one of value or pattern",
        "loginURLParameters[2].allow",
        "not a valid regular expression",
    ] {
        assert!(errors.contains(says), "{says}: {errors}");
    }
    let cfg = load_alpha(params("  - name: prompt\n    default: [login]\n    allow: [{value: consent}]\n"))
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
    assert_eq!(cfg.oidc.login_params.len(), 1, "only the alpha parameters: no approval_prompt default beside them");
    let headers = "injectRequestHeaders:\n- name: X-Forwarded-User\n  insecureSkipHeaderNormalization: true\n  values:\n  - claim: user\n";
    let errors = load(headers).unwrap_err().to_string();
    assert!(errors.contains("injectRequestHeaders[0].insecureSkipHeaderNormalization"), "{errors}");
}

/// Legacy configurations to convert to alpha: the provider offline (no discovery), headers,
/// login parameters, the tutorial's file.
fn conversion_cases() -> Vec<(&'static str, String)> {
    let provider = "provider = \"oidc\"\noidc_issuer_url = \"https://idp.example.com\"\nclient_id = \"app\"\nclient_secret = \"s3cret-client-value\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\nskip_oidc_discovery = true\nlogin_url = \"https://idp.example.com/authorize\"\nredeem_url = \"https://idp.example.com/token\"\noidc_jwks_url = \"https://idp.example.com/jwks\"\n";
    let tutorial = std::fs::read_to_string(fixture("tutorial/oauth2-proxy.cfg")).unwrap();
    vec![
        ("minimal", format!("{provider}upstreams = [\"http://127.0.0.1:8080/\"]\n")),
        (
            "headers",
            format!("{provider}upstreams = [\"http://127.0.0.1:8080/\", \"file:///srv/www#/static/\"]\npass_access_token = true\nset_xauthrequest = true\npass_basic_auth = true\nbasic_auth_password = \"pw\"\nprefer_email_to_user = true\nset_authorization_header = true\n"),
        ),
        ("prompt", format!("{provider}upstreams = [\"http://127.0.0.1:8080/app/\"]\nprompt = \"login\"\nacr_values = \"urn:mfa\"\nallowed_groups = [\"admins\"]\ncode_challenge_method = \"S256\"\nauth_request_response_mode = \"form_post\"\ncookie_secure = true\n")),
        (
            "keycloak",
            format!("{}upstreams = [\"unix:///run/app.sock\"]\nallowed_roles = [\"admin\"]\nallowed_groups = [\"ops\"]\nscope = \"openid email\"\nmetrics_address = \"127.0.0.1:9100\"\n", provider.replace("\"oidc\"", "\"keycloak-oidc\"")),
        ),
        ("gitlab", format!("{}upstreams = [\"http://127.0.0.1:8080/\"]\ngitlab_groups = [\"devs\"]\ngitlab_projects = [\"g/app=30\"]\n", provider.replace("\"oidc\"", "\"gitlab\""))),
        (
            "github",
            "provider = \"github\"\nclient_id = \"app\"\nclient_secret = \"s3cret-client-value\"\ncookie_secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nemail_domains = [\"*\"]\nlogin_url = \"https://ghe.example.com/login/oauth/authorize\"\nredeem_url = \"https://ghe.example.com/login/oauth/access_token\"\nvalidate_url = \"https://ghe.example.com/api/v3/\"\nupstreams = [\"http://127.0.0.1:8080/\"]\ngithub_org = \"acme\"\ngithub_team = \"devs\"\ngithub_repo = \"acme/app\"\ngithub_token = \"ghp_x\"\ngithub_users = [\"bob\"]\n".to_string(),
        ),
        ("adfs", format!("{}upstreams = [\"http://127.0.0.1:8080/\"]\nresource = \"https://app.example.com\"\n", provider.replace("\"oidc\"", "\"adfs\""))),
        (
            "tls",
            format!(
                "{provider}upstreams = [\"http://127.0.0.1:8080/\"]\nhttps_address = \"127.0.0.1:8443\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\ntls_min_version = \"TLS1.3\"\n",
                fixture("tls/cert.pem").display(),
                fixture("tls/cert.key").display()
            ),
        ),
        ("tutorial", tutorial.replace("https://localhost:9443", "https://idp.example.com").replace("provider = \"oidc\"", "provider = \"oidc\"\nskip_oidc_discovery = true\nlogin_url = \"https://idp.example.com/authorize\"\nredeem_url = \"https://idp.example.com/token\"")),
    ]
}

/// The legacy lines the alpha form does not replace.
fn kept_beside_alpha(text: &str) -> String {
    text.lines()
        .filter(|l| {
            let key = l.split('=').next().unwrap_or("").trim();
            options::all().find(|o| o.key == key).is_none_or(|o| o.legacy == options::Legacy::No)
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `bin --config <legacy> --convert-config-to-alpha`, for each case: (name, legacy, alpha).
fn converted_by(bin: &Path, dir: &Path) -> Vec<(&'static str, String, String)> {
    conversion_cases()
        .into_iter()
        .map(|(name, text)| {
            let legacy = dir.join(format!("{name}.cfg"));
            std::fs::write(&legacy, &text).unwrap();
            let out = std::process::Command::new(bin).arg("--config").arg(&legacy).arg("--convert-config-to-alpha").output().unwrap();
            assert!(out.status.success(), "{name}: {} could not convert: {}", bin.display(), String::from_utf8_lossy(&out.stderr));
            (name, text, String::from_utf8(out.stdout).unwrap())
        })
        .collect()
}

/// Gatehouse's configuration from `kept` and `alpha` is the one from the legacy `text` (with
/// `insecure_oidc_skip_nonce` as `skip_nonce` says: oauth2-proxy writes its default out).
fn same_meaning(name: &str, text: &str, alpha: &str, skip_nonce: bool) {
    let env = crate::support::env_map(&[]);
    let kept = kept_beside_alpha(text);
    let from_alpha = config::load_texts(
        Some((Path::new("a.cfg"), kept)),
        Some((Path::new("a.yaml"), alpha.to_string())),
        &[],
        &env,
        ConfigErrors::default(),
    )
    .unwrap_or_else(|e| panic!("{name}: the alpha form does not load:\n{e}\n{alpha}"))
    .config;
    let legacy = if skip_nonce { format!("{text}insecure_oidc_skip_nonce = true\n") } else { text.to_string() };
    let from_legacy = load_text(&legacy, &[], vec![]).unwrap_or_else(|e| panic!("{name}: {e}")).config;
    for (part, a, b) in [
        ("server", format!("{:?}", from_alpha.server), format!("{:?}", from_legacy.server)),
        ("provider", format!("{:?}", from_alpha.oidc), format!("{:?}", from_legacy.oidc)),
        ("headers", format!("{:?}", from_alpha.headers), format!("{:?}", from_legacy.headers)),
        ("upstreams", format!("{:?}", from_alpha.proxy), format!("{:?}", from_legacy.proxy)),
        ("policy", format!("{:?}", from_alpha.authz), format!("{:?}", from_legacy.authz)),
    ] {
        assert_eq!(a, b, "{name}: the {part} from the alpha form (left) and from the legacy file (right)\n{alpha}");
    }
}

/// What the real oauth2-proxy v7.15.6 writes with `--convert-config-to-alpha` loads in
/// Gatehouse and means what the legacy file meant: the same server, provider, headers,
/// upstreams and policy. (Its alpha form nests `claimSource`/`secretSource`, writes secret
/// values as byte lists and emits every provider's section with defaults.)
#[test]
fn oauth2_proxys_own_alpha_conversion_loads_and_means_the_same() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, alpha) in converted_by(&crate::differential::oauth2_proxy_bin(), dir.path()) {
        same_meaning(name, &text, &alpha, true);
    }
}

/// `gatehouse --convert-config-to-alpha` prints what means the legacy file in Gatehouse, and
/// the real oauth2-proxy accepts it (`--config-test`) beside the remaining legacy options.
#[test]
fn gatehouses_alpha_conversion_means_the_same_in_both() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, alpha) in converted_by(Path::new(env!("CARGO_BIN_EXE_gatehouse")), dir.path()) {
        same_meaning(name, &text, &alpha, false);
        let (kept, yaml) = (dir.path().join(format!("{name}-kept.cfg")), dir.path().join(format!("{name}.yaml")));
        std::fs::write(&kept, kept_beside_alpha(&text)).unwrap();
        std::fs::write(&yaml, &alpha).unwrap();
        let out = std::process::Command::new(crate::differential::oauth2_proxy_bin())
            .arg("--config")
            .arg(&kept)
            .arg("--alpha-config")
            .arg(&yaml)
            .arg("--config-test")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: oauth2-proxy refuses Gatehouse's alpha form:\n{}{}\n{alpha}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
