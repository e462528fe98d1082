//! Alert email against a real SMTP server: Debian's aiosmtpd, started by the test on a free
//! loopback port, delivering into a Maildir the test then reads.
//!
//! Skipped with a message when python3-aiosmtpd is missing, unless HEDGEROW_REQUIRE_SMTP is set
//! (CI sets it), in which case its absence fails the test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hedgerow_monitor::{AlertNotice, Detail, EmailMessage, email_for, london};
use hedgerow_notify::{NotifyError, SmtpSecurity, SmtpSender, SmtpSettings};
use tokio::process::{Child, Command};

/// A Python that has aiosmtpd: Debian's own first, since a pyenv shim on PATH may not see it.
fn python_with_aiosmtpd() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|python| {
        std::process::Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn require_python() -> Option<&'static str> {
    let found = python_with_aiosmtpd();
    if found.is_none() {
        assert!(
            std::env::var_os("HEDGEROW_REQUIRE_SMTP").is_none(),
            "HEDGEROW_REQUIRE_SMTP is set but python3-aiosmtpd is not installed; run scripts/test-env.sh"
        );
        eprintln!("skipping: python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    async fn start(python: &str) -> SmtpServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let maildir = dir.path().join("mail");
        let port = free_port();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("aiosmtpd starts");
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        SmtpServer {
            child,
            port,
            maildir,
            _dir: dir,
        }
    }

    fn settings(&self) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: self.port,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "Hedgerow at Oakfield <hedgerow@oakfield.example>".into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// The delivered messages, waiting briefly for the server to write them.
    async fn messages(&self, expected: usize) -> Vec<String> {
        let new = self.maildir.join("new");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = read_all(&new);
            if found.len() >= expected || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn read_all(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect()
}

/// The message's headers, unfolded, by lower-case name, with RFC 2047 words decoded.
fn headers_of(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let decoded = headers
        .into_iter()
        .map(|(name, value)| (name, decode_words(&value)))
        .collect();
    (decoded, body.to_string())
}

/// Decodes `=?utf-8?b?...?=` words; whitespace between two encoded words is dropped.
fn decode_words(value: &str) -> String {
    use base64::Engine as _;
    let mut out = String::new();
    let mut previous_was_word = false;
    for token in value.split_whitespace() {
        let word = token
            .strip_prefix("=?utf-8?b?")
            .and_then(|rest| rest.strip_suffix("?="))
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok());
        match word {
            Some(text) => {
                if !previous_was_word && !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&text);
                previous_was_word = true;
            }
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(token);
                previous_was_word = false;
            }
        }
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn notice() -> AlertNotice {
    AlertNotice {
        alert_id: 31,
        school_name: "Oakfield Academy".into(),
        category_label: "Suicide and self-harm".into(),
        category: "suicide_self_harm".into(),
        severity: 5,
        person: Some("Jamie Testpupil".into()),
        group: Some("Year 9".into()),
        device: Some("LIB-PC-07".into()),
        at: "2026-12-07T10:42:00Z".parse().expect("timestamp"),
        count: 1,
        matched_text: "an invented test phrase".into(),
        link: "https://hedgerow.oakfield.example/alerts/31".into(),
        out_of_hours: false,
    }
}

/// Undoes quoted-printable soft line breaks and `=XX` escapes, enough to compare bodies.
fn unquote(body: &str) -> String {
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'='
            && let Some(decoded) = joined
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(decoded);
            i += 3;
            continue;
        }
        out.push(byte);
        i += 1;
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

#[tokio::test]
async fn alert_email_arrives_with_its_headers_and_body() {
    let Some(python) = require_python() else {
        return;
    };
    let server = SmtpServer::start(python).await;
    let sender = SmtpSender::new(server.settings()).expect("settings are valid");
    let message = email_for(&notice(), Detail::Minimal, &london());
    let to = vec![
        "dsl@oakfield.example".to_string(),
        "Deputy DSL <deputy@oakfield.example>".to_string(),
    ];
    sender
        .send(&to, &message)
        .await
        .expect("the server takes the message");

    let messages = server.messages(1).await;
    assert_eq!(messages.len(), 1, "one message for both recipients");
    let raw = &messages[0];
    let (headers, body) = headers_of(raw);
    assert_eq!(
        header(&headers, "from"),
        Some("\"Hedgerow at Oakfield\" <hedgerow@oakfield.example>")
    );
    let to_header = header(&headers, "to").unwrap_or_default();
    assert!(to_header.contains("dsl@oakfield.example"), "{to_header}");
    assert!(to_header.contains("deputy@oakfield.example"), "{to_header}");
    assert_eq!(header(&headers, "subject"), Some(message.subject.as_str()));
    assert!(header(&headers, "content-type").is_some_and(|c| c.starts_with("text/plain")));
    assert!(header(&headers, "date").is_some(), "{raw}");
    assert!(header(&headers, "message-id").is_some(), "{raw}");
    // aiosmtpd's Mailbox records the envelope recipients: both got it.
    let envelope = header(&headers, "x-rcptto").unwrap_or_default();
    assert!(
        envelope.contains("dsl@oakfield.example") && envelope.contains("deputy@oakfield.example"),
        "{envelope}"
    );

    let body = unquote(&body);
    assert!(body.contains("Alert:     31"), "{body}");
    assert!(body.contains("When:      Mon 7 Dec 2026, 10:42"), "{body}");
    assert!(
        body.contains("https://hedgerow.oakfield.example/alerts/31"),
        "{body}"
    );
    assert!(!raw.contains("Jamie") && !raw.contains("invented test phrase"));
    server.stop().await;
}

#[tokio::test]
async fn non_ascii_subject_and_body_survive() {
    let Some(python) = require_python() else {
        return;
    };
    let server = SmtpServer::start(python).await;
    let sender = SmtpSender::new(server.settings()).expect("settings are valid");
    let message = EmailMessage {
        subject: "Hedgerow alert at Ysgol Gymraeg Caerdydd – Zoë’s group".into(),
        text_body: "Grŵp: Blwyddyn 9 – naïve café\n".into(),
    };
    sender
        .send(&["dsl@oakfield.example".to_string()], &message)
        .await
        .expect("sent");
    let messages = server.messages(1).await;
    assert_eq!(messages.len(), 1);
    let raw = &messages[0];
    // On the wire headers are 7-bit: the subject travels as encoded words and decodes back.
    let (head, _) = raw.split_once("\n\n").expect("headers");
    assert!(head.is_ascii(), "{head}");
    let (headers, body) = headers_of(raw);
    assert_eq!(
        header(&headers, "subject"),
        Some(message.subject.as_str()),
        "{head}"
    );
    assert_eq!(unquote(&body).trim_end(), message.text_body.trim_end());
    server.stop().await;
}

#[tokio::test]
async fn a_closed_port_is_reported_as_refused_naming_the_setting() {
    let port = free_port();
    let sender = SmtpSender::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "hedgerow@oakfield.example".into(),
        timeout: Duration::from_secs(5),
    })
    .expect("settings");
    let err = sender
        .send(
            &["dsl@oakfield.example".into()],
            &email_for(&notice(), Detail::Minimal, &london()),
        )
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, NotifyError::SmtpRefused { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the mail server 127.0.0.1:{port} refused the connection; check [monitoring.smtp] host and port"
        )
    );
}

#[tokio::test]
async fn starttls_required_but_not_offered_is_a_tls_error() {
    let Some(python) = require_python() else {
        return;
    };
    let server = SmtpServer::start(python).await;
    let mut settings = server.settings();
    settings.security = SmtpSecurity::StartTls;
    let sender = SmtpSender::new(settings).expect("settings");
    let err = sender
        .send(
            &["dsl@oakfield.example".into()],
            &email_for(&notice(), Detail::Minimal, &london()),
        )
        .await
        .expect_err("aiosmtpd offers no STARTTLS");
    assert!(matches!(err, NotifyError::SmtpTls { .. }), "{err:?}");
    assert!(
        err.to_string().contains("[monitoring.smtp] security"),
        "{err}"
    );
    assert!(server.messages(0).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts the connection but never greets, as a black-holed mail server would.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let sender = SmtpSender::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "hedgerow@oakfield.example".into(),
        timeout: Duration::from_secs(1),
    })
    .expect("settings");
    let started = Instant::now();
    let err = sender
        .send(
            &["dsl@oakfield.example".into()],
            &email_for(&notice(), Detail::Minimal, &london()),
        )
        .await
        .expect_err("no greeting");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, NotifyError::SmtpTimeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains("did not answer within 1 s"),
        "{err}"
    );
    hold.abort();
}

#[tokio::test]
async fn bad_recipients_are_refused_before_connecting() {
    let sender = SmtpSender::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port: free_port(),
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "hedgerow@oakfield.example".into(),
        timeout: Duration::from_secs(5),
    })
    .expect("settings");
    let message = email_for(&notice(), Detail::Minimal, &london());
    let err = sender.send(&[], &message).await.expect_err("nobody");
    assert!(matches!(err, NotifyError::NoRecipients));
    let err = sender
        .send(&["not an address\r\nBcc: x@y".into()], &message)
        .await
        .expect_err("bad address");
    assert!(
        matches!(
            err,
            NotifyError::BadAddress {
                what: "recipient",
                ..
            }
        ),
        "{err:?}"
    );
}
