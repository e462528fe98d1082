//! Structured index fuzzing: build a valid index with `IndexBuilder` from fuzzed entries (every
//! entry must be found again), then flip, overwrite, truncate or extend its bytes and reopen.
//! Opening and looking up must never let a panic escape (lookups contain the
//! transducer library's panics and mark the index damaged). With `fix_checksum` the harness rewrites the length
//! and CRC-32 after damaging the file, as `open_checked` callers or a deliberate forger would,
//! so the metadata reader and the transducer see the damage.
#![no_main]

use arbitrary::Arbitrary;
use hedgerow_fuzz::{probe, round_trip};
use hedgerow_lists::{Entry, ListIndex, Target, normalize_host};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    list_count: u8,
    entries: Vec<RawEntry>,
    damage: Vec<Damage>,
    fix_checksum: bool,
    probes: Vec<String>,
}

#[derive(Arbitrary, Debug)]
struct RawEntry {
    list: u8,
    kind: u8,
    host: String,
    path: String,
}

#[derive(Arbitrary, Debug)]
enum Damage {
    Flip { at: u32, xor: u8 },
    Set { at: u32, value: u8 },
    Truncate { len: u32 },
    Append(Vec<u8>),
    Remove { at: u32 },
}

fuzz_target!(|input: Input| {
    let list_count = u16::from(input.list_count % 8) + 1;
    let mut entries = Vec::new();
    for raw in input.entries.iter().take(64) {
        let Ok(host) = normalize_host(&raw.host) else {
            continue;
        };
        let path = if raw.path.starts_with('/') { raw.path.clone() } else { format!("/{}", raw.path) };
        let entry = match raw.kind % 3 {
            0 => Entry::Domain(host),
            1 => Entry::UrlPrefix { host, path },
            _ => Entry::ExactUrl { host, path },
        };
        entries.push((u16::from(raw.list) % list_count, entry));
    }
    let mut bytes = round_trip(list_count, &entries);

    for damage in input.damage.iter().take(8) {
        let len = bytes.len().max(1);
        match damage {
            Damage::Flip { at, xor } => {
                if let Some(b) = bytes.get_mut(*at as usize % len) {
                    *b ^= xor;
                }
            }
            Damage::Set { at, value } => {
                if let Some(b) = bytes.get_mut(*at as usize % len) {
                    *b = *value;
                }
            }
            Damage::Truncate { len: keep } => bytes.truncate(*keep as usize % len),
            Damage::Append(extra) => bytes.extend(extra.iter().take(64)),
            Damage::Remove { at } => {
                if !bytes.is_empty() {
                    bytes.remove(*at as usize % len);
                }
            }
        }
    }
    hedgerow_fuzz::contain_panics();
    let fix_checksum = input.fix_checksum;
    if fix_checksum && bytes.len() >= 32 {
        let total = bytes.len() as u64;
        bytes[16..24].copy_from_slice(&total.to_le_bytes());
        let crc = crc32fast::hash(&bytes[32..]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    }

    let Ok(index) = ListIndex::from_vec(bytes) else {
        return;
    };
    let mut targets: Vec<Target> = entries.iter().map(|(list, e)| hedgerow_fuzz::expected_match(e, *list).0).collect();
    targets.extend(input.probes.iter().take(8).filter_map(|p| Target::parse(p).ok()));
    probe(&index, &targets);
});
