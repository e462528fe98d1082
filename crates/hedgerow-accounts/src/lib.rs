//! The rules for staff accounts of the admin web app: who may do what, which passwords are
//! acceptable and how they are stored, the TOTP second factor, CSRF tokens and log-in
//! throttling.
//!
//! A pure crate: no I/O (the common-password list is compiled in), no async, no clocks (the
//! caller passes the time), and nothing here panics on any input. The web app wires these into
//! its routes, sessions and store.
//!
//! # Public API
//!
//! - [`roles`]: [`Role`] (`key`, `parse`, `name`, `ALL`), [`Permission`] (`ALL`),
//!   [`can`]`(&[Role], Permission) -> bool` from one documented matrix, [`role_can`],
//!   [`requires_second_factor`]`(&[Role]) -> bool`, and [`can_grant`]`(&[Role], Role) -> bool`
//!   so managing accounts cannot hand out safeguarding roles.
//! - [`password`]: [`check_new_password`]`(password, username, display_name) ->
//!   Result<(), PasswordProblem>`, [`is_common`], [`hash_password`]`(password) ->
//!   Result<String, HashError>` (argon2id, PHC string), [`verify_password`]`(hash, password) ->
//!   bool` and [`needs_rehash`]`(hash) -> bool`.
//! - [`totp`]: [`TotpSecret`] (`generate`, `from_bytes`, `as_bytes`, `to_base32`,
//!   `from_base32`, `otpauth_uri`), [`totp::code_at`]`(&TotpSecret, unix_seconds) -> String`
//!   and [`totp::verify`]`(&TotpSecret, code, unix_seconds, last_used_step: Option<u64>) ->
//!   Option<u64>` (±1 step, replay refused).
//! - [`csrf`]: [`CsrfKey`] (`generate`, `from_bytes`, `token(session_id) -> String`,
//!   `verify(session_id, token) -> bool`).
//! - [`throttle`]: [`LoginThrottle`] (`new(max_failures, window)`, `with_max_entries`,
//!   `check(key, now) -> Result<(), Duration>`, `failure(key, now)`, `success(key)`).
//!
//! Errors are `thiserror` types whose messages say what was wrong and what to do.

pub mod csrf;
pub mod password;
pub mod roles;
pub mod throttle;
pub mod totp;

pub use csrf::CsrfKey;
pub use password::{
    HashError, PasswordProblem, check_new_password, hash_password, is_common, needs_rehash,
    verify_password,
};
pub use roles::{Permission, Role, UnknownRole, can, can_grant, requires_second_factor, role_can};
pub use throttle::LoginThrottle;
pub use totp::{RandomUnavailable, SecretError, TotpSecret};
