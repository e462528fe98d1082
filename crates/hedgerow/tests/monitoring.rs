//! Monitoring end to end, with real components: a pupil's search goes through the web proxy to
//! a local stand-in for Google; the gateway's monitor classifies it and raises an alert; the
//! alert email arrives at a real SMTP server (Debian's aiosmtpd) within 10 seconds, a webhook
//! receiver on loopback gets the JSON; the DSL sees the alert in the triage queue and turns it
//! into a concern holding the evidence in one step. A benign look-alike search ("how to kill a
//! python process") raises nothing, and by default neither the email nor the webhook carries
//! the child's name or words. The weekly report counts the alert without naming anyone.
//!
//! A school tunes the libraries under change control: the online-safety lead adds an entry
//! with a reason, it lands in the change log, and the monitor raises alerts on it within
//! seconds.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::admin::{AdminSite, StaffAccount, location, origin_for};
use support::mail::{MailServer, python_with_aiosmtpd};
use support::*;

/// A webhook receiver on loopback: records each request's line and body, answers 204.
struct WebhookReceiver {
    port: u16,
    received: Arc<Mutex<Vec<(String, String)>>>,
}

impl WebhookReceiver {
    fn start() -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length.min(1 << 20)];
                let _ = reader.read_exact(&mut body);
                sink.lock().unwrap().push((
                    request_line.trim().to_string(),
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                let mut stream = reader.into_inner();
                let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            }
        });
        WebhookReceiver { port, received }
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.received.lock().unwrap().clone()
    }
}

fn monitored_school(dir: &Path, proxy_table: &str, mail: u16, webhook: u16) -> PathBuf {
    let school = format!(
        r#"{groups}{pupil}
[school.monitoring]
dsl = ["dsl@test-school.example"]
webhook = "http://127.0.0.1:{webhook}/hooks/alerts"
age_bands = {{ ks2 = "primary" }}
"#,
        groups = ks2_and_unknown(),
        pupil = pupil_and_laptop(),
    );
    SchoolConfig::new(dir)
        .table(&format!(
            r#"{proxy_table}
[monitoring]
[monitoring.smtp]
host = "127.0.0.1"
port = {mail}
security = "none"
from = "hedgerow@test-school.example"
"#
        ))
        .school("test-school", "Test School", &school)
        .write()
}

/// Everything a monitoring test runs against, before the gateway starts (staff accounts are
/// made on the configuration first): a mail server, a webhook receiver, a Google stand-in at
/// `origin_ip`, and the school's configuration pointing at all three.
struct Surroundings {
    dir: tempfile::TempDir,
    mail: MailServer,
    webhook: WebhookReceiver,
    google: support::origin::TestOrigin,
    config: PathBuf,
}

impl Surroundings {
    /// `None` when the tools are missing (and the environment does not require them).
    fn start(origin_ip: Ipv4Addr) -> Option<Surroundings> {
        if !have_tools(&["curl"]) {
            return None;
        }
        let python = python_with_aiosmtpd()?;
        let dir = tempfile::tempdir().unwrap();
        let mail = MailServer::start(python, dir.path());
        let webhook = WebhookReceiver::start();
        let (google, proxy_table) = origin_for(dir.path(), origin_ip, &["www.google.com"]);
        let config = monitored_school(dir.path(), &proxy_table, mail.port, webhook.port);
        Some(Surroundings {
            dir,
            mail,
            webhook,
            google,
            config,
        })
    }

    /// A Google search for `query` (already URL-encoded), through the stand-in.
    fn search(&self, query: &str) -> String {
        format!(
            "http://www.google.com:{}/search?q={query}",
            self.google.http_addr().port()
        )
    }
}

#[test]
fn a_risky_search_reaches_the_dsl_and_becomes_a_concern() {
    let Some(around) = Surroundings::start(Ipv4Addr::new(127, 0, 0, 71)) else {
        return;
    };
    let (mail, webhook, config) = (&around.mail, &around.webhook, &around.config);
    let dsl = StaffAccount::create(config, "ds", "dsl");
    let governor = StaffAccount::create(config, "gv", "governor");
    let site = AdminSite::start(config, around.dir.path(), &[]);
    let search = |query: &str| around.search(query);

    // A look-alike first: it must raise nothing.
    let benign = site.through_proxy(Some(PUPIL_LAPTOP), &search("how+to+kill+a+python+process"));
    assert_eq!(benign.status, 200, "{}", benign.body);

    let searched = Instant::now();
    let risky = site.through_proxy(Some(PUPIL_LAPTOP), &search("how+to+kill+myself"));
    assert_eq!(risky.status, 200, "{}", risky.body);

    // The email arrives within 10 s of the search.
    let arrived = within(Duration::from_secs(10), || !mail.messages().is_empty());
    assert!(
        arrived.is_some(),
        "no alert email within 10 s of the search; gateway log:\n{}",
        site.log()
    );
    eprintln!(
        "alert email arrived {:?} after the search",
        searched.elapsed()
    );
    let email = mail.messages().remove(0);
    assert!(email.contains("dsl@test-school.example"), "{email}");
    assert!(email.contains("Suicide and self-harm"), "{email}");
    assert!(email.contains("/alerts/"), "{email}");
    // Minimal detail by default: no name and no search text in an email.
    assert!(
        !email.contains("kill myself") && !email.contains("Pupil A"),
        "{email}"
    );

    let hooked = within(Duration::from_secs(10), || !webhook.requests().is_empty());
    assert!(hooked.is_some(), "the webhook receiver got nothing");
    let (request_line, body) = webhook.requests().remove(0);
    assert!(
        request_line.starts_with("POST /hooks/alerts "),
        "{request_line}"
    );
    let json: serde_json::Value = serde_json::from_str(&body).expect("the webhook body is JSON");
    assert_eq!(json["category"], "suicide_self_harm", "{json}");
    assert!(json["severity"].as_u64().unwrap_or(0) >= 4, "{json}");
    assert!(json.get("person").is_none() && json.get("matched_text").is_none());
    let alert_id = json["alert_id"].as_i64().expect("an alert number");

    // Only one alert: the look-alike raised none.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(mail.messages().len(), 1, "{:?}", mail.messages());
    assert_eq!(webhook.requests().len(), 1);

    // The DSL sees it in the triage queue, with the words and the evidence.
    let client = site.signed_in(&dsl);
    let queue = client.page("/alerts");
    assert!(queue.contains(&format!("alert-{alert_id}")), "{queue}");
    assert!(queue.contains("pupil.a"), "{queue}");
    let alert_page = format!("/alerts/{alert_id}");
    let page = client.page(&alert_page);
    assert!(page.contains("how to kill myself"), "{page}");
    assert!(
        page.contains("python process"),
        "the evidence shows the search before: {page}"
    );

    // One step turns it into a concern holding the evidence.
    let (status, headers, body) =
        client.submit(&alert_page, &format!("/alerts/{alert_id}/concern"), &[]);
    assert_eq!(status, 303, "{body}");
    let concern = location(&headers);
    assert!(concern.starts_with("/concerns/"), "{concern}");
    let concern_page = client.page(&concern);
    assert!(
        concern_page.contains("how to kill myself"),
        "{concern_page}"
    );
    assert!(concern_page.contains("www.google.com"), "{concern_page}");
    let triaged = client.page(&alert_page);
    assert!(triaged.contains("Triaged"), "{triaged}");

    // The weekly report counts it, names no one, and comes as a PDF too; governors may read
    // it but not the alerts.
    let today = jiff::ZonedDateTime::now().date();
    let report = client.page(&format!("/monitoring/report?week={today}"));
    assert!(report.contains("Suicide and self-harm"), "{report}");
    assert!(!report.contains("pupil.a") && !report.contains("kill myself"));
    let pdf = client.get(&format!("/monitoring/report.pdf?week={today}"));
    assert_eq!(pdf.status, 200);
    assert!(
        pdf.body.starts_with("%PDF-"),
        "{}",
        &pdf.body[..pdf.body.len().min(40)]
    );
    let governor = site.signed_in(&governor);
    assert_eq!(governor.get("/monitoring/report").status, 200);
    assert_eq!(governor.get(&alert_page).status, 403);
}

#[test]
fn a_school_tunes_the_libraries_under_change_control() {
    let Some(around) = Surroundings::start(Ipv4Addr::new(127, 0, 0, 72)) else {
        return;
    };
    let (mail, webhook, config) = (&around.mail, &around.webhook, &around.config);
    let osl = StaffAccount::create(config, "osl", "online-safety-lead");
    let teacher = StaffAccount::create(config, "tc", "teacher");
    let site = AdminSite::start(config, around.dir.path(), &[]);
    let search = |query: &str| around.search(query);

    let client = site.signed_in(&osl);
    // Nothing in the shipped libraries knows this school's worry yet.
    let tried = client.page("/monitoring/library?try=glowstick+challenge+dare&band=primary");
    assert!(tried.contains("No risk found"), "{tried}");
    // A teacher may not tune the libraries.
    assert_eq!(
        site.signed_in(&teacher).get("/monitoring/library").status,
        403
    );
    // A change without a reason is refused and nothing is logged.
    let (status, _, body) = client.submit(
        "/monitoring/library",
        "/monitoring/library",
        &[
            ("action", "add"),
            ("entry", "glowsticks"),
            ("category", "suicide_self_harm"),
            ("severity", "4"),
            ("phrases", "glowstick challenge"),
        ],
    );
    assert_eq!(status, 400, "{body}");
    // With a reason it goes into the change log and is in force at once.
    let (status, headers, body) = client.submit(
        "/monitoring/library",
        "/monitoring/library",
        &[
            ("action", "add"),
            ("entry", "glowsticks"),
            ("category", "suicide_self_harm"),
            ("severity", "4"),
            ("phrases", "glowstick challenge\nglowstick dare"),
            (
                "reason",
                "Pupils in year 5 talked about a dangerous online dare",
            ),
        ],
    );
    assert_eq!(status, 303, "{body}");
    let change = location(&headers);
    assert!(change.starts_with("/changes/"), "{change}");
    let logged = client.page(&change);
    assert!(logged.contains("school.glowsticks"), "{logged}");
    assert!(logged.contains("dangerous online dare"), "{logged}");
    let tried = client.page("/monitoring/library?try=glowstick+challenge+dare&band=primary");
    assert!(tried.contains("school.glowsticks"), "{tried}");

    // The monitor picks the school's entry up within seconds: a search now raises an
    // immediate alert in its category.
    let raised = within(Duration::from_secs(15), || {
        site.through_proxy(Some(PUPIL_LAPTOP), &search("glowstick+challenge"));
        within(Duration::from_secs(3), || !mail.messages().is_empty()).is_some()
    });
    assert!(
        raised.is_some(),
        "no alert for the school's own entry:\n{}",
        site.log()
    );
    let (_, body) = webhook.requests().remove(0);
    assert!(body.contains("suicide_self_harm"), "{body}");
}
