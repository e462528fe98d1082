//! Dates for certificates and messages, and random serial numbers.

use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::SerialNumber;
use ring::rand::SecureRandom;
use time::OffsetDateTime;

use crate::TlsError;

const DAY: i64 = 24 * 60 * 60;

/// Seconds since 1970 now (0 if the clock is before 1970).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// This moment plus `days` (negative for the past), to the second.
pub(crate) fn days_from_now(days: i64) -> Result<OffsetDateTime, TlsError> {
    let at = unix_now().saturating_add(days.saturating_mul(DAY));
    OffsetDateTime::from_unix_timestamp(at).map_err(|_| TlsError::Generate {
        what: "a certificate validity period".into(),
        source: rcgen::Error::Time,
    })
}

/// `YYYY-MM-DD` (UTC) for a Unix time.
pub(crate) fn format_date(unix: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(unix) {
        Ok(at) => format!(
            "{:04}-{:02}-{:02}",
            at.year(),
            u8::from(at.month()),
            at.day()
        ),
        Err(_) => format!("{unix} seconds after 1970"),
    }
}

/// A random, positive 16-byte serial number. Serial numbers must differ between certificates
/// from one issuer (Firefox refuses a reused issuer and serial with different contents); rcgen's
/// default derives the serial from the public key, which every leaf here shares.
pub(crate) fn random_serial() -> Result<SerialNumber, TlsError> {
    random_serial_with(&ring::rand::SystemRandom::new())
}

pub(crate) fn random_serial_with(rng: &dyn SecureRandom) -> Result<SerialNumber, TlsError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes).map_err(|_| TlsError::Generate {
        what: "a certificate serial number".into(),
        source: rcgen::Error::RingUnspecified,
    })?;
    // Positive, and never a leading zero byte that DER would strip.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}
