//! Safeguarding records in a real browser (headless Chromium through chromedriver), against
//! the running gateway with a real mail server: a teacher records a concern, after an
//! attached image is refused and nothing is kept; the DSL is emailed (no name, no words),
//! finds it new, takes it on, records an action, follows the cyberbullying procedure, applies
//! a two-day internet suspension that a live DNS answer and a live proxy decision show within
//! seconds, and closes it with an outcome. The teacher sees only what they reported, and an
//! allegation against a member of staff is hidden from the DSL, who is not the headteacher,
//! and shown to the headteacher.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use support::admin::{AdminSite, StaffAccount, origin_for, with_store};
use support::browser::{Browser, BrowserOptions};
use support::mail::{MailServer, python_with_aiosmtpd};
use support::origin::TestOrigin;
use support::*;

struct School {
    dir: tempfile::TempDir,
    _upstream: Running,
    origin: TestOrigin,
    mail: MailServer,
    site: AdminSite,
    teacher: StaffAccount,
    dsl: StaffAccount,
    head: StaffAccount,
}

/// The small school with a games site at a local origin, a mail server, and the DSL's and
/// the headteacher's addresses. `None` when the tools are missing (and not required).
fn school() -> Option<School> {
    if !have_tools(&["curl", "dig", "dnsmasq"]) || !support::browser::available() {
        return None;
    }
    let python = python_with_aiosmtpd()?;
    let (upstream, up_addr) = start_upstream(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mail = MailServer::start(python, dir.path());
    let (origin, proxy_table) =
        origin_for(dir.path(), Ipv4Addr::new(127, 0, 0, 87), &["games.example"]);
    let extra = format!(
        r#"
[school.monitoring]
dsl = ["dsl@test-school.example"]
headteacher = ["head@test-school.example"]
{proxy_table}
[monitoring.smtp]
host = "127.0.0.1"
port = {port}
security = "none"
from = "hedgerow@test-school.example"
"#,
        port = mail.port
    );
    let config = small_school(dir.path(), &extra);
    let teacher = StaffAccount::create(&config, "teacher", "teacher");
    let dsl = StaffAccount::create(&config, "dsl", "dsl");
    let head = StaffAccount::create(&config, "head", "headteacher");
    let site = AdminSite::start(&config, dir.path(), &["--upstream", &up_addr.to_string()]);
    site.wait_for_dns();
    Some(School {
        dir,
        _upstream: upstream,
        origin,
        mail,
        site,
        teacher,
        dsl,
        head,
    })
}

fn sign_out(browser: &mut Browser, school: &School) {
    // From the dashboard: a refusal page carries no navigation.
    browser
        .goto(&format!("http://{}/", school.site.app))
        .unwrap();
    browser.submit("form:has(#sign-out)").unwrap();
}

/// The record number in a record page's address.
fn record_number(url: &str) -> i64 {
    url.split("/concerns/")
        .nth(1)
        .and_then(|rest| rest.split(['?', '/']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no record number in {url}"))
}

/// Fills the new-record form with a cyberbullying concern about pupil.a.
fn fill_concern(browser: &mut Browser, school: &School, summary: &str) {
    browser
        .goto(&format!("http://{}/concerns/new", school.site.app))
        .unwrap();
    browser.fill("#person_1_name", "Pupil A").unwrap();
    browser.fill("#person_1_username", "pupil.a").unwrap();
    browser.click("#type-cyberbullying").unwrap();
    browser.fill("#summary", summary).unwrap();
    browser
        .fill(
            "#disclosure",
            "They keep sending me horrible messages in the game chat",
        )
        .unwrap();
    browser
        .fill("#websites", "games.example (chat on the lobby page)")
        .unwrap();
    browser
        .fill(
            "#evidence_description",
            "Messages seen on the class laptop; laptop locked in the DSL's office",
        )
        .unwrap();
}

#[test]
fn a_teachers_concern_reaches_the_dsl_who_suspends_the_pupil_and_closes_it() {
    let Some(school) = school() else {
        return;
    };
    let games_url = format!(
        "http://games.example:{}/lobby",
        school.origin.http_addr().port()
    );
    let dns = || school.site.dns_answer(PUPIL_LAPTOP, "games.example");
    let proxy = || {
        school
            .site
            .through_proxy(Some(PUPIL_LAPTOP), &games_url)
            .status
    };
    assert_eq!(dns(), "192.0.2.1", "games are allowed before the sanction");
    assert_eq!(proxy(), 200);

    // The teacher tries to attach a screenshot: refused with the reason, nothing kept.
    let screenshot = school.dir.path().join("screenshot.png");
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&[0; 64]);
    std::fs::write(&screenshot, png).unwrap();
    let mut browser = Browser::start(BrowserOptions::default()).expect("chromium starts");
    browser.sign_in(school.site.app, &school.teacher);
    fill_concern(&mut browser, &school, "Unkind messages in a game chat");
    browser.attach("#evidence_file", &screenshot).unwrap();
    browser.submit("#concern-form").unwrap();
    let refused = browser.body_text().unwrap();
    assert!(
        refused.contains("Images are never stored") && refused.to_lowercase().contains("indecent"),
        "{refused}"
    );
    assert!(!browser.current_url().unwrap().contains("/concerns/1"));

    // Without the file, it is saved and the DSL is told.
    fill_concern(&mut browser, &school, "Unkind messages in a game chat");
    browser.submit("#concern-form").unwrap();
    let url = browser.current_url().unwrap();
    let id = record_number(&url);
    assert!(
        browser.body_text().unwrap().contains("has been told"),
        "{}",
        browser.body_text().unwrap()
    );
    let mails = within(Duration::from_secs(10), || {
        !school.mail.messages().is_empty()
    });
    assert!(
        mails.is_some(),
        "the DSL is emailed:\n{}",
        school.site.log()
    );
    let email = school.mail.messages().join("\n");
    assert!(email.contains("dsl@test-school.example"), "{email}");
    assert!(email.contains(&format!("/concerns/{id}")), "{email}");
    assert!(
        !email.contains("Pupil A") && !email.contains("pupil.a"),
        "{email}"
    );
    assert!(!email.contains("horrible messages"), "{email}");
    // The teacher reads back what they reported, and nothing the DSL does with it.
    let mine = browser.page_source().unwrap();
    assert!(mine.contains("horrible messages"));
    assert!(
        !mine.contains("id=\"actions\""),
        "no record of action for the teacher"
    );
    sign_out(&mut browser, &school);

    // The DSL finds it new, takes it on and acts.
    browser.sign_in(school.site.app, &school.dsl);
    browser
        .goto(&format!("http://{}/concerns", school.site.app))
        .unwrap();
    let list = browser.body_text().unwrap();
    assert!(list.contains("1 new"), "{list}");
    browser
        .click(&format!("#record-{id} a[href='/concerns/{id}']"))
        .unwrap();
    assert!(browser.body_text().unwrap().contains("Pupil A"));
    browser.submit("form:has(#take)").unwrap();
    let text = browser.body_text().unwrap();
    assert!(text.contains("Open"), "{text}");
    assert!(text.contains("Handed to the DSL"), "{text}");

    browser.set_value("#action-kind", "parents-informed");
    browser
        .fill("#action-note", "Spoke to mum by phone at 3.30pm")
        .unwrap();
    browser.submit("form:has(#add-action)").unwrap();
    assert!(
        browser
            .body_text()
            .unwrap()
            .contains("Spoke to mum by phone")
    );

    browser.submit("form:has(#start-cyberbullying)").unwrap();
    browser
        .fill(
            "#note-cyberbullying-preserve-evidence",
            "Laptop kept switched off in the office",
        )
        .unwrap();
    browser
        .submit("form:has(#tick-cyberbullying-preserve-evidence)")
        .unwrap();
    let text = browser.body_text().unwrap();
    assert!(text.contains("1 of"), "one step done: {text}");
    assert!(text.contains("Laptop kept switched off"), "{text}");

    // A two-day suspension: the DNS filter and the proxy refuse the pupil within seconds.
    browser.fill("#sanction-days", "2").unwrap();
    browser
        .fill(
            "#sanction-reason",
            "Two days without internet after the messages",
        )
        .unwrap();
    browser.submit("form:has(#apply-sanction)").unwrap();
    let text = browser.body_text().unwrap();
    assert!(text.contains("Internet access suspended"), "{text}");
    assert!(text.contains("Ends by itself"), "{text}");
    let live = within(Duration::from_secs(5), || {
        dns() == "127.0.0.1" && proxy() == 403
    });
    assert!(
        live.is_some(),
        "DNS {} and proxy {} after the suspension\n{}",
        dns(),
        proxy(),
        school.site.log()
    );
    let blocked = school.site.through_proxy(Some(PUPIL_LAPTOP), &games_url);
    assert!(
        blocked.body.contains("no internet access until"),
        "the block page says why: {}",
        blocked.body
    );

    // The pupil's browsing around it is kept with the record, from the activity logs.
    let local = |offset: jiff::SignedDuration| {
        (jiff::Timestamp::now() + offset)
            .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/London").unwrap())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string()
    };
    browser.set_value(
        "#evidence-from",
        &local(-jiff::SignedDuration::from_hours(1)),
    );
    browser.set_value("#evidence-to", &local(jiff::SignedDuration::from_hours(1)));
    browser.submit("form:has(#keep-evidence)").unwrap();
    let kept = browser.page_source().unwrap();
    let evidence = kept.split("id=\"evidence\"").nth(1).unwrap_or_default();
    assert!(
        evidence.contains("games.example"),
        "kept as evidence: {kept}"
    );

    // Closing needs an outcome, and with no referral, the reason there was none.
    browser
        .fill(
            "#outcome-text",
            "Messages stopped; both families spoken to; apology given",
        )
        .unwrap();
    browser
        .fill(
            "#no-referral-reason",
            "Peer conflict resolved in school; no risk of significant harm",
        )
        .unwrap();
    browser.submit("form:has(#close)").unwrap();
    let text = browser.body_text().unwrap();
    assert!(text.contains("Closed"), "{text}");
    assert!(text.contains("apology given"), "{text}");

    // The DSL records a second concern of their own, which the teacher must not see.
    fill_concern(&mut browser, &school, "A second matter the DSL recorded");
    browser.submit("#concern-form").unwrap();
    let other = record_number(&browser.current_url().unwrap());
    sign_out(&mut browser, &school);

    // The teacher sees their own record only, and an allegation goes to the head only.
    browser.sign_in(school.site.app, &school.teacher);
    browser
        .goto(&format!("http://{}/concerns", school.site.app))
        .unwrap();
    let page = browser.page_source().unwrap();
    assert!(page.contains(&format!("id=\"record-{id}\"")), "{page}");
    assert!(!page.contains(&format!("id=\"record-{other}\"")), "{page}");
    browser
        .goto(&format!("http://{}/concerns/{other}", school.site.app))
        .unwrap();
    let text = browser.body_text().unwrap();
    assert!(text.contains("There is no such record"), "{text}");
    assert!(!text.contains("second matter"), "{text}");

    browser
        .goto(&format!("http://{}/concerns/new", school.site.app))
        .unwrap();
    browser.click("#record-type-staff-allegation").unwrap();
    browser.fill("#person_1_name", "A member of staff").unwrap();
    browser.set_value("#person_1_role", "staff");
    browser.set_value("#person_1_involvement", "responsible");
    browser.click("#type-other").unwrap();
    browser
        .fill(
            "#summary",
            "Allegation about a colleague's messages to a pupil",
        )
        .unwrap();
    browser.submit("#concern-form").unwrap();
    let allegation = record_number(&browser.current_url().unwrap());
    let told_head = within(Duration::from_secs(10), || {
        school
            .mail
            .messages()
            .iter()
            .any(|m| m.contains("head@test-school.example"))
    });
    assert!(told_head.is_some(), "the headteacher is emailed");
    sign_out(&mut browser, &school);

    browser.sign_in(school.site.app, &school.dsl);
    browser
        .goto(&format!("http://{}/concerns", school.site.app))
        .unwrap();
    let page = browser.page_source().unwrap();
    assert!(
        !page.contains(&format!("id=\"record-{allegation}\"")),
        "the DSL's list hides the allegation: {page}"
    );
    browser
        .goto(&format!("http://{}/concerns/{allegation}", school.site.app))
        .unwrap();
    let text = browser.body_text().unwrap();
    assert!(text.contains("There is no such record"), "{text}");
    assert!(!text.contains("colleague"), "{text}");
    sign_out(&mut browser, &school);

    browser.sign_in(school.site.app, &school.head);
    browser
        .goto(&format!("http://{}/concerns/{allegation}", school.site.app))
        .unwrap();
    let text = browser.body_text().unwrap();
    assert!(text.contains("colleague's messages"), "{text}");
    assert!(text.contains("Allegation"), "{text}");
    browser.quit().unwrap();

    // Every read was audited, with who read which record.
    let audit = with_store(school.dir.path(), async |store| {
        store.audit_entries(None, 1000).await.unwrap()
    });
    let read_by = |actor: &str, id: i64| {
        audit.iter().any(|a| {
            a.entry.action == "concern.read"
                && a.entry.actor == actor
                && a.entry.target == format!("concern:{id}")
        })
    };
    assert!(read_by("dsl", id));
    assert!(read_by("head", allegation));
    assert!(!read_by("dsl", allegation), "not found is not a read");
    assert!(
        audit.iter().any(|a| a.entry.action == "concern.refused"
            && a.entry.actor == "dsl"
            && a.entry.target == format!("concern:{allegation}")),
        "but the attempt is written down"
    );
}
