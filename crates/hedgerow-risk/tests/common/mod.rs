//! What the tuning-round tests share: the built-in classifier, built once per test binary, and
//! assertions over many invented texts at the secondary age band.

use std::sync::OnceLock;

use hedgerow_risk::{AgeBand, Classifier, RiskCategory, RiskLibrary};

pub fn builtin() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| match Classifier::new(&RiskLibrary::builtin(), &[]) {
        Ok(classifier) => classifier,
        Err(error) => panic!("the built-in libraries do not compile: {error}"),
    })
}

/// Every text is flagged in `expected`.
pub fn assert_category(texts: &[&str], expected: RiskCategory) {
    for text in texts {
        let found = builtin().classify(text, AgeBand::Secondary);
        assert_eq!(
            found.as_ref().map(|m| m.category),
            Some(expected),
            "{text:?} gave {found:?}"
        );
    }
}

/// No text is flagged at all.
pub fn assert_not_flagged(texts: &[&str]) {
    for text in texts {
        let found = builtin().classify(text, AgeBand::Secondary);
        assert_eq!(found, None, "{text:?} was flagged");
    }
}
