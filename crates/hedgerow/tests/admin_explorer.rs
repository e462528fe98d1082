//! The activity explorer, a person's timeline, the CSV export and the audit log, against the
//! real binary: a DSL finds a pupil's events (one made by the real DNS filter with dig, the
//! rest written into the gateway's own SQLite store as the proxy would write them) by person,
//! search term, site and verdict, pages back through them, opens the timeline and downloads
//! the CSV; the headteacher then finds those views and the export in the audit log. A
//! teacher, a governor and a network manager are refused every one of those pages and see no
//! link to them. Hostile host names, URLs, search terms and user names are shown escaped.

mod support;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use hedgerow_store::{ActivityEvent, EventSource, Verdict};
use jiff::{SignedDuration, Timestamp};
use support::admin::{AdminSite, StaffAccount, with_store};
use support::*;

const SCRIPT: &str = "<script>alert(1)</script>";
const HOSTILE_USER: &str = "pupil.<i>x</i>";

fn event(minutes_ago: i64, user: &str, ip: &str, host: &str) -> ActivityEvent {
    ActivityEvent {
        // Replaced by the school's id when written.
        school: hedgerow_store::SchoolId(0),
        at: Timestamp::now() - SignedDuration::from_mins(minutes_ago),
        source: EventSource::Proxy,
        client_ip: ip.parse::<IpAddr>().unwrap(),
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
        search_term: None,
        status: Some(200),
        bytes: Some(1234),
        duration_us: Some(900),
        page_title: None,
    }
}

/// Writes events into the store of the gateway running in `dir`, as its proxy would.
fn write_events(dir: &Path, mut events: Vec<ActivityEvent>) {
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
    });
}

/// The `href` of the link with this `id`, with the HTML escaping of `&` undone (askama writes
/// `&#38;`).
fn href_of(body: &str, id: &str) -> Option<String> {
    let tag_start = body.find(&format!("id=\"{id}\""))?;
    let tag = &body[body[..tag_start].rfind('<')?..];
    let at = tag.find("href=\"")? + 6;
    tag[at..]
        .split('"')
        .next()
        .map(|h| h.replace("&#38;", "&").replace("&amp;", "&"))
}

/// The rows of the first table body.
fn rows(body: &str) -> &str {
    let start = body.find("<tbody>").unwrap_or(0);
    let end = body[start..]
        .find("</tbody>")
        .map_or(body.len(), |e| start + e);
    &body[start..end]
}

/// Whether `body` holds `raw` HTML-escaped, by character references by number (as askama
/// writes them) or by name.
fn contains_escaped(body: &str, raw: &str) -> bool {
    let escape = |named: bool| {
        raw.chars()
            .map(|c| match (c, named) {
                ('<', false) => "&#60;".to_string(),
                ('>', false) => "&#62;".to_string(),
                ('"', false) => "&#34;".to_string(),
                ('<', true) => "&lt;".to_string(),
                ('>', true) => "&gt;".to_string(),
                ('"', true) => "&quot;".to_string(),
                (c, _) => c.to_string(),
            })
            .collect::<String>()
    };
    body.contains(&escape(false)) || body.contains(&escape(true))
}

fn assert_escaped(body: &str, page: &str) {
    assert!(!body.contains("<script"), "raw script on {page}:\n{body}");
    assert!(!body.contains("<i>x</i>"), "raw markup on {page}:\n{body}");
    assert!(
        contains_escaped(body, SCRIPT),
        "the escaped script on {page}:\n{body}"
    );
}

#[test]
fn the_dsl_explores_activity_and_the_headteacher_reads_the_audit() {
    if !have_tools(&["curl", "dig"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    let dsl = StaffAccount::create(&config, "ds", "dsl");
    let head = StaffAccount::create(&config, "hd", "headteacher");
    let refused = [
        StaffAccount::create(&config, "tc", "teacher"),
        StaffAccount::create(&config, "gv", "governor"),
        StaffAccount::create(&config, "nm", "network-manager"),
    ];
    let mut site = AdminSite::start(&config, dir.path(), &[]);

    // One event from the real DNS filter: pupil.a's laptop asks for a gambling site.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = site.dig_from(PUPIL_LAPTOP, &["bets.example"]);
        if ede(&answer).is_some_and(|e| e.contains("Filtered")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the DNS filter did not block: {answer}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The rest as the proxy records them: pupil.a's searches and visits, another pupil's
    // search, and a hostile one whose every field carries markup.
    let mut search = event(3, "pupil.a", "127.0.0.21", "www.google.com");
    search.url = Some("https://www.google.com/search?q=volcano+eruption+facts".into());
    search.search_term = Some("volcano eruption facts".into());
    let older = event(4, "pupil.a", "127.0.0.21", "www.bbc.co.uk");
    let mut other = event(2, "pupil.b", "127.0.0.22", "www.bing.com");
    other.device = Some("laptop-b".into());
    other.search_term = Some("volcano homework".into());
    let mut hostile = event(1, HOSTILE_USER, "127.0.0.23", &format!("{SCRIPT}.example"));
    hostile.url = Some(format!("https://evil.example/{SCRIPT}?q=<b>bold</b>"));
    hostile.search_term = Some(format!("{SCRIPT} <img src=x onerror=alert(2)>"));
    hostile.device = Some("<b>device</b>".into());
    hostile.verdict = Verdict::Block;
    hostile.category = Some("circumvention".into());
    write_events(dir.path(), vec![search, older, other, hostile]);

    let dsl_client = site.signed_in(&dsl);
    // Opening the explorer reads nobody's browsing: the form only.
    let body = dsl_client.page("/activity");
    for field in [
        "user", "device", "address", "site", "from", "to", "category", "verdict", "search",
    ] {
        assert!(
            body.contains(&format!("<label for=\"{field}\">")),
            "a label for {field}"
        );
    }
    assert!(!body.contains("Events, newest first"), "{body}");

    // By person: the DNS event arrives through the gateway's event writer within moments.
    let deadline = Instant::now() + Duration::from_secs(15);
    let by_user = loop {
        let body = dsl_client.page("/activity?user=pupil.a");
        if body.contains("bets.example") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the DNS event never appeared: {body}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let found = rows(&by_user);
    for host in ["bets.example", "www.google.com", "www.bbc.co.uk"] {
        assert!(found.contains(host), "{host} in {found}");
    }
    assert!(
        !found.contains("www.bing.com"),
        "another pupil's event: {found}"
    );
    assert!(
        found.contains("href=\"/activity/person/pupil.a\""),
        "{found}"
    );
    assert!(found.contains("volcano eruption facts") && found.contains("laptop-a"));
    assert!(found.contains("127.0.0.21") && found.contains("gambling"));
    assert!(
        found.contains("group:ks2/category:gambling"),
        "the rule: {found}"
    );
    assert!(
        by_user.contains("href=\"/activity/export.csv?user=pupil.a\""),
        "a download link with the filters: {by_user}"
    );

    // By search term (any pupil), by site, by verdict.
    let found = dsl_client.page("/activity?search=VOLCANO");
    let found = rows(&found);
    assert!(
        found.contains("www.google.com") && found.contains("www.bing.com"),
        "{found}"
    );
    assert!(
        !found.contains("bets.example") && !found.contains("www.bbc.co.uk"),
        "{found}"
    );
    let found = dsl_client.page("/activity?site=https%3A%2F%2Fbets.example%2Fpoker");
    let found = rows(&found);
    assert!(
        found.contains("bets.example") && !found.contains("www.google.com"),
        "{found}"
    );
    let found = dsl_client.page("/activity?user=pupil.a&verdict=block");
    let found = rows(&found);
    assert!(
        found.contains("bets.example") && found.contains("Blocked"),
        "{found}"
    );
    assert!(
        !found.contains("www.google.com") && !found.contains("www.bbc.co.uk"),
        "{found}"
    );
    let found = dsl_client.page("/activity?user=pupil.a&verdict=allow&address=127.0.0.21");
    let found = rows(&found);
    assert!(
        found.contains("www.google.com") && !found.contains("bets.example"),
        "{found}"
    );

    // Pages of two, newest first: "Older events" carries the cursor and the filters.
    let first = dsl_client.page("/activity?user=pupil.a&per_page=2");
    let found = rows(&first);
    assert!(
        found.contains("bets.example") && found.contains("www.google.com"),
        "{found}"
    );
    assert!(!found.contains("www.bbc.co.uk"), "{found}");
    let older_href = href_of(&first, "older").expect("an Older events link");
    assert!(
        older_href.contains("user=pupil.a") && older_href.contains("after="),
        "{older_href}"
    );
    let second = dsl_client.page(&older_href);
    let found = rows(&second);
    assert!(found.contains("www.bbc.co.uk"), "{found}");
    assert!(
        !found.contains("bets.example") && !found.contains("www.google.com"),
        "{older_href}: {found}"
    );
    assert!(href_of(&second, "older").is_none(), "the last page");

    // Bad input is explained on the page, never a server error.
    for (path, message) in [
        (
            "/activity?from=not-a-time",
            "From “not-a-time” is not a date and time",
        ),
        ("/activity?to=2026-02-30T10:00", "To “2026-02-30T10:00”"),
        ("/activity?address=10.0.0", "is not an IP address"),
        ("/activity?after=broken", "page link is damaged"),
        ("/activity?verdict=sometimes", "Verdict must be"),
        (
            "/activity?from=2026-03-02T10:00&to=2026-03-01T10:00",
            "must be earlier than",
        ),
        ("/activity/person/pupil.a?from=soon", "From “soon”"),
    ] {
        let (status, _, body) = dsl_client.request(path, &[]);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(message), "{message} on {path}: {body}");
        assert!(body.contains("role=\"alert\""), "{body}");
    }
    let long = "x".repeat(201);
    let (status, _, body) = dsl_client.request(&format!("/activity?search={long}"), &[]);
    assert_eq!(status, 400);
    assert!(
        body.contains("Search term is longer than 200 characters"),
        "{body}"
    );

    // The timeline: pupil.a's events only, oldest first.
    let timeline = dsl_client.page("/activity/person/pupil.a");
    let found = rows(&timeline);
    let (bbc, google, bets) = (
        found.find("www.bbc.co.uk").expect("bbc"),
        found.find("www.google.com").expect("google"),
        found.find("bets.example").expect("bets"),
    );
    assert!(bbc < google && google < bets, "oldest first: {found}");
    assert!(!found.contains("www.bing.com"), "{found}");
    assert!(
        timeline.contains("Pupil A"),
        "the directory's name: {timeline}"
    );

    // The CSV export: an attachment with pupil.a's events.
    let reply = dsl_client.send(
        "",
        "/activity/export.csv?user=pupil.a&purpose=concern%2042",
        &[],
        &[],
    );
    assert_eq!(reply.status, 200, "{}{}", reply.headers, reply.body);
    let headers = reply.headers.to_ascii_lowercase();
    assert!(headers.contains("content-type: text/csv"), "{headers}");
    assert!(
        headers
            .contains("content-disposition: attachment; filename=\"hedgerow-activity-test-school-"),
        "{headers}"
    );
    assert!(reply.body.starts_with("id,time,source,"), "{}", reply.body);
    for host in ["bets.example", "www.google.com", "www.bbc.co.uk"] {
        assert!(reply.body.contains(host), "{host} in {}", reply.body);
    }
    assert!(!reply.body.contains("www.bing.com"));
    assert_eq!(reply.body.lines().count(), 4, "a header and three events");

    // Hostile input is escaped in the explorer, the timeline and (below) the audit log.
    let hostile_page = dsl_client.page("/activity?search=%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_escaped(&hostile_page, "the explorer");
    assert!(contains_escaped(
        &hostile_page,
        "<img src=x onerror=alert(2)>"
    ));
    assert!(contains_escaped(&hostile_page, "<b>device</b>"));
    assert!(!hostile_page.contains("<img") && !hostile_page.contains("<b>device"));
    let person = "/activity/person/pupil.%3Ci%3Ex%3C%2Fi%3E";
    assert!(
        hostile_page.contains(&format!("href=\"{person}\"")),
        "the person link is encoded: {hostile_page}"
    );
    let hostile_timeline = dsl_client.page(person);
    assert_escaped(&hostile_timeline, "the timeline");
    assert!(contains_escaped(&hostile_timeline, HOSTILE_USER));

    // The headteacher reads the audit log: the DSL's views and the export, from where.
    let head_client = site.signed_in(&head);
    let audit = head_client.page("/audit");
    assert!(audit.contains("cannot be edited"), "{audit}");
    let records = rows(&audit);
    assert!(records.contains("<td>ds</td>"), "{records}");
    assert!(records.contains("<td>activity.read</td>"), "{records}");
    assert!(records.contains("<td>activity.export</td>"), "{records}");
    assert!(records.contains("127.0.0.1"), "from where: {records}");
    assert!(
        records.contains("concern 42"),
        "the reason given: {records}"
    );
    assert_escaped(&audit, "the audit log");
    let exports = head_client.page("/audit?action=activity.export&actor=DS");
    let records = rows(&exports);
    assert!(records.contains("<td>activity.export</td>"), "{records}");
    assert!(contains_escaped(records, "user=\"pupil.a\""), "{records}");
    assert!(!records.contains("<td>activity.read</td>"), "{records}");
    let timelines = head_client.page("/audit?action=activity&per_page=1");
    assert!(rows(&timelines).contains("<td>activity."), "{timelines}");
    let older = href_of(&timelines, "older").expect("older audit records");
    assert!(
        older.contains("action=activity") && older.contains("per_page=1"),
        "{older}"
    );
    head_client.page(&older);
    let none = head_client.page("/audit?actor=nobody");
    assert!(none.contains("No records match"), "{none}");
    let (status, _, body) = head_client.request("/audit?from=last-week", &[]);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("From “last-week” is not a date and time"),
        "{body}"
    );

    // Teachers, governors and network managers see none of it, and no link to it.
    for account in &refused {
        let client = site.signed_in(account);
        for path in [
            "/activity",
            "/activity?user=pupil.a",
            "/activity/person/pupil.a",
            "/activity/export.csv",
            "/activity/export.csv?user=pupil.a",
            "/audit",
        ] {
            let (status, _, body) = client.request(path, &[]);
            assert_eq!(status, 403, "{} on {path}: {body}", account.username);
            assert!(!body.contains("pupil.a"), "{body}");
        }
        let dashboard = client.page("/");
        assert!(
            !dashboard.contains("href=\"/activity\"") && !dashboard.contains("href=\"/audit\""),
            "{}: {dashboard}",
            account.username
        );
    }
    assert!(dsl_client.page("/").contains("href=\"/activity\""));
    assert!(site.process.stop(), "a clean shutdown:\n{}", site.log());
}
