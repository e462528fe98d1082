//! `hedgerow_config::Config::parse` on arbitrary text. Must never panic; whatever it accepts
//! must give a usable directory and a policy spec for each of its schools.
#![no_main]

use hedgerow_config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text) {
        Ok(config) => {
            for school in &config.schools {
                let slug = &school.policy.school;
                assert!(config.policy_spec(slug).is_some(), "school {slug:?} has no policy spec");
            }
            let _ = config.directory();
            let _ = format!("{config:?}");
        }
        Err(errors) => drop(errors.to_string()),
    }
});
