//! `hedgerow_proxy_wire` HTTP parsing on arbitrary bytes: the request head, then the chunked
//! decoder over what follows it (first byte even), or a response head (first byte odd).
//! Must never panic; a parsed head must re-serialise to bytes that parse to the same head;
//! the chunked decoder must give the same result however its input is split.
#![no_main]

use hedgerow_proxy_wire::{ChunkedDecoder, Progress, parse_request_head, parse_response_head};
use libfuzzer_sys::fuzz_target;

/// Decodes `body` whole and in two parts split at `split`; both must agree.
fn check_chunked(body: &[u8], split: usize) {
    let mut whole = ChunkedDecoder::new();
    let mut whole_out = Vec::new();
    let whole_result = whole.feed(body, &mut whole_out);
    if let Ok(progress) = &whole_result {
        assert!(progress.consumed <= body.len());
        assert!(progress.done || progress.consumed == body.len(), "stopped early without finishing");
    }

    let split = split.min(body.len());
    let mut parts = ChunkedDecoder::new();
    let mut parts_out = Vec::new();
    let parts_result = match parts.feed(&body[..split], &mut parts_out) {
        Ok(first) if first.done => Ok(first),
        Ok(first) => parts
            .feed(&body[split..], &mut parts_out)
            .map(|second| Progress { consumed: first.consumed + second.consumed, done: second.done }),
        Err(e) => Err(e),
    };
    assert_eq!(parts_result, whole_result);
    assert_eq!(parts_out, whole_out);
    let _ = whole_result.map_err(|e| e.to_string());
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
    if selector % 2 == 1 {
        if let Ok(Some((head, used))) = parse_response_head(input) {
            assert!(used > 0 && used <= input.len());
            let _ = (head.body("GET"), head.keep_alive(), head.hop_by_hop_headers());
            let mut written = Vec::new();
            head.write_to(&mut written);
            let (again, _) = parse_response_head(&written).expect("re-serialised response parses").expect("complete");
            assert_eq!(again, head);
        }
        return;
    }
    let split = usize::from(selector / 2);
    match parse_request_head(input) {
        Ok(Some((head, used))) => {
            assert!(used > 0 && used <= input.len());
            let _ = (head.body(), head.keep_alive(), head.hop_by_hop_headers(), head.headers.end_to_end());
            let _ = head.proxy_basic_credentials();
            let mut written = Vec::new();
            head.write_to(&mut written);
            let (again, again_used) =
                parse_request_head(&written).expect("re-serialised request parses").expect("complete");
            assert_eq!(again_used, written.len());
            assert_eq!(again, head);
            check_chunked(&input[used..], split);
        }
        Ok(None) => {}
        Err(e) => {
            let _ = (e.status(), e.to_string());
        }
    }
    // The decoder also sees the raw input, so it is explored even without a valid head.
    check_chunked(input, split);
});
