//! Request head parsing: request line and header section, into [`Span`]s of the caller's buffer.
//!
//! Three passes, each with one job:
//!
//! 1. A line scanner enforces the limits and the line framing (CRLF only, no bare CR, no NUL,
//!    obs-fold policy). It runs in line order and, on incomplete input, only checks limits that
//!    can only get worse with more bytes. So feeding a head in any number of pieces gives the
//!    same answer as feeding it whole, and oversized heads are refused before they are complete.
//!    The request line is validated (with httparse) as soon as it is complete, so garbage such
//!    as a TLS handshake is refused without waiting for a blank line.
//! 2. When the head is complete: optional in-place rewrites (unfolding, stripping whitespace
//!    before colons, upper-casing the method), then httparse validates the header section
//!    byte by byte.
//! 3. Header semantics: `header_map` policy, singleton fields, `Connection`, `Expect`, and the
//!    message framing rules of RFC 9112 §6 that defend against request smuggling.

use super::chars::{is_authority_byte, is_ows, is_tchar, list_elements, trim_ows};
use super::error::HttpError;
use super::uri::{split_target, TargetForm};

/// Upper bound for `max_line` and `max_field_size`; `0` ("unlimited") also means this.
/// A cap keeps the per-line checks tighter than the whole-head cap, so every refusal of an
/// oversized head names the line that caused it.
pub const MAX_LINE_CAP: usize = 1 << 20;
/// Upper bound for `max_fields` (gunicorn's `MAX_HEADERS`); `0` also means this.
pub const MAX_FIELDS_CAP: usize = 32768;
/// Hard ceiling on a whole head, whatever the limits say: spans are `u32`, and a server buffers
/// the head in memory.
pub const MAX_HEAD_CAP: usize = 64 << 20;

/// Header slots httparse gets on the stack; heads with more fields take one heap allocation.
/// Small on purpose: the slots are initialised on every call, and that showed in profiles.
const STACK_HEADERS: usize = 32;

/// A byte range into the buffer given to [`parse_head`], so a parsed head borrows nothing and
/// copies nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span for `start..end`; saturates instead of wrapping (heads are far below 4 GiB).
    pub fn new(start: usize, end: usize) -> Span {
        let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span {
            start: clamp(start),
            end: clamp(end),
        }
    }
    /// The bytes of this span in `buf` (empty if the span does not fit, never a panic).
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.range()).unwrap_or_default()
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }
    /// Whether the span is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// As a `Range<usize>`.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// The HTTP versions served; anything else is refused with 505.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: no keep-alive unless asked for, no chunked requests.
    Http10,
    /// HTTP/1.1.
    #[default]
    Http11,
}

impl Version {
    /// `b"HTTP/1.0"` or `b"HTTP/1.1"`, as in a status line or `SERVER_PROTOCOL`.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        }
    }
}

/// What to do with header names containing `_` (gunicorn's `header_map`).
///
/// WSGI maps `X-Forwarded-For` and `X_Forwarded_For` to the same `HTTP_X_FORWARDED_FOR`, so a
/// client could smuggle a value past a proxy that only filters the dashed spelling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeaderMapPolicy {
    /// Silently drop such headers (they still count against the limits).
    #[default]
    Drop,
    /// Refuse the request with 400.
    Refuse,
    /// Keep them, ambiguity and all.
    Dangerous,
}

/// Request limits and leniency switches; `Default` gives gunicorn's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, without CRLF (`limit_request_line`); longer gives 414. Empty lines
    /// before the request line count against it. `0` and values above [`MAX_LINE_CAP`] mean
    /// `MAX_LINE_CAP`.
    pub max_line: usize,
    /// Most header fields (`limit_request_fields`); more gives 431. `0` and values above
    /// [`MAX_FIELDS_CAP`] mean `MAX_FIELDS_CAP`, like gunicorn.
    pub max_fields: usize,
    /// Longest header field including its CRLF and any folded continuation lines
    /// (`limit_request_field_size`); longer gives 431. `0` and values above [`MAX_LINE_CAP`]
    /// mean `MAX_LINE_CAP`.
    pub max_field_size: usize,
    /// Largest request body in bytes; a larger `Content-Length` gives 413 (the chunked decoder
    /// enforces it for chunked bodies). `0` means unlimited.
    pub max_body: u64,
    /// Accept obs-fold (a header line starting with SP/HTAB continues the previous one) and
    /// unfold it in place; otherwise 400 (RFC 9112 §5.2 allows either).
    pub permit_obsolete_folding: bool,
    /// Accept any token as method; otherwise gunicorn's rule: 3 to 20 characters, no lowercase
    /// letters and no `#`.
    pub permit_unconventional_method: bool,
    /// Upper-case the method in place (after validation, as gunicorn does, so it only matters
    /// together with `permit_unconventional_method`).
    pub casefold_method: bool,
    /// Strip whitespace between a header name and its colon instead of refusing with 400.
    /// Dangerous: a proxy may read such a line differently (RFC 9112 §5.1).
    pub strip_header_spaces: bool,
    /// What to do with header names containing `_`.
    pub header_map: HeaderMapPolicy,
    /// Header names containing `_` that are kept whatever `header_map` says (case-insensitive;
    /// `*` matches all): gunicorn's `forwarder_headers`. Only fill it for trusted peers, e.g.
    /// keep one `Limits` for trusted proxies and one for everyone else.
    pub forwarder_headers: Vec<Vec<u8>>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 4094,
            max_fields: 100,
            max_field_size: 8190,
            max_body: 0,
            permit_obsolete_folding: false,
            permit_unconventional_method: false,
            casefold_method: false,
            strip_header_spaces: false,
            header_map: HeaderMapPolicy::Drop,
            forwarder_headers: Vec::new(),
        }
    }
}

impl Limits {
    fn line(&self) -> usize {
        cap(self.max_line, MAX_LINE_CAP)
    }
    fn field(&self) -> usize {
        cap(self.max_field_size, MAX_LINE_CAP)
    }
    fn fields(&self) -> usize {
        cap(self.max_fields, MAX_FIELDS_CAP)
    }
    /// The largest head these limits let through, including leading empty lines and the
    /// final CRLF: what a server must be able to buffer. Never more than [`MAX_HEAD_CAP`].
    pub fn max_head_len(&self) -> usize {
        let fields = self.fields().saturating_mul(self.field().saturating_add(2));
        self.line()
            .saturating_add(4)
            .saturating_add(fields)
            .min(MAX_HEAD_CAP)
    }
    fn keeps_underscore_name(&self, name: &[u8]) -> bool {
        self.forwarder_headers
            .iter()
            .any(|f| f == b"*" || f.eq_ignore_ascii_case(name))
    }
}

fn cap(value: usize, max: usize) -> usize {
    if value == 0 {
        max
    } else {
        value.min(max)
    }
}

/// One header field: name as sent, value with surrounding whitespace trimmed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Field name (a token; case as sent).
    pub name: Span,
    /// Field value without leading/trailing SP/HTAB.
    pub value: Span,
}

/// How the request body is framed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyKind {
    /// No `Content-Length`, no `Transfer-Encoding`: no body.
    #[default]
    Empty,
    /// `Content-Length: n` (possibly 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`: decode with [`ChunkedDecoder`](super::ChunkedDecoder).
    Chunked,
}

/// A parsed request head. All spans point into the buffer given to [`parse_head`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// Method, e.g. `GET` (upper-cased in place if `casefold_method`).
    pub method: Span,
    /// The raw request-target (`RAW_URI`), fragment included if one was sent.
    pub target: Span,
    /// Path part of the target, still percent-encoded. Empty for an absolute-form target
    /// without a path (`http://host?q`), as in gunicorn; `*` for `OPTIONS *`.
    pub path: Span,
    /// Query string without the `?`; empty if none.
    pub query: Span,
    /// The `host[:port]` of an absolute-form target (RFC 9112 §3.2.2 says it wins over `Host`).
    pub authority: Option<Span>,
    /// Protocol version.
    pub version: Version,
    /// Header fields in order, after the `header_map` policy.
    pub headers: Vec<Header>,
    /// Body framing.
    pub body: BodyKind,
    /// Whether the connection may stay open after this request.
    pub keep_alive: bool,
    /// HTTP/1.1 with `Expect: 100-continue`: send `100 Continue` before reading the body.
    pub expect_continue: bool,
    /// Bytes the head takes, including leading empty lines and the final blank line; the body
    /// (or the next pipelined request) starts here.
    pub head_len: usize,
    /// Value of the (single) `Host` header, if any.
    pub host: Option<Span>,
}

impl RequestHead {
    /// Reset for reuse, keeping the header vector's capacity.
    pub fn clear(&mut self) {
        let mut headers = std::mem::take(&mut self.headers);
        headers.clear();
        *self = RequestHead {
            headers,
            ..RequestHead::default()
        };
    }

    /// Value of the first header named `name` (ASCII case-insensitive).
    pub fn header<'a>(&self, buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.get(buf).eq_ignore_ascii_case(name))
            .map(|h| h.value.get(buf))
    }
}

/// Outcome of [`parse_head`] when the bytes are acceptable so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is complete; `out` is filled in.
    Complete,
    /// More bytes are needed; call again with the same bytes plus more.
    Partial,
}

/// Parse one request head from the start of `buf`.
///
/// `buf` is `&mut` because `casefold_method` and `permit_obsolete_folding` rewrite the head in
/// place; that only happens once the head is complete (on `Complete` or an error), so calling
/// again after `Partial` always sees the client's bytes. `out` is cleared and refilled, so one
/// `RequestHead` can serve a whole connection without allocating.
///
/// Limits are enforced on incomplete input too, and the answer never depends on how the bytes
/// were split: a prefix of a head is `Partial` or fails with the same status as the whole head.
pub fn parse_head(
    buf: &mut [u8],
    limits: &Limits,
    out: &mut RequestHead,
) -> Result<Parsed, HttpError> {
    out.clear();
    let Some(scan) = scan(buf, limits, out)? else {
        return Ok(Parsed::Partial);
    };
    if scan.folded {
        unfold(buf, scan.headers_start, scan.head_len);
    }
    if limits.strip_header_spaces {
        strip_spaces_before_colons(buf, scan.headers_start, scan.head_len);
    }
    if limits.casefold_method {
        if let Some(method) = buf.get_mut(out.method.range()) {
            method.make_ascii_uppercase();
        }
    }
    out.head_len = scan.head_len;
    parse_fields(buf, limits, out, &scan)?;
    Ok(Parsed::Complete)
}

/// What the line scanner learnt about a complete head.
struct Scan {
    headers_start: usize,
    head_len: usize,
    fields: usize,
    folded: bool,
}

/// Pass 1: limits and line framing, in line order; parses the request line when it completes.
/// `Ok(None)` means "incomplete, but nothing is wrong yet".
fn scan(buf: &[u8], limits: &Limits, out: &mut RequestHead) -> Result<Option<Scan>, HttpError> {
    let max_line = limits.line();
    let max_field = limits.field();
    let max_fields = limits.fields();
    let max_head = limits.max_head_len();

    // RFC 9112 §2.2: ignore empty lines before the request line (they count against max_line).
    let mut pos = 0;
    while buf.get(pos..pos + 2) == Some(b"\r\n") {
        pos += 2;
    }
    // Two checks apply to an incomplete request line: the method (so garbage such as a TLS
    // handshake is refused at its first byte) and the length. Whichever error shows at the
    // earlier byte wins, so the answer cannot depend on where the input was split.
    let scan_end = buf.len().min(max_line + 2);
    let line_start = buf.get(pos..scan_end).unwrap_or_default();
    let method_err = method_error_at(line_start, limits).map(|i| pos + i);
    let lf = find_lf(buf, pos);
    let too_long = lf.unwrap_or(buf.len()) > max_line + 1;
    match (method_err, too_long) {
        (Some(m), true) if max_line + 1 < m => {
            return Err(HttpError::uri_too_long("request line too long"))
        }
        (Some(_), _) => return Err(HttpError::bad_request("invalid method")),
        (None, true) => return Err(HttpError::uri_too_long("request line too long")),
        (None, false) => {}
    }
    let Some(lf) = lf else {
        return Ok(None);
    };
    check_line(buf.get(pos..lf).unwrap_or_default())?;
    parse_request_line(buf, pos, lf + 1, limits, out)?;

    let headers_start = lf + 1;
    pos = headers_start;
    let mut fields = 0usize;
    let mut field_len = 0usize; // bytes of the current field so far, CRLFs and folds included
    let mut folded = false;
    let mut field_first_line = 0..0; // where the current field's name should be
    loop {
        let Some(lf) = find_lf(buf, pos) else {
            // Incomplete line: only limits that more bytes cannot undo.
            let seen = buf.len() - pos;
            let Some(&first) = buf.get(pos) else {
                return Ok(None);
            };
            if first == b'\r' && seen == 1 {
                // Probably the CR of the blank line that ends the head: no field at all.
                return Ok(None);
            }
            let continuation = is_ows(first);
            let at_least = seen + 1 + if continuation { field_len } else { 0 };
            if at_least > max_field {
                return Err(HttpError::fields_too_large("header field too long"));
            }
            if first != b'\r' && !continuation && fields + 1 > max_fields {
                return Err(HttpError::fields_too_large("too many header fields"));
            }
            if buf.len() > max_head {
                return Err(HttpError::fields_too_large("request head too large"));
            }
            return Ok(None);
        };
        let line = buf.get(pos..lf).unwrap_or_default();
        if line == b"\r" {
            return Ok(Some(Scan {
                headers_start,
                head_len: lf + 1,
                fields,
                folded,
            }));
        }
        let continuation = line.first().is_some_and(|&b| is_ows(b));
        let size = lf + 1 - pos + if continuation { field_len } else { 0 };
        if size > max_field {
            return Err(HttpError::fields_too_large("header field too long"));
        }
        if !continuation {
            fields += 1;
            if fields > max_fields {
                return Err(HttpError::fields_too_large("too many header fields"));
            }
        }
        if lf + 1 > max_head {
            return Err(HttpError::fields_too_large("request head too large"));
        }
        check_line(line)?;
        if continuation {
            if fields == 0 {
                // RFC 9112 §2.2: whitespace before the first field could hide a header.
                return Err(HttpError::bad_request(
                    "whitespace before first header field",
                ));
            }
            if !limits.permit_obsolete_folding {
                return Err(HttpError::bad_request("obsolete line folding"));
            }
            // Unfolding must not turn `Name` + ` : value` into a field: only values fold.
            let first_line = buf.get(field_first_line.clone()).unwrap_or_default();
            if memchr::memchr(b':', first_line).is_none() {
                return Err(HttpError::bad_request("malformed header"));
            }
            folded = true;
        } else {
            field_first_line = pos..lf;
        }
        field_len = size;
        pos = lf + 1;
    }
}

/// Index of the byte at which the method (everything before the first SP) is shown to be
/// invalid: not a token, or (by default) against gunicorn's conventions of 3 to 20 characters
/// without lowercase letters or `#`. Only looks at the bytes present, so any prefix of a line
/// gives the same answer or none yet.
fn method_error_at(line: &[u8], limits: &Limits) -> Option<usize> {
    let strict = !limits.permit_unconventional_method;
    for (i, &b) in line.iter().enumerate() {
        if b == b' ' {
            return (i == 0 || (strict && i < 3)).then_some(i);
        }
        // A lone CR as the very last byte may still become an empty line's CRLF.
        if b == b'\r' && i == 0 && line.len() == 1 {
            return None;
        }
        if !is_tchar(b) || (strict && (i >= 20 || b.is_ascii_lowercase() || b == b'#')) {
            return Some(i);
        }
    }
    None
}

fn find_lf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)
        .and_then(|s| memchr::memchr(b'\n', s))
        .map(|i| from + i)
}

/// A complete line (without its LF) must end in CR and hold no other CR and no NUL:
/// bare CR/LF are read differently by different parsers, a classic smuggling lever.
fn check_line(line: &[u8]) -> Result<(), HttpError> {
    let Some((b'\r', content)) = line.split_last() else {
        return Err(HttpError::bad_request("line not terminated by CRLF"));
    };
    match memchr::memchr2(b'\r', 0, content).and_then(|i| content.get(i)) {
        Some(b'\r') => Err(HttpError::bad_request("bare CR")),
        Some(_) => Err(HttpError::bad_request("NUL byte in request head")),
        None => Ok(()),
    }
}

/// Offset of `sub` inside `base`, for turning httparse's slices back into spans.
fn offset_in(base: &[u8], sub: &[u8]) -> Option<usize> {
    let off = (sub.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
    (off.checked_add(sub.len())? <= base.len()).then_some(off)
}

fn span_in(base: &[u8], sub: &[u8]) -> Option<Span> {
    offset_in(base, sub).map(|o| Span::new(o, o + sub.len()))
}

/// Validate the request line `buf[start..end]` (`end` is past its LF) and fill method, target,
/// path, query, authority and version.
fn parse_request_line(
    buf: &[u8],
    start: usize,
    end: usize,
    limits: &Limits,
    out: &mut RequestHead,
) -> Result<(), HttpError> {
    const MALFORMED: HttpError = HttpError::bad_request("malformed request line");
    let line = buf.get(start..end).unwrap_or_default();
    let mut req = httparse::Request::new(&mut []);
    match req.parse(line) {
        // Partial is expected: httparse now wants the header section, which it is not given.
        Ok(httparse::Status::Partial) => {}
        Ok(httparse::Status::Complete(_)) => return Err(MALFORMED),
        Err(httparse::Error::Version) => return Err(version_error(line)),
        Err(_) => return Err(MALFORMED),
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(MALFORMED);
    };
    // The method's own rules were checked by `method_error_at` before the line was complete.
    let (method, target) = (method.as_bytes(), target.as_bytes());
    let parts = split_target(target).ok_or(HttpError::bad_request("invalid request target"))?;
    if parts.form == TargetForm::Asterisk {
        let options = if limits.casefold_method {
            method.eq_ignore_ascii_case(b"OPTIONS")
        } else {
            method == b"OPTIONS"
        };
        if !options {
            return Err(HttpError::bad_request(
                "asterisk-form target without OPTIONS",
            ));
        }
    }
    let method_span = span_in(buf, method).ok_or(MALFORMED)?;
    let t = offset_in(buf, target).ok_or(MALFORMED)?;
    let at = |r: std::ops::Range<usize>| Span::new(t + r.start, t + r.end);
    out.method = method_span;
    out.target = Span::new(t, t + target.len());
    out.path = at(parts.path);
    out.query = at(parts.query);
    out.authority = (parts.form == TargetForm::Absolute).then(|| at(parts.authority));
    out.version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    Ok(())
}

/// httparse only knows HTTP/1.0 and 1.1: tell a well-formed other version (505) from garbage
/// (400). RFC 9112 §2.3 makes versions one digit each.
fn version_error(line: &[u8]) -> HttpError {
    let content = line.strip_suffix(b"\r\n").unwrap_or(line);
    let mut parts = content.splitn(3, |&b| b == b' ');
    let version = parts.nth(2).unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HttpError::new(505, "unsupported HTTP version")
        }
        _ => HttpError::bad_request("malformed HTTP version"),
    }
}

/// Unfold obs-fold in place (RFC 9112 §5.2): each `CRLF 1*(SP/HTAB)` plus the whitespace before
/// it becomes one SP, as gunicorn joins folded parts; the bytes saved become trailing
/// whitespace of the field, which value trimming removes. Lengths and offsets do not change.
fn unfold(buf: &mut [u8], start: usize, head_len: usize) {
    let Some(region) = buf.get_mut(start..head_len.saturating_sub(2)) else {
        return;
    };
    // The scanner guarantees every CR here is followed by LF, so `CR ? WS` is a fold.
    let len = region.len();
    let (mut r, mut w) = (0, 0);
    while r < len {
        let byte = region.get(r).copied().unwrap_or(0);
        if byte == b'\r' && region.get(r + 2).is_some_and(|&b| is_ows(b)) {
            // A fold: drop whitespace written before it, write one SP, skip the CRLF and indent.
            while w > 0 && region.get(w - 1).is_some_and(|&b| is_ows(b)) {
                w -= 1;
            }
            set(region, w, b' ');
            w += 1;
            r += 2;
            while region.get(r).is_some_and(|&b| is_ows(b)) {
                r += 1;
            }
        } else if byte == b'\r' {
            // A real line end: pad what unfolding saved with spaces, then resynchronise.
            if let Some(gap) = region.get_mut(w..r) {
                gap.fill(b' ');
            }
            w = r;
            set(region, w, byte);
            w += 1;
            r += 1;
        } else {
            set(region, w, byte);
            w += 1;
            r += 1;
        }
    }
}

fn set(buf: &mut [u8], i: usize, v: u8) {
    if let Some(slot) = buf.get_mut(i) {
        *slot = v;
    }
}

/// `Name \t: value` becomes `Name: \t value` by moving the colon left, in place.
fn strip_spaces_before_colons(buf: &mut [u8], start: usize, head_len: usize) {
    let mut pos = start;
    while let Some(lf) = find_lf(buf, pos) {
        if lf + 1 >= head_len {
            break;
        }
        if let Some(line) = buf.get_mut(pos..lf) {
            if let Some(colon) = memchr::memchr(b':', line) {
                let name_end = line
                    .get(..colon)
                    .and_then(|name| name.iter().rposition(|&b| !is_ows(b)))
                    .map_or(0, |i| i + 1);
                if let Some(moved) = line.get_mut(name_end..=colon) {
                    moved.rotate_right(1);
                }
            }
        }
        pos = lf + 1;
    }
}

/// What pass 3 collects about framing-relevant headers.
#[derive(Default)]
struct Framing {
    content_length: Option<Span>,
    te_seen: bool,
    te_chunked: usize,
    te_chunked_not_last: bool,
    te_other: bool,
    close: bool,
    keep_alive: bool,
    content_type_seen: bool,
}

/// Passes 2 and 3: httparse over the header section, then semantics and framing.
fn parse_fields(
    buf: &[u8],
    limits: &Limits,
    out: &mut RequestHead,
    scan: &Scan,
) -> Result<(), HttpError> {
    let section = buf
        .get(scan.headers_start..scan.head_len)
        .unwrap_or_default();
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap;
    let slots: &mut [httparse::Header<'_>] = if scan.fields <= STACK_HEADERS {
        stack.as_mut_slice()
    } else {
        heap = vec![httparse::EMPTY_HEADER; scan.fields];
        heap.as_mut_slice()
    };
    let parsed = match httparse::parse_headers(section, slots) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed,
        Ok(httparse::Status::Partial) => return Err(HttpError::bad_request("malformed header")),
        Err(httparse::Error::HeaderName) => {
            return Err(HttpError::bad_request("invalid header name"))
        }
        Err(httparse::Error::HeaderValue) => {
            return Err(HttpError::bad_request("invalid header value"))
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::fields_too_large("too many header fields"))
        }
        Err(_) => return Err(HttpError::bad_request("malformed header")),
    };

    let mut framing = Framing::default();
    for h in parsed.iter() {
        let name = h.name.as_bytes();
        if name.contains(&b'_') && !limits.keeps_underscore_name(name) {
            match limits.header_map {
                HeaderMapPolicy::Drop => continue,
                HeaderMapPolicy::Refuse => {
                    return Err(HttpError::bad_request("header name contains '_'"))
                }
                HeaderMapPolicy::Dangerous => {}
            }
        }
        let value = trim_ows(h.value);
        let header = Header {
            name: span_in(buf, name).ok_or(HttpError::bad_request("malformed header"))?,
            value: span_in(buf, value).ok_or(HttpError::bad_request("malformed header"))?,
        };
        field_semantics(name, value, header.value, out, &mut framing)?;
        out.headers.push(header);
    }
    apply_framing(buf, limits, out, &framing)
}

/// Per-field rules that do not depend on the other fields.
fn field_semantics(
    name: &[u8],
    value: &[u8],
    value_span: Span,
    out: &mut RequestHead,
    framing: &mut Framing,
) -> Result<(), HttpError> {
    if name.eq_ignore_ascii_case(b"content-length") {
        if framing.content_length.is_some() {
            // Even equal duplicates: RFC 9112 §6.3 lets us refuse, and a proxy may differ.
            return Err(HttpError::bad_request("duplicate Content-Length"));
        }
        framing.content_length = Some(value_span);
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        framing.te_seen = true;
        for coding in list_elements(value) {
            if coding.eq_ignore_ascii_case(b"chunked") {
                framing.te_chunked += 1;
            } else {
                framing.te_other = true;
                framing.te_chunked_not_last |= framing.te_chunked > 0;
            }
        }
    } else if name.eq_ignore_ascii_case(b"connection") {
        for option in list_elements(value) {
            framing.close |= option.eq_ignore_ascii_case(b"close");
            framing.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
        }
    } else if name.eq_ignore_ascii_case(b"expect") {
        // RFC 9110 §10.1.1: case-insensitive; ignored in HTTP/1.0; anything else may get 417.
        if !value.eq_ignore_ascii_case(b"100-continue") {
            return Err(HttpError::new(417, "unsupported expectation"));
        }
        out.expect_continue = out.version == Version::Http11;
    } else if name.eq_ignore_ascii_case(b"host") {
        // RFC 9112 §3.2: more than one Host, or an invalid one, is a 400.
        if out.host.is_some() {
            return Err(HttpError::bad_request("duplicate Host"));
        }
        if !value.iter().all(|&b| is_authority_byte(b)) {
            return Err(HttpError::bad_request("invalid Host"));
        }
        out.host = Some(value_span);
    } else if name.eq_ignore_ascii_case(b"content-type") {
        // A singleton field (as in gunicorn): two values cannot become one CONTENT_TYPE.
        if framing.content_type_seen {
            return Err(HttpError::bad_request("duplicate Content-Type"));
        }
        framing.content_type_seen = true;
    }
    Ok(())
}

/// Body framing and connection persistence (RFC 9112 §6, §9.3).
fn apply_framing(
    buf: &[u8],
    limits: &Limits,
    out: &mut RequestHead,
    f: &Framing,
) -> Result<(), HttpError> {
    out.keep_alive = !f.close
        && match out.version {
            Version::Http11 => true,
            Version::Http10 => f.keep_alive,
        };
    if f.te_seen {
        if out.version == Version::Http10 {
            return Err(HttpError::bad_request(
                "Transfer-Encoding in HTTP/1.0 request",
            ));
        }
        if f.content_length.is_some() {
            return Err(HttpError::bad_request(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if f.te_chunked > 1 || f.te_chunked_not_last {
            return Err(HttpError::bad_request(
                "chunked is not the final transfer coding",
            ));
        }
        if f.te_other {
            return Err(HttpError::new(501, "unsupported transfer coding"));
        }
        if f.te_chunked == 0 {
            return Err(HttpError::bad_request("empty Transfer-Encoding"));
        }
        out.body = BodyKind::Chunked;
    } else if let Some(span) = f.content_length {
        let n = parse_content_length(span.get(buf))?;
        if limits.max_body != 0 && n > limits.max_body {
            return Err(HttpError::too_large("Content-Length above limit"));
        }
        out.body = BodyKind::Length(n);
    }
    Ok(())
}

/// `1*DIGIT`, nothing else: no sign, no inner spaces, no list, no overflow.
fn parse_content_length(v: &[u8]) -> Result<u64, HttpError> {
    const BAD: HttpError = HttpError::bad_request("invalid Content-Length");
    if v.is_empty() {
        return Err(BAD);
    }
    v.iter().try_fold(0u64, |acc, &b| {
        let digit = u64::from(b.checked_sub(b'0').filter(|d| *d <= 9).ok_or(BAD)?);
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(digit))
            .ok_or(BAD)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8], limits: &Limits) -> (Result<Parsed, HttpError>, RequestHead, Vec<u8>) {
        let mut buf = raw.to_vec();
        let mut head = RequestHead::default();
        let r = parse_head(&mut buf, limits, &mut head);
        (r, head, buf)
    }

    #[test]
    fn simple_get() {
        let (r, h, buf) = parse(
            b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            &Limits::default(),
        );
        assert_eq!(r, Ok(Parsed::Complete));
        assert_eq!(h.method.get(&buf), b"GET");
        assert_eq!(h.path.get(&buf), b"/a");
        assert_eq!(h.query.get(&buf), b"b=1");
        assert_eq!(h.host.map(|s| s.get(&buf)), Some(&b"x"[..]));
        assert_eq!(h.header(&buf, b"HOST"), Some(&b"x"[..]));
        assert!(h.keep_alive);
        assert_eq!(h.head_len, buf.len());
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(parse_content_length(b"007"), Ok(7));
        assert_eq!(parse_content_length(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b"+1",
            b"-1",
            b"1 2",
            b"0x10",
            b"1,1",
        ] {
            assert!(parse_content_length(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unfold_in_place() {
        let limits = Limits {
            permit_obsolete_folding: true,
            ..Limits::default()
        };
        let raw = b"GET / HTTP/1.1\r\nX: a  \r\n \t b\r\n\tc\r\nY:\r\n z\r\n\r\n";
        let (r, h, buf) = parse(raw, &limits);
        assert_eq!(r, Ok(Parsed::Complete));
        assert_eq!(h.header(&buf, b"x"), Some(&b"a b c"[..]));
        assert_eq!(h.header(&buf, b"y"), Some(&b"z"[..]));
        assert_eq!(h.headers.len(), 2);
        assert_eq!(buf.len(), raw.len());
        assert_eq!(h.head_len, raw.len());
    }

    #[test]
    fn strip_colon_spaces() {
        let limits = Limits {
            strip_header_spaces: true,
            ..Limits::default()
        };
        let (r, h, buf) = parse(b"GET / HTTP/1.1\r\nHost \t: h\r\nX: y\r\n\r\n", &limits);
        assert_eq!(r, Ok(Parsed::Complete));
        assert_eq!(h.header(&buf, b"host"), Some(&b"h"[..]));
        assert_eq!(h.headers[0].name.get(&buf), b"Host");
        let (r, _, _) = parse(b"GET / HTTP/1.1\r\nHost \t: h\r\n\r\n", &Limits::default());
        assert_eq!(r.map_err(|e| e.status), Err(400));
    }

    #[test]
    fn reuse_keeps_capacity_and_clears() {
        let mut head = RequestHead::default();
        let mut a = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nA: 1\r\nB: 2\r\n\r\n".to_vec();
        assert_eq!(
            parse_head(&mut a, &Limits::default(), &mut head),
            Ok(Parsed::Complete)
        );
        let cap = head.headers.capacity();
        let mut b = b"GET / HTTP/1.0\r\n\r\n".to_vec();
        assert_eq!(
            parse_head(&mut b, &Limits::default(), &mut head),
            Ok(Parsed::Complete)
        );
        assert_eq!(head.headers.len(), 0);
        assert_eq!(head.headers.capacity(), cap);
        assert_eq!(head.body, BodyKind::Empty);
        assert!(!head.keep_alive);
    }

    #[test]
    fn many_headers_use_heap_slots() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..300 {
            raw.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        let limits = Limits {
            max_fields: 300,
            ..Limits::default()
        };
        let (r, h, _) = parse(&raw, &limits);
        assert_eq!(r, Ok(Parsed::Complete));
        assert_eq!(h.headers.len(), 300);
        let limits = Limits {
            max_fields: 299,
            ..Limits::default()
        };
        assert_eq!(parse(&raw, &limits).0.map_err(|e| e.status), Err(431));
    }

    #[test]
    fn default_limits_match_gunicorn() {
        let l = Limits::default();
        assert_eq!(
            (l.max_line, l.max_fields, l.max_field_size),
            (4094, 100, 8190)
        );
        assert_eq!(l.max_head_len(), 4094 + 4 + 100 * 8192);
        // A request line of exactly the limit passes, one more byte is 414.
        for (len, status) in [(4094usize, None), (4095, Some(414))] {
            let mut raw = b"GET /".to_vec();
            raw.resize(len - 9, b'a');
            raw.extend_from_slice(b" HTTP/1.1\r\n\r\n");
            let got = parse(&raw, &l).0.err().map(|e| e.status);
            assert_eq!(got, status, "line length {len}");
        }
        // A field of exactly max_field_size (CRLF included) passes, one more is 431.
        for (len, status) in [(8190usize, None), (8191, Some(431))] {
            let mut raw = b"GET / HTTP/1.1\r\nX: ".to_vec();
            raw.resize(16 + len - 2, b'v');
            raw.extend_from_slice(b"\r\n\r\n");
            let got = parse(&raw, &l).0.err().map(|e| e.status);
            assert_eq!(got, status, "field length {len}");
        }
        // Zero means the caps.
        let z = Limits {
            max_line: 0,
            max_fields: 0,
            max_field_size: 0,
            ..Limits::default()
        };
        assert_eq!(
            (z.line(), z.fields(), z.field()),
            (MAX_LINE_CAP, MAX_FIELDS_CAP, MAX_LINE_CAP)
        );
        assert_eq!(z.max_head_len(), MAX_HEAD_CAP);
    }

    #[test]
    fn partial_prefixes_of_a_long_line_are_refused_early() {
        let l = Limits {
            max_line: 10,
            ..Limits::default()
        };
        assert_eq!(parse(b"GET /abcd", &l).0, Ok(Parsed::Partial));
        assert_eq!(
            parse(b"GET /abcdefgh", &l).0.map_err(|e| e.status),
            Err(414)
        );
        // No CRLF within max_line + 2 bytes at the latest.
        assert_eq!(
            parse(b"GET /abcdef", &l).0.map_err(|e| e.status),
            Ok(Parsed::Partial)
        );
        assert_eq!(
            parse(b"GET /abcdef\r", &l).0.map_err(|e| e.status),
            Err(414)
        );
    }

    #[test]
    fn span_never_panics() {
        let s = Span { start: 5, end: 2 };
        assert_eq!(s.len(), 0);
        assert!(s.is_empty());
        assert_eq!(s.get(b"abc"), b"");
        assert_eq!(Span { start: 1, end: 9 }.get(b"abc"), b"");
        assert_eq!(Span::new(usize::MAX, 1).start, u32::MAX);
    }
}
