//! `hedgerow_proxy_wire::parse_client_hello` on arbitrary bytes. Must never panic. First byte
//! even: the rest is the tunnel's first bytes as given. First byte odd: the rest is a
//! handshake body that the harness wraps in a correct ClientHello header and records (split
//! where the first byte says), so the fuzzer gets past the framing into the extensions.
//! Whatever parses must parse the same from every record split, with a valid SNI.
#![no_main]

use hedgerow_proxy_wire::{ClientHello, parse_client_hello};
use libfuzzer_sys::fuzz_target;

fn framed(body: &[u8], record_size: usize) -> Vec<u8> {
    let mut message = vec![1];
    message.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    message.extend_from_slice(body);
    let mut out = Vec::new();
    for record in message.chunks(record_size.clamp(1, 1 << 14)) {
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&(record.len() as u16).to_be_bytes());
        out.extend_from_slice(record);
    }
    out
}

fn check(hello: &ClientHello) {
    if let Some(sni) = &hello.sni {
        assert!(!sni.is_empty() && sni.len() <= 253, "bad SNI length: {sni:?}");
        assert!(
            sni.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)),
            "SNI not normalised: {sni:?}"
        );
        assert!(!sni.ends_with('.') && !sni.contains(".."), "SNI has empty labels: {sni:?}");
    }
    assert_eq!(hello.has_ech, hello.ech.is_some());
    assert!(!hello.ech_outer_only || hello.has_ech);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
    if selector % 2 == 0 {
        if let Ok(Some(hello)) = parse_client_hello(input) {
            check(&hello);
        }
        return;
    }
    let body = input.get(..60_000).unwrap_or(input);
    let whole = parse_client_hello(&framed(body, 1 << 14));
    let split = parse_client_hello(&framed(body, usize::from(selector / 2)));
    assert_eq!(whole, split, "record splitting changed the result");
    match whole {
        Ok(Some(hello)) => check(&hello),
        Ok(None) => panic!("a complete ClientHello asked for more bytes"),
        Err(e) => drop(e.to_string()),
    }
});
