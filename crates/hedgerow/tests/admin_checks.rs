//! The check log, the built-in self-test, the annual review and the roles and contacts
//! register, through the real gateway and a browser-like client: the self-test runs from the
//! command line and from the app, and a network manager records a check by hand with a
//! follow-up; the DSL records annual reviews (one
//! without a governor is refused) and keeps the register, whose online-safety lead the block
//! page then names; teachers and governors are kept to what their roles allow; and markup
//! typed into any of it comes back escaped.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::ToSpan;
use support::admin::{AdminSite, Client, StaffAccount, csrf_in, location};
use support::*;

/// A school with gambling, social networking and education lists, the shipped illegal-content
/// check lists (copied, as a school installs them), and three groups that treat the
/// categories differently.
fn config(dir: &Path) -> PathBuf {
    let illegal = dir.join("illegal");
    std::fs::create_dir_all(&illegal).unwrap();
    for entry in std::fs::read_dir(repo().join("lists/illegal")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, illegal.join(path.file_name().unwrap())).unwrap();
    }
    let school = format!(
        r#"online_safety_lead = "Mr Configured Lead"
online_safety_contact = "room 12"

# The test's own client, for the block page: a shared KS2 laptop, known by its address.
[[school.devices]]
name = "ks2-laptop"
kind = "laptop"
group = "ks2"
addresses = ["127.0.0.1"]
{ks2}{staff}{unknown}"#,
        ks2 = group_with(
            "ks2",
            "pupil",
            "name = \"KS2 pupils\"\n",
            &["gambling", "social-networking"]
        ),
        staff = group("staff", "staff", &["gambling"]),
        unknown = group(
            "unknown",
            "unidentified",
            &["gambling", "social-networking"]
        ),
    );
    SchoolConfig::new(dir)
        .list(
            "gambling.domains",
            "bets.example\ncasino.example\npoker.example\nslots.example\n",
        )
        .list("social_networks.domains", "friends.example\n")
        .list("liste_bu.domains", "library.example\n")
        .lists_keys(&format!("illegal = [\"{}\"]", illegal.display()))
        .school("test-school", "Test School", &school)
        .write()
}

/// A POST from `page` with that page's CSRF token, expecting `status`; returns the reply.
fn post(
    client: &Client,
    page: &str,
    action: &str,
    form: &[(&str, &str)],
    status: u16,
) -> (String, String) {
    let (got, headers, body) = client.submit(page, action, form);
    assert_eq!(got, status, "POST {action}: {headers}{body}");
    (headers, body)
}

/// The block page the KS2 laptop (127.0.0.1) gets for a gambling site.
fn block_page(site: &AdminSite) -> String {
    let reply = site.through_proxy(None, "http://bets.example/casino");
    assert_eq!(
        reply.status, 403,
        "the gambling site is blocked: {}",
        reply.body
    );
    reply.body
}

#[test]
fn self_test_check_log_annual_review_and_contacts_register() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let nm = StaffAccount::create(&config, "nm", "network-manager");
    let dsl = StaffAccount::create(&config, "ds", "dsl");
    let teacher = StaffAccount::create(&config, "tc", "teacher");
    let governor = StaffAccount::create(&config, "gv", "governor");

    // --- The self-test from the command line prints its report and records it. -----------
    let config_path = config.to_str().unwrap();
    let compiled = hedgerow(&["lists", "compile", "--config", config_path]);
    assert!(
        compiled.status.success(),
        "{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let output = hedgerow(&[
        "check",
        "self-test",
        "--config",
        config_path,
        "--by",
        "cli-test",
    ]);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(printed.contains("Result: pass."), "{printed}");
    assert!(printed.contains("run by cli-test"), "{printed}");
    assert!(
        printed.contains("Recorded in the check log as check 1."),
        "{printed}"
    );

    let mut site = AdminSite::start(&config, dir.path(), &[]);

    // --- The network manager runs the self-test from the app. -----------------------------
    let nm_client = site.signed_in(&nm);
    let log = nm_client.page("/checks");
    assert!(log.contains("1 check recorded"), "{log}");
    assert!(log.contains("<td>cli-test</td>"), "{log}");
    assert!(log.contains("Run the self-test now"), "{log}");
    let (headers, _) = post(&nm_client, "/checks", "/checks/self-test", &[], 303);
    let self_test_page = location(&headers);
    assert!(self_test_page.starts_with("/checks/"), "{headers}");
    let report = nm_client.page(&self_test_page);
    assert!(
        report.contains("<strong id=\"check-result\">Pass</strong>"),
        "{report}"
    );
    assert!(report.contains("Built-in self-test"), "{report}");
    assert!(
        report.contains("every group (ks2, staff, unknown)"),
        "{report}"
    );
    for expected in [
        "Result: pass.",
        "did not match the policy",
        // The shipped check lists, on the reserved test domain, for each of three groups.
        "ctiru-test: 2 check entries x 3 groups: 6 blocked, 0 allowed.",
        "iwf-test: 2 check entries x 3 groups: 6 blocked, 0 allowed.",
        "Group ks2 (KS2 pupils):",
        "Group staff (",
        "Group unknown (",
        "Gambling (gambling): expected blocked (gambling: block); 3 entries: 3 as expected.",
        "Education (education): expected allowed (education (group default): allow); 1 entry: 1 as expected.",
    ] {
        assert!(report.contains(expected), "{expected:?} in {report}");
    }
    // Social networking is blocked for pupils and allowed for staff, per group.
    let staff_part = &report[report.find("Group staff (").unwrap()..];
    assert!(
        staff_part.contains("expected allowed (social-networking (group default): allow)"),
        "{staff_part}"
    );
    let log = nm_client.page("/checks");
    assert!(log.contains("Built-in self-test"), "{log}");
    assert!(log.contains("<strong>Pass</strong>"), "{log}");
    assert!(log.contains("<td>nm</td>"), "{log}");

    // --- A check made by hand, with a follow-up that is then done. -------------------------
    let (_, body) = post(
        &nm_client,
        "/checks",
        "/checks",
        &[
            ("what", "Tried proxy sites"),
            ("target", "Group ks2 (KS2 pupils)"),
            ("details", "no result given"),
        ],
        400,
    );
    assert!(body.contains("Choose a result"), "{body}");
    assert!(
        body.contains("value=\"Tried proxy sites\""),
        "the form keeps what was typed: {body}"
    );
    let (headers, _) = post(
        &nm_client,
        "/checks",
        "/checks",
        &[
            (
                "what",
                "Tried <script>alert(1)</script> sites from a KS2 iPad",
            ),
            ("target", "Group ks2 (KS2 pupils)"),
            ("target_other", ""),
            ("result", "fail"),
            (
                "details",
                "The <script>alert('details')</script> page loaded.",
            ),
            ("follow_up", "Ask the IT provider to block <b>it</b>"),
        ],
        303,
    );
    let manual_page = location(&headers);
    let manual = nm_client.page(&manual_page);
    assert!(manual.contains("<strong id=\"check-result\">Fail</strong>"));
    assert!(manual.contains("Group ks2 (KS2 pupils)"), "{manual}");
    assert!(manual.contains("By hand"));
    assert!(manual.contains("Not done yet"), "{manual}");
    for hostile in ["<script>alert(1)", "<script>alert('details')", "<b>it</b>"] {
        assert!(!manual.contains(hostile), "{hostile} unescaped in {manual}");
    }
    assert!(
        manual.contains("&#60;script&#62;alert(1)") || manual.contains("&lt;script&gt;alert(1)")
    );
    let (headers, _) = post(
        &nm_client,
        &manual_page,
        &format!("{manual_page}/follow-up"),
        &[],
        303,
    );
    assert_eq!(location(&headers), manual_page);
    let manual = nm_client.page(&manual_page);
    assert!(!manual.contains("Not done yet"), "{manual}");
    assert!(manual.contains("by nm"), "{manual}");
    let (_, body) = post(
        &nm_client,
        &manual_page,
        &format!("{manual_page}/follow-up"),
        &[],
        409,
    );
    assert!(body.contains("already marked done"), "{body}");
    let log = nm_client.page("/checks");
    assert!(!log.contains("<script>alert(1)"), "{log}");
    assert!(log.contains("3 checks recorded"), "{log}");

    // --- The governor reads checks and reviews but changes nothing. ------------------------
    let gov_client = site.signed_in(&governor);
    let log = gov_client.page("/checks");
    assert!(log.contains("Built-in self-test") && !log.contains("Run the self-test now"));
    assert!(!log.contains("Record the check"), "{log}");
    gov_client.page(&self_test_page);
    gov_client.page("/reviews");
    gov_client.page("/contacts");
    let csrf = csrf_in(&log).unwrap();
    for (action, form) in [
        ("/checks/self-test", vec![]),
        (
            "/checks",
            vec![("what", "x"), ("target", "Every group"), ("result", "pass")],
        ),
        (&format!("{manual_page}/follow-up") as &str, vec![]),
        ("/reviews", vec![("held_on", "2026-03-10")]),
        ("/reviews/actions/1/done", vec![]),
        ("/contacts", vec![("role", "dpo"), ("name", "X")]),
        ("/contacts/1/remove", vec![]),
    ] {
        let mut form = form.clone();
        form.push(("csrf", &csrf));
        let (status, _, body) = gov_client.request(action, &form);
        assert_eq!(status, 403, "governor POST {action}: {body}");
    }

    // --- The annual review: a governor must take part; the next one is due a year on. ------
    let dsl_client = site.signed_in(&dsl);
    let reviews = dsl_client.page("/reviews");
    assert!(
        reviews.contains("No annual review is recorded yet: one is due now."),
        "{reviews}"
    );
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date();
    let today_text = today.to_string();
    let (_, body) = post(
        &dsl_client,
        "/reviews",
        "/reviews",
        &[
            ("held_on", &today_text),
            ("participant_name_0", "Mrs Head"),
            ("participant_role_0", "headteacher"),
            ("participant_name_1", "Mr Dee"),
            ("participant_role_1", "dsl"),
            ("findings", "Filtering works."),
        ],
        400,
    );
    assert!(
        body.contains("the annual review must include a governor"),
        "{body}"
    );
    assert!(
        body.contains("value=\"Mrs Head\""),
        "the rows are kept: {body}"
    );
    let dashboard = dsl_client.page("/");
    assert!(
        dashboard.contains("no review is recorded yet"),
        "still due: {dashboard}"
    );
    let action_due = (today + 30.days()).to_string();
    post(
        &dsl_client,
        "/reviews",
        "/reviews",
        &[
            ("held_on", &today_text),
            ("next_due", ""),
            ("participant_name_0", "Mrs Head"),
            ("participant_role_0", "headteacher"),
            (
                "participant_name_1",
                "Mrs <script>alert(5)</script> Governor",
            ),
            ("participant_role_1", "governor"),
            ("participant_name_2", "Mr Dee"),
            ("participant_role_2", "dsl"),
            ("findings", "Filtering works. <script>alert(6)</script>"),
            ("action_text_0", "Add the new tablets to the ks2 group"),
            ("action_owner_0", "Network manager"),
            ("action_due_0", &action_due),
        ],
        303,
    );
    let next_due = (today + 1.year()).strftime("%-d %B %Y").to_string();
    let reviews = dsl_client.page("/reviews");
    assert!(
        reviews.contains(&format!("The next annual review is due by {next_due}.")),
        "{next_due} in {reviews}"
    );
    assert!(
        reviews.contains("Mr Dee (Designated safeguarding lead)"),
        "{reviews}"
    );
    assert!(reviews.contains("Add the new tablets to the ks2 group"));
    assert!(reviews.contains("Network manager"));
    for hostile in ["<script>alert(5)", "<script>alert(6)"] {
        assert!(
            !reviews.contains(hostile),
            "{hostile} unescaped in {reviews}"
        );
    }
    let dashboard = dsl_client.page("/");
    assert!(dashboard.contains(&next_due), "{next_due} on {dashboard}");
    assert!(!dashboard.contains("no review is recorded yet"));
    let action = reviews
        .split("action=\"/reviews/actions/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a mark-done form for the action")
        .to_string();
    post(
        &dsl_client,
        "/reviews",
        &format!("/reviews/actions/{action}/done"),
        &[],
        303,
    );
    let reviews = dsl_client.page("/reviews");
    assert!(!reviews.contains("action=\"/reviews/actions/"), "{reviews}");
    assert!(reviews.contains("by ds"), "{reviews}");

    // --- The contacts register: kept by the DSL, read by a teacher, named on the block page.
    let before = block_page(&site);
    assert!(before.contains("Mr Configured Lead"), "{before}");
    let teacher_client = site.signed_in(&teacher);
    let register = teacher_client.page("/contacts");
    assert!(!register.contains("Add to the register"), "{register}");
    let (status, _, _) = teacher_client.request(
        "/contacts",
        &[
            ("role", "online-safety-lead"),
            ("name", "Teacher's pick"),
            ("csrf", &csrf_in(&register).unwrap()),
        ],
    );
    assert_eq!(status, 403);
    let (_, body) = post(
        &dsl_client,
        "/contacts",
        "/contacts",
        &[("role", "online-safety-lead"), ("name", " ")],
        400,
    );
    assert!(body.contains("Give the person"), "{body}");
    post(
        &dsl_client,
        "/contacts",
        "/contacts",
        &[
            ("role", "online-safety-lead"),
            ("name", "Ms Ada Okafor <script>alert(7)</script>"),
            ("email", "osl@school.example"),
            ("phone", "01632 960000"),
        ],
        303,
    );
    post(
        &dsl_client,
        "/contacts",
        "/contacts",
        &[("role", "dpo"), ("name", "Mr Data")],
        303,
    );
    let register = teacher_client.page("/contacts");
    assert!(register.contains("Ms Ada Okafor"), "{register}");
    assert!(!register.contains("<script>alert(7)"), "{register}");
    assert!(register.contains("01632 960000") && register.contains("Mr Data"));
    assert!(
        register.contains("Online-safety governor"),
        "a missing role is named"
    );

    // The block page names the registered lead within seconds, escaped.
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let page = block_page(&site);
        if page.contains("Ms Ada Okafor") || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(page.contains("Ms Ada Okafor"), "{page}");
    assert!(page.contains("osl@school.example"), "{page}");
    assert!(!page.contains("Mr Configured Lead"), "{page}");
    assert!(!page.contains("<script>alert(7)"), "{page}");

    // Replacing and removing entries.
    let register = dsl_client.page("/contacts");
    let dpo_id = register
        .split("action=\"/contacts/")
        .filter_map(|rest| rest.split('/').next())
        .last()
        .expect("a remove form")
        .to_string();
    let edit = dsl_client.page(&format!("/contacts?edit={dpo_id}"));
    assert!(edit.contains("value=\"Mr Data\""), "{edit}");
    post(
        &dsl_client,
        "/contacts",
        "/contacts",
        &[("id", &dpo_id), ("role", "dpo"), ("name", "Mrs Data")],
        303,
    );
    let register = dsl_client.page("/contacts");
    assert!(
        register.contains("Mrs Data") && !register.contains("Mr Data<"),
        "{register}"
    );
    post(
        &dsl_client,
        "/contacts",
        &format!("/contacts/{dpo_id}/remove"),
        &[],
        303,
    );
    let register = dsl_client.page("/contacts");
    assert!(!register.contains("Mrs Data"), "{register}");

    assert!(
        site.process.stop(),
        "the gateway stops cleanly: {}",
        site.log()
    );
}
