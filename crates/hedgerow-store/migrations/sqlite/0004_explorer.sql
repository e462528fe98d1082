-- Indexes for the activity explorer (SQLite dialect). Keep in step with
-- ../postgres/0004_explorer.sql.
--
-- Every explorer query is "one school, a time range, newest first, keyset paging on
-- (at_us, id)" plus at most a few narrowing filters. SQLite appends the rowid (`id`) to every
-- index, so an index ending in at_us is already ordered by (at_us, id) and serves both the
-- ORDER BY and the cursor without a sort. 0001 already has (school, at), (school, user, at),
-- (school, client_ip, at) and (school, verdict, at); these add the other filters.

-- A device's history.
CREATE INDEX activity_events_school_device_at
    ON activity_events (school_id, device_name, at_us);
-- "Blocked social media this year", and the dashboard's circumvention count.
CREATE INDEX activity_events_school_category_verdict_at
    ON activity_events (school_id, category, verdict, at_us);
-- One host's history (exact host).
CREATE INDEX activity_events_school_host_at
    ON activity_events (school_id, host, at_us);
-- Search terms are on about 2 % of events: a covering partial index lets a substring search
-- walk only those, newest first, without touching the table until a row matches.
CREATE INDEX activity_events_school_at_search
    ON activity_events (school_id, at_us, search_term)
    WHERE search_term IS NOT NULL;
