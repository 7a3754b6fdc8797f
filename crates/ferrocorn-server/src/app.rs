//! The seam between the server and the application host.
//!
//! The server knows nothing about Python: it drives sockets and protocols and hands each request to
//! an [`App`] as an [`Exchange`] (a protocol-neutral request view, a body reader, a response writer).
//! The Python crate implements [`App`]; everything that holds the GIL lives there.

use std::sync::Arc;

use crate::body::BodyReader;
use crate::conn_info::ConnInfo;
use crate::response::ResponseWriter;

/// Runs a closure with the application's execution lock released (for Python: the GIL), so the
/// thread can block on the network without stopping other threads from running Python.
pub trait Unlocker {
    fn unlocked(&self, f: &mut (dyn FnMut() + Send));
}

/// An unlocker for hosts that hold no lock (tests, pure-Rust apps).
pub struct NoLock;

impl Unlocker for NoLock {
    fn unlocked(&self, f: &mut (dyn FnMut() + Send)) {
        f()
    }
}

/// What the app did with a request, as far as the connection is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The response was written completely; the connection may be reused.
    Done,
    /// The connection must be closed (app error after the head was sent, short body, client gone).
    Close,
}

/// Per-thread request handler, created on the worker thread that uses it.
pub trait Handler: Unlocker {
    /// Serve one request. On return, `ex.body` and `ex.resp` must be back in the exchange (the
    /// server drains the rest of the body and decides keep-alive from them).
    fn handle(&mut self, ex: &mut Exchange) -> Outcome;
}

/// An application host.
pub trait App: Send + Sync + 'static {
    /// Run `body` on the current thread inside the host's context (for Python: attached to the
    /// interpreter, GIL held), giving it this thread's handler. Returns when `body` returns.
    fn run_thread(&self, body: &mut dyn FnMut(&mut dyn Handler));
}

/// How the request head's header names are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderStyle {
    /// HTTP field names (`Content-Type`), to be mapped to CGI keys by the host.
    Http,
    /// Already CGI variable names (`HTTP_HOST`, `CONTENT_TYPE`, ...), as uwsgi and FastCGI send them.
    Cgi,
}

/// A (name, value) pair as byte ranges into the exchange's buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Field {
    pub name: (u32, u32),
    pub value: (u32, u32),
}

/// Protocol-neutral request head: byte ranges into the buffer the body reader owns, so nothing is
/// copied between the parser and the environ.
#[derive(Debug, Default, Clone)]
pub struct Head {
    pub method: (u32, u32),
    pub raw_uri: (u32, u32),
    pub path: (u32, u32),
    pub query: (u32, u32),
    /// `SERVER_PROTOCOL`, e.g. `HTTP/1.1`.
    pub protocol: &'static str,
    pub fields: Vec<Field>,
    pub style: Option<HeaderStyle>,
    /// Declared body length (`CONTENT_LENGTH`), if the body is length-delimited.
    pub content_length: Option<u64>,
}

/// A protocol-neutral view of a request head, borrowed from the exchange.
pub struct Request<'a> {
    buf: &'a [u8],
    head: &'a Head,
}

fn slice(buf: &[u8], r: (u32, u32)) -> &[u8] {
    buf.get(r.0 as usize..r.1 as usize).unwrap_or(&[])
}

impl<'a> Request<'a> {
    /// A view of `head` over `buf` (the buffer the head's ranges point into).
    pub fn new(buf: &'a [u8], head: &'a Head) -> Self {
        Request { buf, head }
    }

    /// `METHOD TARGET`, for log lines.
    pub fn describe(&self) -> String {
        format!(
            "{} {}",
            String::from_utf8_lossy(self.method()),
            String::from_utf8_lossy(self.raw_uri())
        )
    }

    pub fn method(&self) -> &'a [u8] {
        slice(self.buf, self.head.method)
    }
    /// The request target exactly as sent (`RAW_URI`).
    pub fn raw_uri(&self) -> &'a [u8] {
        slice(self.buf, self.head.raw_uri)
    }
    /// The path, still percent-encoded.
    pub fn path(&self) -> &'a [u8] {
        slice(self.buf, self.head.path)
    }
    pub fn query(&self) -> &'a [u8] {
        slice(self.buf, self.head.query)
    }
    pub fn protocol(&self) -> &'static str {
        self.head.protocol
    }
    pub fn style(&self) -> HeaderStyle {
        self.head.style.unwrap_or(HeaderStyle::Http)
    }
    pub fn content_length(&self) -> Option<u64> {
        self.head.content_length
    }
    /// Header fields in arrival order.
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let buf = self.buf;
        self.head
            .fields
            .iter()
            .map(move |f| (slice(buf, f.name), slice(buf, f.value)))
    }
}

/// One request/response exchange, owned by the thread serving it.
pub struct Exchange {
    pub head: Head,
    pub body: BodyReader,
    pub resp: ResponseWriter,
    pub info: Arc<ConnInfo>,
}

impl Exchange {
    /// The request head. Read it before taking `body` out of the exchange: it borrows the body's buffer.
    pub fn request(&self) -> Request<'_> {
        Request {
            buf: self.body.buffer(),
            head: &self.head,
        }
    }
}
