//! Staff roles and what each may do in the admin web app, from one matrix.
//!
//! An account holds a set of roles (a DSL who is also the online-safety lead holds both), and
//! may do whatever any of its roles may do. The whole policy is the table below and the
//! function [`role_can`] that encodes it; every route of the app asks [`can`] and nothing
//! else, so the table is the single place to read or change who sees what.
//!
//! | Permission              | DSL | Deputy DSL | Online-safety lead | Headteacher | Network manager | Teacher | Governor | Trust admin |
//! |-------------------------|:---:|:----------:|:------------------:|:-----------:|:---------------:|:-------:|:--------:|:-----------:|
//! | `ViewDashboard`         |  ✓  |     ✓      |         ✓          |      ✓      |        ✓        |    ✓    |    ✓     |      ✓      |
//! | `ViewAggregates`        |  ✓  |     ✓      |         ✓          |      ✓      |        ✓        |         |    ✓     |      ✓      |
//! | `ViewPersonActivity`    |  ✓  |     ✓      |                    |      ✓      |                 |         |          |             |
//! | `ExportActivity`        |  ✓  |     ✓      |                    |      ✓      |                 |         |          |             |
//! | `ViewAuditLog`          |  ✓  |     ✓      |                    |      ✓      |                 |         |          |             |
//! | `ViewAlerts`            |  ✓  |     ✓      |                    |      ✓      |                 |         |          |             |
//! | `TriageAlerts`          |  ✓  |     ✓      |                    |      ✓      |                 |         |          |             |
//! | `ViewMonitoringReport`  |  ✓  |     ✓      |         ✓          |      ✓      |                 |         |    ✓     |             |
//! | `TuneRiskLibraries`     |  ✓  |     ✓      |         ✓          |             |                 |         |          |             |
//! | `RecordConcern`         |  ✓  |     ✓      |         ✓          |      ✓      |        ✓        |    ✓    |          |             |
//! | `ManageConcerns`        |  ✓  |     ✓      |                    |      ✓      |                 |         |          |             |
//! | `ManageRecords`         |  ✓  |     ✓      |                    |      ✓      |                 |         |          |             |
//! | `ViewTermlyReport`      |  ✓  |     ✓      |         ✓          |      ✓      |                 |         |    ✓     |             |
//! | `EditPolicy`            |  ✓  |     ✓      |         ✓          |             |        ✓        |         |          |      ✓      |
//! | `ApprovePolicyChange`   |  ✓  |     ✓      |         ✓          |             |                 |         |          |             |
//! | `ReviewRequests`        |  ✓  |     ✓      |         ✓          |             |                 |         |          |             |
//! | `RequestAccessForClass` |  ✓  |     ✓      |         ✓          |      ✓      |                 |    ✓    |          |             |
//! | `ViewOwnRequests`       |  ✓  |     ✓      |         ✓          |      ✓      |                 |    ✓    |          |             |
//! | `RunChecks`             |  ✓  |     ✓      |         ✓          |             |        ✓        |         |          |      ✓      |
//! | `ViewChecks`            |  ✓  |     ✓      |         ✓          |      ✓      |        ✓        |         |    ✓     |      ✓      |
//! | `EditAnnualReview`      |  ✓  |     ✓      |         ✓          |      ✓      |                 |         |          |             |
//! | `ManageAccounts`        |  ✓  |            |                    |      ✓      |        ✓        |         |          |      ✓      |
//! | `ImportPeople`          |     |            |                    |      ✓      |        ✓        |         |          |      ✓      |
//! | `ManageContacts`        |  ✓  |            |                    |      ✓      |                 |         |          |      ✓      |
//! | `AllSchools`            |     |            |                    |             |                 |         |          |      ✓      |
//! | `UseApi`                |     |            |                    |             |        ✓        |         |          |      ✓      |
//! | `ManageAgreements`      |  ✓  |     ✓      |         ✓          |      ✓      |                 |         |          |             |
//! | `ViewAgreements`        |  ✓  |     ✓      |         ✓          |      ✓      |                 |    ✓    |          |             |
//! | `IssueVisitorCodes`     |  ✓  |     ✓      |         ✓          |      ✓      |        ✓        |    ✓    |          |             |
//! | `ViewImageConsent`      |  ✓  |     ✓      |         ✓          |      ✓      |        ✓        |    ✓    |          |             |
//! | `ManageImageConsent`    |  ✓  |     ✓      |         ✓          |      ✓      |                 |    ✓    |          |             |
//!
//! Why it is drawn this way:
//!
//! - **A person's browsing** (and its export, and the audit log, which names whose records
//!   were read) is for the DSL, the deputies and the headteacher only: the people the DfE
//!   standards make accountable for safeguarding, and the readers the issue names for the
//!   audit log.
//! - **Monitoring alerts and concerns** (viewing and triaging) go to the same readers as a
//!   person's browsing: an alert names a child, says what worried the school and shows the
//!   browsing around it as evidence, so it is a person's record in all but name. The
//!   online-safety lead is left out for the same reason they cannot read browsing on their
//!   own (the DfE standards route concerns about a child to the DSL and deputies); a school
//!   whose online-safety lead triages gives them the deputy role too.
//! - **The weekly monitoring report** holds only counts (alerts by category, severity and
//!   group, response times, false positives, circumvention attempts), never a name, so the
//!   online-safety lead, who oversees the filtering and monitoring, and governors, who must
//!   check it works, see it with the safeguarding leads. It is a school safeguarding document,
//!   so it is not given to technical or trust staff.
//! - **Safeguarding records** (concerns and incidents): every member of staff who works with
//!   children records what they see or hear (`RecordConcern`) and afterwards sees only what
//!   they reported; the DSL, the deputies and the headteacher read every record and act on it
//!   (`ManageConcerns`: hand-over, actions, procedures, sanctions, closing) and look after
//!   the records themselves (`ManageRecords`: retention reviews, legal holds, destruction,
//!   subject-access exports, transfers to a new school). An allegation against a member of
//!   staff is narrower still: the headteacher alone (`hedgerow-records` decides per record).
//!   Governors and trust staff record nothing here: they are not with the children.
//! - **The governors' termly report** holds suppressed counts only, so it goes where the
//!   weekly monitoring report goes.
//! - **The network manager** edits the policy, runs checks and scripts the school through the
//!   API, but does not read a person's browsing: the DfE filtering and monitoring standards put
//!   technical staff under the DSL's oversight, so what a child did is the DSL's to see. A
//!   school that wants its network manager to read browsing gives them a deputy role as well,
//!   which is recorded like any other change of roles.
//! - **The online-safety lead** approves policy changes (unblocking for pupils needs them) and
//!   decides review requests, but reading a person's browsing needs the deputy role too.
//! - **Teachers** ask for access for their class and follow their own requests; they see no
//!   one's browsing and no school-wide figures.
//! - **Governors** see aggregates and the check log and annual reviews, never a child's name.
//! - **A trust or local-authority administrator** works across schools (accounts, imports,
//!   contacts, policy, checks, the API) but, not being a school's safeguarding lead, reads no
//!   one's browsing and no school's audit log.
//!
//! - **Acceptable use agreements**: the texts, their versions and the renewal date are the
//!   school's online-safety policy in practice, so the people who own that policy (the DSL,
//!   the deputies, the online-safety lead and the headteacher) edit and publish them
//!   (`ManageAgreements`). Who has and has not accepted, paper acceptances entered on
//!   someone's behalf, and letters and reminders to parents are day-to-day class work, so
//!   teachers join them (`ViewAgreements`). The report names people and whether they signed,
//!   never what they browsed, so it needs no second factor of its own.
//! - **Visitor day codes** are issued at reception by whoever is on the desk, so every member
//!   of staff who works in the school may issue one (`IssueVisitorCodes`); governors and trust
//!   staff do not run the school's front desk.
//! - **Image consent**: anyone who might photograph a child or put up a display must be able
//!   to check the register and the "do not photograph or publish" list (`ViewImageConsent`),
//!   which is why it is every member of staff in the school, the network manager (who runs the
//!   website and social media in many schools) included; governors and trust staff are not
//!   with the children. A parent's change of mind is recorded by the people they tell: the
//!   safeguarding leads, the online-safety lead, the headteacher and the class teacher
//!   (`ManageImageConsent`).
//!
//! Granting roles is fenced separately by [`can_grant`], so that managing accounts cannot be
//! used to give oneself, or anyone, a safeguarding role.

use std::fmt;

/// A staff role. An account holds one or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The designated safeguarding lead.
    Dsl,
    /// A deputy designated safeguarding lead.
    DeputyDsl,
    /// The online-safety lead.
    OnlineSafetyLead,
    /// The headteacher.
    Headteacher,
    /// The network manager (or the school's technical support).
    NetworkManager,
    /// A teacher.
    Teacher,
    /// A governor (for example the online-safety governor).
    Governor,
    /// A trust or local-authority administrator, across the trust's schools.
    TrustAdmin,
}

impl Role {
    /// Every role, in the order of the matrix.
    pub const ALL: [Role; 8] = [
        Role::Dsl,
        Role::DeputyDsl,
        Role::OnlineSafetyLead,
        Role::Headteacher,
        Role::NetworkManager,
        Role::Teacher,
        Role::Governor,
        Role::TrustAdmin,
    ];

    /// The stable key used in storage, configuration and the API (`dsl`, `deputy-dsl`, ...).
    pub fn key(self) -> &'static str {
        match self {
            Role::Dsl => "dsl",
            Role::DeputyDsl => "deputy-dsl",
            Role::OnlineSafetyLead => "online-safety-lead",
            Role::Headteacher => "headteacher",
            Role::NetworkManager => "network-manager",
            Role::Teacher => "teacher",
            Role::Governor => "governor",
            Role::TrustAdmin => "trust-admin",
        }
    }

    /// Reads a key written by [`Role::key`]. Case and surrounding spaces are ignored, and `_`
    /// is taken for `-`, because keys are typed by hand into CSV imports and configuration.
    pub fn parse(text: &str) -> Result<Role, UnknownRole> {
        let wanted = text.trim().to_ascii_lowercase().replace('_', "-");
        Role::ALL
            .into_iter()
            .find(|role| role.key() == wanted)
            .ok_or_else(|| UnknownRole {
                given: text.chars().take(64).collect(),
            })
    }

    /// The role's name in plain English, for pages and reports.
    pub fn name(self) -> &'static str {
        match self {
            Role::Dsl => "Designated safeguarding lead",
            Role::DeputyDsl => "Deputy designated safeguarding lead",
            Role::OnlineSafetyLead => "Online-safety lead",
            Role::Headteacher => "Headteacher",
            Role::NetworkManager => "Network manager",
            Role::Teacher => "Teacher",
            Role::Governor => "Governor",
            Role::TrustAdmin => "Trust or local-authority administrator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A role key that [`Role::parse`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{given}\" is not a staff role; use one of dsl, deputy-dsl, online-safety-lead, \
     headteacher, network-manager, teacher, governor or trust-admin"
)]
pub struct UnknownRole {
    /// What was given (at most 64 characters of it).
    pub given: String,
}

/// Something the admin web app lets a person do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Open the dashboard (what it shows depends on the other permissions).
    ViewDashboard,
    /// See counts and top lists that name no person: blocks by category and group, top
    /// blocked sites, circumvention attempts.
    ViewAggregates,
    /// Read one person's browsing: the activity explorer and a person's timeline.
    ViewPersonActivity,
    /// Export activity as CSV.
    ExportActivity,
    /// Read the audit log of changes and of views and exports of people's records.
    ViewAuditLog,
    /// See monitoring alerts (they name children and show their browsing) and the concerns
    /// opened from them.
    ViewAlerts,
    /// Triage alerts (triaged, false positive, no further action, reopen) and open a concern
    /// from one.
    TriageAlerts,
    /// See the weekly monitoring report: counts only, no names.
    ViewMonitoringReport,
    /// Tune monitoring's risk libraries (switch entries off, re-rate them, add the school's
    /// own) under change control, and try phrases against them. The libraries hold no one's
    /// data, so the online-safety lead, who owns the online-safety policy, may do it.
    TuneRiskLibraries,
    /// Record an online-safety concern or incident, and read back the records one reported.
    RecordConcern,
    /// Read every concern and incident record (bar allegations against staff, which
    /// `hedgerow-records` keeps to the headteacher) and act on them: hand-over, actions,
    /// guided procedures, sanctions the gateway enforces, closing with an outcome.
    ManageConcerns,
    /// Look after the records themselves: retention reviews, legal holds, destruction with a
    /// certificate, subject-access exports and transfers of a pupil's file to a new school.
    ManageRecords,
    /// See the governors' termly report: suppressed counts only, no names.
    ViewTermlyReport,
    /// Propose or make changes to groups, category actions, schedules, overrides, sanctions.
    EditPolicy,
    /// Approve another person's policy change where the school requires a second person.
    ApprovePolicyChange,
    /// Decide review requests (approve for a group and a time, or decline with a reason).
    ReviewRequests,
    /// Ask for access for one's class ("allow this for my class this lesson").
    RequestAccessForClass,
    /// Follow one's own requests and their outcomes.
    ViewOwnRequests,
    /// Run the built-in self-test and record checks.
    RunChecks,
    /// Read the check log and the annual reviews.
    ViewChecks,
    /// Write the annual review record.
    EditAnnualReview,
    /// Create, change and close staff accounts (roles fenced by [`can_grant`]).
    ManageAccounts,
    /// Bulk import of pupils, classes and staff from school information system exports.
    ImportPeople,
    /// Keep the roles and contacts register (DSL, deputies, DPO, governor, ...).
    ManageContacts,
    /// Act across every school of the trust rather than one school.
    AllSchools,
    /// Hold API tokens and use the JSON API.
    UseApi,
    /// Edit and publish acceptable use agreements, and set their renewal date and the
    /// parents' link lifetime.
    ManageAgreements,
    /// See who has and has not accepted (and the CSV), record a paper acceptance on someone's
    /// behalf, and print parents' letters and reminders.
    ViewAgreements,
    /// Issue a visitor's day code for the guest Wi-Fi at reception.
    IssueVisitorCodes,
    /// See the image consent register and the "do not photograph or publish" list.
    ViewImageConsent,
    /// Change a pupil's image consent on a parent's word, with a note.
    ManageImageConsent,
}

impl Permission {
    /// Every permission, in the order of the matrix; for tests that walk every route.
    pub const ALL: [Permission; 31] = [
        Permission::ViewDashboard,
        Permission::ViewAggregates,
        Permission::ViewPersonActivity,
        Permission::ExportActivity,
        Permission::ViewAuditLog,
        Permission::ViewAlerts,
        Permission::TriageAlerts,
        Permission::ViewMonitoringReport,
        Permission::TuneRiskLibraries,
        Permission::RecordConcern,
        Permission::ManageConcerns,
        Permission::ManageRecords,
        Permission::ViewTermlyReport,
        Permission::EditPolicy,
        Permission::ApprovePolicyChange,
        Permission::ReviewRequests,
        Permission::RequestAccessForClass,
        Permission::ViewOwnRequests,
        Permission::RunChecks,
        Permission::ViewChecks,
        Permission::EditAnnualReview,
        Permission::ManageAccounts,
        Permission::ImportPeople,
        Permission::ManageContacts,
        Permission::AllSchools,
        Permission::UseApi,
        Permission::ManageAgreements,
        Permission::ViewAgreements,
        Permission::IssueVisitorCodes,
        Permission::ViewImageConsent,
        Permission::ManageImageConsent,
    ];
}

/// Whether one role grants a permission: the matrix in the module documentation.
pub fn role_can(role: Role, permission: Permission) -> bool {
    use Permission as P;
    use Role as R;
    // Written permission by permission, so each row of the documented table is one arm.
    match permission {
        P::ViewDashboard => true,
        P::ViewAggregates => !matches!(role, R::Teacher),
        P::ViewPersonActivity
        | P::ExportActivity
        | P::ViewAuditLog
        | P::ViewAlerts
        | P::TriageAlerts => matches!(role, R::Dsl | R::DeputyDsl | R::Headteacher),
        P::ViewMonitoringReport => matches!(
            role,
            R::Dsl | R::DeputyDsl | R::OnlineSafetyLead | R::Headteacher | R::Governor
        ),
        P::TuneRiskLibraries => matches!(role, R::Dsl | R::DeputyDsl | R::OnlineSafetyLead),
        P::RecordConcern => !matches!(role, R::Governor | R::TrustAdmin),
        P::ManageConcerns | P::ManageRecords => {
            matches!(role, R::Dsl | R::DeputyDsl | R::Headteacher)
        }
        P::ViewTermlyReport => matches!(
            role,
            R::Dsl | R::DeputyDsl | R::OnlineSafetyLead | R::Headteacher | R::Governor
        ),
        P::EditPolicy => matches!(
            role,
            R::Dsl | R::DeputyDsl | R::OnlineSafetyLead | R::NetworkManager | R::TrustAdmin
        ),
        P::ApprovePolicyChange | P::ReviewRequests => {
            matches!(role, R::Dsl | R::DeputyDsl | R::OnlineSafetyLead)
        }
        P::RequestAccessForClass | P::ViewOwnRequests => matches!(
            role,
            R::Dsl | R::DeputyDsl | R::OnlineSafetyLead | R::Headteacher | R::Teacher
        ),
        P::RunChecks => matches!(
            role,
            R::Dsl | R::DeputyDsl | R::OnlineSafetyLead | R::NetworkManager | R::TrustAdmin
        ),
        P::ViewChecks => !matches!(role, R::Teacher),
        P::EditAnnualReview => matches!(
            role,
            R::Dsl | R::DeputyDsl | R::OnlineSafetyLead | R::Headteacher
        ),
        P::ManageAccounts => matches!(
            role,
            R::Dsl | R::Headteacher | R::NetworkManager | R::TrustAdmin
        ),
        P::ImportPeople => matches!(role, R::Headteacher | R::NetworkManager | R::TrustAdmin),
        P::ManageContacts => matches!(role, R::Dsl | R::Headteacher | R::TrustAdmin),
        P::AllSchools => matches!(role, R::TrustAdmin),
        P::UseApi => matches!(role, R::NetworkManager | R::TrustAdmin),
        P::ManageAgreements => matches!(
            role,
            R::Dsl | R::DeputyDsl | R::OnlineSafetyLead | R::Headteacher
        ),
        P::ViewAgreements => matches!(
            role,
            R::Dsl | R::DeputyDsl | R::OnlineSafetyLead | R::Headteacher | R::Teacher
        ),
        P::IssueVisitorCodes | P::ViewImageConsent => !matches!(role, R::Governor | R::TrustAdmin),
        P::ManageImageConsent => matches!(
            role,
            R::Dsl | R::DeputyDsl | R::OnlineSafetyLead | R::Headteacher | R::Teacher
        ),
    }
}

/// Whether a person holding `roles` may do `permission`: true when any of the roles grants it.
/// No roles grant nothing.
pub fn can(roles: &[Role], permission: Permission) -> bool {
    roles.iter().any(|&role| role_can(role, permission))
}

/// The permissions that reach a person's browsing or safeguarding records, directly or
/// through someone else's account.
const SENSITIVE: [Permission; 10] = [
    Permission::ViewPersonActivity,
    Permission::ExportActivity,
    // Alerts name a child and show their browsing; triage writes their safeguarding record.
    Permission::ViewAlerts,
    Permission::TriageAlerts,
    // Safeguarding records: writing one names a child and their words, and reading back what
    // one reported shows them again; managing them reads everyone's.
    Permission::RecordConcern,
    Permission::ManageConcerns,
    Permission::ManageRecords,
    // The audit log names whose records were read.
    Permission::ViewAuditLog,
    // Review requests carry a pupil's name and the address they were refused.
    Permission::ReviewRequests,
    // Whoever manages accounts can reset the password of someone who reads browsing.
    Permission::ManageAccounts,
];

/// Whether an account with these roles must use a second factor (TOTP) to sign in: anyone who
/// can read a person's browsing or safeguarding records, or manage the accounts of those who
/// can.
pub fn requires_second_factor(roles: &[Role]) -> bool {
    SENSITIVE.into_iter().any(|p| can(roles, p))
}

/// Whether a person holding `granter` may give someone else `role`.
///
/// They need [`Permission::ManageAccounts`]. On top of that, a role that reads a person's
/// browsing (DSL, deputy, headteacher) may be granted only by someone who reads browsing
/// themselves, and the trust administrator role only by a trust administrator: otherwise a
/// network manager or trust administrator could make themselves, or a friend, a reader of
/// children's browsing. The first accounts of a school come from the command line.
pub fn can_grant(granter: &[Role], role: Role) -> bool {
    if !can(granter, Permission::ManageAccounts) {
        return false;
    }
    if role_can(role, Permission::ViewPersonActivity)
        && !can(granter, Permission::ViewPersonActivity)
    {
        return false;
    }
    if role == Role::TrustAdmin && !granter.contains(&Role::TrustAdmin) {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission as P;
    use Role as R;

    #[test]
    fn keys_round_trip_and_are_distinct() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.key()), Ok(role));
            assert_eq!(
                Role::parse(&role.key().to_uppercase().replace('-', "_")),
                Ok(role)
            );
            assert!(!role.name().is_empty());
        }
        let mut keys: Vec<_> = Role::ALL.iter().map(|r| r.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), Role::ALL.len());
    }

    #[test]
    fn unknown_role_says_what_to_use() {
        let err = Role::parse("caretaker").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("caretaker"), "{message}");
        assert!(message.contains("deputy-dsl"), "{message}");
        // A long input is not echoed whole.
        let long = "x".repeat(10_000);
        assert!(Role::parse(&long).unwrap_err().given.chars().count() <= 64);
    }

    #[test]
    fn governors_see_aggregates_never_names() {
        let g = [R::Governor];
        assert!(can(&g, P::ViewAggregates));
        assert!(can(&g, P::ViewChecks));
        for p in [
            P::ViewPersonActivity,
            P::ExportActivity,
            P::ViewAuditLog,
            P::ReviewRequests,
            P::EditPolicy,
            P::ManageAccounts,
        ] {
            assert!(!can(&g, p), "governor must not have {p:?}");
        }
        assert!(!requires_second_factor(&g));
    }

    #[test]
    fn teachers_request_but_never_read_browsing() {
        let t = [R::Teacher];
        assert!(can(&t, P::RequestAccessForClass));
        assert!(can(&t, P::ViewOwnRequests));
        assert!(!can(&t, P::ViewPersonActivity));
        assert!(!can(&t, P::ReviewRequests));
        assert!(!can(&t, P::ViewAggregates));
        // They record concerns, which name a child: so they sign in with a second factor.
        assert!(can(&t, P::RecordConcern));
        assert!(!can(&t, P::ManageConcerns));
        assert!(requires_second_factor(&t));
    }

    #[test]
    fn safeguarding_records_are_for_the_leads_and_reports_for_governors() {
        for role in [R::Dsl, R::DeputyDsl, R::Headteacher] {
            assert!(can(&[role], P::ManageConcerns), "{role:?}");
            assert!(can(&[role], P::ManageRecords), "{role:?}");
        }
        for role in [
            R::OnlineSafetyLead,
            R::NetworkManager,
            R::Teacher,
            R::Governor,
        ] {
            assert!(!can(&[role], P::ManageConcerns), "{role:?}");
            assert!(!can(&[role], P::ManageRecords), "{role:?}");
        }
        assert!(!can(&[R::Governor], P::RecordConcern));
        assert!(can(&[R::Governor], P::ViewTermlyReport));
        assert!(!can(&[R::NetworkManager], P::ViewTermlyReport));
    }

    #[test]
    fn safeguarding_leads_read_browsing_and_the_audit_log() {
        for role in [R::Dsl, R::DeputyDsl, R::Headteacher] {
            assert!(can(&[role], P::ViewPersonActivity));
            assert!(can(&[role], P::ViewAuditLog));
            assert!(requires_second_factor(&[role]));
        }
    }

    #[test]
    fn alerts_go_to_the_readers_of_browsing_and_the_report_to_governors_too() {
        for role in Role::ALL {
            let reads_browsing = role_can(role, P::ViewPersonActivity);
            assert_eq!(role_can(role, P::ViewAlerts), reads_browsing, "{role:?}");
            assert_eq!(role_can(role, P::TriageAlerts), reads_browsing, "{role:?}");
            if role_can(role, P::ViewAlerts) {
                assert!(requires_second_factor(&[role]), "{role:?}");
            }
        }
        for role in [R::OnlineSafetyLead, R::Governor, R::Dsl, R::Headteacher] {
            assert!(role_can(role, P::ViewMonitoringReport), "{role:?}");
        }
        for role in [R::Teacher, R::NetworkManager, R::TrustAdmin] {
            assert!(!role_can(role, P::ViewMonitoringReport), "{role:?}");
        }
    }

    #[test]
    fn network_manager_edits_policy_but_reads_no_browsing() {
        let n = [R::NetworkManager];
        assert!(can(&n, P::EditPolicy));
        assert!(can(&n, P::RunChecks));
        assert!(can(&n, P::UseApi));
        assert!(!can(&n, P::ViewPersonActivity));
        assert!(!can(&n, P::ViewAuditLog));
        assert!(!can(&n, P::ApprovePolicyChange));
    }

    #[test]
    fn online_safety_lead_approves_unblocking() {
        assert!(can(&[R::OnlineSafetyLead], P::ApprovePolicyChange));
        assert!(can(&[R::OnlineSafetyLead], P::ReviewRequests));
    }

    #[test]
    fn only_trust_admins_work_across_schools() {
        for role in Role::ALL {
            assert_eq!(can(&[role], P::AllSchools), role == R::TrustAdmin);
        }
        assert!(!can(&[R::TrustAdmin], P::ViewPersonActivity));
    }

    #[test]
    fn roles_combine_and_no_roles_grant_nothing() {
        for p in Permission::ALL {
            assert!(!can(&[], p));
            let combined = can(&[R::Teacher, R::NetworkManager], p);
            assert_eq!(
                combined,
                role_can(R::Teacher, p) || role_can(R::NetworkManager, p)
            );
        }
        assert!(!requires_second_factor(&[]));
    }

    #[test]
    fn everyone_who_reads_records_needs_a_second_factor() {
        for role in Role::ALL {
            if can(&[role], P::ViewPersonActivity)
                || can(&[role], P::ViewAuditLog)
                || can(&[role], P::ExportActivity)
                || can(&[role], P::RecordConcern)
                || can(&[role], P::ManageConcerns)
            {
                assert!(requires_second_factor(&[role]), "{role:?}");
            }
        }
    }

    #[test]
    fn agreements_are_the_policy_owners_and_their_report_the_teachers_too() {
        let owners = [R::Dsl, R::DeputyDsl, R::OnlineSafetyLead, R::Headteacher];
        for role in Role::ALL {
            let owns = owners.contains(&role);
            assert_eq!(role_can(role, P::ManageAgreements), owns, "{role:?}");
            assert_eq!(
                role_can(role, P::ViewAgreements),
                owns || role == R::Teacher,
                "{role:?}"
            );
            // Whoever publishes a text can also see who has accepted it.
            if role_can(role, P::ManageAgreements) {
                assert!(role_can(role, P::ViewAgreements), "{role:?}");
            }
        }
        assert!(!can(&[R::NetworkManager], P::ViewAgreements));
        assert!(!can(&[R::Governor], P::ViewAgreements));
        assert!(!can(&[R::TrustAdmin], P::ManageAgreements));
    }

    #[test]
    fn reception_and_image_consent_are_for_everyone_in_the_school() {
        for role in Role::ALL {
            let outside = matches!(role, R::Governor | R::TrustAdmin);
            assert_eq!(role_can(role, P::IssueVisitorCodes), !outside, "{role:?}");
            assert_eq!(role_can(role, P::ViewImageConsent), !outside, "{role:?}");
            // Changing consent needs seeing it first.
            if role_can(role, P::ManageImageConsent) {
                assert!(role_can(role, P::ViewImageConsent), "{role:?}");
            }
        }
        assert!(can(&[R::Teacher], P::ManageImageConsent));
        assert!(can(&[R::OnlineSafetyLead], P::ManageImageConsent));
        assert!(!can(&[R::NetworkManager], P::ManageImageConsent));
    }

    #[test]
    fn granting_cannot_escalate() {
        // The network manager manages accounts but cannot create a reader of browsing.
        assert!(can_grant(&[R::NetworkManager], R::Teacher));
        assert!(!can_grant(&[R::NetworkManager], R::Dsl));
        assert!(!can_grant(&[R::NetworkManager], R::DeputyDsl));
        assert!(!can_grant(&[R::NetworkManager], R::Headteacher));
        assert!(!can_grant(&[R::NetworkManager], R::TrustAdmin));
        assert!(!can_grant(&[R::TrustAdmin], R::Dsl));
        assert!(can_grant(&[R::TrustAdmin], R::TrustAdmin));
        assert!(can_grant(&[R::Headteacher], R::DeputyDsl));
        assert!(can_grant(&[R::Dsl], R::DeputyDsl));
        assert!(
            !can_grant(&[R::DeputyDsl], R::Teacher),
            "deputies do not manage accounts"
        );
        assert!(!can_grant(&[R::Teacher], R::Teacher));
        assert!(!can_grant(&[], R::Teacher));
        // Whoever may grant a browsing role reads browsing themselves.
        for granter in Role::ALL {
            for role in Role::ALL {
                if can_grant(&[granter], role) && role_can(role, P::ViewPersonActivity) {
                    assert!(role_can(granter, P::ViewPersonActivity));
                }
            }
        }
    }
}
