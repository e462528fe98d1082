-- Safeguarding records (SQLite dialect). Keep in step with ../postgres/0010_records.sql: the
-- Rust code (src/records.rs) issues the same SQL to both.
--
-- A concern (0008) grows into a full record of concern and incident: who reported it, when
-- and where, who was involved, what kind of incident, the child's own words, what was seen,
-- the DSL's actions, guided procedures, sanctions the gateway enforces, and the outcome.
-- Every table hanging off a concern cascades from it, so destroying a record (after review,
-- never by itself) removes all of it; the certificate of destruction outlives it on purpose
-- and holds only a hash of what was destroyed. Evidence is described in words: no table
-- here holds a file, because indecent images must never be stored or copied.

ALTER TABLE concerns ADD COLUMN record_type TEXT NOT NULL DEFAULT 'online-safety'
    CHECK (record_type IN ('online-safety', 'child-protection', 'staff-allegation'));
ALTER TABLE concerns ADD COLUMN reporter TEXT;
-- Alert-born concerns were reported when they were opened.
ALTER TABLE concerns ADD COLUMN reported_at_us INTEGER;
ALTER TABLE concerns ADD COLUMN incident_at_us INTEGER;
ALTER TABLE concerns ADD COLUMN location TEXT NOT NULL DEFAULT 'unknown'
    CHECK (location IN ('in-school', 'out-of-school', 'unknown'));
ALTER TABLE concerns ADD COLUMN disclosure TEXT NOT NULL DEFAULT '';
ALTER TABLE concerns ADD COLUMN observations TEXT NOT NULL DEFAULT '';
ALTER TABLE concerns ADD COLUMN websites TEXT NOT NULL DEFAULT '';
ALTER TABLE concerns ADD COLUMN apps_games TEXT NOT NULL DEFAULT '';
ALTER TABLE concerns ADD COLUMN online_names TEXT NOT NULL DEFAULT '';
ALTER TABLE concerns ADD COLUMN evidence_description TEXT NOT NULL DEFAULT '';
ALTER TABLE concerns ADD COLUMN handed_to TEXT;
ALTER TABLE concerns ADD COLUMN handed_at_us INTEGER;
ALTER TABLE concerns ADD COLUMN outcome TEXT;
ALTER TABLE concerns ADD COLUMN no_referral_reason TEXT;
ALTER TABLE concerns ADD COLUMN closed_at_us INTEGER;
ALTER TABLE concerns ADD COLUMN closed_by TEXT;
ALTER TABLE concerns ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0 CHECK (legal_hold IN (0, 1));
ALTER TABLE concerns ADD COLUMN legal_hold_reason TEXT;
ALTER TABLE concerns ADD COLUMN updated_at_us INTEGER;

UPDATE concerns SET reported_at_us = created_at_us WHERE reported_at_us IS NULL;

-- The people involved: pupils, staff, parents or carers and others, each with how.
CREATE TABLE concern_people (
    id            INTEGER PRIMARY KEY,
    concern_id    INTEGER NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    person_role   TEXT    NOT NULL
        CHECK (person_role IN ('pupil', 'staff', 'parent-carer', 'other')),
    involvement   TEXT    NOT NULL
        CHECK (involvement IN ('affected', 'responsible', 'witness', 'other')),
    display_name  TEXT    NOT NULL CHECK (length(trim(display_name)) > 0),
    username      TEXT,
    date_of_birth TEXT CHECK (date_of_birth IS NULL OR length(date_of_birth) = 10)
);

CREATE INDEX concern_people_concern ON concern_people (concern_id, position);
-- A pupil's chronology and subject-access export find their records by username.
CREATE INDEX concern_people_username ON concern_people (username);

-- One or more incident types per record.
CREATE TABLE concern_types (
    concern_id INTEGER NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    type_key   TEXT    NOT NULL CHECK (length(type_key) > 0),
    position   INTEGER NOT NULL,
    PRIMARY KEY (concern_id, type_key)
);

-- What was done, append-only: the record of action.
CREATE TABLE concern_actions (
    id         INTEGER PRIMARY KEY,
    concern_id INTEGER NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (length(kind) > 0),
    at_us      INTEGER NOT NULL,
    by_user    TEXT    NOT NULL,
    note       TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX concern_actions_concern ON concern_actions (concern_id, at_us);

-- Guided procedures started on a record, and the steps ticked in them.
CREATE TABLE concern_procedures (
    concern_id    INTEGER NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    procedure     TEXT    NOT NULL CHECK (length(procedure) > 0),
    started_at_us INTEGER NOT NULL,
    started_by    TEXT    NOT NULL,
    PRIMARY KEY (concern_id, procedure)
);

CREATE TABLE concern_steps (
    concern_id INTEGER NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    procedure  TEXT    NOT NULL,
    step       TEXT    NOT NULL CHECK (length(step) > 0),
    done_at_us INTEGER NOT NULL,
    done_by    TEXT    NOT NULL,
    note       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (concern_id, procedure, step)
);

-- Sanctions the gateway enforces, each made through policy change control (change_id).
CREATE TABLE concern_sanctions (
    id           INTEGER PRIMARY KEY,
    concern_id   INTEGER NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    username     TEXT    NOT NULL CHECK (length(trim(username)) > 0),
    kind         TEXT    NOT NULL CHECK (kind IN ('suspended', 'restricted')),
    filter_as    TEXT,
    starts_at_us INTEGER NOT NULL,
    until_us     INTEGER NOT NULL,
    change_id    INTEGER,
    lifted_at_us INTEGER,
    lifted_by    TEXT,
    CHECK (until_us > starts_at_us),
    CHECK ((kind = 'restricted') = (filter_as IS NOT NULL)),
    CHECK ((lifted_at_us IS NULL) = (lifted_by IS NULL))
);

CREATE INDEX concern_sanctions_concern ON concern_sanctions (concern_id);
CREATE INDEX concern_sanctions_user ON concern_sanctions (username, until_us);

-- Further alerts linked to a record (the alert it was opened from stays in concerns.alert_id).
CREATE TABLE concern_alerts (
    concern_id INTEGER NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    alert_id   INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    PRIMARY KEY (concern_id, alert_id)
);

-- Certificates of destruction, kept for ever: what was destroyed, when, by whom and why,
-- with a hash of the record as it was instead of the record itself. concern_ref is the old
-- id and deliberately no foreign key.
CREATE TABLE destruction_certificates (
    id              INTEGER PRIMARY KEY,
    school_id       INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    concern_ref     INTEGER NOT NULL,
    record_type     TEXT    NOT NULL,
    opened_at_us    INTEGER NOT NULL,
    closed_at_us    INTEGER,
    review_due      TEXT    NOT NULL CHECK (length(review_due) = 10),
    destroyed_at_us INTEGER NOT NULL,
    destroyed_by    TEXT    NOT NULL,
    reason          TEXT    NOT NULL CHECK (length(trim(reason)) > 0),
    content_sha256  TEXT    NOT NULL CHECK (length(content_sha256) = 64),
    rows_removed    INTEGER NOT NULL
);

CREATE INDEX destruction_certificates_school ON destruction_certificates (school_id, destroyed_at_us);

-- The transfer log: a pupil's file sent to (or received from) another school, due within
-- five school days, and who confirmed its receipt.
CREATE TABLE record_transfers (
    id                      INTEGER PRIMARY KEY,
    school_id               INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    direction               TEXT    NOT NULL CHECK (direction IN ('out', 'in')),
    pupil_username          TEXT,
    pupil_name              TEXT    NOT NULL CHECK (length(trim(pupil_name)) > 0),
    other_school            TEXT    NOT NULL CHECK (length(trim(other_school)) > 0),
    sent_at_us              INTEGER NOT NULL,
    sent_by                 TEXT    NOT NULL,
    due_date                TEXT    NOT NULL CHECK (length(due_date) = 10),
    sha256                  TEXT    NOT NULL CHECK (length(sha256) = 64),
    receipt_confirmed_at_us INTEGER,
    receipt_confirmed_by    TEXT,
    receipt_note            TEXT,
    CHECK ((receipt_confirmed_at_us IS NULL) = (receipt_confirmed_by IS NULL))
);

CREATE INDEX record_transfers_school ON record_transfers (school_id, sent_at_us);

-- Retention of child-protection records counts from the pupil's date of birth.
ALTER TABLE users ADD COLUMN date_of_birth TEXT CHECK (date_of_birth IS NULL OR length(date_of_birth) = 10);
