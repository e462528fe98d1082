//! What every page shares: who is signed in and what they may do ([`Staff`]), the page frame
//! with its navigation ([`Frame`]), CSRF tokens, and the few ways a request is refused.
//!
//! Every route that needs a signed-in person takes a [`Staff`] and calls
//! [`Staff::require`] with the one [`Permission`] it needs before it reads anything, so the
//! role matrix in `hedgerow_accounts::roles` is the only place that says who sees what.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use hedgerow_accounts::{Permission, Role, can};
use hedgerow_store::{AdminAccount, AdminAccountId, SchoolId};
use tower_sessions::Session;
use tracing::warn;

use crate::AdminApp;

pub(crate) const USER_KEY: &str = "account";
pub(crate) const CSRF_KEY: &str = "csrf";
/// The school a trust-wide account chose to work in (its slug).
pub(crate) const SCHOOL_KEY: &str = "school";

/// Renders a page, or a plain apology if the template fails (which is a bug, not the user's).
pub(crate) fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = Html(html).into_response();
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Cookie"));
            response
        }
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

/// The store failed; the person is told to try again rather than shown the error.
pub(crate) fn server_error(what: &str, e: impl std::fmt::Display) -> Response {
    warn!("{what}: {e}");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Hedgerow cannot reach its store just now. Try again in a minute.",
    )
        .into_response()
}

/// A form or query the app cannot use: says what was wrong, with the status the API uses too.
pub(crate) fn bad_request(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, message.into()).into_response()
}

/// The page does not exist (or is another school's, which is told the same way).
pub(crate) fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("There is no such {what}. It may have been removed, or the link is wrong."),
    )
        .into_response()
}

/// `N` bytes from the system's random source (a server error page when it fails).
#[allow(clippy::result_large_err)]
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], Response> {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| server_error("no random numbers", "ring"))?;
    Ok(bytes)
}

/// A random URL-safe token of 32 bytes.
#[allow(clippy::result_large_err)]
pub(crate) fn random_token() -> Result<String, Response> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// The session's CSRF token, made on first use.
pub(crate) async fn csrf_token(session: &Session) -> Result<String, Response> {
    match session.get::<String>(CSRF_KEY).await {
        Ok(Some(token)) => Ok(token),
        Ok(None) => {
            let token = random_token()?;
            session
                .insert(CSRF_KEY, &token)
                .await
                .map_err(|e| server_error("saving a session", e))?;
            Ok(token)
        }
        Err(e) => Err(server_error("reading a session", e)),
    }
}

fn csrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "This form has expired or did not come from Hedgerow. Go back, reload the page and try again.",
    )
        .into_response()
}

/// Refuses a form whose CSRF token is not this session's.
pub(crate) async fn check_csrf(session: &Session, sent: &str) -> Result<(), Response> {
    let expected = session
        .get::<String>(CSRF_KEY)
        .await
        .map_err(|e| server_error("reading a session", e))?;
    match expected {
        Some(token) if same(token.as_bytes(), sent.as_bytes()) => Ok(()),
        _ => Err(csrf_refused()),
    }
}

/// Compares without stopping at the first difference, so timing says nothing about the token.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The roles an account holds; a stored key this version does not know grants nothing.
pub(crate) fn roles_of(account: &AdminAccount) -> Vec<Role> {
    account
        .roles
        .iter()
        .filter_map(|r| Role::parse(r).ok())
        .collect()
}

/// A signed-in member of staff, with the school they are working in.
pub struct Staff {
    pub account: AdminAccount,
    pub roles: Vec<Role>,
    /// The school the request is about: the account's own, or for a trust-wide account the
    /// first school (a school picker is for the trust pages).
    pub school: SchoolId,
    /// The school's slug, as the gateway's policy knows it.
    pub school_slug: String,
    /// The school's name, shown in the page frame.
    pub school_name: String,
    /// For a trust-wide account, every school as (slug, name); empty otherwise.
    pub schools: Vec<(String, String)>,
    /// This session's CSRF token, for the forms on the page.
    pub csrf: String,
    /// Where the request came from, for the audit log.
    pub peer: IpAddr,
    /// The browser session; `None` for a request made with an API token.
    pub(crate) session: Option<Session>,
}

impl Staff {
    /// Whether this person may do `permission`.
    pub fn can(&self, permission: Permission) -> bool {
        can(&self.roles, permission)
    }

    /// Refuses the request (403 with an explanation) unless this person may do `permission`.
    #[allow(clippy::result_large_err)]
    pub fn require(&self, permission: Permission) -> Result<(), Response> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(forbidden(permission))
        }
    }

    /// The gate of a form handler: refuses (403) unless this person may do `permission`, and
    /// only then reads the form (400 saying why when it cannot be read), so what a form holds
    /// never decides whether the door opens. Its CSRF token was checked before any handler ran
    /// (`csrf::require_csrf`).
    #[allow(clippy::result_large_err)]
    pub(crate) fn accept<T>(
        &self,
        permission: Permission,
        form: Result<axum::extract::Form<T>, axum::extract::rejection::FormRejection>,
    ) -> Result<T, Response> {
        self.require(permission)?;
        form.map(|axum::extract::Form(form)| form).map_err(|e| {
            bad_request(format!(
                "The form could not be read ({e}). Go back, reload the page and try again."
            ))
        })
    }

    /// The name written into change records and the audit log.
    pub fn actor(&self) -> String {
        self.account.username.clone()
    }

    /// The audit log's actor with where the request came from.
    pub fn acting(&self) -> hedgerow_store::ActingUser {
        let mut acting = hedgerow_store::ActingUser::new(self.account.username.clone());
        acting.from_addr = Some(self.peer.to_string());
        acting
    }

    /// The page frame: name, roles and the navigation this person may use.
    pub fn frame(&self, current: &'static str) -> Frame {
        let nav = NAV
            .iter()
            .filter(|item| item.permissions.iter().any(|p| self.can(*p)))
            .map(|item| NavLink {
                href: item.href,
                label: item.label,
                current: item.href == current,
            })
            .collect();
        Frame {
            name: self.account.display_name.clone(),
            roles: self
                .roles
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>()
                .join(", "),
            csrf: self.csrf.clone(),
            nav,
            school_name: self.school_name.clone(),
            schools: self
                .schools
                .iter()
                .map(|(slug, name)| SchoolOption {
                    current: *slug == self.school_slug,
                    slug: slug.clone(),
                    name: name.clone(),
                })
                .collect(),
        }
    }

    /// The browser session, for pages that keep something in it (`None` for the API).
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// A signed-in person from an account already authenticated some other way (an API
    /// token): no session and no CSRF token, since no cookie carries the request.
    pub(crate) async fn for_account(
        app: &AdminApp,
        account: AdminAccount,
        peer: IpAddr,
        chosen_school: Option<&str>,
    ) -> Result<Staff, Response> {
        let choice = app.school_for(&account, chosen_school).await?;
        if let Some(slug) = chosen_school
            && account.school.is_none()
            && choice.slug != slug
        {
            return Err(not_found("school"));
        }
        Ok(Staff {
            roles: roles_of(&account),
            account,
            school: choice.id,
            school_slug: choice.slug,
            school_name: choice.name,
            schools: choice.all,
            csrf: String::new(),
            peer,
            session: None,
        })
    }
}

/// 403 with what is missing; says nothing about what is behind the door.
pub(crate) fn forbidden(permission: Permission) -> Response {
    (
        StatusCode::FORBIDDEN,
        format!(
            "Your account's roles do not allow this ({permission:?}). If you need it, ask your designated safeguarding lead or headteacher."
        ),
    )
        .into_response()
}

impl FromRequestParts<Arc<AdminApp>> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AdminApp>) -> Result<Staff, Response> {
        let session = Session::from_request_parts(parts, app)
            .await
            .map_err(|(status, message)| (status, message).into_response())?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let sign_in = || Redirect::to("/login").into_response();
        let Some(id) = session
            .get::<i64>(USER_KEY)
            .await
            .map_err(|e| server_error("reading a session", e))?
        else {
            return Err(sign_in());
        };
        let account = app
            .store
            .admin_account(AdminAccountId(id))
            .await
            .map_err(|e| server_error("reading an account", e))?;
        let Some(account) = account.filter(|a| !a.disabled) else {
            let _ = session.flush().await;
            return Err(sign_in());
        };
        let chosen = session.get::<String>(SCHOOL_KEY).await.ok().flatten();
        let choice = app.school_for(&account, chosen.as_deref()).await?;
        let csrf = csrf_token(&session).await?;
        Ok(Staff {
            roles: roles_of(&account),
            account,
            school: choice.id,
            school_slug: choice.slug,
            school_name: choice.name,
            schools: choice.all,
            csrf,
            peer,
            session: Some(session),
        })
    }
}

/// What the frame around every signed-in page shows.
pub struct Frame {
    pub name: String,
    pub roles: String,
    pub csrf: String,
    pub nav: Vec<NavLink>,
    pub school_name: String,
    /// The schools a trust-wide account may switch between; empty for everyone else.
    pub schools: Vec<SchoolOption>,
}

pub struct SchoolOption {
    pub slug: String,
    pub name: String,
    pub current: bool,
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

struct NavItem {
    href: &'static str,
    label: &'static str,
    /// Shown to anyone holding one of these.
    permissions: &'static [Permission],
}

/// The navigation, in order; each link shows only to those who may use it.
const NAV: &[NavItem] = &[
    NavItem {
        href: "/",
        label: "Dashboard",
        permissions: &[Permission::ViewDashboard],
    },
    NavItem {
        href: "/activity",
        label: "Activity",
        permissions: &[Permission::ViewPersonActivity],
    },
    NavItem {
        href: "/alerts",
        label: "Alerts",
        permissions: &[Permission::ViewAlerts],
    },
    NavItem {
        href: "/concerns",
        label: "Records",
        permissions: &[Permission::RecordConcern, Permission::ManageConcerns],
    },
    NavItem {
        href: "/records",
        label: "Records management",
        permissions: &[Permission::ManageRecords],
    },
    NavItem {
        href: "/monitoring/report",
        label: "Weekly report",
        permissions: &[Permission::ViewMonitoringReport],
    },
    NavItem {
        href: "/records/termly",
        label: "Termly report",
        permissions: &[Permission::ViewTermlyReport],
    },
    NavItem {
        href: "/monitoring/library",
        label: "Risk libraries",
        permissions: &[Permission::TuneRiskLibraries],
    },
    NavItem {
        href: "/policy",
        label: "Policy",
        permissions: &[Permission::EditPolicy, Permission::ApprovePolicyChange],
    },
    NavItem {
        href: "/changes",
        label: "Change log",
        permissions: &[
            Permission::EditPolicy,
            Permission::ApprovePolicyChange,
            Permission::ViewAuditLog,
        ],
    },
    NavItem {
        href: "/requests",
        label: "Requests",
        permissions: &[
            Permission::ReviewRequests,
            Permission::RequestAccessForClass,
        ],
    },
    NavItem {
        href: "/checks",
        label: "Checks",
        permissions: &[Permission::ViewChecks],
    },
    NavItem {
        href: "/reviews",
        label: "Annual review",
        permissions: &[Permission::ViewChecks],
    },
    NavItem {
        href: "/contacts",
        label: "Contacts",
        permissions: &[Permission::ViewDashboard],
    },
    NavItem {
        href: "/agreements",
        label: "Agreements",
        permissions: &[Permission::ViewAgreements, Permission::ManageAgreements],
    },
    NavItem {
        href: "/image-consent",
        label: "Image consent",
        permissions: &[Permission::ViewImageConsent],
    },
    NavItem {
        href: "/visitors",
        label: "Visitors",
        permissions: &[Permission::IssueVisitorCodes],
    },
    NavItem {
        href: "/people",
        label: "People",
        permissions: &[Permission::ImportPeople, Permission::ManageAccounts],
    },
    NavItem {
        href: "/audit",
        label: "Audit log",
        permissions: &[Permission::ViewAuditLog],
    },
    NavItem {
        href: "/api-tokens",
        label: "API tokens",
        permissions: &[Permission::UseApi],
    },
    NavItem {
        href: "/account",
        label: "My account",
        permissions: &[Permission::ViewDashboard],
    },
];
