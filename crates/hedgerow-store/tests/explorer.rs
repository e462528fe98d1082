//! The activity explorer, run against every backend with the harness in `common/mod.rs`:
//! each scenario is an `async fn(&TestDb)` run once on a fresh SQLite file and once on a fresh
//! PostgreSQL database (on the server named by `HEDGEROW_TEST_POSTGRES_URL`; skipped loudly
//! without it unless `HEDGEROW_REQUIRE_POSTGRES` is set).

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{TestDb, backend_tests, event, school, t0};
use hedgerow_store::{
    ActivityEvent, AuditEntry, AuditQuery, EventSource, ExplorerQuery, HostFilter, Reader,
    SchoolId, Verdict,
};
use jiff::ToSpan;

backend_tests!(
    filters_combine,
    cursor_paging_returns_every_row_once_in_order,
    reads_and_exports_are_audited,
    csv_is_quoted_and_formula_safe,
    summary_has_no_names,
    timeline_is_one_person_in_order,
    search_terms_found_beyond_the_newest_searches,
    audit_log_pages_and_filters,
);

fn reader() -> Reader {
    common::reader("safeguarding concern #7")
}

/// A pupil's allowed DNS look-up on a school iPad, `minutes` after `t0()`.
fn ev(school: SchoolId, minutes: i64, user: &str, host: &str) -> ActivityEvent {
    ActivityEvent {
        device: Some("ipad-1".to_owned()),
        group: Some("ks2".to_owned()),
        host: host.to_owned(),
        category: Some("education".to_owned()),
        ..event(school, t0() + minutes.minutes(), Some(user), Verdict::Allow)
    }
}

fn ids(page: &hedgerow_store::ExplorerPage) -> Vec<i64> {
    page.events.iter().map(|e| e.id).collect()
}

async fn filters_combine(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "one").await;
    let other = school(store, "two").await;
    let mut events = vec![
        ev(s, 0, "amy", "www.example.com"),
        ev(s, 1, "amy", "example.com"),
        ev(s, 2, "ben", "badexample.com"),
        ev(s, 3, "ben", "games.test"),
        ev(s, 4, "amy", "games.test"),
        ev(other, 5, "amy", "games.test"),
    ];
    events[3].verdict = Verdict::Block;
    events[3].category = Some("games".to_owned());
    events[4].verdict = Verdict::Block;
    events[4].category = Some("games".to_owned());
    events[4].client_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
    events[4].source = EventSource::Proxy;
    events[1].search_term = Some("How To Draw 50%_Cats".to_owned());
    events[2].device = Some("laptop-2".to_owned());
    store.insert_events(&events).await.expect("insert");
    let base = ExplorerQuery::school(s, 50);
    let run = |q: ExplorerQuery| async move {
        let page = store.explore(&reader(), &q).await.expect("explore");
        page.events
            .iter()
            .map(|e| e.event.at.as_microsecond())
            .map(|us| (us - t0().as_microsecond()) / 60_000_000)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        run(base.clone()).await,
        vec![4, 3, 2, 1, 0],
        "school only, newest first"
    );
    let q = ExplorerQuery {
        user: Some("amy".into()),
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![4, 1, 0]);
    let q = ExplorerQuery {
        user: Some("amy".into()),
        verdict: Some(Verdict::Block),
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![4]);
    let q = ExplorerQuery {
        category: Some("games".into()),
        verdict: Some(Verdict::Block),
        user: Some("ben".into()),
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![3]);
    let q = ExplorerQuery {
        device: Some("laptop-2".into()),
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![2]);
    let q = ExplorerQuery {
        client_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9))),
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![4]);
    let q = ExplorerQuery {
        source: Some(EventSource::Proxy),
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![4]);
    // Substring, any case; LIKE wildcards in the term are literal.
    let q = ExplorerQuery {
        search_term: Some("draw 50%_c".into()),
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![1]);
    let q = ExplorerQuery {
        search_term: Some("%".into()),
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![1]);
    let q = ExplorerQuery {
        search_term: Some("x%y".into()),
        ..base.clone()
    };
    assert_eq!(run(q).await, Vec::<i64>::new());
    // Hosts: exact, or with subdomains (but not a longer name that merely ends the same).
    let q = ExplorerQuery {
        host: Some(HostFilter::Exact("Example.COM.".into())),
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![1]);
    let q = ExplorerQuery {
        host: Some(HostFilter::WithSubdomains("example.com".into())),
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![1, 0]);
    // Time bounds: since inclusive, until exclusive.
    let q = ExplorerQuery {
        since: Some(t0() + 1.minutes()),
        until: Some(t0() + 3.minutes()),
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![2, 1]);
    // The other school's event is never shown.
    let q = ExplorerQuery {
        school: other,
        ..base.clone()
    };
    assert_eq!(run(q).await, vec![5]);
    // An empty search term is refused rather than matching everything.
    let q = ExplorerQuery {
        search_term: Some("  ".into()),
        ..base.clone()
    };
    assert!(store.explore(&reader(), &q).await.is_err());
}

async fn cursor_paging_returns_every_row_once_in_order(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "paging").await;
    // 1,234 events, many sharing a microsecond so the id must break ties.
    let events: Vec<ActivityEvent> = (0..1_234)
        .map(|i| {
            let mut e = ev(s, 0, if i % 3 == 0 { "amy" } else { "ben" }, "example.com");
            e.at = t0() + ((i / 7) as i64).microseconds();
            e
        })
        .collect();
    store.insert_events(&events).await.expect("insert");
    for (filter, expected) in [(None, 1_234usize), (Some("amy"), 412)] {
        let mut q = ExplorerQuery::school(s, 100);
        q.user = filter.map(str::to_owned);
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = store.explore(&reader(), &q).await.expect("page");
            pages += 1;
            assert!(page.events.len() <= 100);
            seen.extend(
                page.events
                    .iter()
                    .map(|e| (e.event.at.as_microsecond(), e.id)),
            );
            match page.next {
                Some(next) => {
                    // The cursor survives a round trip through a URL.
                    q.page = Some(next.to_string().parse().expect("cursor"));
                }
                None => break,
            }
        }
        assert_eq!(seen.len(), expected, "every row");
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        sorted.dedup();
        assert_eq!(sorted, seen, "newest first, each once");
        assert_eq!(pages, expected.div_ceil(100));
    }
    // Page sizes are capped at 500.
    let mut q = ExplorerQuery::school(s, 10_000);
    let page = store.explore(&reader(), &q).await.expect("page");
    assert_eq!(page.events.len(), 500);
    q.page_size = 0;
    assert_eq!(
        store
            .explore(&reader(), &q)
            .await
            .expect("page")
            .events
            .len(),
        1
    );
}

async fn reads_and_exports_are_audited(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "audit").await;
    store
        .insert_events(&[
            ev(s, 0, "amy", "example.com"),
            ev(s, 1, "amy", "example.org"),
        ])
        .await
        .expect("insert");
    let before = store
        .audit_entries(Some(s), 100)
        .await
        .expect("audit")
        .len();
    let q = ExplorerQuery {
        user: Some("amy".into()),
        ..ExplorerQuery::school(s, 1)
    };
    let page = store.explore(&reader(), &q).await.expect("explore");
    assert_eq!(page.events.len(), 1);
    let q2 = ExplorerQuery {
        page: page.next,
        ..q.clone()
    };
    store.explore(&reader(), &q2).await.expect("explore page 2");
    store
        .person_timeline(&reader(), s, "amy", t0(), t0() + 1.hours(), 10)
        .await
        .expect("timeline");
    let mut csv = Vec::new();
    store
        .export_events_csv(&reader(), &q, &mut csv)
        .await
        .expect("export");
    store
        .activity_summary(s, t0(), t0() + 1.hours(), 5)
        .await
        .expect("summary");
    let audit = store.audit_entries(Some(s), 100).await.expect("audit");
    assert_eq!(
        audit.len(),
        before + 4,
        "three reads and one export; the summary is not one"
    );
    let newest = &audit[0].entry;
    assert_eq!(newest.action, "activity.export");
    assert!(newest.detail.contains("user=\"amy\""), "{}", newest.detail);
    assert!(newest.detail.contains("safeguarding concern #7"));
    assert_eq!(newest.from_addr.as_deref(), Some("10.1.2.3"));
    assert!(audit[1].entry.detail.contains("timeline user=\"amy\""));
    assert!(
        audit[2].entry.detail.contains("page="),
        "{}",
        audit[2].entry.detail
    );
    assert!(audit[3].entry.detail.contains("page=first"));
    for a in &audit[..4] {
        assert_eq!(a.entry.actor, "staff:dsl");
        assert_eq!(a.entry.target, format!("school:{s}"));
    }
    // A reader without a purpose reads nothing and leaves no record.
    let mut bad = reader();
    bad.purpose = " ".into();
    assert!(store.explore(&bad, &q).await.is_err());
    assert_eq!(
        store
            .audit_entries(Some(s), 100)
            .await
            .expect("audit")
            .len(),
        before + 4
    );
}

async fn csv_is_quoted_and_formula_safe(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "csv").await;
    let mut e = ev(s, 0, "=cmd|' /C calc'!A0", "example.com");
    e.search_term = Some("cats, \"dogs\"\nand more".to_owned());
    e.reason = Some("+SUM(1)".to_owned());
    e.url = Some("@import".to_owned());
    e.rule = "-2".to_owned();
    e.status = Some(200);
    e.page_title = Some("=1+1 page".to_owned());
    store.insert_events(&[e]).await.expect("insert");
    let mut out = Vec::new();
    let n = store
        .export_events_csv(&reader(), &ExplorerQuery::school(s, 1), &mut out)
        .await
        .expect("export");
    assert_eq!(n, 1);
    let text = String::from_utf8(out).expect("utf-8");
    let mut lines = text.split("\r\n");
    assert!(
        lines
            .next()
            .expect("header")
            .starts_with("id,time,source,client_ip,user")
    );
    assert!(text.contains(",'=cmd|' /C calc'!A0,"), "{text}");
    assert!(
        text.contains(",\"cats, \"\"dogs\"\"\nand more\","),
        "{text}"
    );
    assert!(text.contains(",'+SUM(1),"));
    assert!(text.contains(",'@import,"));
    assert!(text.contains(",'-2,"));
    assert!(text.ends_with(",200,,,'=1+1 page\r\n"), "{text:?}");
    // No cell anywhere starts with a formula character.
    for cell in text.split([',', '\n']) {
        let cell = cell.trim_start_matches('"');
        assert!(!cell.starts_with(['=', '+', '@']), "{cell:?}");
    }
}

async fn summary_has_no_names(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "summary").await;
    let mut events = Vec::new();
    for i in 0..30 {
        let mut e = ev(
            s,
            i,
            &format!("secret-pupil-{i}"),
            &format!("site{}.test", i % 4),
        );
        e.device = Some(format!("secret-device-{i}"));
        e.group = Some(if i % 2 == 0 { "ks2" } else { "ks3" }.to_owned());
        if i % 3 == 0 {
            e.verdict = Verdict::Block;
            e.category = Some(if i % 2 == 0 { "games" } else { "circumvention" }.to_owned());
        }
        events.push(e);
    }
    store.insert_events(&events).await.expect("insert");
    let sum = store
        .activity_summary(s, t0(), t0() + 1.hours(), 2)
        .await
        .expect("summary");
    assert_eq!(sum.total_events, 30);
    assert_eq!(sum.blocked_events, 10);
    assert_eq!(sum.circumvention_attempts, 5);
    assert_eq!(
        sum.blocks_by_category.iter().map(|c| c.count).sum::<u64>(),
        10
    );
    assert_eq!(sum.blocks_by_group.iter().map(|c| c.count).sum::<u64>(), 10);
    assert_eq!(sum.top_blocked_hosts.len(), 2);
    let shown = format!("{sum:?}");
    assert!(!shown.contains("secret"), "{shown}");
    // Outside the period: nothing.
    let empty = store
        .activity_summary(s, t0() + 2.hours(), t0() + 3.hours(), 5)
        .await
        .expect("summary");
    assert_eq!(empty.total_events, 0);
    assert!(empty.blocks_by_category.is_empty());
}

async fn timeline_is_one_person_in_order(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "timeline").await;
    let events: Vec<ActivityEvent> = (0..20)
        .map(|i| ev(s, i, if i % 2 == 0 { "amy" } else { "ben" }, "example.com"))
        .collect();
    store.insert_events(&events).await.expect("insert");
    let t = store
        .person_timeline(
            &reader(),
            s,
            "amy",
            t0() + 2.minutes(),
            t0() + 12.minutes(),
            3,
        )
        .await
        .expect("timeline");
    let minutes: Vec<i64> = t
        .iter()
        .map(|e| (e.event.at.as_microsecond() - t0().as_microsecond()) / 60_000_000)
        .collect();
    assert_eq!(minutes, vec![2, 4, 6], "oldest first, limited, one person");
    let all = store
        .explore(&reader(), &ExplorerQuery::school(s, 500))
        .await
        .expect("explore");
    assert_eq!(ids(&all).len(), 20);
}

/// A term that is rare among the newest searches but present further back: on PostgreSQL the
/// query first looks at the newest few thousand searches, then at every match in the range;
/// both steps must find the same rows, in order, with the cursor.
async fn search_terms_found_beyond_the_newest_searches(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "searches").await;
    let mut events = Vec::new();
    for i in 0..4_500 {
        let mut e = ev(s, i, "amy", "www.search.test");
        e.search_term = Some(if i < 30 {
            format!("volcano facts {i}")
        } else {
            format!("homework help {i}")
        });
        events.push(e);
    }
    for chunk in events.chunks(1_000) {
        store.insert_events(chunk).await.expect("insert");
    }
    let mut query = ExplorerQuery::school(s, 20);
    query.search_term = Some("Volcano".into());
    let mut seen = Vec::new();
    loop {
        let page = store.explore(&reader(), &query).await.expect("explore");
        seen.extend(
            page.events
                .iter()
                .map(|e| (e.event.at.as_microsecond() - t0().as_microsecond()) / 60_000_000),
        );
        match page.next {
            Some(next) => query.page = Some(next),
            None => break,
        }
    }
    let expected: Vec<i64> = (0..30).rev().collect();
    assert_eq!(seen, expected, "every old match, newest first, once");
    // A common term still pages from the newest searches.
    let mut query = ExplorerQuery::school(s, 5);
    query.search_term = Some("homework".into());
    let page = store.explore(&reader(), &query).await.expect("explore");
    let minutes: Vec<i64> = page
        .events
        .iter()
        .map(|e| (e.event.at.as_microsecond() - t0().as_microsecond()) / 60_000_000)
        .collect();
    assert_eq!(minutes, vec![4_499, 4_498, 4_497, 4_496, 4_495]);
}

/// The audit log page: one school's records only, newest first, filtered by actor (ignoring
/// case), by action or the actions under it, and by time, paged by cursor without repeats.
async fn audit_log_pages_and_filters(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "audited").await;
    let other = school(store, "elsewhere").await;
    let entry = |school: SchoolId, minutes: i64, actor: &str, action: &str| AuditEntry {
        school: Some(school),
        at: t0() + minutes.minutes(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: format!("school:{school}"),
        detail: format!("entry {minutes}"),
        from_addr: Some("10.9.8.7".to_owned()),
    };
    // Two records in one microsecond, so the cursor's tie-break by id is exercised.
    for (minutes, actor, action) in [
        (0, "Dsl", "activity.read"),
        (1, "head", "activity.export"),
        (2, "dsl", "policy.change"),
        (3, "dsl", "activityx.other"),
        (4, "dsl", "activity.read"),
        (4, "head", "activity.read"),
        (5, "head", "activity"),
    ] {
        store
            .append_audit(&entry(s, minutes, actor, action))
            .await
            .expect("append");
    }
    store
        .append_audit(&entry(other, 6, "dsl", "activity.read"))
        .await
        .expect("append");
    let details = |page: &hedgerow_store::AuditPage| -> Vec<String> {
        page.records
            .iter()
            .map(|r| format!("{} {}", r.entry.actor, r.entry.action))
            .collect()
    };

    let all = store
        .audit_search(&AuditQuery::school(s, 100))
        .await
        .expect("all");
    assert_eq!(all.records.len(), 7, "only this school's records");
    assert!(all.next.is_none());
    assert!(
        all.records
            .windows(2)
            .all(|w| (w[0].entry.at, w[0].id) > (w[1].entry.at, w[1].id)),
        "newest first"
    );

    let mut q = AuditQuery::school(s, 100);
    q.actor = Some(" DSL ".into());
    let page = store.audit_search(&q).await.expect("actor");
    assert_eq!(
        details(&page),
        [
            "dsl activity.read",
            "dsl activityx.other",
            "dsl policy.change",
            "Dsl activity.read"
        ]
    );

    let mut q = AuditQuery::school(s, 100);
    q.action = Some("activity".into());
    let page = store.audit_search(&q).await.expect("action");
    assert_eq!(
        details(&page),
        [
            "head activity",
            "head activity.read",
            "dsl activity.read",
            "head activity.export",
            "Dsl activity.read"
        ],
        "the action and those under it, not activityx"
    );
    q.action = Some("activity.export".into());
    assert_eq!(
        details(&store.audit_search(&q).await.expect("exact")),
        ["head activity.export"]
    );
    q.action = Some("50%_".into());
    assert!(
        store
            .audit_search(&q)
            .await
            .expect("wildcards")
            .records
            .is_empty(),
        "LIKE wildcards in the filter are taken literally"
    );

    let mut q = AuditQuery::school(s, 100);
    q.since = Some(t0() + 1.minutes());
    q.until = Some(t0() + 4.minutes());
    let page = store.audit_search(&q).await.expect("range");
    assert_eq!(
        details(&page),
        [
            "dsl activityx.other",
            "dsl policy.change",
            "head activity.export"
        ],
        "since inclusive, until exclusive"
    );

    // Pages of two: every record once, in order, the last page says there is no next.
    let mut q = AuditQuery::school(s, 2);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.audit_search(&q).await.expect("page");
        pages += 1;
        assert!(page.records.len() <= 2);
        seen.extend(page.records.iter().map(|r| r.id));
        match page.next {
            Some(next) => q.page = Some(next.to_string().parse().expect("cursor")),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(
        seen,
        all.records.iter().map(|r| r.id).collect::<Vec<_>>(),
        "every record once, newest first"
    );

    let mut q = AuditQuery::school(s, 10);
    q.actor = Some("  ".into());
    assert!(store.audit_search(&q).await.is_err(), "an empty actor");
}
