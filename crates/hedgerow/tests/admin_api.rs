//! The admin app's JSON API against the real binary: tokens made on the page (curl with a
//! cookie jar, as a browser would), then used with `Authorization: Bearer`; refusals by token
//! (none, wrong, revoked, disabled account) and by role; no cookie reaches the API; CSRF is not
//! needed with a bearer token; a change proposed through the API in the change log and
//! approved by a second person; the audit records of tokens and of reading activity; the
//! throttle on wrong tokens; a block-page review request approved through the API for today
//! (in the change log and live in DNS), a teacher's request asked and approved for the lesson,
//! the lesson-length and approval-rule settings, the people import (a dry run near the 5 MB
//! limit, a real one that moves the counts, bad rows refused with their numbers) and staff
//! accounts within `can_grant`; and Schemathesis run against the OpenAPI document, which must
//! find no server error and no answer outside the schema.
//!
//! The Schemathesis test skips (saying so) when Schemathesis is not installed, unless
//! `HEDGEROW_REQUIRE_SCHEMATHESIS=1` (scripts/test-all.sh sets it; scripts/test-env.sh installs
//! it into /opt/hedgerow-test/schemathesis).

mod support;

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use hedgerow_store::{ActivityEvent, EventSource, NewReviewRequest, ReviewKind, Verdict};
use serde_json::Value;
use support::admin::{AdminSite, Client, Reply, StaffAccount, with_store};
use support::*;

/// Writes a week of activity for `test-school` (including hostile text) and two review
/// requests straight into the store, as the gateway would have.
fn seed(config_dir: &Path) {
    with_store(config_dir, async |store| {
        let school = store
            .ensure_school("test-school", "Test School", "Europe/London")
            .await
            .unwrap();
        let now = jiff::Timestamp::now();
        let mut events = Vec::new();
        for n in 0..60i64 {
            let blocked = n % 3 == 0;
            events.push(ActivityEvent {
                school,
                at: now - jiff::SignedDuration::from_mins(97 * n),
                source: if n % 2 == 0 {
                    EventSource::Dns
                } else {
                    EventSource::Proxy
                },
                client_ip: IpAddr::from([127, 0, 0, 21]),
                user: Some(
                    if n % 5 == 0 {
                        "<b>pupil.b</b>"
                    } else {
                        "pupil.a"
                    }
                    .to_owned(),
                ),
                device: Some("laptop-a".to_owned()),
                group: Some("ks2".to_owned()),
                host: if blocked {
                    "bets.example".to_owned()
                } else {
                    "www.bbc.co.uk".to_owned()
                },
                url: (n % 2 == 1).then(|| "http://www.bbc.co.uk/news".to_owned()),
                method: (n % 2 == 1).then(|| "GET".to_owned()),
                qtype: (n % 2 == 0).then(|| "A".to_owned()),
                category: blocked.then(|| "gambling".to_owned()),
                verdict: if blocked {
                    Verdict::Block
                } else {
                    Verdict::Allow
                },
                rule: if blocked {
                    "group:ks2:gambling".to_owned()
                } else {
                    "default".to_owned()
                },
                reason: None,
                search_term: (n % 7 == 0)
                    .then(|| "=HYPERLINK(\"x\") <script>alert(1)</script>".to_owned()),
                status: (n % 2 == 1).then_some(200),
                bytes: (n % 2 == 1).then_some(1_234),
                duration_us: Some(900),
                page_title: None,
            });
        }
        store.insert_events(&events).await.unwrap();
        for (n, url) in [
            "http://bets.example/odds",
            "http://bets.example/<i>maths</i>",
        ]
        .into_iter()
        .enumerate()
        {
            store
                .insert_review_request(&NewReviewRequest {
                    school,
                    created_at: now - jiff::SignedDuration::from_mins(n as i64),
                    requested_by_user: Some("pupil.a".to_owned()),
                    device: Some("laptop-a".to_owned()),
                    client_addr: IpAddr::from([127, 0, 0, 21]),
                    url: url.to_owned(),
                    host: "bets.example".to_owned(),
                    kind: ReviewKind::ShouldNotBeBlocked,
                    verdict_at_request: Verdict::Block,
                    category: Some("gambling".to_owned()),
                    rule: None,
                    comment: "for a maths lesson on probability".to_owned(),
                })
                .await
                .unwrap();
        }
    });
}

/// Disables an account behind the app's back, as another administrator would.
fn disable(config_dir: &Path, username: &str) {
    with_store(config_dir, async |store| {
        let account = store
            .admin_account_by_username(username)
            .await
            .unwrap()
            .unwrap();
        let by = hedgerow_store::ActingUser::new("test");
        assert!(
            store
                .set_admin_disabled(account.id, true, &by)
                .await
                .unwrap()
        );
    });
}

/// The ids of the revoke forms on the tokens page, newest token first.
fn revoke_ids(client: &Client) -> Vec<String> {
    let (_, _, body) = client.request("/api-tokens", &[]);
    body.match_indices("action=\"/api-tokens/")
        .map(|(at, m)| body[at + m.len()..].split('/').next().unwrap().to_owned())
        .collect()
}

fn json(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body)
        .unwrap_or_else(|e| panic!("JSON ({e}), status {}: {}", reply.status, reply.body))
}

/// Asserts a JSON refusal with this status and a sentence in `error`.
fn refused(reply: &Reply, status: u16) -> String {
    assert_eq!(reply.status, status, "{}{}", reply.headers, reply.body);
    assert!(
        reply
            .headers
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        reply.headers
    );
    let error = json(reply)["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.len() > 20, "an explanation: {}", reply.body);
    error
}

#[test]
fn tokens_roles_changes_and_audit_through_the_api() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    let lead = StaffAccount::create(&config, "nd", "network-manager,dsl");
    let approver = StaffAccount::create(&config, "os", "online-safety-lead,network-manager");
    let manager = StaffAccount::create(&config, "nm", "network-manager");
    let governor = StaffAccount::create(&config, "gv", "governor");
    seed(dir.path());
    let site = AdminSite::start(&config, dir.path(), &[]);

    // The page: only for those who may use the API; a token is shown once, its name escaped.
    let gov = site.signed_in(&governor);
    let (status, _, _) = gov.request("/api-tokens", &[]);
    assert_eq!(status, 403, "governors hold no UseApi");
    let lead_browser = site.signed_in(&lead);
    let (status, _, body) = lead_browser.request("/api-tokens", &[]);
    assert_eq!(status, 200);
    assert!(
        body.contains("<label for=\"token-name\">") && body.contains("no tokens yet"),
        "{body}"
    );
    let (status, _, _) =
        lead_browser.request("/api-tokens", &[("name", "forged"), ("csrf", "forged")]);
    assert_eq!(status, 403, "the page's forms need the CSRF token");
    let token = lead_browser.make_token("ci <script>alert(1)</script>");
    let (_, _, page) = lead_browser.request("/api-tokens", &[]);
    assert!(!page.contains(&token), "shown only once");
    assert!(
        page.contains("ci &#60;script&#62;") || page.contains("ci &lt;script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert(1)"), "escaped");

    // Without a token, with a wrong one, or with only a cookie: 401 in JSON.
    let reply = site.api("GET", "/api/v1/me", None, None);
    let error = refused(&reply, 401);
    assert!(error.contains("Bearer"), "{error}");
    assert!(
        reply
            .headers
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer")
    );
    refused(&site.api("GET", "/api/v1/me", Some("hr_wrong"), None), 401);
    let cookie_only = lead_browser.send("GET", "/api/v1/me", &[], &[]);
    refused(&cookie_only, 401);
    let cookie_write = lead_browser.send(
        "POST",
        "/api/v1/contacts",
        &[],
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            r#"{"role":"dpo","name":"Cookie Only"}"#,
        ],
    );
    refused(&cookie_write, 401);

    // With the token: who it acts as.
    let me = json(&site.api("GET", "/api/v1/me", Some(&token), None));
    assert_eq!(me["username"], "nd");
    let permissions = me["permissions"].to_string();
    assert!(permissions.contains("ViewPersonActivity") && permissions.contains("UseApi"));
    assert_eq!(me["school"]["slug"], "test-school");

    // Bearer requests need no CSRF token; bodies are JSON and checked.
    let reply = site.api(
        "POST",
        "/api/v1/contacts",
        Some(&token),
        Some(r#"{"role":"dpo","name":"Dana <Protection>","email":"dpo@school.invalid"}"#),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let contact = json(&reply);
    assert_eq!(contact["name"], "Dana <Protection>");
    let contact_id = contact["id"].as_i64().unwrap();
    refused(
        &site.api("POST", "/api/v1/contacts", Some(&token), Some("{not json")),
        400,
    );
    refused(
        &site.api(
            "POST",
            "/api/v1/contacts",
            Some(&token),
            Some(r#"{"role":"caretaker","name":"X"}"#),
        ),
        422,
    );
    let reply = site.client().send(
        "POST",
        "/api/v1/contacts",
        &[("role", "dpo"), ("name", "Form")],
        &["-H", &format!("Authorization: Bearer {token}")],
    );
    refused(&reply, 415);
    let big = format!(r#"{{"role":"dpo","name":"{}"}}"#, "x".repeat(70_000));
    refused(
        &site.api("POST", "/api/v1/contacts", Some(&token), Some(&big)),
        413,
    );
    refused(
        &site.api("GET", "/api/v1/changes/not-a-number", Some(&token), None),
        400,
    );
    refused(
        &site.api("GET", "/api/v1/no-such-thing", Some(&token), None),
        404,
    );
    refused(
        &site.api("PATCH", "/api/v1/contacts/1", Some(&token), None),
        405,
    );
    let reply = site.api(
        "DELETE",
        &format!("/api/v1/contacts/{contact_id}"),
        Some(&token),
        None,
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
    refused(
        &site.api(
            "DELETE",
            &format!("/api/v1/contacts/{contact_id}"),
            Some(&token),
            None,
        ),
        404,
    );

    // Activity: read through the API (audited), one person's timeline, and the CSV export.
    let page = json(&site.api(
        "GET",
        "/api/v1/activity?user=pupil.a&page_size=10&purpose=weekly%20check",
        Some(&token),
        None,
    ));
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 10);
    assert!(events.iter().all(|e| e["user"] == "pupil.a"));
    let next = page["next_cursor"].as_str().expect("more than one page");
    let second = json(&site.api(
        "GET",
        &format!("/api/v1/activity?user=pupil.a&page_size=10&cursor={next}"),
        Some(&token),
        None,
    ));
    let at = |e: &Value| {
        e["at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    assert!(
        at(&second["events"][0]) < at(&events[9]),
        "the next page is older"
    );
    assert_ne!(second["events"][0]["id"], events[9]["id"]);
    let blocked = json(&site.api(
        "GET",
        "/api/v1/activity?verdict=block&category=gambling",
        Some(&token),
        None,
    ));
    assert_eq!(blocked["events"].as_array().unwrap().len(), 20);
    refused(
        &site.api(
            "GET",
            "/api/v1/activity?since=yesterday",
            Some(&token),
            None,
        ),
        400,
    );
    refused(
        &site.api("GET", "/api/v1/activity?page_size=0", Some(&token), None),
        400,
    );
    let timeline = json(&site.api(
        "GET",
        "/api/v1/activity/person/%3Cb%3Epupil.b%3C%2Fb%3E",
        Some(&token),
        None,
    ));
    assert_eq!(timeline["username"], "<b>pupil.b</b>");
    assert!(!timeline["events"].as_array().unwrap().is_empty());
    let csv = site.api(
        "GET",
        "/api/v1/activity/export?search=hyperlink",
        Some(&token),
        None,
    );
    assert_eq!(csv.status, 200);
    assert!(csv.headers.contains("text/csv"), "{}", csv.headers);
    assert!(csv.body.starts_with("id,time,"), "{}", csv.body);
    assert!(
        csv.body.contains("\"'=HYPERLINK("),
        "formulas defused: {}",
        csv.body
    );

    // A network manager's token: the policy yes, a person's browsing no (the role matrix).
    let manager_browser = site.signed_in(&manager);
    let manager_token = manager_browser.make_token("timetable sync");
    let spare_token = manager_browser.make_token("spare");
    let error = refused(
        &site.api("GET", "/api/v1/activity", Some(&manager_token), None),
        403,
    );
    assert!(error.contains("ViewPersonActivity"), "{error}");
    refused(
        &site.api("GET", "/api/v1/audit", Some(&manager_token), None),
        403,
    );
    let policy = json(&site.api("GET", "/api/v1/policy", Some(&manager_token), None));
    assert_eq!(policy["school"], "test-school");
    let ks2 = policy["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "ks2")
        .unwrap();
    assert!(ks2["actions"].to_string().contains("gambling"), "{ks2}");
    let summary = json(&site.api("GET", "/api/v1/summary", Some(&manager_token), None));
    assert_eq!(summary["blocked_events"], 20);
    assert_eq!(
        summary["pending_review_requests"],
        Value::Null,
        "not theirs to see"
    );

    // A change proposed through the API is in the change log, waits for a second person, and
    // the proposer cannot approve it.
    let bad = site.api("POST",
        "/api/v1/changes",
        Some(&manager_token),
        Some(
            r#"{"change":{"type":"group-default","group":"no-such-group","action":"block"},"reason":"tidy"}"#,
        ),
    );
    assert!(refused(&bad, 422).contains("no-such-group"));
    refused(
        &site.api(
            "POST",
            "/api/v1/changes",
            Some(&manager_token),
            Some(r#"{"change":{"type":"group-default","group":"ks2","action":"block"}}"#),
        ),
        422,
    );
    let reply = site.api("POST",
        "/api/v1/changes",
        Some(&manager_token),
        Some(
            r#"{"change":{"type":"site-override","host":"bets.example","verdict":"allow","groups":["ks2"]},"reason":"maths lesson on probability"}"#,
        ),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let proposed = json(&reply);
    assert_eq!(proposed["status"], "pending_approval");
    assert_eq!(proposed["kind"], "unblock-for-pupils");
    assert_eq!(proposed["source"], "api");
    assert_eq!(proposed["change"]["host"], "bets.example");
    let id = proposed["id"].as_i64().unwrap();
    let found = json(&site.api(
        "GET",
        "/api/v1/changes?text=probability",
        Some(&token),
        None,
    ));
    assert_eq!(found["total"], 1);
    assert_eq!(found["changes"][0]["id"], id);
    assert_eq!(found["changes"][0]["created_by"], "nm");
    refused(
        &site.api(
            "POST",
            &format!("/api/v1/changes/{id}/approve"),
            Some(&manager_token),
            None,
        ),
        403,
    );
    let approver_token = site.signed_in(&approver).make_token("approvals");
    let approved = json(&site.api(
        "POST",
        &format!("/api/v1/changes/{id}/approve"),
        Some(&approver_token),
        None,
    ));
    assert_eq!(approved["status"], "applied");
    assert_eq!(approved["approved_by"], "os");
    refused(
        &site.api(
            "POST",
            &format!("/api/v1/changes/{id}/approve"),
            Some(&approver_token),
            None,
        ),
        409,
    );
    let reverted = json(&site.api(
        "POST",
        &format!("/api/v1/changes/{id}/revert"),
        Some(&token),
        Some(r#"{"reason":"lesson over"}"#),
    ));
    assert_eq!(reverted["status"], "reverted");
    refused(
        &site.api("GET", "/api/v1/changes/999999", Some(&token), None),
        404,
    );

    // Review requests: listed, declined with a reason (a change-log entry).
    let requests = json(&site.api(
        "GET",
        "/api/v1/review-requests?status=new",
        Some(&token),
        None,
    ));
    let request = &requests["requests"][0];
    assert_eq!(request["requested_by_user"], "pupil.a");
    let request_id = request["id"].as_i64().unwrap();
    let declined = json(&site.api(
        "POST",
        &format!("/api/v1/review-requests/{request_id}/decline"),
        Some(&token),
        Some(r#"{"reason":"gambling stays blocked"}"#),
    ));
    assert_eq!(declined["kind"], "review-decline");
    assert_eq!(declined["status"], "rejected");
    refused(
        &site.api(
            "POST",
            &format!("/api/v1/review-requests/{request_id}/decline"),
            Some(&token),
            Some(r#"{"reason":"again"}"#),
        ),
        404,
    );
    refused(
        &site.api("GET", "/api/v1/review-requests", Some(&manager_token), None),
        403,
    );

    // Checks: recorded by hand, and the self-test.
    let check = site.api(
        "POST",
        "/api/v1/checks",
        Some(&manager_token),
        Some(r#"{"what":"gambling blocked for KS2","target":"laptop-a","result":"pass"}"#),
    );
    assert_eq!(check.status, 201, "{}", check.body);
    let self_test = site.api(
        "POST",
        "/api/v1/checks/self-test",
        Some(&manager_token),
        None,
    );
    let self_test_built = !self_test_not_built(&self_test);
    if self_test_built {
        assert_eq!(self_test.status, 201, "{}\n{}", self_test.body, site.log());
        assert_eq!(json(&self_test)["method"], "self-test");
    }
    let checks = json(&site.api("GET", "/api/v1/checks", Some(&manager_token), None));
    assert_eq!(checks["total"], if self_test_built { 2 } else { 1 });

    // The audit log: the tokens made, the reads of activity through the API (with the
    // purpose and the address), the contact and the check.
    let audit = json(&site.api("GET", "/api/v1/audit?limit=500", Some(&token), None));
    let entries = audit["entries"].as_array().unwrap();
    let has = |action: &str, actor: &str, detail: &str| {
        entries.iter().any(|e| {
            e["action"] == action
                && e["actor"] == actor
                && e["detail"].as_str().unwrap_or_default().contains(detail)
        })
    };
    assert!(has("api_token.create", "nd", "ci <script>"), "{audit}");
    assert!(has("api_token.create", "nm", "timetable sync"), "{audit}");
    assert!(has("activity.read", "nd", "API: weekly check"), "{audit}");
    assert!(
        has("activity.read", "nd", "API: person timeline"),
        "{audit}"
    );
    assert!(
        has("activity.export", "nd", "API: activity export"),
        "{audit}"
    );
    assert!(has("contact.set", "nd", "Dana"), "{audit}");
    assert!(has("check.add", "nm", "gambling blocked"), "{audit}");
    assert!(has("policy.approve", "os", ""), "{audit}");
    let read = entries
        .iter()
        .find(|e| e["action"] == "activity.read")
        .unwrap();
    assert_eq!(read["from_addr"], "127.0.0.1");

    // Revoked tokens and disabled accounts stop working; the page shows the last use.
    let ids = revoke_ids(&manager_browser);
    assert_eq!(ids.len(), 2, "two tokens still in use");
    let (_, _, page) = manager_browser.request("/api-tokens", &[]);
    assert!(page.contains("never"), "the spare was never used: {page}");
    let csrf = manager_browser.csrf("/api-tokens");
    // Newest first: the spare, then timetable sync.
    let (status, headers, _) = manager_browser.request(
        &format!("/api-tokens/{}/revoke", ids[1]),
        &[("csrf", &csrf)],
    );
    assert_eq!(status, 303, "{headers}");
    refused(
        &site.api("GET", "/api/v1/me", Some(&manager_token), None),
        401,
    );
    let (status, _, _) = lead_browser.request(
        &format!("/api-tokens/{}/revoke", ids[0]),
        &[("csrf", &lead_browser.csrf("/api-tokens"))],
    );
    assert_eq!(status, 404, "another account's token cannot be revoked");
    assert_eq!(
        json(&site.api("GET", "/api/v1/me", Some(&spare_token), None))["username"],
        "nm"
    );
    disable(dir.path(), "nm");
    refused(
        &site.api("GET", "/api/v1/me", Some(&spare_token), None),
        401,
    );
    let audit = json(&site.api("GET", "/api/v1/audit?limit=50", Some(&token), None));
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "api_token.revoke" && e["actor"] == "nm"),
        "{audit}"
    );
}

/// The active people of `group` as `GET /api/v1/people` counts them.
fn active_in(people: &Value, group: &str) -> u64 {
    people["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["group"] == group)
        .map(|g| g["active"].as_u64().unwrap())
        .sum()
}

/// The audit log as the store keeps it: (action, actor, detail, from address).
fn audit_log(config_dir: &Path) -> Vec<(String, String, String, Option<String>)> {
    with_store(config_dir, async |store| {
        let school = store
            .ensure_school("test-school", "Test School", "Europe/London")
            .await
            .unwrap();
        let entries = store.audit_entries(Some(school), 1_000).await.unwrap();
        entries
            .into_iter()
            .map(|r| {
                (
                    r.entry.action,
                    r.entry.actor,
                    r.entry.detail,
                    r.entry.from_addr,
                )
            })
            .collect()
    })
}

#[test]
fn review_requests_settings_and_people_through_the_api() {
    if !have_tools(&["curl", "dig", "dnsmasq"]) {
        return;
    }
    let (_upstream, upstream) = start_upstream(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    // The one who decides: the online-safety lead who is also the network manager (so may use
    // the API). A teacher who is also a network manager asks for their class. A plain network
    // manager may do neither.
    let approver = StaffAccount::create(&config, "ao", "network-manager,online-safety-lead");
    let teacher = StaffAccount::create(&config, "tn", "teacher,network-manager");
    let manager = StaffAccount::create(&config, "nm", "network-manager");
    seed(dir.path());
    let site = AdminSite::start(&config, dir.path(), &["--upstream", &upstream.to_string()]);
    let pupil_dns = || site.dns_answer(PUPIL_LAPTOP, "bets.example");
    site.wait_for_dns();
    let token = site.signed_in(&approver).make_token("approvals");
    let teacher_token = site.signed_in(&teacher).make_token("class requests");
    let manager_token = site.signed_in(&manager).make_token("scripts");

    // A block-page request (from the pupil's laptop) approved for today for KS2: a change in
    // the change log, proposed by the pupil and approved by the approver, and live in DNS.
    assert_eq!(
        pupil_dns(),
        "127.0.0.1",
        "blocked: the block page's address"
    );
    let waiting = json(&site.api(
        "GET",
        "/api/v1/review-requests?status=new",
        Some(&token),
        None,
    ));
    let request = waiting["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["url"] == "http://bets.example/odds")
        .expect("the seeded block-page request")
        .clone();
    assert_eq!(request["requested_by_user"], "pupil.a");
    let id = request["id"].as_i64().unwrap();
    let approve = format!("/api/v1/review-requests/{id}/approve");
    let today = r#"{"for":"today","groups":["ks2"],"note":"probability lesson"}"#;
    refused(
        &site.api("POST", &approve, Some(&manager_token), Some(today)),
        403,
    );
    let error = refused(
        &site.api(
            "POST",
            &approve,
            Some(&token),
            Some(r#"{"for":"until","note":"no date"}"#),
        ),
        422,
    );
    assert!(error.contains("date"), "{error}");
    refused(
        &site.api(
            "POST",
            &approve,
            Some(&token),
            Some(r#"{"for":"until","until":"2001-01-01","note":"past"}"#),
        ),
        422,
    );
    refused(
        &site.api(
            "POST",
            &approve,
            Some(&token),
            Some(r#"{"for":"sometime","note":"x"}"#),
        ),
        422,
    );
    let error = refused(
        &site.api(
            "POST",
            &approve,
            Some(&token),
            Some(r#"{"for":"today","groups":["no-such-group"],"note":"x"}"#),
        ),
        422,
    );
    assert!(error.contains("no-such-group"), "{error}");
    refused(
        &site.api(
            "POST",
            "/api/v1/review-requests/999999/approve",
            Some(&token),
            Some(today),
        ),
        404,
    );
    assert_eq!(pupil_dns(), "127.0.0.1", "refusals changed nothing");
    let reply = site.api("POST", &approve, Some(&token), Some(today));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let approved = json(&reply);
    assert_eq!(approved["status"], "applied");
    assert_eq!(approved["kind"], "unblock-for-pupils");
    assert_eq!(approved["created_by"], "pupil.a");
    assert_eq!(approved["approved_by"], "ao");
    assert_eq!(approved["source"], format!("review-request:{id}"));
    assert_eq!(approved["change"]["groups"], serde_json::json!(["ks2"]));
    let now = jiff::Timestamp::now();
    let until: jiff::Timestamp = approved["applies_until"]
        .as_str()
        .expect("today ends")
        .parse()
        .unwrap();
    assert!(
        until > now && until <= now + jiff::SignedDuration::from_hours(25),
        "{until}"
    );
    let change_id = approved["id"].as_i64().unwrap();
    let started = Instant::now();
    while pupil_dns() != "192.0.2.1" {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "not allowed in DNS within 5 s: {}\n{}",
            pupil_dns(),
            site.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    refused(&site.api("POST", &approve, Some(&token), Some(today)), 409);
    let log = json(&site.api(
        "GET",
        "/api/v1/changes?text=probability",
        Some(&token),
        None,
    ));
    assert_eq!(log["total"], 1, "{log}");
    assert_eq!(log["changes"][0]["id"], change_id);
    let decided = json(&site.api(
        "GET",
        "/api/v1/review-requests?status=approved",
        Some(&token),
        None,
    ));
    assert_eq!(decided["requests"][0]["id"], id);
    assert_eq!(decided["requests"][0]["decided_by"], "ao");
    assert_eq!(
        decided["requests"][0]["decision_note"],
        "probability lesson"
    );

    // The lesson's length: read, set (within 1 to 600), and used by the next approval.
    let lesson = "/api/v1/settings/lesson-minutes";
    assert_eq!(
        json(&site.api("GET", lesson, Some(&token), None))["lesson_minutes"],
        60
    );
    refused(&site.api("GET", lesson, Some(&manager_token), None), 403);
    for bad in [
        r#"{"lesson_minutes":0}"#,
        r#"{"lesson_minutes":601}"#,
        r#"{"lesson_minutes":"45"}"#,
    ] {
        refused(&site.api("PUT", lesson, Some(&token), Some(bad)), 422);
    }
    let set = json(&site.api(
        "PUT",
        lesson,
        Some(&token),
        Some(r#"{"lesson_minutes":45}"#),
    ));
    assert_eq!(set["lesson_minutes"], 45);
    assert_eq!(
        json(&site.api("GET", lesson, Some(&token), None))["lesson_minutes"],
        45
    );

    // A teacher asks for their class; whoever may not ask is refused; the request is queued
    // as the page queues it and approved for "this lesson".
    let ask = r#"{"url":"scratch.mit.edu/projects","group":"ks2","when":"lesson","comment":"coding <b>club</b>"}"#;
    refused(
        &site.api(
            "POST",
            "/api/v1/review-requests",
            Some(&manager_token),
            Some(ask),
        ),
        403,
    );
    refused(
        &site.api(
            "POST",
            "/api/v1/review-requests",
            Some(&teacher_token),
            Some(r#"{"url":"not a web address","when":"lesson","comment":"x"}"#),
        ),
        422,
    );
    let reply = site.api(
        "POST",
        "/api/v1/review-requests",
        Some(&teacher_token),
        Some(ask),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let asked = json(&reply);
    assert_eq!(asked["requested_by_user"], "tn");
    assert_eq!(asked["url"], "https://scratch.mit.edu/projects");
    assert_eq!(asked["host"], "scratch.mit.edu");
    assert_eq!(asked["status"], "new");
    assert_eq!(asked["comment"], "For ks2, this lesson: coding <b>club</b>");
    let reply = site.api(
        "POST",
        &format!("/api/v1/review-requests/{}/approve", asked["id"]),
        Some(&token),
        Some(r#"{"for":"lesson","groups":["ks2"],"note":"coding club"}"#),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let lesson_change = json(&reply);
    assert_eq!(lesson_change["created_by"], "tn");
    assert_eq!(lesson_change["status"], "applied");
    let until: jiff::Timestamp = lesson_change["applies_until"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let minutes = until.duration_since(jiff::Timestamp::now()).as_secs() / 60;
    assert!((43..=45).contains(&minutes), "{minutes} minutes");

    // The approval rules: read by those who edit the policy, set by approvers, and followed.
    let rules = "/api/v1/settings/approval-rules";
    let current = json(&site.api("GET", rules, Some(&manager_token), None));
    assert_eq!(
        current["requires_approval"],
        serde_json::json!(["unblock-for-pupils"])
    );
    assert_eq!(
        current["kinds"].as_array().unwrap().len(),
        hedgerow_policy::change::ChangeKind::ALL.len()
    );
    refused(
        &site.api(
            "PUT",
            rules,
            Some(&manager_token),
            Some(r#"{"requires_approval":[]}"#),
        ),
        403,
    );
    let error = refused(
        &site.api(
            "PUT",
            rules,
            Some(&token),
            Some(r#"{"requires_approval":["unblock-for-pupils","everything"]}"#),
        ),
        422,
    );
    assert!(error.contains("everything"), "{error}");
    let set = json(&site.api(
        "PUT",
        rules,
        Some(&token),
        Some(r#"{"requires_approval":["sanction","unblock-for-pupils","sanction"]}"#),
    ));
    assert_eq!(
        set["requires_approval"],
        serde_json::json!(["unblock-for-pupils", "sanction"])
    );
    assert_eq!(json(&site.api("GET", rules, Some(&token), None)), set);
    let sanction = format!(
        r#"{{"change":{{"type":"sanction","username":"pupil.a","until":"{}"}},"reason":"misuse"}}"#,
        jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)
    );
    let proposed = json(&site.api(
        "POST",
        "/api/v1/changes",
        Some(&manager_token),
        Some(&sanction),
    ));
    assert_eq!(proposed["status"], "pending_approval", "{proposed}");

    // People: accounts (no secrets) and counts; every token holder manages accounts and
    // imports (network managers and trust administrators both may).
    assert!(
        json(&site.api("GET", "/api/v1/people", Some(&manager_token), None))["accounts"].is_array()
    );
    let people = site.api("GET", "/api/v1/people", Some(&token), None);
    assert_eq!(people.status, 200, "{}", people.body);
    assert!(
        !people.body.contains("argon2") && !people.body.contains("password"),
        "no password hashes: {}",
        people.body
    );
    let people = json(&people);
    let accounts = people["accounts"].as_array().unwrap();
    let names: Vec<&str> = accounts
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    for name in ["ao", "tn", "nm"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let own = accounts.iter().find(|a| a["username"] == "ao").unwrap();
    assert_eq!(own["totp_enrolled"], true, "the approver's role needs one");
    assert!(own.get("totp_secret").is_none() && own.get("secret").is_none());
    let grantable = people["grantable_roles"].to_string();
    assert!(grantable.contains("teacher") && !grantable.contains("\"dsl\""));
    let ks2_before = active_in(&people, "ks2");

    // Import: a dry run of a file near the 5 MB limit (more than the API's usual 64 KiB) is
    // read and planned and changes nothing; a small file is imported; a file with bad rows is
    // refused whole, naming each row.
    let mapping = "Reception - Year 6 = ks2\n";
    let mut big =
        String::from("Network Login,Legal Surname,Legal Forename,NC Year,Reg Group,Notes\n");
    let padding = "x".repeat(220);
    for n in 0..19_000 {
        big.push_str(&format!("p{n:05},Surname{n},Forename,Y5,5C,{padding}\n"));
    }
    assert!(
        big.len() > 4_500_000 && big.len() < 5_000_000,
        "{}",
        big.len()
    );
    let body_file = dir.path().join("import.json");
    std::fs::write(
        &body_file,
        serde_json::json!({ "kind": "pupils", "csv": big, "mapping": mapping, "dry_run": true })
            .to_string(),
    )
    .unwrap();
    let reply = site.api_file("/api/v1/people/import", &token, &body_file);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let plan = json(&reply);
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["rows"], 19_000);
    assert_eq!(plan["plan"]["created_count"], 19_000);
    assert_eq!(plan["unused_columns"], serde_json::json!(["Notes"]));
    std::fs::write(
        &body_file,
        serde_json::json!({ "kind": "pupils", "csv": format!("{big}{big}"), "mapping": mapping })
            .to_string(),
    )
    .unwrap();
    let reply = site.api_file("/api/v1/people/import", &token, &body_file);
    let error = refused(&reply, 422);
    assert!(error.contains("Nothing was imported"), "{error}");
    assert!(reply.body.contains("bytes"), "too large: {}", reply.body);

    let pupils = "Network Login,Legal Surname,Legal Forename,NC Year,Reg Group\n\
                  c.jones,Jones,Cara,Y5,5C\n\
                  d.patel,Patel,Dev,Year 4,4B\n\
                  e.wong,Wong,Eli,Y6,6A\n";
    let dry = serde_json::json!({
        "kind": "pupils", "csv": pupils, "mapping": mapping, "dry_run": true,
    })
    .to_string();
    let plan = json(&site.api("POST", "/api/v1/people/import", Some(&token), Some(&dry)));
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["rows"], 3);
    assert_eq!(plan["plan"]["created_count"], 3);
    assert_eq!(
        plan["plan"]["created"],
        serde_json::json!(["c.jones", "d.patel", "e.wong"])
    );
    let after_dry = json(&site.api("GET", "/api/v1/people", Some(&token), None));
    assert_eq!(
        active_in(&after_dry, "ks2"),
        ks2_before,
        "a dry run changes nothing"
    );
    let real =
        serde_json::json!({ "kind": "pupils", "csv": pupils, "mapping": mapping }).to_string();
    let done = json(&site.api("POST", "/api/v1/people/import", Some(&token), Some(&real)));
    assert_eq!(done["applied"], true, "{done}");
    assert_eq!(done["plan"]["created_count"], 3);
    let after = json(&site.api("GET", "/api/v1/people", Some(&token), None));
    assert_eq!(active_in(&after, "ks2"), ks2_before + 3, "{after}");
    assert!(
        after["classes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "5C" && c["pupils"] == 1),
        "{after}"
    );
    let bad = serde_json::json!({
        "kind": "pupils", "mapping": mapping,
        "csv": "Network Login,Legal Surname,Legal Forename,NC Year\n\
                f.ok,Okafor,Femi,Y5\n\
                ,Nobody,Nameless,Y5\n\
                g.hill,Hill,Gus,Year 99\n",
    })
    .to_string();
    let reply = site.api("POST", "/api/v1/people/import", Some(&token), Some(&bad));
    refused(&reply, 422);
    let refusal = json(&reply);
    assert_eq!(refusal["total"], 2, "{refusal}");
    let rows: Vec<i64> = refusal["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["row"].as_i64().unwrap())
        .collect();
    assert_eq!(rows, [3, 4], "{refusal}");
    assert!(
        refusal["problems"][1]["message"]
            .as_str()
            .unwrap()
            .contains("Year 99"),
        "{refusal}"
    );
    let unchanged = json(&site.api("GET", "/api/v1/people", Some(&token), None));
    assert_eq!(active_in(&unchanged, "ks2"), ks2_before + 3);

    // Accounts: created within what the caller may grant (a role that reads browsing is not
    // theirs to give: 403, and nothing is made), with a TOTP secret once when the roles need a
    // second factor; roles changed; disabled and enabled; never the caller's own.
    let new_account = |username: &str, roles: &str, password: &str| {
        format!(
            r#"{{"username":"{username}","display_name":"Rita Khan","email":"{username}@school.invalid","roles":{roles},"password":"{password}"}}"#
        )
    };
    let password = "harbour thistle quarry";
    let error = refused(
        &site.api(
            "POST",
            "/api/v1/people/accounts",
            Some(&token),
            Some(&new_account("rd", r#"["teacher","dsl"]"#, password)),
        ),
        403,
    );
    assert!(error.contains("Designated safeguarding lead"), "{error}");
    let error = refused(
        &site.api(
            "POST",
            "/api/v1/people/accounts",
            Some(&token),
            Some(&new_account("rw", r#"["teacher"]"#, "password1")),
        ),
        422,
    );
    assert!(error.contains("password"), "{error}");
    // A teacher records safeguarding concerns, so gets a second factor to enrol.
    let teacher = json(&site.api(
        "POST",
        "/api/v1/people/accounts",
        Some(&token),
        Some(&new_account("rt", r#"["teacher"]"#, password)),
    ));
    assert!(teacher["totp"]["secret"].is_string(), "{teacher}");
    let reply = site.api(
        "POST",
        "/api/v1/people/accounts",
        Some(&token),
        Some(&new_account("rk", r#"["governor"]"#, password)),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let made = json(&reply);
    assert_eq!(made["account"]["roles"], serde_json::json!(["governor"]));
    assert_eq!(
        made["totp"],
        Value::Null,
        "a governor needs no second factor"
    );
    assert!(!reply.body.contains(password), "the password is not echoed");
    let rk = made["account"]["id"].as_i64().unwrap();
    let listed = json(&site.api("GET", "/api/v1/people", Some(&token), None));
    let listed = listed["accounts"].to_string();
    assert!(
        listed.contains("\"rk\"") && !listed.contains("\"rd\""),
        "{listed}"
    );
    let roles = format!("/api/v1/people/accounts/{rk}/roles");
    refused(
        &site.api(
            "POST",
            &roles,
            Some(&token),
            Some(r#"{"roles":["governor","deputy-dsl"]}"#),
        ),
        403,
    );
    let changed = json(&site.api(
        "POST",
        &roles,
        Some(&token),
        Some(r#"{"roles":["governor","online-safety-lead"]}"#),
    ));
    assert_eq!(
        changed["account"]["roles"],
        serde_json::json!(["governor", "online-safety-lead"])
    );
    let secret = changed["totp"]["secret"].as_str().expect("a new secret");
    assert!(hedgerow_accounts::TotpSecret::from_base32(secret).is_ok());
    assert!(
        changed["totp"]["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let own_id = own["id"].as_i64().unwrap();
    refused(
        &site.api(
            "POST",
            &format!("/api/v1/people/accounts/{own_id}/roles"),
            Some(&token),
            Some(r#"{"roles":["network-manager"]}"#),
        ),
        422,
    );
    refused(
        &site.api(
            "POST",
            &format!("/api/v1/people/accounts/{own_id}/disable"),
            Some(&token),
            None,
        ),
        422,
    );
    let off = json(&site.api(
        "POST",
        &format!("/api/v1/people/accounts/{rk}/disable"),
        Some(&token),
        None,
    ));
    assert_eq!(off["disabled"], true);
    let on = json(&site.api(
        "POST",
        &format!("/api/v1/people/accounts/{rk}/enable"),
        Some(&token),
        None,
    ));
    assert_eq!(on["disabled"], false);
    refused(
        &site.api(
            "POST",
            "/api/v1/people/accounts/999999/disable",
            Some(&token),
            None,
        ),
        404,
    );

    // Everything above is in the audit log, as the approver, from the loopback address.
    let audit = audit_log(dir.path());
    let has = |action: &str, detail: &str| {
        audit.iter().any(|(a, actor, d, from)| {
            a == action
                && actor == "ao"
                && d.contains(detail)
                && (from.is_none() || from.as_deref() == Some("127.0.0.1"))
        })
    };
    assert!(has("policy.change", "probability lesson"), "{audit:?}");
    assert!(has("setting.change", "45 minutes"), "{audit:?}");
    assert!(has("change_control.rules", "sanction"), "{audit:?}");
    assert!(has("people.import", "created=3"), "{audit:?}");
    assert!(has("account.create", ""), "{audit:?}");
    assert!(has("account.roles", "online-safety-lead"), "{audit:?}");
    assert!(has("account.disable", ""), "{audit:?}");
    assert!(
        !has("people.import", "created=19000"),
        "the dry run imported nothing"
    );
}

#[test]
fn wrong_tokens_are_throttled_per_address() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    let manager = StaffAccount::create(&config, "nm", "network-manager");
    let site = AdminSite::start(&config, dir.path(), &[]);
    let token = site.signed_in(&manager).make_token("script");
    assert_eq!(
        site.api("GET", "/api/v1/me", Some(&token), None).status,
        200
    );
    // Requests without a token are refused but not counted.
    for _ in 0..6 {
        refused(&site.api("GET", "/api/v1/me", None, None), 401);
    }
    for n in 0..5 {
        refused(
            &site.api("GET", "/api/v1/me", Some(&format!("hr_guess{n}")), None),
            401,
        );
    }
    let reply = site.api("GET", "/api/v1/me", Some("hr_guess5"), None);
    let error = refused(&reply, 429);
    assert!(error.contains("Wait"), "{error}");
    assert!(
        reply.headers.to_ascii_lowercase().contains("retry-after:"),
        "{}",
        reply.headers
    );
    // The address is held off whatever it sends, so a guess cannot be confirmed meanwhile.
    refused(&site.api("GET", "/api/v1/me", Some(&token), None), 429);
    // Signing in on the pages is throttled separately.
    let (status, _, _) = site.client().request("/login", &[]);
    assert_eq!(status, 200);
}

/// Whether the gateway's built-in self-test is still the placeholder of the branch this API was
/// built on (it is built on another branch). Then its endpoint answers 503 saying so, which the
/// tests note and step around; once the self-test exists this is false and they test it fully.
fn self_test_not_built(reply: &Reply) -> bool {
    let not_built = reply.status == 503 && reply.body.contains("not built yet");
    if not_built {
        let _ = writeln!(
            std::io::stderr(),
            "NOTE: the gateway's self-test is not built on this branch; its API call is not tested"
        );
    }
    not_built
}

/// Where Schemathesis is: `HEDGEROW_SCHEMATHESIS`, the venv scripts/test-env.sh makes, or the
/// PATH.
fn schemathesis() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HEDGEROW_SCHEMATHESIS").map(PathBuf::from),
        Some(PathBuf::from(
            "/opt/hedgerow-test/schemathesis/bin/schemathesis",
        )),
        Some(PathBuf::from("schemathesis")),
    ];
    candidates.into_iter().flatten().find(|path| {
        Command::new(path)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_schema() {
    let Some(schemathesis) = schemathesis() else {
        if std::env::var("HEDGEROW_REQUIRE_SCHEMATHESIS").as_deref() == Ok("1") {
            panic!(
                "Schemathesis is not installed; scripts/test-env.sh installs it into /opt/hedgerow-test/schemathesis"
            );
        }
        // Straight to the stderr handle: the test harness swallows `eprintln!` output of
        // passing tests, and this note must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: Schemathesis is not installed (scripts/test-env.sh installs it; HEDGEROW_REQUIRE_SCHEMATHESIS=1 makes this a failure)"
        );
        return;
    };
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    // Network manager (UseApi) and DSL (a person's activity, the audit log, approvals, review
    // requests, contacts, annual reviews): every endpoint answers more than 403.
    let account = StaffAccount::create(&config, "nd", "network-manager,dsl");
    seed(dir.path());
    let site = AdminSite::start(&config, dir.path(), &[]);
    let token = site.signed_in(&account).make_token("schemathesis");
    let self_test = site.api("POST", "/api/v1/checks/self-test", Some(&token), None);
    let mut skip: Vec<&str> = Vec::new();
    if self_test_not_built(&self_test) {
        skip.extend(["--exclude-path", "/api/v1/checks/self-test"]);
    }
    // Bounded by the examples per operation (not --max-time, with which Schemathesis keeps
    // fuzzing until the time is spent): about half a minute on two cores. A deeper search can
    // be asked for with HEDGEROW_SCHEMATHESIS_EXAMPLES.
    let examples = std::env::var("HEDGEROW_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "40".into());
    let started = Instant::now();
    let output = Command::new(&schemathesis)
        .arg("run")
        .args(&skip)
        .arg(format!("http://{}/api/v1/openapi.json", site.app))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-examples", &examples, "--workers", "1"])
        .args(["--request-timeout", "30", "--no-color"])
        // Only the token given: generated credentials would be wrong tokens, which the API
        // throttles per address.
        .args(["--generation-with-security-parameters", "false"])
        .args(["--generation-database", "none"])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{report}\nschemathesis took {:?}", started.elapsed());
    assert!(
        output.status.success(),
        "Schemathesis found failures:\n{report}\n--- gateway log ---\n{}",
        site.log()
    );
    // It really tested every operation it selected, and selected all but the ones skipped.
    let number_after = |label: &str| -> usize {
        let at = report
            .find(label)
            .unwrap_or_else(|| panic!("{label} in {report}"))
            + label.len();
        report[at..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a number after {label} in {report}"))
    };
    let selected = number_after("Selected:");
    assert_eq!(number_after("Tested:"), selected, "{report}");
    // Every operation of the API (each route under /api/v1) but the ones skipped, so a new
    // endpoint cannot slip past it. Schemathesis leaves out the operation that serves the
    // document it was loaded from.
    let operations = hedgerow_web::all_routes()
        .iter()
        .filter(|(_, path)| path.starts_with("/api/v1/") && *path != "/api/v1/openapi.json")
        .count()
        - skip.len() / 2;
    assert_eq!(selected, operations, "{report}");
    assert!(!report.contains("panicked"), "{report}");
    assert!(!site.log().contains("panicked"), "{}", site.log());
}
