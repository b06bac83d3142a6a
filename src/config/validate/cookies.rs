//! Validation: Cookies, the cookie secret, and where sessions are kept (cookie or Redis).

use std::sync::Arc;

use super::*;
use crate::session::keys::{self, CookieSecret, KeyRing, Keys, SecretFile};

pub(super) fn session_config(r: &mut Reader<'_>) -> Option<session::Config> {
    let name: String = r.get("cookie_name");
    if name.is_empty() || name.len() > 256 || !name.bytes().all(is_cookie_name_byte) {
        r.error(
            "cookie_name",
            "is not a valid cookie name",
            "use 1 to 256 letters, digits and !#$%&'*+-.^_`|~ (for example \"_oauth2_proxy\")",
        );
    }
    let cookie_keys = cookie_keys(r);
    let mut domains: Vec<String> = r.get("cookie_domains");
    domains.iter_mut().for_each(|d| *d = d.to_ascii_lowercase());
    let path = r.absolute_path("cookie_path");
    let expire: Duration = r.get("cookie_expire");
    let refresh: Duration = r.get("cookie_refresh");
    if !refresh.is_zero() && refresh >= expire {
        r.error(
            "cookie_refresh",
            format!("must be less than cookie_expire ({})", duration::format(expire)),
            "lower cookie_refresh (the provider's access-token lifetime minus a minute is typical) or raise cookie_expire",
        );
    }
    let secure: bool = r.get("cookie_secure");
    let httponly = r.get("cookie_httponly");
    let samesite = r.samesite("cookie_samesite");
    let csrf_samesite = r.samesite("cookie_csrf_samesite");
    let csrf_per_request = r.get("cookie_csrf_per_request");
    let limit: i64 = r.get("cookie_csrf_per_request_limit");
    if limit < 0 {
        r.error("cookie_csrf_per_request_limit", "cannot be negative", "use 0 for no limit, or a positive number");
    }
    let csrf_expire: Duration = r.get("cookie_csrf_expire");
    if csrf_expire.is_zero() {
        r.error("cookie_csrf_expire", "must be longer than zero", "leave it unset for the default 15m");
    }
    for (key, value) in [("cookie_samesite", samesite), ("cookie_csrf_samesite", csrf_samesite)] {
        if value == Some(SameSite::None) && !secure {
            r.error(
                key,
                "\"none\" needs cookie_secure = true: browsers drop SameSite=None cookies without Secure",
                "set cookie_secure = true (and serve over HTTPS), or use \"lax\"",
            );
        }
    }
    check_prefix(r, &name, secure, &domains, &path);

    let store = redis_or_cookie(r);
    let minimal = r.get("session_cookie_minimal");
    let (keys, secret_file) = cookie_keys?;
    Some(session::Config {
        cookie: CookieConfig {
            name,
            keys,
            secret_file,
            domains,
            path,
            expire,
            refresh,
            secure,
            httponly,
            samesite: samesite?,
            csrf_per_request,
            csrf_per_request_limit: limit.max(0) as usize,
            csrf_expire,
            csrf_samesite: match csrf_samesite? {
                SameSite::Unset => samesite?,
                other => other,
            },
        },
        store: store?,
        minimal,
    })
}

/// The cookie key ring, and `cookie_secret_file` when it came from there.
type CookieKeys = (Keys, Option<SecretFile>);

/// The cookie secrets: `cookie_secret` (or `cookie_secret_file`: the whole file, or with
/// several lines its first) seals; the file's other lines and `cookie_secrets_previous` only
/// open. Each is checked, and every bad one named at once.
fn cookie_keys(r: &mut Reader<'_>) -> Option<CookieKeys> {
    let secret_value = r.string("cookie_secret");
    let secret_file = r.existing_file("cookie_secret_file");
    let previous: Vec<String> = r.get("cookie_secrets_previous");
    let (sealing, key, file): (Vec<Vec<u8>>, &'static str, Option<PathBuf>) = match (secret_value, secret_file) {
        (Some(s), None) => (vec![s.into_bytes()], "cookie_secret", None),
        (None, Some(f)) => match std::fs::read(&f) {
            Ok(bytes) => (keys::file_secrets(&bytes), "cookie_secret_file", Some(f)),
            Err(_) => return None,
        },
        (Some(_), Some(_)) => {
            r.error("cookie_secret_file", "is set together with cookie_secret", "keep only one of cookie_secret and cookie_secret_file");
            return None;
        }
        (None, None) => {
            r.error("cookie_secret", "is required", GENERATE_SECRET_FIX);
            return None;
        }
    };
    let several = sealing.len() > 1;
    let (mut ring, mut older, mut bad) = (Vec::new(), Vec::new(), false);
    for (n, raw) in sealing.into_iter().enumerate() {
        let place = if several { format!("secret {} of the file ", n + 1) } else { String::new() };
        let checked = checked_secret(r, key, &place, raw);
        bad |= checked.is_none();
        ring.extend(checked);
    }
    for (n, raw) in previous.into_iter().enumerate() {
        let checked = checked_secret(r, "cookie_secrets_previous", &format!("entry {} ", n + 1), raw.into_bytes());
        bad |= checked.is_none();
        older.extend(checked);
    }
    if bad {
        return None;
    }
    let file = file.map(|path| SecretFile { path, previous: older.clone() });
    ring.extend(older);
    Some((Keys::Fixed(Arc::new(KeyRing::new(ring)?)), file))
}

/// One cookie secret, or an error on `key` saying what is wrong with it (`place` says which
/// of several) and how to fix it.
fn checked_secret(r: &mut Reader<'_>, key: &'static str, place: &str, raw: Vec<u8>) -> Option<CookieSecret> {
    let std_b64 = raw.iter().any(|b| *b == b'+' || *b == b'/');
    let trailing_nl = raw.ends_with(b"\n");
    match CookieSecret::new(raw) {
        Ok(secret) => Some(secret),
        Err(problem) => {
            let fix = if std_b64 {
                format!("it looks like standard base64: replace + with - and / with _ (base64url), or {GENERATE_SECRET_FIX}")
            } else if trailing_nl && key == "cookie_secret_file" {
                format!("the file ends with a newline, which counts; write it with `printf '%s'`, or {GENERATE_SECRET_FIX}")
            } else {
                GENERATE_SECRET_FIX.to_string()
            };
            r.error(key, format!("{place}{problem}"), fix);
            None
        }
    }
}

/// A `__Secure-` or `__Host-` cookie name whose attributes break the prefix's rules.
fn check_prefix(r: &mut Reader<'_>, name: &str, secure: bool, domains: &[String], path: &str) {
    // Browsers silently drop a prefixed cookie whose attributes break the prefix's rules (RFC
    // 6265bis 4.1.3), which users see as an endless sign-in loop; say so at start instead.
    let lower = name.to_ascii_lowercase();
    if (lower.starts_with("__secure-") || lower.starts_with("__host-")) && !secure {
        r.error(
            "cookie_secure",
            format!("is false, but cookie_name \"{name}\" has a prefix that browsers accept only on Secure cookies"),
            "set cookie_secure = true (and serve over HTTPS), or drop the __Secure-/__Host- prefix",
        );
    }
    if lower.starts_with("__host-") {
        if !domains.is_empty() {
            r.error(
                "cookie_domains",
                format!("is set, but cookie_name \"{name}\" is a __Host- cookie, which browsers refuse with a Domain"),
                "remove cookie_domains, or drop the __Host- prefix",
            );
        }
        if path != "/" {
            r.error(
                "cookie_path",
                format!("is \"{path}\", but cookie_name \"{name}\" is a __Host- cookie, which browsers accept only with Path=/"),
                "leave cookie_path unset (\"/\"), or drop the __Host- prefix",
            );
        }
    }
}

pub(super) const GENERATE_SECRET_FIX: &str = "generate one with `gatehouse generate-secret` (32 random bytes, base64url)";

pub(super) fn is_cookie_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(super) fn redis_or_cookie(r: &mut Reader<'_>) -> Option<StoreConfig> {
    let kind: String = r.get("session_store_type");
    let url = r.string("redis_connection_url");
    let username = r.string("redis_username");
    let password = r.string("redis_password").map(Secret::new);
    let use_sentinel: bool = r.get("redis_use_sentinel");
    let master = r.string("redis_sentinel_master_name");
    let sentinel_password = r.string("redis_sentinel_password").map(Secret::new);
    let sentinel_urls: Vec<String> = r.get("redis_sentinel_connection_urls");
    let use_cluster: bool = r.get("redis_use_cluster");
    let cluster_urls: Vec<String> = r.get("redis_cluster_connection_urls");
    let ca_path = r.existing_file("redis_ca_path");
    let insecure_skip_tls_verify = r.get("redis_insecure_skip_tls_verify");
    // The TLS settings only apply to rediss:// URLs: beside plain ones they would do nothing
    // (oauth2-proxy then turns TLS on; say which to write instead of guessing).
    let active: Vec<&String> = match (use_sentinel, use_cluster) {
        (true, _) => sentinel_urls.iter().collect(),
        (_, true) => cluster_urls.iter().collect(),
        _ => url.iter().collect(),
    };
    if kind == "redis" && !active.is_empty() && !active.iter().any(|u| u.to_ascii_lowercase().starts_with("rediss://")) {
        for (key, set) in [("redis_ca_path", ca_path.is_some()), ("redis_insecure_skip_tls_verify", insecure_skip_tls_verify)] {
            if set {
                r.error(
                    key,
                    "is set but the Redis URLs are redis:// (plaintext), where it does nothing",
                    "write the URLs as rediss://, or remove it",
                );
            }
        }
    }
    let idle: i64 = r.get("redis_connection_idle_timeout");
    if idle < 0 {
        r.error("redis_connection_idle_timeout", "cannot be negative", "use 0 to keep idle connections, or a number of seconds");
    }
    for (key, urls) in [
        ("redis_connection_url", url.iter().cloned().collect::<Vec<_>>()),
        ("redis_sentinel_connection_urls", sentinel_urls.clone()),
        ("redis_cluster_connection_urls", cluster_urls.clone()),
    ] {
        for u in urls {
            if let Err(problem) = parse_redis_url(&u) {
                r.entry_error(key, &redact_url(&u), problem, "write redis://[user:password@]host:port[/db] (rediss:// for TLS)");
            }
        }
    }
    match kind.as_str() {
        "cookie" => Some(StoreConfig::Cookie),
        "redis" => {
            let topology = topology(r, url, (use_sentinel, master, sentinel_urls, sentinel_password), (use_cluster, cluster_urls));
            Some(StoreConfig::Redis(RedisConfig {
                topology: topology?,
                username,
                password,
                ca_path,
                insecure_skip_tls_verify,
                idle_timeout: Duration::from_secs(idle.max(0) as u64),
            }))
        }
        _ => {
            r.error("session_store_type", "is not a session store", "use \"cookie\" (the default) or \"redis\"");
            None
        }
    }
}

/// Standalone, Sentinel or Cluster, each with what it needs.
fn topology(
    r: &mut Reader<'_>,
    url: Option<String>,
    (use_sentinel, master, sentinel_urls, sentinel_password): (bool, Option<String>, Vec<String>, Option<Secret<String>>),
    (use_cluster, cluster_urls): (bool, Vec<String>),
) -> Option<RedisTopology> {
    match (use_sentinel, use_cluster) {
        (true, true) => {
            r.error("redis_use_cluster", "cannot be combined with redis_use_sentinel", "choose Sentinel or Cluster");
            None
        }
        (true, false) => {
            if master.is_none() {
                r.error(
                    "redis_sentinel_master_name",
                    "is required with redis_use_sentinel",
                    "set it to the master name the sentinels monitor",
                );
            }
            if sentinel_urls.is_empty() {
                r.error(
                    "redis_sentinel_connection_urls",
                    "is required with redis_use_sentinel",
                    "list the sentinels as redis://host:26379 URLs",
                );
            }
            master.map(|m| RedisTopology::Sentinel { master_name: m, urls: sentinel_urls, password: sentinel_password })
        }
        (false, true) => {
            if cluster_urls.is_empty() {
                r.error(
                    "redis_cluster_connection_urls",
                    "is required with redis_use_cluster",
                    "list some cluster nodes as redis://host:port URLs",
                );
            }
            Some(RedisTopology::Cluster { urls: cluster_urls })
        }
        (false, false) => match url {
            Some(u) => Some(RedisTopology::Standalone { url: u }),
            None => {
                r.error(
                    "redis_connection_url",
                    "is required with session_store_type = \"redis\"",
                    "set it, e.g. \"redis://127.0.0.1:6379/1\"",
                );
                None
            }
        },
    }
}

pub(super) fn parse_redis_url(u: &str) -> Result<(), String> {
    let url = Url::parse(u).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "redis" | "rediss" => {}
        "unix" | "redis+unix" => return Ok(()),
        s => {
            return Err(format!("has scheme \"{s}\"; Redis URLs start with redis:// or rediss://"));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err(format!("has \"/{db}\" where a database number belongs"));
    }
    Ok(())
}

/// A URL with its password replaced, for messages.
pub(super) fn redact_url(u: &str) -> String {
    match Url::parse(u) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("<redacted>"));
            url.to_string()
        }
        _ => u.to_string(),
    }
}
