//! Which tickets belong to whom: the index a back-channel logout or a revoke ends sessions
//! through, without `KEYS` or `SCAN`.
//!
//! For each user (`sub`) and each provider session (`sid`) a hash maps ticket ids to their
//! login time. It is written whenever a session is (so it outlives each of its sessions, and
//! a session from before the index is indexed at its next refresh), its entry removed at
//! sign-out; entries of expired sessions go with the hash, which expires with the last write.
//! Keys hold a SHA-256 of the `sub` or `sid`: a Redis dump names no user, and no value the
//! provider chose can shape a key (Cluster hash tags, length).
//!
//! A logout also leaves a record (`<name>-ended-<kind>-<hash>`: when), read back by a login
//! that saved its session meanwhile, so a login racing a logout of its provider session never
//! outlives it.

use std::time::Duration;

use super::{RedisStore, Ticket};
use crate::session::ending::Subject;
use crate::session::{Operation, SessionState, StoreError, now_millis};

/// `<kind>-<SHA-256 of value, hex>`.
fn hashed(kind: &str, value: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{kind}-{hex}")
}

/// Records a logout's time unless a later one is recorded (instances' clocks differ): a
/// later logout never lets an earlier one's sessions back in. `ARGV[2]`: seconds to keep it
/// (0: for ever).
const RECORD_LATEST: &str = "local v = tonumber(redis.call('get', KEYS[1]) or '0') \
if tonumber(ARGV[1]) > v then redis.call('set', KEYS[1], ARGV[1]) end \
if ARGV[2] ~= '0' then redis.call('expire', KEYS[1], ARGV[2]) end return 1";

/// Past this many entries, a user's index is pruned of the sessions that are gone when one
/// more is written (a user who never signs out adds one per login).
const PRUNE_ABOVE: usize = 64;

/// A session of a user, as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndexedSession {
    /// The ticket id (the Redis key of the sealed session).
    pub ticket: String,
    /// When it logged in (Unix milliseconds; 0 when unknown).
    pub login_at: u64,
    /// Seconds it has left in Redis; `None`: no expiry (`cookie_expire = 0`).
    pub ttl: Option<u64>,
}

impl RedisStore {
    fn index_key(&self, who: &Subject) -> String {
        format!("{}-index-{}", self.cookies.config().name, hashed(who.kind(), who.value()))
    }

    fn ended_key(&self, who: &Subject) -> String {
        format!("{}-ended-{}", self.cookies.config().name, hashed(who.kind(), who.value()))
    }

    /// How long index entries and logout records live: the session lifetime.
    fn lifetime(&self) -> Option<Duration> {
        let ttl = self.cookies.config().expire;
        (!ttl.is_zero()).then_some(ttl)
    }

    /// Adds the ticket to the session's user and provider-session indexes.
    pub(super) async fn index(&self, ticket: &Ticket, session: &SessionState) -> Result<(), StoreError> {
        for who in Subject::of(session) {
            let key = self.index_key(&who);
            self.query::<()>(redis::cmd("HSET").arg(&key).arg(&ticket.id).arg(session.login_at)).await?;
            if let Some(ttl) = self.lifetime() {
                self.query::<()>(redis::cmd("EXPIRE").arg(&key).arg(ttl.as_secs().max(1))).await?;
            }
            if matches!(who, Subject::User(_)) && self.query::<usize>(redis::cmd("HLEN").arg(&key)).await? > PRUNE_ABOVE {
                self.sessions_of(&who).await?;
            }
        }
        Ok(())
    }

    /// Removes a signed-out ticket from its indexes.
    pub(super) async fn unindex(&self, ticket_id: &str, session: &SessionState) -> Result<(), StoreError> {
        for who in Subject::of(session) {
            self.query::<()>(redis::cmd("HDEL").arg(self.index_key(&who)).arg(ticket_id)).await?;
        }
        Ok(())
    }

    /// Whether a logout recorded since `session` logged in ended it: a login that raced a
    /// logout of its own provider session (the logout read the index before this login wrote
    /// it; this login reads the record after writing it, so one of the two sees the other).
    pub(super) async fn ended_since_login(&self, session: &SessionState) -> Result<bool, StoreError> {
        for who in Subject::of(session) {
            let at: Option<u64> = self.query(redis::cmd("GET").arg(self.ended_key(&who))).await?;
            if at.is_some_and(|at| who.ends(session.login_at, at)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Ends every session of `who` logged in at or before `at`: records the logout, then
    /// deletes each indexed ticket. Returns how many sessions were deleted.
    pub async fn end(&self, who: &Subject, at: u64) -> Result<usize, StoreError> {
        self.end_inner(who, at).await.map_err(|e| e.during(Operation::Clear))
    }

    async fn end_inner(&self, who: &Subject, at: u64) -> Result<usize, StoreError> {
        let ttl = self.lifetime().map_or(0, |t| t.as_secs().max(1));
        self.query::<i64>(redis::cmd("EVAL").arg(RECORD_LATEST).arg(1).arg(self.ended_key(who)).arg(at).arg(ttl)).await?;
        let key = self.index_key(who);
        let entries: Vec<(String, u64)> = self.query(redis::cmd("HGETALL").arg(&key)).await?;
        let mut ended = 0;
        for (ticket, _) in entries.into_iter().filter(|(_, login_at)| who.ends(*login_at, at)) {
            // One key per command: tickets lie in different Cluster slots.
            ended += self.query::<usize>(redis::cmd("DEL").arg(&ticket)).await?;
            self.query::<()>(redis::cmd("HDEL").arg(&key).arg(&ticket)).await?;
        }
        Ok(ended)
    }

    /// The live sessions the index holds for `who`, each with the time it has left; entries of
    /// sessions that are gone (signed out elsewhere, expired) are dropped from the index.
    pub async fn sessions_of(&self, who: &Subject) -> Result<Vec<IndexedSession>, StoreError> {
        let key = self.index_key(who);
        let load = |e: StoreError| e.during(Operation::Load);
        let entries: Vec<(String, u64)> = self.query(redis::cmd("HGETALL").arg(&key)).await.map_err(load)?;
        let mut sessions = Vec::with_capacity(entries.len());
        for (ticket, login_at) in entries {
            // -2: no such key; -1: no expiry.
            let ttl = match self.query::<i64>(redis::cmd("TTL").arg(&ticket)).await.map_err(load)? {
                -2 => {
                    self.query::<()>(redis::cmd("HDEL").arg(&key).arg(&ticket)).await.map_err(load)?;
                    continue;
                }
                -1 => None,
                t => Some(t.max(0) as u64),
            };
            sessions.push(IndexedSession { ticket, login_at, ttl });
        }
        sessions.sort_by_key(|s| s.login_at);
        Ok(sessions)
    }

    fn jti_key(&self, jti: &str) -> String {
        format!("{}-jti-{}", self.cookies.config().name, hashed("jti", jti))
    }

    /// Forgets a `jti` whose logout could not be carried out: the provider may send it again.
    pub async fn forget_sight(&self, jti: &str) -> Result<(), StoreError> {
        self.query::<()>(redis::cmd("DEL").arg(self.jti_key(jti))).await.map_err(|e| e.during(Operation::Clear))
    }

    /// True the first time a logout token's `jti` is shown to any instance.
    pub async fn first_sight(&self, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = self.jti_key(jti);
        let set: Option<String> = self
            .query(redis::cmd("SET").arg(&key).arg(now_millis()).arg("NX").arg("EX").arg(ttl.as_secs().max(1)))
            .await
            .map_err(|e| e.during(Operation::Save))?;
        Ok(set.is_some())
    }
}
