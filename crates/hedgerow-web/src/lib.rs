//! The admin web app: where the DSL, the online-safety lead, the headteacher, the network
//! manager, teachers and governors sign in to see what happened and run the school's online
//! safety.
//!
//! This first slice is the frame every page will sit in: sign-in with a password and, for
//! anyone who can read a person's browsing or safeguarding records, a TOTP code
//! (`hedgerow_accounts`); sessions kept in the store that end after 15 minutes idle, with a new
//! session id at sign-in (no fixation); a CSRF token on every form; failed sign-ins throttled
//! per user and per address; security headers on every answer; and the dashboard, which shows
//! only figures without names (so every role, governors included, may see it). Pages are
//! server-rendered with askama and need no JavaScript.

mod sessions;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use base64::Engine as _;
use hedgerow_accounts::{LoginThrottle, Role, requires_second_factor, verify_password};
use hedgerow_store::{AdminAccount, Store};
use serde::Deserialize;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tracing::warn;

pub use sessions::StoreSessions;

/// How long a session lasts without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

const USER_KEY: &str = "account";
const PENDING_KEY: &str = "pending-account";
const CSRF_KEY: &str = "csrf";

/// What every request handler shares.
pub struct AdminApp {
    store: Store,
    throttle: Mutex<LoginThrottle>,
    /// Send the session cookie with `Secure` (off only for plain HTTP on loopback, as in the
    /// demo).
    secure_cookies: bool,
}

impl AdminApp {
    pub fn new(store: Store, secure_cookies: bool) -> Arc<AdminApp> {
        Arc::new(AdminApp {
            store,
            throttle: Mutex::new(LoginThrottle::new(5, Duration::from_secs(300))),
            secure_cookies,
        })
    }

    /// The app's routes with sessions and security headers.
    pub fn router(self: &Arc<Self>) -> Router {
        let sessions = SessionManagerLayer::new(StoreSessions::new(self.store.clone()))
            .with_name("hedgerow-session")
            .with_secure(self.secure_cookies)
            .with_http_only(true)
            .with_same_site(tower_sessions::cookie::SameSite::Strict)
            .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
                IDLE_TIMEOUT.as_secs() as i64,
            )));
        Router::new()
            .route("/", get(dashboard))
            .route("/login", get(login_page).post(login))
            .route("/login/code", get(code_page).post(code))
            .route("/logout", post(logout))
            .route("/healthz", get(|| async { "ok" }))
            .layer(sessions)
            .layer(middleware::from_fn(security_headers))
            .with_state(Arc::clone(self))
    }
}

/// Serves the app on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<AdminApp>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app.router();
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn security_headers(request: axum::extract::Request, next: middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
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

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardTemplate<'a> {
    csrf: &'a str,
    name: &'a str,
    roles: String,
    total: u64,
    blocked: u64,
    circumvention: u64,
    by_category: Vec<(String, u64)>,
    by_group: Vec<(String, u64)>,
    top_hosts: Vec<(String, u64)>,
}

fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            warn!("a page could not be rendered: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
                .into_response()
        }
    }
}

fn server_error(what: &str, e: impl std::fmt::Display) -> Response {
    warn!("{what}: {e}");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Hedgerow cannot reach its store just now. Try again in a minute.",
    )
        .into_response()
}

/// The session's CSRF token, made on first use.
async fn csrf_token(session: &Session) -> Result<String, Response> {
    match session.get::<String>(CSRF_KEY).await {
        Ok(Some(token)) => Ok(token),
        Ok(None) => {
            let mut bytes = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                .map_err(|_| server_error("no random numbers", "ring"))?;
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            session
                .insert(CSRF_KEY, &token)
                .await
                .map_err(|e| server_error("saving a session", e))?;
            Ok(token)
        }
        Err(e) => Err(server_error("reading a session", e)),
    }
}

/// Refuses a form whose CSRF token is not this session's.
async fn check_csrf(session: &Session, sent: &str) -> Result<(), Response> {
    let expected = session
        .get::<String>(CSRF_KEY)
        .await
        .map_err(|e| server_error("reading a session", e))?;
    match expected {
        Some(token) if same(token.as_bytes(), sent.as_bytes()) => Ok(()),
        _ => Err((
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from Hedgerow. Go back, reload the page and try again.",
        )
            .into_response()),
    }
}

/// Compares without stopping at the first difference, so timing says nothing about the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn signed_in(app: &AdminApp, session: &Session) -> Result<Option<AdminAccount>, Response> {
    let Some(id) = session
        .get::<i64>(USER_KEY)
        .await
        .map_err(|e| server_error("reading a session", e))?
    else {
        return Ok(None);
    };
    let account = app
        .store
        .admin_account(hedgerow_store::AdminAccountId(id))
        .await
        .map_err(|e| server_error("reading an account", e))?;
    Ok(account.filter(|a| !a.disabled))
}

fn roles_of(account: &AdminAccount) -> Vec<Role> {
    account
        .roles
        .iter()
        .filter_map(|r| Role::parse(r).ok())
        .collect()
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

async fn dashboard(State(app): State<Arc<AdminApp>>, session: Session) -> Response {
    let account = match signed_in(&app, &session).await {
        Ok(Some(account)) => account,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(r) => return r,
    };
    let csrf = match csrf_token(&session).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let school = match account.school {
        Some(school) => school,
        None => match app.store.schools().await {
            Ok(schools) => match schools.first() {
                Some(s) => s.id,
                None => return (StatusCode::OK, "No school yet.").into_response(),
            },
            Err(e) => return server_error("reading schools", e),
        },
    };
    let until = jiff::Timestamp::now();
    let since = until - jiff::SignedDuration::from_hours(24 * 7);
    let summary = match app.store.activity_summary(school, since, until, 10).await {
        Ok(s) => s,
        Err(e) => return server_error("summarising activity", e),
    };
    let pairs = |counts: &[hedgerow_store::Count]| {
        counts
            .iter()
            .map(|c| (c.key.clone().unwrap_or_else(|| "(none)".into()), c.count))
            .collect::<Vec<_>>()
    };
    let mut response = render(&DashboardTemplate {
        csrf: &csrf,
        name: &account.display_name,
        roles: roles_of(&account)
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join(", "),
        total: summary.total_events,
        blocked: summary.blocked_events,
        circumvention: summary.circumvention_attempts,
        by_category: pairs(&summary.blocks_by_category),
        by_group: pairs(&summary.blocks_by_group),
        top_hosts: pairs(&summary.top_blocked_hosts),
    });
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Cookie"));
    response
}
