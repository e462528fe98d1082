//! What the web proxy needs to know about a URL or a response beyond list membership: is
//! this a search, for what, and can it be made safe; is this response a download of a kind
//! the school blocks.
//!
//! Pure: strings and bytes in, values out, no I/O, and no panic on any input (each function
//! is fuzzed through [`fuzzing::exercise`]).
//!
//! # Searches ([`search`])
//!
//! - [`extract_search`]`(host, path_and_query) -> Option<`[`SearchQuery`]`>`: the engine,
//!   the kind (web, images, videos, news, other) and the decoded, tidied term.
//! - [`force_safe_search`]`(host, path_and_query) -> `[`SafeSearchOutcome`]: the request
//!   target with the engine's strict setting forced, or why there is nothing to rewrite.
//! - [`is_image_search`], and for YouTube, which is restricted by a request header rather
//!   than the URL, [`is_youtube_host`] and [`YOUTUBE_RESTRICT_HEADER`].
//!
//! `host` is always the request's host, lower-case and without a port; `path_and_query` is
//! the origin-form target (`/search?q=cats`). For a CONNECT tunnel these apply only where
//! the proxy inspects the TLS traffic.
//!
//! # Downloads ([`filetype`])
//!
//! - [`classify_response`]`(request_path, content_type, disposition) -> Option<`[`FileClass`]`>`
//!   weighs the three kinds of evidence; [`class_of_path`], [`class_of_content_type`],
//!   [`class_of_disposition`] and [`class_of_filename`] read one each.
//! - [`FileClass::key`] and [`FileClass::parse`] are the names configuration uses:
//!   `executables`, `installers`, `scripts`, `disk-images`, `archives`.
//!
//! # URL helpers ([`url`])
//!
//! Splitting a target into path and query, walking query parameters, percent-decoding (`+`
//! as a space in queries, invalid UTF-8 replaced) and encoding a query value.

pub mod filetype;
pub mod search;
pub mod url;

#[doc(hidden)]
pub mod fuzzing;

pub use filetype::{
    FileClass, class_of_content_type, class_of_disposition, class_of_filename, class_of_path,
    classify_response,
};
pub use search::{
    MAX_TERM_CHARS, SafeSearchOutcome, SearchEngine, SearchKind, SearchQuery,
    YOUTUBE_RESTRICT_HEADER, extract_search, force_safe_search, is_image_search, is_youtube_host,
};
