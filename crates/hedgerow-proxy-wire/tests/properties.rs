//! Property tests: the parsers never panic, never claim more bytes than they were given,
//! do not depend on how input is split, and re-serialising a parsed head parses back to
//! the same head.

use hedgerow_proxy_wire::{
    ChunkedDecoder, RequestHead, parse_client_hello, parse_request_head, parse_response_head,
};
use proptest::prelude::*;

fn reparses_identically(head: &RequestHead) {
    let mut written = Vec::new();
    head.write_to(&mut written);
    let (again, used) = parse_request_head(&written)
        .unwrap_or_else(|e| {
            panic!(
                "re-serialised head {:?} failed: {e}",
                String::from_utf8_lossy(&written)
            )
        })
        .expect("re-serialised head is complete");
    assert_eq!(used, written.len());
    assert_eq!(&again, head);
}

fn field_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,15}".prop_filter("not a framing field", |n| {
        !["host", "content-length", "transfer-encoding"].contains(&n.to_ascii_lowercase().as_str())
    })
}

fn request_text() -> impl Strategy<Value = Vec<u8>> {
    let target = prop_oneof![
        "(http|HTTPS|https)://[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){1,2}(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]{0,20})?(\\?[A-Za-z0-9=&%]{0,10})?",
        "/[A-Za-z0-9._~%/-]{0,30}",
    ];
    let fields = proptest::collection::vec(
        (
            field_name(),
            "[ \t]{0,2}",
            "[ -~\u{80}-\u{ff}]{0,20}",
            "[ \t]{0,2}",
        ),
        0..8,
    );
    ("[A-Z]{1,7}", target, "HTTP/1\\.[01]", fields).prop_map(|(method, target, version, fields)| {
        let mut text = format!("{method} {target} {version}\r\nHost: h.example\r\n").into_bytes();
        for (name, before, value, after) in fields {
            text.extend(format!("{name}:{before}").bytes());
            // Values may carry obs-text, so they are written as Latin-1 bytes.
            text.extend(value.chars().map(|c| c as u32 as u8));
            text.extend(format!("{after}\r\n").bytes());
        }
        text.extend(b"\r\n");
        text
    })
}

proptest! {
    #[test]
    fn request_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(Some((head, used))) = parse_request_head(&bytes) {
            prop_assert!(used > 0 && used <= bytes.len());
            reparses_identically(&head);
        }
    }

    #[test]
    fn request_parser_never_panics_after_a_valid_line(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = b"POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\n".to_vec();
        bytes.extend(&tail);
        if let Ok(Some((head, used))) = parse_request_head(&bytes) {
            prop_assert!(used <= bytes.len());
            let _ = (head.body(), head.keep_alive(), head.hop_by_hop_headers(), head.proxy_basic_credentials());
            reparses_identically(&head);
        }
    }

    #[test]
    fn valid_requests_parse_whole_and_every_prefix_needs_more(text in request_text()) {
        let (head, used) = parse_request_head(&text)
            .unwrap_or_else(|e| panic!("{:?} failed: {e}", String::from_utf8_lossy(&text)))
            .expect("complete");
        prop_assert_eq!(used, text.len());
        reparses_identically(&head);
        for cut in 0..text.len() {
            prop_assert_eq!(parse_request_head(&text[..cut]), Ok(None));
        }
    }

    #[test]
    fn response_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(Some((head, used))) = parse_response_head(&bytes) {
            prop_assert!(used <= bytes.len());
            let _ = (head.body("GET"), head.keep_alive());
        }
    }

    #[test]
    fn chunked_round_trip_under_any_split(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..64), 0..8),
        splits in proptest::collection::vec(1usize..16, 1..64),
    ) {
        let mut encoded = Vec::new();
        for chunk in &chunks {
            encoded.extend(format!("{:x};e=1\r\n", chunk.len()).bytes());
            encoded.extend(chunk);
            encoded.extend(b"\r\n");
        }
        encoded.extend(b"0\r\nT: v\r\n\r\n");
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut pos = 0;
        for step in splits.iter().cycle() {
            let end = (pos + step).min(encoded.len());
            let progress = decoder.feed(&encoded[pos..end], &mut out).expect("valid body");
            prop_assert_eq!(progress.consumed, end - pos);
            pos = end;
            if progress.done {
                break;
            }
        }
        prop_assert_eq!(pos, encoded.len());
        prop_assert_eq!(out, chunks.concat());
    }

    #[test]
    fn chunked_decoder_does_not_depend_on_splits(bytes in proptest::collection::vec(any::<u8>(), 0..256), split in 0usize..256) {
        let mut whole = ChunkedDecoder::new();
        let mut whole_out = Vec::new();
        let whole_result = whole.feed(&bytes, &mut whole_out);
        let split = split.min(bytes.len());
        let mut parts = ChunkedDecoder::new();
        let mut parts_out = Vec::new();
        let first = parts.feed(&bytes[..split], &mut parts_out);
        let result = match first {
            Ok(p) if p.done => Ok(p),
            Ok(p) => parts.feed(&bytes[split..], &mut parts_out).map(|q| (p.consumed + q.consumed, q.done)).map(|(consumed, done)| hedgerow_proxy_wire::Progress { consumed, done }),
            Err(e) => Err(e),
        };
        prop_assert_eq!(result, whole_result);
        prop_assert_eq!(parts_out, whole_out);
    }

    #[test]
    fn client_hello_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_client_hello(&bytes);
        let mut framed = vec![22, 3, 1, 0, 0, 1, 0, 0, 0];
        let len = bytes.len() + 4;
        framed[3..5].copy_from_slice(&(len as u16).to_be_bytes());
        framed[6..9].copy_from_slice(&(bytes.len() as u32).to_be_bytes()[1..]);
        framed.extend(&bytes);
        let _ = parse_client_hello(&framed);
    }
}
