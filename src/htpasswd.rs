//! `htpasswd_file`: users and password hashes for HTTP Basic auth and the sign-in form.
//!
//! Owns parsing the file (bcrypt `$2a$`/`$2b$`/`$2y$` and `{SHA}` entries, as oauth2-proxy
//! accepts) and checking a user's password against it. A successful check is remembered
//! (bounded, keyed by a hash of the user, the password and the entry), so Basic auth on every
//! forward-auth request costs one bcrypt per credential, not one per request.
//!
//! Guessing is bounded: at most [`BCRYPT_AT_ONCE`] bcrypt checks run at a time (others wait),
//! and after [`FAILURES`] wrong passwords for one (existing) user from one address within [`WINDOW`],
//! that pair is refused without a check until the window ends ([`Outcome::Limited`], a 429).
//!
//! Never touches HTTP and never logs a password or a hash. Reloading the file when it changes
//! is `reload::Watched`'s job; a changed entry misses the remembered checks by construction.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::reload::Watched;

/// How many successful checks are remembered before the memory is cleared.
const REMEMBERED: usize = 4096;

#[derive(Clone, PartialEq, Eq)]
enum Hash {
    Bcrypt(String),
    Sha1(Vec<u8>),
}

/// The users of one version of the file.
#[derive(Default)]
pub struct Users {
    users: HashMap<String, Hash>,
}

impl std::fmt::Debug for Users {
    // The hashes stay out of logs; the user count is enough to debug with.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").field("count", &self.users.len()).finish()
    }
}

impl Users {
    /// Parses an htpasswd file. Every bad line is reported (with its number), none skipped:
    /// a silently ignored entry would lock a user out without a word.
    pub fn parse(text: &str) -> Result<Users, String> {
        let mut users = HashMap::new();
        let mut problems = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let n = i + 1;
            let Some((user, hash)) = line.split_once(':') else {
                problems.push(format!("line {n} is not user:hash"));
                continue;
            };
            let hash = if let Some(b64) = hash.strip_prefix("{SHA}") {
                match STANDARD.decode(b64) {
                    Ok(bytes) if bytes.len() == 20 => Hash::Sha1(bytes),
                    _ => {
                        problems.push(format!("line {n} (user {user}): the {{SHA}} hash is not 20 bytes of base64"));
                        continue;
                    }
                }
            } else if ["$2a$", "$2b$", "$2y$", "$2x$"].iter().any(|p| hash.starts_with(p)) && hash.len() == 60 {
                Hash::Bcrypt(hash.to_string())
            } else {
                problems.push(format!("line {n} (user {user}): only bcrypt (htpasswd -B) and {{SHA}} (htpasswd -s) hashes are accepted"));
                continue;
            };
            if user.is_empty() {
                problems.push(format!("line {n}: the user name is empty"));
            } else if users.insert(user.to_string(), hash).is_some() {
                problems.push(format!("line {n}: user {user} appears twice"));
            }
        }
        if problems.is_empty() { Ok(Users { users }) } else { Err(problems.join("; ")) }
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// The file as it is now, and the checks that passed.
pub struct Htpasswd {
    file: Arc<Watched<Users>>,
    checker: Arc<Checker>,
    bcrypt: Arc<tokio::sync::Semaphore>,
    failures: Mutex<HashMap<Attempt, (u32, Instant)>>,
}

/// Who is guessing: a user name and the client's address.
type Attempt = (String, Option<IpAddr>);

/// bcrypt checks running at once, across workers: each costs a core for tens of milliseconds,
/// so a flood of wrong passwords must queue rather than take every core.
pub const BCRYPT_AT_ONCE: usize = 4;
/// Wrong passwords allowed for one user from one address within [`WINDOW`].
pub const FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Pairs remembered at most; beyond it, entries whose window ended are dropped first.
const FAILURE_ENTRIES: usize = 10_000;

/// The answer to a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Refused,
    /// Too many recent failures for this user from this address: not checked.
    Limited,
}

impl Htpasswd {
    /// Reads the file (an error is a start-up error) and watches it for changes.
    pub fn load(path: &Path) -> anyhow::Result<Htpasswd> {
        let p = path.to_path_buf();
        let file = Watched::new("htpasswd_file", vec![p.clone()], move || {
            let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read htpasswd_file {}", p.display()))?;
            Users::parse(&text).map_err(|e| anyhow::anyhow!("htpasswd_file {}: {e}", p.display()))
        })?;
        file.watch();
        Ok(Htpasswd {
            file,
            checker: Arc::default(),
            bcrypt: Arc::new(tokio::sync::Semaphore::new(BCRYPT_AT_ONCE)),
            failures: Mutex::default(),
        })
    }

    /// Is `user` in the file as it is now?
    pub fn has_user(&self, user: &str) -> bool {
        self.file.get().users.contains_key(user)
    }

    /// Does `password` match `user`'s entry? A bcrypt check runs on a blocking thread: it is
    /// slow on purpose and must not stall the worker's other requests.
    /// `client` is the address the gate read (`None` when unknown: such clients share a limit).
    pub async fn check(&self, user: &str, password: &str, client: Option<IpAddr>) -> Outcome {
        let key = (user.to_string(), client);
        let users = self.file.get();
        // Only guesses at a real user's password count: an unknown user costs nothing and
        // can never succeed. The attempt is counted before the check (and taken back if it
        // succeeds), so a thousand guesses sent at once cannot all pass the limit first.
        let counted = users.users.contains_key(user);
        if counted && !self.attempt(&key) {
            return Outcome::Limited;
        }
        let ok = match self.checker.quick(&users, user, password) {
            Some(known) => known,
            None => {
                let Ok(_permit) = self.bcrypt.clone().acquire_owned().await else { return Outcome::Refused };
                let (checker, user, password) = (self.checker.clone(), user.to_string(), password.to_string());
                tokio::task::spawn_blocking(move || checker.check(&users, &user, &password)).await.unwrap_or(false)
            }
        };
        if !ok {
            return Outcome::Refused;
        }
        if counted {
            self.succeeded(&key);
        }
        Outcome::Accepted
    }

    /// Counts an attempt, unless the pair is already at the limit (then `false`).
    fn attempt(&self, key: &Attempt) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= FAILURE_ENTRIES && !map.contains_key(key) {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
            if map.len() >= FAILURE_ENTRIES {
                // Still full of live entries: forget the oldest half rather than grow.
                let mut ages: Vec<Instant> = map.values().map(|(_, since)| *since).collect();
                ages.sort();
                let cut = ages[ages.len() / 2];
                map.retain(|_, (_, since)| *since > cut);
            }
        }
        let entry = map.entry(key.clone()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        if entry.0 >= FAILURES {
            return false;
        }
        entry.0 += 1;
        true
    }

    /// A right password: its attempt was no guess.
    fn succeeded(&self, key: &Attempt) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get_mut(key) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }
}

/// Checks passwords, remembering the ones that matched.
#[derive(Default)]
pub struct Checker {
    remembered: RwLock<HashSet<[u8; 32]>>,
}

impl Checker {
    /// The answer when it is cheap: unknown user, a `{SHA}` entry, or a remembered success.
    /// `None` means a bcrypt check is needed.
    fn quick(&self, users: &Users, user: &str, password: &str) -> Option<bool> {
        // An unknown user is refused at once. Spending a bcrypt on it would hide which users
        // exist; oauth2-proxy does not either, and the proxy does not promise that secrecy.
        let Some(hash) = users.users.get(user) else { return Some(false) };
        if self.remembered.read().unwrap_or_else(|e| e.into_inner()).contains(&remember_key(user, password, hash)) {
            return Some(true);
        }
        match hash {
            Hash::Sha1(want) => {
                Some(verify_slices_are_equal(digest(&SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes()).as_ref(), want).is_ok())
            }
            Hash::Bcrypt(_) => None,
        }
    }

    /// The full check, remembering a bcrypt success.
    pub fn check(&self, users: &Users, user: &str, password: &str) -> bool {
        if let Some(known) = self.quick(users, user, password) {
            return known;
        }
        let Some(Hash::Bcrypt(h)) = users.users.get(user) else { return false };
        let ok = bcrypt::verify(password, h).unwrap_or(false);
        if ok {
            let key = remember_key(user, password, &users.users[user]);
            let mut set = self.remembered.write().unwrap_or_else(|e| e.into_inner());
            if set.len() >= REMEMBERED {
                set.clear();
            }
            set.insert(key);
        }
        ok
    }
}

fn remember_key(user: &str, password: &str, hash: &Hash) -> [u8; 32] {
    let mut input = Vec::with_capacity(user.len() + password.len() + 80);
    for part in [user.as_bytes(), password.as_bytes()] {
        input.extend_from_slice(&(part.len() as u64).to_le_bytes());
        input.extend_from_slice(part);
    }
    match hash {
        Hash::Bcrypt(h) => input.extend_from_slice(h.as_bytes()),
        Hash::Sha1(h) => input.extend_from_slice(h),
    }
    let d = digest(&SHA256, &input);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // alice is `htpasswd -nbs alice secret`; bob's bcrypt entry is only well-formed.
    const FILE: &str = "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\nbob:$2y$04$dY7cKQzvq1ZLwHmP0rG2Oe5GNr6bJ1w8v3zPZkB1TtCqZK1cF9W3a\n";

    #[test]
    fn sha_entries_check() {
        let users = Users::parse(FILE).unwrap();
        assert_eq!(users.len(), 2);
        let c = Checker::default();
        assert!(c.check(&users, "alice", "secret"));
        assert!(!c.check(&users, "alice", "Secret"));
        assert!(!c.check(&users, "nobody", "secret"));
    }

    #[test]
    fn bcrypt_entries_check_and_are_remembered() {
        let hash = bcrypt::hash("hunter2", 4).unwrap();
        let users = Users::parse(&format!("bob:{hash}\n")).unwrap();
        let c = Checker::default();
        assert!(c.check(&users, "bob", "hunter2"));
        assert!(c.check(&users, "bob", "hunter2"), "remembered");
        assert!(!c.check(&users, "bob", "hunter3"));
        // A new hash for the same password is a different entry: nothing stale is reused.
        let other = Users::parse(&format!("bob:{}\n", bcrypt::hash("other", 4).unwrap())).unwrap();
        assert!(!c.check(&other, "bob", "hunter2"));
    }

    #[test]
    fn every_bad_line_is_reported() {
        let e = Users::parse(
            "ok:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\nmd5:$apr1$abc$def\nplain\n:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\nok:{SHA}xx\n",
        )
        .unwrap_err();
        assert!(e.contains("line 2 (user md5)"), "{e}");
        assert!(e.contains("line 3 is not user:hash"), "{e}");
        assert!(e.contains("line 4: the user name is empty"), "{e}");
        assert!(e.contains("line 5 (user ok)"), "{e}");
    }

    #[test]
    fn debug_shows_no_hash() {
        let users = Users::parse(FILE).unwrap();
        assert_eq!(format!("{users:?}"), "Users { count: 2 }");
    }
}
