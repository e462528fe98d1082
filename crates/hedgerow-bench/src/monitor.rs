//! `hedgerow-bench monitor`: what safeguarding detection costs, measured off the decision path.
//!
//! - `classify`: the classifier alone over a file of texts (one a line), round after round for
//!   a few seconds on one thread: texts per second, without the `hedgerow monitor classify`
//!   command's reading and writing of lines.
//! - `events`: the work the gateway's monitor does for each written activity event (see
//!   `crates/hedgerow/src/monitor.rs`, `Watcher::findings`): pick the school's classifier and the
//!   group's age band, classify the search term or else the URL, and count blocked attempts in
//!   risk categories towards bursts. Events are generated to look like a school's traffic (DNS
//!   events with neither text, proxy events with a URL, a share of searches with their term, a
//!   share of blocked attempts by a few people so that bursts happen). The store is not called:
//!   writing events is the writer's cost, paid with or without monitoring, and raising an alert
//!   happens only for the few events that match.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use hedgerow_monitor::{BurstDetector, BurstRule, PersonKey, burst_category_for};
use hedgerow_risk::{AgeBand, Classifier, RiskLibrary, RiskMatch};
use hedgerow_store::{ActivityEvent, EventSource, SchoolId, Verdict};
use jiff::{SignedDuration, Timestamp};

use crate::sample::Rng;

#[derive(Subcommand)]
pub enum MonitorCommand {
    /// Texts per second through the risk classifier on one thread.
    Classify(ClassifyArgs),
    /// Nanoseconds of monitor work per activity event, on one thread, without the store.
    Events(EventsArgs),
}

#[derive(Args)]
pub struct ClassifyArgs {
    /// Texts, one a line (as given to `hedgerow monitor classify`).
    #[arg(long)]
    texts: PathBuf,
    /// early_years, primary, secondary, sixth_form or adult.
    #[arg(long, default_value = "secondary")]
    age_band: String,
    /// Seconds to spend measuring.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

#[derive(Args)]
pub struct EventsArgs {
    /// Search terms, one a line; events that are searches draw their term from here.
    #[arg(long)]
    searches: PathBuf,
    /// Addresses (`http://host/path`), one a line; proxy events that are not searches draw
    /// their URL from here.
    #[arg(long)]
    urls: PathBuf,
    /// How many distinct events to generate (they are replayed round after round).
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Share of events that come from the web proxy (the rest are DNS events, with no URL).
    #[arg(long, default_value_t = 0.45)]
    proxy_share: f64,
    /// Share of all events that are searches with a search term.
    #[arg(long, default_value_t = 0.05)]
    search_share: f64,
    /// Share of all events that are blocked attempts in a risk-related list category.
    #[arg(long, default_value_t = 0.02)]
    blocked_risk_share: f64,
    /// Seconds to spend measuring the mix (each kind of event alone gets a quarter of it).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

pub fn run(command: MonitorCommand) -> anyhow::Result<()> {
    match command {
        MonitorCommand::Classify(args) => classify(args),
        MonitorCommand::Events(args) => events(args),
    }
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if lines.is_empty() {
        bail!(
            "{} has no lines; give a file with one text a line",
            path.display()
        );
    }
    Ok(lines)
}

fn builtin_classifier() -> anyhow::Result<Classifier> {
    Classifier::new(&RiskLibrary::builtin(), &[]).context("building the built-in classifier")
}

fn classify(args: ClassifyArgs) -> anyhow::Result<()> {
    let band = AgeBand::parse(&args.age_band).with_context(|| {
        format!(
            "{:?} is not an age band; use early_years, primary, secondary, sixth_form or adult",
            args.age_band
        )
    })?;
    let texts = read_lines(&args.texts)?;
    let classifier = builtin_classifier()?;
    let built = Instant::now();
    // One warm-up pass: the first touch of the automata's pages is not the steady state.
    let flagged_once = texts
        .iter()
        .filter(|t| classifier.classify(t, band).is_some())
        .count();
    let warm_up = built.elapsed();
    let budget = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let mut done = 0u64;
    let mut flagged = 0u64;
    while started.elapsed() < budget {
        for text in &texts {
            flagged += u64::from(classifier.classify(text, band).is_some());
        }
        done += texts.len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    let result = serde_json::json!({
        "texts_file": args.texts,
        "distinct_texts": texts.len(),
        "age_band": band.as_str(),
        "flagged_share": flagged_once as f64 / texts.len() as f64,
        "first_pass_seconds": warm_up.as_secs_f64(),
        "texts_classified": done,
        "flagged_in_measurement": flagged,
        "seconds": seconds,
        "texts_per_second_one_core": done as f64 / seconds,
        "ns_per_text": seconds * 1e9 / done.max(1) as f64,
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

/// The kinds of event the mix is made of; each is also measured alone.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Dns,
    ProxyUrl,
    Search,
    BlockedRisk,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Dns, Kind::ProxyUrl, Kind::Search, Kind::BlockedRisk];

    fn name(self) -> &'static str {
        match self {
            Kind::Dns => "dns",
            Kind::ProxyUrl => "proxy_url",
            Kind::Search => "search",
            Kind::BlockedRisk => "blocked_risk",
        }
    }
}

const SCHOOL: SchoolId = SchoolId(1);
const PUPILS: usize = 1_000;
/// Few people make the blocked attempts, so that their attempts pile up into bursts.
const PERSISTENT_PEOPLE: usize = 20;
const RISK_LIST_CATEGORIES: [&str; 5] = ["gambling", "adult", "drugs", "self-harm", "weapons"];
const OTHER_HOSTS: [&str; 6] = [
    "www.bbc.co.uk",
    "en.wikipedia.org",
    "classroom.google.com",
    "www.youtube.com",
    "login.microsoftonline.com",
    "www.minecraft.net",
];

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', ':']).next().unwrap_or(rest)
}

fn percent_encode(term: &str) -> String {
    let mut out = String::with_capacity(term.len() * 3);
    for byte in term.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn generate(
    args: &EventsArgs,
    searches: &[String],
    urls: &[String],
    only: Option<Kind>,
) -> Vec<(Kind, ActivityEvent)> {
    let mut rng = Rng(0x6865_6467_6572_6f77);
    let start = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut out = Vec::with_capacity(args.events);
    for i in 0..args.events {
        let roll = rng.unit();
        let kind = only.unwrap_or(if roll < args.blocked_risk_share {
            Kind::BlockedRisk
        } else if roll < args.blocked_risk_share + args.search_share {
            Kind::Search
        } else if roll < args.proxy_share {
            Kind::ProxyUrl
        } else {
            Kind::Dns
        });
        let signed_in = rng.unit() < 0.7;
        let pupil = if kind == Kind::BlockedRisk {
            rng.below(PERSISTENT_PEOPLE)
        } else {
            rng.below(PUPILS)
        };
        let octets = u8::try_from(pupil % 250).unwrap_or(0);
        let client_ip = IpAddr::V4(Ipv4Addr::new(
            10,
            20,
            u8::try_from(pupil / 250).unwrap_or(0),
            octets,
        ));
        let mut event = ActivityEvent {
            school: SCHOOL,
            // Ten events a second across the school.
            at: start + SignedDuration::from_millis(i64::try_from(i).unwrap_or(0) * 100),
            source: EventSource::Proxy,
            client_ip,
            user: signed_in.then(|| format!("Pupil.{pupil:04}")),
            device: Some(format!("laptop-{pupil:04}")),
            group: Some(if pupil % 3 == 0 { "ks3" } else { "ks4" }.to_string()),
            host: String::new(),
            url: None,
            method: Some("GET".into()),
            qtype: None,
            category: None,
            verdict: Verdict::Allow,
            rule: "default".into(),
            reason: None,
            search_term: None,
            status: Some(200),
            bytes: Some(1024),
            duration_us: Some(900),
            page_title: None,
        };
        match kind {
            Kind::Dns => {
                event.source = EventSource::Dns;
                let url = rng
                    .pick(urls)
                    .map_or("http://www.bbc.co.uk/", String::as_str);
                event.host = host_of(url).to_string();
                event.qtype = Some(if rng.unit() < 0.5 { "A" } else { "AAAA" }.into());
                event.method = None;
                event.status = None;
                event.bytes = None;
            }
            Kind::ProxyUrl => {
                let url = rng
                    .pick(urls)
                    .map_or("http://www.bbc.co.uk/", String::as_str);
                event.host = host_of(url).to_string();
                event.url = Some(url.to_string());
            }
            Kind::Search => {
                let term = rng.pick(searches).map_or("", String::as_str);
                event.host = "www.google.com".into();
                event.url = Some(format!(
                    "https://www.google.com/search?q={}",
                    percent_encode(term)
                ));
                event.search_term = Some(term.to_string());
                event.category = Some("search".into());
            }
            Kind::BlockedRisk => {
                let category = rng
                    .pick(&RISK_LIST_CATEGORIES)
                    .copied()
                    .unwrap_or("gambling");
                event.category = Some(category.into());
                event.verdict = Verdict::Block;
                event.rule = format!("list:{category}");
                event.status = Some(403);
                let host = format!("www.{category}-{}.example", rng.below(50));
                // Blocked attempts arrive from both the DNS filter and the proxy.
                if rng.unit() < 0.5 {
                    event.source = EventSource::Dns;
                    event.method = None;
                    event.qtype = Some("A".into());
                } else {
                    event.url = Some(format!("http://{host}/"));
                }
                event.host = host;
            }
        }
        if kind != Kind::BlockedRisk && rng.unit() < 0.3 {
            event.host = rng
                .pick(&OTHER_HOSTS)
                .copied()
                .unwrap_or("www.bbc.co.uk")
                .into();
        }
        out.push((kind, event));
    }
    out
}

/// The monitor's per-event state, as in the gateway: one school, group age bands, the
/// untuned classifier and per-school tuned ones (none here), and the burst detector.
struct MonitorWork {
    classifier: Classifier,
    tuned: HashMap<SchoolId, Classifier>,
    bands: HashMap<SchoolId, HashMap<String, AgeBand>>,
    bursts: BurstDetector,
}

/// What the monitor found in one event, kept only as far as is needed to count it.
#[derive(Default)]
struct Found {
    text_matches: u64,
    bursts: u64,
}

impl MonitorWork {
    fn new() -> anyhow::Result<MonitorWork> {
        let mut groups = HashMap::new();
        groups.insert("ks3".to_string(), AgeBand::Secondary);
        groups.insert("ks4".to_string(), AgeBand::Secondary);
        let mut bands = HashMap::new();
        bands.insert(SCHOOL, groups);
        Ok(MonitorWork {
            classifier: builtin_classifier()?,
            tuned: HashMap::new(),
            bands,
            // The gateway's defaults: five attempts in ten minutes, 100,000 keys.
            bursts: BurstDetector::new(BurstRule::default(), HashMap::new(), 100_000),
        })
    }

    /// Mirrors `Watcher::findings` in the gateway (without building the alert to store).
    fn observe(&mut self, event: &ActivityEvent, shift: SignedDuration, found: &mut Found) {
        if event.source == EventSource::Explain {
            return;
        }
        let Some(groups) = self.bands.get(&event.school) else {
            return;
        };
        let band = event
            .group
            .as_deref()
            .and_then(|g| groups.get(g).copied())
            .unwrap_or(AgeBand::Secondary);
        let classifier = self.tuned.get(&event.school).unwrap_or(&self.classifier);
        let text_match: Option<(RiskMatch, String)> = match (&event.search_term, &event.url) {
            (Some(term), _) => classifier.classify(term, band).map(|m| (m, term.clone())),
            (None, Some(url)) => classifier.classify_url(url, band).map(|m| {
                let matched = m.matched.clone();
                (m, matched)
            }),
            (None, None) => None,
        };
        if let Some((m, text)) = text_match {
            found.text_matches += 1;
            std::hint::black_box((m, text));
        }
        if event.verdict == Verdict::Block
            && let Some(category) = event.category.as_deref().and_then(burst_category_for)
        {
            let person = match &event.user {
                Some(user) => PersonKey::User(user.to_lowercase()),
                None => PersonKey::Address(event.client_ip),
            };
            if let Some(burst) = self.bursts.observe(&person, category, event.at + shift) {
                found.bursts += 1;
                std::hint::black_box(burst);
            }
        }
    }
}

struct Rate {
    events: u64,
    seconds: f64,
    found: Found,
}

impl Rate {
    fn ns_per_event(&self) -> f64 {
        self.seconds * 1e9 / self.events.max(1) as f64
    }
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "events": self.events,
            "seconds": self.seconds,
            "ns_per_event": self.ns_per_event(),
            "events_per_second_one_core": self.events as f64 / self.seconds.max(f64::MIN_POSITIVE),
            "text_matches": self.found.text_matches,
            "bursts": self.found.bursts,
        })
    }
}

/// Replays `events` round after round for about `seconds` through a fresh monitor state.
/// Each round is shifted later by the span of the events, so bursts behave as in a longer day
/// instead of seeing the same minutes again.
fn replay(events: &[(Kind, ActivityEvent)], seconds: f64) -> anyhow::Result<Rate> {
    let mut work = MonitorWork::new()?;
    let span = match (events.first(), events.last()) {
        (Some((_, first)), Some((_, last))) => {
            first.at.duration_until(last.at) + SignedDuration::from_secs(1)
        }
        _ => bail!("no events to replay"),
    };
    let mut found = Found::default();
    // One unmeasured pass to warm caches, as the gateway would be warm.
    for (_, event) in events {
        work.observe(event, SignedDuration::ZERO, &mut found);
    }
    let mut found = Found::default();
    let budget = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut done = 0u64;
    let mut round: i32 = 1;
    while started.elapsed() < budget {
        let shift = span * round;
        for (_, event) in events {
            work.observe(event, shift, &mut found);
        }
        done += events.len() as u64;
        round = round.saturating_add(1);
    }
    Ok(Rate {
        events: done,
        seconds: started.elapsed().as_secs_f64(),
        found,
    })
}

fn events(args: EventsArgs) -> anyhow::Result<()> {
    if args.events == 0 {
        bail!("--events must be at least 1");
    }
    let shares = [args.proxy_share, args.search_share, args.blocked_risk_share];
    if shares.iter().any(|s| !(0.0..=1.0).contains(s))
        || args.search_share + args.blocked_risk_share > args.proxy_share
    {
        bail!(
            "shares must be between 0 and 1, and searches plus blocked attempts must not exceed the proxy share (they are counted in it)"
        );
    }
    let searches = read_lines(&args.searches)?;
    let urls = read_lines(&args.urls)?;
    let mix = generate(&args, &searches, &urls, None);
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for (kind, _) in &mix {
        *counts.entry(kind.name()).or_default() += 1;
    }
    let overall = replay(&mix, args.seconds)?;
    let mut by_kind = serde_json::Map::new();
    for kind in Kind::ALL {
        let alone = generate(&args, &searches, &urls, Some(kind));
        let rate = replay(&alone, args.seconds / 4.0)?;
        by_kind.insert(kind.name().to_string(), rate.json());
    }
    let result = serde_json::json!({
        "distinct_events": mix.len(),
        "mix": counts,
        "mix_result": overall.json(),
        "each_kind_alone": by_kind,
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(events: usize) -> EventsArgs {
        EventsArgs {
            searches: PathBuf::new(),
            urls: PathBuf::new(),
            events,
            proxy_share: 0.45,
            search_share: 0.05,
            blocked_risk_share: 0.02,
            seconds: 0.0,
        }
    }

    fn texts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_mix_has_each_kind_near_its_share() {
        let events = generate(
            &args(20_000),
            &texts(&["minecraft seeds"]),
            &texts(&["http://www.bbc.co.uk/news"]),
            None,
        );
        let share =
            |kind| events.iter().filter(|(k, _)| *k == kind).count() as f64 / events.len() as f64;
        assert!((share(Kind::Search) - 0.05).abs() < 0.01);
        assert!((share(Kind::BlockedRisk) - 0.02).abs() < 0.01);
        assert!((share(Kind::Dns) - 0.55).abs() < 0.02);
        for (kind, event) in &events {
            match kind {
                Kind::Dns => assert!(event.url.is_none() && event.search_term.is_none()),
                Kind::ProxyUrl => assert!(event.url.is_some() && event.search_term.is_none()),
                Kind::Search => assert_eq!(event.search_term.as_deref(), Some("minecraft seeds")),
                Kind::BlockedRisk => assert_eq!(event.verdict, Verdict::Block),
            }
        }
    }

    #[test]
    fn the_monitor_work_finds_risky_searches_and_bursts() {
        let events = generate(
            &args(5_000),
            &texts(&["how to kill myself"]),
            &texts(&["http://www.bbc.co.uk/news"]),
            None,
        );
        let rate = replay(&events, 0.01).unwrap();
        assert!(rate.events >= 5_000);
        assert!(rate.found.text_matches > 0, "risky searches must match");
        assert!(
            rate.found.bursts > 0,
            "repeated blocked attempts must burst"
        );

        let benign = generate(
            &args(5_000),
            &texts(&["minecraft seeds"]),
            &texts(&["http://www.bbc.co.uk/news"]),
            Some(Kind::Search),
        );
        let rate = replay(&benign, 0.01).unwrap();
        assert_eq!(rate.found.text_matches, 0);
    }

    #[test]
    fn hosts_and_encoding() {
        assert_eq!(
            host_of("http://www.bbc.co.uk:8080/news?x=1"),
            "www.bbc.co.uk"
        );
        assert_eq!(host_of("example.org"), "example.org");
        assert_eq!(percent_encode("a b&c"), "a+b%26c");
    }
}
