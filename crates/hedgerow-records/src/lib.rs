//! The rules of a school's safeguarding records (online-safety concerns and incidents), apart
//! from where they are kept: what kinds of incident and action there are, the guided
//! procedures, who may read a record, when a record falls due for review, why an uploaded
//! image is refused, and the formats of a transfer bundle and a subject-access export.
//!
//! Nothing here reads or writes anything: the store keeps the vocabularies' keys as text and
//! the web layer checks what it is given with the `parse` functions before it is stored.

pub mod access;
pub mod close;
pub mod procedure;
pub mod retention;
pub mod school_days;
pub mod subject_access;
pub mod transfer;
pub mod upload;
mod vocab;

pub use access::{Access, access};
pub use close::check_close;
pub use procedure::{Procedure, Step};
pub use retention::{RetentionRules, check_destroy};
pub use school_days::add_school_days;
pub use subject_access::{SubjectAccessExport, escape_html, render_html};
pub use transfer::{TransferBundle, TransferError, TransferPupil, open, seal, sha256_hex};
pub use upload::{Refusal, refuse};
pub use vocab::{
    ActionKind, IncidentType, Involvement, Location, PersonRole, RecordType, SanctionKind,
};

/// Why a change to a record was refused. Each message says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Closing needs a summary of the outcome.
    #[error(
        "A record cannot be closed without an outcome. Write a short summary of what happened \
         in the end and what was done, then close it."
    )]
    OutcomeMissing,
    /// Closing a record with no referral on it needs the reason none was made.
    #[error(
        "No referral (social care, police, CEOP, IWF or LADO) is recorded, so the reason no \
         referral was made must be written down before the record is closed. Add the reason, \
         or record the referral as an action first."
    )]
    NoReferralReasonMissing,
    /// A record under legal hold cannot be destroyed.
    #[error(
        "This record is under a legal hold and cannot be destroyed. Lift the hold first, and \
         only once whoever asked for it confirms it is no longer needed."
    )]
    UnderLegalHold,
    /// Destroying a record needs a reason for the certificate of destruction.
    #[error(
        "Give a reason for destroying this record (for example \"retention period over, \
         reviewed by the DSL\"); it is kept on the certificate of destruction."
    )]
    DestructionReasonMissing,
}
