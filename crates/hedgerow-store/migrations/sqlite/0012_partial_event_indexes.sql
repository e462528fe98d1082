-- Activity indexes that only serve rows with a value become partial (SQLite dialect). Keep in
-- step with ../postgres/0012_partial_event_indexes.sql.
--
-- Most activity events are DNS queries with no user, no device name and no category, yet
-- every one of them paid for an entry in the user, device and category indexes that no query
-- ever reads: every reader of these indexes filters the column with `=` (the explorer, a
-- person's timeline, `read_events`, the dashboard's and the alert summary's circumvention
-- counts), from which SQLite infers `IS NOT NULL` and so may use (and be told with INDEXED BY
-- to use) the partial index. Same names, so `INDEXED BY` in explorer.rs needs no change.
-- Rebuilding them reads the table once, at the upgrade.

DROP INDEX activity_events_school_user_at;
CREATE INDEX activity_events_school_user_at
    ON activity_events (school_id, user_name, at_us)
    WHERE user_name IS NOT NULL;

DROP INDEX activity_events_school_device_at;
CREATE INDEX activity_events_school_device_at
    ON activity_events (school_id, device_name, at_us)
    WHERE device_name IS NOT NULL;

DROP INDEX activity_events_school_category_verdict_at;
CREATE INDEX activity_events_school_category_verdict_at
    ON activity_events (school_id, category, verdict, at_us)
    WHERE category IS NOT NULL;
