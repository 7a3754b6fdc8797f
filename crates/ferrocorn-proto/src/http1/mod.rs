//! HTTP/1.0 and HTTP/1.1, sans-I/O.
//!
//! - [`parse_head`] turns the bytes of a request head into a [`RequestHead`] of [`Span`]s into
//!   the caller's buffer (no copies, no lifetimes, no allocation once warmed up).
//! - [`ChunkedDecoder`] strips the chunked transfer coding from a request body.
//! - [`encode`] writes responses: status line, headers, chunk framing, `Date`, error replies.
//! - [`uri`] splits request targets and builds WSGI `environ` keys.
//!
//! Errors are [`HttpError`]s: the status to answer with plus a static, log-friendly reason.
//! Every error means "reply (if you can) and close the connection": the framing of anything
//! after a bad head cannot be trusted.

mod body;
mod chars;
pub mod encode;
mod error;
mod head;
pub mod uri;

pub use body::{ChunkedDecoder, Step};
pub use encode::{
    error_response, error_response_with_headers, push_chunk_header, push_header, push_header_u64,
    push_status_line, status_for_code, validate_header, validate_status, DateCache, CONTINUE_100,
    LAST_CHUNK,
};
pub use error::HttpError;
pub use head::{
    parse_head, BodyKind, Header, HeaderMapPolicy, Limits, Parsed, RequestHead, Span, Version,
    MAX_FIELDS_CAP, MAX_HEAD_CAP, MAX_LINE_CAP,
};
pub use uri::{environ_key_into, percent_decode_into, split_target, TargetForm, TargetParts};
