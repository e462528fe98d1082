//! Acceptable use agreements in a real browser (headless Chromium through chromedriver),
//! against the running gateway: a new pupil browsing through the proxy is held at the access
//! portal, accepts their agreement and browses; the DSL publishes a new version in the admin
//! app, which sends the pupil back to the portal; a parent's link from a printed letter
//! co-signs a child's agreement and sets image consent, which the register, the class's "do
//! not photograph" list and the acceptance report then show; and a visitor's day code lets a
//! guest device on for its own day only.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hedgerow_agreements::{Audience, default_template};
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
    portal: SocketAddr,
    dsl: StaffAccount,
    teacher: StaffAccount,
}

/// The small school, holding `held` at the portal, with `extra` in the school (devices,
/// users), a games site at a local origin, and pupils imported from `pupils_csv` when given.
/// `None` when the tools are missing (and not required).
fn school(held: &str, extra: &str, pupils_csv: Option<&str>) -> Option<School> {
    if !have_tools(&["curl", "dig", "dnsmasq"]) || !support::browser::available() {
        return None;
    }
    let (upstream, up_addr) = start_upstream(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (origin, proxy_table) =
        origin_for(dir.path(), Ipv4Addr::new(127, 0, 0, 88), &["games.example"]);
    let config = small_school(
        dir.path(),
        &format!("{extra}\n[school.agreements]\nhold = [\"{held}\"]\n{proxy_table}"),
    );
    if let Some(csv) = pupils_csv {
        import_pupils(&config, dir.path(), csv);
    }
    let dsl = StaffAccount::create(&config, "dsl", "dsl");
    let teacher = StaffAccount::create(&config, "teacher", "teacher");
    let portal = free_address();
    let site = AdminSite::start(
        &config,
        dir.path(),
        &[
            "--upstream",
            &up_addr.to_string(),
            "--portal-listen",
            &portal.to_string(),
        ],
    );
    site.wait_for_dns();
    Some(School {
        dir,
        _upstream: upstream,
        origin,
        site,
        portal,
        dsl,
        teacher,
    })
}

fn import_pupils(config: &Path, dir: &Path, csv: &str) {
    let file = dir.join("pupils.csv");
    std::fs::write(&file, csv).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hedgerow"))
        .args(["people", "import", "--kind", "pupils", "--config"])
        .arg(config)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "import: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A browser whose every request goes through the school's proxy, as a school laptop's does.
fn through_proxy(school: &School) -> Browser {
    Browser::start(BrowserOptions {
        proxy: Some(school.site.proxy),
        ..BrowserOptions::default()
    })
    .expect("chromium starts")
}

/// The games site's address at the test origin (its port is the origin's own).
fn games(school: &School, path: &str) -> String {
    format!(
        "http://games.example:{}{path}",
        school.origin.http_addr().port()
    )
}

fn direct() -> Browser {
    Browser::start(BrowserOptions::default()).expect("chromium starts")
}

/// Opens `url` and waits until the portal (`portal`) has taken the browser over.
fn held_at_portal(browser: &mut Browser, url: &str, portal: SocketAddr) -> String {
    browser.goto(url).unwrap();
    let at = browser.current_url().unwrap();
    assert!(
        at.starts_with(&format!("http://{portal}/")),
        "{url} is held at the portal, not at {at}: {}",
        browser.body_text().unwrap_or_default()
    );
    browser.body_text().unwrap()
}

fn today_in_london() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .in_tz("Europe/London")
        .unwrap()
        .date()
}

#[test]
fn a_new_pupil_is_held_at_the_portal_until_they_accept_and_again_after_a_new_version() {
    // The test browser's address (127.0.0.1) is a laptop of a pupil who has accepted nothing.
    let extra = r#"
[[school.users]]
username = "pupil.new"
name = "Nia New"
kind = "pupil"
group = "ks2"

[[school.devices]]
name = "nia-laptop"
kind = "laptop"
group = "ks2"
addresses = ["127.0.0.1"]
owner = "pupil.new"
"#;
    let Some(school) = school("ks2", extra, None) else {
        return;
    };
    let mut pupil = through_proxy(&school);

    // Held: the proxy sends the page to the portal, which knows who is asking.
    let portal_page = held_at_portal(&mut pupil, &games(&school, "/"), school.portal);
    let ks2 = default_template(Audience::Ks2);
    assert!(portal_page.contains("Nia New"), "{portal_page}");
    assert!(portal_page.contains(&ks2.title), "{portal_page}");
    assert!(
        portal_page.contains(hedgerow_agreements::monitoring_notice(Audience::Ks2)),
        "the monitoring notice is part of what is accepted: {portal_page}"
    );
    // Unticked, nothing is recorded and the pupil is still held.
    pupil.submit("form[action='/accept']").unwrap();
    assert!(
        pupil
            .current_url()
            .unwrap()
            .contains(&school.portal.to_string()),
        "{}",
        pupil.body_text().unwrap()
    );
    pupil.click("#agree").unwrap();
    pupil.submit("form[action='/accept']").unwrap();
    let page = pupil.body_text().unwrap();
    assert!(
        page.contains("origin page for games.example"),
        "after accepting, the page asked for opens: {page} {}",
        school.site.log()
    );
    let accepted = with_store(school.dir.path(), async |s| {
        let id = s.school_by_slug("test-school").await.unwrap().unwrap().id;
        s.acceptances_for(id, hedgerow_store::SubjectKind::User, "pupil.new")
            .await
            .unwrap()
    });
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0].method, hedgerow_store::AcceptanceMethod::Portal);
    assert_eq!(accepted[0].audience, "ks2");
    assert_eq!(accepted[0].version, 1);
    assert_eq!(accepted[0].client_addr.as_deref(), Some("127.0.0.1"));

    // The DSL publishes a new KS2 version in the admin app.
    let mut staff = direct();
    staff.sign_in(school.site.app, &school.dsl);
    staff
        .goto(&format!("http://{}/agreements/ks2", school.site.app))
        .unwrap();
    staff.set_value("#title", "Our internet agreement for 2027");
    staff.set_value(
        "#body",
        "## New this year\n- I ask a teacher before I use a website I have not used at school before.\n- I know the school's internet is filtered and monitored.",
    );
    staff.fill("#note", "A rule about new websites").unwrap();
    staff.click("#confirm").unwrap();
    staff.submit("form[action='/agreements/ks2']").unwrap();
    let published = staff.body_text().unwrap();
    assert!(
        published.contains("Our internet agreement for 2027"),
        "{published}"
    );

    // Within seconds the pupil is back at the portal, reading version 2.
    let mut again = String::new();
    pupil
        .wait_until(Duration::from_secs(15), |b| {
            b.goto(&games(&school, "/next"))?;
            again = b.body_text()?;
            Ok(b.current_url()?.contains(&school.portal.to_string()))
        })
        .unwrap_or_else(|_| panic!("the new version holds the pupil again: {again}"));
    assert!(again.contains("Our internet agreement for 2027"), "{again}");
    assert!(again.contains("Version 2"), "{again}");
    assert!(
        again.contains("I ask a teacher before I use a website"),
        "{again}"
    );
    pupil.click("#agree").unwrap();
    pupil.submit("form[action='/accept']").unwrap();
    let page = pupil.body_text().unwrap();
    assert!(page.contains("origin page for games.example"), "{page}");

    // The report shows who has and has not accepted the version in force.
    staff
        .goto(&format!(
            "http://{}/agreements/report?audience=ks2",
            school.site.app
        ))
        .unwrap();
    let standing = |browser: &mut Browser, username: &str| {
        browser
            .execute(
                "const r = document.querySelector(`tr[data-username='${arguments[0]}']`); return r ? r.dataset.standing : null;",
                vec![json!(username)],
            )
            .unwrap()
    };
    assert_eq!(standing(&mut staff, "pupil.new"), json!("current"));
    assert_eq!(standing(&mut staff, "pupil.a"), json!("not-accepted"));
    pupil.quit().unwrap();
    staff.quit().unwrap();
}

#[test]
fn a_parents_link_co_signs_and_sets_image_consent_for_their_child_only() {
    let pupils = "UPN,Legal Surname,Legal Forename,NC Year,Reg Group,Network Login,Hedgerow Group\n\
                  A100000000001,Example,Ava,Year 4,4B,ava.e,ks2\n\
                  A100000000002,Sample,Ben,Year 4,4B,ben.s,ks2\n";
    let Some(school) = school("ks2", "", Some(pupils)) else {
        return;
    };

    // The class teacher prints the letters for 4B.
    let mut staff = direct();
    staff.sign_in(school.site.app, &school.teacher);
    staff
        .goto(&format!("http://{}/agreements/report", school.site.app))
        .unwrap();
    staff.set_value("#letters-class", "4B");
    staff.submit("form[action='/agreements/letters']").unwrap();
    let letters = staff
        .execute(
            "return Array.from(document.querySelectorAll('article.letter')).map(a => [a.querySelector('strong').textContent, a.querySelector('.link').textContent, a.querySelector('.qr svg') !== null]);",
            vec![],
        )
        .unwrap();
    let letters = letters.as_array().unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    let ava = letters
        .iter()
        .find(|l| l[0].as_str().unwrap().contains("Ava"))
        .expect("a letter for Ava");
    assert_eq!(ava[2], json!(true), "each letter has its QR code");
    let link = ava[1].as_str().unwrap().trim().to_string();
    assert!(
        link.starts_with(&format!("http://{}/parent/", school.portal)),
        "{link}"
    );

    // At home, a parent opens the link: Ava and her class, nobody else.
    let mut parent = direct();
    parent.goto(&link).unwrap();
    let page = parent.page_source().unwrap();
    assert!(page.contains("Ava"), "{page}");
    assert!(page.contains("4B"), "{page}");
    for other in ["Ben", "Sample", "Example", "ava.e", "ben.s"] {
        assert!(!page.contains(other), "{other} is not shown: {page}");
    }
    parent.click("#cosign").unwrap();
    parent.click("#parents_agree").unwrap();
    for (image_use, answer) in [
        ("website", "given"),
        ("social-media", "refused"),
        ("newsletter", "given"),
        ("press", "refused"),
        ("displays", "given"),
    ] {
        parent
            .click(&format!("#consent-{image_use}-{answer}"))
            .unwrap();
    }
    parent.fill("#parent_name", "Sam Example").unwrap();
    parent.submit("form").unwrap();
    let thanks = parent.body_text().unwrap();
    assert!(thanks.to_lowercase().contains("thank"), "{thanks}");

    // A link changed by one letter shows nothing at all.
    let mut tampered = link.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    parent.goto(&tampered).unwrap();
    let refused = parent.page_source().unwrap();
    assert!(!refused.contains("Ava"), "{refused}");
    assert!(refused.contains("does not work"), "{refused}");

    // The register shows the parent's answers, changed by the parent's link.
    staff
        .goto(&format!(
            "http://{}/image-consent?class=4B",
            school.site.app
        ))
        .unwrap();
    let row = |browser: &mut Browser, username: &str| {
        browser
            .execute(
                "const r = document.querySelector(`tr[data-username='${arguments[0]}']`); return r ? r.innerText : '';",
                vec![json!(username)],
            )
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    };
    let ava_row = row(&mut staff, "ava.e");
    assert!(ava_row.contains("Given"), "{ava_row}");
    assert!(ava_row.contains("Refused"), "{ava_row}");
    let history = with_store(school.dir.path(), async |s| {
        let id = s.school_by_slug("test-school").await.unwrap().unwrap().id;
        s.image_consent_history(id, "ava.e", &hedgerow_store::ActingUser::new("test"))
            .await
            .unwrap()
    });
    assert_eq!(history.len(), 5, "every answer is a recorded change");
    assert!(history.iter().all(|c| c.via == "parent-link"));
    assert!(history.iter().all(|c| c.changed_by.contains("Sam Example")));

    // The class's "do not photograph or publish" list: Ava for social media and the press.
    staff
        .goto(&format!(
            "http://{}/image-consent/do-not-photograph?class=4B",
            school.site.app
        ))
        .unwrap();
    let ava_line = row(&mut staff, "ava.e");
    let ava_line = if ava_line.is_empty() {
        staff
            .execute(
                "return Array.from(document.querySelectorAll('#do-not-photograph tr')).map(r => r.innerText).find(t => t.includes('Ava')) || '';",
                vec![],
            )
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    } else {
        ava_line
    };
    use hedgerow_agreements::ImageUse;
    assert!(
        ava_line.contains(ImageUse::SocialMedia.label()),
        "{ava_line}"
    );
    assert!(ava_line.contains(ImageUse::Press.label()), "{ava_line}");
    for given in [ImageUse::Website, ImageUse::Newsletter, ImageUse::Displays] {
        assert!(!ava_line.contains(given.label()), "{ava_line}");
    }

    // Reminders go only to the parents who have not co-signed: Ben's.
    staff
        .goto(&format!("http://{}/agreements/report", school.site.app))
        .unwrap();
    staff.set_value("#letters-class", "4B");
    staff.click("#only_unsigned").unwrap();
    staff.submit("form[action='/agreements/letters']").unwrap();
    let reminders = staff
        .execute(
            "return Array.from(document.querySelectorAll('article.letter strong')).map(s => s.textContent);",
            vec![],
        )
        .unwrap();
    assert_eq!(reminders, json!(["Ben Sample"]), "{reminders:?}");
    // Printing a new letter for Ava would have stopped her parent's link; the reminder run
    // left it working.
    parent.goto(&link).unwrap();
    assert!(parent.page_source().unwrap().contains("Ava"));

    // The acceptance report shows Ava's agreement co-signed by her parent.
    let report = with_store(school.dir.path(), async |s| {
        let id = s.school_by_slug("test-school").await.unwrap().unwrap().id;
        s.agreement_report(id, &hedgerow_store::ActingUser::new("test"))
            .await
            .unwrap()
    });
    let ava_report = report.iter().find(|r| r.username == "ava.e").unwrap();
    assert!(
        ava_report.latest.iter().any(|a| a.audience == "ks2"
            && a.method == hedgerow_store::AcceptanceMethod::ParentLink
            && a.signed_by == "Sam Example"
            && a.relationship == "parent-carer"),
        "{ava_report:?}"
    );
    staff
        .goto(&format!(
            "http://{}/agreements/report?class=4B",
            school.site.app
        ))
        .unwrap();
    let ava_report_row = row(&mut staff, "ava.e");
    assert!(ava_report_row.contains("Sam Example"), "{ava_report_row}");
    parent.quit().unwrap();
    staff.quit().unwrap();
}

#[test]
fn a_visitors_day_code_works_on_its_own_day_only() {
    // The test browser's address is the guest Wi-Fi, whose unidentified guests are held.
    let extra = r#"
[[school.devices]]
name = "guest-wifi"
kind = "guest-wifi"
group = "unknown"
addresses = ["127.0.0.1"]
"#;
    let Some(school) = school("unknown", extra, None) else {
        return;
    };
    let today = today_in_london();
    let tomorrow = today.tomorrow().unwrap();
    let yesterday = today.yesterday().unwrap();

    // Reception issues a code for today and one for a visitor expected tomorrow.
    let mut reception = direct();
    reception.sign_in(school.site.app, &school.teacher);
    let mut issue = |name: &str, day: jiff::civil::Date| {
        reception
            .goto(&format!("http://{}/visitors", school.site.app))
            .unwrap();
        reception.fill("#visitor", name).unwrap();
        reception.set_value("#day", &day.to_string());
        reception.submit("form[action='/visitors']").unwrap();
        reception
            .execute(
                "const c = document.querySelector('#day-code'); return c ? c.textContent.trim() : '';",
                vec![],
            )
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    };
    let todays = issue("Jo Visitor", today);
    let tomorrows = issue("Kim Tomorrow", tomorrow);
    assert!(
        hedgerow_agreements::normalise_day_code(&todays).is_some(),
        "{todays}"
    );
    assert_ne!(todays, tomorrows);
    // Yesterday's visitor's code (reception cannot issue one for a past day, so it is written
    // as it would have been yesterday).
    let yesterdays = hedgerow_agreements::day_code([7, 1, 2, 3, 4, 5, 6, 8]);
    with_store(school.dir.path(), async |s| {
        let id = s.school_by_slug("test-school").await.unwrap().unwrap().id;
        let canonical = hedgerow_agreements::normalise_day_code(&yesterdays).unwrap();
        s.issue_visitor_code(
            id,
            &hedgerow_agreements::sha256_hex(canonical.as_bytes()),
            "Lee Yesterday",
            yesterday,
            "teacher",
        )
        .await
        .unwrap();
    });

    let mut guest = through_proxy(&school);
    let portal_page = held_at_portal(&mut guest, &games(&school, "/"), school.portal);
    assert!(portal_page.contains("Day code"), "{portal_page}");
    let try_code = |browser: &mut Browser, code: &str| {
        browser.fill("#code", code).unwrap();
        browser.fill("#name", "A Visitor").unwrap();
        browser.click("#agree").unwrap();
        browser.submit("form[action='/visitor']").unwrap();
        browser.body_text().unwrap()
    };
    let long = |day: jiff::civil::Date| day.strftime("%A %-d %B %Y").to_string();
    for (code, day) in [(&tomorrows, tomorrow), (&yesterdays, yesterday)] {
        let refused = try_code(&mut guest, code);
        assert!(
            refused.contains(&format!("That code was for {}, not today", long(day))),
            "{refused}"
        );
        assert!(
            guest
                .current_url()
                .unwrap()
                .contains(&school.portal.to_string())
        );
    }
    let admitted = try_code(&mut guest, &todays.to_lowercase());
    assert!(
        admitted.contains("origin page for games.example"),
        "today's code lets the guest on: {admitted} {}",
        school.site.log()
    );

    // Let on until midnight, London time, and no longer.
    let (now, admissions, tomorrow_morning) = with_store(school.dir.path(), async |s| {
        let id = s.school_by_slug("test-school").await.unwrap().unwrap().id;
        let now = jiff::Timestamp::now();
        let midnight = tomorrow
            .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/London").unwrap())
            .unwrap()
            .timestamp();
        (
            now,
            s.visitor_admissions(id, now).await.unwrap(),
            s.visitor_admissions(id, midnight).await.unwrap(),
        )
    });
    assert_eq!(admissions.len(), 1, "{admissions:?}");
    assert_eq!(admissions[0].visitor_name, "Jo Visitor");
    assert_eq!(
        admissions[0]
            .until
            .in_tz("Europe/London")
            .unwrap()
            .datetime(),
        tomorrow.at(0, 0, 0, 0),
        "admitted at {now} until the end of today"
    );
    assert!(tomorrow_morning.is_empty(), "{tomorrow_morning:?}");
    guest.quit().unwrap();
    reception.quit().unwrap();
}
