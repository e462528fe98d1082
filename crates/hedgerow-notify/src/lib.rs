//! Delivers monitoring alerts: email over SMTP (`smtp`) and JSON webhooks for chat tools and
//! SMS gateways (`webhook`). The messages themselves are composed by `hedgerow-monitor`; this
//! crate only does the I/O, on rustls with the ring provider (never OpenSSL or aws-lc).
//!
//! Errors name the setting to check, and never echo a webhook's full address or a token:
//! chat webhook addresses often carry their secret in the path.

mod error;
pub mod smtp;
pub mod webhook;

pub use error::NotifyError;
pub use smtp::{SmtpSecurity, SmtpSender, SmtpSettings};
pub use webhook::{WebhookSender, WebhookSettings};
