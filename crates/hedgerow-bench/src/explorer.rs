//! `hedgerow-bench explorer`: the activity explorer on a year of synthetic events.
//!
//! Generates events for one school over a year (about 1,000 users, 300 devices and 3,000
//! hosts, each drawn with a Zipf-like skew; 20 % blocked; a search term on about 2 %), loads
//! them through `Store::insert_events` in large transactions, then times a fixed set of
//! explorer queries and reports p50/p95/max per query. Deterministic: the same seed gives the
//! same events, so `--reuse` can skip loading a store that already holds them.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::sample::{Rng, Zipf};
use anyhow::{Context, bail};
use clap::Args;
use hedgerow_store::{
    ActivityEvent, Cursor, EventSource, ExplorerQuery, HostFilter, Reader, SchoolId, Store, Verdict,
};
use jiff::Timestamp;

#[derive(Args)]
pub struct ExplorerArgs {
    /// `sqlite:///path/file.db` or `postgres://...`.
    #[arg(long)]
    store: String,
    /// How many events to generate.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Keep the events already in the store when it holds at least `--events` of them.
    #[arg(long)]
    reuse: bool,
    /// Times each query is run.
    #[arg(long, default_value_t = 40)]
    repeat: usize,
    /// Events per page.
    #[arg(long, default_value_t = 100)]
    page_size: u32,
}

const SCHOOL: &str = "bench-explorer";
const USERS: usize = 1_000;
const DEVICES: usize = 300;
const HOSTS: usize = 3_000;
const CATEGORIES: [&str; 12] = [
    "education",
    "search",
    "news",
    "social",
    "games",
    "video",
    "shopping",
    "adult",
    "gambling",
    "circumvention",
    "malware",
    "chat",
];
const BLOCKED_CATEGORIES: [&str; 6] = [
    "social",
    "games",
    "adult",
    "gambling",
    "circumvention",
    "malware",
];
const WORDS: [&str; 40] = [
    "minecraft",
    "homework",
    "fractions",
    "volcano",
    "tudors",
    "football",
    "roblox",
    "fortnite",
    "recipe",
    "weather",
    "dinosaurs",
    "spelling",
    "times tables",
    "photosynthesis",
    "rivers",
    "romans",
    "vikings",
    "poetry",
    "coding",
    "scratch",
    "music",
    "drawing",
    "lego",
    "planets",
    "chemistry",
    "algebra",
    "history",
    "geography",
    "french",
    "spanish",
    "anime",
    "youtube",
    "tiktok",
    "how to",
    "why do",
    "best",
    "free",
    "cheats",
    "vpn",
    "self harm",
];
/// The end of the generated year (exclusive); queries are relative to it.
const END_US: i64 = 1_793_491_200_000_000; // 2026-11-01T00:00:00Z
const YEAR_US: i64 = 365 * 86_400 * 1_000_000;
const DAY_US: i64 = 86_400 * 1_000_000;

fn user_name(i: usize) -> String {
    format!("pupil{i:04}")
}
fn device_name(i: usize) -> String {
    format!("dev-{i:03}")
}
fn device_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 20, (i / 250) as u8, (i % 250 + 2) as u8))
}
fn host_name(i: usize) -> String {
    match i % 4 {
        0 => format!("www.site{i}.example.com"),
        1 => format!("cdn{}.site{}.example.net", i % 7, i / 4),
        2 => format!("site{i}.example.org"),
        _ => format!("api.site{i}.example.co.uk"),
    }
}
fn host_category(i: usize) -> &'static str {
    CATEGORIES[(i * 7 + 3) % CATEGORIES.len()]
}

struct Generator {
    rng: Rng,
    users: Zipf,
    devices: Zipf,
    hosts: Zipf,
    words: Zipf,
    school: SchoolId,
    total: u64,
    made: u64,
}

impl Generator {
    fn new(school: SchoolId, total: u64) -> Generator {
        Generator {
            rng: Rng(0x5EED_2026),
            users: Zipf::new(USERS, 0.6),
            devices: Zipf::new(DEVICES, 0.6),
            hosts: Zipf::new(HOSTS, 1.0),
            words: Zipf::new(WORDS.len(), 0.8),
            school,
            total,
            made: 0,
        }
    }

    fn next_event(&mut self) -> ActivityEvent {
        // Evenly spread over the year, oldest first, as the writer would store them.
        let start = END_US - YEAR_US;
        let at_us = start + (self.made as i128 * YEAR_US as i128 / self.total as i128) as i64;
        self.made += 1;
        let r = &mut self.rng;
        let h = self.hosts.draw(r);
        let category = host_category(h);
        let blocked = if BLOCKED_CATEGORIES.contains(&category) {
            r.unit() < 0.8
        } else {
            r.unit() < 0.05
        };
        let d = self.devices.draw(r);
        let user = (r.unit() < 0.9).then(|| user_name(self.users.draw(r)));
        let proxy = r.unit() < 0.4;
        let search_term = (r.unit() < 0.02).then(|| {
            let a = WORDS[self.words.draw(r)];
            if r.unit() < 0.5 {
                a.to_owned()
            } else {
                format!("{a} {}", WORDS[self.words.draw(r)])
            }
        });
        let host = host_name(h);
        ActivityEvent {
            school: self.school,
            at: Timestamp::from_microsecond(at_us).expect("valid time"),
            source: if proxy {
                EventSource::Proxy
            } else {
                EventSource::Dns
            },
            client_ip: device_ip(d),
            user,
            device: Some(device_name(d)),
            group: Some(["ks1", "ks2", "ks3", "ks4", "staff"][d % 5].to_owned()),
            url: proxy.then(|| format!("https://{host}/page/{}", r.below(1000))),
            host,
            method: proxy.then(|| "GET".to_owned()),
            qtype: (!proxy).then(|| "A".to_owned()),
            category: Some(category.to_owned()),
            verdict: if blocked {
                Verdict::Block
            } else {
                Verdict::Allow
            },
            rule: if blocked {
                format!("group blocks {category}")
            } else {
                "default allow".to_owned()
            },
            reason: None,
            search_term,
            status: proxy.then_some(if blocked { 403 } else { 200 }),
            bytes: proxy.then(|| r.below(200_000) as u64),
            duration_us: Some(r.below(50_000) as u32),
            page_title: None,
        }
    }
}

pub fn run(args: ExplorerArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: ExplorerArgs) -> anyhow::Result<()> {
    let store = Store::open(&args.store)
        .await
        .context("opening the store")?;
    let school = store
        .ensure_school(SCHOOL, "Explorer benchmark school", "Europe/London")
        .await?;
    let have = store.count_events(school).await?;
    println!("store: {} ({} events already)", store.backend_name(), have);
    if args.reuse && have >= args.events {
        println!("reusing the events already loaded");
    } else {
        if have > 0 {
            bail!(
                "the store already holds {have} events of {SCHOOL}; use a fresh store (or --reuse with --events {have})"
            );
        }
        load(&store, school, args.events).await?;
        let t = Instant::now();
        store.analyze_activity().await?;
        println!("ANALYZE after the load: {:.1} s", t.elapsed().as_secs_f64());
    }
    measure(&store, school, &args).await
}

async fn load(store: &Store, school: SchoolId, total: u64) -> anyhow::Result<()> {
    const BATCH: usize = 50_000;
    let mut generator = Generator::new(school, total);
    let started = Instant::now();
    let mut insert_time = Duration::ZERO;
    let mut batch = Vec::with_capacity(BATCH);
    let mut done = 0u64;
    while done < total {
        batch.clear();
        let n = BATCH.min((total - done) as usize);
        batch.extend((0..n).map(|_| generator.next_event()));
        let t = Instant::now();
        store.insert_events(&batch).await?;
        insert_time += t.elapsed();
        done += n as u64;
        if done % 1_000_000 < BATCH as u64 {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "  loaded {done} events in {secs:.0} s ({:.0}/s)",
                done as f64 / secs
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "load: {total} events in {secs:.1} s ({:.0} events/s; {:.1} s of it inside insert_events)",
        total as f64 / secs,
        insert_time.as_secs_f64()
    );
    Ok(())
}

fn ts(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).expect("valid time")
}

async fn measure(store: &Store, school: SchoolId, args: &ExplorerArgs) -> anyhow::Result<()> {
    let reader = Reader {
        actor: "bench:explorer".to_owned(),
        from_addr: None,
        purpose: "benchmark".to_owned(),
    };
    let base = ExplorerQuery::school(school, args.page_size);
    let year = Some(ts(END_US - YEAR_US));
    let end = Some(ts(END_US));

    // The 200th page: walk to it once, then time reading it from its cursor.
    let mut cursor: Option<Cursor> = None;
    let walk = Instant::now();
    for _ in 0..199 {
        let page = store
            .explore(
                &reader,
                &ExplorerQuery {
                    page: cursor,
                    ..base.clone()
                },
            )
            .await?;
        cursor = page.next;
    }
    let walked = walk.elapsed();
    let page200 = cursor.context("fewer than 200 pages")?;
    println!(
        "walked 199 pages in {:.1} ms ({:.2} ms a page)",
        walked.as_secs_f64() * 1e3,
        walked.as_secs_f64() * 1e3 / 199.0
    );

    println!(
        "{:<52} {:>8} {:>8} {:>8} {:>6}",
        "query (page size {})".replace("{}", &args.page_size.to_string()),
        "p50 ms",
        "p95 ms",
        "max ms",
        "rows"
    );
    let n = args.repeat;
    type Case = (&'static str, Box<dyn Fn(usize) -> ExplorerQuery>);
    let b = base.clone();
    let cases: Vec<Case> = vec![
        ("first page, last 7 days", {
            let b = b.clone();
            Box::new(move |_| ExplorerQuery {
                since: Some(ts(END_US - 7 * DAY_US)),
                until: end,
                ..b.clone()
            })
        }),
        ("one user, last 30 days", {
            let b = b.clone();
            Box::new(move |i| ExplorerQuery {
                user: Some(user_name((i * 37) % USERS)),
                since: Some(ts(END_US - 30 * DAY_US)),
                until: end,
                ..b.clone()
            })
        }),
        ("category + verdict (blocked games), year", {
            let b = b.clone();
            Box::new(move |i| ExplorerQuery {
                category: Some(["games", "social", "gambling"][i % 3].to_owned()),
                verdict: Some(Verdict::Block),
                since: year,
                until: end,
                ..b.clone()
            })
        }),
        ("search term substring (common), year", {
            let b = b.clone();
            Box::new(move |i| ExplorerQuery {
                search_term: Some(["MineCraft", "homework", "tudors"][i % 3].to_owned()),
                since: year,
                until: end,
                ..b.clone()
            })
        }),
        ("search term substring (rare: 'self harm'), year", {
            let b = b.clone();
            Box::new(move |_| ExplorerQuery {
                search_term: Some("self harm".to_owned()),
                since: year,
                until: end,
                ..b.clone()
            })
        }),
        ("search term with no match, year", {
            let b = b.clone();
            Box::new(move |_| ExplorerQuery {
                search_term: Some("zzqx".to_owned()),
                since: year,
                until: end,
                ..b.clone()
            })
        }),
        ("client address, year", {
            let b = b.clone();
            Box::new(move |i| ExplorerQuery {
                client_ip: Some(device_ip((i * 13) % DEVICES)),
                since: year,
                until: end,
                ..b.clone()
            })
        }),
        ("exact host, year", {
            let b = b.clone();
            Box::new(move |i| ExplorerQuery {
                host: Some(HostFilter::Exact(host_name((i * 11) % 200))),
                since: year,
                until: end,
                ..b.clone()
            })
        }),
        ("host with subdomains (example.net), year", {
            let b = b.clone();
            Box::new(move |_| ExplorerQuery {
                host: Some(HostFilter::WithSubdomains("example.net".to_owned())),
                since: year,
                until: end,
                ..b.clone()
            })
        }),
        ("user + blocked, year", {
            let b = b.clone();
            Box::new(move |i| ExplorerQuery {
                user: Some(user_name((i * 37) % USERS)),
                verdict: Some(Verdict::Block),
                since: year,
                until: end,
                ..b.clone()
            })
        }),
        ("200th page via cursor", {
            let b = b.clone();
            Box::new(move |_| ExplorerQuery {
                page: Some(page200),
                ..b.clone()
            })
        }),
    ];
    for (name, make) in &cases {
        let mut times = Vec::with_capacity(n);
        let mut rows = 0;
        for i in 0..n {
            let q = make(i);
            let t = Instant::now();
            let page = store.explore(&reader, &q).await?;
            times.push(t.elapsed());
            rows = page.events.len();
        }
        report(name, &mut times, rows);
    }

    // A user's timeline over a month, oldest first.
    let mut times = Vec::with_capacity(n);
    let mut rows = 0;
    for i in 0..n {
        let user = user_name((i * 37) % USERS);
        let t = Instant::now();
        let events = store
            .person_timeline(
                &reader,
                school,
                &user,
                ts(END_US - 60 * DAY_US),
                ts(END_US - 30 * DAY_US),
                args.page_size,
            )
            .await?;
        times.push(t.elapsed());
        rows = events.len();
    }
    report("person_timeline, one month", &mut times, rows);

    // Dashboard summaries.
    for (name, days) in [
        ("activity_summary, today", 1),
        ("activity_summary, 7 days", 7),
    ] {
        let mut times = Vec::with_capacity(n);
        let mut rows = 0;
        for _ in 0..n.min(20) {
            let t = Instant::now();
            let s = store
                .activity_summary(school, ts(END_US - days * DAY_US), ts(END_US), 10)
                .await?;
            times.push(t.elapsed());
            rows = s.blocked_events as usize;
        }
        report(name, &mut times, rows);
    }

    // One CSV export of a user's month.
    let t = Instant::now();
    let written = store
        .export_events_csv(
            &reader,
            &ExplorerQuery {
                user: Some(user_name(1)),
                since: Some(ts(END_US - 30 * DAY_US)),
                until: end,
                ..base.clone()
            },
            std::io::sink(),
        )
        .await?;
    println!(
        "export_events_csv, busiest user, 30 days: {written} rows in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

fn report(name: &str, times: &mut [Duration], rows: usize) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pick = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "{name:<52} {:>8.2} {:>8.2} {:>8.2} {rows:>6}",
        ms(pick(0.5)),
        ms(pick(0.95)),
        ms(*times.last().expect("at least one run"))
    );
}
