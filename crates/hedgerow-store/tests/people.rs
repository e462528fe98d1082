//! People imported from school information systems (pupils, staff, classes), run against
//! every backend with the harness in `common/mod.rs`: each scenario is an `async fn(&TestDb)`
//! run once on a fresh SQLite file and once on a fresh PostgreSQL database (from
//! `HEDGEROW_TEST_POSTGRES_URL`; skipped loudly without it unless `HEDGEROW_REQUIRE_POSTGRES`
//! is set).

mod common;

use common::{TestDb, backend_tests, head, school, t0};
use hedgerow_store::{
    ImportedClass, ImportedPerson, NewRecord, NewUser, PeopleBatch, PersonInvolved,
    RecordRetention, SchoolId, Store, StoreError, UserKind,
};
use jiff::ToSpan;
use jiff::civil::date;

backend_tests!(
    imports_create_update_and_never_delete,
    leavers_are_disabled_only_when_asked_and_only_if_imported,
    a_conflict_refuses_the_whole_import,
    classes_counts_and_class_lists,
    batches_are_checked,
    dates_of_birth_are_stored_updated_and_never_cleared,
);

fn pupil(username: &str, name: &str, group: &str, class: Option<&str>) -> ImportedPerson {
    ImportedPerson {
        username: username.to_owned(),
        display_name: name.to_owned(),
        group_key: group.to_owned(),
        year_group: Some(if group == "ks1" { "Year 2" } else { "Year 5" }.to_owned()),
        class_name: class.map(str::to_owned),
        email: None,
        staff_code: None,
        suggested_roles: Vec::new(),
        date_of_birth: None,
    }
}

fn pupils(people: Vec<ImportedPerson>, disable_missing: bool) -> PeopleBatch {
    PeopleBatch::People {
        kind: UserKind::Pupil,
        people,
        disable_missing,
    }
}

/// The `people.import` audit details of a school, newest first.
async fn import_audits(store: &Store, school: SchoolId) -> Vec<(String, String, String)> {
    store
        .audit_entries(Some(school), 100)
        .await
        .expect("audit entries")
        .into_iter()
        .filter(|r| r.entry.action == "people.import")
        .map(|r| (r.entry.actor, r.entry.target, r.entry.detail))
        .collect()
}

async fn imports_create_update_and_never_delete(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "oak").await;
    let first = pupils(
        vec![
            pupil("a.able", "Ann <b>Able</b>", "ks1", Some("2A")),
            pupil("b.bell", "Ben Bell", "ks2", Some("5B")),
        ],
        false,
    );
    let plan = s.plan_people_import(school, &first).await.unwrap();
    assert_eq!(plan.created, vec!["a.able", "b.bell"]);
    assert_eq!(
        (plan.created_count, plan.updated_count, plan.unchanged_count),
        (2, 0, 0)
    );
    // Planning changes nothing.
    assert!(s.person(school, "a.able").await.unwrap().is_none());

    let done = s.import_people(school, &first, &head()).await.unwrap();
    assert_eq!(done, plan);
    let ann = s.person(school, "A.ABLE").await.unwrap().expect("imported");
    assert_eq!(ann.display_name, "Ann <b>Able</b>");
    assert_eq!(ann.kind, UserKind::Pupil);
    assert_eq!(ann.group_key, "ks1");
    assert_eq!(ann.class_name.as_deref(), Some("2A"));
    assert_eq!(ann.year_group.as_deref(), Some("Year 2"));
    assert!(ann.imported && !ann.disabled);
    // The store's own user view agrees.
    let user = s.user(school, "a.able").await.unwrap().unwrap();
    assert_eq!(user.group_key, "ks1");
    assert_eq!(user.password_hash, None);

    // The same file again changes nothing.
    let again = s.import_people(school, &first, &head()).await.unwrap();
    assert_eq!(
        (
            again.created_count,
            again.updated_count,
            again.unchanged_count
        ),
        (0, 0, 2)
    );

    // Next year: Ann moves up a key stage and class; the username's capitals differ; Ben is
    // not in the file, and stays, since leavers were not asked to be disabled.
    let mut moved = pupil("A.Able", "Ann Able", "ks2", Some("3A"));
    moved.year_group = Some("Year 3".into());
    moved.email = Some("ann@school.example".into());
    let next = pupils(vec![moved], false);
    let done = s.import_people(school, &next, &head()).await.unwrap();
    assert_eq!(done.updated_count, 1);
    assert_eq!(
        done.updated[0].name, "a.able",
        "the stored spelling is kept"
    );
    let changes = done.updated[0].changes.join("; ");
    for expected in [
        "name",
        "group ks1 → ks2",
        "year Year 2 → Year 3",
        "class 2A → 3A",
        "e-mail address",
    ] {
        assert!(changes.contains(expected), "{expected} in {changes}");
    }
    let ann = s.person(school, "a.able").await.unwrap().unwrap();
    assert_eq!(
        (ann.group_key.as_str(), ann.class_name.as_deref()),
        ("ks2", Some("3A"))
    );
    assert_eq!(ann.email.as_deref(), Some("ann@school.example"));
    let ben = s.person(school, "b.bell").await.unwrap().unwrap();
    assert!(!ben.disabled);

    // An empty optional value leaves what is stored.
    let mut no_class = pupil("a.able", "Ann Able", "ks2", None);
    no_class.year_group = None;
    s.import_people(school, &pupils(vec![no_class], false), &head())
        .await
        .unwrap();
    let ann = s.person(school, "a.able").await.unwrap().unwrap();
    assert_eq!(ann.class_name.as_deref(), Some("3A"));
    assert_eq!(ann.email.as_deref(), Some("ann@school.example"));

    // Every import is audited with counts and never a name.
    let audits = import_audits(s, school).await;
    assert_eq!(audits.len(), 4);
    assert_eq!(audits[3].0, "head");
    assert_eq!(audits[3].1, "people:pupils");
    assert_eq!(
        audits[3].2,
        "kind=pupils rows=2 created=2 updated=0 unchanged=0 enabled=0 disabled=0"
    );
    for (_, _, detail) in &audits {
        assert!(
            !detail.contains("a.able") && !detail.contains("Ann"),
            "{detail}"
        );
    }
}

async fn leavers_are_disabled_only_when_asked_and_only_if_imported(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "elm").await;
    // A pupil from the configuration, and a demo account: never disabled by an import.
    for (username, demo) in [("config.pupil", false), ("demo.pupil", true)] {
        s.upsert_user(
            school,
            &NewUser {
                username: username.into(),
                display_name: username.into(),
                kind: UserKind::Pupil,
                group_key: "ks2".into(),
                password_hash: None,
                demo_only: demo,
                disabled: false,
            },
        )
        .await
        .unwrap();
    }
    s.import_people(
        school,
        &pupils(
            vec![
                pupil("stay", "Stay Put", "ks2", None),
                pupil("leaver", "Left Now", "ks2", None),
            ],
            false,
        ),
        &head(),
    )
    .await
    .unwrap();
    let batch = pupils(vec![pupil("stay", "Stay Put", "ks2", None)], true);
    let plan = s.plan_people_import(school, &batch).await.unwrap();
    assert_eq!(plan.disabled, vec!["leaver"]);
    let done = s.import_people(school, &batch, &head()).await.unwrap();
    assert_eq!(done.disabled_count, 1);
    let leaver = s.person(school, "leaver").await.unwrap().unwrap();
    assert!(leaver.disabled, "disabled, not deleted");
    for kept in ["stay", "config.pupil", "demo.pupil"] {
        assert!(
            !s.person(school, kept).await.unwrap().unwrap().disabled,
            "{kept}"
        );
    }
    // A leaver who comes back is enabled again.
    let back = pupils(
        vec![
            pupil("stay", "Stay Put", "ks2", None),
            pupil("leaver", "Left Now", "ks2", None),
        ],
        true,
    );
    let done = s.import_people(school, &back, &head()).await.unwrap();
    assert_eq!((done.enabled_count, done.disabled_count), (1, 0));
    assert!(!s.person(school, "leaver").await.unwrap().unwrap().disabled);
    // Another school's people are nobody's leavers here.
    let other = self::school(s, "ash").await;
    s.import_people(
        other,
        &pupils(vec![pupil("x", "X", "ks2", None)], true),
        &head(),
    )
    .await
    .unwrap();
    assert!(!s.person(school, "stay").await.unwrap().unwrap().disabled);
    let audit = import_audits(s, school).await;
    assert!(audit[0].2.ends_with("enabled=1 disabled=0"), "{audit:?}");
}

async fn a_conflict_refuses_the_whole_import(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "yew").await;
    let staff = PeopleBatch::People {
        kind: UserKind::Staff,
        people: vec![ImportedPerson {
            username: "j.smith".into(),
            display_name: "Jo Smith".into(),
            group_key: "staff".into(),
            year_group: None,
            class_name: None,
            email: Some("jo@school.example".into()),
            staff_code: Some("JSM".into()),
            suggested_roles: vec!["teacher".into(), "dsl".into()],
            date_of_birth: None,
        }],
        disable_missing: false,
    };
    s.import_people(school, &staff, &head()).await.unwrap();
    let jo = s.person(school, "j.smith").await.unwrap().unwrap();
    assert_eq!(jo.suggested_roles, vec!["dsl", "teacher"]);
    assert_eq!(jo.staff_code.as_deref(), Some("JSM"));

    let batch = pupils(
        vec![
            pupil("new.one", "New One", "ks2", None),
            pupil("J.Smith", "Jo Pupil", "ks2", None),
        ],
        false,
    );
    let plan = s.plan_people_import(school, &batch).await.unwrap();
    assert_eq!(plan.conflicts.len(), 1);
    assert!(
        plan.conflicts[0].contains("already a staff user"),
        "{:?}",
        plan.conflicts
    );
    let err = s.import_people(school, &batch, &head()).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                field: "import",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        s.person(school, "new.one").await.unwrap().is_none(),
        "nothing was imported"
    );
    assert_eq!(
        s.person(school, "j.smith").await.unwrap().unwrap().kind,
        UserKind::Staff
    );
    assert_eq!(
        import_audits(s, school).await.len(),
        1,
        "a refused import is not audited as done"
    );
}

async fn classes_counts_and_class_lists(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "fir").await;
    let classes = PeopleBatch::Classes(vec![
        ImportedClass {
            name: "2A".into(),
            year_group: Some("Year 2".into()),
            group_key: Some("ks1".into()),
            teacher: Some("Mrs Ash".into()),
        },
        ImportedClass {
            name: "Empty".into(),
            year_group: None,
            group_key: None,
            teacher: None,
        },
    ]);
    let done = s.import_people(school, &classes, &head()).await.unwrap();
    assert_eq!(done.created, vec!["2A", "Empty"]);
    // A changed teacher, and an empty year that leaves the stored one.
    let changed = PeopleBatch::Classes(vec![ImportedClass {
        name: "2a".into(),
        year_group: None,
        group_key: None,
        teacher: Some("Mr Birch".into()),
    }]);
    let done = s.import_people(school, &changed, &head()).await.unwrap();
    assert_eq!(done.updated[0].changes, vec!["teacher Mrs Ash → Mr Birch"]);
    let stored = s.classes(school).await.unwrap();
    assert_eq!(stored[0].year_group.as_deref(), Some("Year 2"));
    assert_eq!(stored[0].teacher.as_deref(), Some("Mr Birch"));

    s.import_people(
        school,
        &pupils(
            vec![
                pupil("p1", "Pat One", "ks1", Some("2A")),
                pupil("p2", "Pat Two", "ks1", Some("2A")),
                pupil("p3", "Pat Three", "ks2", Some("5C")),
                pupil("p4", "Pat Four", "ks2", None),
            ],
            false,
        ),
        &head(),
    )
    .await
    .unwrap();
    s.import_people(
        school,
        &pupils(vec![pupil("p1", "Pat One", "ks1", Some("2A"))], true),
        &head(),
    )
    .await
    .unwrap();
    let counts = s.people_counts(school).await.unwrap();
    let groups: Vec<(String, UserKind, u64, u64)> = counts
        .groups
        .iter()
        .map(|g| (g.group_key.clone(), g.kind, g.active, g.disabled))
        .collect();
    assert_eq!(
        groups,
        vec![
            ("ks1".to_owned(), UserKind::Pupil, 1, 1),
            ("ks2".to_owned(), UserKind::Pupil, 0, 2)
        ]
    );
    let classes: Vec<(String, u64, Option<String>)> = counts
        .classes
        .iter()
        .map(|c| (c.name.clone(), c.pupils, c.teacher.clone()))
        .collect();
    assert_eq!(
        classes,
        vec![
            ("2A".to_owned(), 1, Some("Mr Birch".to_owned())),
            // 5C had only a leaver, and was never imported as a class: it is gone.
            ("Empty".to_owned(), 0, None),
        ]
    );
    let members: Vec<(String, bool)> = s
        .class_members(school, "2A")
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.username, p.disabled))
        .collect();
    assert_eq!(
        members,
        vec![("p1".to_owned(), false), ("p2".to_owned(), true)]
    );
}

async fn batches_are_checked(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "box").await;
    let mut bad = pupil("ok", "Name", "ks1", None);
    bad.display_name = "Line\nbreak".into();
    let err = s
        .import_people(school, &pupils(vec![bad], false), &head())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                field: "display name",
                ..
            }
        ),
        "{err:?}"
    );
    let visitors = PeopleBatch::People {
        kind: UserKind::Visitor,
        people: vec![],
        disable_missing: false,
    };
    assert!(s.plan_people_import(school, &visitors).await.is_err());
    let mut roles = pupil("ok", "Name", "ks1", None);
    roles.suggested_roles = vec!["Not A Role".into()];
    assert!(
        s.import_people(school, &pupils(vec![roles], false), &head())
            .await
            .is_err()
    );
    // An unknown school is named as such.
    let err = s
        .import_people(
            SchoolId(9_999),
            &pupils(vec![pupil("x", "X", "ks1", None)], false),
            &head(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                field: "school",
                ..
            }
        ),
        "{err:?}"
    );
    // The audit table takes no record for refused batches.
    assert!(import_audits(s, school).await.is_empty());
}

async fn dates_of_birth_are_stored_updated_and_never_cleared(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "ash").await;
    let mut ann = pupil("a.able", "Ann Able", "ks1", Some("2A"));
    ann.date_of_birth = Some(date(2018, 4, 23));
    let ben = pupil("b.bell", "Ben Bell", "ks2", Some("5B"));
    s.import_people(
        school,
        &pupils(vec![ann.clone(), ben.clone()], false),
        &head(),
    )
    .await
    .unwrap();
    let stored = s.person(school, "a.able").await.unwrap().unwrap();
    assert_eq!(stored.date_of_birth, Some(date(2018, 4, 23)));
    assert_eq!(
        db.texts("SELECT date_of_birth FROM users WHERE username = 'a.able'")
            .await,
        vec!["2018-04-23"]
    );
    assert_eq!(
        s.person(school, "b.bell")
            .await
            .unwrap()
            .unwrap()
            .date_of_birth,
        None
    );

    // A file without dates of birth keeps Ann's; the same file again changes nothing.
    let mut no_date = ann.clone();
    no_date.date_of_birth = None;
    let plan = s
        .import_people(school, &pupils(vec![no_date, ben.clone()], false), &head())
        .await
        .unwrap();
    assert_eq!((plan.updated_count, plan.unchanged_count), (0, 2));
    assert_eq!(
        s.person(school, "a.able")
            .await
            .unwrap()
            .unwrap()
            .date_of_birth,
        Some(date(2018, 4, 23))
    );

    // A corrected date and a newly known one are updates, said without the date itself.
    ann.date_of_birth = Some(date(2018, 3, 23));
    let mut ben_dated = ben;
    ben_dated.date_of_birth = Some(date(2015, 1, 9));
    let batch = pupils(vec![ann, ben_dated], false);
    let plan = s.plan_people_import(school, &batch).await.unwrap();
    assert_eq!(plan.updated_count, 2);
    for change in &plan.updated {
        assert_eq!(change.changes, vec!["date of birth"], "{change:?}");
    }
    s.import_people(school, &batch, &head()).await.unwrap();
    assert_eq!(
        s.person(school, "a.able")
            .await
            .unwrap()
            .unwrap()
            .date_of_birth,
        Some(date(2018, 3, 23))
    );
    assert_eq!(
        s.person(school, "b.bell")
            .await
            .unwrap()
            .unwrap()
            .date_of_birth,
        Some(date(2015, 1, 9))
    );
    // The audit keeps counts, never a date.
    let audits = import_audits(s, school).await;
    assert!(
        audits
            .iter()
            .all(|(_, _, d)| !d.contains("2015") && !d.contains("2018"))
    );

    // A child-protection record about Ben that does not give his date of birth is reviewed
    // 25 years after the imported one.
    let record = NewRecord {
        record_type: "child-protection".to_owned(),
        reporter: "Ms Teacher".to_owned(),
        reported_at: t0(),
        incident_at: None,
        location: "in-school".to_owned(),
        people: vec![PersonInvolved {
            person_role: "pupil".to_owned(),
            involvement: "affected".to_owned(),
            display_name: "Ben Bell".to_owned(),
            username: Some("B.Bell".to_owned()),
            date_of_birth: None,
        }],
        types: vec!["grooming".to_owned()],
        summary: "An invented worry".to_owned(),
        disclosure: String::new(),
        observations: String::new(),
        websites: String::new(),
        apps_games: String::new(),
        online_names: String::new(),
        evidence_description: String::new(),
        alert_ids: Vec::new(),
    };
    let id = s.create_record(school, &record, &head()).await.unwrap();
    let rules = RecordRetention::default();
    let due = date(2015, 1, 9) + 25.years();
    let before = s
        .records_for_review(school, &rules, due - 1.day())
        .await
        .unwrap();
    assert!(before.iter().all(|r| r.id != id), "{before:?}");
    let on_the_day = s.records_for_review(school, &rules, due).await.unwrap();
    let item = on_the_day.iter().find(|r| r.id == id).expect("due");
    assert_eq!(item.review_due, due);

    // Dates the column cannot hold are refused before anything is written.
    let mut ancient = pupil("c.cole", "Cat Cole", "ks1", None);
    ancient.date_of_birth = Some(date(-5, 1, 1));
    let err = s
        .import_people(school, &pupils(vec![ancient], false), &head())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                field: "date of birth",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(s.person(school, "c.cole").await.unwrap().is_none());
}
