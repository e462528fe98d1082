//! Checks shared by the fuzz targets in `fuzz_targets/`.
//!
//! A failed `assert!` here is an invariant violation in `hedgerow-lists`, reported by libFuzzer
//! as a crash just like a panic inside the crate.

use hedgerow_lists::source::MAX_PATH_LEN;
use hedgerow_lists::{
    Entry, Host, IndexBuilder, ListClass, ListIndex, Match, MatchKind, Target, normalize_host,
};

/// Lets a panic that the code under test catches itself stay caught.
///
/// libFuzzer's harness installs a panic hook that aborts on *any* panic. `ListIndex::lookup`
/// deliberately contains panics from the `fst` crate on malformed transducers (it marks the
/// index damaged and the engine fails closed), so the index targets restore the default hook.
/// A panic that escapes the code under test still aborts: the harness catches it at the
/// target's boundary and calls `abort`.
pub fn contain_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
    });
}

/// A normalised host must be in canonical form, and normalising it again must change nothing.
pub fn check_host(host: &Host) {
    match host {
        Host::Name(name) => {
            assert!(!name.is_empty(), "empty name");
            assert!(name.is_ascii(), "name {name:?} is not ASCII");
            assert!(!name.bytes().any(|b| b.is_ascii_uppercase()), "name {name:?} is not lower case");
            assert!(!name.ends_with('.'), "name {name:?} has a trailing dot");
            assert!(name.len() <= 253, "name {name:?} is too long");
            let again = normalize_host(name);
            assert_eq!(again.as_ref(), Ok(host), "normalising {name:?} again changed it");
            // A bare name is also a valid target, and reads back as itself.
            let target = Target::parse(name);
            assert_eq!(target, Ok(Target::host_only(host.clone())), "Target::parse({name:?})");
        }
        Host::Ipv4(_) | Host::Ipv6(_) => {
            let text = host.as_text();
            assert_eq!(normalize_host(&text).as_ref(), Ok(host), "address {text:?} did not read back");
        }
    }
}

/// A parsed list entry must carry a canonical host and a sane path.
pub fn check_entry(entry: &Entry) {
    match entry {
        Entry::Domain(host) => check_host(host),
        Entry::UrlPrefix { host, path } | Entry::ExactUrl { host, path } => {
            check_host(host);
            assert!(path.starts_with('/'), "path {path:?} does not start with '/'");
            assert!(path.len() <= MAX_PATH_LEN, "path of {} bytes kept", path.len());
            assert!(!path.contains('#'), "path {path:?} kept a comment");
            assert!(!path.contains(char::is_whitespace), "path {path:?} has whitespace");
        }
    }
}

/// The target that should meet an entry, and the match it should produce.
pub fn expected_match(entry: &Entry, list: u16) -> (Target, Match) {
    let (host, path, kind) = match entry {
        Entry::Domain(host) => {
            let kind = if host.is_address() { MatchKind::Address } else { MatchKind::Domain };
            (host, None, kind)
        }
        Entry::UrlPrefix { host, path } => (host, Some(path), MatchKind::UrlPrefix),
        Entry::ExactUrl { host, path } => (host, Some(path), MatchKind::ExactUrl),
    };
    let m = Match {
        list: hedgerow_lists::ListId(list),
        kind,
        host_len: host.as_text().len() as u16,
        path_len: path.map_or(0, |p| p.len() as u16),
    };
    (Target { host: host.clone(), path: path.cloned() }, m)
}

/// Builds an index from `entries` (list id, entry), opens it, and checks that every entry is
/// found again by a lookup of its own host and path.
pub fn round_trip(list_count: u16, entries: &[(u16, Entry)]) -> Vec<u8> {
    let mut builder = IndexBuilder::new();
    for i in 0..list_count {
        let class = if i % 2 == 0 { ListClass::Category } else { ListClass::Illegal };
        builder.add_list(&format!("list{i}"), "uncategorised", class).expect("add_list");
    }
    for (list, entry) in entries {
        builder.add(hedgerow_lists::ListId(*list), entry).expect("add");
    }
    let bytes = builder.build().expect("building an index from parsed entries failed");
    let index = ListIndex::from_vec(bytes.clone()).expect("a freshly built index did not open");
    let mut out = Vec::new();
    for (list, entry) in entries {
        let (target, want) = expected_match(entry, *list);
        out.clear();
        index.lookup(&target, &mut out);
        assert!(out.contains(&want), "entry {entry:?} not found: want {want:?}, got {out:?}");
        for m in &out {
            assert!(index.list(m.list).is_some(), "match names an unknown list");
            let _ = m.entry_text(&target);
        }
    }
    bytes
}

/// Lookups that must not panic on any index that opened.
pub fn probe(index: &ListIndex, extra: &[Target]) {
    const FIXED: &[&str] = &[
        "example.com",
        "www.example.com/path/to?q=1",
        "a.b.c.d.e.f/g",
        "1.2.3.4",
        "1.2.3.4/x",
        "[::1]/y",
        "xn--bcher-kva.example/Z",
        "_dmarc.example.org",
    ];
    let mut out = Vec::new();
    let fixed = FIXED.iter().filter_map(|t| Target::parse(t).ok());
    for target in fixed.chain(extra.iter().cloned()) {
        out.clear();
        index.lookup(&target, &mut out);
        for m in &out {
            let _ = index.list(m.list);
            let _ = m.entry_text(&target);
        }
    }
    let _ = (index.lists().len(), index.key_count(), index.byte_size(), format!("{index:?}"));
}

/// A risk match must be a real span of the classified text, with a severity of 1 to 5 and a
/// category that reads back from its name.
pub fn check_risk_match(text: &str, found: Option<hedgerow_risk::RiskMatch>) {
    if let Some(found) = found {
        assert!((1..=5).contains(&found.severity), "{found:?}");
        assert!(!found.matched.is_empty(), "{found:?}");
        assert!(text.contains(&found.matched), "{found:?} not in {text:?}");
        assert_eq!(
            hedgerow_risk::RiskCategory::parse(found.category.as_str()),
            Some(found.category)
        );
        assert!(!found.entry.is_empty() && !found.language.is_empty(), "{found:?}");
    }
}
