//! Properties over generated input: nothing panics, and forcing safe search is stable, keeps
//! every other parameter, keeps the search the same, and always yields a valid target.

use hedgerow_webrules::url::{
    decode_path, decode_query_value, key_matches, query_pairs, split_path_query,
};
use hedgerow_webrules::{
    SafeSearchOutcome, class_of_content_type, class_of_disposition, class_of_filename,
    class_of_path, classify_response, extract_search, force_safe_search, fuzzing, is_image_search,
    is_youtube_host,
};
use proptest::prelude::*;

/// Each engine's host with the parameter it forces (`None`: not forced by parameter).
const ENGINES: &[(&str, Option<(&str, &str)>)] = &[
    ("www.google.com", Some(("safe", "active"))),
    ("images.google.co.uk", Some(("safe", "active"))),
    ("www.bing.com", Some(("adlt", "strict"))),
    ("duckduckgo.com", Some(("kp", "1"))),
    ("html.duckduckgo.com", Some(("kp", "1"))),
    ("uk.search.yahoo.com", Some(("vm", "r"))),
    ("www.ecosia.org", None),
    ("www.youtube.com", None),
    ("www.example.com", None),
];

const PATHS: &[&str] = &[
    "/search",
    "/SEARCH",
    "/s%65arch",
    "/images",
    "/webhp",
    "/",
    "/html/",
    "/lite",
    "/images/search",
    "/videos/search",
    "/i.js",
    "/search;_ylt=A",
    "/search/images",
    "/results",
    "/maps",
    "",
    "search",
    "/sea rch",
    "/%",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "q",
            "p",
            "search_query",
            "safe",
            "SAFE",
            "s%61fe",
            "adlt",
            "ADLT",
            "kp",
            "vm",
            "tbm",
            "udm",
            "ia",
            "iax",
            "hl",
            "",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z%+2-6]{0,5}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "active", "off", "strict", "1", "-2", "r", "isch", "2", "images"
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9 %+é\"|<>\\[\\]{}^`]{0,10}",
        ".{0,6}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    (
        prop::sample::select(PATHS),
        prop::option::of(prop::collection::vec(
            (key(), prop::option::of(value())),
            0..8,
        )),
    )
        .prop_map(|(path, query)| {
            let mut out = path.to_owned();
            if let Some(pieces) = query {
                out.push('?');
                let pieces: Vec<String> = pieces
                    .into_iter()
                    .map(|(key, value)| match value {
                        Some(value) => format!("{key}={value}"),
                        None => key,
                    })
                    .collect();
                out.push_str(&pieces.join("&"));
            }
            out
        })
}

/// The decoded parameters other than `forced`, in order.
fn others(target: &str, forced: &str) -> Vec<(String, String)> {
    let (_, query) = split_path_query(target);
    query_pairs(query.unwrap_or_default())
        .filter(|(key, _)| !key_matches(key, forced))
        .map(|(key, value)| (decode_query_value(key), decode_query_value(value)))
        .collect()
}

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

proptest! {
    #[test]
    fn nothing_panics_on_arbitrary_strings(host in ".{0,40}", target in ".{0,200}") {
        let _ = extract_search(&host, &target);
        let _ = force_safe_search(&host, &target);
        let _ = is_image_search(&host, &target);
        let _ = is_youtube_host(&host);
        let _ = class_of_path(&target);
        let _ = class_of_filename(&target);
        fuzzing::exercise(format!("{host}\n{target}").as_bytes());
    }

    #[test]
    fn nothing_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = class_of_content_type(&bytes);
        let _ = class_of_disposition(&bytes);
        let _ = classify_response("/x.exe", Some(&bytes), Some(&bytes));
        fuzzing::exercise(&bytes);
    }

    #[test]
    fn dispositions_shaped_like_real_ones_do_not_panic(
        kind in "(attachment|inline|)",
        params in prop::collection::vec(
            ("(filename|filename\\*|filename\\*[0-3]\\*?|name)", "(\"[^\"]{0,12}\"?|[a-zA-Z0-9.%'=?_-]{0,16})"),
            0..5,
        ),
    ) {
        let mut value = kind;
        for (name, param) in params {
            value.push_str(&format!("; {name}={param}"));
        }
        let _ = class_of_disposition(value.as_bytes());
        let _ = classify_response("/setup.exe", None, Some(value.as_bytes()));
    }

    #[test]
    fn forcing_is_stable_and_keeps_everything_else(
        engine in prop::sample::select(ENGINES),
        target in target(),
    ) {
        let (host, forced) = engine;
        let outcome = force_safe_search(host, &target);
        fuzzing::exercise(format!("{host}\n{target}").as_bytes());
        match (outcome, forced) {
            (SafeSearchOutcome::Rewritten(out), Some((name, value))) => {
                prop_assert!(is_valid_target(&out), "{out:?}");
                prop_assert_eq!(force_safe_search(host, &out), SafeSearchOutcome::AlreadySafe);
                prop_assert_eq!(others(&out, name), others(&target, name));
                let (out_path, out_query) = split_path_query(&out);
                prop_assert_eq!(decode_path(out_path), decode_path(split_path_query(&target).0));
                let copies: Vec<_> = query_pairs(out_query.unwrap_or_default())
                    .filter(|(key, _)| key_matches(key, name))
                    .collect();
                prop_assert_eq!(copies, vec![(name, value)]);
                prop_assert_eq!(extract_search(host, &out), extract_search(host, &target));
                prop_assert_eq!(is_image_search(host, &out), is_image_search(host, &target));
            }
            (SafeSearchOutcome::Rewritten(out), None) => {
                prop_assert!(false, "{host} has no parameter to force, yet got {out:?}");
            }
            (SafeSearchOutcome::AlreadySafe, Some((name, value))) => {
                let forced = format!("{name}={value}");
                let (_, query) = split_path_query(&target);
                let pieces: Vec<_> = query
                    .unwrap_or_default()
                    .split('&')
                    .filter(|piece| key_matches(piece.split('=').next().unwrap_or_default(), name))
                    .collect();
                prop_assert_eq!(pieces, vec![forced.as_str()]);
            }
            _ => {}
        }
    }
}
