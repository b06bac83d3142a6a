//! Logging setup: env_logger with `RUST_LOG`-style levels, plus oauth2-proxy's logging options.
//!
//! Invariant: nothing logged here or anywhere else contains a secret, a cookie value or a token;
//! secrets are `Secret<T>` and print as `<redacted>`.

use std::path::PathBuf;

/// Validated logging settings (oauth2-proxy's names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub auth_logging: bool,
    pub auth_logging_format: Option<String>,
    pub request_logging: bool,
    pub request_logging_format: Option<String>,
    pub standard_logging: bool,
    pub standard_logging_format: Option<String>,
    pub errors_to_info_log: bool,
    pub exclude_paths: Vec<String>,
    pub local_time: bool,
    pub silence_ping_logging: bool,
    pub request_id_header: String,
    pub file: Option<PathBuf>,
    /// Gatehouse's `log_format = "json"`: one JSON object per line instead of the templates.
    pub json: bool,
}

/// Starts env_logger. `RUST_LOG` overrides the default level (`info`).
pub fn init() {
    let env = env_logger::Env::default().default_filter_or("info");
    // A second init (tests start many apps in one process) is harmless: keep the first logger.
    let _ = env_logger::Builder::from_env(env).format_timestamp(None).try_init();
}

/// oauth2-proxy's default request log line.
pub const DEFAULT_REQUEST_FORMAT: &str = "{{.Client}} - {{.RequestID}} - {{.Username}} [{{.Timestamp}}] {{.Host}} {{.RequestMethod}} {{.Upstream}} {{.RequestURI}} {{.Protocol}} {{.UserAgent}} {{.StatusCode}} {{.ResponseSize}} {{.RequestDuration}}";
/// oauth2-proxy's default auth log line.
pub const DEFAULT_AUTH_FORMAT: &str = "{{.Client}} - {{.RequestID}} - {{.Username}} [{{.Timestamp}}] [{{.Status}}] {{.Message}}";

/// Writes request and auth lines to stdout, in oauth2-proxy's templates or as JSON objects.
pub struct Logger {
    cfg: Config,
    out: std::sync::Mutex<std::io::Stdout>,
}

/// One request, for the request log.
pub struct RequestRecord<'a> {
    pub client: &'a str,
    pub request_id: &'a str,
    pub username: &'a str,
    pub host: &'a str,
    pub method: &'a str,
    pub upstream: &'a str,
    pub uri: &'a str,
    pub protocol: &'a str,
    pub user_agent: &'a str,
    pub status: u16,
    pub size: u64,
    pub seconds: f64,
}

/// Go's `%q`: a double-quoted string with escapes.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render(template: &str, fields: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (name, value) in fields {
        out = out.replace(&format!("{{{{.{name}}}}}"), value);
    }
    out
}

impl Logger {
    pub fn new(cfg: Config) -> Logger {
        Logger { cfg, out: std::sync::Mutex::new(std::io::stdout()) }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn timestamp(&self) -> String {
        if self.cfg.local_time {
            chrono::Local::now().format("%Y/%m/%d %H:%M:%S").to_string()
        } else {
            chrono::Utc::now().format("%Y/%m/%d %H:%M:%S").to_string()
        }
    }

    fn write(&self, line: &str) {
        use std::io::Write;
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{line}");
    }

    /// Whether this path is logged at all.
    pub fn logs_path(&self, path: &str, health: bool) -> bool {
        self.cfg.request_logging && !(health && self.cfg.silence_ping_logging) && !self.cfg.exclude_paths.iter().any(|p| p == path)
    }

    pub fn request(&self, r: &RequestRecord<'_>) {
        let ts = self.timestamp();
        if self.cfg.json {
            let line = serde_json::json!({
                "type": "request", "client": r.client, "request_id": r.request_id, "username": r.username, "timestamp": ts,
                "host": r.host, "method": r.method, "upstream": r.upstream, "uri": r.uri, "protocol": r.protocol,
                "user_agent": r.user_agent, "status": r.status, "size": r.size, "duration": r.seconds,
            });
            self.write(&line.to_string());
            return;
        }
        let fields = [
            ("Client", r.client.to_string()),
            ("RequestID", r.request_id.to_string()),
            ("Username", r.username.to_string()),
            ("Timestamp", ts),
            ("Host", r.host.to_string()),
            ("RequestMethod", r.method.to_string()),
            ("Upstream", r.upstream.to_string()),
            ("RequestURI", quote(r.uri)),
            ("Protocol", r.protocol.to_string()),
            ("UserAgent", quote(r.user_agent)),
            ("StatusCode", r.status.to_string()),
            ("ResponseSize", r.size.to_string()),
            ("RequestDuration", format!("{:.3}", r.seconds)),
        ];
        self.write(&render(self.cfg.request_logging_format.as_deref().unwrap_or(DEFAULT_REQUEST_FORMAT), &fields));
    }

    /// An authentication event: `AuthSuccess`, `AuthFailure` or `AuthError`. The message never
    /// carries a token or a cookie.
    pub fn auth(&self, client: &str, request_id: &str, username: &str, status: &str, message: &str) {
        if !self.cfg.auth_logging {
            return;
        }
        let ts = self.timestamp();
        if self.cfg.json {
            let line = serde_json::json!({"type": "auth", "client": client, "request_id": request_id, "username": username, "timestamp": ts, "status": status, "message": message});
            self.write(&line.to_string());
            return;
        }
        let fields = [
            ("Client", client.to_string()),
            ("RequestID", request_id.to_string()),
            ("Username", username.to_string()),
            ("Timestamp", ts),
            ("Status", status.to_string()),
            ("Message", message.to_string()),
        ];
        self.write(&render(self.cfg.auth_logging_format.as_deref().unwrap_or(DEFAULT_AUTH_FORMAT), &fields));
    }
}

/// The request's ID (from `request_id_header`, or generated), kept in request extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Who the request's session belongs to, for the log (email, else user).
#[derive(Clone, Debug)]
pub struct LoggedUser(pub String);

/// Which upstream answered, for the log.
#[derive(Clone, Debug)]
pub struct LoggedUpstream(pub String);
