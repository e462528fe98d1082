//! `Taxonomy::parse` on arbitrary text. Whatever it accepts must name known categories, with
//! illegal lists only under illegal-content categories.
#![no_main]

use hedgerow_lists::{CategoryKind, ListClass, Taxonomy, category};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Taxonomy::parse(text) {
        Ok(taxonomy) => {
            for (name, rule) in &taxonomy.sources {
                let known = category(&rule.category).expect("accepted an unknown category");
                assert_eq!(
                    known.kind == CategoryKind::Illegal,
                    rule.class == ListClass::Illegal,
                    "{name:?}: class {:?} under category {:?}",
                    rule.class,
                    rule.category
                );
                assert_eq!(&taxonomy.rule_for(name), rule);
            }
            let _ = taxonomy.rule_for("no-such-list-in-any-taxonomy");
        }
        Err(e) => drop(e.to_string()),
    }
});
