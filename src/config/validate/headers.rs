//! Validation: Identity headers: the legacy `pass_*`/`set_*` options and alpha `injectRequestHeaders`/`injectResponseHeaders`.

use super::*;

pub(super) fn headers_config(r: &mut Reader<'_>, alpha: Option<&AlphaConfig>) -> identity::Config {
    let legacy = LegacyHeaders {
        pass_basic_auth: r.get("pass_basic_auth"),
        pass_access_token: r.get("pass_access_token"),
        pass_user_headers: r.get("pass_user_headers"),
        pass_authorization_header: r.get("pass_authorization_header"),
        set_basic_auth: r.get("set_basic_auth"),
        set_xauthrequest: r.get("set_xauthrequest"),
        set_authorization_header: r.get("set_authorization_header"),
        prefer_email_to_user: r.get("prefer_email_to_user"),
        basic_auth_password: r.string("basic_auth_password").map(Secret::new),
        skip_auth_strip_headers: r.get("skip_auth_strip_headers"),
    };
    match alpha {
        Some(a) if a.inject_request_headers.is_some() || a.inject_response_headers.is_some() => identity::Config {
            request: alpha_headers(r, "injectRequestHeaders", a.inject_request_headers.as_deref().unwrap_or_default()),
            response: alpha_headers(r, "injectResponseHeaders", a.inject_response_headers.as_deref().unwrap_or_default()),
        },
        // With alpha config but no header sections, oauth2-proxy injects nothing.
        Some(_) => identity::Config::default(),
        None => legacy.into_config(),
    }
}

pub(super) fn alpha_headers(r: &mut Reader<'_>, section: &str, headers: &[alpha::Header]) -> Vec<HeaderRule> {
    let mut rules = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let at = format!("{section}[{i}]");
        if h.name.is_empty() || !h.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            r.errors.push(ConfigError::new(format!("{at}.name"), "is not a header name", "use letters, digits and -"));
            continue;
        }
        if h.insecure_skip_header_normalization {
            r.errors.push(ConfigError::new(
                format!("{at}.insecureSkipHeaderNormalization"),
                "is not supported: Gatehouse removes every spelling of an identity header a client sends (X_Forwarded_User too, GHSA-vjrc-mh2v-45x6)",
                "remove insecureSkipHeaderNormalization; an app that needs underscores can read the dashed name Gatehouse sets",
            ));
        }
        let mut values = Vec::new();
        for (j, v) in h.values.iter().enumerate() {
            let at = format!("{at}.values[{j}]");
            let secret = secret_source(r, &at, v.value.as_deref(), v.from_env.as_deref(), v.from_file.as_deref());
            match (&v.claim, secret) {
                (Some(c), None) => {
                    let password = v.basic_auth_password.as_ref().and_then(|s| {
                        secret_source(
                            r,
                            &format!("{at}.basicAuthPassword"),
                            s.value.as_deref(),
                            s.from_env.as_deref(),
                            s.from_file.as_deref(),
                        )
                    });
                    values.push(HeaderValueSource::Claim {
                        claim: Claim::parse(c),
                        prefix: v.prefix.clone().unwrap_or_default(),
                        basic_auth_password: password,
                    });
                }
                (None, Some(s)) => values.push(HeaderValueSource::Secret(s)),
                _ => r.errors.push(ConfigError::new(
                    at,
                    "needs exactly one of claim, value, fromEnv or fromFile",
                    "give the value one source",
                )),
            }
        }
        rules.push(HeaderRule::new(&h.name, h.preserve_request_value, values).expect("the name's characters were checked above"));
    }
    rules
}

/// Reads an alpha SecretSource: base64 `value`, an environment variable, or a file.
pub(super) fn secret_source(
    r: &mut Reader<'_>,
    at: &str,
    value: Option<&str>,
    from_env: Option<&str>,
    from_file: Option<&str>,
) -> Option<Secret<String>> {
    match (value, from_env, from_file) {
        (None, None, None) => None,
        (Some(v), None, None) => match base64::engine::general_purpose::STANDARD.decode(v) {
            Ok(bytes) => Some(Secret::new(String::from_utf8_lossy(&bytes).into_owned())),
            Err(_) => {
                r.errors.push(ConfigError::new(format!("{at}.value"), "is not base64", "secret values are base64-encoded in alpha config"));
                None
            }
        },
        (None, Some(var), None) => match r.env.var(var) {
            Some(v) => Some(Secret::new(v)),
            None => {
                r.errors.push(ConfigError::new(
                    format!("{at}.fromEnv"),
                    format!("environment variable {var} is not set"),
                    format!("export {var}"),
                ));
                None
            }
        },
        (None, None, Some(file)) => match std::fs::read_to_string(file) {
            Ok(v) => Some(Secret::new(v)),
            Err(e) => {
                r.errors.push(ConfigError::new(format!("{at}.fromFile"), format!("cannot be read: {e}"), "check the path"));
                None
            }
        },
        _ => {
            r.errors.push(ConfigError::new(at, "sets more than one of value, fromEnv and fromFile", "keep one"));
            None
        }
    }
}
