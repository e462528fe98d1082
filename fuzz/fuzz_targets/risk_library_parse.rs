//! `RiskLibrary::parse` on arbitrary text. Whatever it accepts must compile into a classifier,
//! and that classifier must keep its promises on the same text.
#![no_main]

use hedgerow_risk::{AgeBand, Classifier, RiskLibrary};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match RiskLibrary::parse("fuzz.risk", text) {
        Ok(library) => {
            for entry in library.entries() {
                assert!((1..=5).contains(&entry.severity), "{entry:?}");
                assert!(!entry.phrases.is_empty(), "{entry:?}");
            }
            let classifier = match Classifier::new(&library, &[]) {
                Ok(classifier) => classifier,
                Err(error) => panic!("an accepted library does not compile: {error}"),
            };
            for band in AgeBand::ALL {
                hedgerow_fuzz::check_risk_match(text, classifier.classify(text, band));
                let _ = classifier.classify_url(text, band);
            }
        }
        Err(error) => drop(error.to_string()),
    }
});
