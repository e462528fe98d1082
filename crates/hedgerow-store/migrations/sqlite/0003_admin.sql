-- The admin web app's own records (SQLite dialect). Keep in step with
-- ../postgres/0003_admin.sql:
-- the Rust code (src/admin.rs) issues the same SQL to both.
--
-- Lists are stored comma-separated (role keys never contain commas); dates are TEXT
-- 'YYYY-MM-DD', which sorts as dates do; times are microseconds since the Unix epoch.

-- People who sign in to the admin app. school_id NULL: a trust-wide account.
CREATE TABLE admin_accounts (
    id                     INTEGER PRIMARY KEY,
    school_id              INTEGER REFERENCES schools (id) ON DELETE CASCADE,
    username               TEXT    NOT NULL,
    display_name           TEXT    NOT NULL,
    email                  TEXT    NOT NULL,
    password_hash          TEXT    NOT NULL,
    roles                  TEXT    NOT NULL DEFAULT '',
    totp_secret            TEXT,
    totp_last_step         INTEGER,
    disabled               INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at_us          INTEGER NOT NULL,
    password_changed_at_us INTEGER NOT NULL,
    last_login_at_us       INTEGER
);

-- Usernames are unique ignoring case across the whole store (they are ASCII, so lower()
-- agrees between SQLite and PostgreSQL).
CREATE UNIQUE INDEX admin_accounts_username_lower ON admin_accounts (lower(username));
CREATE INDEX admin_accounts_school ON admin_accounts (school_id);

-- Admin app sessions (tower-sessions records), looked up by their random id.
CREATE TABLE web_sessions (
    id            TEXT    PRIMARY KEY,
    data          BLOB    NOT NULL,
    expires_at_us INTEGER NOT NULL
);

CREATE INDEX web_sessions_expires ON web_sessions (expires_at_us);

-- The roles and contacts register: named DSL, deputies, online-safety lead and governor,
-- DPO, network manager, headteacher.
CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    role          TEXT    NOT NULL CHECK (role IN ('dsl', 'deputy-dsl', 'online-safety-lead',
                      'online-safety-governor', 'dpo', 'network-manager', 'headteacher')),
    name          TEXT    NOT NULL,
    email         TEXT,
    phone         TEXT,
    notes         TEXT,
    updated_by    TEXT    NOT NULL,
    updated_at_us INTEGER NOT NULL
);

CREATE INDEX contacts_school_role ON contacts (school_id, role);

-- The check log: when, who, what was tested on which group or device, result, follow-up.
CREATE TABLE check_log (
    id                   INTEGER PRIMARY KEY,
    school_id            INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    at_us                INTEGER NOT NULL,
    checked_by           TEXT    NOT NULL,
    what                 TEXT    NOT NULL,
    target               TEXT    NOT NULL,
    method               TEXT    NOT NULL CHECK (method IN ('manual', 'self-test')),
    result               TEXT    NOT NULL CHECK (result IN ('pass', 'fail', 'partial')),
    details              TEXT    NOT NULL DEFAULT '',
    follow_up            TEXT,
    follow_up_done_at_us INTEGER,
    follow_up_done_by    TEXT,
    CHECK (follow_up_done_at_us IS NULL OR follow_up IS NOT NULL)
);

CREATE INDEX check_log_school_at ON check_log (school_id, at_us);

-- The annual review of filtering and monitoring, its participants and its actions.
CREATE TABLE annual_reviews (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    held_on       TEXT    NOT NULL CHECK (length(held_on) = 10),
    findings      TEXT    NOT NULL,
    next_due      TEXT    NOT NULL CHECK (length(next_due) = 10),
    recorded_by   TEXT    NOT NULL,
    created_at_us INTEGER NOT NULL
);

CREATE INDEX annual_reviews_school_held ON annual_reviews (school_id, held_on);

CREATE TABLE review_participants (
    id        INTEGER PRIMARY KEY,
    review_id INTEGER NOT NULL REFERENCES annual_reviews (id) ON DELETE CASCADE,
    name      TEXT    NOT NULL,
    role      TEXT    NOT NULL
);

CREATE INDEX review_participants_review ON review_participants (review_id);

CREATE TABLE review_actions (
    id         INTEGER PRIMARY KEY,
    review_id  INTEGER NOT NULL REFERENCES annual_reviews (id) ON DELETE CASCADE,
    action     TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    due_on     TEXT    CHECK (due_on IS NULL OR length(due_on) = 10),
    done_at_us INTEGER,
    done_by    TEXT
);

CREATE INDEX review_actions_review ON review_actions (review_id);
