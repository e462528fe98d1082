//! Matching semantics of the compiled index, through its public API only.

use hedgerow_lists::{
    Entry, IndexBuilder, IndexError, ListClass, ListFormat, ListIndex, MatchKind, Target,
    normalize_host, parse_list,
};
use proptest::prelude::*;

fn build(lists: &[(&str, ListFormat, &str)]) -> ListIndex {
    let mut builder = IndexBuilder::new();
    for (name, format, text) in lists {
        let class = if name.starts_with("illegal") {
            ListClass::Illegal
        } else {
            ListClass::Category
        };
        let id = builder.add_list(name, "uncategorised", class).unwrap();
        let mut entries = Vec::new();
        let errors = parse_list(text.as_bytes(), *format, |e| entries.push(e));
        assert!(errors.is_empty(), "{errors:?}");
        for entry in &entries {
            builder.add(id, entry).unwrap();
        }
    }
    ListIndex::from_vec(builder.build().unwrap()).unwrap()
}

/// Names of the lists that a URL or host meets, with the entry that matched.
fn hits(index: &ListIndex, url: &str) -> Vec<(String, String)> {
    let target = Target::parse(url).unwrap();
    let mut out = Vec::new();
    index.lookup(&target, &mut out);
    out.iter()
        .map(|m| {
            (
                index.list(m.list).unwrap().name.clone(),
                m.entry_text(&target),
            )
        })
        .collect()
}

fn names(index: &ListIndex, url: &str) -> Vec<String> {
    hits(index, url).into_iter().map(|(n, _)| n).collect()
}

#[test]
fn label_boundaries_and_subdomains() {
    let index = build(&[(
        "games",
        ListFormat::Domains,
        "example.com\nplay.example.org\n",
    )]);
    assert_eq!(
        hits(&index, "example.com"),
        vec![("games".into(), "example.com".into())]
    );
    assert_eq!(
        hits(&index, "www.cdn.example.com"),
        vec![("games".into(), "example.com".into())]
    );
    assert!(names(&index, "notexample.com").is_empty());
    assert!(names(&index, "example.com.evil.net").is_empty());
    assert!(names(&index, "com").is_empty());
    assert!(
        names(&index, "example.org").is_empty(),
        "a parent of a listed name is not listed"
    );
    assert_eq!(names(&index, "a.play.example.org"), vec!["games"]);
    assert!(names(&index, "xplay.example.org").is_empty());
}

#[test]
fn case_trailing_dot_and_idn() {
    let index = build(&[(
        "shopping",
        ListFormat::Domains,
        "bücher.example\nShop.Example\n",
    )]);
    assert_eq!(names(&index, "WWW.SHOP.EXAMPLE."), vec!["shopping"]);
    assert_eq!(names(&index, "xn--bcher-kva.example"), vec!["shopping"]);
    assert_eq!(names(&index, "www.BÜCHER.example"), vec!["shopping"]);
}

#[test]
fn url_path_prefixes_apply_to_the_host_and_its_subdomains() {
    let index = build(&[(
        "adult",
        ListFormat::Urls,
        "example.com/Adult/\nsite.example/x\n",
    )]);
    assert_eq!(
        hits(&index, "http://example.com/Adult/page.html"),
        vec![("adult".into(), "example.com/Adult/".into())]
    );
    assert_eq!(
        names(&index, "http://www.example.com/Adult/"),
        vec!["adult"]
    );
    assert!(
        names(&index, "http://example.com/adult/page.html").is_empty(),
        "paths are case-sensitive"
    );
    assert!(names(&index, "http://example.com/").is_empty());
    assert!(
        names(&index, "example.com").is_empty(),
        "a host alone never meets a path entry"
    );
    assert_eq!(
        names(&index, "http://site.example/xyz?q=1"),
        vec!["adult"],
        "a prefix, as squidGuard reads it"
    );
    assert!(names(&index, "http://notsite.example/x").is_empty());
}

#[test]
fn ipv4_literals_match_only_that_address() {
    let index = build(&[(
        "redirector",
        ListFormat::Domains,
        "10.1.2.3\nproxy.example\n",
    )]);
    assert_eq!(
        hits(&index, "http://10.1.2.3/x"),
        vec![("redirector".into(), "10.1.2.3".into())]
    );
    assert!(names(&index, "10.1.2.30").is_empty());
    assert!(names(&index, "0.10.1.2.3").is_empty());
    assert!(
        names(&index, "x.10.1.2.3").is_empty(),
        "a name ending in an address is not the address"
    );
}

#[test]
fn exact_urls_match_exactly() {
    let index = build(&[(
        "illegal-test",
        ListFormat::ExactUrls,
        "bad.example/a/b.jpg\nwhole.example\n",
    )]);
    assert_eq!(
        names(&index, "http://bad.example/a/b.jpg"),
        vec!["illegal-test"]
    );
    assert!(names(&index, "http://bad.example/a/b.jpg2").is_empty());
    assert!(names(&index, "http://bad.example/a/").is_empty());
    assert!(
        names(&index, "http://www.bad.example/a/b.jpg").is_empty(),
        "exact means this host only"
    );
    assert!(names(&index, "bad.example").is_empty());
    assert_eq!(names(&index, "deep.whole.example"), vec!["illegal-test"]);
}

#[test]
fn an_entry_in_several_lists_reports_each_list_and_duplicates_merge() {
    let index = build(&[
        ("a", ListFormat::Domains, "x.example\nx.example\n"),
        ("b", ListFormat::Domains, "x.example\n"),
        ("c", ListFormat::Domains, "www.x.example\n"),
    ]);
    assert_eq!(
        names(&index, "www.x.example"),
        vec!["a", "b", "c"],
        "most general first"
    );
    assert_eq!(index.key_count(), 2);
    assert_eq!(index.lists()[0].entries, 2);
}

#[test]
fn match_kinds() {
    let index = build(&[
        ("d", ListFormat::Domains, "d.example\n1.2.3.4\n"),
        ("u", ListFormat::Urls, "d.example/p\n"),
    ]);
    let mut out = Vec::new();
    index.lookup(&Target::parse("http://d.example/p").unwrap(), &mut out);
    assert_eq!(
        out.iter().map(|m| m.kind).collect::<Vec<_>>(),
        vec![MatchKind::Domain, MatchKind::UrlPrefix]
    );
    out.clear();
    index.lookup(&Target::parse("1.2.3.4").unwrap(), &mut out);
    assert_eq!(out[0].kind, MatchKind::Address);
}

#[test]
fn damaged_index_files_are_refused() {
    let mut builder = IndexBuilder::new();
    let id = builder
        .add_list("l", "uncategorised", ListClass::Category)
        .unwrap();
    builder
        .add(id, &Entry::Domain(normalize_host("a.example").unwrap()))
        .unwrap();
    let good = builder.build().unwrap();
    assert!(ListIndex::from_vec(good.clone()).is_ok());

    assert!(matches!(
        ListIndex::from_vec(good[..10].to_vec()),
        Err(IndexError::Truncated(_))
    ));
    assert!(matches!(
        ListIndex::from_vec(good[..good.len() - 1].to_vec()),
        Err(IndexError::Truncated(_))
    ));
    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    assert!(matches!(
        ListIndex::from_vec(bad_magic),
        Err(IndexError::BadMagic)
    ));
    for at in [40, good.len() / 2, good.len() - 1] {
        let mut flipped = good.clone();
        flipped[at] ^= 0x40;
        assert!(
            matches!(ListIndex::from_vec(flipped), Err(IndexError::Checksum)),
            "byte {at}"
        );
    }
    assert!(ListIndex::from_vec(Vec::new()).is_err());
}

/// Indexes whose checksums match but whose transducers are malformed, found by fuzzing
/// (docs/fuzzing.md). The fst crate panics on them; the index must contain that.
const FORGED_INDEXES: [&str; 2] = [
    "4852574944583031020000002aa6750594000000000000005000000000000000020000000003006164730b006164766572746973696e67030000000103006977661300696c6c6567616c2d6368696c642d6162757365020000000200000000000000010000000200000000000100000003000000000000000000000000000010a1cddccdd6cdd5001082eac5d0c9cfc2cdc4cb79",
    "4852574944583031020000000d4e1549ea000000000000005000000000000000020000000003006164730b006164766572746973696e67030000000103006977661300696c6c6567616c2d6368696c642d61627573650200000002000000000000000100000002000000000001000000030000000000000000000000000000000010a1cddccdd6cdd5001082eac5d0c9cfc2cdc4c700108fd0c1cecdeac3c9c302c0cccccc01412e010011c2eac5d0c9cfc2cdcac4001083c6d2c5c300c0c2eac5d0c9cfc2cdcbc20000010001143440746d67011104050000000000000065000000000000007353fdcb",
];

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_forged_index_fails_closed_instead_of_panicking() {
    // Hosts and URLs that walk into the malformed parts of these two files.
    let probes: Vec<String> = [
        "a",
        "b",
        "c",
        "d",
        "e",
        "x",
        "ads.example",
        "www.example.com",
    ]
    .iter()
    .flat_map(|h| [h.to_string(), format!("http://{h}/p/a/t/h")])
    .chain((b'a'..=b'z').map(|c| format!("{}.example", c as char)))
    .collect();
    for hex in FORGED_INDEXES {
        let index = ListIndex::from_vec(unhex(hex)).expect("the forged checksum is accepted");
        let mut out = Vec::new();
        for probe in &probes {
            index.lookup(&Target::parse(probe).unwrap(), &mut out);
        }
        assert!(
            index.is_damaged(),
            "a lookup that met malformed data must mark the index damaged"
        );
        out.clear();
        index.lookup(&Target::parse("ads.example").unwrap(), &mut out);
    }
}

proptest! {
    /// Whatever bytes arrive, opening never panics.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ListIndex::from_vec(bytes);
    }

    /// A listed name matches itself and every subdomain, and nothing that merely ends with it.
    #[test]
    fn subdomain_semantics(labels in proptest::collection::vec("[a-z0-9]{1,8}", 2..5), prefix in "[a-z0-9]{1,8}") {
        // A host whose last label is a number (`0.0.0`, `1.0x1f`) is an IPv4 address in URL
        // parsing (WHATWG "ends in a number"), not a name with subdomains.
        let last = labels.last().map(String::as_str).unwrap_or("");
        prop_assume!(!last.bytes().all(|b| b.is_ascii_digit()) && !last.starts_with("0x"));
        let name = labels.join(".");
        let index = build(&[("l", ListFormat::Domains, &name)]);
        let sub = format!("{prefix}.{name}");
        let glued = format!("{prefix}{name}");
        prop_assert_eq!(names(&index, &name), vec!["l".to_string()]);
        prop_assert_eq!(names(&index, &sub), vec!["l".to_string()]);
        prop_assert!(names(&index, &glued).is_empty());
    }
}

proptest! {
    /// Normalising is idempotent, and ASCII case and one trailing dot never change the result.
    /// (DNS folds ASCII case only: upper-casing `ß` gives `SS`, which is another name.)
    #[test]
    fn normalisation_is_idempotent_and_ignores_case_and_trailing_dot(
        labels in proptest::collection::vec("[a-zA-Z0-9_-]{1,12}|[a-z]{0,4}[äöüéßøå][a-z]{0,4}", 1..5),
    ) {
        let name = labels.join(".");
        if let Ok(host) = normalize_host(&name) {
            let text = host.as_text().into_owned();
            prop_assert_eq!(normalize_host(&text), Ok(host.clone()));
            prop_assert_eq!(normalize_host(&name.to_ascii_uppercase()), Ok(host.clone()));
            prop_assert_eq!(normalize_host(&format!("{name}.")), Ok(host.clone()));
            prop_assert!(text.is_ascii() && !text.ends_with('.'));
            prop_assert_eq!(text.to_ascii_lowercase(), text);
        }
    }

    /// An internationalised name and its punycode form meet in the index.
    #[test]
    fn unicode_and_punycode_spellings_match_each_other(stem in "[a-z]{1,6}[äöüéñ][a-z]{1,6}") {
        let unicode = format!("{stem}.example");
        let Ok(host) = normalize_host(&unicode) else { return Ok(()) };
        let punycode = host.as_text().into_owned();
        prop_assert!(punycode.contains("xn--"));
        let index = build(&[("l", ListFormat::Domains, &unicode)]);
        prop_assert_eq!(names(&index, &format!("www.{punycode}")), vec!["l".to_string()]);
        prop_assert_eq!(names(&index, &format!("WWW.{}", unicode.to_ascii_uppercase())), vec!["l".to_string()]);
    }
}
