//! API tokens in the store, run against every backend with the harness in `common/mod.rs`:
//! each scenario is an `async fn(&TestDb)` run once on a fresh SQLite file and once on a fresh
//! PostgreSQL database (from `HEDGEROW_TEST_POSTGRES_URL`; skipped loudly without it unless
//! `HEDGEROW_REQUIRE_POSTGRES` is set).

mod common;

use common::{PASSWORD_HASH, TestDb, backend_tests, head, invalid_field, school};
use hedgerow_store::{
    ActingUser, AdminAccountId, ApiTokenId, MAX_ACTIVE_TOKENS, NewAdminAccount, SchoolId, Store,
    USE_RECORD_INTERVAL,
};
use jiff::{SignedDuration, Timestamp};

backend_tests!(
    tokens_round_trip_revoke_and_audit,
    token_input_is_checked,
    active_tokens_are_bounded_per_account,
    token_use_is_recorded_at_most_once_a_minute,
    the_database_holds_only_hashes,
);

async fn account(store: &Store, school: Option<SchoolId>, username: &str) -> AdminAccountId {
    store
        .create_admin_account(
            &NewAdminAccount {
                school,
                username: username.to_owned(),
                display_name: format!("{username} (test)"),
                email: format!("{username}@example.org"),
                password_hash: PASSWORD_HASH.to_owned(),
                roles: vec!["network-manager".to_owned()],
            },
            &head(),
        )
        .await
        .expect("create account")
}

/// A distinct hash-shaped value per seed (the store never hashes anything itself).
fn hash(seed: u32) -> String {
    format!("{seed:064x}")
}

/// The newest audit records (actor, action, target, address) of a school, or of every school
/// and the store-wide ones with `None`, newest first.
async fn audit(
    store: &Store,
    school: Option<SchoolId>,
) -> Vec<(String, String, String, Option<String>)> {
    store
        .audit_entries(school, 100)
        .await
        .expect("audit entries")
        .into_iter()
        .map(|r| {
            (
                r.entry.actor,
                r.entry.action,
                r.entry.target,
                r.entry.from_addr,
            )
        })
        .collect()
}

async fn tokens_round_trip_revoke_and_audit(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let nm = account(s, Some(a), "nm").await;
    let other = account(s, Some(a), "other").await;
    let before = Timestamp::now();
    let id = s
        .create_api_token(nm, "timetable <sync>", &hash(1), &head())
        .await
        .expect("create token");
    let listed = s.api_tokens(nm).await.expect("list");
    assert_eq!(listed.len(), 1);
    let token = &listed[0];
    assert_eq!(token.id, id);
    assert_eq!(token.account, nm);
    assert_eq!(token.name, "timetable <sync>", "stored exactly as given");
    assert!(token.created_at >= before && token.created_at <= Timestamp::now());
    assert_eq!(token.last_used_at, None);
    assert!(token.is_active());
    assert!(
        s.api_tokens(other).await.expect("list").is_empty(),
        "tokens are per account"
    );

    let found = s.active_api_token(&hash(1)).await.expect("look up");
    assert_eq!(found.as_ref(), Some(token));
    assert_eq!(s.active_api_token(&hash(2)).await.expect("look up"), None);
    assert_eq!(
        s.active_api_token("hr_not-a-hash").await.expect("look up"),
        None
    );
    assert_eq!(s.active_api_token("").await.expect("look up"), None);

    let created = audit(s, Some(a)).await;
    assert_eq!(
        created[0],
        (
            "head".to_owned(),
            "api_token.create".to_owned(),
            format!("api_token:{id}"),
            Some("10.9.8.7".to_owned())
        )
    );

    // Another account cannot revoke it, and nothing is audited for the attempt.
    assert!(
        !s.revoke_api_token(other, id, &head())
            .await
            .expect("revoke")
    );
    assert_eq!(audit(s, Some(a)).await.len(), created.len());
    assert!(s.revoke_api_token(nm, id, &head()).await.expect("revoke"));
    assert!(
        !s.revoke_api_token(nm, id, &head())
            .await
            .expect("revoke twice"),
        "once only"
    );
    assert!(
        !s.revoke_api_token(nm, ApiTokenId(9_999), &head())
            .await
            .expect("revoke")
    );
    assert_eq!(
        s.active_api_token(&hash(1)).await.expect("look up"),
        None,
        "revoked"
    );
    let listed = s.api_tokens(nm).await.expect("list");
    assert!(!listed[0].is_active());
    assert!(listed[0].revoked_at.is_some());
    assert_eq!(listed[0].revoked_by.as_deref(), Some("head"));
    let revoked = audit(s, Some(a)).await;
    assert_eq!(revoked.len(), created.len() + 1);
    assert_eq!(revoked[0].1, "api_token.revoke");
    assert_eq!(revoked[0].2, format!("api_token:{id}"));

    // A trust-wide account's token is audited store-wide.
    let trust = account(s, None, "trust").await;
    let trust_token = s
        .create_api_token(
            trust,
            "trust dashboard",
            &hash(3),
            &ActingUser::new("trust"),
        )
        .await
        .expect("create trust token");
    let everything = audit(s, None).await;
    assert!(
        everything
            .iter()
            .any(|e| e.1 == "api_token.create" && e.2 == format!("api_token:{trust_token}")),
        "{everything:?}"
    );
    assert!(
        !audit(s, Some(a))
            .await
            .iter()
            .any(|e| e.2 == format!("api_token:{trust_token}")),
        "not in a school's log"
    );
}

async fn token_input_is_checked(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let nm = account(s, Some(a), "nm").await;
    for bad in [
        "",
        "hr_abcdef",
        &"AB".repeat(32),
        &"a".repeat(65),
        &"g".repeat(64),
    ] {
        let e = s
            .create_api_token(nm, "name", bad, &head())
            .await
            .unwrap_err();
        assert_eq!(invalid_field(e), "API token hash", "{bad:?}");
    }
    for bad in ["", "   ", "line\nbreak", &"n".repeat(101)] {
        let e = s
            .create_api_token(nm, bad, &hash(1), &head())
            .await
            .unwrap_err();
        assert_eq!(invalid_field(e), "API token name", "{bad:?}");
    }
    let e = s
        .create_api_token(AdminAccountId(9_999), "name", &hash(1), &head())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "account");
    let e = s
        .create_api_token(nm, "name", &hash(1), &ActingUser::new(""))
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "acting user");

    s.create_api_token(nm, "first", &hash(1), &head())
        .await
        .expect("create");
    let e = s
        .create_api_token(nm, "again", &hash(1), &head())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "API token", "the same hash twice");

    // A disabled account can hold no new token (and the caller refuses its old ones).
    assert!(
        s.set_admin_disabled(nm, true, &head())
            .await
            .expect("disable")
    );
    let e = s
        .create_api_token(nm, "later", &hash(2), &head())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "account");
    assert_eq!(
        s.api_tokens(nm).await.expect("list").len(),
        1,
        "nothing half-made"
    );
}

async fn active_tokens_are_bounded_per_account(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let nm = account(s, Some(a), "nm").await;
    let limit = u32::try_from(MAX_ACTIVE_TOKENS).expect("small");
    let mut first = None;
    for n in 0..limit {
        let id = s
            .create_api_token(nm, &format!("token {n}"), &hash(n), &head())
            .await
            .expect("create within the limit");
        first.get_or_insert(id);
    }
    let e = s
        .create_api_token(nm, "one too many", &hash(limit), &head())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "API tokens");
    assert!(
        s.revoke_api_token(nm, first.expect("made some"), &head())
            .await
            .expect("revoke")
    );
    s.create_api_token(nm, "replacement", &hash(limit), &head())
        .await
        .expect("room again after a revocation");
    let listed = s.api_tokens(nm).await.expect("list");
    assert_eq!(listed.len(), limit as usize + 1);
    assert_eq!(listed[0].name, "replacement", "newest first");
}

async fn token_use_is_recorded_at_most_once_a_minute(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let nm = account(s, Some(a), "nm").await;
    let id = s
        .create_api_token(nm, "script", &hash(1), &head())
        .await
        .expect("create");
    // Times are stored to the microsecond.
    let t0 = Timestamp::from_microsecond(Timestamp::now().as_microsecond()).expect("in range");
    assert!(s.record_api_token_use(id, t0).await.expect("first use"));
    let soon = t0 + SignedDuration::from_secs(10);
    assert!(!s.record_api_token_use(id, soon).await.expect("soon after"));
    let token = s
        .active_api_token(&hash(1))
        .await
        .expect("look up")
        .expect("active");
    assert_eq!(token.last_used_at, Some(t0));
    let later = t0 + USE_RECORD_INTERVAL + SignedDuration::from_secs(1);
    assert!(s.record_api_token_use(id, later).await.expect("later"));
    let token = s
        .active_api_token(&hash(1))
        .await
        .expect("look up")
        .expect("active");
    assert_eq!(token.last_used_at, Some(later));
    assert!(
        !s.record_api_token_use(ApiTokenId(9_999), later)
            .await
            .expect("unknown")
    );
}

async fn the_database_holds_only_hashes(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let nm = account(s, Some(a), "nm").await;
    s.create_api_token(nm, "script", &hash(7), &head())
        .await
        .expect("create");
    assert_eq!(
        db.texts("SELECT token_hash FROM api_tokens").await,
        vec![hash(7)]
    );
    // The audit log names the token by id and name, never by its hash.
    let details = db.texts("SELECT detail FROM audit_log").await;
    assert!(details.iter().all(|d| !d.contains(&hash(7))), "{details:?}");
}
