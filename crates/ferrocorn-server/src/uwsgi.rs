//! The uwsgi front end (nginx `uwsgi_pass`, Apache `mod_proxy_uwsgi`): one request per
//! connection. The packet's vars are CGI variables, mapped onto the protocol-neutral [`Head`]
//! (method, URI, path, query, protocol, body length) and the connection's addresses; the rest go
//! to the environ as they are. The response is a plain HTTP response, never chunked, and the
//! connection closes after it.

use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use ferrocorn_proto::uwsgi::{parse_packet, Parsed, Var, HEADER_LEN, MODIFIER_WSGI};
use socket2::Socket;

use crate::app::{Exchange, Handler, Unlocker};
use crate::body::{BodyReader, Framing};
use crate::cgi;
use crate::conn_info::ConnInfo;
use crate::front::{self, After, ServeSettings, ThreadCtx};
use crate::log;
use crate::response::{ResponseWriter, Wire};

/// uWSGI's `UWSGI_MODIFIER_MANAGE_PATH_INFO`: nginx sent `SCRIPT_NAME` and a `PATH_INFO` that
/// still starts with it (`uwsgi_modifier1 30`); the prefix is cut from PATH_INFO.
pub const MODIFIER_MANAGE_PATH_INFO: u8 = 30;

/// An unread request body up to this size is read and dropped before closing, so the kernel does
/// not reset the connection under a response the front end has not read yet.
const DRAIN_LIMIT: u64 = 1 << 20;

/// One uwsgi connection.
pub struct Conn {
    pub ex: Exchange,
    vars: Vec<Var>,
    /// When the connection was accepted (the packet must arrive within the header timeout).
    accepted: Instant,
    pub requests: u64,
}

impl Conn {
    pub fn new(sock: Socket, info: ConnInfo, s: &ServeSettings) -> Self {
        let sock = Arc::new(sock);
        let mut resp = ResponseWriter::new(sock.clone(), s.client_timeout, &s.server_header);
        resp.set_wire(Wire::HttpOnce);
        Conn {
            ex: Exchange::new(BodyReader::new(sock, s.client_timeout), resp, info),
            vars: Vec::new(),
            accepted: Instant::now(),
            requests: 0,
        }
    }

    /// Read the packet; once it is complete, serve it and close.
    pub fn drive(&mut self, h: &mut dyn Handler, ctx: &mut ThreadCtx, s: &ServeSettings) -> After {
        loop {
            let buf = self.ex.body.buffer();
            // Refuse a packet for another handler (or not uwsgi at all) from its first byte,
            // without waiting for the block its header announces.
            if let Some(&m) = buf.first() {
                if m != MODIFIER_WSGI && m != MODIFIER_MANAGE_PATH_INFO {
                    // `GET /...`: an HTTP method, then a space.
                    let word = buf.iter().take_while(|b| b.is_ascii_uppercase()).count();
                    let what = if word >= 3 && buf.get(word) == Some(&b' ') {
                        " (this looks like HTTP: serve HTTP with -b / http-socket)".to_string()
                    } else {
                        String::new()
                    };
                    log::warning(&format!(
                        "uwsgi: modifier1 {m} requested by {}: only 0 (WSGI) and 30 are served; closing{what}",
                        self.peer()
                    ));
                    return After::Close;
                }
            }
            match parse_packet(buf, s.uwsgi_max_vars, &mut self.vars) {
                Ok(Parsed::Complete { header, body_start }) => {
                    self.serve(
                        header.modifier1 == MODIFIER_MANAGE_PATH_INFO,
                        body_start,
                        h,
                        ctx,
                        s,
                    );
                    return After::Close;
                }
                Ok(Parsed::Partial) => {}
                Err(e) => {
                    log::info(&format!("{} from {}; closing", e.reason(), self.peer()));
                    return After::Close;
                }
            }
            match self.ex.body.fill_nonblocking(HEADER_LEN + s.uwsgi_max_vars) {
                Ok(0) => return After::Close,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return After::Wait(self.accepted + s.header_timeout)
                }
                Err(_) => return After::Close,
            }
        }
    }

    fn peer(&self) -> String {
        let info = &self.ex.info;
        if info.remote_addr.is_empty() {
            "a Unix-socket peer".into()
        } else {
            info.remote_addr.clone()
        }
    }

    fn serve(
        &mut self,
        manage_path_info: bool,
        body_start: usize,
        h: &mut dyn Handler,
        ctx: &mut ThreadCtx,
        s: &ServeSettings,
    ) {
        let buf = self.ex.body.buffer();
        let vars = self.vars.iter().map(|v| (v.key, v.value));
        let m = match cgi::map_vars(
            buf,
            vars,
            manage_path_info,
            &mut self.ex.head,
            &mut self.ex.info,
        ) {
            Ok(m) => m,
            Err(cgi::CgiError::NoMethod) => {
                log::info(&format!(
                    "uwsgi: packet without REQUEST_METHOD from {}; closing",
                    self.peer()
                ));
                return;
            }
            Err(e) => {
                log::info(&format!("uwsgi: {e} from {}; closing", self.peer()));
                return;
            }
        };
        let (is_head, version, content_length) = (m.is_head, m.version, m.content_length);
        self.ex.resp.begin(
            version,
            is_head,
            false,
            ctx.dates.header_line(SystemTime::now()),
        );
        let max_body = s.limits.max_body;
        if let Some(n) = content_length.filter(|&n| max_body != 0 && n > max_body) {
            log::info(&format!(
                "uwsgi: request body of {n} bytes is over limit_request_body ({max_body})"
            ));
            let u: &dyn Unlocker = h;
            let _ = self
                .ex
                .resp
                .simple(413, "Content Too Large", b"Content Too Large\n", u);
            return;
        }
        let framing = match content_length {
            None | Some(0) => Framing::Empty,
            Some(n) => Framing::Length { remaining: n },
        };
        self.ex.body.begin(body_start, framing, false);
        front::run_app(&mut self.ex, h, ctx, s);
        self.requests += 1;
        // The front end reads the response until we close. Tell it the response is complete, then
        // read what is left of a small unread body so closing does not reset the connection.
        if let Some(sock) = self.ex.body.socket() {
            let _ = sock.shutdown(Shutdown::Write);
        }
        if !self.ex.body.is_complete()
            && self
                .ex
                .body
                .remaining_hint()
                .is_some_and(|r| r <= DRAIN_LIMIT)
        {
            let u: &dyn Unlocker = h;
            self.ex.body.drain(DRAIN_LIMIT, u);
        }
    }
}
