//! Wire formats for Hedgerow's explicit forward proxy (and the one thing it reads from pages:
//! their titles, in [`title`]), kept apart from the server (as
//! hickory-dns keeps its protocol crate apart from its servers) so that every byte the proxy
//! reads from a client or an origin goes through code that can be tested and fuzzed alone.
//!
//! Nothing here does I/O: each parser takes the bytes read so far and either returns a
//! value with the number of bytes it used, asks for more bytes, or returns a typed error.
//! Every parser has explicit size limits (see [`Limits`]), and none may panic on any input.

mod head;

pub mod chunked;
pub mod request;
pub mod response;
pub mod title;
pub mod tls;

pub use chunked::{ChunkError, ChunkLimits, ChunkedDecoder, Progress};
pub use head::{BodyFraming, HOP_BY_HOP, HeadError, Headers, Host, Limits, Version};
pub use request::{
    AuthError, RequestHead, RequestTarget, Scheme, parse_request_head, parse_request_head_with,
};
pub use response::{ResponseBody, ResponseHead, parse_response_head, parse_response_head_with};
pub use title::{MAX_TITLE_CHARS, TITLE_SCAN_LIMIT, TitleScan, TitleScanner, find_title};
pub use tls::{ClientHello, EchKind, HelloError, MAX_CLIENT_HELLO, parse_client_hello};
