-- Acceptable use agreements (SQLite dialect). Keep in step with ../postgres/0011_agreements.sql:
-- the Rust code (src/agreements.rs) issues the same SQL to both.
--
-- Acceptable use agreements, the parents' links, image consent and visitors' day codes.
--
-- Vocabularies (audiences, image uses) are kept as text with CHECKs here; the pure crate
-- hedgerow-agreements names them and the web layer checks what people send against it. Every
-- table belongs to a school and cascades from it. Times are microseconds since the Unix epoch;
-- yes/no columns are integers 0 and 1 on both backends so the same SQL serves both.

-- Each audience's agreement, numbered 1, 2, ... per school; the highest number is current.
CREATE TABLE agreement_versions (
    id              INTEGER PRIMARY KEY,
    school_id       INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    audience        TEXT NOT NULL CHECK (audience IN ('eyfs-ks1', 'ks2', 'staff', 'governors',
                        'visitors', 'parents', 'social-media')),
    version         INTEGER NOT NULL CHECK (version >= 1),
    title           TEXT NOT NULL CHECK (length(trim(title)) > 0),
    body            TEXT NOT NULL CHECK (length(trim(body)) > 0),
    published_at_us INTEGER NOT NULL,
    published_by    TEXT NOT NULL,
    note            TEXT NOT NULL DEFAULT '',
    UNIQUE (school_id, audience, version)
);

-- When agreements renew each year and how long links last; no row means the defaults.
-- `revision` goes up with every change so the gateway's fingerprint sees it.
CREATE TABLE agreement_settings (
    school_id          INTEGER PRIMARY KEY REFERENCES schools (id) ON DELETE CASCADE,
    renewal_month      INTEGER NOT NULL CHECK (renewal_month BETWEEN 1 AND 12),
    renewal_day        INTEGER NOT NULL CHECK (renewal_day BETWEEN 1 AND 31),
    expiring_soon_days INTEGER NOT NULL CHECK (expiring_soon_days BETWEEN 0 AND 120),
    parent_link_days   INTEGER NOT NULL CHECK (parent_link_days BETWEEN 1 AND 365),
    updated_at_us      INTEGER NOT NULL,
    updated_by         TEXT NOT NULL,
    revision           INTEGER NOT NULL DEFAULT 1
);

-- Who accepted which version, when, how and who signed. Never changed or removed: a new
-- acceptance is a new row.
CREATE TABLE agreement_acceptances (
    id             INTEGER PRIMARY KEY,
    school_id      INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    version_id     INTEGER NOT NULL REFERENCES agreement_versions (id) ON DELETE CASCADE,
    subject_kind   TEXT NOT NULL CHECK (subject_kind IN ('user', 'device', 'visitor')),
    subject        TEXT NOT NULL CHECK (length(subject) > 0),
    signed_by      TEXT NOT NULL CHECK (length(trim(signed_by)) > 0),
    relationship   TEXT NOT NULL CHECK (relationship IN ('self', 'parent-carer', 'staff-on-behalf')),
    method         TEXT NOT NULL CHECK (method IN ('portal', 'paper', 'parent-link')),
    recorded_by    TEXT,
    client_addr    TEXT,
    accepted_at_us INTEGER NOT NULL
);

CREATE INDEX agreement_acceptances_subject
    ON agreement_acceptances (school_id, subject_kind, subject, accepted_at_us);
CREATE INDEX agreement_acceptances_version ON agreement_acceptances (version_id);

-- Parents' links: only the SHA-256 of the token is kept, so a copy of the database cannot
-- open anyone's link.
CREATE TABLE parent_links (
    id              INTEGER PRIMARY KEY,
    school_id       INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    child           TEXT NOT NULL CHECK (length(child) > 0),
    token_sha256    TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    created_at_us   INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    expires_at_us   INTEGER NOT NULL,
    last_used_at_us INTEGER,
    revoked         INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);

CREATE INDEX parent_links_child ON parent_links (school_id, child);

-- Each pupil's consent per use of their image as it stands; no row: not yet asked.
CREATE TABLE image_consents (
    school_id     INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    pupil         TEXT NOT NULL,
    use_key       TEXT NOT NULL CHECK (use_key IN ('website', 'social-media', 'newsletter',
                      'press', 'displays')),
    state         TEXT NOT NULL CHECK (state IN ('given', 'refused')),
    changed_at_us INTEGER NOT NULL,
    changed_by    TEXT NOT NULL,
    via           TEXT NOT NULL CHECK (via IN ('parent-link', 'staff')),
    PRIMARY KEY (school_id, pupil, use_key)
);

-- Every change of consent, so the school can show who changed what and when.
CREATE TABLE image_consent_changes (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    pupil         TEXT NOT NULL,
    use_key       TEXT NOT NULL CHECK (use_key IN ('website', 'social-media', 'newsletter',
                      'press', 'displays')),
    old_state     TEXT CHECK (old_state IS NULL OR old_state IN ('given', 'refused')),
    new_state     TEXT NOT NULL CHECK (new_state IN ('given', 'refused')),
    changed_at_us INTEGER NOT NULL,
    changed_by    TEXT NOT NULL,
    via           TEXT NOT NULL CHECK (via IN ('parent-link', 'staff')),
    note          TEXT NOT NULL DEFAULT ''
);

CREATE INDEX image_consent_changes_pupil
    ON image_consent_changes (school_id, pupil, changed_at_us);

-- Visitors' day codes, kept as the SHA-256 of the canonical code (shown once at issue).
CREATE TABLE visitor_codes (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    code_sha256   TEXT NOT NULL CHECK (length(code_sha256) = 64),
    visitor_name  TEXT NOT NULL CHECK (length(trim(visitor_name)) > 0),
    day           TEXT NOT NULL CHECK (length(day) = 10),
    issued_by     TEXT NOT NULL,
    issued_at_us  INTEGER NOT NULL,
    UNIQUE (school_id, code_sha256)
);

CREATE INDEX visitor_codes_day ON visitor_codes (school_id, day);

-- Client addresses let through with a day code, until the end of that day. Admitting the same
-- address again adds a row; the limit counts distinct addresses.
CREATE TABLE visitor_admissions (
    id             INTEGER PRIMARY KEY,
    school_id      INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    code_id        INTEGER NOT NULL REFERENCES visitor_codes (id) ON DELETE CASCADE,
    client_addr    TEXT NOT NULL,
    admitted_at_us INTEGER NOT NULL,
    until_us       INTEGER NOT NULL
);

CREATE INDEX visitor_admissions_code ON visitor_admissions (code_id, client_addr);
CREATE INDEX visitor_admissions_until ON visitor_admissions (school_id, until_us);
