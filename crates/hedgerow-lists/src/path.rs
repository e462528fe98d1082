//! URL paths in one spelling, so that a list entry and a request that a web server would treat
//! as the same resource compare equal (RFC 3986 §6.2.2).
//!
//! Without this, `/javanoi%64`, `//javanoid` or `/x/../javanoid` would slip past a list entry
//! for `/javanoid`, and `%C3%B1` past one written `%c3%b1`. List entries and requests both go
//! through [`normalize_path`]; the request forwarded to the origin keeps its own spelling.

use std::borrow::Cow;

/// The normal form of a path with its query: percent-escapes of unreserved characters
/// (letters, digits, `-._~`) decoded and every other escape's hex digits in upper case (path
/// and query); in the path only, runs of `/` merged and `.`/`..` segments removed. Case is
/// otherwise kept: paths are case-sensitive. Returns the input unchanged when it is already
/// normal, which is nearly always.
pub fn normalize_path(path_and_query: &str) -> Cow<'_, str> {
    if is_normal(path_and_query) {
        return Cow::Borrowed(path_and_query);
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let path = normalize_escapes(path);
    let mut out = remove_dot_segments(&merge_slashes(&path));
    if let Some(query) = query {
        out.push('?');
        out.push_str(&normalize_escapes(query));
    }
    Cow::Owned(out)
}

/// A quick check that nothing in the string would change.
fn is_normal(path_and_query: &str) -> bool {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    if path.contains("//") || path.contains("/./") || path.contains("/../") {
        return false;
    }
    if path.ends_with("/.") || path.ends_with("/..") || path == "." || path == ".." {
        return false;
    }
    if path.starts_with("./") || path.starts_with("../") {
        return false;
    }
    !path_and_query.contains('%')
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes escapes of unreserved characters and upper-cases the rest; a `%` not followed by
/// two hex digits becomes `%25`.
fn normalize_escapes(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            )
        {
            let decoded = high * 16 + low;
            if is_unreserved(decoded) {
                out.push(char::from(decoded));
            } else {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(high)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(low)]));
            }
            i += 3;
            continue;
        }
        if byte == b'%' {
            // A lone `%` is written as the escape it stands for, so normalising is idempotent
            // (`%%61` would otherwise become `%a`, then something else on a second pass).
            out.push_str("%25");
            i += 1;
            continue;
        }
        // Copy the whole character (the input is a &str, so this stays on a boundary).
        let width = utf8_width(byte);
        if let Some(chunk) = text.get(i..i + width) {
            out.push_str(chunk);
        }
        i += width.max(1);
    }
    out
}

fn utf8_width(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut previous_slash = false;
    for c in path.chars() {
        if c == '/' && previous_slash {
            continue;
        }
        previous_slash = c == '/';
        out.push(c);
    }
    out
}

/// RFC 3986 §5.2.4, on segments: `.` is dropped, `..` drops the segment before it (never past
/// the root). A trailing `.` or `..` leaves a trailing slash, as the RFC's algorithm does.
fn remove_dot_segments(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path.split('/').collect();
    let last = parts.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (index, segment) in parts.iter().enumerate() {
        match *segment {
            "." => trailing_slash = index == last,
            ".." => {
                if segments.len() > usize::from(absolute) {
                    segments.pop();
                }
                trailing_slash = index == last;
            }
            other => {
                segments.push(other);
                trailing_slash = false;
            }
        }
    }
    let mut out = segments.join("/");
    if absolute && !out.starts_with('/') {
        out.insert(0, '/');
    }
    if trailing_slash && !out.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn equivalent_spellings_meet() {
        for (input, normal) in [
            ("/javanoid", "/javanoid"),
            ("/javanoi%64", "/javanoid"),
            ("//javanoid", "/javanoid"),
            ("/./javanoid", "/javanoid"),
            ("/x/../javanoid", "/javanoid"),
            ("/../javanoid", "/javanoid"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/Espa%c3%b1ol/", "/Espa%C3%B1ol/"),
            ("/a%2fb", "/a%2Fb"),
            ("/a?q=%7e%41&x=//y", "/a?q=~A&x=//y"),
            ("/100%", "/100%25"),
            ("/%zz", "/%25zz"),
            ("/%%61%62", "/%25ab"),
            ("/é%41", "/éA"),
            ("/", "/"),
            ("/Case/Kept", "/Case/Kept"),
        ] {
            assert_eq!(normalize_path(input), normal, "{input}");
        }
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent_and_never_panics(input in "/[a-zA-Z0-9%./?~_=&-]{0,40}") {
            let once = normalize_path(&input).into_owned();
            let twice = normalize_path(&once).into_owned();
            prop_assert_eq!(&once, &twice);
            prop_assert!(once.starts_with('/'));
        }

        #[test]
        fn arbitrary_text_never_panics(input in ".{0,60}") {
            let _ = normalize_path(&input);
        }
    }
}
