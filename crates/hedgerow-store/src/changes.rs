//! Policy changes under change control: the change log the admin app writes and the gateway
//! applies on top of the configuration file.
//!
//! Every change records who proposed it, when, a required reason, its kind, the change itself
//! (JSON of `hedgerow_policy::change::PolicyChange`; the store does not read it) and the
//! difference it made, in words. A change is `applied` at once, or `pending_approval` when the
//! school's approval rules (setting [`APPROVAL_SETTING`], comma-separated kinds, default
//! [`DEFAULT_APPROVAL_REQUIRED`]) name its kind; a different person then approves it (the store
//! refuses self-approval, and so does a CHECK) or rejects it with a reason. Applied changes end
//! by expiry (`applies_until`) or by being reverted. Rows are never deleted, and every step is
//! also written to the audit log in the same transaction.
//!
//! [`Store::active_changes`] is what the gateway applies: applied, unexpired changes in the
//! order they took effect. [`Store::changes_version`] is a cheap fingerprint the gateway polls
//! to notice changes made by another process (the admin app) within seconds.
//!
//! Who may approve which kind (for example only the online-safety lead for
//! `unblock-for-pupils`) is the admin app's decision, made with its accounts and roles; the
//! store guarantees only that the approver is someone else.

use std::fmt;

use jiff::Timestamp;
use sqlx::{AssertSqlSafe, FromRow};

use crate::Store;
use crate::StoreError;
use crate::model::{ReviewRequestId, SchoolId, timestamp_from_us, timestamp_to_us};
use crate::store::{
    AUDIT_INSERT, Arg, Backend, audit_args, bind_args, unknown_school_or, validate_name,
    validate_text, with_pool,
};

/// The per-school setting that names the kinds of change needing a second person's approval.
pub const APPROVAL_SETTING: &str = "change_control.approval_required";
/// The approval rule when a school has set none: unblocking anything for pupils.
pub const DEFAULT_APPROVAL_REQUIRED: &str = "unblock-for-pupils";
/// The longest reason, rejection reason or note.
pub const MAX_REASON_CHARS: usize = 2_000;

/// A change's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyChangeId(pub i64);

impl fmt::Display for PolicyChangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeStatus {
    /// Waiting for a second person.
    PendingApproval,
    /// In force (unless `applies_until` has passed and the gateway has not yet marked it).
    Applied,
    /// Refused by the second person, with a reason.
    Rejected,
    /// Its time ran out.
    Expired,
    /// Undone by someone, with a reason.
    Reverted,
}

impl ChangeStatus {
    pub const ALL: [ChangeStatus; 5] = [
        ChangeStatus::PendingApproval,
        ChangeStatus::Applied,
        ChangeStatus::Rejected,
        ChangeStatus::Expired,
        ChangeStatus::Reverted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeStatus::PendingApproval => "pending_approval",
            ChangeStatus::Applied => "applied",
            ChangeStatus::Rejected => "rejected",
            ChangeStatus::Expired => "expired",
            ChangeStatus::Reverted => "reverted",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeStatus> {
        ChangeStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ChangeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change as proposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPolicyChange {
    pub school: SchoolId,
    pub created_by: String,
    /// Required: why the change is made.
    pub reason: String,
    /// A `ChangeKind` key, such as `unblock-for-pupils`.
    pub kind: String,
    /// The change as JSON.
    pub change: String,
    /// The difference it makes, in words.
    pub diff: String,
    /// When it stops applying by itself.
    pub applies_until: Option<Timestamp>,
    /// `admin`, or `review-request:<id>`.
    pub source: String,
}

/// A change in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChangeRecord {
    pub id: PolicyChangeId,
    pub school: SchoolId,
    pub created_at: Timestamp,
    pub created_by: String,
    pub reason: String,
    pub kind: String,
    pub change: String,
    pub diff: String,
    pub status: ChangeStatus,
    pub source: String,
    pub applies_until: Option<Timestamp>,
    pub applied_at: Option<Timestamp>,
    pub approved_by: Option<String>,
    pub approved_at: Option<Timestamp>,
    pub rejected_by: Option<String>,
    pub rejected_at: Option<Timestamp>,
    pub rejected_reason: Option<String>,
    pub reverted_by: Option<String>,
    pub reverted_at: Option<Timestamp>,
    pub revert_reason: Option<String>,
}

impl PolicyChangeRecord {
    /// The id an applied change gives the override or sanction it makes: `change-12`.
    pub fn stamp_id(&self) -> String {
        format!("change-{}", self.id)
    }
}

/// What to look for in the change log. Every field narrows the search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFilter {
    pub school: SchoolId,
    /// Case-insensitive text in the reason, the difference, the change or the source.
    pub text: Option<String>,
    pub kind: Option<String>,
    pub status: Option<ChangeStatus>,
    /// Proposed, approved, rejected or reverted by this person.
    pub person: Option<String>,
    /// Proposed at or after.
    pub since: Option<Timestamp>,
    /// Proposed before.
    pub until: Option<Timestamp>,
    /// At most [`ChangeFilter::MAX_LIMIT`].
    pub limit: u32,
    pub offset: u32,
}

impl ChangeFilter {
    pub const MAX_LIMIT: u32 = 1_000;

    /// Everything of one school, newest 50 first.
    pub fn school(school: SchoolId) -> ChangeFilter {
        ChangeFilter {
            school,
            text: None,
            kind: None,
            status: None,
            person: None,
            since: None,
            until: None,
            limit: 50,
            offset: 0,
        }
    }
}

/// A fingerprint of the whole change log: moves whenever a change is added or changes status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangesVersion {
    pub count: i64,
    pub last_update_us: i64,
}

const CHANGE_COLUMNS: &str = "id, school_id, created_at_us, created_by, reason, kind, change, \
     diff, status, source, applies_until_us, applied_at_us, approved_by, approved_at_us, \
     rejected_by, rejected_at_us, rejected_reason, reverted_by, reverted_at_us, revert_reason";

const CHANGE_INSERT: &str = "INSERT INTO policy_changes (school_id, created_at_us, created_by, \
     reason, kind, change, diff, status, source, applies_until_us, applied_at_us, approved_by, \
     approved_at_us, updated_at_us) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $2) RETURNING id";

#[derive(FromRow)]
struct ChangeRow {
    id: i64,
    school_id: i64,
    created_at_us: i64,
    created_by: String,
    reason: String,
    kind: String,
    change: String,
    diff: String,
    status: String,
    source: String,
    applies_until_us: Option<i64>,
    applied_at_us: Option<i64>,
    approved_by: Option<String>,
    approved_at_us: Option<i64>,
    rejected_by: Option<String>,
    rejected_at_us: Option<i64>,
    rejected_reason: Option<String>,
    reverted_by: Option<String>,
    reverted_at_us: Option<i64>,
    revert_reason: Option<String>,
}

impl ChangeRow {
    fn into_record(self) -> Result<PolicyChangeRecord, StoreError> {
        let t = |us: Option<i64>, what: &str| us.map(|us| timestamp_from_us(us, what)).transpose();
        let status = ChangeStatus::parse(&self.status).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "policy change {} has unknown status {:?}",
                self.id, self.status
            ))
        })?;
        Ok(PolicyChangeRecord {
            id: PolicyChangeId(self.id),
            school: SchoolId(self.school_id),
            created_at: timestamp_from_us(self.created_at_us, "policy change time")?,
            created_by: self.created_by,
            reason: self.reason,
            kind: self.kind,
            change: self.change,
            diff: self.diff,
            status,
            source: self.source,
            applies_until: t(self.applies_until_us, "policy change end")?,
            applied_at: t(self.applied_at_us, "policy change application time")?,
            approved_by: self.approved_by,
            approved_at: t(self.approved_at_us, "policy change approval time")?,
            rejected_by: self.rejected_by,
            rejected_at: t(self.rejected_at_us, "policy change rejection time")?,
            rejected_reason: self.rejected_reason,
            reverted_by: self.reverted_by,
            reverted_at: t(self.reverted_at_us, "policy change revert time")?,
            revert_reason: self.revert_reason,
        })
    }
}

/// Parses an approval rule setting: kinds separated by commas; blanks ignored.
pub fn parse_approval_rules(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Store {
    /// The kinds of change that need a second person's approval in this school.
    pub async fn approval_rules(&self, school: SchoolId) -> Result<Vec<String>, StoreError> {
        let value = self.setting(school, APPROVAL_SETTING).await?;
        Ok(parse_approval_rules(
            value.as_deref().unwrap_or(DEFAULT_APPROVAL_REQUIRED),
        ))
    }

    /// Sets the kinds of change that need approval (empty: none), and audits it.
    pub async fn set_approval_rules(
        &self,
        school: SchoolId,
        kinds: &[&str],
        by: &str,
    ) -> Result<(), StoreError> {
        validate_name("changed by", by)?;
        for kind in kinds {
            validate_kind(kind)?;
        }
        let value = kinds.join(",");
        self.set_setting(school, APPROVAL_SETTING, &value).await?;
        self.append_audit(&crate::AuditEntry {
            school: Some(school),
            at: Timestamp::now(),
            actor: by.to_owned(),
            action: "change_control.rules".into(),
            target: APPROVAL_SETTING.into(),
            detail: format!(
                "approval required for: {}",
                if value.is_empty() { "nothing" } else { &value }
            ),
            from_addr: None,
        })
        .await
    }

    /// Records a change: applied at once, or pending when the school's approval rules name its
    /// kind. Audited as `policy.change` in the same transaction.
    pub async fn propose_change(
        &self,
        change: &NewPolicyChange,
        at: Timestamp,
    ) -> Result<PolicyChangeRecord, StoreError> {
        let rules = self.approval_rules(change.school).await?;
        let id = self.insert_change(change, at, &rules, None, None).await?;
        self.policy_change(change.school, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("policy change {id} vanished")))
    }

    async fn insert_change(
        &self,
        change: &NewPolicyChange,
        at: Timestamp,
        rules: &[String],
        review: Option<(ReviewRequestId, &str, Option<&str>)>,
        approved_by: Option<&str>,
    ) -> Result<PolicyChangeId, StoreError> {
        validate_new(change)?;
        // Someone other than the proposer who approves as the change is recorded is the
        // second person the rules ask for.
        let approved_by = approved_by.filter(|by| *by != change.created_by);
        let needs_approval = approved_by.is_none() && rules.contains(&change.kind);
        let status = if needs_approval {
            ChangeStatus::PendingApproval
        } else {
            ChangeStatus::Applied
        };
        let at_us = timestamp_to_us(at);
        let args = [
            Arg::I64(change.school.0),
            Arg::I64(at_us),
            Arg::Str(&change.created_by),
            Arg::Str(&change.reason),
            Arg::Str(&change.kind),
            Arg::Str(&change.change),
            Arg::Str(&change.diff),
            Arg::Str(status.as_str()),
            Arg::Str(&change.source),
            Arg::OptI64(change.applies_until.map(timestamp_to_us)),
            Arg::OptI64((!needs_approval).then_some(at_us)),
            Arg::OptStr(approved_by),
            Arg::OptI64(approved_by.map(|_| at_us)),
        ];
        let school = change.school;
        let id = with_pool!(&self.backend, pool => {
            let mut tx = pool
                .begin_with(self.backend.begin_write_sql())
                .await
                .map_err(StoreError::query("starting to record a policy change"))?;
            if let Some((request, decided_by, note)) = review {
                const SQL: &str = "UPDATE review_requests SET status = 'approved', \
                     decided_by = $1, decided_at_us = $2, decision_note = $3 \
                     WHERE id = $4 AND school_id = $5 AND status = 'new'";
                let changed = sqlx::query(SQL)
                    .bind(decided_by)
                    .bind(at_us)
                    .bind(note)
                    .bind(request.0)
                    .bind(school.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("approving a review request"))?
                    .rows_affected();
                if changed == 0 {
                    return Err(StoreError::invalid(
                        "review request",
                        format!("there is no undecided review request {request} in this school"),
                    ));
                }
            }
            let id: i64 = bind_args!(sqlx::query_scalar(CHANGE_INSERT), args)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| unknown_school_or(e, school, "recording a policy change"))?;
            let target = format!("policy_change:{id}");
            let detail = format!("{} [{}] {}: {}", status, change.kind, change.diff, change.reason);
            let actor = review.map_or(change.created_by.as_str(), |(_, decided_by, _)| decided_by);
            let audit = audit_args(Some(school), at, actor, "policy.change", &target, &detail, None);
            bind_args!(sqlx::query(AUDIT_INSERT), audit)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("auditing a policy change"))?;
            tx.commit().await.map_err(StoreError::query("committing a policy change"))?;
            id
        });
        Ok(PolicyChangeId(id))
    }

    /// One change of this school.
    pub async fn policy_change(
        &self,
        school: SchoolId,
        id: PolicyChangeId,
    ) -> Result<Option<PolicyChangeRecord>, StoreError> {
        let sql =
            format!("SELECT {CHANGE_COLUMNS} FROM policy_changes WHERE school_id = $1 AND id = $2");
        let row: Option<ChangeRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql)).bind(school.0).bind(id.0).fetch_optional(pool).await
        })
        .map_err(StoreError::query("reading a policy change"))?;
        row.map(ChangeRow::into_record).transpose()
    }

    /// A second person approves a pending change, which then applies from `at`. Refused for
    /// the person who proposed it, and for a change that is not pending.
    pub async fn approve_change(
        &self,
        school: SchoolId,
        id: PolicyChangeId,
        by: &str,
        at: Timestamp,
    ) -> Result<PolicyChangeRecord, StoreError> {
        validate_name("approved by", by)?;
        let current = self.pending(school, id).await?;
        if current.created_by.eq_ignore_ascii_case(by.trim()) {
            return Err(StoreError::invalid(
                "approved by",
                format!("{by} proposed change {id}; a different person must approve it"),
            ));
        }
        const SQL: &str = "UPDATE policy_changes SET status = 'applied', approved_by = $1, \
             approved_at_us = $2, applied_at_us = $2, updated_at_us = $2 \
             WHERE school_id = $3 AND id = $4 AND status = 'pending_approval' AND created_by <> $1";
        self.transition(
            school,
            id,
            by,
            at,
            "policy.approve",
            &format!("approved: {}", current.diff),
            SQL,
            vec![
                Arg::Str(by),
                Arg::I64(timestamp_to_us(at)),
                Arg::I64(school.0),
                Arg::I64(id.0),
            ],
        )
        .await
    }

    /// A second person refuses a pending change, with a reason.
    pub async fn reject_change(
        &self,
        school: SchoolId,
        id: PolicyChangeId,
        by: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<PolicyChangeRecord, StoreError> {
        validate_name("rejected by", by)?;
        validate_text("rejection reason", reason, MAX_REASON_CHARS)?;
        let current = self.pending(school, id).await?;
        const SQL: &str = "UPDATE policy_changes SET status = 'rejected', rejected_by = $1, \
             rejected_at_us = $2, rejected_reason = $3, updated_at_us = $2 \
             WHERE school_id = $4 AND id = $5 AND status = 'pending_approval'";
        self.transition(
            school,
            id,
            by,
            at,
            "policy.reject",
            &format!("rejected: {}: {reason}", current.diff),
            SQL,
            vec![
                Arg::Str(by),
                Arg::I64(timestamp_to_us(at)),
                Arg::Str(reason),
                Arg::I64(school.0),
                Arg::I64(id.0),
            ],
        )
        .await
    }

    /// Undoes an applied change from `at` on, with a reason.
    pub async fn revert_change(
        &self,
        school: SchoolId,
        id: PolicyChangeId,
        by: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<PolicyChangeRecord, StoreError> {
        validate_name("reverted by", by)?;
        validate_text("revert reason", reason, MAX_REASON_CHARS)?;
        const SQL: &str = "UPDATE policy_changes SET status = 'reverted', reverted_by = $1, \
             reverted_at_us = $2, revert_reason = $3, updated_at_us = $2 \
             WHERE school_id = $4 AND id = $5 AND status = 'applied'";
        self.transition(
            school,
            id,
            by,
            at,
            "policy.revert",
            &format!("reverted: {reason}"),
            SQL,
            vec![
                Arg::Str(by),
                Arg::I64(timestamp_to_us(at)),
                Arg::Str(reason),
                Arg::I64(school.0),
                Arg::I64(id.0),
            ],
        )
        .await
    }

    async fn pending(
        &self,
        school: SchoolId,
        id: PolicyChangeId,
    ) -> Result<PolicyChangeRecord, StoreError> {
        match self.policy_change(school, id).await? {
            Some(c) if c.status == ChangeStatus::PendingApproval => Ok(c),
            Some(c) => Err(StoreError::invalid(
                "policy change",
                format!("change {id} is {}, not waiting for approval", c.status),
            )),
            None => Err(StoreError::invalid(
                "policy change",
                format!("there is no change {id} in this school"),
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn transition(
        &self,
        school: SchoolId,
        id: PolicyChangeId,
        by: &str,
        at: Timestamp,
        action: &str,
        detail: &str,
        sql: &'static str,
        args: Vec<Arg<'_>>,
    ) -> Result<PolicyChangeRecord, StoreError> {
        let changed = with_pool!(&self.backend, pool => {
            let mut tx = pool
                .begin_with(self.backend.begin_write_sql())
                .await
                .map_err(StoreError::query("starting to change a policy change"))?;
            let changed = bind_args!(sqlx::query(sql), args)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("changing a policy change"))?
                .rows_affected();
            if changed > 0 {
                let target = format!("policy_change:{id}");
                let audit = audit_args(Some(school), at, by, action, &target, detail, None);
                bind_args!(sqlx::query(AUDIT_INSERT), audit)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("auditing a policy change"))?;
            }
            tx.commit().await.map_err(StoreError::query("committing a policy change"))?;
            changed
        });
        if changed == 0 {
            return Err(StoreError::invalid(
                "policy change",
                format!("change {id} is not in a state that allows {action}"),
            ));
        }
        self.policy_change(school, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("policy change {id} vanished")))
    }

    /// The changes in force for a school at `now`, in the order they took effect.
    pub async fn active_changes(
        &self,
        school: SchoolId,
        now: Timestamp,
    ) -> Result<Vec<PolicyChangeRecord>, StoreError> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM policy_changes WHERE school_id = $1 \
             AND status = 'applied' AND (applies_until_us IS NULL OR applies_until_us > $2) \
             ORDER BY applied_at_us, id"
        );
        let rows: Vec<ChangeRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql)).bind(school.0).bind(timestamp_to_us(now)).fetch_all(pool).await
        })
        .map_err(StoreError::query("reading the policy changes in force"))?;
        rows.into_iter().map(ChangeRow::into_record).collect()
    }

    /// Marks applied changes whose time has run out as `expired` (every school). Returns how
    /// many. The gateway stops applying them at `applies_until` whether or not this has run.
    pub async fn expire_changes(&self, now: Timestamp) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE policy_changes SET status = 'expired', updated_at_us = $1 \
             WHERE status = 'applied' AND applies_until_us IS NOT NULL AND applies_until_us <= $1";
        let n = with_pool!(&self.backend, pool => {
            sqlx::query(SQL).bind(timestamp_to_us(now)).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(StoreError::query("expiring policy changes"))?;
        Ok(n)
    }

    /// A cheap fingerprint of the whole change log, for noticing changes made elsewhere.
    pub async fn changes_version(&self) -> Result<ChangesVersion, StoreError> {
        const SQL: &str = "SELECT COUNT(*), COALESCE(MAX(updated_at_us), 0) FROM policy_changes";
        let (count, last): (i64, i64) = with_pool!(&self.backend, pool => {
            sqlx::query_as(SQL).fetch_one(pool).await
        })
        .map_err(StoreError::query("checking the change log"))?;
        Ok(ChangesVersion {
            count,
            last_update_us: last,
        })
    }

    /// The earliest moment an applied change of any school runs out, after `now`.
    pub async fn next_change_expiry(
        &self,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        const SQL: &str = "SELECT MIN(applies_until_us) FROM policy_changes \
             WHERE status = 'applied' AND applies_until_us > $1";
        let us: Option<i64> = with_pool!(&self.backend, pool => {
            sqlx::query_scalar(SQL).bind(timestamp_to_us(now)).fetch_one(pool).await
        })
        .map_err(StoreError::query("checking when changes run out"))?;
        us.map(|us| timestamp_from_us(us, "policy change end"))
            .transpose()
    }

    /// Searches the change log, newest first, one page at a time.
    pub async fn search_changes(
        &self,
        filter: &ChangeFilter,
    ) -> Result<Vec<PolicyChangeRecord>, StoreError> {
        let (mut sql, mut args) = where_clause(filter);
        sql.insert_str(0, &format!("SELECT {CHANGE_COLUMNS} FROM policy_changes"));
        args.push(Arg::I64(i64::from(
            filter.limit.min(ChangeFilter::MAX_LIMIT),
        )));
        sql.push_str(&format!(
            " ORDER BY created_at_us DESC, id DESC LIMIT ${}",
            args.len()
        ));
        args.push(Arg::I64(i64::from(filter.offset)));
        sql.push_str(&format!(" OFFSET ${}", args.len()));
        let rows: Vec<ChangeRow> = with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(pool).await
        })
        .map_err(StoreError::query("searching the change log"))?;
        rows.into_iter().map(ChangeRow::into_record).collect()
    }

    /// How many changes match (ignoring limit and offset), for paging.
    pub async fn count_changes(&self, filter: &ChangeFilter) -> Result<u64, StoreError> {
        let (mut sql, args) = where_clause(filter);
        sql.insert_str(0, "SELECT COUNT(*) FROM policy_changes");
        let n: i64 = with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query_scalar(AssertSqlSafe(sql)), args).fetch_one(pool).await
        })
        .map_err(StoreError::query("counting the change log"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The matching changes (up to 100,000, newest first, ignoring limit and offset) as CSV
    /// with a header line. Cells that a spreadsheet would run as a formula are quoted with a
    /// leading apostrophe. The export is audited as `policy.export` by `by`.
    pub async fn export_changes_csv(
        &self,
        filter: &ChangeFilter,
        by: &str,
    ) -> Result<String, StoreError> {
        validate_name("exported by", by)?;
        let mut out = String::from(
            "id,created_at,created_by,kind,status,reason,diff,source,applies_until,approved_by,approved_at,rejected_by,rejected_reason,reverted_by,revert_reason,change\n",
        );
        let mut page = filter.clone();
        page.limit = ChangeFilter::MAX_LIMIT;
        page.offset = 0;
        let mut rows = 0usize;
        loop {
            let batch = self.search_changes(&page).await?;
            let done = batch.len() < ChangeFilter::MAX_LIMIT as usize;
            for c in batch {
                let t = |t: Option<Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
                let o = |s: &Option<String>| s.clone().unwrap_or_default();
                let cells = [
                    c.id.to_string(),
                    c.created_at.to_string(),
                    c.created_by,
                    c.kind,
                    c.status.to_string(),
                    c.reason,
                    c.diff,
                    c.source,
                    t(c.applies_until),
                    o(&c.approved_by),
                    t(c.approved_at),
                    o(&c.rejected_by),
                    o(&c.rejected_reason),
                    o(&c.reverted_by),
                    o(&c.revert_reason),
                    c.change,
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                out.push_str(&line.join(","));
                out.push('\n');
                rows += 1;
            }
            if done || rows >= 100_000 {
                break;
            }
            page.offset += ChangeFilter::MAX_LIMIT;
        }
        self.append_audit(&crate::AuditEntry {
            school: Some(filter.school),
            at: Timestamp::now(),
            actor: by.to_owned(),
            action: "policy.export".into(),
            target: format!("school:{}", filter.school),
            detail: format!("{rows} changes exported"),
            from_addr: None,
        })
        .await?;
        Ok(out)
    }

    /// Approves a review request by recording `change` (normally a site override the admin
    /// app built from the request, with source `review-request:<id>`, proposed by the person
    /// who asked) and marking the request approved by `decided_by`, in one transaction. The
    /// one who decides is the second person: when they are not the one who asked, the change
    /// applies at once, approved by them; when they decided their own request, it follows the
    /// approval rules like any other change and may wait for someone else.
    pub async fn approve_review_request(
        &self,
        request: ReviewRequestId,
        change: &NewPolicyChange,
        decided_by: &str,
        note: Option<&str>,
        at: Timestamp,
    ) -> Result<PolicyChangeRecord, StoreError> {
        validate_name("decided by", decided_by)?;
        if let Some(note) = note {
            validate_text("review decision note", note, MAX_REASON_CHARS)?;
        }
        let rules = self.approval_rules(change.school).await?;
        let id = self
            .insert_change(
                change,
                at,
                &rules,
                Some((request, decided_by, note)),
                Some(decided_by),
            )
            .await?;
        self.policy_change(change.school, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("policy change {id} vanished")))
    }

    /// Declines a review request with a reason. The decision is a change-control entry too:
    /// a `review-decline` entry (status `rejected`, no change to the policy) records who and
    /// why, beside the request's own decision and the audit log.
    pub async fn decline_review_request(
        &self,
        school: SchoolId,
        request: ReviewRequestId,
        by: &str,
        reason: &str,
        diff: &str,
        at: Timestamp,
    ) -> Result<PolicyChangeRecord, StoreError> {
        validate_name("declined by", by)?;
        validate_text("decline reason", reason, MAX_REASON_CHARS)?;
        let at_us = timestamp_to_us(at);
        let source = format!("review-request:{request}");
        let id = with_pool!(&self.backend, pool => {
            let mut tx = pool
                .begin_with(self.backend.begin_write_sql())
                .await
                .map_err(StoreError::query("starting to decline a review request"))?;
            const UPDATE: &str = "UPDATE review_requests SET status = 'declined', decided_by = $1, \
                 decided_at_us = $2, decision_note = $3 \
                 WHERE id = $4 AND school_id = $5 AND status = 'new'";
            let changed = sqlx::query(UPDATE)
                .bind(by).bind(at_us).bind(reason).bind(request.0).bind(school.0)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("declining a review request"))?
                .rows_affected();
            if changed == 0 {
                return Err(StoreError::invalid(
                    "review request",
                    format!("there is no undecided review request {request} in this school"),
                ));
            }
            const INSERT: &str = "INSERT INTO policy_changes (school_id, created_at_us, created_by, \
                 reason, kind, change, diff, status, source, rejected_by, rejected_at_us, \
                 rejected_reason, updated_at_us) \
                 VALUES ($1, $2, $3, $4, 'review-decline', 'null', $5, 'rejected', $6, $3, $2, $4, $2) \
                 RETURNING id";
            let id: i64 = sqlx::query_scalar(INSERT)
                .bind(school.0).bind(at_us).bind(by).bind(reason).bind(diff).bind(&source)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| unknown_school_or(e, school, "recording a review decision"))?;
            let target = format!("review_request:{request}");
            let detail = format!("declined: {reason}");
            let audit = audit_args(Some(school), at, by, "review.decide", &target, &detail, None);
            bind_args!(sqlx::query(AUDIT_INSERT), audit)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("auditing a review decision"))?;
            tx.commit().await.map_err(StoreError::query("committing a review decision"))?;
            id
        });
        self.policy_change(school, PolicyChangeId(id))
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("policy change {id} vanished")))
    }
}

fn validate_kind(kind: &str) -> Result<(), StoreError> {
    let ok = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "change kind",
            format!("{kind:?} is not a change kind such as unblock-for-pupils"),
        ))
    }
}

fn validate_new(change: &NewPolicyChange) -> Result<(), StoreError> {
    validate_name("proposed by", &change.created_by)?;
    validate_text("reason", &change.reason, MAX_REASON_CHARS)?;
    validate_kind(&change.kind)?;
    validate_text("change", &change.change, 100_000)?;
    validate_text("difference", &change.diff, 10_000)?;
    validate_name("source", &change.source)?;
    Ok(())
}

/// ` WHERE ...` for a filter, with its arguments.
fn where_clause(filter: &ChangeFilter) -> (String, Vec<Arg<'_>>) {
    let mut sql = String::from(" WHERE school_id = $1");
    let mut args = vec![Arg::I64(filter.school.0)];
    if let Some(text) = filter
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        args.push(Arg::Owned(format!("%{escaped}%")));
        let n = args.len();
        sql.push_str(&format!(
            " AND (lower(reason) LIKE ${n} ESCAPE '\\' OR lower(diff) LIKE ${n} ESCAPE '\\' \
             OR lower(change) LIKE ${n} ESCAPE '\\' OR lower(source) LIKE ${n} ESCAPE '\\')"
        ));
    }
    if let Some(kind) = &filter.kind {
        args.push(Arg::Str(kind));
        sql.push_str(&format!(" AND kind = ${}", args.len()));
    }
    if let Some(status) = filter.status {
        args.push(Arg::Str(status.as_str()));
        sql.push_str(&format!(" AND status = ${}", args.len()));
    }
    if let Some(person) = &filter.person {
        args.push(Arg::Str(person));
        let n = args.len();
        sql.push_str(&format!(
            " AND (created_by = ${n} OR approved_by = ${n} OR rejected_by = ${n} OR reverted_by = ${n})"
        ));
    }
    if let Some(since) = filter.since {
        args.push(Arg::I64(timestamp_to_us(since)));
        sql.push_str(&format!(" AND created_at_us >= ${}", args.len()));
    }
    if let Some(until) = filter.until {
        args.push(Arg::I64(timestamp_to_us(until)));
        sql.push_str(&format!(" AND created_at_us < ${}", args.len()));
    }
    (sql, args)
}

/// One CSV cell: quoted when it must be, and defused when a spreadsheet would run it.
fn csv_cell(value: &str) -> String {
    let mut value = value.to_owned();
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        value.insert(0, '\'');
    }
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(parse_approval_rules(" a, ,b "), vec!["a", "b"]);
    }
}
