//! The part of Go's `html/template` that oauth2-proxy's page templates use, so a
//! `custom_templates_dir` written for oauth2-proxy (`sign_in.html`, `error.html`) works here:
//! `{{define "name"}}…{{end}}`, `{{.Field}}`, `{{ToUpper .Field}}` / `ToLower`,
//! `{{if …}}…{{else if …}}…{{else}}…{{end}}` with `.Field`, `eq`, `ne`, `not`, `and`, `or`,
//! string and integer literals, `{{/* comments */}}` and the `{{-` / `-}}` trim markers.
//!
//! Every value is escaped for HTML, including the banner and footer (oauth2-proxy inserts those
//! raw), and so that it stays one token even in an unquoted attribute; only markup Gatehouse
//! builds itself (the logo) is inserted as is. Values are not URL-encoded: a template should
//! pass them in form fields (as oauth2-proxy's do), not inside a URL. Unknown fields,
//! functions and syntax are refused when the template is loaded, not when a page is served.

use std::collections::HashMap;

use crate::base::text::escape_html as escape;

/// A value a template can show or test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    /// Markup Gatehouse built itself, inserted unescaped.
    Markup(String),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Text(s) | Value::Markup(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Bool(b) => *b,
        }
    }

    fn render(&self) -> String {
        match self {
            // The value's place in the page is unknown (a template may put it in an unquoted
            // attribute): space, `=` and backtick are escaped too, so it stays one token.
            Value::Text(s) => escape(s).replace(' ', "&#32;").replace('=', "&#61;").replace('`', "&#96;"),
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Markup(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Field(String),
    Text(String),
    Int(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Operand(Operand),
    /// A function applied to operands: eq, ne, not, and, or, ToUpper, ToLower.
    Call(String, Vec<Operand>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Show(Expr),
    If(Vec<(Expr, Vec<Node>)>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    nodes: Vec<Node>,
}

enum Token {
    Text(String),
    Action(String, usize),
}

/// Splits into text and `{{ }}` actions, applying trim markers and dropping comments.
fn tokens(src: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("line {}: `{{{{` without `}}}}`", line_of(src, rest, start)))?;
        let mut inner = &after[..end];
        if let Some(i) = inner.strip_prefix('-') {
            text = text.trim_end();
            inner = i;
        }
        trim_next = false;
        if let Some(i) = inner.strip_suffix('-') {
            trim_next = true;
            inner = i;
        }
        if !text.is_empty() {
            out.push(Token::Text(text.to_string()));
        }
        let inner = inner.trim();
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            out.push(Token::Action(inner.to_string(), line_of(src, rest, start)));
        }
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        out.push(Token::Text(text.to_string()));
    }
    Ok(out)
}

fn line_of(src: &str, rest: &str, offset: usize) -> usize {
    let pos = src.len() - rest.len() + offset;
    src[..pos].matches('\n').count() + 1
}

/// Splits an action into words, keeping quoted strings whole.
fn words(action: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::from("\"");
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => s.push(chars.next().ok_or("an unfinished string")?),
                    Some(c) => s.push(c),
                    None => return Err("an unfinished string".into()),
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            out.push(s);
        }
    }
    Ok(out)
}

const FUNCTIONS: &[&str] = &["eq", "ne", "not", "and", "or", "ToUpper", "ToLower"];

struct Parser<'a> {
    tokens: std::iter::Peekable<std::vec::IntoIter<Token>>,
    fields: &'a [&'a str],
}

impl Parser<'_> {
    fn operand(&self, word: &str, line: usize) -> Result<Operand, String> {
        if let Some(s) = word.strip_prefix('"') {
            return Ok(Operand::Text(s.to_string()));
        }
        if let Ok(i) = word.parse() {
            return Ok(Operand::Int(i));
        }
        let Some(name) = word.strip_prefix('.') else {
            return Err(format!("line {line}: `{word}` is not a field (`.Name`), a string or a number"));
        };
        if !self.fields.contains(&name) {
            return Err(format!(
                "line {line}: unknown field `.{name}`; this page has {}",
                self.fields.iter().map(|f| format!(".{f}")).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(Operand::Field(name.to_string()))
    }

    fn expr(&self, words: &[String], line: usize) -> Result<Expr, String> {
        match words {
            [] => Err(format!("line {line}: an empty action")),
            [one] => Ok(Expr::Operand(self.operand(one, line)?)),
            [f, args @ ..] if FUNCTIONS.contains(&f.as_str()) => {
                let args = args.iter().map(|a| self.operand(a, line)).collect::<Result<Vec<_>, _>>()?;
                let arity_ok = match f.as_str() {
                    "not" | "ToUpper" | "ToLower" => args.len() == 1,
                    "ne" => args.len() == 2,
                    _ => args.len() >= 2,
                };
                if !arity_ok {
                    return Err(format!("line {line}: wrong number of arguments for `{f}`"));
                }
                Ok(Expr::Call(f.clone(), args))
            }
            [f, ..] => Err(format!("line {line}: unsupported `{f}` (supported: fields, {})", FUNCTIONS.join(", "))),
        }
    }

    /// Nodes up to (not including) an `end`, `else` or `else if` action, or the input's end.
    fn nodes(&mut self) -> Result<Vec<Node>, String> {
        let mut out = Vec::new();
        while let Some(token) = self.tokens.peek() {
            match token {
                Token::Text(t) => {
                    out.push(Node::Text(t.clone()));
                    self.tokens.next();
                }
                Token::Action(a, _) if a == "end" || a == "else" || a.starts_with("else ") => return Ok(out),
                Token::Action(..) => {
                    let Some(Token::Action(action, line)) = self.tokens.next() else { unreachable!("peeked an action") };
                    let w = words(&action).map_err(|e| format!("line {line}: {e}"))?;
                    if w.first().map(String::as_str) == Some("if") {
                        out.push(self.conditional(&w[1..], line)?);
                    } else if matches!(w.first().map(String::as_str), Some("range" | "with" | "template" | "block" | "define")) {
                        return Err(format!("line {line}: `{}` is not supported in Gatehouse's templates", w[0]));
                    } else {
                        out.push(Node::Show(self.expr(&w, line)?));
                    }
                }
            }
        }
        Ok(out)
    }

    fn conditional(&mut self, first: &[String], line: usize) -> Result<Node, String> {
        let mut branches = vec![(self.expr(first, line)?, self.nodes()?)];
        loop {
            match self.tokens.next() {
                Some(Token::Action(a, _)) if a == "end" => return Ok(Node::If(branches, Vec::new())),
                Some(Token::Action(a, l)) if a == "else" => {
                    let otherwise = self.nodes()?;
                    return match self.tokens.next() {
                        Some(Token::Action(a, _)) if a == "end" => Ok(Node::If(branches, otherwise)),
                        _ => Err(format!("line {l}: `else` without its `end`")),
                    };
                }
                Some(Token::Action(a, l)) if a.starts_with("else if ") => {
                    let w = words(&a["else if ".len()..]).map_err(|e| format!("line {l}: {e}"))?;
                    branches.push((self.expr(&w, l)?, self.nodes()?));
                }
                _ => return Err(format!("line {line}: `if` without its `end`")),
            }
        }
    }
}

impl Template {
    /// Parses `src`. When it wraps its page in `{{define "<name>"}}…{{end}}` (as oauth2-proxy's
    /// templates do), that block is the page. `fields` are the names the page provides.
    pub fn parse(src: &str, name: &str, fields: &[&str]) -> Result<Template, String> {
        let mut tokens = tokens(src)?;
        if let Some(Token::Action(first, line)) = tokens.iter().find(|t| !matches!(t, Token::Text(s) if s.trim().is_empty()))
            && let Some(defined) = first.strip_prefix("define ")
        {
            if defined.trim() != format!("\"{name}\"") {
                return Err(format!("line {line}: defines {defined}, expected \"{name}\""));
            }
            let start = tokens.iter().position(|t| matches!(t, Token::Action(a, _) if a.starts_with("define "))).expect("found above");
            tokens.drain(..=start);
            // The define's own `end` is the last action; text after it is ignored, as in Go.
            let end = tokens.iter().rposition(|t| matches!(t, Token::Action(a, _) if a == "end")).ok_or("`define` without its `end`")?;
            tokens.truncate(end);
        }
        let mut parser = Parser { tokens: tokens.into_iter().peekable(), fields };
        let nodes = parser.nodes()?;
        if let Some(Token::Action(a, line)) = parser.tokens.next() {
            return Err(format!("line {line}: `{a}` without its `if`"));
        }
        Ok(Template { nodes })
    }

    pub fn render(&self, data: &HashMap<&str, Value>) -> String {
        let mut out = String::new();
        render(&self.nodes, data, &mut out);
        out
    }
}

fn value(op: &Operand, data: &HashMap<&str, Value>) -> Value {
    match op {
        Operand::Field(f) => data.get(f.as_str()).cloned().unwrap_or(Value::Text(String::new())),
        Operand::Text(s) => Value::Text(s.clone()),
        Operand::Int(i) => Value::Int(*i),
    }
}

/// Go compares like with like; a number and a string are simply unequal here.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Text(x) | Value::Markup(x), Value::Text(y) | Value::Markup(y)) => x == y,
        _ => a == b,
    }
}

fn eval(e: &Expr, data: &HashMap<&str, Value>) -> Value {
    match e {
        Expr::Operand(op) => value(op, data),
        Expr::Call(f, args) => {
            let v: Vec<Value> = args.iter().map(|a| value(a, data)).collect();
            match f.as_str() {
                // Go's `eq a b c` is true when a equals any of the others.
                "eq" => Value::Bool(v[1..].iter().any(|x| same(&v[0], x))),
                "ne" => Value::Bool(!same(&v[0], &v[1])),
                "not" => Value::Bool(!v[0].truthy()),
                "and" => v.iter().find(|x| !x.truthy()).or(v.last()).cloned().expect("two or more arguments"),
                "or" => v.iter().find(|x| x.truthy()).or(v.last()).cloned().expect("two or more arguments"),
                "ToUpper" => Value::Text(text_of(&v[0]).to_uppercase()),
                "ToLower" => Value::Text(text_of(&v[0]).to_lowercase()),
                _ => unreachable!("functions are checked at parse time"),
            }
        }
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Text(s) | Value::Markup(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
    }
}

fn render(nodes: &[Node], data: &HashMap<&str, Value>, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Show(e) => out.push_str(&eval(e, data).render()),
            Node::If(branches, otherwise) => {
                let chosen = branches.iter().find(|(cond, _)| eval(cond, data).truthy()).map_or(otherwise, |(_, body)| body);
                render(chosen, data, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[&str] = &["ProviderName", "StatusCode", "Footer", "SignInMessage", "LogoData", "Redirect", "ProxyPrefix"];

    fn data() -> HashMap<&'static str, Value> {
        HashMap::from([
            ("ProviderName", Value::Text("Corp <SSO>".into())),
            ("StatusCode", Value::Int(401)),
            ("Footer", Value::Text("-".into())),
            ("SignInMessage", Value::Text("<script>alert(1)</script>".into())),
            ("LogoData", Value::Markup("<img src=\"data:x\" alt=\"Logo\">".into())),
            ("Redirect", Value::Text("/a?b=1&c=\"2\"".into())),
            ("ProxyPrefix", Value::Text("/oauth2".into())),
        ])
    }

    fn render(src: &str) -> String {
        Template::parse(src, "sign_in.html", FIELDS).unwrap().render(&data())
    }

    #[test]
    fn fields_are_escaped_and_gatehouse_markup_is_not() {
        assert_eq!(render("<b>{{.ProviderName}}</b>"), "<b>Corp&#32;&lt;SSO&gt;</b>");
        assert_eq!(render("{{ .SignInMessage }}"), "&lt;script&gt;alert(1)&lt;/script&gt;");
        assert_eq!(render("<input value=\"{{.Redirect}}\">"), "<input value=\"/a?b&#61;1&amp;c&#61;&quot;2&quot;\">");
        // Even unquoted, a value cannot add an attribute.
        assert_eq!(render("<div title={{.ProviderName}}>"), "<div title=Corp&#32;&lt;SSO&gt;>");
        assert_eq!(render("{{.LogoData}}"), "<img src=\"data:x\" alt=\"Logo\">");
        assert_eq!(render("{{ToUpper .ProxyPrefix}}"), "/OAUTH2");
    }

    #[test]
    fn conditions_as_oauth2_proxy_templates_write_them() {
        let footer = "{{ if eq .Footer \"-\" }}{{ else if eq .Footer \"\"}}default{{ else }}<p>{{.Footer}}</p>{{ end }}";
        assert_eq!(render(footer), "");
        assert_eq!(render("{{ if eq .StatusCode 400 401 }}bad{{ end }}"), "bad");
        assert_eq!(render("{{ if eq .StatusCode 400 }}a{{ else }}b{{ end }}"), "b");
        assert_eq!(render("{{ if or .Footer .ProviderName }}yes{{ end }}"), "yes");
        assert_eq!(render("{{ if and .LogoData .StatusCode }}x{{ end }}"), "x");
        assert_eq!(render("{{ if not .LogoData }}none{{ else }}logo{{ end }}"), "logo");
        assert_eq!(render("{{ if ne .StatusCode 401 }}x{{ else }}y{{ end }}"), "y");
    }

    #[test]
    fn define_blocks_comments_and_trim_markers() {
        let src = "{{define \"sign_in.html\"}}<a>\n  {{- /* note */ -}}\n  {{.ProxyPrefix -}}  </a>{{end}}\n";
        assert_eq!(render(src), "<a>/oauth2</a>");
        assert!(Template::parse("{{define \"error.html\"}}x{{end}}", "sign_in.html", FIELDS).unwrap_err().contains("expected"));
    }

    #[test]
    fn mistakes_are_refused_at_load_with_the_line() {
        let err = |src: &str| Template::parse(src, "sign_in.html", FIELDS).unwrap_err();
        assert!(err("a\n{{.Nope}}").contains("line 2: unknown field `.Nope`"));
        assert!(err("{{ if .Footer }}x").contains("without its `end`"));
        assert!(err("x{{ end }}").contains("without its `if`"));
        assert!(err("{{ range .Footer }}{{ end }}").contains("not supported"));
        assert!(err("{{ printf \"%s\" .Footer }}").contains("unsupported `printf`"));
        assert!(err("{{ .Footer ").contains("without"));
        assert!(err("{{ eq .Footer }}").contains("wrong number"));
    }
}
