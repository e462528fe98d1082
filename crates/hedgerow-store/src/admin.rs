//! The admin web app's records: sign-in accounts, web sessions, the roles and contacts
//! register, the check log and the annual review.
//!
//! Same rules as the rest of the store: one SQL text for both backends (`$N` placeholders,
//! which SQLite accepts too), times as microseconds since the Unix epoch, every change that
//! matters written to the audit log in the same transaction as the change itself.
//!
//! # Choices
//!
//! * Text is stored exactly as given (escaping is the web layer's job) but every field has a
//!   length limit, and control characters are refused: single-line fields refuse all of them,
//!   multi-line fields (details, notes, findings, follow-up) allow line breaks and tabs.
//! * Role keys (`dsl`, `teacher`, `trust-admin`, ...) are stored as text; the store checks
//!   their spelling (lowercase letters, digits, dashes), not the list, which belongs to
//!   `hedgerow-accounts`. An account's roles are kept sorted and without repeats.
//! * Admin usernames are ASCII (letters, digits, `.`, `_`, `-`, `@`) and unique across the
//!   whole store ignoring case, so one sign-in form serves a trust.
//! * Dates are [`jiff::civil::Date`]s stored as `YYYY-MM-DD` text (years 1900 to 9999).
//! * [`Store::record_admin_totp_step`] is one conditional `UPDATE`: of two concurrent sign-ins
//!   with the same code, exactly one is accepted.
//! * Account changes (creation, roles, disabling, password, TOTP enrolment), contact changes,
//!   check follow-ups and annual reviews are audited; the audit detail never holds a
//!   password hash or TOTP secret.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::error::ErrorKind;
use sqlx::{AssertSqlSafe, FromRow};

use crate::StoreError;
use crate::model::{SchoolId, timestamp_from_us, timestamp_to_us};
use crate::store::{
    AUDIT_INSERT, Arg, Backend, Store, audit_args, bind_args, unknown_school_or, validate_name,
    validate_text, with_pool,
};

macro_rules! admin_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

admin_id!(
    /// Database id of an admin app account.
    AdminAccountId
);
admin_id!(
    /// Database id of an entry in the roles and contacts register.
    ContactId
);
admin_id!(
    /// Database id of a check log entry.
    CheckId
);
admin_id!(
    /// Database id of an annual review.
    AnnualReviewId
);
admin_id!(
    /// Database id of an action agreed at an annual review.
    ReviewActionId
);

/// Who is making a change, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActingUser {
    /// The admin account's username (or a component such as `system:self-test`).
    pub name: String,
    /// The client address, when the change came over the network.
    pub from_addr: Option<String>,
}

impl ActingUser {
    /// An actor with no network address.
    pub fn new(name: impl Into<String>) -> ActingUser {
        ActingUser {
            name: name.into(),
            from_addr: None,
        }
    }

    fn validate(&self) -> Result<(), StoreError> {
        validate_text("acting user", &self.name, 200)?;
        if let Some(addr) = &self.from_addr {
            validate_text("acting user's address", addr, 100)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/// Length limits, in characters, of the admin records' text fields.
pub mod limits {
    /// Admin usernames.
    pub const USERNAME: usize = 100;
    /// People's names (display names, contacts, participants, owners).
    pub const NAME: usize = 200;
    /// Email addresses (RFC 5321's path limit).
    pub const EMAIL: usize = 254;
    /// Telephone numbers.
    pub const PHONE: usize = 50;
    /// Password hashes (argon2 PHC strings are about 100).
    pub const PASSWORD_HASH: usize = 512;
    /// TOTP secrets in base32.
    pub const TOTP_SECRET: usize = 128;
    /// Role keys.
    pub const ROLE: usize = 40;
    /// Roles per account.
    pub const ROLES: usize = 16;
    /// Web session ids.
    pub const SESSION_ID: usize = 128;
    /// Web session data, in bytes.
    pub const SESSION_DATA_BYTES: usize = 64 * 1024;
    /// Contact notes, follow-up actions, review actions.
    pub const NOTE: usize = 2_000;
    /// What a check tested; which group or device.
    pub const CHECK_WHAT: usize = 500;
    /// A check's details (a self-test report can be long).
    pub const CHECK_DETAILS: usize = 200_000;
    /// An annual review's findings.
    pub const FINDINGS: usize = 50_000;
    /// Participants of one review.
    pub const PARTICIPANTS: usize = 50;
    /// Actions of one review.
    pub const ACTIONS: usize = 200;
    /// Check log entries per page.
    pub const CHECK_PAGE: u32 = 500;
}

// ---------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------

/// An admin app account to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAdminAccount {
    /// The school, or `None` for a trust-wide account.
    pub school: Option<SchoolId>,
    /// Sign-in name: ASCII letters, digits, `.`, `_`, `-`, `@`; unique ignoring case.
    pub username: String,
    /// Name shown in the app and the audit log.
    pub display_name: String,
    /// Email address.
    pub email: String,
    /// Argon2 PHC string (`$argon2id$...`); never the password itself.
    pub password_hash: String,
    /// Role keys such as `dsl` or `teacher`.
    pub roles: Vec<String>,
}

impl fmt::Debug for NewAdminAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAdminAccount")
            .field("school", &self.school)
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("roles", &self.roles)
            .finish()
    }
}

/// A stored admin app account. `Debug` hides the password hash and TOTP secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminAccount {
    /// Database id.
    pub id: AdminAccountId,
    /// The school, or `None` for a trust-wide account.
    pub school: Option<SchoolId>,
    /// Sign-in name as given at creation.
    pub username: String,
    /// Name shown in the app.
    pub display_name: String,
    /// Email address.
    pub email: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Role keys, sorted, without repeats.
    pub roles: Vec<String>,
    /// Base32 TOTP secret, once enrolled.
    pub totp_secret: Option<String>,
    /// The last TOTP time step accepted; a code for this step or an earlier one is a replay.
    pub totp_last_step: Option<i64>,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: Timestamp,
    /// When the password was last set.
    pub password_changed_at: Timestamp,
    /// When the account last signed in successfully.
    pub last_login_at: Option<Timestamp>,
}

impl AdminAccount {
    /// Whether the account holds this role key.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

impl fmt::Debug for AdminAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAccount")
            .field("id", &self.id)
            .field("school", &self.school)
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("roles", &self.roles)
            .field(
                "totp_secret",
                &self.totp_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("totp_last_step", &self.totp_last_step)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field("password_changed_at", &self.password_changed_at)
            .field("last_login_at", &self.last_login_at)
            .finish()
    }
}

const ACCOUNT_SELECT: &str = "SELECT id, school_id, username, display_name, email, \
     password_hash, roles, totp_secret, totp_last_step, disabled, created_at_us, \
     password_changed_at_us, last_login_at_us FROM admin_accounts";

#[derive(FromRow)]
struct AccountRow {
    id: i64,
    school_id: Option<i64>,
    username: String,
    display_name: String,
    email: String,
    password_hash: String,
    roles: String,
    totp_secret: Option<String>,
    totp_last_step: Option<i64>,
    disabled: bool,
    created_at_us: i64,
    password_changed_at_us: i64,
    last_login_at_us: Option<i64>,
}

impl AccountRow {
    fn into_account(self) -> Result<AdminAccount, StoreError> {
        Ok(AdminAccount {
            id: AdminAccountId(self.id),
            school: self.school_id.map(SchoolId),
            username: self.username,
            display_name: self.display_name,
            email: self.email,
            password_hash: self.password_hash,
            roles: split_list(&self.roles),
            totp_secret: self.totp_secret,
            totp_last_step: self.totp_last_step,
            disabled: self.disabled,
            created_at: timestamp_from_us(self.created_at_us, "account creation time")?,
            password_changed_at: timestamp_from_us(
                self.password_changed_at_us,
                "password change time",
            )?,
            last_login_at: self
                .last_login_at_us
                .map(|us| timestamp_from_us(us, "last sign-in time"))
                .transpose()?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Contacts
// ---------------------------------------------------------------------------------------------

/// A role in the roles and contacts register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactRole {
    /// Designated safeguarding lead.
    Dsl,
    /// Deputy DSL.
    DeputyDsl,
    /// Online-safety lead.
    OnlineSafetyLead,
    /// The governor responsible for online safety.
    OnlineSafetyGovernor,
    /// Data protection officer.
    Dpo,
    /// Network manager (or the IT provider's contact).
    NetworkManager,
    /// Headteacher.
    Headteacher,
}

impl ContactRole {
    /// Every role, in the order a register lists them.
    pub const ALL: [ContactRole; 7] = [
        ContactRole::Dsl,
        ContactRole::DeputyDsl,
        ContactRole::OnlineSafetyLead,
        ContactRole::OnlineSafetyGovernor,
        ContactRole::Dpo,
        ContactRole::NetworkManager,
        ContactRole::Headteacher,
    ];

    /// The stored key, e.g. `deputy-dsl`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactRole::Dsl => "dsl",
            ContactRole::DeputyDsl => "deputy-dsl",
            ContactRole::OnlineSafetyLead => "online-safety-lead",
            ContactRole::OnlineSafetyGovernor => "online-safety-governor",
            ContactRole::Dpo => "dpo",
            ContactRole::NetworkManager => "network-manager",
            ContactRole::Headteacher => "headteacher",
        }
    }

    /// Parses a stored key; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<ContactRole> {
        ContactRole::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for ContactRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields of a register entry, as set by [`Store::set_contact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactDetails {
    /// The role held.
    pub role: ContactRole,
    /// The person's name.
    pub name: String,
    /// Email address, if given.
    pub email: Option<String>,
    /// Telephone number, if given.
    pub phone: Option<String>,
    /// Notes (hours, cover arrangements), may span lines.
    pub notes: Option<String>,
}

/// A stored register entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Database id.
    pub id: ContactId,
    /// The school.
    pub school: SchoolId,
    /// Role, name and how to reach them.
    pub details: ContactDetails,
    /// Who last changed the entry.
    pub updated_by: String,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

#[derive(FromRow)]
struct ContactRow {
    id: i64,
    school_id: i64,
    role: String,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    notes: Option<String>,
    updated_by: String,
    updated_at_us: i64,
}

impl ContactRow {
    fn into_contact(self) -> Result<Contact, StoreError> {
        let role = ContactRole::parse(&self.role).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "contact {} has unknown role {:?}",
                self.id, self.role
            ))
        })?;
        Ok(Contact {
            id: ContactId(self.id),
            school: SchoolId(self.school_id),
            details: ContactDetails {
                role,
                name: self.name,
                email: self.email,
                phone: self.phone,
                notes: self.notes,
            },
            updated_by: self.updated_by,
            updated_at: timestamp_from_us(self.updated_at_us, "contact change time")?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Check log
// ---------------------------------------------------------------------------------------------

/// How a check was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckMethod {
    /// By a person, e.g. trying blocked sites from a pupil's device.
    Manual,
    /// By the built-in self-test.
    SelfTest,
}

impl CheckMethod {
    /// `"manual"` or `"self-test"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckMethod::Manual => "manual",
            CheckMethod::SelfTest => "self-test",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<CheckMethod> {
        match s {
            "manual" => Some(CheckMethod::Manual),
            "self-test" => Some(CheckMethod::SelfTest),
            _ => None,
        }
    }
}

impl fmt::Display for CheckMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckResult {
    /// Everything behaved as it should.
    Pass,
    /// It did not.
    Fail,
    /// Some of it did.
    Partial,
}

impl CheckResult {
    /// `"pass"`, `"fail"` or `"partial"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckResult::Pass => "pass",
            CheckResult::Fail => "fail",
            CheckResult::Partial => "partial",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<CheckResult> {
        match s {
            "pass" => Some(CheckResult::Pass),
            "fail" => Some(CheckResult::Fail),
            "partial" => Some(CheckResult::Partial),
            _ => None,
        }
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A check to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheck {
    /// The school checked.
    pub school: SchoolId,
    /// When the check was made.
    pub at: Timestamp,
    /// Who made it (a person, or `system:self-test`).
    pub checked_by: String,
    /// What was tested, e.g. "illegal content lists blocked".
    pub what: String,
    /// On which group or device.
    pub target: String,
    /// Manual or self-test.
    pub method: CheckMethod,
    /// Pass, fail or partial.
    pub result: CheckResult,
    /// Details, may be long and span lines; may be empty.
    pub details: String,
    /// The follow-up action, if one is needed.
    pub follow_up: Option<String>,
}

/// A stored check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckEntry {
    /// Database id.
    pub id: CheckId,
    /// The check as recorded.
    pub check: NewCheck,
    /// When the follow-up was done, if it has been.
    pub follow_up_done_at: Option<Timestamp>,
    /// Who marked the follow-up done.
    pub follow_up_done_by: Option<String>,
}

const CHECK_SELECT: &str = "SELECT id, school_id, at_us, checked_by, what, target, method, \
     result, details, follow_up, follow_up_done_at_us, follow_up_done_by FROM check_log";

#[derive(FromRow)]
struct CheckRow {
    id: i64,
    school_id: i64,
    at_us: i64,
    checked_by: String,
    what: String,
    target: String,
    method: String,
    result: String,
    details: String,
    follow_up: Option<String>,
    follow_up_done_at_us: Option<i64>,
    follow_up_done_by: Option<String>,
}

impl CheckRow {
    fn into_entry(self) -> Result<CheckEntry, StoreError> {
        let id = self.id;
        let corrupt = |what: &str, value: &str| {
            StoreError::Corrupt(format!("check {id} has invalid {what} {value:?}"))
        };
        let method =
            CheckMethod::parse(&self.method).ok_or_else(|| corrupt("method", &self.method))?;
        let result =
            CheckResult::parse(&self.result).ok_or_else(|| corrupt("result", &self.result))?;
        Ok(CheckEntry {
            id: CheckId(id),
            check: NewCheck {
                school: SchoolId(self.school_id),
                at: timestamp_from_us(self.at_us, "check time")?,
                checked_by: self.checked_by,
                what: self.what,
                target: self.target,
                method,
                result,
                details: self.details,
                follow_up: self.follow_up,
            },
            follow_up_done_at: self
                .follow_up_done_at_us
                .map(|us| timestamp_from_us(us, "follow-up time"))
                .transpose()?,
            follow_up_done_by: self.follow_up_done_by,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Annual reviews
// ---------------------------------------------------------------------------------------------

/// Someone who took part in an annual review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewParticipant {
    /// Their name.
    pub name: String,
    /// Their role key, e.g. `dsl`, `governor`, `online-safety-governor`.
    pub role: String,
}

/// An action agreed at a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReviewAction {
    /// What is to be done.
    pub action: String,
    /// Who will do it.
    pub owner: String,
    /// By when, if a date was agreed.
    pub due_on: Option<Date>,
}

/// A review to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAnnualReview {
    /// The school reviewed.
    pub school: SchoolId,
    /// The day the review was held.
    pub held_on: Date,
    /// Who took part: at least one governor ([`REVIEW_GOVERNOR_ROLES`]).
    pub participants: Vec<ReviewParticipant>,
    /// What the review found; may span lines.
    pub findings: String,
    /// When the next review is due; after `held_on`.
    pub next_due: Date,
    /// Actions agreed.
    pub actions: Vec<NewReviewAction>,
}

/// Participant roles that count as the governor an annual review must include.
pub const REVIEW_GOVERNOR_ROLES: [&str; 2] = ["governor", "online-safety-governor"];

/// A stored review action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewAction {
    /// Database id.
    pub id: ReviewActionId,
    /// The action as agreed.
    pub action: NewReviewAction,
    /// When it was marked done.
    pub done_at: Option<Timestamp>,
    /// Who marked it done.
    pub done_by: Option<String>,
}

/// A stored annual review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnualReview {
    /// Database id.
    pub id: AnnualReviewId,
    /// The school reviewed.
    pub school: SchoolId,
    /// The day it was held.
    pub held_on: Date,
    /// Who took part, in the order given.
    pub participants: Vec<ReviewParticipant>,
    /// What it found.
    pub findings: String,
    /// When the next one is due.
    pub next_due: Date,
    /// Actions agreed, in the order given.
    pub actions: Vec<ReviewAction>,
    /// Who recorded it.
    pub recorded_by: String,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

#[derive(FromRow)]
struct ReviewRow {
    id: i64,
    school_id: i64,
    held_on: String,
    findings: String,
    next_due: String,
    recorded_by: String,
    created_at_us: i64,
}

#[derive(FromRow)]
struct ParticipantRow {
    review_id: i64,
    name: String,
    role: String,
}

#[derive(FromRow)]
struct ActionRow {
    id: i64,
    review_id: i64,
    action: String,
    owner: String,
    due_on: Option<String>,
    done_at_us: Option<i64>,
    done_by: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The store's methods
// ---------------------------------------------------------------------------------------------

/// One audited change: the statement (which must return the changed row's `id` and
/// `school_id`) and what to write in the audit log if it changed a row.
struct Audited<'a> {
    context: &'static str,
    sql: &'static str,
    args: Vec<Arg<'a>>,
    /// The school for the audit record when the statement's `school_id` is NULL.
    school: Option<SchoolId>,
    by: &'a ActingUser,
    action: &'static str,
    target_kind: &'static str,
    detail: String,
}

impl Store {
    /// Runs one audited change in a transaction; `Some(id)` of the changed row, or `None`
    /// (and no audit record) when the statement matched nothing.
    async fn audited_change(&self, change: Audited<'_>) -> Result<Option<i64>, StoreError> {
        let Audited {
            context,
            sql,
            args,
            school,
            by,
            action,
            target_kind,
            detail,
        } = change;
        let fk_school = school;
        let result: Result<Option<i64>, sqlx::Error> = with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool.begin_with(self.backend.begin_write_sql()).await?;
                let row: Option<(i64, Option<i64>)> = bind_args!(sqlx::query_as(sql), args)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((id, row_school)) = row else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                let target = format!("{target_kind}:{id}");
                let audit = audit_args(
                    row_school.map(SchoolId).or(school),
                    Timestamp::now(),
                    &by.name,
                    action,
                    &target,
                    &detail,
                    by.from_addr.as_deref(),
                );
                bind_args!(sqlx::query(AUDIT_INSERT), audit).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(Some(id))
            }
            .await
        });
        result.map_err(|e| match fk_school {
            Some(s) => unknown_school_or(e, s, context),
            None => StoreError::query(context)(e),
        })
    }

    /// Creates an admin account and audits it as `account.create`. A username already taken
    /// (ignoring case) is refused with [`StoreError::InvalidInput`].
    pub async fn create_admin_account(
        &self,
        account: &NewAdminAccount,
        by: &ActingUser,
    ) -> Result<AdminAccountId, StoreError> {
        by.validate()?;
        validate_username(&account.username)?;
        validate_text("display name", &account.display_name, limits::NAME)?;
        validate_email(&account.email)?;
        validate_password_hash(&account.password_hash)?;
        let roles = join_roles(&account.roles)?;
        let now = timestamp_to_us(Timestamp::now());
        let detail = format!("username={:?} roles={roles}", account.username);
        let result = self
            .audited_change(Audited {
                context: "creating an admin account",
                sql: "INSERT INTO admin_accounts (school_id, username, display_name, email, \
                      password_hash, roles, disabled, created_at_us, password_changed_at_us) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, school_id",
                args: vec![
                    Arg::OptI64(account.school.map(|s| s.0)),
                    Arg::Str(&account.username),
                    Arg::Str(&account.display_name),
                    Arg::Str(&account.email),
                    Arg::Str(&account.password_hash),
                    Arg::Str(&roles),
                    Arg::Bool(false),
                    Arg::I64(now),
                    Arg::I64(now),
                ],
                school: account.school,
                by,
                action: "account.create",
                target_kind: "admin_account",
                detail,
            })
            .await;
        match result {
            Ok(Some(id)) => Ok(AdminAccountId(id)),
            Ok(None) => Err(StoreError::Corrupt(
                "creating an admin account returned no row".to_owned(),
            )),
            Err(StoreError::Query {
                source: sqlx::Error::Database(db),
                ..
            }) if db.kind() == ErrorKind::UniqueViolation => Err(StoreError::invalid(
                "username",
                format!(
                    "{:?} is already taken (usernames ignore case); choose another",
                    account.username
                ),
            )),
            Err(e) => Err(e),
        }
    }

    /// The admin account with this username, ignoring case.
    pub async fn admin_account_by_username(
        &self,
        username: &str,
    ) -> Result<Option<AdminAccount>, StoreError> {
        if validate_username(username).is_err() {
            return Ok(None);
        }
        let sql = format!("{ACCOUNT_SELECT} WHERE lower(username) = lower($1)");
        let row: Option<AccountRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql)).bind(username).fetch_optional(pool).await
        })
        .map_err(StoreError::query("looking up an admin account"))?;
        row.map(AccountRow::into_account).transpose()
    }

    /// The admin account with this id.
    pub async fn admin_account(
        &self,
        id: AdminAccountId,
    ) -> Result<Option<AdminAccount>, StoreError> {
        let sql = format!("{ACCOUNT_SELECT} WHERE id = $1");
        let row: Option<AccountRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql)).bind(id.0).fetch_optional(pool).await
        })
        .map_err(StoreError::query("looking up an admin account"))?;
        row.map(AccountRow::into_account).transpose()
    }

    /// Admin accounts ordered by username (ignoring case): one school's, or with `None`
    /// every account including the trust-wide ones.
    pub async fn admin_accounts(
        &self,
        school: Option<SchoolId>,
    ) -> Result<Vec<AdminAccount>, StoreError> {
        let rows: Vec<AccountRow> = match school {
            Some(school) => {
                let sql = format!("{ACCOUNT_SELECT} WHERE school_id = $1 ORDER BY lower(username)");
                with_pool!(&self.backend, pool => {
                    sqlx::query_as(AssertSqlSafe(sql)).bind(school.0).fetch_all(pool).await
                })
            }
            None => {
                let sql = format!("{ACCOUNT_SELECT} ORDER BY lower(username)");
                with_pool!(&self.backend, pool => {
                    sqlx::query_as(AssertSqlSafe(sql)).fetch_all(pool).await
                })
            }
        }
        .map_err(StoreError::query("listing admin accounts"))?;
        rows.into_iter().map(AccountRow::into_account).collect()
    }

    /// Replaces an account's roles; audited as `account.roles`. `false` if there is no such
    /// account.
    pub async fn set_admin_roles(
        &self,
        id: AdminAccountId,
        roles: &[String],
        by: &ActingUser,
    ) -> Result<bool, StoreError> {
        by.validate()?;
        let roles = join_roles(roles)?;
        let detail = format!("roles={roles}");
        self.audited_change(Audited {
            context: "changing an admin account's roles",
            sql: "UPDATE admin_accounts SET roles = $1 WHERE id = $2 RETURNING id, school_id",
            args: vec![Arg::Str(&roles), Arg::I64(id.0)],
            school: None,
            by,
            action: "account.roles",
            target_kind: "admin_account",
            detail,
        })
        .await
        .map(|r| r.is_some())
    }

    /// Disables or re-enables an account; audited as `account.disable` / `account.enable`.
    /// `false` if there is no such account.
    pub async fn set_admin_disabled(
        &self,
        id: AdminAccountId,
        disabled: bool,
        by: &ActingUser,
    ) -> Result<bool, StoreError> {
        by.validate()?;
        self.audited_change(Audited {
            context: "disabling or enabling an admin account",
            sql: "UPDATE admin_accounts SET disabled = $1 WHERE id = $2 RETURNING id, school_id",
            args: vec![Arg::Bool(disabled), Arg::I64(id.0)],
            school: None,
            by,
            action: if disabled {
                "account.disable"
            } else {
                "account.enable"
            },
            target_kind: "admin_account",
            detail: String::new(),
        })
        .await
        .map(|r| r.is_some())
    }

    /// Sets a new password hash and the password change time; audited as `account.password`
    /// (without the hash). `false` if there is no such account.
    pub async fn set_admin_password_hash(
        &self,
        id: AdminAccountId,
        password_hash: &str,
        by: &ActingUser,
    ) -> Result<bool, StoreError> {
        by.validate()?;
        validate_password_hash(password_hash)?;
        self.audited_change(Audited {
            context: "changing an admin account's password",
            sql: "UPDATE admin_accounts SET password_hash = $1, password_changed_at_us = $2 \
                  WHERE id = $3 RETURNING id, school_id",
            args: vec![
                Arg::Str(password_hash),
                Arg::I64(timestamp_to_us(Timestamp::now())),
                Arg::I64(id.0),
            ],
            school: None,
            by,
            action: "account.password",
            target_kind: "admin_account",
            detail: String::new(),
        })
        .await
        .map(|r| r.is_some())
    }

    /// Enrols (`Some`, base32) or removes (`None`) an account's TOTP secret, forgetting the
    /// last accepted step; audited as `account.totp` (without the secret). `false` if there is
    /// no such account.
    pub async fn set_admin_totp_secret(
        &self,
        id: AdminAccountId,
        secret: Option<&str>,
        by: &ActingUser,
    ) -> Result<bool, StoreError> {
        by.validate()?;
        if let Some(secret) = secret {
            validate_base32(secret)?;
        }
        self.audited_change(Audited {
            context: "setting an admin account's TOTP secret",
            sql: "UPDATE admin_accounts SET totp_secret = $1, totp_last_step = NULL \
                  WHERE id = $2 RETURNING id, school_id",
            args: vec![Arg::OptStr(secret), Arg::I64(id.0)],
            school: None,
            by,
            action: "account.totp",
            target_kind: "admin_account",
            detail: if secret.is_some() {
                "enrolled".to_owned()
            } else {
                "removed".to_owned()
            },
        })
        .await
        .map(|r| r.is_some())
    }

    /// Accepts a TOTP time step for an enrolled, enabled account only if it is later than the
    /// last accepted one, in one atomic statement: `true` if accepted, `false` for a replay
    /// (the same or an earlier step), an unknown, disabled or unenrolled account. Call it
    /// after the code has been verified and before treating the sign-in as done.
    pub async fn record_admin_totp_step(
        &self,
        id: AdminAccountId,
        step: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE admin_accounts SET totp_last_step = $1 \
             WHERE id = $2 AND totp_secret IS NOT NULL AND disabled = $3 \
             AND (totp_last_step IS NULL OR totp_last_step < $1)";
        let changed = with_pool!(&self.backend, pool => {
            sqlx::query(SQL).bind(step).bind(id.0).bind(false).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(StoreError::query("recording a TOTP step"))?;
        Ok(changed > 0)
    }

    /// Records a successful sign-in. `false` if there is no such account.
    pub async fn record_admin_login(
        &self,
        id: AdminAccountId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE admin_accounts SET last_login_at_us = $1 WHERE id = $2";
        let changed = with_pool!(&self.backend, pool => {
            sqlx::query(SQL).bind(timestamp_to_us(at)).bind(id.0).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(StoreError::query("recording a sign-in"))?;
        Ok(changed > 0)
    }

    // --- web sessions ------------------------------------------------------------------------

    /// A web session's data and expiry, unless it is missing or has expired.
    pub async fn session_load(&self, id: &str) -> Result<Option<(Vec<u8>, Timestamp)>, StoreError> {
        if validate_session_id(id).is_err() {
            return Ok(None);
        }
        const SQL: &str =
            "SELECT data, expires_at_us FROM web_sessions WHERE id = $1 AND expires_at_us > $2";
        let now = timestamp_to_us(Timestamp::now());
        let row: Option<(Vec<u8>, i64)> = with_pool!(&self.backend, pool => {
            sqlx::query_as(SQL).bind(id).bind(now).fetch_optional(pool).await
        })
        .map_err(StoreError::query("loading a web session"))?;
        row.map(|(data, us)| Ok((data, timestamp_from_us(us, "session expiry")?)))
            .transpose()
    }

    /// Saves a web session, replacing any with the same id.
    pub async fn session_save(
        &self,
        id: &str,
        data: &[u8],
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        validate_session(id, data)?;
        const SQL: &str = "INSERT INTO web_sessions (id, data, expires_at_us) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, \
             expires_at_us = excluded.expires_at_us";
        with_pool!(&self.backend, pool => {
            sqlx::query(SQL)
                .bind(id)
                .bind(data)
                .bind(timestamp_to_us(expires_at))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(StoreError::query("saving a web session"))?;
        Ok(())
    }

    /// Saves a new web session only if no session (live or expired) has this id: `false`
    /// means the id is taken and the caller should draw another (tower-sessions' `create`).
    pub async fn session_create(
        &self,
        id: &str,
        data: &[u8],
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        validate_session(id, data)?;
        const SQL: &str = "INSERT INTO web_sessions (id, data, expires_at_us) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO NOTHING";
        let changed = with_pool!(&self.backend, pool => {
            sqlx::query(SQL)
                .bind(id)
                .bind(data)
                .bind(timestamp_to_us(expires_at))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(StoreError::query("creating a web session"))?;
        Ok(changed > 0)
    }

    /// Deletes a web session; deleting a missing one is not an error.
    pub async fn session_delete(&self, id: &str) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM web_sessions WHERE id = $1";
        with_pool!(&self.backend, pool => {
            sqlx::query(SQL).bind(id).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(StoreError::query("deleting a web session"))?;
        Ok(())
    }

    /// Deletes the sessions that expired at or before `now`; returns how many.
    pub async fn session_delete_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM web_sessions WHERE expires_at_us <= $1";
        let deleted = with_pool!(&self.backend, pool => {
            sqlx::query(SQL).bind(timestamp_to_us(now)).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(StoreError::query("deleting expired web sessions"))?;
        Ok(deleted)
    }

    // --- roles and contacts register ---------------------------------------------------------

    /// Adds a register entry (`id` `None`) or replaces one of this school's (`Some`); audited
    /// as `contact.set`. Returns the entry's id, or `None` when `id` names no entry of this
    /// school. A role may be held by several people (deputies, job shares).
    pub async fn set_contact(
        &self,
        school: SchoolId,
        id: Option<ContactId>,
        contact: &ContactDetails,
        by: &ActingUser,
    ) -> Result<Option<ContactId>, StoreError> {
        by.validate()?;
        validate_text("contact name", &contact.name, limits::NAME)?;
        if let Some(email) = &contact.email {
            validate_email(email)?;
        }
        if let Some(phone) = &contact.phone {
            validate_text("contact phone", phone, limits::PHONE)?;
        }
        if let Some(notes) = &contact.notes {
            validate_long_text("contact notes", notes, limits::NOTE, false)?;
        }
        let now = timestamp_to_us(Timestamp::now());
        let detail = format!("{}: {}", contact.role, contact.name);
        let mut args = vec![
            Arg::I64(school.0),
            Arg::Str(contact.role.as_str()),
            Arg::Str(&contact.name),
            Arg::OptStr(contact.email.as_deref()),
            Arg::OptStr(contact.phone.as_deref()),
            Arg::OptStr(contact.notes.as_deref()),
            Arg::Str(&by.name),
            Arg::I64(now),
        ];
        let sql = match id {
            None => {
                "INSERT INTO contacts (school_id, role, name, email, phone, notes, updated_by, \
                 updated_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, school_id"
            }
            Some(id) => {
                args.push(Arg::I64(id.0));
                "UPDATE contacts SET role = $2, name = $3, email = $4, phone = $5, notes = $6, \
                 updated_by = $7, updated_at_us = $8 WHERE school_id = $1 AND id = $9 \
                 RETURNING id, school_id"
            }
        };
        let changed = self
            .audited_change(Audited {
                context: "saving a contact",
                sql,
                args,
                school: Some(school),
                by,
                action: "contact.set",
                target_kind: "contact",
                detail,
            })
            .await?;
        Ok(changed.map(ContactId))
    }

    /// A school's register, in [`ContactRole::ALL`] order, then by name.
    pub async fn contacts(&self, school: SchoolId) -> Result<Vec<Contact>, StoreError> {
        const SQL: &str = "SELECT id, school_id, role, name, email, phone, notes, updated_by, \
             updated_at_us FROM contacts WHERE school_id = $1 ORDER BY name, id";
        let rows: Vec<ContactRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(SQL).bind(school.0).fetch_all(pool).await
        })
        .map_err(StoreError::query("reading the contacts register"))?;
        let mut contacts = rows
            .into_iter()
            .map(ContactRow::into_contact)
            .collect::<Result<Vec<_>, _>>()?;
        // Stable: keeps the name order within a role.
        contacts.sort_by_key(|c| c.details.role);
        Ok(contacts)
    }

    /// Removes a register entry of this school; audited as `contact.remove`. `false` if
    /// there was none.
    pub async fn remove_contact(
        &self,
        school: SchoolId,
        id: ContactId,
        by: &ActingUser,
    ) -> Result<bool, StoreError> {
        by.validate()?;
        self.audited_change(Audited {
            context: "removing a contact",
            sql: "DELETE FROM contacts WHERE school_id = $1 AND id = $2 RETURNING id, school_id",
            args: vec![Arg::I64(school.0), Arg::I64(id.0)],
            school: Some(school),
            by,
            action: "contact.remove",
            target_kind: "contact",
            detail: String::new(),
        })
        .await
        .map(|r| r.is_some())
    }

    // --- check log ---------------------------------------------------------------------------

    /// Records a check and returns its id.
    pub async fn add_check(&self, check: &NewCheck) -> Result<CheckId, StoreError> {
        validate_text("checked by", &check.checked_by, limits::NAME)?;
        validate_text("what was checked", &check.what, limits::CHECK_WHAT)?;
        validate_text("check target", &check.target, limits::CHECK_WHAT)?;
        validate_long_text("check details", &check.details, limits::CHECK_DETAILS, true)?;
        if let Some(follow_up) = &check.follow_up {
            validate_long_text("check follow-up", follow_up, limits::NOTE, false)?;
        }
        const SQL: &str = "INSERT INTO check_log (school_id, at_us, checked_by, what, target, \
             method, result, details, follow_up) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING id";
        let args = [
            Arg::I64(check.school.0),
            Arg::I64(timestamp_to_us(check.at)),
            Arg::Str(&check.checked_by),
            Arg::Str(&check.what),
            Arg::Str(&check.target),
            Arg::Str(check.method.as_str()),
            Arg::Str(check.result.as_str()),
            Arg::Str(&check.details),
            Arg::OptStr(check.follow_up.as_deref()),
        ];
        let id: i64 = with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query_scalar(SQL), args).fetch_one(pool).await
        })
        .map_err(|e| unknown_school_or(e, check.school, "recording a check"))?;
        Ok(CheckId(id))
    }

    /// One page of a school's check log, newest first: `limit` (capped at
    /// [`limits::CHECK_PAGE`]) entries after skipping `offset`.
    pub async fn checks(
        &self,
        school: SchoolId,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<CheckEntry>, StoreError> {
        let limit = i64::from(limit.min(limits::CHECK_PAGE));
        let sql = format!(
            "{CHECK_SELECT} WHERE school_id = $1 ORDER BY at_us DESC, id DESC LIMIT $2 OFFSET $3"
        );
        let rows: Vec<CheckRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(school.0)
                .bind(limit)
                .bind(i64::from(offset))
                .fetch_all(pool)
                .await
        })
        .map_err(StoreError::query("reading the check log"))?;
        rows.into_iter().map(CheckRow::into_entry).collect()
    }

    /// One check of this school, or `None` (also for another school's id).
    pub async fn check(
        &self,
        school: SchoolId,
        id: CheckId,
    ) -> Result<Option<CheckEntry>, StoreError> {
        let sql = format!("{CHECK_SELECT} WHERE school_id = $1 AND id = $2");
        let row: Option<CheckRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(school.0)
                .bind(id.0)
                .fetch_optional(pool)
                .await
        })
        .map_err(StoreError::query("reading a check"))?;
        row.map(CheckRow::into_entry).transpose()
    }

    /// How many checks a school has recorded (for paging).
    pub async fn count_checks(&self, school: SchoolId) -> Result<u64, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM check_log WHERE school_id = $1";
        let n: i64 = with_pool!(&self.backend, pool => {
            sqlx::query_scalar(SQL).bind(school.0).fetch_one(pool).await
        })
        .map_err(StoreError::query("counting checks"))?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative check count {n}")))
    }

    /// Marks a check's follow-up done; audited as `check.follow_up_done`. `false` (and no
    /// change) when the check is not this school's, has no follow-up, or it is already done.
    pub async fn complete_check_follow_up(
        &self,
        school: SchoolId,
        id: CheckId,
        at: Timestamp,
        by: &ActingUser,
    ) -> Result<bool, StoreError> {
        by.validate()?;
        self.audited_change(Audited {
            context: "marking a check's follow-up done",
            sql: "UPDATE check_log SET follow_up_done_at_us = $1, follow_up_done_by = $2 \
                  WHERE school_id = $3 AND id = $4 AND follow_up IS NOT NULL \
                  AND follow_up_done_at_us IS NULL RETURNING id, school_id",
            args: vec![
                Arg::I64(timestamp_to_us(at)),
                Arg::Str(&by.name),
                Arg::I64(school.0),
                Arg::I64(id.0),
            ],
            school: Some(school),
            by,
            action: "check.follow_up_done",
            target_kind: "check",
            detail: String::new(),
        })
        .await
        .map(|r| r.is_some())
    }

    // --- annual reviews ----------------------------------------------------------------------

    /// Records an annual review with its participants and actions in one transaction, audited
    /// as `review.annual`. Refused unless at least one participant is a governor
    /// ([`REVIEW_GOVERNOR_ROLES`]) and the next review is due after this one.
    pub async fn add_annual_review(
        &self,
        review: &NewAnnualReview,
        by: &ActingUser,
    ) -> Result<AnnualReviewId, StoreError> {
        by.validate()?;
        validate_date("review date", review.held_on)?;
        validate_date("next review due date", review.next_due)?;
        if review.next_due <= review.held_on {
            return Err(StoreError::invalid(
                "next review due date",
                format!(
                    "{} is not after the review date {}; give a later date (a review is due at least once a year)",
                    review.next_due, review.held_on
                ),
            ));
        }
        if review.participants.is_empty() || review.participants.len() > limits::PARTICIPANTS {
            return Err(StoreError::invalid(
                "review participants",
                format!(
                    "give between 1 and {} participants, including a governor",
                    limits::PARTICIPANTS
                ),
            ));
        }
        for p in &review.participants {
            validate_text("review participant name", &p.name, limits::NAME)?;
            validate_role("review participant role", &p.role)?;
        }
        if !review
            .participants
            .iter()
            .any(|p| REVIEW_GOVERNOR_ROLES.contains(&p.role.as_str()))
        {
            return Err(StoreError::invalid(
                "review participants",
                "no participant has the role governor (or online-safety-governor); the annual review must include a governor",
            ));
        }
        validate_long_text("review findings", &review.findings, limits::FINDINGS, false)?;
        if review.actions.len() > limits::ACTIONS {
            return Err(StoreError::invalid(
                "review actions",
                format!("give at most {} actions", limits::ACTIONS),
            ));
        }
        for a in &review.actions {
            validate_long_text("review action", &a.action, limits::NOTE, false)?;
            validate_text("review action owner", &a.owner, limits::NAME)?;
            if let Some(due) = a.due_on {
                validate_date("review action due date", due)?;
            }
        }

        const REVIEW_SQL: &str = "INSERT INTO annual_reviews (school_id, held_on, findings, \
             next_due, recorded_by, created_at_us) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        const PARTICIPANT_SQL: &str =
            "INSERT INTO review_participants (review_id, name, role) VALUES ($1, $2, $3)";
        const ACTION_SQL: &str =
            "INSERT INTO review_actions (review_id, action, owner, due_on) VALUES ($1, $2, $3, $4)";
        let now = Timestamp::now();
        let held_on = review.held_on.to_string();
        let next_due = review.next_due.to_string();
        let detail = format!(
            "held on {held_on}; {} participants; {} actions; next due {next_due}",
            review.participants.len(),
            review.actions.len()
        );
        let result: Result<i64, sqlx::Error> = with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool.begin_with(self.backend.begin_write_sql()).await?;
                let id: i64 = sqlx::query_scalar(REVIEW_SQL)
                    .bind(review.school.0)
                    .bind(&held_on)
                    .bind(&review.findings)
                    .bind(&next_due)
                    .bind(&by.name)
                    .bind(timestamp_to_us(now))
                    .fetch_one(&mut *tx)
                    .await?;
                for p in &review.participants {
                    sqlx::query(PARTICIPANT_SQL)
                        .bind(id)
                        .bind(&p.name)
                        .bind(&p.role)
                        .execute(&mut *tx)
                        .await?;
                }
                for a in &review.actions {
                    sqlx::query(ACTION_SQL)
                        .bind(id)
                        .bind(&a.action)
                        .bind(&a.owner)
                        .bind(a.due_on.map(|d| d.to_string()))
                        .execute(&mut *tx)
                        .await?;
                }
                let target = format!("annual_review:{id}");
                let audit = audit_args(
                    Some(review.school),
                    now,
                    &by.name,
                    "review.annual",
                    &target,
                    &detail,
                    by.from_addr.as_deref(),
                );
                bind_args!(sqlx::query(AUDIT_INSERT), audit).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(id)
            }
            .await
        });
        let id =
            result.map_err(|e| unknown_school_or(e, review.school, "saving an annual review"))?;
        Ok(AnnualReviewId(id))
    }

    /// A school's annual reviews with their participants and actions, most recent first.
    pub async fn annual_reviews(&self, school: SchoolId) -> Result<Vec<AnnualReview>, StoreError> {
        const REVIEWS: &str = "SELECT id, school_id, held_on, findings, next_due, recorded_by, \
             created_at_us FROM annual_reviews WHERE school_id = $1 \
             ORDER BY held_on DESC, id DESC";
        const PARTICIPANTS: &str = "SELECT p.review_id, p.name, p.role \
             FROM review_participants p JOIN annual_reviews r ON r.id = p.review_id \
             WHERE r.school_id = $1 ORDER BY p.id";
        const ACTIONS: &str = "SELECT a.id, a.review_id, a.action, a.owner, a.due_on, \
             a.done_at_us, a.done_by \
             FROM review_actions a JOIN annual_reviews r ON r.id = a.review_id \
             WHERE r.school_id = $1 ORDER BY a.id";
        let (reviews, participants, actions): (
            Vec<ReviewRow>,
            Vec<ParticipantRow>,
            Vec<ActionRow>,
        ) = with_pool!(&self.backend, pool => {
            async {
                let mut conn = pool.acquire().await?;
                let reviews = sqlx::query_as(REVIEWS).bind(school.0).fetch_all(&mut *conn).await?;
                let participants =
                    sqlx::query_as(PARTICIPANTS).bind(school.0).fetch_all(&mut *conn).await?;
                let actions = sqlx::query_as(ACTIONS).bind(school.0).fetch_all(&mut *conn).await?;
                Ok::<_, sqlx::Error>((reviews, participants, actions))
            }
            .await
        })
        .map_err(StoreError::query("reading annual reviews"))?;
        let mut out = Vec::with_capacity(reviews.len());
        for r in reviews {
            let participants = participants
                .iter()
                .filter(|p| p.review_id == r.id)
                .map(|p| ReviewParticipant {
                    name: p.name.clone(),
                    role: p.role.clone(),
                })
                .collect();
            let actions = actions
                .iter()
                .filter(|a| a.review_id == r.id)
                .map(|a| {
                    Ok(ReviewAction {
                        id: ReviewActionId(a.id),
                        action: NewReviewAction {
                            action: a.action.clone(),
                            owner: a.owner.clone(),
                            due_on: a
                                .due_on
                                .as_deref()
                                .map(|d| parse_date(d, "review action due date"))
                                .transpose()?,
                        },
                        done_at: a
                            .done_at_us
                            .map(|us| timestamp_from_us(us, "review action done time"))
                            .transpose()?,
                        done_by: a.done_by.clone(),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            out.push(AnnualReview {
                id: AnnualReviewId(r.id),
                school: SchoolId(r.school_id),
                held_on: parse_date(&r.held_on, "review date")?,
                participants,
                findings: r.findings,
                next_due: parse_date(&r.next_due, "next review due date")?,
                actions,
                recorded_by: r.recorded_by,
                recorded_at: timestamp_from_us(r.created_at_us, "review record time")?,
            });
        }
        Ok(out)
    }

    /// Marks a review action of this school done; audited as `review.action_done`. `false`
    /// when there is no such action in this school or it is already done.
    pub async fn complete_review_action(
        &self,
        school: SchoolId,
        id: ReviewActionId,
        at: Timestamp,
        by: &ActingUser,
    ) -> Result<bool, StoreError> {
        by.validate()?;
        self.audited_change(Audited {
            context: "marking a review action done",
            sql: "UPDATE review_actions SET done_at_us = $1, done_by = $2 \
                  WHERE id = $3 AND done_at_us IS NULL \
                  AND review_id IN (SELECT id FROM annual_reviews WHERE school_id = $4) \
                  RETURNING id, CAST(NULL AS BIGINT)",
            args: vec![
                Arg::I64(timestamp_to_us(at)),
                Arg::Str(&by.name),
                Arg::I64(id.0),
                Arg::I64(school.0),
            ],
            school: Some(school),
            by,
            action: "review.action_done",
            target_kind: "review_action",
            detail: String::new(),
        })
        .await
        .map(|r| r.is_some())
    }

    /// When the school's next annual review is due: the due date set at the most recent
    /// review, or `None` if none has been recorded (one is due now).
    pub async fn next_review_due(&self, school: SchoolId) -> Result<Option<Date>, StoreError> {
        const SQL: &str = "SELECT next_due FROM annual_reviews WHERE school_id = $1 \
             ORDER BY held_on DESC, id DESC LIMIT 1";
        let due: Option<String> = with_pool!(&self.backend, pool => {
            sqlx::query_scalar(SQL).bind(school.0).fetch_optional(pool).await
        })
        .map_err(StoreError::query("reading when the next review is due"))?;
        due.map(|d| parse_date(&d, "next review due date"))
            .transpose()
    }
}

// ---------------------------------------------------------------------------------------------
// Validation and encoding
// ---------------------------------------------------------------------------------------------

fn validate_username(username: &str) -> Result<(), StoreError> {
    let ok = !username.is_empty()
        && username.len() <= limits::USERNAME
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "username",
            format!(
                "{username:?} must be 1 to {} ASCII letters, digits, dots, underscores, dashes or @",
                limits::USERNAME
            ),
        ))
    }
}

fn validate_email(email: &str) -> Result<(), StoreError> {
    validate_text("email address", email, limits::EMAIL)?;
    if !email.contains('@') || email.contains(char::is_whitespace) {
        return Err(StoreError::invalid(
            "email address",
            format!("{email:?} is not an email address; give one such as name@example.org"),
        ));
    }
    Ok(())
}

fn validate_password_hash(hash: &str) -> Result<(), StoreError> {
    if !hash.starts_with("$argon2") || hash.len() > limits::PASSWORD_HASH {
        return Err(StoreError::invalid(
            "password hash",
            "it is not an argon2 PHC string ($argon2id$...); hash the password before storing it, never store it as given",
        ));
    }
    validate_name("password hash", hash)
}

fn validate_base32(secret: &str) -> Result<(), StoreError> {
    let body = secret.trim_end_matches('=');
    let ok = body.len() >= 16
        && secret.len() <= limits::TOTP_SECRET
        && body
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "TOTP secret",
            format!(
                "it must be 16 to {} upper-case base32 characters (A-Z, 2-7), optionally padded with =",
                limits::TOTP_SECRET
            ),
        ))
    }
}

/// A role key: lowercase letters, digits and dashes.
fn validate_role(field: &'static str, role: &str) -> Result<(), StoreError> {
    let ok = !role.is_empty()
        && role.len() <= limits::ROLE
        && !role.starts_with('-')
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            field,
            format!(
                "{role:?} is not a role key: use 1 to {} lowercase letters, digits and dashes, such as dsl or network-manager",
                limits::ROLE
            ),
        ))
    }
}

/// The stored form of a role list: sorted, without repeats, comma-separated.
fn join_roles(roles: &[String]) -> Result<String, StoreError> {
    if roles.len() > limits::ROLES {
        return Err(StoreError::invalid(
            "roles",
            format!("give at most {} roles", limits::ROLES),
        ));
    }
    for role in roles {
        validate_role("role", role)?;
    }
    let mut roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    roles.sort_unstable();
    roles.dedup();
    Ok(roles.join(","))
}

fn split_list(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn validate_session_id(id: &str) -> Result<(), StoreError> {
    let ok = !id.is_empty()
        && id.len() <= limits::SESSION_ID
        && id.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "session id",
            format!(
                "it must be 1 to {} printable ASCII characters",
                limits::SESSION_ID
            ),
        ))
    }
}

fn validate_session(id: &str, data: &[u8]) -> Result<(), StoreError> {
    validate_session_id(id)?;
    if data.len() > limits::SESSION_DATA_BYTES {
        return Err(StoreError::invalid(
            "session data",
            format!(
                "it is {} bytes, more than the limit of {}; keep less in the session",
                data.len(),
                limits::SESSION_DATA_BYTES
            ),
        ));
    }
    Ok(())
}

/// Text that may span lines: tabs and line breaks allowed, other control characters not.
fn validate_long_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
    may_be_empty: bool,
) -> Result<(), StoreError> {
    if !may_be_empty && value.trim().is_empty() {
        return Err(StoreError::invalid(field, "it is empty; give a value"));
    }
    if value.chars().count() > max_chars {
        return Err(StoreError::invalid(
            field,
            format!("it is longer than {max_chars} characters; shorten it"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(StoreError::invalid(
            field,
            "it contains control characters other than line breaks and tabs; remove them",
        ));
    }
    Ok(())
}

fn validate_date(field: &'static str, date: Date) -> Result<(), StoreError> {
    if (1900..=9999).contains(&date.year()) {
        Ok(())
    } else {
        Err(StoreError::invalid(
            field,
            format!("{date} is not a plausible date; give a year between 1900 and 9999"),
        ))
    }
}

fn parse_date(stored: &str, what: &str) -> Result<Date, StoreError> {
    stored
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("{what} {stored:?} is not a date: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_sorted_deduplicated_and_checked() {
        let roles = ["teacher", "dsl", "teacher"].map(str::to_owned);
        assert_eq!(join_roles(&roles).unwrap(), "dsl,teacher");
        assert_eq!(split_list("dsl,teacher"), vec!["dsl", "teacher"]);
        assert!(split_list("").is_empty());
        assert!(join_roles(&["a,b".to_owned()]).is_err());
        assert!(join_roles(&["DSL".to_owned()]).is_err());
    }

    #[test]
    fn usernames_and_secrets_are_checked() {
        assert!(validate_username("j.smith@school.org").is_ok());
        assert!(validate_username("j smith").is_err());
        assert!(validate_username("jösmith").is_err());
        assert!(validate_base32("JBSWY3DPEHPK3PXP").is_ok());
        assert!(validate_base32("jbswy3dpehpk3pxp").is_err());
        assert!(validate_base32("SHORT").is_err());
    }
}
