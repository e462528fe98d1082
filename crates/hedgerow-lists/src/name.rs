//! Host name normalisation, shared by list compilation and by every lookup.
//!
//! A list entry and a request must be reduced to the same spelling before they can be compared:
//! lower case, no trailing dot, internationalised names in their ASCII (punycode) form, and
//! address literals recognised as addresses rather than names. Both sides go through
//! [`normalize_host`], so a rule can never be dodged by writing a name differently.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The longest name DNS can carry, in its dotted text form.
const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// A normalised host: either a DNS name or an address literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// Lower-case ASCII labels separated by dots, without a trailing dot.
    Name(String),
    /// A dotted-quad IPv4 literal.
    Ipv4(Ipv4Addr),
    /// An IPv6 literal (written in brackets in URLs).
    Ipv6(Ipv6Addr),
}

impl Host {
    /// The text used for matching and for display: the name, or the address in canonical form.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Host::Name(name) => std::borrow::Cow::Borrowed(name),
            Host::Ipv4(addr) => std::borrow::Cow::Owned(addr.to_string()),
            Host::Ipv6(addr) => std::borrow::Cow::Owned(addr.to_string()),
        }
    }

    /// True for address literals, which only ever match exactly (an address has no parents).
    pub fn is_address(&self) -> bool {
        !matches!(self, Host::Name(_))
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_text())
    }
}

/// Why a piece of text is not a usable host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the host name is empty")]
    Empty,
    #[error("the host name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    #[error("the host name has an empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("the label {0:?} is longer than {MAX_LABEL_LEN} characters")]
    LabelTooLong(String),
    #[error("the host name contains the character {0:?}, which no host name may contain")]
    BadCharacter(char),
    #[error("the internationalised name {0:?} cannot be converted to its ASCII form")]
    BadInternationalName(String),
    #[error("{0:?} is not a valid IPv6 address")]
    BadIpv6(String),
}

/// Normalises a host as written in a list, a URL, a DNS question or a CONNECT line.
///
/// Accepts any case, one trailing dot, Unicode names (converted to punycode), IPv4 literals and
/// IPv6 literals with or without brackets. Ports are not accepted here: strip them first.
pub fn normalize_host(raw: &str) -> Result<Host, NameError> {
    let trimmed = raw.trim();
    let text = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if text.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .map(Host::Ipv6)
            .map_err(|_| NameError::BadIpv6(inner.to_string()));
    }
    if text.contains(':') {
        return text
            .parse::<Ipv6Addr>()
            .map(Host::Ipv6)
            .map_err(|_| NameError::BadIpv6(text.to_string()));
    }
    let ascii = if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(text)
            .map_err(|_| NameError::BadInternationalName(text.to_string()))?
    };
    // Checked after the conversion: IDNA mapping can turn Unicode text (full-width digits, soft
    // hyphens) into an address, and an address must never pass for a name.
    if looks_like_ipv4(&ascii)
        && let Ok(addr) = ascii.parse::<Ipv4Addr>()
    {
        return Ok(Host::Ipv4(addr));
    }
    validate_ascii_name(&ascii)?;
    Ok(Host::Name(ascii))
}

fn looks_like_ipv4(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Checks an already lower-cased ASCII name. Underscores are allowed because real lists and real
/// DNS carry them (`_dmarc`, service names), even though host names proper may not.
fn validate_ascii_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong(label.to_string()));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(NameError::BadCharacter(bad));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Host {
        Host::Name(s.to_string())
    }

    #[test]
    fn case_and_trailing_dot_are_ignored() {
        assert_eq!(
            normalize_host("WWW.Example.COM."),
            Ok(name("www.example.com"))
        );
    }

    #[test]
    fn unicode_names_become_punycode() {
        assert_eq!(
            normalize_host("bücher.example"),
            Ok(name("xn--bcher-kva.example"))
        );
        assert_eq!(
            normalize_host("BÜCHER.example."),
            Ok(name("xn--bcher-kva.example"))
        );
        assert_eq!(
            normalize_host("xn--bcher-kva.example"),
            Ok(name("xn--bcher-kva.example"))
        );
    }

    #[test]
    fn address_literals_are_recognised() {
        assert_eq!(
            normalize_host("10.1.2.3"),
            Ok(Host::Ipv4(Ipv4Addr::new(10, 1, 2, 3)))
        );
        assert_eq!(normalize_host("[::1]"), Ok(Host::Ipv6(Ipv6Addr::LOCALHOST)));
        assert_eq!(normalize_host("::1"), Ok(Host::Ipv6(Ipv6Addr::LOCALHOST)));
        // Unicode that maps to an address is that address (found by fuzzing: a soft hyphen).
        assert_eq!(
            normalize_host("192.\u{AD}148.0.0"),
            Ok(Host::Ipv4(Ipv4Addr::new(192, 148, 0, 0)))
        );
        assert_eq!(
            normalize_host("\u{FF11}\u{FF10}.0.0.\u{FF11}"),
            Ok(Host::Ipv4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        // Four numeric labels out of range are not an address; they are a (numeric) name.
        assert_eq!(normalize_host("300.1.2.3"), Ok(name("300.1.2.3")));
    }

    #[test]
    fn malformed_names_are_refused_with_a_reason() {
        assert_eq!(normalize_host(""), Err(NameError::Empty));
        assert_eq!(normalize_host("."), Err(NameError::Empty));
        assert_eq!(normalize_host("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(normalize_host("a b.com"), Err(NameError::BadCharacter(' ')));
        assert_eq!(
            normalize_host("ex/ample.com"),
            Err(NameError::BadCharacter('/'))
        );
        assert!(matches!(
            normalize_host(&"a".repeat(64)),
            Err(NameError::LabelTooLong(_))
        ));
        let long = vec!["abcdefghi"; 30].join(".");
        assert_eq!(normalize_host(&long), Err(NameError::TooLong));
    }
}
