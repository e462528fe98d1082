//! The rules of acceptable use agreements, apart from where they are kept and how they are
//! shown: who an agreement is for (`Audience`), the project's own default texts, turning a
//! school's edited text into safe HTML with pictures for young pupils, when an acceptance
//! expires and how it stands today, the uses a parent consents to for their child's image,
//! visitors' day codes, parents' link tokens, and the QR code printed on a parent's letter.
//!
//! Nothing here reads or writes anything: the store keeps audiences, standings and consent as
//! their text keys, and the web layer checks what it is given with the `parse` functions.

mod audience;
mod codes;
mod consent;
pub mod fuzzing;
mod pictures;
mod reminder;
mod renewal;
mod template;
mod texts;

pub use audience::Audience;
pub use codes::{QrError, day_code, link_token, looks_like_token, normalise_day_code, qr_svg};
pub use consent::{Consent, ImageUse, not_given};
pub use hedgerow_records::sha256_hex;
pub use pictures::PICTURES;
pub use reminder::{Reminder, reminder};
pub use renewal::{MONTH_NAMES, Renewal, RenewalError, Standing, uk_date};
pub use template::{Template, TemplateError, check_template, render_body};
pub use texts::{default_template, monitoring_notice};
