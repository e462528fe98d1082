//! What the admin app asks of the running gateway, without depending on it.
//!
//! The binary implements [`GatewayControl`] over its live policy (configuration plus the change
//! log) and its loaded lists; tests and other front ends can implement it over anything. The
//! app never builds a policy engine itself, so what it shows and checks is exactly what the
//! DNS filter and the proxy enforce.

use async_trait::async_trait;
use hedgerow_policy::PolicySpec;
use hedgerow_policy::change::PolicyChange;
use hedgerow_store::{CheckId, PolicyChangeRecord};

/// What a change would do, before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePreview {
    /// The change's kind for the approval rules (`unblock-for-pupils`, `category-action`, ...).
    pub kind: String,
    /// The difference in plain words, as the change log shows it.
    pub diff: String,
}

/// A safeguarding record just made, for telling the people who act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeRecord {
    pub id: i64,
    /// `online-safety`, `child-protection` or `staff-allegation`.
    pub record_type: String,
    /// The record type as people read it.
    pub record_type_label: String,
    /// The member of staff who made it, as staff know them.
    pub recorded_by: String,
    pub at: jiff::Timestamp,
}

/// The running gateway, as the admin app sees it. Errors are sentences for the person who
/// asked (what was wrong and what to do).
#[async_trait]
pub trait GatewayControl: Send + Sync + 'static {
    /// The policy in force for a school now: configuration plus the changes in force.
    fn policy(&self, school: &str) -> Result<PolicySpec, String>;

    /// Checks a change against the policy in force and the loaded lists and says what it
    /// would do. Refuses anything that would allow illegal content.
    fn preview(&self, school: &str, change: &PolicyChange) -> Result<ChangePreview, String>;

    /// Records a change (checked as [`GatewayControl::preview`] does) under the school's
    /// approval rules and, when it applies at once, brings it into force before returning.
    async fn propose(
        &self,
        school: &str,
        change: &PolicyChange,
        by: &str,
        reason: &str,
        source: &str,
    ) -> Result<PolicyChangeRecord, String>;

    /// Rebuilds the policy in force from the change log now (after an approval, a rejection
    /// or a revert made through the store), rather than at the next tick.
    async fn refresh(&self) -> Result<(), String>;

    /// Runs the built-in self-test for a school (each category's and each illegal list's
    /// test entries through every group's policy), records it in the check log as `by`, and
    /// returns the check's id.
    async fn run_self_test(&self, school: &str, by: &str) -> Result<CheckId, String>;

    /// Tells the people who act on a new safeguarding record that it exists: the DSL's
    /// addresses, or for an allegation against staff the headteacher's. Returns at once;
    /// sending happens in the background, and the record waits in the admin app either way.
    /// The default tells no one (a gateway without a mail server).
    async fn record_made(&self, _school: &str, _record: MadeRecord) {}

    /// The access portal's public address as parents' letters print it (`[portal] url`,
    /// ending in `/`), or `None` when the gateway has no portal configured, in which case no
    /// letter can be printed. The default is `None`.
    fn portal_url(&self) -> Option<String> {
        None
    }

    /// Sends one plain-text e-mail for the admin app (a reminder to accept an agreement)
    /// through the school's mail server. The default, and a gateway without a mail server,
    /// refuses with a sentence saying what to set up.
    async fn send_email(&self, to: &str, subject: &str, text: &str) -> Result<(), String> {
        let _ = (to, subject, text);
        Err("No mail server is set up, so no e-mail can be sent; the network manager can add one under [monitoring.smtp] in the configuration.".into())
    }
}
