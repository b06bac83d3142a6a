//! Validation: Upstreams, legacy and alpha.

use super::*;

pub(super) fn proxy_config(r: &mut Reader<'_>, alpha: Option<&AlphaConfig>) -> proxy::Config {
    let list: Vec<String> = r.get("upstreams");
    let pass_host_header = r.get("pass_host_header");
    let proxy_websockets = r.get("proxy_websockets");
    let insecure = r.get("ssl_upstream_insecure_skip_verify");
    let flush_interval = r.get("flush_interval");
    let timeout = r.get("upstream_timeout");
    let disable_keep_alives = r.get("disable_keep_alives");
    let mut upstreams = Vec::new();
    let mut proxy_raw_path = false;
    if let Some(cfg) = alpha.and_then(|a| a.upstream_config.as_ref()) {
        proxy_raw_path = cfg.proxy_raw_path;
        for (i, u) in cfg.upstreams.iter().enumerate() {
            if let Some(up) = alpha_upstream(r, i, u) {
                upstreams.push(up);
            }
        }
    } else {
        for s in list {
            match legacy_upstream(&s) {
                Ok((id, path, target)) => {
                    let is_static = matches!(target, Target::Static(_));
                    upstreams.push(Upstream {
                        id,
                        path,
                        rewrite_target: None,
                        target,
                        pass_host_header,
                        proxy_websockets: proxy_websockets && !is_static,
                        flush_interval,
                        timeout,
                        insecure_skip_tls_verify: insecure && !is_static,
                        disable_keep_alives,
                    })
                }
                Err(problem) => r.entry_error(
                    "upstreams",
                    &s,
                    problem,
                    "write http(s)://host[:port][/path], file:///dir#/path/, static://202 or unix:///socket",
                ),
            }
        }
    }
    let mut ids = HashSet::new();
    let mut paths = HashSet::new();
    for u in &upstreams {
        if !paths.insert(u.path.clone()) {
            r.entry_error(
                "upstreams",
                &u.path,
                "two upstreams route the same path",
                "give every upstream a distinct path (the path part of the URL is the route)",
            );
        } else if !ids.insert(u.id.clone()) {
            r.entry_error("upstreams", &u.id, "the same upstream ID appears twice", "give every upstream a unique ID");
        }
    }
    proxy::Config { upstreams, proxy_raw_path }
}

/// oauth2-proxy's legacy conversion: the URL's path is both the ID and the route.
pub(super) fn legacy_upstream(s: &str) -> Result<(String, String, Target), String> {
    let url = Url::parse(s).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "http" | "https" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err("has no host".into());
            }
            let path = url.path().to_string();
            Ok((path.clone(), path, Target::Http(url)))
        }
        "file" => {
            let dir = PathBuf::from(url.path());
            let mount = url.fragment().filter(|f| !f.is_empty()).unwrap_or(url.path()).to_string();
            if !mount.starts_with('/') {
                return Err("mount path (after #) must start with /".into());
            }
            Ok((mount.clone(), mount, Target::File(dir)))
        }
        "static" => {
            let code = url.host_str().unwrap_or("");
            let code: u16 =
                code.parse().ok().filter(|c| (100..=599).contains(c)).ok_or_else(|| format!("\"{code}\" is not an HTTP status code"))?;
            Ok((s.to_string(), "/".to_string(), Target::Static(code)))
        }
        // As oauth2-proxy's legacy conversion: the socket is the whole upstream, at `/`.
        "unix" if url.path().starts_with('/') && url.path().len() > 1 => {
            Ok((url.path().to_string(), "/".to_string(), Target::Unix(PathBuf::from(url.path()))))
        }
        "unix" => Err("needs an absolute socket path (unix:///run/app.sock)".into()),
        other => Err(format!("has scheme \"{other}\"; use http, https, file, static or unix")),
    }
}

pub(super) fn alpha_upstream(r: &mut Reader<'_>, i: usize, u: &alpha::Upstream) -> Option<Upstream> {
    let at = format!("upstreamConfig.upstreams[{i}]");
    let mut ok = true;
    let mut fail = |field: &str, problem: String, fix: &str| {
        r.errors.push(ConfigError::new(format!("{at}.{field}"), problem, fix));
        ok = false;
    };
    if u.id.is_empty() {
        fail("id", "is required".into(), "give the upstream a unique id");
    }
    if u.rewrite_target.is_empty() {
        if u.path.starts_with('^') {
            // oauth2-proxy reads such a path literally, so it never matches: say so.
            fail(
                "path",
                format!("{:?} is a regular expression, which is only one with rewriteTarget", u.path),
                "add rewriteTarget (e.g. \"/$1\") to route by the regex, or write a plain path such as /app/",
            );
        } else if !u.path.starts_with('/') {
            fail("path", format!("{:?} must start with /", u.path), "write the route, e.g. /app/");
        }
    } else if let Err(e) = regex::Regex::new(&u.path) {
        fail("path", format!("{:?} is not a valid regular expression ({e})", u.path), "write a regex such as ^/api/(.*)$");
    }
    let target = if u.r#static {
        Target::Static(u.static_code.unwrap_or(200))
    } else {
        match legacy_upstream(&u.uri) {
            Ok((_, _, t @ (Target::Http(_) | Target::Unix(_)))) => t,
            Ok((_, _, Target::File(dir))) => Target::File(dir),
            Ok((_, _, Target::Static(c))) => Target::Static(c),
            Err(problem) => {
                fail(
                    "uri",
                    format!("{:?} {problem}", u.uri),
                    "write http(s)://host[:port], file:///dir or unix:///socket, or set static: true",
                );
                Target::Static(200)
            }
        }
    };
    let mut dur = |field: &str, v: &Option<String>, default: Duration| match v {
        None => default,
        Some(s) => duration::parse(s).unwrap_or_else(|problem| {
            r.errors.push(ConfigError::new(format!("{at}.{field}"), problem, "write a duration such as \"30s\""));
            ok = false;
            default
        }),
    };
    let flush_interval = dur("flushInterval", &u.flush_interval, Duration::from_secs(1));
    let timeout = dur("timeout", &u.timeout, Duration::from_secs(30));
    ok.then(|| Upstream {
        id: u.id.clone(),
        path: u.path.clone(),
        rewrite_target: Some(u.rewrite_target.clone()).filter(|s| !s.is_empty()),
        target,
        pass_host_header: u.pass_host_header.unwrap_or(true),
        proxy_websockets: u.proxy_websockets.unwrap_or(true),
        flush_interval,
        timeout,
        insecure_skip_tls_verify: u.insecure_skip_tls_verify,
        disable_keep_alives: u.disable_keep_alives,
    })
}
