//! Tokens against cross-site request forgery, bound to the session.
//!
//! A token is the HMAC-SHA-256 of the session identifier under a server key, so it needs no
//! storage: the app puts it in every form (and API clients that use cookies send it in a
//! header), and a forged request from another site cannot know it. Because the token follows
//! from the session identifier, the app must issue a new session identifier at log-in (which
//! it does anyway against session fixation); a token from before log-in then stops working.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::totp::RandomUnavailable;

/// Bytes in a key: the HMAC-SHA-256 block's worth of security, 256 bits.
pub const KEY_BYTES: usize = 32;

/// Separates this use of the key from any other the app might make of the same bytes.
const CONTEXT: &[u8] = b"hedgerow-csrf-v1\0";

/// The longest token worth decoding: a real one is 43 characters.
const MAX_TOKEN_CHARS: usize = 64;

/// The server's key for CSRF tokens. `Debug` hides it.
#[derive(Clone)]
pub struct CsrfKey {
    key: hmac::Key,
}

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey(..)")
    }
}

impl CsrfKey {
    /// A new random key. Tokens made under one key do not verify under another, so a key made
    /// at each start signs everyone's forms out of date after a restart; keep one in the data
    /// directory and load it with [`CsrfKey::from_bytes`] to avoid that.
    pub fn generate() -> Result<CsrfKey, RandomUnavailable> {
        let mut bytes = [0u8; KEY_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| RandomUnavailable)?;
        Ok(CsrfKey::from_bytes(&bytes))
    }

    /// A key from stored bytes.
    pub fn from_bytes(bytes: &[u8; KEY_BYTES]) -> CsrfKey {
        CsrfKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// The token for a session: URL-safe base64 without padding (43 characters), safe in a
    /// form field, a header or a query string.
    pub fn token(&self, session_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.tag(session_id).as_ref())
    }

    /// Whether `token` is this session's token, compared in constant time.
    pub fn verify(&self, session_id: &str, token: &str) -> bool {
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
            return false;
        }
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        let mut message = Vec::with_capacity(CONTEXT.len() + session_id.len());
        message.extend_from_slice(CONTEXT);
        message.extend_from_slice(session_id.as_bytes());
        hmac::verify(&self.key, &message, &tag).is_ok()
    }

    fn tag(&self, session_id: &str) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(CONTEXT);
        context.update(session_id.as_bytes());
        context.sign()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_verify_for_their_session_only() {
        let key = CsrfKey::generate().unwrap();
        let token = key.token("session-a");
        assert_eq!(token.len(), 43);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(key.verify("session-a", &token));
        assert!(!key.verify("session-b", &token));
        assert!(!key.verify("session-a", ""));
        assert!(!key.verify("session-a", &token[..42]));
        assert!(!key.verify("session-a", &format!("{token}A")));
        let other = CsrfKey::generate().unwrap();
        assert!(!other.verify("session-a", &token));
        assert_eq!(format!("{key:?}"), "CsrfKey(..)");
    }

    #[test]
    fn stored_keys_give_the_same_tokens() {
        let bytes = [7u8; KEY_BYTES];
        let a = CsrfKey::from_bytes(&bytes);
        let b = CsrfKey::from_bytes(&bytes);
        assert_eq!(a.token("s"), b.token("s"));
        assert!(b.verify("s", &a.token("s")));
    }

    proptest! {
        #[test]
        fn verify_never_panics(session in "\\PC{0,60}", token in "\\PC{0,100}") {
            let key = CsrfKey::from_bytes(&[1u8; KEY_BYTES]);
            prop_assert!(!key.verify(&session, &token) || token.trim() == key.token(&session));
        }

        #[test]
        fn own_tokens_verify(session in "\\PC{0,60}") {
            let key = CsrfKey::from_bytes(&[2u8; KEY_BYTES]);
            prop_assert!(key.verify(&session, &key.token(&session)));
        }
    }
}
