//! `hedgerow_proxy_wire::find_title` and `TitleScanner` on arbitrary bytes, the proxy's view of
//! an HTML body's first bytes. The first two bytes choose how the body is split into pieces
//! for the scanner. Must never panic; a title must be non-empty, trimmed, free of control
//! characters and doubled spaces, and at most `MAX_TITLE_CHARS` characters; a scanner fed the
//! body in pieces must find what a scan of the whole (limited) body finds when the body is
//! valid UTF-8 (for other bytes the charset choice may differ between a prefix and the whole).
#![no_main]

use hedgerow_proxy_wire::{MAX_TITLE_CHARS, TitleScan, TitleScanner, find_title};
use libfuzzer_sys::fuzz_target;

fn check_clean(title: &str) {
    assert!(!title.is_empty());
    assert!(title.chars().count() <= MAX_TITLE_CHARS);
    assert_eq!(title.trim(), title);
    assert!(!title.contains("  "));
    assert!(!title.chars().any(|c| c.is_control() || (c.is_whitespace() && c != ' ')));
}

fuzz_target!(|data: &[u8]| {
    let (step, body) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])).max(1), rest),
        _ => (1, data),
    };
    let whole = match find_title(body, true) {
        TitleScan::Found(title) => {
            check_clean(&title);
            Some(title)
        }
        TitleScan::Absent => None,
        TitleScan::NeedMore { .. } => panic!("a complete scan asked for more"),
    };
    if let TitleScan::NeedMore { resume_at } = find_title(body, false) {
        assert!(resume_at <= body.len());
    }
    let mut scanner = TitleScanner::new();
    for piece in body.chunks(step) {
        if !scanner.wants_more() {
            break;
        }
        scanner.feed(piece);
    }
    let pieces = scanner.finish();
    if let Some(title) = &pieces {
        check_clean(title);
    }
    if std::str::from_utf8(body).is_ok() {
        assert_eq!(pieces, whole);
    }
});
