//! The JSON API under `/api/v1`, for network managers who script their school and trusts who
//! integrate Hedgerow with their own systems, and the page where staff make its tokens.
//!
//! # Tokens
//!
//! An account holding [`Permission::UseApi`] makes named tokens on `/api-tokens`
//! ([`tokens`]): `hr_` and 32 random bytes in base64url, shown once; the store keeps only the
//! SHA-256 hash. Making and revoking one are audited.
//!
//! # Requests
//!
//! Every endpoint but the OpenAPI document takes `Authorization: Bearer <token>` and nothing
//! else: no cookie ever authenticates an API request, so a page cannot be tricked into
//! calling it (no CSRF), and a browser session cannot reach it. The token is looked up by its
//! hash; its account must still be enabled and hold `UseApi`, and then the request runs as that
//! account ([`Staff::for_account`]) with its roles at that moment, each endpoint asking for the
//! same permission as the matching page. Failed tokens are throttled per address.
//!
//! Bodies are JSON (at most [`BODY_LIMIT`] bytes, apart from the people import's
//! [`people::IMPORT_BODY_LIMIT`], which carries a CSV file of up to 5 MB), answers are JSON
//! (or CSV for the export),
//! and every refusal is `{"error": "..."}` saying what was wrong and what to do, with its
//! status: 400 (unreadable request), 401 (no or bad token), 403 (the roles do not allow it),
//! 404, 409 (the record is not in a state that allows it), 413, 415, 422 (readable but not
//! acceptable), 429 (too many bad tokens) and 503 (the store cannot be reached). Input never
//! causes a 500.
//!
//! The endpoints are listed once in [`ROUTES`] and described in the OpenAPI document
//! ([`openapi`]), whose unit test keeps the two in step.

mod activity;
mod auth;
mod openapi;
mod people;
mod policy;
mod records;
mod requests;
mod settings;
mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use hedgerow_accounts::Permission;
use hedgerow_store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::AdminApp;
use crate::frame::Staff;

pub(crate) use auth::ApiStaff;

/// The largest request body the API reads.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// The longest text a query parameter may hold.
const MAX_PARAM_CHARS: usize = 500;

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api-tokens"),
    ("POST", "/api-tokens"),
    ("POST", "/api-tokens/{id}/revoke"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/summary"),
    ("GET", "/api/v1/activity"),
    ("GET", "/api/v1/activity/person/{username}"),
    ("GET", "/api/v1/activity/export"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/policy"),
    ("GET", "/api/v1/changes"),
    ("POST", "/api/v1/changes"),
    ("GET", "/api/v1/changes/{id}"),
    ("POST", "/api/v1/changes/{id}/approve"),
    ("POST", "/api/v1/changes/{id}/reject"),
    ("POST", "/api/v1/changes/{id}/revert"),
    ("GET", "/api/v1/review-requests"),
    ("POST", "/api/v1/review-requests"),
    ("POST", "/api/v1/review-requests/{id}/approve"),
    ("POST", "/api/v1/review-requests/{id}/decline"),
    ("GET", "/api/v1/settings/lesson-minutes"),
    ("PUT", "/api/v1/settings/lesson-minutes"),
    ("GET", "/api/v1/settings/approval-rules"),
    ("PUT", "/api/v1/settings/approval-rules"),
    ("GET", "/api/v1/people"),
    ("POST", "/api/v1/people/import"),
    ("POST", "/api/v1/people/accounts"),
    ("POST", "/api/v1/people/accounts/{id}/roles"),
    ("POST", "/api/v1/people/accounts/{id}/disable"),
    ("POST", "/api/v1/people/accounts/{id}/enable"),
    ("GET", "/api/v1/checks"),
    ("POST", "/api/v1/checks"),
    ("POST", "/api/v1/checks/self-test"),
    ("POST", "/api/v1/checks/{id}/follow-up-done"),
    ("GET", "/api/v1/annual-reviews"),
    ("POST", "/api/v1/annual-reviews"),
    ("POST", "/api/v1/annual-reviews/actions/{id}/done"),
    ("GET", "/api/v1/contacts"),
    ("POST", "/api/v1/contacts"),
    ("PUT", "/api/v1/contacts/{id}"),
    ("DELETE", "/api/v1/contacts/{id}"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    let api = Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/me", get(records::me))
        .route("/summary", get(records::summary))
        .route("/activity", get(activity::explore))
        .route("/activity/person/{username}", get(activity::person))
        .route("/activity/export", get(activity::export))
        .route("/audit", get(records::audit))
        .route("/policy", get(policy::policy))
        .route("/changes", get(policy::changes).post(policy::propose))
        .route("/changes/{id}", get(policy::change))
        .route("/changes/{id}/approve", post(policy::approve))
        .route("/changes/{id}/reject", post(policy::reject))
        .route("/changes/{id}/revert", post(policy::revert))
        .route(
            "/review-requests",
            get(records::review_requests).post(requests::ask_for_class),
        )
        .route(
            "/review-requests/{id}/approve",
            post(requests::approve_review_request),
        )
        .route(
            "/review-requests/{id}/decline",
            post(records::decline_review_request),
        )
        .route(
            "/settings/lesson-minutes",
            get(settings::get_lesson_minutes).put(settings::put_lesson_minutes),
        )
        .route(
            "/settings/approval-rules",
            get(settings::get_approval_rules).put(settings::put_approval_rules),
        )
        .route("/people", get(people::people))
        // The only route whose body may be larger than BODY_LIMIT: a route's own layer runs
        // after the router's below, so its limit is the one in force.
        .route(
            "/people/import",
            post(people::import).layer(DefaultBodyLimit::max(people::IMPORT_BODY_LIMIT)),
        )
        .route("/people/accounts", post(people::create_account))
        .route("/people/accounts/{id}/roles", post(people::set_roles))
        .route(
            "/people/accounts/{id}/disable",
            post(people::disable_account),
        )
        .route("/people/accounts/{id}/enable", post(people::enable_account))
        .route("/checks", get(records::checks).post(records::add_check))
        .route("/checks/self-test", post(records::self_test))
        .route(
            "/checks/{id}/follow-up-done",
            post(records::check_follow_up_done),
        )
        .route(
            "/annual-reviews",
            get(records::annual_reviews).post(records::add_annual_review),
        )
        .route(
            "/annual-reviews/actions/{id}/done",
            post(records::review_action_done),
        )
        .route(
            "/contacts",
            get(records::contacts).post(records::add_contact),
        )
        .route(
            "/contacts/{id}",
            put(records::replace_contact).delete(records::remove_contact),
        )
        .fallback(unknown_endpoint)
        .layer(middleware::map_response(json_refusals))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    Router::new()
        .route("/api-tokens", get(tokens::page).post(tokens::create))
        .route("/api-tokens/{id}/revoke", post(tokens::revoke))
        .nest("/api/v1", api)
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// A refusal: the status and a sentence saying what was wrong and what to do.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    /// Seconds until a throttled address may try again.
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: the request cannot be read (a malformed parameter or body).
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 422: the request was read but what it asks for is not acceptable.
    pub(crate) fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 404 for a record that does not exist in the caller's school (or is another school's).
    pub(crate) fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("There is no such {what} in your school. Check the id (list them first)."),
        )
    }

    /// 409: the record exists but is not in a state that allows this.
    pub(crate) fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    /// 403: the account's roles do not grant `permission`.
    pub(crate) fn forbidden(permission: Permission) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Your account's roles do not allow this ({permission:?}). If you need it, ask your designated safeguarding lead or headteacher."
            ),
        )
    }

    /// 503: the store (or the gateway) failed; logged, and the caller told to try again.
    pub(crate) fn unavailable(what: &str, e: impl std::fmt::Display) -> ApiError {
        warn!("API: {what}: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Hedgerow cannot reach its store just now. Try again in a minute.",
        )
    }

    /// A store failure: refused input becomes 422 with the store's sentence; anything else 503.
    pub(crate) fn store(what: &str, e: StoreError) -> ApiError {
        match e {
            StoreError::InvalidInput { .. } | StoreError::AmbiguousUsername { .. } => {
                ApiError::unprocessable(e.to_string())
            }
            other => ApiError::unavailable(what, other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(
            self.status,
            &ErrorBody {
                error: &self.message,
            },
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hedgerow\""),
            );
        }
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

/// A JSON answer with this status.
pub(crate) fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
            body,
        )
            .into_response(),
        Err(e) => {
            // Only a bug can get here (every answer is plain data).
            warn!("API: an answer could not be written as JSON: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
                r#"{"error":"The answer could not be written. This is a bug in Hedgerow; please report it."}"#,
            )
                .into_response()
        }
    }
}

const JSON: &str = "application/json";

/// 200 with a JSON body.
pub(crate) fn ok(value: &impl Serialize) -> ApiResult {
    Ok(json_response(StatusCode::OK, value))
}

/// 201 with a JSON body: the record made.
pub(crate) fn created(value: &impl Serialize) -> ApiResult {
    Ok(json_response(StatusCode::CREATED, value))
}

/// 204: done, nothing to say.
pub(crate) fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Refuses unless the account may do `permission`.
pub(crate) fn require(staff: &Staff, permission: Permission) -> Result<(), ApiError> {
    if staff.can(permission) {
        Ok(())
    } else {
        Err(ApiError::forbidden(permission))
    }
}

/// Refuses unless the account may do one of `permissions` (the first is named in the refusal).
pub(crate) fn require_any(staff: &Staff, permissions: &[Permission]) -> Result<(), ApiError> {
    if permissions.iter().any(|p| staff.can(*p)) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            permissions.first().copied().unwrap_or(Permission::UseApi),
        ))
    }
}

/// Turns the plain refusals axum makes by itself under `/api/v1` (an unknown method, a body
/// over the limit) into JSON ones, so every answer of the API is JSON.
async fn json_refusals(response: Response) -> Response {
    let status = response.status();
    let is_json_or_csv = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(JSON) || v.starts_with("text/csv"));
    if !(status.is_client_error() || status.is_server_error()) || is_json_or_csv {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "This endpoint does not take that method. See /api/v1/openapi.json for what it takes."
                .to_owned()
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            "The request body is larger than this endpoint takes (see /api/v1/openapi.json). Send less at a time."
                .to_owned()
        }
        other => format!(
            "The request was refused ({other}). See /api/v1/openapi.json for how to call the API."
        ),
    };
    let mut json = ApiError::new(status, message).into_response();
    if let Some(allow) = allow {
        json.headers_mut().insert(header::ALLOW, allow);
    }
    json
}

async fn unknown_endpoint() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "There is no such API endpoint. See /api/v1/openapi.json for the endpoints there are.",
    )
}

// ---------------------------------------------------------------------------------------------
// Reading requests
// ---------------------------------------------------------------------------------------------

/// A JSON request body of type `T`: `Content-Type: application/json`, at most `LIMIT` bytes
/// ([`BODY_LIMIT`] unless the route says otherwise, and its `DefaultBodyLimit` layer must say
/// the same). Malformed JSON is 400; JSON of the wrong shape 422.
pub(crate) struct JsonBody<T, const LIMIT: usize = BODY_LIMIT>(pub T);

impl<T: DeserializeOwned, S: Send + Sync, const LIMIT: usize> FromRequest<S>
    for JsonBody<T, LIMIT>
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<JsonBody<T, LIMIT>, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == JSON || (v.starts_with("application/") && v.ends_with("+json")));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "The request body must be JSON: send it with Content-Type: application/json.",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| {
                ApiError::new(
                    e.status(),
                    format!(
                        "The request body could not be read ({}). Send at most {LIMIT} bytes of JSON.",
                        e.body_text()
                    ),
                )
            })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => ApiError::unprocessable(format!(
                    "The request body is not what this endpoint takes: {e}. See /api/v1/openapi.json for its fields."
                )),
                _ => ApiError::bad_request(format!(
                    "The request body is not valid JSON: {e}."
                )),
            }
        })
    }
}

/// Query parameters of type `T`; a malformed one is 400 with axum's explanation.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ApiQuery<T>, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "{}. See /api/v1/openapi.json for this endpoint's parameters.",
                    e.body_text()
                ))
            })
    }
}

/// A path parameter of type `T`; a malformed one (an id that is not a number) is 400.
pub(crate) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ApiPath<T>, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "{}. Ids are the whole numbers the API lists.",
                    e.body_text()
                ))
            })
    }
}

/// A text parameter: `None` when absent or blank; refused when too long or holding control
/// characters (which no name, host or search term contains).
pub(crate) fn text_param(name: &str, value: &Option<String>) -> Result<Option<String>, ApiError> {
    let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_PARAM_CHARS {
        return Err(ApiError::bad_request(format!(
            "The parameter {name} is longer than {MAX_PARAM_CHARS} characters. Shorten it."
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "The parameter {name} contains control characters. Remove them."
        )));
    }
    Ok(Some(value.to_owned()))
}

/// A time parameter in RFC 3339 (`2026-11-23T14:05:00Z`); `None` when absent or blank.
pub(crate) fn time_param(
    name: &str,
    value: &Option<String>,
) -> Result<Option<jiff::Timestamp>, ApiError> {
    let Some(text) = text_param(name, value)? else {
        return Ok(None);
    };
    text.parse::<jiff::Timestamp>().map(Some).map_err(|e| {
        ApiError::bad_request(format!(
            "The parameter {name} is not a time ({e}). Give one in RFC 3339 form, such as 2026-11-23T14:05:00Z."
        ))
    })
}

/// Checks a text field of a request body: present (unless `optional`), at most `max` characters,
/// and no control characters other than line breaks and tabs where `multi_line`.
pub(crate) fn check_field(
    name: &str,
    value: &str,
    max: usize,
    multi_line: bool,
) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::unprocessable(format!(
            "The field {name} is empty. Give a value."
        )));
    }
    if value.chars().count() > max {
        return Err(ApiError::unprocessable(format!(
            "The field {name} is longer than {max} characters. Shorten it."
        )));
    }
    let bad = |c: char| c.is_control() && !(multi_line && matches!(c, '\n' | '\r' | '\t'));
    if value.chars().any(bad) {
        return Err(ApiError::unprocessable(format!(
            "The field {name} contains control characters{}. Remove them.",
            if multi_line {
                " other than line breaks and tabs"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

/// Checks an optional text field: absent or blank is `None`.
pub(crate) fn optional_field(
    name: &str,
    value: Option<String>,
    max: usize,
    multi_line: bool,
) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if !v.trim().is_empty() => {
            check_field(name, &v, max, multi_line)?;
            Ok(Some(v))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_params_are_trimmed_and_checked() {
        assert_eq!(text_param("user", &None).unwrap(), None);
        assert_eq!(text_param("user", &Some("  ".into())).unwrap(), None);
        assert_eq!(
            text_param("user", &Some(" pupil.a ".into())).unwrap(),
            Some("pupil.a".into())
        );
        assert!(text_param("user", &Some("a\u{0}b".into())).is_err());
        assert!(text_param("user", &Some("x".repeat(501))).is_err());
    }

    #[test]
    fn time_params_are_rfc3339() {
        assert!(
            time_param("since", &Some("2026-11-23T14:05:00Z".into()))
                .unwrap()
                .is_some()
        );
        let e = time_param("since", &Some("yesterday".into())).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("since"), "{}", e.message);
    }

    #[test]
    fn fields_refuse_control_characters_except_line_breaks_where_allowed() {
        assert!(check_field("notes", "two\nlines", 100, true).is_ok());
        assert!(check_field("name", "two\nlines", 100, false).is_err());
        assert!(check_field("name", "", 100, false).is_err());
        assert!(check_field("name", "abc", 2, false).is_err());
        assert_eq!(
            optional_field("email", Some(" ".into()), 10, false).unwrap(),
            None
        );
    }

    #[test]
    fn refusals_are_json() {
        let response = ApiError::new(StatusCode::UNAUTHORIZED, "no token").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], JSON);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
