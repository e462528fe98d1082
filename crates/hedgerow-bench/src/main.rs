//! `hedgerow-bench`: measures the list index, the decision engine and monitoring's cost.
//!
//! Speed and memory are measured here, never by timed tests. `bench/foundation.sh` drives this
//! tool over the shared lists and a synthetic 5-million-domain list, and the figures go into
//! `docs/benchmarks.md` with the command and the machine.

mod connect_load;
mod explorer;
mod insert_load;
mod monitor;
mod sample;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hedgerow_lists::{ListIndex, Target, Taxonomy};
use hedgerow_policy::{
    Action, Engine, GroupKind, GroupSpec, PolicySpec, Request, SearchSettings, Selector,
    WebSettings,
};

#[derive(Parser)]
#[command(about = "Measure Hedgerow's list index and decision engine.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile time, index size, load time and decisions per second on one core.
    Index {
        /// List folders to compile.
        #[arg(long, required = true)]
        lists: Vec<PathBuf>,
        #[arg(long)]
        taxonomy: PathBuf,
        /// Source lists to block for the measured group (one name per line, `#` comments).
        #[arg(long)]
        policy: PathBuf,
        /// Workload: one target per line; a TAB-separated expected verdict is checked if present.
        #[arg(long)]
        workload: PathBuf,
        /// Where to write the compiled index.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        compile_runs: usize,
        /// Seconds to spend measuring decisions.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Resident memory while a new index replaces the one in use.
    Replace {
        /// The index in use.
        #[arg(long)]
        index: PathBuf,
        /// The index that replaces it (a copy of the same file is the realistic case).
        #[arg(long)]
        replacement: PathBuf,
        #[arg(long)]
        policy: PathBuf,
        #[arg(long)]
        workload: PathBuf,
        /// How many replacements to make.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// CONNECT (or plain HTTP) load through a forward proxy: a faster drop-in for the shared
    /// harness's connect_load.py, with the same options and summary line.
    ConnectLoad(connect_load::ConnectLoadArgs),
    /// The activity explorer on a year of synthetic events (SQLite or PostgreSQL).
    Explorer(explorer::ExplorerArgs),
    /// The activity writer's batches into a store already holding a million DNS events.
    InsertLoad(insert_load::InsertLoadArgs),
    /// Safeguarding detection: classifier throughput and the monitor's work per event.
    #[command(subcommand)]
    Monitor(monitor::MonitorCommand),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Index {
            lists,
            taxonomy,
            policy,
            workload,
            out,
            compile_runs,
            seconds,
        } => index(
            &lists,
            &taxonomy,
            &policy,
            &workload,
            &out,
            compile_runs,
            seconds,
        ),
        Command::Replace {
            index,
            replacement,
            policy,
            workload,
            rounds,
        } => replace(&index, &replacement, &policy, &workload, rounds),
        Command::ConnectLoad(args) => connect_load::run(args),
        Command::Explorer(args) => explorer::run(args),
        Command::InsertLoad(args) => insert_load::run(args),
        Command::Monitor(command) => monitor::run(command),
    }
}

fn index(
    lists: &[PathBuf],
    taxonomy: &Path,
    policy: &Path,
    workload: &Path,
    out: &Path,
    runs: usize,
    seconds: f64,
) -> anyhow::Result<()> {
    let taxonomy = Taxonomy::parse(&std::fs::read_to_string(taxonomy)?)?;
    let mut compile_times = Vec::new();
    let mut report = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        report = Some(hedgerow_catalog::compile(lists, &taxonomy)?);
        compile_times.push(started.elapsed());
    }
    let report = report.context("no compile run")?;
    hedgerow_catalog::write_index(out, &report.bytes)?;
    let entries = report.entries;
    let bytes = report.bytes.len();
    drop(report);

    let mut load_times = Vec::new();
    let mut loaded = None;
    for _ in 0..50 {
        let started = Instant::now();
        let index = hedgerow_catalog::open_index(out)?;
        load_times.push(started.elapsed());
        loaded = Some(index);
    }
    let index = Arc::new(loaded.context("no load run")?);
    let keys = index.key_count();
    let domain_entries: u64 = index.lists().iter().map(|l| u64::from(l.entries)).sum();

    let engine = engine(&index, policy)?;
    let (targets, expected) = read_workload(workload)?;
    let texts = read_texts(workload)?;
    let at = jiff::Timestamp::now();

    let (agree, compared) = agreement(&engine, &targets, &expected, at);
    let decide_rate = measure(seconds, targets.len(), |i| {
        let request = Request {
            group: "pupils",
            user: None,
            device: None,
            target: &targets[i],
            at,
        };
        engine.decide(&request).is_allowed()
    });
    let parse_rate = measure(seconds, texts.len(), |i| match Target::parse(&texts[i]) {
        Ok(target) => {
            let request = Request {
                group: "pupils",
                user: None,
                device: None,
                target: &target,
                at,
            };
            engine.decide(&request).is_allowed()
        }
        Err(_) => false,
    });

    compile_times.sort();
    load_times.sort();
    let result = serde_json::json!({
        "lists": lists,
        "workload": workload,
        "entries_read": entries,
        "distinct_keys": keys,
        "list_entries_after_dedup_per_list": domain_entries,
        "index_bytes": bytes,
        "bytes_per_distinct_key": bytes as f64 / keys.max(1) as f64,
        "bytes_per_entry_read": bytes as f64 / entries.max(1) as f64,
        "compile_seconds_min": compile_times[0].as_secs_f64(),
        "compile_seconds_median": compile_times[compile_times.len() / 2].as_secs_f64(),
        "load_ms_median": ms(load_times[load_times.len() / 2]),
        "load_ms_max": ms(load_times[load_times.len() - 1]),
        "decisions_per_second_one_core": decide_rate,
        "parse_and_decide_per_second_one_core": parse_rate,
        "workload_rows": targets.len(),
        "agreement_with_expected": if compared > 0 { Some(agree as f64 / compared as f64) } else { None },
        "rows_compared": compared,
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `decide` over the workload, round after round, for about `seconds`; decisions/second.
fn measure(seconds: f64, len: usize, mut decide: impl FnMut(usize) -> bool) -> f64 {
    if len == 0 {
        return 0.0;
    }
    let budget = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut done = 0u64;
    let mut allowed = 0u64;
    while started.elapsed() < budget {
        for i in 0..len {
            allowed += u64::from(decide(i));
        }
        done += len as u64;
    }
    // Printing the count keeps the optimiser from discarding the decisions.
    eprintln!("({done} decisions, {allowed} allowed)");
    done as f64 / started.elapsed().as_secs_f64()
}

fn agreement(
    engine: &Engine,
    targets: &[Target],
    expected: &[Option<bool>],
    at: jiff::Timestamp,
) -> (usize, usize) {
    let mut agree = 0;
    let mut compared = 0;
    for (target, expected) in targets.iter().zip(expected) {
        let Some(expected_block) = expected else {
            continue;
        };
        compared += 1;
        let request = Request {
            group: "pupils",
            user: None,
            device: None,
            target,
            at,
        };
        let blocked = !engine.decide(&request).is_allowed();
        if blocked == *expected_block {
            agree += 1;
        }
    }
    (agree, compared)
}

/// A school with one pupil group that blocks exactly the named source lists.
fn engine(index: &Arc<ListIndex>, policy: &Path) -> anyhow::Result<Engine> {
    let text =
        std::fs::read_to_string(policy).with_context(|| format!("reading {}", policy.display()))?;
    let actions: Vec<(Selector, Action)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|name| (Selector::List(name.to_string()), Action::Block))
        .collect();
    if actions.is_empty() {
        bail!("{} names no lists", policy.display());
    }
    let group = |key: &str, kind| GroupSpec {
        key: key.to_string(),
        name: key.to_string(),
        kind,
        actions: actions.clone(),
        default: Action::Allow,
        search: SearchSettings::default_for(kind),
        web: WebSettings::default_for(kind),
    };
    let spec = PolicySpec {
        school: "bench".into(),
        school_name: "Benchmark School".into(),
        time_zone: jiff::tz::TimeZone::get("Europe/London")?,
        terms: Vec::new(),
        closures: Vec::new(),
        schedules: Vec::new(),
        groups: vec![
            group("pupils", GroupKind::Pupil),
            group("unknown", GroupKind::Unidentified),
        ],
        unknown_group: "unknown".into(),
        overrides: Vec::new(),
        sanctions: Vec::new(),
        unsafe_search_engines: Vec::new(),
        online_safety_lead: None,
        online_safety_contact: None,
    };
    Ok(Engine::new(spec, Arc::clone(index))?)
}

fn read_texts(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| line.split(['\t', ' ']).next())
        .filter(|t| !t.is_empty())
        .map(|t| t.strip_suffix(":443").unwrap_or(t).to_string())
        .collect())
}

/// Targets, and the expected verdict (true = block) where the workload gives one.
fn read_workload(path: &Path) -> anyhow::Result<(Vec<Target>, Vec<Option<bool>>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut targets = Vec::new();
    let mut expected = Vec::new();
    for line in text.lines() {
        let mut fields = line.split('\t');
        let Some(first) = fields.next().and_then(|f| f.split(' ').next()) else {
            continue;
        };
        let first = first.strip_suffix(":443").unwrap_or(first);
        let Ok(target) = Target::parse(first) else {
            continue;
        };
        targets.push(target);
        expected.push(match fields.next() {
            Some("block") => Some(true),
            Some("allow") => Some(false),
            _ => None,
        });
    }
    Ok((targets, expected))
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn warm(engine: &Engine, targets: &[Target]) -> usize {
    let at = jiff::Timestamp::now();
    targets
        .iter()
        .filter(|target| {
            let request = Request {
                group: "pupils",
                user: None,
                device: None,
                target,
                at,
            };
            engine.decide(&request).is_allowed()
        })
        .count()
}

fn replace(
    index: &Path,
    replacement: &Path,
    policy: &Path,
    workload: &Path,
    rounds: usize,
) -> anyhow::Result<()> {
    let (targets, _) = read_workload(workload)?;
    let base = status_kib("VmRSS:");
    let mut current = engine(&Arc::new(hedgerow_catalog::open_index(index)?), policy)?;
    warm(&current, &targets);
    let steady = status_kib("VmRSS:");
    let mut peaks = Vec::new();
    for round in 0..rounds {
        // Reset the high-water mark so it measures this replacement alone.
        std::fs::write("/proc/self/clear_refs", "5")
            .context("resetting VmHWM needs Linux /proc")?;
        let path = if round % 2 == 0 { replacement } else { index };
        let next = engine(&Arc::new(hedgerow_catalog::open_index(path)?), policy)?;
        current = next;
        warm(&current, &targets);
        peaks.push(status_kib("VmHWM:"));
    }
    let peak = peaks.iter().copied().max().unwrap_or(0);
    let after = status_kib("VmRSS:");
    let result = serde_json::json!({
        "rss_before_index_kib": base,
        "steady_rss_kib": steady,
        "peak_rss_during_replacement_kib": peak,
        "rss_after_kib": after,
        "peak_over_steady": peak as f64 / steady.max(1) as f64,
        "index_share_peak_over_steady": (peak.saturating_sub(base)) as f64 / (steady.saturating_sub(base)).max(1) as f64,
        "rounds": rounds,
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
