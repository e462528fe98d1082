//! My account: who I am and what my roles let me do, changing my password (the current one
//! first, then the new one twice, under the same rules and throttle as signing in), and
//! enrolling or replacing my authenticator app (a new secret is saved only after a code from
//! it is accepted, and that code cannot then sign anyone in).

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::{
    Permission, TotpSecret, check_new_password, hash_password, requires_second_factor,
    verify_password,
};
use serde::Deserialize;

use crate::AdminApp;
use crate::frame::{Frame, Staff, bad_request, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/account"),
    ("POST", "/account/password"),
    ("GET", "/account/totp"),
    ("POST", "/account/totp"),
];

/// The secret being enrolled, kept in the session until a code from it is accepted.
const PENDING_TOTP_KEY: &str = "totp-enrolment";

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/account", get(account_page))
        .route("/account/password", post(change_password))
        .route("/account/totp", get(totp_page).post(enrol_totp))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountTemplate {
    frame: Frame,
    username: String,
    email: String,
    totp: bool,
    needs_totp: bool,
    password_changed: String,
    last_sign_in: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "account_totp.html")]
struct TotpTemplate {
    frame: Frame,
    secret: String,
    uri: String,
    replacing: bool,
    error: Option<String>,
}

fn account_template(
    app: &AdminApp,
    staff: &Staff,
    error: Option<String>,
    notice: Option<String>,
) -> AccountTemplate {
    let account = &staff.account;
    AccountTemplate {
        frame: staff.frame("/account"),
        username: account.username.clone(),
        email: account.email.clone(),
        totp: account.totp_secret.is_some(),
        needs_totp: requires_second_factor(&staff.roles),
        password_changed: app.local_time(account.password_changed_at),
        last_sign_in: account
            .last_login_at
            .map(|t| app.local_time(t))
            .unwrap_or_else(|| "never".to_owned()),
        error,
        notice,
    }
}

async fn account_page(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = staff.require(Permission::ViewDashboard) {
        return r;
    }
    render(&account_template(&app, &staff, None, None))
}

/// The throttle key of this account: failed current passwords count as failed sign-ins, so a
/// stolen session cannot be used to guess the password.
fn throttle_key(staff: &Staff) -> String {
    format!("user:{}", staff.account.username.to_ascii_lowercase())
}

/// Checks the current password under the sign-in throttle; the refusal says what to do.
async fn check_current_password(
    app: &AdminApp,
    staff: &Staff,
    password: &str,
) -> Result<(), String> {
    let key = throttle_key(staff);
    let locked = {
        let mut throttle = app.throttle.lock().unwrap_or_else(|p| p.into_inner());
        throttle.check(&key, Instant::now()).err()
    };
    if let Some(wait) = locked {
        return Err(format!(
            "Too many wrong passwords. Wait {} minutes and try again.",
            wait.as_secs().div_ceil(60).max(1)
        ));
    }
    let hash = staff.account.password_hash.clone();
    let password = password.to_owned();
    let good = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    if good {
        Ok(())
    } else {
        let mut throttle = app.throttle.lock().unwrap_or_else(|p| p.into_inner());
        throttle.failure(&key, Instant::now());
        Err("Your current password is not right. Type the password you signed in with.".to_owned())
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    new_password: String,
    new_again: String,
}

async fn change_password(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let form = match staff.accept(Permission::ViewDashboard, form) {
        Ok(form) => form,
        Err(r) => return r,
    };
    let refuse = |message: String| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&account_template(&app, &staff, Some(message), None)),
        )
            .into_response()
    };
    if let Err(message) = check_current_password(&app, &staff, &form.current).await {
        return refuse(message);
    }
    if form.new_password != form.new_again {
        return refuse(
            "The two new passwords are not the same. Type the new password twice.".to_owned(),
        );
    }
    if form.new_password == form.current {
        return refuse(
            "The new password is the same as the current one. Choose a different one.".to_owned(),
        );
    }
    if let Err(problem) = check_new_password(
        &form.new_password,
        &staff.account.username,
        &staff.account.display_name,
    ) {
        return refuse(format!("The new password was not accepted: {problem}."));
    }
    let password = form.new_password;
    let hash = match tokio::task::spawn_blocking(move || hash_password(&password)).await {
        Ok(Ok(hash)) => hash,
        Ok(Err(e)) => return server_error("hashing a password", e),
        Err(e) => return server_error("hashing a password", e),
    };
    match app
        .store
        .set_admin_password_hash(staff.account.id, &hash, &staff.acting())
        .await
    {
        Ok(true) => {}
        Ok(false) => return bad_request("Your account no longer exists."),
        Err(e) => return server_error("changing a password", e),
    }
    // A new session id: whoever knew the old one (before the change) is left behind.
    if let Some(session) = staff.session()
        && let Err(e) = session.cycle_id().await
    {
        return server_error("renewing a session", e);
    }
    render(&account_template(
        &app,
        &staff,
        None,
        Some("Your password was changed. Use the new one next time you sign in.".to_owned()),
    ))
}

async fn totp_page(staff: Staff) -> Response {
    if let Err(r) = staff.require(Permission::ViewDashboard) {
        return r;
    }
    let Some(session) = staff.session() else {
        return bad_request("Enrol an authenticator app from the account page in a browser.");
    };
    let secret = match TotpSecret::generate() {
        Ok(s) => s,
        Err(e) => return server_error("making a TOTP secret", e),
    };
    if let Err(e) = session.insert(PENDING_TOTP_KEY, secret.to_base32()).await {
        return server_error("saving a session", e);
    }
    render(&totp_template(&staff, &secret, None))
}

fn totp_template(staff: &Staff, secret: &TotpSecret, error: Option<String>) -> TotpTemplate {
    TotpTemplate {
        frame: staff.frame("/account"),
        secret: secret.to_base32(),
        uri: secret.otpauth_uri("Hedgerow", &staff.account.username),
        replacing: staff.account.totp_secret.is_some(),
        error,
    }
}

#[derive(Deserialize)]
struct TotpForm {
    password: String,
    code: String,
}

async fn enrol_totp(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    form: Result<Form<TotpForm>, FormRejection>,
) -> Response {
    let form = match staff.accept(Permission::ViewDashboard, form) {
        Ok(form) => form,
        Err(r) => return r,
    };
    let Some(session) = staff.session() else {
        return bad_request("Enrol an authenticator app from the account page in a browser.");
    };
    let pending = match session.get::<String>(PENDING_TOTP_KEY).await {
        Ok(p) => p,
        Err(e) => return server_error("reading a session", e),
    };
    let Some(secret) = pending.and_then(|s| TotpSecret::from_base32(&s).ok()) else {
        return Redirect::to("/account/totp").into_response();
    };
    let refuse = |message: String| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&totp_template(&staff, &secret, Some(message))),
        )
            .into_response()
    };
    if let Err(message) = check_current_password(&app, &staff, &form.password).await {
        return refuse(message);
    }
    let now = jiff::Timestamp::now().as_second().max(0) as u64;
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(step) = hedgerow_accounts::totp::verify(&secret, &code, now, None) else {
        return refuse(
            "That code is not right. Check the app's clock, and type the six digits it shows for Hedgerow now.".to_owned(),
        );
    };
    let base32 = secret.to_base32();
    match app
        .store
        .set_admin_totp_secret(staff.account.id, Some(&base32), &staff.acting())
        .await
    {
        Ok(true) => {}
        Ok(false) => return bad_request("Your account no longer exists."),
        Err(e) => return server_error("saving a TOTP secret", e),
    }
    // The code just used cannot sign anyone in afterwards.
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    if let Err(e) = app
        .store
        .record_admin_totp_step(staff.account.id, step)
        .await
    {
        tracing::warn!("the enrolment code's step was not recorded: {e}");
    }
    let _ = session.remove::<String>(PENDING_TOTP_KEY).await;
    let mut page = account_template(
        &app,
        &staff,
        None,
        Some("Your authenticator app is set up. Use its codes when you sign in.".to_owned()),
    );
    page.totp = true;
    render(&page)
}
