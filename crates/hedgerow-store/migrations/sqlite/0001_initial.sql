-- Initial Hedgerow schema (SQLite dialect). Keep in step with ../postgres/0001_initial.sql:
-- the Rust code issues the same SQL to both, so column names and meanings must match.
-- Times are INTEGER microseconds since the Unix epoch so both backends sort identically.

CREATE TABLE schools (
    id            INTEGER PRIMARY KEY,
    slug          TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    timezone      TEXT    NOT NULL DEFAULT 'Europe/London',
    created_at_us INTEGER NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    username      TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('pupil', 'staff', 'visitor')),
    group_key     TEXT    NOT NULL,
    password_hash TEXT,
    demo_only     INTEGER NOT NULL DEFAULT 0 CHECK (demo_only IN (0, 1)),
    created_at_us INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    UNIQUE (school_id, username)
);

CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    group_key     TEXT,
    addresses     TEXT    NOT NULL DEFAULT '',
    authenticated INTEGER NOT NULL DEFAULT 1 CHECK (authenticated IN (0, 1)),
    created_at_us INTEGER NOT NULL,
    UNIQUE (school_id, name)
);

CREATE TABLE activity_events (
    id          INTEGER PRIMARY KEY,
    school_id   INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    at_us       INTEGER NOT NULL,
    source      TEXT    NOT NULL CHECK (source IN ('dns', 'proxy', 'explain')),
    client_ip   TEXT    NOT NULL,
    user_name   TEXT,
    device_name TEXT,
    group_key   TEXT,
    host        TEXT    NOT NULL,
    url         TEXT,
    method      TEXT,
    qtype       TEXT,
    category    TEXT,
    verdict     TEXT    NOT NULL CHECK (verdict IN ('allow', 'block')),
    rule        TEXT    NOT NULL,
    reason      TEXT,
    search_term TEXT,
    status      INTEGER,
    bytes       INTEGER,
    duration_us INTEGER
);

CREATE INDEX activity_events_school_at ON activity_events (school_id, at_us);
CREATE INDEX activity_events_school_user_at ON activity_events (school_id, user_name, at_us);
CREATE INDEX activity_events_school_ip_at ON activity_events (school_id, client_ip, at_us);
CREATE INDEX activity_events_school_verdict_at ON activity_events (school_id, verdict, at_us);

-- No ON DELETE action: an audit trail must outlive anything it talks about.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    school_id INTEGER REFERENCES schools (id),
    at_us     INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    from_addr TEXT
);

CREATE INDEX audit_log_school_at ON audit_log (school_id, at_us);
CREATE INDEX audit_log_at ON audit_log (at_us);

-- The API offers no way to change the audit log; these triggers stop anyone with
-- a SQL prompt doing it quietly either.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE settings (
    school_id     INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    key           TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    updated_at_us INTEGER NOT NULL,
    PRIMARY KEY (school_id, key)
);
