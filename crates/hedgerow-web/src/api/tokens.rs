//! The API tokens page: an account holding `UseApi` lists its tokens (name, made, last used,
//! revoked), makes one (shown once, never stored: the store keeps its SHA-256 hash) and
//! revokes one. Making and revoking are audited by the store in the same transaction.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use hedgerow_accounts::Permission;
use hedgerow_store::{ApiTokenId, MAX_TOKEN_NAME, StoreError};
use serde::Deserialize;

use super::auth::{TOKEN_PREFIX, token_hash};
use crate::AdminApp;
use crate::frame::{Frame, Staff, not_found, random_token, render, server_error};

#[derive(Template)]
#[template(path = "api_tokens.html")]
struct TokensTemplate {
    frame: Frame,
    tokens: Vec<TokenRow>,
    new_token: Option<NewToken>,
    error: Option<String>,
    max_name: usize,
}

struct TokenRow {
    id: i64,
    name: String,
    created: String,
    last_used: String,
    revoked: Option<String>,
}

struct NewToken {
    name: String,
    secret: String,
}

pub(super) async fn page(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = staff.require(Permission::UseApi) {
        return r;
    }
    show(&app, &staff, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub(super) struct CreateForm {
    name: String,
}

pub(super) async fn create(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    form: Result<Form<CreateForm>, FormRejection>,
) -> Response {
    let form = match staff.accept(Permission::UseApi, form) {
        Ok(form) => form,
        Err(r) => return r,
    };
    let name = form.name.trim();
    let problem = if name.is_empty() {
        Some("Give the token a name that says what it is for.".to_owned())
    } else if name.chars().count() > MAX_TOKEN_NAME {
        Some(format!(
            "The name is longer than {MAX_TOKEN_NAME} characters. Shorten it."
        ))
    } else if name.chars().any(char::is_control) {
        Some("The name contains control characters. Type it again without them.".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        return show(&app, &staff, StatusCode::BAD_REQUEST, None, Some(problem)).await;
    }
    let secret = match random_token() {
        Ok(random) => format!("{TOKEN_PREFIX}{random}"),
        Err(r) => return r,
    };
    match app
        .store
        .create_api_token(
            staff.account.id,
            name,
            &token_hash(&secret),
            &staff.acting(),
        )
        .await
    {
        Ok(_) => {
            let new = NewToken {
                name: name.to_owned(),
                secret,
            };
            show(&app, &staff, StatusCode::CREATED, Some(new), None).await
        }
        Err(StoreError::InvalidInput { problem, .. }) => {
            let message = format!("The token was not made: {problem}.");
            show(
                &app,
                &staff,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(message),
            )
            .await
        }
        Err(e) => server_error("making an API token", e),
    }
}

pub(super) async fn revoke(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = staff.require(Permission::UseApi) {
        return r;
    }
    match app
        .store
        .revoke_api_token(staff.account.id, ApiTokenId(id), &staff.acting())
        .await
    {
        Ok(true) => Redirect::to("/api-tokens").into_response(),
        Ok(false) => not_found("API token of yours that is still in use"),
        Err(e) => server_error("revoking an API token", e),
    }
}

async fn show(
    app: &AdminApp,
    staff: &Staff,
    status: StatusCode,
    new_token: Option<NewToken>,
    error: Option<String>,
) -> Response {
    let tokens = match app.store.api_tokens(staff.account.id).await {
        Ok(tokens) => tokens,
        Err(e) => return server_error("listing API tokens", e),
    };
    let tokens = tokens
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.0,
            name: t.name,
            created: app.local_time(t.created_at),
            last_used: t
                .last_used_at
                .map(|at| app.local_time(at))
                .unwrap_or_else(|| "never".to_owned()),
            revoked: t.revoked_at.map(|at| app.local_time(at)),
        })
        .collect();
    let mut page = render(&TokensTemplate {
        frame: staff.frame("/api-tokens"),
        tokens,
        new_token,
        error,
        max_name: MAX_TOKEN_NAME,
    });
    // A page that failed to render keeps its own status.
    if page.status().is_success() {
        *page.status_mut() = status;
    }
    page
}
