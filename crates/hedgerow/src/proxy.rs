//! The web filter's policy: the gateway's answers to the proxy's questions.
//!
//! The proxy server (`hedgerow-proxy`) knows nothing of schools. This adapter identifies each
//! client (Proxy-Authorization checked against the store's users, or the device's address),
//! decides each request with the current snapshot's engine, adds what only a proxy can do
//! (safe-search parameters, the YouTube-Restrict header, search terms, file types, download
//! limits, selective inspection), renders block pages, serves the PAC file and the review
//! form, and turns every exchange into an activity event.
//!
//! A client held at the access portal (`agreement_gate.rs`) is sent there: plain HTTP with a
//! `302` to the portal (`?then=` the page it asked for), requests inside an inspected tunnel
//! with a `511` page linking to it, and tunnels that are not inspected with a `511` that names
//! it. Illegal-content blocks come first all the same. Requests for the portal itself are
//! always let through, carrying the gate's signed note of who is asking.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hedgerow_config::ProxySettings;
use hedgerow_lists::{Target, normalize_host};
use hedgerow_policy::{GroupKind, InspectScope, Request, Rule, SearchRule, YoutubeRestrict};
use hedgerow_proxy::{
    ConnectDecision, ConnectInfo, LocalRequest, LocalResponse, ProxyHooks, RequestDecision,
    RequestInfo, ResponseDecision, Summary, TunnelDecision, TunnelInfo, TunnelStart,
    UpstreamFailure,
};
use hedgerow_proxy_wire::{Headers, Host as WireHost, ResponseHead};
use hedgerow_store::{ActivityEvent, EventSink, EventSource, SchoolId, Store, Verdict};
use hedgerow_tls::LeafCertificates;
use hedgerow_webrules::{FileClass, SafeSearchOutcome};
use tracing::{info, warn};

use crate::agreement_gate::{AgreementGate, HELD_RULE, PORTAL_RULE, VOUCH_HEADER};
use crate::auth::{AuthOutcome, ProxyAuthenticator};
use crate::blockpage::{self, BlockPage};
use crate::setup::Snapshot;
use crate::signed_in::SignedIn;

/// Hosts never inspected whatever a group says: government and health services (where a
/// family's private business is none of the school's), and apps known to pin their
/// certificates (inspecting them only breaks them). Each entry covers its subdomains.
pub const NEVER_INSPECTED: &[&str] = &[
    "gov.uk",
    "nhs.uk",
    "nhs.net",
    "police.uk",
    "parliament.uk",
    "gov.scot",
    "gov.wales",
    "childline.org.uk",
    "ceop.police.uk",
    "push.apple.com",
    "icloud.com",
    "mzstatic.com",
    "itunes.apple.com",
    "windowsupdate.com",
    "update.microsoft.com",
    "login.microsoftonline.com",
    "login.live.com",
    "whatsapp.net",
    "signal.org",
    "dropbox.com",
];

/// How long a host whose clients refused the school certificate is left uninspected.
const PINNED_FOR: Duration = Duration::from_secs(24 * 3600);

/// What the gateway's proxy needs besides the snapshot.
pub struct ProxyRuntime {
    pub settings: ProxySettings,
    /// `host:port` clients use to reach the proxy (PAC files, form actions).
    pub public_authority: String,
    /// Ports CONNECT may reach (`None`: any). HTTPS only by default, so the proxy is not a
    /// way to reach mail servers, SSH or the school's own internal services.
    pub connect_ports: Option<Vec<u16>>,
    /// Monitoring is on (`[monitoring] enabled`): page titles are read for it, and page
    /// navigations ask origins for uncompressed HTML so that their titles can be read.
    pub monitoring: bool,
    /// Who is held at the access portal, when any school holds anyone.
    pub gate: Option<Arc<AgreementGate>>,
}

/// The gateway's policy as the proxy server sees it.
pub struct GatewayProxy {
    current: Arc<ArcSwap<Snapshot>>,
    signed_in: Arc<SignedIn>,
    auth: ProxyAuthenticator,
    leaves: Option<LeafCertificates>,
    ca_pem: Option<String>,
    ca_der: Option<Vec<u8>>,
    sink: EventSink,
    store: Store,
    schools: HashMap<String, SchoolId>,
    runtime: ProxyRuntime,
    pinned: Mutex<HashMap<String, Instant>>,
    /// Who the pages name as the online-safety lead (the register, else the configuration).
    contacts: Arc<blockpage::ContactsRegister>,
}

impl GatewayProxy {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        current: Arc<ArcSwap<Snapshot>>,
        signed_in: Arc<SignedIn>,
        auth: ProxyAuthenticator,
        leaves: Option<LeafCertificates>,
        ca: Option<(String, Vec<u8>)>,
        sink: EventSink,
        store: Store,
        schools: HashMap<String, SchoolId>,
        runtime: ProxyRuntime,
    ) -> GatewayProxy {
        let (ca_pem, ca_der) = match ca {
            Some((pem, der)) => (Some(pem), Some(der)),
            None => (None, None),
        };
        let contacts = blockpage::ContactsRegister::new(store.clone(), schools.clone());
        GatewayProxy {
            current,
            signed_in,
            auth,
            leaves,
            ca_pem,
            ca_der,
            sink,
            store,
            schools,
            runtime,
            pinned: Mutex::new(HashMap::new()),
            contacts,
        }
    }

    /// Forgets remembered password checks (after a reload: accounts may have changed).
    pub fn forget_sign_ins(&self) {
        self.auth.forget_sign_ins();
    }

    /// The user a request speaks for: from its credentials, from the tunnel it travels in,
    /// or nobody (the device decides). `Err` is the response that asks for (or refuses) a
    /// sign-in.
    async fn identify(
        &self,
        client: IpAddr,
        headers: &Headers,
        tunnel_identity: Option<&str>,
    ) -> Result<Option<String>, Box<LocalResponse>> {
        if let Some(user) = tunnel_identity {
            return Ok(Some(user.to_string()));
        }
        let credentials = read_basic(headers);
        match credentials {
            Some(Ok((username, password))) => {
                match self.auth.check(client, &username, &password).await {
                    AuthOutcome::Accepted { username, .. } => {
                        let lifetime =
                            Duration::from_secs(self.runtime.settings.sign_in_minutes * 60);
                        self.signed_in.sign_in(client, &username, lifetime);
                        Ok(Some(username))
                    }
                    AuthOutcome::Rejected => Err(Box::new(self.challenge(
                        "The user name or password was not right. Check them and try again.",
                    ))),
                    AuthOutcome::Locked { retry_after_secs } => Err(Box::new(
                        LocalResponse::new(
                            429,
                            "text/html; charset=utf-8",
                            blockpage::error_page(
                                "Too many attempts",
                                "Signing in has failed too many times.",
                                &format!(
                                    "Wait {} minutes, then try again, or ask a member of staff.",
                                    retry_after_secs.div_ceil(60).max(1)
                                ),
                            ),
                        )
                        .with_header("Retry-After", retry_after_secs.to_string()),
                    )),
                    AuthOutcome::Unavailable => Err(Box::new(LocalResponse::new(
                        503,
                        "text/html; charset=utf-8",
                        blockpage::error_page(
                            "Signing in is not available",
                            "The filter cannot check passwords just now.",
                            "Try again in a minute. If it keeps happening, tell the network manager.",
                        ),
                    ))),
                }
            }
            Some(Err(problem)) => Err(Box::new(self.challenge(&format!(
                "The sign-in could not be read ({problem}). Sign in again."
            )))),
            None => {
                let snapshot = self.current.load();
                let device = snapshot.directory.device_for(client).map(|(_, d)| d);
                match device {
                    // A device that says who is using it: no sign-in needed.
                    Some(device) if !device.requires_login => Ok(None),
                    _ => Err(Box::new(self.challenge(
                        "Sign in with your school user name and password to use the internet.",
                    ))),
                }
            }
        }
    }

    fn challenge(&self, sentence: &str) -> LocalResponse {
        let snapshot = self.current.load();
        let school = snapshot
            .directory
            .schools()
            .first()
            .map_or("school", |s| s.name.as_str())
            .replace(['"', '\\'], "");
        LocalResponse::new(
            407,
            "text/html; charset=utf-8",
            blockpage::error_page(
                "Please sign in",
                sentence,
                "Your browser will ask for your user name and password.",
            ),
        )
        .with_header(
            "Proxy-Authenticate",
            format!("Basic realm=\"{school} internet\", charset=\"UTF-8\""),
        )
    }

    /// Decides one request for `user` (or the device) at `client`.
    fn judge(&self, snapshot: &Snapshot, asked: &Asked<'_>) -> Judged {
        let Asked {
            client,
            user,
            method,
            host,
            port,
            path,
            ref url,
        } = *asked;
        let url = url.clone();
        let identity = snapshot.directory.resolve(None, client, user);
        let mut ctx = Ctx {
            at: jiff::Timestamp::now(),
            client,
            school: self.schools.get(&identity.school.slug).copied(),
            school_slug: identity.school.slug.clone(),
            user: identity.user.map(|u| u.username.clone()),
            user_display: identity.user.map(|u| u.display_name.clone()),
            device: identity.device.map(|d| d.name.clone()),
            group: identity.group.to_string(),
            pupil: false,
            method: method.to_string(),
            host: host_text(host),
            url,
            path: path.unwrap_or("/").to_string(),
            verdict: Verdict::Allow,
            category: None,
            rule: String::new(),
            reason: None,
            search_term: None,
            blocked_types: Vec::new(),
            download_limit: None,
            inspect: None,
        };
        if let Some(gate) = &self.runtime.gate
            && gate.is_portal(&ctx.host, port)
        {
            // Held clients must reach the portal to be let go, whatever else is blocked.
            ctx.rule = PORTAL_RULE.into();
            return Judged::allow(ctx);
        }
        let Some(engine) = snapshot.engines.get(&identity.school.slug) else {
            ctx.rule = "proxy:no-school".into();
            return Judged::allow(ctx);
        };
        let Ok(list_host) = normalize_host(&host_text(host)) else {
            ctx.verdict = Verdict::Block;
            ctx.rule = "proxy:bad-host".into();
            ctx.reason = Some("The address names no valid host.".into());
            return Judged::block(ctx, 400);
        };
        // Matched in the lists' spelling; the origin still gets the request as it was sent.
        let target = match path {
            Some(path) => Target::with_path(list_host.clone(), path),
            None => Target::host_only(list_host.clone()),
        };
        let request = Request {
            group: identity.group,
            user: identity.user.map(|u| u.username.as_str()),
            device: identity.device.map(|d| d.name.as_str()),
            target: &target,
            at: ctx.at,
        };
        let decision = engine.decide(&request);
        let group = decision.group();
        ctx.pupil = matches!(group.kind, GroupKind::Pupil | GroupKind::Unidentified);
        ctx.category = decision.category().map(str::to_string);
        ctx.rule = decision.rule_id();
        ctx.blocked_types = group
            .web
            .blocked_file_types
            .iter()
            .filter_map(|k| FileClass::parse(k))
            .collect();
        ctx.download_limit = group.web.download_limit_bytes;
        let host_name = match &list_host {
            hedgerow_lists::Host::Name(n) => n.clone(),
            other => other.to_string(),
        };
        if let Some(path) = path {
            ctx.search_term = hedgerow_webrules::extract_search(&host_name, path).map(|q| q.term);
        }
        // Whether a tunnel to this host would be inspected: for an allowed host, to see inside;
        // for a blocked one, to show the block page instead of a browser's bare error.
        ctx.inspect = Some(self.inspection_scope(snapshot, &group.web.inspect, &list_host));
        let illegal = matches!(decision.rule(), Rule::IllegalList { .. });
        if let Some(gate) = self.runtime.gate.as_deref().filter(|g| g.holds_anyone())
            && !illegal
            && gate
                .held(&identity.school.slug, &identity, client)
                .is_some()
            && !gate.is_exempt_host(&ctx.host)
        {
            ctx.verdict = Verdict::Block;
            ctx.category = None;
            ctx.rule = HELD_RULE.into();
            ctx.reason = Some(
                "Held at the access portal: the acceptable use agreement has not been accepted."
                    .into(),
            );
            let mut judged = Judged::block(ctx, 511);
            judged.held = true;
            return judged;
        }
        if !decision.is_allowed() {
            ctx.verdict = Verdict::Block;
            ctx.reason = Some(decision.reason());
            return Judged::block(ctx, if illegal { 451 } else { 403 });
        }
        let overridden = matches!(decision.rule(), Rule::Override(_));
        let mut judged = Judged::allow(ctx);
        let search = &group.search;
        if let Some(SearchRule::UnsafeEngine) = engine.search_rule(&group.key, &target)
            && !overridden
        {
            judged.ctx.verdict = Verdict::Block;
            judged.ctx.category = Some(hedgerow_policy::safesearch::UNSAFE_SEARCH_CATEGORY.into());
            judged.ctx.rule = format!("group:{}/search:unsafe-engine", group.key);
            judged.ctx.reason = Some(format!(
                "Blocked: this search engine cannot be locked to safe search, so it is blocked for {}.",
                group.name
            ));
            judged.status = Some(403);
            return judged;
        }
        if let Some(path) = path {
            if search.safe_search {
                match hedgerow_webrules::force_safe_search(&host_name, path) {
                    SafeSearchOutcome::Rewritten(new_path) => judged.rewrite = Some(new_path),
                    SafeSearchOutcome::CannotEnforce
                        if judged.ctx.pupil
                            && hedgerow_webrules::is_image_search(&host_name, path) =>
                    {
                        judged.ctx.verdict = Verdict::Block;
                        judged.ctx.category =
                            Some(hedgerow_policy::safesearch::UNSAFE_SEARCH_CATEGORY.into());
                        judged.ctx.rule =
                            format!("group:{}/search:image-search-unlocked", group.key);
                        judged.ctx.reason = Some(
                            "Blocked: image search here cannot be locked to safe search.".into(),
                        );
                        judged.status = Some(403);
                        return judged;
                    }
                    _ => {}
                }
            }
            if hedgerow_webrules::is_youtube_host(&host_name) {
                let value = match search.youtube {
                    YoutubeRestrict::Strict => Some("Strict"),
                    YoutubeRestrict::Moderate => Some("Moderate"),
                    YoutubeRestrict::Off => None,
                };
                if let Some(value) = value {
                    judged.set_headers.push((
                        hedgerow_webrules::YOUTUBE_RESTRICT_HEADER.to_string(),
                        value.to_string(),
                    ));
                }
            }
        }
        judged
    }

    /// Whether a tunnel to `host` would be inspected for a group with `scope`.
    fn inspection_scope(
        &self,
        snapshot: &Snapshot,
        scope: &InspectScope,
        host: &hedgerow_lists::Host,
    ) -> bool {
        if matches!(scope, InspectScope::Nothing) || self.leaves.is_none() {
            return false;
        }
        let name = host.as_text();
        if NEVER_INSPECTED.iter().any(|n| covers(n, &name))
            || self.runtime.settings.never_inspects_host(&name)
        {
            return false;
        }
        if let Ok(pinned) = self.pinned.lock()
            && pinned
                .get(name.as_ref())
                .is_some_and(|t| t.elapsed() < PINNED_FOR)
        {
            return false;
        }
        let mut matches = Vec::new();
        snapshot
            .index
            .lookup(&Target::host_only(host.clone()), &mut matches);
        let mut categories: Vec<&str> = matches
            .iter()
            .filter_map(|m| snapshot.index.list(m.list))
            .map(|l| l.category.as_str())
            .collect();
        if categories.is_empty() {
            categories.push("uncategorised");
        }
        if self.runtime.settings.never_inspects_categories(&categories) {
            return false;
        }
        scope.covers(&categories)
    }

    /// Whether an exchange's page title is worth reading: monitoring is on and the exchange
    /// is logged (it belongs to a school).
    fn wants_title(&self, ctx: &Ctx) -> bool {
        self.runtime.monitoring && ctx.school.is_some()
    }

    fn block_response(&self, ctx: &Ctx, status: u16) -> LocalResponse {
        let snapshot = self.current.load();
        // Borrowed from the snapshot: a block page needs three fields, not a copy of the policy.
        let school = snapshot.engines.get(&ctx.school_slug).map(|e| e.spec());
        let lead = self.contacts.online_safety(&ctx.school_slug, school);
        let category_name = ctx
            .category
            .as_deref()
            .map(|k| hedgerow_lists::category(k).map_or(k.to_string(), |c| c.name.to_string()));
        let page = BlockPage {
            url: ctx.url.clone().unwrap_or_else(|| ctx.host.clone()),
            host: ctx.host.clone(),
            category_name,
            rule_sentence: ctx
                .reason
                .clone()
                .unwrap_or_else(|| "This page is blocked by the school's filter.".into()),
            rule_id: ctx.rule.clone(),
            user: ctx.user_display.clone().or_else(|| ctx.user.clone()),
            device: ctx.device.clone(),
            client_addr: ctx.client.to_string(),
            at: local_time(ctx.at),
            school_name: school.map_or_else(|| "School".to_string(), |s| s.school_name.clone()),
            online_safety_lead: lead.lead,
            online_safety_contact: lead.contact,
            review_action: format!("http://{}/hedgerow/review", self.runtime.public_authority),
            earlier_request: self.contacts.earlier_request(
                &ctx.school_slug,
                &blockpage::Asker {
                    user: ctx.user.as_deref(),
                    device: ctx.device.as_deref(),
                    addr: ctx.client,
                },
                &ctx.host,
                &jiff::tz::TimeZone::get("Europe/London").unwrap_or(jiff::tz::TimeZone::UTC),
            ),
            pupil: ctx.pupil,
            status,
        };
        LocalResponse::new(status, "text/html; charset=utf-8", page.render())
            .with_header("Cache-Control", "no-store")
            .with_header("X-Hedgerow-Rule", ascii_header(&ctx.rule))
    }

    fn record(&self, ctx: &Ctx, summary: &Summary) {
        let Some(school) = ctx.school else {
            return;
        };
        let event = ActivityEvent {
            school,
            at: ctx.at,
            source: EventSource::Proxy,
            client_ip: ctx.client,
            user: ctx.user.clone(),
            device: ctx.device.clone(),
            group: Some(ctx.group.clone()),
            host: ctx.host.clone(),
            url: ctx.url.clone(),
            method: Some(ctx.method.clone()),
            qtype: None,
            category: ctx.category.clone(),
            verdict: ctx.verdict,
            rule: ctx.rule.clone(),
            reason: match (&summary.error, &ctx.reason) {
                (Some(error), Some(reason)) => Some(format!("{reason} ({error})")),
                (Some(error), None) => Some(error.clone()),
                (None, reason) => reason.clone(),
            },
            search_term: ctx.search_term.clone(),
            status: Some(summary.status),
            bytes: Some(summary.bytes_down + summary.bytes_up),
            duration_us: Some(u32::try_from(summary.duration.as_micros()).unwrap_or(u32::MAX)),
            page_title: summary.page_title.clone(),
        };
        if self.sink.record(event).is_err() {
            metrics::counter!("hedgerow_proxy_events_dropped_total").increment(1);
        }
    }

    fn pac_file(&self) -> String {
        let public = &self.runtime.public_authority;
        let public_host = public
            .rsplit_once(':')
            .map_or(public.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        format!(
            "// Proxy settings for the school network, from Hedgerow.\n\
             // Everything goes through the school's filter; there is deliberately no DIRECT\n\
             // fallback, which would let a browser skip filtering when the proxy is busy.\n\
             function FindProxyForURL(url, host) {{\n\
             \x20 if (isPlainHostName(host) || host == \"localhost\" || shExpMatch(host, \"127.*\") || host == \"{public_host}\")\n\
             \x20   return \"DIRECT\";\n\
             \x20 return \"PROXY {public}\";\n\
             }}\n"
        )
    }

    /// The "report a site" form, for a page that is allowed but should not be (a link on
    /// the block page and in the school's own pages: `/hedgerow/report?url=...`).
    fn report_form(&self, request: &LocalRequest<'_>) -> LocalResponse {
        let url = request
            .path_and_query
            .split_once('?')
            .and_then(|(_, query)| hedgerow_webrules::url::query_values(query, "url").next());
        let client = request.client.addr.ip();
        let snapshot = self.current.load();
        let user = self.signed_in.user_at(client);
        let identity = snapshot.directory.resolve(None, client, user.as_deref());
        let engine = snapshot.engines.get(&identity.school.slug);
        let spec = engine.map(|e| e.spec());
        let pupil = engine.is_none_or(|e| {
            matches!(
                e.group(identity.group).kind,
                GroupKind::Pupil | GroupKind::Unidentified
            )
        });
        let action = format!("http://{}/hedgerow/review", self.runtime.public_authority);
        let lead = self.contacts.online_safety(&identity.school.slug, spec);
        let page = blockpage::render_report_form(&blockpage::ReportForm {
            url: url.as_deref(),
            school_name: spec.map_or("School", |s| s.school_name.as_str()),
            online_safety_lead: lead.lead.as_deref(),
            online_safety_contact: lead.contact.as_deref(),
            review_action: &action,
            pupil,
        });
        LocalResponse::new(200, "text/html; charset=utf-8", page)
    }

    async fn review(&self, request: &LocalRequest<'_>) -> LocalResponse {
        if request.method != "POST" {
            return LocalResponse::text(405, "Send the review form with POST.")
                .with_header("Allow", "POST");
        }
        let body = String::from_utf8_lossy(request.body);
        let mut url = String::new();
        let mut kind = String::new();
        let mut comment = String::new();
        for (key, value) in hedgerow_webrules::url::query_pairs(&body) {
            let value = hedgerow_webrules::url::decode_query_value(value);
            match key {
                "url" => url = value,
                "kind" => kind = value,
                "comment" => comment = value,
                _ => {}
            }
        }
        let kind = match hedgerow_store::ReviewKind::parse(&kind) {
            Some(kind) => kind,
            None => {
                return LocalResponse::new(
                    400,
                    "text/html; charset=utf-8",
                    blockpage::error_page(
                        "The request was not sent",
                        "Choose whether the page should or should not be blocked.",
                        "Go back, pick one of the two choices, and send the form again.",
                    ),
                );
            }
        };
        let url = url.trim().chars().take(2048).collect::<String>();
        let Ok(target) = Target::parse(&url) else {
            return LocalResponse::new(
                400,
                "text/html; charset=utf-8",
                blockpage::error_page(
                    "The request was not sent",
                    "The web address in the form is not one the filter can check.",
                    "Go back and check the address, then send the form again.",
                ),
            );
        };
        if comment.chars().count() > 2000 {
            comment = comment.chars().take(2000).collect();
        }
        let client = request.client.addr.ip();
        let user = match self.identify(client, request.headers, None).await {
            Ok(user) => user,
            Err(_) => self.signed_in.user_at(client).map(|u| u.to_string()),
        };
        let snapshot = self.current.load();
        let host = target.host.to_string();
        let judged = self.judge(
            &snapshot,
            &Asked {
                client,
                user: user.as_deref(),
                method: "GET",
                host: &to_wire_host(&target.host),
                port: if url.starts_with("https:") { 443 } else { 80 },
                path: target.path.as_deref(),
                url: Some(url.clone()),
            },
        );
        let Some(school) = judged.ctx.school else {
            return LocalResponse::text(
                500,
                "This address belongs to no school in the configuration.",
            );
        };
        let new = hedgerow_store::NewReviewRequest {
            school,
            created_at: jiff::Timestamp::now(),
            requested_by_user: judged.ctx.user.clone(),
            device: judged.ctx.device.clone(),
            client_addr: client,
            url: url.clone(),
            host,
            kind,
            verdict_at_request: judged.ctx.verdict,
            category: judged.ctx.category.clone(),
            rule: Some(judged.ctx.rule.clone()),
            comment: comment.trim().to_string(),
        };
        match self.store.insert_review_request(&new).await {
            Ok(_) => {
                info!(url = %url, kind = kind.as_str(), "review request received from the block page");
                metrics::counter!("hedgerow_proxy_review_requests_total").increment(1);
                let spec = snapshot
                    .engines
                    .get(&judged.ctx.school_slug)
                    .map(|e| e.spec());
                let school_name = spec.map_or("School", |s| s.school_name.as_str());
                let lead = self.contacts.online_safety(&judged.ctx.school_slug, spec);
                LocalResponse::new(
                    200,
                    "text/html; charset=utf-8",
                    blockpage::review_received_page(
                        &url,
                        kind,
                        school_name,
                        lead.lead.as_deref(),
                        lead.contact.as_deref(),
                        judged.ctx.pupil,
                    ),
                )
            }
            Err(e) => {
                warn!("a review request could not be stored: {e}");
                LocalResponse::new(
                    503,
                    "text/html; charset=utf-8",
                    blockpage::error_page(
                        "The request was not saved",
                        "The filter could not save your request just now.",
                        "Try again in a minute, or tell a member of staff.",
                    ),
                )
            }
        }
    }
}

/// What one request asks for, and who asks.
struct Asked<'a> {
    client: IpAddr,
    user: Option<&'a str>,
    method: &'a str,
    host: &'a WireHost,
    /// The port asked for: only the portal's own port on its host is the portal.
    port: u16,
    path: Option<&'a str>,
    url: Option<String>,
}

/// State carried from a decision to the log.
pub struct Ctx {
    at: jiff::Timestamp,
    client: IpAddr,
    school: Option<SchoolId>,
    school_slug: String,
    user: Option<String>,
    user_display: Option<String>,
    device: Option<String>,
    group: String,
    pupil: bool,
    method: String,
    host: String,
    url: Option<String>,
    path: String,
    verdict: Verdict,
    category: Option<String>,
    rule: String,
    reason: Option<String>,
    search_term: Option<String>,
    blocked_types: Vec<FileClass>,
    download_limit: Option<u64>,
    /// For CONNECT: whether the group's inspection scope covers the host.
    inspect: Option<bool>,
}

struct Judged {
    ctx: Ctx,
    /// The status of the block page, when blocked.
    status: Option<u16>,
    rewrite: Option<String>,
    set_headers: Vec<(String, String)>,
    /// Held at the access portal rather than blocked.
    held: bool,
}

impl Judged {
    fn allow(ctx: Ctx) -> Judged {
        Judged {
            ctx,
            status: None,
            rewrite: None,
            set_headers: Vec::new(),
            held: false,
        }
    }

    fn block(ctx: Ctx, status: u16) -> Judged {
        Judged {
            ctx,
            status: Some(status),
            rewrite: None,
            set_headers: Vec::new(),
            held: false,
        }
    }
}

impl ProxyHooks for GatewayProxy {
    type Ctx = Ctx;

    async fn request(&self, request: &RequestInfo<'_>) -> RequestDecision<Ctx> {
        let client = request.client.addr.ip();
        let tunnel_identity = request.tunnel.and_then(|t| t.identity.as_deref());
        let user = match self
            .identify(client, request.headers, tunnel_identity)
            .await
        {
            Ok(user) => user,
            Err(response) => {
                return RequestDecision::Respond {
                    ctx: None,
                    response: *response,
                };
            }
        };
        let url = format!(
            "{}://{}{}{}",
            request.scheme.as_str(),
            request.host,
            if request.port == request.scheme.default_port() {
                String::new()
            } else {
                format!(":{}", request.port)
            },
            request.path_and_query
        );
        let snapshot = self.current.load();
        let judged = self.judge(
            &snapshot,
            &Asked {
                client,
                user: user.as_deref(),
                method: request.method,
                host: request.host,
                port: request.port,
                path: Some(request.path_and_query),
                url: Some(url),
            },
        );
        drop(snapshot);
        if judged.held
            && let Some(gate) = &self.runtime.gate
        {
            metrics::counter!("hedgerow_proxy_held_total").increment(1);
            let original = judged.ctx.url.clone().unwrap_or_default();
            let response = if request.tunnel.is_some() {
                held_page(gate, &original)
            } else {
                LocalResponse::new(
                    302,
                    "text/plain; charset=utf-8",
                    "Accept the school's acceptable use agreement first.\n",
                )
                .with_header("Location", gate.portal_redirect(&original))
                .with_header("Cache-Control", "no-store")
            };
            return RequestDecision::Respond {
                ctx: Some(judged.ctx),
                response,
            };
        }
        if let Some(status) = judged.status {
            metrics::counter!("hedgerow_proxy_blocked_total").increment(1);
            let response = self.block_response(&judged.ctx, status);
            return RequestDecision::Respond {
                ctx: Some(judged.ctx),
                response,
            };
        }
        let mut set_headers = judged.set_headers;
        if let Some(gate) = &self.runtime.gate
            && judged.ctx.rule == PORTAL_RULE
        {
            // The portal sees the proxy's address; this says who is really asking.
            set_headers.push((
                VOUCH_HEADER.to_string(),
                gate.vouch(client, judged.ctx.user.as_deref()),
            ));
        }
        if self.runtime.monitoring
            && judged.ctx.school.is_some()
            && is_navigation(request.method, request.headers)
        {
            // A page's title can only be read from uncompressed HTML; asking for it on page
            // navigations alone keeps the cost to HTML (docs/proxy.md, "Page titles").
            set_headers.push(("Accept-Encoding".to_string(), "identity".to_string()));
        }
        RequestDecision::Forward {
            ctx: judged.ctx,
            rewrite: judged.rewrite,
            set_headers,
        }
    }

    async fn connect(&self, request: &ConnectInfo<'_>) -> ConnectDecision<Ctx> {
        let client = request.client.addr.ip();
        if let Some(ports) = &self.runtime.connect_ports
            && !ports.contains(&request.port)
        {
            return ConnectDecision::Respond {
                ctx: None,
                response: LocalResponse::text(
                    403,
                    format!(
                        "Tunnels through the school's filter may only go to port {}.",
                        ports
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_header("X-Hedgerow-Reason", "port not allowed"),
            };
        }
        let user = match self.identify(client, request.headers, None).await {
            Ok(user) => user,
            Err(response) => {
                return ConnectDecision::Respond {
                    ctx: None,
                    response: *response,
                };
            }
        };
        let snapshot = self.current.load();
        let judged = self.judge(
            &snapshot,
            &Asked {
                client,
                user: user.as_deref(),
                method: "CONNECT",
                host: request.host,
                port: request.port,
                path: None,
                url: None,
            },
        );
        drop(snapshot);
        let mut ctx = judged.ctx;
        ctx.url = Some(format!("{}:{}", request.host, request.port));
        if judged.status.is_some() && ctx.inspect == Some(true) {
            // Open the tunnel only to answer inside it with the block page; nothing is
            // fetched from the site.
            metrics::counter!("hedgerow_proxy_blocked_total").increment(1);
            let identity = ctx.user.as_deref().map(Arc::from);
            return ConnectDecision::Accept { ctx, identity };
        }
        if judged.held
            && let Some(gate) = &self.runtime.gate
        {
            metrics::counter!("hedgerow_proxy_held_total").increment(1);
            let portal = gate.portal().url.clone().unwrap_or_default();
            let response = LocalResponse::text(
                511,
                format!(
                    "The school's acceptable use agreement has not been accepted yet. Open {portal} in a browser, read it and accept it; then this site will work."
                ),
            )
            .with_header(
                "X-Hedgerow-Reason",
                ascii_header(&format!("agreement not accepted; open {portal}")),
            )
            .with_header("X-Hedgerow-Rule", HELD_RULE);
            return ConnectDecision::Respond {
                ctx: Some(ctx),
                response,
            };
        }
        if let Some(status) = judged.status {
            metrics::counter!("hedgerow_proxy_blocked_total").increment(1);
            let category = ctx
                .category
                .as_deref()
                .map(|k| hedgerow_lists::category(k).map_or(k, |c| c.name))
                .unwrap_or("blocked");
            let reason = ctx
                .reason
                .clone()
                .unwrap_or_else(|| "Blocked by the school's filter.".into());
            let response = LocalResponse::text(status.min(403), reason.clone())
                .with_header(
                    "X-Hedgerow-Reason",
                    ascii_header(&format!("{category}: {reason}")),
                )
                .with_header("X-Hedgerow-Rule", ascii_header(&ctx.rule));
            return ConnectDecision::Respond {
                ctx: Some(ctx),
                response,
            };
        }
        let identity = ctx.user.as_deref().map(Arc::from);
        ConnectDecision::Accept { ctx, identity }
    }

    fn tunnel(&self, ctx: &mut Ctx, tunnel: &TunnelInfo, start: TunnelStart<'_>) -> TunnelDecision {
        match start {
            TunnelStart::Hello(hello) => {
                if hello.hides_destination(&tunnel.host) {
                    if ctx.pupil {
                        ctx.verdict = Verdict::Block;
                        ctx.category = Some("circumvention".into());
                        ctx.rule = "proxy:ech-hidden-destination".into();
                        ctx.reason = Some(
                            "Blocked: the connection hid where it was going (Encrypted Client Hello)."
                                .into(),
                        );
                        return TunnelDecision::Close;
                    }
                    if ctx.verdict == Verdict::Block {
                        return TunnelDecision::Close;
                    }
                    return TunnelDecision::Splice;
                }
                if let Some(sni) = &hello.sni
                    && !hello.sni_matches(&tunnel.host)
                {
                    ctx.verdict = Verdict::Block;
                    ctx.category = Some("circumvention".into());
                    ctx.rule = "proxy:sni-mismatch".into();
                    ctx.reason = Some(format!(
                        "Blocked: the connection asked for {} but its encryption named {sni}, a way to hide a site behind another.",
                        tunnel.host
                    ));
                    metrics::counter!("hedgerow_proxy_circumvention_total").increment(1);
                    return TunnelDecision::Close;
                }
                let speaks_http1 =
                    hello.alpn.is_empty() || hello.alpn.iter().any(|p| p == "http/1.1");
                if ctx.verdict == Verdict::Block && !speaks_http1 {
                    // Accepted only to show the block page, which this client cannot read.
                    return TunnelDecision::Close;
                }
                if ctx.inspect == Some(true)
                    && speaks_http1
                    && let Some(leaves) = &self.leaves
                {
                    let name = hello.sni.clone().unwrap_or_else(|| host_text(&tunnel.host));
                    match leaves.server_config(&name) {
                        Ok(config) => {
                            ctx.rule = format!("{} (inspected)", ctx.rule);
                            return TunnelDecision::Inspect(config);
                        }
                        Err(e) => warn!(host = %name, "cannot make a certificate to inspect: {e}"),
                    }
                }
                if ctx.verdict == Verdict::Block {
                    return TunnelDecision::Close;
                }
                TunnelDecision::Splice
            }
            TunnelStart::NotTls(_) if ctx.pupil => {
                ctx.verdict = Verdict::Block;
                ctx.category = Some("circumvention".into());
                ctx.rule = "proxy:not-tls".into();
                ctx.reason =
                    Some("Blocked: the tunnel did not carry HTTPS, as tunnels here must.".into());
                TunnelDecision::Close
            }
            _ if ctx.verdict == Verdict::Block => TunnelDecision::Close,
            TunnelStart::NotTls(_) | TunnelStart::Silent => TunnelDecision::Splice,
        }
    }

    fn response(&self, ctx: &mut Ctx, head: &ResponseHead) -> ResponseDecision {
        if !ctx.blocked_types.is_empty()
            && let Some(class) = hedgerow_webrules::classify_response(
                &ctx.path,
                head.header("content-type"),
                head.header("content-disposition"),
            )
            && ctx.blocked_types.contains(&class)
        {
            ctx.verdict = Verdict::Block;
            ctx.rule = format!("group:{}/file-type:{}", ctx.group, class.key());
            ctx.reason = Some(format!(
                "Blocked: downloading {} is not allowed for this group.",
                class.key().replace('-', " ")
            ));
            metrics::counter!("hedgerow_proxy_blocked_total").increment(1);
            return ResponseDecision::Replace(self.block_response(ctx, 403));
        }
        if let Some(limit) = ctx.download_limit {
            if head
                .content_length()
                .ok()
                .flatten()
                .is_some_and(|n| n > limit)
            {
                ctx.verdict = Verdict::Block;
                ctx.rule = format!("group:{}/download-limit", ctx.group);
                ctx.reason = Some(format!(
                    "Blocked: the file is larger than the {} MB allowed for this group.",
                    limit / (1024 * 1024)
                ));
                return ResponseDecision::Replace(self.block_response(ctx, 403));
            }
            return ResponseDecision::Continue {
                max_body: Some(limit),
                read_title: self.wants_title(ctx),
            };
        }
        ResponseDecision::Continue {
            max_body: None,
            read_title: self.wants_title(ctx),
        }
    }

    fn upstream_failed(&self, ctx: &mut Ctx, failure: &UpstreamFailure) -> LocalResponse {
        match failure {
            UpstreamFailure::Tls(error) => {
                ctx.rule = format!("{} (origin certificate refused)", ctx.rule);
                LocalResponse::new(
                    502,
                    "text/html; charset=utf-8",
                    blockpage::error_page(
                        "This site's security certificate is not valid",
                        &format!(
                            "The school's filter checked the certificate of {} and did not accept it: {}.",
                            ctx.host,
                            hedgerow_tls::describe_origin_error(error)
                        ),
                        "The page was not opened, to keep your connection safe. If you need this site, tell the network manager.",
                    ),
                )
            }
            UpstreamFailure::Loop => LocalResponse::text(
                508,
                "This address is the filter itself. Check the proxy settings.",
            ),
            other => LocalResponse::new(
                502,
                "text/html; charset=utf-8",
                blockpage::error_page(
                    "The site could not be opened",
                    &format!("{} ({}).", capitalise(&other.to_string()), ctx.host),
                    "Check the address and try again. If other sites work, this one may be down.",
                ),
            ),
        }
    }

    async fn local(&self, request: &LocalRequest<'_>) -> LocalResponse {
        let path = request
            .path_and_query
            .split_once('?')
            .map_or(request.path_and_query, |(p, _)| p);
        match path {
            "/proxy.pac" | "/wpad.dat" => {
                LocalResponse::new(200, "application/x-ns-proxy-autoconfig", self.pac_file())
                    .with_header("Cache-Control", "max-age=300")
            }
            "/hedgerow/ca.pem" => match &self.ca_pem {
                Some(pem) => LocalResponse::new(200, "application/x-pem-file", pem.clone())
                    .with_header(
                        "Content-Disposition",
                        "attachment; filename=\"school-ca.pem\"",
                    ),
                None => LocalResponse::text(404, "HTTPS inspection is not set up (no school CA)."),
            },
            "/hedgerow/ca.der" | "/hedgerow/ca.crt" => match &self.ca_der {
                Some(der) => LocalResponse::new(200, "application/x-x509-ca-cert", der.clone())
                    .with_header(
                        "Content-Disposition",
                        "attachment; filename=\"school-ca.crt\"",
                    ),
                None => LocalResponse::text(404, "HTTPS inspection is not set up (no school CA)."),
            },
            "/hedgerow/review" => self.review(request).await,
            "/hedgerow/report" => self.report_form(request),
            "/" | "/hedgerow" | "/hedgerow/" => LocalResponse::new(
                200,
                "text/html; charset=utf-8",
                blockpage::error_page(
                    "School web filter",
                    "This is the school's web filter (Hedgerow).",
                    "Set your browser to use the proxy settings file at /proxy.pac.",
                ),
            ),
            _ => LocalResponse::text(404, "There is nothing at this address on the filter."),
        }
    }

    fn finished(&self, ctx: Ctx, summary: &Summary) {
        if summary.client_refused_certificate
            && let Ok(mut pinned) = self.pinned.lock()
        {
            // The app (or device) would not accept the school certificate: tunnel it unseen
            // from now on rather than break it on every attempt.
            warn!(host = %ctx.host, "a client refused the school certificate; not inspecting this host for a day");
            pinned.insert(ctx.host.clone(), Instant::now());
        }
        self.record(&ctx, summary);
    }
}

/// The answer to a held request inside an inspected tunnel: `511 Network Authentication
/// Required`, with a page that links to the portal (and sends the browser there).
fn held_page(gate: &AgreementGate, original: &str) -> LocalResponse {
    LocalResponse::new(
        511,
        "text/html; charset=utf-8",
        blockpage::held_page(&gate.portal_redirect(original)),
    )
    .with_header("Cache-Control", "no-store")
    .with_header("X-Hedgerow-Rule", HELD_RULE)
}

fn read_basic(headers: &Headers) -> Option<Result<(String, String), String>> {
    let mut values = headers.get_all("proxy-authorization");
    let value = values.next()?;
    if values.next().is_some() {
        return Some(Err("more than one sign-in was sent".into()));
    }
    let head = hedgerow_proxy_wire::RequestHead {
        method: "GET".into(),
        target: hedgerow_proxy_wire::RequestTarget::Origin("/".into()),
        version: hedgerow_proxy_wire::Version::Http11,
        headers: Headers(vec![("proxy-authorization".into(), value.to_vec())]),
    };
    head.proxy_basic_credentials()
        .map(|r| r.map_err(|e| e.to_string()))
}

/// Whether a request looks like a browser opening a page (rather than fetching an image,
/// script, or data for a page already open): a GET that accepts HTML.
fn is_navigation(method: &str, headers: &Headers) -> bool {
    method == "GET"
        && headers.get_all("accept").any(|value| {
            value
                .split(|&b| b == b',')
                .filter_map(|item| item.split(|&b| b == b';').next())
                .any(|media| {
                    let media = media.trim_ascii();
                    media.eq_ignore_ascii_case(b"text/html")
                        || media.eq_ignore_ascii_case(b"application/xhtml+xml")
                })
        })
}

fn host_text(host: &WireHost) -> String {
    match host {
        WireHost::Name(n) => n.clone(),
        WireHost::Ipv4(a) => a.to_string(),
        WireHost::Ipv6(a) => a.to_string(),
    }
}

fn to_wire_host(host: &hedgerow_lists::Host) -> WireHost {
    match host {
        hedgerow_lists::Host::Name(n) => WireHost::Name(n.clone()),
        hedgerow_lists::Host::Ipv4(a) => WireHost::Ipv4(*a),
        hedgerow_lists::Host::Ipv6(a) => WireHost::Ipv6(*a),
    }
}

/// Whether `name` is `entry` or under it.
fn covers(entry: &str, name: &str) -> bool {
    name == entry
        || (name.len() > entry.len()
            && name.ends_with(entry)
            && name.as_bytes()[name.len() - entry.len() - 1] == b'.')
}

/// A header value made safe: visible ASCII only.
fn ascii_header(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(300)
        .collect()
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn local_time(at: jiff::Timestamp) -> String {
    let zone = jiff::tz::TimeZone::get("Europe/London").unwrap_or(jiff::tz::TimeZone::UTC);
    blockpage::local_time(at, &zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_of_never_inspected_names() {
        assert!(covers("gov.uk", "gov.uk"));
        assert!(covers("gov.uk", "www.tax.service.gov.uk"));
        assert!(!covers("gov.uk", "notgov.uk"));
        assert!(!covers("gov.uk", "uk"));
    }

    #[test]
    fn navigations_are_gets_that_accept_html() {
        let headers = |accept: &str| Headers(vec![("accept".into(), accept.as_bytes().to_vec())]);
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(is_navigation("GET", &headers(browser)));
        assert!(is_navigation("GET", &headers("TEXT/HTML ; q=1")));
        assert!(!is_navigation("POST", &headers(browser)));
        assert!(!is_navigation("GET", &headers("image/avif,image/webp,*/*")));
        assert!(!is_navigation(
            "GET",
            &headers("application/json, text/htmlx")
        ));
        assert!(!is_navigation("GET", &Headers(Vec::new())));
    }

    #[test]
    fn header_values_are_made_safe() {
        assert_eq!(ascii_header("a\r\nb é"), "a??b ?");
    }
}
