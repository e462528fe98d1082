//! `parse_list` in every format. The first byte picks the format; the rest is the file.
//! Every entry must be canonical, every error must name a real line, and every entry must be
//! found again after compiling the entries into an index.
#![no_main]

use hedgerow_fuzz::{check_entry, round_trip};
use hedgerow_lists::{Entry, ListFormat, parse_list};
use libfuzzer_sys::fuzz_target;

const FORMATS: [ListFormat; 4] = [ListFormat::Domains, ListFormat::Urls, ListFormat::Hosts, ListFormat::ExactUrls];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = FORMATS[(selector % 4) as usize];
    let mut entries = Vec::new();
    let errors = parse_list(body, format, |entry| entries.push(entry));

    let lines = body.split(|b| *b == b'\n').count();
    for error in &errors {
        assert!(error.line >= 1 && error.line <= lines, "error on line {} of {lines}", error.line);
        let _ = error.to_string();
    }
    for entry in &entries {
        check_entry(entry);
        let kind_ok = match (format, entry) {
            (_, Entry::Domain(_)) => true,
            (ListFormat::Urls, Entry::UrlPrefix { .. }) => true,
            (ListFormat::ExactUrls, Entry::ExactUrl { .. }) => true,
            _ => false,
        };
        assert!(kind_ok, "{format:?} produced {entry:?}");
    }
    let tagged: Vec<(u16, Entry)> = entries.into_iter().map(|e| (0, e)).collect();
    round_trip(1, &tagged);
});
