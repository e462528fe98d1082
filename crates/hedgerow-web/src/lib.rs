//! The admin web app: where the DSL, the online-safety lead, the headteacher, the network
//! manager, teachers and governors sign in to see what happened and run the school's online
//! safety.
//!
//! The frame every page sits in (`frame`): sign-in with a password and, for anyone who can
//! read a person's browsing or safeguarding records, a TOTP code (`signin`); sessions kept in
//! the store that end after 15 minutes idle, with a new session id at sign-in (no fixation); a
//! CSRF token on every form; failed sign-ins throttled per user and per address; security
//! headers on every answer. Each page module asks `Staff::require` for the one permission it
//! needs, so the role matrix in `hedgerow_accounts::roles` decides who sees what. Pages are
//! server-rendered with askama and work without JavaScript. The running gateway is reached
//! through [`GatewayControl`], so the app never builds a policy of its own.

mod account;
mod agreements;
mod alerts;
mod api;
mod audit;
mod changes;
mod checks;
mod concerns;
mod contacts;
mod control;
mod csrf;
mod dashboard;
mod explorer;
mod form;
mod frame;
mod image_consent;
mod people;
mod policy;
pub mod portal;
mod records_admin;
mod report;
mod requests;
mod reviews;
mod risk_library;
mod sessions;
mod signin;
mod termly;
mod tls;
mod visitors;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::get;
use axum::{Router, middleware};
use hedgerow_accounts::LoginThrottle;
use hedgerow_store::{AdminAccount, SchoolId, Store};
use tower_sessions::{Expiry, SessionManagerLayer};

pub use agreements::renewal_of;
pub use control::{ChangePreview, GatewayControl, MadeRecord};
pub use frame::Staff;
pub use people::{MAPPING_SETTING, import_batch, import_groups};
pub use sessions::StoreSessions;
pub use tls::{
    AdminTlsError, files_server_config, school_ca_server_config, serve_behind_proxy, serve_tls,
};

/// How long a session lasts without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Every route of the app as `(method, path)`, with `{name}` for a path parameter. The
/// security test walks each with each role, so a route is never left out of the walk.
pub fn all_routes() -> Vec<(&'static str, &'static str)> {
    [
        &[("GET", "/healthz")][..],
        signin::ROUTES,
        dashboard::ROUTES,
        account::ROUTES,
        explorer::ROUTES,
        alerts::ROUTES,
        concerns::ROUTES,
        records_admin::ROUTES,
        report::ROUTES,
        termly::ROUTES,
        risk_library::ROUTES,
        audit::ROUTES,
        policy::ROUTES,
        changes::ROUTES,
        requests::ROUTES,
        checks::ROUTES,
        reviews::ROUTES,
        contacts::ROUTES,
        people::ROUTES,
        agreements::ROUTES,
        image_consent::ROUTES,
        visitors::ROUTES,
        api::ROUTES,
    ]
    .concat()
}

/// The school a request is about, and for trust-wide accounts the schools to choose from.
pub(crate) struct SchoolChoice {
    pub id: SchoolId,
    pub slug: String,
    pub name: String,
    /// (slug, name) of every school; empty for an account of one school.
    pub all: Vec<(String, String)>,
}

/// What every request handler shares.
pub struct AdminApp {
    pub(crate) store: Store,
    pub(crate) control: Arc<dyn GatewayControl>,
    pub(crate) throttle: Mutex<LoginThrottle>,
    /// Send the session cookie with `Secure` (off only for plain HTTP on loopback, as in the
    /// demo).
    secure_cookies: bool,
    /// The zone the school works in, for "today" and for showing times.
    pub(crate) zone: jiff::tz::TimeZone,
    /// When each kind of safeguarding record comes up for review (`[retention]`).
    pub(crate) record_retention: hedgerow_store::RecordRetention,
}

impl AdminApp {
    pub fn new(
        store: Store,
        control: Arc<dyn GatewayControl>,
        secure_cookies: bool,
        record_retention: hedgerow_store::RecordRetention,
    ) -> Arc<AdminApp> {
        Arc::new(AdminApp {
            store,
            control,
            record_retention,
            throttle: Mutex::new(LoginThrottle::new(5, Duration::from_secs(300))),
            secure_cookies,
            zone: jiff::tz::TimeZone::get("Europe/London").unwrap_or(jiff::tz::TimeZone::UTC),
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
            .merge(dashboard::routes())
            .merge(signin::routes())
            .merge(account::routes())
            .merge(explorer::routes())
            .merge(alerts::routes())
            .merge(concerns::routes())
            .merge(records_admin::routes())
            .merge(report::routes())
            .merge(termly::routes())
            .merge(risk_library::routes())
            .merge(audit::routes())
            .merge(policy::routes())
            .merge(changes::routes())
            .merge(requests::routes())
            .merge(checks::routes())
            .merge(reviews::routes())
            .merge(contacts::routes())
            .merge(people::routes())
            .merge(agreements::routes())
            .merge(image_consent::routes())
            .merge(visitors::routes())
            .merge(api::routes())
            .route("/healthz", get(|| async { "ok" }))
            .layer(middleware::from_fn(csrf::require_csrf))
            .layer(sessions)
            .layer(middleware::from_fn(security_headers))
            .with_state(Arc::clone(self))
    }

    /// The school an account works in: its own; for a trust-wide account the one it chose
    /// (`chosen`, a slug kept in its session) or else the first. Trust-wide accounts also get
    /// every school, to choose from.
    pub(crate) async fn school_for(
        &self,
        account: &AdminAccount,
        chosen: Option<&str>,
    ) -> Result<SchoolChoice, Response> {
        let schools = self
            .store
            .schools()
            .await
            .map_err(|e| frame::server_error("reading schools", e))?;
        let school = match account.school {
            Some(id) => schools.iter().find(|s| s.id == id),
            None => chosen
                .and_then(|slug| schools.iter().find(|s| s.slug == slug))
                .or_else(|| schools.first()),
        };
        let Some(school) = school else {
            return Err(frame::not_found(
                "school (the configuration names none yet; add one and restart)",
            ));
        };
        Ok(SchoolChoice {
            id: school.id,
            slug: school.slug.clone(),
            name: school.name.clone(),
            all: if account.school.is_none() {
                schools
                    .iter()
                    .map(|s| (s.slug.clone(), s.name.clone()))
                    .collect()
            } else {
                Vec::new()
            },
        })
    }

    /// Today's date on the school's clocks.
    pub(crate) fn today(&self) -> jiff::civil::Date {
        jiff::Timestamp::now()
            .to_zoned_datetime(self.zone.clone())
            .date()
    }

    /// A time as the school reads it: `23 Nov 2026 14:05`.
    pub(crate) fn local_time(&self, at: jiff::Timestamp) -> String {
        at.to_zoned_datetime(self.zone.clone())
            .strftime("%-d %b %Y %H:%M")
            .to_string()
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
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
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
