//! Ending sessions from outside the browser (a back-channel logout, an operator's revoke):
//! whose sessions end, the in-memory record of it that every load consults, and the memory of
//! logout tokens already honoured.
//!
//! A Redis store also deletes the sessions themselves through its index (`redis::index`);
//! this record is what ends sessions that live only in browsers' cookies. Held in this
//! process's memory: an instance that did not receive the logout does not know of it.
//! Never: reads requests or verifies tokens; it is told who, and when.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::SessionState;
use super::state::{FUTURE_SKEW_SECS, now, now_millis};

/// Whose sessions end.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// Every session opened in this provider session (`sid`).
    Sid(String),
    /// Every session of this user (`sub`, which is the session's `user`).
    User(String),
    /// The sessions of this user that name no provider session: a logout of one provider
    /// session cannot tell which of them it opened, so it ends them all (fail closed).
    Unbound(String),
}

impl Subject {
    /// The key-space name: `sid` and `sub` values never meet.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Sid(_) => "sid",
            Subject::User(_) => "sub",
            Subject::Unbound(_) => "unbound",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Subject::Sid(v) | Subject::User(v) | Subject::Unbound(v) => v,
        }
    }

    /// The subjects a session can be ended by. None for a local (htpasswd) user: a provider's
    /// `sub` that happens to equal a local user name is not that user (a local user is ended by
    /// removing them from the file).
    pub fn of(session: &SessionState) -> Vec<Subject> {
        if session.htpasswd {
            return Vec::new();
        }
        let bound = match &session.sid {
            Some(sid) => Subject::Sid(sid.clone()),
            None => Subject::Unbound(session.user.clone()),
        };
        vec![Subject::User(session.user.clone()), bound]
    }

    /// Whether a logout of this subject at `at` ends a session logged in at `login_at` (both
    /// Unix milliseconds). A provider session, once logged out, is over whenever our login
    /// happened (its `sid` is never reused, and instances' clocks differ); a user's sessions
    /// end only up to the logout, so their next login is untouched.
    pub fn ends(&self, login_at: u64, at: u64) -> bool {
        match self {
            Subject::Sid(_) => true,
            Subject::User(_) | Subject::Unbound(_) => login_at <= at,
        }
    }

    /// Whose sessions a logout token naming `sid` and/or `sub` ends (Back-Channel Logout 2.7):
    /// those of the provider session when it names one (and the user's sessions that name
    /// none), else every session of the user.
    pub fn logged_out(sid: Option<&str>, sub: Option<&str>) -> Vec<Subject> {
        match (sid, sub) {
            (Some(sid), Some(sub)) => vec![Subject::Sid(sid.to_string()), Subject::Unbound(sub.to_string())],
            (Some(sid), None) => vec![Subject::Sid(sid.to_string())],
            (None, Some(sub)) => vec![Subject::User(sub.to_string())],
            (None, None) => Vec::new(),
        }
    }
}

/// Each entry at most this many: a flood of distinct logouts (they are signed by the
/// provider, so this is a provider gone wrong) cannot grow memory without bound. The oldest
/// go first.
const MAX_ENTRIES: usize = 100_000;

/// Who was logged out, and when (Unix milliseconds): a session of theirs whose login is not
/// later than that has ended.
pub struct Revocations {
    entries: Mutex<HashMap<Subject, u64>>,
    /// False until the first entry: loads skip the lock while nobody was ever logged out.
    any: AtomicBool,
    /// How long an entry matters: a session logged in before it cannot outlive the session
    /// lifetime (`cookie_expire`), as it is refused, so never refreshed, since. `None`:
    /// sessions have no lifetime, and entries are kept.
    horizon: Option<Duration>,
}

impl Revocations {
    pub fn new(session_lifetime: Duration) -> Revocations {
        let horizon = (!session_lifetime.is_zero()).then(|| session_lifetime + Duration::from_secs(FUTURE_SKEW_SECS));
        Revocations { entries: Mutex::new(HashMap::new()), any: AtomicBool::new(false), horizon }
    }

    /// Ends every session of `who` logged in at or before `at` (Unix milliseconds).
    pub fn record(&self, who: &Subject, at: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(horizon) = self.horizon {
            let oldest = now_millis().saturating_sub(horizon.as_millis() as u64);
            entries.retain(|_, at| *at >= oldest);
        }
        if entries.len() >= MAX_ENTRIES
            && let Some(oldest) = entries.iter().min_by_key(|(_, at)| **at).map(|(k, _)| k.clone())
        {
            log::warn!("more than {MAX_ENTRIES} logouts remembered; forgetting the oldest");
            entries.remove(&oldest);
        }
        let when = entries.entry(who.clone()).or_insert(at);
        *when = (*when).max(at);
        self.any.store(true, Ordering::Release);
    }

    /// Whether a logout recorded here ended `session`.
    pub fn ended(&self, session: &SessionState) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Subject::of(session).iter().any(|who| entries.get(who).is_some_and(|at| who.ends(session.login_at, *at)))
    }
}

/// Logout tokens already honoured, by `jti`, until they are too old to be accepted anyway.
#[derive(Default)]
pub struct SeenTokens {
    until: Mutex<HashMap<[u8; 32], u64>>,
}

impl SeenTokens {
    /// True the first time `jti` is shown (remembered for `ttl`), false after.
    pub fn first_sight(&self, jti: &str, ttl: Duration) -> bool {
        let now = now();
        let jti = digest(jti);
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        until.retain(|_, t| *t > now);
        if until.contains_key(&jti) {
            return false;
        }
        if until.len() >= MAX_ENTRIES
            && let Some(oldest) = until.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k)
        {
            until.remove(&oldest);
        }
        until.insert(jti, now + ttl.as_secs());
        true
    }

    /// Forgets `jti`: the logout it carried could not be carried out, and the provider may
    /// send it again.
    pub fn forget(&self, jti: &str) {
        self.until.lock().unwrap_or_else(|e| e.into_inner()).remove(&digest(jti));
    }
}

/// A `jti` as remembered: its SHA-256 (a provider's identifiers may be long).
fn digest(jti: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, jti.as_bytes()).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user: &str, sid: Option<&str>, login_at: u64) -> SessionState {
        SessionState { user: user.into(), sid: sid.map(str::to_string), login_at, ..SessionState::default() }
    }

    #[test]
    fn a_logout_ends_the_sessions_logged_in_before_it_and_no_others() {
        let r = Revocations::new(Duration::from_secs(3600));
        let t = now_millis();
        assert!(!r.ended(&session("alice", Some("s1"), t - 10)));
        r.record(&Subject::Sid("s1".into()), t);
        assert!(r.ended(&session("alice", Some("s1"), t - 10)), "logged in before, in that provider session");
        assert!(r.ended(&session("alice", Some("s1"), t)), "in the same millisecond: ended (fail closed)");
        assert!(r.ended(&session("alice", Some("s1"), t + 1)), "a provider session once logged out is over, whatever the clocks say");
        assert!(!r.ended(&session("alice", Some("s2"), t - 10)), "another provider session of alice");
        assert!(!r.ended(&session("bob", None, t - 10)));
        r.record(&Subject::User("alice".into()), t);
        assert!(r.ended(&session("alice", Some("s2"), t - 10)), "every session of the user");
        assert!(r.ended(&session("alice", None, 0)), "a session without a login time counts as before");
        assert!(!r.ended(&session("alice", None, t + 1)), "logged in after the logout of the user");
        assert!(!r.ended(&session("bob", None, 0)));
        let local = SessionState { htpasswd: true, ..session("alice", None, 0) };
        assert!(!r.ended(&local), "a local user named like the provider's is not theirs");
        // A sid that equals a user name ends nobody by name.
        r.record(&Subject::Sid("bob".into()), t);
        assert!(!r.ended(&session("bob", None, 0)));
    }

    #[test]
    fn a_logout_of_one_provider_session_also_ends_the_users_sessions_that_name_none() {
        let r = Revocations::new(Duration::from_secs(3600));
        let t = now_millis();
        for who in Subject::logged_out(Some("s1"), Some("carol")) {
            r.record(&who, t);
        }
        assert!(r.ended(&session("carol", Some("s1"), t - 1)));
        assert!(r.ended(&session("carol", None, t - 1)), "which provider session it was is unknown");
        assert!(!r.ended(&session("carol", Some("s2"), t - 1)), "another provider session stays");
        assert!(Subject::logged_out(None, None).is_empty());
    }

    #[test]
    fn a_jti_is_honoured_once() {
        let seen = SeenTokens::default();
        assert!(seen.first_sight("j1", Duration::from_secs(60)));
        assert!(!seen.first_sight("j1", Duration::from_secs(60)));
        assert!(seen.first_sight("j2", Duration::from_secs(60)));
        seen.forget("j1");
        assert!(seen.first_sight("j1", Duration::from_secs(60)), "a logout that failed may come again");
    }
}
