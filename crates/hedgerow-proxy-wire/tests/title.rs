//! Property tests for the page-title scanner: it never panics, what it returns is always a
//! clean, bounded title, escaped text comes back as written, and feeding a page in pieces
//! finds the same title as scanning it whole.

use hedgerow_proxy_wire::{MAX_TITLE_CHARS, TitleScan, TitleScanner, find_title};
use proptest::prelude::*;

fn assert_clean(title: &str) {
    assert!(!title.is_empty());
    assert!(title.chars().count() <= MAX_TITLE_CHARS, "{title:?}");
    assert_eq!(title.trim(), title);
    assert!(!title.contains("  "), "{title:?}");
    assert!(
        !title
            .chars()
            .any(|c| c.is_control() || (c.is_whitespace() && c != ' ')),
        "{title:?}"
    );
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Pieces of HTML that matter to the scanner, and some that should not.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<title>".to_string()),
        Just("</title>".to_string()),
        Just("<TITLE class='a>b'>".to_string()),
        Just("</TiTlE >".to_string()),
        Just("<!--".to_string()),
        Just("-->".to_string()),
        Just("<script>".to_string()),
        Just("</script>".to_string()),
        Just("<style media=\"x\">".to_string()),
        Just("</style>".to_string()),
        Just("<head>".to_string()),
        Just("</head>".to_string()),
        Just("<body>".to_string()),
        Just("<meta charset=\"utf-8\">".to_string()),
        Just("<!doctype html>".to_string()),
        Just("&amp;".to_string()),
        Just("&#x41;".to_string()),
        Just("&#169;".to_string()),
        Just("&".to_string()),
        Just("<".to_string()),
        Just(">".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        "[a-z é€\n\t]{0,12}",
    ]
}

proptest! {
    #[test]
    fn any_bytes_give_a_clean_title_or_none(bytes in proptest::collection::vec(any::<u8>(), 0..2048), complete: bool) {
        match find_title(&bytes, complete) {
            TitleScan::Found(title) => assert_clean(&title),
            TitleScan::Absent => {}
            TitleScan::NeedMore { resume_at } => {
                prop_assert!(!complete);
                prop_assert!(resume_at <= bytes.len());
            }
        }
    }

    #[test]
    fn escaped_text_comes_back_collapsed(text in "[a-zA-Z0-9 <>&\"'é€\u{1F600}\n\t]{0,400}", attrs in "( [a-z]{1,5}=\"[a-z> ]{0,5}\"){0,2}") {
        let page = format!("<!doctype html><html><head><meta charset=utf-8><title{attrs}>{}</title></head><body>x</body>", html_escape(&text));
        let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let expected: String = collapsed.chars().take(MAX_TITLE_CHARS).collect();
        let expected = expected.trim_end();
        match find_title(page.as_bytes(), true) {
            TitleScan::Found(title) => prop_assert_eq!(title.as_str(), expected),
            TitleScan::Absent => prop_assert!(expected.is_empty()),
            other => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn feeding_in_pieces_finds_what_a_whole_scan_finds(
        parts in proptest::collection::vec(fragment(), 0..40),
        sizes in proptest::collection::vec(1usize..600, 1..20),
    ) {
        let page = parts.concat();
        let whole = match find_title(page.as_bytes(), true) {
            TitleScan::Found(title) => Some(title),
            _ => None,
        };
        let mut scanner = TitleScanner::new();
        let mut rest = page.as_bytes();
        let mut next = sizes.iter().cycle();
        while !rest.is_empty() && scanner.wants_more() {
            let size = (*next.next().unwrap_or(&1)).min(rest.len());
            let (chunk, after) = rest.split_at(size);
            scanner.feed(chunk);
            rest = after;
        }
        let pieces = scanner.finish();
        if let Some(title) = &pieces {
            assert_clean(title);
        }
        prop_assert_eq!(pieces, whole);
    }
}
