//! Small URL helpers: splitting a request target into path and query, walking query
//! parameters, percent-decoding and re-encoding.
//!
//! These follow what browsers and the big search engines' front ends do rather than the
//! letter of RFC 3986, because the question is always "what will the server understand":
//! a stray `%` is kept as a literal (as servers do), `+` in a query is a space (HTML form
//! encoding), and invalid UTF-8 is replaced rather than refused, so a hostile URL still
//! yields something to check.

use std::borrow::Cow;

/// Splits a request target into its path and its query (without the `?`).
///
/// A fragment is dropped first: a request target never carries one, and anything after a
/// `#` would not reach the origin.
pub fn split_path_query(path_and_query: &str) -> (&str, Option<&str>) {
    let target = match path_and_query.split_once('#') {
        Some((before, _)) => before,
        None => path_and_query,
    };
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// The query's parameters as raw (still encoded) `(key, value)` pairs, in order.
///
/// Empty pieces (`a=1&&b=2`) are skipped; a piece without `=` has an empty value.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.split_once('=').unwrap_or((piece, "")))
}

/// The decoded values of every parameter named `name`, in order.
///
/// Names are compared after decoding and without regard to ASCII case, because some engines
/// (Bing runs on IIS) read `Q=` as `q=`, and a filter must see what the engine sees.
pub fn query_values<'a>(query: &'a str, name: &'a str) -> impl Iterator<Item = String> + 'a {
    query_pairs(query)
        .filter(move |(key, _)| key_matches(key, name))
        .map(|(_, value)| decode_query_value(value))
}

/// Whether the raw query key `raw_key` names the parameter `name` (decoded, ASCII
/// case-insensitive).
pub fn key_matches(raw_key: &str, name: &str) -> bool {
    if !raw_key.bytes().any(|b| b == b'%' || b == b'+') {
        return raw_key.eq_ignore_ascii_case(name);
    }
    decode(raw_key.as_bytes(), true).eq_ignore_ascii_case(name.as_bytes())
}

/// Percent-decodes bytes. A `%` not followed by two hex digits is kept as it is.
pub fn percent_decode(input: &[u8]) -> Cow<'_, [u8]> {
    decode(input, false)
}

/// Decodes a query value as a form would: `+` is a space, `%XX` is a byte, and invalid UTF-8
/// is replaced with U+FFFD.
pub fn decode_query_value(raw: &str) -> String {
    String::from_utf8_lossy(&decode(raw.as_bytes(), true)).into_owned()
}

/// Decodes a path or path segment: `%XX` is a byte (`+` stays `+`), and invalid UTF-8 is
/// replaced with U+FFFD.
pub fn decode_path(raw: &str) -> String {
    String::from_utf8_lossy(&decode(raw.as_bytes(), false)).into_owned()
}

/// Encodes a value for a query: unreserved characters stay, a space becomes `+`, everything
/// else becomes `%XX`. The result decodes back to `value` with [`decode_query_value`].
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b' ' => out.push('+'),
            _ if is_unreserved(byte) => out.push(char::from(byte)),
            _ => push_escaped(&mut out, byte),
        }
    }
    out
}

fn decode(input: &[u8], plus_as_space: bool) -> Cow<'_, [u8]> {
    if !input
        .iter()
        .any(|&b| b == b'%' || (plus_as_space && b == b'+'))
    {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'%' => match escaped_byte(tail) {
                Some(decoded) => {
                    out.push(decoded);
                    rest = tail.get(2..).unwrap_or_default();
                }
                None => out.push(b'%'),
            },
            b'+' if plus_as_space => out.push(b' '),
            _ => out.push(byte),
        }
    }
    Cow::Owned(out)
}

/// The byte encoded by the two hex digits at the start of `after_percent`, if they are there.
fn escaped_byte(after_percent: &[u8]) -> Option<u8> {
    match after_percent {
        [high, low, ..] => Some(hex_value(*high)? << 4 | hex_value(*low)?),
        _ => None,
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Characters RFC 3986 allows unescaped in a path segment or a query, apart from `%`
/// (handled by the caller) and `/` and `?` (added by [`Part`]).
fn is_pchar(byte: u8) -> bool {
    is_unreserved(byte)
        || matches!(
            byte,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

fn push_escaped(out: &mut String, byte: u8) {
    out.push('%');
    for nibble in [byte >> 4, byte & 0x0f] {
        let digit = char::from_digit(u32::from(nibble), 16).unwrap_or('0');
        out.push(digit.to_ascii_uppercase());
    }
}

/// Which part of a request target [`push_valid`] is writing.
#[derive(Clone, Copy)]
pub(crate) enum Part {
    Path,
    Query,
}

/// Appends `raw` to `out`, escaping every byte that may not appear unescaped in that part of
/// a request target, so that a rewritten target is valid even when the original was sloppy.
/// Escapes that are already there are kept, and a stray `%` becomes `%25`, which is what a
/// lenient server reads it as anyway; so the decoded meaning is unchanged.
pub(crate) fn push_valid(out: &mut String, raw: &str, part: Part) {
    let bytes = raw.as_bytes();
    for (at, &byte) in bytes.iter().enumerate() {
        let allowed = match part {
            Part::Path => is_pchar(byte) || byte == b'/',
            Part::Query => is_pchar(byte) || byte == b'/' || byte == b'?',
        };
        if allowed {
            out.push(char::from(byte));
        } else if byte == b'%' && escaped_byte(bytes.get(at + 1..).unwrap_or_default()).is_some() {
            out.push('%');
        } else {
            push_escaped(out, byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_path_query_and_drops_the_fragment() {
        assert_eq!(
            split_path_query("/search?q=a#top"),
            ("/search", Some("q=a"))
        );
        assert_eq!(split_path_query("/search"), ("/search", None));
        assert_eq!(split_path_query("/search?"), ("/search", Some("")));
        assert_eq!(split_path_query("/a#b?c"), ("/a", None));
        assert_eq!(split_path_query(""), ("", None));
        assert_eq!(split_path_query("?q=1?2"), ("", Some("q=1?2")));
    }

    #[test]
    fn decodes_like_a_form() {
        assert_eq!(decode_query_value("cute+cats%21"), "cute cats!");
        assert_eq!(decode_query_value("100%"), "100%");
        assert_eq!(decode_query_value("%zz%4"), "%zz%4");
        assert_eq!(decode_query_value("%C3%A9t%C3%A9"), "été");
        assert_eq!(decode_query_value("%FF"), "\u{FFFD}");
        assert_eq!(decode_path("a+b%2Fc"), "a+b/c");
        assert_eq!(percent_decode(b"plain"), Cow::Borrowed(b"plain".as_slice()));
    }

    #[test]
    fn pairs_skip_empty_pieces() {
        let pairs: Vec<_> = query_pairs("a=1&&b&c=&=d&e=f=g").collect();
        assert_eq!(
            pairs,
            [("a", "1"), ("b", ""), ("c", ""), ("", "d"), ("e", "f=g")]
        );
    }

    #[test]
    fn keys_match_decoded_and_case_insensitively() {
        assert!(key_matches("q", "q"));
        assert!(key_matches("Q", "q"));
        assert!(key_matches("s%61fe", "safe"));
        assert!(key_matches("SAF%45", "safe"));
        assert!(!key_matches("sa+fe", "safe"));
        assert!(!key_matches("safe_", "safe"));
        let values: Vec<_> = query_values("q=a&x=1&Q=b+c", "q").collect();
        assert_eq!(values, ["a", "b c"]);
    }

    #[test]
    fn encoding_round_trips() {
        for value in ["cute cats", "a&b=c", "été", "100%", "+", "~._-", ""] {
            let encoded = encode_query_value(value);
            assert!(
                encoded
                    .bytes()
                    .all(|b| is_unreserved(b) || b == b'%' || b == b'+')
            );
            assert_eq!(decode_query_value(&encoded), value);
        }
        assert_eq!(encode_query_value("a b&c"), "a+b%26c");
    }

    #[test]
    fn valid_output_keeps_escapes_and_fixes_the_rest() {
        let mut out = String::new();
        push_valid(&mut out, "q=a b%20c%zz\"é|", Part::Query);
        assert_eq!(out, "q=a%20b%20c%25zz%22%C3%A9%7C");
        let mut path = String::new();
        push_valid(&mut path, "/a?b", Part::Path);
        assert_eq!(path, "/a%3Fb");
    }
}
