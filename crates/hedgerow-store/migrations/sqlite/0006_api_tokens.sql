-- Per-account API tokens for the admin app's JSON API (SQLite dialect). Keep in step with
-- ../postgres/0006_api_tokens.sql: the Rust code (src/tokens.rs) issues the same SQL to both.
--
-- The token itself is shown once, when it is made, and never stored: only its SHA-256 hash
-- (64 lowercase hex digits) is kept, so a copy of the database cannot be used to call the API.
-- A token acts as its account: disabling the account stops it. Tokens are revoked, never
-- deleted, so the list says which existed and when each was last used.

CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES admin_accounts (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 100),
    token_hash      TEXT    NOT NULL CHECK (length(token_hash) = 64),
    created_at_us   INTEGER NOT NULL,
    last_used_at_us INTEGER,
    revoked_at_us   INTEGER,
    revoked_by      TEXT,
    CHECK ((revoked_at_us IS NULL) = (revoked_by IS NULL))
);

CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (token_hash);
CREATE INDEX api_tokens_account ON api_tokens (account_id);
