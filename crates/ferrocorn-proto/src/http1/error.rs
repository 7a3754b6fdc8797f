//! The one error type of the HTTP/1 code: which status to answer with, and why.
//!
//! Every error is the peer's fault (a 4xx, or 501/505 for things we refuse to speak) and means
//! "answer and close": once framing is in doubt, no later byte on the connection can be trusted.

use std::fmt;

/// A request the server must refuse.
///
/// `reason` is a short static description of what was wrong ("duplicate Content-Length"), for
/// the error log and the plain-text body of the reply. It never contains client bytes, so it is
/// safe to echo back. The reason *phrase* of the status line comes from [`HttpError::status_line`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpError {
    /// Status code to answer with.
    pub status: u16,
    /// What was wrong, in a few words.
    pub reason: &'static str,
}

impl HttpError {
    /// An error with any status; the constructors below cover what the parser produces.
    pub const fn new(status: u16, reason: &'static str) -> Self {
        HttpError { status, reason }
    }
    pub(crate) const fn bad_request(reason: &'static str) -> Self {
        Self::new(400, reason)
    }
    pub(crate) const fn uri_too_long(reason: &'static str) -> Self {
        Self::new(414, reason)
    }
    pub(crate) const fn fields_too_large(reason: &'static str) -> Self {
        Self::new(431, reason)
    }
    pub(crate) const fn too_large(reason: &'static str) -> Self {
        Self::new(413, reason)
    }

    /// `b"400 Bad Request"`: the status line after the version, without CRLF.
    ///
    /// A status this crate has no phrase for maps to the generic one of its class
    /// (`400 Bad Request` for 4xx, `500 Internal Server Error` otherwise), so the bytes stay static.
    pub fn status_line(&self) -> &'static [u8] {
        match status_line_bytes(self.status) {
            Some(line) => line,
            None if (400..500).contains(&self.status) => b"400 Bad Request",
            None => b"500 Internal Server Error",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            String::from_utf8_lossy(self.status_line()),
            self.reason
        )
    }
}

impl std::error::Error for HttpError {}

macro_rules! status_table {
    ($($code:literal $phrase:literal,)*) => {
        /// Reason phrase of a registered status code (RFC 9110 names).
        pub(crate) fn phrase(code: u16) -> Option<&'static str> {
            match code {
                $($code => Some($phrase),)*
                _ => None,
            }
        }
        /// `"<code> <phrase>"` as static bytes, so error replies need no formatting.
        pub(crate) fn status_line_bytes(code: u16) -> Option<&'static [u8]> {
            match code {
                $($code => Some(concat!($code, " ", $phrase).as_bytes()),)*
                _ => None,
            }
        }
    };
}

status_table! {
    100 "Continue",
    101 "Switching Protocols",
    102 "Processing",
    103 "Early Hints",
    200 "OK",
    201 "Created",
    202 "Accepted",
    203 "Non-Authoritative Information",
    204 "No Content",
    205 "Reset Content",
    206 "Partial Content",
    207 "Multi-Status",
    208 "Already Reported",
    226 "IM Used",
    300 "Multiple Choices",
    301 "Moved Permanently",
    302 "Found",
    303 "See Other",
    304 "Not Modified",
    305 "Use Proxy",
    307 "Temporary Redirect",
    308 "Permanent Redirect",
    400 "Bad Request",
    401 "Unauthorized",
    402 "Payment Required",
    403 "Forbidden",
    404 "Not Found",
    405 "Method Not Allowed",
    406 "Not Acceptable",
    407 "Proxy Authentication Required",
    408 "Request Timeout",
    409 "Conflict",
    410 "Gone",
    411 "Length Required",
    412 "Precondition Failed",
    413 "Content Too Large",
    414 "URI Too Long",
    415 "Unsupported Media Type",
    416 "Range Not Satisfiable",
    417 "Expectation Failed",
    421 "Misdirected Request",
    422 "Unprocessable Content",
    423 "Locked",
    424 "Failed Dependency",
    425 "Too Early",
    426 "Upgrade Required",
    428 "Precondition Required",
    429 "Too Many Requests",
    431 "Request Header Fields Too Large",
    451 "Unavailable For Legal Reasons",
    500 "Internal Server Error",
    501 "Not Implemented",
    502 "Bad Gateway",
    503 "Service Unavailable",
    504 "Gateway Timeout",
    505 "HTTP Version Not Supported",
    506 "Variant Also Negotiates",
    507 "Insufficient Storage",
    508 "Loop Detected",
    510 "Not Extended",
    511 "Network Authentication Required",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            HttpError::bad_request("x").status_line(),
            b"400 Bad Request"
        );
        assert_eq!(
            HttpError::new(431, "x").status_line(),
            b"431 Request Header Fields Too Large"
        );
        assert_eq!(
            HttpError::new(505, "x").status_line(),
            b"505 HTTP Version Not Supported"
        );
        assert_eq!(HttpError::new(499, "x").status_line(), b"400 Bad Request");
        assert_eq!(
            HttpError::new(599, "x").status_line(),
            b"500 Internal Server Error"
        );
        assert_eq!(phrase(413), Some("Content Too Large"));
        assert_eq!(phrase(299), None);
        assert_eq!(
            HttpError::new(413, "body too large").to_string(),
            "413 Content Too Large (body too large)"
        );
    }
}
