//! The request as the gate sees it: read once, with where each part came from.
//!
//! Two kinds of requests are judged. A *check* (`/oauth2/auth`, `/oauth2/verify`, Envoy's path
//! form) describes another request, partly in forwarded headers; a *proxied* request is judged
//! as itself, because it is the one forwarded. What a client can write may only narrow access:
//! an input that widens it (a skip rule, a preflight, the client IP for `trusted_ips`) is
//! believed only from the request line, or from a trusted proxy in a header our shipped edge
//! configurations overwrite (`X-Forwarded-Uri`, `-Host`, `-Proto`, the real-IP header); and the
//! method must agree in the request line and the forwarded header. Constraints are read from
//! anyone: every source must hold, so each can only narrow. `X-Original-*` headers are
//! never read: oauth2-proxy does not read them, so an edge configured for it does not clear them.
//!
//! Never: loads sessions, decides, or builds responses.

use std::cell::OnceCell;
use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName};
use ipnet::IpNet;

use super::path::RequestPath;
use crate::authz::rules::{Judgement, Methods, Rules};
use crate::authz::{self, Constraints};
use crate::http::request::TrustConfig;
use crate::http::request::{self, names};

/// What the connection and a trusted edge proxy say about where the request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The peer is a trusted proxy (`reverse_proxy` and `trusted_proxy_ips`).
    pub trusted: bool,
    /// `X-Forwarded-Host` from a trusted proxy, else `Host` (or the HTTP/2 authority).
    pub host: String,
    /// `X-Forwarded-Proto` from a trusted proxy, else the listener's scheme.
    pub proto: String,
    /// The client's address: the peer's, or from a trusted proxy the real-IP header; `None`
    /// when a trusted proxy sent none, or one that does not parse (unknown is never trusted).
    pub client_ip: Option<IpAddr>,
}

impl Edge {
    pub fn read(req: &HttpRequest, trust: &TrustConfig) -> Edge {
        // A dual-stack listener reports IPv4 clients as `::ffff:a.b.c.d`: the same address.
        let peer = req.peer_addr().map(|p| p.ip().to_canonical());
        // A unix-socket peer is a local process the socket file's permissions let in: with
        // reverse_proxy it is the edge, as a loopback peer is.
        let unix = peer.is_none() && req.conn_data::<request::UnixPeer>().is_some();
        let trusted = trust.reverse_proxy && (unix || peer.is_some_and(|ip| contains(&trust.trusted_proxy_ips, ip)));
        let first = |name: &HeaderName| {
            request::header(req, name).map(|v| v.split(',').next().unwrap_or("").trim().to_string()).filter(|v| !v.is_empty())
        };
        let host = trusted.then(|| first(&names::X_FORWARDED_HOST)).flatten().unwrap_or_else(|| request::host(req));
        let proto = trusted
            .then(|| first(&names::X_FORWARDED_PROTO))
            .flatten()
            .unwrap_or_else(|| if req.app_config().secure() { "https".into() } else { "http".into() });
        let client_ip = if trusted { real_client_ip(req, trust) } else { peer };
        Edge { trusted, host, proto, client_ip }
    }
}

fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

/// The client address a trusted proxy reports. `X-Forwarded-For` (every copy, in order) is
/// read from the right: the first address that is not a trusted proxy is the client, since
/// everything left of it was written by whoever connected. Any other header must be exactly
/// one address (a port allowed). Missing, repeated or unparsable: unknown.
fn real_client_ip(req: &HttpRequest, trust: &TrustConfig) -> Option<IpAddr> {
    let name = &trust.real_client_ip_header;
    let mut values = req.headers().get_all(name);
    if *name == names::X_FORWARDED_FOR {
        let lines: Option<Vec<&str>> = values.map(request::visible_ascii).collect();
        let joined = lines?.join(",");
        let hops: Option<Vec<IpAddr>> = joined.split(',').map(parse_ip).collect();
        let hops = hops?;
        // Every hop a trusted proxy: the edge's own peer, the one address nobody wrote.
        return hops.iter().rev().find(|ip| !contains(&trust.trusted_proxy_ips, **ip)).or(hops.last()).copied();
    }
    let value = request::visible_ascii(values.next()?)?;
    if values.next().is_some() {
        return None;
    }
    parse_ip(value)
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`.
/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are their IPv4 address, as in Go.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.parse::<IpAddr>().ok().or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip())).map(|ip| ip.to_canonical())
}

/// A request judged by the gate.
#[derive(Debug, Clone)]
pub struct View {
    /// The method the request is about: a trusted proxy's `X-Forwarded-Method` in a check,
    /// else the request line's. Used to narrow (API or navigation).
    pub method: Method,
    /// Every statement of the method agrees with the request line: a forwarded method (present,
    /// single, valid and equal), and no method-override header an app would obey. Only then
    /// may a method rule or a preflight widen access.
    method_agrees: bool,
    /// Path and query as received, still percent-encoded: what a proxied request forwards.
    pub uri: String,
    /// The path's readings, once a decision needs them (a request with a valid session never
    /// does: the hot path of every check stays free of decoding).
    path: OnceCell<RequestPath>,
    /// The path is what it claims to be; `false` for several forwarded copies, one that is
    /// not text, or a check that names none (no rule may skip then).
    path_known: bool,
    /// The path is the check's own (Envoy's path form) or the proxied request's, not a
    /// forwarded header.
    pub path_from_request_line: bool,
    pub edge: Edge,
    /// Every source's constraints; all of them must hold.
    pub constraints: Vec<Constraints>,
    /// Who is asking, once a refusal needs to know how to answer.
    client: OnceCell<Client>,
    /// The method the request states, for `route_rules`: its own, or a trusted proxy's
    /// forwarded one; `None` when a check does not say (no single valid `X-Forwarded-Method`).
    stated: Option<Method>,
    /// The methods its method-override headers name, upper-cased (read only when there are
    /// any: the hot path of a check allocates nothing for them).
    overrides: Vec<String>,
}

/// Who is asking, for the form of an answer (never for access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// A person loading a page (GET or HEAD, HTML wanted, not an API route or XHR).
    pub navigation: bool,
    /// An API client: JSON errors (`force_json_errors`, `Accept: application/json`, `api_routes`).
    pub api: bool,
}

impl View {
    /// A forward-auth check. `envoy_tail` is the original path Envoy appended to the check
    /// path, as received (`/oauth2/auth/<tail>`): decoded once, like any path.
    pub fn check(req: &HttpRequest, trust: &TrustConfig, envoy_tail: Option<&str>) -> View {
        let edge = Edge::read(req, trust);
        let line_method = req.method().clone();
        let (method, agrees, uri, known, from_line, stated) = match envoy_tail {
            Some(tail) => {
                let mut uri = tail.to_string();
                if !req.query_string().is_empty() {
                    uri.push('?');
                    uri.push_str(req.query_string());
                }
                (line_method.clone(), true, uri, true, true, Some(line_method.clone()))
            }
            None => {
                let forwarded = edge.trusted.then(|| single(req, &names::X_FORWARDED_METHOD)).flatten();
                // `stated`: the original request's method, when a trusted proxy said it once.
                let (method, agrees, stated) = match forwarded {
                    None => (line_method.clone(), true, None),
                    Some(Ok(m)) => match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
                        Ok(m) => {
                            let agrees = m == line_method;
                            (m.clone(), agrees, Some(m))
                        }
                        Err(_) => (line_method.clone(), false, None),
                    },
                    // Two copies, or one that is not text: it says nothing, and may not widen.
                    Some(Err(_)) => (line_method.clone(), false, None),
                };
                let (uri, known, from_line) = match edge.trusted.then(|| single(req, &names::X_FORWARDED_URI)).flatten() {
                    Some(Ok(uri)) => (uri.to_string(), true, false),
                    Some(Err(first)) => (first.to_string(), false, false),
                    // A check that does not say what it is about: its own path describes no
                    // request (a negated rule would match it), so no rule may skip on it.
                    None => (line_uri(req), false, true),
                };
                (method, agrees, uri, known, from_line, stated)
            }
        };
        let mut constraints = Vec::new();
        if envoy_tail.is_none() {
            // The check's own query (`/oauth2/auth?allowed_groups=admins`), written by the
            // operator in the edge configuration. In Envoy's form the query is the client's.
            constraints.extend(query_constraints(req));
        }
        constraints.extend(header_constraints(req));
        View::finish(req, (method, stated), agrees, uri, known, from_line, edge, constraints)
    }

    /// A request Envoy describes in a gRPC `CheckRequest` (`endpoints::grpc`), made into `req`:
    /// judged as itself, like a proxied one. `edge` is what Envoy says of it (its source
    /// address, the original host and scheme); `context` holds the route's
    /// `context_extensions` constraints, the operator's, which narrow like a check's query.
    pub fn described(req: &HttpRequest, edge: Edge, context: Vec<Constraints>) -> View {
        let mut constraints = context;
        constraints.extend(query_constraints(req));
        constraints.extend(header_constraints(req));
        let method = req.method().clone();
        View::finish(req, (method.clone(), Some(method)), true, line_uri(req), true, true, edge, constraints)
    }

    /// A request for an upstream: judged as itself, and forwarded as itself. Forwarded
    /// URI and method headers never decide here (they describe some other request).
    pub fn proxied(req: &HttpRequest, trust: &TrustConfig) -> View {
        let edge = Edge::read(req, trust);
        let constraints = query_constraints(req).into_iter().collect();
        View::finish(req, (req.method().clone(), Some(req.method().clone())), true, line_uri(req), true, true, edge, constraints)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        req: &HttpRequest,
        (method, stated): (Method, Option<Method>),
        method_agrees: bool,
        uri: String,
        path_known: bool,
        path_from_request_line: bool,
        edge: Edge,
        constraints: Vec<Constraints>,
    ) -> View {
        // An app that obeys a method override would run another method than the one judged.
        let overridden = METHOD_OVERRIDES.iter().any(|h| req.headers().contains_key(h));
        let mut overrides = Vec::new();
        if overridden {
            for name in &METHOD_OVERRIDES {
                for value in req.headers().get_all(name) {
                    overrides.extend(String::from_utf8_lossy(value.as_bytes()).split(',').map(|m| m.trim().to_ascii_uppercase()));
                }
            }
        }
        View {
            method,
            method_agrees: method_agrees && !overridden,
            uri,
            path: OnceCell::new(),
            path_known,
            path_from_request_line,
            edge,
            constraints,
            client: OnceCell::new(),
            stated,
            overrides,
        }
    }

    /// The path's readings (computed on first use).
    pub fn path(&self) -> &RequestPath {
        self.path.get_or_init(|| if self.path_known { RequestPath::parse(&self.uri) } else { RequestPath::ambiguous(&self.uri) })
    }

    /// Who is asking (read on first use, from the request this view was made of).
    pub fn client(&self, req: &HttpRequest, authz: &authz::Config) -> Client {
        *self.client.get_or_init(|| {
            let api_route = authz.api_routes.iter().any(|r| r.is_match(&self.uri) && r.is_match(&normalised_uri(self.path(), &self.uri)));
            let accept = request::header(req, header::ACCEPT).unwrap_or("");
            let api = authz.force_json_errors || accept.contains("application/json") || api_route;
            let xhr = request::header(req, &names::X_REQUESTED_WITH).is_some_and(|v| v.eq_ignore_ascii_case("XMLHttpRequest"));
            let navigation = !authz.force_json_errors
                && !api_route
                && !xhr
                && matches!(self.method, Method::GET | Method::HEAD)
                && match request::header(req, &names::SEC_FETCH_MODE) {
                    Some(mode) => mode.eq_ignore_ascii_case("navigate"),
                    None => accept.contains("text/html"),
                };
            Client { navigation, api }
        })
    }

    /// Does the request pass without a session (oauth2-proxy's `IsAllowedRequest`)? Each
    /// input must hold in every reading: the method in the request line and the forwarded
    /// header, the path decoded and normalised (and plain, see [`RequestPath`]).
    pub fn allowed_without_auth(&self, cfg: &authz::Config) -> bool {
        let m = self.method.as_str();
        let preflight = cfg.skip_auth_preflight && self.method_agrees && m == "OPTIONS";
        // A rule without a method does not care which one; a rule with one needs agreement.
        let route = !cfg.skip_auth_routes.is_empty() && {
            let path = self.path();
            path.plain
                && cfg
                    .skip_auth_routes
                    .iter()
                    .any(|r| (r.method.is_none() || self.method_agrees) && r.matches(m, &path.decoded) && r.matches(m, &path.normalised))
        };
        let ip = self.edge.client_ip.is_some_and(|ip| contains(&cfg.trusted_ips, ip));
        preflight || route || ip
    }

    /// What `route_rules` say about this request, over both readings of its path. An `allow`
    /// widens only as a skip route does: on a plain path whose method agrees everywhere.
    pub fn judge_rules(&self, rules: &Rules) -> Judgement {
        if rules.is_empty() {
            return Judgement::NoRule;
        }
        // Rules see every method the app might run: the stated one and each override's.
        let stated: Option<Vec<String>> =
            self.stated.as_ref().map(|m| std::iter::once(m.as_str().to_ascii_uppercase()).chain(self.overrides.iter().cloned()).collect());
        let methods = match &stated {
            Some(all) => Methods::Known(all),
            None => Methods::Unknown,
        };
        if !self.path_known {
            // A check that does not say which request it is about (no X-Forwarded-Uri, or
            // several): its own path would match no rule, and a narrowing rule would not apply.
            return rules.judge_unknown_path(methods, &self.edge.host);
        }
        let path = self.path();
        let may_widen = path.plain && self.method_agrees;
        rules.judge(methods, &self.edge.host, &[&path.decoded, &path.normalised], may_widen)
    }

    /// Do the session's email and groups meet every constraint of every source?
    pub fn constraints_allow(&self, email: &str, groups: &[String]) -> bool {
        self.constraints.iter().all(|c| c.allow(email, groups))
    }
}

/// Headers with which frameworks (Rails, Express, Laravel, ASP.NET) let a `POST` act as
/// another method.
const METHOD_OVERRIDES: [HeaderName; 3] = [
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

/// The request line's path and query, as received.
fn line_uri(req: &HttpRequest) -> String {
    request::received_target(req)
}

/// The normalised path with the query as received, for `api_routes` (which see the query).
fn normalised_uri(path: &RequestPath, uri: &str) -> String {
    match uri.split_once('?') {
        Some((_, q)) => format!("{}?{q}", path.normalised),
        None => path.normalised.clone(),
    }
}

/// A forwarded header that must appear at most once: `Ok(value)`, or `Err(first)` when there
/// are several copies (a client's and a proxy's that appended instead of replacing), or a
/// value that is not text.
fn single<'a>(req: &'a HttpRequest, name: &HeaderName) -> Option<Result<&'a str, &'a str>> {
    let mut all = req.headers().get_all(name);
    let first = all.next()?;
    let Some(text) = request::visible_ascii(first) else { return Some(Err("/")) };
    if all.next().is_some() { Some(Err(text)) } else { Some(Ok(text)) }
}

/// The `X-Gatehouse-Allowed-*` constraints, from any sender: each copy is its own constraint
/// and can only narrow, and ignoring the copy of an edge that is not (yet) a trusted proxy
/// would drop a route's rule.
fn header_constraints(req: &HttpRequest) -> Vec<Constraints> {
    let mut constraints = Vec::new();
    for (key, name) in [
        ("allowed_groups", &names::X_GATEHOUSE_ALLOWED_GROUPS),
        ("allowed_emails", &names::X_GATEHOUSE_ALLOWED_EMAILS),
        ("allowed_email_domains", &names::X_GATEHOUSE_ALLOWED_EMAIL_DOMAINS),
    ] {
        for value in req.headers().get_all(name) {
            let mut c = Constraints::default();
            // A value that is not text cannot be met.
            c.add(key, request::visible_ascii(value).unwrap_or("\u{0}"));
            constraints.push(c);
        }
    }
    constraints
}

/// The constraints in the query string, if it holds any (none: no allocation on the hot path).
fn query_constraints(req: &HttpRequest) -> Option<Constraints> {
    if req.query_string().is_empty() {
        return None;
    }
    let mut c = Constraints::default();
    for (k, v) in request::query(req, &[]).unwrap_or_default() {
        c.add(&k, &v);
    }
    (c != Constraints::default()).then_some(c)
}
