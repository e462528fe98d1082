//! Acceptable use agreements, acceptances, parents' links, image consent and visitors' day
//! codes, run against every backend with the harness in `common/mod.rs`: each scenario is an
//! `async fn(&TestDb)` run once on a fresh SQLite file and once on a fresh PostgreSQL database
//! (from `HEDGEROW_TEST_POSTGRES_URL`; skipped loudly without it unless
//! `HEDGEROW_REQUIRE_POSTGRES` is set). All names are invented.

mod common;

use std::net::IpAddr;

use common::{TestDb, backend_tests, head, invalid_field, school, t0};
use hedgerow_store::{
    AcceptanceMethod, AgreementSettings, ImportedPerson, NewAcceptance, NewUser, PeopleBatch,
    SchoolId, Store, StoreError, SubjectKind, UserKind,
};
use jiff::civil::date;
use jiff::{SignedDuration, Timestamp};

backend_tests!(
    publishing_numbers_versions_and_defaults_fill_gaps,
    settings_default_then_saved_and_checked,
    acceptances_feed_the_gate_and_follow_new_versions,
    acceptances_are_checked,
    the_report_lists_everyone_enabled_with_latest_acceptances,
    parent_links_replace_older_ones_and_expire,
    image_consent_changes_are_recorded_once_each,
    visitor_codes_admit_three_devices_for_their_day,
    old_visitors_are_purged,
    the_fingerprint_moves_with_every_relevant_write,
    schools_are_kept_apart,
);

fn hash(seed: &str) -> String {
    // Any 64 lowercase hex digits will do; the store never sees the token or code itself.
    let hex: String = seed.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0<64}").chars().take(64).collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn imported(username: &str, name: &str, group: &str, class: &str) -> ImportedPerson {
    ImportedPerson {
        username: username.to_owned(),
        display_name: name.to_owned(),
        group_key: group.to_owned(),
        year_group: Some("Year 5".to_owned()),
        class_name: Some(class.to_owned()),
        email: None,
        staff_code: None,
        suggested_roles: Vec::new(),
        date_of_birth: None,
    }
}

/// Pupils in two classes, one member of staff and one disabled pupil.
async fn people(store: &Store, school: SchoolId) {
    let batch = PeopleBatch::People {
        kind: UserKind::Pupil,
        people: vec![
            imported("p.zed", "Zara Zed", "ks2", "5B"),
            imported("p.able", "Ann Able", "ks2", "5B"),
            imported("p.crow", "Cal Crow", "ks1", "2A"),
        ],
        disable_missing: false,
    };
    store
        .import_people(school, &batch, &head())
        .await
        .expect("import pupils");
    for (username, name, kind, group, disabled) in [
        ("t.teach", "Tess Teach", UserKind::Staff, "staff", false),
        ("p.gone", "Gus Gone", UserKind::Pupil, "ks2", true),
    ] {
        store
            .upsert_user(
                school,
                &NewUser {
                    username: username.to_owned(),
                    display_name: name.to_owned(),
                    kind,
                    group_key: group.to_owned(),
                    password_hash: None,
                    demo_only: false,
                    disabled,
                },
            )
            .await
            .expect("upsert user");
    }
}

fn portal(school: SchoolId, version_id: i64, user: &str, at: Timestamp) -> NewAcceptance {
    NewAcceptance {
        school,
        version_id,
        subject_kind: SubjectKind::User,
        subject: user.to_owned(),
        signed_by: user.to_owned(),
        relationship: "self".to_owned(),
        method: AcceptanceMethod::Portal,
        recorded_by: None,
        client_addr: Some(ip("10.0.5.9")),
        accepted_at: at,
    }
}

/// (actor, target, detail) of a school's audit entries with `action`, newest first.
async fn audits(store: &Store, school: SchoolId, action: &str) -> Vec<(String, String, String)> {
    store
        .audit_entries(Some(school), 500)
        .await
        .expect("audit entries")
        .into_iter()
        .filter(|r| r.entry.action == action)
        .map(|r| (r.entry.actor, r.entry.target, r.entry.detail))
        .collect()
}

fn defaults() -> Vec<(String, String, String)> {
    [
        ("ks2", "Our computer rules", "- I ask before I go online."),
        (
            "staff",
            "Staff agreement",
            "## Conduct\n\nI keep pupils' data safe.",
        ),
    ]
    .into_iter()
    .map(|(a, t, b)| (a.to_owned(), t.to_owned(), b.to_owned()))
    .collect()
}

async fn publishing_numbers_versions_and_defaults_fill_gaps(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "oak").await;
    assert!(s.current_agreement(school, "ks2").await.unwrap().is_none());
    assert!(s.current_agreements(school).await.unwrap().is_empty());

    let v1 = s
        .publish_agreement(
            school,
            "staff",
            "  Staff AUP ",
            "Be professional.\n",
            "head",
            "first",
        )
        .await
        .unwrap();
    assert_eq!((v1.version, v1.title.as_str()), (1, "Staff AUP"));
    assert_eq!(v1.body, "Be professional.\n");
    assert_eq!(v1.published_by, "head");

    // Defaults fill only audiences with nothing yet, and running again publishes nothing.
    assert_eq!(
        s.ensure_default_agreements(school, &defaults())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.ensure_default_agreements(school, &defaults())
            .await
            .unwrap(),
        0
    );
    let ks2 = s.current_agreement(school, "ks2").await.unwrap().unwrap();
    assert_eq!(
        (ks2.version, ks2.published_by.as_str()),
        (1, "system:defaults")
    );
    assert_eq!(ks2.title, "Our computer rules");
    assert_eq!(
        s.current_agreement(school, "staff").await.unwrap().unwrap(),
        v1
    );

    let v2 = s
        .publish_agreement(
            school,
            "staff",
            "Staff AUP 2025",
            "New rules.",
            "dsl",
            "yearly review",
        )
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(
        s.current_agreement(school, "staff").await.unwrap().unwrap(),
        v2
    );
    let versions = s.agreement_versions(school, "staff").await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(
        s.agreement_version(school, v1.id).await.unwrap().unwrap(),
        v1
    );
    assert!(
        s.agreement_version(school, v2.id + 100)
            .await
            .unwrap()
            .is_none()
    );
    // Current agreements come in the audiences' order: ks2 before staff.
    let current = s.current_agreements(school).await.unwrap();
    assert_eq!(
        current
            .iter()
            .map(|v| (v.audience.as_str(), v.version))
            .collect::<Vec<_>>(),
        vec![("ks2", 1), ("staff", 2)]
    );

    for (audience, title, body) in [
        ("pupils", "T", "B"),
        ("ks2", "", "B"),
        ("ks2", "T", "  \n"),
        ("ks2", &"x".repeat(201), "B"),
    ] {
        let e = s
            .publish_agreement(school, audience, title, body, "head", "")
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::InvalidInput { .. }), "{e:?}");
    }
    let too_long = "y".repeat(20_001);
    let e = s
        .publish_agreement(school, "ks2", "T", &too_long, "head", "")
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "agreement text");

    let published = audits(s, school, "agreement.publish").await;
    assert_eq!(published.len(), 3);
    assert_eq!(published[0].0, "dsl");
    assert!(published[0].2.contains("audience=staff version=2"));
    assert!(published[0].2.contains("yearly review"));
}

async fn settings_default_then_saved_and_checked(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "oak").await;
    assert_eq!(
        s.agreement_settings(school).await.unwrap(),
        AgreementSettings {
            renewal_month: 9,
            renewal_day: 1,
            expiring_soon_days: 30,
            parent_link_days: 28
        }
    );
    let mine = AgreementSettings {
        renewal_month: 2,
        renewal_day: 29,
        expiring_soon_days: 14,
        parent_link_days: 60,
    };
    s.set_agreement_settings(school, &mine, "head")
        .await
        .unwrap();
    assert_eq!(s.agreement_settings(school).await.unwrap(), mine);
    let changed = AgreementSettings {
        renewal_month: 7,
        ..mine
    };
    s.set_agreement_settings(school, &changed, "dsl")
        .await
        .unwrap();
    assert_eq!(s.agreement_settings(school).await.unwrap(), changed);

    let e = s
        .set_agreement_settings(
            school,
            &AgreementSettings {
                renewal_month: 6,
                renewal_day: 31,
                ..mine
            },
            "head",
        )
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "renewal day");
    let e = s
        .set_agreement_settings(
            school,
            &AgreementSettings {
                expiring_soon_days: 200,
                ..mine
            },
            "head",
        )
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "expiring soon window");
    assert_eq!(s.agreement_settings(school).await.unwrap(), changed);

    let saved = audits(s, school, "agreement.settings").await;
    assert_eq!(saved.len(), 2);
    assert_eq!(saved[0].0, "dsl");
    assert!(saved[0].2.contains("renewal=07-29"), "{saved:?}");
}

async fn acceptances_feed_the_gate_and_follow_new_versions(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "oak").await;
    people(s, school).await;
    let ks2_v1 = s
        .publish_agreement(school, "ks2", "Rules", "Be kind.", "head", "")
        .await
        .unwrap();
    let staff_v1 = s
        .publish_agreement(school, "staff", "Staff", "Be professional.", "head", "")
        .await
        .unwrap();

    // A username typed in another case is stored with the school's spelling.
    let first = s
        .record_acceptance(&portal(school, ks2_v1.id, "P.Able", t0()))
        .await
        .unwrap();
    assert_eq!(first.subject, "p.able");
    assert_eq!((first.audience.as_str(), first.version), ("ks2", 1));
    assert_eq!(first.client_addr.as_deref(), Some("10.0.5.9"));
    assert_eq!(first.accepted_at, t0());
    let later = t0() + SignedDuration::from_hours(1);
    let second = s
        .record_acceptance(&portal(school, ks2_v1.id, "p.able", later))
        .await
        .unwrap();
    // A parent's co-signature is kept but never opens the gate.
    let mut cosign = portal(school, ks2_v1.id, "p.zed", later);
    cosign.method = AcceptanceMethod::ParentLink;
    cosign.relationship = "parent-carer".to_owned();
    cosign.signed_by = "Pat Zed".to_owned();
    cosign.client_addr = None;
    s.record_acceptance(&cosign).await.unwrap();
    // Paper, entered by staff on a device's behalf.
    let paper = NewAcceptance {
        school,
        version_id: staff_v1.id,
        subject_kind: SubjectKind::Device,
        subject: "staffroom-pc".to_owned(),
        signed_by: "Tess Teach".to_owned(),
        relationship: "staff-on-behalf".to_owned(),
        method: AcceptanceMethod::Paper,
        recorded_by: Some("office".to_owned()),
        client_addr: None,
        accepted_at: t0(),
    };
    s.record_acceptance(&paper).await.unwrap();

    let mine = s
        .acceptances_for(school, SubjectKind::User, "P.ABLE")
        .await
        .unwrap();
    assert_eq!(
        mine.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![second.id, first.id]
    );
    assert_eq!(mine[1], first);
    assert!(
        s.acceptances_for(school, SubjectKind::Device, "p.able")
            .await
            .unwrap()
            .is_empty()
    );

    let (current, gate) = s.agreement_gate_rows(school).await.unwrap();
    assert_eq!(
        current,
        vec![
            ("ks2".to_owned(), ks2_v1.id),
            ("staff".to_owned(), staff_v1.id)
        ]
    );
    let gate: Vec<_> = gate
        .iter()
        .map(|g| {
            (
                g.subject_kind,
                g.subject.as_str(),
                g.audience.as_str(),
                g.version_id,
                g.accepted_at,
            )
        })
        .collect();
    assert_eq!(
        gate,
        vec![
            (SubjectKind::User, "p.able", "ks2", ks2_v1.id, later),
            (
                SubjectKind::Device,
                "staffroom-pc",
                "staff",
                staff_v1.id,
                t0()
            ),
        ]
    );

    // A new version becomes current; the old acceptance stays the latest until they accept.
    let ks2_v2 = s
        .publish_agreement(school, "ks2", "Rules", "Be kind online too.", "head", "")
        .await
        .unwrap();
    let (current, gate) = s.agreement_gate_rows(school).await.unwrap();
    assert_eq!(current[0], ("ks2".to_owned(), ks2_v2.id));
    assert_eq!(gate[0].version_id, ks2_v1.id);
    let third = later + SignedDuration::from_hours(24);
    s.record_acceptance(&portal(school, ks2_v2.id, "p.able", third))
        .await
        .unwrap();
    let (_, gate) = s.agreement_gate_rows(school).await.unwrap();
    assert_eq!(
        (gate[0].version_id, gate[0].accepted_at),
        (ks2_v2.id, third)
    );

    let accepted = audits(s, school, "agreement.accept").await;
    assert_eq!(accepted.len(), 5);
    assert_eq!(accepted[0].0, "user:p.able");
    assert_eq!(accepted[0].1, "user:p.able");
    assert!(accepted[0].2.contains("method=portal"));
    assert!(
        accepted
            .iter()
            .any(|(actor, target, detail)| actor == "office"
                && target == "device:staffroom-pc"
                && detail.contains("method=paper"))
    );
}

async fn acceptances_are_checked(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "oak").await;
    people(s, school).await;
    let v = s
        .publish_agreement(school, "ks2", "Rules", "Be kind.", "head", "")
        .await
        .unwrap();

    let e = s
        .record_acceptance(&portal(school, v.id, "nobody", t0()))
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "user");
    let e = s
        .record_acceptance(&portal(school, v.id + 1_000, "p.able", t0()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::NotFound {
                what: "agreement version",
                ..
            }
        ),
        "{e:?}"
    );
    let mut paper = portal(school, v.id, "p.able", t0());
    paper.method = AcceptanceMethod::Paper;
    let e = s.record_acceptance(&paper).await.unwrap_err();
    assert_eq!(invalid_field(e), "recorded by");
    let mut odd = portal(school, v.id, "p.able", t0());
    odd.relationship = "friend".to_owned();
    assert_eq!(
        invalid_field(s.record_acceptance(&odd).await.unwrap_err()),
        "relationship"
    );
    let mut link = portal(school, v.id, "p.able", t0());
    link.method = AcceptanceMethod::ParentLink;
    assert_eq!(
        invalid_field(s.record_acceptance(&link).await.unwrap_err()),
        "relationship"
    );
    let mut unsigned = portal(school, v.id, "p.able", t0());
    unsigned.signed_by = "  ".to_owned();
    assert_eq!(
        invalid_field(s.record_acceptance(&unsigned).await.unwrap_err()),
        "signed by"
    );
    // Nothing was stored by any refusal.
    assert!(
        s.acceptances_for(school, SubjectKind::User, "p.able")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(audits(s, school, "agreement.accept").await.is_empty());

    // The CHECKs hold the closed sets even against hand edits.
    let bad = format!(
        "INSERT INTO agreement_acceptances (school_id, version_id, subject_kind, subject, \
         signed_by, relationship, method, accepted_at_us) VALUES ({}, {}, 'user', 'p.able', \
         'x', 'self', 'email', 1)",
        school.0, v.id
    );
    assert!(db.raw(&bad).await.is_err());
    let bad = format!(
        "INSERT INTO agreement_versions (school_id, audience, version, title, body, \
         published_at_us, published_by) VALUES ({}, 'pupils', 9, 't', 'b', 1, 'x')",
        school.0
    );
    assert!(db.raw(&bad).await.is_err());
}

async fn the_report_lists_everyone_enabled_with_latest_acceptances(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "oak").await;
    people(s, school).await;
    let ks2 = s
        .publish_agreement(school, "ks2", "Rules", "Be kind.", "head", "")
        .await
        .unwrap();
    let later = t0() + SignedDuration::from_hours(2);
    s.record_acceptance(&portal(school, ks2.id, "p.able", t0()))
        .await
        .unwrap();
    let newest = s
        .record_acceptance(&portal(school, ks2.id, "p.able", later))
        .await
        .unwrap();
    let mut cosign = portal(school, ks2.id, "p.able", t0());
    cosign.method = AcceptanceMethod::ParentLink;
    cosign.relationship = "parent-carer".to_owned();
    cosign.signed_by = "Alex Able".to_owned();
    let cosigned = s.record_acceptance(&cosign).await.unwrap();
    s.record_acceptance(&portal(school, ks2.id, "p.gone", t0()))
        .await
        .unwrap();

    let report = s.agreement_report(school, &head()).await.unwrap();
    // Disabled people are left out; pupils by group, class and name, then staff.
    assert_eq!(
        report
            .iter()
            .map(|r| r.username.as_str())
            .collect::<Vec<_>>(),
        vec!["p.crow", "p.able", "p.zed", "t.teach"]
    );
    let able = &report[1];
    assert_eq!(able.display_name, "Ann Able");
    assert_eq!(able.kind, UserKind::Pupil);
    assert_eq!(able.class_name.as_deref(), Some("5B"));
    assert_eq!(able.year_group.as_deref(), Some("Year 5"));
    assert_eq!(able.latest, vec![newest, cosigned]);
    assert!(report[0].latest.is_empty());

    let read = audits(s, school, "agreement.report").await;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].0, "head");
    assert!(read[0].2.contains("people=4"), "{read:?}");
}

async fn parent_links_replace_older_ones_and_expire(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "oak").await;
    people(s, school).await;
    let now = Timestamp::now();
    let in_28_days = now + SignedDuration::from_hours(28 * 24);
    let first = s
        .create_parent_link(school, "P.Zed", &hash("first"), in_28_days, "office")
        .await
        .unwrap();
    assert_eq!(first.child, "p.zed");
    assert!(!first.revoked);
    assert_eq!(first.last_used_at, None);
    assert_eq!(
        s.parent_link(&hash("first"), now).await.unwrap().unwrap(),
        first
    );

    // A new letter revokes the old link.
    let second = s
        .create_parent_link(school, "p.zed", &hash("second"), in_28_days, "office")
        .await
        .unwrap();
    assert!(s.parent_link(&hash("first"), now).await.unwrap().is_none());
    let found = s.parent_link(&hash("second"), now).await.unwrap().unwrap();
    assert_eq!(found.id, second.id);
    // Another child's link is untouched by that.
    s.create_parent_link(school, "p.able", &hash("able"), in_28_days, "office")
        .await
        .unwrap();
    assert!(s.parent_link(&hash("second"), now).await.unwrap().is_some());

    // Expired at its expiry time; unknown tokens find nothing.
    assert!(
        s.parent_link(&hash("second"), in_28_days)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.parent_link(&hash("nothing"), now)
            .await
            .unwrap()
            .is_none()
    );

    let used_at = now + SignedDuration::from_mins(5);
    s.mark_parent_link_used(second.id, used_at).await.unwrap();
    let used = s.parent_link(&hash("second"), now).await.unwrap().unwrap();
    assert_eq!(
        used.last_used_at.map(|t| t.as_microsecond()),
        Some(used_at.as_microsecond())
    );
    assert!(matches!(
        s.mark_parent_link_used(second.id + 1_000, now).await,
        Err(StoreError::NotFound { .. })
    ));

    // Links are for pupils of the school, with a real hash, expiring in the future.
    let e = s
        .create_parent_link(school, "t.teach", &hash("staff"), in_28_days, "office")
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "pupil");
    let e = s
        .create_parent_link(school, "p.zed", "not-a-hash", in_28_days, "office")
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "link token");
    let e = s
        .create_parent_link(school, "p.zed", &hash("past"), t0(), "office")
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "link expiry");
    let e = s
        .create_parent_link(school, "p.crow", &hash("second"), in_28_days, "office")
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "link token");

    let created = audits(s, school, "parent-link.create").await;
    assert_eq!(created.len(), 3);
    assert_eq!(created[1].1, "pupil:p.zed");
    assert!(created[1].2.contains("revoked_older=1"), "{created:?}");
    // The token never reaches the audit log or the table in clear.
    assert!(created.iter().all(|(_, _, d)| !d.contains(&hash("second"))));
}

async fn image_consent_changes_are_recorded_once_each(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "oak").await;
    people(s, school).await;
    let at = t0();
    let later = at + SignedDuration::from_hours(3);
    assert!(
        s.set_image_consent(
            school,
            "P.Zed",
            "website",
            "given",
            "Pat Zed",
            "parent-link",
            "",
            at
        )
        .await
        .unwrap()
    );
    // The same again changes nothing and records nothing.
    assert!(
        !s.set_image_consent(
            school,
            "p.zed",
            "website",
            "given",
            "Pat Zed",
            "parent-link",
            "",
            later
        )
        .await
        .unwrap()
    );
    assert!(
        s.set_image_consent(
            school,
            "p.zed",
            "press",
            "refused",
            "Pat Zed",
            "parent-link",
            "",
            at
        )
        .await
        .unwrap()
    );
    assert!(
        s.set_image_consent(
            school,
            "p.zed",
            "website",
            "refused",
            "Tess Teach",
            "staff",
            "Parent phoned the office.",
            later
        )
        .await
        .unwrap()
    );
    s.set_image_consent(
        school, "p.able", "displays", "given", "office", "staff", "", at,
    )
    .await
    .unwrap();
    s.set_image_consent(
        school, "p.gone", "displays", "given", "office", "staff", "", at,
    )
    .await
    .unwrap();

    let zed = s.image_consent_for(school, "p.zed").await.unwrap();
    assert_eq!(zed.keys().collect::<Vec<_>>(), vec!["press", "website"]);
    let website = &zed["website"];
    assert_eq!(
        (
            website.state.as_str(),
            website.changed_by.as_str(),
            website.via.as_str()
        ),
        ("refused", "Tess Teach", "staff")
    );
    assert_eq!(website.changed_at, later);
    assert!(
        s.image_consent_for(school, "p.crow")
            .await
            .unwrap()
            .is_empty()
    );

    let history = s
        .image_consent_history(school, "p.zed", &head())
        .await
        .unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|c| {
            (
                c.use_key.as_str(),
                c.old_state.as_deref(),
                c.new_state.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("website", Some("given"), "refused"),
            ("press", None, "refused"),
            ("website", None, "given"),
        ]
    );
    assert_eq!(history[0].note, "Parent phoned the office.");
    assert_eq!(history[2].via, "parent-link");

    let register = s.image_consents(school, None, &head()).await.unwrap();
    assert_eq!(
        register
            .iter()
            .map(|r| r.pupil.as_str())
            .collect::<Vec<_>>(),
        vec!["p.crow", "p.able", "p.zed"]
    );
    assert_eq!(register[2].states, zed);
    assert_eq!(register[1].states["displays"].state, "given");
    let five_b = s.image_consents(school, Some("5B"), &head()).await.unwrap();
    assert_eq!(
        five_b.iter().map(|r| r.pupil.as_str()).collect::<Vec<_>>(),
        vec!["p.able", "p.zed"]
    );
    assert_eq!(five_b[0].class_name.as_deref(), Some("5B"));

    for (pupil, use_key, state, via, field) in [
        ("p.zed", "television", "given", "staff", "image use"),
        ("p.zed", "website", "maybe", "staff", "consent"),
        ("p.zed", "website", "given", "email", "changed via"),
        ("t.teach", "website", "given", "staff", "pupil"),
        ("nobody", "website", "given", "staff", "pupil"),
    ] {
        let e = s
            .set_image_consent(school, pupil, use_key, state, "office", via, "", at)
            .await
            .unwrap_err();
        assert_eq!(invalid_field(e), field);
    }

    let changes = audits(s, school, "image-consent.change").await;
    assert_eq!(changes.len(), 5);
    assert_eq!(changes[2].1, "pupil:p.zed");
    assert!(
        changes[2]
            .2
            .contains("use=website old=given new=refused via=staff")
    );
    let reads = audits(s, school, "image-consent.read").await;
    assert_eq!(reads.len(), 3);
    assert_eq!(reads[2].1, "pupil:p.zed");
}

async fn visitor_codes_admit_three_devices_for_their_day(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "oak").await;
    let today = date(2026, 3, 10);
    let code = s
        .issue_visitor_code(
            school,
            &hash("K7QPM3XR"),
            " Dr Vera Visit ",
            today,
            "reception",
        )
        .await
        .unwrap();
    assert_eq!(code.visitor_name, "Dr Vera Visit");
    assert_eq!((code.day, code.devices_admitted), (today, 0));
    let other = s
        .issue_visitor_code(
            school,
            &hash("ABCDEFGH"),
            "Sam Supply",
            date(2026, 3, 11),
            "reception",
        )
        .await
        .unwrap();
    let e = s
        .issue_visitor_code(school, &hash("K7QPM3XR"), "Someone", today, "reception")
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "day code");

    assert_eq!(
        s.visitor_codes(school, today).await.unwrap(),
        vec![code.clone()]
    );
    assert_eq!(
        s.visitor_code_by_hash(school, &hash("ABCDEFGH"))
            .await
            .unwrap(),
        Some(other.clone())
    );
    assert!(
        s.visitor_code_by_hash(school, &hash("NOPE"))
            .await
            .unwrap()
            .is_none()
    );

    let at = t0();
    let until = at + SignedDuration::from_hours(8);
    for addr in ["192.168.50.10", "192.168.50.11", "fd00::12"] {
        s.admit_visitor(school, code.id, ip(addr), until, at)
            .await
            .unwrap();
    }
    // The same device again is fine; a fourth is refused.
    s.admit_visitor(school, code.id, ip("192.168.50.10"), until, at)
        .await
        .unwrap();
    let e = s
        .admit_visitor(school, code.id, ip("192.168.50.13"), until, at)
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "day code");
    assert!(e_text(s, school, code.id).await.contains("3 devices"));
    s.admit_visitor(school, other.id, ip("192.168.50.13"), until, at)
        .await
        .unwrap();
    assert!(matches!(
        s.admit_visitor(school, other.id + 1_000, ip("192.168.50.14"), until, at)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let e = s
        .admit_visitor(school, code.id, ip("192.168.50.10"), at, at)
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "admission end");

    assert_eq!(
        s.visitor_codes(school, today).await.unwrap()[0].devices_admitted,
        3
    );
    let admitted = s.visitor_admissions(school, at).await.unwrap();
    assert_eq!(
        admitted
            .iter()
            .map(|a| (
                a.code_id,
                a.client_addr.to_string(),
                a.visitor_name.as_str()
            ))
            .collect::<Vec<_>>(),
        vec![
            (code.id, "192.168.50.10".to_owned(), "Dr Vera Visit"),
            (code.id, "192.168.50.11".to_owned(), "Dr Vera Visit"),
            (code.id, "fd00::12".to_owned(), "Dr Vera Visit"),
            (other.id, "192.168.50.13".to_owned(), "Sam Supply"),
        ]
    );
    assert!(admitted.iter().all(|a| a.until == until));
    assert!(
        s.visitor_admissions(school, until)
            .await
            .unwrap()
            .is_empty()
    );

    let issued = audits(s, school, "visitor-code.issue").await;
    assert_eq!(issued.len(), 2);
    assert!(issued[1].2.contains("day=2026-03-10"), "{issued:?}");
    let admits = audits(s, school, "visitor.admit").await;
    assert_eq!(admits.len(), 5);
    assert_eq!(admits[4].0, "visitor:Dr Vera Visit");
}

/// Retention: visitors' admissions and acceptances older than the cutoff go, with day codes
/// that nothing admitted is left under; newer ones stay.
async fn old_visitors_are_purged(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "oak").await;
    let version = s
        .publish_agreement(
            school,
            "visitors",
            "Guest Wi-Fi",
            "- I use it kindly.",
            "head",
            "",
        )
        .await
        .unwrap()
        .id;
    let now = Timestamp::now();
    let long_ago = now - SignedDuration::from_hours(24 * 400);
    let code = s
        .issue_visitor_code(
            school,
            &hash("OLDCODE"),
            "Old Visitor",
            date(2026, 3, 10),
            "office",
        )
        .await
        .unwrap();
    let newer = s
        .issue_visitor_code(
            school,
            &hash("NEWCODE"),
            "New Visitor",
            date(2026, 3, 11),
            "office",
        )
        .await
        .unwrap();
    s.admit_visitor(
        school,
        code.id,
        ip("10.9.9.1"),
        long_ago + SignedDuration::from_hours(8),
        long_ago,
    )
    .await
    .unwrap();
    s.admit_visitor(
        school,
        newer.id,
        ip("10.9.9.2"),
        now + SignedDuration::from_hours(8),
        now,
    )
    .await
    .unwrap();
    for (name, at) in [("Old Visitor", long_ago), ("New Visitor", now)] {
        s.record_acceptance(&NewAcceptance {
            school,
            version_id: version,
            subject_kind: SubjectKind::Visitor,
            subject: name.into(),
            signed_by: name.into(),
            relationship: "self".into(),
            method: AcceptanceMethod::Portal,
            recorded_by: None,
            client_addr: Some(ip("10.9.9.1")),
            accepted_at: at,
        })
        .await
        .unwrap();
    }

    // A year back from now: the old admission and acceptance go; both codes were issued today.
    let deleted = s
        .purge_visitors_before(school, now - SignedDuration::from_hours(24 * 365))
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    let left = s
        .acceptances_for(school, SubjectKind::Visitor, "Old Visitor")
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        s.acceptances_for(school, SubjectKind::Visitor, "New Visitor")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.visitor_admissions(school, long_ago).await.unwrap().len(),
        1
    );

    // Later than everything: all of it goes, codes included.
    let deleted = s
        .purge_visitors_before(school, now + SignedDuration::from_hours(1))
        .await
        .unwrap();
    assert_eq!(deleted, 4, "an admission, an acceptance and two codes");
    assert!(
        s.visitor_code_by_hash(school, &hash("NEWCODE"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.visitor_admissions(school, long_ago)
            .await
            .unwrap()
            .is_empty()
    );
    let purges = audits(s, school, "visitor.purge").await;
    assert_eq!(purges.len(), 2);
    assert_eq!(purges[0].0, "system:retention");
}

/// The sentence a fourth device gets.
async fn e_text(s: &Store, school: SchoolId, code: i64) -> String {
    let at = t0();
    s.admit_visitor(
        school,
        code,
        ip("192.168.50.99"),
        at + SignedDuration::from_hours(1),
        at,
    )
    .await
    .unwrap_err()
    .to_string()
}

async fn the_fingerprint_moves_with_every_relevant_write(db: &TestDb) {
    let s = &db.store;
    let school = school(s, "oak").await;
    people(s, school).await;
    let mut seen = vec![s.agreements_fingerprint().await.unwrap()];
    let mut moved = |fingerprint: String, what: &str| {
        assert!(
            !seen.contains(&fingerprint),
            "the fingerprint did not move after {what}: {fingerprint}"
        );
        seen.push(fingerprint);
    };
    let v = s
        .publish_agreement(school, "ks2", "Rules", "Be kind.", "head", "")
        .await
        .unwrap();
    moved(s.agreements_fingerprint().await.unwrap(), "publishing");
    s.record_acceptance(&portal(school, v.id, "p.able", t0()))
        .await
        .unwrap();
    moved(s.agreements_fingerprint().await.unwrap(), "an acceptance");
    let settings = AgreementSettings::default();
    s.set_agreement_settings(school, &settings, "head")
        .await
        .unwrap();
    moved(s.agreements_fingerprint().await.unwrap(), "first settings");
    s.set_agreement_settings(school, &settings, "head")
        .await
        .unwrap();
    moved(
        s.agreements_fingerprint().await.unwrap(),
        "settings saved again",
    );
    let code = s
        .issue_visitor_code(school, &hash("CODE"), "Vera", date(2026, 3, 10), "office")
        .await
        .unwrap();
    let at = t0();
    let until = at + SignedDuration::from_hours(1);
    s.admit_visitor(school, code.id, ip("10.1.1.1"), until, at)
        .await
        .unwrap();
    moved(s.agreements_fingerprint().await.unwrap(), "an admission");
    s.admit_visitor(school, code.id, ip("10.1.1.1"), until, at)
        .await
        .unwrap();
    moved(s.agreements_fingerprint().await.unwrap(), "a re-admission");
    // Reads do not move it.
    let before = s.agreements_fingerprint().await.unwrap();
    s.agreement_report(school, &head()).await.unwrap();
    assert_eq!(s.agreements_fingerprint().await.unwrap(), before);
}

async fn schools_are_kept_apart(db: &TestDb) {
    let s = &db.store;
    let oak = school(s, "oak").await;
    let elm = school(s, "elm").await;
    people(s, oak).await;
    people(s, elm).await;
    let oak_v = s
        .publish_agreement(oak, "ks2", "Oak rules", "Be kind.", "head", "")
        .await
        .unwrap();
    let elm_v = s
        .publish_agreement(elm, "ks2", "Elm rules", "Be kind.", "head", "")
        .await
        .unwrap();
    assert_eq!(elm_v.version, 1);
    assert!(s.agreement_version(elm, oak_v.id).await.unwrap().is_none());
    // Accepting another school's version is refused as not found.
    let e = s
        .record_acceptance(&portal(elm, oak_v.id, "p.able", t0()))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e:?}");
    s.record_acceptance(&portal(oak, oak_v.id, "p.able", t0()))
        .await
        .unwrap();
    assert!(s.agreement_gate_rows(elm).await.unwrap().1.is_empty());
    let report = s.agreement_report(elm, &head()).await.unwrap();
    assert!(report.iter().all(|r| r.latest.is_empty()));

    s.set_image_consent(
        oak,
        "p.zed",
        "website",
        "given",
        "office",
        "staff",
        "",
        t0(),
    )
    .await
    .unwrap();
    assert!(s.image_consent_for(elm, "p.zed").await.unwrap().is_empty());
    let code = s
        .issue_visitor_code(oak, &hash("SAME"), "Vera", date(2026, 3, 10), "office")
        .await
        .unwrap();
    // The same code may exist in two schools; a code of one school admits nobody in another.
    s.issue_visitor_code(elm, &hash("SAME"), "Vic", date(2026, 3, 10), "office")
        .await
        .unwrap();
    assert!(matches!(
        s.admit_visitor(
            elm,
            code.id,
            ip("10.2.2.2"),
            t0() + SignedDuration::from_hours(1),
            t0()
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(s.visitor_codes(elm, date(2026, 3, 10)).await.unwrap()[0].visitor_name == "Vic");
    let missing = SchoolId(oak.0 + elm.0 + 100);
    let e = s
        .publish_agreement(missing, "ks2", "T", "B", "head", "")
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "school");
}
