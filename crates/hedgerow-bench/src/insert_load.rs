//! `hedgerow-bench insert-load`: how fast the activity writer's batches go into a store that
//! already holds a realistic amount of DNS traffic.
//!
//! Pre-fills the store with `--prefill` DNS-like events (most with no user, device, search
//! term, category or page title; about a quarter blocked with a category; a few thousand hosts
//! and client addresses, Zipf-skewed; all invented), then inserts `--events` more in batches of
//! `--batch` through `Store::insert_events`, exactly as the background writer does, and prints
//! events per second and process CPU seconds for every 100,000 events, and resident memory
//! at the end. A store that already holds the pre-fill (e.g. a copy of a pre-filled file) is
//! reused, so repeated runs on a fresh copy measure the same thing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use hedgerow_store::{ActivityEvent, EventSource, SchoolId, Store, Verdict};
use jiff::Timestamp;

use crate::sample::{Rng, Zipf};

#[derive(Args)]
pub struct InsertLoadArgs {
    /// `sqlite:///path/file.db` or `postgres://...`.
    #[arg(long)]
    store: String,
    /// Events in the store before the measurement (loaded if the store holds fewer).
    #[arg(long, default_value_t = 1_000_000)]
    prefill: u64,
    /// Events inserted while measuring.
    #[arg(long, default_value_t = 500_000)]
    events: u64,
    /// Events per `insert_events` call (the writer's `max_batch`: one statement).
    #[arg(long, default_value_t = hedgerow_store::EVENT_ROWS_PER_INSERT)]
    batch: usize,
}

const SCHOOL: &str = "bench-insert-load";
/// Distinct client addresses: a large secondary school's devices plus visitors.
const CLIENTS: usize = 2_500;
/// Distinct query names.
const HOSTS: usize = 4_000;
/// Clients the device map names (the rest are unnamed DHCP addresses).
const NAMED_DEVICES: usize = 300;
/// Clients on which the proxy has authenticated someone, so the DNS filter knows the user.
const AUTHENTICATED_CLIENTS: usize = 100;
const BLOCKED_CATEGORIES: [&str; 6] = [
    "social",
    "games",
    "adult",
    "gambling",
    "circumvention",
    "malware",
];
const QTYPES: [&str; 4] = ["A", "AAAA", "HTTPS", "A"];
const GROUPS: [&str; 5] = ["ks1", "ks2", "ks3", "ks4", "staff"];
/// Events are spaced this far apart (about 20 queries a second, a school day's average).
const SPACING_US: i64 = 50_000;
const START_US: i64 = 1_790_000_000_000_000;
/// Events per line of the progress report.
const REPORT_EVERY: u64 = 100_000;

fn client_ip(i: usize) -> IpAddr {
    if i % 10 == 9 {
        IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            0x5c,
            0,
            0,
            0,
            0,
            (i / 256) as u16,
            i as u16,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, 30, (i / 250) as u8, (i % 250 + 2) as u8))
    }
}

fn host_name(i: usize) -> String {
    match i % 4 {
        0 => format!("www.site{i}.example.com"),
        1 => format!("cdn{}.site{}.example.net", i % 7, i / 4),
        2 => format!("site{i}.example.org"),
        _ => format!("api.site{i}.example.co.uk"),
    }
}

/// The category of a blocked host; allowed hosts are logged without one.
fn blocked_category(host: usize) -> Option<&'static str> {
    // About a quarter of the traffic goes to hosts a pupil group blocks.
    (host % 4 == 1).then(|| BLOCKED_CATEGORIES[(host / 4) % BLOCKED_CATEGORIES.len()])
}

struct Generator {
    rng: Rng,
    clients: Zipf,
    hosts: Zipf,
    school: SchoolId,
    made: u64,
}

impl Generator {
    fn new(school: SchoolId, already: u64) -> Generator {
        Generator {
            // The seed depends on where the run starts, so new events are not copies of old.
            rng: Rng(0xD25_2026 ^ already),
            clients: Zipf::new(CLIENTS, 0.5),
            hosts: Zipf::new(HOSTS, 1.0),
            school,
            made: already,
        }
    }

    fn next_event(&mut self) -> ActivityEvent {
        let at_us = START_US + self.made as i64 * SPACING_US;
        self.made += 1;
        let r = &mut self.rng;
        let c = self.clients.draw(r);
        let h = self.hosts.draw(r);
        let category = blocked_category(h);
        // A pupil group blocks it; staff and a few others are let through.
        let blocked = category.is_some() && r.unit() < 0.95;
        let qtype = QTYPES[(r.next() % QTYPES.len() as u64) as usize];
        let duration_us = 200 + (r.next() % 30_000) as u32;
        ActivityEvent {
            school: self.school,
            at: Timestamp::from_microsecond(at_us).unwrap_or(Timestamp::UNIX_EPOCH),
            source: EventSource::Dns,
            client_ip: client_ip(c),
            user: (c < AUTHENTICATED_CLIENTS).then(|| format!("pupil{c:04}")),
            device: (c < NAMED_DEVICES).then(|| format!("dev-{c:04}")),
            group: Some(GROUPS[c % GROUPS.len()].to_owned()),
            host: host_name(h),
            url: None,
            method: None,
            qtype: Some(qtype.to_owned()),
            category: if blocked {
                category.map(str::to_owned)
            } else {
                None
            },
            verdict: if blocked {
                Verdict::Block
            } else {
                Verdict::Allow
            },
            rule: match (blocked, category) {
                (true, Some(c)) => format!("group blocks {c}"),
                _ => "default allow".to_owned(),
            },
            reason: None,
            search_term: None,
            status: None,
            bytes: None,
            duration_us: Some(duration_us),
            page_title: None,
        }
    }

    fn batch(&mut self, n: usize) -> Vec<ActivityEvent> {
        (0..n).map(|_| self.next_event()).collect()
    }
}

/// User plus system CPU time of this process, in seconds (Linux `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // The command name may hold spaces; the fields we want follow its closing parenthesis.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        // USER_HZ is 100 on every Linux architecture we run on.
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

pub fn run(args: InsertLoadArgs) -> anyhow::Result<()> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    // Two workers, like the gateway on this machine; the writer is one task either way.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: InsertLoadArgs) -> anyhow::Result<()> {
    let store = Store::open(&args.store)
        .await
        .context("opening the store")?;
    let school = store
        .ensure_school(SCHOOL, "Insert load benchmark school", "Europe/London")
        .await?;
    let have = store.count_events(school).await?;
    println!("store: {} ({have} events already)", store.backend_name());
    if have < args.prefill {
        let t = Instant::now();
        let mut generator = Generator::new(school, have);
        let mut done = have;
        while done < args.prefill {
            let n = (args.prefill - done).min(50_000) as usize;
            store.insert_events(&generator.batch(n)).await?;
            done += n as u64;
        }
        println!(
            "pre-filled {} events in {:.1} s",
            args.prefill - have,
            t.elapsed().as_secs_f64()
        );
    }
    let have = store.count_events(school).await?;
    let mut generator = Generator::new(school, have);

    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let mut mark = (Instant::now(), cpu_started);
    let mut done = 0u64;
    let mut reported = 0u64;
    let mut rates = Vec::new();
    while done < args.events {
        let n = (args.events - done).min(args.batch as u64) as usize;
        // Generating costs a little CPU; it is the same before and after any change.
        let batch = generator.batch(n);
        store.insert_events(&batch).await?;
        done += n as u64;
        if done - reported >= REPORT_EVERY || done == args.events {
            let since = done - reported;
            reported = done;
            let secs = mark.0.elapsed().as_secs_f64();
            let cpu = cpu_seconds();
            let rate = since as f64 / secs;
            rates.push(rate);
            println!(
                "  {done:>9} events: {rate:>8.0} events/s, {:.2} CPU s per 100k",
                (cpu - mark.1) * REPORT_EVERY as f64 / since as f64
            );
            mark = (Instant::now(), cpu);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_started;
    rates.sort_by(f64::total_cmp);
    let median = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
    println!(
        "insert-load: {} events in {secs:.1} s = {:.0} events/s (median per 100k {median:.0}); \
         {:.2} CPU s per 100k; VmRSS {} KiB, VmHWM {} KiB",
        args.events,
        args.events as f64 / secs,
        cpu * REPORT_EVERY as f64 / args.events.max(1) as f64,
        crate::status_kib("VmRSS:"),
        crate::status_kib("VmHWM:"),
    );
    store.close().await;
    Ok(())
}
