//! Triage in the admin app, against the real binary: alerts raised through the store of a
//! running gateway (as its monitor would) appear in the DSL's queue, new first, with filters;
//! an alert shows its evidence (the pupil's activity five minutes either side) with the
//! matching event marked; a triage without a note is refused and changes nothing, one with a
//! note is recorded; "Create a concern" opens a concern holding the evidence in one step. A
//! teacher, a governor and the online-safety lead are refused every page, and every view and
//! triage is in the audit log. Hostile text from the network is shown escaped.

mod support;

use std::net::IpAddr;
use std::path::Path;

use hedgerow_store::{
    ActivityEvent, AlertId, AlertStatus, AlertTrigger, EventSource, NewAlert, SchoolId, Verdict,
};
use jiff::{SignedDuration, Timestamp};
use support::admin::{AdminSite, StaffAccount, location, with_store};
use support::*;

const SCRIPT: &str = "<script>alert(1)</script>";
const WINDOW: SignedDuration = SignedDuration::from_mins(30);

fn event(at: Timestamp, user: &str, host: &str, search: Option<&str>) -> ActivityEvent {
    ActivityEvent {
        school: SchoolId(0),
        at,
        source: EventSource::Proxy,
        client_ip: PUPIL_LAPTOP.parse::<IpAddr>().unwrap(),
        user: Some(user.into()),
        device: Some("laptop-a".into()),
        group: Some("ks2".into()),
        host: host.into(),
        url: Some(format!("https://{host}/")),
        method: Some("GET".into()),
        qtype: None,
        category: Some("search".into()),
        verdict: Verdict::Allow,
        rule: "group:ks2/default".into(),
        reason: None,
        search_term: search.map(str::to_owned),
        status: Some(200),
        bytes: Some(100),
        duration_us: Some(500),
        page_title: None,
    }
}

fn alert(at: Timestamp, user: &str, category: &str, severity: u8, text: &str) -> NewAlert {
    NewAlert {
        school: SchoolId(0),
        at,
        user: Some(user.into()),
        device: Some("laptop-a".into()),
        client_ip: PUPIL_LAPTOP.parse().unwrap(),
        group: Some("ks2".into()),
        category: category.into(),
        severity,
        trigger: AlertTrigger::SearchTerm,
        matched_text: text.into(),
        matched_entry: "end my life".into(),
        host: "search.example".into(),
        url: None,
    }
}

/// The ids of the alert rows in the queue, in the order shown.
fn queue_ids(page: &str) -> Vec<i64> {
    page.split("<tr id=\"alert-")
        .skip(1)
        .filter_map(|s| s.split('"').next()?.parse().ok())
        .collect()
}

/// Writes events and raises alerts in the store of the gateway running in `dir`, as its proxy
/// and monitor would; the alerts' ids in order.
fn seed(dir: &Path, mut events: Vec<ActivityEvent>, alerts: Vec<NewAlert>) -> Vec<AlertId> {
    with_store(dir, async |store| {
        let school = store
            .school_by_slug("test-school")
            .await
            .unwrap()
            .expect("the gateway stored its school");
        for e in &mut events {
            e.school = school.id;
        }
        store.insert_events(&events).await.unwrap();
        let mut ids = Vec::new();
        for mut a in alerts {
            a.school = school.id;
            ids.push(store.raise_alert(&a, WINDOW).await.unwrap().alert.id);
        }
        ids
    })
}

#[test]
fn the_dsl_triages_alerts_and_opens_a_concern() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    let dsl = StaffAccount::create(&config, "ds", "dsl");
    let head = StaffAccount::create(&config, "hd", "headteacher");
    let refused = [
        StaffAccount::create(&config, "tc", "teacher"),
        StaffAccount::create(&config, "gv", "governor"),
        StaffAccount::create(&config, "osl", "online-safety-lead"),
    ];
    let site = AdminSite::start(&config, dir.path(), &[]);

    let now = Timestamp::now();
    let mins = |m: i64| SignedDuration::from_mins(m);
    let search = format!("how to end my life {SCRIPT}");
    let events = vec![
        event(now - mins(20), "pupil.a", "long-ago.example", None),
        event(now - mins(6), "pupil.a", "maths.example", None),
        event(now - mins(2), "pupil.a", "search.example", Some(&search)),
        event(now - mins(1), "pupil.a", "helpline.example", None),
        event(now - mins(2), "pupil.b", "other-pupil.example", None),
    ];
    let ids = seed(
        dir.path(),
        events,
        vec![
            alert(now - mins(50), "pupil.c", "gambling", 1, "poker odds"),
            alert(now - mins(2), "pupil.a", "suicide_self_harm", 5, &search),
            alert(now - mins(10), "pupil.b", "drugs", 2, "buy weed"),
        ],
    );
    let (older, urgent, mild) = (ids[0], ids[1], ids[2]);
    with_store(dir.path(), async |store| {
        let school = store.school_by_slug("test-school").await.unwrap().unwrap();
        store
            .triage_alert(
                school.id,
                older,
                AlertStatus::NoFurtherAction,
                "card game homework",
                "hd",
                now,
            )
            .await
            .unwrap();
    });

    // The queue: new alerts first, newest first, then the decided one.
    let client = site.signed_in(&dsl);
    let home = client.page("/");
    assert!(home.contains("href=\"/alerts\""), "an Alerts link: {home}");
    let queue = client.page("/alerts");
    assert_eq!(
        queue_ids(&queue),
        vec![urgent.0, mild.0, older.0],
        "{queue}"
    );
    assert!(queue.contains("2 waiting for triage"), "{queue}");
    assert!(queue.contains("5 — imminent risk") && queue.contains("Suicide and self-harm"));
    assert!(queue.contains("No further action") && queue.contains("pupil.a"));
    for field in ["status", "category", "severity"] {
        assert!(
            queue.contains(&format!("<label for=\"{field}\">")),
            "{field}"
        );
    }
    let only = |query: &str| queue_ids(&client.page(&format!("/alerts?{query}")));
    assert_eq!(only("status=no_further_action"), vec![older.0]);
    assert_eq!(only("category=drugs"), vec![mild.0]);
    assert_eq!(only("severity=5"), vec![urgent.0]);
    assert_eq!(client.get("/alerts?severity=9").status, 400);
    assert_eq!(client.get("/alerts?status=closed").status, 400);

    // One alert: who, what matched (escaped), and the evidence with the match marked.
    let page = client.page(&format!("/alerts/{urgent}"));
    assert!(!page.contains("<script>alert"), "raw script: {page}");
    assert!(page.contains("&#60;script&#62;") || page.contains("&lt;script&gt;"));
    assert!(page.contains("laptop-a") && page.contains(PUPIL_LAPTOP));
    assert!(page.contains("5 — imminent risk"));
    let evidence = &page[page.find("id=\"evidence\"").expect("evidence table")..];
    for host in ["maths.example", "search.example", "helpline.example"] {
        assert!(
            evidence.contains(host),
            "{host} in the evidence: {evidence}"
        );
    }
    assert!(
        !evidence.contains("long-ago.example"),
        "outside five minutes"
    );
    assert!(!evidence.contains("other-pupil.example"), "another pupil");
    assert_eq!(evidence.matches("Matching event").count(), 1, "{evidence}");
    let marked = &evidence[..evidence.find("Matching event").unwrap()];
    assert!(
        marked
            .rsplit("<tr")
            .next()
            .unwrap()
            .contains("class=\"match\"")
    );
    assert!(page.contains("id=\"create-concern\"") && page.contains("name=\"note\""));
    assert_eq!(client.get("/alerts/987654").status, 404);
    assert_eq!(client.get("/alerts/abc").status, 404);

    // A triage without a note is refused with a clear message and changes nothing.
    let alert_page = format!("/alerts/{mild}");
    let triage = format!("/alerts/{mild}/triage");
    let (status, _, body) = client.submit(&alert_page, &triage, &[("status", "false_positive")]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("note is required"), "{body}");
    let (status, _, body) = client.submit(
        &alert_page,
        &triage,
        &[("status", "false_positive"), ("note", "   ")],
    );
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = client.submit(&alert_page, &triage, &[("note", "no outcome")]);
    assert_eq!(status, 400, "{body}");
    let still = client.page(&alert_page);
    assert!(still.contains("<td id=\"status\">New</td>"), "{still}");

    // With a note it is recorded; deciding it again needs reopening first.
    let (status, headers, body) = client.submit(
        &alert_page,
        &triage,
        &[
            ("status", "false_positive"),
            ("note", "Searching for a <b>science</b> lesson"),
        ],
    );
    assert_eq!(status, 303, "{body}");
    assert_eq!(location(&headers), alert_page);
    let done = client.page(&alert_page);
    assert!(
        done.contains("<td id=\"status\">False positive</td>"),
        "{done}"
    );
    assert!(
        done.contains("Searching for a &#60;b&#62;science") || done.contains("&lt;b&gt;science")
    );
    assert!(done.contains("id=\"reopen\"") && !done.contains("id=\"create-concern\""));
    let (status, _, body) = client.submit(
        &alert_page,
        &triage,
        &[("status", "triaged"), ("note", "changed my mind")],
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("reopened"), "{body}");

    // One step opens a concern with the evidence and marks the alert triaged.
    let urgent_page = format!("/alerts/{urgent}");
    let (status, headers, body) =
        client.submit(&urgent_page, &format!("/alerts/{urgent}/concern"), &[]);
    assert_eq!(status, 303, "{body}");
    let concern_href = location(&headers);
    assert!(concern_href.starts_with("/concerns/"), "{concern_href}");
    let concern = client.page(&concern_href);
    assert!(concern.contains(&format!("alert #{urgent}")), "{concern}");
    assert!(concern.contains("pupil.a") && concern.contains("Suicide and self-harm"));
    assert!(!concern.contains("<script>alert"), "raw script: {concern}");
    let copied = &concern[concern.find("id=\"evidence\"").expect("evidence")..];
    for host in ["maths.example", "search.example", "helpline.example"] {
        assert!(
            copied.contains(host),
            "{host} in the concern's evidence: {copied}"
        );
    }
    assert!(copied.contains("how to end my life"), "{copied}");
    let triaged = client.page(&urgent_page);
    assert!(
        triaged.contains("<td id=\"status\">Triaged</td>"),
        "{triaged}"
    );
    assert!(
        triaged.contains(&format!("href=\"{concern_href}\"")),
        "{triaged}"
    );
    assert!(triaged.contains("Concern #"), "the note says so: {triaged}");
    let (status, _, _) = client.submit(&urgent_page, &format!("/alerts/{urgent}/concern"), &[]);
    assert_eq!(status, 409, "a second concern from a triaged alert");
    assert_eq!(client.get("/concerns/987654").status, 404);

    // The headteacher may look too.
    let head_client = site.signed_in(&head);
    assert_eq!(head_client.get("/alerts").status, 200);
    assert_eq!(head_client.get(&concern_href).status, 200);

    // Teachers, governors and the online-safety lead see none of it.
    for account in &refused {
        let other = site.signed_in(account);
        let home = other.page("/");
        assert!(
            !home.contains("href=\"/alerts\""),
            "{}: {home}",
            account.username
        );
        for path in ["/alerts".to_string(), urgent_page.clone()] {
            assert_eq!(
                other.get(&path).status,
                403,
                "{} GET {path}",
                account.username
            );
        }
        // Staff who record concerns are told there is no such record (so its existence is not
        // given away); a governor, who records none, is refused outright.
        let reply = other.get(&concern_href);
        let expected = if account.username == "gv" { 403 } else { 404 };
        assert_eq!(
            reply.status, expected,
            "{} GET {concern_href}",
            account.username
        );
        assert!(!reply.body.contains("pupil.a"), "{}", reply.body);
        let csrf = other.csrf("/");
        for action in [triage.clone(), format!("/alerts/{mild}/concern")] {
            let reply = other.send(
                "POST",
                &action,
                &[("csrf", &csrf), ("status", "new"), ("note", "x")],
                &[],
            );
            assert_eq!(reply.status, 403, "{} POST {action}", account.username);
        }
    }

    // Every view and every triage is in the audit log, under the reader's name.
    let audit = with_store(dir.path(), async |store| {
        let school = store.school_by_slug("test-school").await.unwrap().unwrap();
        store.audit_entries(Some(school.id), 1_000).await.unwrap()
    });
    let by = |actor: &str, action: &str| {
        audit
            .iter()
            .filter(|r| r.entry.actor == actor && r.entry.action == action)
            .count()
    };
    assert!(by("ds", "alert.list") >= 5, "queue views");
    assert!(by("ds", "alert.read") >= 4, "alert views");
    assert!(by("ds", "activity.read") >= 4, "evidence reads");
    assert_eq!(
        by("ds", "alert.triage"),
        2,
        "the false positive and the concern's triage"
    );
    assert_eq!(by("ds", "concern.create"), 1);
    assert_eq!(by("ds", "concern.read"), 1, "the concern");
    assert_eq!(
        by("ds", "concern.refused"),
        1,
        "the one that does not exist, asked for all the same"
    );
    assert_eq!(by("hd", "concern.read"), 1);
    assert!(by("hd", "alert.list") >= 1);
    let fp = audit
        .iter()
        .find(|r| r.entry.action == "alert.triage" && r.entry.target == format!("alert:{mild}"))
        .expect("the false positive's audit entry");
    assert!(
        fp.entry.detail.contains("new -> false_positive"),
        "{:?}",
        fp.entry
    );
    assert!(
        audit
            .iter()
            .filter(|r| {
                (r.entry.action.starts_with("alert.") || r.entry.action.starts_with("concern."))
                    && r.entry.action != "concern.refused"
            })
            .all(|r| ["ds", "hd"].contains(&r.entry.actor.as_str())),
        "refused roles read nothing"
    );
    assert_eq!(
        by("tc", "concern.refused"),
        1,
        "the teacher's attempt on the concern is written down"
    );
    assert!(
        audit
            .iter()
            .filter(|r| r.entry.action == "alert.read")
            .all(|r| r.entry.from_addr.as_deref() == Some("127.0.0.1")),
        "where the reader was"
    );
}
