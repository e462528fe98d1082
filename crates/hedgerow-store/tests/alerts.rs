//! Monitoring alerts, concerns and the writer's observer, run against every backend with the
//! harness in `common/mod.rs` (SQLite always; PostgreSQL from `HEDGEROW_TEST_POSTGRES_URL`).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{TestDb, backend_tests, event, reader, school, t0};
use hedgerow_store::{
    ActivityEvent, Alert, AlertFilter, AlertId, AlertStatus, AlertTrigger, ConcernId,
    ConcernStatus, EventFilter, EventWriter, NewAlert, SchoolId, Store, StoreError, Verdict,
    WriterConfig,
};
use jiff::{SignedDuration, Timestamp, ToSpan};
use tokio::sync::mpsc;

backend_tests!(
    repeats_fold_into_one_alert_with_the_most_severe_match,
    folding_respects_person_category_window_and_status,
    concurrent_raises_fold_into_one_alert,
    alert_input_is_checked_and_network_text_tidied,
    triage_needs_a_note_and_follows_the_allowed_moves,
    reads_of_alerts_are_audited_and_stay_in_their_school,
    alert_filters_select_and_order,
    a_concern_opens_from_an_alert_with_a_copy_of_the_evidence,
    digests_take_only_alerts_not_yet_sent,
    summary_counts_alerts_responses_and_circumvention,
    observer_gets_every_written_event_in_order,
    a_full_observer_costs_monitoring_not_writing,
    observer_gets_one_by_one_writes_minus_refused_events,
    retention_purges_only_old_decided_alerts_without_a_concern,
);

const WINDOW: SignedDuration = SignedDuration::from_mins(30);

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn new_alert(school: SchoolId, at: Timestamp, user: Option<&str>, category: &str) -> NewAlert {
    NewAlert {
        school,
        at,
        user: user.map(str::to_owned),
        device: Some("ipad-07".to_owned()),
        client_ip: ip(7),
        group: Some("ks3".to_owned()),
        category: category.to_owned(),
        severity: 3,
        trigger: AlertTrigger::SearchTerm,
        matched_text: "how to buy weed".to_owned(),
        matched_entry: "buy weed".to_owned(),
        host: "www.example-search.test".to_owned(),
        url: Some("https://www.example-search.test/search?q=how+to+buy+weed".to_owned()),
    }
}

async fn raise(store: &Store, alert: &NewAlert) -> hedgerow_store::RaisedAlert {
    store.raise_alert(alert, WINDOW).await.expect("raise alert")
}

async fn actions(store: &Store, school: SchoolId) -> Vec<(String, String, String)> {
    store
        .audit_entries(Some(school), 200)
        .await
        .expect("audit")
        .into_iter()
        .map(|r| (r.entry.actor, r.entry.action, r.entry.target))
        .collect()
}

async fn repeats_fold_into_one_alert_with_the_most_severe_match(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "fold").await;
    let first = raise(s, &new_alert(sc, t0(), Some("amy"), "drugs")).await;
    assert!(!first.folded);
    assert_eq!(first.previous_severity, None);
    let a = &first.alert;
    assert_eq!(a.status, AlertStatus::New);
    assert_eq!(a.count, 1);
    assert_eq!((a.first_at, a.last_at), (t0(), t0()));
    assert_eq!(a.user.as_deref(), Some("amy"));
    assert_eq!(a.device.as_deref(), Some("ipad-07"));
    assert_eq!(a.group.as_deref(), Some("ks3"));
    assert_eq!(a.client_ip, ip(7));
    assert_eq!(a.severity, 3);
    assert_eq!(a.trigger, AlertTrigger::SearchTerm);
    assert_eq!(a.matched_text, "how to buy weed");
    assert_eq!(a.concern, None);
    assert_eq!(
        (a.notified_at, a.digested_at, a.triaged_at),
        (None, None, None)
    );

    // A more severe match raises the severity and replaces what is shown as matched.
    let mut worse = new_alert(sc, t0() + 10.minutes(), Some("amy"), "drugs");
    worse.severity = 4;
    worse.trigger = AlertTrigger::Url;
    worse.matched_text = "buy mdma online".to_owned();
    worse.matched_entry = "mdma".to_owned();
    worse.host = "shop.example.test".to_owned();
    worse.url = None;
    let second = raise(s, &worse).await;
    assert!(second.folded);
    assert_eq!(second.previous_severity, Some(3));
    let b = &second.alert;
    assert_eq!(b.id, a.id);
    assert_eq!(b.count, 2);
    assert_eq!(b.severity, 4);
    assert_eq!(b.trigger, AlertTrigger::Url);
    assert_eq!(b.matched_text, "buy mdma online");
    assert_eq!(b.matched_entry, "mdma");
    assert_eq!(b.host, "shop.example.test");
    assert_eq!(b.url, None);
    assert_eq!((b.first_at, b.last_at), (t0(), t0() + 10.minutes()));

    // A milder, earlier (out of order) match counts and widens the times but shows nothing new.
    let mut milder = new_alert(sc, t0() - 5.minutes(), Some("amy"), "drugs");
    milder.severity = 2;
    milder.matched_text = "weed".to_owned();
    let third = raise(s, &milder).await;
    assert!(third.folded);
    assert_eq!(third.previous_severity, Some(4));
    let c = &third.alert;
    assert_eq!(c.count, 3);
    assert_eq!(c.severity, 4);
    assert_eq!(c.matched_text, "buy mdma online");
    assert_eq!(
        (c.first_at, c.last_at),
        (t0() - 5.minutes(), t0() + 10.minutes())
    );
}

async fn folding_respects_person_category_window_and_status(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "window").await;
    let other_school = school(s, "window-b").await;
    let base = raise(s, &new_alert(sc, t0(), Some("ben"), "gambling"))
        .await
        .alert;

    let other_category = raise(s, &new_alert(sc, t0(), Some("ben"), "drugs")).await;
    assert!(!other_category.folded);
    let other_person = raise(s, &new_alert(sc, t0(), Some("cat"), "gambling")).await;
    assert!(!other_person.folded);
    let elsewhere = raise(s, &new_alert(other_school, t0(), Some("ben"), "gambling")).await;
    assert!(!elsewhere.folded);

    // Exactly at the window's edge still folds; a microsecond later does not.
    let edge = raise(
        s,
        &new_alert(sc, t0() + 30.minutes(), Some("ben"), "gambling"),
    )
    .await;
    assert!(edge.folded);
    assert_eq!(edge.alert.id, base.id);
    let late = t0() + 60.minutes() + 1.microseconds();
    let after = raise(s, &new_alert(sc, late, Some("ben"), "gambling")).await;
    assert!(!after.folded, "outside the window starts a new alert");
    assert_ne!(after.alert.id, base.id);

    // Without a user, the address is the person: same address folds, another does not.
    let anon = raise(s, &new_alert(sc, t0(), None, "hate")).await;
    let same_ip = raise(s, &new_alert(sc, t0() + 1.minutes(), None, "hate")).await;
    assert!(same_ip.folded);
    assert_eq!(same_ip.alert.id, anon.alert.id);
    let mut other_ip = new_alert(sc, t0() + 2.minutes(), None, "hate");
    other_ip.client_ip = ip(8);
    assert!(!raise(s, &other_ip).await.folded);

    // A triaged alert is closed to folding.
    s.triage_alert(
        sc,
        anon.alert.id,
        AlertStatus::FalsePositive,
        "searching for a history project",
        "dsl",
        t0() + 3.minutes(),
    )
    .await
    .expect("triage");
    let fresh = raise(s, &new_alert(sc, t0() + 4.minutes(), None, "hate")).await;
    assert!(!fresh.folded);
    assert_ne!(fresh.alert.id, anon.alert.id);

    // A zero window never folds.
    let zero = s
        .raise_alert(
            &new_alert(sc, t0() + 5.minutes(), None, "hate"),
            SignedDuration::ZERO,
        )
        .await
        .expect("raise");
    assert!(!zero.folded);
}

async fn concurrent_raises_fold_into_one_alert(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "race").await;
    let mut tasks = Vec::new();
    for i in 0..20_i64 {
        let store = s.clone();
        let mut alert = new_alert(sc, t0() + i.seconds(), Some("dan"), "weapons_violence");
        alert.severity = u8::try_from(1 + i % 5).expect("small");
        tasks.push(tokio::spawn(async move {
            store.raise_alert(&alert, WINDOW).await
        }));
    }
    let mut folded = 0;
    for task in tasks {
        let raised = task.await.expect("task").expect("raise");
        folded += u32::from(raised.folded);
    }
    assert_eq!(folded, 19, "exactly one raise made the alert");
    let all = s
        .alerts(&AlertFilter::school(sc, 100), &reader("check"))
        .await
        .expect("alerts");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].count, 20);
    assert_eq!(all[0].severity, 5);
    assert_eq!(
        (all[0].first_at, all[0].last_at),
        (t0(), t0() + 19.seconds())
    );
}

async fn alert_input_is_checked_and_network_text_tidied(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "input").await;
    for severity in [0, 6] {
        let mut bad = new_alert(sc, t0(), Some("eve"), "drugs");
        bad.severity = severity;
        let err = s.raise_alert(&bad, WINDOW).await.expect_err("bad severity");
        assert!(err.to_string().contains("1 (advisory) to 5"), "{err}");
    }
    let err = s
        .raise_alert(&new_alert(sc, t0(), Some("eve"), " "), WINDOW)
        .await
        .expect_err("blank category");
    assert!(matches!(
        err,
        StoreError::InvalidInput {
            field: "alert category",
            ..
        }
    ));
    let err = s
        .raise_alert(
            &new_alert(sc, t0(), Some("eve"), "drugs"),
            SignedDuration::from_secs(-1),
        )
        .await
        .expect_err("negative window");
    assert!(matches!(
        err,
        StoreError::InvalidInput {
            field: "fold window",
            ..
        }
    ));
    let err = s
        .raise_alert(&new_alert(SchoolId(i64::MAX), t0(), None, "drugs"), WINDOW)
        .await
        .expect_err("unknown school");
    assert!(err.to_string().contains("no school"), "{err}");

    let mut hostile = new_alert(sc, t0(), Some("eve\0"), "drugs");
    hostile.matched_text = format!("kill\0my\nself {}", "x".repeat(5_000));
    hostile.host = "a\u{7}b".to_owned();
    let a = raise(s, &hostile).await.alert;
    assert_eq!(a.user.as_deref(), Some("eve "));
    assert!(a.matched_text.starts_with("kill my self x"));
    assert_eq!(a.matched_text.chars().count(), NewAlert::MAX_TEXT_CHARS);
    assert_eq!(a.host, "a b");
}

async fn triage_needs_a_note_and_follows_the_allowed_moves(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "triage").await;
    let other = school(s, "triage-b").await;
    let id = raise(s, &new_alert(sc, t0(), Some("fay"), "bullying"))
        .await
        .alert
        .id;
    let at = t0() + 20.minutes();

    let err = s
        .triage_alert(sc, id, AlertStatus::Triaged, "  \n", "dsl", at)
        .await
        .expect_err("blank note");
    assert!(matches!(err, StoreError::NoteRequired { .. }));
    assert!(err.to_string().contains("note is required"), "{err}");
    let unchanged = s
        .alert(sc, id, &reader("check"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(unchanged.status, AlertStatus::New);
    assert_eq!(unchanged.triage_note, None);
    assert!(
        !actions(s, sc)
            .await
            .iter()
            .any(|(_, action, _)| action == "alert.triage"),
        "a refused triage is not audited"
    );

    let err = s
        .triage_alert(sc, id, AlertStatus::New, "nothing", "dsl", at)
        .await
        .expect_err("new to new");
    assert!(matches!(err, StoreError::AlertTransition { .. }), "{err}");
    let err = s
        .triage_alert(other, id, AlertStatus::Triaged, "wrong school", "dsl", at)
        .await
        .expect_err("other school");
    assert!(
        matches!(err, StoreError::NotFound { what: "alert", .. }),
        "{err}"
    );
    let err = s
        .triage_alert(
            sc,
            AlertId(i64::MAX),
            AlertStatus::Triaged,
            "none",
            "dsl",
            at,
        )
        .await
        .expect_err("no such alert");
    assert!(matches!(err, StoreError::NotFound { .. }));

    let done = s
        .triage_alert(
            sc,
            id,
            AlertStatus::NoFurtherAction,
            " Spoke to Fay; sorted. ",
            "dsl",
            at,
        )
        .await
        .expect("triage");
    assert_eq!(done.status, AlertStatus::NoFurtherAction);
    assert_eq!(done.triaged_by.as_deref(), Some("dsl"));
    assert_eq!(done.triaged_at, Some(at));
    assert_eq!(done.triage_note.as_deref(), Some("Spoke to Fay; sorted."));

    let err = s
        .triage_alert(
            sc,
            id,
            AlertStatus::FalsePositive,
            "changed my mind",
            "dsl",
            at,
        )
        .await
        .expect_err("decided to decided");
    assert!(err.to_string().contains("reopened"), "{err}");

    let reopened = s
        .triage_alert(
            sc,
            id,
            AlertStatus::New,
            "more searches today",
            "deputy",
            at + 1.hours(),
        )
        .await
        .expect("reopen");
    assert_eq!(reopened.status, AlertStatus::New);
    assert_eq!(
        (
            reopened.triaged_by,
            reopened.triaged_at,
            reopened.triage_note
        ),
        (None, None, None)
    );
    let again = s
        .triage_alert(
            sc,
            id,
            AlertStatus::FalsePositive,
            "it was a book title",
            "deputy",
            at + 2.hours(),
        )
        .await
        .expect("triage again");
    assert_eq!(again.status, AlertStatus::FalsePositive);

    let entries = s.audit_entries(Some(sc), 100).await.expect("audit");
    let triages: Vec<_> = entries
        .iter()
        .filter(|r| r.entry.action == "alert.triage")
        .map(|r| (r.entry.actor.as_str(), r.entry.detail.as_str()))
        .collect();
    assert_eq!(
        triages,
        vec![
            ("deputy", "new -> false_positive: it was a book title"),
            ("deputy", "no_further_action -> new: more searches today"),
            ("dsl", "new -> no_further_action: Spoke to Fay; sorted."),
        ],
        "newest first"
    );
    assert!(
        entries
            .iter()
            .filter(|r| r.entry.action == "alert.triage")
            .all(|r| r.entry.target == format!("alert:{id}"))
    );
}

async fn reads_of_alerts_are_audited_and_stay_in_their_school(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "reads").await;
    let other = school(s, "reads-b").await;
    let id = raise(s, &new_alert(sc, t0(), Some("gus"), "hate"))
        .await
        .alert
        .id;

    let who = reader("triage queue");
    let found = s.alert(sc, id, &who).await.expect("read");
    assert_eq!(found.map(|a| a.id), Some(id));
    assert_eq!(s.alert(other, id, &who).await.expect("read"), None);
    assert_eq!(
        s.alerts(&AlertFilter::school(other, 10), &who)
            .await
            .expect("list"),
        Vec::<Alert>::new()
    );
    let listed = s
        .alerts(&AlertFilter::school(sc, 10), &who)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);

    let audit = s.audit_entries(Some(sc), 10).await.expect("audit");
    let reads: Vec<_> = audit
        .iter()
        .filter(|r| r.entry.action.starts_with("alert."))
        .map(|r| {
            (
                r.entry.action.as_str(),
                r.entry.target.clone(),
                r.entry.detail.clone(),
            )
        })
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert_eq!(reads[0].0, "alert.list");
    assert!(reads[0].2.contains("returned=1"), "{:?}", reads[0]);
    assert_eq!(reads[1].0, "alert.read");
    assert_eq!(reads[1].1, format!("alert:{id}"));
    assert!(reads[1].2.contains("purpose=\"triage queue\""));
    assert!(audit.iter().all(|r| r.entry.actor == "staff:dsl"));
    assert_eq!(
        s.audit_entries(Some(other), 10).await.expect("audit").len(),
        2,
        "the other school's empty reads are audited there"
    );

    let err = s
        .alert(
            sc,
            id,
            &hedgerow_store::Reader {
                purpose: " ".to_owned(),
                ..reader("x")
            },
        )
        .await
        .expect_err("a read needs a purpose");
    assert!(matches!(err, StoreError::InvalidInput { .. }));
}

async fn alert_filters_select_and_order(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "filters").await;
    let mut ids = Vec::new();
    for (i, (category, severity)) in [("drugs", 2), ("hate", 5), ("drugs", 4), ("gambling", 1)]
        .into_iter()
        .enumerate()
    {
        let mut a = new_alert(
            sc,
            t0() + (i as i64).hours(),
            Some(&format!("p{i}")),
            category,
        );
        a.severity = severity;
        ids.push(raise(s, &a).await.alert.id);
    }
    s.triage_alert(
        sc,
        ids[2],
        AlertStatus::Triaged,
        "done",
        "dsl",
        t0() + 5.hours(),
    )
    .await
    .expect("triage");
    let who = reader("filters");
    let list = |filter: AlertFilter| {
        let who = who.clone();
        async move {
            s.alerts(&filter, &who)
                .await
                .expect("alerts")
                .into_iter()
                .map(|a| a.id)
                .collect::<Vec<_>>()
        }
    };
    let all = AlertFilter::school(sc, 100);
    assert_eq!(
        list(all.clone()).await,
        vec![ids[3], ids[2], ids[1], ids[0]]
    );
    assert_eq!(
        list(AlertFilter {
            status: Some(AlertStatus::New),
            ..all.clone()
        })
        .await,
        vec![ids[3], ids[1], ids[0]]
    );
    assert_eq!(
        list(AlertFilter {
            category: Some("drugs".to_owned()),
            ..all.clone()
        })
        .await,
        vec![ids[2], ids[0]]
    );
    assert_eq!(
        list(AlertFilter {
            min_severity: Some(4),
            ..all.clone()
        })
        .await,
        vec![ids[2], ids[1]]
    );
    assert_eq!(
        list(AlertFilter {
            since: Some(t0() + 1.hours()),
            until: Some(t0() + 3.hours()),
            ..all.clone()
        })
        .await,
        vec![ids[2], ids[1]]
    );
    assert_eq!(
        list(AlertFilter { limit: 2, ..all }).await,
        vec![ids[3], ids[2]]
    );
}

async fn a_concern_opens_from_an_alert_with_a_copy_of_the_evidence(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "concern").await;
    let other = school(s, "concern-b").await;
    let mut events: Vec<ActivityEvent> = (0..6_i64)
        .map(|i| {
            let mut e = event(
                sc,
                t0() + (i * 3 - 8).minutes(),
                Some("hal"),
                Verdict::Allow,
            );
            e.search_term = Some(format!("search {i}"));
            e.page_title = Some(format!("Page {i}"));
            e
        })
        .collect();
    events.push(event(sc, t0(), Some("someone-else"), Verdict::Allow));
    s.insert_events(&events).await.expect("insert events");

    let mut raised = new_alert(sc, t0(), Some("hal"), "suicide_self_harm");
    raised.severity = 5;
    raised.matched_text = "how to end it <script>".to_owned();
    let alert = raise(s, &raised).await.alert;

    // The caller reads the evidence with an audited read, as the admin app does.
    let evidence = s
        .read_events(
            &reader(&format!("evidence for alert #{}", alert.id)),
            &EventFilter {
                since: Some(t0() - 5.minutes()),
                until: Some(t0() + 5.minutes()),
                user: Some("hal".to_owned()),
                ..EventFilter::school(sc, 1_000)
            },
        )
        .await
        .expect("evidence");
    assert_eq!(evidence.len(), 4, "hal's events from -5 to +5 minutes");

    let foreign = vec![hedgerow_store::StoredEvent {
        id: 1,
        event: event(other, t0(), Some("hal"), Verdict::Allow),
    }];
    let err = s
        .create_concern_from_alert(sc, alert.id, "dsl", t0(), &foreign)
        .await
        .expect_err("other school's evidence");
    assert!(matches!(
        err,
        StoreError::InvalidInput {
            field: "concern evidence",
            ..
        }
    ));
    let err = s
        .create_concern_from_alert(other, alert.id, "dsl", t0(), &[])
        .await
        .expect_err("alert of another school");
    assert!(matches!(err, StoreError::NotFound { .. }));

    let at = t0() + 12.minutes();
    let concern_id = s
        .create_concern_from_alert(sc, alert.id, "dsl", at, &evidence)
        .await
        .expect("concern");
    let after = s
        .alert(sc, alert.id, &reader("check"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(after.status, AlertStatus::Triaged);
    assert_eq!(after.concern, Some(concern_id));
    assert_eq!(after.triaged_by.as_deref(), Some("dsl"));
    assert_eq!(after.triaged_at, Some(at));
    assert_eq!(
        after.triage_note,
        Some(format!("Concern #{concern_id} opened"))
    );

    // The evidence is a copy: it outlives activity-log retention.
    s.purge_events_before(sc, t0() + 1.hours())
        .await
        .expect("purge");
    let concern = s
        .concern(sc, concern_id, &reader("concern page"))
        .await
        .expect("read concern")
        .expect("found");
    assert_eq!(concern.id, concern_id);
    assert_eq!(concern.school, sc);
    assert_eq!(concern.created_at, at);
    assert_eq!(concern.created_by, "dsl");
    assert_eq!(concern.status, ConcernStatus::New);
    assert_eq!(concern.subject_user.as_deref(), Some("hal"));
    assert_eq!(concern.subject_device.as_deref(), Some("ipad-07"));
    assert_eq!(concern.category, "suicide_self_harm");
    assert_eq!(concern.alert, Some(alert.id));
    assert!(
        concern.summary.contains(&format!("alert #{}", alert.id)),
        "{}",
        concern.summary
    );
    assert!(
        concern.description.contains("how to end it <script>"),
        "{}",
        concern.description
    );
    let mut oldest_first = evidence.clone();
    oldest_first.reverse();
    assert_eq!(
        concern.evidence, oldest_first,
        "every field survives the copy"
    );

    assert_eq!(
        s.concern(other, concern_id, &reader("x"))
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        s.concern(sc, ConcernId(i64::MAX), &reader("x"))
            .await
            .expect("read"),
        None
    );

    let err = s
        .create_concern_from_alert(sc, alert.id, "dsl", at, &evidence)
        .await
        .expect_err("only from a new alert");
    assert!(matches!(err, StoreError::AlertTransition { .. }), "{err}");

    let audit = actions(s, sc).await;
    let concern_target = format!("concern:{concern_id}");
    let alert_target = format!("alert:{}", alert.id);
    assert!(audit.contains(&(
        "dsl".into(),
        "concern.create".into(),
        concern_target.clone()
    )));
    assert!(audit.contains(&("dsl".into(), "alert.triage".into(), alert_target)));
    assert!(audit.contains(&("staff:dsl".into(), "concern.read".into(), concern_target)));
    assert!(audit.iter().any(|(_, action, _)| action == "activity.read"));
}

async fn digests_take_only_alerts_not_yet_sent(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "digest").await;
    let other = school(s, "digest-b").await;
    let mut ids = Vec::new();
    for i in 0..4_i64 {
        let a = new_alert(sc, t0() + i.hours(), Some(&format!("d{i}")), "gambling");
        ids.push(raise(s, &a).await.alert.id);
    }
    raise(s, &new_alert(other, t0(), Some("x"), "gambling")).await;
    s.mark_alert_notified(ids[1], t0() + 2.hours())
        .await
        .expect("notified");
    let err = s
        .mark_alert_notified(AlertId(i64::MAX), t0())
        .await
        .expect_err("no such alert");
    assert!(matches!(err, StoreError::NotFound { .. }));

    let due = s
        .alerts_for_digest(sc, t0(), t0() + 3.hours())
        .await
        .expect("digest");
    assert_eq!(
        due.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![ids[0], ids[2]]
    );
    s.mark_alerts_digested(&[ids[0], ids[2]], t0() + 3.hours())
        .await
        .expect("digested");
    s.mark_alerts_digested(&[], t0())
        .await
        .expect("nothing to mark");
    assert_eq!(
        s.alerts_for_digest(sc, t0(), t0() + 3.hours())
            .await
            .expect("digest"),
        Vec::<Alert>::new()
    );
    let later = s
        .alerts_for_digest(sc, t0(), t0() + 24.hours())
        .await
        .expect("digest");
    assert_eq!(later.iter().map(|a| a.id).collect::<Vec<_>>(), vec![ids[3]]);
    let marked = s
        .alert(sc, ids[0], &reader("x"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(marked.digested_at, Some(t0() + 3.hours()));
    let notified = s
        .alert(sc, ids[1], &reader("x"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(notified.notified_at, Some(t0() + 2.hours()));
}

async fn summary_counts_alerts_responses_and_circumvention(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "summary").await;
    let other = school(s, "summary-b").await;
    let empty = s
        .alert_summary(sc, t0(), t0() + 168.hours())
        .await
        .expect("summary");
    assert_eq!(empty.total, 0);
    assert_eq!(empty.false_positive_rate(), None);
    assert_eq!(empty.median_response_seconds(), None);

    let plan: [(&str, u8, Option<&str>); 5] = [
        ("drugs", 2, Some("ks3")),
        ("drugs", 4, Some("ks3")),
        ("suicide_self_harm", 5, Some("ks4")),
        ("hate", 1, None),
        ("drugs", 3, Some("ks4")),
    ];
    let mut ids = Vec::new();
    for (i, (category, severity, group)) in plan.into_iter().enumerate() {
        let mut a = new_alert(
            sc,
            t0() + (i as i64).hours(),
            Some(&format!("s{i}")),
            category,
        );
        a.severity = severity;
        a.group = group.map(str::to_owned);
        ids.push(raise(s, &a).await.alert.id);
    }
    // A repeat folds: one more occurrence, not one more alert.
    let mut repeat = new_alert(sc, t0() + 10.minutes(), Some("s0"), "drugs");
    repeat.severity = 1;
    assert!(raise(s, &repeat).await.folded);
    // Outside the period, and another school: not counted.
    raise(s, &new_alert(sc, t0() + 192.hours(), Some("late"), "drugs")).await;
    raise(s, &new_alert(other, t0(), Some("x"), "drugs")).await;

    s.triage_alert(
        sc,
        ids[0],
        AlertStatus::FalsePositive,
        "fp",
        "dsl",
        t0() + 10.minutes(),
    )
    .await
    .expect("triage");
    s.triage_alert(
        sc,
        ids[1],
        AlertStatus::NoFurtherAction,
        "nfa",
        "dsl",
        t0() + 1.hours() + 30.minutes(),
    )
    .await
    .expect("triage");
    s.create_concern_from_alert(sc, ids[2], "dsl", t0() + 2.hours() + 5.minutes(), &[])
        .await
        .expect("concern");

    let mut circumvention = Vec::new();
    for (i, (user, rule, verdict)) in [
        (Some("s0"), "proxy:sni-mismatch", Verdict::Block),
        (Some("s0"), "proxy:sni-mismatch", Verdict::Block),
        (Some("s1"), "proxy:sni-mismatch", Verdict::Block),
        (None, "dns:doh-canary", Verdict::Block),
        (Some("teacher"), "dns:doh-canary", Verdict::Allow),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = event(sc, t0() + (i as i64).minutes(), user, verdict);
        e.category = Some("circumvention".to_owned());
        e.rule = rule.to_owned();
        circumvention.push(e);
    }
    let mut not_circumvention = event(sc, t0(), Some("s0"), Verdict::Block);
    not_circumvention.category = Some("games".to_owned());
    circumvention.push(not_circumvention);
    s.insert_events(&circumvention).await.expect("events");

    let audit_before = s.audit_entries(Some(sc), 1_000).await.expect("audit").len();
    let sum = s
        .alert_summary(sc, t0(), t0() + 168.hours())
        .await
        .expect("summary");
    assert_eq!(
        s.audit_entries(Some(sc), 1_000).await.expect("audit").len(),
        audit_before,
        "a summary names no one and is not audited"
    );
    assert_eq!(sum.total, 5);
    assert_eq!(sum.occurrences, 6);
    let cats: Vec<_> = sum
        .by_category
        .iter()
        .map(|c| (c.category.as_str(), c.count, c.high_severity))
        .collect();
    assert_eq!(
        cats,
        vec![("drugs", 3, 1), ("hate", 1, 0), ("suicide_self_harm", 1, 1)]
    );
    assert_eq!(sum.by_severity, [1, 1, 1, 1, 1]);
    let groups: Vec<_> = sum
        .by_group
        .iter()
        .map(|g| (g.key.as_deref(), g.count))
        .collect();
    assert_eq!(groups, vec![(Some("ks3"), 2), (Some("ks4"), 2), (None, 1)]);
    assert_eq!(sum.by_status.new, 2);
    assert_eq!(sum.by_status.triaged, 1);
    assert_eq!(sum.by_status.false_positive, 1);
    assert_eq!(sum.by_status.no_further_action, 1);
    assert_eq!(sum.triaged_to_concern, 1);
    assert_eq!(sum.response_seconds, vec![300, 600, 1_800]);
    assert_eq!(sum.high_severity_response_seconds, vec![300, 1_800]);
    assert_eq!(sum.median_response_seconds(), Some(600));
    assert_eq!(sum.p90_response_seconds(), Some(1_800));
    let rate = sum.false_positive_rate().expect("rate");
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");
    let circ: Vec<_> = sum
        .circumvention
        .iter()
        .map(|c| (c.rule.as_str(), c.verdict, c.attempts, c.people))
        .collect();
    assert_eq!(
        circ,
        vec![
            ("proxy:sni-mismatch", Verdict::Block, 3, 2),
            ("dns:doh-canary", Verdict::Allow, 1, 1),
            ("dns:doh-canary", Verdict::Block, 1, 1),
        ]
    );
}

fn writer_config(max_batch: usize) -> WriterConfig {
    WriterConfig {
        capacity: 10_000,
        max_batch,
        flush_interval: Duration::from_millis(5),
        ..WriterConfig::default()
    }
}

async fn observer_gets_every_written_event_in_order(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "observed").await;
    let (tx, mut rx) = mpsc::channel(1_000);
    let (sink, handle) = EventWriter::spawn_observed(s.clone(), writer_config(7), tx);
    let sent: Vec<ActivityEvent> = (0..50_i64)
        .map(|i| event(sc, t0() + i.seconds(), Some("obs"), Verdict::Allow))
        .collect();
    for e in &sent {
        sink.record(e.clone()).expect("queue has room");
    }
    let stats = handle.shutdown().await.expect("shutdown");
    assert_eq!(stats.written, 50);
    assert_eq!(stats.observer_dropped, 0);
    let mut seen = Vec::new();
    let mut batches = 0;
    while let Ok(batch) = rx.try_recv() {
        assert!(!batch.is_empty() && batch.len() <= 7, "{}", batch.len());
        batches += 1;
        seen.extend(batch);
    }
    assert_eq!(seen, sent, "every written event, in order, once");
    assert_eq!(batches, stats.batches);
}

async fn a_full_observer_costs_monitoring_not_writing(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "full").await;
    // Room for one batch, and nobody reading: the second batch onwards cannot be handed over.
    let (tx, mut rx) = mpsc::channel(1);
    let (sink, handle) = EventWriter::spawn_observed(s.clone(), writer_config(10), tx);
    for i in 0..45_i64 {
        sink.record(event(sc, t0() + i.seconds(), None, Verdict::Block))
            .expect("queue has room");
    }
    let stats = tokio::time::timeout(Duration::from_secs(30), handle.shutdown())
        .await
        .expect("a full observer never holds the writer up")
        .expect("shutdown");
    assert_eq!(stats.written, 45, "everything is still saved");
    assert_eq!(s.count_events(sc).await.expect("count"), 45);
    let first = rx.try_recv().expect("the first batch was handed over");
    assert_eq!(stats.observer_dropped, 45 - first.len() as u64);
    assert!(stats.observer_dropped > 0);
    assert!(rx.try_recv().is_err(), "nothing else fitted");

    // An observer that has gone away is counted too, and does not stop the writer.
    let (tx, rx) = mpsc::channel(10);
    drop(rx);
    let (sink, handle) = EventWriter::spawn_observed(s.clone(), writer_config(10), tx);
    for i in 0..5_i64 {
        sink.record(event(sc, t0() + i.hours(), None, Verdict::Allow))
            .expect("queue has room");
    }
    let stats = handle.shutdown().await.expect("shutdown");
    assert_eq!((stats.written, stats.observer_dropped), (5, 5));
}

async fn observer_gets_one_by_one_writes_minus_refused_events(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "onebyone").await;
    let (tx, mut rx) = mpsc::channel(1_000);
    let (sink, handle) = EventWriter::spawn_observed(s.clone(), writer_config(100), tx);
    let mut expected = Vec::new();
    for i in 0..12_i64 {
        // Every fourth event names a school that does not exist: the batch fails and the
        // writer falls back to one event at a time.
        let school = if i % 4 == 0 { SchoolId(i64::MAX) } else { sc };
        let e = event(school, t0() + i.seconds(), Some("obo"), Verdict::Allow);
        if school == sc {
            expected.push(e.clone());
        }
        sink.record(e).expect("queue has room");
    }
    let stats = handle.shutdown().await.expect("shutdown");
    assert_eq!((stats.written, stats.dropped_invalid), (9, 3));
    let mut seen = Vec::new();
    while let Ok(batch) = rx.try_recv() {
        seen.extend(batch);
    }
    assert_eq!(seen, expected);
    assert_eq!(stats.observer_dropped, 0);
}

async fn retention_purges_only_old_decided_alerts_without_a_concern(db: &TestDb) {
    let s = &db.store;
    let sc = school(s, "retain").await;
    let other = school(s, "retain-other").await;
    let old = t0();
    let recent = t0() + SignedDuration::from_hours(24 * 400);
    // Old and decided: false positive, and no further action.
    let fp = raise(s, &new_alert(sc, old, Some("amy"), "drugs"))
        .await
        .alert
        .id;
    s.triage_alert(
        sc,
        fp,
        AlertStatus::FalsePositive,
        "a film title",
        "dsl",
        old,
    )
    .await
    .expect("triage");
    let nfa = raise(s, &new_alert(sc, old, Some("ben"), "gambling"))
        .await
        .alert
        .id;
    s.triage_alert(
        sc,
        nfa,
        AlertStatus::NoFurtherAction,
        "spoken to",
        "dsl",
        old,
    )
    .await
    .expect("triage");
    // Old but still new, and old but turned into a concern: kept.
    let waiting = raise(s, &new_alert(sc, old, Some("cal"), "hate"))
        .await
        .alert
        .id;
    let concerned = raise(s, &new_alert(sc, old, Some("dee"), "bullying"))
        .await
        .alert
        .id;
    s.create_concern_from_alert(sc, concerned, "dsl", old, &[])
        .await
        .expect("concern");
    // Decided but recent: kept. Another school's old decided alert: kept.
    let fresh = raise(s, &new_alert(sc, recent, Some("eve"), "drugs"))
        .await
        .alert
        .id;
    s.triage_alert(
        sc,
        fresh,
        AlertStatus::FalsePositive,
        "a song",
        "dsl",
        recent,
    )
    .await
    .expect("triage");
    let elsewhere = raise(s, &new_alert(other, old, Some("fay"), "drugs"))
        .await
        .alert
        .id;
    s.triage_alert(
        other,
        elsewhere,
        AlertStatus::FalsePositive,
        "a song",
        "dsl",
        old,
    )
    .await
    .expect("triage");

    let deleted = s
        .purge_decided_alerts_before(sc, t0() + SignedDuration::from_hours(24 * 365))
        .await
        .expect("purge");
    assert_eq!(deleted, 2);
    let who = reader("retention check");
    for (id, school, kept) in [
        (fp, sc, false),
        (nfa, sc, false),
        (waiting, sc, true),
        (concerned, sc, true),
        (fresh, sc, true),
        (elsewhere, other, true),
    ] {
        let found = s.alert(school, id, &who).await.expect("read").is_some();
        assert_eq!(found, kept, "alert {id}");
    }
    assert!(
        actions(s, sc)
            .await
            .iter()
            .any(|(actor, action, _)| actor == "system:retention" && action == "alert.purge")
    );
}
