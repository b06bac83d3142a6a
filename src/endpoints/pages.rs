//! HTML pages: sign-in and errors. Self-contained (no external fonts, scripts or styles) and
//! every value from configuration or the request is escaped.

use actix_web::http::StatusCode;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}\
main{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:2.5rem;max-width:26rem;width:calc(100% - 3rem);text-align:center}\
h1{font-size:1.4rem;margin:0 0 1rem}p{line-height:1.5}button,a.button{display:inline-block;background:#1f5fbf;color:#fff;border:0;border-radius:8px;padding:.8rem 1.4rem;font-size:1rem;cursor:pointer;text-decoration:none}\
button:focus,a.button:focus{outline:3px solid #f0a000;outline-offset:2px}.code{color:#5b6475;font-size:.9rem}\
hr{border:0;border-top:1px solid #dde1e8;margin:1.5rem 0}form.local{display:grid;gap:.5rem;text-align:left}\
form.local input{font-size:1rem;padding:.6rem;border:1px solid #8a93a6;border-radius:6px}form.local button{margin-top:.5rem}\
.error{color:#a31515;font-weight:600}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

/// What the sign-in page shows.
pub struct SignIn<'a> {
    pub start_path: &'a str,
    pub rd: &'a str,
    pub provider_name: &'a str,
    /// The htpasswd form's action (`<prefix>/sign_in`), when the form is shown.
    pub htpasswd_form: Option<&'a str>,
    /// Why the last form submission failed.
    pub error: Option<&'a str>,
}

/// The sign-in page: a button that starts the login, returning to `rd` afterwards, and the
/// htpasswd form when there is one.
pub fn sign_in_page(p: &SignIn<'_>) -> String {
    let name = if p.provider_name.is_empty() { "OpenID Connect" } else { p.provider_name };
    let rd = escape(p.rd);
    let mut body = format!(
        "<h1>Sign in</h1><p>You need to sign in to continue.</p><form method=\"GET\" action=\"{}\"><input type=\"hidden\" name=\"rd\" value=\"{rd}\"><button type=\"submit\">Sign in with {}</button></form>",
        escape(p.start_path),
        escape(name)
    );
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
    page("Sign in", &body)
}

/// An error page: the status, what happened, what to do.
pub fn error_page(status: StatusCode, message: &str) -> String {
    let title = status.canonical_reason().unwrap_or("Error");
    page(title, &format!("<h1>{}</h1><p>{}</p><p class=\"code\">{}</p>", escape(title), escape(message), status.as_u16()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let p = sign_in_page(&SignIn {
            start_path: "/oauth2/start",
            rd: "/x\"><script>alert(1)</script>",
            provider_name: "<b>IdP</b>",
            htpasswd_form: Some("/oauth2/sign_in"),
            error: Some("<i>no</i>"),
        });
        assert!(!p.contains("<script>"));
        assert!(p.contains("&lt;b&gt;IdP&lt;/b&gt;"));
        assert!(p.contains("&lt;i&gt;no&lt;/i&gt;"));
        assert!(p.contains("<label for=\"password\">"));
    }
}
