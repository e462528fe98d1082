//! The access portal: the small public web app a person is sent to when the school holds them
//! until they accept their acceptable use agreement, where parents co-sign through their
//! child's link, and where visitors enter their day code.
//!
//! It serves plain HTTP on its own listener to anyone on the school's network, so it has no
//! sessions and no sign-in: the gateway says who is at it ([`PortalGate::who`]), from the
//! connection's address or from the proxy's signed `X-Hedgerow-Portal-Client` header. Its forms
//! carry a token that is an HMAC over the agreement version and the client's address, with a
//! key made afresh by each process, so another site cannot make a browser accept for someone.
//! A browser the DNS filter sent here for some other site is redirected to the front page with
//! `?then=` set, and sent on there once the person has accepted. A parent's link shows only
//! the child's first name and class; a link that does not work gets one page whatever the
//! reason, so links cannot be probed. Pages are askama templates (`templates/portal_*.html`)
//! in the look of the proxy's block page, with no scripts; pupils get large, simple type.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use askama::Template;
use async_trait::async_trait;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hedgerow_agreements::{
    Audience, Consent, ImageUse, Renewal, Standing, looks_like_token, monitoring_notice,
    normalise_day_code, render_body, sha256_hex,
};
use hedgerow_store::{
    AcceptanceMethod, AgreementVersion, NewAcceptance, ParentLink, SchoolId, Store, StoreError,
    SubjectKind,
};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// What the portal asks of the running gateway.
#[async_trait]
pub trait PortalGate: Send + Sync + 'static {
    /// Who is at the portal: the connection's address, or the person the school's proxy
    /// vouched for in `X-Hedgerow-Portal-Client` (believed only when its signature checks).
    fn who(&self, peer: IpAddr, vouched: Option<&str>) -> Option<PortalVisitor>;
    /// The audience of a filtering group (for a child met through a parent's link).
    fn audience_of(&self, school_slug: &str, group_key: &str) -> hedgerow_agreements::Audience;
    /// Re-read acceptances now, so the filter lets someone in the moment they accept.
    async fn refresh(&self);
}

/// A person (or device, or guest) at the portal, as the gateway knows them.
#[derive(Debug, Clone)]
pub struct PortalVisitor {
    pub school: SchoolId,
    pub school_slug: String,
    pub school_name: String,
    pub client: IpAddr,
    pub person: PortalPerson,
    pub audience: hedgerow_agreements::Audience,
    pub group_name: String,
    /// Whether the gateway is holding them at the portal right now.
    pub held: bool,
    pub online_safety_lead: Option<String>,
}

/// Who the acceptance is recorded against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalPerson {
    User {
        username: String,
        display_name: String,
    },
    Device {
        name: String,
    },
    Guest,
}

/// The header in which the school's proxy names who is at the portal, signed by the gateway.
pub const VOUCH_HEADER: &str = "x-hedgerow-portal-client";

/// A key for this process's signatures (the portal's form tokens, the gate's vouches), from
/// the system's random source. Should that ever fail, the key is made from the clock and the
/// process id: predictable only to this process's own memory, and never outliving it, which
/// beats refusing to serve the portal.
pub fn process_key() -> hmac::Key {
    let mut key = [0u8; 32];
    if SystemRandom::new().fill(&mut key).is_err() {
        let nanos = jiff::Timestamp::now().as_nanosecond().to_le_bytes();
        key[..16].copy_from_slice(&nanos);
        key[16..].copy_from_slice(&std::process::id().to_le_bytes().repeat(4));
    }
    hmac::Key::new(hmac::HMAC_SHA256, &key)
}

/// `<public_url>?then=<then>`: the portal, remembering the page a browser first asked for.
/// The proxy's redirects and the portal's own are made here, so both spell it alike.
pub fn portal_link(public_url: &str, then: &str) -> String {
    format!("{public_url}?then={}", crate::explorer::url_encode(then))
}

/// The longest `then` address the portal carries along; longer ones are dropped, not cut.
const MAX_THEN: usize = 2048;

/// The access portal's shared state.
pub struct Portal {
    store: Store,
    gate: Arc<dyn PortalGate>,
    /// Where the portal is reached, e.g. `http://10.0.0.5/`; always ends in `/`.
    public_url: String,
    /// The host (lowercase, no port) of `public_url`: requests for any other host came from a
    /// browser the filter sent here, and are redirected.
    public_host: String,
    /// Signs form tokens. Random per process, so a restart only costs a reload of the form.
    form_key: hmac::Key,
    zone: TimeZone,
}

impl Portal {
    /// The portal for `public_url` (`http://address[:port]/`).
    pub fn new(store: Store, gate: Arc<dyn PortalGate>, public_url: String) -> Arc<Portal> {
        let mut public_url = public_url.trim().to_string();
        if !public_url.ends_with('/') {
            public_url.push('/');
        }
        let public_host = url_host(&public_url).unwrap_or_default();
        Arc::new(Portal {
            store,
            gate,
            public_url,
            public_host,
            form_key: process_key(),
            zone: TimeZone::get("Europe/London").unwrap_or(TimeZone::UTC),
        })
    }

    /// Every route of the portal, with its security headers.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/parent/{token}", get(parent_page).post(parent_submit))
            .fallback(dispatch)
            .layer(middleware::from_fn_with_state(
                Arc::clone(self),
                other_hosts,
            ))
            .layer(middleware::from_fn(portal_headers))
            .with_state(Arc::clone(self))
    }

    fn today(&self) -> Date {
        Timestamp::now().to_zoned_datetime(self.zone.clone()).date()
    }

    fn long_date(&self, date: Date) -> String {
        date.strftime("%A %-d %B %Y").to_string()
    }

    /// The form token for a version and a client: another site cannot make a browser post
    /// the form, because it cannot read the page to learn the token.
    fn form_token(&self, purpose: &str, id: i64, client: IpAddr) -> String {
        let tag = hmac::sign(
            &self.form_key,
            format!("{purpose}\0{id}\0{client}").as_bytes(),
        );
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    fn token_checks(&self, purpose: &str, id: i64, client: IpAddr, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        hmac::verify(
            &self.form_key,
            format!("{purpose}\0{id}\0{client}").as_bytes(),
            &tag,
        )
        .is_ok()
    }

    /// Whether a request's `Host` is the portal's own (no `Host`: a test or a bare client).
    fn is_portal_host(&self, host: Option<&str>) -> bool {
        match host {
            None => true,
            Some(host) => {
                let host = strip_port(host).to_ascii_lowercase();
                host == self.public_host || host == "localhost" || host == "127.0.0.1"
            }
        }
    }

    /// `<public_url>?then=<url>`.
    fn portal_with_then(&self, then: &str) -> String {
        portal_link(&self.public_url, then)
    }

    /// The renewal rule the school set, or the default when what is stored does not make one.
    async fn renewal(&self, school: SchoolId) -> Result<Renewal, Response> {
        let settings = self
            .store
            .agreement_settings(school)
            .await
            .map_err(|e| trouble("reading the renewal settings", e))?;
        Ok(crate::agreements::renewal_of(&settings))
    }
}

/// Serves the portal (plain HTTP) on `listener` until `stopped` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    portal: Arc<Portal>,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        portal
            .router()
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopped)
    .await
}

async fn portal_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // No scripts at all; pictures are inline SVG. No form-action: after accepting, the browser
    // is sent on to the page it first asked for, on another site.
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A browser the filter sent here asked for another site (or an operating system probed for
/// a captive portal): send it to the portal, remembering where it wanted to go.
async fn other_hosts(State(portal): State<Arc<Portal>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    if portal.is_portal_host(host.as_deref()) {
        return next.run(request).await;
    }
    let host = host.unwrap_or_default();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let wanted = format!("http://{host}{path}");
    let target = match safe_then(&wanted, &portal.public_host) {
        Some(then) => portal.portal_with_then(&then),
        None => portal.public_url.clone(),
    };
    found(&target)
}

/// The portal's own pages, by method and path (the parent's link has its own route).
async fn dispatch(State(portal): State<Arc<Portal>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    match (method, path.as_str()) {
        (Method::GET | Method::HEAD, "/") => home(&portal, request).await,
        (Method::POST, "/accept") => accept(&portal, request).await,
        (Method::POST, "/visitor") => visitor(&portal, request).await,
        (Method::GET | Method::HEAD, "/done") => {
            let then = query_then(&request, &portal.public_host);
            let who = who_is_here(&portal, &request);
            page(
                StatusCode::OK,
                &DonePage {
                    school_name: who
                        .as_ref()
                        .map(|v| v.school_name.clone())
                        .unwrap_or_default(),
                    pupil: who.as_ref().is_some_and(|v| v.audience.is_pupil()),
                    then,
                },
            )
        }
        // Anything else on the portal's own host: its front page, where the person is told
        // what to do.
        _ => found(&portal.public_url),
    }
}

fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => (
            StatusCode::FOUND,
            [(header::LOCATION, HeaderValue::from_static("/"))],
        )
            .into_response(),
    }
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, HeaderValue::from_static("/done"))],
        )
            .into_response(),
    }
}

/// The host of an `http(s)://` URL, lowercase, without port or user information.
fn url_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let host = strip_port(authority);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `host:port` → `host`; `[v6]:port` → `v6`.
fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// `then` when it is somewhere a browser may safely be sent on to: an `http` or `https` URL
/// with a host, of a sensible length, not the portal itself (which would go round in circles).
fn safe_then(then: &str, portal_host: &str) -> Option<String> {
    let then = then.trim();
    if then.is_empty()
        || then.len() > MAX_THEN
        || then.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return None;
    }
    let lower = then.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return None;
    }
    let host = url_host(&lower)?;
    if host == portal_host || host.contains(['\\', '<', '>', '"']) {
        return None;
    }
    Some(then.to_string())
}

/// The safe `then` of a request's query string, if any.
fn query_then(request: &Request, portal_host: &str) -> Option<String> {
    let query = request.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "then")
        .and_then(|(_, v)| safe_then(&v, portal_host))
}

fn peer_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// Who the gateway says is at the portal.
fn who_is_here(portal: &Portal, request: &Request) -> Option<PortalVisitor> {
    let peer = peer_of(request)?;
    let vouched = request
        .headers()
        .get(VOUCH_HEADER)
        .and_then(|v| v.to_str().ok());
    portal.gate.who(peer, vouched)
}

/// Renders a page; a template that fails to render is the portal's fault, said plainly.
fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => trouble("showing the page", e),
    }
}

/// Something went wrong on the school's side: logged in full, told plainly.
fn trouble(doing: &str, error: impl std::fmt::Display) -> Response {
    tracing::error!("portal: {doing}: {error}");
    page_or_text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong at school",
        "The portal could not finish this just now. Wait a minute and try again; if it keeps happening, tell a member of staff.",
    )
}

fn page_or_text(status: StatusCode, title: &str, message: &str) -> Response {
    let notice = NoticePage {
        school_name: String::new(),
        title: title.to_string(),
        message: message.to_string(),
    };
    match notice.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, message.to_string()).into_response(),
    }
}

/// Reads a url-encoded form (at most 64 KiB).
async fn read_form(request: Request) -> Result<Vec<(String, String)>, Response> {
    let bytes = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .map_err(|_| {
            page_or_text(
                StatusCode::BAD_REQUEST,
                "The form could not be read",
                "The form was cut short or too large. Go back, reload the page and try again.",
            )
        })?;
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

/// A typed name: 1..=100 characters, no control characters.
fn check_name(name: &str, whose: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        Err(format!("Type {whose} name in the box."))
    } else if name.chars().count() > 100 {
        Err("The name is longer than 100 characters; shorten it.".to_string())
    } else if name.chars().any(char::is_control) {
        Err("The name contains characters that cannot be kept; type it again.".to_string())
    } else {
        Ok(name.to_string())
    }
}

/// The first word of a name: all a parent's page shows of the child.
fn first_name(display_name: &str) -> String {
    display_name
        .split_whitespace()
        .next()
        .unwrap_or("your child")
        .to_string()
}

/// What the home page shows.
enum HomeForm {
    /// A user or device accepting their own agreement.
    Own,
    /// A guest with a day code.
    Guest { code: String, name: String },
}

async fn home(portal: &Arc<Portal>, request: Request) -> Response {
    let then = query_then(&request, &portal.public_host);
    let Some(visitor) = who_is_here(portal, &request) else {
        return page_or_text(
            StatusCode::OK,
            "This is the school's internet portal",
            "The portal cannot tell which school network you are on. Connect to the school's Wi-Fi or network and open this page again.",
        );
    };
    let form = match visitor.person {
        PortalPerson::Guest => HomeForm::Guest {
            code: String::new(),
            name: String::new(),
        },
        _ => HomeForm::Own,
    };
    home_page(portal, &visitor, form, then, None).await
}

/// The front page: the agreement, whether it is already accepted, and the form.
async fn home_page(
    portal: &Arc<Portal>,
    visitor: &PortalVisitor,
    form: HomeForm,
    then: Option<String>,
    problem: Option<String>,
) -> Response {
    let audience = match form {
        HomeForm::Guest { .. } => Audience::Visitors,
        HomeForm::Own => visitor.audience,
    };
    let version = match portal
        .store
        .current_agreement(visitor.school, audience.key())
        .await
    {
        Ok(Some(v)) => v,
        Ok(None) => {
            return page_or_text(
                StatusCode::OK,
                "No agreement yet",
                "The school has not published an agreement for you yet. Ask a member of staff.",
            );
        }
        Err(e) => return trouble("reading the agreement", e),
    };
    let mut standing_sentence = None;
    let mut accepted = false;
    if let Some((kind, subject)) = subject_of(&visitor.person) {
        let renewal = match portal.renewal(visitor.school).await {
            Ok(r) => r,
            Err(response) => return response,
        };
        let acceptances = match portal
            .store
            .acceptances_for(visitor.school, kind, &subject)
            .await
        {
            Ok(list) => list,
            Err(e) => return trouble("reading earlier acceptances", e),
        };
        let latest = acceptances
            .iter()
            .find(|a| a.audience == audience.key() && a.method.opens_gate());
        let accepted_on =
            latest.map(|a| a.accepted_at.to_zoned_datetime(portal.zone.clone()).date());
        let of_current = latest.is_some_and(|a| a.version_id == version.id);
        let standing = renewal.standing(accepted_on, of_current, portal.today());
        accepted = standing.lets_in();
        standing_sentence = Some(match standing {
            Standing::NotAccepted => None,
            Standing::OldVersion => Some(
                "The school has changed this agreement since you last agreed. Please read it and agree again."
                    .to_string(),
            ),
            Standing::Expired { expired_on } => Some(format!(
                "Your last agreement ended on {}. Please read it and agree again for this year.",
                portal.long_date(expired_on)
            )),
            Standing::ExpiringSoon { expires_on } => Some(format!(
                "You have agreed. Your agreement ends on {}; you can agree again now for next year.",
                portal.long_date(expires_on)
            )),
            Standing::Current { expires_on } => Some(format!(
                "You have agreed. Your agreement lasts until {}.",
                portal.long_date(expires_on)
            )),
        })
        .flatten();
    }
    let (guest, code, name) = match form {
        HomeForm::Guest { code, name } => (true, code, name),
        HomeForm::Own => (false, String::new(), String::new()),
    };
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let purpose = if guest { "visitor" } else { "accept" };
    page(
        status,
        &HomePage {
            school_name: visitor.school_name.clone(),
            pupil: audience.is_pupil(),
            who: describe(&visitor.person),
            group_name: visitor.group_name.clone(),
            guest,
            title: version.title.clone(),
            body_html: render_body(&version.body),
            version_number: version.version,
            version_id: version.id,
            monitoring: monitoring_notice(audience).to_string(),
            standing: standing_sentence,
            accepted,
            token: portal.form_token(purpose, version.id, visitor.client),
            then,
            problem,
            code,
            name,
            online_safety_lead: visitor.online_safety_lead.clone(),
        },
    )
}

fn subject_of(person: &PortalPerson) -> Option<(SubjectKind, String)> {
    match person {
        PortalPerson::User { username, .. } => Some((SubjectKind::User, username.clone())),
        PortalPerson::Device { name } => Some((SubjectKind::Device, name.clone())),
        PortalPerson::Guest => None,
    }
}

fn describe(person: &PortalPerson) -> Option<String> {
    match person {
        PortalPerson::User { display_name, .. } => Some(display_name.clone()),
        PortalPerson::Device { name } => Some(format!("the device {name}")),
        PortalPerson::Guest => None,
    }
}

/// Where to go after accepting: the page first asked for, or the "you can go on" page.
fn onward(portal: &Portal, then: Option<String>) -> Response {
    match then {
        Some(then) => see_other(&then),
        None => see_other(&format!("{}done", portal.public_url)),
    }
}

async fn accept(portal: &Arc<Portal>, request: Request) -> Response {
    let Some(visitor) = who_is_here(portal, &request) else {
        return found(&portal.public_url);
    };
    let fields = match read_form(request).await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let then = safe_then(field(&fields, "then"), &portal.public_host);
    let Some((kind, subject)) = subject_of(&visitor.person) else {
        // A guest's form is the visitor form; show it.
        let form = HomeForm::Guest {
            code: String::new(),
            name: String::new(),
        };
        return home_page(portal, &visitor, form, then, None).await;
    };
    let version_id: i64 = field(&fields, "version").parse().unwrap_or(-1);
    let current = match portal
        .store
        .current_agreement(visitor.school, visitor.audience.key())
        .await
    {
        Ok(c) => c,
        Err(e) => return trouble("reading the agreement", e),
    };
    let problem = match &current {
        None => Some("The school has not published an agreement for you yet.".to_string()),
        Some(v) if v.id != version_id => Some(
            "The agreement changed while you were reading it. Please read this version and agree again."
                .to_string(),
        ),
        Some(v) if !portal.token_checks("accept", v.id, visitor.client, field(&fields, "token")) => {
            Some("This form has expired. Please read the agreement and press the button again.".to_string())
        }
        Some(_) if field(&fields, "agree") != "yes" => Some(
            "Tick the box to say you have read the agreement and agree, then press the button."
                .to_string(),
        ),
        Some(_) => None,
    };
    let Some(version) = current.filter(|_| problem.is_none()) else {
        return home_page(portal, &visitor, HomeForm::Own, then, problem).await;
    };
    let signed_by = match &visitor.person {
        PortalPerson::User { display_name, .. } => display_name.clone(),
        _ => subject.clone(),
    };
    let acceptance = NewAcceptance {
        school: visitor.school,
        version_id: version.id,
        subject_kind: kind,
        subject,
        signed_by,
        relationship: "self".to_string(),
        method: AcceptanceMethod::Portal,
        recorded_by: None,
        client_addr: Some(visitor.client),
        accepted_at: Timestamp::now(),
    };
    if let Err(e) = portal.store.record_acceptance(&acceptance).await {
        return trouble("recording the acceptance", e);
    }
    portal.gate.refresh().await;
    onward(portal, then)
}

async fn visitor(portal: &Arc<Portal>, request: Request) -> Response {
    let Some(visitor) = who_is_here(portal, &request) else {
        return found(&portal.public_url);
    };
    let fields = match read_form(request).await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let then = safe_then(field(&fields, "then"), &portal.public_host);
    let typed_code: String = field(&fields, "code").chars().take(64).collect();
    let typed_name: String = field(&fields, "name").chars().take(100).collect();
    let again = |problem: String| {
        let form = HomeForm::Guest {
            code: typed_code.clone(),
            name: typed_name.clone(),
        };
        home_page(portal, &visitor, form, then.clone(), Some(problem))
    };
    let version_id: i64 = field(&fields, "version").parse().unwrap_or(-1);
    let current = match portal
        .store
        .current_agreement(visitor.school, Audience::Visitors.key())
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => {
            return again(
                "The school has not published a visitor agreement yet. Ask at reception.".into(),
            )
            .await;
        }
        Err(e) => return trouble("reading the agreement", e),
    };
    if current.id != version_id {
        return again(
            "The agreement changed while you were reading it. Please read this version and agree again."
                .into(),
        )
        .await;
    }
    if !portal.token_checks(
        "visitor",
        current.id,
        visitor.client,
        field(&fields, "token"),
    ) {
        return again(
            "This form has expired. Please check your details and press the button again.".into(),
        )
        .await;
    }
    let Some(code) = normalise_day_code(&typed_code) else {
        return again(if typed_code.is_empty() {
            "Type the day code reception gave you, for example K7QP-M3XR.".to_string()
        } else {
            "That does not look like a day code. It has eight letters and numbers, for example K7QP-M3XR; check it and type it again.".to_string()
        })
        .await;
    };
    let name = match check_name(&typed_name, "your") {
        Ok(n) => n,
        Err(problem) => return again(problem).await,
    };
    if field(&fields, "agree") != "yes" {
        return again(
            "Tick the box to say you have read the agreement and agree, then press the button."
                .into(),
        )
        .await;
    }
    let issued = match portal
        .store
        .visitor_code_by_hash(visitor.school, &sha256_hex(code.as_bytes()))
        .await
    {
        Ok(Some(issued)) => issued,
        Ok(None) => {
            return again(
                "That code is not one the school has issued. Check it with reception.".into(),
            )
            .await;
        }
        Err(e) => return trouble("checking the day code", e),
    };
    let today = portal.today();
    if issued.day != today {
        return again(format!(
            "That code was for {}, not today. Ask reception for a code for today.",
            portal.long_date(issued.day)
        ))
        .await;
    }
    let now = Timestamp::now();
    let until = match today.tomorrow().ok().and_then(|d| {
        d.to_datetime(jiff::civil::Time::midnight())
            .to_zoned_datetime(portal.zone.clone())
            .ok()
    }) {
        Some(midnight) => midnight.timestamp(),
        None => return trouble("working out the end of today", "date out of range"),
    };
    match portal
        .store
        .admit_visitor(visitor.school, issued.id, visitor.client, until, now)
        .await
    {
        Ok(()) => {}
        Err(StoreError::InvalidInput { .. }) => {
            return again(
                "This code has already been used on three devices, the most one code allows. Ask reception for another code."
                    .into(),
            )
            .await;
        }
        Err(e) => return trouble("admitting the device", e),
    }
    let acceptance = NewAcceptance {
        school: visitor.school,
        version_id: current.id,
        subject_kind: SubjectKind::Visitor,
        subject: issued.visitor_name.clone(),
        signed_by: name,
        relationship: "self".to_string(),
        method: AcceptanceMethod::Portal,
        recorded_by: None,
        client_addr: Some(visitor.client),
        accepted_at: now,
    };
    if let Err(e) = portal.store.record_acceptance(&acceptance).await {
        return trouble("recording the acceptance", e);
    }
    portal.gate.refresh().await;
    onward(portal, then)
}

/// The one answer for a parent's link that does not work, whatever the reason, so links
/// cannot be probed.
fn dead_link() -> Response {
    page_or_text(
        StatusCode::NOT_FOUND,
        "This link does not work",
        "This link has expired or has been replaced by a newer letter. Please ask the school office for a new letter.",
    )
}

/// What a parent's link leads to.
struct ParentContext {
    link: ParentLink,
    school_name: String,
    child_first_name: String,
    class_name: Option<String>,
    child_audience: Audience,
}

async fn parent_context(portal: &Portal, token: &str) -> Result<ParentContext, Response> {
    if !looks_like_token(token) {
        return Err(dead_link());
    }
    let link = match portal
        .store
        .parent_link(&sha256_hex(token.as_bytes()), Timestamp::now())
        .await
    {
        Ok(Some(link)) => link,
        Ok(None) => return Err(dead_link()),
        Err(e) => return Err(trouble("reading the link", e)),
    };
    let child = match portal.store.person(link.school, &link.child).await {
        Ok(Some(child)) if !child.disabled => child,
        Ok(_) => return Err(dead_link()),
        Err(e) => return Err(trouble("reading the link", e)),
    };
    let school = match portal.store.schools().await {
        Ok(schools) => schools.into_iter().find(|s| s.id == link.school),
        Err(e) => return Err(trouble("reading the school", e)),
    };
    let Some(school) = school else {
        return Err(dead_link());
    };
    Ok(ParentContext {
        child_audience: portal.gate.audience_of(&school.slug, &child.group_key),
        school_name: school.name,
        child_first_name: first_name(&child.display_name),
        class_name: child.class_name,
        link,
    })
}

/// What a parent typed, kept when the form comes back with a problem.
#[derive(Default)]
struct ParentTyped {
    parent_name: String,
    cosign: bool,
    parents_agree: bool,
    /// use key → "given" | "refused" | "" (leave as it is).
    consent: BTreeMap<String, String>,
}

async fn parent_page(State(portal): State<Arc<Portal>>, Path(token): Path<String>) -> Response {
    let context = match parent_context(&portal, &token).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    show_parent(
        &portal,
        &token,
        &context,
        ParentTyped::default(),
        None,
        None,
    )
    .await
}

async fn show_parent(
    portal: &Portal,
    token: &str,
    context: &ParentContext,
    typed: ParentTyped,
    problem: Option<String>,
    saved: Option<String>,
) -> Response {
    let school = context.link.school;
    let child_version = match portal
        .store
        .current_agreement(school, context.child_audience.key())
        .await
    {
        Ok(v) => v,
        Err(e) => return trouble("reading the agreement", e),
    };
    let parents_version = match portal
        .store
        .current_agreement(school, Audience::Parents.key())
        .await
    {
        Ok(v) => v,
        Err(e) => return trouble("reading the agreement", e),
    };
    let stored = match portal
        .store
        .image_consent_for(school, &context.link.child)
        .await
    {
        Ok(s) => s,
        Err(e) => return trouble("reading image consent", e),
    };
    let earlier = match portal
        .store
        .acceptances_for(school, SubjectKind::User, &context.link.child)
        .await
    {
        Ok(list) => list,
        Err(e) => return trouble("reading earlier co-signatures", e),
    };
    let signed_on = |version: &Option<AgreementVersion>| {
        let version = version.as_ref()?;
        earlier
            .iter()
            .find(|a| a.method == AcceptanceMethod::ParentLink && a.version_id == version.id)
            .map(|a| {
                format!(
                    "Signed by {} on {}.",
                    a.signed_by,
                    portal.long_date(a.accepted_at.to_zoned_datetime(portal.zone.clone()).date())
                )
            })
    };
    let uses = ImageUse::ALL
        .iter()
        .map(|image_use| {
            let key = image_use.key();
            let now = stored.get(key).map(|entry| entry.state.clone());
            let chosen = typed
                .consent
                .get(key)
                .cloned()
                .filter(|c| !c.is_empty())
                .or_else(|| now.clone())
                .unwrap_or_default();
            ConsentLine {
                key: key.to_string(),
                label: image_use.label().to_string(),
                now: match now.as_deref().and_then(Consent::parse) {
                    Some(consent) => consent.label().to_string(),
                    None => "Not yet asked".to_string(),
                },
                chosen,
            }
        })
        .collect();
    let link_id = context.link.id;
    page(
        if problem.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &ParentPage {
            school_name: context.school_name.clone(),
            child: context.child_first_name.clone(),
            class_name: context.class_name.clone(),
            child_cosigned: signed_on(&child_version),
            parents_signed: signed_on(&parents_version),
            child_version_id: child_version.as_ref().map(|v| v.id).unwrap_or(0),
            child_title: child_version.as_ref().map(|v| v.title.clone()),
            child_body: child_version
                .as_ref()
                .map(|v| render_body(&v.body))
                .unwrap_or_default(),
            parents_version_id: parents_version.as_ref().map(|v| v.id).unwrap_or(0),
            parents_title: parents_version.as_ref().map(|v| v.title.clone()),
            parents_body: parents_version
                .as_ref()
                .map(|v| render_body(&v.body))
                .unwrap_or_default(),
            uses,
            action: format!("/parent/{token}"),
            form_token: URL_SAFE_NO_PAD.encode(
                hmac::sign(&portal.form_key, format!("parent\0{link_id}").as_bytes()).as_ref(),
            ),
            parent_name: typed.parent_name,
            cosign: typed.cosign,
            parents_agree: typed.parents_agree,
            problem,
            saved,
        },
    )
}

async fn parent_submit(
    State(portal): State<Arc<Portal>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let context = match parent_context(&portal, &token).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let fields = match read_form(request).await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let mut typed = ParentTyped {
        parent_name: field(&fields, "parent_name").chars().take(100).collect(),
        cosign: field(&fields, "cosign") == "yes",
        parents_agree: field(&fields, "parents_agree") == "yes",
        consent: BTreeMap::new(),
    };
    let mut problems = Vec::new();
    let mut changes = Vec::new();
    for image_use in ImageUse::ALL {
        let value = field(&fields, &format!("consent-{}", image_use.key()));
        match value {
            "" => {}
            other => match Consent::parse(other) {
                Some(consent) => {
                    typed
                        .consent
                        .insert(image_use.key().to_string(), consent.key().to_string());
                    changes.push((image_use, consent));
                }
                None => problems.push(format!("Choose yes or no for \"{}\".", image_use.label())),
            },
        }
    }
    let link_id = context.link.id;
    let token_ok = URL_SAFE_NO_PAD
        .decode(field(&fields, "form_token"))
        .ok()
        .is_some_and(|tag| {
            hmac::verify(
                &portal.form_key,
                format!("parent\0{link_id}").as_bytes(),
                &tag,
            )
            .is_ok()
        });
    if !token_ok {
        problems
            .push("This form has expired. Check your answers and press the button again.".into());
    }
    let parent_name = match check_name(&typed.parent_name, "your") {
        Ok(n) => Some(n),
        Err(p) => {
            problems.push(p);
            None
        }
    };
    if !typed.cosign && !typed.parents_agree && changes.is_empty() {
        problems.push(
            "Nothing was chosen. Tick a box or answer a consent question, then press the button."
                .into(),
        );
    }
    let school = context.link.school;
    let current = |audience: Audience| {
        let store = &portal.store;
        async move { store.current_agreement(school, audience.key()).await }
    };
    let child_version = match current(context.child_audience).await {
        Ok(v) => v,
        Err(e) => return trouble("reading the agreement", e),
    };
    let parents_version = match current(Audience::Parents).await {
        Ok(v) => v,
        Err(e) => return trouble("reading the agreement", e),
    };
    let stale = |version: &Option<AgreementVersion>, field_name: &str| {
        let sent: i64 = field(&fields, field_name).parse().unwrap_or(-1);
        version.as_ref().map(|v| v.id) != Some(sent)
    };
    if (typed.cosign && stale(&child_version, "child_version"))
        || (typed.parents_agree && stale(&parents_version, "parents_version"))
    {
        problems.push(
            "An agreement changed while you were reading it. Please read the new version and tick again."
                .into(),
        );
    }
    let Some(parent_name) = parent_name.filter(|_| problems.is_empty()) else {
        return show_parent(
            &portal,
            &token,
            &context,
            typed,
            Some(problems.join(" ")),
            None,
        )
        .await;
    };
    let now = Timestamp::now();
    let mut done = Vec::new();
    for (wanted, version, what) in [
        (
            typed.cosign,
            &child_version,
            "co-signed your child's agreement",
        ),
        (
            typed.parents_agree,
            &parents_version,
            "agreed to the parents' agreement",
        ),
    ] {
        let Some(version) = version.as_ref().filter(|_| wanted) else {
            continue;
        };
        let acceptance = NewAcceptance {
            school,
            version_id: version.id,
            subject_kind: SubjectKind::User,
            subject: context.link.child.clone(),
            signed_by: parent_name.clone(),
            relationship: "parent-carer".to_string(),
            method: AcceptanceMethod::ParentLink,
            recorded_by: None,
            client_addr: None,
            accepted_at: now,
        };
        if let Err(e) = portal.store.record_acceptance(&acceptance).await {
            return trouble("recording the signature", e);
        }
        done.push(what.to_string());
    }
    let by = format!("parent: {parent_name}");
    let mut consent_changed = 0;
    for (image_use, consent) in changes {
        match portal
            .store
            .set_image_consent(
                school,
                &context.link.child,
                image_use.key(),
                consent.key(),
                &by,
                "parent-link",
                "",
                now,
            )
            .await
        {
            Ok(true) => consent_changed += 1,
            Ok(false) => {}
            Err(e) => return trouble("recording image consent", e),
        }
    }
    if consent_changed > 0 {
        done.push(format!(
            "changed {consent_changed} image consent answer{}",
            if consent_changed == 1 { "" } else { "s" }
        ));
    }
    if let Err(e) = portal.store.mark_parent_link_used(link_id, now).await {
        tracing::warn!("portal: marking a parent link used: {e}");
    }
    let saved = if done.is_empty() {
        "Thank you. Nothing needed changing: your answers were already recorded.".to_string()
    } else {
        format!("Thank you, {parent_name}. You have {}.", done.join(" and "))
    };
    let kept = ParentTyped {
        parent_name,
        ..ParentTyped::default()
    };
    show_parent(&portal, &token, &context, kept, None, Some(saved)).await
}

#[derive(Template)]
#[template(path = "portal_home.html")]
struct HomePage {
    school_name: String,
    pupil: bool,
    who: Option<String>,
    group_name: String,
    guest: bool,
    title: String,
    body_html: String,
    version_number: i32,
    version_id: i64,
    monitoring: String,
    standing: Option<String>,
    accepted: bool,
    token: String,
    then: Option<String>,
    problem: Option<String>,
    code: String,
    name: String,
    online_safety_lead: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_done.html")]
struct DonePage {
    school_name: String,
    pupil: bool,
    then: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_notice.html")]
struct NoticePage {
    school_name: String,
    title: String,
    message: String,
}

struct ConsentLine {
    key: String,
    label: String,
    /// What is recorded now, as words.
    now: String,
    /// The radio to show checked: "given", "refused" or "".
    chosen: String,
}

#[derive(Template)]
#[template(path = "portal_parent.html")]
struct ParentPage {
    school_name: String,
    child: String,
    class_name: Option<String>,
    child_cosigned: Option<String>,
    parents_signed: Option<String>,
    child_version_id: i64,
    child_title: Option<String>,
    child_body: String,
    parents_version_id: i64,
    parents_title: Option<String>,
    parents_body: String,
    uses: Vec<ConsentLine>,
    action: String,
    form_token: String,
    parent_name: String,
    cosign: bool,
    parents_agree: bool,
    problem: Option<String>,
    saved: Option<String>,
}
