//! Protocol-neutral connection handling: which front end a listener speaks, the per-connection
//! driver for it, the settings and per-thread state every driver shares, and [`run_app`] — the
//! part of serving a request that is the same whatever the wire format (scoreboard, app call,
//! access log).
//!
//! A driver turns bytes into a ready [`Exchange`] (head, body reader, response writer), calls
//! [`run_app`], and decides what the connection does next ([`After`]).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferrocorn_proto::http1 as h1;
use socket2::Socket;

use crate::access_log::{AccessLog, Entry};
use crate::app::{app_paths, Exchange, Handler, HeaderStyle, Outcome, Unlocker};
use crate::conn_info::ConnInfo;
use crate::proxy::ProxySettings;
use crate::scoreboard::ThreadSlot;
use crate::static_files::StaticFiles;
use crate::{fastcgi, http1, uwsgi};

/// The protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Front {
    /// HTTP/1.x, direct or behind a proxy (`-b`).
    #[default]
    Http1,
    /// The uwsgi binary protocol (nginx `uwsgi_pass`, Apache `mod_proxy_uwsgi`).
    Uwsgi,
    /// FastCGI, Responder role (nginx `fastcgi_pass`, Apache `mod_proxy_fcgi` and `mod_fcgid`).
    FastCgi,
}

impl Front {
    /// The name used in URLs and log lines.
    pub fn name(self) -> &'static str {
        match self {
            Front::Http1 => "http",
            Front::Uwsgi => "uwsgi",
            Front::FastCgi => "fastcgi",
        }
    }

    /// The spelling in `FERROCORN_FDS` (inherited listeners on USR2).
    pub fn parse(s: &str) -> Option<Front> {
        match s {
            "http" => Some(Front::Http1),
            "uwsgi" => Some(Front::Uwsgi),
            "fastcgi" => Some(Front::FastCgi),
            _ => None,
        }
    }
}

/// The settings the connection drivers need, copied out of the config once.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// HTTP limits for everyone but trusted front ends (the body limit applies to every front end).
    pub limits: h1::Limits,
    /// The same limits plus the underscore `forwarder_headers` a trusted front end may send.
    pub trusted_limits: h1::Limits,
    /// Trusted front ends and the PROXY protocol (default: nobody trusted, protocol off).
    pub proxy: ProxySettings,
    pub keepalive: Duration,
    pub header_timeout: Duration,
    pub client_timeout: Duration,
    pub server_header: String,
    /// Largest HTTP head we buffer before the parser's own limits must have fired.
    pub max_head: usize,
    /// Largest uwsgi vars block accepted (uWSGI's `buffer-size`).
    pub uwsgi_max_vars: usize,
    /// Largest FastCGI params of one request (the same `buffer-size`; 64 KiB by default).
    pub fastcgi_max_params: usize,
    /// What FastCGI `GET_VALUES` is answered with (concurrency the server really has).
    pub fastcgi_values: ferrocorn_proto::fastcgi::Values,
    /// Where finished requests are logged (None: no access log).
    pub access: Option<Arc<AccessLog>>,
    /// `--static` mappings, answered before the app is called (None: no static files).
    pub static_files: Option<Arc<StaticFiles>>,
}

impl ServeSettings {
    pub fn new(
        limits: h1::Limits,
        keepalive: Duration,
        header_timeout: Duration,
        client_timeout: Duration,
        server_header: String,
    ) -> Self {
        let line = if limits.max_line == 0 {
            1 << 20
        } else {
            limits.max_line
        };
        let field = if limits.max_field_size == 0 {
            1 << 20
        } else {
            limits.max_field_size
        };
        let max_head = (line + 2 + limits.max_fields.saturating_mul(field + 2) + 4).min(64 << 20);
        ServeSettings {
            trusted_limits: limits.clone(),
            proxy: ProxySettings::default(),
            limits,
            keepalive,
            header_timeout,
            client_timeout,
            server_header,
            max_head,
            uwsgi_max_vars: ferrocorn_proto::uwsgi::MAX_VARS,
            fastcgi_max_params: ferrocorn_proto::fastcgi::DEFAULT_MAX_PARAMS,
            fastcgi_values: ferrocorn_proto::fastcgi::Values {
                max_conns: 1,
                max_reqs: 1,
                mpxs_conns: false,
            },
            access: None,
            static_files: None,
        }
    }
}

/// What the connection needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Wait for more bytes, but drop the connection at this deadline.
    Wait(Instant),
    Close,
}

/// Per-thread state shared by the drivers.
pub struct ThreadCtx {
    pub dates: h1::DateCache,
    /// This thread's scoreboard slot (request start/end for harakiri), when a master watches.
    pub slot: Option<&'static ThreadSlot>,
    /// Requests finished since the worker last looked (for max-requests / reload-on-rss).
    pub finished: u64,
    /// Scratch for the scoreboard's request description.
    desc: Vec<u8>,
    /// Scratch for access-log lines.
    line: String,
    /// Scratch for the decoded path of an access-log line.
    path: Vec<u8>,
    /// Leave small finished responses for the worker to write at the end of its poll round
    /// ([`crate::response::ResponseWriter::set_defer`]).
    pub defer_writes: bool,
}

impl ThreadCtx {
    pub fn new(slot: Option<&'static ThreadSlot>) -> Self {
        ThreadCtx {
            dates: h1::DateCache::new(),
            slot,
            finished: 0,
            desc: Vec::with_capacity(128),
            line: String::new(),
            path: Vec::new(),
            defer_writes: false,
        }
    }
}

/// One connection, driven by the driver of the protocol its listener speaks.
pub enum Conn {
    Http1(http1::Conn),
    Uwsgi(uwsgi::Conn),
    FastCgi(fastcgi::Conn),
}

impl Conn {
    pub fn new(front: Front, sock: Socket, info: ConnInfo, s: &ServeSettings) -> Self {
        match front {
            Front::Http1 => Conn::Http1(http1::Conn::new(sock, info, s)),
            Front::Uwsgi => Conn::Uwsgi(uwsgi::Conn::new(sock, info, s)),
            Front::FastCgi => Conn::FastCgi(fastcgi::Conn::new(sock, info, s)),
        }
    }

    /// Serve whatever the connection has; returns when it must wait for the peer or close.
    pub fn drive(
        &mut self,
        h: &mut dyn Handler,
        ctx: &mut ThreadCtx,
        s: &ServeSettings,
        stopping: &dyn Fn() -> bool,
    ) -> After {
        match self {
            Conn::Http1(c) => c.drive(h, ctx, s, stopping),
            Conn::Uwsgi(c) => c.drive(h, ctx, s),
            Conn::FastCgi(c) => c.drive(h, ctx, s, stopping),
        }
    }

    /// A finished response waits to be written ([`Self::flush_deferred`]).
    pub fn has_deferred(&self) -> bool {
        match self {
            Conn::Http1(c) => c.ex.resp.has_deferred(),
            Conn::FastCgi(c) => c.ex.resp.has_deferred(),
            Conn::Uwsgi(_) => false,
        }
    }

    /// Write the response the driver left in the buffer, if any.
    pub fn flush_deferred(&mut self, u: &dyn Unlocker) -> std::io::Result<()> {
        match self {
            Conn::Http1(c) => c.ex.resp.flush_deferred(u),
            Conn::FastCgi(c) => c.ex.resp.flush_deferred(u),
            Conn::Uwsgi(_) => Ok(()),
        }
    }

    /// Requests answered on this connection so far.
    pub fn requests(&self) -> u64 {
        match self {
            Conn::Http1(c) => c.requests,
            Conn::Uwsgi(c) => c.requests,
            Conn::FastCgi(c) => c.requests,
        }
    }
}

/// Serve one ready exchange: mark the scoreboard (harakiri sees the request), answer a static
/// file or call the app, write the access-log line. The driver has prepared `ex.head`, the body reader and the writer.
pub fn run_app(
    ex: &mut Exchange,
    h: &mut dyn Handler,
    ctx: &mut ThreadCtx,
    s: &ServeSettings,
) -> Outcome {
    if let Some(slot) = ctx.slot {
        ctx.desc.clear();
        let req = ex.request();
        ctx.desc.extend_from_slice(req.method());
        ctx.desc.push(b' ');
        ctx.desc.extend_from_slice(req.raw_uri());
        slot.start(&ctx.desc);
    }
    let started = s
        .access
        .as_ref()
        .map(|_| (SystemTime::now(), Instant::now()));
    if let Some(log) = &s.access {
        ex.resp.keep_head(log.wants_response_head);
        ex.logged_env.values.clear();
        if !Arc::ptr_eq(&ex.logged_env.keys, &log.env_keys) {
            ex.logged_env.keys = log.env_keys.clone();
        }
    }
    // Static files are answered here, in Rust, without entering the app (or Python).
    let served = match &s.static_files {
        Some(st) => st.serve(ex, &*h, &mut ctx.path),
        None => None,
    };
    let outcome = match served {
        Some(outcome) => outcome,
        None => h.handle(ex),
    };
    if let (Some(log), Some((when, t0))) = (&s.access, started) {
        log_access(ex, log, ctx, when, t0.elapsed());
    }
    if let Some(slot) = ctx.slot {
        slot.end();
    }
    ctx.finished += 1;
    outcome
}

/// Write the access-log line of a finished exchange (its head is still intact in the buffer).
fn log_access(
    ex: &Exchange,
    log: &AccessLog,
    ctx: &mut ThreadCtx,
    started: SystemTime,
    duration: Duration,
) {
    let req = ex.request();
    // `%(U)s` is the request path, percent-decoded like the environ's.
    app_paths(&req, b"", &mut ctx.path);
    let headers: Vec<(&[u8], &[u8])> = req.fields().collect();
    let info = &ex.info;
    let entry = Entry {
        // gunicorn's `%(h)s` is REMOTE_ADDR: the client a PROXY header or trusted front end named.
        remote_addr: info.client_addr(),
        method: req.method(),
        raw_uri: req.raw_uri(),
        path: &ctx.path,
        query: req.query(),
        protocol: req.protocol(),
        status: ex.resp.status(),
        body_bytes: ex.resp.body_bytes(),
        started,
        duration,
        headers: &headers,
        cgi_names: req.style() == HeaderStyle::Cgi,
        response_head: ex.resp.kept_head(),
        server_name: &info.server_name,
        server_port: &info.server_port,
        remote_port: info.client_port(),
        scheme: info.url_scheme,
        app_env: Some(&ex.logged_env),
    };
    log.format(&entry, &mut ctx.line);
    log.write_line(&ctx.line);
}
