-- Page titles on activity events (PostgreSQL dialect). Keep in step with
-- ../sqlite/0009_page_titles.sql.
--
-- The web proxy reads the <title> of uncompressed HTML pages it forwards (plain HTTP and
-- inspected HTTPS) so that monitoring can match risk phrases against what the page says it is,
-- not only its address. Most events have none (DNS, tunnels, images, scripts), so the column is
-- nullable and not indexed; the proxy keeps titles to 300 characters.

ALTER TABLE activity_events ADD COLUMN page_title TEXT;
