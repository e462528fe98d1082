//! Why an alert could not be delivered, in words that tell the school's technician what to do.

/// A failed delivery. Each message names the setting to check.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(
        "plain, unencrypted SMTP to {host} would expose safeguarding alerts on the network; set \
         [monitoring.smtp] security to \"starttls\" (usually port 587) or \"tls\" (usually port \
         465), or use a mail server on this machine"
    )]
    PlainSmtpNotLoopback { host: String },

    #[error("the {what} address {address:?} is not a valid email address; {fix}")]
    BadAddress {
        what: &'static str,
        address: String,
        fix: &'static str,
    },

    #[error("the alert email has no recipients; add addresses to the alert routing list")]
    NoRecipients,

    #[error("the alert email could not be put together: {0}")]
    Message(String),

    #[error(
        "the mail server {server} refused the connection; check [monitoring.smtp] host and port"
    )]
    SmtpRefused { server: String },

    #[error(
        "the mail server {server} did not answer within {seconds} s; check [monitoring.smtp] \
         host and port, and that the firewall lets Hedgerow reach it"
    )]
    SmtpTimeout { server: String, seconds: u64 },

    #[error(
        "could not set up encryption with the mail server {server} ({detail}); check \
         [monitoring.smtp] security (\"starttls\" for port 587, \"tls\" for port 465) and that \
         the server's certificate is valid for its name"
    )]
    SmtpTls { server: String, detail: String },

    #[error(
        "the mail server {server} would not take the message ({detail}); check [monitoring.smtp] \
         username, password and from, and the recipients' addresses"
    )]
    SmtpRejected { server: String, detail: String },

    #[error("could not send through the mail server {server} ({detail}); check [monitoring.smtp]")]
    Smtp { server: String, detail: String },

    #[error(
        "the webhook address is not usable: {reason}; check the webhook under \
         [school.monitoring]"
    )]
    BadUrl { reason: String },

    #[error(
        "the webhook token cannot be sent in an HTTP header (it has spaces or unusual \
         characters); check webhook_token_file under [monitoring]"
    )]
    BadToken,

    #[error("could not prepare HTTPS for webhooks: {0}")]
    TlsSetup(String),

    #[error(
        "the webhook receiver {target} refused the connection; check the webhook address and that the receiver is running"
    )]
    WebhookRefused { target: String },

    #[error(
        "could not reach the webhook receiver {target} ({detail}); check the webhook under [school.monitoring]"
    )]
    WebhookConnect { target: String, detail: String },

    #[error(
        "the webhook receiver {target} did not answer within {seconds} s; check that it is running and reachable"
    )]
    WebhookTimeout { target: String, seconds: u64 },

    #[error(
        "could not set up HTTPS with the webhook receiver {target} ({detail}); check that its \
         certificate is valid for its name"
    )]
    WebhookTls { target: String, detail: String },

    #[error("the webhook receiver {target} answered HTTP {status}; {fix}")]
    WebhookStatus {
        target: String,
        status: u16,
        fix: &'static str,
    },

    #[error(
        "the webhook exchange with {target} failed ({detail}); check that the address is an HTTP webhook receiver"
    )]
    WebhookHttp { target: String, detail: String },
}

impl NotifyError {
    /// What to suggest for a webhook's non-success status.
    pub(crate) fn status_fix(status: u16) -> &'static str {
        match status {
            300..=399 => {
                "redirects are not followed, so that an alert never goes somewhere unexpected; \
                 put the final address as the webhook under [school.monitoring]"
            }
            401 | 403 => "check webhook_token_file under [monitoring]",
            404 | 405 => "check the webhook under [school.monitoring]",
            500..=599 => "the receiver itself failed; check its own logs",
            _ => {
                "check the webhook under [school.monitoring] and webhook_token_file under [monitoring]"
            }
        }
    }
}
