//! The connection's output side: builds the response head, frames the body (Content-Length,
//! chunked, or close-delimited) and writes it with as few syscalls as possible.
//!
//! The head and small body chunks gather in one buffer, so a typical response leaves in a single
//! `write`; large chunks go out with `writev` straight from the app's buffer; files with `sendfile`.

use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use ferrocorn_proto::http1::{self as h1, Version};
use socket2::Socket;

use crate::app::Unlocker;
use crate::sock;

/// Gather small writes up to this size before sending.
const GATHER: usize = 32 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum BodyFraming {
    #[default]
    None,
    Length(u64),
    Chunked,
    /// HTTP/1.0 without Content-Length: the body ends when we close.
    Close,
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
        h1::push_status_line(
            &mut self.out,
            self.version.unwrap_or(Version::Http11),
            status,
        );
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
            if value
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

    /// Send buffered bytes now.
    pub fn flush(&mut self, u: &dyn Unlocker) -> io::Result<()> {
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

    /// End the response. Returns `Err` with `InvalidData` when the app sent fewer bytes than its
    /// Content-Length (the connection then closes so the client does not hang).
    pub fn finish(&mut self, u: &dyn Unlocker) -> io::Result<()> {
        if self.state == State::Finished {
            return Ok(());
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
