//! Throttling of failed log-ins, as plain state the app keeps behind a lock.
//!
//! Each key (the app uses one for the user name and one for the client address, so that
//! neither guessing many passwords for one account nor trying one password on many accounts
//! from one address goes unchecked) may fail `max_failures` times in a window that opens at
//! its first failure; after that, [`LoginThrottle::check`] refuses it until the window ends,
//! and says how long that is. A success clears the key.
//!
//! The time is the caller's (`Instant`s passed in), so the state is pure and testable. Memory
//! is bounded whatever an attacker sends: keys are cut to [`MAX_KEY_BYTES`], windows that have
//! ended are pruned as new failures arrive, and past the entry limit the oldest entry is
//! forgotten.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The default most keys held at once.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
/// Keys are cut to this many bytes (at a character boundary). Longer keys then share an
/// entry, which only makes throttling stricter for them.
pub const MAX_KEY_BYTES: usize = 128;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// When the window opened: the first failure counted in it.
    first: Instant,
    failures: u32,
}

/// Log-in throttle state. Not synchronised: the app holds it in a `Mutex`.
#[derive(Debug)]
pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    max_entries: usize,
    entries: HashMap<Arc<str>, Entry>,
    /// Keys in the order their windows opened, for pruning and eviction from the front. A
    /// record whose entry has since been cleared or reopened is stale and skipped; the queue is
    /// compacted when stale records pile up, so it stays within twice the entry limit.
    order: VecDeque<(Arc<str>, Instant)>,
}

impl LoginThrottle {
    /// A throttle allowing `max_failures` failures per key in each `window` (at least one
    /// failure is always allowed: zero is taken as one), holding at most
    /// [`DEFAULT_MAX_ENTRIES`] keys.
    pub fn new(max_failures: u32, window: Duration) -> LoginThrottle {
        LoginThrottle::with_max_entries(max_failures, window, DEFAULT_MAX_ENTRIES)
    }

    /// As [`LoginThrottle::new`], holding at most `max_entries` keys (at least one).
    pub fn with_max_entries(
        max_failures: u32,
        window: Duration,
        max_entries: usize,
    ) -> LoginThrottle {
        LoginThrottle {
            max_failures: max_failures.max(1),
            window,
            max_entries: max_entries.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `key` may try to log in now: `Err` carries how long until it may try again.
    /// Call it before checking the password, and do not check the password when refused.
    pub fn check(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        let key = cut(key);
        let Some(entry) = self.entries.get(key).copied() else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(entry.first);
        if elapsed >= self.window {
            self.entries.remove(key);
            return Ok(());
        }
        if entry.failures >= self.max_failures {
            return Err(self.window.saturating_sub(elapsed));
        }
        Ok(())
    }

    /// Records a failed log-in for `key`.
    pub fn failure(&mut self, key: &str, now: Instant) {
        let key = cut(key);
        if let Some(entry) = self.entries.get_mut(key) {
            if now.saturating_duration_since(entry.first) < self.window {
                entry.failures = entry.failures.saturating_add(1);
                return;
            }
            self.entries.remove(key);
        }
        self.prune(now);
        while self.entries.len() >= self.max_entries {
            if !self.evict_oldest() {
                break;
            }
        }
        let key: Arc<str> = Arc::from(key);
        self.entries.insert(
            Arc::clone(&key),
            Entry {
                first: now,
                failures: 1,
            },
        );
        self.order.push_back((key, now));
        if self.order.len() > self.max_entries.saturating_mul(2) {
            self.compact();
        }
    }

    /// Records a successful log-in for `key`, which clears its failures.
    pub fn success(&mut self, key: &str) {
        self.entries.remove(cut(key));
    }

    /// How many keys are held (for metrics and tests).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets entries whose window has ended, from the front of the queue. Windows open in
    /// queue order, so the first record still in its window ends the walk.
    fn prune(&mut self, now: Instant) {
        while let Some((key, opened)) = self.order.front() {
            if now.saturating_duration_since(*opened) < self.window {
                break;
            }
            if self.entries.get(key).is_some_and(|e| e.first == *opened) {
                self.entries.remove(key);
            }
            self.order.pop_front();
        }
    }

    /// Forgets the entry whose window opened first. Returns false when there was none to find.
    fn evict_oldest(&mut self) -> bool {
        while let Some((key, opened)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|e| e.first == opened) {
                self.entries.remove(&key);
                return true;
            }
        }
        // The queue holds a record of every live entry, so this is only reached when empty;
        // clearing keeps the bound even if that ever stopped being so.
        let had = !self.entries.is_empty();
        self.entries.clear();
        had
    }

    /// Drops stale records from the queue, and duplicates: a key cleared and failed again at
    /// the same instant leaves two records that both match its entry.
    fn compact(&mut self) {
        let entries = &self.entries;
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        self.order.retain(|(key, opened)| {
            entries.get(key).is_some_and(|e| e.first == *opened) && seen.insert(Arc::clone(key))
        });
    }
}

/// The key cut to [`MAX_KEY_BYTES`] at a character boundary.
fn cut(key: &str) -> &str {
    if key.len() <= MAX_KEY_BYTES {
        return key;
    }
    let mut end = MAX_KEY_BYTES;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    key.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn locks_after_max_failures_until_the_window_ends() {
        let start = Instant::now();
        let mut t = LoginThrottle::new(3, 15 * MIN);
        for i in 0..3 {
            assert_eq!(t.check("alice", start + MIN * i), Ok(()));
            t.failure("alice", start + MIN * i);
        }
        assert_eq!(t.check("alice", start + 5 * MIN), Err(10 * MIN));
        // Other keys are untouched.
        assert_eq!(t.check("bob", start + 5 * MIN), Ok(()));
        assert_eq!(t.check("alice", start + 15 * MIN), Ok(()));
        assert!(t.is_empty(), "the ended window is forgotten");
    }

    #[test]
    fn success_clears() {
        let start = Instant::now();
        let mut t = LoginThrottle::new(2, MIN);
        t.failure("alice", start);
        t.success("alice");
        t.failure("alice", start);
        assert_eq!(t.check("alice", start), Ok(()));
        t.failure("alice", start);
        assert!(t.check("alice", start).is_err());
    }

    #[test]
    fn zero_failures_is_taken_as_one() {
        let start = Instant::now();
        let mut t = LoginThrottle::new(0, MIN);
        assert_eq!(t.check("a", start), Ok(()));
        t.failure("a", start);
        assert!(t.check("a", start).is_err());
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_go_first() {
        let start = Instant::now();
        let mut t = LoginThrottle::with_max_entries(1, MIN, 100);
        for i in 0..1_000u32 {
            t.failure(
                &format!("key{i}"),
                start + Duration::from_millis(u64::from(i)),
            );
            assert!(t.len() <= 100);
            assert!(t.order.len() <= 200);
        }
        let late = start + Duration::from_millis(1_000);
        assert_eq!(t.check("key0", late), Ok(()), "evicted");
        assert!(t.check("key999", late).is_err(), "kept");
        // Repeated failure and success on one key does not grow the queue.
        for _ in 0..10_000 {
            t.failure("x", late);
            t.success("x");
        }
        assert!(t.order.len() <= 200);
    }

    #[test]
    fn ended_windows_are_pruned_when_new_failures_arrive() {
        let start = Instant::now();
        let mut t = LoginThrottle::new(5, MIN);
        for i in 0..50 {
            t.failure(&format!("k{i}"), start);
        }
        t.failure("late", start + 2 * MIN);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn long_keys_are_cut_safely() {
        let start = Instant::now();
        let mut t = LoginThrottle::new(1, MIN);
        let long = "é".repeat(1_000);
        t.failure(&long, start);
        assert!(t.check(&long, start).is_err());
        assert!(cut(&long).len() <= MAX_KEY_BYTES);
    }

    #[test]
    fn time_going_backwards_does_not_panic() {
        let start = Instant::now() + 10 * MIN;
        let mut t = LoginThrottle::new(1, Duration::MAX);
        t.failure("a", start);
        assert!(t.check("a", start - 5 * MIN).is_err());
        t.failure("a", start - 5 * MIN);
        t.success("a");
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_bounded(
            // A small key space, so keys collide, fail again, succeed and are evicted; and now
            // and then a long key of any characters.
            ops in proptest::collection::vec(
                (0u8..3, prop_oneof![9 => "[a-f]{0,2}", 1 => "\\PC{100,300}"], 0u64..1_000),
                0..200,
            )
        ) {
            let start = Instant::now();
            let mut t = LoginThrottle::with_max_entries(3, Duration::from_secs(100), 16);
            for (op, key, offset) in ops {
                let now = start + Duration::from_secs(offset);
                match op {
                    0 => { let _ = t.check(&key, now); }
                    1 => t.failure(&key, now),
                    _ => t.success(&key),
                }
                prop_assert!(t.len() <= 16);
                prop_assert!(t.order.len() <= 32);
            }
        }
    }
}
