//! FastCGI 1.0, the Responder role, sans-I/O: what a web server (nginx `fastcgi_pass`, Apache
//! mod_proxy_fcgi / mod_fcgid, `cgi-fcgi`) sends an application, and the records the application
//! answers with.
//!
//! A connection carries records: an 8-byte header (version 1, type, request id and content
//! length big-endian, padding length, a reserved byte), the content, then padding. A request is
//! `BEGIN_REQUEST` (role, flags), a `PARAMS` stream of CGI variables as name-value pairs, and a
//! `STDIN` stream with the body; each stream ends with an empty record of its type. Management
//! records (request id 0, `GET_VALUES`) may come at any time, and so may `ABORT_REQUEST`.
//!
//! - [`HeadParser`] reads everything up to the empty `PARAMS` record from the connection's
//!   buffer and fills a [`RequestHead`]: the `BEGIN_REQUEST` fields, the params as byte ranges,
//!   and where `STDIN` starts. Params split across records (a pair, or even one length, cut in
//!   two) are **compacted in place** in the caller's buffer: the content of each `PARAMS`
//!   record is moved down to follow the previous one, so the params end up in one contiguous
//!   area and every name and value is a plain [`Span`]. The common case — all params in one
//!   record, as nginx and Apache send them — moves nothing.
//! - [`StdinDecoder`] streams the body out of `STDIN` records, like
//!   [`crate::http1::ChunkedDecoder`] does for chunked bodies (`Step { consumed, data, done }`),
//!   and surfaces what the server has to answer on the way ([`Control`]).
//! - The `push_*` functions and [`record_header`] encode what the application sends.
//!
//! This is a non-multiplexing application: one request at a time per connection. Following the
//! spec (§3.3), records for request ids that are not active are ignored, a `BEGIN_REQUEST` for
//! a second id while one is active is refused with `CANT_MPX_CONN`, and roles other than
//! Responder with `UNKNOWN_ROLE`.
//!
//! Every error is an [`FcgiError`] and means "close the connection": after a framing error no
//! later byte can be trusted.

use std::fmt;
use std::ops::Range;

use crate::http1::Span;

/// The only protocol version there is.
pub const VERSION_1: u8 = 1;
/// Bytes of a record header.
pub const HEADER_LEN: usize = 8;
/// Most content bytes in one record.
pub const MAX_CONTENT: usize = u16::MAX as usize;
/// The Responder role, the only one served.
pub const ROLE_RESPONDER: u16 = 1;
/// The Authorizer role.
pub const ROLE_AUTHORIZER: u16 = 2;
/// The Filter role.
pub const ROLE_FILTER: u16 = 3;
/// `BEGIN_REQUEST` flag: keep the connection open after this request.
pub const FLAG_KEEP_CONN: u8 = 1;
/// Default cap on the params of one request: 64 KiB, uWSGI's largest `buffer-size` for a packet.
pub const DEFAULT_MAX_PARAMS: usize = 64 * 1024;

/// Record types (spec §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// Starts a request: role and flags.
    BeginRequest = 1,
    /// The web server gives up on a request.
    AbortRequest = 2,
    /// The application ends a request: app status and protocol status.
    EndRequest = 3,
    /// CGI variables, as name-value pairs.
    Params = 4,
    /// The request body.
    Stdin = 5,
    /// The response (a CGI response: header lines, blank line, body).
    Stdout = 6,
    /// Error output.
    Stderr = 7,
    /// Extra data for the Filter role.
    Data = 8,
    /// Management: the web server asks for variables.
    GetValues = 9,
    /// Management: the answer to `GET_VALUES`.
    GetValuesResult = 10,
    /// Management: the answer to a management record of a type the application does not know.
    UnknownType = 11,
}

impl RecordType {
    /// The type for a type byte, if it is one of the spec's.
    pub fn from_u8(t: u8) -> Option<RecordType> {
        Some(match t {
            1 => RecordType::BeginRequest,
            2 => RecordType::AbortRequest,
            3 => RecordType::EndRequest,
            4 => RecordType::Params,
            5 => RecordType::Stdin,
            6 => RecordType::Stdout,
            7 => RecordType::Stderr,
            8 => RecordType::Data,
            9 => RecordType::GetValues,
            10 => RecordType::GetValuesResult,
            11 => RecordType::UnknownType,
            _ => return None,
        })
    }

    /// The spec's name, `FCGI_` prefix dropped.
    pub fn name(self) -> &'static str {
        match self {
            RecordType::BeginRequest => "BEGIN_REQUEST",
            RecordType::AbortRequest => "ABORT_REQUEST",
            RecordType::EndRequest => "END_REQUEST",
            RecordType::Params => "PARAMS",
            RecordType::Stdin => "STDIN",
            RecordType::Stdout => "STDOUT",
            RecordType::Stderr => "STDERR",
            RecordType::Data => "DATA",
            RecordType::GetValues => "GET_VALUES",
            RecordType::GetValuesResult => "GET_VALUES_RESULT",
            RecordType::UnknownType => "UNKNOWN_TYPE",
        }
    }
}

/// The `protocolStatus` of an `END_REQUEST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ProtocolStatus {
    /// Normal end of a request.
    RequestComplete = 0,
    /// Refusing a second concurrent request on a connection (we do not multiplex).
    CantMpxConn = 1,
    /// Out of some resource.
    Overloaded = 2,
    /// A role other than Responder.
    UnknownRole = 3,
}

/// A decoded record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Protocol version (1).
    pub version: u8,
    /// Record type byte (see [`RecordType`]).
    pub kind: u8,
    /// Request id; 0 for management records.
    pub request_id: u16,
    /// Content bytes that follow the header.
    pub content_length: u16,
    /// Padding bytes after the content.
    pub padding_length: u8,
}

impl Header {
    /// Decode 8 header bytes (any bytes decode; the version is checked by the parsers).
    pub fn decode(b: &[u8; HEADER_LEN]) -> Header {
        let [version, kind, id1, id0, len1, len0, padding_length, _reserved] = *b;
        Header {
            version,
            kind,
            request_id: u16::from_be_bytes([id1, id0]),
            content_length: u16::from_be_bytes([len1, len0]),
            padding_length,
        }
    }

    /// Encode, reserved byte zero.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let [id1, id0] = self.request_id.to_be_bytes();
        let [len1, len0] = self.content_length.to_be_bytes();
        [
            self.version,
            self.kind,
            id1,
            id0,
            len1,
            len0,
            self.padding_length,
            0,
        ]
    }
}

/// Why the bytes on a FastCGI connection cannot be served. Every one means: close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FcgiError {
    /// A record header's version byte is not 1 (often: this is not FastCGI at all).
    UnsupportedVersion(u8),
    /// A `BEGIN_REQUEST` whose body is not the 8 bytes the spec defines.
    BeginRequestLength(u16),
    /// A `BEGIN_REQUEST` with the management request id 0.
    BeginRequestNullId,
    /// A second `BEGIN_REQUEST` for the request id already being served.
    DuplicateBeginRequest(u16),
    /// The params of a request exceed the configured cap.
    ParamsTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The records before the end of the params (headers, padding, interleaved records)
    /// exceed what any sane web server sends for params under the cap.
    HeadTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The params are not a well-formed sequence of name-value pairs.
    MalformedParams(&'static str),
    /// A `GET_VALUES` record's content is not a well-formed sequence of name-value pairs.
    MalformedGetValues(&'static str),
    /// `STDIN` data for the active request before its params ended.
    StdinBeforeParamsEnd,
    /// More of a stream (the record type) after its empty end record.
    StreamAfterEnd(RecordType),
    /// A record type only an application sends (`STDOUT`, `STDERR`, `END_REQUEST`) for the
    /// active request.
    WrongDirection(RecordType),
    /// A record of a type the spec does not define for the active request.
    UnknownRecordType(u8),
    /// The body exceeds the configured cap.
    BodyTooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// The web server aborted this request (`ABORT_REQUEST`); nothing more of it will come.
    Aborted(u16),
}

impl fmt::Display for FcgiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FcgiError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "record with protocol version {v} (only FastCGI 1 exists)"
                )
            }
            FcgiError::BeginRequestLength(n) => {
                write!(f, "BEGIN_REQUEST body of {n} bytes (must be 8)")
            }
            FcgiError::BeginRequestNullId => write!(f, "BEGIN_REQUEST with request id 0"),
            FcgiError::DuplicateBeginRequest(id) => {
                write!(f, "BEGIN_REQUEST for request {id}, which is already active")
            }
            FcgiError::ParamsTooLarge { limit } => {
                write!(f, "params larger than the limit of {limit} bytes")
            }
            FcgiError::HeadTooLarge { limit } => write!(
                f,
                "more than {limit} bytes of records before the end of the params"
            ),
            FcgiError::MalformedParams(why) => write!(f, "malformed params: {why}"),
            FcgiError::MalformedGetValues(why) => write!(f, "malformed GET_VALUES: {why}"),
            FcgiError::StdinBeforeParamsEnd => {
                write!(f, "STDIN record before the empty PARAMS record")
            }
            FcgiError::StreamAfterEnd(t) => {
                write!(
                    f,
                    "{} record after the end of the {} stream",
                    t.name(),
                    t.name()
                )
            }
            FcgiError::WrongDirection(t) => write!(
                f,
                "{} record from the web server (only applications send it)",
                t.name()
            ),
            FcgiError::UnknownRecordType(t) => write!(f, "record of unknown type {t}"),
            FcgiError::BodyTooLarge { limit } => {
                write!(f, "request body larger than the limit of {limit} bytes")
            }
            FcgiError::Aborted(id) => write!(f, "request {id} aborted by the web server"),
        }
    }
}

impl std::error::Error for FcgiError {}

/// Limits the server passes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of params content (name-value pairs with their length bytes) per request.
    /// `0` means [`DEFAULT_MAX_PARAMS`]. The records carrying them may add framing of up to
    /// the same size again plus 16 KiB ([`Limits::max_head`]) before the parser gives up.
    pub max_params: usize,
    /// Most body bytes (`0`: unlimited).
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_params: DEFAULT_MAX_PARAMS,
            max_body: 0,
        }
    }
}

impl Limits {
    fn params_cap(&self) -> usize {
        if self.max_params == 0 {
            DEFAULT_MAX_PARAMS
        } else {
            self.max_params
        }
    }

    /// Most bytes of the connection buffer the head parser looks at before the params end:
    /// the params plus as much again for record headers, padding and interleaved records, plus
    /// 16 KiB. A server sizes its head buffer with this.
    pub fn max_head(&self) -> usize {
        self.params_cap()
            .saturating_mul(2)
            .saturating_add(16 * 1024)
    }
}

/// One param: name and value as ranges of the caller's buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Param {
    /// The variable name (`REQUEST_METHOD`).
    pub name: Span,
    /// Its value.
    pub value: Span,
}

/// A parsed request head; reuse it across requests ([`RequestHead::clear`] keeps capacity).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// The request id the answer records carry.
    pub request_id: u16,
    /// The role (always [`ROLE_RESPONDER`] for a complete head: others are refused).
    pub role: u16,
    /// `FCGI_KEEP_CONN`: the web server keeps the connection for more requests; otherwise the
    /// application closes it after `END_REQUEST`.
    pub keep_conn: bool,
    /// The params in arrival order, duplicates kept.
    pub params: Vec<Param>,
    /// The contiguous area holding the params (after compaction).
    pub params_area: Span,
    /// Bytes of the buffer the head takes, up to and including the empty `PARAMS` record and
    /// its padding: `STDIN` records start here.
    pub head_len: usize,
}

impl RequestHead {
    /// Reset for reuse, keeping the params vector's capacity.
    pub fn clear(&mut self) {
        let mut params = std::mem::take(&mut self.params);
        params.clear();
        *self = RequestHead {
            params,
            ..RequestHead::default()
        };
    }

    /// The value of the last param named exactly `name` (later ones override earlier ones,
    /// as when the params fill a dict).
    pub fn get<'a>(&self, buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        self.params
            .iter()
            .rev()
            .find(|p| p.name.get(buf) == name)
            .map(|p| p.value.get(buf))
    }
}

/// Which of the spec's variables a `GET_VALUES` asked for (names it does not define are left
/// out of the answer, as the spec says).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValuesQuery {
    /// `FCGI_MAX_CONNS` was asked.
    pub max_conns: bool,
    /// `FCGI_MAX_REQS` was asked.
    pub max_reqs: bool,
    /// `FCGI_MPXS_CONNS` was asked.
    pub mpxs_conns: bool,
}

/// The answers to `GET_VALUES`, which the server knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Values {
    /// Concurrent transport connections the application will accept.
    pub max_conns: u64,
    /// Concurrent requests the application will accept.
    pub max_reqs: u64,
    /// Whether connections are multiplexed (never, here).
    pub mpxs_conns: bool,
}

/// A record the server has to act on, surfaced by [`HeadParser`] and [`StdinDecoder`] once the
/// whole record (content and padding) has been read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// `GET_VALUES`: answer with [`push_get_values_result`].
    GetValues(ValuesQuery),
    /// A management record of a type we do not know: answer with [`push_unknown_type`].
    UnknownType(u8),
    /// A `BEGIN_REQUEST` we refuse: answer [`push_end_request`] with this id, app status 0 and
    /// this status (`CANT_MPX_CONN` while busy, `UNKNOWN_ROLE` for roles other than Responder).
    /// The id stays inactive, so its other records are ignored.
    Refuse {
        /// The refused request's id.
        request_id: u16,
        /// Why.
        status: ProtocolStatus,
    },
    /// `ABORT_REQUEST` for the active request: answer `END_REQUEST` (the request is over; any
    /// later record of it is ignored).
    Abort {
        /// The aborted request's id.
        request_id: u16,
        /// Its `FCGI_KEEP_CONN` flag: whether the connection stays open after the answer.
        keep_conn: bool,
    },
}

// ---------------------------------------------------------------------------------------------
// The record-level state machine shared by the head parser and the STDIN decoder.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No active request: waiting for `BEGIN_REQUEST`.
    Idle,
    /// Reading the active request's params.
    Params,
    /// Reading its body.
    Stdin,
    /// Body ended; the request is active until the server sends `END_REQUEST`.
    Done,
}

/// What the content of the current record is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Content {
    /// Thrown away.
    Skip,
    /// Collected into `body8` (a `BEGIN_REQUEST` body).
    Begin,
    /// Collected into `values` (a `GET_VALUES` query).
    Values,
    /// Params of the active request, handed out.
    Params,
    /// Body of the active request, handed out.
    Stdin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecState {
    /// Collecting header bytes (`got` of 8 so far, in `hdr`).
    Header { got: u8 },
    /// Inside content, `left` bytes to go.
    Content { what: Content, left: u16 },
    /// Inside padding, `left` bytes to go.
    Padding { left: u8 },
}

/// What [`Records::next`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    /// All input used, nothing to report.
    Need,
    /// A `BEGIN_REQUEST` made a request active.
    Begin,
    /// Params content of the active request (range of the input).
    Params(Range<usize>),
    /// The empty `PARAMS` record (with its padding) has been read.
    ParamsEnd,
    /// Body data of the active request (range of the input).
    Stdin(Range<usize>),
    /// The empty `STDIN` record (with its padding) has been read.
    StdinEnd,
    /// Something to answer.
    Control(Control),
}

#[derive(Clone, Debug)]
struct Records {
    phase: Phase,
    /// The active request's id, role and flags (meaningful unless `Idle`).
    id: u16,
    role: u16,
    keep_conn: bool,
    state: RecState,
    hdr: [u8; HEADER_LEN],
    /// Header of the record being read.
    cur: Header,
    body8: [u8; 8],
    body8_got: u8,
    values: Vec<u8>,
    /// Reported when the current record (content and padding) has been read.
    pending: Option<Item>,
    limits: Limits,
    params_len: usize,
    body_len: u64,
}

impl Records {
    fn new(limits: Limits) -> Self {
        Records {
            phase: Phase::Idle,
            id: 0,
            role: 0,
            keep_conn: false,
            state: RecState::Header { got: 0 },
            hdr: [0; HEADER_LEN],
            cur: Header::decode(&[0; HEADER_LEN]),
            body8: [0; 8],
            body8_got: 0,
            values: Vec::new(),
            pending: None,
            limits,
            params_len: 0,
            body_len: 0,
        }
    }

    fn at_boundary(&self) -> bool {
        self.state == RecState::Header { got: 0 }
    }

    /// Read from `input` until something is to be reported; returns the bytes used (a data
    /// range always ends there) and what was found.
    fn next(&mut self, input: &[u8]) -> Result<(usize, Item), FcgiError> {
        let mut pos = 0;
        loop {
            match self.state {
                RecState::Header { got } => {
                    let Some(&b) = input.get(pos) else {
                        return Ok((pos, Item::Need));
                    };
                    if let Some(slot) = self.hdr.get_mut(usize::from(got)) {
                        *slot = b;
                    }
                    pos += 1;
                    if usize::from(got) + 1 < HEADER_LEN {
                        self.state = RecState::Header { got: got + 1 };
                    } else {
                        self.cur = Header::decode(&self.hdr);
                        self.start_record()?;
                    }
                }
                RecState::Content { what, left } => {
                    if left == 0 {
                        self.end_content()?;
                        continue;
                    }
                    let avail = input.len().saturating_sub(pos);
                    if avail == 0 {
                        return Ok((pos, Item::Need));
                    }
                    let n = avail.min(usize::from(left));
                    let piece = pos..pos + n;
                    // n <= left, and n fits u16 because left does.
                    let left = left - u16::try_from(n).unwrap_or(left);
                    self.state = RecState::Content { what, left };
                    pos += n;
                    match what {
                        Content::Skip => {}
                        Content::Params => return Ok((pos, Item::Params(piece))),
                        Content::Stdin => return Ok((pos, Item::Stdin(piece))),
                        Content::Begin => {
                            for &b in input.get(piece).unwrap_or_default() {
                                if let Some(slot) = self.body8.get_mut(usize::from(self.body8_got))
                                {
                                    *slot = b;
                                }
                                self.body8_got = self.body8_got.saturating_add(1);
                            }
                        }
                        Content::Values => {
                            self.values
                                .extend_from_slice(input.get(piece).unwrap_or_default());
                        }
                    }
                }
                RecState::Padding { left } => {
                    if left == 0 {
                        self.state = RecState::Header { got: 0 };
                        if let Some(item) = self.pending.take() {
                            return Ok((pos, item));
                        }
                        continue;
                    }
                    let avail = input.len().saturating_sub(pos);
                    if avail == 0 {
                        return Ok((pos, Item::Need));
                    }
                    let n = avail.min(usize::from(left));
                    pos += n;
                    self.state = RecState::Padding {
                        left: left - u8::try_from(n).unwrap_or(left),
                    };
                }
            }
        }
    }

    /// A header has been read: decide what its content is for.
    fn start_record(&mut self) -> Result<(), FcgiError> {
        let h = self.cur;
        if h.version != VERSION_1 {
            return Err(FcgiError::UnsupportedVersion(h.version));
        }
        let active = self.phase != Phase::Idle && h.request_id == self.id;
        let len = h.content_length;
        let what = match RecordType::from_u8(h.kind) {
            Some(RecordType::BeginRequest) => {
                if len != 8 {
                    return Err(FcgiError::BeginRequestLength(len));
                }
                if h.request_id == 0 {
                    return Err(FcgiError::BeginRequestNullId);
                }
                if active {
                    return Err(FcgiError::DuplicateBeginRequest(h.request_id));
                }
                self.body8_got = 0;
                Content::Begin
            }
            Some(RecordType::AbortRequest) => {
                if active {
                    self.pending = Some(Item::Control(Control::Abort {
                        request_id: self.id,
                        keep_conn: self.keep_conn,
                    }));
                    self.phase = Phase::Idle;
                }
                Content::Skip
            }
            Some(RecordType::Params) if active => match self.phase {
                Phase::Params if len == 0 => {
                    self.pending = Some(Item::ParamsEnd);
                    self.phase = Phase::Stdin;
                    Content::Skip
                }
                Phase::Params => {
                    let cap = self.limits.params_cap();
                    self.params_len = self.params_len.saturating_add(usize::from(len));
                    if self.params_len > cap {
                        return Err(FcgiError::ParamsTooLarge { limit: cap });
                    }
                    Content::Params
                }
                _ => return Err(FcgiError::StreamAfterEnd(RecordType::Params)),
            },
            Some(RecordType::Stdin) if active => match self.phase {
                Phase::Params => return Err(FcgiError::StdinBeforeParamsEnd),
                Phase::Stdin if len == 0 => {
                    self.pending = Some(Item::StdinEnd);
                    self.phase = Phase::Done;
                    Content::Skip
                }
                Phase::Stdin => {
                    let max = self.limits.max_body;
                    self.body_len = self.body_len.saturating_add(u64::from(len));
                    if max != 0 && self.body_len > max {
                        return Err(FcgiError::BodyTooLarge { limit: max });
                    }
                    Content::Stdin
                }
                _ => return Err(FcgiError::StreamAfterEnd(RecordType::Stdin)),
            },
            Some(RecordType::GetValues) if h.request_id == 0 => {
                self.values.clear();
                Content::Values
            }
            Some(t @ (RecordType::EndRequest | RecordType::Stdout | RecordType::Stderr))
                if active =>
            {
                return Err(FcgiError::WrongDirection(t))
            }
            // Inactive ids are ignored (spec §3.3); DATA belongs to the Filter role; a web
            // server has no business sending GET_VALUES_RESULT or UNKNOWN_TYPE, and they need
            // no answer.
            Some(_) => Content::Skip,
            None if h.request_id == 0 => {
                self.pending = Some(Item::Control(Control::UnknownType(h.kind)));
                Content::Skip
            }
            None if active => return Err(FcgiError::UnknownRecordType(h.kind)),
            None => Content::Skip,
        };
        self.state = RecState::Content { what, left: len };
        Ok(())
    }

    /// The content of the current record has been read: act on collected content, then the padding.
    fn end_content(&mut self) -> Result<(), FcgiError> {
        match self.state {
            RecState::Content {
                what: Content::Begin,
                ..
            } => {
                let [r1, r0, flags, ..] = self.body8;
                let role = u16::from_be_bytes([r1, r0]);
                let id = self.cur.request_id;
                self.pending = Some(if self.phase != Phase::Idle {
                    Item::Control(Control::Refuse {
                        request_id: id,
                        status: ProtocolStatus::CantMpxConn,
                    })
                } else if role != ROLE_RESPONDER {
                    Item::Control(Control::Refuse {
                        request_id: id,
                        status: ProtocolStatus::UnknownRole,
                    })
                } else {
                    self.phase = Phase::Params;
                    self.id = id;
                    self.role = role;
                    self.keep_conn = flags & FLAG_KEEP_CONN != 0;
                    self.params_len = 0;
                    self.body_len = 0;
                    Item::Begin
                });
            }
            RecState::Content {
                what: Content::Values,
                ..
            } => {
                let query = parse_values_query(&self.values)?;
                self.values.clear();
                self.pending = Some(Item::Control(Control::GetValues(query)));
            }
            _ => {}
        }
        self.state = RecState::Padding {
            left: self.cur.padding_length,
        };
        Ok(())
    }
}

/// Which known variables a `GET_VALUES` content asks for.
fn parse_values_query(content: &[u8]) -> Result<ValuesQuery, FcgiError> {
    let mut q = ValuesQuery::default();
    let mut pos = 0;
    while pos < content.len() {
        let (name, _value, next) =
            next_pair(content, pos).map_err(FcgiError::MalformedGetValues)?;
        match content.get(name).unwrap_or_default() {
            b"FCGI_MAX_CONNS" => q.max_conns = true,
            b"FCGI_MAX_REQS" => q.max_reqs = true,
            b"FCGI_MPXS_CONNS" => q.mpxs_conns = true,
            _ => {}
        }
        pos = next;
    }
    Ok(q)
}

/// A name-value length at `pos`: one byte below 128, else four bytes big-endian with the top
/// bit set. Returns (length, position after it).
fn read_len(area: &[u8], pos: usize) -> Result<(usize, usize), &'static str> {
    let first = *area.get(pos).ok_or("truncated length")?;
    if first & 0x80 == 0 {
        return Ok((usize::from(first), pos + 1));
    }
    let b = area.get(pos..pos + 4).ok_or("truncated 4-byte length")?;
    let mut four = [0u8; 4];
    four.copy_from_slice(b);
    let n = u32::from_be_bytes(four) & 0x7fff_ffff;
    Ok((usize::try_from(n).unwrap_or(usize::MAX), pos + 4))
}

/// The name-value pair at `pos` of `area`: (name range, value range, position after it).
fn next_pair(area: &[u8], pos: usize) -> Result<(Range<usize>, Range<usize>, usize), &'static str> {
    let (name_len, pos) = read_len(area, pos)?;
    let (value_len, pos) = read_len(area, pos)?;
    let name_end = pos
        .checked_add(name_len)
        .filter(|&e| e <= area.len())
        .ok_or("name longer than the params")?;
    let value_end = name_end
        .checked_add(value_len)
        .filter(|&e| e <= area.len())
        .ok_or("value longer than the params")?;
    Ok((pos..name_end, name_end..value_end, value_end))
}

// ---------------------------------------------------------------------------------------------
// The request head.

/// What [`HeadParser::parse`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadStatus {
    /// The head is not complete: read more bytes (appending to the buffer) and call again.
    Partial,
    /// The head is complete and in the [`RequestHead`]; take the body decoder with
    /// [`HeadParser::take_stdin`].
    Complete,
    /// Answer this, then call again with the same buffer (the parser remembers where it was).
    Control(Control),
}

/// Incremental parser for the head of the next request on a connection.
///
/// Call [`HeadParser::parse`] with the connection's valid bytes every time more have been
/// appended. The parser keeps its place between calls, so the caller must not move or change
/// the bytes already given — only append — until the head is complete; it may grow or
/// reallocate the buffer. Params are compacted in place (see the module docs), so after
/// [`HeadStatus::Complete`] the bytes before `head_len` are the head's, not the wire's.
///
/// Records before the request's `BEGIN_REQUEST` (management queries, leftovers of refused or
/// aborted requests) stay in the buffer and count towards [`Limits::max_head`].
#[derive(Clone, Debug)]
pub struct HeadParser {
    rec: Records,
    /// Bytes of the buffer already read.
    scan: usize,
    /// The compacted params area so far (`None` until the first params byte).
    area: Option<Range<usize>>,
    complete: bool,
    failed: Option<FcgiError>,
}

impl HeadParser {
    /// A parser for one request head under `limits`.
    pub fn new(limits: Limits) -> Self {
        HeadParser {
            rec: Records::new(limits),
            scan: 0,
            area: None,
            complete: false,
            failed: None,
        }
    }

    /// Start over for the next request (its bytes at the start of the buffer).
    pub fn reset(&mut self) {
        *self = HeadParser::new(self.rec.limits);
    }

    /// Bytes of the buffer looked at so far.
    pub fn scanned(&self) -> usize {
        self.scan
    }

    /// Whether a request is under way (its `BEGIN_REQUEST` has been read).
    pub fn in_request(&self) -> bool {
        self.rec.phase != Phase::Idle
    }

    /// Parse `buf` (all valid bytes of the connection, the head at its start) as far as it goes.
    /// Once an error is returned, every later call returns it again.
    pub fn parse(
        &mut self,
        buf: &mut [u8],
        head: &mut RequestHead,
    ) -> Result<HeadStatus, FcgiError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        match self.parse_inner(buf, head) {
            Ok(status) => Ok(status),
            Err(err) => {
                self.failed = Some(err);
                Err(err)
            }
        }
    }

    fn parse_inner(
        &mut self,
        buf: &mut [u8],
        head: &mut RequestHead,
    ) -> Result<HeadStatus, FcgiError> {
        let limit = self.rec.limits.max_head();
        loop {
            if self.complete {
                // Already reported; nothing more to do until reset.
                return Ok(HeadStatus::Complete);
            }
            let input = buf.get(self.scan..).unwrap_or_default();
            // Never look past the limit: what lies beyond it cannot be part of a valid head.
            let room = limit.saturating_sub(self.scan);
            let input = input.get(..room).unwrap_or(input);
            let (used, item) = self.rec.next(input)?;
            let base = self.scan;
            self.scan += used;
            match item {
                Item::Need => {
                    if self.scan >= limit {
                        return Err(FcgiError::HeadTooLarge { limit });
                    }
                    return Ok(HeadStatus::Partial);
                }
                Item::Begin => {
                    self.area = None;
                }
                Item::Params(r) => {
                    let src = base + r.start..base + r.end;
                    let area = self.area.get_or_insert(src.start..src.start);
                    let dest = area.end;
                    if dest != src.start {
                        // dest < src.start: content only ever moves down.
                        buf.copy_within(src.clone(), dest);
                    }
                    area.end = dest + src.len();
                }
                Item::ParamsEnd => {
                    let area = self.area.clone().unwrap_or(self.scan..self.scan);
                    head.clear();
                    head.request_id = self.rec.id;
                    head.role = self.rec.role;
                    head.keep_conn = self.rec.keep_conn;
                    head.params_area = Span::new(area.start, area.end);
                    head.head_len = self.scan;
                    let content = buf.get(area.clone()).unwrap_or_default();
                    let mut pos = 0;
                    while pos < content.len() {
                        let (name, value, next) =
                            next_pair(content, pos).map_err(FcgiError::MalformedParams)?;
                        head.params.push(Param {
                            name: Span::new(area.start + name.start, area.start + name.end),
                            value: Span::new(area.start + value.start, area.start + value.end),
                        });
                        pos = next;
                    }
                    self.complete = true;
                    return Ok(HeadStatus::Complete);
                }
                Item::Control(c) => {
                    if let Control::Abort { .. } = c {
                        self.area = None;
                    }
                    return Ok(HeadStatus::Control(c));
                }
                // Not produced before the params end.
                Item::Stdin(_) | Item::StdinEnd => {}
            }
        }
    }

    /// After [`HeadStatus::Complete`]: the decoder for the request's body, which starts at
    /// `head_len`. The parser is reset for the next request.
    pub fn take_stdin(&mut self) -> StdinDecoder {
        let fresh = HeadParser::new(self.rec.limits);
        let rec = std::mem::replace(self, fresh).rec;
        StdinDecoder { rec, failed: None }
    }
}

// ---------------------------------------------------------------------------------------------
// The body.

/// What one [`StdinDecoder::decode`] call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the input used up (framing, skipped records and data); drop them before the
    /// next call.
    pub consumed: usize,
    /// Body data found, as a range of the input (possibly empty); always ends at `consumed`.
    pub data: Range<usize>,
    /// The empty `STDIN` record has been read; bytes after `consumed` belong to the next request.
    pub done: bool,
    /// A record to answer before going on (its bytes are in `consumed`; `data` is empty).
    /// After [`Control::Abort`] the request is over: later calls fail with [`FcgiError::Aborted`].
    pub control: Option<Control>,
}

/// Streaming decoder for the `STDIN` stream of the active request (see [`HeadParser::take_stdin`]).
#[derive(Clone, Debug)]
pub struct StdinDecoder {
    rec: Records,
    failed: Option<FcgiError>,
}

impl StdinDecoder {
    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        self.rec.phase == Phase::Done && self.rec.at_boundary()
    }

    /// Body bytes announced by the `STDIN` records read so far.
    pub fn body_len(&self) -> u64 {
        self.rec.body_len
    }

    /// The request this body belongs to.
    pub fn request_id(&self) -> u16 {
        self.rec.id
    }

    /// Decode as much of `input` as possible, up to and including at most one data range or
    /// one control record. Call again with the unconsumed rest (plus new bytes) until `done`.
    /// Once an error is returned, every later call returns it again.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, FcgiError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let step = |consumed, data, done, control| Step {
            consumed,
            data,
            done,
            control,
        };
        let mut pos = 0;
        loop {
            if self.is_done() {
                return Ok(step(pos, pos..pos, true, None));
            }
            let rest = input.get(pos..).unwrap_or_default();
            let (used, item) = match self.rec.next(rest) {
                Ok(x) => x,
                Err(e) => {
                    self.failed = Some(e);
                    return Err(e);
                }
            };
            let base = pos;
            pos += used;
            match item {
                Item::Need => return Ok(step(pos, pos..pos, false, None)),
                Item::Stdin(r) => {
                    return Ok(step(pos, base + r.start..base + r.end, false, None));
                }
                Item::StdinEnd => {}
                Item::Control(c) => {
                    if let Control::Abort { request_id, .. } = c {
                        self.failed = Some(FcgiError::Aborted(request_id));
                    }
                    return Ok(step(pos, pos..pos, false, Some(c)));
                }
                // Only an aborted request goes back to Idle, and that ends decoding above.
                Item::Begin | Item::Params(_) | Item::ParamsEnd => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding what the application sends.

/// A record header with no padding.
pub fn record_header(kind: RecordType, request_id: u16, content_length: u16) -> [u8; HEADER_LEN] {
    Header {
        version: VERSION_1,
        kind: kind as u8,
        request_id,
        content_length,
        padding_length: 0,
    }
    .encode()
}

/// Append `data` as records of a stream (`STDOUT`, `STDERR`), split at [`MAX_CONTENT`] bytes.
/// Empty data appends nothing (an empty record would end the stream: see [`push_stream_end`]).
pub fn push_stream(out: &mut Vec<u8>, kind: RecordType, request_id: u16, data: &[u8]) {
    out.reserve(data.len() + HEADER_LEN * (data.len() / MAX_CONTENT + 1));
    for piece in data.chunks(MAX_CONTENT) {
        let len = u16::try_from(piece.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&record_header(kind, request_id, len));
        out.extend_from_slice(piece);
    }
}

/// Append the empty record that ends a stream.
pub fn push_stream_end(out: &mut Vec<u8>, kind: RecordType, request_id: u16) {
    out.extend_from_slice(&record_header(kind, request_id, 0));
}

/// An `END_REQUEST` record.
pub fn end_request(request_id: u16, app_status: u32, status: ProtocolStatus) -> [u8; 16] {
    let h = record_header(RecordType::EndRequest, request_id, 8);
    let [a3, a2, a1, a0] = app_status.to_be_bytes();
    let [h0, h1, h2, h3, h4, h5, h6, h7] = h;
    [
        h0,
        h1,
        h2,
        h3,
        h4,
        h5,
        h6,
        h7,
        a3,
        a2,
        a1,
        a0,
        status as u8,
        0,
        0,
        0,
    ]
}

/// Append an `END_REQUEST` record.
pub fn push_end_request(
    out: &mut Vec<u8>,
    request_id: u16,
    app_status: u32,
    status: ProtocolStatus,
) {
    out.extend_from_slice(&end_request(request_id, app_status, status));
}

/// Append an `UNKNOWN_TYPE` record answering a management record of type `kind`.
pub fn push_unknown_type(out: &mut Vec<u8>, kind: u8) {
    out.extend_from_slice(&record_header(RecordType::UnknownType, 0, 8));
    out.extend_from_slice(&[kind, 0, 0, 0, 0, 0, 0, 0]);
}

/// Append a name-value pair (lengths of 128 and more take four bytes). Lengths are capped at
/// 2^31 - 1 by the format; longer input is cut.
pub fn push_pair(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    const MAX: usize = 0x7fff_ffff;
    let name = name.get(..MAX).unwrap_or(name);
    let value = value.get(..MAX).unwrap_or(value);
    for len in [name.len(), value.len()] {
        if len < 128 {
            out.push(len as u8);
        } else {
            let n = u32::try_from(len).unwrap_or(0x7fff_ffff) | 0x8000_0000;
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// Append a `GET_VALUES_RESULT` record with the variables `query` asked for.
pub fn push_get_values_result(out: &mut Vec<u8>, query: ValuesQuery, values: &Values) {
    let mut content = Vec::with_capacity(64);
    let mut num = itoa::Buffer::new();
    if query.max_conns {
        push_pair(
            &mut content,
            b"FCGI_MAX_CONNS",
            num.format(values.max_conns).as_bytes(),
        );
    }
    if query.max_reqs {
        push_pair(
            &mut content,
            b"FCGI_MAX_REQS",
            num.format(values.max_reqs).as_bytes(),
        );
    }
    if query.mpxs_conns {
        let v: &[u8] = if values.mpxs_conns { b"1" } else { b"0" };
        push_pair(&mut content, b"FCGI_MPXS_CONNS", v);
    }
    let len = u16::try_from(content.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&record_header(RecordType::GetValuesResult, 0, len));
    out.extend_from_slice(&content);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: u8, id: u16, content: &[u8], padding: u8) -> Vec<u8> {
        let mut v = Header {
            version: 1,
            kind,
            request_id: id,
            content_length: content.len() as u16,
            padding_length: padding,
        }
        .encode()
        .to_vec();
        v.extend_from_slice(content);
        v.extend(std::iter::repeat(0xAA).take(padding as usize));
        v
    }

    fn begin(id: u16, role: u16, flags: u8) -> Vec<u8> {
        let [r1, r0] = role.to_be_bytes();
        rec(1, id, &[r1, r0, flags, 0, 0, 0, 0, 0], 0)
    }

    fn pairs(list: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, v) in list {
            push_pair(&mut out, n, v);
        }
        out
    }

    #[test]
    fn simple_request_whole() {
        let p = pairs(&[(b"REQUEST_METHOD", b"GET"), (b"SCRIPT_NAME", b"/x")]);
        let mut wire = begin(1, 1, 1);
        wire.extend(rec(4, 1, &p, 3));
        wire.extend(rec(4, 1, b"", 0));
        let head_end = wire.len();
        wire.extend(rec(5, 1, b"abc", 5));
        wire.extend(rec(5, 1, b"", 0));
        let mut buf = wire.clone();
        let mut parser = HeadParser::new(Limits::default());
        let mut head = RequestHead::default();
        assert_eq!(
            parser.parse(&mut buf, &mut head).unwrap(),
            HeadStatus::Complete
        );
        assert_eq!(head.request_id, 1);
        assert!(head.keep_conn);
        assert_eq!(head.head_len, head_end);
        assert_eq!(head.get(&buf, b"REQUEST_METHOD"), Some(&b"GET"[..]));
        assert_eq!(head.get(&buf, b"SCRIPT_NAME"), Some(&b"/x"[..]));
        let mut dec = parser.take_stdin();
        let rest = &buf[head.head_len..];
        let s = dec.decode(rest).unwrap();
        assert_eq!(&rest[s.data.clone()], b"abc");
        let s2 = dec.decode(&rest[s.consumed..]).unwrap();
        assert!(s2.done);
        assert_eq!(s.consumed + s2.consumed, rest.len());
    }

    #[test]
    fn split_pair_is_compacted() {
        let p = pairs(&[(b"A", &[b'x'; 200][..]), (b"B", b"2")]);
        let mut wire = begin(7, 1, 0);
        // Cut inside the 4-byte value length.
        wire.extend(rec(4, 7, &p[..3], 1));
        wire.extend(rec(4, 7, &p[3..], 0));
        wire.extend(rec(4, 7, b"", 2));
        let mut buf = wire.clone();
        let mut head = RequestHead::default();
        let st = HeadParser::new(Limits::default())
            .parse(&mut buf, &mut head)
            .unwrap();
        assert_eq!(st, HeadStatus::Complete);
        assert!(!head.keep_conn);
        assert_eq!(head.params.len(), 2);
        assert_eq!(head.get(&buf, b"A"), Some(&[b'x'; 200][..]));
        assert_eq!(head.get(&buf, b"B"), Some(&b"2"[..]));
        assert_eq!(head.head_len, wire.len());
    }

    #[test]
    fn encoders() {
        assert_eq!(
            end_request(1, 0, ProtocolStatus::RequestComplete),
            [1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let mut out = Vec::new();
        push_stream(&mut out, RecordType::Stdout, 2, &vec![7u8; 70000]);
        assert_eq!(&out[..8], &[1, 6, 0, 2, 0xff, 0xff, 0, 0]);
        assert_eq!(
            &out[8 + 65535..8 + 65535 + 8],
            &[1, 6, 0, 2, 0x11, 0x71, 0, 0]
        );
        assert_eq!(out.len(), 70000 + 16);
        let mut out = Vec::new();
        push_stream(&mut out, RecordType::Stdout, 2, b"");
        assert!(out.is_empty());
        push_unknown_type(&mut out, 200);
        assert_eq!(out, [1, 11, 0, 0, 0, 8, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0]);
        let mut out = Vec::new();
        let all = ValuesQuery {
            max_conns: true,
            max_reqs: true,
            mpxs_conns: true,
        };
        let v = Values {
            max_conns: 10,
            max_reqs: 40,
            mpxs_conns: false,
        };
        push_get_values_result(&mut out, all, &v);
        let mut expect = rec(
            10,
            0,
            &pairs(&[
                (b"FCGI_MAX_CONNS", b"10"),
                (b"FCGI_MAX_REQS", b"40"),
                (b"FCGI_MPXS_CONNS", b"0"),
            ]),
            0,
        );
        assert_eq!(out, expect);
        out.clear();
        expect.clear();
        push_get_values_result(&mut out, ValuesQuery::default(), &v);
        assert_eq!(out, [1, 10, 0, 0, 0, 0, 0, 0]);
        let mut p = Vec::new();
        push_pair(&mut p, &[b'n'; 127], &[b'v'; 128]);
        assert_eq!(&p[..5], &[127, 0x80, 0, 0, 128]);
    }
}
