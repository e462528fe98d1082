//! Safeguarding records, run against every backend with the harness in `common/mod.rs`
//! (SQLite always; PostgreSQL from `HEDGEROW_TEST_POSTGRES_URL`). All names are invented.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{TestDb, backend_tests, event, head, reader, school, t0};
use hedgerow_store::{
    AlertTrigger, CheckMethod, CheckResult, ConcernId, ConcernStatus, NewAlert, NewCheck,
    NewRecord, NewSanction, NewTransfer, PersonInvolved, RecordFilter, RecordRetention, SchoolId,
    Store, StoreError, Verdict, sha256_hex,
};
use jiff::civil::date;
use jiff::{SignedDuration, Timestamp, ToSpan};

backend_tests!(
    a_record_round_trips_with_people_types_and_alerts,
    reads_and_lists_are_audited,
    lists_filter_by_recorder_type_status_and_person,
    record_input_is_checked,
    actions_procedures_and_hand_over_are_recorded,
    closing_needs_an_outcome_and_a_reason_without_a_referral,
    sanctions_are_active_until_they_end_or_are_lifted,
    chronology_lists_a_pupils_events_in_order,
    review_dates_follow_the_retention_rules,
    legal_hold_blocks_destruction_and_a_certificate_outlives_the_record,
    subject_access_gathers_a_persons_data_and_is_audited,
    transfers_are_logged_and_receipt_confirmed_once,
    termly_figures_count_without_names,
    activity_is_kept_as_evidence_once_and_audited,
);

fn pupil(name: &str, username: &str) -> PersonInvolved {
    PersonInvolved {
        person_role: "pupil".to_owned(),
        involvement: "affected".to_owned(),
        display_name: name.to_owned(),
        username: Some(username.to_owned()),
        date_of_birth: Some(date(2013, 4, 9)),
    }
}

fn new_record(summary: &str) -> NewRecord {
    NewRecord {
        record_type: "online-safety".to_owned(),
        reporter: "Ms Teacher".to_owned(),
        reported_at: t0(),
        incident_at: Some(t0() - 2.hours()),
        location: "in-school".to_owned(),
        people: vec![
            pupil("Amy Example", "amy.example"),
            PersonInvolved {
                person_role: "pupil".to_owned(),
                involvement: "responsible".to_owned(),
                display_name: "Ben Sample".to_owned(),
                username: Some("ben.sample".to_owned()),
                date_of_birth: None,
            },
        ],
        types: vec![
            "cyberbullying".to_owned(),
            "threatening-messages".to_owned(),
        ],
        summary: summary.to_owned(),
        disclosure: "He keeps sending me messages saying\nI'll be sorry.".to_owned(),
        observations: "Amy was upset in form time; showed me her phone.".to_owned(),
        websites: "chat.example.test".to_owned(),
        apps_games: "ExampleChat".to_owned(),
        online_names: "shadow_fox_12".to_owned(),
        evidence_description: "Six messages on her phone, seen not copied.".to_owned(),
        alert_ids: Vec::new(),
    }
}

fn teacher() -> hedgerow_store::ActingUser {
    hedgerow_store::ActingUser {
        name: "teacher".to_owned(),
        from_addr: Some("10.9.8.6".to_owned()),
    }
}

async fn actions(store: &Store, school: SchoolId) -> Vec<(String, String, String)> {
    store
        .audit_entries(Some(school), 500)
        .await
        .expect("audit")
        .into_iter()
        .map(|r| (r.entry.actor, r.entry.action, r.entry.target))
        .collect()
}

async fn raise(store: &Store, school: SchoolId, user: &str) -> hedgerow_store::AlertId {
    let alert = NewAlert {
        school,
        at: t0(),
        user: Some(user.to_owned()),
        device: None,
        client_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
        group: None,
        category: "bullying".to_owned(),
        severity: 3,
        trigger: AlertTrigger::SearchTerm,
        matched_text: "make them sorry".to_owned(),
        matched_entry: "make them sorry".to_owned(),
        host: "search.example.test".to_owned(),
        url: None,
    };
    store
        .raise_alert(&alert, SignedDuration::from_mins(30))
        .await
        .expect("raise")
        .alert
        .id
}

fn invalid(e: StoreError) -> (&'static str, String) {
    match e {
        StoreError::InvalidInput { field, problem } => (field, problem),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

async fn a_record_round_trips_with_people_types_and_alerts(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    let alert = raise(store, s, "amy.example").await;
    let mut input = new_record("Threatening messages to Amy");
    input.alert_ids = vec![alert];
    let id = store
        .create_record(s, &input, &teacher())
        .await
        .expect("create");
    let r = store
        .record(s, id, &reader("record"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(r.concern.id, id);
    assert_eq!(r.concern.status, ConcernStatus::New);
    assert_eq!(r.concern.created_by, "teacher");
    assert_eq!(r.concern.category, "cyberbullying");
    assert_eq!(r.concern.subject_user.as_deref(), Some("amy.example"));
    assert_eq!(r.concern.summary, input.summary);
    assert_eq!(r.record_type, "online-safety");
    assert_eq!(r.reporter, "Ms Teacher");
    assert_eq!(r.reported_at, t0());
    assert_eq!(r.incident_at, input.incident_at);
    assert_eq!(r.location, "in-school");
    assert_eq!(r.people, input.people);
    assert_eq!(r.types, input.types);
    assert_eq!(r.disclosure, input.disclosure);
    assert_eq!(r.observations, input.observations);
    assert_eq!(r.websites, input.websites);
    assert_eq!(r.apps_games, input.apps_games);
    assert_eq!(r.online_names, input.online_names);
    assert_eq!(r.evidence_description, input.evidence_description);
    assert_eq!(r.alert_ids, vec![alert]);
    assert!(!r.legal_hold);
    assert_eq!(r.first_pupil_date_of_birth(), Some(date(2013, 4, 9)));
    let json = r.to_json();
    assert_eq!(json["people"][1]["display_name"], "Ben Sample");
    assert_eq!(json["types"][0], "cyberbullying");

    // The linked alert learns its record.
    let a = store
        .alert(s, alert, &reader("alert"))
        .await
        .expect("alert")
        .expect("found");
    assert_eq!(a.concern, Some(id));

    // Meta for the access check, and nothing from another school.
    assert_eq!(
        store.record_meta(s, id).await.expect("meta"),
        Some(("online-safety".to_owned(), "teacher".to_owned()))
    );
    let other = school(store, "elm").await;
    assert_eq!(store.record_meta(other, id).await.expect("meta"), None);
    assert!(
        store
            .record(other, id, &reader("x"))
            .await
            .expect("read")
            .is_none()
    );
    // An alert of another school cannot be linked.
    let foreign = raise(store, other, "zed").await;
    let mut bad = new_record("x");
    bad.alert_ids = vec![foreign];
    assert!(matches!(
        store.create_record(s, &bad, &teacher()).await,
        Err(StoreError::NotFound { what: "alert", .. })
    ));

    // Updating replaces details, people and types.
    let mut changed = new_record("Messages, now also images");
    changed.record_type = "child-protection".to_owned();
    changed.people.truncate(1);
    changed.types = vec!["images-without-permission".to_owned()];
    changed.incident_at = None;
    store
        .update_record_details(s, id, &changed, &head())
        .await
        .expect("update");
    let r = store
        .record(s, id, &reader("again"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(r.record_type, "child-protection");
    assert_eq!(r.people.len(), 1);
    assert_eq!(r.types, vec!["images-without-permission".to_owned()]);
    assert_eq!(r.incident_at, None);
    assert_eq!(r.concern.summary, "Messages, now also images");
    assert_eq!(r.alert_ids, vec![alert], "links are kept");
}

async fn reads_and_lists_are_audited(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    let id = store
        .create_record(s, &new_record("A"), &teacher())
        .await
        .expect("create");
    store
        .record(s, id, &reader("checking"))
        .await
        .expect("read");
    store
        .records(
            s,
            &RecordFilter {
                limit: 10,
                ..RecordFilter::default()
            },
            &reader("list"),
        )
        .await
        .expect("list");
    store
        .chronology(s, "amy.example", &reader("chronology"))
        .await
        .expect("chronology");
    store.record_meta(s, id).await.expect("meta");
    let target = format!("concern:{id}");
    let log = actions(store, s).await;
    let has = |actor: &str, action: &str, target: &str| {
        log.iter()
            .any(|(a, b, c)| a == actor && b == action && c == target)
    };
    assert!(has("teacher", "concern.create", &target), "{log:?}");
    assert!(has("staff:dsl", "concern.read", &target), "{log:?}");
    assert!(
        has("staff:dsl", "concern.list", &format!("school:{s}")),
        "{log:?}"
    );
    assert!(
        has("staff:dsl", "records.chronology", "user:amy.example"),
        "{log:?}"
    );
    // The meta read is the one unaudited read.
    assert_eq!(log.len(), 4, "{log:?}");
}

async fn lists_filter_by_recorder_type_status_and_person(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    let first = store
        .create_record(s, &new_record("first"), &teacher())
        .await
        .expect("create");
    let mut staff = new_record("allegation");
    staff.record_type = "staff-allegation".to_owned();
    staff.people = vec![PersonInvolved {
        person_role: "staff".to_owned(),
        involvement: "responsible".to_owned(),
        display_name: "Mr Adult".to_owned(),
        username: None,
        date_of_birth: None,
    }];
    let second = store
        .create_record(s, &staff, &head())
        .await
        .expect("create");
    let list = |filter: RecordFilter| {
        let store = store.clone();
        async move {
            store
                .records(s, &filter, &reader("list"))
                .await
                .expect("list")
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<ConcernId>>()
        }
    };
    let all = RecordFilter {
        limit: 100,
        ..RecordFilter::default()
    };
    assert_eq!(list(all.clone()).await, vec![second, first]);
    assert_eq!(
        list(RecordFilter {
            created_by: Some("teacher".to_owned()),
            ..all.clone()
        })
        .await,
        vec![first]
    );
    assert_eq!(
        list(RecordFilter {
            record_types: Some(vec![
                "online-safety".to_owned(),
                "child-protection".to_owned()
            ]),
            ..all.clone()
        })
        .await,
        vec![first]
    );
    assert_eq!(
        list(RecordFilter {
            record_types: Some(Vec::new()),
            ..all.clone()
        })
        .await,
        Vec::<ConcernId>::new()
    );
    assert_eq!(
        list(RecordFilter {
            username: Some("BEN.sample".to_owned()),
            ..all.clone()
        })
        .await,
        vec![first]
    );
    assert_eq!(
        list(RecordFilter {
            status: Some(ConcernStatus::Open),
            ..all.clone()
        })
        .await,
        Vec::<ConcernId>::new()
    );
    assert_eq!(
        list(RecordFilter {
            limit: 1,
            ..all.clone()
        })
        .await,
        vec![second]
    );
    let summaries = store.records(s, &all, &reader("list")).await.expect("list");
    let first_summary = summaries
        .iter()
        .find(|r| r.id == first)
        .expect("first listed");
    assert_eq!(first_summary.people, vec!["Amy Example", "Ben Sample"]);
    assert_eq!(
        first_summary.types,
        vec!["cyberbullying", "threatening-messages"]
    );
    assert_eq!(first_summary.reported_at, t0());
}

async fn record_input_is_checked(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    type Change = fn(&mut NewRecord);
    let cases: Vec<(Change, &str)> = vec![
        (|r| r.record_type = "secret".to_owned(), "record type"),
        (|r| r.location = "moon".to_owned(), "location"),
        (|r| r.types.clear(), "incident types"),
        (
            |r| r.types.push("cyberbullying".to_owned()),
            "incident types",
        ),
        (|r| r.summary = "  ".to_owned(), "summary"),
        (|r| r.reporter = String::new(), "reporter"),
        (
            |r| r.people[0].person_role = "cat".to_owned(),
            "person's role",
        ),
        (
            |r| r.people[0].involvement = "x".to_owned(),
            "person's involvement",
        ),
        (|r| r.disclosure = "bell\u{7}".to_owned(), "disclosure"),
        (|r| r.observations = "x".repeat(20_001), "observations"),
    ];
    for (change, field) in cases {
        let mut r = new_record("x");
        change(&mut r);
        let e = store
            .create_record(s, &r, &teacher())
            .await
            .expect_err(field);
        assert_eq!(invalid(e).0, field);
    }
    assert!(matches!(
        store
            .update_record_details(s, ConcernId(999), &new_record("x"), &head())
            .await,
        Err(StoreError::NotFound { .. })
    ));
    // Nothing was written by the refusals.
    let none = store
        .records(
            s,
            &RecordFilter {
                limit: 10,
                ..RecordFilter::default()
            },
            &reader("list"),
        )
        .await
        .expect("list");
    assert!(none.is_empty());
}

async fn actions_procedures_and_hand_over_are_recorded(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    let id = store
        .create_record(s, &new_record("grooming worry"), &teacher())
        .await
        .expect("create");
    store
        .hand_to_dsl(s, id, "Mrs Lead (DSL)", t0() + 10.minutes(), &teacher())
        .await
        .expect("hand");
    store
        .add_action(
            s,
            id,
            "dsl-informed",
            "told in person",
            t0() + 11.minutes(),
            &teacher(),
        )
        .await
        .expect("action");
    store
        .add_action(s, id, "parents-informed", "", t0() + 5.minutes(), &head())
        .await
        .expect("action");
    let e = store
        .tick_step(s, id, "grooming", "secure-device", "", &head())
        .await
        .expect_err("not started");
    assert_eq!(invalid(e).0, "procedure");
    store
        .start_procedure(s, id, "grooming", &head())
        .await
        .expect("start");
    store
        .start_procedure(s, id, "grooming", &head())
        .await
        .expect("start again changes nothing");
    store
        .tick_step(
            s,
            id,
            "grooming",
            "secure-device",
            "phone in the safe",
            &head(),
        )
        .await
        .expect("tick");
    store
        .tick_step(s, id, "grooming", "secure-device", "again", &head())
        .await
        .expect("tick again changes nothing");
    store
        .tick_step(s, id, "grooming", "inform-dsl", "", &head())
        .await
        .expect("tick");
    let r = store
        .record(s, id, &reader("r"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(
        r.concern.status,
        ConcernStatus::Open,
        "handing over opens it"
    );
    assert_eq!(r.handed_to.as_deref(), Some("Mrs Lead (DSL)"));
    assert_eq!(r.handed_at, Some(t0() + 10.minutes()));
    let kinds: Vec<&str> = r.actions.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, vec!["parents-informed", "dsl-informed"], "by time");
    assert_eq!(r.actions[1].note, "told in person");
    assert_eq!(r.actions[1].by, "teacher");
    assert_eq!(r.procedures.len(), 1);
    let p = &r.procedures[0];
    assert_eq!(p.procedure, "grooming");
    assert_eq!(p.started_by, "head");
    let steps: Vec<&str> = p.done.iter().map(|d| d.step.as_str()).collect();
    assert_eq!(steps.len(), 2);
    assert!(steps.contains(&"secure-device") && steps.contains(&"inform-dsl"));
    let secure = p
        .done
        .iter()
        .find(|d| d.step == "secure-device")
        .expect("step");
    assert_eq!(secure.note, "phone in the safe");
    let log = actions(store, s).await;
    let count = |action: &str| log.iter().filter(|(_, a, _)| a == action).count();
    assert_eq!(count("concern.procedure"), 1);
    assert_eq!(count("concern.step"), 2);
    assert_eq!(count("concern.action"), 2);
    assert_eq!(count("concern.hand"), 1);
    assert!(matches!(
        store
            .add_action(s, ConcernId(4242), "note", "", t0(), &head())
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn closing_needs_an_outcome_and_a_reason_without_a_referral(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    let id = store
        .create_record(s, &new_record("c"), &teacher())
        .await
        .expect("create");
    let (field, _) = invalid(
        store
            .close_record(s, id, "  ", Some("n/a"), &head())
            .await
            .expect_err("empty outcome"),
    );
    assert_eq!(field, "outcome");
    let (field, problem) = invalid(
        store
            .close_record(s, id, "Resolved with both pupils", None, &head())
            .await
            .expect_err("no referral, no reason"),
    );
    assert_eq!(field, "reason no referral was made");
    assert!(
        problem.contains("say why no referral was made"),
        "{problem}"
    );
    store
        .close_record(
            s,
            id,
            "Resolved with both pupils",
            Some("Threshold not met"),
            &head(),
        )
        .await
        .expect("close with a reason");
    let r = store
        .record(s, id, &reader("r"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(r.concern.status, ConcernStatus::Closed);
    assert_eq!(r.outcome.as_deref(), Some("Resolved with both pupils"));
    assert_eq!(r.no_referral_reason.as_deref(), Some("Threshold not met"));
    assert_eq!(r.closed_by.as_deref(), Some("head"));
    assert!(r.closed_at.is_some());
    // Closed records refuse changes until reopened.
    assert_eq!(
        invalid(
            store
                .start_procedure(s, id, "cyberbullying", &head())
                .await
                .expect_err("closed")
        )
        .0,
        "record status"
    );
    assert!(
        store
            .close_record(s, id, "again", Some("x"), &head())
            .await
            .is_err()
    );
    store.reopen_record(s, id, &head()).await.expect("reopen");
    assert!(store.reopen_record(s, id, &head()).await.is_err());
    let r = store
        .record(s, id, &reader("r"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(r.concern.status, ConcernStatus::Open);
    assert_eq!(r.closed_at, None);

    // With a referral on the record, no reason is needed.
    store
        .add_action(s, id, "ceop-report", "reported online", t0(), &head())
        .await
        .expect("action");
    store
        .close_record(s, id, "Referred to CEOP", None, &head())
        .await
        .expect("close after a referral");
    let r = store
        .record(s, id, &reader("r"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(r.no_referral_reason, None);
    let log = actions(store, s).await;
    assert_eq!(
        log.iter().filter(|(_, a, _)| a == "concern.close").count(),
        2
    );
}

async fn sanctions_are_active_until_they_end_or_are_lifted(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    let id = store
        .create_record(s, &new_record("s"), &teacher())
        .await
        .expect("create");
    let suspend = NewSanction {
        username: "ben.sample".to_owned(),
        kind: "suspended".to_owned(),
        filter_as: None,
        starts_at: t0(),
        until: t0() + 48.hours(),
        change_id: Some(7),
    };
    let bad = NewSanction {
        filter_as: Some("ks2".to_owned()),
        ..suspend.clone()
    };
    assert_eq!(
        invalid(
            store
                .record_sanction(s, id, &bad, &head())
                .await
                .expect_err("suspension with a group")
        )
        .0,
        "sanction group"
    );
    let backwards = NewSanction {
        until: t0(),
        ..suspend.clone()
    };
    assert_eq!(
        invalid(
            store
                .record_sanction(s, id, &backwards, &head())
                .await
                .expect_err("ends before it starts")
        )
        .0,
        "sanction end"
    );
    let first = store
        .record_sanction(s, id, &suspend, &head())
        .await
        .expect("sanction");
    let restrict = NewSanction {
        kind: "restricted".to_owned(),
        filter_as: Some("ks2".to_owned()),
        starts_at: t0() + 48.hours(),
        until: t0() + 96.hours(),
        change_id: Some(8),
        ..suspend.clone()
    };
    let second = store
        .record_sanction(s, id, &restrict, &head())
        .await
        .expect("sanction");
    let active = |at: Timestamp| {
        let store = store.clone();
        async move {
            store
                .active_record_sanctions(s, "Ben.Sample", at)
                .await
                .expect("active")
                .into_iter()
                .map(|x| x.id)
                .collect::<Vec<i64>>()
        }
    };
    assert_eq!(active(t0() - 1.second()).await, Vec::<i64>::new());
    assert_eq!(active(t0()).await, vec![first]);
    assert_eq!(
        active(t0() + 48.hours()).await,
        vec![second],
        "end is exclusive"
    );
    assert_eq!(active(t0() + 96.hours()).await, Vec::<i64>::new());
    let other = school(store, "elm").await;
    assert!(
        store
            .active_record_sanctions(other, "ben.sample", t0())
            .await
            .expect("active")
            .is_empty()
    );
    store
        .lift_sanction(s, id, first, t0() + 1.hour(), &head())
        .await
        .expect("lift");
    assert_eq!(active(t0() + 2.hours()).await, Vec::<i64>::new());
    assert!(
        store
            .lift_sanction(s, id, first, t0() + 1.hour(), &head())
            .await
            .is_err(),
        "already lifted"
    );
    assert!(matches!(
        store.lift_sanction(s, id, 9999, t0(), &head()).await,
        Err(StoreError::NotFound { .. })
    ));
    let r = store
        .record(s, id, &reader("r"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(r.sanctions.len(), 2);
    assert_eq!(r.sanctions[0].lifted_by.as_deref(), Some("head"));
    assert_eq!(r.sanctions[0].lifted_at, Some(t0() + 1.hour()));
    assert_eq!(r.sanctions[0].change_id, Some(7));
    assert_eq!(r.sanctions[1].filter_as.as_deref(), Some("ks2"));
}

async fn chronology_lists_a_pupils_events_in_order(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    let mut older = new_record("older worry");
    older.reported_at = t0() - (30 * 24).hours();
    older.incident_at = None;
    older.people.truncate(1);
    let first = store
        .create_record(s, &older, &teacher())
        .await
        .expect("create");
    let second = store
        .create_record(s, &new_record("newer worry"), &teacher())
        .await
        .expect("create");
    let mut unrelated = new_record("someone else");
    unrelated.people = vec![pupil("Cat Other", "cat.other")];
    store
        .create_record(s, &unrelated, &teacher())
        .await
        .expect("create");
    store
        .add_action(
            s,
            first,
            "support-offered",
            "",
            t0() - (29 * 24).hours(),
            &head(),
        )
        .await
        .expect("action");
    store
        .add_action(s, second, "police-101", "", t0() + 1.hour(), &head())
        .await
        .expect("action");
    let entries = store
        .chronology(s, "amy.example", &reader("chronology"))
        .await
        .expect("chronology");
    let seen: Vec<(ConcernId, &str)> = entries
        .iter()
        .map(|e| (e.concern, e.what.split(' ').next().unwrap_or("")))
        .collect();
    assert_eq!(
        seen,
        vec![
            (first, "Reported"),
            (first, "Action"),
            (second, "Incident:"),
            (second, "Reported"),
            (second, "Action"),
        ]
    );
    assert!(entries.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(entries[4].what.contains("police-101"));
    // Ben is only on the second record.
    let ben = store
        .chronology(s, "ben.sample", &reader("chronology"))
        .await
        .expect("chronology");
    assert!(ben.iter().all(|e| e.concern == second));
    assert!(!ben.is_empty());
}

async fn review_dates_follow_the_retention_rules(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    // t0 is 29 December 2025 in London.
    let mut cp = new_record("child protection, DOB known");
    cp.record_type = "child-protection".to_owned();
    let cp = store
        .create_record(s, &cp, &teacher())
        .await
        .expect("create");
    let mut cp_no_dob = new_record("child protection, no DOB");
    cp_no_dob.record_type = "child-protection".to_owned();
    cp_no_dob.people = vec![PersonInvolved {
        date_of_birth: None,
        ..pupil("Dan Nodob", "dan.nodob")
    }];
    let cp_no_dob = store
        .create_record(s, &cp_no_dob, &teacher())
        .await
        .expect("create");
    let online = store
        .create_record(s, &new_record("online"), &teacher())
        .await
        .expect("create");
    let mut staff = new_record("allegation");
    staff.record_type = "staff-allegation".to_owned();
    let staff = store
        .create_record(s, &staff, &head())
        .await
        .expect("create");
    let rules = RecordRetention::default();
    let due = |today| {
        let store = store.clone();
        async move {
            store
                .records_for_review(s, &rules, today)
                .await
                .expect("review")
                .into_iter()
                .map(|r| (r.id, r.review_due))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(due(date(2031, 12, 28)).await, vec![]);
    assert_eq!(
        due(date(2031, 12, 29)).await,
        vec![(online, date(2031, 12, 29))]
    );
    assert_eq!(
        due(date(2038, 4, 9)).await,
        vec![
            (online, date(2031, 12, 29)),
            (staff, date(2035, 12, 29)),
            (cp, date(2038, 4, 9)),
        ],
        "child protection: date of birth 9 April 2013 + 25 years"
    );
    // Without a date of birth on the record: the incident date + 25 years...
    assert_eq!(
        due(date(2050, 12, 29)).await.last(),
        Some(&(cp_no_dob, date(2050, 12, 29)))
    );
    // ...unless the directory knows the pupil's date of birth.
    db.raw("INSERT INTO users (school_id, username, display_name, kind, group_key, created_at_us, date_of_birth) SELECT id, 'dan.nodob', 'Dan Nodob', 'pupil', 'ks2', 0, '2014-01-02' FROM schools WHERE slug = 'oak'")
        .await
        .expect("insert user");
    let items = store
        .records_for_review(s, &rules, date(2039, 1, 2))
        .await
        .expect("review");
    let dan = items.iter().find(|r| r.id == cp_no_dob).expect("dan due");
    assert_eq!(dan.review_due, date(2039, 1, 2));
    assert_eq!(dan.record_type, "child-protection");
    assert_eq!(dan.status, ConcernStatus::New);
    assert!(!dan.legal_hold);
}

async fn legal_hold_blocks_destruction_and_a_certificate_outlives_the_record(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    let alert = raise(store, s, "amy.example").await;
    let mut input = new_record("to be destroyed");
    input.alert_ids = vec![alert];
    let id = store
        .create_record(s, &input, &teacher())
        .await
        .expect("create");
    store
        .add_action(s, id, "note", "spoke to Amy", t0(), &head())
        .await
        .expect("action");
    store
        .start_procedure(s, id, "cyberbullying", &head())
        .await
        .expect("start");
    store
        .tick_step(s, id, "cyberbullying", "preserve-evidence", "", &head())
        .await
        .expect("tick");
    let rules = RecordRetention::default();
    assert_eq!(
        invalid(
            store
                .destroy_record(s, id, "past retention", &rules, &head())
                .await
                .expect_err("open")
        )
        .0,
        "record status"
    );
    store
        .close_record(s, id, "Resolved", Some("Low level"), &head())
        .await
        .expect("close");
    store
        .set_legal_hold(s, id, true, "Civil claim pending", &head())
        .await
        .expect("hold");
    let (field, problem) = invalid(
        store
            .destroy_record(s, id, "past retention", &rules, &head())
            .await
            .expect_err("held"),
    );
    assert_eq!(field, "legal hold");
    assert!(problem.contains("Civil claim pending"), "{problem}");
    let held = store
        .record(s, id, &reader("r"))
        .await
        .expect("read")
        .expect("still there");
    assert!(held.legal_hold);
    assert_eq!(
        held.legal_hold_reason.as_deref(),
        Some("Civil claim pending")
    );
    assert!(
        store
            .set_legal_hold(s, id, false, " ", &head())
            .await
            .is_err(),
        "lifting needs a reason"
    );
    store
        .set_legal_hold(s, id, false, "Claim settled", &head())
        .await
        .expect("lift hold");
    let before = store
        .record(s, id, &reader("r"))
        .await
        .expect("read")
        .expect("found");
    let expected_hash = sha256_hex(&serde_json::to_vec(&before.to_json()).expect("json"));
    let certificate = store
        .destroy_record(s, id, "Retention period over", &rules, &head())
        .await
        .expect("destroy");
    assert_eq!(certificate.concern_ref, id);
    assert_eq!(certificate.content_sha256, expected_hash);
    assert_eq!(certificate.record_type, "online-safety");
    assert_eq!(certificate.review_due, date(2031, 12, 29));
    assert_eq!(certificate.destroyed_by, "head");
    assert_eq!(certificate.reason, "Retention period over");
    // The record, 2 people, 2 types, 1 action, 1 procedure, 1 step, 1 alert link.
    assert_eq!(certificate.rows_removed, 9);
    assert!(
        store
            .record(s, id, &reader("r"))
            .await
            .expect("read")
            .is_none()
    );
    for table in [
        "concern_people",
        "concern_types",
        "concern_actions",
        "concern_procedures",
        "concern_steps",
        "concern_alerts",
        "concerns",
    ] {
        assert_eq!(
            db.texts(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"))
                .await,
            vec!["0".to_owned()],
            "{table} emptied"
        );
    }
    let a = store
        .alert(s, alert, &reader("a"))
        .await
        .expect("alert")
        .expect("alert kept");
    assert_eq!(a.concern, None);
    assert_eq!(
        store.destruction_certificates(s).await.expect("certs"),
        vec![certificate.clone()]
    );
    let log = actions(store, s).await;
    assert!(
        log.iter()
            .any(|(_, a, t)| a == "concern.destroy" && *t == format!("concern:{id}"))
    );
    assert_eq!(
        log.iter().filter(|(_, a, _)| a == "concern.hold").count(),
        2
    );
    assert!(matches!(
        store.destroy_record(s, id, "again", &rules, &head()).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn subject_access_gathers_a_persons_data_and_is_audited(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    raise(store, s, "amy.example").await;
    raise(store, s, "cat.other").await;
    let mut events = Vec::new();
    for i in 0..3 {
        events.push(event(
            s,
            t0() + i.seconds(),
            Some("amy.example"),
            Verdict::Allow,
        ));
    }
    events.push(event(s, t0(), Some("cat.other"), Verdict::Allow));
    store.insert_events(&events).await.expect("events");
    let id = store
        .create_record(s, &new_record("sar"), &teacher())
        .await
        .expect("create");
    db.raw("INSERT INTO users (school_id, username, display_name, kind, group_key, created_at_us, date_of_birth) SELECT id, 'amy.example', 'Amy Example', 'pupil', 'ks3', 0, '2013-04-09' FROM schools WHERE slug = 'oak'")
        .await
        .expect("insert user");
    let data = store
        .subject_access(s, "Amy.Example", &reader("subject access request"))
        .await
        .expect("sar");
    let person = data.person.expect("person");
    assert_eq!(person.display_name, "Amy Example");
    assert_eq!(person.date_of_birth, Some(date(2013, 4, 9)));
    assert_eq!(data.records.len(), 1);
    assert_eq!(data.records[0].concern.id, id);
    assert_eq!(data.alerts.len(), 1);
    assert_eq!(data.events.len(), 3);
    assert!(
        data.events[0].event.at > data.events[2].event.at,
        "newest first"
    );
    assert!(!data.events_truncated);
    let log = actions(store, s).await;
    assert!(
        log.iter()
            .any(|(_, a, t)| a == "records.subject-access" && t == "user:Amy.Example"),
        "{log:?}"
    );
    let transfer = store
        .records_for_transfer(s, "amy.example", &reader("transfer"))
        .await
        .expect("transfer");
    assert_eq!(transfer.len(), 1);
    let log = actions(store, s).await;
    assert!(log.iter().any(|(_, a, _)| a == "records.transfer-out"));
}

async fn transfers_are_logged_and_receipt_confirmed_once(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    let transfer = NewTransfer {
        direction: "out".to_owned(),
        pupil_username: Some("amy.example".to_owned()),
        pupil_name: "Amy Example".to_owned(),
        other_school: "Beech High School".to_owned(),
        sent_at: t0(),
        due_date: date(2026, 1, 6),
        sha256: sha256_hex(b"bundle"),
    };
    let bad = NewTransfer {
        sha256: "ABC".to_owned(),
        ..transfer.clone()
    };
    assert_eq!(
        invalid(
            store
                .record_transfer(s, &bad, &head())
                .await
                .expect_err("bad hash")
        )
        .0,
        "bundle checksum"
    );
    let id = store
        .record_transfer(s, &transfer, &head())
        .await
        .expect("log");
    let log = store.transfers(s, &reader("log")).await.expect("transfers");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].transfer, transfer);
    assert_eq!(log[0].sent_by, "head");
    assert_eq!(log[0].receipt_confirmed_at, None);
    store
        .confirm_transfer_receipt(s, id, &head(), "Phoned Beech DSL: received")
        .await
        .expect("confirm");
    assert!(
        store
            .confirm_transfer_receipt(s, id, &head(), "")
            .await
            .is_err(),
        "only once"
    );
    assert!(matches!(
        store
            .confirm_transfer_receipt(s, id + 100, &head(), "")
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let log = store.transfers(s, &reader("log")).await.expect("transfers");
    assert_eq!(log[0].receipt_confirmed_by.as_deref(), Some("head"));
    assert_eq!(
        log[0].receipt_note.as_deref(),
        Some("Phoned Beech DSL: received")
    );
    assert!(log[0].receipt_confirmed_at.is_some());
    let audit = actions(store, s).await;
    for action in [
        "records.transfer",
        "records.transfer-receipt",
        "records.transfers",
    ] {
        assert!(audit.iter().any(|(_, a, _)| a == action), "{action}");
    }
}

async fn termly_figures_count_without_names(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    let other = school(store, "elm").await;
    let (from, to) = (t0() - 24.hours(), t0() + 24.hours());
    let a = store
        .create_record(s, &new_record("a"), &teacher())
        .await
        .expect("create");
    let mut cp = new_record("b");
    cp.record_type = "child-protection".to_owned();
    cp.types = vec!["grooming".to_owned(), "cyberbullying".to_owned()];
    let b = store
        .create_record(s, &cp, &teacher())
        .await
        .expect("create");
    let mut old = new_record("outside the term");
    old.reported_at = t0() - 1_000.hours();
    store
        .create_record(s, &old, &teacher())
        .await
        .expect("create");
    store
        .create_record(other, &new_record("other school"), &teacher())
        .await
        .expect("create");
    store
        .add_action(s, b, "ceop-report", "", t0(), &head())
        .await
        .expect("action");
    store
        .add_action(s, b, "parents-informed", "", t0(), &head())
        .await
        .expect("action");
    store
        .add_action(s, a, "parents-informed", "", t0() - 2_000.hours(), &head())
        .await
        .expect("action outside");
    store
        .record_sanction(
            s,
            a,
            &NewSanction {
                username: "ben.sample".to_owned(),
                kind: "suspended".to_owned(),
                filter_as: None,
                starts_at: t0(),
                until: t0() + 48.hours(),
                change_id: None,
            },
            &head(),
        )
        .await
        .expect("sanction");
    store
        .close_record(s, a, "done", Some("low level"), &head())
        .await
        .expect("close");
    let mut events = Vec::new();
    for (category, n) in [("gambling", 3), ("adult", 1)] {
        for _ in 0..n {
            let mut e = event(s, t0(), Some("amy.example"), Verdict::Block);
            e.category = Some(category.to_owned());
            events.push(e);
        }
    }
    events.push(event(s, t0(), Some("amy.example"), Verdict::Allow));
    store.insert_events(&events).await.expect("events");
    raise(store, s, "amy.example").await;
    for result in [CheckResult::Pass, CheckResult::Fail] {
        store
            .add_check(&NewCheck {
                school: s,
                at: t0(),
                checked_by: "head".to_owned(),
                what: "blocked sites".to_owned(),
                target: "ks3".to_owned(),
                method: CheckMethod::Manual,
                result,
                details: String::new(),
                follow_up: (result == CheckResult::Fail).then(|| "fix it".to_owned()),
            })
            .await
            .expect("check");
    }
    db.raw("INSERT INTO annual_reviews (school_id, held_on, findings, next_due, recorded_by, created_at_us) SELECT id, '2025-09-10', 'fine', '2026-09-10', 'head', 0 FROM schools WHERE slug = 'oak'")
        .await
        .expect("review");
    let f = store.termly_figures(s, from, to).await.expect("figures");
    let pairs = |c: &[hedgerow_store::Count]| {
        c.iter()
            .map(|c| (c.key.clone().unwrap_or_default(), c.count))
            .collect::<Vec<_>>()
    };
    let kv = |k: &str, n: u64| (k.to_owned(), n);
    assert_eq!(f.records, 2);
    assert_eq!(
        pairs(&f.by_type),
        vec![
            kv("cyberbullying", 2),
            kv("grooming", 1),
            kv("threatening-messages", 1)
        ]
    );
    assert_eq!(
        pairs(&f.by_record_type),
        vec![kv("child-protection", 1), kv("online-safety", 1)]
    );
    assert_eq!(
        pairs(&f.actions_by_kind),
        vec![kv("ceop-report", 1), kv("parents-informed", 1)]
    );
    assert_eq!(f.referrals, 1);
    assert_eq!(pairs(&f.sanctions_by_kind), vec![kv("suspended", 1)]);
    assert_eq!(f.closed, 0, "closing happened now, after the period");
    assert_eq!(f.open_now, 2, "b and the old record");
    let now = Timestamp::now();
    let current = store
        .termly_figures(s, now - 1.hour(), now + 1.hour())
        .await
        .expect("figures");
    assert_eq!(current.closed, 1);
    assert_eq!(current.records, 0);
    assert_eq!(pairs(&f.by_location), vec![kv("in-school", 2)]);
    assert_eq!(
        f.reported_closed, 1,
        "a, reported in the period, is closed now"
    );
    assert_eq!(f.reported_open(), 1);
    assert!(
        f.close_seconds.is_empty(),
        "nothing closed inside the period"
    );
    assert_eq!(f.median_days_to_close(), None);
    let took = u64::try_from((now - t0()).as_secs()).expect("t0 is in the past");
    assert_eq!(current.close_seconds.len(), 1);
    let seconds = current.close_seconds.first().copied().unwrap_or(0);
    assert!(seconds.abs_diff(took) < 120, "{seconds} vs {took}");
    let days = current.median_days_to_close().expect("a median");
    assert!((days - seconds as f64 / 86_400.0).abs() < 1e-9);
    let spread = hedgerow_store::TermlyFigures {
        close_seconds: vec![86_400, 3 * 86_400, 4 * 86_400, 10 * 86_400],
        ..Default::default()
    };
    assert_eq!(spread.median_days_to_close(), Some(3.5));
    assert_eq!(
        pairs(&f.top_blocked_categories),
        vec![kv("gambling", 3), kv("adult", 1)]
    );
    assert_eq!(pairs(&f.alerts_by_category), vec![kv("bullying", 1)]);
    assert_eq!(f.checks_done, 2);
    assert_eq!(f.checks_failed, 1);
    assert_eq!(f.last_annual_review, Some(date(2025, 9, 10)));
    assert_eq!(f.annual_review_next_due, Some(date(2026, 9, 10)));
    let debug = format!("{f:?}");
    for name in ["Amy", "Ben", "amy.example", "ben.sample"] {
        assert!(!debug.contains(name), "{name} in {debug}");
    }
}

async fn activity_is_kept_as_evidence_once_and_audited(db: &TestDb) {
    let store = &db.store;
    let s = school(store, "oak").await;
    let events: Vec<_> = (0..3)
        .map(|i| event(s, t0() + i.seconds(), Some("amy.example"), Verdict::Block))
        .collect();
    store.insert_events(&events).await.expect("events");
    let id = store
        .create_record(s, &new_record("evidence"), &teacher())
        .await
        .expect("create");
    let filter = hedgerow_store::EventFilter {
        user: Some("amy.example".into()),
        ..hedgerow_store::EventFilter::school(s, 100)
    };
    let read = store
        .read_events(&reader("evidence"), &filter)
        .await
        .expect("read");
    assert_eq!(read.len(), 3);
    let added = store
        .keep_evidence(s, id, &read[..2], &teacher())
        .await
        .expect("keep");
    assert_eq!(added, 2);
    // Keeping an overlapping stretch copies only what is new.
    let added = store
        .keep_evidence(s, id, &read, &teacher())
        .await
        .expect("keep again");
    assert_eq!(added, 1);
    let record = store
        .record(s, id, &reader("check"))
        .await
        .expect("read")
        .expect("record");
    let kept = &record.concern.evidence;
    assert_eq!(kept.len(), 3);
    assert!(
        kept.windows(2).all(|w| w[0].event.at <= w[1].event.at),
        "oldest first"
    );
    let log = actions(store, s).await;
    assert_eq!(
        log.iter()
            .filter(|(_, a, _)| a == "concern.evidence")
            .count(),
        2,
        "{log:?}"
    );
    let other = school(store, "elm").await;
    let stray = store.keep_evidence(other, id, &read, &teacher()).await;
    assert!(stray.is_err(), "another school's events are refused");
}
