//! The per-thread memory of opened sessions: a browser sends the same cookie with every
//! request, and opening it (base64, AES-GCM, JSON) is most of what a forward-auth check costs.

use std::collections::HashMap;
use std::sync::Arc;

use super::SessionState;

/// How many opened sessions each worker thread remembers per store.
pub(super) const OPENED_CACHE: usize = 1024;

/// A session a worker thread opened, remembered by its store and exact cookie value.
#[derive(Clone)]
pub(super) struct Remembered {
    pub session: Arc<SessionState>,
    /// For a Redis session: its key and the stored value that opened. The key is read on every
    /// request (a sign-out or expiry must take effect at once); the session is reused only
    /// while the stored value is byte-for-byte this one.
    pub stored: Option<Arc<(String, Vec<u8>)>>,
}

/// One store's remembered sessions, by exact cookie value.
type Opened = HashMap<Box<str>, Remembered, ByTail>;

/// Hashes a cookie value by its last 32 bytes only (equality still compares all of it):
/// hashing all 800 and more bytes of a session cookie was 1.5% of a check. The tail of a sealed
/// value is its authentication tag (of an oauth2-proxy cookie, its signature), which differs
/// between any two cookies, and only values that opened are inserted, so nobody can fill a
/// bucket with colliding keys.
#[derive(Default)]
struct ByTail(std::hash::RandomState);

impl std::hash::BuildHasher for ByTail {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

struct TailHasher(std::hash::DefaultHasher);

impl std::hash::Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(&bytes[bytes.len().saturating_sub(32)..]);
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

thread_local! {
    /// Sessions this thread opened, by store and exact cookie value: a browser sends the same
    /// cookie with every request, and opening it (base64, AES-GCM, JSON) is most of what a
    /// forward-auth check costs. Per thread, so no lock; only values that opened go in, and
    /// the expiry is checked again on every hit. A Redis session is still read from Redis on
    /// every request ([`Remembered::stored`]).
    static OPENED: std::cell::RefCell<HashMap<u64, (u64, Opened)>> = std::cell::RefCell::default();
}

/// A store's identity in [`OPENED`], unique per process.
pub(super) fn store_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What `cookie` opened to in `store` under the key ring `generation`; nothing once the ring
/// changed (a secret taken off it must open nothing, remembered or not).
pub(super) fn remembered(store: u64, generation: u64, cookie: &str) -> Option<Remembered> {
    OPENED.with_borrow(|c| c.get(&store).filter(|(g, _)| *g == generation).and_then(|(_, m)| m.get(cookie)).cloned())
}

/// Drops what a cookie opened to (signed out, expired): its tokens need not stay in memory.
pub(super) fn forget(store: u64, cookie: &str) {
    OPENED.with_borrow_mut(|c| c.get_mut(&store).and_then(|(_, m)| m.remove(cookie)));
}

pub(super) fn remember(store: u64, generation: u64, cookie: &str, entry: Remembered) {
    OPENED.with_borrow_mut(|c| {
        let (g, mine) = c.entry(store).or_default();
        if *g != generation {
            *g = generation;
            mine.clear();
        }
        if mine.len() >= OPENED_CACHE {
            mine.clear();
        }
        mine.insert(cookie.into(), entry);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_sessions_are_found_by_the_whole_value() {
        let tail = "T".repeat(32);
        let (a, b) = (format!("first-{tail}"), format!("second-{tail}"));
        let mut opened = Opened::default();
        let session = Arc::new(SessionState { user: "alice".into(), ..SessionState::default() });
        opened.insert(a.as_str().into(), Remembered { session, stored: None });
        assert_eq!(opened.get(a.as_str()).map(|r| r.session.user.as_str()), Some("alice"));
        // Same tail, so the same hash: still not the same cookie.
        assert!(!opened.contains_key(b.as_str()));
        assert!(!opened.contains_key(tail.as_str()));
        assert!(!opened.contains_key(""));
    }
}
