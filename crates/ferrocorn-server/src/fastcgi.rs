//! The FastCGI front end (nginx `fastcgi_pass`, Apache `mod_proxy_fcgi` and `mod_fcgid`,
//! `cgi-fcgi`): the Responder role, one request at a time per connection.
//!
//! The head (`BEGIN_REQUEST` and the params) is parsed in the connection's buffer by
//! [`ferrocorn_proto::fastcgi::HeadParser`]; the params are CGI variables, mapped by the same code
//! as uwsgi's ([`crate::cgi`]). The body is read from `STDIN` records by the body reader, the
//! response goes out as a CGI response in `STDOUT` records ([`Wire::FastCgi`]) ended by
//! `END_REQUEST`. With `FCGI_KEEP_CONN` the connection then waits for the next request (the web
//! server decides when it closes); without, it closes.
//!
//! What the web server may send besides requests is answered here or by the body reader:
//! `GET_VALUES` (the server's real concurrency, `FCGI_MPXS_CONNS` 0), unknown management records
//! (`UNKNOWN_TYPE`), a `BEGIN_REQUEST` for a second id while one is served (`CANT_MPX_CONN`),
//! roles other than Responder (`UNKNOWN_ROLE`), and `ABORT_REQUEST` (the request ends with
//! `END_REQUEST`; the app's iterable is still closed). Anything malformed closes the connection
//! with a log line; the worker goes on.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferrocorn_proto::fastcgi::{
    self as fcgi, Control, FcgiError, HeadParser, HeadStatus, Limits, ProtocolStatus, RequestHead,
};
use socket2::Socket;

use crate::app::{Exchange, Handler, Outcome, Unlocker};
use crate::body::{BodyError, BodyReader, FcgiLink, Framing};
use crate::cgi;
use crate::conn_info::ConnInfo;
use crate::front::{self, After, ServeSettings, ThreadCtx};
use crate::log;
use crate::response::{ResponseWriter, Wire};
use crate::sock;

/// An unread request body up to this size is read and dropped after the response (so the
/// connection can be reused, or closed without resetting a response the web server is reading).
const DRAIN_LIMIT: u64 = 1 << 20;

/// Between requests a KEEP_CONN connection belongs to the web server (spec §3.5: it decides when
/// to close); ferrocorn closes one only on a graceful stop or after this much silence.
const KEEP_CONN_IDLE: Duration = Duration::from_secs(3600);

/// What the connection, its body reader and its response writer know about the current request.
#[derive(Debug, Default)]
pub struct RequestFlags {
    /// The web server aborted it (`ABORT_REQUEST`): nothing more is written for it.
    pub aborted: AtomicBool,
    /// Its `STDIN` stream has ended: the connection's next bytes start a record.
    pub stdin_done: AtomicBool,
}

/// One FastCGI connection's state, reused for all its requests.
pub struct Conn {
    pub ex: Exchange,
    parser: HeadParser,
    parsed: RequestHead,
    /// When the first byte of the head being received arrived (header-timeout clock).
    head_started: Option<Instant>,
    pub requests: u64,
    /// The current request's flags, shared with the body reader and the response writer.
    flags: Arc<RequestFlags>,
    /// The web server's address, for log lines (the connection info takes the client's).
    peer: String,
}

impl Conn {
    pub fn new(sock: Socket, info: ConnInfo, s: &ServeSettings) -> Self {
        let sock = Arc::new(sock);
        let mut resp = ResponseWriter::new(sock.clone(), s.client_timeout, &s.server_header);
        resp.set_wire(Wire::FastCgi);
        let peer = if info.remote_addr.is_empty() {
            "a Unix-socket peer".to_string()
        } else {
            info.remote_addr.clone()
        };
        Conn {
            ex: Exchange::new(BodyReader::new(sock, s.client_timeout), resp, info),
            parser: HeadParser::new(limits(s)),
            parsed: RequestHead::default(),
            head_started: Some(Instant::now()),
            requests: 0,
            flags: Arc::new(RequestFlags::default()),
            peer,
        }
    }

    /// Serve whatever the connection has; returns when it must wait for the web server or close.
    pub fn drive(
        &mut self,
        h: &mut dyn Handler,
        ctx: &mut ThreadCtx,
        s: &ServeSettings,
        stopping: &dyn Fn() -> bool,
    ) -> After {
        let max_head = limits(s).max_head();
        loop {
            if self.ex.body.has_buffered() {
                if self.head_started.is_none() {
                    self.head_started = Some(Instant::now());
                }
                match self
                    .parser
                    .parse(self.ex.body.buffer_mut(), &mut self.parsed)
                {
                    Ok(HeadStatus::Complete) => {
                        self.head_started = None;
                        if !self.serve_one(h, ctx, s) || stopping() {
                            return After::Close;
                        }
                        if !self.ex.body.has_buffered() {
                            return After::Wait(Instant::now() + KEEP_CONN_IDLE.max(s.keepalive));
                        }
                        // The next request's records are here: this answer goes out first.
                        let u: &dyn Unlocker = h;
                        if self.ex.resp.flush_deferred(u).is_err() {
                            return After::Close;
                        }
                        continue;
                    }
                    Ok(HeadStatus::Control(c)) => {
                        if !self.answer(c, h, s) {
                            return After::Close;
                        }
                        continue;
                    }
                    Ok(HeadStatus::Partial) => {}
                    Err(e) => {
                        self.refuse(&e);
                        return After::Close;
                    }
                }
            }
            match self.ex.body.fill_nonblocking(max_head) {
                // The web server closed (or the buffer is full, which the parser's own limit
                // reports first).
                Ok(0) => return After::Close,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return After::Wait(match self.head_started {
                        Some(t) => t + s.header_timeout,
                        None => Instant::now() + KEEP_CONN_IDLE.max(s.keepalive),
                    });
                }
                Err(_) => return After::Close,
            }
        }
    }

    /// Log why the connection's bytes cannot be served (the caller closes it).
    fn refuse(&self, e: &FcgiError) {
        let buf = self.ex.body.buffer();
        // `GET /...`: an HTTP method, then a space.
        let word = buf.iter().take_while(|b| b.is_ascii_uppercase()).count();
        let hint = if matches!(e, FcgiError::UnsupportedVersion(_))
            && word >= 3
            && buf.get(word) == Some(&b' ')
        {
            " (this looks like HTTP: serve HTTP with -b / http-socket)"
        } else {
            ""
        };
        log::info(&format!("fastcgi: {e} from {}; closing{hint}", self.peer));
    }

    /// Answer a record that came before or between requests. False: the connection must close.
    fn answer(&mut self, c: Control, h: &mut dyn Handler, s: &ServeSettings) -> bool {
        let mut out = Vec::with_capacity(64);
        let keep = match c {
            Control::Abort {
                request_id,
                keep_conn,
            } => {
                log::debug(&format!(
                    "fastcgi: request {request_id} aborted by {} before it started",
                    self.peer
                ));
                fcgi::push_end_request(&mut out, request_id, 0, ProtocolStatus::RequestComplete);
                keep_conn
            }
            other => {
                answer_control(other, &s.fastcgi_values, &mut out);
                true
            }
        };
        let u: &dyn Unlocker = h;
        self.write_raw(&out, u, s) && keep
    }

    fn write_raw(&self, bytes: &[u8], u: &dyn Unlocker, s: &ServeSettings) -> bool {
        match self.ex.body.socket() {
            Some(sock) => sock::write_all(&**sock, bytes, s.client_timeout, u).is_ok(),
            None => false,
        }
    }

    /// Serve the request whose head was just parsed. False: close the connection.
    fn serve_one(&mut self, h: &mut dyn Handler, ctx: &mut ThreadCtx, s: &ServeSettings) -> bool {
        let request_id = self.parsed.request_id;
        let keep_conn = self.parsed.keep_conn;
        let decoder = self.parser.take_stdin();
        let buf = self.ex.body.buffer();
        let params = self.parsed.params.iter().map(|p| (p.name, p.value));
        let m = match cgi::map_vars(buf, params, false, &mut self.ex.head, &mut self.ex.info) {
            Ok(m) => m,
            Err(e) => {
                log::info(&format!(
                    "fastcgi: request without a usable {} from {}; closing",
                    match e {
                        cgi::CgiError::NoMethod => "REQUEST_METHOD".to_string(),
                        cgi::CgiError::BadContentLength(v) => format!("CONTENT_LENGTH ({v:?})"),
                    },
                    self.peer
                ));
                return false;
            }
        };
        self.flags.aborted.store(false, Ordering::Relaxed);
        self.flags.stdin_done.store(false, Ordering::Relaxed);
        let resp = &mut self.ex.resp;
        resp.begin(
            m.version,
            m.is_head,
            keep_conn,
            ctx.dates.header_line(SystemTime::now()),
        );
        resp.set_fcgi_request(request_id, self.flags.clone());
        resp.set_defer(ctx.defer_writes);
        let u: &dyn Unlocker = h;
        let max_body = s.limits.max_body;
        if let Some(n) = m.content_length.filter(|&n| max_body != 0 && n > max_body) {
            log::info(&format!(
                "fastcgi: request body of {n} bytes is over limit_request_body ({max_body})"
            ));
            let _ = resp.simple(413, "Content Too Large", b"Content Too Large\n", u);
            return false;
        }
        let framing = Framing::FastCgi {
            decoder: Box::new(decoder),
            pending: 0..0,
            done: false,
            link: Arc::new(FcgiLink {
                values: s.fastcgi_values,
                flags: self.flags.clone(),
            }),
        };
        self.ex.body.begin(self.parsed.head_len, framing, false);
        // What came with the head (often the whole, empty, body) is decoded now: an app that
        // never reads the body can then still notice an ABORT_REQUEST while it streams.
        if let Err(e) = self.ex.body.prime_fastcgi(u) {
            if !self.flags.aborted.load(Ordering::Relaxed) {
                log::info(&format!("fastcgi: {e} from {}; closing", self.peer));
                if let BodyError::Protocol(code, reason) = e {
                    let _ = self
                        .ex
                        .resp
                        .simple(code, reason, format!("{reason}\n").as_bytes(), u);
                }
                return false;
            }
        }
        let outcome = if self.flags.aborted.load(Ordering::Relaxed) {
            Outcome::Close
        } else {
            front::run_app(&mut self.ex, h, ctx, s)
        };
        self.requests += 1;
        let u: &dyn Unlocker = h;
        if self.flags.aborted.load(Ordering::Relaxed) {
            // The web server gave up on the request: end it (it may have had part of a response).
            log::debug(&format!(
                "fastcgi: request {request_id} aborted by {}",
                self.peer
            ));
            let end = fcgi::end_request(request_id, 0, ProtocolStatus::RequestComplete);
            if !self.write_raw(&end, u, s) || !keep_conn {
                return false;
            }
            // What is left of its records belongs to an inactive request: the next head's
            // parser skips them.
            self.ex.body.finish();
            return true;
        }
        if !self.ex.resp.fcgi_ended() {
            // The app failed after the response started, or the web server went away: close
            // without END_REQUEST, so the response is seen cut short.
            return false;
        }
        let reuse = outcome == Outcome::Done && self.ex.resp.keep_alive();
        if !self.ex.body.is_complete() && !self.ex.body.drain(DRAIN_LIMIT, u) {
            return false;
        }
        if !reuse {
            return false;
        }
        self.ex.body.finish();
        true
    }
}

/// The answer to a management record or a refused `BEGIN_REQUEST`, appended to `out` (an abort
/// is the caller's to handle: it ends the request being served).
pub fn answer_control(c: Control, values: &fcgi::Values, out: &mut Vec<u8>) {
    match c {
        Control::GetValues(q) => fcgi::push_get_values_result(out, q, values),
        Control::UnknownType(t) => {
            log::debug(&format!("fastcgi: unknown management record type {t}"));
            fcgi::push_unknown_type(out, t)
        }
        Control::Refuse { request_id, status } => {
            log::info(&format!(
                "fastcgi: refused request {request_id}: {}",
                match status {
                    ProtocolStatus::CantMpxConn =>
                        "one request at a time per connection (FCGI_CANT_MPX_CONN)",
                    _ => "only the Responder role is served (FCGI_UNKNOWN_ROLE)",
                }
            ));
            fcgi::push_end_request(out, request_id, 0, status)
        }
        Control::Abort { request_id, .. } => {
            fcgi::push_end_request(out, request_id, 0, ProtocolStatus::RequestComplete)
        }
    }
}

/// The codec's limits from the settings.
fn limits(s: &ServeSettings) -> Limits {
    Limits {
        max_params: s.fastcgi_max_params,
        max_body: s.limits.max_body,
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use ferrocorn_proto::fastcgi::{record_header, RecordType, Values, ValuesQuery};
    use ferrocorn_proto::http1::Version;

    use super::*;
    use crate::app::NoLock;

    fn pair() -> (Arc<Socket>, UnixStream) {
        let (a, b) = UnixStream::pair().expect("socketpair");
        a.set_nonblocking(true).expect("nonblocking");
        (Arc::new(Socket::from(a)), b)
    }

    /// Every record in `wire`: (type, id, content).
    fn records(mut wire: &[u8]) -> Vec<(u8, u16, Vec<u8>)> {
        let mut out = Vec::new();
        while wire.len() >= 8 {
            let h = fcgi::Header::decode(&wire[..8].try_into().expect("8 bytes"));
            let end = 8 + h.content_length as usize + h.padding_length as usize;
            out.push((
                h.kind,
                h.request_id,
                wire[8..8 + h.content_length as usize].to_vec(),
            ));
            wire = &wire[end..];
        }
        assert!(wire.is_empty(), "trailing bytes");
        out
    }

    fn writer(sock: Arc<Socket>, id: u16) -> ResponseWriter {
        let mut w = ResponseWriter::new(sock, Duration::from_secs(5), "ferrocorn");
        w.set_wire(Wire::FastCgi);
        w.begin(Version::Http11, false, true, b"Date: x\r\n");
        w.set_fcgi_request(id, Arc::new(RequestFlags::default()));
        w
    }

    /// Everything the peer receives until the writer side closes, read on another thread.
    fn drain(mut peer: UnixStream) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut wire = Vec::new();
            peer.read_to_end(&mut wire).expect("read");
            wire
        })
    }

    #[test]
    fn cgi_response_in_stdout_records_with_sendfile() {
        let (sock, peer) = pair();
        let reader = drain(peer);
        let mut w = writer(sock, 7);
        let mut file = tempfile_with(&[b'f'; 150_000]);
        w.start(b"201 Created", 201);
        w.header(b"Content-Type", b"text/plain");
        w.header(b"Connection", b"close");
        w.commit();
        let big = vec![b'b'; 200_000];
        assert_eq!(w.write(b"small ", &NoLock).expect("write"), 6);
        assert_eq!(w.write(&big, &NoLock).expect("write"), big.len());
        assert_eq!(
            w.send_file(&file, 0, 150_000, &NoLock).expect("sendfile"),
            150_000
        );
        assert_eq!(w.write(b" tail", &NoLock).expect("write"), 5);
        w.finish(&NoLock).expect("finish");
        assert!(w.fcgi_ended() && w.keep_alive());
        drop(w);
        let wire = reader.join().expect("reader");
        let recs = records(&wire);
        let (last, rest) = recs.split_last().expect("records");
        assert_eq!(
            last,
            &(
                RecordType::EndRequest as u8,
                7,
                vec![0, 0, 0, 0, 0, 0, 0, 0]
            )
        );
        let (empty, stdout) = rest.split_last().expect("records");
        assert_eq!(empty, &(RecordType::Stdout as u8, 7, vec![]));
        assert!(stdout
            .iter()
            .all(|r| r.0 == RecordType::Stdout as u8 && r.1 == 7 && !r.2.is_empty()));
        assert!(stdout.iter().all(|r| r.2.len() <= fcgi::MAX_CONTENT));
        let body: Vec<u8> = stdout.iter().flat_map(|r| r.2.clone()).collect();
        let mut expect = b"Status: 201 Created\r\nContent-Type: text/plain\r\n\r\nsmall ".to_vec();
        expect.extend_from_slice(&big);
        expect.extend_from_slice(&[b'f'; 150_000]);
        expect.extend_from_slice(b" tail");
        assert_eq!(body.len(), expect.len());
        assert!(body == expect, "the CGI response differs");
        file.flush().expect("flush");
    }

    #[test]
    fn short_body_gets_no_end_request() {
        let (sock, mut peer) = pair();
        let mut w = writer(sock, 1);
        w.start(b"200 OK", 200);
        w.header(b"Content-Length", b"10");
        w.commit();
        w.write(b"abc", &NoLock).expect("write");
        assert!(w.finish(&NoLock).is_err());
        assert!(!w.fcgi_ended() && !w.keep_alive());
        drop(w);
        let mut wire = Vec::new();
        peer.read_to_end(&mut wire).expect("read");
        let recs = records(&wire);
        assert!(recs.iter().all(|r| r.0 == RecordType::Stdout as u8));
        assert!(!recs.iter().any(|r| r.2.is_empty()));
    }

    #[test]
    fn gathered_answer_is_the_same_records_written_later() {
        let (sock, mut peer) = pair();
        peer.set_nonblocking(true).expect("nonblocking");
        let mut w = writer(sock, 9);
        w.set_defer(true);
        w.start(b"200 OK", 200);
        w.header(b"Content-Length", b"5");
        w.commit();
        w.write(b"hello", &NoLock).expect("write");
        w.finish(&NoLock).expect("finish");
        assert!(w.has_deferred() && w.fcgi_ended() && w.keep_alive());
        let mut early = [0u8; 64];
        assert!(
            peer.read(&mut early).is_err(),
            "nothing is written before the flush"
        );
        w.flush_deferred(&NoLock).expect("flush");
        drop(w);
        peer.set_nonblocking(false).expect("blocking");
        let mut wire = Vec::new();
        peer.read_to_end(&mut wire).expect("read");
        let recs = records(&wire);
        let kinds: Vec<u8> = recs.iter().map(|r| r.0).collect();
        assert_eq!(
            kinds,
            [
                RecordType::Stdout as u8,
                RecordType::Stdout as u8,
                RecordType::EndRequest as u8
            ]
        );
        assert!(recs.iter().all(|r| r.1 == 9));
        assert_eq!(
            recs[0].2,
            b"Status: 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        );
        assert!(recs[1].2.is_empty());
    }

    #[test]
    fn head_response_is_the_head_then_the_end() {
        let (sock, mut peer) = pair();
        let mut w = writer(sock, 2);
        w.begin(Version::Http11, true, true, b"Date: x\r\n");
        w.set_fcgi_request(2, Arc::new(RequestFlags::default()));
        w.start(b"200 OK", 200);
        w.header(b"Content-Length", b"5");
        w.commit();
        w.write(b"hello", &NoLock).expect("write");
        w.finish(&NoLock).expect("finish");
        drop(w);
        let mut wire = Vec::new();
        peer.read_to_end(&mut wire).expect("read");
        let head = b"Status: 200 OK\r\nContent-Length: 5\r\n\r\n";
        let mut expect = record_header(RecordType::Stdout, 2, head.len() as u16).to_vec();
        expect.extend_from_slice(head);
        expect.extend_from_slice(&record_header(RecordType::Stdout, 2, 0));
        expect.extend_from_slice(&fcgi::end_request(2, 0, ProtocolStatus::RequestComplete));
        assert_eq!(wire, expect);
    }

    #[test]
    fn body_reader_answers_records_between_stdin_records() {
        let (sock, mut peer) = pair();
        let flags = Arc::new(RequestFlags::default());
        let mut body = BodyReader::new(sock, Duration::from_secs(5));
        let mut wire = Vec::new();
        let mut query = Vec::new();
        fcgi::push_pair(&mut query, b"FCGI_MAX_CONNS", b"");
        fcgi::push_stream(&mut wire, RecordType::Stdin, 1, b"hello ");
        wire.extend_from_slice(&record_header(RecordType::GetValues, 0, query.len() as u16));
        wire.extend_from_slice(&query);
        wire.extend_from_slice(&record_header(RecordType::BeginRequest, 2, 8));
        wire.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        fcgi::push_stream(&mut wire, RecordType::Stdin, 1, b"world");
        fcgi::push_stream_end(&mut wire, RecordType::Stdin, 1);
        peer.write_all(&wire).expect("write");
        // A head parser that has just read a head: its decoder continues from there.
        let mut head_wire = Vec::new();
        head_wire.extend_from_slice(&record_header(RecordType::BeginRequest, 1, 8));
        head_wire.extend_from_slice(&[0, 1, 1, 0, 0, 0, 0, 0]);
        fcgi::push_stream_end(&mut head_wire, RecordType::Params, 1);
        let mut parser = HeadParser::new(Limits::default());
        let mut head = RequestHead::default();
        assert_eq!(
            parser.parse(&mut head_wire, &mut head),
            Ok(HeadStatus::Complete)
        );
        let values = Values {
            max_conns: 3,
            max_reqs: 3,
            mpxs_conns: false,
        };
        body.begin(
            0,
            Framing::FastCgi {
                decoder: Box::new(parser.take_stdin()),
                pending: 0..0,
                done: false,
                link: Arc::new(FcgiLink {
                    values,
                    flags: flags.clone(),
                }),
            },
            false,
        );
        let mut got = Vec::new();
        loop {
            let piece = body.read(3, &NoLock, false).expect("read");
            if piece.is_empty() {
                break;
            }
            got.extend_from_slice(piece);
        }
        assert_eq!(got, b"hello world");
        assert!(body.is_complete() && flags.stdin_done.load(Ordering::Relaxed));
        drop(body);
        let mut answers = Vec::new();
        peer.read_to_end(&mut answers).expect("read");
        let mut expect = Vec::new();
        fcgi::push_get_values_result(
            &mut expect,
            ValuesQuery {
                max_conns: true,
                ..ValuesQuery::default()
            },
            &values,
        );
        fcgi::push_end_request(&mut expect, 2, 0, ProtocolStatus::CantMpxConn);
        assert_eq!(answers, expect);
    }

    /// A file with these bytes (unlinked; the handle keeps it).
    fn tempfile_with(bytes: &[u8]) -> std::fs::File {
        let path = std::env::temp_dir().join(format!(
            "ferrocorn-fcgi-test-{}-{}",
            std::process::id(),
            bytes.len()
        ));
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("temp file");
        f.write_all(bytes).expect("write");
        let _ = std::fs::remove_file(&path);
        f
    }
}
