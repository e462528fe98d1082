//! The governors' termly safeguarding report: records by type and term, actions, referrals,
//! sanctions and the filtering and monitoring summary, as HTML and PDF. Every count passes
//! through [`crate::suppress`] before it is shown.

pub(crate) mod figures;
pub(crate) mod html;
pub(crate) mod model;
pub(crate) mod pdf;
