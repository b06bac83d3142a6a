//! Prometheus metrics: oauth2-proxy's series (so existing dashboards keep working) and
//! Gatehouse's own, served on `metrics_address` (every path, as oauth2-proxy does).
//!
//! Invariant: labels come from small fixed sets (status code, method, outcome); never a user,
//! an email, a path or a token, which would leak identities and explode cardinality.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<Labels, Counter>,
    pub in_flight: Gauge,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    auth: Family<Labels, Counter>,
    logins: Family<Labels, Counter>,
    refreshes: Family<Labels, Counter>,
    bearer: Family<Labels, Counter>,
    basic: Family<Labels, Counter>,
    upstream_errors: Family<Labels, Counter>,
    pub store_errors: Counter,
    idp: Family<Labels, Histogram, fn() -> Histogram>,
    jwks: Family<Labels, Counter>,
    redis: Histogram,
    redis_errors: Counter,
    hot: Hot,
}

/// Handles already looked up for the per-request series, so counting a request allocates no
/// label set (the families hand out shared handles: a clone counts into the same series).
#[derive(Default)]
struct Hot {
    codes: HotSlots<Counter, 600>,
    methods: HotSlots<Histogram, 8>,
    auth: HotSlots<Counter, 4>,
}

struct HotSlots<T, const N: usize>([std::sync::OnceLock<T>; N]);

impl<T, const N: usize> Default for HotSlots<T, N> {
    fn default() -> Self {
        HotSlots(std::array::from_fn(|_| std::sync::OnceLock::new()))
    }
}

impl<T: Clone, const N: usize> HotSlots<T, N> {
    fn get(&self, i: usize, make: impl FnOnce() -> T) -> Option<&T> {
        self.0.get(i).map(|slot| slot.get_or_init(make))
    }
}

/// Sub-millisecond buckets for Redis, where the default buckets would put everything in the first.
fn fast_buckets() -> Histogram {
    Histogram::new([0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0])
}

/// One more in the series of a one-label counter family (outcomes, not per-request hot paths).
fn inc(family: &Family<Labels, Counter>, label: &'static str, value: &'static str) {
    family.get_or_create(&vec![(label, value.to_string())]).inc();
}

fn buckets() -> Histogram {
    // Prometheus's default buckets, as oauth2-proxy uses.
    Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::default();
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            requests: Family::default(),
            in_flight: Gauge::default(),
            duration: Family::new_with_constructor(buckets as fn() -> Histogram),
            auth: Family::default(),
            logins: Family::default(),
            refreshes: Family::default(),
            bearer: Family::default(),
            basic: Family::default(),
            upstream_errors: Family::default(),
            store_errors: Counter::default(),
            idp: Family::new_with_constructor(buckets as fn() -> Histogram),
            jwks: Family::default(),
            redis: fast_buckets(),
            redis_errors: Counter::default(),
            hot: Hot::default(),
        };
        r.register("oauth2_proxy_requests", "Requests served, by status code", m.requests.clone());
        r.register("oauth2_proxy_requests_in_flight", "Requests being served", m.in_flight.clone());
        r.register("oauth2_proxy_response_duration_seconds", "Time to answer, by method", m.duration.clone());
        r.register(
            "gatehouse_auth_decisions",
            "Forward-auth and proxy decisions: authenticated, unauthenticated, forbidden, skipped",
            m.auth.clone(),
        );
        r.register("gatehouse_logins", "Logins at the callback, by result", m.logins.clone());
        r.register("gatehouse_refreshes", "Session refreshes with the refresh token, by result", m.refreshes.clone());
        r.register(
            "gatehouse_bearer_tokens",
            "Bearer tokens: cached (no signature check), verified (one check), refused",
            m.bearer.clone(),
        );
        r.register(
            "gatehouse_htpasswd_checks",
            "htpasswd credentials (Basic auth and the sign-in form): accepted, refused, limited",
            m.basic.clone(),
        );
        r.register("gatehouse_upstream_errors", "Upstream failures, by kind", m.upstream_errors.clone());
        r.register("gatehouse_session_store_errors", "Session store failures (Redis unreachable)", m.store_errors.clone());
        r.register(
            "gatehouse_idp_request_duration_seconds",
            "Calls to the identity provider, by endpoint (discovery, jwks, token, userinfo, logout) and result (ok, error)",
            m.idp.clone(),
        );
        r.register("gatehouse_jwks_refreshes", "Signing key refetches for an unknown key id, by result", m.jwks.clone());
        r.register("gatehouse_redis_command_duration_seconds", "Redis command latency", m.redis.clone());
        r.register("gatehouse_redis_errors", "Redis commands that failed or timed out", m.redis_errors.clone());
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = r;
        m
    }
}

impl Metrics {
    pub fn request(&self, code: u16, method: &str, seconds: f64) {
        let make = || self.requests.get_or_create(&vec![("code", code.to_string())]).clone();
        match self.hot.codes.get(code as usize, make) {
            Some(c) => c.inc(),
            None => make().inc(),
        };
        const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"];
        let i = METHODS.iter().position(|m| *m == method).unwrap_or(METHODS.len() - 1);
        let make = || self.duration.get_or_create(&vec![("method", METHODS[i].to_string())]).clone();
        if let Some(h) = self.hot.methods.get(i, make) {
            h.observe(seconds);
        }
    }

    /// `authenticated`, `unauthenticated`, `forbidden` or `skipped`.
    pub fn auth(&self, result: &'static str) {
        const RESULTS: [&str; 4] = ["authenticated", "unauthenticated", "forbidden", "skipped"];
        let make = || self.auth.get_or_create(&vec![("result", result.to_string())]).clone();
        match RESULTS.iter().position(|r| *r == result).and_then(|i| self.hot.auth.get(i, make)) {
            Some(c) => c.inc(),
            None => make().inc(),
        };
    }

    /// `success`, or the failure's class.
    pub fn login(&self, result: &'static str) {
        inc(&self.logins, "result", result);
    }

    /// `refreshed`, `ended` or `failed`.
    pub fn refresh(&self, result: &'static str) {
        inc(&self.refreshes, "result", result);
    }

    /// `cached`, `verified` or `refused`.
    pub fn bearer(&self, result: &'static str) {
        inc(&self.bearer, "result", result);
    }

    /// `accepted`, `refused` or `limited`.
    pub fn htpasswd(&self, result: &'static str) {
        inc(&self.basic, "result", result);
    }

    /// A call to the identity provider.
    pub fn idp(&self, endpoint: &'static str, seconds: f64, ok: bool) {
        let labels = vec![("endpoint", endpoint.to_string()), ("result", if ok { "ok" } else { "error" }.to_string())];
        self.idp.get_or_create(&labels).observe(seconds);
    }

    /// `ok` or `failed`.
    pub fn jwks_refresh(&self, result: &'static str) {
        inc(&self.jwks, "result", result);
    }

    /// One Redis command.
    pub fn redis(&self, seconds: f64, ok: bool) {
        self.redis.observe(seconds);
        if !ok {
            self.redis_errors.inc();
        }
    }

    /// `unreachable` or `timeout`.
    pub fn upstream_error(&self, kind: &'static str) {
        inc(&self.upstream_errors, "kind", kind);
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry.lock().unwrap_or_else(|e| e.into_inner()));
        out
    }
}
