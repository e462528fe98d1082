//! The monitor: watches activity events once they are written, raises safeguarding alerts and
//! makes sure the DSL hears of them.
//!
//! It sits behind the activity writer (`EventWriter::spawn_observed`), so nothing it does can
//! delay a filtering decision: the DNS filter and proxy hand events to a queue that never
//! waits, the writer stores them, and only then are they classified here. Each school's
//! settings (recipients, age bands) come from the configuration; the risk libraries are the
//! built-in ones plus any `[monitoring] libraries`, tuned per school by the risk-library
//! changes in force in the change log (switched off, re-rated, added), which are picked up
//! within a few seconds of being made, like any other policy change.
//!
//! Sending is spawned off the event loop, so a slow mail server delays neither the next event
//! nor the next alert. An alert whose immediate notice could not be sent is not marked as
//! notified, and so goes out in the next digest instead of being lost.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hedgerow_config::{MonitoringSettings, NoticeDetail, SchoolMonitoring};
use hedgerow_monitor::{
    AlertNotice, BurstDetector, BurstRule, Delivery, Detail, DigestItem, DigestKind,
    DigestSchedule, PersonKey, Route, RoutingPolicy, SchoolHours, burst_category_for, digest_email,
    email_for, renotify, tuned_classifier, tunings_in, webhook_json,
};
use hedgerow_notify::{SmtpSender, WebhookSender, WebhookSettings};
use hedgerow_policy::GroupKind;
use hedgerow_risk::{AgeBand, Classifier, RiskCategory, RiskLibrary, Tuning};
use hedgerow_store::{
    ActivityEvent, Alert, AlertTrigger, ChangesVersion, EventSource, NewAlert, SchoolId, Store,
    Verdict,
};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::setup::ConfigFile;

/// Batches of written events the monitor may fall behind by before the writer counts events
/// as missed. Classifying is far faster than writing, so this is slack for bursts; a batch
/// holds up to `hedgerow_store::EVENT_ROWS_PER_INSERT` (1,600) events, so this also bounds the
/// memory a flood can pin here.
const QUEUE_BATCHES: usize = 8;

/// Events classified between two yields to the other tasks on the runtime (about a tenth of
/// a millisecond of work).
const YIELD_EVERY: usize = 32;

/// People and categories tracked for bursts at once; the oldest is forgotten first.
const BURST_KEYS: usize = 100_000;

/// How often, and after how long, an immediate notice is tried again.
const SEND_ATTEMPTS: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_secs(2),
    Duration::from_secs(10),
];

/// How often the change log is looked at for risk-library tuning.
const TUNING_CHECK: Duration = Duration::from_secs(2);

/// Severity of a burst alert: repeated blocked attempts are a reason to look, not a sign of
/// imminent risk; a burst in an immediate category still goes out at once by its category.
const BURST_SEVERITY: u8 = 2;

const METRIC_ALERTS: &str = "hedgerow_alerts_raised_total";
const METRIC_NOTICES: &str = "hedgerow_alert_notices_total";

/// One school as the monitor sees it.
struct WatchedSchool {
    id: SchoolId,
    name: String,
    zone: jiff::tz::TimeZone,
    settings: SchoolMonitoring,
    /// Group key to the age band its searches are read with.
    bands: HashMap<String, AgeBand>,
    /// Username (lower case) to the name staff know them by.
    display_names: HashMap<String, String>,
}

impl WatchedSchool {
    fn band(&self, group: Option<&str>) -> AgeBand {
        group
            .and_then(|g| self.bands.get(g).copied())
            .unwrap_or(AgeBand::Secondary)
    }
}

/// Everything sending needs, shared by the spawned sends.
struct Senders {
    smtp: Option<SmtpSender>,
    webhook: WebhookSender,
    detail: Detail,
    admin_url: String,
}

/// The running monitor: its intake (for the writer) and its tasks.
pub struct RunningMonitor {
    events: JoinHandle<()>,
    digests: JoinHandle<()>,
}

impl RunningMonitor {
    /// Waits for the event loop to finish the events already handed over (it ends once the
    /// writer, which holds the intake, has stopped), then stops the digest timer.
    pub async fn shutdown(self) {
        if tokio::time::timeout(Duration::from_secs(10), self.events)
            .await
            .is_err()
        {
            warn!("the monitor did not finish its last events within 10 s");
        }
        self.digests.abort();
    }
}

/// Starts the monitor, or returns `None` when `[monitoring] enabled = false`. The sender goes
/// to `EventWriter::spawn_observed`.
pub fn start(
    store: &Store,
    config: &ConfigFile,
    schools: &HashMap<String, SchoolId>,
    admin_listen: Option<SocketAddr>,
) -> anyhow::Result<Option<(mpsc::Sender<Vec<ActivityEvent>>, RunningMonitor)>> {
    let settings = &config.config.monitoring;
    if !settings.enabled {
        info!("monitoring is switched off ([monitoring] enabled = false): no alerts are raised");
        return Ok(None);
    }
    // A mistake in a school's own library stops the start, with the file and line named; the
    // built-in libraries are checked by their tests. Building the classifier is left to the
    // monitor's task, so the filters answer without waiting for it; events written meanwhile
    // wait in its queue.
    let custom = custom_libraries(settings, &config.path)?;
    let watched = watched_schools(config, schools);
    let senders = Arc::new(senders(settings, config, admin_listen)?);
    if senders.smtp.is_none() {
        info!(
            "no mail server ([monitoring.smtp]): alerts wait in the admin app's triage queue and nobody is emailed"
        );
    }
    let routing = routing(settings);
    let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
    let watcher = {
        let store = store.clone();
        let bursts = BurstDetector::new(
            BurstRule {
                count: settings.burst_count,
                window: SignedDuration::from_mins(i64::from(settings.burst_minutes)),
            },
            HashMap::new(),
            BURST_KEYS,
        );
        let fold_window = SignedDuration::from_mins(i64::from(settings.fold_minutes));
        let schools = watched.clone();
        let senders = Arc::clone(&senders);
        move |library: RiskLibrary, untuned: Classifier| Watcher {
            store,
            library,
            untuned: Arc::new(untuned),
            classifiers: HashMap::new(),
            tuning_seen: None,
            tuning_checked: None,
            bursts,
            routing,
            fold_window,
            schools,
            senders,
        }
    };
    let events = tokio::spawn(async move {
        let built = tokio::task::spawn_blocking(move || {
            let mut library = RiskLibrary::builtin();
            for parsed in custom {
                library.merge(parsed);
            }
            let classifier = Classifier::new(&library, &[]);
            (library, classifier)
        })
        .await;
        match built {
            Ok((library, Ok(classifier))) => watcher(library, classifier).run(rx).await,
            Ok((_, Err(error))) => {
                tracing::error!(%error, "cannot build the risk classifier: no safeguarding alerts are raised until the risk libraries are fixed and Hedgerow restarted");
            }
            Err(error) => {
                tracing::error!(%error, "the risk classifier's build failed: no safeguarding alerts are raised until Hedgerow restarts");
            }
        }
    });
    let digests = tokio::spawn(run_digests(
        store.clone(),
        DigestSchedule {
            daily_at: settings.daily_digest_at,
            weekly_on: settings.weekly_digest_day,
            weekly_at: settings.weekly_digest_at,
            zone: hedgerow_monitor::london(),
        },
        settings.daily_min_severity,
        watched,
        senders,
    ));
    Ok(Some((tx, RunningMonitor { events, digests })))
}

/// Tells the people who act on safeguarding records that one was made: the DSL's addresses
/// (`[school.monitoring] dsl`), or for an allegation against staff the headteacher's
/// (`headteacher`), by email only (a chat channel is not a place for a record's existence).
pub struct RecordNotifier {
    smtp: SmtpSender,
    admin_url: String,
    /// School slug to (name, zone, settings).
    schools: HashMap<String, (String, jiff::tz::TimeZone, SchoolMonitoring)>,
}

/// The notifier, or `None` without a mail server (records then wait in the admin app).
pub fn record_notifier(
    config: &ConfigFile,
    admin_listen: Option<SocketAddr>,
) -> anyhow::Result<Option<Arc<RecordNotifier>>> {
    let Senders {
        smtp, admin_url, ..
    } = senders(&config.config.monitoring, config, admin_listen)?;
    let Some(smtp) = smtp else {
        return Ok(None);
    };
    let schools = config
        .config
        .schools
        .iter()
        .map(|school| {
            (
                school.policy.school.clone(),
                (
                    school.policy.school_name.clone(),
                    school.policy.time_zone.clone(),
                    school.monitoring.clone(),
                ),
            )
        })
        .collect();
    Ok(Some(Arc::new(RecordNotifier {
        smtp,
        admin_url,
        schools,
    })))
}

impl RecordNotifier {
    /// Sends one plain-text e-mail now (the admin app's agreement reminders); the error is a
    /// sentence for the person who asked.
    pub async fn send_plain(&self, to: &str, subject: &str, text: &str) -> Result<(), String> {
        let message = hedgerow_monitor::EmailMessage {
            subject: subject.to_string(),
            text_body: text.to_string(),
        };
        self.smtp
            .send(&[to.to_string()], &message)
            .await
            .map_err(|e| format!("The e-mail to {to} was not sent: {e}"))
    }

    /// Sends the notice in the background, trying a few times.
    pub fn notify(self: &Arc<Self>, school: &str, record: hedgerow_web::MadeRecord) {
        let Some((name, zone, settings)) = self.schools.get(school) else {
            return;
        };
        let recipients = if record.record_type == "staff-allegation" {
            settings.headteacher.clone()
        } else {
            settings.dsl.clone()
        };
        if recipients.is_empty() {
            return;
        }
        let message = hedgerow_monitor::record_email(
            &hedgerow_monitor::RecordNotice {
                record_id: record.id,
                school_name: name.clone(),
                record_type_label: record.record_type_label.clone(),
                recorded_by: record.recorded_by.clone(),
                at: record.at,
                link: format!("{}/concerns/{}", self.admin_url, record.id),
            },
            zone,
        );
        let notifier = Arc::clone(self);
        tokio::spawn(async move {
            for pause in SEND_ATTEMPTS {
                tokio::time::sleep(pause).await;
                match notifier.smtp.send(&recipients, &message).await {
                    Ok(()) => return,
                    Err(e) => error!(
                        record = record.id,
                        "could not email that a safeguarding record was made: {e}"
                    ),
                }
            }
        });
    }
}

/// The built-in libraries and the configured extra ones.
/// The libraries named in `[monitoring] libraries`, parsed.
fn custom_libraries(
    settings: &MonitoringSettings,
    config_path: &Path,
) -> anyhow::Result<Vec<RiskLibrary>> {
    let mut libraries = Vec::new();
    for path in &settings.libraries {
        let path = beside(config_path, path);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read the risk library {} named in [monitoring] libraries",
                path.display()
            )
        })?;
        let parsed = RiskLibrary::parse(&path.display().to_string(), &text)
            .with_context(|| format!("the risk library {} has a mistake", path.display()))?;
        libraries.push(parsed);
    }
    Ok(libraries)
}

/// A path from the configuration, relative to the configuration file's folder.
fn beside(config_path: &Path, path: &Path) -> std::path::PathBuf {
    match config_path.parent() {
        Some(folder) if path.is_relative() => folder.join(path),
        _ => path.to_path_buf(),
    }
}

fn watched_schools(
    config: &ConfigFile,
    schools: &HashMap<String, SchoolId>,
) -> Arc<HashMap<SchoolId, WatchedSchool>> {
    let mut watched = HashMap::new();
    for school in &config.config.schools {
        let Some(&id) = schools.get(&school.policy.school) else {
            continue;
        };
        let bands = school
            .policy
            .groups
            .iter()
            .map(|group| {
                let adult = matches!(group.kind, GroupKind::Staff | GroupKind::Visitor);
                let band = AgeBand::parse(school.monitoring.band_for(&group.key, adult))
                    .unwrap_or(AgeBand::Secondary);
                (group.key.clone(), band)
            })
            .collect();
        let display_names = school
            .directory
            .users
            .iter()
            .map(|u| (u.username.to_lowercase(), u.display_name.clone()))
            .collect();
        watched.insert(
            id,
            WatchedSchool {
                id,
                name: school.policy.school_name.clone(),
                zone: school.policy.time_zone.clone(),
                settings: school.monitoring.clone(),
                bands,
                display_names,
            },
        );
    }
    Arc::new(watched)
}

fn routing(settings: &MonitoringSettings) -> RoutingPolicy {
    RoutingPolicy {
        immediate_min_severity: settings.immediate_min_severity,
        immediate_categories: settings.immediate_categories.clone(),
        daily_min_severity: settings.daily_min_severity,
        school_hours: SchoolHours {
            days: settings.school_days.clone(),
            start: settings.school_day_start,
            end: settings.school_day_end,
            zone: hedgerow_monitor::london(),
        },
    }
}

fn senders(
    settings: &MonitoringSettings,
    config: &ConfigFile,
    admin_listen: Option<SocketAddr>,
) -> anyhow::Result<Senders> {
    let smtp = match &settings.smtp {
        None => None,
        Some(smtp) => {
            let password = match &smtp.password_file {
                None => None,
                Some(file) => {
                    let file = beside(&config.path, file);
                    let text = std::fs::read_to_string(&file).with_context(|| {
                        format!(
                            "cannot read the mail password from {} ([monitoring.smtp] password_file)",
                            file.display()
                        )
                    })?;
                    Some(text.trim_end_matches(['\r', '\n']).to_string())
                }
            };
            let sender = SmtpSender::new(hedgerow_notify::SmtpSettings {
                host: smtp.host.clone(),
                port: smtp.port,
                security: match smtp.security {
                    hedgerow_config::SmtpSecurity::None => hedgerow_notify::SmtpSecurity::None,
                    hedgerow_config::SmtpSecurity::StartTls => {
                        hedgerow_notify::SmtpSecurity::StartTls
                    }
                    hedgerow_config::SmtpSecurity::Tls => hedgerow_notify::SmtpSecurity::Tls,
                },
                username: smtp.username.clone(),
                password,
                from: smtp.from.clone(),
                timeout: Duration::from_secs(20),
            })
            .context("cannot set up the mail server for alerts")?;
            Some(sender)
        }
    };
    let bearer_token = match &settings.webhook_token_file {
        None => None,
        Some(file) => {
            let file = beside(&config.path, file);
            let text = std::fs::read_to_string(&file).with_context(|| {
                format!(
                    "cannot read the webhook token from {} ([monitoring] webhook_token_file)",
                    file.display()
                )
            })?;
            Some(text.trim().to_string())
        }
    };
    let webhook = WebhookSender::new(WebhookSettings {
        bearer_token,
        ..WebhookSettings::default()
    })
    .context("cannot set up webhooks for alerts")?;
    let admin_url = settings.admin_url.clone().unwrap_or_else(|| {
        let scheme = if config.config.admin.tls == hedgerow_config::AdminTls::Off
            && !config.config.admin.behind_tls_proxy
        {
            "http"
        } else {
            "https"
        };
        match admin_listen.or_else(|| config.config.listeners.get("admin").copied()) {
            Some(listen) => format!("{scheme}://{listen}"),
            None => "the admin app".to_string(),
        }
    });
    Ok(Senders {
        smtp,
        webhook,
        detail: match settings.detail {
            NoticeDetail::Minimal => Detail::Minimal,
            NoticeDetail::Full => Detail::Full,
        },
        admin_url,
    })
}

/// The event loop's state.
struct Watcher {
    store: Store,
    library: RiskLibrary,
    /// The libraries as shipped and configured, for schools with no tuning.
    untuned: Arc<Classifier>,
    /// Schools whose risk-library changes in force make their classifier differ.
    classifiers: HashMap<SchoolId, Arc<Classifier>>,
    tuning_seen: Option<ChangesVersion>,
    tuning_checked: Option<std::time::Instant>,
    bursts: BurstDetector,
    routing: RoutingPolicy,
    fold_window: SignedDuration,
    schools: Arc<HashMap<SchoolId, WatchedSchool>>,
    senders: Arc<Senders>,
}

/// A match worth an alert, before it is stored.
struct Finding {
    category: String,
    severity: u8,
    trigger: AlertTrigger,
    matched_text: String,
    matched_entry: String,
}

impl Watcher {
    async fn run(mut self, mut rx: mpsc::Receiver<Vec<ActivityEvent>>) {
        describe_metrics();
        while let Some(batch) = rx.recv().await {
            self.refresh_tuning().await;
            for (checked, event) in batch.iter().enumerate() {
                for finding in self.findings(event) {
                    self.raise(event, finding).await;
                }
                // Classifying a full batch takes milliseconds on one of the runtime's threads,
                // which the DNS forwarder and the proxy share: give them the thread back often,
                // so that monitoring never shows in their latency.
                if checked % YIELD_EVERY == YIELD_EVERY - 1 {
                    tokio::task::yield_now().await;
                }
            }
        }
        info!("monitor stopped: every written event was checked");
    }

    /// Rebuilds the schools' classifiers when the change log moved (checked at most every
    /// [`TUNING_CHECK`]).
    async fn refresh_tuning(&mut self) {
        if self
            .tuning_checked
            .is_some_and(|at| at.elapsed() < TUNING_CHECK)
        {
            return;
        }
        self.tuning_checked = Some(std::time::Instant::now());
        let version = match self.store.changes_version().await {
            Ok(v) => v,
            Err(e) => {
                warn!("could not check the change log for risk-library tuning: {e}");
                return;
            }
        };
        if self.tuning_seen == Some(version) {
            return;
        }
        let now = Timestamp::now();
        let mut classifiers = HashMap::new();
        for &school in self.schools.keys() {
            let changes = match self.store.active_changes(school, now).await {
                Ok(changes) => changes,
                Err(e) => {
                    warn!("could not read the risk-library changes in force: {e}");
                    return;
                }
            };
            let tunings: Vec<Tuning> = tunings_in(
                changes
                    .iter()
                    .map(|record| (record.stamp_id(), record.change.as_str())),
            )
            .into_iter()
            .map(|(_, t)| t)
            .collect();
            if tunings.is_empty() {
                continue;
            }
            match tuned_classifier(&self.library, &tunings) {
                Ok((classifier, refused)) => {
                    for e in refused {
                        warn!(
                            "a risk-library change in the change log cannot be used and is skipped: {e}"
                        );
                    }
                    info!(
                        school = %school,
                        changes = tunings.len(),
                        "risk libraries tuned from the change log"
                    );
                    classifiers.insert(school, Arc::new(classifier));
                }
                Err(e) => warn!("the risk libraries could not be tuned: {e}"),
            }
        }
        self.classifiers = classifiers;
        self.tuning_seen = Some(version);
    }

    /// What one event gives rise to: a text match, a burst, both or neither.
    fn findings(&mut self, event: &ActivityEvent) -> Vec<Finding> {
        let mut found = Vec::new();
        if event.source == EventSource::Explain {
            return found;
        }
        let Some(school) = self.schools.get(&event.school) else {
            return found;
        };
        let band = school.band(event.group.as_deref());
        let classifier = self.classifiers.get(&event.school).unwrap_or(&self.untuned);
        // The search term is what the child typed; the address is looked at only when there
        // is none, so that one search does not match twice (its address holds it too). The
        // page's title, when the proxy read one, is looked at when neither matched: it says
        // what the page is about where the address is an opaque id.
        let text_match = match (&event.search_term, &event.url) {
            (Some(term), _) => classifier
                .classify(term, band)
                .map(|m| (m, AlertTrigger::SearchTerm, term.clone())),
            (None, Some(url)) => classifier
                .classify_url(url, band)
                .map(|m| (m.clone(), AlertTrigger::Url, m.matched)),
            (None, None) => None,
        }
        .or_else(|| {
            let title = event.page_title.as_ref()?;
            classifier
                .classify(title, band)
                .map(|m| (m, AlertTrigger::PageTitle, title.clone()))
        });
        if let Some((m, trigger, text)) = text_match {
            found.push(Finding {
                category: m.category.as_str().to_string(),
                severity: m.severity,
                trigger,
                matched_text: text,
                matched_entry: m.entry,
            });
        }
        if event.verdict == Verdict::Block
            && let Some(category) = event.category.as_deref().and_then(burst_category_for)
        {
            let person = match &event.user {
                Some(user) => PersonKey::User(user.to_lowercase()),
                None => PersonKey::Address(event.client_ip),
            };
            if let Some(burst) = self.bursts.observe(&person, category, event.at) {
                let minutes = burst.first_at.duration_until(burst.last_at).as_secs() / 60;
                found.push(Finding {
                    category: category.to_string(),
                    severity: BURST_SEVERITY,
                    trigger: AlertTrigger::Burst,
                    matched_text: format!(
                        "{} blocked attempts in {} minute{}, the last at {}",
                        burst.count,
                        minutes.max(1),
                        if minutes > 1 { "s" } else { "" },
                        event.host
                    ),
                    matched_entry: format!("burst.{category}"),
                });
            }
        }
        found
    }

    async fn raise(&self, event: &ActivityEvent, finding: Finding) {
        let new = NewAlert {
            school: event.school,
            at: event.at,
            user: event.user.clone(),
            device: event.device.clone(),
            client_ip: event.client_ip,
            group: event.group.clone(),
            category: finding.category,
            severity: finding.severity,
            trigger: finding.trigger,
            matched_text: finding.matched_text,
            matched_entry: finding.matched_entry,
            host: event.host.clone(),
            url: event.url.clone(),
        };
        let raised = match self.store.raise_alert(&new, self.fold_window).await {
            Ok(raised) => raised,
            Err(e) => {
                error!(error = %e, category = %new.category, "could not store a safeguarding alert");
                return;
            }
        };
        metrics::counter!(METRIC_ALERTS, "category" => new.category.clone()).increment(1);
        let alert = raised.alert;
        let route_now = self
            .routing
            .route(&alert.category, alert.severity, alert.last_at);
        let send = match raised.previous_severity {
            None => route_now.delivery == Delivery::Immediate,
            Some(before) => {
                let route_before = self.routing.route(&alert.category, before, alert.last_at);
                renotify(before, alert.severity, &route_before, &route_now)
            }
        };
        // A repeat folded into an alert already logged is routine (a device retrying a blocked
        // name folds hundreds of times a minute): only new alerts and notices reach the log.
        if raised.folded && !send {
            tracing::debug!(alert = %alert.id, count = alert.count, "safeguarding alert folded");
        } else {
            info!(
                alert = %alert.id,
                category = %alert.category,
                severity = alert.severity,
                count = alert.count,
                folded = raised.folded,
                immediate = send,
                "safeguarding alert"
            );
        }
        if send && let Some(school) = self.schools.get(&alert.school) {
            let notice = notice(school, &alert, &route_now, &self.senders.admin_url);
            let recipients = recipients(&school.settings, &route_now);
            tokio::spawn(send_notice(
                self.store.clone(),
                Arc::clone(&self.senders),
                notice,
                recipients,
                school.settings.webhook.clone(),
                school.zone.clone(),
            ));
        }
    }
}

fn describe_metrics() {
    metrics::describe_counter!(METRIC_ALERTS, "Safeguarding alerts raised or folded");
    metrics::describe_counter!(
        METRIC_NOTICES,
        "Alert notices and digests sent, by channel and outcome"
    );
}

fn category_label(category: &str) -> String {
    RiskCategory::parse(category).map_or_else(|| category.to_string(), |c| c.label().to_string())
}

fn notice(school: &WatchedSchool, alert: &Alert, route: &Route, admin_url: &str) -> AlertNotice {
    let person = alert.user.as_ref().map(|u| {
        school
            .display_names
            .get(&u.to_lowercase())
            .map_or_else(|| u.clone(), |name| format!("{name} ({u})"))
    });
    AlertNotice {
        alert_id: alert.id.0,
        school_name: school.name.clone(),
        category_label: category_label(&alert.category),
        category: alert.category.clone(),
        severity: alert.severity,
        person,
        group: alert.group.clone(),
        device: alert
            .device
            .clone()
            .or_else(|| Some(alert.client_ip.to_string())),
        at: alert.last_at,
        count: alert.count,
        matched_text: alert.matched_text.clone(),
        link: format!("{admin_url}/alerts/{}", alert.id),
        out_of_hours: route.out_of_hours,
    }
}

fn recipients(settings: &SchoolMonitoring, route: &Route) -> Vec<String> {
    let mut to = settings.dsl.clone();
    if route.out_of_hours {
        for extra in &settings.out_of_hours {
            if !to.contains(extra) {
                to.push(extra.clone());
            }
        }
    }
    to
}

/// Sends one immediate notice by email and webhook, trying a few times; marks the alert as
/// notified once either channel got through.
async fn send_notice(
    store: Store,
    senders: Arc<Senders>,
    notice: AlertNotice,
    recipients: Vec<String>,
    webhook: Option<String>,
    zone: jiff::tz::TimeZone,
) {
    let mut delivered = false;
    if let Some(smtp) = senders.smtp.as_ref().filter(|_| !recipients.is_empty()) {
        let message = email_for(&notice, senders.detail, &zone);
        for pause in SEND_ATTEMPTS {
            tokio::time::sleep(pause).await;
            match smtp.send(&recipients, &message).await {
                Ok(()) => {
                    delivered = true;
                    metrics::counter!(METRIC_NOTICES, "channel" => "email", "outcome" => "sent")
                        .increment(1);
                    break;
                }
                Err(e) => {
                    metrics::counter!(METRIC_NOTICES, "channel" => "email", "outcome" => "failed")
                        .increment(1);
                    error!(
                        alert = notice.alert_id,
                        "could not email a safeguarding alert: {e}"
                    );
                }
            }
        }
    }
    if let Some(url) = webhook {
        let body = webhook_json(&notice, senders.detail, &zone);
        for pause in SEND_ATTEMPTS {
            tokio::time::sleep(pause).await;
            match senders.webhook.post(&url, &body).await {
                Ok(_) => {
                    delivered = true;
                    metrics::counter!(METRIC_NOTICES, "channel" => "webhook", "outcome" => "sent")
                        .increment(1);
                    break;
                }
                Err(e) => {
                    metrics::counter!(METRIC_NOTICES, "channel" => "webhook", "outcome" => "failed")
                        .increment(1);
                    error!(
                        alert = notice.alert_id,
                        "could not send a safeguarding alert to the webhook: {e}"
                    );
                }
            }
        }
    }
    if delivered
        && let Err(e) = store
            .mark_alert_notified(hedgerow_store::AlertId(notice.alert_id), Timestamp::now())
            .await
    {
        warn!(
            alert = notice.alert_id,
            "an alert was sent but could not be marked as sent: {e}"
        );
    }
}

/// Sends the daily and weekly digests when they fall due, for every school with a DSL address
/// and a mail server. Alerts already sent at once are left out; alerts whose immediate notice
/// failed are included, so that nothing is never told.
async fn run_digests(
    store: Store,
    schedule: DigestSchedule,
    daily_min_severity: u8,
    schools: Arc<HashMap<SchoolId, WatchedSchool>>,
    senders: Arc<Senders>,
) {
    let Some(smtp) = senders.smtp.as_ref() else {
        return;
    };
    let mut after = Timestamp::now();
    loop {
        let daily = schedule.next_due(DigestKind::Daily, after);
        let weekly = schedule.next_due(DigestKind::Weekly, after);
        let (kind, due) = if weekly <= daily {
            (DigestKind::Weekly, weekly)
        } else {
            (DigestKind::Daily, daily)
        };
        let wait = Timestamp::now().duration_until(due);
        if let Ok(wait) = Duration::try_from(wait) {
            tokio::time::sleep(wait).await;
        }
        after = due;
        let period = schedule.period(kind, due);
        for school in schools.values().filter(|s| !s.settings.dsl.is_empty()) {
            if let Err(e) = send_digest(
                &store,
                smtp,
                &senders,
                school,
                kind,
                period,
                daily_min_severity,
            )
            .await
            {
                metrics::counter!(METRIC_NOTICES, "channel" => "digest", "outcome" => "failed")
                    .increment(1);
                error!(school = %school.name, "could not send the {kind:?} digest: {e:#}");
            }
        }
    }
}

async fn send_digest(
    store: &Store,
    smtp: &SmtpSender,
    senders: &Senders,
    school: &WatchedSchool,
    kind: DigestKind,
    period: (Timestamp, Timestamp),
    daily_min_severity: u8,
) -> anyhow::Result<()> {
    // The weekly digest sweeps up whatever no daily digest took over the whole week.
    let alerts: Vec<Alert> = store
        .alerts_for_digest(school.id, period.0, period.1)
        .await?
        .into_iter()
        .filter(|a| kind == DigestKind::Weekly || a.severity >= daily_min_severity)
        .collect();
    if alerts.is_empty() && kind == DigestKind::Daily {
        return Ok(());
    }
    let items: Vec<DigestItem> = alerts
        .iter()
        .map(|a| DigestItem {
            alert_id: a.id.0,
            category: a.category.clone(),
            category_label: category_label(&a.category),
            severity: a.severity,
            at: a.first_at,
            count: a.count,
            group: a.group.clone(),
        })
        .collect();
    let link = match kind {
        DigestKind::Daily => format!("{}/alerts", senders.admin_url),
        DigestKind::Weekly => format!("{}/monitoring/report", senders.admin_url),
    };
    let message = digest_email(&school.name, kind, period, &items, &link, &school.zone);
    smtp.send(&school.settings.dsl, &message).await?;
    metrics::counter!(METRIC_NOTICES, "channel" => "digest", "outcome" => "sent").increment(1);
    let ids: Vec<_> = alerts.iter().map(|a| a.id).collect();
    store.mark_alerts_digested(&ids, Timestamp::now()).await?;
    Ok(())
}
