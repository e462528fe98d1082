//! Category and illegal-content lists: reading list files, normalising names, and the compiled
//! index that answers "which lists hold this address?" without touching the disk.
//!
//! This crate does no I/O. The catalog crate finds and reads list files and maps the compiled
//! index from disk; this one parses bytes it is given and queries bytes it is handed.

pub mod index;
pub mod name;
pub mod path;
pub mod source;
pub mod target;
pub mod taxonomy;

pub use index::{
    IndexBuilder, IndexBytes, IndexError, ListClass, ListId, ListIndex, ListInfo, Match, MatchKind,
    verify_stream,
};
pub use name::{Host, NameError, normalize_host};
pub use path::normalize_path;
pub use source::{Entry, LineError, ListFormat, parse_list};
pub use target::{Target, TargetError};
pub use taxonomy::{
    CATEGORIES, Category, CategoryKind, SourceRule, Taxonomy, TaxonomyError, category,
};
