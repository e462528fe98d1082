-- Review requests from the block page (SQLite dialect). Keep in step with
-- ../postgres/0002_review_requests.sql: the Rust code issues the same SQL to both.
--
-- A pupil or member of staff asks for a page to be looked at again: "this should not be
-- blocked" or "this should be blocked". The proxy records the request with what it decided at
-- the time; the admin app later approves or declines it.

CREATE TABLE review_requests (
    id                 INTEGER PRIMARY KEY,
    school_id          INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    created_at_us      INTEGER NOT NULL,
    requested_by_user  TEXT,
    device             TEXT,
    client_addr        TEXT    NOT NULL,
    url                TEXT    NOT NULL,
    host               TEXT    NOT NULL,
    kind               TEXT    NOT NULL
        CHECK (kind IN ('should_not_be_blocked', 'should_be_blocked')),
    verdict_at_request TEXT    NOT NULL CHECK (verdict_at_request IN ('blocked', 'allowed')),
    category           TEXT,
    rule               TEXT,
    comment            TEXT    NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
    status             TEXT    NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'approved', 'declined')),
    decided_by         TEXT,
    decided_at_us      INTEGER,
    decision_note      TEXT,
    -- A decided request says who decided and when; an undecided one says neither.
    CHECK ((status = 'new') = (decided_by IS NULL AND decided_at_us IS NULL))
);

CREATE INDEX review_requests_school_status_at
    ON review_requests (school_id, status, created_at_us);

-- Sign-in looks a username up across every school, ignoring case.
CREATE INDEX users_username_lower ON users (lower(username));
