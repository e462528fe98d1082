//! Acceptable use agreements, image consent and visitors' day codes in the admin app, against
//! the real binary on SQLite and (with `HEDGEROW_TEST_POSTGRES_URL`) on PostgreSQL:
//!
//! - publishing a version needs the "everyone must accept again" box, keeps what was typed
//!   when refused, and makes the new text current; its version page shows it;
//! - renewal settings refuse an impossible date and keep a good one;
//! - a paper acceptance makes a pupil current in the report (and its CSV, where a name a
//!   spreadsheet would run is defused), and a new version sends them back to "earlier
//!   version"; without a portal address, letters say the network manager must set one;
//! - an image consent change is recorded with its note in the pupil's history, and the
//!   class's "do not photograph or publish" list names exactly the pupils without every use
//!   given;
//! - a visitor's day code is shown once and only its hash is kept;
//! - reminders are e-mailed to the staff whose agreement is not current and who have an
//!   address, saying where to accept it, and nobody else; a member of staff signs the social
//!   media accounts' agreement on paper, and its report judges staff alone against it;
//! - a teacher reads the report but cannot publish or change settings, and a network manager
//!   sees the consent register but not the agreements.

mod support;

use hedgerow_agreements::sha256_hex;
use hedgerow_store::{
    ActingUser, ImportedClass, ImportedPerson, PeopleBatch, SchoolId, Store, UserKind,
};
use support::admin::{AdminSite, Client, StaffAccount, location, with_database, with_store};
use support::mail::{MailServer, python_with_aiosmtpd};
use support::*;

async fn school_of(store: &Store) -> SchoolId {
    store
        .school_by_slug("test-school")
        .await
        .unwrap()
        .expect("the gateway stored its school")
        .id
}

fn pupil(username: &str, name: &str) -> ImportedPerson {
    ImportedPerson {
        username: username.into(),
        display_name: name.into(),
        group_key: "ks2".into(),
        year_group: Some("Year 4".into()),
        class_name: Some("4B".into()),
        email: None,
        staff_code: None,
        suggested_roles: Vec::new(),
        date_of_birth: None,
    }
}

/// Today on the school's clocks, as a date field sends it.
fn london_today() -> String {
    let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
    jiff::Timestamp::now()
        .to_zoned_datetime(zone)
        .date()
        .to_string()
}

/// The table row of the report for `username`.
fn report_row<'a>(page: &'a str, username: &str) -> Option<&'a str> {
    let marker = format!("data-username=\"{username}\"");
    let at = page.find(&marker)?;
    let end = page[at..].find("</tr>").map_or(page.len(), |e| at + e);
    Some(&page[at..end])
}

fn publish(client: &Client, title: &str, body: &str, confirm: bool) -> (u16, String, String) {
    let mut form = vec![("title", title), ("body", body), ("note", "Test change")];
    if confirm {
        form.push(("confirm", "yes"));
    }
    client.submit("/agreements/ks2", "/agreements/ks2", &form)
}

#[test]
fn agreements_consent_and_visitors() {
    agreements_consent_and_visitors_on(None);
}

#[test]
fn agreements_consent_and_visitors_on_postgresql() {
    if let Some(url) = postgres_database() {
        agreements_consent_and_visitors_on(Some(&url));
    }
}

fn agreements_consent_and_visitors_on(database: Option<&str>) {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), &database_table(database));
    let dsl = StaffAccount::create(&config, "ds", "dsl");
    let teacher = StaffAccount::create(&config, "tc", "teacher");
    let network = StaffAccount::create(&config, "nm", "network-manager");
    let site = AdminSite::start(&config, dir.path(), &[]);

    // Class 4B: Bea, and a pupil whose name a spreadsheet would run as a formula.
    with_database(dir.path(), database, async |store| {
        let school = school_of(&store).await;
        let by = ActingUser::new("test");
        store
            .import_people(
                school,
                &PeopleBatch::Classes(vec![ImportedClass {
                    name: "4B".into(),
                    year_group: Some("Year 4".into()),
                    group_key: Some("ks2".into()),
                    teacher: None,
                }]),
                &by,
            )
            .await
            .unwrap();
        store
            .import_people(
                school,
                &PeopleBatch::People {
                    kind: UserKind::Pupil,
                    people: vec![
                        pupil("bea.brown", "Bea Brown"),
                        pupil("cal.formula", "=HYPERLINK(\"http://evil.example\")"),
                    ],
                    disable_missing: false,
                },
                &by,
            )
            .await
            .unwrap();
    });

    let client = site.signed_in(&dsl);

    // Publishing: refused without the confirmation, keeping the text; a bad picture refused.
    let title = "Our KS2 computer promise";
    let body = "## Using the internet\n\n- I ask before I go online.\n- I tell a trusted adult if something worries me.";
    let (status, _, page) = publish(&client, title, body, false);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Tick the box"), "{page}");
    assert!(
        page.contains("I ask before I go online."),
        "what was typed is kept: {page}"
    );
    let (status, _, page) = publish(&client, title, "[picture:unicorn] I ride a unicorn.", true);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("unicorn"), "{page}");
    let before = with_database(dir.path(), database, async |store| {
        let school = school_of(&store).await;
        store.current_agreement(school, "ks2").await.unwrap()
    });
    let (status, headers, body_text) = publish(&client, title, body, true);
    assert_eq!(status, 303, "{body_text}");
    assert_eq!(location(&headers), "/agreements/ks2");
    let current = with_database(dir.path(), database, async |store| {
        let school = school_of(&store).await;
        store
            .current_agreement(school, "ks2")
            .await
            .unwrap()
            .unwrap()
    });
    assert_eq!(current.title, title);
    assert_eq!(current.published_by, "ds");
    assert_eq!(current.version, before.map_or(1, |v| v.version + 1));
    let page = client.page("/agreements/ks2");
    assert!(page.contains(title), "{page}");
    assert!(
        page.contains("<li>I ask before I go online.</li>"),
        "{page}"
    );
    let version = client.page(&format!("/agreements/ks2/v/{}", current.version));
    assert!(
        version.contains("(current)") && version.contains(title),
        "{version}"
    );
    assert_eq!(client.get("/agreements/ks2/v/999").status, 404);
    assert_eq!(client.get("/agreements/martians").status, 404);
    let overview = client.page("/agreements");
    assert!(overview.contains(title), "{overview}");

    // Renewal settings.
    let settings = |month: &str, day: &str| {
        client.submit(
            "/agreements/settings",
            "/agreements/settings",
            &[
                ("renewal_month", month),
                ("renewal_day", day),
                ("expiring_soon_days", "14"),
                ("parent_link_days", "21"),
            ],
        )
    };
    let (status, _, page) = settings("2", "30");
    assert_eq!(status, 400, "{page}");
    let (status, _, _) = settings("7", "20");
    assert_eq!(status, 303);
    let stored = with_database(dir.path(), database, async |store| {
        let school = school_of(&store).await;
        store.agreement_settings(school).await.unwrap()
    });
    assert_eq!(
        (
            stored.renewal_month,
            stored.renewal_day,
            stored.expiring_soon_days,
            stored.parent_link_days
        ),
        (7, 20, 14, 21)
    );

    // The report: no one has accepted; a paper form makes Bea current.
    let report = client.page("/agreements/report");
    let bea = report_row(&report, "bea.brown").expect("Bea in the report");
    assert!(bea.contains("data-standing=\"not-accepted\""), "{bea}");
    let (status, _, page) = client.submit(
        "/agreements/report",
        "/agreements/paper",
        &[
            ("username", "bea.brown"),
            ("signed_on", &london_today()),
            ("signed_by", "Mrs Brown"),
            ("relationship", "parent-carer"),
        ],
    );
    assert_eq!(status, 303, "{page}");
    let (status, _, page) = client.submit(
        "/agreements/report",
        "/agreements/paper",
        &[
            ("username", "no.such.pupil"),
            ("signed_on", "2026-01-05"),
            ("signed_by", "Someone"),
            ("relationship", "self"),
        ],
    );
    assert_eq!(status, 400);
    assert!(page.contains("no.such.pupil"), "{page}");
    let report = client.page("/agreements/report?recorded=bea.brown");
    assert!(
        report.contains("The paper acceptance for Bea Brown is recorded"),
        "{report}"
    );
    let bea = report_row(&report, "bea.brown").unwrap();
    assert!(
        bea.contains("data-standing=\"current\"")
            || bea.contains("data-standing=\"expiring-soon\""),
        "{bea}"
    );
    assert!(
        bea.contains("on paper") && bea.contains("Mrs Brown"),
        "{bea}"
    );
    let not_accepted = client.page("/agreements/report?standing=not-accepted&class=4B");
    assert!(
        report_row(&not_accepted, "bea.brown").is_none(),
        "{not_accepted}"
    );
    assert!(
        report_row(&not_accepted, "cal.formula").is_some(),
        "{not_accepted}"
    );
    assert!(
        report_row(&not_accepted, "pupil.a").is_none(),
        "pupil.a has no class"
    );

    // The CSV holds the same, with the formula defused.
    let csv = client.get("/agreements/report.csv?class=4B");
    assert_eq!(csv.status, 200);
    assert!(csv.headers.contains("text/csv"), "{}", csv.headers);
    assert!(
        csv.headers
            .contains("attachment; filename=\"hedgerow-agreements-test-school-")
    );
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("username,name,group,class,audience,standing"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 3, "{}", csv.body);
    let bea_line = lines.iter().find(|l| l.starts_with("bea.brown,")).unwrap();
    assert!(
        bea_line.contains(",paper,Mrs Brown,parent-carer,"),
        "{bea_line}"
    );
    let cal_line = lines
        .iter()
        .find(|l| l.starts_with("cal.formula,"))
        .unwrap();
    assert!(
        cal_line.starts_with("cal.formula,\"'=HYPERLINK(\"\"http://evil.example\"\")\","),
        "{cal_line}"
    );

    // A new version sends Bea back.
    let (status, _, _) = publish(&client, "Our KS2 computer promise, 2", body, true);
    assert_eq!(status, 303);
    let report = client.page("/agreements/report");
    let bea = report_row(&report, "bea.brown").unwrap();
    assert!(bea.contains("data-standing=\"old-version\""), "{bea}");

    // Letters need the portal's address.
    let (status, _, page) = client.submit(
        "/agreements/report",
        "/agreements/letters",
        &[("class", "4B")],
    );
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("[portal] url"), "{page}");

    // Image consent: not asked, then a change on a parent's word with its history.
    let register = client.page("/image-consent?class=4B");
    let row = report_row(&register, "bea.brown").expect("Bea in the register");
    assert_eq!(row.matches("data-state=\"not-asked\"").count(), 5, "{row}");
    let change = |username: &str, use_: &str, state: &str, note: &str| {
        let page = format!("/image-consent/{username}");
        client.submit(
            &page,
            &page,
            &[("use", use_), ("state", state), ("note", note)],
        )
    };
    let (status, headers, _) = change("bea.brown", "website", "given", "Mum phoned, 3 March");
    assert_eq!(status, 303);
    assert_eq!(location(&headers), "/image-consent/bea.brown");
    let (status, _, _) = change("bea.brown", "press", "refused", "Letter from dad");
    assert_eq!(status, 303);
    let (status, _, page) = change("bea.brown", "press", "refused", "Again");
    assert_eq!(status, 200);
    assert!(page.contains("nothing changed"), "{page}");
    let (status, _, _) = change("bea.brown", "press", "", "No state");
    assert_eq!(status, 400);
    for use_ in ["website", "social-media", "newsletter", "press", "displays"] {
        let (status, _, _) = change("cal.formula", use_, "given", "Consent form returned");
        assert_eq!(status, 303);
    }
    let history = client.page("/image-consent/bea.brown");
    assert!(history.contains("Mum phoned, 3 March"), "{history}");
    assert!(history.contains("Letter from dad"), "{history}");
    assert_eq!(
        history.matches("staff, on a parent").count(),
        4,
        "two states, two changes"
    );
    let list = client.page("/image-consent/do-not-photograph?class=4B");
    assert!(list.contains("Bea Brown"), "{list}");
    assert!(list.contains("(refused)"), "{list}");
    assert!(!list.contains("HYPERLINK"), "every use given: {list}");
    assert_eq!(client.get("/image-consent/nobody.here").status, 404);
    assert_eq!(
        client.get("/image-consent/ds").status,
        404,
        "staff are not pupils"
    );

    // A visitor's day code, shown once.
    let (status, _, page) = client.submit(
        "/visitors",
        "/visitors",
        &[("visitor", "Mr Visiting Speaker")],
    );
    assert_eq!(status, 201, "{page}");
    let marker = "id=\"day-code\">";
    let at = page.find(marker).expect("the code on the page") + marker.len();
    let code = page[at..].split('<').next().unwrap().to_string();
    assert!(
        code.len() == 9 && code.as_bytes()[4] == b'-',
        "a code like K7QP-M3XR: {code}"
    );
    let found = with_database(dir.path(), database, async |store| {
        let school = school_of(&store).await;
        store
            .visitor_code_by_hash(school, &sha256_hex(code.as_bytes()))
            .await
            .unwrap()
    });
    let found = found.expect("the code's hash is stored");
    assert_eq!(found.visitor_name, "Mr Visiting Speaker");
    assert_eq!(found.issued_by, "ds");
    let later = client.page("/visitors");
    assert!(later.contains("Mr Visiting Speaker"), "{later}");
    assert!(!later.contains(&code), "the code is shown only once");
    let (status, _, page) = client.submit(
        "/visitors",
        "/visitors",
        &[("visitor", "Late"), ("day", "2001-01-01")],
    );
    assert_eq!(status, 400);
    assert!(page.contains("has passed"), "{page}");

    // The teacher reads and records, but does not publish or change the settings.
    let teaching = site.signed_in(&teacher);
    let page = teaching.page("/agreements/ks2");
    assert!(!page.contains("id=\"publish\""), "{page}");
    let (status, _, _) = publish(&teaching, "A teacher's text", body, true);
    assert_eq!(status, 403);
    assert_eq!(teaching.get("/agreements/settings").status, 403);
    assert_eq!(teaching.get("/agreements/report").status, 200);
    let (status, _, _) = teaching.submit(
        "/image-consent/bea.brown",
        "/image-consent/bea.brown",
        &[
            ("use", "displays"),
            ("state", "given"),
            ("note", "Told at the door"),
        ],
    );
    assert_eq!(status, 303);
    let networking = site.signed_in(&network);
    assert_eq!(networking.get("/agreements").status, 403);
    assert_eq!(networking.get("/agreements/report.csv").status, 403);
    assert_eq!(networking.get("/image-consent").status, 200);
    let (status, _, _) = networking.submit(
        "/image-consent/bea.brown",
        "/image-consent/bea.brown",
        &[("use", "displays"), ("state", "refused"), ("note", "x")],
    );
    assert_eq!(status, 403);
    assert_eq!(networking.get("/visitors").status, 200);

    // The report and the consent register were audited reads.
    let audit = with_database(dir.path(), database, async |store| {
        let school = school_of(&store).await;
        store.audit_entries(Some(school), 2_000).await.unwrap()
    });
    let count = |actor: &str, action: &str| {
        audit
            .iter()
            .filter(|r| r.entry.actor == actor && r.entry.action == action)
            .count()
    };
    assert!(count("ds", "agreement.report") >= 4);
    assert!(count("ds", "image-consent.read") >= 3);
    assert!(count("tc", "agreement.report") >= 1);
    assert_eq!(count("ds", "agreement.publish"), 2);
    assert_eq!(count("ds", "visitor-code.issue"), 1);
}

#[test]
fn reminders_are_emailed_to_those_not_current() {
    if !have_tools(&["curl"]) {
        return;
    }
    let Some(python) = python_with_aiosmtpd() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mail = MailServer::start(python, dir.path());
    let smtp = format!(
        "\n[monitoring.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"hedgerow@test-school.example\"\n",
        mail.port
    );
    let config = small_school(dir.path(), &smtp);
    let dsl = StaffAccount::create(&config, "ds", "dsl");
    let portal = free_address();
    let site = AdminSite::start(
        &config,
        dir.path(),
        &["--portal-listen", &portal.to_string()],
    );
    let staff_member = |username: &str, name: &str, email: Option<&str>| ImportedPerson {
        username: username.into(),
        display_name: name.into(),
        group_key: "staff".into(),
        year_group: None,
        class_name: None,
        email: email.map(str::to_string),
        staff_code: None,
        suggested_roles: Vec::new(),
        date_of_birth: None,
    };
    with_store(dir.path(), async |store| {
        let school = school_of(&store).await;
        store
            .import_people(
                school,
                &PeopleBatch::People {
                    kind: UserKind::Staff,
                    people: vec![
                        staff_member("t.ash", "Tess Ash", Some("t.ash@test-school.example")),
                        staff_member("r.oak", "Rob Oak", Some("r.oak@test-school.example")),
                        staff_member("n.mail", "Nell Nomail", None),
                    ],
                    disable_missing: false,
                },
                &ActingUser::new("test"),
            )
            .await
            .unwrap();
    });
    let client = site.signed_in(&dsl);
    // Rob has signed the staff agreement on paper; Tess and Nell have not.
    let (status, _, page) = client.submit(
        "/agreements/report",
        "/agreements/paper",
        &[
            ("username", "r.oak"),
            ("signed_on", &london_today()),
            ("signed_by", "Rob Oak"),
            ("relationship", "self"),
        ],
    );
    assert_eq!(status, 303, "{page}");

    let (status, headers, page) = client.submit(
        "/agreements/report",
        "/agreements/remind",
        &[("audience", "staff")],
    );
    assert_eq!(status, 303, "{page}");
    let shown = client.page(&location(&headers));
    assert!(shown.contains("Reminders e-mailed to 1 person."), "{shown}");
    assert!(
        shown.contains("1 without an e-mail address were not reminded."),
        "{shown}"
    );
    let mut messages = Vec::new();
    for _ in 0..50 {
        messages = mail.messages();
        if !messages.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert!(message.contains("t.ash@test-school.example"), "{message}");
    assert!(message.contains("Dear Tess Ash"), "{message}");
    assert!(message.contains(&format!("http://{portal}/")), "{message}");
    assert!(!message.contains("Rob"), "{message}");
    let audit = with_store(dir.path(), async |store| {
        let school = school_of(&store).await;
        store.audit_entries(Some(school), 50).await.unwrap()
    });
    let reminded: Vec<_> = audit
        .iter()
        .filter(|r| r.entry.action == "agreement.remind")
        .map(|r| r.entry.target.clone())
        .collect();
    assert_eq!(reminded, vec!["user:t.ash".to_string()]);

    // Rob runs the school's social media accounts: he signs that agreement too, on paper, and
    // the report for it judges every member of staff against it (and no pupil).
    let (status, _, page) = client.submit(
        "/agreements/report",
        "/agreements/paper",
        &[
            ("username", "r.oak"),
            ("audience", "social-media"),
            ("signed_on", &london_today()),
            ("signed_by", "Rob Oak"),
            ("relationship", "self"),
        ],
    );
    assert_eq!(status, 303, "{page}");
    let report = client.page("/agreements/report?audience=social-media");
    let rob = report_row(&report, "r.oak").expect("Rob is listed");
    assert!(rob.contains("data-standing=\"current\""), "{rob}");
    let tess = report_row(&report, "t.ash").expect("Tess is listed");
    assert!(tess.contains("data-standing=\"not-accepted\""), "{tess}");
    assert!(report_row(&report, "pupil.a").is_none(), "{report}");
    let (status, _, page) = client.submit(
        "/agreements/report",
        "/agreements/paper",
        &[
            ("username", "pupil.a"),
            ("audience", "social-media"),
            ("signed_on", &london_today()),
            ("signed_by", "Pupil A"),
            ("relationship", "self"),
        ],
    );
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not a member of staff"), "{page}");
}
