//! When a record may be closed: with an outcome, and, when nothing was referred outside the
//! school, with the reason why (inspectors look for that reasoning as much as for referrals).

use crate::{ActionKind, RecordError};

/// Checks that a record with these `actions` may be closed with this `outcome` and
/// `no_referral_reason`. Text made only of spaces counts as missing.
pub fn check_close(
    outcome: &str,
    actions: &[ActionKind],
    no_referral_reason: Option<&str>,
) -> Result<(), RecordError> {
    if outcome.trim().is_empty() {
        return Err(RecordError::OutcomeMissing);
    }
    let referred = actions.iter().any(|action| action.is_referral());
    let reason_given = no_referral_reason.is_some_and(|reason| !reason.trim().is_empty());
    if !referred && !reason_given {
        return Err(RecordError::NoReferralReasonMissing);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_needs_an_outcome_and_a_reason_when_nothing_was_referred() {
        let informed = [ActionKind::DslInformed, ActionKind::ParentsInformed];
        assert_eq!(
            check_close("  ", &informed, Some("low risk")),
            Err(RecordError::OutcomeMissing)
        );
        assert_eq!(
            check_close("Resolved", &informed, None),
            Err(RecordError::NoReferralReasonMissing)
        );
        assert_eq!(
            check_close("Resolved", &informed, Some(" \n")),
            Err(RecordError::NoReferralReasonMissing)
        );
        assert_eq!(
            check_close("Resolved", &informed, Some("Handled in school")),
            Ok(())
        );
        assert_eq!(
            check_close(
                "Referred",
                &[ActionKind::Note, ActionKind::CeopReport],
                None
            ),
            Ok(())
        );
        assert_eq!(
            check_close("Resolved", &[], None),
            Err(RecordError::NoReferralReasonMissing)
        );
    }
}
