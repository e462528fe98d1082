//! The decision engine: may this person, on this device, at this moment, reach this address,
//! and why?
//!
//! A [`PolicySpec`] (plain data, built by the configuration crate) is compiled with a
//! [`hedgerow_lists::ListIndex`] into an [`Engine`]. [`Engine::decide`] answers a [`Request`]
//! with a [`Decision`] whose [`Rule`] says what decided and whose reason reads as a sentence.
//!
//! Order of decision: illegal-content lists (always blocked, whatever else is configured);
//! sanctions on the user; hand-made site overrides; the group's actions for every list the
//! target is on (any block wins); the group default. This crate does no I/O.

mod calendar;
pub mod change;
pub mod decision;
pub mod engine;
pub mod error;
pub mod safesearch;
pub mod spec;
pub mod validate;

pub use calendar::Calendar;
pub use decision::{Decision, Rule};
pub use engine::{Engine, Request};
pub use error::PolicyError;
pub use safesearch::{SearchRule, SearchSettings};
pub use spec::{
    Action, Closure, FILE_TYPE_KEYS, GroupKind, GroupSpec, InspectScope, PolicySpec, Sanction,
    SanctionKind, ScheduleSpec, Selector, SiteOverride, Term, TimeRange, Verdict, Via, WebSettings,
    YoutubeRestrict, parse_weekday, weekday_short,
};
pub use validate::{strictness_problems, validate};
