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
/// thread can block on the network without stopping other threads from running Python. Inside
/// [`Handler::handle`] this releases the lock around the closure. Outside it (the server's own
/// waits) it lets go of a lock the thread kept after the last app call, and does not take it
/// back: the next `handle` does.
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
    /// Serve one request: the only place the app's lock (the GIL) is taken (it may stay with the
    /// thread after the call until the server next blocks, see [`Unlocker`]). On return, `ex.body`
    /// and `ex.resp` must be back in the exchange (the server drains the rest of the body and
    /// decides keep-alive from them).
    fn handle(&mut self, ex: &mut Exchange) -> Outcome;

    /// Another thread has been waiting for the app's lock for a while: the worker hands the lock
    /// over at this request boundary instead of keeping it for more ready work.
    fn contended(&self) -> bool {
        false
    }

    /// Give the handler a function to call when this thread commits to something: `handle` has
    /// obtained the app's lock ([`Busy::Serving`]), or the server is about to block outside an
    /// app call ([`Busy::Blocking`]: a static file to a slow reader, the worker's own wait for
    /// work). The worker decides from it which thread waits for new work. Hosts without a lock
    /// may ignore it.
    fn set_on_busy(&mut self, _f: Box<dyn Fn(Busy)>) {}
}

/// What a request thread is about to do (see [`Handler::set_on_busy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// The app's lock is taken and the app is about to run.
    Serving,
    /// The server is about to block (the app's lock let go).
    Blocking,
}

/// An application host.
pub trait App: Send + Sync + 'static {
    /// Run `body` on the current thread inside the host's context (for Python: attached to the
    /// interpreter for the thread's life, the GIL released until `Handler::handle` takes it),
    /// giving it this thread's handler. Returns when `body` returns.
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

/// Whether the CGI variable `var` (`HTTP_USER_AGENT`, `CONTENT_TYPE`) carries the HTTP header
/// `field` (`user-agent`, any case).
pub fn cgi_name_is(var: &[u8], field: &[u8]) -> bool {
    let bare = field.eq_ignore_ascii_case(b"content-type")
        || field.eq_ignore_ascii_case(b"content-length");
    let var = match var.strip_prefix(b"HTTP_") {
        Some(v) if !bare => v,
        None if bare => var,
        _ => return false,
    };
    var.len() == field.len()
        && var.iter().zip(field).all(|(&a, &b)| {
            let b = if b == b'-' {
                b'_'
            } else {
                b.to_ascii_uppercase()
            };
            a == b
        })
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
    /// `path` is already percent-decoded (CGI front ends send PATH_INFO decoded).
    pub path_decoded: bool,
    /// The `SCRIPT_NAME` a CGI front end sent (empty range for HTTP).
    pub script_name: (u32, u32),
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
    /// The path: percent-encoded as sent for HTTP; for CGI front ends their `PATH_INFO`,
    /// already decoded (see [`Request::path_decoded`]).
    pub fn path(&self) -> &'a [u8] {
        slice(self.buf, self.head.path)
    }
    /// Whether [`Request::path`] is already percent-decoded.
    pub fn path_decoded(&self) -> bool {
        self.head.path_decoded
    }
    /// The `SCRIPT_NAME` a CGI front end sent (empty for HTTP).
    pub fn script_name(&self) -> &'a [u8] {
        slice(self.buf, self.head.script_name)
    }
    /// The first value of the HTTP header `name` (case-insensitive, e.g. `if-none-match`),
    /// whichever way the front end spells header names.
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        let cgi = self.style() == HeaderStyle::Cgi;
        self.fields().find_map(|(n, v)| {
            let hit = if cgi {
                cgi_name_is(n, name)
            } else {
                n.eq_ignore_ascii_case(name)
            };
            hit.then_some(v)
        })
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

/// The app's `SCRIPT_NAME` and `PATH_INFO`, decoded, written to `out` as one string
/// (`SCRIPT_NAME` then `PATH_INFO`); returns where `PATH_INFO` starts.
///
/// `mount` (`--script-name`, or `SCRIPT_NAME` in the server's environment; no trailing slash)
/// decides when set: it is always `SCRIPT_NAME`, and is cut from the front of the path when the
/// path starts with it. Without a mount, an HTTP request's whole path is `PATH_INFO`; a CGI front
/// end's own split is kept when it sent both parts non-empty (`fastcgi_split_path_info`,
/// `uwsgi_modifier1 30`), and otherwise — nginx's stock `fastcgi_params` and Apache send
/// `SCRIPT_NAME` = the whole path and no `PATH_INFO` — the whole path is `PATH_INFO`.
pub fn app_paths(req: &Request<'_>, mount: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let front_script = req.script_name();
    out.extend_from_slice(front_script);
    if req.path_decoded() {
        out.extend_from_slice(req.path());
    } else {
        ferrocorn_proto::http1::percent_decode_into(req.path(), out);
    }
    if !mount.is_empty() {
        let at_boundary = out.get(mount.len()).is_none_or(|&b| b == b'/');
        if out.starts_with(mount) && at_boundary {
            return mount.len();
        }
        out.splice(0..0, mount.iter().copied());
        return mount.len();
    }
    if !front_script.is_empty() && out.len() > front_script.len() {
        front_script.len()
    } else {
        0
    }
}

/// The WSGI environ values the access log's `{KEY}e` atoms ask for, read by the host after the
/// app ran (gunicorn logs the environ as the app left it, keys the app added included).
#[derive(Debug, Default)]
pub struct LoggedEnv {
    /// The keys asked for (shared with the access log).
    pub keys: Arc<[String]>,
    /// One value per key (`None`: not in the environ); empty when the host did not look (the
    /// request never reached the app).
    pub values: Vec<Option<String>>,
}

/// One request/response exchange, owned by the thread serving it.
pub struct Exchange {
    pub head: Head,
    pub body: BodyReader,
    pub resp: ResponseWriter,
    pub info: Arc<ConnInfo>,
    pub logged_env: LoggedEnv,
}

impl Exchange {
    /// A fresh exchange for a new connection.
    pub fn new(body: BodyReader, resp: ResponseWriter, info: ConnInfo) -> Self {
        Exchange {
            head: Head::default(),
            body,
            resp,
            info: Arc::new(info),
            logged_env: LoggedEnv::default(),
        }
    }

    /// The request head. Read it before taking `body` out of the exchange: it borrows the body's buffer.
    pub fn request(&self) -> Request<'_> {
        Request {
            buf: self.body.buffer(),
            head: &self.head,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CGI-style head over `buf = script ++ path`.
    fn cgi(buf: &[u8], script_len: u32, decoded: bool) -> Head {
        Head {
            path: (script_len, buf.len() as u32),
            script_name: (0, script_len),
            style: Some(HeaderStyle::Cgi),
            path_decoded: decoded,
            ..Head::default()
        }
    }

    fn paths(buf: &[u8], head: &Head, mount: &[u8]) -> (String, String) {
        let mut out = Vec::new();
        let at = app_paths(&Request::new(buf, head), mount, &mut out);
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (s(&out[..at]), s(&out[at..]))
    }

    #[test]
    fn script_name_and_path_info() {
        let http = |p: &[u8]| Head {
            path: (0, p.len() as u32),
            style: Some(HeaderStyle::Http),
            ..Head::default()
        };
        let p = b"/app/a%20b";
        assert_eq!(paths(p, &http(p), b""), ("".into(), "/app/a b".into()));
        assert_eq!(paths(p, &http(p), b"/app"), ("/app".into(), "/a b".into()));
        // Not under the mount: SCRIPT_NAME is still the mount, the path is left whole.
        assert_eq!(
            paths(p, &http(p), b"/other"),
            ("/other".into(), "/app/a b".into())
        );
        // "/application" is not under "/app".
        let p = b"/application";
        assert_eq!(
            paths(p, &http(p), b"/app"),
            ("/app".into(), "/application".into())
        );
        let p = b"/app";
        assert_eq!(paths(p, &http(p), b"/app"), ("/app".into(), "".into()));

        // nginx's stock fastcgi_params: SCRIPT_NAME is the whole path, no PATH_INFO.
        let b = b"/page/x";
        assert_eq!(
            paths(b, &cgi(b, 7, true), b""),
            ("".into(), "/page/x".into())
        );
        assert_eq!(
            paths(b, &cgi(b, 7, true), b"/page"),
            ("/page".into(), "/x".into())
        );
        // A front end that split the path itself keeps its split without a mount.
        assert_eq!(
            paths(b, &cgi(b, 5, true), b""),
            ("/page".into(), "/x".into())
        );
        // uwsgi_params: no SCRIPT_NAME, PATH_INFO decoded already (a literal % stays).
        let b = b"/a%20b";
        assert_eq!(
            paths(b, &cgi(b, 0, true), b""),
            ("".into(), "/a%20b".into())
        );
    }

    #[test]
    fn cgi_names_match_http_names() {
        assert!(cgi_name_is(b"HTTP_USER_AGENT", b"user-agent"));
        assert!(cgi_name_is(b"HTTP_USER_AGENT", b"User-Agent"));
        assert!(cgi_name_is(b"CONTENT_TYPE", b"content-type"));
        assert!(!cgi_name_is(b"HTTP_CONTENT_TYPE", b"content-type"));
        assert!(!cgi_name_is(b"USER_AGENT", b"user-agent"));
        assert!(!cgi_name_is(b"HTTP_USER_AGENTS", b"user-agent"));
    }
}
