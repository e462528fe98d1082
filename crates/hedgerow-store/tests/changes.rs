//! The change log under change control, on a fresh SQLite file and a fresh PostgreSQL
//! database, with the harness in `common/mod.rs` (PostgreSQL from
//! `HEDGEROW_TEST_POSTGRES_URL`; skipped loudly without it unless `HEDGEROW_REQUIRE_POSTGRES`
//! is set).

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::TestDb;
use hedgerow_store::{
    ChangeFilter, ChangeStatus, NewPolicyChange, NewReviewRequest, ReviewKind, ReviewStatus,
    SchoolId, Store, Verdict,
};
use jiff::{Timestamp, ToSpan};

fn change(school: SchoolId, by: &str, kind: &str, diff: &str) -> NewPolicyChange {
    NewPolicyChange {
        school,
        created_by: by.into(),
        reason: format!("{diff}, because the lesson needs it"),
        kind: kind.into(),
        change: format!(r#"{{"type":"test","diff":"{diff}"}}"#),
        diff: diff.into(),
        applies_until: None,
        source: "admin".into(),
    }
}

async fn scenario(store: &Store) {
    let school = store
        .ensure_school("oak", "Oak Primary", "Europe/London")
        .await
        .unwrap();
    let t0: Timestamp = "2025-03-03T09:00:00Z".parse().unwrap();
    assert_eq!(
        store.approval_rules(school).await.unwrap(),
        vec!["unblock-for-pupils"]
    );
    let v0 = store.changes_version().await.unwrap();

    // A block applies at once; an unblock for pupils waits for a second person.
    let block = store
        .propose_change(
            &change(school, "teacher", "block", "site a.example: → block"),
            t0,
        )
        .await
        .unwrap();
    assert_eq!(block.status, ChangeStatus::Applied);
    assert_eq!(block.applied_at, Some(t0));
    let unblock = store
        .propose_change(
            &change(
                school,
                "teacher",
                "unblock-for-pupils",
                "ks2: gambling block → allow",
            ),
            t0 + 1.minute(),
        )
        .await
        .unwrap();
    assert_eq!(unblock.status, ChangeStatus::PendingApproval);
    assert_ne!(store.changes_version().await.unwrap(), v0);
    let active = store
        .active_changes(school, t0 + 2.minutes())
        .await
        .unwrap();
    assert_eq!(
        active.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![block.id]
    );

    // A reason is required.
    let mut no_reason = change(school, "teacher", "block", "x");
    no_reason.reason = "  ".into();
    assert!(store.propose_change(&no_reason, t0).await.is_err());

    // Nobody approves their own change; someone else can, once.
    let err = store
        .approve_change(school, unblock.id, "teacher", t0 + 3.minutes())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("different person"), "{err}");
    let approved = store
        .approve_change(school, unblock.id, "lead", t0 + 4.minutes())
        .await
        .unwrap();
    assert_eq!(approved.status, ChangeStatus::Applied);
    assert_eq!(approved.approved_by.as_deref(), Some("lead"));
    assert!(
        store
            .approve_change(school, unblock.id, "head", t0 + 5.minutes())
            .await
            .is_err()
    );
    let active = store
        .active_changes(school, t0 + 5.minutes())
        .await
        .unwrap();
    assert_eq!(
        active.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![block.id, unblock.id]
    );

    // Rejection needs a reason and leaves the policy alone.
    let third = store
        .propose_change(
            &change(
                school,
                "teacher",
                "unblock-for-pupils",
                "ks1: online-games block → allow",
            ),
            t0 + 6.minutes(),
        )
        .await
        .unwrap();
    assert!(
        store
            .reject_change(school, third.id, "lead", "", t0)
            .await
            .is_err()
    );
    let rejected = store
        .reject_change(
            school,
            third.id,
            "lead",
            "Not in lessons.",
            t0 + 7.minutes(),
        )
        .await
        .unwrap();
    assert_eq!(rejected.status, ChangeStatus::Rejected);
    assert_eq!(rejected.rejected_reason.as_deref(), Some("Not in lessons."));

    // Time-limited changes stop applying at their end, and are marked expired.
    let mut lesson = change(
        school,
        "teacher",
        "override",
        "site b.example for staff: → allow",
    );
    lesson.applies_until = Some(t0 + 1.hour());
    let lesson = store
        .propose_change(&lesson, t0 + 8.minutes())
        .await
        .unwrap();
    assert!(
        store
            .active_changes(school, t0 + 30.minutes())
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == lesson.id)
    );
    assert_eq!(
        store.next_change_expiry(t0 + 30.minutes()).await.unwrap(),
        Some(t0 + 1.hour())
    );
    assert!(
        !store
            .active_changes(school, t0 + 1.hour())
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == lesson.id)
    );
    assert_eq!(store.expire_changes(t0 + 1.hour()).await.unwrap(), 1);
    assert_eq!(
        store
            .policy_change(school, lesson.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ChangeStatus::Expired
    );

    // Revert.
    let reverted = store
        .revert_change(
            school,
            block.id,
            "lead",
            "Blocked by mistake.",
            t0 + 2.hours(),
        )
        .await
        .unwrap();
    assert_eq!(reverted.status, ChangeStatus::Reverted);

    // Approval rules are the school's to choose.
    store
        .set_approval_rules(school, &["block"], "head")
        .await
        .unwrap();
    let pending_block = store
        .propose_change(
            &change(school, "teacher", "block", "site c.example: → block"),
            t0 + 3.hours(),
        )
        .await
        .unwrap();
    assert_eq!(pending_block.status, ChangeStatus::PendingApproval);
    assert!(
        store
            .set_approval_rules(school, &["Not A Kind"], "head")
            .await
            .is_err()
    );

    // Search: text (any case), kind, status, person, time; paging; count.
    let mut filter = ChangeFilter::school(school);
    filter.text = Some("GAMBLING".into());
    let found = store.search_changes(&filter).await.unwrap();
    assert_eq!(
        found.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![unblock.id]
    );
    let mut filter = ChangeFilter::school(school);
    filter.text = Some("100%_".into());
    assert!(store.search_changes(&filter).await.unwrap().is_empty());
    let mut filter = ChangeFilter::school(school);
    filter.person = Some("lead".into());
    assert_eq!(store.count_changes(&filter).await.unwrap(), 3);
    let mut filter = ChangeFilter::school(school);
    filter.status = Some(ChangeStatus::PendingApproval);
    filter.kind = Some("block".into());
    assert_eq!(store.search_changes(&filter).await.unwrap().len(), 1);
    let mut filter = ChangeFilter::school(school);
    filter.since = Some(t0 + 5.minutes());
    filter.until = Some(t0 + 9.minutes());
    assert_eq!(store.count_changes(&filter).await.unwrap(), 2);
    let mut page = ChangeFilter::school(school);
    page.limit = 2;
    page.offset = 2;
    let second = store.search_changes(&page).await.unwrap();
    assert_eq!(second.len(), 2);
    assert_eq!(second[0].id, third.id, "newest first");

    // Export.
    let csv = store
        .export_changes_csv(&ChangeFilter::school(school), "head")
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,created_at,created_by,kind,status,reason,diff"));
    assert_eq!(lines.len(), 1 + 5);
    assert!(csv.contains("\"ks2: gambling block → allow, because the lesson needs it\""));
    let audit = store.audit_entries(Some(school), 50).await.unwrap();
    for action in [
        "policy.change",
        "policy.approve",
        "policy.reject",
        "policy.revert",
        "policy.export",
    ] {
        assert!(audit.iter().any(|a| a.entry.action == action), "{action}");
    }

    // Review requests: approval records the change and decides the request together.
    let request = |url: &str| NewReviewRequest {
        school,
        created_at: t0,
        requested_by_user: Some("pupil".into()),
        device: None,
        client_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
        url: url.into(),
        host: "games.example".into(),
        kind: ReviewKind::ShouldNotBeBlocked,
        verdict_at_request: Verdict::Block,
        category: Some("online-games".into()),
        rule: None,
        comment: String::new(),
    };
    let r1 = store
        .insert_review_request(&request("http://games.example/"))
        .await
        .unwrap();
    let mut from_review = change(
        school,
        "teacher",
        "override",
        "site games.example for staff: → allow",
    );
    from_review.source = format!("review-request:{r1}");
    from_review.applies_until = Some(t0 + 5.hours());
    let made = store
        .approve_review_request(
            r1,
            &from_review,
            "lead",
            Some("For this lesson"),
            t0 + 4.hours(),
        )
        .await
        .unwrap();
    assert_eq!(made.status, ChangeStatus::Applied);
    assert_eq!(
        made.approved_by.as_deref(),
        Some("lead"),
        "the decider approved it"
    );
    assert_eq!(made.source, format!("review-request:{r1}"));
    let decided = store.review_requests(school, None, 10).await.unwrap();
    assert_eq!(decided[0].status, ReviewStatus::Approved);
    assert_eq!(decided[0].decision_note.as_deref(), Some("For this lesson"));
    assert!(
        store
            .approve_review_request(r1, &from_review, "lead", None, t0 + 4.hours())
            .await
            .is_err(),
        "a decided request cannot be approved again"
    );
    let r2 = store
        .insert_review_request(&request("http://games.example/2"))
        .await
        .unwrap();
    let declined = store
        .decline_review_request(
            school,
            r2,
            "lead",
            "Games stay blocked in lessons.",
            "review request: no change",
            t0 + 4.hours(),
        )
        .await
        .unwrap();
    assert_eq!(declined.status, ChangeStatus::Rejected);
    assert_eq!(declined.kind, "review-decline");
    assert!(
        !store
            .active_changes(school, t0 + 4.hours())
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == declined.id)
    );
    let statuses: Vec<ReviewStatus> = store
        .review_requests(school, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.status)
        .collect();
    assert!(statuses.contains(&ReviewStatus::Declined));

    // Unblocking for pupils needs a second person: the one deciding someone else's request
    // is that person; deciding one's own request leaves the change waiting.
    store
        .set_approval_rules(school, &["unblock-for-pupils"], "lead")
        .await
        .unwrap();
    let mut unblock = from_review.clone();
    unblock.kind = "unblock-for-pupils".into();
    let r3 = store
        .insert_review_request(&request("http://games.example/3"))
        .await
        .unwrap();
    let decided_by_other = store
        .approve_review_request(r3, &unblock, "lead", Some("Fine"), t0 + 4.hours())
        .await
        .unwrap();
    assert_eq!(decided_by_other.status, ChangeStatus::Applied);
    assert_eq!(decided_by_other.approved_by.as_deref(), Some("lead"));
    let r4 = store
        .insert_review_request(&request("http://games.example/4"))
        .await
        .unwrap();
    let own = store
        .approve_review_request(r4, &unblock, "teacher", Some("Mine"), t0 + 4.hours())
        .await
        .unwrap();
    assert_eq!(own.status, ChangeStatus::PendingApproval);
    assert_eq!(own.approved_by, None);
}

#[tokio::test]
async fn change_control_on_sqlite() {
    let db = TestDb::sqlite().await;
    scenario(&db.store).await;
    db.cleanup().await;
}

#[tokio::test]
async fn change_control_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    scenario(&db.store).await;
    db.cleanup().await;
}
