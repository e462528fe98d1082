//! The built-in risk classifier on arbitrary text: the first byte picks the age band, the rest
//! (lossily decoded) is a search term, title or URL. No panic; a match is a real span of the
//! text with a severity of 1 to 5; ASCII case does not change the verdict.
#![no_main]

use std::sync::OnceLock;

use hedgerow_risk::{AgeBand, Classifier, RiskLibrary};
use libfuzzer_sys::fuzz_target;

fn classifier() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| match Classifier::new(&RiskLibrary::builtin(), &[]) {
        Ok(classifier) => classifier,
        Err(error) => panic!("the built-in libraries do not compile: {error}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&band, rest)) = data.split_first() else {
        return;
    };
    let band = AgeBand::ALL[usize::from(band) % AgeBand::ALL.len()];
    let text = String::from_utf8_lossy(rest);
    let found = classifier().classify(&text, band);
    hedgerow_fuzz::check_risk_match(&text, found.clone());
    let shouted = classifier().classify(&text.to_ascii_uppercase(), band);
    assert_eq!(
        found.map(|m| (m.category, m.severity, m.entry)),
        shouted.map(|m| (m.category, m.severity, m.entry)),
        "upper case changed the verdict for {text:?}"
    );
    if let Some(url_match) = classifier().classify_url(&text, band) {
        assert!((1..=5).contains(&url_match.severity));
    }
});
