//! Who is signed in where: the web proxy records the user it authenticated on an address, and
//! the DNS filter then attributes (and filters) that address's lookups as that user.
//!
//! Entries expire: an address is reused (DHCP, a shared laptop) and must not keep a person's
//! identity longer than their session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a sign-in vouches for an address without being refreshed.
// The web proxy signs users in; until it exists only the tests do.
#[allow(dead_code)]
pub const DEFAULT_SIGN_IN_LIFETIME: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Default)]
pub struct SignedIn {
    by_address: RwLock<HashMap<IpAddr, (Arc<str>, Instant)>>,
}

// The web proxy signs users in and out; until it exists only the tests do.
#[allow(dead_code)]
impl SignedIn {
    /// Records that `user` authenticated from `address`, for `lifetime` from now.
    pub fn sign_in(&self, address: IpAddr, user: &str, lifetime: Duration) {
        let until = Instant::now() + lifetime;
        if let Ok(mut map) = self.by_address.write() {
            map.insert(address, (Arc::from(user), until));
        }
    }

    pub fn sign_out(&self, address: IpAddr) {
        if let Ok(mut map) = self.by_address.write() {
            map.remove(&address);
        }
    }

    /// The user signed in at `address`, if their sign-in has not expired.
    pub fn user_at(&self, address: IpAddr) -> Option<Arc<str>> {
        let map = self.by_address.read().ok()?;
        let (user, until) = map.get(&address)?;
        (Instant::now() < *until).then(|| Arc::clone(user))
    }

    /// Forgets expired sign-ins, so the table stays as small as the school.
    pub fn prune(&self) {
        let now = Instant::now();
        if let Ok(mut map) = self.by_address.write() {
            map.retain(|_, (_, until)| *until > now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_ins_expire() {
        let table = SignedIn::default();
        let address: IpAddr = "127.0.0.20".parse().unwrap();
        table.sign_in(address, "pupil.ks2", Duration::from_secs(60));
        assert_eq!(table.user_at(address).as_deref(), Some("pupil.ks2"));
        assert_eq!(table.user_at("127.0.0.21".parse().unwrap()), None);
        table.sign_in(address, "pupil.ks2", Duration::ZERO);
        assert_eq!(table.user_at(address), None);
        table.prune();
        assert!(table.by_address.read().unwrap().is_empty());
        table.sign_in(address, "teacher", Duration::from_secs(60));
        table.sign_out(address);
        assert_eq!(table.user_at(address), None);
    }
}
