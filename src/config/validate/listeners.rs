//! Validation: Listeners, TLS, paths and trusted proxies.

use super::*;

pub(super) fn server_config(r: &mut Reader<'_>) -> Option<server::Config> {
    let http_address = r.listen("http_address", true);
    let https_address = r.listen("https_address", false);
    let (tls, min_version, cipher_suites) = main_tls(r);
    // With TLS, oauth2-proxy serves HTTPS only, on https_address. The tutorial's TLS snippet
    // sets http_address = "0.0.0.0:443" instead, so an explicit http_address is the HTTPS
    // address when https_address is left at its default.
    if tls.is_some() && !r.is_set("https_address") && matches!(http_address, Some(ListenAddr::Unix { .. })) {
        r.error(
            "http_address",
            "is a unix socket, which serves plain HTTP only (TLS is configured)",
            "write host:port, or remove tls_cert_file and tls_key_file",
        );
    }
    let (http, https) = match &tls {
        None => (http_address, None),
        Some(_) if !r.is_set("https_address") && r.is_set("http_address") => (None, http_address),
        Some(_) => (None, https_address),
    };

    let (metrics_address, metrics_secure_address, metrics_tls) = metrics_listeners(r);

    let mut proxy_prefix = r.absolute_path("proxy_prefix");
    while proxy_prefix.len() > 1 && proxy_prefix.ends_with('/') {
        proxy_prefix.pop();
    }
    let ping_path = r.absolute_path("ping_path");
    let ready_path = r.absolute_path("ready_path");
    let ping_user_agent = r.string("ping_user_agent");
    let force_https = r.get("force_https");
    let allow_query_semicolons = r.get("allow_query_semicolons");
    let workers: i64 = r.get("workers");
    let shutdown_delay: std::time::Duration = r.get("shutdown_delay");
    if shutdown_delay > std::time::Duration::from_secs(60) {
        r.warnings.push(format!(
            "shutdown_delay is {}: orchestrators usually kill a process well before that (Kubernetes' terminationGracePeriodSeconds must cover it plus 30 s)",
            duration::format(shutdown_delay)
        ));
    }
    if !(0..=1024).contains(&workers) {
        r.error("workers", format!("is {workers}"), "write 0 (one per CPU) or a number of threads up to 1024");
    }

    let (grpc_address, grpc_tls) = grpc_listener(r, min_version, cipher_suites);
    let backchannel_logout_path = backchannel_logout_path(r, &proxy_prefix);
    let admin_token_file = admin_token_file(r, metrics_address.is_some() || metrics_secure_address.is_some());
    let trust = trust_config(r);
    if http.is_none() && https.is_none() {
        if r.string("http_address").as_deref() == Some("-") {
            r.error(
                "http_address",
                "is \"-\" (no listener) and there is no HTTPS listener either",
                "write host:port, or configure TLS with https_address",
            );
        }
        return None;
    }
    Some(server::Config {
        http_address: http,
        https_address: https,
        tls,
        metrics_address,
        metrics_secure_address,
        metrics_tls,
        proxy_prefix,
        ping_path,
        ready_path,
        ping_user_agent,
        backchannel_logout_path,
        admin_token_file,
        grpc_address,
        grpc_tls,
        force_https,
        allow_query_semicolons,
        workers: workers.clamp(0, 1024) as usize,
        shutdown_delay,
        trust,
    })
}

/// Where back-channel logout tokens are received, when `oidc_backchannel_logout` is on.
fn backchannel_logout_path(r: &mut Reader<'_>, proxy_prefix: &str) -> Option<String> {
    match r.string("oidc_backchannel_logout_path") {
        _ if !r.get::<bool>("oidc_backchannel_logout") => None,
        Some(_) => Some(r.absolute_path("oidc_backchannel_logout_path")),
        None => Some(format!("{}/backchannel_logout", proxy_prefix.trim_end_matches('/'))),
    }
}

/// `admin_token_file`, which needs a metrics listener to serve the admin endpoints on.
fn admin_token_file(r: &mut Reader<'_>, metrics_listener: bool) -> Option<std::path::PathBuf> {
    let file = r.existing_file("admin_token_file");
    if file.is_some() && !metrics_listener {
        r.error(
            "admin_token_file",
            "is set, but there is no metrics listener",
            "set metrics_address (the admin endpoints are served there, never on the public listener)",
        );
    }
    file
}

/// `metrics_address`, and `metrics_secure_address` with its TLS files.
fn metrics_listeners(r: &mut Reader<'_>) -> (Option<ListenAddr>, Option<ListenAddr>, Option<TlsConfig>) {
    let metrics_address = r.listen("metrics_address", true);
    let metrics_secure_address = r.listen("metrics_secure_address", false);
    let mcert = r.string("metrics_tls_cert_file");
    let mkey = r.string("metrics_tls_key_file");
    let metrics_tls = tls_pair(r, "metrics_tls_cert_file", mcert, "metrics_tls_key_file", mkey).map(|(c, k)| TlsConfig {
        cert_file: c,
        key_file: k,
        min_version: TlsVersion::Tls12,
        cipher_suites: vec![],
        client_ca_file: None,
        client_names: Vec::new(),
    });
    if metrics_secure_address.is_some() && metrics_tls.is_none() {
        r.error(
            "metrics_secure_address",
            "needs metrics_tls_cert_file and metrics_tls_key_file",
            "set both files, or use metrics_address for plain HTTP",
        );
    }
    (metrics_address, metrics_secure_address, metrics_tls)
}

/// The main listener's TLS, and the version and suites every TLS listener but metrics uses.
fn main_tls(r: &mut Reader<'_>) -> (Option<TlsConfig>, TlsVersion, Vec<String>) {
    let cert = r.string("tls_cert_file");
    let key = r.string("tls_key_file");
    let min_version: String = r.get("tls_min_version");
    let cipher_suites: Vec<String> = r.get("tls_cipher_suites");
    if let Err((unknown, known)) = crate::server::tls::check_cipher_suites(&cipher_suites) {
        for name in unknown {
            r.entry_error(
                "tls_cipher_suites",
                &name,
                "is not a cipher suite Gatehouse offers",
                format!("choose from {}", known.join(", ")),
            );
        }
    }
    let min_version = match min_version.as_str() {
        "" | "TLS1.2" => TlsVersion::Tls12,
        "TLS1.3" => TlsVersion::Tls13,
        _ => {
            r.error("tls_min_version", "is not a TLS version", "use \"TLS1.2\" or \"TLS1.3\"");
            TlsVersion::Tls12
        }
    };
    let tls = tls_pair(r, "tls_cert_file", cert, "tls_key_file", key).map(|(cert_file, key_file)| TlsConfig {
        cert_file,
        key_file,
        min_version,
        cipher_suites: cipher_suites.clone(),
        client_ca_file: None,
        client_names: Vec::new(),
    });
    (tls, min_version, cipher_suites)
}

/// `grpc_address` and its TLS (the main listener's version and suites, its own certificate,
/// and optionally the CA whose client certificates alone may ask).
fn grpc_listener(r: &mut Reader<'_>, min_version: TlsVersion, cipher_suites: Vec<String>) -> (Option<ListenAddr>, Option<TlsConfig>) {
    let address = r.listen("grpc_address", false);
    let (cert, key) = (r.string("grpc_tls_cert_file"), r.string("grpc_tls_key_file"));
    let client_ca_file = r.existing_file("grpc_tls_client_ca_file");
    // DNS names compare without case; URIs (spiffe://…) as written.
    let client_names: Vec<String> = r
        .get::<Vec<String>>("grpc_tls_client_names")
        .into_iter()
        .map(|n| if n.contains("://") { n } else { n.to_ascii_lowercase() })
        .collect();
    if !client_names.is_empty() && client_ca_file.is_none() {
        r.error(
            "grpc_tls_client_names",
            "is set without grpc_tls_client_ca_file",
            "set grpc_tls_client_ca_file to the CA that issues the clients' certificates",
        );
    }
    let tls = tls_pair(r, "grpc_tls_cert_file", cert, "grpc_tls_key_file", key).map(|(cert_file, key_file)| TlsConfig {
        cert_file,
        key_file,
        min_version,
        cipher_suites,
        client_ca_file: client_ca_file.clone(),
        client_names,
    });
    if client_ca_file.is_some() && tls.is_none() {
        r.error(
            "grpc_tls_client_ca_file",
            "is set without grpc_tls_cert_file and grpc_tls_key_file",
            "set both: client certificates are asked for over TLS only",
        );
    }
    let open =
        matches!(&address, Some(ListenAddr::Tcp { host, .. }) if !matches!(host.as_str(), "127.0.0.1" | "::1" | "[::1]" | "localhost"));
    if open && client_ca_file.is_none() {
        r.warnings.push(format!(
            "grpc_address {} is not loopback and anyone who reaches it may ask checks (and read the identity headers of any cookie they hold): keep it on a private network, or set grpc_tls_cert_file, grpc_tls_key_file and grpc_tls_client_ca_file so only Envoy's certificate is served",
            address.as_ref().map(ToString::to_string).unwrap_or_default()
        ));
    }
    if tls.is_some() && address.is_none() {
        r.error("grpc_tls_cert_file", "is set but grpc_address is not", "set grpc_address to the host:port of the gRPC listener");
    }
    (address, tls)
}

/// Which peers' forwarded headers are believed, and which header names the client's IP.
fn trust_config(r: &mut Reader<'_>) -> TrustConfig {
    let reverse_proxy = r.get("reverse_proxy");
    let trusted_proxy_ips = r.nets("trusted_proxy_ips");
    let real_client_ip_header: String = r.get("real_client_ip_header");
    const REAL_IP_HEADERS: [&str; 5] = ["X-Real-IP", "X-Forwarded-For", "X-ProxyUser-IP", "X-Envoy-External-Address", "CF-Connecting-IP"];
    let real_client_ip_header = match REAL_IP_HEADERS.iter().find(|h| h.eq_ignore_ascii_case(&real_client_ip_header)) {
        Some(h) => actix_web::http::header::HeaderName::from_bytes(h.as_bytes()).expect("the supported names are header names"),
        None => {
            r.error("real_client_ip_header", "is not a supported client-IP header", format!("use one of {}", REAL_IP_HEADERS.join(", ")));
            actix_web::http::header::HeaderName::from_static("x-real-ip")
        }
    };
    TrustConfig { reverse_proxy, trusted_proxy_ips, real_client_ip_header }
}

pub(super) fn tls_pair(
    r: &mut Reader<'_>,
    cert_key: &'static str,
    cert: Option<String>,
    key_key: &'static str,
    key: Option<String>,
) -> Option<(PathBuf, PathBuf)> {
    match (cert, key) {
        (None, None) => None,
        (Some(c), Some(k)) => {
            for (opt, p) in [(cert_key, &c), (key_key, &k)] {
                if !Path::new(p).is_file() {
                    r.error(opt, "no such file", "check the path of the PEM file");
                }
            }
            Some((c.into(), k.into()))
        }
        (Some(_), None) => {
            r.error(cert_key, format!("is set but {key_key} is not"), format!("set {key_key} to the private key file too"));
            None
        }
        (None, Some(_)) => {
            r.error(key_key, format!("is set but {cert_key} is not"), format!("set {cert_key} to the certificate file too"));
            None
        }
    }
}
