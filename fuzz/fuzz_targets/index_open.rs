//! `ListIndex::from_vec` on arbitrary bytes, then lookups on whatever opens. Must never let a panic escape.
//!
//! Random bytes almost never carry a valid header and CRC-32, so the first byte chooses a mode:
//! even = the bytes as given; odd = the rest is `[metadata length: u32 LE][body]` and the
//! harness writes a correct header (magic, version, length, checksum) in front of it, which
//! takes the fuzzer past the checksum into the metadata reader and the transducer.
#![no_main]

use hedgerow_fuzz::probe;
use hedgerow_lists::{ListIndex, Target};
use libfuzzer_sys::fuzz_target;

fn with_header(rest: &[u8]) -> Vec<u8> {
    let (meta_len, body) = match rest.split_first_chunk::<4>() {
        Some((len, body)) => (u32::from_le_bytes(*len), body),
        None => (0, rest),
    };
    let total = 32 + body.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"HRWIDX01");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(&(total as u64).to_le_bytes());
    out.extend_from_slice(&meta_len.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(body);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    hedgerow_fuzz::contain_panics();
    let bytes = if mode % 2 == 0 { rest.to_vec() } else { with_header(rest) };
    let Ok(index) = ListIndex::from_vec(bytes) else {
        return;
    };
    // One extra probe made from the input's tail, so lookups follow the fuzzer's bytes too.
    let tail = &data[data.len().saturating_sub(40)..];
    let extra: Vec<Target> = Target::parse(&String::from_utf8_lossy(tail)).into_iter().collect();
    probe(&index, &extra);
});
