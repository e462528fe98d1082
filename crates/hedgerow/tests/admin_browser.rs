//! The admin app in a real browser (headless Chromium through chromedriver): signing in with
//! a TOTP code, the 15-minute idle timeout, what a teacher and a governor may see, a policy
//! change made in the editor reaching the DNS filter and the proxy within 5 seconds, and a
//! pupil's request from the block page approved for "this lesson", which opens the site and
//! then runs out, blocking it again.

mod support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::json;
use support::admin::{AdminSite, StaffAccount, origin_for, with_store};
use support::browser::{Browser, BrowserOptions};
use support::origin::TestOrigin;
use support::*;

struct School {
    dir: tempfile::TempDir,
    _upstream: Running,
    origin: TestOrigin,
    site: AdminSite,
    dsl: StaffAccount,
    osl: StaffAccount,
    teacher: StaffAccount,
    governor: StaffAccount,
}

/// The small test school, with the test origin standing in for the gambling site and, when
/// `browser_in_ks2`, the test browser's address (127.0.0.1) as a KS2 device.
fn school(browser_in_ks2: bool) -> School {
    let (upstream, up_addr) = start_upstream(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (origin, proxy_table) = origin_for(
        dir.path(),
        Ipv4Addr::new(127, 0, 0, 86),
        &["bets.example", "news.example"],
    );
    let mut extra = String::new();
    if browser_in_ks2 {
        extra.push_str(
            "\n[[school.devices]]\nname = \"class-laptop\"\nkind = \"laptop\"\ngroup = \"ks2\"\naddresses = [\"127.0.0.1\"]\n",
        );
    }
    extra.push_str(&proxy_table);
    let config = small_school(dir.path(), &extra);
    // Made before the gateway starts.
    let dsl = StaffAccount::create(&config, "dsl", "dsl");
    let osl = StaffAccount::create(&config, "osl", "online-safety-lead");
    let teacher = StaffAccount::create(&config, "teacher", "teacher");
    let governor = StaffAccount::create(&config, "governor", "governor");
    let site = AdminSite::start(&config, dir.path(), &["--upstream", &up_addr.to_string()]);
    site.wait_for_dns();
    School {
        dir,
        _upstream: upstream,
        origin,
        site,
        dsl,
        osl,
        teacher,
        governor,
    }
}

fn staff_browser() -> Browser {
    Browser::start(BrowserOptions::default()).expect("chromium starts")
}

fn sign_out(browser: &mut Browser) {
    browser.submit("form:has(#sign-out)").unwrap();
    assert!(browser.current_url().unwrap().ends_with("/login"));
}

fn session_cookie(browser: &mut Browser, school: &School) -> String {
    let cookies = browser
        .cdp(
            "Network.getCookies",
            json!({ "urls": [format!("http://{}/", school.site.app)] }),
        )
        .unwrap();
    cookies["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "hedgerow-session")
        .and_then(|c| c["value"].as_str())
        .expect("a session cookie")
        .to_string()
}

#[test]
fn signing_in_idling_out_and_what_teachers_and_governors_see() {
    if !have_tools(&["curl", "dig", "dnsmasq"]) || !support::browser::available() {
        return;
    }
    let school = school(false);
    // Some activity to hide: the KS2 pupil's laptop tries the gambling site.
    for _ in 0..3 {
        school.site.dns_answer(PUPIL_LAPTOP, "bets.example");
    }
    let mut browser = staff_browser();

    // The DSL needs a code as well as the password.
    browser.sign_in(school.site.app, &school.dsl);
    assert!(browser.body_text().unwrap().contains("dsl (test)"));
    // The DSL may read the pupil's browsing (what the teacher below may not).
    let seen = within(Duration::from_secs(10), || {
        browser
            .goto(&format!(
                "http://{}/activity/person/pupil.a",
                school.site.app
            ))
            .unwrap();
        browser.body_text().unwrap().contains("bets.example")
    })
    .is_some();
    assert!(seen, "{}", browser.body_text().unwrap());

    // The session ends after 15 minutes without a request: each request pushes the end 15
    // minutes on, and once that moment has passed the browser is sent to sign in again.
    let id = session_cookie(&mut browser, &school);
    let (data, expires) = with_store(school.dir.path(), async |store| {
        store.session_load(&id).await.unwrap().expect("the session")
    });
    let ahead = expires.as_second() - jiff::Timestamp::now().as_second();
    assert!(
        (14 * 60..=15 * 60 + 5).contains(&ahead),
        "expires in {ahead} s"
    );
    with_store(school.dir.path(), async |store| {
        let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
        store.session_save(&id, &data, past).await.unwrap();
    });
    browser
        .goto(&format!("http://{}/", school.site.app))
        .unwrap();
    assert!(
        browser.current_url().unwrap().ends_with("/login"),
        "an idle session is over"
    );

    // A teacher cannot open anyone's browsing, and is not offered it.
    browser.sign_in(school.site.app, &school.teacher);
    let page = browser.page_source().unwrap();
    assert!(
        !page.contains("href=\"/activity\""),
        "no Activity link for a teacher"
    );
    for path in [
        "/activity",
        "/activity/person/pupil.a",
        "/activity/export.csv",
        "/audit",
    ] {
        browser
            .goto(&format!("http://{}{path}", school.site.app))
            .unwrap();
        let text = browser.body_text().unwrap();
        assert!(text.contains("do not allow"), "{path}: {text}");
        assert!(!text.contains("bets.example"), "{path}: {text}");
    }
    browser
        .goto(&format!("http://{}/", school.site.app))
        .unwrap();
    sign_out(&mut browser);

    // A governor sees figures, never a person.
    browser.sign_in(school.site.app, &school.governor);
    let ok = within(Duration::from_secs(10), || {
        browser
            .goto(&format!("http://{}/", school.site.app))
            .unwrap();
        browser.body_text().unwrap().contains("bets.example")
    })
    .is_some();
    assert!(ok, "the governor's dashboard counts the blocked attempts");
    let page = browser.page_source().unwrap();
    for name in ["pupil.a", "Pupil A", "laptop-a", "127.0.0.21"] {
        assert!(!page.contains(name), "the governor sees {name:?}: {page}");
    }
    for path in [
        "/activity",
        "/activity/person/pupil.a",
        "/changes",
        "/policy",
    ] {
        browser
            .goto(&format!("http://{}{path}", school.site.app))
            .unwrap();
        assert!(
            browser.body_text().unwrap().contains("do not allow"),
            "governor at {path}"
        );
    }
    browser.quit().unwrap();
}

#[test]
fn a_policy_change_made_in_the_editor_is_live_within_five_seconds() {
    if !have_tools(&["curl", "dig", "dnsmasq"]) || !support::browser::available() {
        return;
    }
    let school = school(false);
    let news = || school.site.dns_answer(PUPIL_LAPTOP, "news.example");
    let news_url = format!(
        "http://news.example:{}/today",
        school.origin.http_addr().port()
    );
    let proxy_status = || {
        school
            .site
            .through_proxy(Some(PUPIL_LAPTOP), &news_url)
            .status
    };
    assert_eq!(news(), "192.0.2.1");
    assert_eq!(proxy_status(), 200);

    let mut browser = staff_browser();
    browser.sign_in(school.site.app, &school.osl);
    browser
        .goto(&format!("http://{}/policy", school.site.app))
        .unwrap();
    browser.fill("#so-host", "news.example").unwrap();
    browser.click("#so-block").unwrap();
    browser.click("#so-g-ks2").unwrap();
    browser
        .fill("#so-reason", "Distressing coverage this week; KS2 only")
        .unwrap();
    browser.submit("form:has(#so-host)").unwrap();
    let started = Instant::now();
    let text = browser.body_text().unwrap();
    assert!(text.contains("in force"), "{text}");

    let live = within(Duration::from_secs(5), || {
        news() == "127.0.0.1" && proxy_status() == 403
    })
    .is_some();
    assert!(
        live,
        "DNS {} and proxy {} {:?} after the change:\n{}",
        news(),
        proxy_status(),
        started.elapsed(),
        school.site.log()
    );

    // The change log shows it with its reason.
    browser
        .goto(&format!("http://{}/changes", school.site.app))
        .unwrap();
    let log = browser.body_text().unwrap();
    assert!(log.contains("news.example"), "{log}");
    assert!(log.contains("Distressing coverage this week"), "{log}");

    // The built-in self-test, run from the check log, is recorded there with its result.
    browser
        .goto(&format!("http://{}/checks", school.site.app))
        .unwrap();
    browser.submit("form:has(#run-self-test)").unwrap();
    let report = browser.body_text().unwrap();
    assert!(
        browser.current_url().unwrap().contains("/checks/"),
        "{report}"
    );
    assert!(report.to_lowercase().contains("self-test"), "{report}");
    assert!(report.contains("ks2"), "every group is tested: {report}");
    browser
        .goto(&format!("http://{}/checks", school.site.app))
        .unwrap();
    let checks = browser.body_text().unwrap();
    assert!(checks.contains("osl"), "who ran it: {checks}");
    assert!(checks.to_lowercase().contains("self-test"), "{checks}");
    browser.quit().unwrap();
}

#[test]
fn a_block_page_request_approved_for_this_lesson_opens_the_site_then_expires() {
    if !have_tools(&["curl", "dig", "dnsmasq"]) || !support::browser::available() {
        return;
    }
    let school = school(true);
    let site_url = format!(
        "http://bets.example:{}/odds",
        school.origin.http_addr().port()
    );
    let mut pupil = Browser::start(BrowserOptions {
        proxy: Some(school.site.proxy),
        ..BrowserOptions::default()
    })
    .expect("chromium starts");
    pupil.goto(&site_url).unwrap();
    let text = pupil.body_text().unwrap();
    assert!(text.contains("blocked"), "{text}");

    // The pupil asks from the block page.
    pupil
        .fill("textarea", "We need the odds tables for maths")
        .unwrap();
    pupil
        .click("input[type=radio][value=should_not_be_blocked]")
        .unwrap();
    pupil.submit("form").unwrap();
    assert!(pupil.body_text().unwrap().to_lowercase().contains("thank"));

    // The online-safety lead makes a lesson one minute long and approves it for this lesson.
    let mut staff = staff_browser();
    staff.sign_in(school.site.app, &school.osl);
    staff
        .goto(&format!("http://{}/requests", school.site.app))
        .unwrap();
    staff.fill("#lesson-minutes", "1").unwrap();
    staff.submit("form:has(#lesson-minutes)").unwrap();
    let page = staff.page_source().unwrap();
    assert!(page.contains("odds tables for maths"), "{page}");
    let id = page
        .split("id=\"approve-")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an approve button")
        .to_string();
    staff.click(&format!("#g-{id}-ks2")).unwrap();
    staff.click(&format!("#f-{id}-lesson")).unwrap();
    staff
        .fill(&format!("#n-{id}"), "Fine for the probability lesson")
        .unwrap();
    staff.submit(&format!("form:has(#approve-{id})")).unwrap();
    let approved_at = Instant::now();
    let text = staff.body_text().unwrap();
    assert!(text.contains("in force"), "{text}");
    assert!(text.contains(&format!("review-request:{id}")), "{text}");

    // The site opens for the pupil...
    let opened = within(Duration::from_secs(5), || {
        pupil.goto(&site_url).unwrap();
        pupil.title().unwrap_or_default() == "Origin bets.example"
    })
    .is_some();
    assert!(opened, "{}", pupil.body_text().unwrap_or_default());

    // ...until the lesson is over.
    let closed = within(Duration::from_secs(90), || {
        std::thread::sleep(Duration::from_secs(2));
        pupil.goto(&site_url).unwrap();
        pupil.body_text().unwrap_or_default().contains("blocked")
    })
    .is_some();
    assert!(
        closed,
        "still open {:?} after approval",
        approved_at.elapsed()
    );
    assert!(
        approved_at.elapsed() >= Duration::from_secs(55),
        "closed too early"
    );
    // The block page tells the pupil what became of the request.
    let text = pupil.body_text().unwrap();
    assert!(
        text.contains("You asked about this site") && text.contains("It was allowed"),
        "{text}"
    );
    staff
        .goto(&format!("http://{}/changes", school.site.app))
        .unwrap();
    assert!(staff.body_text().unwrap().contains("expired"));
    pupil.quit().unwrap();
    staff.quit().unwrap();
}
