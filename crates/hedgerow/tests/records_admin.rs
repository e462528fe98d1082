//! Records management in the admin app, against the real binary (SQLite; the support code
//! starts the gateway on SQLite only, and the store's own tests cover PostgreSQL):
//!
//! - a record past its review date is on `/records` (an allegation against staff only for the
//!   headteacher); a legal hold blocks destruction and ending it allows it; destruction
//!   leaves a certificate whose SHA-256 is the record's JSON as it was, and the record and its
//!   rows are gone;
//! - a subject-access export is a JSON file holding the subject's record with another pupil
//!   redacted (and no allegation for a reader who is not the headteacher), and every read of it
//!   is in the audit log;
//! - a transfer gives a sealed bundle and its checksum, the log shows the due date five school
//!   days later, receipt can be confirmed once; the bundle received back is imported, while a
//!   tampered bundle and a wrong checksum are refused and import nothing.

mod support;

use std::path::Path;
use std::process::Command;

use hedgerow_store::{
    ActingUser, ConcernId, NewRecord, PersonInvolved, Reader, RecordFilter, SchoolId, Store,
};
use jiff::civil::{Date, Weekday};
use jiff::{SignedDuration, Timestamp};
use support::admin::{AdminSite, Client, StaffAccount, location, with_database};
use support::*;

async fn school_of(store: &Store) -> SchoolId {
    store
        .school_by_slug("test-school")
        .await
        .unwrap()
        .expect("the gateway stored its school")
        .id
}

fn seeder() -> ActingUser {
    ActingUser::new("seed.teacher".to_owned())
}

fn test_reader() -> Reader {
    Reader {
        actor: "test".into(),
        from_addr: None,
        purpose: "checking the test".into(),
    }
}

/// A record about pupil.a, with Bo Other (another pupil) said to be responsible.
fn record_about_pupil_a(record_type: &str, reported_at: Timestamp, summary: &str) -> NewRecord {
    NewRecord {
        record_type: record_type.into(),
        reporter: "Ms Class Teacher".into(),
        reported_at,
        incident_at: None,
        location: "in-school".into(),
        people: vec![
            PersonInvolved {
                person_role: "pupil".into(),
                involvement: "affected".into(),
                display_name: "Pupil A".into(),
                username: Some("pupil.a".into()),
                date_of_birth: Some("2014-02-28".parse().unwrap()),
            },
            PersonInvolved {
                person_role: "pupil".into(),
                involvement: "responsible".into(),
                display_name: "Bo Other".into(),
                username: Some("bo.other".into()),
                date_of_birth: None,
            },
        ],
        types: vec!["cyberbullying".into()],
        summary: summary.into(),
        disclosure: "She said the messages made her scared to come in".into(),
        observations: "Bo Other sent the messages at lunchtime; seen by Ms Class Teacher".into(),
        websites: String::new(),
        apps_games: "ChatApp".into(),
        online_names: "bo_the_bold".into(),
        evidence_description: "Screenshots described by the teacher; phone secured".into(),
        alert_ids: Vec::new(),
    }
}

/// An allegation against a member of staff, with pupil.a as the witness.
fn allegation(reported_at: Timestamp) -> NewRecord {
    NewRecord {
        record_type: "staff-allegation".into(),
        people: vec![
            PersonInvolved {
                person_role: "staff".into(),
                involvement: "responsible".into(),
                display_name: "Mr Alleged Staff".into(),
                username: None,
                date_of_birth: None,
            },
            PersonInvolved {
                person_role: "pupil".into(),
                involvement: "witness".into(),
                display_name: "Pupil A".into(),
                username: Some("pupil.a".into()),
                date_of_birth: None,
            },
        ],
        types: vec!["aup-breach".into()],
        summary: "Allegation: messages to a pupil on a personal account".into(),
        observations: "Mr Alleged Staff messaged Pupil A".into(),
        ..record_about_pupil_a("staff-allegation", reported_at, "")
    }
}

/// Saves and closes `record` in the running gateway's store; its id.
fn seed_closed(dir: &Path, database: Option<&str>, record: NewRecord, outcome: &str) -> ConcernId {
    with_database(dir, database, async |store| {
        let school = school_of(&store).await;
        let id = store
            .create_record(school, &record, &seeder())
            .await
            .unwrap();
        store
            .add_action(
                school,
                id,
                "parents-informed",
                "Phoned mum",
                Timestamp::now(),
                &seeder(),
            )
            .await
            .unwrap();
        store
            .close_record(
                school,
                id,
                outcome,
                Some("Dealt with in school; no risk of harm found"),
                &seeder(),
            )
            .await
            .unwrap();
        id
    })
}

fn years_ago(years: i64) -> Timestamp {
    Timestamp::now() - SignedDuration::from_hours(24 * 366 * years)
}

/// Rows of `table` left for `concern`, read with the `sqlite3` tool from the SQLite store;
/// `None` on PostgreSQL or without the tool (the store's own tests count them on both).
fn count_rows(dir: &Path, database: Option<&str>, table: &str, concern: ConcernId) -> Option<i64> {
    if database.is_some() || !have_tools(&["sqlite3"]) {
        return None;
    }
    let out = Command::new("sqlite3")
        .arg("-readonly")
        .arg(dir.join("data/hedgerow.db"))
        .arg(format!(
            "SELECT COUNT(*) FROM {table} WHERE concern_id = {}",
            concern.0
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The value of response header `name` (lower case), trimmed.
fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

#[test]
fn review_legal_hold_and_destruction_with_a_certificate() {
    review_legal_hold_and_destruction_with_a_certificate_on(None);
}

#[test]
fn review_legal_hold_and_destruction_with_a_certificate_on_postgresql() {
    if let Some(url) = postgres_database() {
        review_legal_hold_and_destruction_with_a_certificate_on(Some(&url));
    }
}

fn review_legal_hold_and_destruction_with_a_certificate_on(database: Option<&str>) {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), &database_table(database));
    let dsl = StaffAccount::create(&config, "ds", "dsl");
    let head = StaffAccount::create(&config, "hd", "headteacher");
    let teacher = StaffAccount::create(&config, "tc", "teacher");
    let site = AdminSite::start(&config, dir.path(), &[]);

    let old = seed_closed(
        dir.path(),
        database,
        record_about_pupil_a("online-safety", years_ago(8), "Old cyberbullying case"),
        "Apology and restorative meeting",
    );
    let recent = seed_closed(
        dir.path(),
        database,
        record_about_pupil_a("online-safety", Timestamp::now(), "Recent case"),
        "Resolved",
    );
    let old_allegation = seed_closed(
        dir.path(),
        database,
        allegation(years_ago(12)),
        "Unfounded after LADO advice",
    );

    let client = site.signed_in(&dsl);
    let overview = client.page("/records");
    assert!(
        overview.contains(&format!("id=\"review-{}\"", old.0)),
        "{overview}"
    );
    assert!(!overview.contains(&format!("id=\"review-{}\"", recent.0)));
    assert!(
        !overview.contains(&format!("id=\"review-{}\"", old_allegation.0)),
        "an allegation against staff is not the DSL's to see"
    );
    assert!(overview.contains("href=\"/records/subject-access\""));
    assert!(overview.contains("href=\"/records/transfers\""));
    let head_client = site.signed_in(&head);
    let head_overview = head_client.page("/records");
    assert!(head_overview.contains(&format!("id=\"review-{}\"", old_allegation.0)));
    assert!(head_overview.contains(&format!("id=\"review-{}\"", old.0)));
    // The teacher has neither the page nor the link.
    let teacher_client = site.signed_in(&teacher);
    assert_eq!(teacher_client.get("/records").status, 403);
    assert!(!teacher_client.page("/").contains("href=\"/records\""));
    assert!(client.page("/").contains("href=\"/records\""));
    // The DSL cannot touch the allegation: it is "not found".
    let (status, _, _) = client.submit(
        "/records",
        &format!("/concerns/{}/hold", old_allegation.0),
        &[("hold", "on"), ("reason", "x")],
    );
    assert_eq!(status, 404);

    // A legal hold: the record page offers to end it, and destruction is refused.
    let record_page = format!("/concerns/{}", old.0);
    let (status, headers, body) = client.submit(
        &record_page,
        &format!("/concerns/{}/hold", old.0),
        &[("hold", "on"), ("reason", "Police inquiry, ref 123")],
    );
    assert_eq!(status, 303, "{headers}{body}");
    assert_eq!(location(&headers), record_page);
    assert!(client.page(&record_page).contains("id=\"release-hold\""));
    let review_row = client.page("/records");
    let row = review_row
        .split(&format!("id=\"review-{}\"", old.0))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap();
    assert!(row.contains("Legal hold"), "{row}");
    let destroy = format!("/concerns/{}/destroy", old.0);
    let (status, _, body) = client.submit(
        &record_page,
        &destroy,
        &[("reason", "Retention period over"), ("confirm", "yes")],
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("legal hold"), "{body}");
    assert_eq!(client.get(&record_page).status, 200, "still there");

    // A hold needs a reason, and ending it too.
    let (status, _, body) = client.submit(
        &record_page,
        &format!("/concerns/{}/hold", old.0),
        &[("hold", "off")],
    );
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = client.submit(
        &record_page,
        &format!("/concerns/{}/hold", old.0),
        &[("hold", "off"), ("reason", "Police closed the inquiry")],
    );
    assert_eq!(status, 303);
    assert!(client.page(&record_page).contains("id=\"place-hold\""));

    // Destruction needs the confirmation and a reason.
    let (status, _, _) = client.submit(
        &record_page,
        &destroy,
        &[("reason", "Retention period over")],
    );
    assert_eq!(status, 400);
    let (status, _, _) = client.submit(&record_page, &destroy, &[("confirm", "yes")]);
    assert_eq!(status, 400);
    assert_eq!(client.get(&record_page).status, 200, "still there");

    // What the certificate must fingerprint: the record as it is just before destruction.
    let expected_sha = with_database(dir.path(), database, async |store| {
        let school = school_of(&store).await;
        let record = store
            .record(school, old, &test_reader())
            .await
            .unwrap()
            .unwrap();
        sha256_hex(&serde_json::to_vec(&record.to_json()).unwrap())
    });
    assert_eq!(
        count_rows(dir.path(), database, "concern_people", old).unwrap_or(2),
        2
    );
    let (status, headers, body) = client.submit(
        &record_page,
        &destroy,
        &[
            ("reason", "Retention period over, reviewed by the DSL"),
            ("confirm", "yes"),
        ],
    );
    assert_eq!(status, 303, "{headers}{body}");
    let certificate_link = location(&headers);
    assert!(
        certificate_link.starts_with("/records#certificate-"),
        "{certificate_link}"
    );
    let certificate_id = certificate_link.trim_start_matches("/records#certificate-");
    assert_eq!(client.get(&record_page).status, 404, "the record is gone");
    let overview = client.page("/records");
    let certificate = overview
        .split(&format!("id=\"certificate-{certificate_id}\""))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("the certificate on /records: {overview}"));
    assert!(certificate.contains(&expected_sha), "{certificate}");
    assert!(certificate.contains(&format!("#{}", old.0)));
    assert!(certificate.contains("Retention period over, reviewed by the DSL"));
    assert!(certificate.contains("ds"));
    for name in ["Pupil A", "Bo Other", "pupil.a", "cyberbullying"] {
        assert!(!certificate.contains(name), "{name} on the certificate");
    }
    assert!(!overview.contains(&format!("id=\"review-{}\"", old.0)));
    with_database(dir.path(), database, async |store| {
        let school = school_of(&store).await;
        assert_eq!(store.record_meta(school, old).await.unwrap(), None);
        assert!(store.record_meta(school, recent).await.unwrap().is_some());
        let certificates = store.destruction_certificates(school).await.unwrap();
        assert_eq!(certificates.len(), 1);
        assert_eq!(certificates[0].content_sha256, expected_sha);
        assert!(certificates[0].rows_removed >= 5, "{:?}", certificates[0]);
    });
    for table in ["concern_people", "concern_types", "concern_actions"] {
        if let Some(n) = count_rows(dir.path(), database, table, old) {
            assert_eq!(n, 0, "{table} rows of the destroyed record");
        }
    }
    assert_eq!(
        count_rows(dir.path(), database, "concern_people", recent).unwrap_or(2),
        2
    );
    // Destroying it again finds nothing.
    let (status, _, _) = client.submit(
        "/records",
        &destroy,
        &[("reason", "again"), ("confirm", "yes")],
    );
    assert_eq!(status, 404);
}

/// The transfer ids on the log page, in the order shown (newest first).
fn transfer_ids(page: &str) -> Vec<i64> {
    page.split("<tr id=\"transfer-")
        .skip(1)
        .filter_map(|s| s.split('"').next()?.parse().ok())
        .collect()
}

fn row_of<'a>(page: &'a str, id: &str) -> &'a str {
    page.split(&format!("id=\"{id}\""))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("row {id} in {page}"))
}

/// Sends `bundle` to the receive form as a file, with `sha256` and the pupil's username here.
fn receive(client: &Client, dir: &Path, bundle: &[u8], sha256: &str) -> (u16, String) {
    let file = dir.join("upload.json");
    std::fs::write(&file, bundle).unwrap();
    let csrf = client.csrf("/records/transfers");
    let reply = client.send(
        "",
        "/records/transfers/receive",
        &[],
        &[
            "-F",
            &format!("csrf={csrf}"),
            "-F",
            &format!("bundle=@{};type=application/json", file.display()),
            "-F",
            &format!("sha256={sha256}"),
            "-F",
            "username=pupil.a",
        ],
    );
    (reply.status, reply.body)
}

fn weekdays_after(from: Date, n: u32) -> Date {
    let mut day = from;
    let mut left = n;
    while left > 0 {
        day = day.tomorrow().unwrap();
        if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            left -= 1;
        }
    }
    day
}

#[test]
fn subject_access_and_transfers() {
    subject_access_and_transfers_on(None);
}

#[test]
fn subject_access_and_transfers_on_postgresql() {
    if let Some(url) = postgres_database() {
        subject_access_and_transfers_on(Some(&url));
    }
}

fn subject_access_and_transfers_on(database: Option<&str>) {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), &database_table(database));
    let dsl = StaffAccount::create(&config, "ds", "dsl");
    let head = StaffAccount::create(&config, "hd", "headteacher");
    let site = AdminSite::start(&config, dir.path(), &[]);
    let mine = seed_closed(
        dir.path(),
        database,
        record_about_pupil_a(
            "online-safety",
            Timestamp::now() - SignedDuration::from_hours(48),
            "Messages from Bo Other",
        ),
        "Bo Other apologised; both families spoken to",
    );
    let staff_case = seed_closed(
        dir.path(),
        database,
        allegation(Timestamp::now()),
        "Referred to the LADO",
    );
    let client = site.signed_in(&dsl);

    // Subject access: the form leads to the person's page, with both downloads.
    let form = client.page("/records/subject-access");
    assert!(form.contains("name=\"username\""));
    let reply = client.get("/records/subject-access?username=pupil.a");
    assert_eq!(reply.status, 303);
    assert_eq!(location(&reply.headers), "/records/subject-access/pupil.a");
    let page = client.page("/records/subject-access/pupil.a");
    assert!(page.contains(&format!("Record #{}", mine.0)), "{page}");
    assert!(!page.contains(&format!("Record #{}", staff_case.0)));
    assert!(page.contains("/records/subject-access/pupil.a/export.json"));

    let reply = client.get("/records/subject-access/pupil.a/export.json");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        header(&reply.headers, "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        header(&reply.headers, "content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"subject-access-pupil.a-")
    );
    let export: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(export["person"]["username"], "pupil.a");
    assert_eq!(export["person"]["name"], "Pupil A");
    let records = export["records"].as_array().unwrap();
    assert_eq!(
        records.len(),
        1,
        "the allegation is the head's alone: {export}"
    );
    let record = &records[0];
    assert_eq!(record["id"], mine.0);
    let names: Vec<&str> = record["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Pupil A", "another pupil"]);
    assert!(!reply.body.contains("Bo Other"), "{}", reply.body);
    assert!(!reply.body.contains("bo.other"));
    assert!(
        record["observations"]
            .as_str()
            .unwrap()
            .starts_with("another pupil sent the messages")
    );
    assert!(!reply.body.contains("Mr Alleged Staff"));
    let html = client.get("/records/subject-access/pupil.a/export.html");
    assert_eq!(html.status, 200);
    assert!(
        header(&html.headers, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(html.body.contains("Subject-access export: Pupil A"));
    assert!(!html.body.contains("Bo Other"));
    // The headteacher's export has the allegation too (with the staff member described).
    let head_client = site.signed_in(&head);
    let head_export: serde_json::Value = serde_json::from_str(
        &head_client
            .get("/records/subject-access/pupil.a/export.json")
            .body,
    )
    .unwrap();
    let head_ids: Vec<i64> = head_export["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(head_ids, [mine.0, staff_case.0]);

    // Transfer out: a sealed bundle, its checksum in a header and in the log.
    let (status, headers, bundle) = client.submit(
        "/records/transfers",
        "/records/transfers",
        &[("username", "pupil.a"), ("other_school", "Newtown Academy")],
    );
    assert_eq!(status, 200, "{headers}{bundle}");
    let today = Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date();
    assert_eq!(
        header(&headers, "content-disposition").unwrap(),
        format!("attachment; filename=\"hedgerow-transfer-pupil.a-{today}.json\"")
    );
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let sha = header(&headers, "x-hedgerow-sha256").unwrap().to_owned();
    assert_eq!(sha, sha256_hex(bundle.as_bytes()));
    let envelope: serde_json::Value = serde_json::from_str(&bundle).unwrap();
    assert_eq!(envelope["format"], "hedgerow-transfer/1");
    let payload = envelope["payload"].as_str().unwrap();
    assert_eq!(envelope["sha256"], sha256_hex(payload.as_bytes()));
    let inner: serde_json::Value = serde_json::from_str(payload).unwrap();
    assert_eq!(inner["pupil"]["username"], "pupil.a");
    assert_eq!(inner["from_school"], "Test School");
    let carried: Vec<i64> = inner["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(carried, [mine.0], "staff allegations do not travel");

    let log = client.page("/records/transfers");
    let ids = transfer_ids(&log);
    assert_eq!(ids.len(), 1);
    let sent = row_of(&log, &format!("transfer-{}", ids[0]));
    assert!(
        sent.contains("Newtown Academy") && sent.contains("Pupil A"),
        "{sent}"
    );
    assert!(sent.contains(&sha), "{sent}");
    // No terms in the test school's calendar, so school days are weekdays.
    assert!(
        sent.contains(&weekdays_after(today, 5).to_string()),
        "due in five school days: {sent}"
    );
    assert!(sent.contains("Confirm receipt"));
    let receipt = format!("/records/transfers/{}/receipt", ids[0]);
    let (status, _, _) = client.submit("/records/transfers", &receipt, &[("note", "x")]);
    assert_eq!(status, 400, "who confirmed is required");
    let (status, headers, body) = client.submit(
        "/records/transfers",
        &receipt,
        &[("confirmed_by", "Ms New DSL"), ("note", "Arrived intact")],
    );
    assert_eq!(status, 303, "{headers}{body}");
    let log = client.page("/records/transfers");
    let sent = row_of(&log, &format!("transfer-{}", ids[0]));
    assert!(
        sent.contains("Confirmed") && sent.contains("Ms New DSL"),
        "{sent}"
    );
    assert!(!sent.contains("Confirm receipt"));
    let (status, _, body) = client.submit(
        "/records/transfers",
        &receipt,
        &[("confirmed_by", "Someone else")],
    );
    assert_eq!(status, 400, "only once: {body}");

    // Receiving: a tampered file and a wrong checksum are refused; nothing is imported.
    let count_records = || {
        with_database(dir.path(), database, async |store| {
            let school = school_of(&store).await;
            let filter = RecordFilter {
                limit: 1_000,
                ..RecordFilter::default()
            };
            store
                .records(school, &filter, &test_reader())
                .await
                .unwrap()
                .len()
        })
    };
    let before = count_records();
    let mut tampered = bundle.clone().into_bytes();
    let at = bundle
        .find("Pupil A")
        .expect("the pupil's name in the bundle")
        + 6;
    tampered[at] = b'B';
    let (status, body) = receive(&client, dir.path(), &tampered, &sha);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("id=\"transfer-refused\""), "{body}");
    assert!(
        body.contains("ask the sending school to send the file again"),
        "{body}"
    );
    let (status, body) = receive(&client, dir.path(), &tampered, &sha256_hex(&tampered));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("changed or damaged"), "{body}");
    let (status, body) = receive(&client, dir.path(), bundle.as_bytes(), &"0".repeat(64));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("does not match the checksum"), "{body}");
    let (status, body) = receive(&client, dir.path(), bundle.as_bytes(), "not-a-checksum");
    assert_eq!(status, 422, "{body}");
    assert_eq!(count_records(), before, "nothing imported");
    assert_eq!(transfer_ids(&client.page("/records/transfers")).len(), 1);

    // The genuine file with its checksum is imported as new records here.
    let (status, body) = receive(&client, dir.path(), bundle.as_bytes(), &sha.to_uppercase());
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("id=\"transfer-imported\""), "{body}");
    let imported: Vec<i64> = body
        .split("<a href=\"/concerns/")
        .skip(1)
        .filter_map(|s| s.split('"').next()?.parse().ok())
        .collect();
    assert_eq!(imported.len(), 1, "{body}");
    assert_eq!(count_records(), before + 1);
    let new = with_database(dir.path(), database, async |store| {
        let school = school_of(&store).await;
        store
            .record(school, ConcernId(imported[0]), &test_reader())
            .await
            .unwrap()
            .unwrap()
    });
    assert_eq!(
        new.concern.summary,
        "Transferred from Test School: Messages from Bo Other"
    );
    assert_eq!(new.record_type, "online-safety");
    assert_eq!(new.types, ["cyberbullying"]);
    assert_eq!(new.people.len(), 2);
    assert_eq!(new.people[0].username.as_deref(), Some("pupil.a"));
    assert_eq!(
        new.people[1].username, None,
        "the other school's usernames are dropped"
    );
    assert!(new.observations.starts_with("Bo Other sent the messages"));
    assert!(
        new.observations
            .contains("Outcome: Bo Other apologised; both families spoken to"),
        "{}",
        new.observations
    );
    assert!(new.observations.contains("Phoned mum"));
    assert_eq!(
        new.disclosure,
        "She said the messages made her scared to come in"
    );
    let log = client.page("/records/transfers");
    let ids = transfer_ids(&log);
    assert_eq!(ids.len(), 2);
    let received = row_of(&log, &format!("transfer-{}", ids[0]));
    assert!(
        received.contains("Received") && received.contains("Test School"),
        "{received}"
    );
    assert!(
        received.contains(&sha) && received.contains("Confirmed"),
        "{received}"
    );

    // Every subject-access read and the transfer are in the audit log under the reader.
    let audit = with_database(dir.path(), database, async |store| {
        let school = school_of(&store).await;
        store.audit_entries(Some(school), 2_000).await.unwrap()
    });
    let by = |actor: &str, action: &str| {
        audit
            .iter()
            .filter(|r| r.entry.actor == actor && r.entry.action == action)
            .filter(|r| action != "records.subject-access" || r.entry.target == "user:pupil.a")
            .count()
    };
    assert_eq!(by("ds", "records.subject-access"), 3, "page, JSON and HTML");
    assert_eq!(by("hd", "records.subject-access"), 1);
    assert_eq!(by("ds", "records.transfer-out"), 1);
    assert_eq!(by("ds", "records.transfer"), 2);
    assert_eq!(by("ds", "records.transfer-receipt"), 2);
    assert!(by("ds", "records.transfers") >= 3);
}
