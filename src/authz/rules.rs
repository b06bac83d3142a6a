//! Route rules (`route_rules`, Gatehouse's own): an ordered policy by host, path and method,
//! first match wins. Each rule makes a request public (`allow`), refuses it to everyone
//! (`deny`), or narrows who may pass (`allowed_groups`, `allowed_emails`,
//! `allowed_email_domains`).
//!
//! Written as one line per rule, in every configuration source:
//! `path=^/admin/ methods=GET,POST host=^admin\.example\.com$ allowed_groups=admins`,
//! `path=^/docs/ allow`, `path=^/internal/ deny`. `path` is required; `host` and `methods`
//! narrow what the rule matches.
//!
//! Matching here is on one reading of a request; the gate asks for every reading and keeps
//! the verdict that grants least ([`Rules::judge`]).
//! Never: reads requests, sessions or configuration sources.

use regex::Regex;

use super::Constraints;

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Public: no session needed (a session present still travels as identity).
    Allow,
    /// Refused to everyone, signed in or not.
    Deny,
    /// A session is needed, and it must meet these constraints.
    Require(Constraints),
}

/// One rule, as validated.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as written, for logs and `--explain`.
    pub text: String,
    pub host: Option<Regex>,
    pub path: Regex,
    /// Upper-cased; empty: any method.
    pub methods: Vec<String>,
    pub action: Action,
}

/// The methods a request may be run as: what the gate knows of it.
#[derive(Debug, Clone, Copy)]
pub enum Methods<'a> {
    /// Every method the request states (the request line, a trusted proxy's forwarded method,
    /// method-override headers), upper-cased.
    Known(&'a [String]),
    /// Nothing says which (a check without `X-Forwarded-Method`): every method filter matches.
    Unknown,
}

impl Methods<'_> {
    /// Whether a rule's method filter may match. `GET` covers `HEAD`, which every framework
    /// answers with the GET handler.
    fn meet(&self, filter: &[String]) -> bool {
        filter.is_empty()
            || match self {
                Methods::Unknown => true,
                Methods::Known(stated) => stated.iter().any(|m| filter.iter().any(|f| f == m || (f == "GET" && m == "HEAD"))),
            }
    }
}

impl Rule {
    fn matches(&self, methods: Methods<'_>, host: &str, path: &str) -> bool {
        methods.meet(&self.methods) && self.host.as_ref().is_none_or(|h| h.is_match(host)) && self.path.is_match(path)
    }

    /// Parses one rule; `Err` says what is wrong and how to write it.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let mut host = None;
        let mut path = None;
        let mut methods = Vec::new();
        let mut action: Option<Action> = None;
        let mut require = Constraints::default();
        for word in text.split_whitespace() {
            let (key, value) = word.split_once('=').unwrap_or((word, ""));
            // The regex crate's message spans lines (the pattern, a caret); its last line says why.
            let regex = |v: &str| {
                if v.is_empty() {
                    return Err(format!("{key}= is empty (write {key}=. to match every one)"));
                }
                // Host names are case-insensitive: the host is lower-cased before matching, and
                // the rule's letters match either case.
                let pattern = if key == "host" { format!("(?i){v}") } else { v.to_string() };
                Regex::new(&pattern).map_err(|e| {
                    let why = e.to_string().lines().last().unwrap_or("").trim().to_string();
                    format!("{key}={v} is not a regular expression ({why}); write a space as \\s and a ; as \\x3B")
                })
            };
            match key {
                "path" if path.is_none() => path = Some(regex(value)?),
                "host" if host.is_none() => host = Some(regex(value)?),
                "methods" if methods.is_empty() => {
                    methods = value.split(',').filter(|m| !m.is_empty()).map(str::to_ascii_uppercase).collect();
                    if methods.is_empty() || methods.iter().any(|m| !m.bytes().all(|b| b.is_ascii_alphabetic())) {
                        return Err(format!("methods={value} is not a list of methods (write methods=GET,POST)"));
                    }
                }
                "allow" | "deny" if value.is_empty() && action.is_none() => {
                    action = Some(if key == "allow" { Action::Allow } else { Action::Deny });
                }
                "allowed_groups" | "allowed_emails" | "allowed_email_domains" if !value.is_empty() => require.add(key, value),
                "path" | "host" | "methods" | "allow" | "deny" => return Err(format!("{key} is given twice or with a wrong value")),
                _ => {
                    return Err(format!(
                        "{word} is not part of a rule (write path=<regex>, and host=<regex>, methods=GET,POST, then allow, deny or allowed_groups=…)"
                    ));
                }
            }
        }
        let path = path.ok_or("a rule needs path=<regex> (path=. matches every path)")?;
        let narrows = require != Constraints::default();
        let action = match (action, narrows) {
            (Some(a), false) => a,
            (None, true) => Action::Require(require),
            (None, false) => return Err("a rule needs allow, deny, or allowed_groups / allowed_emails / allowed_email_domains".into()),
            (Some(_), true) => return Err("allow or deny cannot be combined with allowed_* constraints".into()),
        };
        Ok(Rule { text: text.split_whitespace().collect::<Vec<_>>().join(" "), host, path, methods, action })
    }
}

/// A host as rules see it: lower-cased, without the port and without the trailing dot of a
/// fully qualified name (`API.Example.com.:8443` is `api.example.com`), so no spelling of a
/// host slips past a rule written for it (an edge routes all of them to the same site).
pub fn rule_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    // The port, if any: after the last `:` outside an IPv6 literal's brackets.
    let name = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host.as_str(),
    };
    name.trim_end_matches('.').to_string()
}

/// The ordered rules.
#[derive(Debug, Clone, Default)]
pub struct Rules(pub Vec<Rule>);

/// What the rules say about a request, over every reading of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// No rule matches: the rest of the policy decides.
    NoRule,
    /// Public, by this rule (every reading matched it first).
    Allow(usize),
    /// Refused to everyone, by this rule.
    Deny(usize),
    /// A session meeting every one of these rules' constraints is needed.
    Require(Vec<usize>),
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first rule that may match one reading.
    pub fn first(&self, methods: Methods<'_>, host: &str, path: &str) -> Option<usize> {
        self.0.iter().position(|r| r.matches(methods, host, path))
    }

    /// Judges a request over its readings (each path reading with the method): a rule that
    /// denies or narrows in any reading applies; a rule that allows applies only when it is
    /// the first match of every reading and `may_widen` (the path is plain, the method
    /// agrees wherever it was stated). So no way of writing a request gets it more than its
    /// plainest reading does.
    pub fn judge(&self, methods: Methods<'_>, host: &str, readings: &[&str], may_widen: bool) -> Judgement {
        let host = rule_host(host);
        let firsts: Vec<Option<usize>> = readings.iter().map(|p| self.first(methods, &host, p)).collect();
        if let Some(deny) = firsts.iter().flatten().find(|&&i| self.0[i].action == Action::Deny) {
            return Judgement::Deny(*deny);
        }
        let mut required: Vec<usize> =
            firsts.iter().flatten().copied().filter(|&i| matches!(self.0[i].action, Action::Require(_))).collect();
        required.dedup();
        if !required.is_empty() {
            return Judgement::Require(required);
        }
        // An allow with methods widens only for one method known: not an unknown one, nor several.
        let one_method = matches!(methods, Methods::Known([_]));
        match firsts.first() {
            Some(Some(i)) if self.0[*i].action == Action::Allow && firsts.iter().all(|f| *f == Some(*i)) => {
                let may_widen = may_widen && (one_method || self.0[*i].methods.is_empty());
                if may_widen { Judgement::Allow(*i) } else { Judgement::Require(Vec::new()) }
            }
            // An allow in some readings only, or none at all: nothing widens.
            _ if firsts.iter().any(Option::is_some) => Judgement::Require(Vec::new()),
            _ => Judgement::NoRule,
        }
    }

    /// Judges a request whose path is not known (a check from an edge that sent no
    /// `X-Forwarded-Uri`): any rule might be the one that matches, so every rule matching the
    /// host and method counts. A `deny` among them refuses, every narrowing rule applies, and
    /// nothing widens. Fail closed, and loudly: an operator sees the 403s at once.
    pub fn judge_unknown_path(&self, methods: Methods<'_>, host: &str) -> Judgement {
        let host = rule_host(host);
        let candidates: Vec<usize> = (0..self.0.len())
            .filter(|&i| methods.meet(&self.0[i].methods) && self.0[i].host.as_ref().is_none_or(|h| h.is_match(&host)))
            .collect();
        if let Some(&deny) = candidates.iter().find(|&&i| self.0[i].action == Action::Deny) {
            return Judgement::Deny(deny);
        }
        let required: Vec<usize> = candidates.iter().copied().filter(|&i| matches!(self.0[i].action, Action::Require(_))).collect();
        if candidates.is_empty() { Judgement::NoRule } else { Judgement::Require(required) }
    }

    /// The constraints the rules require, to be met besides every other source's.
    pub fn constraints(&self, rules: &[usize]) -> impl Iterator<Item = &Constraints> {
        rules.iter().filter_map(|&i| match &self.0[i].action {
            Action::Require(c) => Some(c),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(lines: &[&str]) -> Rules {
        Rules(lines.iter().map(|l| Rule::parse(l).unwrap()).collect())
    }

    fn m(method: &str) -> Vec<String> {
        vec![method.to_string()]
    }

    #[test]
    fn rules_parse_and_refuse_what_is_not_a_rule() {
        let r = Rule::parse("path=^/admin/  methods=get,POST host=^admin\\. allowed_groups=admins,ops").unwrap();
        assert_eq!(r.methods, ["GET", "POST"]);
        assert_eq!(r.text, "path=^/admin/ methods=get,POST host=^admin\\. allowed_groups=admins,ops");
        assert!(matches!(&r.action, Action::Require(c) if c.groups == ["admins", "ops"]));
        for bad in [
            "allow",
            "path=^/x",
            "path=( allow",
            "path=^/x allow deny",
            "path=^/x allow allowed_groups=a",
            "path=^/x allowed_groups=",
            "path=^/x methods=G*T allow",
            "path=^/x allow extra",
            "path=^/a path=^/b allow",
            "path= allow",
            "path=^/a host= deny",
        ] {
            assert!(Rule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_match_decides_and_only_agreeing_plain_readings_widen() {
        let r = rules(&[
            "path=^/public/ allow",
            "path=^/admin/ allowed_groups=admins",
            "path=^/internal/ deny",
            "path=^/ methods=POST allowed_groups=writers",
        ]);
        assert_eq!(r.judge(Methods::Known(&m("GET")), "h", &["/public/a", "/public/a"], true), Judgement::Allow(0));
        assert_eq!(
            r.judge(Methods::Known(&m("GET")), "h", &["/public/a", "/public/a"], false),
            Judgement::Require(vec![]),
            "not plain: a session is needed"
        );
        assert_eq!(
            r.judge(Methods::Known(&m("GET")), "h", &["/public/../admin/x", "/admin/x"], false),
            Judgement::Require(vec![1]),
            "the narrowing reading applies"
        );
        assert_eq!(r.judge(Methods::Known(&m("GET")), "h", &["/public/../internal/", "/internal/"], false), Judgement::Deny(2));
        assert_eq!(r.judge(Methods::Known(&m("POST")), "h", &["/docs", "/docs"], true), Judgement::Require(vec![3]));
        assert_eq!(r.judge(Methods::Known(&m("GET")), "h", &["/docs", "/docs"], true), Judgement::NoRule);
        assert_eq!(
            r.judge(Methods::Known(&m("POST")), "h", &["/public/a", "/public/a"], true),
            Judgement::Allow(0),
            "the first match wins"
        );
    }

    #[test]
    fn every_stated_method_counts_and_get_covers_head() {
        let r = rules(&[
            "path=^/api/ methods=DELETE deny",
            "path=^/export methods=GET allowed_groups=admins",
            "path=^/docs/ methods=GET allow",
        ]);
        let overridden = vec!["POST".to_string(), "DELETE".to_string()];
        assert_eq!(
            r.judge(Methods::Known(&overridden), "h", &["/api/x", "/api/x"], false),
            Judgement::Deny(0),
            "an override stated DELETE"
        );
        assert_eq!(r.judge(Methods::Known(&m("HEAD")), "h", &["/export", "/export"], true), Judgement::Require(vec![1]));
        assert_eq!(r.judge(Methods::Unknown, "h", &["/api/x", "/api/x"], true), Judgement::Deny(0), "an unknown method may be DELETE");
        assert_eq!(r.judge(Methods::Unknown, "h", &["/docs/a", "/docs/a"], true), Judgement::Require(vec![]), "nor widen as GET");
        assert_eq!(r.judge(Methods::Known(&m("GET")), "h", &["/docs/a", "/docs/a"], true), Judgement::Allow(2));
        let hosts = rules(&["host=^Admin\\.example\\.com$ path=. deny"]);
        assert_eq!(hosts.judge(Methods::Known(&m("GET")), "admin.example.com:443", &["/", "/"], true), Judgement::Deny(0), "port and case");
    }

    #[test]
    fn a_request_whose_path_is_unknown_meets_every_rule_that_could_match() {
        let r = rules(&["path=^/public/ allow", "path=^/admin/ allowed_groups=admins", "path=^/ methods=POST allowed_groups=writers"]);
        assert_eq!(r.judge_unknown_path(Methods::Known(&m("GET")), "h"), Judgement::Require(vec![1]));
        assert_eq!(r.judge_unknown_path(Methods::Known(&m("POST")), "h"), Judgement::Require(vec![1, 2]));
        let with_deny = rules(&["path=^/public/ allow", "host=^intra$ path=^/x/ deny"]);
        assert_eq!(with_deny.judge_unknown_path(Methods::Known(&m("GET")), "h"), Judgement::Require(vec![]), "an allow never widens");
        assert_eq!(with_deny.judge_unknown_path(Methods::Known(&m("GET")), "INTRA."), Judgement::Deny(1));
        assert_eq!(rules(&["host=^a$ path=. deny"]).judge_unknown_path(Methods::Known(&m("GET")), "b"), Judgement::NoRule);
    }

    #[test]
    fn hosts_are_compared_in_one_spelling() {
        assert_eq!(rule_host("API.Example.COM."), "api.example.com");
        assert_eq!(rule_host("api.example.com.:8443"), "api.example.com");
        assert_eq!(rule_host("[::1]:80"), "[::1]");
        assert_eq!(rule_host("[::1]"), "[::1]");
    }
}
