//! HTML pages: sign-in and errors, built in or from `custom_templates_dir` (oauth2-proxy's
//! template names and fields), with the banner, footer and logo options. The built-in pages are
//! self-contained (no external fonts, scripts or styles) under a strict Content-Security-Policy;
//! every value from configuration or the request is escaped, the banner and footer included.

pub mod template;

use std::collections::HashMap;
use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::base::text::escape_html as escape;
use template::{Template, Value};

/// Validated page settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub provider_display_name: String,
    pub custom_templates_dir: Option<PathBuf>,
    /// `sign_in.html` and `error.html` from `custom_templates_dir`, parsed at load.
    pub sign_in_template: Option<Template>,
    pub error_template: Option<Template>,
    /// `robots.txt` from `custom_templates_dir`.
    pub robots: Option<String>,
    /// The logo's markup, built by Gatehouse from `custom_sign_in_logo` ("" for none).
    pub logo: String,
    /// The text above the sign-in button ("" for none): `banner`, or oauth2-proxy's default
    /// naming the allowed email domains.
    pub banner: String,
    pub footer: Option<String>,
    pub show_debug_on_error: bool,
    pub display_htpasswd_form: bool,
}

/// The fields oauth2-proxy gives `sign_in.html`.
pub const SIGN_IN_FIELDS: &[&str] =
    &["ProviderName", "SignInMessage", "StatusCode", "CustomLogin", "Redirect", "Version", "ProxyPrefix", "Footer", "LogoData"];
/// The fields oauth2-proxy gives `error.html`.
pub const ERROR_FIELDS: &[&str] = &["Title", "Message", "ProxyPrefix", "StatusCode", "Redirect", "RequestID", "Footer", "Version"];

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}\
main{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:2.5rem;max-width:26rem;width:calc(100% - 3rem);text-align:center}\
h1{font-size:1.4rem;margin:0 0 1rem}p{line-height:1.5}button,a.button{display:inline-block;background:#1f5fbf;color:#fff;border:0;border-radius:8px;padding:.8rem 1.4rem;font-size:1rem;cursor:pointer;text-decoration:none}\
button:focus,a.button:focus{outline:3px solid #f0a000;outline-offset:2px}.code{color:#5b6475;font-size:.9rem}\
hr{border:0;border-top:1px solid #dde1e8;margin:1.5rem 0}form.local{display:grid;gap:.5rem;text-align:left}\
form.local input{font-size:1rem;padding:.6rem;border:1px solid #8a93a6;border-radius:6px}form.local button{margin-top:.5rem}\
.error{color:#a31515;font-weight:600}.banner{background:#eef3fb;border-radius:8px;padding:.6rem .8rem}\
.logo{max-width:10rem;max-height:5rem;margin:0 auto 1rem;display:block}\
footer{position:fixed;bottom:0;left:0;right:0;text-align:center;color:#4b5466;font-size:.85rem;padding:.8rem}\
@media (max-width:480px){main{padding:1.5rem;border-radius:0;box-shadow:none;width:100%}body{align-items:flex-start;background:#fff}button,a.button{width:100%}}";

fn page(title: &str, body: &str, cfg: &Config) -> String {
    let footer = match cfg.footer.as_deref() {
        Some("-") => String::new(),
        Some(text) => format!("<footer>{}</footer>", escape(text)),
        None => "<footer>Secured with Gatehouse</footer>".to_string(),
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main>{body}</main>{footer}</body></html>",
        escape(title)
    )
}

/// The Content-Security-Policy of Gatehouse's pages. The built-in ones allow only their own
/// inline style (by hash) and images from `data:` (the logo) or the logo's https origin;
/// custom templates may use files and styles of this origin, and no script at all (on a
/// reverse proxy, "this origin" also serves the app's files).
pub fn content_security_policy(cfg: &Config, custom: bool) -> HeaderValue {
    let logo_origin = logo_origin(&cfg.logo);
    let policy = if custom {
        format!(
            "default-src 'self'; img-src 'self' data: {logo_origin}; style-src 'self' 'unsafe-inline'; script-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        )
    } else {
        // The stylesheet is a constant: its hash is computed once.
        static STYLE_HASH: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| STANDARD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, STYLE.as_bytes())));
        let hash = &*STYLE_HASH;
        format!("default-src 'none'; style-src 'sha256-{hash}'; img-src data: {logo_origin}; base-uri 'none'; frame-ancestors 'none'")
    };
    HeaderValue::from_str(policy.trim()).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"))
}

/// The https origin of a logo given by URL (the only remote thing a page loads).
fn logo_origin(markup: &str) -> String {
    markup
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .filter(|src| src.starts_with("https://"))
        .and_then(|src| url::Url::parse(src).ok())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// The logo's markup from `custom_sign_in_logo`: `-` for none, an `https://` URL, or an SVG,
/// PNG or JPEG file, embedded as a `data:` image (an SVG as an image runs no script).
pub fn logo_markup(value: &str) -> Result<String, String> {
    if value == "-" {
        return Ok(String::new());
    }
    if value.starts_with("https://") {
        return Ok(format!("<img class=\"logo\" src=\"{}\" alt=\"Logo\">", escape(value)));
    }
    let path = std::path::Path::new(value);
    let kind = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => return Err(format!("\"{value}\" is neither an https:// URL nor a .svg, .png, .jpg or .jpeg file")),
    };
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read \"{value}\": {e}"))?;
    if bytes.len() > 1 << 20 {
        return Err(format!("\"{value}\" is larger than 1 MiB"));
    }
    Ok(format!("<img class=\"logo\" src=\"data:{kind};base64,{}\" alt=\"Logo\">", STANDARD.encode(bytes)))
}

/// What the sign-in page shows.
pub struct SignIn<'a> {
    /// With several providers, each (id, name): a button for each.
    pub choices: &'a [(&'a str, &'a str)],
    pub start_path: &'a str,
    pub prefix: &'a str,
    pub rd: &'a str,
    pub status: StatusCode,
    /// The htpasswd form's action (`<prefix>/sign_in`), when the form is shown.
    pub htpasswd_form: Option<&'a str>,
    /// Why the last form submission failed.
    pub error: Option<&'a str>,
}

fn footer_value(cfg: &Config) -> Value {
    Value::Text(cfg.footer.clone().unwrap_or_default())
}

fn provider_name(cfg: &Config) -> &str {
    if cfg.provider_display_name.is_empty() { "OpenID Connect" } else { &cfg.provider_display_name }
}

/// The sign-in page: a button that starts the login, returning to `rd` afterwards, and the
/// htpasswd form when there is one; or the custom `sign_in.html`.
pub fn sign_in_page(cfg: &Config, p: &SignIn<'_>) -> String {
    if let Some(t) = &cfg.sign_in_template {
        let data = HashMap::from([
            ("ProviderName", Value::Text(provider_name(cfg).to_string())),
            ("SignInMessage", Value::Text(cfg.banner.clone())),
            ("StatusCode", Value::Int(i64::from(p.status.as_u16()))),
            ("CustomLogin", Value::Bool(p.htpasswd_form.is_some())),
            ("Redirect", Value::Text(p.rd.to_string())),
            ("Version", Value::Text(env!("CARGO_PKG_VERSION").to_string())),
            ("ProxyPrefix", Value::Text(p.prefix.to_string())),
            ("Footer", footer_value(cfg)),
            ("LogoData", Value::Markup(cfg.logo.clone())),
        ]);
        return t.render(&data);
    }
    let rd = escape(p.rd);
    let banner = if cfg.banner.is_empty() { String::new() } else { format!("<p class=\"banner\">{}</p>", escape(&cfg.banner)) };
    let button = |id: Option<&str>, name: &str| {
        let choice = id.map_or(String::new(), |id| format!("<input type=\"hidden\" name=\"provider\" value=\"{}\">", escape(id)));
        format!(
            "<form method=\"GET\" action=\"{}\"><input type=\"hidden\" name=\"rd\" value=\"{rd}\">{choice}<button type=\"submit\">Sign in with {}</button></form>",
            escape(p.start_path),
            escape(name)
        )
    };
    let buttons: String = match p.choices {
        [] => button(None, provider_name(cfg)),
        choices => choices.iter().map(|(id, name)| button(Some(id), if name.is_empty() { id } else { name })).collect(),
    };
    let mut body = format!("{}<h1>Sign in</h1><p>You need to sign in to continue.</p>{banner}{buttons}", cfg.logo);
    if let Some(action) = p.htpasswd_form {
        if let Some(error) = p.error {
            body.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>", escape(error)));
        }
        body.push_str(&format!(
            "<hr><form method=\"POST\" action=\"{}\" class=\"local\"><input type=\"hidden\" name=\"rd\" value=\"{rd}\">\
<label for=\"username\">Username</label><input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required>\
<label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Sign in</button></form>",
            escape(action)
        ));
    }
    page("Sign in", &body, cfg)
}

/// What an error page tells.
pub struct ErrorInfo<'a> {
    pub status: StatusCode,
    /// What the user is told.
    pub message: &'a str,
    /// What the log is told; shown only with `show_debug_on_error`.
    pub detail: &'a str,
    pub request_id: &'a str,
    pub prefix: &'a str,
    /// Offer a sign-out (the user was refused as this account).
    pub sign_out: bool,
}

/// An error page: the status, what happened, what to do; or the custom `error.html`.
pub fn error_page(cfg: &Config, e: &ErrorInfo<'_>) -> String {
    let title = e.status.canonical_reason().unwrap_or("Error");
    // oauth2-proxy's templates get the internal reason as the message in debug mode; the
    // built-in page shows it under the message.
    let message = if cfg.show_debug_on_error { e.detail } else { e.message };
    if let Some(t) = &cfg.error_template {
        let data = HashMap::from([
            ("Title", Value::Text(title.to_string())),
            ("Message", Value::Text(message.to_string())),
            ("ProxyPrefix", Value::Text(e.prefix.to_string())),
            ("StatusCode", Value::Int(i64::from(e.status.as_u16()))),
            ("Redirect", Value::Text(String::new())),
            ("RequestID", Value::Text(e.request_id.to_string())),
            ("Footer", footer_value(cfg)),
            ("Version", Value::Text(env!("CARGO_PKG_VERSION").to_string())),
        ]);
        return t.render(&data);
    }
    let id = if e.request_id.is_empty() { String::new() } else { format!(" · request {}", escape(e.request_id)) };
    let debug = if cfg.show_debug_on_error { format!("<p class=\"code\">{}</p>", escape(e.detail)) } else { String::new() };
    // A POST, so no link or image elsewhere signs anyone out by being fetched.
    let sign_out = if e.sign_out && !e.prefix.is_empty() {
        format!("<form method=\"POST\" action=\"{}/sign_out\"><button type=\"submit\">Sign out</button></form>", escape(e.prefix))
    } else {
        String::new()
    };
    page(
        title,
        &format!("<h1>{}</h1><p>{}</p>{debug}<p class=\"code\">{}{id}</p>{sign_out}", escape(title), escape(e.message), e.status.as_u16()),
        cfg,
    )
}

/// The error page before any configuration applies (built-in, no request ID).
pub fn plain_error_page(status: StatusCode, message: &str) -> String {
    error_page(&Config::default(), &ErrorInfo { status, message, detail: "", request_id: "", prefix: "", sign_out: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_in(cfg: &Config, rd: &str) -> String {
        sign_in_page(
            cfg,
            &SignIn {
                choices: &[],
                start_path: "/oauth2/start",
                prefix: "/oauth2",
                rd,
                status: StatusCode::FORBIDDEN,
                htpasswd_form: Some("/oauth2/sign_in"),
                error: Some("<i>no</i>"),
            },
        )
    }

    #[test]
    fn values_are_escaped() {
        let cfg = Config {
            provider_display_name: "<b>IdP</b>".into(),
            banner: "<script>alert(1)</script>".into(),
            footer: Some("<a href=x>f</a>".into()),
            ..Default::default()
        };
        let p = sign_in(&cfg, "/x\"><script>alert(1)</script>");
        assert!(!p.contains("<script>") && !p.contains("<a href"));
        assert!(p.contains("&lt;b&gt;IdP&lt;/b&gt;"));
        assert!(p.contains("&lt;i&gt;no&lt;/i&gt;"));
        assert!(p.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the banner is shown as text");
        assert!(p.contains("<label for=\"password\">"));
    }

    #[test]
    fn footer_default_hidden_and_text() {
        assert!(sign_in(&Config::default(), "/").contains("<footer>Secured with Gatehouse</footer>"));
        assert!(!sign_in(&Config { footer: Some("-".into()), ..Default::default() }, "/").contains("<footer>"));
        let e = error_page(
            &Config { footer: Some("Acme IT".into()), show_debug_on_error: true, ..Default::default() },
            &ErrorInfo {
                status: StatusCode::BAD_GATEWAY,
                message: "try again",
                detail: "provider said <nope>",
                request_id: "r1",
                prefix: "/oauth2",
                sign_out: false,
            },
        );
        assert!(e.contains("<footer>Acme IT</footer>") && e.contains("provider said &lt;nope&gt;") && e.contains("request r1"));
    }

    #[test]
    fn logos_are_data_images_or_https_urls() {
        assert_eq!(logo_markup("-").unwrap(), "");
        assert!(logo_markup("https://cdn.example/l.png").unwrap().contains("src=\"https://cdn.example/l.png\""));
        assert!(logo_markup("/etc/passwd").unwrap_err().contains("neither"));
        assert!(logo_markup("/nonexistent/l.svg").unwrap_err().contains("cannot read"));
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("l.svg");
        std::fs::write(&svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>x</script></svg>").unwrap();
        let m = logo_markup(svg.to_str().unwrap()).unwrap();
        assert!(m.starts_with("<img class=\"logo\" src=\"data:image/svg+xml;base64,") && !m.contains("<script>"));
        let cfg = Config { logo: logo_markup("https://cdn.example/l.png").unwrap(), ..Default::default() };
        assert!(content_security_policy(&cfg, false).to_str().unwrap().contains("img-src data: https://cdn.example;"));
    }

    #[test]
    fn the_built_in_style_is_allowed_by_its_hash_and_nothing_else() {
        let csp = content_security_policy(&Config::default(), false);
        let csp = csp.to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe"));
    }
}
