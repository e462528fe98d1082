//! Signing in: a password, then for anyone who can read a person's browsing or safeguarding
//! records a TOTP code that cannot be used twice; failures throttled per user and per
//! address; a new session id at sign-in; signing out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::{requires_second_factor, verify_password};
use hedgerow_store::AdminAccount;
use serde::Deserialize;
use tower_sessions::Session;
use tracing::warn;

use crate::AdminApp;
use crate::frame::{USER_KEY, check_csrf, csrf_token, render, roles_of, server_error};

const PENDING_KEY: &str = "pending-account";

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/code"),
    ("POST", "/login/code"),
    ("POST", "/logout"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/login/code", get(code_page).post(code))
        .route("/logout", post(logout))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginTemplate<'a> {
    csrf: &'a str,
    message: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "code.html")]
struct CodeTemplate<'a> {
    csrf: &'a str,
    message: Option<&'a str>,
}

async fn login_page(session: Session) -> Response {
    let csrf = match csrf_token(&session).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    render(&LoginTemplate {
        csrf: &csrf,
        message: None,
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

async fn login(
    State(app): State<Arc<AdminApp>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(r) = check_csrf(&session, &form.csrf).await {
        return r;
    }
    let csrf = match csrf_token(&session).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let refuse = |message: &str| {
        (
            StatusCode::UNAUTHORIZED,
            render(&LoginTemplate {
                csrf: &csrf,
                message: Some(message),
            }),
        )
            .into_response()
    };
    let user_key = format!("user:{}", form.username.to_ascii_lowercase());
    let addr_key = format!("addr:{}", peer.ip());
    let locked = {
        let now = Instant::now();
        let mut throttle = app.throttle.lock().unwrap_or_else(|p| p.into_inner());
        throttle
            .check(&user_key, now)
            .and_then(|()| throttle.check(&addr_key, now))
            .err()
    };
    if let Some(wait) = locked {
        return refuse(&format!(
            "Too many failed attempts. Wait {} minutes and try again.",
            wait.as_secs().div_ceil(60).max(1)
        ));
    }
    let account = match app.store.admin_account_by_username(&form.username).await {
        Ok(account) => account,
        Err(e) => return server_error("reading an account", e),
    };
    // The password is checked even for unknown names, so timing does not reveal which exist.
    let hash = account.as_ref().map_or(
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aW52YWxpZGludmFsaWRpbnZhbGlkaW52YWxpZA",
        |a| a.password_hash.as_str(),
    );
    let password = form.password.clone();
    let hash = hash.to_string();
    let good = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    let Some(account) = account.filter(|a| good && !a.disabled) else {
        let now = Instant::now();
        let mut throttle = app.throttle.lock().unwrap_or_else(|p| p.into_inner());
        throttle.failure(&user_key, now);
        throttle.failure(&addr_key, now);
        return refuse("The user name or password is not right.");
    };
    if requires_second_factor(&roles_of(&account)) {
        if account.totp_secret.is_none() {
            return refuse(
                "Your account needs a second factor that is not set up yet. Ask the network manager to set it up.",
            );
        }
        if let Err(e) = session.insert(PENDING_KEY, account.id.0).await {
            return server_error("saving a session", e);
        }
        return Redirect::to("/login/code").into_response();
    }
    complete_sign_in(&app, &session, &account, &user_key, &addr_key).await
}

async fn complete_sign_in(
    app: &AdminApp,
    session: &Session,
    account: &AdminAccount,
    user_key: &str,
    addr_key: &str,
) -> Response {
    {
        let mut throttle = app.throttle.lock().unwrap_or_else(|p| p.into_inner());
        throttle.success(user_key);
        throttle.success(addr_key);
    }
    // A new session id at sign-in: an id planted before sign-in is worth nothing after it.
    if let Err(e) = session.cycle_id().await {
        return server_error("renewing a session", e);
    }
    let _ = session.remove::<i64>(PENDING_KEY).await;
    if let Err(e) = session.insert(USER_KEY, account.id.0).await {
        return server_error("saving a session", e);
    }
    if let Err(e) = app
        .store
        .record_admin_login(account.id, jiff::Timestamp::now())
        .await
    {
        warn!("the sign-in time was not recorded: {e}");
    }
    Redirect::to("/").into_response()
}

async fn code_page(session: Session) -> Response {
    match session.get::<i64>(PENDING_KEY).await {
        Ok(Some(_)) => {}
        _ => return Redirect::to("/login").into_response(),
    }
    let csrf = match csrf_token(&session).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    render(&CodeTemplate {
        csrf: &csrf,
        message: None,
    })
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
    csrf: String,
}

async fn code(
    State(app): State<Arc<AdminApp>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    Form(form): Form<CodeForm>,
) -> Response {
    if let Err(r) = check_csrf(&session, &form.csrf).await {
        return r;
    }
    let Ok(Some(id)) = session.get::<i64>(PENDING_KEY).await else {
        return Redirect::to("/login").into_response();
    };
    let account = match app
        .store
        .admin_account(hedgerow_store::AdminAccountId(id))
        .await
    {
        Ok(Some(account)) if !account.disabled => account,
        Ok(_) => return Redirect::to("/login").into_response(),
        Err(e) => return server_error("reading an account", e),
    };
    let user_key = format!("user:{}", account.username.to_ascii_lowercase());
    let addr_key = format!("addr:{}", peer.ip());
    let csrf = match csrf_token(&session).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let locked = {
        let now = Instant::now();
        let mut throttle = app.throttle.lock().unwrap_or_else(|p| p.into_inner());
        throttle.check(&user_key, now).err()
    };
    let secret = account
        .totp_secret
        .as_deref()
        .and_then(|s| hedgerow_accounts::TotpSecret::from_base32(s).ok());
    let step = match (locked, secret) {
        (None, Some(secret)) => hedgerow_accounts::totp::verify(
            &secret,
            form.code.trim(),
            jiff::Timestamp::now().as_second().max(0) as u64,
            account.totp_last_step.and_then(|s| u64::try_from(s).ok()),
        ),
        _ => None,
    };
    // The step is claimed in the store, so the same code cannot sign in twice.
    let accepted = match step {
        Some(step) => app
            .store
            .record_admin_totp_step(account.id, step as i64)
            .await
            .unwrap_or(false),
        None => false,
    };
    if !accepted {
        let now = Instant::now();
        let mut throttle = app.throttle.lock().unwrap_or_else(|p| p.into_inner());
        throttle.failure(&user_key, now);
        throttle.failure(&addr_key, now);
        return (
            StatusCode::UNAUTHORIZED,
            render(&CodeTemplate {
                csrf: &csrf,
                message: Some(
                    "That code is not right, or was already used. Enter the newest code.",
                ),
            }),
        )
            .into_response();
    }
    complete_sign_in(&app, &session, &account, &user_key, &addr_key).await
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn logout(session: Session, Form(form): Form<LogoutForm>) -> Response {
    if let Err(r) = check_csrf(&session, &form.csrf).await {
        return r;
    }
    if let Err(e) = session.flush().await {
        return server_error("ending a session", e);
    }
    Redirect::to("/login").into_response()
}
