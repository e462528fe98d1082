//! The running gateway: everything `serve` and `demo` start, and the reload and shutdown that
//! keep it consistent.
//!
//! The current engine snapshot (index, policies, directory) sits behind an `ArcSwap`: a reload
//! builds a complete new snapshot beside the old and swaps it in one step, so no decision ever
//! sees half of a change. List compilation for a reload runs in a child process, so the
//! gateway's own memory never carries a compiler's peak.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use hedgerow_lists::{ListClass, Target};
use hedgerow_policy::Request;
use hedgerow_store::{AuditEntry, EventWriter, NewDevice, NewUser, Store, UserKind, WriterConfig};
use tracing::{error, info, warn};

use crate::RunOptions;
use crate::agreement_gate::AgreementGate;
use crate::dns::GatewayDnsPolicy;
use crate::setup::{ConfigFile, Snapshot};
use crate::signed_in::SignedIn;

/// Where the metrics endpoint listens when nothing else is said.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9300";

/// What differs between `serve` and `demo` once the configuration is loaded.
pub struct Launch {
    pub config: ConfigFile,
    pub run: RunOptions,
    /// Demo accounts and their password hash, seeded into the store (demo mode only).
    pub demo_password_hash: Option<String>,
}

/// `hedgerow serve --config FILE`.
pub fn serve(config_path: &Path, run: RunOptions) -> anyhow::Result<ExitCode> {
    let config = ConfigFile::read(config_path)?;
    start(Launch {
        config,
        run,
        demo_password_hash: None,
    })
}

/// Builds the runtime and runs the gateway until it is asked to stop.
pub fn start(launch: Launch) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(launch))?;
    Ok(ExitCode::SUCCESS)
}

async fn run(mut launch: Launch) -> anyhow::Result<()> {
    launch.config.apply_overrides(&launch.run);
    let config = launch.config;
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    config.ensure_builtin_lists()?;
    compile_if_stale(&config)?;
    let snapshot = Snapshot::build(&config)?;
    self_check(&snapshot)?;
    let current = Arc::new(ArcSwap::from_pointee(snapshot));

    let metrics_listen = launch
        .run
        .metrics_listen
        .or_else(|| config.config.listeners.get("metrics").copied())
        .unwrap_or_else(|| {
            DEFAULT_METRICS_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9300)))
        });
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(metrics_listen)
        .install()
        .with_context(|| format!("cannot serve metrics on {metrics_listen}; is another program using that port? Choose another with --metrics-listen"))?;
    publish_index_metrics(&current.load());

    let store = Store::open(&config.database_url)
        .await
        .with_context(|| format!("cannot open the store at {}", redact(&config.database_url)))?;
    let schools = sync_directory(&store, &config, launch.demo_password_hash.as_deref()).await?;
    // Monitoring watches events once they are written, so it never delays a decision.
    let (events, writer, monitor) =
        match crate::monitor::start(&store, &config, &schools, launch.run.admin_listen)? {
            Some((observer, monitor)) => {
                let (events, writer) =
                    EventWriter::spawn_observed(store.clone(), WriterConfig::default(), observer);
                (events, writer, Some(monitor))
            }
            None => {
                let (events, writer) = EventWriter::spawn(store.clone(), WriterConfig::default());
                (events, writer, None)
            }
        };
    let signed_in = Arc::new(SignedIn::default());

    // Change control (live_policy.rs): the policy changes in force join the configuration
    // before anything answers, and a ticker keeps them live.
    let live = Arc::new(crate::live_policy::LivePolicy::new(
        ConfigFile::read(&config.path).map(|mut c| {
            c.apply_overrides(&launch.run);
            c
        })?,
        Arc::clone(&current),
        store.clone(),
        schools.clone(),
    ));
    live.refresh().await?;
    let live_ticker = tokio::spawn(Arc::clone(&live).run_ticker());
    let retention = tokio::spawn(crate::retention::run(
        store.clone(),
        config.config.retention,
        schools.clone(),
    ));

    let gate = start_gate(&config, &launch.run, &store, &current, &signed_in, &schools).await?;
    let gate_ticker = tokio::spawn(Arc::clone(&gate).run_ticker());

    let upstreams = upstreams(&config, &launch.run);
    let schools_for_proxy = schools.clone();
    let dns = start_dns(
        &config,
        &launch.run,
        &upstreams,
        &current,
        &signed_in,
        &events,
        schools,
        &gate,
    )?;
    let proxy = start_proxy(
        &config,
        &launch.run,
        &current,
        &signed_in,
        &events,
        &store,
        &schools_for_proxy,
        launch.demo_password_hash.is_some(),
        &gate,
    )
    .await?;
    let admin = start_admin(&config, &launch.run, &store, &live, &gate).await?;
    let portal = start_portal(&config, &launch.run, &store, &gate).await?;
    let snapshot = current.load();
    info!(
        schools = snapshot.engines.len(),
        index_keys = snapshot.index.key_count(),
        store = store.backend_name(),
        metrics = %metrics_listen,
        upstreams = ?upstreams,
        data_dir = %config.data_dir.display(),
        "Hedgerow is running; press Ctrl-C to stop, send SIGHUP to reload lists and configuration"
    );
    drop(snapshot);

    let proxy_policy = proxy.as_ref().map(|(_, policy)| Arc::clone(policy));
    let gate_for_reload = Arc::clone(&gate);
    let config_path = config.path.clone();
    let after_reload = move || {
        // Accounts may have been disabled or changed: passwords are checked afresh.
        if let Some(policy) = &proxy_policy {
            policy.forget_sign_ins();
        }
        // The held groups may have changed with the configuration.
        let gate = Arc::clone(&gate_for_reload);
        let path = config_path.clone();
        tokio::spawn(async move {
            match ConfigFile::read(&path) {
                Ok(config) => gate.set_holds(agreement_holds(&config.config)).await,
                Err(e) => warn!("cannot re-read the held groups: {e:#}"),
            }
        });
    };
    wait_for_signals(&config.path, &launch.run, &live, &after_reload).await;
    live_ticker.abort();
    retention.abort();
    gate_ticker.abort();

    if let Some((stop, task)) = portal {
        info!("stopping the access portal");
        let _ = stop.send(());
        let _ = task.await;
    }

    if let Some((stop, task)) = admin {
        info!("stopping the admin app");
        let _ = stop.send(());
        let _ = task.await;
    }
    if let Some((proxy, _)) = proxy {
        info!("stopping the web proxy");
        proxy.shutdown(std::time::Duration::from_secs(5)).await;
    }

    if let Some((server, policy, logger)) = dns {
        info!("stopping the DNS filter");
        server.shutdown().await;
        // The server held the other reference; the logger drains its queue and ends.
        drop(policy);
        let _ = tokio::task::spawn_blocking(move || logger.join()).await;
    }
    drop(events);
    info!("stopping: writing every accepted activity event to the store");
    match writer.shutdown().await {
        Ok(stats) => info!(
            written = stats.written,
            rejected = stats.rejected,
            "activity log closed"
        ),
        Err(e) => error!("some activity events could not be written: {e}"),
    }
    if let Some(monitor) = monitor {
        // The writer held the monitor's intake; with it gone the monitor finishes and ends.
        monitor.shutdown().await;
    }
    store.close().await;
    Ok(())
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &url[..scheme], &url[at..]),
        _ => url.to_string(),
    }
}

async fn wait_for_signals(
    config_path: &Path,
    run: &RunOptions,
    live: &crate::live_policy::LivePolicy,
    after_reload: &(dyn Fn() + Sync),
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut hangup), Ok(mut terminate)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
    ) else {
        warn!("cannot listen for SIGHUP/SIGTERM; stop with Ctrl-C");
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = terminate.recv() => return,
            _ = hangup.recv() => {
                match reload(config_path, run, live).await {
                    Ok(snapshot) => {
                        after_reload();
                        publish_index_metrics(&snapshot);
                        info!("reloaded lists and configuration");
                    }
                    Err(e) => error!("reload failed, still using the previous lists and configuration: {e:#}"),
                }
            }
        }
    }
}

/// Recompiles the lists in a child process, then builds and swaps in a fresh snapshot (with
/// the policy changes in force) and returns it.
async fn reload(
    config_path: &Path,
    run: &RunOptions,
    live: &crate::live_policy::LivePolicy,
) -> anyhow::Result<Arc<Snapshot>> {
    let mut config = ConfigFile::read(config_path)?;
    config.apply_overrides(run);
    let exe =
        std::env::current_exe().context("cannot find the hedgerow program to compile lists")?;
    let mut compile = tokio::process::Command::new(exe);
    compile
        .args(["lists", "compile", "--config"])
        .arg(config_path);
    compile.arg("--output").arg(&config.index_path);
    for folder in run.lists.iter() {
        compile.arg("--lists").arg(folder);
    }
    let status = compile
        .status()
        .await
        .context("cannot run the list compiler")?;
    if !status.success() {
        bail!("compiling the lists failed (see the messages above); the index in use was kept");
    }
    // Change control: the new configuration and index, plus the changes in force.
    live.reload(config).await?;
    Ok(live.snapshot())
}

fn publish_index_metrics(snapshot: &Snapshot) {
    metrics::gauge!("hedgerow_index_keys").set(snapshot.index.key_count() as f64);
    metrics::gauge!("hedgerow_index_bytes").set(snapshot.index.byte_size() as f64);
    metrics::gauge!("hedgerow_index_lists").set(snapshot.index.lists().len() as f64);
}

/// Compiles the lists when there is no index yet or a list file is newer than it.
pub fn compile_if_stale(config: &ConfigFile) -> anyhow::Result<()> {
    let index_time = std::fs::metadata(&config.index_path)
        .and_then(|m| m.modified())
        .ok();
    let folders = config.all_list_folders();
    let stale = match index_time {
        None => true,
        // Written by an older format, or damaged: build it again rather than refuse to start.
        Some(_) if hedgerow_catalog::open_index(&config.index_path).is_err() => true,
        Some(built) => {
            newest_change(&folders).is_some_and(|changed| changed > built)
                || config_changed_after(config, built)
        }
    };
    if stale {
        info!(index = %config.index_path.display(), "compiling the category lists");
        let taxonomy = config.taxonomy()?;
        let report = crate::lists::compile_and_install(&folders, &taxonomy, &config.index_path)?;
        let skipped: usize = report.files.iter().map(|f| f.errors.len()).sum();
        for file in report.files.iter().filter(|f| !f.errors.is_empty()) {
            warn!(file = %file.source.path.display(), first_line = file.errors[0].line, skipped = file.errors.len(), "broken list lines skipped: {}", file.errors[0].reason);
        }
        info!(
            entries = report.entries,
            lists = report.lists,
            skipped,
            seconds = report.elapsed.as_secs_f64(),
            "lists compiled"
        );
    }
    Ok(())
}

fn config_changed_after(config: &ConfigFile, built: SystemTime) -> bool {
    let taxonomy = config
        .taxonomy_path
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok());
    taxonomy.is_some_and(|t| t > built)
}

fn newest_change(folders: &[PathBuf]) -> Option<SystemTime> {
    let mut newest = None;
    let mut visit = |path: &Path| {
        if let Ok(time) = std::fs::metadata(path).and_then(|m| m.modified()) {
            newest = newest.max(Some(time));
        }
    };
    for folder in folders {
        visit(folder);
        for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
            visit(&entry.path());
            if entry.path().is_dir() {
                for inner in std::fs::read_dir(entry.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    visit(&inner.path());
                }
            }
        }
    }
    newest
}

/// Proves, before serving, that every illegal-list check entry is blocked for every group of
/// every school. A gateway that would let one through refuses to start.
pub(crate) fn self_check(snapshot: &Snapshot) -> anyhow::Result<()> {
    let at = jiff::Timestamp::now();
    let checks = illegal_check_targets(snapshot);
    if checks.is_empty() {
        warn!(
            "no illegal-content list is loaded; install the IWF and CTIRU lists (see docs/lists.md)"
        );
    }
    let mut tried = 0;
    for (slug, engine) in &snapshot.engines {
        for group in &engine.spec().groups {
            for target in &checks {
                let request = Request {
                    group: &group.key,
                    user: None,
                    device: None,
                    target,
                    at,
                };
                tried += 1;
                if engine.decide(&request).is_allowed() {
                    bail!(
                        "self-check failed: the illegal-content check entry {} is allowed for group {} of school {slug}; refusing to start",
                        target.host,
                        group.key
                    );
                }
            }
        }
    }
    info!(
        checks = tried,
        "self-check passed: illegal-content check entries are blocked for every group"
    );
    Ok(())
}

/// The shipped illegal check entries that the loaded index holds as illegal: all of them
/// unless the school installed its own illegal-list folders instead of the built-in ones.
fn illegal_check_targets(snapshot: &Snapshot) -> Vec<Target> {
    crate::setup::builtin_illegal_checks()
        .into_iter()
        .filter(|target| {
            let mut matches = Vec::new();
            snapshot.index.lookup(target, &mut matches);
            matches.iter().any(|m| {
                snapshot
                    .index
                    .list(m.list)
                    .is_some_and(|l| l.class == ListClass::Illegal)
            })
        })
        .collect()
}

/// The upstream resolvers: from the command line, else the configuration, else the system's
/// own (`/etc/resolv.conf`), so a demo works out of the box.
fn upstreams(config: &ConfigFile, run: &RunOptions) -> Vec<SocketAddr> {
    if !run.upstream.is_empty() {
        return run.upstream.clone();
    }
    if !config.config.upstreams.is_empty() {
        return config.config.upstreams.clone();
    }
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|addr| addr.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

type RunningDns = (
    hedgerow_dns::DnsServer,
    Arc<GatewayDnsPolicy>,
    std::thread::JoinHandle<()>,
);

/// Starts the DNS filter when a listener is configured.
#[allow(clippy::too_many_arguments)]
fn start_dns(
    config: &ConfigFile,
    run: &RunOptions,
    upstreams: &[SocketAddr],
    current: &Arc<ArcSwap<Snapshot>>,
    signed_in: &Arc<SignedIn>,
    events: &hedgerow_store::EventSink,
    schools: HashMap<String, hedgerow_store::SchoolId>,
    gate: &Arc<AgreementGate>,
) -> anyhow::Result<Option<RunningDns>> {
    let listen: Vec<SocketAddr> = if run.dns_listen.is_empty() {
        config
            .config
            .listeners
            .get("dns")
            .copied()
            .into_iter()
            .collect()
    } else {
        run.dns_listen.clone()
    };
    if listen.is_empty() {
        info!(
            "no DNS listener configured ([listeners] dns or --dns-listen); the DNS filter is off"
        );
        return Ok(None);
    }
    if upstreams.is_empty() {
        warn!(
            "no upstream resolver is configured; allowed names will get SERVFAIL until one is given with --upstream or `upstreams`"
        );
    }
    let settings = &config.config.dns;
    let mut dns_config = hedgerow_dns::DnsConfig {
        listen: listen.clone(),
        upstreams: upstreams.to_vec(),
        block_response: match settings.block_response {
            hedgerow_config::BlockResponse::NxDomain => hedgerow_dns::BlockResponse::NxDomain,
            hedgerow_config::BlockResponse::Null => hedgerow_dns::BlockResponse::Null,
            hedgerow_config::BlockResponse::BlockPage => hedgerow_dns::BlockResponse::BlockPage {
                v4: settings
                    .block_page_v4
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                v6: settings
                    .block_page_v6
                    .unwrap_or(std::net::Ipv6Addr::UNSPECIFIED),
            },
        },
        ..hedgerow_dns::DnsConfig::default()
    };
    if let Some(workers) = run.dns_workers.or(settings.workers) {
        dns_config.workers = workers.max(1);
    }
    if let Some(bytes) = settings.cache_bytes {
        dns_config.cache_max_bytes = bytes;
    }
    match settings.rate_limit_qps {
        Some(0) => dns_config.rate_limit = None,
        Some(qps) => {
            dns_config.rate_limit = Some(hedgerow_dns::RateLimit {
                qps,
                burst: qps.saturating_mul(2),
            })
        }
        None => {}
    }
    let (policy, logger) = GatewayDnsPolicy::new(
        Arc::clone(current),
        Arc::clone(signed_in),
        events.clone(),
        schools,
        Some(Arc::clone(gate)),
    )
    .context("cannot start the DNS event logger")?;
    let for_server: Arc<dyn hedgerow_dns::QueryPolicy> = policy.clone();
    let server = hedgerow_dns::DnsServer::start(dns_config, for_server).with_context(|| {
        format!("cannot start the DNS filter on {listen:?}; is another DNS server using that port? Choose another with --dns-listen")
    })?;
    info!(listen = ?server.local_addrs(), upstreams = ?upstreams, "DNS filter listening");
    Ok(Some((server, policy, logger)))
}

/// Each school's held groups (`[school.agreements] hold`), by slug.
fn agreement_holds(config: &hedgerow_config::Config) -> HashMap<String, Vec<String>> {
    config
        .schools
        .iter()
        .map(|s| (s.policy.school.clone(), s.agreement_hold.clone()))
        .collect()
}

/// Where the access portal listens: the command line's address, else the configured one.
fn portal_listen(config: &ConfigFile, run: &RunOptions) -> Option<SocketAddr> {
    run.portal_listen
        .or_else(|| config.config.listeners.get("portal").copied())
}

/// Publishes the default agreements where a school has none, and builds the agreement gate.
/// Holding anyone needs a portal to send them to: without one, the gateway does not start.
async fn start_gate(
    config: &ConfigFile,
    run: &RunOptions,
    store: &Store,
    current: &Arc<ArcSwap<Snapshot>>,
    signed_in: &Arc<SignedIn>,
    schools: &HashMap<String, hedgerow_store::SchoolId>,
) -> anyhow::Result<Arc<AgreementGate>> {
    let defaults = crate::agreement_gate::default_agreements();
    for (slug, school) in schools {
        let published = store
            .ensure_default_agreements(*school, &defaults)
            .await
            .with_context(|| format!("cannot publish the default agreements for {slug}"))?;
        if published > 0 {
            info!(school = %slug, published, "published the default acceptable use agreements");
        }
    }
    let portal = match run.portal_listen {
        Some(listen) => config.config.portal.for_listener(listen),
        None => config.config.portal.clone(),
    };
    let holds = agreement_holds(&config.config);
    let holding: Vec<&str> = holds
        .iter()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(slug, _)| slug.as_str())
        .collect();
    if !holding.is_empty() {
        if portal_listen(config, run).is_none() {
            bail!(
                "{} holds groups at the access portal ([school.agreements] hold), but the portal is not served; add `portal = \"ADDRESS:PORT\"` under [listeners] or give --portal-listen",
                holding.join(", ")
            );
        }
        if portal.address.is_none() {
            bail!(
                "{} holds groups at the access portal, but the portal has no IPv4 address to give held clients; set address under [portal] to the address clients reach it on",
                holding.join(", ")
            );
        }
    }
    // The admin app is never held: staff must be able to reach it to record acceptances.
    let mut exempt = config.config.admin.names.clone();
    if let Some(admin) = run
        .admin_listen
        .or_else(|| config.config.listeners.get("admin").copied())
        && !admin.ip().is_unspecified()
    {
        exempt.push(admin.ip().to_string());
    }
    let gate = AgreementGate::new(
        store.clone(),
        Arc::clone(current),
        Arc::clone(signed_in),
        schools.clone(),
        holds,
        portal,
        &exempt,
    );
    gate.refresh()
        .await
        .context("cannot read the acceptable use agreements for the portal hold")?;
    Ok(gate)
}

/// Starts the access portal when a listener is configured.
async fn start_portal(
    config: &ConfigFile,
    run: &RunOptions,
    store: &Store,
    gate: &Arc<AgreementGate>,
) -> anyhow::Result<Option<RunningAdmin>> {
    let Some(listen) = portal_listen(config, run) else {
        info!(
            "no access portal listener configured ([listeners] portal or --portal-listen); the portal is off"
        );
        return Ok(None);
    };
    let url = gate
        .portal()
        .url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}/"));
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
        format!("cannot start the access portal on {listen}; choose another address with --portal-listen")
    })?;
    let for_portal: Arc<dyn hedgerow_web::portal::PortalGate> = gate.clone();
    let portal = hedgerow_web::portal::Portal::new(store.clone(), for_portal, url.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stopped.await;
    };
    info!(listen = %listen, url = %url, "access portal listening");
    let task = tokio::spawn(hedgerow_web::portal::serve(listener, portal, stopped));
    Ok(Some((stop, task)))
}

type RunningAdmin = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

/// Starts the admin web app when a listener is configured.
async fn start_admin(
    config: &ConfigFile,
    run: &RunOptions,
    store: &Store,
    live: &Arc<crate::live_policy::LivePolicy>,
    gate: &Arc<AgreementGate>,
) -> anyhow::Result<Option<RunningAdmin>> {
    let Some(listen) = run
        .admin_listen
        .or_else(|| config.config.listeners.get("admin").copied())
    else {
        info!(
            "no admin app listener configured ([listeners] admin or --admin-listen); the admin app is off"
        );
        return Ok(None);
    };
    // The configuration file's own listener was checked when it was read; one from the
    // command line is checked here, with the same message.
    let settings = &config.config.admin;
    if let Err(message) = settings.check_listener(listen) {
        bail!("cannot start the admin app: {message}");
    }
    // Certificate paths are relative to the configuration file, like the rest of it.
    let beside_config = |path: &Path| match config.path.parent() {
        Some(folder) if path.is_relative() => folder.join(path),
        _ => path.to_path_buf(),
    };
    let server_config = match &settings.tls {
        hedgerow_config::AdminTls::Off => None,
        hedgerow_config::AdminTls::SchoolCa => Some(
            hedgerow_web::school_ca_server_config(&config.data_dir, &settings.names, listen)
                .context("cannot start the admin app over HTTPS")?,
        ),
        hedgerow_config::AdminTls::Files { cert, key } => Some(
            hedgerow_web::files_server_config(&beside_config(cert), &beside_config(key))
                .context("cannot start the admin app over HTTPS")?,
        ),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!(
                "cannot start the admin app on {listen}; choose another address with --admin-listen"
            )
        })?;
    // Cookies are marked Secure unless the app speaks plain HTTP on loopback only (the demo),
    // where browsers would otherwise refuse them; plain HTTP anywhere else was refused above.
    let control = Arc::new(crate::admin_control::LiveControl {
        live: Arc::clone(live),
        records: crate::monitor::record_notifier(config, Some(listen))?,
        portal_url: gate.portal().url.clone(),
    });
    let retention = &config.config.retention;
    let app = hedgerow_web::AdminApp::new(
        store.clone(),
        control,
        settings.secure_cookies(),
        hedgerow_store::RecordRetention {
            child_protection_years_after_birth: retention.child_protection_years,
            staff_allegation_years: retention.staff_allegation_years,
            online_safety_years: retention.online_safety_years,
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stopped.await;
    };
    let task = match (server_config, settings.trusted_proxy) {
        (Some(server_config), _) => {
            info!(listen = %listen, tls = ?settings.tls, names = ?settings.names, "admin app listening over HTTPS");
            tokio::spawn(hedgerow_web::serve_tls(
                listener,
                app,
                server_config,
                stopped,
            ))
        }
        (None, Some(proxy)) if settings.behind_tls_proxy => {
            info!(listen = %listen, trusted_proxy = %proxy, "admin app listening over plain HTTP behind a reverse proxy that serves HTTPS");
            tokio::spawn(hedgerow_web::serve_behind_proxy(
                listener, app, proxy, stopped,
            ))
        }
        (None, _) => {
            info!(listen = %listen, "admin app listening over plain HTTP (loopback only)");
            tokio::spawn(hedgerow_web::serve(listener, app, stopped))
        }
    };
    Ok(Some((stop, task)))
}

type RunningProxy = (hedgerow_proxy::ProxyServer, Arc<crate::proxy::GatewayProxy>);

/// Starts the web proxy when a listener is configured.
#[allow(clippy::too_many_arguments)]
async fn start_proxy(
    config: &ConfigFile,
    run: &RunOptions,
    current: &Arc<ArcSwap<Snapshot>>,
    signed_in: &Arc<SignedIn>,
    events: &hedgerow_store::EventSink,
    store: &Store,
    schools: &HashMap<String, hedgerow_store::SchoolId>,
    demo: bool,
    gate: &Arc<AgreementGate>,
) -> anyhow::Result<Option<RunningProxy>> {
    let listen: Vec<SocketAddr> = if run.proxy_listen.is_empty() {
        config
            .config
            .listeners
            .get("proxy")
            .copied()
            .into_iter()
            .collect()
    } else {
        run.proxy_listen.clone()
    };
    if listen.is_empty() {
        info!(
            "no web proxy listener configured ([listeners] proxy or --proxy-listen); the web proxy is off"
        );
        return Ok(None);
    }
    let settings = config.config.proxy.clone();
    let public_authority = match &settings.public_address {
        Some(public) if run.proxy_listen.is_empty() => public.to_string(),
        _ => listen[0].to_string(),
    };
    let mut proxy_config = hedgerow_proxy::ProxyConfig::new(listen.clone());
    proxy_config.local_names = vec![public_authority.clone()];
    proxy_config.idle_timeout =
        std::time::Duration::from_secs(settings.idle_timeout_seconds.max(1));
    if let Some(bytes) = settings.max_header_bytes {
        proxy_config.limits.max_head = bytes;
        proxy_config.limits.max_header_line = proxy_config.limits.max_header_line.min(bytes);
    }
    if let Some(parent) = &settings.parent {
        proxy_config.parent = Some(hedgerow_proxy::Parent {
            host: parent.host.to_string(),
            port: parent.port,
        });
    }
    if let Some(path) = &settings.hosts_file {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the proxy's hosts file {}; fix `[proxy] hosts_file`",
                path.display()
            )
        })?;
        proxy_config.hosts = parse_hosts_file(&text);
    }
    proxy_config.origin_tls = Some(
        hedgerow_tls::origin_client_config(&settings.trust_roots).context(
            "cannot set up the trust roots for HTTPS sites; check `[proxy] trust_roots`",
        )?,
    );
    let ca_files = hedgerow_tls::ca_files(&config.data_dir);
    let (leaves, ca) = if ca_files.key.exists() {
        let ca = hedgerow_tls::SchoolCa::load(&config.data_dir)
            .context("the school CA cannot be used for HTTPS inspection")?;
        let exported = (ca.certificate_pem(), ca.certificate_der());
        let leaves = hedgerow_tls::LeafCertificates::new(ca, hedgerow_tls::DEFAULT_LEAF_CACHE)
            .context("cannot prepare certificates for HTTPS inspection")?;
        (Some(leaves), Some(exported))
    } else {
        let wants_inspection = config.config.schools.iter().any(|s| {
            s.policy
                .groups
                .iter()
                .any(|g| !matches!(g.web.inspect, hedgerow_policy::InspectScope::Nothing))
        });
        if wants_inspection {
            warn!(
                "some groups ask for HTTPS inspection, but there is no school CA; run `hedgerow ca init --config {}` and install its certificate on the devices",
                config.path.display()
            );
        }
        (None, None)
    };
    let auth = crate::auth::ProxyAuthenticator::new(
        store.clone(),
        crate::auth::AuthSettings::from_proxy(&settings),
        demo,
    )?;
    let runtime = crate::proxy::ProxyRuntime {
        monitoring: config.config.monitoring.enabled,
        connect_ports: Some(settings.connect_ports.clone()),
        settings,
        public_authority: public_authority.clone(),
        gate: Some(Arc::clone(gate)),
    };
    let hooks = Arc::new(crate::proxy::GatewayProxy::new(
        Arc::clone(current),
        Arc::clone(signed_in),
        auth,
        leaves,
        ca,
        events.clone(),
        store.clone(),
        schools.clone(),
        runtime,
    ));
    let server = hedgerow_proxy::ProxyServer::start(proxy_config, Arc::clone(&hooks))
        .await
        .with_context(|| format!("cannot start the web proxy on {listen:?}; choose another address with --proxy-listen"))?;
    info!(listen = ?server.local_addrs(), public = %public_authority, "web proxy listening");
    Ok(Some((server, hooks)))
}

/// Reads a hosts file (`address name...` per line, `#` comments).
fn parse_hosts_file(text: &str) -> HashMap<String, Vec<std::net::IpAddr>> {
    let mut hosts: HashMap<String, Vec<std::net::IpAddr>> = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(Ok(address)) = fields.next().map(str::parse::<std::net::IpAddr>) else {
            continue;
        };
        for name in fields {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            hosts.entry(name).or_default().push(address);
        }
    }
    hosts
}

/// Mirrors the configured schools, users and devices into the store, keeping passwords set
/// elsewhere. In demo mode, every user gets the demo password, usable in demo mode only.
/// Returns each school's id in the store, by slug.
async fn sync_directory(
    store: &Store,
    config: &ConfigFile,
    demo_password_hash: Option<&str>,
) -> anyhow::Result<HashMap<String, hedgerow_store::SchoolId>> {
    let mut ids = HashMap::new();
    for school in &config.config.schools {
        let policy = &school.policy;
        let id = store
            .ensure_school(
                &policy.school,
                &policy.school_name,
                policy.time_zone.iana_name().unwrap_or("Europe/London"),
            )
            .await?;
        if let Some(hash) = demo_password_hash {
            crate::demo::ensure_demo_staff(store, id, hash).await?;
        }
        for user in &school.directory.users {
            let existing = store.user(id, &user.username).await?;
            let (password_hash, demo_only) = match (demo_password_hash, existing) {
                (Some(hash), _) => (Some(hash.to_string()), true),
                (None, Some(existing)) => (existing.password_hash, existing.demo_only),
                (None, None) => (None, false),
            };
            store
                .upsert_user(
                    id,
                    &NewUser {
                        username: user.username.clone(),
                        display_name: user.display_name.clone(),
                        kind: match user.kind {
                            hedgerow_identity::UserKind::Pupil => UserKind::Pupil,
                            hedgerow_identity::UserKind::Staff => UserKind::Staff,
                            hedgerow_identity::UserKind::Visitor => UserKind::Visitor,
                        },
                        group_key: user.group.clone(),
                        password_hash,
                        demo_only,
                        disabled: false,
                    },
                )
                .await?;
        }
        for device in &school.directory.devices {
            store
                .upsert_device(
                    id,
                    &NewDevice {
                        name: device.name.clone(),
                        kind: device.kind.clone(),
                        group_key: device.group.clone(),
                        addresses: device.addresses.iter().map(|a| a.to_string()).collect(),
                        authenticated: device.requires_login,
                    },
                )
                .await?;
        }
        if demo_password_hash.is_some() {
            crate::demo::ensure_demo_records(store, id).await?;
            crate::demo::ensure_demo_agreements(store, id, school).await?;
        }
        store
            .append_audit(&AuditEntry {
                school: Some(id),
                at: jiff::Timestamp::now(),
                actor: "system:startup".into(),
                action: "directory.sync".into(),
                target: policy.school.clone(),
                detail: format!(
                    "{} users and {} devices from {}",
                    school.directory.users.len(),
                    school.directory.devices.len(),
                    config.path.display()
                ),
                from_addr: None,
            })
            .await?;
        ids.insert(policy.school.clone(), id);
    }
    Ok(ids)
}
