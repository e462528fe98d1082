-- Indexes for the activity explorer (PostgreSQL dialect). Keep in step with
-- ../sqlite/0004_explorer.sql.
--
-- Every explorer query is "one school, a time range, newest first, keyset paging on
-- (at_us, id)" plus at most a few narrowing filters. Unlike SQLite, PostgreSQL does not append
-- the row's id to an index, so the explorer's indexes end in (at_us, id): the ORDER BY and the
-- cursor are then served straight from the index, and page 1,000 costs what page 1 costs.
-- Each replaces the 0001 index that is its prefix, so writes pay for no extra index.

DROP INDEX activity_events_school_at;
DROP INDEX activity_events_school_user_at;
DROP INDEX activity_events_school_ip_at;
DROP INDEX activity_events_school_verdict_at;

CREATE INDEX activity_events_school_at_id
    ON activity_events (school_id, at_us, id);
CREATE INDEX activity_events_school_user_at_id
    ON activity_events (school_id, user_name, at_us, id);
CREATE INDEX activity_events_school_ip_at_id
    ON activity_events (school_id, client_ip, at_us, id);
CREATE INDEX activity_events_school_verdict_at_id
    ON activity_events (school_id, verdict, at_us, id);

-- A device's history.
CREATE INDEX activity_events_school_device_at_id
    ON activity_events (school_id, device_name, at_us, id);
-- "Blocked social media this year", and the dashboard's circumvention count.
CREATE INDEX activity_events_school_category_verdict_at_id
    ON activity_events (school_id, category, verdict, at_us, id);
-- One host's history (exact host).
CREATE INDEX activity_events_school_host_at_id
    ON activity_events (school_id, host, at_us, id);
-- Search terms are on about 2 % of events: a partial index over just those, newest first,
-- with the term included so non-matching rows are rejected without visiting the table.
CREATE INDEX activity_events_school_at_search
    ON activity_events (school_id, at_us, id) INCLUDE (search_term)
    WHERE search_term IS NOT NULL;
-- A rare substring ("self-harm" over a year) is found through trigrams instead of walking
-- every search. pg_trgm ships in Debian's postgresql package and is a trusted extension, so
-- the database owner may create it without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX activity_events_search_trgm
    ON activity_events USING gin (lower(search_term) gin_trgm_ops)
    WHERE search_term IS NOT NULL;
