//! The uwsgi front end (nginx `uwsgi_pass`, Apache `mod_proxy_uwsgi`): one request per
//! connection. The packet's vars are CGI variables, mapped onto the protocol-neutral [`Head`]
//! (method, URI, path, query, protocol, body length) and the connection's addresses; the rest go
//! to the environ as they are. The response is a plain HTTP response, never chunked, and the
//! connection closes after it.

use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use ferrocorn_proto::http1::{Span, Version};
use ferrocorn_proto::uwsgi::{parse_packet, Parsed, Var, HEADER_LEN, MODIFIER_WSGI};
use socket2::Socket;

use crate::app::{Exchange, Field, Handler, Head, HeaderStyle, Unlocker};
use crate::body::{BodyReader, Framing};
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

/// The vars the server itself interprets, found in one pass.
#[derive(Default)]
struct Known {
    method: Option<Span>,
    uri: Option<Span>,
    path: Option<Span>,
    query: Option<Span>,
    script: Option<Span>,
    protocol: Option<Span>,
    content_length: Option<Span>,
    remote_addr: Option<Span>,
    remote_port: Option<Span>,
    server_name: Option<Span>,
    server_port: Option<Span>,
    https: Option<Span>,
    scheme: Option<Span>,
    request_scheme: Option<Span>,
}

fn span(s: Span) -> (u32, u32) {
    (s.start, s.end)
}

/// `SERVER_PROTOCOL` as a static string (the head keeps no owned strings).
fn protocol_name(v: &[u8]) -> &'static str {
    match v {
        b"HTTP/1.0" => "HTTP/1.0",
        b"HTTP/2.0" => "HTTP/2.0",
        b"HTTP/2" => "HTTP/2",
        b"HTTP/3.0" => "HTTP/3.0",
        b"HTTP/3" => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

impl Conn {
    pub fn new(sock: Socket, info: ConnInfo, s: &ServeSettings) -> Self {
        let sock = Arc::new(sock);
        let mut resp = ResponseWriter::new(sock.clone(), s.client_timeout, &s.server_header);
        resp.set_wire(Wire::HttpOnce);
        Conn {
            ex: Exchange {
                head: Head::default(),
                body: BodyReader::new(sock, s.client_timeout),
                resp,
                info: Arc::new(info),
            },
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
        let mut k = Known::default();
        let head = &mut self.ex.head;
        head.fields.clear();
        for v in &self.vars {
            let slot = match v.key.get(buf) {
                b"REQUEST_METHOD" => &mut k.method,
                b"REQUEST_URI" => &mut k.uri,
                b"PATH_INFO" => &mut k.path,
                b"QUERY_STRING" => &mut k.query,
                b"SCRIPT_NAME" => &mut k.script,
                b"SERVER_PROTOCOL" => &mut k.protocol,
                b"REMOTE_ADDR" => &mut k.remote_addr,
                b"REMOTE_PORT" => &mut k.remote_port,
                b"UWSGI_SCHEME" => &mut k.scheme,
                // Also passed on to the environ as they are.
                b"CONTENT_LENGTH" | b"SERVER_NAME" | b"SERVER_PORT" | b"HTTPS"
                | b"REQUEST_SCHEME" => {
                    let slot = match v.key.get(buf) {
                        b"CONTENT_LENGTH" => &mut k.content_length,
                        b"SERVER_NAME" => &mut k.server_name,
                        b"SERVER_PORT" => &mut k.server_port,
                        b"HTTPS" => &mut k.https,
                        _ => &mut k.request_scheme,
                    };
                    *slot = Some(v.value);
                    head.fields.push(Field {
                        name: span(v.key),
                        value: span(v.value),
                    });
                    continue;
                }
                _ => {
                    head.fields.push(Field {
                        name: span(v.key),
                        value: span(v.value),
                    });
                    continue;
                }
            };
            *slot = Some(v.value);
        }
        let Some(method) = k.method else {
            log::info(&format!(
                "uwsgi: packet without REQUEST_METHOD from {}; closing",
                self.peer()
            ));
            return;
        };
        let get = |s: Option<Span>| s.map(|s| s.get(buf)).unwrap_or_default();
        // The path: PATH_INFO (decoded by the front end), else the path part of REQUEST_URI.
        let uri = k.uri.or(k.path).unwrap_or_default();
        let uri_bytes = uri.get(buf);
        let uri_query = uri_bytes.iter().position(|&b| b == b'?');
        let (path, decoded) = match k.path {
            Some(p) => (p, true),
            None => {
                let end = uri.start as usize + uri_query.unwrap_or(uri_bytes.len());
                (Span::new(uri.start as usize, end), false)
            }
        };
        let query = match (k.query, uri_query) {
            (Some(q), _) => q,
            (None, Some(i)) => Span::new(uri.start as usize + i + 1, uri.end as usize),
            (None, None) => Span::default(),
        };
        let mut script = k.script.unwrap_or_default();
        let mut path = path;
        if manage_path_info {
            // PATH_INFO still starts with SCRIPT_NAME: cut it off.
            if decoded && path.get(buf).starts_with(script.get(buf)) {
                path = Span::new(path.start as usize + script.len(), path.end as usize);
            } else {
                script = Span::default();
            }
        }
        let protocol = protocol_name(get(k.protocol));
        let content_length = match k.content_length.map(|c| c.get(buf).trim_ascii()) {
            None | Some(b"") => None,
            Some(v) => match std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
            {
                Some(n) => Some(n),
                None => {
                    log::info(&format!(
                        "uwsgi: bad CONTENT_LENGTH {:?} from {}; closing",
                        String::from_utf8_lossy(v),
                        self.peer()
                    ));
                    return;
                }
            },
        };
        let scheme: &'static str = match get(k.scheme) {
            b"https" => "https",
            b"http" => "http",
            _ if matches!(get(k.https), b"on" | b"ON" | b"1") => "https",
            _ if get(k.request_scheme) == b"https" => "https",
            _ => "http",
        };
        let is_head = method.get(buf) == b"HEAD";
        // The front end's view of the client and of itself is the truth on this protocol.
        {
            let info = Arc::make_mut(&mut self.ex.info);
            if let Some(a) = k.remote_addr {
                info.remote_addr = String::from_utf8_lossy(a.get(buf)).into_owned();
                info.remote_port = String::from_utf8_lossy(get(k.remote_port)).into_owned();
            }
            if let Some(n) = k.server_name {
                info.server_name = String::from_utf8_lossy(n.get(buf)).into_owned();
            }
            if let Some(p) = k.server_port {
                info.server_port = String::from_utf8_lossy(p.get(buf)).into_owned();
            }
            info.scheme = scheme;
            info.url_scheme = scheme;
        }
        let head = &mut self.ex.head;
        head.method = span(method);
        head.raw_uri = span(uri);
        head.path = span(path);
        head.query = span(query);
        head.protocol = protocol;
        head.style = Some(HeaderStyle::Cgi);
        head.path_decoded = decoded;
        head.script_name = span(script);
        head.content_length = content_length;
        let version = if protocol == "HTTP/1.0" {
            Version::Http10
        } else {
            Version::Http11
        };
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
