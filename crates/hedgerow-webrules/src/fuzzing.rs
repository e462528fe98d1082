//! One entry point that runs every parser in the crate on the same input, for a fuzz target
//! (`fuzz_target!(|data: &[u8]| hedgerow_webrules::fuzzing::exercise(data))`).
//!
//! Besides "never panics", it checks the promises the search functions make, so a fuzzer
//! that finds a broken promise reports it as a crash.

use crate::filetype;
use crate::search::{self, SafeSearchOutcome};
use crate::url;

/// Hosts tried with every input, so the fuzzer reaches each engine's code without having to
/// guess a host name first.
const HOSTS: &[&str] = &[
    "www.google.com",
    "www.google.co.uk",
    "images.google.com",
    "www.bing.com",
    "duckduckgo.com",
    "html.duckduckgo.com",
    "uk.images.search.yahoo.com",
    "www.ecosia.org",
    "www.youtube.com",
];

/// Runs every parser on `input`. The input is read as `host\npath_and_query` when it has a
/// line break, and as a path (tried on every known engine host) in any case; the raw bytes
/// also go to the header parsers.
///
/// # Panics
///
/// Only when a promise is broken: a rewritten target that is not valid or not stable, a
/// rewrite that changes the search, or a term outside its bounds.
pub fn exercise(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    if let Some((host, target)) = text.split_once('\n') {
        check_search(host, target);
        let _ = search::is_youtube_host(host);
    }
    for host in HOSTS {
        check_search(host, &text);
    }

    let _ = filetype::class_of_path(&text);
    let _ = filetype::class_of_filename(&text);
    let _ = filetype::class_of_content_type(input);
    let _ = filetype::class_of_disposition(input);
    let (first, second) = input.split_at(input.len() / 2);
    let _ = filetype::classify_response(&text, Some(first), Some(second));
    let _ = filetype::classify_response(&text, Some(second), None);
    let _ = filetype::classify_response(&text, None, Some(first));

    let (_, query) = url::split_path_query(&text);
    for (key, value) in url::query_pairs(query.unwrap_or_default()) {
        let _ = url::key_matches(key, "q");
        let decoded = url::decode_query_value(value);
        assert_eq!(
            url::decode_query_value(&url::encode_query_value(&decoded)),
            decoded
        );
    }
    let _ = url::percent_decode(input);
    let _ = url::decode_path(&text);
}

fn check_search(host: &str, target: &str) {
    let found = search::extract_search(host, target);
    if let Some(query) = &found {
        let term = &query.term;
        assert!(!term.is_empty() && term.chars().count() <= search::MAX_TERM_CHARS);
        assert_eq!(term.trim(), term);
    }
    let image = search::is_image_search(host, target);
    if let SafeSearchOutcome::Rewritten(out) = search::force_safe_search(host, target) {
        assert!(is_valid_target(&out), "invalid rewrite {out:?}");
        assert_eq!(
            search::force_safe_search(host, &out),
            SafeSearchOutcome::AlreadySafe,
            "rewrite of {target:?} is not stable: {out:?}"
        );
        assert_eq!(search::extract_search(host, &out), found);
        assert_eq!(search::is_image_search(host, &out), image);
    }
}

/// Whether `target` is a valid origin-form request target: a path and an optional query
/// made only of the characters RFC 3986 allows there, with every `%` starting an escape.
fn is_valid_target(target: &str) -> bool {
    let bytes = target.as_bytes();
    bytes.first() == Some(&b'/')
        && bytes.iter().enumerate().all(|(at, &byte)| {
            byte.is_ascii_alphanumeric()
                || b"-._~!$&'()*+,;=:@/?".contains(&byte)
                || (byte == b'%'
                    && bytes
                        .get(at + 1..at + 3)
                        .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)))
        })
}
