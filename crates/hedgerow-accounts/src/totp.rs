//! Time-based one-time passwords (RFC 6238) for the second factor.
//!
//! The parameters are the ones every authenticator app understands: HMAC-SHA-1, six digits,
//! thirty-second steps. A code is accepted for the current step and one step either side (so a
//! phone clock a little out and a slow typist both still work), and never for a step at or
//! before the last one the account used, so a code seen over someone's shoulder cannot be used
//! again.
//!
//! Secrets are shown to people as RFC 4648 base32 (what apps expect in `otpauth://` links and
//! for typing in by hand), without padding.

use std::fmt;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Seconds per step.
pub const STEP_SECONDS: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Bytes in a generated secret: 160 bits, the length RFC 4226 recommends for HMAC-SHA-1.
pub const SECRET_BYTES: usize = 20;
/// The shortest secret accepted from base32: RFC 4226's minimum of 128 bits.
pub const MIN_SECRET_BYTES: usize = 16;
/// The longest secret accepted from base32; anything longer is not a TOTP secret.
pub const MAX_SECRET_BYTES: usize = 64;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The system's random number source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the system's random number source failed, so no secret was made; try again, and if it \
     keeps failing check the server (for example that /dev/urandom is readable)"
)]
pub struct RandomUnavailable;

/// Why a base32 secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// A character outside the base32 alphabet.
    #[error(
        "the secret has {found:?} at position {position}, which is not base32; a secret uses \
         only the letters A to Z and the digits 2 to 7 (spaces are ignored)"
    )]
    InvalidCharacter {
        /// The character found.
        found: char,
        /// Its position (counting from 1, spaces included).
        position: usize,
    },
    /// A length no base32 encoding has.
    #[error(
        "the secret has {length} base32 characters, which no whole number of bytes encodes \
         to; check that it was copied completely"
    )]
    Truncated {
        /// How many base32 characters it has.
        length: usize,
    },
    /// Too short to be safe, or too long to be a TOTP secret.
    #[error(
        "the secret is {bytes} bytes long but must be between {min} and {max} bytes; set up \
         the authenticator again to get a new secret"
    )]
    BadLength {
        /// How many bytes it decodes to.
        bytes: usize,
        /// The minimum, [`MIN_SECRET_BYTES`].
        min: usize,
        /// The maximum, [`MAX_SECRET_BYTES`].
        max: usize,
    },
}

/// A TOTP shared secret. Its `Debug` output hides the bytes, so logging an account never
/// leaks it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret {
    bytes: Vec<u8>,
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// A new secret of [`SECRET_BYTES`] random bytes from the system's random number source.
    pub fn generate() -> Result<TotpSecret, RandomUnavailable> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| RandomUnavailable)?;
        Ok(TotpSecret { bytes })
    }

    /// The secret's bytes, for storing (the app encrypts or otherwise protects them).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A secret from stored bytes, with the same length limits as [`TotpSecret::from_base32`].
    pub fn from_bytes(bytes: &[u8]) -> Result<TotpSecret, SecretError> {
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(SecretError::BadLength {
                bytes: bytes.len(),
                min: MIN_SECRET_BYTES,
                max: MAX_SECRET_BYTES,
            });
        }
        Ok(TotpSecret {
            bytes: bytes.to_vec(),
        })
    }

    /// The secret as upper-case base32 without padding, as authenticator apps show it.
    pub fn to_base32(&self) -> String {
        base32_encode(&self.bytes)
    }

    /// Reads base32 as typed or copied: letters of either case, spaces ignored, and trailing
    /// `=` padding tolerated.
    pub fn from_base32(text: &str) -> Result<TotpSecret, SecretError> {
        let bytes = base32_decode(text)?;
        TotpSecret::from_bytes(&bytes)
    }

    /// The `otpauth://` link an authenticator app reads from a QR code. `issuer` is normally
    /// the school's or trust's name and `account` the user name; both are percent-encoded.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = percent_encode(issuer);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
             &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            account = percent_encode(account),
            secret = self.to_base32(),
        )
    }
}

/// The step a moment falls in.
pub fn step_at(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// The six-digit code for a moment (seconds since 1970 UTC).
pub fn code_at(secret: &TotpSecret, unix_seconds: u64) -> String {
    hotp(&secret.bytes, step_at(unix_seconds), DIGITS)
}

/// Checks a code typed at `unix_seconds`. Spaces in the code are ignored ("123 456").
///
/// Accepts the code of the current step or of one step either side, but not of any step at or
/// before `last_used_step` (the step returned by the account's previous successful check),
/// so each code works once. Returns the step that matched, which the app stores as the new
/// `last_used_step`; `None` means refuse.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    unix_seconds: u64,
    last_used_step: Option<u64>,
) -> Option<u64> {
    let typed: Vec<u8> = code.bytes().filter(|b| *b != b' ').collect();
    if typed.len() != DIGITS as usize || !typed.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let now = step_at(unix_seconds);
    let mut matched = None;
    // Every candidate is computed and compared, so the time taken says nothing about which
    // step (if any) matched.
    for step in [now.checked_sub(1), Some(now), now.checked_add(1)]
        .into_iter()
        .flatten()
    {
        let fresh = last_used_step.is_none_or(|last| step > last);
        let expected = hotp(&secret.bytes, step, DIGITS);
        if constant_time_eq(expected.as_bytes(), &typed) && fresh {
            matched = Some(step);
        }
    }
    matched
}

/// HOTP (RFC 4226) with HMAC-SHA-1: the code for one counter value, zero-padded to `digits`
/// (clamped to 1..=9, which a `u32` holds).
fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let digits = digits.clamp(1, 9);
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // Dynamic truncation: the low nibble of the last byte picks four bytes. A SHA-1 tag is 20
    // bytes, so offset + 3 <= 18 always; `get` keeps that an invariant rather than a panic.
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let word = mac
        .get(offset..offset + 4)
        .map(|b| u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]))
        .unwrap_or(0);
    let value = word % 10u32.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
        // Keep only the bits not yet written, so the buffer never overflows.
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn base32_decode(text: &str) -> Result<Vec<u8>, SecretError> {
    let mut values = Vec::with_capacity(text.len());
    let mut padding_started = false;
    for (index, c) in text.chars().enumerate() {
        if c == ' ' {
            continue;
        }
        if c == '=' {
            padding_started = true;
            continue;
        }
        let value = match c.to_ascii_uppercase() {
            upper @ 'A'..='Z' if !padding_started => u32::from(upper) - u32::from('A'),
            digit @ '2'..='7' if !padding_started => u32::from(digit) - u32::from('2') + 26,
            _ => {
                return Err(SecretError::InvalidCharacter {
                    found: c,
                    position: index + 1,
                });
            }
        };
        values.push(value);
        // Far past any real secret: stop before decoding megabytes of input.
        if values.len() > MAX_SECRET_BYTES * 8 / 5 + 8 {
            return Err(SecretError::BadLength {
                bytes: values.len() * 5 / 8,
                min: MIN_SECRET_BYTES,
                max: MAX_SECRET_BYTES,
            });
        }
    }
    // Lengths 1, 3 and 6 (mod 8) leave bits that no whole byte accounts for.
    if matches!(values.len() % 8, 1 | 3 | 6) {
        return Err(SecretError::Truncated {
            length: values.len(),
        });
    }
    let mut out = Vec::with_capacity(values.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for value in values {
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a name with spaces,
/// colons or ampersands cannot break the link's structure.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *code);
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, code) in vectors {
            assert_eq!(
                hotp(b"12345678901234567890", step_at(time), 8),
                code,
                "{time}"
            );
            // The six-digit code is the same value's last six digits.
            assert_eq!(code_at(&rfc_secret(), time), code[2..], "{time}");
        }
    }

    #[test]
    fn verify_accepts_one_step_either_side() {
        let secret = rfc_secret();
        let t = 1_234_567_890;
        let now = step_at(t);
        assert_eq!(verify(&secret, &code_at(&secret, t), t, None), Some(now));
        assert_eq!(
            verify(&secret, &code_at(&secret, t - 30), t, None),
            Some(now - 1)
        );
        assert_eq!(
            verify(&secret, &code_at(&secret, t + 30), t, None),
            Some(now + 1)
        );
        assert_eq!(verify(&secret, &code_at(&secret, t - 60), t, None), None);
        assert_eq!(verify(&secret, &code_at(&secret, t + 60), t, None), None);
        let spaced = code_at(&secret, t);
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert_eq!(verify(&secret, &spaced, t, None), Some(now));
    }

    #[test]
    fn verify_refuses_replay() {
        let secret = rfc_secret();
        let t = 1_234_567_890;
        let code = code_at(&secret, t);
        let used = verify(&secret, &code, t, None).unwrap();
        assert_eq!(verify(&secret, &code, t, Some(used)), None);
        assert_eq!(verify(&secret, &code, t + 10, Some(used)), None);
        // An earlier step's code is refused once a later one was used.
        assert_eq!(
            verify(&secret, &code_at(&secret, t - 30), t, Some(used)),
            None
        );
        // The next step's code still works.
        assert_eq!(
            verify(&secret, &code_at(&secret, t + 30), t + 30, Some(used)),
            Some(used + 1)
        );
    }

    #[test]
    fn verify_refuses_malformed_codes() {
        let secret = rfc_secret();
        for code in [
            "",
            "12345",
            "1234567",
            "abcdef",
            "١٢٣٤٥٦",
            "-12345",
            "+12345",
        ] {
            assert_eq!(verify(&secret, code, 59, None), None, "{code}");
        }
        // Time zero has no previous step, and the end of time no next one.
        let _ = verify(&secret, &code_at(&secret, 0), 0, None);
        let _ = verify(&secret, "000000", u64::MAX, Some(u64::MAX));
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        // RFC 4648 section 10, without padding.
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
            assert_eq!(
                base32_decode(&encoded.to_lowercase()).unwrap(),
                plain.as_bytes()
            );
        }
        assert_eq!(base32_decode("MZXW 6YTB OI======").unwrap(), b"foobar");
        let secret = TotpSecret::generate().unwrap();
        assert_eq!(secret.as_bytes().len(), SECRET_BYTES);
        assert_eq!(secret.to_base32().len(), 32);
        assert_eq!(
            TotpSecret::from_base32(&secret.to_base32()),
            Ok(secret.clone())
        );
        assert_eq!(format!("{secret:?}"), "TotpSecret(..)");
    }

    #[test]
    fn base32_errors_say_what_is_wrong() {
        assert!(matches!(
            TotpSecret::from_base32("MZXW1YTB"),
            Err(SecretError::InvalidCharacter {
                found: '1',
                position: 5
            })
        ));
        assert!(matches!(
            TotpSecret::from_base32("MZX"),
            Err(SecretError::Truncated { length: 3 })
        ));
        assert!(matches!(
            TotpSecret::from_base32("MZXW6YTB"),
            Err(SecretError::BadLength { bytes: 5, .. })
        ));
        assert!(matches!(
            TotpSecret::from_base32(&"A".repeat(10_000)),
            Err(SecretError::BadLength { .. })
        ));
        // Padding in the middle is not base32.
        assert!(TotpSecret::from_base32("MZ=XW6YTB").is_err());
    }

    #[test]
    fn otpauth_uri_is_encoded() {
        let secret = rfc_secret();
        let uri = secret.otpauth_uri("St Mary's & St John's", "j.smith@school.example");
        assert_eq!(
            uri,
            format!(
                "otpauth://totp/St%20Mary%27s%20%26%20St%20John%27s:j.smith%40school.example\
                 ?secret={}&issuer=St%20Mary%27s%20%26%20St%20John%27s\
                 &algorithm=SHA1&digits=6&period=30",
                secret.to_base32()
            )
        );
        assert!(
            secret
                .otpauth_uri("A:B", "c")
                .starts_with("otpauth://totp/A%3AB:c?")
        );
    }

    proptest! {
        #[test]
        fn base32_never_panics(text in "\\PC{0,200}") {
            let _ = TotpSecret::from_base32(&text);
        }

        #[test]
        fn base32_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..=MAX_SECRET_BYTES)) {
            prop_assert_eq!(base32_decode(&base32_encode(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn verify_never_panics(code in "\\PC{0,20}", t in any::<u64>(), last in any::<Option<u64>>()) {
            let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
            let _ = verify(&secret, &code, t, last);
        }

        #[test]
        fn the_current_code_verifies(t in 0u64..40_000_000_000) {
            let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
            // Another step's code may equal this one's (one chance in a million), and then the
            // later step is taken; either way the result is within one step.
            let step = step_at(t);
            let used = verify(&secret, &code_at(&secret, t), t, None);
            prop_assert!(matches!(used, Some(s) if s >= step && s <= step + 1), "{used:?}");
        }
    }
}
