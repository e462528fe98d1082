//! `normalize_host` and `Target::parse` on arbitrary text. A normalised name must be lower-case
//! ASCII without a trailing dot, and normalising it again must give the same result.
#![no_main]

use hedgerow_fuzz::check_host;
use hedgerow_lists::{Target, normalize_host};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match normalize_host(text) {
        Ok(host) => check_host(&host),
        Err(e) => drop(e.to_string()),
    }
    match Target::parse(text) {
        Ok(target) => {
            check_host(&target.host);
            if let Some(path) = &target.path {
                assert!(path.starts_with('/'), "path {path:?} does not start with '/'");
                assert!(!path.contains('#'), "path {path:?} kept the fragment");
            }
        }
        Err(e) => drop(e.to_string()),
    }
});
