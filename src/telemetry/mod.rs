//! Logging: the standard log (the `log` crate's records, filtered by env_logger with
//! `RUST_LOG`-style levels, written in oauth2-proxy's standard format), and the request and auth
//! logs, in oauth2-proxy's templates or as JSON lines; all to stdout (errors to stderr unless
//! `errors_to_info_log`) or to `logging_filename`, rotated (`output`).
//!
//! Invariant: nothing logged here or anywhere else contains a secret, a cookie value or a token;
//! secrets are `Secret<T>` and print as `<redacted>`.

pub mod output;

use std::sync::{Arc, RwLock};

use output::{FileConfig, Output};

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
    /// Validated at load: a request ID header that is not a header name is a config error.
    pub request_id_header: actix_web::http::header::HeaderName,
    /// `logging_filename` and its rotation settings.
    pub file: Option<FileConfig>,
    /// Gatehouse's `log_format = "json"`: one JSON object per line instead of the templates.
    pub json: bool,
}

/// oauth2-proxy's default standard log line.
pub const DEFAULT_STANDARD_FORMAT: &str = "[{{.Timestamp}}] [{{.File}}] {{.Message}}";

/// How standard lines are written; replaced once the configuration is known.
struct Standard {
    enabled: bool,
    format: Option<String>,
    errors_to_info: bool,
    json: bool,
    local_time: bool,
    output: Arc<Output>,
}

/// The standard logger: env_logger decides which records pass (`RUST_LOG`, default `info`);
/// the line is ours.
struct StandardLog {
    filter: env_logger::Logger,
    settings: RwLock<Arc<Standard>>,
}

static STANDARD: std::sync::OnceLock<StandardLog> = std::sync::OnceLock::new();

impl log::Log for StandardLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.filter.matches(record) {
            return;
        }
        let s = self.settings.read().unwrap_or_else(|e| e.into_inner()).clone();
        let error = record.level() == log::Level::Error;
        // Turning the standard log off silences it, except errors: an operator who asked for
        // quiet still needs to hear that Redis or the provider is gone.
        if !s.enabled && !error {
            return;
        }
        let file = format!("{}:{}", record.file().map_or("-", |f| f.rsplit('/').next().unwrap_or(f)), record.line().unwrap_or(0));
        let ts = timestamp(s.local_time);
        let message = record.args().to_string();
        let line = if s.json {
            serde_json::json!({"type": "standard", "level": record.level().as_str().to_ascii_lowercase(), "timestamp": ts, "file": file, "message": message}).to_string()
        } else {
            let fields = [("Timestamp", ts), ("File", file), ("Message", message), ("Level", record.level().to_string())];
            render(s.format.as_deref().unwrap_or(DEFAULT_STANDARD_FORMAT), &fields)
        };
        s.output.line(&line, error && !s.errors_to_info);
    }

    fn flush(&self) {}
}

/// Installs the standard logger with defaults (stdout, errors to stderr). `RUST_LOG` sets the
/// levels (default `info`). A second call (tests start many apps in one process) changes nothing.
pub fn init() {
    let filter = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).build();
    let max = filter.filter();
    let standard = StandardLog {
        filter,
        settings: RwLock::new(Arc::new(Standard {
            enabled: true,
            format: None,
            errors_to_info: false,
            json: false,
            local_time: false,
            output: Arc::new(Output::Stdio),
        })),
    };
    if STANDARD.set(standard).is_ok()
        && let Some(logger) = STANDARD.get()
        && log::set_logger(logger).is_ok()
    {
        log::set_max_level(max);
    }
}

/// Applies the configuration's standard-log settings (`standard_logging`,
/// `standard_logging_format`, `errors_to_info_log`, `log_format`, `logging_filename`).
/// Fails when the log file cannot be opened.
pub fn configure(cfg: &Config) -> anyhow::Result<()> {
    let output = Output::open(cfg.file.as_ref())?;
    if let Some(std) = STANDARD.get() {
        *std.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Standard {
            enabled: cfg.standard_logging,
            format: cfg.standard_logging_format.clone(),
            errors_to_info: cfg.errors_to_info_log,
            json: cfg.json,
            local_time: cfg.local_time,
            output,
        });
    }
    Ok(())
}

fn timestamp(local: bool) -> String {
    if local {
        chrono::Local::now().format("%Y/%m/%d %H:%M:%S").to_string()
    } else {
        chrono::Utc::now().format("%Y/%m/%d %H:%M:%S").to_string()
    }
}

/// oauth2-proxy's default request log line.
pub const DEFAULT_REQUEST_FORMAT: &str = "{{.Client}} - {{.RequestID}} - {{.Username}} [{{.Timestamp}}] {{.Host}} {{.RequestMethod}} {{.Upstream}} {{.RequestURI}} {{.Protocol}} {{.UserAgent}} {{.StatusCode}} {{.ResponseSize}} {{.RequestDuration}}";
/// oauth2-proxy's default auth log line.
pub const DEFAULT_AUTH_FORMAT: &str = "{{.Client}} - {{.RequestID}} - {{.Username}} [{{.Timestamp}}] [{{.Status}}] {{.Message}}";

/// Writes request and auth lines to stdout (or the log file), in oauth2-proxy's templates or
/// as JSON objects.
pub struct Logger {
    cfg: Config,
    out: Arc<Output>,
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
    /// Fails when `logging_filename` cannot be opened.
    pub fn new(cfg: Config) -> anyhow::Result<Logger> {
        Ok(Logger { out: Output::open(cfg.file.as_ref())?, cfg })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn timestamp(&self) -> String {
        timestamp(self.cfg.local_time)
    }

    fn write(&self, line: &str) {
        self.out.line(line, false);
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

impl RequestId {
    /// A new ID: 12 random bytes, base64url (16 characters). The bytes come from the system's
    /// generator 1 KiB at a time per thread: asking it for 12 bytes per request cost about 2%
    /// of a forward-auth check (its generator is re-keyed per call). The IDs are unique and
    /// unguessable, but nothing relies on that: they only tie log lines together.
    pub fn generate() -> RequestId {
        use base64::Engine;
        const BATCH: usize = 1024;
        const LEN: usize = 12;
        thread_local! {
            static POOL: std::cell::RefCell<(Box<[u8; BATCH]>, usize)> = std::cell::RefCell::new((Box::new([0; BATCH]), BATCH));
        }
        POOL.with(|pool| {
            let (bytes, used) = &mut *pool.borrow_mut();
            if *used + LEN > BATCH {
                aws_lc_rs::rand::fill(&mut bytes[..]).expect("the system random generator is available");
                *used = 0;
            }
            let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[*used..*used + LEN]);
            *used += LEN;
            RequestId(id)
        })
    }
}

/// Who the request's session belongs to, for the log (email, else user).
#[derive(Clone, Debug)]
pub struct LoggedUser(pub String);

/// Which upstream answered, for the log.
#[derive(Clone, Debug)]
pub struct LoggedUpstream(pub String);
