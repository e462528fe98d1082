-- Monitoring alerts and safeguarding concerns (SQLite dialect). Keep in step with
-- ../postgres/0008_alerts.sql: the Rust code (src/alerts.rs) issues the same SQL to both.
--
-- An alert is raised when a person's activity matches a risk library entry, or when they make
-- a burst of blocked attempts in one category. Repeats by the same person in the same category
-- within a window fold into the open (status 'new') alert and raise its count; `person_key`
-- ('user:NAME' when the user is known, else 'ip:ADDRESS') is what folding compares.
--
-- A concern is the start of a safeguarding record. It is minimal here and grows with the
-- safeguarding records issue. Its evidence is a JSON snapshot of the activity events around
-- the alert, copied so that it outlives activity-log retention.

CREATE TABLE alerts (
    id             INTEGER PRIMARY KEY,
    school_id      INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    status         TEXT    NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'triaged', 'false_positive', 'no_further_action')),
    first_at_us    INTEGER NOT NULL,
    last_at_us     INTEGER NOT NULL,
    event_count    INTEGER NOT NULL DEFAULT 1 CHECK (event_count >= 1),
    person_key     TEXT    NOT NULL,
    user_name      TEXT,
    device_name    TEXT,
    client_ip      TEXT    NOT NULL,
    group_key      TEXT,
    category       TEXT    NOT NULL CHECK (length(category) > 0),
    severity       INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 5),
    trigger_kind   TEXT    NOT NULL
        CHECK (trigger_kind IN ('search_term', 'url', 'page_title', 'burst')),
    matched_text   TEXT    NOT NULL,
    matched_entry  TEXT    NOT NULL,
    host           TEXT    NOT NULL,
    url            TEXT,
    notified_at_us INTEGER,
    digested_at_us INTEGER,
    triaged_by     TEXT,
    triaged_at_us  INTEGER,
    triage_note    TEXT,
    concern_id     INTEGER REFERENCES concerns (id) ON DELETE SET NULL,
    CHECK (last_at_us >= first_at_us),
    -- A triaged alert says who triaged it, when and why; a new one says none of these.
    CHECK ((status = 'new') = (triaged_by IS NULL AND triaged_at_us IS NULL AND triage_note IS NULL))
);

-- Folding looks for the newest open alert of one person in one category.
CREATE INDEX alerts_fold ON alerts (school_id, person_key, category, status, last_at_us);
-- The triage queue, digests and the weekly report read by time.
CREATE INDEX alerts_school_first_at ON alerts (school_id, first_at_us);

CREATE TABLE concerns (
    id             INTEGER PRIMARY KEY,
    school_id      INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    created_at_us  INTEGER NOT NULL,
    created_by     TEXT    NOT NULL CHECK (length(trim(created_by)) > 0),
    status         TEXT    NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'open', 'closed')),
    subject_user   TEXT,
    subject_device TEXT,
    category       TEXT    NOT NULL,
    summary        TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    alert_id       INTEGER REFERENCES alerts (id) ON DELETE SET NULL,
    evidence       TEXT    NOT NULL DEFAULT '[]'
);

CREATE INDEX concerns_school_created ON concerns (school_id, created_at_us);
