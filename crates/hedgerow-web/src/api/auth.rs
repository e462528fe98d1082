//! Who an API request is: the bearer token, looked up by its SHA-256 hash, turned into the
//! [`Staff`] of its account as that account stands now.
//!
//! Only the `Authorization` header is read: a session cookie sent along is ignored, so a
//! browser session can never reach the API and a forged cross-site request has no credential
//! to ride on. A request without a token is refused but not counted; a presented token that
//! is unknown, revoked, or whose account is disabled counts as a failure for the address
//! (`api:` keys in the app's [`hedgerow_accounts::LoginThrottle`], apart from sign-in's), and
//! an address with too many failures is refused (429) before any lookup, so guessing is slow
//! even though a 256-bit token cannot be guessed anyway.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use hedgerow_accounts::Permission;
use jiff::Timestamp;
use tracing::warn;

use super::ApiError;
use crate::AdminApp;
use crate::frame::Staff;

/// What every API token starts with, so a leaked one is recognisable (secret scanners,
/// people reading logs).
pub(crate) const TOKEN_PREFIX: &str = "hr_";

/// The longest `Authorization` value looked at; real tokens are 46 characters.
const MAX_TOKEN_CHARS: usize = 200;

/// The signed-in member of staff an API request acts as.
pub(crate) struct ApiStaff(pub Staff);

/// The SHA-256 hash of a token as 64 lowercase hex digits: what the store keeps.
pub(crate) fn token_hash(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn unauthorised(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

const NO_TOKEN: &str = "This request has no API token. Send it as `Authorization: Bearer <token>`; make a token on the API tokens page (/api-tokens) of the admin app.";
const BAD_TOKEN: &str = "The API token is not right, or has been revoked, or its account is disabled. Check you sent the whole token, or make a new one on the API tokens page (/api-tokens).";

impl FromRequestParts<Arc<AdminApp>> for ApiStaff {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AdminApp>,
    ) -> Result<ApiStaff, axum::response::Response> {
        authenticate(parts, app)
            .await
            .map_err(IntoResponse::into_response)
    }
}

/// The header a trust-wide token names its school with (a slug); ignored for other accounts.
pub(crate) const SCHOOL_HEADER: &str = "x-hedgerow-school";

async fn authenticate(parts: &Parts, app: &Arc<AdminApp>) -> Result<ApiStaff, ApiError> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(unauthorised(NO_TOKEN));
    };
    let throttle_key = format!("api:{peer}");
    let locked = {
        let mut throttle = app.throttle.lock().unwrap_or_else(|p| p.into_inner());
        throttle.check(&throttle_key, Instant::now()).err()
    };
    if let Some(wait) = locked {
        let mut refusal = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many requests from this address had a wrong API token. Wait {} minutes, check the token, and try again.",
                wait.as_secs().div_ceil(60).max(1)
            ),
        );
        refusal.retry_after = Some(wait.as_secs().max(1));
        return Err(refusal);
    }
    let fail = || {
        let mut throttle = app.throttle.lock().unwrap_or_else(|p| p.into_inner());
        throttle.failure(&throttle_key, Instant::now());
        unauthorised(BAD_TOKEN)
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| t.starts_with(TOKEN_PREFIX) && t.len() <= MAX_TOKEN_CHARS);
    let Some(token) = token else {
        return Err(fail());
    };
    let found = app
        .store
        .active_api_token(&token_hash(token))
        .await
        .map_err(|e| ApiError::unavailable("looking up an API token", e))?;
    let Some(found) = found else {
        return Err(fail());
    };
    let account = app
        .store
        .admin_account(found.account)
        .await
        .map_err(|e| ApiError::unavailable("reading an account", e))?;
    let Some(account) = account.filter(|a| !a.disabled) else {
        return Err(fail());
    };
    // A failure to note the use must not refuse the request; it is only bookkeeping.
    if let Err(e) = app
        .store
        .record_api_token_use(found.id, Timestamp::now())
        .await
    {
        warn!("API: could not record the use of token {}: {e}", found.id);
    }
    // A trust-wide account names the school it is working on; others always work on their own.
    let chosen = parts
        .headers
        .get(SCHOOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let staff = Staff::for_account(app, account, peer, chosen)
        .await
        .map_err(|refusal| match refusal.status() {
            StatusCode::NOT_FOUND if chosen.is_some() => ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "There is no school {:?}. Name one of the trust's schools by its slug in the X-Hedgerow-School header.",
                    chosen.unwrap_or_default()
                ),
            ),
            StatusCode::NOT_FOUND => ApiError::unavailable(
                "finding the account's school",
                "the configuration names no school",
            ),
            _ => ApiError::unavailable("finding the account's school", "the store failed"),
        })?;
    // Roles can change after a token is made: one whose account no longer may use the API
    // stops working, whatever it was made with.
    if !staff.can(Permission::UseApi) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "This token's account no longer holds a role that may use the API (UseApi). Ask whoever manages accounts to restore the role, or revoke the token.",
        ));
    }
    Ok(ApiStaff(staff))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(token_hash("hr_x").len(), 64);
    }
}
