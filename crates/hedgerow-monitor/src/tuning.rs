//! A school's risk-library changes, as the change log holds them ([`PolicyChange::RiskEntry`]),
//! turned into what the classifier takes ([`Tuning`]), and the classifier built with them.
//!
//! The gateway's monitor and the admin app's risk-library page both build a school's
//! classifier this way, so what the page shows and tries is what the monitor matches.

use hedgerow_policy::change::{PolicyChange, RiskTuning};
use hedgerow_risk::{Classifier, RiskCategory, RiskEntry, RiskError, RiskLibrary, Tuning};

/// One change-log tuning as the classifier takes it; `None` for a category it does not know.
pub fn tuning_for(entry: &str, change: &RiskTuning) -> Option<Tuning> {
    Some(match change {
        RiskTuning::Disable => Tuning::Disable {
            entry: entry.to_string(),
        },
        RiskTuning::Severity(n) => Tuning::SetSeverity {
            entry: entry.to_string(),
            severity: *n,
        },
        RiskTuning::Add {
            category,
            severity,
            language,
            phrases,
        } => Tuning::Add {
            entry: RiskEntry {
                id: entry.to_string(),
                category: RiskCategory::parse(category)?,
                severity: *severity,
                language: language.clone(),
                phrases: phrases.clone(),
            },
        },
    })
}

/// The risk-library tunings among changes in force, given as `(change id, change JSON)`, in
/// order: the change id with each.
pub fn tunings_in<'a, I>(changes: I) -> Vec<(String, Tuning)>
where
    I: IntoIterator<Item = (String, &'a str)>,
{
    changes
        .into_iter()
        .filter_map(|(id, json)| match PolicyChange::from_json(json) {
            Ok(PolicyChange::RiskEntry { entry, tuning }) => {
                tuning_for(&entry, &tuning).map(|t| (id, t))
            }
            _ => None,
        })
        .collect()
}

/// The classifier with every usable tuning, and the refusals of those it could not use (an
/// entry since removed from the libraries, say): one bad change never loses the others.
pub fn tuned_classifier(
    library: &RiskLibrary,
    tunings: &[Tuning],
) -> Result<(Classifier, Vec<RiskError>), RiskError> {
    let mut usable: Vec<Tuning> = Vec::new();
    let mut refused = Vec::new();
    for tuning in tunings {
        usable.push(tuning.clone());
        if let Err(e) = Classifier::new(library, &usable) {
            refused.push(e);
            usable.pop();
        }
    }
    Classifier::new(library, &usable).map(|c| (c, refused))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hedgerow_risk::AgeBand;

    fn change(entry: &str, tuning: RiskTuning) -> String {
        PolicyChange::RiskEntry {
            entry: entry.into(),
            tuning,
        }
        .to_json()
    }

    #[test]
    fn changes_in_force_tune_the_classifier_and_bad_ones_are_skipped() {
        let library = RiskLibrary::builtin();
        let base = Classifier::new(&library, &[]).unwrap();
        let hit = base
            .classify("how to kill myself", AgeBand::Secondary)
            .expect("the built-in libraries know this");
        let log = [
            (
                "change-1".to_string(),
                change(&hit.entry, RiskTuning::Disable),
            ),
            (
                "change-2".to_string(),
                change("no.such.entry", RiskTuning::Severity(2)),
            ),
            (
                "change-3".to_string(),
                change(
                    "school.vapes",
                    RiskTuning::Add {
                        category: "drugs".into(),
                        severity: 2,
                        language: "en".into(),
                        phrases: vec!["elf bar flavours".into()],
                    },
                ),
            ),
            (
                "change-4".to_string(),
                r#"{"type":"remove-override","id":"x"}"#.to_string(),
            ),
        ];
        let tunings = tunings_in(log.iter().map(|(id, json)| (id.clone(), json.as_str())));
        assert_eq!(tunings.len(), 3);
        let only: Vec<Tuning> = tunings.into_iter().map(|(_, t)| t).collect();
        let (tuned, refused) = tuned_classifier(&library, &only).unwrap();
        assert_eq!(refused.len(), 1, "{refused:?}");
        let after = tuned.classify("how to kill myself", AgeBand::Secondary);
        assert_ne!(after.map(|m| m.entry), Some(hit.entry));
        let vape = tuned
            .classify("best elf bar flavours", AgeBand::Secondary)
            .expect("the school's own entry matches");
        assert_eq!(
            (vape.category, vape.severity, vape.entry.as_str()),
            (RiskCategory::Drugs, 2, "school.vapes")
        );
    }
}
