//! Signing in to the web proxy: `Proxy-Authorization: Basic` credentials checked against the
//! users in the store.
//!
//! Passwords are Argon2 hashes in the store; verifying one takes tens of milliseconds of CPU
//! and about 19 MiB of memory, so it runs on a blocking thread, a few at a time, and a browser
//! that sends the same credentials with every request does not pay it every time: a successful
//! check is remembered for a few minutes under an HMAC-SHA256 of "username\0password" keyed
//! with a random per-process key. The plaintext is never kept, and the cache key is useless
//! outside this process.
//!
//! Guessing is throttled. After `failed_logins` failures for one username (any case), or from
//! one client address, within the lockout window, further attempts are answered "locked"
//! without looking at the password until the window has passed, and a warning is logged. The
//! same wrong password sent again (browsers retry stale credentials on every connection) is
//! refused from memory and counted once. A username that does not exist costs the same Argon2
//! work as one that does, so timing does not say which names are real.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use hedgerow_config::ProxySettings;
use hedgerow_store::{SchoolId, Store, StoreError, User};
use ring::hmac;
use tokio::sync::Semaphore;
use tracing::{error, warn};

/// How long a successful check is remembered unless told otherwise.
pub const DEFAULT_CACHE_FOR: Duration = Duration::from_secs(5 * 60);
/// How long a wrong password is remembered, so a browser repeating it is not counted again.
const REJECTION_MEMORY: Duration = Duration::from_secs(60);
/// Longer than any real username or password; anything longer is refused without hashing.
const MAX_USERNAME_BYTES: usize = 200;
const MAX_PASSWORD_BYTES: usize = 1024;
/// Bounds on what the authenticator remembers, so a flood of made-up names cannot grow it
/// without limit.
const MAX_REMEMBERED: usize = 10_000;

/// What a sign-in attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The password is right and the account may be used.
    Accepted {
        /// The username as stored (the attempt's spelling may differ in case).
        username: String,
        /// The name to show, e.g. on the block page.
        display_name: String,
        school_slug: String,
        /// The user's policy group.
        group: String,
    },
    /// Wrong password, unknown or disabled user, demo account outside demo mode, or a username
    /// two schools share. Ask again (407).
    Rejected,
    /// Too many recent failures for this username or from this address; the password was not
    /// looked at. Try again after this many seconds.
    Locked { retry_after_secs: u64 },
    /// The store could not be asked. Say so (503) rather than refuse the person.
    Unavailable,
}

/// How the authenticator throttles and caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSettings {
    /// Failures (per username, and per address) that lock further attempts.
    pub failed_logins: u32,
    /// The window failures are counted in, and how long a lock lasts.
    pub lockout: Duration,
    /// How long a successful check is remembered.
    pub cache_for: Duration,
}

impl AuthSettings {
    pub fn from_proxy(proxy: &ProxySettings) -> AuthSettings {
        AuthSettings {
            failed_logins: proxy.failed_logins.max(1),
            lockout: Duration::from_secs(proxy.lockout_seconds.max(1)),
            cache_for: DEFAULT_CACHE_FOR,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings::from_proxy(&ProxySettings::default())
    }
}

/// Checks proxy sign-ins against the store. Share it behind an `Arc`.
pub struct ProxyAuthenticator {
    store: Store,
    settings: AuthSettings,
    /// Demo accounts (`demo_only`) are accepted only in demo mode.
    demo_mode: bool,
    key: hmac::Key,
    /// At most this many Argon2 verifications at once.
    verifying: Semaphore,
    state: Mutex<State>,
}

type Tag = [u8; 32];

#[derive(Default)]
struct State {
    accepted: HashMap<Tag, (Accepted, Instant)>,
    rejected: HashMap<Tag, Instant>,
    by_user: HashMap<String, Strikes>,
    by_addr: HashMap<IpAddr, Strikes>,
    schools: HashMap<SchoolId, Arc<str>>,
}

#[derive(Debug, Clone)]
struct Accepted {
    username: String,
    display_name: String,
    school_slug: Arc<str>,
    group: String,
}

impl Accepted {
    fn outcome(&self) -> AuthOutcome {
        AuthOutcome::Accepted {
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            school_slug: self.school_slug.to_string(),
            group: self.group.clone(),
        }
    }
}

/// Recent failures for one username or address.
#[derive(Debug, Clone, Copy)]
struct Strikes {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

impl Strikes {
    fn new(now: Instant) -> Strikes {
        Strikes {
            count: 0,
            since: now,
            locked_until: None,
        }
    }

    /// How long the lock has left, if locked.
    fn remaining(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Whether this still says anything at `now`.
    fn current(&self, now: Instant, window: Duration) -> bool {
        self.remaining(now).is_some() || now.saturating_duration_since(self.since) < window
    }

    /// Counts a failure; true when it starts a lock.
    fn strike(&mut self, now: Instant, limit: u32, window: Duration) -> bool {
        if !self.current(now, window) {
            *self = Strikes::new(now);
        }
        if self.remaining(now).is_some() {
            return false;
        }
        self.count += 1;
        if self.count >= limit {
            self.locked_until = Some(now + window);
            return true;
        }
        false
    }
}

/// A hash of a password nobody knows, verified against when the username does not exist so
/// that unknown names cost the same as known ones.
static DUMMY_HASH: OnceLock<String> = OnceLock::new();

impl ProxyAuthenticator {
    /// `demo_mode` accepts demo-only accounts (the demo password); never set it for a real
    /// school.
    pub fn new(
        store: Store,
        settings: AuthSettings,
        demo_mode: bool,
    ) -> anyhow::Result<ProxyAuthenticator> {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
            .ok()
            .context("cannot make a random key for the sign-in cache: the system's random number generator failed")?;
        let parallel = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8);
        Ok(ProxyAuthenticator {
            store,
            settings,
            demo_mode,
            key,
            verifying: Semaphore::new(parallel),
            state: Mutex::new(State::default()),
        })
    }

    /// Checks one sign-in from `client`. The caller has decoded the Basic credentials.
    pub async fn check(&self, client: IpAddr, username: &str, password: &str) -> AuthOutcome {
        self.check_at(client, username, password, Instant::now())
            .await
    }

    /// Forgets every remembered sign-in, so the next request of each user is checked against
    /// the store again (after a reload that may have disabled someone). Failure counts stay.
    pub fn forget_sign_ins(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.accepted.clear();
            state.rejected.clear();
            state.schools.clear();
        }
    }

    async fn check_at(
        &self,
        client: IpAddr,
        username: &str,
        password: &str,
        now: Instant,
    ) -> AuthOutcome {
        let client = client.to_canonical();
        let username = username.trim();
        if username.is_empty() || password.is_empty() {
            // No guess was made: a browser probing, or an empty prompt sent by mistake.
            return AuthOutcome::Rejected;
        }
        let user_key = username.to_ascii_lowercase();
        if let Some(wait) = self.lock_remaining(&user_key, client, now) {
            return AuthOutcome::Locked {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            };
        }
        if username.len() > MAX_USERNAME_BYTES || password.len() > MAX_PASSWORD_BYTES {
            return self.fail(&user_key, client, None, now);
        }
        let tag = self.tag(username, password);
        if let Some(outcome) = self.remembered(&tag, now) {
            return outcome;
        }

        // One verification at a time per permit; whoever waited may find the answer cached
        // by a browser's parallel request with the same credentials.
        let Ok(_permit) = self.verifying.acquire().await else {
            return AuthOutcome::Unavailable;
        };
        if let Some(outcome) = self.remembered(&tag, now) {
            return outcome;
        }
        let user = match self.store.user_for_login(None, username).await {
            Ok(user) => user,
            Err(StoreError::AmbiguousUsername { username, schools }) => {
                warn!(
                    %username,
                    schools = %schools.join(", "),
                    "a proxy sign-in was refused because the username belongs to more than one account; rename all but one"
                );
                None
            }
            Err(error) => {
                error!(%error, "a proxy sign-in could not be checked: the store is unavailable");
                return AuthOutcome::Unavailable;
            }
        };
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let password_owned = password.to_owned();
        let verified =
            tokio::task::spawn_blocking(move || verify(hash.as_deref(), &password_owned))
                .await
                .unwrap_or(false);
        let Some(user) = user.filter(|_| verified) else {
            return self.fail(&user_key, client, Some(tag), now);
        };
        if user.disabled {
            warn!(username = %user.username, %client, "a disabled account tried to sign in to the proxy");
            return self.fail(&user_key, client, Some(tag), now);
        }
        if user.demo_only && !self.demo_mode {
            warn!(username = %user.username, %client, "a demo account tried to sign in outside demo mode");
            return self.fail(&user_key, client, Some(tag), now);
        }
        let Some(school_slug) = self.school_slug(&user).await else {
            return AuthOutcome::Unavailable;
        };
        let accepted = Accepted {
            username: user.username,
            display_name: user.display_name,
            school_slug,
            group: user.group_key,
        };
        let outcome = accepted.outcome();
        if let Ok(mut state) = self.state.lock() {
            state.by_user.remove(&user_key);
            if state.accepted.len() >= MAX_REMEMBERED {
                state.accepted.retain(|_, (_, until)| *until > now);
            }
            if state.accepted.len() < MAX_REMEMBERED {
                state
                    .accepted
                    .insert(tag, (accepted, now + self.settings.cache_for));
            }
        }
        outcome
    }

    fn tag(&self, username: &str, password: &str) -> Tag {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(username.as_bytes());
        context.update(b"\0");
        context.update(password.as_bytes());
        let mut tag = [0u8; 32];
        tag.copy_from_slice(context.sign().as_ref());
        tag
    }

    /// The remembered answer for exactly these credentials, if still fresh.
    fn remembered(&self, tag: &Tag, now: Instant) -> Option<AuthOutcome> {
        let state = self.state.lock().ok()?;
        if let Some((accepted, until)) = state.accepted.get(tag)
            && *until > now
        {
            return Some(accepted.outcome());
        }
        if let Some(until) = state.rejected.get(tag)
            && *until > now
        {
            return Some(AuthOutcome::Rejected);
        }
        None
    }

    fn lock_remaining(&self, user_key: &str, client: IpAddr, now: Instant) -> Option<Duration> {
        let state = self.state.lock().ok()?;
        let by_user = state.by_user.get(user_key).and_then(|s| s.remaining(now));
        let by_addr = state.by_addr.get(&client).and_then(|s| s.remaining(now));
        by_user.max(by_addr)
    }

    /// Counts a failure against the username and the address, remembers the wrong
    /// credentials, and logs when a lock starts.
    fn fail(&self, user_key: &str, client: IpAddr, tag: Option<Tag>, now: Instant) -> AuthOutcome {
        let AuthSettings {
            failed_logins,
            lockout,
            ..
        } = self.settings;
        let Ok(mut state) = self.state.lock() else {
            return AuthOutcome::Rejected;
        };
        if let Some(tag) = tag {
            if state.rejected.len() >= MAX_REMEMBERED {
                state.rejected.retain(|_, until| *until > now);
            }
            if state.rejected.len() < MAX_REMEMBERED {
                state
                    .rejected
                    .insert(tag, now + REJECTION_MEMORY.min(lockout));
            }
        }
        if state.by_user.len() >= MAX_REMEMBERED {
            state.by_user.retain(|_, s| s.current(now, lockout));
        }
        if state.by_addr.len() >= MAX_REMEMBERED {
            state.by_addr.retain(|_, s| s.current(now, lockout));
        }
        let user_locked = strike(&mut state.by_user, user_key.to_owned(), now, self.settings);
        let addr_locked = strike(&mut state.by_addr, client, now, self.settings);
        drop(state);
        if user_locked {
            warn!(
                username = %user_key,
                %client,
                failures = failed_logins,
                lockout_seconds = lockout.as_secs(),
                "proxy sign-in locked for this username after repeated failures"
            );
        }
        if addr_locked {
            warn!(
                %client,
                failures = failed_logins,
                lockout_seconds = lockout.as_secs(),
                "proxy sign-in locked for this address after repeated failures"
            );
        }
        AuthOutcome::Rejected
    }

    async fn school_slug(&self, user: &User) -> Option<Arc<str>> {
        if let Some(slug) = self
            .state
            .lock()
            .ok()
            .and_then(|s| s.schools.get(&user.school).cloned())
        {
            return Some(slug);
        }
        let schools = match self.store.schools().await {
            Ok(schools) => schools,
            Err(error) => {
                error!(%error, "a proxy sign-in could not be completed: the store is unavailable");
                return None;
            }
        };
        let mut state = self.state.lock().ok()?;
        for school in schools {
            state.schools.insert(school.id, Arc::from(school.slug));
        }
        let found = state.schools.get(&user.school).cloned();
        if found.is_none() {
            error!(username = %user.username, school = %user.school, "a user belongs to a school the store does not list");
        }
        found
    }
}

/// Counts a failure in one of the strike tables; true when it starts a lock. Past the table's
/// bound (a flood of made-up names) a new key is not tracked, which leaves the address table
/// to stop a flood from one place.
fn strike<K: std::hash::Hash + Eq>(
    table: &mut HashMap<K, Strikes>,
    key: K,
    now: Instant,
    settings: AuthSettings,
) -> bool {
    let tracked = table.len() < MAX_REMEMBERED || table.contains_key(&key);
    if !tracked {
        return false;
    }
    table
        .entry(key)
        .or_insert_with(|| Strikes::new(now))
        .strike(now, settings.failed_logins, settings.lockout)
}

/// Verifies a password against an Argon2 PHC string; with no hash, does the same work against
/// a hash nobody knows the password of, and fails.
fn verify(hash: Option<&str>, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let (hash, real) = match hash {
        Some(hash) => (hash, true),
        None => (dummy_hash(), false),
    };
    let verified = match PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    };
    verified && real
}

fn dummy_hash() -> &'static str {
    DUMMY_HASH.get_or_init(|| {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut rand_core::OsRng);
        let mut secret = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
        // The same cost as the hashes the gateway makes (argon2's defaults); the unit tests,
        // whose own hashes are cheap, use cheap parameters here too.
        #[cfg(not(test))]
        let argon = argon2::Argon2::default();
        #[cfg(test)]
        let argon = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(1024, 1, 1, None).unwrap_or_default(),
        );
        argon
            .hash_password(&secret, &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};
    use hedgerow_store::{NewUser, UserKind};

    /// A real Argon2id hash with small parameters, so the tests do not spend seconds per
    /// verification in a debug build. Verification reads the parameters from the hash.
    fn cheap_hash(password: &str) -> String {
        let params = argon2::Params::new(1024, 1, 1, None).unwrap();
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::generate(&mut rand_core::OsRng);
        argon
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    struct Fixture {
        store: Store,
        _dir: tempfile::TempDir,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite_file(&dir.path().join("auth.db"))
            .await
            .unwrap();
        let oak = store
            .ensure_school("oakfield", "Oakfield", "Europe/London")
            .await
            .unwrap();
        let elm = store
            .ensure_school("elmwood", "Elmwood", "Europe/London")
            .await
            .unwrap();
        let user = |username: &str, password: Option<&str>, demo_only, disabled| NewUser {
            username: username.into(),
            display_name: format!("{username} display"),
            kind: UserKind::Pupil,
            group_key: "ks2".into(),
            password_hash: password.map(cheap_hash),
            demo_only,
            disabled,
        };
        for (school, new) in [
            (oak, user("J.Bloggs", Some("correct horse"), false, false)),
            (oak, user("left.school", Some("old password"), false, true)),
            (oak, user("demo.pupil", Some("hedgerow-demo"), true, false)),
            (oak, user("no.password", None, false, false)),
            (oak, user("twin", Some("twin password"), false, false)),
            (elm, user("twin", Some("twin password"), false, false)),
            (elm, user("e.staff", Some("elm password"), false, false)),
        ] {
            store.upsert_user(school, &new).await.unwrap();
        }
        Fixture { store, _dir: dir }
    }

    fn authenticator(f: &Fixture, demo: bool) -> ProxyAuthenticator {
        let settings = AuthSettings {
            failed_logins: 3,
            lockout: Duration::from_secs(60),
            cache_for: Duration::from_secs(120),
        };
        ProxyAuthenticator::new(f.store.clone(), settings, demo).unwrap()
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));
    const C: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 3));

    #[tokio::test]
    async fn the_right_password_is_accepted_in_any_case_of_username() {
        let f = fixture().await;
        let auth = authenticator(&f, false);
        let expected = AuthOutcome::Accepted {
            username: "J.Bloggs".into(),
            display_name: "J.Bloggs display".into(),
            school_slug: "oakfield".into(),
            group: "ks2".into(),
        };
        assert_eq!(auth.check(A, "j.bloggs", "correct horse").await, expected);
        assert_eq!(auth.check(A, " J.BLOGGS ", "correct horse").await, expected);
        match auth.check(B, "e.staff", "elm password").await {
            AuthOutcome::Accepted { school_slug, .. } => assert_eq!(school_slug, "elmwood"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            auth.check(A, "j.bloggs", "Correct horse").await,
            AuthOutcome::Rejected
        );
        assert_eq!(
            auth.check(A, "nobody", "correct horse").await,
            AuthOutcome::Rejected
        );
        assert_eq!(auth.check(A, "", "x").await, AuthOutcome::Rejected);
        assert_eq!(auth.check(A, "j.bloggs", "").await, AuthOutcome::Rejected);
    }

    #[tokio::test]
    async fn disabled_passwordless_ambiguous_and_demo_accounts_are_refused() {
        let f = fixture().await;
        let auth = authenticator(&f, false);
        assert_eq!(
            auth.check(A, "left.school", "old password").await,
            AuthOutcome::Rejected
        );
        assert_eq!(
            auth.check(B, "no.password", "").await,
            AuthOutcome::Rejected
        );
        assert_eq!(
            auth.check(B, "no.password", "anything").await,
            AuthOutcome::Rejected
        );
        assert_eq!(
            auth.check(C, "twin", "twin password").await,
            AuthOutcome::Rejected
        );
        assert_eq!(
            auth.check(C, "demo.pupil", "hedgerow-demo").await,
            AuthOutcome::Rejected
        );

        let demo = authenticator(&f, true);
        assert!(matches!(
            demo.check(A, "demo.pupil", "hedgerow-demo").await,
            AuthOutcome::Accepted { .. }
        ));
        assert!(matches!(
            demo.check(A, "j.bloggs", "correct horse").await,
            AuthOutcome::Accepted { .. }
        ));
    }

    #[tokio::test]
    async fn success_is_cached_by_keyed_hash_not_by_password() {
        let f = fixture().await;
        let auth = authenticator(&f, false);
        let now = Instant::now();
        assert!(matches!(
            auth.check_at(A, "j.bloggs", "correct horse", now).await,
            AuthOutcome::Accepted { .. }
        ));
        {
            let state = auth.state.lock().unwrap();
            assert_eq!(state.accepted.len(), 1);
            let (tag, _) = state.accepted.iter().next().unwrap();
            assert_eq!(*tag, auth.tag("j.bloggs", "correct horse"));
            assert_ne!(&tag[..], b"correct horse".as_slice());
        }
        // A second authenticator has its own key, so the same credentials tag differently.
        let other = authenticator(&f, false);
        assert_ne!(
            other.tag("j.bloggs", "correct horse"),
            auth.tag("j.bloggs", "correct horse")
        );

        // Once cached, the store is not asked again until the entry expires.
        f.store.close().await;
        assert!(matches!(
            auth.check_at(
                A,
                "j.bloggs",
                "correct horse",
                now + Duration::from_secs(60)
            )
            .await,
            AuthOutcome::Accepted { .. }
        ));
        assert_eq!(
            auth.check_at(
                A,
                "j.bloggs",
                "correct horse",
                now + Duration::from_secs(121)
            )
            .await,
            AuthOutcome::Unavailable,
            "expired: the store is asked, and it is closed"
        );
        auth.forget_sign_ins();
        assert!(auth.state.lock().unwrap().accepted.is_empty());
    }

    #[tokio::test]
    async fn repeated_failures_lock_the_username_then_the_lock_expires() {
        let f = fixture().await;
        let auth = authenticator(&f, false);
        let now = Instant::now();
        // Three different wrong passwords from three addresses: the username is locked.
        for (at, (client, guess)) in [(A, "one"), (B, "two"), (C, "three")]
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                auth.check_at(
                    client,
                    "J.Bloggs",
                    guess,
                    now + Duration::from_secs(at as u64)
                )
                .await,
                AuthOutcome::Rejected
            );
        }
        let later = now + Duration::from_secs(10);
        // Even the right password, from a fresh address, in another case, is not checked.
        assert_eq!(
            auth.check_at(
                IpAddr::from([10, 9, 9, 9]),
                "j.bloggs",
                "correct horse",
                later
            )
            .await,
            AuthOutcome::Locked {
                retry_after_secs: 52
            }
        );
        // Other usernames from those addresses are fine.
        assert!(matches!(
            auth.check_at(A, "e.staff", "elm password", later).await,
            AuthOutcome::Accepted { .. }
        ));
        // After the lock, the right password works again.
        assert!(matches!(
            auth.check_at(
                A,
                "j.bloggs",
                "correct horse",
                now + Duration::from_secs(63)
            )
            .await,
            AuthOutcome::Accepted { .. }
        ));
    }

    #[tokio::test]
    async fn repeated_failures_lock_the_address_for_every_username() {
        let f = fixture().await;
        let auth = authenticator(&f, false);
        let now = Instant::now();
        for name in ["alice", "bob", "carol"] {
            assert_eq!(
                auth.check_at(A, name, "guess", now).await,
                AuthOutcome::Rejected
            );
        }
        assert_eq!(
            auth.check_at(A, "j.bloggs", "correct horse", now).await,
            AuthOutcome::Locked {
                retry_after_secs: 60
            }
        );
        assert!(matches!(
            auth.check_at(B, "j.bloggs", "correct horse", now).await,
            AuthOutcome::Accepted { .. }
        ));
        // IPv4-mapped IPv6 is the same client.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(matches!(
            auth.check_at(mapped, "e.staff", "elm password", now).await,
            AuthOutcome::Locked { .. }
        ));
    }

    #[tokio::test]
    async fn the_same_wrong_password_again_counts_once() {
        let f = fixture().await;
        let auth = authenticator(&f, false);
        let now = Instant::now();
        for _ in 0..10 {
            assert_eq!(
                auth.check_at(A, "j.bloggs", "stale password", now).await,
                AuthOutcome::Rejected
            );
        }
        assert!(matches!(
            auth.check_at(A, "j.bloggs", "correct horse", now).await,
            AuthOutcome::Accepted { .. }
        ));
        // A success clears the username's count, not the address's.
        let state = auth.state.lock().unwrap();
        assert!(!state.by_user.contains_key("j.bloggs"));
        assert_eq!(state.by_addr[&A].count, 1);
    }

    #[tokio::test]
    async fn over_long_credentials_are_refused_without_hashing() {
        let f = fixture().await;
        let auth = authenticator(&f, false);
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(
            auth.check(A, "j.bloggs", &long).await,
            AuthOutcome::Rejected
        );
        assert_eq!(
            auth.check(A, &"u".repeat(MAX_USERNAME_BYTES + 1), "p")
                .await,
            AuthOutcome::Rejected
        );
        assert!(
            auth.state.lock().unwrap().rejected.is_empty(),
            "nothing was hashed or remembered"
        );
    }

    #[test]
    fn verification_needs_a_real_hash() {
        let hash = cheap_hash("pw");
        assert!(verify(Some(&hash), "pw"));
        assert!(!verify(Some(&hash), "PW"));
        assert!(!verify(Some("not a hash"), "pw"));
        assert!(!verify(None, "pw"));
    }
}
