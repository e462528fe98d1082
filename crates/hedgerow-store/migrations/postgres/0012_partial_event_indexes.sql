-- Activity indexes that only serve rows with a value become partial (PostgreSQL dialect).
-- Keep in step with ../sqlite/0012_partial_event_indexes.sql.
--
-- Most activity events are DNS queries with no user, no device name and no category, yet
-- every one of them paid for an entry in the user, device and category indexes that no query
-- ever reads: every reader of these indexes filters the column with `=` (the explorer, a
-- person's timeline, `read_events`, the dashboard's and the alert summary's circumvention
-- counts), a strict operator from which the planner infers `IS NOT NULL` and so may use the
-- partial index. Rebuilding them reads the table once, at the upgrade, and blocks event writes
-- while it runs (migrations run in a transaction, so not CONCURRENTLY).

DROP INDEX activity_events_school_user_at_id;
CREATE INDEX activity_events_school_user_at_id
    ON activity_events (school_id, user_name, at_us, id)
    WHERE user_name IS NOT NULL;

DROP INDEX activity_events_school_device_at_id;
CREATE INDEX activity_events_school_device_at_id
    ON activity_events (school_id, device_name, at_us, id)
    WHERE device_name IS NOT NULL;

DROP INDEX activity_events_school_category_verdict_at_id;
CREATE INDEX activity_events_school_category_verdict_at_id
    ON activity_events (school_id, category, verdict, at_us, id)
    WHERE category IS NOT NULL;
