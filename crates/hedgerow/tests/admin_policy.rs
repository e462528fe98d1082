//! Change control through the admin app, against the running gateway: a change needs a
//! reason, waits for a second person where the approval rules say so, then changes live DNS
//! and proxy decisions within 5 seconds; it is found in the change log and its CSV export, and
//! reverting it blocks again. Teachers' requests are queued, approved or declined, and the
//! teacher sees the outcome. Hostile text is shown escaped.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use support::admin::{AdminSite, Client, StaffAccount, location, origin_for};
use support::origin::TestOrigin;
use support::*;

const HOSTILE: &str = "<script>alert(1)</script><b>maths</b>";

struct School {
    _dir: tempfile::TempDir,
    _upstream: Running,
    origin: TestOrigin,
    site: AdminSite,
    netman: StaffAccount,
    osl: StaffAccount,
    teacher: StaffAccount,
}

fn school() -> School {
    let (upstream, up_addr) = start_upstream(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (origin, proxy_table) =
        origin_for(dir.path(), Ipv4Addr::new(127, 0, 0, 84), &["bets.example"]);
    let config = small_school(dir.path(), &proxy_table);
    let netman = StaffAccount::create(&config, "nm", "network-manager");
    let osl = StaffAccount::create(&config, "osl", "online-safety-lead");
    let teacher = StaffAccount::create(&config, "teach", "teacher");
    let site = AdminSite::start(&config, dir.path(), &["--upstream", &up_addr.to_string()]);
    site.wait_for_dns();
    School {
        _dir: dir,
        _upstream: upstream,
        origin,
        site,
        netman,
        osl,
        teacher,
    }
}

impl School {
    /// What the pupil's laptop is told for a name.
    fn dns(&self) -> String {
        self.site.dns_answer(PUPIL_LAPTOP, "bets.example")
    }

    /// The proxy's status for the pupil's laptop fetching the gambling site.
    fn proxy(&self) -> u16 {
        let url = format!(
            "http://bets.example:{}/odds",
            self.origin.http_addr().port()
        );
        self.site.through_proxy(Some(PUPIL_LAPTOP), &url).status
    }

    fn blocked(&self) -> bool {
        self.dns() == "127.0.0.1" && self.proxy() == 403
    }

    fn allowed(&self) -> bool {
        self.dns() == "192.0.2.1" && self.proxy() == 200
    }
}

/// The change id a proposal redirected to.
fn change_id(headers: &str) -> String {
    let to = location(headers);
    to.strip_prefix("/changes/")
        .unwrap_or_else(|| panic!("no redirect to a change: {headers}"))
        .to_string()
}

fn assert_escaped(body: &str) {
    assert!(
        !body.contains("<script>alert(1)"),
        "unescaped markup: {body}"
    );
    assert!(
        body.contains("&lt;script&gt;") || body.contains("&#60;script&#62;"),
        "escaped markup shown: {body}"
    );
}

#[test]
fn a_change_in_the_app_reaches_dns_and_proxy_and_the_change_log() {
    if !have_tools(&["curl", "dig", "dnsmasq"]) {
        return;
    }
    let school = school();
    assert!(
        school.blocked(),
        "gambling starts blocked for the KS2 laptop"
    );
    let nm: Client = school.site.signed_in(&school.netman);

    // No reason, no change; and no change can allow illegal content.
    let (status, _, body) = nm.submit(
        "/policy",
        "/policy/change",
        &[
            ("change", "site-override"),
            ("host", "bets.example"),
            ("verdict", "allow"),
            ("groups", "ks2"),
        ],
    );
    assert_eq!(status, 400);
    assert!(body.contains("reason"), "{body}");
    let (status, _, body) = nm.submit(
        "/policy",
        "/policy/change",
        &[
            ("change", "category-action"),
            ("group", "ks2"),
            ("category", "illegal-child-abuse"),
            ("action", "allow"),
            ("reason", "trying"),
        ],
    );
    assert_eq!(status, 400);
    assert!(body.contains("illegal"), "{body}");

    // Unblocking for pupils waits for a second person.
    let (status, headers, _) = nm.submit(
        "/policy",
        "/policy/change",
        &[
            ("change", "site-override"),
            ("host", "bets.example"),
            ("verdict", "allow"),
            ("groups", "ks2"),
            ("reason", &format!("Probability lesson {HOSTILE}")),
        ],
    );
    assert_eq!(status, 303, "{headers}");
    let id = change_id(&headers);
    let (_, _, page) = nm.request(&format!("/changes/{id}"), &[]);
    assert!(page.contains("waiting for approval"), "{page}");
    assert_escaped(&page);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(school.blocked(), "a pending change changes nothing");
    let (status, _, _) = nm.submit(
        &format!("/changes/{id}"),
        &format!("/changes/{id}/approve"),
        &[],
    );
    assert_eq!(status, 403, "the network manager cannot approve");

    // The online-safety lead approves: the DNS filter and the proxy follow within 5 s.
    let osl = school.site.signed_in(&school.osl);
    let (status, _, body) = osl.submit(
        &format!("/changes/{id}"),
        &format!("/changes/{id}/approve"),
        &[],
    );
    assert_eq!(status, 303, "{body}");
    let took = within(Duration::from_secs(5), || school.allowed());
    assert!(
        took.is_some(),
        "not live within 5 s (dns {}, proxy {}):\n{}",
        school.dns(),
        school.proxy(),
        school.site.log()
    );

    // The change log finds it by its words and status, and exports it.
    let (_, _, log) = osl.request("/changes?text=Probability&status=applied", &[]);
    assert!(log.contains("bets.example"), "{log}");
    assert!(log.contains(&format!("/changes/{id}\"")), "{log}");
    assert_escaped(&log);
    let (_, _, none) = osl.request("/changes?text=nothing-like-this", &[]);
    assert!(!none.contains(&format!("/changes/{id}\"")));
    let (status, headers, csv) = osl.request("/changes/export.csv?text=Probability", &[]);
    assert_eq!(status, 200);
    assert!(headers.contains("text/csv"), "{headers}");
    assert!(
        csv.contains("Probability lesson") && csv.contains("nm"),
        "{csv}"
    );

    // Reverting blocks again, as fast.
    let (status, _, _) = nm.submit(
        &format!("/changes/{id}"),
        &format!("/changes/{id}/revert"),
        &[("reason", "The lesson is over")],
    );
    assert_eq!(status, 303);
    let took = within(Duration::from_secs(5), || school.blocked());
    assert!(took.is_some(), "the revert was not live within 5 s");
}

#[test]
fn teachers_requests_are_decided_and_the_teacher_sees_the_outcome() {
    if !have_tools(&["curl", "dig", "dnsmasq"]) {
        return;
    }
    let school = school();
    let teacher = school.site.signed_in(&school.teacher);
    for comment in ["Odds tables for maths", HOSTILE] {
        let (status, _, body) = teacher.submit(
            "/requests",
            "/requests",
            &[
                ("url", "http://bets.example/odds"),
                ("group", "ks2"),
                ("when", "today"),
                ("comment", comment),
            ],
        );
        assert_eq!(status, 303, "{body}");
    }
    let (status, _, _) = teacher.request("/policy", &[]);
    assert_eq!(status, 403, "teachers do not edit the policy");

    let osl = school.site.signed_in(&school.osl);
    let (_, _, queue) = osl.request("/requests", &[]);
    assert_escaped(&queue);
    let ids: Vec<String> = queue
        .split("action=\"/requests/")
        .skip(1)
        .filter_map(|s| s.split('/').next())
        .filter(|id| id.parse::<u64>().is_ok())
        .map(str::to_string)
        .collect();
    assert!(ids.len() >= 2, "{queue}");
    let (first, second) = (&ids[0], &ids[ids.len() - 1]);

    // Declined with a reason the teacher reads.
    let (status, _, _) = osl.submit(
        "/requests",
        &format!("/requests/{first}/decline"),
        &[("note", "Use the maths site we subscribe to")],
    );
    assert_eq!(status, 303);
    // Approved for today for KS2: live at once, and recorded as a change.
    let (status, headers, body) = osl.submit(
        "/requests",
        &format!("/requests/{second}/approve"),
        &[
            ("groups", "ks2"),
            ("for", "today"),
            ("note", "Fine for today"),
        ],
    );
    assert_eq!(status, 303, "{body}");
    let id = change_id(&headers);
    let took = within(Duration::from_secs(5), || school.allowed());
    assert!(took.is_some(), "the approval was not live within 5 s");
    let (_, _, change) = osl.request(&format!("/changes/{id}"), &[]);
    assert!(
        change.contains(&format!("review-request:{second}")),
        "{change}"
    );
    assert!(change.contains("Applies until"), "{change}");

    // A decided request cannot be decided again.
    let (status, _, _) = osl.submit(
        "/requests",
        &format!("/requests/{second}/decline"),
        &[("note", "changed my mind")],
    );
    assert_eq!(status, 400);

    let (_, _, own) = teacher.request("/requests", &[]);
    assert!(
        own.contains("declined") && own.contains("Use the maths site"),
        "{own}"
    );
    assert!(own.contains("approved"), "{own}");
}
