//! Response side: validating what the WSGI app hands us and writing it to a byte buffer.
//!
//! The server builds status line, headers and the first body chunk in one `Vec` and writes it
//! in one syscall, so these helpers only append to a `Vec<u8>`. Validation is separate from
//! writing because the app's `start_response` is where a bad header must be reported (as a
//! Python exception), long before anything is written.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::chars::{is_field_value_byte, is_token};
use super::error::{phrase, HttpError};
use super::head::Version;

/// The terminating zero-length chunk with an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The interim response for `Expect: 100-continue`, sent before reading the body.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Check a WSGI status string (`"200 OK"`) and return its code.
///
/// Three digits from 100 to 999, then either nothing or a space and a reason phrase of
/// visible characters, spaces and tabs (no CR, LF or other control bytes: they would let the
/// app, or whoever controls the phrase, inject headers).
pub fn validate_status(status: &[u8]) -> Result<u16, &'static str> {
    let [a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9', rest @ ..] = status else {
        return Err("status must start with a three-digit code from 100 to 999");
    };
    // PEP 3333: "a Status-Code and a Reason-Phrase ... separated by a single space"; a bare
    // code is refused like wsgiref's validator does.
    match rest {
        [] => return Err("status must be a code, a space and a reason phrase (e.g. '200 OK')"),
        [b' ', reason @ ..] if reason.iter().all(|&b| is_field_value_byte(b)) => {}
        [b' ', ..] => return Err("status reason phrase contains control characters"),
        _ => return Err("status code must be followed by a space"),
    }
    let digit = |d: &u8| u16::from(d - b'0');
    Ok(digit(a) * 100 + digit(b) * 10 + digit(c))
}

/// Check a response header: the name is a token, the value holds only visible characters,
/// spaces and tabs (as gunicorn checks), so no CR/LF/NUL can split the response.
pub fn validate_header(name: &[u8], value: &[u8]) -> Result<(), &'static str> {
    if !is_token(name) {
        return Err("invalid header name");
    }
    if !value.iter().all(|&b| is_field_value_byte(b)) {
        return Err("header value contains control characters");
    }
    Ok(())
}

/// Append `HTTP/1.1 200 OK\r\n`. A bare code (`"204"`) gets the space the grammar requires
/// before the (empty) reason phrase.
pub fn push_status_line(out: &mut Vec<u8>, version: Version, status: &[u8]) {
    out.extend_from_slice(version.as_bytes());
    out.push(b' ');
    out.extend_from_slice(status);
    if status.len() == 3 {
        out.push(b' ');
    }
    out.extend_from_slice(b"\r\n");
}

/// Append `name: value\r\n` (validate first: this writes what it is given).
pub fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Append `name: <decimal>\r\n`, e.g. a `Content-Length` the server computed.
pub fn push_header_u64(out: &mut Vec<u8>, name: &[u8], value: u64) {
    push_header(out, name, itoa::Buffer::new().format(value).as_bytes());
}

/// Append a chunk-size line, `1a\r\n`, for a chunk of `len` bytes (lowercase hex).
pub fn push_chunk_header(out: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        if let (Some(slot), Some(&d)) = (digits.get_mut(i), HEX.get(n % 16)) {
            *slot = d;
        }
        n /= 16;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
    out.extend_from_slice(b"\r\n");
}

/// Reason phrase for a status code (RFC 9110 names), or `""` for codes without one (an empty
/// reason phrase is valid on the wire).
pub fn status_for_code(code: u16) -> &'static str {
    phrase(code).unwrap_or("")
}

/// Append a complete error response the server sends on its own (bad request, limits):
/// status line, `Content-Type: text/plain`, `Content-Length`, `Connection: close`, and a body
/// naming the status and the reason. The reason is static text, never client bytes.
pub fn error_response(out: &mut Vec<u8>, err: &HttpError) {
    error_response_with_headers(out, err, b"");
}

/// [`error_response`] plus `extra_headers`: complete header lines, each ending in CRLF, e.g.
/// the line from [`DateCache::header_line`] or a `Server` header.
pub fn error_response_with_headers(out: &mut Vec<u8>, err: &HttpError, extra_headers: &[u8]) {
    let status_line = err.status_line();
    let body_len = status_line.len() + 1 + err.reason.len() + 1;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status_line);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(extra_headers);
    push_header(out, b"Content-Type", b"text/plain; charset=utf-8");
    push_header_u64(out, b"Content-Length", body_len as u64);
    push_header(out, b"Connection", b"close");
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(status_line);
    out.push(b'\n');
    out.extend_from_slice(err.reason.as_bytes());
    out.push(b'\n');
}

/// Length of `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n`.
const DATE_LINE_LEN: usize = 37;
/// 9999-12-31T23:59:59Z: the last second IMF-fixdate (and httpdate) can express.
const MAX_DATE_SECS: u64 = 253_402_300_799;

/// The `Date` header line, formatted at most once per second (one cache per thread).
#[derive(Clone, Debug)]
pub struct DateCache {
    secs: Option<u64>,
    line: [u8; DATE_LINE_LEN],
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl DateCache {
    /// An empty cache; the first call formats.
    pub fn new() -> Self {
        let mut line = [b' '; DATE_LINE_LEN];
        if let Some(prefix) = line.get_mut(..6) {
            prefix.copy_from_slice(b"Date: ");
        }
        DateCache { secs: None, line }
    }

    /// `Date: <IMF-fixdate>\r\n` for `now`, reformatted only when the second changes. Clocks
    /// before 1970 or after 9999 are clamped rather than trusted to the formatter.
    pub fn header_line(&mut self, now: SystemTime) -> &[u8] {
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .min(MAX_DATE_SECS);
        if self.secs != Some(secs) {
            let date = httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs));
            let mut w = LineWriter {
                buf: &mut self.line,
                pos: 6,
            };
            if fmt::write(&mut w, format_args!("{date}\r\n")).is_ok() && w.pos == DATE_LINE_LEN {
                self.secs = Some(secs);
            }
        }
        &self.line
    }
}

/// `fmt::Write` into a fixed buffer, failing instead of growing.
struct LineWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl fmt::Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.pos + s.len();
        let slot = self.buf.get_mut(self.pos..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.pos = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_validation() {
        assert_eq!(validate_status(b"200 OK"), Ok(200));
        assert_eq!(validate_status(b"404 Not Found"), Ok(404));
        assert_eq!(validate_status(b"999 Whatever \t \x80\xff"), Ok(999));
        assert!(validate_status(b"204").is_err());
        assert_eq!(validate_status(b"100 "), Ok(100));
        for bad in [
            &b""[..],
            b"20",
            b"099 Low",
            b"2000 OK",
            b"200OK",
            b"20x OK",
            b" 200 OK",
            b"200 OK\r\nX: y",
            b"200 OK\n",
            b"200 O\0K",
            b"200 \x7f",
        ] {
            assert!(validate_status(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn header_validation() {
        assert!(validate_header(b"Content-Type", b"text/html; charset=utf-8").is_ok());
        assert!(validate_header(b"X-Empty", b"").is_ok());
        assert!(validate_header(b"X", b"\ttab and \xe9").is_ok());
        assert!(validate_header(b"", b"v").is_err());
        assert!(validate_header(b"Bad Name", b"v").is_err());
        assert!(validate_header(b"Bad:Name", b"v").is_err());
        assert!(validate_header(b"X", b"a\r\nSet-Cookie: x").is_err());
        assert!(validate_header(b"X", b"a\nb").is_err());
        assert!(validate_header(b"X", b"a\0b").is_err());
        assert!(validate_header(b"X", b"a\rb").is_err());
    }

    #[test]
    fn status_lines_and_headers() {
        let mut out = Vec::new();
        push_status_line(&mut out, Version::Http11, b"200 OK");
        push_status_line(&mut out, Version::Http10, b"204");
        push_header(&mut out, b"X-A", b"1");
        push_header_u64(&mut out, b"Content-Length", 18_446_744_073_709_551_615);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nHTTP/1.0 204 \r\nX-A: 1\r\nContent-Length: 18446744073709551615\r\n"
        );
    }

    #[test]
    fn chunk_headers() {
        for (len, want) in [
            (0usize, &b"0\r\n"[..]),
            (1, b"1\r\n"),
            (15, b"f\r\n"),
            (16, b"10\r\n"),
            (26, b"1a\r\n"),
            (65536, b"10000\r\n"),
        ] {
            let mut out = b"x".to_vec();
            push_chunk_header(&mut out, len);
            assert_eq!(&out[1..], want, "{len}");
        }
        let mut out = Vec::new();
        push_chunk_header(&mut out, usize::MAX);
        assert_eq!(out, format!("{:x}\r\n", usize::MAX).as_bytes());
        assert_eq!(LAST_CHUNK, b"0\r\n\r\n");
    }

    #[test]
    fn reason_phrases() {
        assert_eq!(status_for_code(200), "OK");
        assert_eq!(status_for_code(431), "Request Header Fields Too Large");
        assert_eq!(status_for_code(599), "");
    }

    #[test]
    fn error_responses() {
        let mut out = Vec::new();
        error_response(&mut out, &HttpError::new(400, "bare CR"));
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, "400 Bad Request\nbare CR\n");
        assert_eq!(
            head,
            format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close",
                body.len()
            )
        );
        let mut out = Vec::new();
        error_response_with_headers(&mut out, &HttpError::new(505, "x"), b"Server: f\r\n");
        assert!(out
            .starts_with(b"HTTP/1.1 505 HTTP Version Not Supported\r\nServer: f\r\nContent-Type"));
    }

    #[test]
    fn date_cache() {
        let mut cache = DateCache::new();
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            cache.header_line(t),
            b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        );
        // Same second: same bytes; next second: reformatted.
        assert_eq!(
            cache.header_line(t + Duration::from_millis(999)),
            b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        );
        assert_eq!(
            cache.header_line(t + Duration::from_secs(1)),
            b"Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n"
        );
        // Out-of-range clocks are clamped, not a panic.
        assert_eq!(
            cache.header_line(UNIX_EPOCH - Duration::from_secs(5)),
            b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
        );
        assert_eq!(
            cache.header_line(UNIX_EPOCH + Duration::from_secs(MAX_DATE_SECS + 100)),
            b"Date: Fri, 31 Dec 9999 23:59:59 GMT\r\n"
        );
        let now = DateCache::default().header_line(SystemTime::now()).to_vec();
        assert_eq!(now.len(), DATE_LINE_LEN);
        assert!(now.starts_with(b"Date: ") && now.ends_with(b" GMT\r\n"));
    }
}
