//! Alert email over SMTP with lettre, encrypted with rustls (ring provider, Mozilla's roots
//! from webpki-roots), so no system OpenSSL is needed.

use std::error::Error as _;
use std::io;
use std::net::IpAddr;
use std::time::Duration;

use hedgerow_monitor::EmailMessage;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{CertificateStore, Tls, TlsParameters, TlsParametersBuilder};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::NotifyError;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpSecurity {
    /// No encryption: only allowed to a mail server on this machine (tests, a local relay).
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed (usually port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// Where and how to send alert email.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender, e.g. `Hedgerow <hedgerow@school.example>`.
    pub from: String,
    /// The most a whole send may take, connection included.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    /// Leaves the password out, so settings can be logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Sends alert email through one mail server.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
    timeout: Duration,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl SmtpSender {
    /// Checks the settings and prepares the sender; nothing is sent or connected yet.
    pub fn new(settings: SmtpSettings) -> Result<Self, NotifyError> {
        let host = settings.host.trim().to_string();
        let server = if host.contains(':') {
            format!(
                "[{}]:{}",
                host.trim_start_matches('[').trim_end_matches(']'),
                settings.port
            )
        } else {
            format!("{host}:{}", settings.port)
        };
        let from: Mailbox = settings.from.parse().map_err(|_| NotifyError::BadAddress {
            what: "sender",
            address: settings.from.clone(),
            fix: "check [monitoring.smtp] from (e.g. \"Hedgerow <hedgerow@school.example>\")",
        })?;

        let tls_parameters = || -> Result<TlsParameters, NotifyError> {
            TlsParametersBuilder::new(host.clone())
                .certificate_store(CertificateStore::WebpkiRoots)
                .build_rustls()
                .map_err(|e| NotifyError::SmtpTls {
                    server: server.clone(),
                    detail: e.to_string(),
                })
        };
        let tls = match settings.security {
            SmtpSecurity::None if !is_loopback(&host) => {
                return Err(NotifyError::PlainSmtpNotLoopback { host });
            }
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
            .port(settings.port)
            .timeout(Some(settings.timeout))
            .tls(tls);
        if let Some(username) = settings.username {
            builder = builder.credentials(Credentials::new(
                username,
                settings.password.unwrap_or_default(),
            ));
        }
        Ok(SmtpSender {
            transport: builder.build(),
            from,
            server,
            timeout: settings.timeout,
        })
    }

    /// Sends `message` as plain text to every address in `to`, in one message.
    pub async fn send(&self, to: &[String], message: &EmailMessage) -> Result<(), NotifyError> {
        if to.is_empty() {
            return Err(NotifyError::NoRecipients);
        }
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(message.subject.as_str())
            .message_id(None)
            .header(ContentType::TEXT_PLAIN);
        for address in to {
            let mailbox: Mailbox = address.parse().map_err(|_| NotifyError::BadAddress {
                what: "recipient",
                address: address.clone(),
                fix: "check the addresses in the alert routing lists",
            })?;
            builder = builder.to(mailbox);
        }
        let email = builder
            .body(message.text_body.clone())
            .map_err(|e| NotifyError::Message(e.to_string()))?;

        match tokio::time::timeout(self.timeout, self.transport.send(email)).await {
            Err(_) => Err(self.timeout_error()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.classify(&e)),
        }
    }

    fn timeout_error(&self) -> NotifyError {
        NotifyError::SmtpTimeout {
            server: self.server.clone(),
            seconds: self.timeout.as_secs().max(1),
        }
    }

    fn classify(&self, error: &lettre::transport::smtp::Error) -> NotifyError {
        let server = self.server.clone();
        let detail = describe(error);
        match io_error_kind(error) {
            Some(io::ErrorKind::ConnectionRefused) => return NotifyError::SmtpRefused { server },
            Some(io::ErrorKind::TimedOut) => return self.timeout_error(),
            _ => {}
        }
        if error.is_tls() {
            NotifyError::SmtpTls { server, detail }
        } else if error.is_permanent() || error.is_transient() {
            NotifyError::SmtpRejected { server, detail }
        } else if error.is_client() && detail.to_ascii_lowercase().contains("tls") {
            // lettre reports "STARTTLS required but not offered" as a client error.
            NotifyError::SmtpTls { server, detail }
        } else {
            NotifyError::Smtp { server, detail }
        }
    }
}

/// The error and its causes on one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn io_error_kind(error: &lettre::transport::smtp::Error) -> Option<io::ErrorKind> {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io_error) = cause.downcast_ref::<io::Error>() {
            return Some(io_error.kind());
        }
        source = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(host: &str, security: SmtpSecurity) -> SmtpSettings {
        SmtpSettings {
            host: host.into(),
            port: 2525,
            security,
            username: Some("hedgerow".into()),
            password: Some("not-a-real-secret".into()),
            from: "Hedgerow <hedgerow@oakfield.example>".into(),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn plain_smtp_is_refused_except_to_this_machine() {
        let err = SmtpSender::new(settings("mail.oakfield.example", SmtpSecurity::None))
            .expect_err("plain SMTP to another host");
        assert!(matches!(err, NotifyError::PlainSmtpNotLoopback { .. }));
        assert!(
            err.to_string().contains("[monitoring.smtp] security"),
            "{err}"
        );
        for local in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            assert!(
                SmtpSender::new(settings(local, SmtpSecurity::None)).is_ok(),
                "{local}"
            );
        }
        assert!(SmtpSender::new(settings("mail.oakfield.example", SmtpSecurity::StartTls)).is_ok());
        assert!(SmtpSender::new(settings("mail.oakfield.example", SmtpSecurity::Tls)).is_ok());
    }

    #[test]
    fn a_bad_sender_address_names_the_setting() {
        let mut s = settings("127.0.0.1", SmtpSecurity::None);
        s.from = "not an address".into();
        let err = SmtpSender::new(s).expect_err("bad from");
        assert!(err.to_string().contains("[monitoring.smtp] from"), "{err}");
    }

    #[test]
    fn the_password_is_not_logged() {
        let text = format!("{:?}", settings("127.0.0.1", SmtpSecurity::None));
        assert!(!text.contains("not-a-real-secret"), "{text}");
    }
}
