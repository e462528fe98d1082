//! One behaviour suite for the store, run against every backend.
//!
//! Each scenario is an `async fn(&TestDb)`; `backend_tests!` (in `common/mod.rs`) turns it
//! into one test on a fresh SQLite file and one on a fresh PostgreSQL database (created on the
//! server named by `HEDGEROW_TEST_POSTGRES_URL`, dropped afterwards). Without that variable the
//! PostgreSQL variants print a loud note and pass, unless `HEDGEROW_REQUIRE_POSTGRES` is set,
//! in which case they fail: CI must not silently test only half the backends.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::{TestDb, backend_tests, event, reader, school, t0, with_database};
use hedgerow_store::{
    ActivityEvent, AuditEntry, EVENT_ROWS_PER_INSERT, EventFilter, EventSource, EventWriter,
    NewDevice, NewReviewRequest, NewUser, Reader, Rejected, ReviewKind, ReviewStatus, SchoolId,
    Store, StoreError, UserKind, Verdict, WriterConfig,
};
use jiff::{Timestamp, ToSpan};
use sqlx::Connection;

backend_tests!(
    migrations_are_idempotent_on_reopen,
    schools_are_isolated,
    users_and_devices_upsert,
    events_round_trip_every_field,
    read_filters_select_and_order,
    large_inserts_span_chunks,
    a_refused_batch_writes_nothing,
    reads_are_audited_and_audit_is_append_only,
    purge_removes_only_old_events_and_is_audited,
    writer_burst_beyond_capacity_never_blocks,
    writer_survives_transient_failure,
    writer_drops_only_events_the_database_refuses,
    invalid_input_is_rejected_with_a_clear_error,
    review_requests_round_trip_filter_and_decide,
    review_request_limits_are_enforced,
    login_lookup_spans_schools_and_refuses_ambiguity,
);

fn pupil(username: &str, display: &str) -> NewUser {
    NewUser {
        username: username.to_owned(),
        display_name: display.to_owned(),
        kind: UserKind::Pupil,
        group_key: "ks2".to_owned(),
        password_hash: None,
        demo_only: false,
        disabled: false,
    }
}

async fn migrations_are_idempotent_on_reopen(db: &TestDb) {
    let id = school(&db.store, "first").await;
    for _ in 0..2 {
        let again = Store::open(&db.url)
            .await
            .expect("reopen runs migrations again");
        let found = again
            .school_by_slug("first")
            .await
            .expect("lookup")
            .expect("school survives reopen");
        assert_eq!(found.id, id);
        assert_eq!(found.timezone, "Europe/London");
        assert_eq!(again.backend_name(), db.store.backend_name());
        again.close().await;
    }
    // ensure_school is an upsert keyed by slug.
    let same = db
        .store
        .ensure_school("first", "First Renamed", "Europe/Dublin")
        .await
        .expect("upsert school");
    assert_eq!(same, id);
    let schools = db.store.schools().await.expect("list schools");
    assert_eq!(schools.len(), 1);
    assert_eq!(schools[0].name, "First Renamed");
    assert_eq!(schools[0].timezone, "Europe/Dublin");
    let expected = if db.is_sqlite() { "sqlite" } else { "postgres" };
    assert_eq!(db.store.backend_name(), expected);
}

async fn schools_are_isolated(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let b = school(s, "beta").await;
    assert_ne!(a, b);
    s.upsert_user(a, &pupil("sam", "Sam at Alpha"))
        .await
        .expect("user a");
    s.upsert_user(b, &pupil("sam", "Sam at Beta"))
        .await
        .expect("user b");
    s.upsert_user(b, &pupil("kit", "Kit"))
        .await
        .expect("user b2");

    let ua = s.users(a).await.expect("users a");
    assert_eq!(ua.len(), 1);
    assert_eq!(ua[0].display_name, "Sam at Alpha");
    let ub = s.users(b).await.expect("users b");
    assert_eq!(ub.len(), 2);
    assert!(ub.iter().all(|u| u.school == b));
    assert_eq!(
        s.user(b, "sam")
            .await
            .expect("lookup")
            .expect("exists")
            .display_name,
        "Sam at Beta"
    );
    assert!(s.user(a, "kit").await.expect("lookup").is_none());

    let events: Vec<_> = (0..10)
        .map(|i| {
            let school = if i % 2 == 0 { a } else { b };
            event(school, t0() + i.seconds(), Some("sam"), Verdict::Allow)
        })
        .collect();
    s.insert_events(&events).await.expect("insert");
    assert_eq!(s.count_events(a).await.expect("count"), 5);
    assert_eq!(s.count_events(b).await.expect("count"), 5);
    let mut filter = EventFilter::school(a, 100);
    filter.user = Some("sam".to_owned());
    let read = s
        .read_events(&reader("isolation"), &filter)
        .await
        .expect("read");
    assert_eq!(read.len(), 5);
    assert!(read.iter().all(|e| e.event.school == a));

    // Audit entries are per school too.
    let audit_b = s.audit_entries(Some(b), 10).await.expect("audit b");
    assert!(
        audit_b.is_empty(),
        "reading school a must not audit under school b"
    );
    let audit_a = s.audit_entries(Some(a), 10).await.expect("audit a");
    assert_eq!(audit_a.len(), 1);
}

async fn users_and_devices_upsert(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "gamma").await;
    let mut user = NewUser {
        username: "jsmith".to_owned(),
        display_name: "J Smith".to_owned(),
        kind: UserKind::Staff,
        group_key: "staff".to_owned(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".to_owned()),
        demo_only: true,
        disabled: false,
    };
    let id = s.upsert_user(sc, &user).await.expect("insert user");
    let first = s.user(sc, "jsmith").await.expect("get").expect("exists");
    assert_eq!(first.id, id);
    assert_eq!(first.kind, UserKind::Staff);
    assert!(first.demo_only);
    assert!(!first.disabled);
    assert_eq!(first.password_hash, user.password_hash);

    user.display_name = "Jo Smith".to_owned();
    user.kind = UserKind::Visitor;
    user.password_hash = None;
    user.demo_only = false;
    user.disabled = true;
    let id2 = s.upsert_user(sc, &user).await.expect("update user");
    assert_eq!(id2, id, "upsert keeps the id");
    let second = s.user(sc, "jsmith").await.expect("get").expect("exists");
    assert_eq!(second.display_name, "Jo Smith");
    assert_eq!(second.kind, UserKind::Visitor);
    assert_eq!(second.password_hash, None);
    assert!(second.disabled);
    assert!(!second.demo_only);
    assert_eq!(second.created_at, first.created_at, "creation time is kept");
    assert_eq!(s.users(sc).await.expect("list").len(), 1);

    let mut device = NewDevice {
        name: "ipad-07".to_owned(),
        kind: "ipad".to_owned(),
        group_key: Some("ks1".to_owned()),
        addresses: vec!["10.0.5.7".to_owned(), "fd00:5::/64".to_owned()],
        authenticated: false,
    };
    let dev_id = s.upsert_device(sc, &device).await.expect("insert device");
    device.addresses = vec!["10.0.5.0/24".to_owned()];
    device.group_key = None;
    device.authenticated = true;
    assert_eq!(
        s.upsert_device(sc, &device).await.expect("update device"),
        dev_id
    );
    s.upsert_device(
        sc,
        &NewDevice {
            name: "guest".to_owned(),
            kind: "guest-wifi".to_owned(),
            group_key: Some("visitors".to_owned()),
            addresses: vec![],
            authenticated: true,
        },
    )
    .await
    .expect("second device");
    let devices = s.devices(sc).await.expect("list devices");
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[0].name, "guest");
    assert!(devices[0].addresses.is_empty());
    let ipad = &devices[1];
    assert_eq!(ipad.id, dev_id);
    assert_eq!(ipad.addresses, vec!["10.0.5.0/24".to_owned()]);
    assert_eq!(ipad.group_key, None);
    assert!(ipad.authenticated);

    s.set_setting(sc, "retention_days", "90")
        .await
        .expect("set");
    s.set_setting(sc, "retention_days", "30")
        .await
        .expect("reset");
    assert_eq!(
        s.setting(sc, "retention_days")
            .await
            .expect("get")
            .as_deref(),
        Some("30")
    );
    assert_eq!(s.setting(sc, "missing").await.expect("get"), None);
}

async fn events_round_trip_every_field(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "delta").await;
    let full = ActivityEvent {
        school: sc,
        at: t0(),
        source: EventSource::Proxy,
        client_ip: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x42)),
        user: Some("pupil.one".to_owned()),
        device: Some("laptop-3".to_owned()),
        group: Some("ks3".to_owned()),
        host: "www.example.com".to_owned(),
        url: Some("https://www.example.com/search?q=help%20me".to_owned()),
        method: Some("GET".to_owned()),
        qtype: None,
        category: Some("search".to_owned()),
        verdict: Verdict::Block,
        rule: "ks3:block-search-unsafe".to_owned(),
        reason: Some("unsafe search".to_owned()),
        search_term: Some("help me — ünïcode".to_owned()),
        status: Some(403),
        bytes: Some(u64::from(u32::MAX) + 17),
        duration_us: Some(u32::MAX),
        page_title: Some("Help &amp; support — ünïcode".to_owned()),
    };
    let bare = ActivityEvent {
        school: sc,
        at: t0() + 1.microsecond(),
        source: EventSource::Explain,
        client_ip: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
        user: None,
        device: None,
        group: None,
        host: "bare.test".to_owned(),
        url: None,
        method: None,
        qtype: None,
        category: None,
        verdict: Verdict::Allow,
        rule: "r".to_owned(),
        reason: None,
        search_term: None,
        status: None,
        bytes: None,
        duration_us: None,
        page_title: None,
    };
    let mut nul = event(sc, t0() - 1.second(), None, Verdict::Allow);
    nul.host = "evil\0host".to_owned();
    s.insert_events(&[full.clone(), bare.clone(), nul])
        .await
        .expect("insert");
    let read = s
        .read_events(&reader("round trip"), &EventFilter::school(sc, 10))
        .await
        .expect("read");
    assert_eq!(read.len(), 3);
    assert_eq!(read[0].event, bare, "newest first, every None kept");
    assert_eq!(read[1].event, full, "every field kept");
    assert_eq!(
        read[2].event.host, "evil\u{FFFD}host",
        "NUL cannot break a batch"
    );
    assert!(read[0].id > read[1].id);
}

async fn read_filters_select_and_order(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "epsilon").await;
    let mut events = Vec::new();
    for i in 0..20_i64 {
        let user = if i % 2 == 0 { "ann" } else { "bob" };
        let verdict = if i % 5 == 0 {
            Verdict::Block
        } else {
            Verdict::Allow
        };
        let mut e = event(sc, t0() + i.minutes(), Some(user), verdict);
        if i % 4 == 0 {
            e.client_ip = "2001:db8::1".parse().expect("ip");
        }
        events.push(e);
    }
    s.insert_events(&events).await.expect("insert");
    let r = reader("filters");

    let mut f = EventFilter::school(sc, 1000);
    f.user = Some("ann".to_owned());
    let got = s.read_events(&r, &f).await.expect("by user");
    assert_eq!(got.len(), 10);
    assert!(
        got.windows(2).all(|w| w[0].event.at > w[1].event.at),
        "newest first"
    );

    let mut f = EventFilter::school(sc, 1000);
    f.verdict = Some(Verdict::Block);
    assert_eq!(s.read_events(&r, &f).await.expect("by verdict").len(), 4);

    let mut f = EventFilter::school(sc, 1000);
    // A different spelling of the same address must still match.
    f.client_ip = Some("2001:0db8:0000::0001".parse().expect("ip"));
    assert_eq!(s.read_events(&r, &f).await.expect("by ip").len(), 5);

    let mut f = EventFilter::school(sc, 1000);
    f.since = Some(t0() + 5.minutes());
    f.until = Some(t0() + 10.minutes());
    let got = s.read_events(&r, &f).await.expect("by time");
    assert_eq!(got.len(), 5, "since inclusive, until exclusive");
    assert_eq!(got[0].event.at, t0() + 9.minutes());
    assert_eq!(got[4].event.at, t0() + 5.minutes());

    let got = s
        .read_events(&r, &EventFilter::school(sc, 3))
        .await
        .expect("limited");
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].event.at, t0() + 19.minutes());
}

async fn large_inserts_span_chunks(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "zeta").await;
    // More than two full statements' worth of rows, so chunking and the partial tail both run.
    let n = 2 * EVENT_ROWS_PER_INSERT + 345;
    let events: Vec<_> = (0..n as i64)
        .map(|i| event(sc, t0() + i.milliseconds(), Some("u"), Verdict::Allow))
        .collect();
    s.insert_events(&events).await.expect("insert many");
    assert_eq!(s.count_events(sc).await.expect("count"), n as u64);
    s.insert_events(&[]).await.expect("empty insert is fine");
}

/// A batch the database refuses part of leaves nothing behind, whether it fits one statement
/// (written without a transaction) or needs several (written in one).
async fn a_refused_batch_writes_nothing(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "omicron").await;
    for n in [3, EVENT_ROWS_PER_INSERT, EVENT_ROWS_PER_INSERT + 7] {
        let mut events: Vec<_> = (0..n as i64)
            .map(|i| event(sc, t0() + i.milliseconds(), None, Verdict::Allow))
            .collect();
        // The last row names a school that does not exist, so its statement fails last.
        if let Some(last) = events.last_mut() {
            last.school = SchoolId(i64::MAX);
        }
        s.insert_events(&events)
            .await
            .expect_err("a row for an unknown school is refused");
        assert_eq!(
            s.count_events(sc).await.expect("count"),
            0,
            "{n} events: the rows before the refused one were rolled back"
        );
    }
}

async fn reads_are_audited_and_audit_is_append_only(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "eta").await;
    s.insert_events(&[event(sc, t0(), Some("child"), Verdict::Block)])
        .await
        .expect("insert");
    assert_eq!(s.count_events(sc).await.expect("count"), 1);
    assert!(
        s.audit_entries(Some(sc), 10)
            .await
            .expect("audit")
            .is_empty(),
        "counting is not personal and is not audited"
    );

    let mut f = EventFilter::school(sc, 50);
    f.user = Some("child".to_owned());
    let got = s
        .read_events(&reader("safeguarding concern #42"), &f)
        .await
        .expect("read");
    assert_eq!(got.len(), 1);

    let audit = s.audit_entries(Some(sc), 10).await.expect("audit");
    assert_eq!(audit.len(), 1);
    let entry = &audit[0].entry;
    assert_eq!(entry.action, "activity.read");
    assert_eq!(entry.actor, "staff:dsl");
    assert_eq!(entry.school, Some(sc));
    assert_eq!(entry.from_addr.as_deref(), Some("10.1.2.3"));
    assert!(
        entry.detail.contains("safeguarding concern #42"),
        "{}",
        entry.detail
    );
    assert!(entry.detail.contains("user=\"child\""), "{}", entry.detail);
    assert!(entry.detail.contains("returned=1"), "{}", entry.detail);

    // A read that returns nothing is still a look at the history.
    let mut f = EventFilter::school(sc, 50);
    f.user = Some("nobody".to_owned());
    assert!(
        s.read_events(&reader("check"), &f)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(s.audit_entries(Some(sc), 10).await.expect("audit").len(), 2);

    // A reader must say who and why.
    let anonymous = Reader {
        actor: " ".to_owned(),
        from_addr: None,
        purpose: "x".to_owned(),
    };
    assert!(matches!(
        s.read_events(&anonymous, &f).await,
        Err(StoreError::InvalidInput { .. })
    ));

    s.append_audit(&AuditEntry {
        school: None,
        at: t0(),
        actor: "admin".to_owned(),
        action: "config.reload".to_owned(),
        target: "store".to_owned(),
        detail: "reloaded".to_owned(),
        from_addr: None,
    })
    .await
    .expect("append store-wide entry");
    let all = s.audit_entries(None, 10).await.expect("all audit");
    assert_eq!(all.len(), 3);
    assert!(
        all.iter()
            .any(|r| r.entry.school.is_none() && r.entry.at == t0())
    );
    assert_eq!(s.audit_entries(None, 1).await.expect("limit").len(), 1);

    assert!(
        db.raw("UPDATE audit_log SET actor = 'someone else'")
            .await
            .is_err(),
        "audit log must refuse updates"
    );
    assert!(
        db.raw("DELETE FROM audit_log").await.is_err(),
        "audit log must refuse deletes"
    );
    assert_eq!(s.audit_entries(None, 10).await.expect("audit").len(), 3);
}

async fn purge_removes_only_old_events_and_is_audited(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "theta").await;
    let other = school(s, "iota").await;
    let mut events: Vec<_> = (0..10_i64)
        .map(|i| event(sc, t0() + i.hours(), None, Verdict::Allow))
        .collect();
    events.push(event(other, t0(), None, Verdict::Allow));
    s.insert_events(&events).await.expect("insert");

    let deleted = s
        .purge_events_before(sc, t0() + 4.hours())
        .await
        .expect("purge");
    assert_eq!(deleted, 4, "strictly before the cutoff");
    assert_eq!(s.count_events(sc).await.expect("count"), 6);
    assert_eq!(
        s.count_events(other).await.expect("count"),
        1,
        "other school untouched"
    );
    let again = s
        .purge_events_before(sc, t0() + 4.hours())
        .await
        .expect("purge again");
    assert_eq!(again, 0);

    let audit = s.audit_entries(Some(sc), 10).await.expect("audit");
    assert_eq!(audit.len(), 2);
    assert!(audit.iter().all(|r| r.entry.action == "activity.purge"));
    assert!(
        audit
            .iter()
            .any(|r| r.entry.detail.contains("deleted 4 events"))
    );
}

async fn writer_burst_beyond_capacity_never_blocks(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "kappa").await;
    let capacity = 64;
    let (sink, handle) = EventWriter::spawn(
        s.clone(),
        WriterConfig {
            capacity,
            max_batch: 16,
            flush_interval: Duration::from_millis(10),
            ..WriterConfig::default()
        },
    );
    // The writer, on its own thread, takes at most one batch (16) per gather interval
    // (10 ms), far slower than this loop offers events. If `record` waited for room the loop
    // would crawl at the writer's pace; ending with rejections shows it refuses instead.
    let burst = 10_000_u64;
    let mut accepted = 0_u64;
    let mut full = 0_u64;
    for i in 0..burst {
        let at = t0() + (i as i64).microseconds();
        match sink.record(event(sc, at, Some("burst"), Verdict::Allow)) {
            Ok(()) => accepted += 1,
            Err(Rejected::Full) => full += 1,
            Err(Rejected::Closed) => panic!("writer closed during the burst"),
        }
    }
    assert!(
        accepted >= capacity as u64,
        "at least the queue's capacity fits, got {accepted}"
    );
    assert!(
        full > 0 && accepted < burst / 2,
        "a burst far beyond what the writer can take is refused, not queued without bound: accepted {accepted} of {burst}"
    );
    assert_eq!(full, burst - accepted);
    assert_eq!(sink.rejected(), full);
    assert_eq!(sink.accepted(), accepted);

    // Once the writer gets the CPU it drains the queue, so later events fit again.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sink2 = sink.clone();
    let mut more = 0;
    for i in 0..10 {
        if sink2
            .record(event(
                sc,
                t0() + 1.hours() + i.seconds(),
                None,
                Verdict::Block,
            ))
            .is_ok()
        {
            more += 1;
        }
    }
    accepted += more;

    let stats = handle.shutdown().await.expect("shutdown drains");
    assert_eq!(stats.accepted, accepted);
    assert_eq!(stats.written, accepted, "everything accepted is written");
    assert_eq!(stats.rejected, full + (10 - more));
    assert_eq!(stats.dropped_invalid, 0);
    assert_eq!(s.count_events(sc).await.expect("count"), accepted);
    assert_eq!(
        sink.record(event(sc, t0(), None, Verdict::Allow)),
        Err(Rejected::Closed),
        "intake is closed after shutdown"
    );
}

async fn writer_survives_transient_failure(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "lambda").await;
    // A trigger that fails every insert stands in for a full disk or a lost connection.
    let (break_sql, fix_sql) = if db.is_sqlite() {
        (
            "CREATE TRIGGER fail_events BEFORE INSERT ON activity_events \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            "DROP TRIGGER fail_events;",
        )
    } else {
        (
            "CREATE FUNCTION fail_events() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$; \
             CREATE TRIGGER fail_events BEFORE INSERT ON activity_events \
             FOR EACH STATEMENT EXECUTE FUNCTION fail_events();",
            "DROP TRIGGER fail_events ON activity_events; DROP FUNCTION fail_events();",
        )
    };
    db.raw(break_sql).await.expect("install failing trigger");

    let (sink, handle) = EventWriter::spawn(
        s.clone(),
        WriterConfig {
            capacity: 1_000,
            max_batch: 7,
            flush_interval: Duration::from_millis(5),
            ..WriterConfig::default()
        },
    );
    for i in 0..50_i64 {
        sink.record(event(sc, t0() + i.seconds(), Some("x"), Verdict::Allow))
            .expect("queue has room");
    }
    let mut waited = Duration::ZERO;
    while handle.stats().write_failures < 3 {
        assert!(
            waited < Duration::from_secs(30),
            "writer never tried to write"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
    }
    assert_eq!(handle.stats().written, 0);
    assert_eq!(s.count_events(sc).await.expect("count"), 0);

    db.raw(fix_sql).await.expect("remove failing trigger");
    let stats = handle.shutdown().await.expect("shutdown after recovery");
    assert_eq!(stats.written, 50, "nothing accepted was lost");
    assert!(stats.write_failures >= 3);
    assert_eq!(stats.dropped_invalid, 0);
    assert_eq!(s.count_events(sc).await.expect("count"), 50);
}

async fn writer_drops_only_events_the_database_refuses(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "mu").await;
    let (sink, handle) = EventWriter::spawn(s.clone(), WriterConfig::default());
    for i in 0..30_i64 {
        // Every third event names a school that does not exist.
        let school = if i % 3 == 0 { SchoolId(i64::MAX) } else { sc };
        sink.record(event(school, t0() + i.seconds(), None, Verdict::Allow))
            .expect("queue has room");
    }
    let stats = handle.shutdown().await.expect("shutdown");
    assert_eq!(stats.written, 20);
    assert_eq!(stats.dropped_invalid, 10);
    assert_eq!(s.count_events(sc).await.expect("count"), 20);
}

async fn invalid_input_is_rejected_with_a_clear_error(db: &TestDb) {
    let s = &db.store;
    let bad_tz = s.ensure_school("nu", "Nu", "Mars/Olympus").await;
    assert!(matches!(
        bad_tz,
        Err(StoreError::InvalidInput {
            field: "school time zone",
            ..
        })
    ));
    let bad_slug = s.ensure_school("Nu School", "Nu", "Europe/London").await;
    assert!(matches!(
        bad_slug,
        Err(StoreError::InvalidInput {
            field: "school slug",
            ..
        })
    ));

    let sc = school(s, "nu").await;
    let mut plain = pupil("p", "P");
    plain.password_hash = Some("hunter2".to_owned());
    let err = s
        .upsert_user(sc, &plain)
        .await
        .expect_err("plaintext password refused");
    assert!(err.to_string().contains("argon2"), "{err}");

    let err = s
        .upsert_user(SchoolId(i64::MAX), &pupil("p", "P"))
        .await
        .expect_err("unknown school refused");
    assert!(err.to_string().contains("ensure_school"), "{err}");

    let err = s
        .upsert_device(
            sc,
            &NewDevice {
                name: "d".to_owned(),
                kind: "laptop".to_owned(),
                group_key: None,
                addresses: vec!["10.0.0.1,10.0.0.2".to_owned()],
                authenticated: true,
            },
        )
        .await
        .expect_err("comma inside one address refused");
    assert!(matches!(err, StoreError::InvalidInput { .. }));

    assert!(matches!(
        Store::open("mysql://localhost/x").await,
        Err(StoreError::UnsupportedUrl { .. })
    ));
}

fn review(school: SchoolId, at: Timestamp, url: &str) -> NewReviewRequest {
    NewReviewRequest {
        school,
        created_at: at,
        requested_by_user: Some("pupil.ks2".to_owned()),
        device: Some("ks2-laptop".to_owned()),
        client_addr: IpAddr::V4(Ipv4Addr::new(10, 20, 2, 44)),
        url: url.to_owned(),
        host: "games.example".to_owned(),
        kind: ReviewKind::ShouldNotBeBlocked,
        verdict_at_request: Verdict::Block,
        category: Some("online-games".to_owned()),
        rule: Some("group:ks2:online-games".to_owned()),
        comment: "We need this for the\nYear 5 maths lesson.".to_owned(),
    }
}

async fn review_requests_round_trip_filter_and_decide(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "rho").await;
    let other = school(s, "sigma").await;
    let first = review(sc, t0(), "http://games.example/maths");
    let first_id = s.insert_review_request(&first).await.expect("insert");
    let mut second = review(sc, t0() + 5.seconds(), "https://news.example/story");
    second.requested_by_user = None;
    second.device = None;
    second.client_addr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 9));
    second.host = "news.example".to_owned();
    second.kind = ReviewKind::ShouldBeBlocked;
    second.verdict_at_request = Verdict::Allow;
    second.category = None;
    second.rule = None;
    second.comment = String::new();
    let second_id = s.insert_review_request(&second).await.expect("insert");
    assert_ne!(first_id, second_id);
    s.insert_review_request(&review(other, t0(), "http://elsewhere.example/"))
        .await
        .expect("other school");

    let all = s.review_requests(sc, None, 10).await.expect("read");
    assert_eq!(all.len(), 2, "other schools' requests are not returned");
    assert_eq!(all[0].id, second_id, "newest first");
    assert_eq!(all[0].request, second, "every field round-trips");
    assert_eq!(all[1].request, first);
    assert!(all.iter().all(|r| r.status == ReviewStatus::New));
    assert!(
        all.iter()
            .all(|r| r.decided_by.is_none() && r.decided_at.is_none())
    );
    assert_eq!(s.review_requests(sc, None, 1).await.expect("read").len(), 1);
    let one = s.review_request(sc, first_id).await.expect("read one");
    assert_eq!(one.map(|r| r.request), Some(first.clone()));
    assert_eq!(
        s.review_request(other, first_id).await.expect("read one"),
        None,
        "another school's id finds nothing"
    );

    assert!(
        s.decide_review_request(
            sc,
            first_id,
            ReviewStatus::Approved,
            "staff:netadmin",
            Some("Allowed for KS2 until July")
        )
        .await
        .expect("decide")
    );
    assert!(
        !s.decide_review_request(sc, first_id, ReviewStatus::Declined, "staff:other", None)
            .await
            .expect("decide again"),
        "a decided request is not decided again"
    );
    assert!(
        !s.decide_review_request(
            other,
            second_id,
            ReviewStatus::Declined,
            "staff:other",
            None
        )
        .await
        .expect("decide in the wrong school"),
        "a school cannot decide another school's request"
    );
    assert!(matches!(
        s.decide_review_request(sc, second_id, ReviewStatus::New, "staff:x", None)
            .await,
        Err(StoreError::InvalidInput { .. })
    ));

    let new = s
        .review_requests(sc, Some(ReviewStatus::New), 10)
        .await
        .expect("read new");
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].id, second_id);
    let approved = s
        .review_requests(sc, Some(ReviewStatus::Approved), 10)
        .await
        .expect("read approved");
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].decided_by.as_deref(), Some("staff:netadmin"));
    assert_eq!(
        approved[0].decision_note.as_deref(),
        Some("Allowed for KS2 until July")
    );
    assert!(approved[0].decided_at.is_some());
    let audit = s.audit_entries(Some(sc), 10).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.entry.action == "review.decide" && a.entry.actor == "staff:netadmin"),
        "{audit:?}"
    );
}

async fn review_request_limits_are_enforced(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "tau").await;
    let mut long = review(sc, t0(), "http://games.example/");
    long.comment = "é".repeat(NewReviewRequest::MAX_COMMENT_CHARS);
    s.insert_review_request(&long)
        .await
        .expect("2,000 characters (of two bytes each) fit");
    long.comment.push('x');
    assert!(matches!(
        s.insert_review_request(&long).await,
        Err(StoreError::InvalidInput {
            field: "review request comment",
            ..
        })
    ));
    assert!(matches!(
        s.insert_review_request(&review(sc, t0(), "http://games.example/a\0b"))
            .await,
        Err(StoreError::InvalidInput {
            field: "review request URL",
            ..
        })
    ));
    let mut nul = review(sc, t0(), "http://games.example/");
    nul.comment = "a\0b".to_owned();
    s.insert_review_request(&nul).await.expect("NUL replaced");
    let mut bell = review(sc, t0(), "http://games.example/");
    bell.comment = "ring \u{7}".to_owned();
    assert!(s.insert_review_request(&bell).await.is_err());
    assert!(matches!(
        s.insert_review_request(&review(SchoolId(i64::MAX), t0(), "http://x.example/"))
            .await,
        Err(StoreError::InvalidInput {
            field: "school",
            ..
        })
    ));

    // The database refuses what the store would, for anyone writing behind its back.
    let too_long = format!(
        "INSERT INTO review_requests (school_id, created_at_us, client_addr, url, host, kind, \
         verdict_at_request, comment) VALUES ({}, 0, '10.0.0.1', 'http://a.example/', \
         'a.example', 'should_be_blocked', 'allowed', '{}')",
        sc.0,
        "x".repeat(2_001)
    );
    assert!(db.raw(&too_long).await.is_err(), "CHECK on the comment");
    let bad_kind = format!(
        "INSERT INTO review_requests (school_id, created_at_us, client_addr, url, host, kind, \
         verdict_at_request) VALUES ({}, 0, '10.0.0.1', 'http://a.example/', 'a.example', \
         'unblock', 'allowed')",
        sc.0
    );
    assert!(db.raw(&bad_kind).await.is_err(), "CHECK on the kind");
    let half_decided = format!(
        "INSERT INTO review_requests (school_id, created_at_us, client_addr, url, host, kind, \
         verdict_at_request, status) VALUES ({}, 0, '10.0.0.1', 'http://a.example/', \
         'a.example', 'should_be_blocked', 'allowed', 'approved')",
        sc.0
    );
    assert!(
        db.raw(&half_decided).await.is_err(),
        "a decision needs who and when"
    );
    let stored = s.review_requests(sc, None, 10).await.expect("read");
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().any(|r| r.request.comment == "a\u{FFFD}b"));
}

async fn login_lookup_spans_schools_and_refuses_ambiguity(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "upsilon").await;
    let b = school(s, "phi").await;
    s.upsert_user(a, &pupil("Sam.Jones", "Sam at Upsilon"))
        .await
        .expect("user");
    s.upsert_user(b, &pupil("kit", "Kit at Phi"))
        .await
        .expect("user");

    let sam = s
        .user_for_login(None, "sam.jones")
        .await
        .expect("lookup")
        .expect("found ignoring case");
    assert_eq!(sam.school, a);
    assert_eq!(sam.username, "Sam.Jones", "the stored spelling comes back");
    assert_eq!(
        s.user_for_login(Some(b), "kit")
            .await
            .expect("lookup")
            .map(|u| u.display_name),
        Some("Kit at Phi".to_owned())
    );
    assert!(
        s.user_for_login(Some(a), "kit")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        s.user_for_login(None, "nobody")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(s.user_for_login(None, "").await.expect("lookup").is_none());
    assert!(
        s.user_for_login(None, &"x".repeat(10_000))
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        s.user_for_login(None, "' OR 1=1 --")
            .await
            .expect("lookup")
            .is_none()
    );

    s.upsert_user(b, &pupil("sam.jones", "Sam at Phi"))
        .await
        .expect("same name in another school");
    match s.user_for_login(None, "SAM.JONES").await {
        Err(StoreError::AmbiguousUsername { username, schools }) => {
            assert_eq!(username, "SAM.JONES");
            assert_eq!(schools, vec!["upsilon".to_owned(), "phi".to_owned()]);
            let shown = StoreError::AmbiguousUsername { username, schools }.to_string();
            assert!(shown.contains("upsilon, phi"), "{shown}");
        }
        other => panic!("expected an ambiguity error, got {other:?}"),
    }
    // Within one school the name is unambiguous.
    assert_eq!(
        s.user_for_login(Some(b), "SAM.JONES")
            .await
            .expect("lookup")
            .map(|u| u.display_name),
        Some("Sam at Phi".to_owned())
    );
}

#[tokio::test]
async fn sqlite_file_uses_wal_and_url_forms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wal.db");
    let store = Store::open_sqlite_file(&path).await.expect("open by path");
    assert_eq!(store.backend_name(), "sqlite");
    school(&store, "wal").await;

    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("raw connection");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    let _ = conn.close().await;
    store.close().await;

    // The URL spellings the configuration may use all reach the same file.
    for url in [
        format!("sqlite://{}", path.display()),
        format!("sqlite://{}?mode=rwc", path.display()),
        format!("sqlite:{}", path.display()),
    ] {
        let s = Store::open(&url).await.expect("open by url");
        assert!(
            s.school_by_slug("wal").await.expect("lookup").is_some(),
            "{url}"
        );
        s.close().await;
    }

    let missing = dir.path().join("no-such-dir").join("x.db");
    let err = Store::open_sqlite_file(&missing)
        .await
        .expect_err("missing dir");
    assert!(matches!(err, StoreError::MissingDirectory { .. }), "{err}");

    let mem = Store::open("sqlite::memory:")
        .await
        .expect("in-memory store");
    school(&mem, "mem").await;
    assert_eq!(mem.schools().await.expect("list").len(), 1);
}

#[test]
fn postgres_url_database_is_replaced() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:54329/postgres", "t1"),
        "postgres://postgres@127.0.0.1:54329/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
        "postgres://u:p@h/t2?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "t3"), "postgres://h/t3");
}
