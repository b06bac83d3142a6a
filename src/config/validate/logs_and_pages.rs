//! Validation: Logging, the pages (templates, logo, banner, footer) and the development issuer.

use super::*;

pub(super) fn logging_config(r: &mut Reader<'_>) -> telemetry::Config {
    for key in ["logging_max_size", "logging_max_age", "logging_max_backups"] {
        let v: i64 = r.get(key);
        if v < 0 {
            r.error(key, "cannot be negative", "use 0 or a positive number");
        }
    }
    // Read whether or not a file is set: every option is read once by validation.
    let rotation = telemetry::output::FileConfig {
        path: PathBuf::new(),
        max_size: r.get::<i64>("logging_max_size").max(0) as u64 * 1024 * 1024,
        max_backups: r.get::<i64>("logging_max_backups").max(0) as usize,
        max_age: std::time::Duration::from_secs(r.get::<i64>("logging_max_age").max(0) as u64 * 86_400),
        compress: r.get("logging_compress"),
        local_time: r.get("logging_local_time"),
    };
    let request_id_header = actix_web::http::header::HeaderName::try_from(r.get::<String>("request_id_header")).unwrap_or_else(|_| {
        r.error("request_id_header", "is not a header name", "use letters, digits and - (the default is X-Request-Id)");
        actix_web::http::header::HeaderName::from_static("x-request-id")
    });
    telemetry::Config {
        auth_logging: r.get("auth_logging"),
        auth_logging_format: r.string("auth_logging_format"),
        request_logging: r.get("request_logging"),
        request_logging_format: r.string("request_logging_format"),
        standard_logging: r.get("standard_logging"),
        standard_logging_format: r.string("standard_logging_format"),
        errors_to_info_log: r.get("errors_to_info_log"),
        exclude_paths: r.get("exclude_logging_paths"),
        local_time: r.get("logging_local_time"),
        silence_ping_logging: r.get("silence_ping_logging"),
        request_id_header,
        file: r.string("logging_filename").map(|f| telemetry::output::FileConfig { path: PathBuf::from(f), ..rotation }),
        json: match r.get::<String>("log_format").as_str() {
            "text" => false,
            "json" => true,
            _ => {
                r.error("log_format", "is not a log format", "use \"text\" or \"json\"");
                false
            }
        },
    }
}

pub(super) fn pages_config(r: &mut Reader<'_>, authz: &crate::authz::Config) -> crate::pages::Config {
    use crate::pages;
    let dir = r.string("custom_templates_dir").map(PathBuf::from);
    if let Some(d) = &dir
        && !d.is_dir()
    {
        r.error("custom_templates_dir", "no such directory", "check the path");
    }
    // A template that does not load stops the start, with its line (oauth2-proxy's rule too).
    let mut template = |name: &str, fields: &[&str]| {
        let path = dir.as_ref()?.join(name);
        let text = std::fs::read_to_string(&path).ok()?;
        match crate::pages::template::Template::parse(&text, name, fields) {
            Ok(t) => Some(t),
            Err(problem) => {
                r.error(
                    "custom_templates_dir",
                    format!("{}: {problem}", path.display()),
                    "fix the template, or remove it to use the built-in page",
                );
                None
            }
        }
    };
    let sign_in_template = template("sign_in.html", pages::SIGN_IN_FIELDS);
    let robots = dir.as_ref().and_then(|d| std::fs::read_to_string(d.join("robots.txt")).ok());
    let error_template = template("error.html", pages::ERROR_FIELDS);
    let logo = match r.string("custom_sign_in_logo") {
        None => String::new(),
        Some(v) => match pages::logo_markup(&v) {
            Ok(markup) => markup,
            Err(problem) => {
                r.error("custom_sign_in_logo", problem, "give an https:// URL or a .svg, .png, .jpg or .jpeg file, or \"-\" for none");
                String::new()
            }
        },
    };
    let banner = match r.string("banner") {
        Some(b) if b == "-" => String::new(),
        Some(b) => b,
        // oauth2-proxy's default banner names the allowed domains.
        None if authz.authenticated_emails_file.is_none() => match authz.email_domains.as_slice() {
            [] => String::new(),
            [one] if one == "*" => String::new(),
            [one] => format!("Authenticate using {one}"),
            many => format!("Authenticate using one of the following domains: {}", many.join(", ")),
        },
        None => String::new(),
    };
    crate::pages::Config {
        provider_display_name: r.get("provider_display_name"),
        custom_templates_dir: dir,
        robots,
        sign_in_template,
        error_template,
        logo,
        banner,
        footer: r.string("footer"),
        show_debug_on_error: r.get("show_debug_on_error"),
        display_htpasswd_form: r.get("display_htpasswd_form"),
    }
}

/// The development issuer and echo app: loopback only, and the issuer must be the one
/// Gatehouse logs in with.
pub(super) fn dev_config(r: &mut Reader<'_>) -> crate::dev::Config {
    let mut addr = |key: &'static str| -> Option<std::net::SocketAddr> {
        let s = r.string(key)?;
        match s.parse::<std::net::SocketAddr>() {
            Ok(a) if a.ip().is_loopback() => Some(a),
            Ok(_) => {
                r.error(key, "is not a loopback address; the development servers never listen elsewhere", "use 127.0.0.1:<port>");
                None
            }
            Err(_) => {
                r.error(key, "is not ip:port", "write it like \"127.0.0.1:4181\"");
                None
            }
        }
    };
    let issuer = addr("dev_issuer_address");
    let echo = addr("dev_echo_address");
    if let Some(a) = issuer {
        let want = format!("http://{a}");
        if r.string("oidc_issuer_url").as_deref() != Some(want.as_str()) {
            r.error(
                "oidc_issuer_url",
                format!("must be {want} to log in with the development issuer"),
                format!("set oidc_issuer_url = \"{want}\""),
            );
        }
    }
    crate::dev::Config { issuer, echo }
}
