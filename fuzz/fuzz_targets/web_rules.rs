//! `hedgerow_webrules` on arbitrary bytes: search-term extraction, safe-search rewriting and
//! file-type classification of whatever a client or an origin can send. Must never panic, and
//! the rewriting guarantees hold (see `hedgerow_webrules::fuzzing::exercise`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hedgerow_webrules::fuzzing::exercise(data);
});
