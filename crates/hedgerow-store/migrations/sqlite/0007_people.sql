-- People imported from school information systems (SQLite dialect). Keep in step with
-- ../postgres/0007_people.sql: the Rust code (src/people.rs) issues the same SQL to both.
--
-- Imported pupils and staff are directory users like the configured ones, with what the
-- export says about them beside: year group and class (pupils), e-mail address, staff code
-- and the roles the file suggests (staff; suggestions only, an import grants nothing).
-- `source` says whether a row came from an import, so "disable pupils not in this file" only
-- ever disables people an import brought in, never the configuration's own users.

ALTER TABLE users ADD COLUMN year_group TEXT;
ALTER TABLE users ADD COLUMN class_name TEXT;
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN staff_code TEXT;
ALTER TABLE users ADD COLUMN suggested_roles TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'config'
    CHECK (source IN ('config', 'import'));

CREATE INDEX users_school_class ON users (school_id, class_name);

-- Classes (registration groups) with their year and teacher; pupils name theirs in
-- users.class_name.
CREATE TABLE classes (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    year_group    TEXT,
    group_key     TEXT,
    teacher       TEXT,
    created_at_us INTEGER NOT NULL,
    updated_at_us INTEGER NOT NULL,
    UNIQUE (school_id, name)
);
