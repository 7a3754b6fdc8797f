//! The HTTP/1.1 front end: turns bytes on a connection into [`Exchange`]s for the app, one request
//! at a time, in order (pipelining), and answers bad input itself with the right 4xx.

use std::io;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use ferrocorn_proto::http1::{
    self as h1, BodyKind, ChunkedDecoder, HttpError, Parsed, RequestHead, Version,
};
use ferrocorn_proto::proxy::{
    parse_proxy_header, sniff_proxy_header, ProxyParse, ProxySniff, V2_MAX_LEN,
};
use socket2::Socket;

use crate::app::{Exchange, Field, Handler, HeaderStyle, Outcome, Unlocker};
use crate::body::{BodyReader, Framing};
use crate::conn_info::ConnInfo;
use crate::front::{self, After, ServeSettings, ThreadCtx};
use crate::log;
use crate::proxy;
use crate::response::ResponseWriter;

/// A PROXY header from a peer not in `proxy_allow_ips`.
const PROXY_NOT_ALLOWED: HttpError = HttpError::new(400, "PROXY header not allowed from this peer");

/// A bigger body than this left unread by the app is not drained: the connection closes instead.
const DRAIN_LIMIT: u64 = 1 << 20;

/// Run the chunked framing already buffered through a throw-away decoder, to refuse a malformed or
/// oversized body before the app sees the request. Data arriving later is checked as it is read.
fn precheck_chunked(buf: &[u8], max_body: u64) -> Result<(), HttpError> {
    let mut d = ChunkedDecoder::new(max_body);
    let mut pos = 0;
    while pos < buf.len() {
        let step = d.decode(&buf[pos..])?;
        pos += step.consumed;
        if step.done || step.consumed == 0 {
            break;
        }
    }
    Ok(())
}

/// One HTTP/1.1 connection's state, reused for all its requests.
pub struct Conn {
    pub ex: Exchange,
    parsed: RequestHead,
    /// When the first byte of the head being received arrived (header-timeout clock).
    head_started: Option<Instant>,
    pub requests: u64,
    /// The PROXY protocol is on and the connection's first bytes have not been looked at yet.
    proxy_pending: bool,
}

impl Conn {
    pub fn new(sock: Socket, info: ConnInfo, s: &ServeSettings) -> Self {
        let sock = Arc::new(sock);
        Conn {
            ex: Exchange::new(
                BodyReader::new(sock.clone(), s.client_timeout),
                ResponseWriter::new(sock, s.client_timeout, &s.server_header),
                info,
            ),
            parsed: RequestHead::default(),
            head_started: Some(Instant::now()),
            requests: 0,
            proxy_pending: s.proxy.protocol.is_some(),
        }
    }

    /// Serve whatever the connection has: complete requests are answered in order; returns when the
    /// connection must wait for the client or close.
    pub fn drive(
        &mut self,
        h: &mut dyn Handler,
        ctx: &mut ThreadCtx,
        s: &ServeSettings,
        stopping: &dyn Fn() -> bool,
    ) -> After {
        loop {
            if self.ex.body.has_buffered() {
                if self.head_started.is_none() {
                    self.head_started = Some(Instant::now());
                }
                if self.proxy_pending {
                    if let Err(e) = self.take_proxy_header(s) {
                        self.reject(&e, h, ctx);
                        return After::Close;
                    }
                }
            }
            // Trust was decided at accept: pick the limits once per head, not per header.
            let limits = if self.ex.info.trusted {
                &s.trusted_limits
            } else {
                &s.limits
            };
            if !self.proxy_pending && self.ex.body.has_buffered() {
                match h1::parse_head(self.ex.body.buffer_mut(), limits, &mut self.parsed) {
                    Ok(Parsed::Complete) => {
                        self.head_started = None;
                        if self.serve_one(h, ctx, s) == Outcome::Close || stopping() {
                            return After::Close;
                        }
                        if !self.ex.body.has_buffered() {
                            // Nothing pipelined: let the poller tell us when the next request comes.
                            return After::Wait(Instant::now() + s.keepalive);
                        }
                        // Pipelined requests are answered in order: this response goes first.
                        let u: &dyn Unlocker = h;
                        if self.ex.resp.flush_deferred(u).is_err() {
                            return After::Close;
                        }
                        continue;
                    }
                    Ok(Parsed::Partial) => {}
                    Err(e) => {
                        self.reject(&e, h, ctx);
                        return After::Close;
                    }
                }
            }
            // A v2 PROXY header may be longer than the largest head the limits allow.
            let max = if self.proxy_pending {
                s.max_head.max(V2_MAX_LEN)
            } else {
                s.max_head
            };
            match self.ex.body.fill_nonblocking(max) {
                Ok(0) => {
                    if self.ex.body.has_buffered() && self.ex.body.is_full() {
                        self.reject(
                            &HttpError {
                                status: 431,
                                reason: "Request Header Fields Too Large",
                            },
                            h,
                            ctx,
                        );
                    }
                    return After::Close;
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return After::Wait(match self.head_started {
                        Some(t) => t + s.header_timeout,
                        None => Instant::now() + s.keepalive,
                    });
                }
                Err(_) => return After::Close,
            }
        }
    }

    /// Look for a PROXY header at the start of the connection and cut it off, adopting its
    /// addresses. Leaves `proxy_pending` set while more bytes are needed to tell.
    fn take_proxy_header(&mut self, s: &ServeSettings) -> Result<(), HttpError> {
        let Some(versions) = s.proxy.protocol else {
            self.proxy_pending = false;
            return Ok(());
        };
        let buf = self.ex.body.buffer();
        if !self.ex.info.proxy_allowed {
            // Only a prefix compare: a header from a peer not in proxy_allow_ips is refused unread.
            match sniff_proxy_header(buf, versions) {
                ProxySniff::Partial => {}
                ProxySniff::Absent => self.proxy_pending = false,
                ProxySniff::Present => return Err(PROXY_NOT_ALLOWED),
            }
            return Ok(());
        }
        match parse_proxy_header(buf, versions)? {
            ProxyParse::Partial => {}
            ProxyParse::Absent => self.proxy_pending = false,
            ProxyParse::Header(header) => {
                self.proxy_pending = false;
                // Stored on the connection, so every keep-alive request sees these addresses.
                proxy::adopt_proxy_header(Arc::make_mut(&mut self.ex.info), &header, &s.proxy);
                self.ex.body.begin(header.len, Framing::Empty, false);
                self.ex.body.finish();
            }
        }
        Ok(())
    }

    /// Answer a request we refused to parse, then the connection closes.
    fn reject(&mut self, e: &HttpError, h: &mut dyn Handler, ctx: &mut ThreadCtx) {
        log::debug(&format!("rejected request: {} {}", e.status, e.reason));
        let resp = &mut self.ex.resp;
        resp.begin(
            Version::Http11,
            false,
            false,
            ctx.dates.header_line(SystemTime::now()),
        );
        let body = format!("{}\n", e.reason);
        let u: &dyn Unlocker = h;
        let _ = resp.simple(e.status, e.reason, body.as_bytes(), u);
    }

    fn serve_one(
        &mut self,
        h: &mut dyn Handler,
        ctx: &mut ThreadCtx,
        s: &ServeSettings,
    ) -> Outcome {
        // Only trusted front ends' headers count; everyone else's skip this branch.
        if self.ex.info.trusted && s.proxy.reads_headers() {
            let info = &self.ex.info;
            match proxy::read_forwarded(
                &s.proxy,
                info.follow_forwarded_for,
                info.scheme,
                &self.parsed,
                self.ex.body.buffer(),
            ) {
                Ok(f) => {
                    if f.client != info.forwarded || f.scheme != info.url_scheme {
                        let info = Arc::make_mut(&mut self.ex.info);
                        info.forwarded = f.client;
                        info.url_scheme = f.scheme;
                    }
                }
                Err(e) => {
                    self.reject(&e, h, ctx);
                    return Outcome::Close;
                }
            }
        }
        let p = &self.parsed;
        let span = |sp: h1::Span| (sp.start, sp.end);
        let head = &mut self.ex.head;
        head.method = span(p.method);
        head.raw_uri = span(p.target);
        head.path = span(p.path);
        head.query = span(p.query);
        head.protocol = match p.version {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        };
        head.style = Some(HeaderStyle::Http);
        head.path_decoded = false;
        head.script_name = (0, 0);
        head.fields.clear();
        head.fields.extend(p.headers.iter().map(|f| Field {
            name: span(f.name),
            value: span(f.value),
        }));
        let (framing, content_length) = match p.body {
            BodyKind::Empty => (Framing::Empty, None),
            BodyKind::Length(0) => (Framing::Empty, Some(0)),
            BodyKind::Length(n) => (Framing::Length { remaining: n }, Some(n)),
            BodyKind::Chunked => (
                Framing::Chunked {
                    decoder: Box::new(ChunkedDecoder::new(s.limits.max_body)),
                    pending: 0..0,
                    done: false,
                },
                None,
            ),
        };
        head.content_length = content_length;
        if matches!(p.body, BodyKind::Chunked) {
            // Bad framing that arrived with the head is refused before the app is called.
            let buffered = self.ex.body.buffer().get(p.head_len..).unwrap_or(&[]);
            if let Err(e) = precheck_chunked(buffered, s.limits.max_body) {
                self.reject(&e, h, ctx);
                return Outcome::Close;
            }
        }
        let is_head = self
            .ex
            .body
            .buffer()
            .get(p.method.start as usize..p.method.end as usize)
            == Some(b"HEAD");
        self.ex.body.begin(p.head_len, framing, p.expect_continue);
        self.ex.resp.begin(
            p.version,
            is_head,
            p.keep_alive,
            ctx.dates.header_line(SystemTime::now()),
        );
        self.ex.resp.set_defer(ctx.defer_writes);

        let outcome = front::run_app(&mut self.ex, h, ctx, s);
        self.requests += 1;
        if outcome == Outcome::Close || !self.ex.resp.keep_alive() {
            return Outcome::Close;
        }
        if !self.ex.body.is_complete() {
            let small = self
                .ex
                .body
                .remaining_hint()
                .is_some_and(|r| r <= DRAIN_LIMIT);
            let u: &dyn Unlocker = h;
            if !small || !self.ex.body.drain(DRAIN_LIMIT, u) {
                return Outcome::Close;
            }
        }
        self.ex.body.finish();
        Outcome::Done
    }
}
