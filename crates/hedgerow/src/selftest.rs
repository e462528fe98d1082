//! The built-in self-test: a few entries of every loaded category list, and the check entries
//! of every illegal-content list, asked of every group's policy in the running gateway, each
//! answer compared with what the written policy says, and the whole recorded as one check in
//! the school's check log (DfE filtering standard: checks recorded with what was tested, the
//! result and what followed).
//!
//! # What is expected, and from where
//!
//! The expectation is worked out from the policy as written ([`PolicySpec`]: a group's action
//! for the list, else for its category, else for the category's parent, else the group
//! default), not by asking the engine, so the test catches an engine, an index or a snapshot
//! that does not do what the policy says. The rules it applies are the documented order of
//! decision: anything on an illegal-content list is blocked for everyone; otherwise a site on
//! several lists is blocked when any of them is blocked for the group. Requests carry no user,
//! so `allow-for` actions count as blocked and sanctions do not arise; `allow-during` actions
//! count as allowed while one of their schedules is running at the moment of the test. An
//! entry that a site override covers for a group is not a test of its category and is left
//! out for that group (and counted as such in the report).
//!
//! # What is never written down
//!
//! Illegal-content lists are tested only with their check entries on the reserved test domain
//! [`TEST_DOMAIN`] (see `lists/illegal/`), and a category sample that is also on an
//! illegal-content list is dropped, so the report never names an entry of a real IWF or CTIRU
//! list.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use clap::{Args, Subcommand};
use hedgerow_lists::{ListClass, ListIndex, ListInfo, Target};
use hedgerow_policy::{Action, Engine, GroupSpec, PolicySpec, Request, Selector, SiteOverride};
use hedgerow_store::{CheckId, CheckMethod, CheckResult, NewCheck, SchoolId, Store};
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};

use crate::live_policy::LivePolicy;
use crate::setup::{ConfigFile, Snapshot, Source};

/// Entries taken from each category list.
pub const PER_LIST: usize = 3;

/// Check entries taken from each illegal-content list, at most.
pub const ILLEGAL_PER_LIST: usize = 20;

/// The reserved domain the illegal-content lists' check entries live on.
pub const TEST_DOMAIN: &str = "hedgerow.test";

/// Failures written out one by one; the rest are counted.
const FAILURES_LISTED: usize = 1_000;

/// The store's limit on a check's details, in characters (kept a little under).
const DETAILS_LIMIT: usize = hedgerow_store::admin_limits::CHECK_DETAILS - 1_000;

/// Runs the self-test for one school on the policy in force and records it in the check log as
/// `by`; returns the check's id.
pub async fn run_and_record(live: &LivePolicy, school: &str, by: &str) -> anyhow::Result<CheckId> {
    let (school_id, report) = run_live(live, school).await?;
    record(live.store(), school_id, &report, by).await
}

/// Runs the self-test for one school on the policy in force, without recording it.
pub async fn run_live(live: &LivePolicy, school: &str) -> anyhow::Result<(SchoolId, Report)> {
    let school_id = live
        .school_id(school)
        .with_context(|| format!("there is no school {school:?} in the configuration"))?;
    let snapshot = live.snapshot();
    let slug = school.to_owned();
    let at = Timestamp::now();
    // Sampling reads the index and the test makes thousands of decisions: off the async
    // threads.
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<Report> {
        Ok(run_engine(snapshot.engine(&slug)?, at))
    })
    .await
    .context("the self-test stopped before it finished")??;
    Ok((school_id, report))
}

/// `hedgerow check`: checks of filtering and monitoring from the command line.
#[derive(Subcommand)]
pub enum CheckCommand {
    /// Run the built-in self-test on the policy in force (configuration plus the changes in
    /// force), print the report and record it in the school's check log.
    SelfTest(SelfTestArgs),
}

#[derive(Args)]
pub struct SelfTestArgs {
    #[command(flatten)]
    pub source: Source,
    /// The school (its slug); without it, the configuration's only school.
    #[arg(long, value_name = "SLUG")]
    pub school: Option<String>,
    /// Who ran it, as the check log names them (default `cli:$USER`).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

/// Runs the command; exits 0 when the self-test passed, 2 when it failed or was partial.
pub fn run_command(command: CheckCommand) -> anyhow::Result<ExitCode> {
    let CheckCommand::SelfTest(args) = command;
    let config = ConfigFile::load(&args.source)?;
    let slug = match (&args.school, config.config.schools.as_slice()) {
        (Some(slug), _) => slug.clone(),
        (None, [only]) => only.policy.school.clone(),
        (None, _) => {
            anyhow::bail!("the configuration has several schools; say which with --school")
        }
    };
    let by = args.by.clone().unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        )
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
        let store = Store::open(&config.database_url)
            .await
            .context("cannot open the store; is the data directory right?")?;
        let mut schools = HashMap::new();
        for school in &config.config.schools {
            let policy = &school.policy;
            // The same record the gateway keeps for the school, made now if it has not run.
            let id = store
                .ensure_school(
                    &policy.school,
                    &policy.school_name,
                    policy.time_zone.iana_name().unwrap_or("Europe/London"),
                )
                .await?;
            schools.insert(policy.school.clone(), id);
        }
        let snapshot = Snapshot::build(&config)?;
        let live = LivePolicy::new(
            ConfigFile::load(&args.source)?,
            Arc::new(ArcSwap::from_pointee(snapshot)),
            store.clone(),
            schools,
        );
        // The policy in force: the configuration with the changes made in the admin app.
        live.refresh().await?;
        let (school_id, report) = run_live(&live, &slug).await?;
        let id = record(&store, school_id, &report, &by).await?;
        print!("{}", report.details(&by));
        if let Some(follow_up) = report.follow_up() {
            println!("\nFollow-up:\n{follow_up}");
        }
        println!("\nRecorded in the check log as check {id}.");
        Ok(if report.result() == CheckResult::Pass {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        })
    })
}

/// Records a report as one check.
pub async fn record(
    store: &Store,
    school: SchoolId,
    report: &Report,
    by: &str,
) -> anyhow::Result<CheckId> {
    store
        .add_check(&report.to_check(school, by))
        .await
        .context("the self-test ran but could not be recorded in the check log")
}

/// The self-test against one engine: its own policy is the expectation.
pub fn run_engine(engine: &Engine, at: Timestamp) -> Report {
    run_checks(engine.spec(), engine.index(), at, &|group, target| {
        let decision = engine.decide(&Request {
            group,
            user: None,
            device: None,
            target,
            at,
        });
        Got {
            allowed: decision.is_allowed(),
            rule: decision.rule_id(),
        }
    })
}

/// What the gateway answered for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub allowed: bool,
    /// The deciding rule's id, for the report.
    pub rule: String,
}

/// Blocked or allowed, as the report says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Blocked,
    Allowed,
}

impl Outcome {
    fn of(allowed: bool) -> Outcome {
        if allowed {
            Outcome::Allowed
        } else {
            Outcome::Blocked
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Outcome::Blocked => "blocked",
            Outcome::Allowed => "allowed",
        }
    }
}

/// What the written policy says a group gets for a site, and why, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub outcome: Outcome,
    pub why: String,
}

/// What the written policy says `group` gets, for a request without a user at `at`, for a site
/// on these lists. See the module documentation for the rules.
pub fn expected(spec: &PolicySpec, group: &GroupSpec, on: &[&ListInfo], at: Timestamp) -> Expected {
    if let Some(list) = on.iter().find(|l| l.class == ListClass::Illegal) {
        return Expected {
            outcome: Outcome::Blocked,
            why: format!("on the illegal-content list {}", list.name),
        };
    }
    if on.is_empty() {
        let (outcome, why) = evaluate(spec, &group.default, at);
        return Expected {
            outcome,
            why: format!("on no list; group default {why}"),
        };
    }
    let mut allowed_why = Vec::new();
    for list in on {
        let (written_as, action) = written_action(group, list);
        let (outcome, why) = evaluate(spec, action, at);
        let why = format!("{written_as}: {why}");
        if outcome == Outcome::Blocked {
            // Any block wins.
            return Expected { outcome, why };
        }
        allowed_why.push(why);
    }
    allowed_why.dedup();
    Expected {
        outcome: Outcome::Allowed,
        why: allowed_why.join("; "),
    }
}

/// The action a group has written for a list: `list:NAME`, else the list's category, else the
/// category's parent (for a named service such as `youtube`), else the group default. Returns
/// where it was written, in words.
fn written_action<'g>(group: &'g GroupSpec, list: &ListInfo) -> (String, &'g Action) {
    let written = |selector: &Selector| {
        group
            .actions
            .iter()
            .find(|(s, _)| s == selector)
            .map(|(_, a)| a)
    };
    if let Some(action) = written(&Selector::List(list.name.clone())) {
        return (format!("list:{}", list.name), action);
    }
    if let Some(action) = written(&Selector::Category(list.category.clone())) {
        return (list.category.clone(), action);
    }
    if let Some(parent) = hedgerow_lists::category(&list.category).and_then(|c| c.parent)
        && let Some(action) = written(&Selector::Category(parent.to_string()))
    {
        return (format!("{parent} (parent of {})", list.category), action);
    }
    (format!("{} (group default)", list.category), &group.default)
}

/// An action's outcome for a request without a user at `at`, with the action in words.
fn evaluate(spec: &PolicySpec, action: &Action, at: Timestamp) -> (Outcome, String) {
    match action {
        Action::Allow => (Outcome::Allowed, "allow".into()),
        Action::Block => (Outcome::Blocked, "block".into()),
        Action::AllowFor(_) => (
            Outcome::Blocked,
            format!("{action}, so blocked for a request from no one in particular"),
        ),
        Action::AllowDuring(schedules) => {
            let running: Vec<&str> = schedules
                .iter()
                .filter(|s| schedule_running(spec, s, at))
                .map(String::as_str)
                .collect();
            if running.is_empty() {
                (Outcome::Blocked, format!("{action}, none running now"))
            } else {
                (
                    Outcome::Allowed,
                    format!("{action}, {} running now", running.join(", ")),
                )
            }
        }
    }
}

/// Whether the named schedule runs at `at` on the school's clocks: its weekdays, school days
/// only if it says so (Monday to Friday inside a term and not a closure), and its times.
fn schedule_running(spec: &PolicySpec, key: &str, at: Timestamp) -> bool {
    let Some(schedule) = spec.schedules.iter().find(|s| s.key == key) else {
        return false;
    };
    let local = spec.time_zone.to_datetime(at);
    let date = local.date();
    (schedule.weekdays.is_empty() || schedule.weekdays.contains(&date.weekday()))
        && (!schedule.school_days || school_day(spec, date))
        && (schedule.times.is_empty() || schedule.times.iter().any(|r| r.contains(local.time())))
}

fn school_day(spec: &PolicySpec, date: Date) -> bool {
    !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
        && spec.terms.iter().any(|t| t.start <= date && date <= t.end)
        && !spec
            .closures
            .iter()
            .any(|c| c.start <= date && date <= c.end)
}

/// The live site override covering a target for a group, if any: such an entry is an
/// exception the school made by hand, not a test of its category.
fn covering_override<'s>(
    spec: &'s PolicySpec,
    group: &str,
    target: &Target,
    at: Timestamp,
) -> Option<&'s SiteOverride> {
    spec.overrides.iter().find(|o| {
        o.until.is_none_or(|until| at < until)
            && o.groups
                .as_ref()
                .is_none_or(|gs| gs.iter().any(|g| g == group))
            && override_covers(o, target)
    })
}

fn override_covers(o: &SiteOverride, target: &Target) -> bool {
    let host = target.host.as_text();
    let listed = o.host.as_text();
    let host_ok = host == listed
        || (host.len() > listed.len()
            && host.ends_with(listed.as_ref())
            && host.as_bytes()[host.len() - listed.len() - 1] == b'.');
    host_ok
        && o.path.as_deref().is_none_or(|prefix| {
            target
                .path
                .as_deref()
                .is_some_and(|path| path.starts_with(prefix))
        })
}

/// One entry the test asks about.
struct Sample {
    target: Target,
    text: String,
    /// The list it was taken from.
    list: usize,
    /// Every list the entry is on (it may be on several).
    on: Vec<usize>,
}

/// A decision that did not match the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub group: String,
    /// The category tested, or `illegal:LIST` for an illegal-content check entry.
    pub category: String,
    pub entry: String,
    pub expected: Outcome,
    pub why: String,
    pub got: Outcome,
    pub rule: String,
}

/// One category's results for one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryCounts {
    pub expected_blocked: usize,
    pub expected_allowed: usize,
    pub as_expected: usize,
    pub failed: usize,
    /// Entries left out because a site override covers them for this group.
    pub overridden: usize,
    /// The policy's reasons, in words (usually one).
    pub why: Vec<String>,
}

/// One group's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReport {
    pub key: String,
    pub name: String,
    /// By category key.
    pub categories: BTreeMap<String, CategoryCounts>,
}

/// One illegal-content list's results over every group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalReport {
    pub list: String,
    pub entries: usize,
    pub blocked: usize,
    pub allowed: usize,
}

/// Everything one run found.
#[derive(Debug, Clone)]
pub struct Report {
    pub school: String,
    pub school_name: String,
    /// When the test ran, as the school reads it.
    pub at_local: String,
    pub at: Timestamp,
    pub category_lists: usize,
    pub categories: usize,
    /// Category samples dropped because they are on an illegal-content list too.
    pub dropped_illegal_overlap: usize,
    pub illegal: Vec<IllegalReport>,
    pub groups: Vec<GroupReport>,
    pub decisions: usize,
    pub failures: Vec<Failure>,
    /// The index met malformed data while the test ran.
    pub index_damaged: bool,
}

/// The self-test over a policy and an index, with `decide` standing for the gateway (the
/// engine in use; tests pass others).
pub fn run_checks(
    spec: &PolicySpec,
    index: &ListIndex,
    at: Timestamp,
    decide: &dyn Fn(&str, &Target) -> Got,
) -> Report {
    let lists = index.lists();
    let lists_on = |target: &Target| {
        let mut found = Vec::new();
        index.lookup(target, &mut found);
        let mut on: Vec<usize> = found.iter().map(|m| m.list.0 as usize).collect();
        on.sort_unstable();
        on.dedup();
        on.retain(|l| *l < lists.len());
        on
    };
    let sample = |list: usize, target: Target| {
        let on = lists_on(&target);
        let text = format!(
            "{}{}",
            target.host.as_text(),
            target.path.as_deref().unwrap_or("")
        );
        Sample {
            target,
            text,
            list,
            on,
        }
    };

    let mut category_samples = Vec::new();
    let mut dropped = 0;
    for (list, targets) in index.sample_entries(PER_LIST).into_iter().enumerate() {
        if lists[list].class != ListClass::Category {
            continue;
        }
        for target in targets {
            let s = sample(list, target);
            if s.on.iter().any(|l| lists[*l].class == ListClass::Illegal) {
                // Never written down: it may be a real illegal-content entry.
                dropped += 1;
                continue;
            }
            category_samples.push(s);
        }
    }
    let mut illegal_samples = Vec::new();
    for (list, targets) in index
        .entries_within(TEST_DOMAIN, ILLEGAL_PER_LIST)
        .into_iter()
        .enumerate()
    {
        if lists[list].class == ListClass::Illegal {
            illegal_samples.extend(targets.into_iter().map(|t| sample(list, t)));
        }
    }

    let mut illegal: Vec<IllegalReport> = lists
        .iter()
        .enumerate()
        .filter(|(_, l)| l.class == ListClass::Illegal)
        .map(|(i, l)| IllegalReport {
            list: l.name.clone(),
            entries: illegal_samples.iter().filter(|s| s.list == i).count(),
            blocked: 0,
            allowed: 0,
        })
        .collect();
    let mut failures = Vec::new();
    let mut decisions = 0;
    let mut groups = Vec::new();
    for group in &spec.groups {
        for s in &illegal_samples {
            let got = decide(&group.key, &s.target);
            decisions += 1;
            let list = &lists[s.list];
            if let Some(line) = illegal.iter_mut().find(|r| r.list == list.name) {
                if got.allowed {
                    line.allowed += 1;
                } else {
                    line.blocked += 1;
                }
            }
            if got.allowed {
                failures.push(Failure {
                    group: group.key.clone(),
                    category: format!("illegal:{}", list.name),
                    entry: s.text.clone(),
                    expected: Outcome::Blocked,
                    why: format!("on the illegal-content list {}", list.name),
                    got: Outcome::Allowed,
                    rule: got.rule,
                });
            }
        }
        let mut categories: BTreeMap<String, CategoryCounts> = BTreeMap::new();
        for s in &category_samples {
            let category = &lists[s.list].category;
            let counts = categories.entry(category.clone()).or_default();
            if covering_override(spec, &group.key, &s.target, at).is_some() {
                counts.overridden += 1;
                continue;
            }
            let on: Vec<&ListInfo> = s.on.iter().map(|l| &lists[*l]).collect();
            let want = expected(spec, group, &on, at);
            let got = decide(&group.key, &s.target);
            decisions += 1;
            match want.outcome {
                Outcome::Blocked => counts.expected_blocked += 1,
                Outcome::Allowed => counts.expected_allowed += 1,
            }
            if !counts.why.contains(&want.why) {
                counts.why.push(want.why.clone());
            }
            let got_outcome = Outcome::of(got.allowed);
            if got_outcome == want.outcome {
                counts.as_expected += 1;
            } else {
                counts.failed += 1;
                failures.push(Failure {
                    group: group.key.clone(),
                    category: category.clone(),
                    entry: s.text.clone(),
                    expected: want.outcome,
                    why: want.why,
                    got: got_outcome,
                    rule: got.rule,
                });
            }
        }
        groups.push(GroupReport {
            key: group.key.clone(),
            name: group.name.clone(),
            categories,
        });
    }
    illegal.sort_by(|a, b| a.list.cmp(&b.list));
    let mut category_keys: Vec<&str> = category_samples
        .iter()
        .map(|s| lists[s.list].category.as_str())
        .collect();
    category_keys.sort_unstable();
    category_keys.dedup();
    Report {
        school: spec.school.clone(),
        school_name: spec.school_name.clone(),
        at_local: at
            .to_zoned_datetime(spec.time_zone.clone())
            .strftime("%-d %b %Y %H:%M %Z")
            .to_string(),
        at,
        category_lists: lists
            .iter()
            .filter(|l| l.class == ListClass::Category)
            .count(),
        categories: category_keys.len(),
        dropped_illegal_overlap: dropped,
        illegal,
        groups,
        decisions,
        failures,
        index_damaged: index.is_damaged(),
    }
}

impl Report {
    /// Check entries of illegal-content lists that were asked about.
    pub fn illegal_entries(&self) -> usize {
        self.illegal.iter().map(|l| l.entries).sum()
    }

    /// Fail on any decision against the policy (or a damaged index); partial when nothing
    /// failed but a part could not be tested (no illegal-content check entries, no category
    /// entries); pass otherwise.
    pub fn result(&self) -> CheckResult {
        if !self.failures.is_empty() || self.index_damaged {
            CheckResult::Fail
        } else if self.illegal_entries() == 0 || self.decisions == 0 || self.groups.is_empty() {
            CheckResult::Partial
        } else {
            CheckResult::Pass
        }
    }

    /// What should follow, when something should.
    pub fn follow_up(&self) -> Option<String> {
        let mut steps = Vec::new();
        if self.index_damaged {
            steps.push("The list index is damaged: compile the lists again (hedgerow lists compile) and restart or reload the gateway.".to_string());
        }
        if !self.failures.is_empty() {
            steps.push(format!(
                "{} decision{} did not match the policy: for each failure listed, correct the policy or the lists (or report a fault in Hedgerow), then run the self-test again.",
                self.failures.len(),
                if self.failures.len() == 1 { "" } else { "s" }
            ));
        }
        if self.illegal_entries() == 0 {
            steps.push(format!(
                "No illegal-content check entries were found (entries on {TEST_DOMAIN} in the IWF and CTIRU lists): install the illegal-content lists with their check entries (see docs/lists.md), then run the self-test again."
            ));
        }
        if self.decisions > 0 && self.category_lists == 0 {
            steps.push("No category lists are loaded: add list folders to [lists] sources and compile them.".to_string());
        }
        (!steps.is_empty()).then(|| steps.join("\n"))
    }

    /// The group keys, for the check's target.
    pub fn target(&self) -> String {
        let keys: Vec<&str> = self.groups.iter().map(|g| g.key.as_str()).collect();
        let text = format!("every group ({})", keys.join(", "));
        truncate(&text, hedgerow_store::admin_limits::CHECK_WHAT)
    }

    /// The full report as the check log shows it.
    pub fn details(&self, by: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Self-test of {} ({}) at {}, run by {by}.",
            self.school_name, self.school, self.at_local
        );
        let _ = writeln!(
            out,
            "Result: {}. {} decisions asked of the gateway; {} did not match the policy.",
            self.result(),
            self.decisions,
            self.failures.len()
        );
        let _ = writeln!(
            out,
            "Tested: {} groups; {} category lists in {} categories, up to {PER_LIST} entries from each; {} illegal-content lists with {} check entries on {TEST_DOMAIN}.",
            self.groups.len(),
            self.category_lists,
            self.categories,
            self.illegal.len(),
            self.illegal_entries()
        );
        if self.dropped_illegal_overlap > 0 {
            let _ = writeln!(
                out,
                "{} category entries were left out because they are on an illegal-content list too (never written down).",
                self.dropped_illegal_overlap
            );
        }
        if self.index_damaged {
            let _ = writeln!(
                out,
                "The list index is damaged: the gateway blocks everything until it is compiled again."
            );
        }
        let _ = writeln!(out, "\nIllegal content (must be blocked for every group):");
        if self.illegal.is_empty() {
            let _ = writeln!(out, "  No illegal-content list is loaded.");
        }
        for line in &self.illegal {
            let _ = writeln!(
                out,
                "  {}: {} x {} groups: {} blocked, {} allowed.",
                line.list,
                entries(line.entries).replace("entr", "check entr"),
                self.groups.len(),
                line.blocked,
                line.allowed
            );
        }
        for group in &self.groups {
            let _ = writeln!(out, "\nGroup {} ({}):", group.key, group.name);
            if group.categories.is_empty() {
                let _ = writeln!(out, "  No category entries to test.");
            }
            for (key, counts) in &group.categories {
                let name = hedgerow_lists::category(key).map_or(key.as_str(), |c| c.name);
                let expected = match (counts.expected_blocked, counts.expected_allowed) {
                    (0, 0) => "nothing tested".to_string(),
                    (_, 0) => "expected blocked".to_string(),
                    (0, _) => "expected allowed".to_string(),
                    (b, a) => format!("expected {b} blocked and {a} allowed"),
                };
                let tested = counts.expected_blocked + counts.expected_allowed;
                let mut line = format!(
                    "  {name} ({key}): {expected} ({}); {}: {} as expected",
                    counts.why.join("; "),
                    entries(tested),
                    counts.as_expected
                );
                if counts.failed > 0 {
                    let _ = write!(line, ", {} FAILED", counts.failed);
                }
                if counts.overridden > 0 {
                    let _ = write!(
                        line,
                        ", {} left out (a site override covers them)",
                        counts.overridden
                    );
                }
                let _ = writeln!(out, "{line}.");
            }
        }
        if !self.failures.is_empty() {
            let _ = writeln!(out, "\nFailures:");
            for f in self.failures.iter().take(FAILURES_LISTED) {
                let _ = writeln!(
                    out,
                    "  group {}, category {}, entry {}: expected {} ({}), got {} (rule {}).",
                    f.group,
                    f.category,
                    f.entry,
                    f.expected.word(),
                    f.why,
                    f.got.word(),
                    f.rule
                );
            }
            if self.failures.len() > FAILURES_LISTED {
                let _ = writeln!(
                    out,
                    "  ... and {} more.",
                    self.failures.len() - FAILURES_LISTED
                );
            }
        }
        truncate(&out, DETAILS_LIMIT)
    }

    /// The check to record.
    pub fn to_check(&self, school: SchoolId, by: &str) -> NewCheck {
        NewCheck {
            school,
            at: self.at,
            checked_by: by.to_owned(),
            what: "Built-in self-test: category entries and illegal-content check entries through every group's policy".into(),
            target: self.target(),
            method: CheckMethod::SelfTest,
            result: self.result(),
            details: self.details(by),
            follow_up: self.follow_up(),
        }
    }
}

/// "1 entry", "3 entries".
fn entries(n: usize) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

/// At most `max` characters, marked when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(40)).collect();
    cut.push_str("\n... (the report was cut short here)");
    cut
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use hedgerow_lists::{IndexBuilder, ListFormat, parse_list};

    /// An index with gambling, social networking (with YouTube under streaming), education
    /// and an illegal check list, and a school whose groups treat them differently.
    fn setup(extra: &str) -> Engine {
        let mut builder = IndexBuilder::new();
        let lists: [(&str, &str, ListClass, ListFormat, &str); 6] = [
            (
                "gambling",
                "gambling",
                ListClass::Category,
                ListFormat::Domains,
                "bets.example\ncasino.example\npoker.example\nslots.example\n",
            ),
            (
                "social_networks",
                "social-networking",
                ListClass::Category,
                ListFormat::Domains,
                "friends.example\n",
            ),
            (
                "blp_youtube",
                "youtube",
                ListClass::Category,
                ListFormat::Domains,
                "videos.example\n",
            ),
            (
                "liste_bu",
                "education",
                ListClass::Category,
                ListFormat::Domains,
                "library.example\n",
            ),
            (
                "iwf-test",
                "child-abuse",
                ListClass::Illegal,
                ListFormat::ExactUrls,
                "iwf-check.hedgerow.test\nillegal-content-check.hedgerow.test/iwf/check-image.jpg\n",
            ),
            (
                "iwf",
                "child-abuse",
                ListClass::Illegal,
                ListFormat::Domains,
                "real-illegal.example\ncasino.example\n",
            ),
        ];
        for (name, category, class, format, text) in lists {
            let id = builder.add_list(name, category, class).unwrap();
            parse_list(text.as_bytes(), format, |e| builder.add(id, &e).unwrap());
        }
        let index = Arc::new(ListIndex::from_vec(builder.build().unwrap()).unwrap());
        let config = format!(
            r#"data_dir = "/tmp/unused"
[lists]
sources = ["/tmp/unused"]

[[school]]
slug = "test-school"
name = "Test School"

[school.schedules.lunch]
times = ["00:00-23:59"]

[school.groups.ks2]
kind = "pupil"
default = "allow"
[school.groups.ks2.actions]
gambling = "block"
social-networking = "block"
streaming = "block"

[school.groups.staff]
kind = "staff"
default = "allow"
[school.groups.staff.actions]
gambling = {{ allow-for = ["bursar"] }}
social-networking = {{ allow-during = ["lunch"] }}

[school.groups.unknown]
kind = "unidentified"
default = "block"
[school.groups.unknown.actions]
education = "allow"
{extra}"#
        );
        let config = hedgerow_config::Config::parse(&config).unwrap();
        let spec = config.schools[0].policy.clone();
        Engine::new(spec, index).unwrap()
    }

    fn at() -> Timestamp {
        "2026-03-10T12:30:00Z".parse().unwrap()
    }

    #[test]
    fn expectations_come_from_the_written_policy() {
        let engine = setup("");
        let spec = engine.spec();
        let index = engine.index();
        let list = |name: &str| index.lists().iter().find(|l| l.name == name).unwrap();
        let group = |key: &str| spec.groups.iter().find(|g| g.key == key).unwrap();
        let want = |g: &str, lists: &[&str]| {
            let on: Vec<&ListInfo> = lists.iter().map(|l| list(l)).collect();
            expected(spec, group(g), &on, at())
        };
        // A category action, a parent's action for a named service, the group default.
        assert_eq!(want("ks2", &["gambling"]).outcome, Outcome::Blocked);
        assert_eq!(want("ks2", &["gambling"]).why, "gambling: block");
        let youtube = want("ks2", &["blp_youtube"]);
        assert_eq!(youtube.outcome, Outcome::Blocked);
        assert!(
            youtube.why.contains("streaming (parent of youtube)"),
            "{youtube:?}"
        );
        assert_eq!(want("ks2", &["liste_bu"]).outcome, Outcome::Allowed);
        assert_eq!(want("unknown", &["gambling"]).outcome, Outcome::Blocked);
        assert!(want("unknown", &["gambling"]).why.contains("group default"));
        assert_eq!(want("unknown", &["liste_bu"]).outcome, Outcome::Allowed);
        // Illegal content is blocked whatever the group says; any block on several lists wins.
        assert_eq!(want("staff", &["iwf-test"]).outcome, Outcome::Blocked);
        assert_eq!(
            want("staff", &["liste_bu", "iwf"]).outcome,
            Outcome::Blocked
        );
        assert_eq!(
            want("unknown", &["liste_bu", "gambling"]).outcome,
            Outcome::Blocked
        );
        // allow-for needs a user, which the test's requests do not carry; allow-during
        // follows the schedule at the moment of the test.
        assert_eq!(want("staff", &["gambling"]).outcome, Outcome::Blocked);
        let lunch = want("staff", &["social_networks"]);
        assert_eq!(lunch.outcome, Outcome::Allowed, "{lunch:?}");
        assert!(lunch.why.contains("lunch running now"), "{lunch:?}");
        let late: Timestamp = "2026-03-10T23:59:30Z".parse().unwrap();
        let on = [list("social_networks")];
        assert_eq!(
            expected(spec, group("staff"), &on, late).outcome,
            Outcome::Blocked
        );
        assert_eq!(
            want("staff", &[]).outcome,
            Outcome::Allowed,
            "group default"
        );
    }

    #[test]
    fn the_engine_in_use_passes_against_its_own_policy() {
        let engine = setup("");
        let report = run_engine(&engine, at());
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert_eq!(report.result(), CheckResult::Pass);
        assert_eq!(report.follow_up(), None);
        assert_eq!(report.groups.len(), 3);
        // Two check entries on the test domain, asked of three groups; the real illegal list
        // holds none, and its entries are never taken.
        let iwf_test = report
            .illegal
            .iter()
            .find(|l| l.list == "iwf-test")
            .unwrap();
        assert_eq!(
            (iwf_test.entries, iwf_test.blocked, iwf_test.allowed),
            (2, 6, 0)
        );
        let real = report.illegal.iter().find(|l| l.list == "iwf").unwrap();
        assert_eq!(real.entries, 0);
        let details = report.details("nm");
        assert!(!details.contains("real-illegal.example"), "{details}");
        assert!(
            !details.contains("casino.example"),
            "a category entry also on an illegal list is not written down"
        );
        assert_eq!(report.dropped_illegal_overlap, 1);
        let ks2 = &report.groups[0].categories["gambling"];
        assert_eq!(
            (ks2.expected_blocked, ks2.as_expected, ks2.failed),
            (2, 2, 0)
        );
        assert!(details.contains("Result: pass."), "{details}");
        assert!(details.contains("Group ks2"), "{details}");
        assert!(
            details.contains(
                "Gambling (gambling): expected blocked (gambling: block); 2 entries: 2 as expected."
            ),
            "{details}"
        );
        let check = report.to_check(SchoolId(1), "nm");
        assert_eq!(check.method, CheckMethod::SelfTest);
        assert_eq!(check.target, "every group (ks2, staff, unknown)");
    }

    #[test]
    fn a_gateway_that_disagrees_with_the_policy_fails_with_each_mismatch_named() {
        let engine = setup("");
        // A gateway that lets gambling through for KS2 and blocks the education list for
        // everyone, and lets one illegal check entry through for staff.
        let liar = |group: &str, target: &Target| {
            let host = target.host.as_text();
            let allowed = match (group, host.as_ref()) {
                ("ks2", "bets.example") => true,
                ("staff", "iwf-check.hedgerow.test") => true,
                (_, "library.example") => false,
                _ => {
                    return Got {
                        allowed: engine
                            .decide(&Request {
                                group,
                                user: None,
                                device: None,
                                target,
                                at: at(),
                            })
                            .is_allowed(),
                        rule: "engine".into(),
                    };
                }
            };
            Got {
                allowed,
                rule: "liar".into(),
            }
        };
        let report = run_checks(engine.spec(), engine.index(), at(), &liar);
        assert_eq!(report.result(), CheckResult::Fail);
        let named: Vec<(String, String, String, Outcome, Outcome)> = report
            .failures
            .iter()
            .map(|f| {
                (
                    f.group.clone(),
                    f.category.clone(),
                    f.entry.clone(),
                    f.expected,
                    f.got,
                )
            })
            .collect();
        let failure = |g: &str, c: &str, e: &str, want, got| {
            (g.to_string(), c.to_string(), e.to_string(), want, got)
        };
        assert!(named.contains(&failure(
            "ks2",
            "gambling",
            "bets.example",
            Outcome::Blocked,
            Outcome::Allowed
        )));
        assert!(named.contains(&failure(
            "staff",
            "illegal:iwf-test",
            "iwf-check.hedgerow.test",
            Outcome::Blocked,
            Outcome::Allowed
        )));
        for group in ["ks2", "staff", "unknown"] {
            assert!(named.contains(&failure(
                group,
                "education",
                "library.example",
                Outcome::Allowed,
                Outcome::Blocked
            )));
        }
        assert_eq!(named.len(), 5, "{named:?}");
        let details = report.details("nm");
        assert!(details.contains(
            "group ks2, category gambling, entry bets.example: expected blocked (gambling: block), got allowed (rule liar)."
        ), "{details}");
        assert!(
            report
                .follow_up()
                .unwrap()
                .contains("5 decisions did not match")
        );
    }

    #[test]
    fn overrides_leave_entries_out_and_missing_check_entries_make_it_partial() {
        let engine = setup(
            r#"
[[school.overrides]]
id = "probability"
site = "bets.example"
action = "allow"
groups = ["ks2"]
by = "dsl"
reason = "a lesson on probability"
"#,
        );
        let report = run_engine(&engine, at());
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert_eq!(report.groups[0].categories["gambling"].overridden, 1);
        assert_eq!(report.groups[1].categories["gambling"].overridden, 0);
        assert!(
            report
                .details("nm")
                .contains("1 left out (a site override covers them)")
        );

        let mut report = report;
        report.illegal.iter_mut().for_each(|l| l.entries = 0);
        assert_eq!(report.result(), CheckResult::Partial);
        assert!(
            report
                .follow_up()
                .unwrap()
                .contains("illegal-content lists")
        );
    }

    #[test]
    fn long_reports_are_cut_to_the_store_limit() {
        let text = "x".repeat(DETAILS_LIMIT + 10);
        let cut = truncate(&text, DETAILS_LIMIT);
        assert!(cut.chars().count() <= DETAILS_LIMIT);
        assert!(cut.ends_with("cut short here)"));
        assert_eq!(truncate("short", 10), "short");
    }
}
