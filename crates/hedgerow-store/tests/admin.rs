//! The admin web app's records (accounts, sessions, contacts register, check log, annual
//! reviews), run against every backend with the harness in `common/mod.rs`: each scenario is
//! an `async fn(&TestDb)` run once on a fresh SQLite file and once on a fresh PostgreSQL
//! database (from `HEDGEROW_TEST_POSTGRES_URL`; skipped loudly without it unless
//! `HEDGEROW_REQUIRE_POSTGRES` is set).

mod common;

use common::{PASSWORD_HASH as HASH, TestDb, backend_tests, head, invalid_field, school};
use hedgerow_store::{
    ActingUser, AdminAccountId, CheckMethod, CheckResult, ContactDetails, ContactRole,
    NewAdminAccount, NewAnnualReview, NewCheck, NewReviewAction, ReviewParticipant, SchoolId,
    Store,
};
use jiff::civil::date;
use jiff::{Timestamp, ToSpan};

backend_tests!(
    accounts_round_trip_and_audit_changes,
    usernames_are_unique_ignoring_case,
    totp_steps_cannot_be_replayed,
    account_input_is_checked,
    sessions_save_load_expire_and_delete,
    contacts_register_set_list_remove,
    check_log_pages_newest_first_and_follow_ups,
    annual_review_requires_a_governor,
    annual_reviews_round_trip_actions_and_next_due,
);

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn account(school: Option<SchoolId>, username: &str, roles: &[&str]) -> NewAdminAccount {
    NewAdminAccount {
        school,
        username: username.to_owned(),
        display_name: format!("<b>{username}</b> & co"),
        email: format!("{username}@example.org"),
        password_hash: HASH.to_owned(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}

/// The newest audit records' actions for a school (or all when `None`), newest first.
async fn audit_actions(store: &Store, school: Option<SchoolId>) -> Vec<(String, String, String)> {
    store
        .audit_entries(school, 100)
        .await
        .expect("audit entries")
        .into_iter()
        .map(|r| (r.entry.actor, r.entry.action, r.entry.target))
        .collect()
}

async fn accounts_round_trip_and_audit_changes(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let b = school(s, "beta").await;
    let before = Timestamp::now();
    let dsl = s
        .create_admin_account(
            &account(Some(a), "Jo.DSL", &["teacher", "dsl", "dsl"]),
            &head(),
        )
        .await
        .expect("create dsl");
    let gov = s
        .create_admin_account(&account(Some(b), "gov", &["governor"]), &head())
        .await
        .expect("create governor");
    let trust = s
        .create_admin_account(&account(None, "trust", &["trust-admin"]), &head())
        .await
        .expect("create trust admin");

    let got = s.admin_account(dsl).await.expect("by id").expect("exists");
    assert_eq!(got.id, dsl);
    assert_eq!(got.school, Some(a));
    assert_eq!(got.username, "Jo.DSL");
    assert_eq!(
        got.display_name, "<b>Jo.DSL</b> & co",
        "text is stored as given"
    );
    assert_eq!(got.email, "Jo.DSL@example.org");
    assert_eq!(got.password_hash, HASH);
    assert_eq!(got.roles, vec!["dsl", "teacher"], "sorted, without repeats");
    assert!(got.has_role("dsl") && !got.has_role("governor"));
    assert_eq!(got.totp_secret, None);
    assert_eq!(got.totp_last_step, None);
    assert!(!got.disabled);
    assert!(got.created_at >= before.round(jiff::Unit::Microsecond).unwrap() - 1.second());
    assert_eq!(got.password_changed_at, got.created_at);
    assert_eq!(got.last_login_at, None);
    let shown = format!("{got:?}");
    assert!(!shown.contains("argon2"), "Debug hides the hash: {shown}");

    let by_name = s
        .admin_account_by_username("jo.dsl")
        .await
        .expect("by username")
        .expect("found ignoring case");
    assert_eq!(by_name, got);
    assert!(
        s.admin_account_by_username("nobody")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.admin_account_by_username("bad name")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.admin_account(AdminAccountId(999_999))
            .await
            .unwrap()
            .is_none()
    );

    let names = |v: Vec<hedgerow_store::AdminAccount>| {
        v.into_iter().map(|a| a.username).collect::<Vec<_>>()
    };
    assert_eq!(
        names(s.admin_accounts(Some(a)).await.unwrap()),
        vec!["Jo.DSL"]
    );
    assert_eq!(names(s.admin_accounts(Some(b)).await.unwrap()), vec!["gov"]);
    assert_eq!(
        names(s.admin_accounts(None).await.unwrap()),
        vec!["gov", "Jo.DSL", "trust"],
        "every account, by username ignoring case"
    );

    // Roles, disabling, password, TOTP enrolment and sign-in.
    assert!(
        s.set_admin_roles(
            dsl,
            &["dsl".to_owned(), "online-safety-lead".to_owned()],
            &head()
        )
        .await
        .unwrap()
    );
    assert!(s.set_admin_disabled(gov, true, &head()).await.unwrap());
    let later_hash = format!("{HASH}x");
    assert!(
        s.set_admin_password_hash(dsl, &later_hash, &ActingUser::new("Jo.DSL"))
            .await
            .unwrap()
    );
    assert!(
        s.set_admin_totp_secret(dsl, Some(SECRET), &ActingUser::new("Jo.DSL"))
            .await
            .unwrap()
    );
    let login_at = Timestamp::from_microsecond(1_767_000_000_123_456).unwrap();
    assert!(s.record_admin_login(dsl, login_at).await.unwrap());
    assert!(
        !s.set_admin_roles(AdminAccountId(999_999), &[], &head())
            .await
            .unwrap()
    );
    assert!(
        !s.set_admin_disabled(AdminAccountId(999_999), true, &head())
            .await
            .unwrap()
    );
    assert!(
        !s.record_admin_login(AdminAccountId(999_999), login_at)
            .await
            .unwrap()
    );

    let got = s.admin_account(dsl).await.unwrap().unwrap();
    assert_eq!(got.roles, vec!["dsl", "online-safety-lead"]);
    assert_eq!(got.password_hash, later_hash);
    assert!(got.password_changed_at >= got.created_at);
    assert_eq!(got.totp_secret.as_deref(), Some(SECRET));
    assert_eq!(got.last_login_at, Some(login_at));
    assert!(
        !format!("{got:?}").contains(SECRET),
        "Debug hides the secret"
    );
    assert!(s.admin_account(gov).await.unwrap().unwrap().disabled);
    assert!(s.set_admin_disabled(gov, false, &head()).await.unwrap());
    assert!(!s.admin_account(gov).await.unwrap().unwrap().disabled);
    assert!(s.set_admin_totp_secret(dsl, None, &head()).await.unwrap());
    assert_eq!(
        s.admin_account(dsl).await.unwrap().unwrap().totp_secret,
        None
    );

    // Each change is in the audit log under the account's school, with the acting user.
    let target = format!("admin_account:{dsl}");
    let alpha = audit_actions(s, Some(a)).await;
    let actions: Vec<&str> = alpha
        .iter()
        .filter(|(_, _, t)| *t == target)
        .map(|(_, action, _)| action.as_str())
        .collect();
    assert_eq!(
        actions,
        vec![
            "account.totp",
            "account.totp",
            "account.password",
            "account.roles",
            "account.create"
        ]
    );
    assert!(alpha.contains(&(
        "Jo.DSL".to_owned(),
        "account.password".to_owned(),
        target.clone()
    )));
    let beta = audit_actions(s, Some(b)).await;
    let gov_target = format!("admin_account:{gov}");
    assert!(beta.contains(&(
        "head".to_owned(),
        "account.disable".to_owned(),
        gov_target.clone()
    )));
    assert!(beta.contains(&("head".to_owned(), "account.enable".to_owned(), gov_target)));
    let records = s.audit_entries(None, 100).await.unwrap();
    let trust_create = records
        .iter()
        .find(|r| r.entry.target == format!("admin_account:{trust}"))
        .expect("trust-wide account creation audited");
    assert_eq!(trust_create.entry.school, None);
    assert_eq!(trust_create.entry.from_addr.as_deref(), Some("10.9.8.7"));
    assert!(trust_create.entry.detail.contains("trust-admin"));
    for r in &records {
        assert!(!r.entry.detail.contains("argon2") && !r.entry.detail.contains(SECRET));
    }
}

async fn usernames_are_unique_ignoring_case(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let b = school(s, "beta").await;
    s.create_admin_account(&account(Some(a), "Sam", &["teacher"]), &head())
        .await
        .expect("first");
    for (school, name) in [(Some(a), "sam"), (Some(b), "SAM"), (None, "Sam")] {
        let e = s
            .create_admin_account(&account(school, name, &["teacher"]), &head())
            .await
            .expect_err("taken ignoring case, in any school");
        let message = e.to_string();
        assert!(message.contains("already taken"), "{message}");
        assert_eq!(invalid_field(e), "username");
    }
    // The database enforces it too, for anyone with a SQL prompt.
    let raw = db
        .raw(
            "INSERT INTO admin_accounts (school_id, username, display_name, email, \
             password_hash, roles, created_at_us, password_changed_at_us) \
             VALUES (NULL, 'sAm', 'x', 'x@example.org', 'h', '', 0, 0)",
        )
        .await;
    assert!(raw.is_err(), "unique index on lower(username)");
    assert_eq!(s.admin_accounts(None).await.unwrap().len(), 1);
    // A failed creation writes no audit record.
    let creates = audit_actions(s, None)
        .await
        .into_iter()
        .filter(|(_, action, _)| action == "account.create")
        .count();
    assert_eq!(creates, 1);
}

async fn totp_steps_cannot_be_replayed(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let id = s
        .create_admin_account(&account(Some(a), "dsl", &["dsl"]), &head())
        .await
        .unwrap();
    // Not enrolled: nothing is accepted.
    assert!(!s.record_admin_totp_step(id, 100).await.unwrap());
    s.set_admin_totp_secret(id, Some(SECRET), &head())
        .await
        .unwrap();
    assert!(
        s.record_admin_totp_step(id, 100).await.unwrap(),
        "first use"
    );
    assert!(
        !s.record_admin_totp_step(id, 100).await.unwrap(),
        "same step replayed"
    );
    assert!(
        !s.record_admin_totp_step(id, 99).await.unwrap(),
        "earlier step"
    );
    assert!(
        s.record_admin_totp_step(id, 101).await.unwrap(),
        "next step"
    );
    assert_eq!(
        s.admin_account(id).await.unwrap().unwrap().totp_last_step,
        Some(101)
    );

    // Many concurrent sign-ins with the same code: exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = s.clone();
        tasks.push(tokio::spawn(async move {
            store.record_admin_totp_step(id, 500).await
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1, "one concurrent use of a step is accepted");

    // A disabled account accepts nothing; unknown accounts neither.
    s.set_admin_disabled(id, true, &head()).await.unwrap();
    assert!(!s.record_admin_totp_step(id, 600).await.unwrap());
    s.set_admin_disabled(id, false, &head()).await.unwrap();
    assert!(s.record_admin_totp_step(id, 600).await.unwrap());
    assert!(
        !s.record_admin_totp_step(AdminAccountId(999_999), 700)
            .await
            .unwrap()
    );

    // Re-enrolling forgets the old step: a new secret starts afresh.
    s.set_admin_totp_secret(id, Some("ABCDEFGHIJKLMNOP"), &head())
        .await
        .unwrap();
    assert_eq!(
        s.admin_account(id).await.unwrap().unwrap().totp_last_step,
        None
    );
    assert!(s.record_admin_totp_step(id, 550).await.unwrap());
}

async fn account_input_is_checked(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let cases: Vec<(NewAdminAccount, &str)> = vec![
        (account(Some(a), "has space", &[]), "username"),
        (account(Some(a), "", &[]), "username"),
        (account(Some(a), &"x".repeat(101), &[]), "username"),
        (account(Some(a), "ok", &["Not A Role"]), "role"),
        (account(Some(a), "ok", &["a,b"]), "role"),
        (
            NewAdminAccount {
                password_hash: "hunter2hunter2".to_owned(),
                ..account(Some(a), "ok", &[])
            },
            "password hash",
        ),
        (
            NewAdminAccount {
                email: "not-an-email".to_owned(),
                ..account(Some(a), "ok", &[])
            },
            "email address",
        ),
        (
            NewAdminAccount {
                email: format!("{}@example.org", "e".repeat(250)),
                ..account(Some(a), "ok", &[])
            },
            "email address",
        ),
        (
            NewAdminAccount {
                display_name: "x".repeat(201),
                ..account(Some(a), "ok", &[])
            },
            "display name",
        ),
        (
            NewAdminAccount {
                display_name: "line\nbreak".to_owned(),
                ..account(Some(a), "ok", &[])
            },
            "display name",
        ),
    ];
    for (input, field) in cases {
        let e = s
            .create_admin_account(&input, &head())
            .await
            .expect_err(field);
        assert_eq!(invalid_field(e), field, "{input:?}");
    }
    let e = s
        .create_admin_account(&account(Some(SchoolId(424_242)), "ok", &[]), &head())
        .await
        .expect_err("unknown school");
    assert_eq!(invalid_field(e), "school");
    let e = s
        .create_admin_account(&account(Some(a), "ok", &[]), &ActingUser::new(""))
        .await
        .expect_err("no actor");
    assert_eq!(invalid_field(e), "acting user");
    let id = s
        .create_admin_account(&account(Some(a), "ok", &[]), &head())
        .await
        .unwrap();
    assert_eq!(
        s.admin_account(id).await.unwrap().unwrap().roles,
        Vec::<String>::new()
    );
    for secret in ["short", "jbswy3dpehpk3pxp", "JBSWY3DPEHPK3PX1"] {
        let e = s
            .set_admin_totp_secret(id, Some(secret), &head())
            .await
            .expect_err(secret);
        assert_eq!(invalid_field(e), "TOTP secret");
    }
    let e = s
        .set_admin_password_hash(id, "plain", &head())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "password hash");
    let too_many: Vec<String> = (0..17).map(|i| format!("role-{i}")).collect();
    assert_eq!(
        invalid_field(s.set_admin_roles(id, &too_many, &head()).await.unwrap_err()),
        "roles"
    );
}

async fn sessions_save_load_expire_and_delete(db: &TestDb) {
    let s = &db.store;
    let now = Timestamp::now();
    let live = (now + 15.minutes()).round(jiff::Unit::Microsecond).unwrap();
    let data = br#"{"csrf":"abc","account":7}"#.to_vec();
    assert_eq!(s.session_load("sess-1").await.unwrap(), None);
    s.session_save("sess-1", &data, live).await.unwrap();
    assert_eq!(
        s.session_load("sess-1").await.unwrap(),
        Some((data.clone(), live))
    );

    // Saving again replaces (idle timeout slides forward).
    let later = live + 5.minutes();
    s.session_save("sess-1", b"{}", later).await.unwrap();
    assert_eq!(
        s.session_load("sess-1").await.unwrap(),
        Some((b"{}".to_vec(), later))
    );

    // create refuses an id in use, live or expired.
    assert!(!s.session_create("sess-1", b"other", later).await.unwrap());
    assert!(
        s.session_create("sess-2", &[0, 159, 255], live)
            .await
            .unwrap()
    );
    assert_eq!(
        s.session_load("sess-2").await.unwrap().unwrap().0,
        vec![0, 159, 255]
    );

    // An expired session is not loaded, and is swept by delete_expired.
    s.session_save("old-1", b"x", now - 1.second())
        .await
        .unwrap();
    s.session_save("old-2", b"x", now - 1.hour()).await.unwrap();
    assert_eq!(s.session_load("old-1").await.unwrap(), None);
    assert!(!s.session_create("old-1", b"x", live).await.unwrap());
    assert_eq!(s.session_delete_expired(now).await.unwrap(), 2);
    assert_eq!(s.session_delete_expired(now).await.unwrap(), 0);
    assert!(s.session_create("old-1", b"x", live).await.unwrap());
    assert!(
        s.session_load("sess-1").await.unwrap().is_some(),
        "live sessions survive"
    );

    s.session_delete("sess-1").await.unwrap();
    s.session_delete("sess-1").await.unwrap();
    assert_eq!(s.session_load("sess-1").await.unwrap(), None);

    // Limits.
    let big = vec![b'x'; 64 * 1024 + 1];
    assert_eq!(
        invalid_field(s.session_save("big", &big, live).await.unwrap_err()),
        "session data"
    );
    assert_eq!(
        invalid_field(s.session_save("", b"x", live).await.unwrap_err()),
        "session id"
    );
    assert_eq!(
        invalid_field(
            s.session_save(&"i".repeat(129), b"x", live)
                .await
                .unwrap_err()
        ),
        "session id"
    );
    assert_eq!(s.session_load("has space").await.unwrap(), None);
}

fn contact(role: ContactRole, name: &str) -> ContactDetails {
    ContactDetails {
        role,
        name: name.to_owned(),
        email: Some(format!(
            "{}@example.org",
            name.to_lowercase().replace(' ', ".")
        )),
        phone: Some("01632 960000".to_owned()),
        notes: Some("Mon-Fri\n<script>alert(1)</script>".to_owned()),
    }
}

async fn contacts_register_set_list_remove(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let b = school(s, "beta").await;
    let by = head();
    let head_id = s
        .set_contact(a, None, &contact(ContactRole::Headteacher, "Pat Head"), &by)
        .await
        .unwrap()
        .expect("created");
    let dsl = s
        .set_contact(a, None, &contact(ContactRole::Dsl, "Dee Lead"), &by)
        .await
        .unwrap()
        .unwrap();
    s.set_contact(a, None, &contact(ContactRole::DeputyDsl, "Zed Deputy"), &by)
        .await
        .unwrap();
    s.set_contact(a, None, &contact(ContactRole::DeputyDsl, "Amy Deputy"), &by)
        .await
        .unwrap();
    s.set_contact(b, None, &contact(ContactRole::Dsl, "Other School"), &by)
        .await
        .unwrap();

    let list = s.contacts(a).await.unwrap();
    let shown: Vec<(ContactRole, &str)> = list
        .iter()
        .map(|c| (c.details.role, c.details.name.as_str()))
        .collect();
    assert_eq!(
        shown,
        vec![
            (ContactRole::Dsl, "Dee Lead"),
            (ContactRole::DeputyDsl, "Amy Deputy"),
            (ContactRole::DeputyDsl, "Zed Deputy"),
            (ContactRole::Headteacher, "Pat Head"),
        ]
    );
    assert_eq!(
        list[0].details,
        contact(ContactRole::Dsl, "Dee Lead"),
        "stored as given"
    );
    assert_eq!(list[0].updated_by, "head");
    assert_eq!(list[0].school, a);

    // Replace one entry; another school cannot touch it.
    let new_dsl = ContactDetails {
        email: None,
        phone: None,
        notes: None,
        ..contact(ContactRole::Dsl, "Dee Newlead")
    };
    assert_eq!(
        s.set_contact(a, Some(dsl), &new_dsl, &ActingUser::new("dsl"))
            .await
            .unwrap(),
        Some(dsl)
    );
    assert_eq!(
        s.set_contact(b, Some(dsl), &new_dsl, &by).await.unwrap(),
        None
    );
    let got = s.contacts(a).await.unwrap();
    let dsl_entry = got.iter().find(|c| c.id == dsl).unwrap();
    assert_eq!(dsl_entry.details, new_dsl);
    assert_eq!(dsl_entry.updated_by, "dsl");

    assert!(
        !s.remove_contact(b, head_id, &by).await.unwrap(),
        "not beta's"
    );
    assert!(s.remove_contact(a, head_id, &by).await.unwrap());
    assert!(
        !s.remove_contact(a, head_id, &by).await.unwrap(),
        "already gone"
    );
    assert_eq!(s.contacts(a).await.unwrap().len(), 3);
    assert_eq!(s.contacts(b).await.unwrap().len(), 1);

    let audit = audit_actions(s, Some(a)).await;
    let count = |action: &str| audit.iter().filter(|(_, a, _)| a == action).count();
    assert_eq!(count("contact.set"), 5);
    assert_eq!(count("contact.remove"), 1);
    assert!(audit.contains(&(
        "dsl".to_owned(),
        "contact.set".to_owned(),
        format!("contact:{dsl}")
    )));

    // Limits.
    let long_notes = ContactDetails {
        notes: Some("n".repeat(2_001)),
        ..contact(ContactRole::Dpo, "Dee Pee")
    };
    assert_eq!(
        invalid_field(s.set_contact(a, None, &long_notes, &by).await.unwrap_err()),
        "contact notes"
    );
    let bad_phone = ContactDetails {
        phone: Some("1".repeat(51)),
        ..contact(ContactRole::Dpo, "Dee Pee")
    };
    assert_eq!(
        invalid_field(s.set_contact(a, None, &bad_phone, &by).await.unwrap_err()),
        "contact phone"
    );
    assert_eq!(
        invalid_field(
            s.set_contact(a, None, &contact(ContactRole::Dpo, ""), &by)
                .await
                .unwrap_err()
        ),
        "contact name"
    );
    assert_eq!(
        invalid_field(
            s.set_contact(
                SchoolId(424_242),
                None,
                &contact(ContactRole::Dpo, "X"),
                &by
            )
            .await
            .unwrap_err()
        ),
        "school"
    );
    for role in ContactRole::ALL {
        assert_eq!(ContactRole::parse(role.as_str()), Some(role));
    }
}

fn check(school: SchoolId, at: Timestamp, what: &str, follow_up: Option<&str>) -> NewCheck {
    NewCheck {
        school,
        at,
        checked_by: "net.manager".to_owned(),
        what: what.to_owned(),
        target: "group:ks2".to_owned(),
        method: CheckMethod::Manual,
        result: CheckResult::Pass,
        details: String::new(),
        follow_up: follow_up.map(str::to_owned),
    }
}

async fn check_log_pages_newest_first_and_follow_ups(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let b = school(s, "beta").await;
    let t0 = Timestamp::from_microsecond(1_767_000_000_123_456).unwrap();
    let mut ids = Vec::new();
    for i in 0..25_i64 {
        let id = s
            .add_check(&check(a, t0 + i.minutes(), &format!("check {i}"), None))
            .await
            .unwrap();
        ids.push(id);
    }
    s.add_check(&check(b, t0, "beta check", None))
        .await
        .unwrap();
    let long_details = "line of a self-test report\n".repeat(5_000);
    let full = NewCheck {
        at: t0 + 24.hours(),
        method: CheckMethod::SelfTest,
        result: CheckResult::Partial,
        details: long_details.clone(),
        checked_by: "system:self-test".to_owned(),
        target: "device:library-ipad-3".to_owned(),
        ..check(
            a,
            t0,
            "illegal lists <IWF> & CTIRU",
            Some("ask the ISP about 'x'"),
        )
    };
    let full_id = s.add_check(&full).await.unwrap();
    assert_eq!(s.count_checks(a).await.unwrap(), 26);
    assert_eq!(s.count_checks(b).await.unwrap(), 1);

    let page1 = s.checks(a, 0, 10).await.unwrap();
    assert_eq!(page1.len(), 10);
    assert_eq!(page1[0].id, full_id, "newest first");
    assert_eq!(page1[0].check, full, "every field round-trips");
    assert_eq!(page1[0].follow_up_done_at, None);
    assert_eq!(page1[1].check.what, "check 24");
    let page3 = s.checks(a, 20, 10).await.unwrap();
    assert_eq!(page3.len(), 6);
    assert_eq!(page3.last().unwrap().id, ids[0]);
    assert!(s.checks(a, 30, 10).await.unwrap().is_empty());
    assert_eq!(
        s.checks(a, 0, 100_000).await.unwrap().len(),
        26,
        "limit capped, not refused"
    );
    let one = s.check(a, full_id).await.unwrap().expect("found by id");
    assert_eq!(one.check, full);
    assert_eq!(
        s.check(b, full_id).await.unwrap(),
        None,
        "not through another school"
    );

    // Follow-ups: only once, only with a follow-up, only in its own school.
    let done_at = t0 + 48.hours();
    let by = ActingUser::new("osl");
    assert!(
        !s.complete_check_follow_up(b, full_id, done_at, &by)
            .await
            .unwrap()
    );
    assert!(
        !s.complete_check_follow_up(a, ids[0], done_at, &by)
            .await
            .unwrap(),
        "none to do"
    );
    assert!(
        s.complete_check_follow_up(a, full_id, done_at, &by)
            .await
            .unwrap()
    );
    assert!(
        !s.complete_check_follow_up(a, full_id, done_at, &by)
            .await
            .unwrap(),
        "done already"
    );
    let got = &s.checks(a, 0, 1).await.unwrap()[0];
    assert_eq!(got.follow_up_done_at, Some(done_at));
    assert_eq!(got.follow_up_done_by.as_deref(), Some("osl"));
    let audit = audit_actions(s, Some(a)).await;
    assert_eq!(
        audit[0],
        (
            "osl".to_owned(),
            "check.follow_up_done".to_owned(),
            format!("check:{full_id}")
        )
    );

    // Limits.
    let cases = [
        (
            NewCheck {
                what: String::new(),
                ..full.clone()
            },
            "what was checked",
        ),
        (
            NewCheck {
                what: "w".repeat(501),
                ..full.clone()
            },
            "what was checked",
        ),
        (
            NewCheck {
                target: " ".to_owned(),
                ..full.clone()
            },
            "check target",
        ),
        (
            NewCheck {
                checked_by: String::new(),
                ..full.clone()
            },
            "checked by",
        ),
        (
            NewCheck {
                details: "d".repeat(200_001),
                ..full.clone()
            },
            "check details",
        ),
        (
            NewCheck {
                details: "bell\u{7}".to_owned(),
                ..full.clone()
            },
            "check details",
        ),
        (
            NewCheck {
                follow_up: Some("f".repeat(2_001)),
                ..full.clone()
            },
            "check follow-up",
        ),
    ];
    for (input, field) in cases {
        assert_eq!(invalid_field(s.add_check(&input).await.unwrap_err()), field);
    }
    let e = s
        .add_check(&check(SchoolId(424_242), t0, "x", None))
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "school");
}

fn review(school: SchoolId, held_on: jiff::civil::Date, roles: &[&str]) -> NewAnnualReview {
    NewAnnualReview {
        school,
        held_on,
        participants: roles
            .iter()
            .enumerate()
            .map(|(i, role)| ReviewParticipant {
                name: format!("Person {i}"),
                role: (*role).to_owned(),
            })
            .collect(),
        findings: "Filtering works.\nMonitoring reports reach the DSL daily.".to_owned(),
        next_due: held_on.checked_add(1.year()).unwrap(),
        actions: vec![
            NewReviewAction {
                action: "Add the new iPads to the ks2 group".to_owned(),
                owner: "Network manager".to_owned(),
                due_on: Some(held_on.checked_add(1.month()).unwrap()),
            },
            NewReviewAction {
                action: "Staff training on reporting".to_owned(),
                owner: "DSL".to_owned(),
                due_on: None,
            },
        ],
    }
}

async fn annual_review_requires_a_governor(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let by = head();
    let held = date(2026, 3, 2);
    let e = s
        .add_annual_review(
            &review(a, held, &["dsl", "headteacher", "network-manager"]),
            &by,
        )
        .await
        .expect_err("no governor");
    let message = e.to_string();
    assert!(message.contains("governor"), "{message}");
    assert_eq!(invalid_field(e), "review participants");
    let e = s
        .add_annual_review(&review(a, held, &[]), &by)
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "review participants");
    assert!(
        s.annual_reviews(a).await.unwrap().is_empty(),
        "nothing stored"
    );
    assert_eq!(s.next_review_due(a).await.unwrap(), None);

    s.add_annual_review(&review(a, held, &["dsl", "governor"]), &by)
        .await
        .expect("governor");
    s.add_annual_review(
        &review(a, date(2027, 3, 1), &["online-safety-governor"]),
        &by,
    )
    .await
    .expect("the online-safety governor counts");

    // Other checks.
    let same_day = NewAnnualReview {
        next_due: held,
        ..review(a, held, &["governor"])
    };
    assert_eq!(
        invalid_field(s.add_annual_review(&same_day, &by).await.unwrap_err()),
        "next review due date"
    );
    let bad_role = review(a, held, &["governor", "Chair of Governors"]);
    assert_eq!(
        invalid_field(s.add_annual_review(&bad_role, &by).await.unwrap_err()),
        "review participant role"
    );
    let empty_findings = NewAnnualReview {
        findings: " ".to_owned(),
        ..review(a, held, &["governor"])
    };
    assert_eq!(
        invalid_field(s.add_annual_review(&empty_findings, &by).await.unwrap_err()),
        "review findings"
    );
    let mut long_action = review(a, held, &["governor"]);
    long_action.actions[0].action = "a".repeat(2_001);
    assert_eq!(
        invalid_field(s.add_annual_review(&long_action, &by).await.unwrap_err()),
        "review action"
    );
    let ancient = review(a, date(1066, 10, 14), &["governor"]);
    assert_eq!(
        invalid_field(s.add_annual_review(&ancient, &by).await.unwrap_err()),
        "review date"
    );
    let e = s
        .add_annual_review(&review(SchoolId(424_242), held, &["governor"]), &by)
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "school");
    assert_eq!(s.annual_reviews(a).await.unwrap().len(), 2);
}

async fn annual_reviews_round_trip_actions_and_next_due(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let b = school(s, "beta").await;
    let by = head();
    let first = review(a, date(2025, 3, 3), &["dsl", "governor", "headteacher"]);
    let first_id = s.add_annual_review(&first, &by).await.unwrap();
    let second = NewAnnualReview {
        next_due: date(2026, 9, 1),
        ..review(a, date(2026, 2, 27), &["governor"])
    };
    let second_id = s.add_annual_review(&second, &by).await.unwrap();
    s.add_annual_review(&review(b, date(2026, 1, 5), &["governor"]), &by)
        .await
        .unwrap();

    let list = s.annual_reviews(a).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, second_id, "most recent first");
    assert_eq!(list[1].id, first_id);
    let got = &list[1];
    assert_eq!(got.school, a);
    assert_eq!(got.held_on, first.held_on);
    assert_eq!(got.next_due, first.next_due);
    assert_eq!(got.findings, first.findings);
    assert_eq!(got.participants, first.participants, "in the order given");
    assert_eq!(got.recorded_by, "head");
    let actions: Vec<_> = got.actions.iter().map(|a| a.action.clone()).collect();
    assert_eq!(actions, first.actions);
    assert!(
        got.actions
            .iter()
            .all(|a| a.done_at.is_none() && a.done_by.is_none())
    );

    assert_eq!(s.next_review_due(a).await.unwrap(), Some(date(2026, 9, 1)));
    assert_eq!(s.next_review_due(b).await.unwrap(), Some(date(2027, 1, 5)));

    // Mark an action done: once, and only within its school.
    let action = got.actions[0].id;
    let at = Timestamp::from_microsecond(1_767_000_000_123_456).unwrap();
    let osl = ActingUser::new("osl");
    assert!(
        !s.complete_review_action(b, action, at, &osl).await.unwrap(),
        "not beta's"
    );
    assert!(s.complete_review_action(a, action, at, &osl).await.unwrap());
    assert!(
        !s.complete_review_action(a, action, at, &osl).await.unwrap(),
        "already done"
    );
    let got = s.annual_reviews(a).await.unwrap().remove(1);
    assert_eq!(got.actions[0].done_at, Some(at));
    assert_eq!(got.actions[0].done_by.as_deref(), Some("osl"));
    assert_eq!(got.actions[1].done_at, None);

    let audit = s.audit_entries(Some(a), 10).await.unwrap();
    assert_eq!(audit[0].entry.action, "review.action_done");
    assert_eq!(audit[0].entry.target, format!("review_action:{action}"));
    assert_eq!(audit[0].entry.school, Some(a));
    let annual: Vec<_> = audit
        .iter()
        .filter(|r| r.entry.action == "review.annual")
        .map(|r| r.entry.target.clone())
        .collect();
    assert_eq!(
        annual,
        vec![
            format!("annual_review:{second_id}"),
            format!("annual_review:{first_id}")
        ]
    );
}
