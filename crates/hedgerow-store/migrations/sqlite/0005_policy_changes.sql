-- Policy changes under change control (SQLite dialect). Keep in step with
-- ../postgres/0005_policy_changes.sql: the Rust code issues the same SQL to both.
--
-- The configuration file is the base; every change made in the admin app is one row here:
-- who, when, why (required), the kind (for the school's approval rules), the change itself as
-- JSON (hedgerow_policy::change::PolicyChange), the difference it made in words, and its
-- status. The gateway applies the applied, unexpired rows in order on top of the
-- configuration. Rows are never deleted: a change is ended by rejecting, reverting or expiry.

CREATE TABLE policy_changes (
    id              INTEGER PRIMARY KEY,
    school_id       INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    created_at_us   INTEGER NOT NULL,
    created_by      TEXT    NOT NULL CHECK (length(trim(created_by)) > 0),
    reason          TEXT    NOT NULL CHECK (length(trim(reason)) > 0 AND length(reason) <= 2000),
    kind            TEXT    NOT NULL,
    change          TEXT    NOT NULL,
    diff            TEXT    NOT NULL,
    status          TEXT    NOT NULL
        CHECK (status IN ('pending_approval', 'applied', 'rejected', 'expired', 'reverted')),
    source          TEXT    NOT NULL DEFAULT 'admin',
    applies_until_us INTEGER,
    -- When the change started to apply (at once, or when approved); the order of application.
    applied_at_us   INTEGER,
    approved_by     TEXT,
    approved_at_us  INTEGER,
    rejected_by     TEXT,
    rejected_at_us  INTEGER,
    rejected_reason TEXT,
    reverted_by     TEXT,
    reverted_at_us  INTEGER,
    revert_reason   TEXT,
    -- Moves on every insert and status change: the gateway polls it to notice changes.
    updated_at_us   INTEGER NOT NULL,
    -- A second person approves: never the one who proposed the change.
    CHECK (approved_by IS NULL OR approved_by <> created_by),
    CHECK (status <> 'rejected' OR (rejected_by IS NOT NULL AND rejected_reason IS NOT NULL)),
    CHECK (status = 'pending_approval' OR status = 'rejected' OR applied_at_us IS NOT NULL)
);

CREATE INDEX policy_changes_school_at ON policy_changes (school_id, created_at_us);
CREATE INDEX policy_changes_school_status ON policy_changes (school_id, status, applied_at_us);
CREATE INDEX policy_changes_updated ON policy_changes (updated_at_us);
