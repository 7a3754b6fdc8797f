//! The connection's output side: builds the response head, frames the body (Content-Length,
//! chunked, or close-delimited) and writes it with as few syscalls as possible.
//!
//! The head and small body chunks gather in one buffer, so a typical response leaves in a single
//! `write`; large chunks go out with `writev` straight from the app's buffer; files with `sendfile`.
//!
//! On a FastCGI connection ([`Wire::FastCgi`]) the same response is a CGI response (`Status:`
//! line and the app's headers, nothing of ours) carried in `STDOUT` records: every flush puts
//! record headers in front of the gathered bytes (one `writev`, no copy), `send_file` sends a
//! record header and then at most 65535 file bytes per record, and `finish` ends the stream and
//! the request (`END_REQUEST`) in the same write as the last bytes.

use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ferrocorn_proto::fastcgi::{self as fcgi, ProtocolStatus, RecordType};
use ferrocorn_proto::http1::{self as h1, Version};
use socket2::Socket;

use crate::app::Unlocker;
use crate::fastcgi::RequestFlags;
use crate::sock;

/// Gather small writes up to this size before sending.
const GATHER: usize = 32 * 1024;

/// Most payload bytes put in one FastCGI `writev` (16 records: 33 iovecs at most, far below
/// `IOV_MAX`); bigger app writes go out in several.
const FCGI_BATCH: usize = 16 * fcgi::MAX_CONTENT;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum BodyFraming {
    #[default]
    None,
    Length(u64),
    Chunked,
    /// HTTP/1.0 without Content-Length: the body ends when we close.
    Close,
    /// Delimited by the wire itself (FastCGI: the end of the STDOUT stream).
    Stream,
}

/// How responses are put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wire {
    /// HTTP/1.x straight to the client: chunked when an HTTP/1.1 body has no length.
    #[default]
    Http,
    /// An HTTP response on a connection that carries one request (uwsgi): never chunked; a body
    /// without a length ends when the connection closes.
    HttpOnce,
    /// A CGI response in FastCGI `STDOUT` records, ended by `END_REQUEST` (see the module docs).
    FastCgi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Nothing of the response decided yet.
    #[default]
    Idle,
    /// Status line and app headers are in the buffer.
    Building,
    /// Head complete (may still sit in the buffer); body may follow.
    Committed,
    /// Last byte written.
    Finished,
}

/// Response writer for one connection, reused across its requests.
#[derive(Default)]
pub struct ResponseWriter {
    sock: Option<Arc<Socket>>,
    out: Vec<u8>,
    state: State,
    framing: BodyFraming,
    version: Option<Version>,
    head_request: bool,
    /// The request allows keeping the connection.
    keep_alive: bool,
    /// Something decided the connection must close after this response.
    must_close: bool,
    status: u16,
    app_content_length: Option<u64>,
    app_set_server: bool,
    app_set_date: bool,
    /// Body bytes the app produced (before framing), for the access log and short-body checks.
    body_bytes: u64,
    /// Total bytes put on the wire for this response.
    wire_bytes: u64,
    timeout: Duration,
    server_line: Arc<[u8]>,
    /// This request's `Date: ...\r\n` line.
    date: Vec<u8>,
    /// Keep a copy of the committed head (for access-log `{header}o` atoms).
    keep_head: bool,
    head_copy: Vec<u8>,
    wire: Wire,
    /// FastCGI: the request id the records carry.
    fcgi_id: u16,
    /// FastCGI: the request's flags. Once it is aborted (the body reader saw the ABORT_REQUEST,
    /// or a peek between writes did) nothing more is written for it.
    fcgi_flags: Option<Arc<RequestFlags>>,
    /// FastCGI: the END_REQUEST of this request went out.
    fcgi_ended: bool,
    /// FastCGI: when the socket was last peeked for an ABORT_REQUEST (at most every 50 ms).
    fcgi_peeked: Option<std::time::Instant>,
    /// The worker gathers finished responses and writes them together (see [`Self::set_defer`]).
    defer: bool,
    /// A finished response sits in `out`, not yet written: [`Self::flush_deferred`] sends it.
    deferred: bool,
}

impl ResponseWriter {
    pub fn new(sock: Arc<Socket>, timeout: Duration, server_header: &str) -> Self {
        let mut line = Vec::with_capacity(server_header.len() + 10);
        if !server_header.is_empty() {
            line.extend_from_slice(b"Server: ");
            line.extend_from_slice(server_header.as_bytes());
            line.extend_from_slice(b"\r\n");
        }
        ResponseWriter {
            sock: Some(sock),
            out: Vec::with_capacity(8192),
            timeout,
            server_line: line.into(),
            ..Default::default()
        }
    }

    /// Choose how responses on this connection are framed (set once, before the first request).
    pub fn set_wire(&mut self, wire: Wire) {
        self.wire = wire;
    }

    /// FastCGI: the request the next response answers, and its flags (shared with the body
    /// reader). Call after [`ResponseWriter::begin`].
    pub fn set_fcgi_request(&mut self, request_id: u16, flags: Arc<RequestFlags>) {
        self.fcgi_id = request_id;
        self.fcgi_flags = Some(flags);
    }

    /// FastCGI: whether this request's `END_REQUEST` was sent (by [`ResponseWriter::finish`]).
    pub fn fcgi_ended(&self) -> bool {
        self.fcgi_ended
    }

    fn fcgi_is_aborted(&self) -> bool {
        self.fcgi_flags
            .as_ref()
            .is_some_and(|f| f.aborted.load(Ordering::Relaxed))
    }

    /// FastCGI, between writes of a response: an `ABORT_REQUEST` for this request waiting on
    /// the socket (the web server gave up while the app streams) marks the request aborted.
    /// Only once the body has ended, so the next bytes start a record; a peek, so the record
    /// stays for the connection's next read.
    fn fcgi_peek_abort(&mut self) {
        let (Some(sock), Some(flags)) = (&self.sock, &self.fcgi_flags) else {
            return;
        };
        if !flags.stdin_done.load(Ordering::Relaxed) {
            return;
        }
        // A stream of small items flushes once per item: one peek per 50 ms is enough.
        let now = std::time::Instant::now();
        if self
            .fcgi_peeked
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(50))
        {
            return;
        }
        self.fcgi_peeked = Some(now);
        let mut hdr = [0u8; fcgi::HEADER_LEN];
        let peek = nix::sys::socket::MsgFlags::MSG_PEEK | nix::sys::socket::MsgFlags::MSG_DONTWAIT;
        use std::os::fd::AsRawFd;
        if let Ok(n) = nix::sys::socket::recv(sock.as_raw_fd(), &mut hdr, peek) {
            let h = fcgi::Header::decode(&hdr);
            if n == hdr.len()
                && h.version == fcgi::VERSION_1
                && h.kind == RecordType::AbortRequest as u8
                && h.request_id == self.fcgi_id
            {
                flags.aborted.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Keep a copy of the next committed head (see `kept_head`).
    pub fn keep_head(&mut self, keep: bool) {
        self.keep_head = keep;
        self.head_copy.clear();
    }

    /// The committed head, if `keep_head` was asked for.
    pub fn kept_head(&self) -> &[u8] {
        &self.head_copy
    }

    /// Prepare for a new request.
    pub fn begin(
        &mut self,
        version: Version,
        head_request: bool,
        keep_alive: bool,
        date_line: &[u8],
    ) {
        if self.deferred {
            // Drivers flush before the next request; this only guards against losing a response.
            let _ = self.flush_deferred(&crate::app::NoLock);
        }
        self.out.clear();
        self.date.clear();
        self.date.extend_from_slice(date_line);
        self.state = State::Idle;
        self.framing = BodyFraming::None;
        self.version = Some(version);
        self.head_request = head_request;
        self.keep_alive = keep_alive;
        self.must_close = false;
        self.status = 0;
        self.app_content_length = None;
        self.app_set_server = false;
        self.app_set_date = false;
        self.body_bytes = 0;
        self.wire_bytes = 0;
        self.fcgi_ended = false;
        self.fcgi_peeked = None;
    }

    /// Ask for the connection to be closed after this response (adds `Connection: close` if the head
    /// is not committed yet).
    pub fn set_close(&mut self) {
        self.must_close = true;
    }

    /// Whether the connection may serve another request after this response.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive && !self.must_close && self.state == State::Finished
    }

    /// The head is decided (it may not have reached the socket yet).
    pub fn head_committed(&self) -> bool {
        matches!(self.state, State::Committed | State::Finished)
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// Bytes of body the app produced.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Start the head: the status line. `status` is the WSGI status (`200 OK`), already validated.
    pub fn start(&mut self, status: &[u8], code: u16) {
        self.out.clear();
        self.app_content_length = None;
        self.app_set_server = false;
        self.app_set_date = false;
        if self.wire == Wire::FastCgi {
            self.out.extend_from_slice(b"Status: ");
            self.out.extend_from_slice(status);
            self.out.extend_from_slice(b"\r\n");
        } else {
            h1::push_status_line(
                &mut self.out,
                self.version.unwrap_or(Version::Http11),
                status,
            );
        }
        self.status = code;
        self.state = State::Building;
    }

    /// Add one app header (already validated). Hop-by-hop framing headers are ours to decide.
    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        if name.eq_ignore_ascii_case(b"content-length") {
            match std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                Some(n) => self.app_content_length = Some(n),
                None => return,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // We frame the body ourselves; an app-chosen chunked is implied when there is no length.
            return;
        } else if name.eq_ignore_ascii_case(b"connection") {
            // On FastCGI the web server's connection to the client is not ours to close.
            if self.wire != Wire::FastCgi
                && value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
            {
                self.must_close = true;
            }
            return;
        } else if name.eq_ignore_ascii_case(b"server") {
            self.app_set_server = true;
        } else if name.eq_ignore_ascii_case(b"date") {
            self.app_set_date = true;
        }
        h1::push_header(&mut self.out, name, value);
    }

    /// Finish the head: choose framing, add Date/Server/Connection, end with CRLF.
    pub fn commit(&mut self) {
        let version = self.version.unwrap_or(Version::Http11);
        let no_body =
            self.head_request || self.status < 200 || self.status == 204 || self.status == 304;
        if self.wire == Wire::FastCgi {
            // A CGI response: the web server frames it for its client and adds Date, Server
            // and Connection itself. The app's Content-Length is passed on (and enforced).
            self.framing = match self.app_content_length {
                _ if no_body => BodyFraming::None,
                Some(n) => BodyFraming::Length(n),
                None => BodyFraming::Stream,
            };
            self.out.extend_from_slice(b"\r\n");
            self.state = State::Committed;
            if self.keep_head {
                self.head_copy.clear();
                self.head_copy.extend_from_slice(&self.out);
            }
            return;
        }
        self.framing = if no_body {
            BodyFraming::None
        } else if let Some(n) = self.app_content_length {
            BodyFraming::Length(n)
        } else if version == Version::Http11 && self.wire == Wire::Http {
            self.out
                .extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            BodyFraming::Chunked
        } else {
            self.must_close = true;
            BodyFraming::Close
        };
        if !self.app_set_date {
            self.out.extend_from_slice(&self.date);
        }
        if !self.app_set_server {
            self.out.extend_from_slice(&self.server_line);
        }
        if self.must_close || !self.keep_alive {
            self.out.extend_from_slice(b"Connection: close\r\n");
        } else if version == Version::Http10 {
            self.out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        self.state = State::Committed;
        if self.keep_head {
            self.head_copy.clear();
            self.head_copy.extend_from_slice(&self.out);
        }
    }

    fn flush_with(&mut self, extra: &[&[u8]], u: &dyn Unlocker) -> io::Result<()> {
        if self.wire == Wire::FastCgi {
            return self.flush_fcgi(extra, &[], u);
        }
        let sock = self
            .sock
            .clone()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let mut bufs: Vec<&[u8]> = Vec::with_capacity(1 + extra.len());
        if !self.out.is_empty() {
            bufs.push(&self.out);
        }
        bufs.extend(extra.iter().copied().filter(|b| !b.is_empty()));
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let res = match bufs.len() {
            0 => Ok(()),
            1 => sock::write_all(&*sock, bufs[0], self.timeout, u),
            _ => sock::write_all_vectored(&*sock, &bufs, self.timeout, u),
        };
        self.out.clear();
        self.wire_bytes += total as u64;
        if res.is_err() {
            self.must_close = true;
        }
        res
    }

    /// FastCGI: send the gathered bytes and `extra` as `STDOUT` records, then `tail` as it is
    /// (record bytes of our own), in one `writev`. The caller keeps the payload under
    /// [`FCGI_BATCH`] bytes per call, which bounds the iovecs.
    fn flush_fcgi(&mut self, extra: &[&[u8]], tail: &[u8], u: &dyn Unlocker) -> io::Result<()> {
        if self.fcgi_is_aborted() {
            self.out.clear();
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "request aborted by the web server (FCGI_ABORT_REQUEST)",
            ));
        }
        let sock = self
            .sock
            .clone()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let pieces: Vec<&[u8]> = std::iter::once(&self.out[..])
            .chain(extra.iter().copied())
            .filter(|b| !b.is_empty())
            .collect();
        let payload: usize = pieces.iter().map(|b| b.len()).sum();
        let mut headers = Vec::with_capacity(payload / fcgi::MAX_CONTENT + 1);
        let mut left = payload;
        while left > 0 {
            let n = left.min(fcgi::MAX_CONTENT);
            let len = u16::try_from(n).unwrap_or(u16::MAX);
            headers.push(fcgi::record_header(RecordType::Stdout, self.fcgi_id, len));
            left -= n;
        }
        let mut bufs: Vec<&[u8]> = Vec::with_capacity(headers.len() + 2 * pieces.len() + 1);
        let mut next_header = headers.iter();
        let mut room = 0usize;
        let mut left = payload;
        for piece in &pieces {
            let mut p: &[u8] = piece;
            while !p.is_empty() {
                if room == 0 {
                    if let Some(h) = next_header.next() {
                        bufs.push(h);
                    }
                    room = left.min(fcgi::MAX_CONTENT);
                }
                let (now, rest) = p.split_at(room.min(p.len()));
                bufs.push(now);
                room -= now.len();
                left -= now.len();
                p = rest;
            }
        }
        if !tail.is_empty() {
            bufs.push(tail);
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let res = match bufs.len() {
            0 => Ok(()),
            _ => sock::write_all_vectored(&*sock, &bufs, self.timeout, u),
        };
        self.out.clear();
        self.wire_bytes += total as u64;
        if res.is_err() {
            self.must_close = true;
        }
        res
    }

    /// Send buffered bytes now.
    pub fn flush(&mut self, u: &dyn Unlocker) -> io::Result<()> {
        if self.wire == Wire::FastCgi && !self.out.is_empty() {
            // Between the items of a stream: has the web server given up on the request?
            self.fcgi_peek_abort();
        }
        self.flush_with(&[], u)
    }

    /// Write a body chunk (the head must be committed). Bytes past the app's Content-Length are
    /// dropped (returns how many were accepted).
    pub fn write(&mut self, data: &[u8], u: &dyn Unlocker) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let data = match self.framing {
            // HEAD, 1xx, 204, 304: nothing is sent, and nothing is counted as sent.
            BodyFraming::None => return Ok(data.len()),
            BodyFraming::Length(n) => {
                let left = n.saturating_sub(self.body_bytes);
                let take = (data.len() as u64).min(left) as usize;
                &data[..take]
            }
            _ => data,
        };
        if data.is_empty() {
            return Ok(0);
        }
        self.body_bytes += data.len() as u64;
        if self.wire == Wire::FastCgi {
            if self.out.len() + data.len() <= GATHER {
                self.out.extend_from_slice(data);
                return Ok(data.len());
            }
            self.fcgi_peek_abort();
            for batch in data.chunks(FCGI_BATCH) {
                self.flush_fcgi(&[batch], &[], u)?;
            }
            return Ok(data.len());
        }
        let chunked = self.framing == BodyFraming::Chunked;
        if self.out.len() + data.len() + 16 <= GATHER {
            if chunked {
                h1::push_chunk_header(&mut self.out, data.len());
                self.out.extend_from_slice(data);
                self.out.extend_from_slice(b"\r\n");
            } else {
                self.out.extend_from_slice(data);
            }
            Ok(data.len())
        } else if chunked {
            h1::push_chunk_header(&mut self.out, data.len());
            self.flush_with(&[data, b"\r\n"], u)?;
            Ok(data.len())
        } else {
            self.flush_with(&[data], u)?;
            Ok(data.len())
        }
    }

    /// Whether body pieces may be held and sent together by [`Self::write_pieces`]: a response
    /// committed with a Content-Length, with body bytes still due (a body without a length is
    /// often a live stream).
    pub fn can_hold_pieces(&self) -> bool {
        self.state == State::Committed
            && matches!(self.framing, BodyFraming::Length(n) if self.body_bytes < n)
    }

    /// Body bytes still due by the Content-Length (`None` without one).
    pub fn body_left(&self) -> Option<u64> {
        match self.framing {
            BodyFraming::Length(n) => Some(n.saturating_sub(self.body_bytes)),
            _ => None,
        }
    }

    /// Write several body pieces (after anything buffered) in one `writev`: one wake-up of the
    /// peer for all of them instead of one per piece. Each is cut at the Content-Length like
    /// [`Self::write`]; without a length they go through [`Self::write`] one by one. On FastCGI
    /// they travel in `STDOUT` records, at most [`FCGI_BATCH`] payload bytes per `writev`.
    pub fn write_pieces(&mut self, pieces: &[&[u8]], u: &dyn Unlocker) -> io::Result<()> {
        if !matches!(self.framing, BodyFraming::Length(_)) {
            for p in pieces {
                self.write(p, u)?;
            }
            return self.flush(u);
        }
        let mut cut: Vec<&[u8]> = Vec::with_capacity(pieces.len());
        for p in pieces {
            let take = (p.len() as u64).min(self.body_left().unwrap_or(0)) as usize;
            if take == 0 {
                break;
            }
            cut.push(&p[..take]);
            self.body_bytes += take as u64;
        }
        if self.wire != Wire::FastCgi {
            return self.flush_with(&cut, u);
        }
        self.fcgi_peek_abort();
        let mut batch: Vec<&[u8]> = Vec::with_capacity(cut.len());
        let mut room = FCGI_BATCH.saturating_sub(self.out.len());
        for p in cut {
            let mut p = p;
            while !p.is_empty() {
                let (now, rest) = p.split_at(p.len().min(room));
                batch.push(now);
                room -= now.len();
                p = rest;
                if room == 0 {
                    self.flush_fcgi(&batch, &[], u)?;
                    batch.clear();
                    room = FCGI_BATCH;
                }
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.flush_fcgi(&batch, &[], u)
    }

    /// Send `len` bytes of an open file from `offset` with sendfile (never through Python).
    pub fn send_file<F: AsFd>(
        &mut self,
        file: &F,
        offset: i64,
        len: u64,
        u: &dyn Unlocker,
    ) -> io::Result<u64> {
        let len = match self.framing {
            BodyFraming::None => return Ok(len),
            BodyFraming::Length(n) => len.min(n.saturating_sub(self.body_bytes)),
            _ => len,
        };
        if len == 0 {
            return Ok(0);
        }
        if self.wire == Wire::FastCgi {
            return self.send_file_fcgi(file, offset, len, u);
        }
        let chunked = self.framing == BodyFraming::Chunked;
        if chunked {
            h1::push_chunk_header(&mut self.out, len as usize);
        }
        self.flush(u)?;
        let sock = self
            .sock
            .clone()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let sent = sock::sendfile_all(&*sock, file, offset, len, self.timeout, u)
            .inspect_err(|_| self.must_close = true)?;
        self.body_bytes += sent;
        self.wire_bytes += sent;
        if chunked {
            if sent < len {
                // The file shrank under us: the chunk size we announced is a lie now; close.
                self.must_close = true;
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shorter than announced",
                ));
            }
            self.out.extend_from_slice(b"\r\n");
        }
        Ok(sent)
    }

    /// FastCGI `send_file`: per record, its header (after whatever is gathered, in one write) and
    /// then at most 65535 bytes of the file by `sendfile`.
    fn send_file_fcgi<F: AsFd>(
        &mut self,
        file: &F,
        mut offset: i64,
        len: u64,
        u: &dyn Unlocker,
    ) -> io::Result<u64> {
        self.fcgi_peek_abort();
        let sock = self
            .sock
            .clone()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let mut sent_total = 0u64;
        while sent_total < len {
            let n = (len - sent_total).min(fcgi::MAX_CONTENT as u64);
            let header = fcgi::record_header(
                RecordType::Stdout,
                self.fcgi_id,
                u16::try_from(n).unwrap_or(u16::MAX),
            );
            self.flush_fcgi(&[], &header, u)?;
            let sent = sock::sendfile_all(&*sock, file, offset, n, self.timeout, u)
                .inspect_err(|_| self.must_close = true)?;
            self.body_bytes += sent;
            self.wire_bytes += sent;
            sent_total += sent;
            offset += sent as i64;
            if sent < n {
                // The file shrank under us: the record we announced is short; the framing is lost.
                self.must_close = true;
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shorter than announced",
                ));
            }
        }
        Ok(sent_total)
    }

    /// The worker gathers this connection's writes ([`Self::set_defer`]) and every body byte the
    /// head announced is in (or none may follow it: HEAD, 204, 304): the rest of the app's
    /// iterable can add nothing, so the bytes may wait for [`Self::finish`] instead of being
    /// flushed item by item.
    pub fn flush_can_wait(&self) -> bool {
        if !self.defer {
            return false;
        }
        match self.framing {
            BodyFraming::None => self.head_committed(),
            BodyFraming::Length(n) => self.body_bytes >= n,
            _ => false,
        }
    }

    /// Let [`Self::finish`] leave a small complete response in the buffer for
    /// [`Self::flush_deferred`], instead of writing it at once. A worker that serves a poll round
    /// of several ready connections then writes their responses back to back: the peer is woken
    /// once for all of them rather than once per response, which on a VM (an inter-processor
    /// interrupt, a hypervisor exit) costs more than the response itself.
    pub fn set_defer(&mut self, on: bool) {
        self.defer = on;
    }

    /// A finished response waits in the buffer.
    pub fn has_deferred(&self) -> bool {
        self.deferred
    }

    /// Write a response [`Self::finish`] left in the buffer.
    pub fn flush_deferred(&mut self, u: &dyn Unlocker) -> io::Result<()> {
        if !self.deferred {
            return Ok(());
        }
        self.deferred = false;
        let sock = self
            .sock
            .clone()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let res = sock::write_all(&*sock, &self.out, self.timeout, u);
        self.out.clear();
        if res.is_err() {
            self.must_close = true;
        }
        res
    }

    /// End the response. Returns `Err` with `InvalidData` when the app sent fewer bytes than its
    /// Content-Length (the connection then closes so the client does not hang).
    pub fn finish(&mut self, u: &dyn Unlocker) -> io::Result<()> {
        if self.state == State::Finished {
            return Ok(());
        }
        if self.wire == Wire::FastCgi {
            return self.finish_fcgi(u);
        }
        let mut short = None;
        match self.framing {
            BodyFraming::Chunked => self.out.extend_from_slice(h1::LAST_CHUNK),
            BodyFraming::Length(n) if self.body_bytes < n => {
                short = Some((n, self.body_bytes));
                self.must_close = true;
            }
            BodyFraming::Close => self.must_close = true,
            _ => {}
        }
        if self.defer
            && short.is_none()
            && self.keep_alive
            && !self.must_close
            && self.out.len() <= GATHER
        {
            // The connection stays open and the rest of the response fits the buffer: leave it
            // for the worker to send together with the other responses of this poll round.
            self.wire_bytes += self.out.len() as u64;
            self.deferred = !self.out.is_empty();
            self.state = State::Finished;
            return Ok(());
        }
        self.flush(u)?;
        self.state = State::Finished;
        match short {
            Some((n, got)) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("response body shorter than its Content-Length ({got} of {n} bytes); closing the connection"),
            )),
            None => Ok(()),
        }
    }

    /// FastCGI: the last bytes, the empty `STDOUT` record and `END_REQUEST` in one write. A body
    /// shorter than its Content-Length gets no `END_REQUEST`: the connection closes, so the web
    /// server sees the response cut short rather than complete.
    fn finish_fcgi(&mut self, u: &dyn Unlocker) -> io::Result<()> {
        if let BodyFraming::Length(n) = self.framing {
            if self.body_bytes < n {
                self.must_close = true;
                let _ = self.flush_fcgi(&[], &[], u);
                self.state = State::Finished;
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "response body shorter than its Content-Length ({} of {n} bytes); closing the connection",
                        self.body_bytes
                    ),
                ));
            }
        }
        let mut end = [0u8; 2 * fcgi::HEADER_LEN + 8];
        let (stdout_end, end_request) = end.split_at_mut(fcgi::HEADER_LEN);
        stdout_end.copy_from_slice(&fcgi::record_header(RecordType::Stdout, self.fcgi_id, 0));
        end_request.copy_from_slice(&fcgi::end_request(
            self.fcgi_id,
            0,
            ProtocolStatus::RequestComplete,
        ));
        if self.defer
            && self.keep_alive
            && !self.must_close
            && self.out.len() <= GATHER
            && !self.fcgi_is_aborted()
        {
            // As for HTTP (`finish`): the whole answer, framed, waits for the worker's round.
            // GATHER is below a record's largest content, so one STDOUT record carries it.
            let mut wire = Vec::with_capacity(fcgi::HEADER_LEN + self.out.len() + end.len());
            if !self.out.is_empty() {
                let len = u16::try_from(self.out.len()).unwrap_or(u16::MAX);
                wire.extend_from_slice(&fcgi::record_header(RecordType::Stdout, self.fcgi_id, len));
                wire.extend_from_slice(&self.out);
            }
            wire.extend_from_slice(&end);
            self.wire_bytes += wire.len() as u64;
            self.out = wire;
            self.deferred = true;
            self.state = State::Finished;
            self.fcgi_ended = true;
            return Ok(());
        }
        self.flush_fcgi(&[], &end, u)?;
        self.state = State::Finished;
        self.fcgi_ended = true;
        Ok(())
    }

    /// A complete response of our own (errors): replaces anything not yet committed.
    pub fn simple(
        &mut self,
        code: u16,
        reason: &str,
        body: &[u8],
        u: &dyn Unlocker,
    ) -> io::Result<()> {
        let status = format!("{code} {reason}");
        self.must_close = true;
        self.start(status.as_bytes(), code);
        self.header(b"Content-Type", b"text/plain; charset=utf-8");
        let mut len = itoa::Buffer::new();
        self.header(b"Content-Length", len.format(body.len()).as_bytes());
        self.commit();
        self.write(body, u)?;
        self.finish(u)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::app::NoLock;

    fn pair() -> (Arc<Socket>, UnixStream) {
        let (a, b) = UnixStream::pair().expect("socketpair");
        a.set_nonblocking(true).expect("nonblocking");
        b.set_nonblocking(true).expect("nonblocking");
        (Arc::new(Socket::from(a)), b)
    }

    /// What the peer can read right now.
    fn available(peer: &mut UnixStream) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = peer.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    fn respond(w: &mut ResponseWriter, keep_alive: bool, body: &[u8]) -> io::Result<()> {
        w.begin(Version::Http11, false, keep_alive, b"Date: x\r\n");
        w.start(b"200 OK", 200);
        w.header(b"Content-Length", body.len().to_string().as_bytes());
        w.commit();
        w.write(body, &NoLock)?;
        w.finish(&NoLock)
    }

    /// A writer with a committed `200 OK` head (and this Content-Length), keep-alive.
    fn head(content_length: Option<&[u8]>) -> (ResponseWriter, UnixStream) {
        let (sock, peer) = pair();
        let mut w = ResponseWriter::new(sock, Duration::from_secs(5), "ferrocorn");
        w.begin(Version::Http11, false, true, b"Date: x\r\n");
        w.start(b"200 OK", 200);
        if let Some(n) = content_length {
            w.header(b"Content-Length", n);
        }
        assert!(
            !w.can_hold_pieces(),
            "nothing may be held before the head is committed"
        );
        w.commit();
        (w, peer)
    }

    #[test]
    fn write_pieces_sends_held_pieces_in_order_cut_at_the_content_length() {
        let (mut w, mut peer) = head(Some(b"10"));
        assert!(w.can_hold_pieces());
        w.write(b"ab", &NoLock).expect("write");
        assert_eq!(w.body_left(), Some(8));
        // The head and "ab" are still buffered: they go first, then the pieces, cut at 10 bytes.
        w.write_pieces(&[b"cde", b"fgh", b"ijkl"], &NoLock)
            .expect("write_pieces");
        assert_eq!(w.body_left(), Some(0));
        assert!(!w.can_hold_pieces(), "the body is complete");
        w.finish(&NoLock).expect("finish");
        let wire = available(&mut peer);
        assert!(
            wire.starts_with(b"HTTP/1.1 200 OK\r\n") && wire.ends_with(b"\r\n\r\nabcdefghij"),
            "{:?}",
            String::from_utf8_lossy(&wire)
        );
    }

    #[test]
    fn pieces_are_not_held_without_a_content_length() {
        let (mut w, mut peer) = head(None);
        assert!(!w.can_hold_pieces() && w.body_left().is_none());
        // Still correct if called: each piece is chunk-framed like a write.
        w.write_pieces(&[b"ab", b"c"], &NoLock)
            .expect("write_pieces");
        w.finish(&NoLock).expect("finish");
        let wire = available(&mut peer);
        assert!(
            wire.ends_with(b"2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"),
            "{:?}",
            String::from_utf8_lossy(&wire)
        );
    }

    #[test]
    fn deferred_response_waits_for_flush_deferred() {
        let (sock, mut peer) = pair();
        let mut w = ResponseWriter::new(sock, Duration::from_secs(5), "ferrocorn");
        w.set_defer(true);
        respond(&mut w, true, b"hello").expect("respond");
        assert!(w.has_deferred() && w.keep_alive());
        assert!(
            available(&mut peer).is_empty(),
            "nothing written before the flush"
        );
        w.flush_deferred(&NoLock).expect("flush");
        assert!(!w.has_deferred());
        let wire = available(&mut peer);
        assert!(wire.starts_with(b"HTTP/1.1 200 OK\r\n") && wire.ends_with(b"\r\n\r\nhello"));
        // A second flush writes nothing more.
        w.flush_deferred(&NoLock).expect("flush");
        assert!(available(&mut peer).is_empty());
    }

    #[test]
    fn closing_or_undeferred_responses_go_out_at_once() {
        let (sock, mut peer) = pair();
        let mut w = ResponseWriter::new(sock, Duration::from_secs(5), "ferrocorn");
        w.set_defer(false);
        respond(&mut w, true, b"one").expect("respond");
        assert!(!w.has_deferred());
        assert!(available(&mut peer).ends_with(b"one"));
        // The connection closes after this one: nothing is left behind for a round.
        w.set_defer(true);
        respond(&mut w, false, b"two").expect("respond");
        assert!(!w.has_deferred());
        assert!(available(&mut peer).ends_with(b"two"));
    }

    #[test]
    fn next_request_never_drops_a_deferred_response() {
        let (sock, mut peer) = pair();
        let mut w = ResponseWriter::new(sock, Duration::from_secs(5), "ferrocorn");
        w.set_defer(true);
        respond(&mut w, true, b"first").expect("respond");
        respond(&mut w, true, b"second").expect("respond");
        w.flush_deferred(&NoLock).expect("flush");
        let wire = String::from_utf8(available(&mut peer)).expect("ascii");
        let first = wire.find("first").expect("first answer sent");
        let second = wire.find("second").expect("second answer sent");
        assert!(first < second, "answers in order: {wire}");
    }

    #[test]
    fn flush_can_wait_only_for_a_complete_body_when_gathering() {
        let (sock, _peer) = pair();
        let mut w = ResponseWriter::new(sock, Duration::from_secs(5), "ferrocorn");
        for defer in [false, true] {
            w.set_defer(defer);
            w.begin(Version::Http11, false, true, b"Date: x\r\n");
            w.start(b"200 OK", 200);
            w.header(b"Content-Length", b"10");
            w.commit();
            w.write(b"01234", &NoLock).expect("write");
            assert!(!w.flush_can_wait(), "half the body is in");
            w.write(b"56789", &NoLock).expect("write");
            assert_eq!(w.flush_can_wait(), defer);
            w.finish(&NoLock).expect("finish");
            w.flush_deferred(&NoLock).expect("flush");
        }
        // A chunked body can always grow: each item is flushed.
        w.set_defer(true);
        w.begin(Version::Http11, false, true, b"Date: x\r\n");
        w.start(b"200 OK", 200);
        w.commit();
        w.write(b"data", &NoLock).expect("write");
        assert!(!w.flush_can_wait());
    }
}
