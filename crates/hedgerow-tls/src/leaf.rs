//! Leaf certificates for inspected sites, minted on demand and cached per host.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};
use rustls::sign::{CertifiedKey, SigningKey, SingleCertAndKey};

use crate::time::{days_from_now, random_serial_with};
use crate::{SchoolCa, TlsError};

/// The default number of hosts whose server configurations are kept.
pub const DEFAULT_LEAF_CACHE: usize = 10_000;
/// How long a leaf is valid after it is made, in days. Browsers refuse leaves valid for more
/// than 398 days; a month keeps far inside that while a cached leaf lives much less.
pub const LEAF_VALIDITY_DAYS: i64 = 30;
/// TLS sessions kept for resumption, shared by every host's configuration.
const SESSIONS: usize = 4096;

/// Mints a leaf certificate for each inspected host, signed by the school CA, and keeps the
/// rustls server configuration presenting it.
///
/// Every leaf shares one ECDSA P-256 key made when this is created, so minting costs one
/// signature. A leaf names exactly the host asked for (as a DNS name or an IP address), is for
/// server authentication only, and is valid from a day ago (for clients whose clocks are a
/// little behind) to [`LEAF_VALIDITY_DAYS`] ahead, never past the CA's own end. At most
/// `capacity` hosts are cached; when full, the least recently used eighth is dropped.
///
/// Safe to share between tasks (`Arc<LeafCertificates>`): lookups take a read lock, and
/// minting happens outside any lock.
pub struct LeafCertificates {
    ca: SchoolCa,
    ca_not_after: i64,
    leaf_key: KeyPair,
    signing_key: Arc<dyn SigningKey>,
    provider: Arc<CryptoProvider>,
    sessions: Arc<dyn StoresServerSessions>,
    rng: ring::rand::SystemRandom,
    capacity: usize,
    cache: RwLock<HashMap<Box<str>, Entry>>,
    clock: AtomicU64,
    minted: AtomicU64,
}

struct Entry {
    config: Arc<ServerConfig>,
    last_used: AtomicU64,
}

impl std::fmt::Debug for LeafCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCertificates")
            .field("ca", &self.ca)
            .field("capacity", &self.capacity)
            .field("cached", &self.cached())
            .field("minted", &self.minted())
            .finish_non_exhaustive()
    }
}

impl LeafCertificates {
    /// Takes the school CA and makes the shared leaf key. `capacity` is the number of hosts
    /// whose configurations are kept ([`DEFAULT_LEAF_CACHE`] is a good default).
    pub fn new(ca: SchoolCa, capacity: usize) -> Result<Self, TlsError> {
        if capacity == 0 {
            return Err(TlsError::ZeroCapacity);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| {
            TlsError::Generate {
                what: "the leaf certificate key".into(),
                source,
            }
        })?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let signing_key = provider
            .key_provider
            .load_private_key(der)
            .map_err(|source| TlsError::Rustls {
                what: "loading the leaf key",
                source,
            })?;
        let ca_not_after = ca.not_after_unix();
        Ok(LeafCertificates {
            ca,
            ca_not_after,
            leaf_key,
            signing_key,
            provider,
            sessions: ServerSessionMemoryCache::new(SESSIONS),
            rng: ring::rand::SystemRandom::new(),
            capacity,
            cache: RwLock::new(HashMap::new()),
            clock: AtomicU64::new(0),
            minted: AtomicU64::new(0),
        })
    }

    /// A server configuration presenting a leaf for `host` (a DNS name, or an IPv4 or IPv6
    /// address, with or without brackets), with ALPN `http/1.1` only. The same `Arc` comes back
    /// for the same host while it stays in the cache. Host names are compared without letter
    /// case or a trailing dot; give internationalised names in their `xn--` form.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, TlsError> {
        let key = cache_key(host);
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        {
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = cache.get(key.as_ref()) {
                entry.last_used.store(tick, Ordering::Relaxed);
                return Ok(entry.config.clone());
            }
        }

        let config = Arc::new(self.mint(host, &key)?);
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = cache.get(key.as_ref()) {
            // Another task minted the same host meanwhile: keep one answer per host.
            entry.last_used.store(tick, Ordering::Relaxed);
            return Ok(entry.config.clone());
        }
        if cache.len() >= self.capacity {
            evict_oldest(&mut cache, (self.capacity / 8).max(1));
        }
        cache.insert(
            key.into_owned().into_boxed_str(),
            Entry {
                config: config.clone(),
                last_used: AtomicU64::new(tick),
            },
        );
        Ok(config)
    }

    /// How many leaf certificates have been made since this was created.
    pub fn minted(&self) -> u64 {
        self.minted.load(Ordering::Relaxed)
    }

    /// How many hosts' configurations are cached now.
    pub fn cached(&self) -> usize {
        self.cache.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The school CA the leaves are signed by (for offering its certificate for download).
    pub fn ca(&self) -> &SchoolCa {
        &self.ca
    }

    fn mint(&self, host: &str, key: &str) -> Result<ServerConfig, TlsError> {
        let san = subject_alt_name(key).ok_or_else(|| TlsError::BadHost {
            host: host.to_owned(),
        })?;
        let mut name = DistinguishedName::new();
        if key.len() <= 64 {
            name.push(DnType::CommonName, key);
        }
        name.push(DnType::OrganizationName, "Hedgerow inspection");

        let mut params = CertificateParams::default();
        params.distinguished_name = name;
        params.subject_alt_names = vec![san];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = days_from_now(-1)?;
        let not_after = days_from_now(LEAF_VALIDITY_DAYS)?;
        params.not_after = match time::OffsetDateTime::from_unix_timestamp(self.ca_not_after) {
            Ok(ca_end) if ca_end < not_after => ca_end,
            _ => not_after,
        };
        params.serial_number = Some(random_serial_with(&self.rng)?);
        let cert = params
            .signed_by(&self.leaf_key, &self.ca.issuer)
            .map_err(|source| TlsError::Generate {
                what: format!("a certificate for {host}"),
                source,
            })?;
        self.minted.fetch_add(1, Ordering::Relaxed);

        let certified = CertifiedKey::new(vec![cert.der().clone()], self.signing_key.clone());
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                what: "choosing protocol versions",
                source,
            })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // One session store for every host, rather than one (preallocated) per configuration.
        config.session_storage = self.sessions.clone();
        Ok(config)
    }
}

/// The host as the cache keys it: lower case, no trailing dot, no brackets round an IPv6
/// address. Borrows when the host is already in that form.
fn cache_key(host: &str) -> Cow<'_, str> {
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    let trimmed = trimmed
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(trimmed);
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// The subject alternative name for a cache key, or `None` if a certificate cannot name it.
fn subject_alt_name(key: &str) -> Option<SanType> {
    if let Ok(ip) = key.parse::<IpAddr>() {
        return Some(SanType::IpAddress(ip));
    }
    // rustls' own check of a DNS name is the one the client side will apply.
    rustls::pki_types::DnsName::try_from(key).ok()?;
    if key.contains('*') {
        return None;
    }
    Some(SanType::DnsName(key.try_into().ok()?))
}

/// Drops at least `count` of the least recently used entries.
fn evict_oldest(cache: &mut HashMap<Box<str>, Entry>, count: usize) {
    let mut ticks: Vec<u64> = cache
        .values()
        .map(|e| e.last_used.load(Ordering::Relaxed))
        .collect();
    if ticks.is_empty() {
        return;
    }
    let index = count.min(ticks.len()) - 1;
    let (_, threshold, _) = ticks.select_nth_unstable(index);
    let threshold = *threshold;
    cache.retain(|_, e| e.last_used.load(Ordering::Relaxed) > threshold);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_ignore_case_dots_and_brackets() {
        assert_eq!(cache_key("Example.COM."), "example.com");
        assert_eq!(cache_key("[::1]"), "::1");
        assert!(matches!(cache_key("plain.example"), Cow::Borrowed(_)));
    }

    #[test]
    fn only_real_names_get_certificates() {
        assert!(matches!(
            subject_alt_name("127.0.0.1"),
            Some(SanType::IpAddress(_))
        ));
        assert!(matches!(
            subject_alt_name("::1"),
            Some(SanType::IpAddress(_))
        ));
        assert!(matches!(
            subject_alt_name("www.example.com"),
            Some(SanType::DnsName(_))
        ));
        for bad in [
            "",
            "*.example.com",
            "exa mple.com",
            "bücher.example",
            "a..b",
        ] {
            assert!(subject_alt_name(bad).is_none(), "{bad:?}");
        }
    }
}
