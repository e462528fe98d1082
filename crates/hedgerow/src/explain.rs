//! `hedgerow explain`: the engine's answer for one address, with the rule in words.
//!
//! It reads the same configuration and compiled index as the running gateway, and the policy
//! changes in force at the moment asked about from the store's change log (when the store
//! exists), so what it prints is what a pupil or teacher on that device would get. With `-` as the address it
//! reads one address per line from standard input, which is how whole workloads are checked.

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use hedgerow_lists::Target;
use hedgerow_policy::Request;
use jiff::Timestamp;

use crate::setup::{self, Snapshot, Source};

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub source: Source,
    /// Decide for this user (their group, and rules that name them).
    #[arg(long, value_name = "USER", group = "who")]
    pub user: Option<String>,
    /// Decide for this device, by name.
    #[arg(long, value_name = "DEVICE", group = "who")]
    pub device: Option<String>,
    /// Decide for this group.
    #[arg(long, value_name = "GROUP", group = "who")]
    pub group: Option<String>,
    /// Decide for whoever is at this source address.
    #[arg(long, value_name = "ADDR", group = "who")]
    pub ip: Option<IpAddr>,
    /// The school, when the configuration has several.
    #[arg(long, value_name = "SLUG")]
    pub school: Option<String>,
    /// The moment to decide for (RFC 3339, e.g. 2026-11-23T12:30:00Z); default now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// Print one JSON object per address.
    #[arg(long)]
    pub json: bool,
    /// A URL or host name; `-` reads one per line from standard input.
    #[arg(value_name = "URL-OR-HOST")]
    pub target: String,
}

/// Who the decision is for, once names are resolved.
struct Subject {
    school: String,
    group: String,
    user: Option<String>,
    device: Option<String>,
    described: String,
}

pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let config = setup::ConfigFile::load(&args.source)?;
    let at = match &args.at {
        Some(text) => text.parse::<Timestamp>().with_context(|| {
            format!("--at {text:?} is not an RFC 3339 time; write it like 2026-11-23T12:30:00Z")
        })?,
        None => Timestamp::now(),
    };
    let snapshot = Snapshot::build(&config)?;
    let changes = changes_in_force(&config, at)?;
    let snapshot = if changes.values().all(Vec::is_empty) {
        snapshot
    } else {
        Snapshot::with_index_and_changes(&config, std::sync::Arc::clone(&snapshot.index), &changes)?
    };
    let subject = subject(&args, &snapshot)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.target == "-" {
        let mut failed = false;
        for line in std::io::stdin().lock().lines() {
            let line = line.context("reading addresses from standard input failed")?;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            failed |= !explain_one(&snapshot, &subject, line, at, args.json, &mut out)?;
        }
        out.flush()?;
        return Ok(if failed {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    let ok = explain_one(&snapshot, &subject, &args.target, at, args.json, &mut out)?;
    out.flush()?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// The changes in force at `at` for every school, from the store's change log; none when the
/// gateway has never run (an embedded store that does not exist yet is not created).
fn changes_in_force(
    config: &setup::ConfigFile,
    at: Timestamp,
) -> anyhow::Result<crate::live_policy::ActiveChanges> {
    let mut all = crate::live_policy::ActiveChanges::new();
    let embedded = config.database_url.starts_with("sqlite:");
    if embedded && !config.data_dir.join("hedgerow.db").exists() {
        return Ok(all);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = hedgerow_store::Store::open(&config.database_url)
            .await
            .context("cannot open the store to read the policy changes in force")?;
        for school in &config.config.schools {
            let slug = &school.policy.school;
            if let Some(found) = store.school_by_slug(slug).await? {
                all.insert(slug.clone(), store.active_changes(found.id, at).await?);
            }
        }
        store.close().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(all)
}

fn subject(args: &ExplainArgs, snapshot: &Snapshot) -> anyhow::Result<Subject> {
    let directory = &snapshot.directory;
    let school = match &args.school {
        Some(slug) => directory
            .school(slug)
            .with_context(|| format!("there is no school {slug:?} in the configuration"))?,
        None => match directory.schools().first() {
            Some(school) => school,
            None => bail!("the configuration has no school"),
        },
    };
    if let Some(name) = &args.user {
        let Some(user) = school
            .users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(name))
        else {
            bail!(
                "there is no user {name:?} at {}; check the spelling or use --group",
                school.name
            );
        };
        return Ok(Subject {
            school: school.slug.clone(),
            group: user.group.clone(),
            user: Some(user.username.clone()),
            device: None,
            described: format!("user {} ({})", user.username, user.display_name),
        });
    }
    if let Some(name) = &args.device {
        let Some(device) = school
            .devices
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
        else {
            bail!(
                "there is no device {name:?} at {}; check the spelling or use --ip",
                school.name
            );
        };
        return Ok(Subject {
            school: school.slug.clone(),
            group: device
                .group
                .clone()
                .unwrap_or_else(|| school.unknown_group.clone()),
            user: None,
            device: Some(device.name.clone()),
            described: format!("device {}", device.name),
        });
    }
    if let Some(ip) = args.ip {
        let identity = directory.resolve(None, ip, None);
        return Ok(Subject {
            school: identity.school.slug.clone(),
            group: identity.group.to_string(),
            user: identity.user.map(|u| u.username.clone()),
            device: identity.device.map(|d| d.name.clone()),
            described: identity.how.to_string(),
        });
    }
    let group = args
        .group
        .clone()
        .unwrap_or_else(|| school.unknown_group.clone());
    Ok(Subject {
        school: school.slug.clone(),
        described: format!("group {group}"),
        group,
        user: None,
        device: None,
    })
}

/// Prints one decision; returns false when the address could not be read.
fn explain_one(
    snapshot: &Snapshot,
    subject: &Subject,
    text: &str,
    at: Timestamp,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let target = match Target::parse(text) {
        Ok(target) => target,
        Err(error) => {
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "target": text, "error": error.to_string() })
                )?;
            } else {
                writeln!(out, "{text}: cannot be checked: {error}")?;
            }
            return Ok(false);
        }
    };
    let engine = snapshot.engine(&subject.school)?;
    if !engine.spec().groups.iter().any(|g| g.key == subject.group) {
        bail!(
            "there is no group {:?} in the policy of school {:?}",
            subject.group,
            subject.school
        );
    }
    let request = Request {
        group: &subject.group,
        user: subject.user.as_deref(),
        device: subject.device.as_deref(),
        target: &target,
        at,
    };
    let decision = engine.decide(&request);
    if json {
        let value = serde_json::json!({
            "target": text,
            "verdict": decision.verdict().as_str(),
            "category": decision.category(),
            "list": decision.list_name(),
            "entry": decision.entry_text(),
            "rule": decision.rule_id(),
            "reason": decision.reason(),
            "school": subject.school,
            "group": decision.group().key,
            "user": subject.user,
            "device": subject.device,
            "at": at.to_string(),
        });
        writeln!(out, "{value}")?;
    } else {
        let verdict = if decision.is_allowed() {
            "ALLOWED"
        } else {
            "BLOCKED"
        };
        writeln!(out, "{verdict}  {text}")?;
        writeln!(
            out,
            "  for:      {} (group {})",
            subject.described,
            decision.group().name
        )?;
        if let Some(category) = decision.category() {
            let name = hedgerow_lists::category(category).map_or(category, |c| c.name);
            writeln!(
                out,
                "  category: {name} (list {}, entry {})",
                decision.list_name().unwrap_or("-"),
                decision.entry_text().unwrap_or_default()
            )?;
        }
        writeln!(out, "  rule:     {}", decision.rule_id())?;
        writeln!(out, "  reason:   {}", decision.reason())?;
    }
    Ok(true)
}
