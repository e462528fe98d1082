//! `hedgerow_records::open` on arbitrary bytes: a transfer bundle uploaded by another school,
//! which may be damaged, truncated, forged or not a bundle at all. Also `upload::refuse` on the
//! same bytes as a file's first bytes. Must never panic; a bundle that opens seals again into
//! one that opens to the same bundle; a checksum given separately is honoured: the file's own
//! SHA-256 is accepted exactly when the file opens without one, and any other is refused.
#![no_main]

use hedgerow_records::{open, seal, sha256_hex, upload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let refusal = upload::refuse("evidence", "", data);
    assert!(!refusal.message.is_empty());

    let opened = open(data, None);
    let own = sha256_hex(data);
    assert_eq!(open(data, Some(&own)).is_ok(), opened.is_ok());
    let other = sha256_hex(&[data, b"x"].concat());
    assert!(open(data, Some(&other)).is_err());
    if let Ok(bundle) = opened {
        let (bytes, checksum) = seal(&bundle).expect("an opened bundle seals again");
        let again = open(&bytes, Some(&checksum)).expect("a sealed bundle opens");
        assert_eq!(again, bundle);
    }
});
