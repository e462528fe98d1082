//! Who may read a record. The safeguarding leads read every record; anyone else reads only
//! what they recorded; an allegation against a member of staff is the headteacher's alone
//! (the DSL may be a colleague of, or the subject of, the allegation).

use hedgerow_accounts::{Permission, Role, can};

use crate::RecordType;

/// How much of a record a viewer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The whole record, and acting on it.
    Full,
    /// What they recorded themselves, and nothing added to it since.
    Reporter,
    /// Nothing, not even that the record exists.
    None,
}

/// How much of a record of `record_type`, recorded by `created_by`, the signed-in
/// `viewer_username` holding `viewer_roles` may see.
pub fn access(
    viewer_username: &str,
    viewer_roles: &[Role],
    record_type: RecordType,
    created_by: &str,
) -> Access {
    let may_manage = match record_type {
        RecordType::StaffAllegation => viewer_roles.contains(&Role::Headteacher),
        RecordType::OnlineSafety | RecordType::ChildProtection => {
            can(viewer_roles, Permission::ManageConcerns)
        }
    };
    // An empty name must never match an empty recorder left by a damaged row.
    let recorded_it = !viewer_username.is_empty() && viewer_username == created_by;
    if may_manage {
        Access::Full
    } else if recorded_it {
        Access::Reporter
    } else {
        Access::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leads_see_all_recorders_see_their_own_others_nothing() {
        for lead in [Role::Dsl, Role::DeputyDsl, Role::Headteacher] {
            assert_eq!(
                access("lead", &[lead], RecordType::OnlineSafety, "teacher1"),
                Access::Full
            );
            assert_eq!(
                access("lead", &[lead], RecordType::ChildProtection, "teacher1"),
                Access::Full
            );
        }
        assert_eq!(
            access(
                "teacher1",
                &[Role::Teacher],
                RecordType::OnlineSafety,
                "teacher1"
            ),
            Access::Reporter
        );
        assert_eq!(
            access(
                "teacher2",
                &[Role::Teacher],
                RecordType::OnlineSafety,
                "teacher1"
            ),
            Access::None
        );
        assert_eq!(
            access(
                "osl",
                &[Role::OnlineSafetyLead],
                RecordType::ChildProtection,
                "t"
            ),
            Access::None
        );
        assert_eq!(
            access("", &[Role::Teacher], RecordType::OnlineSafety, ""),
            Access::None
        );
    }

    #[test]
    fn staff_allegations_are_for_the_headteacher_alone() {
        let allegation = RecordType::StaffAllegation;
        assert_eq!(
            access("head", &[Role::Headteacher], allegation, "dsl"),
            Access::Full
        );
        assert_eq!(
            access("dsl", &[Role::Dsl], allegation, "teacher1"),
            Access::None
        );
        assert_eq!(
            access(
                "deputy",
                &[Role::DeputyDsl, Role::OnlineSafetyLead],
                allegation,
                "x"
            ),
            Access::None
        );
        assert_eq!(
            access("dsl", &[Role::Dsl], allegation, "dsl"),
            Access::Reporter
        );
        assert_eq!(
            access("head", &[Role::Headteacher, Role::Dsl], allegation, "head"),
            Access::Full
        );
    }
}
