//! The settings table: every setting is declared here once, and the command line, the three config
//! sources, `--help`, `--print-config` and `docs/settings.md` are all derived from it.
//!
//! Why one table: gunicorn keeps its settings in one list and derives its parser and docs from it,
//! which is why its flags, file names and docs never drift apart. Adding a setting here is the whole
//! job for the config side; `Config` (in `build.rs`) then exposes it typed.

use crate::value::checks;

/// Where a setting is listed in `--help` and in the docs; the order here is the order there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    ConfigFile,
    Sockets,
    Workers,
    Connections,
    Limits,
    Proxies,
    StaticFiles,
    Logging,
    Mechanics,
    Hooks,
}

impl Section {
    /// All sections, in display order.
    pub const ALL: [Section; 10] = [
        Section::ConfigFile,
        Section::Sockets,
        Section::Workers,
        Section::Connections,
        Section::Limits,
        Section::Proxies,
        Section::StaticFiles,
        Section::Logging,
        Section::Mechanics,
        Section::Hooks,
    ];

    /// The heading used in `--help` and the docs.
    pub fn title(self) -> &'static str {
        match self {
            Section::ConfigFile => "Config file",
            Section::Sockets => "Sockets",
            Section::Workers => "Worker processes",
            Section::Connections => "Connections",
            Section::Limits => "Request limits (security)",
            Section::Proxies => "Behind a proxy",
            Section::StaticFiles => "Static files",
            Section::Logging => "Logging",
            Section::Mechanics => "Server mechanics",
            Section::Hooks => "Server hooks (Python config file only)",
        }
    }
}

/// The shape of a setting's value, which decides how each source's text or Python value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// On/off. On the command line a flag without a value (gunicorn's `store_true`).
    Flag,
    /// A whole number in `min..=max`.
    Int { min: i64, max: i64 },
    /// A non-negative number of seconds; fractions allowed.
    Seconds,
    /// Free text (paths, names). Unset (`None`) unless the default says otherwise.
    Str,
    /// One of a fixed set of words (case-insensitive).
    Choice(&'static [&'static str]),
    /// A list of strings. Repeatable on the command line and in ini files; a Python string is a
    /// one-item list.
    Strings,
    /// A comma-separated list (a Python list is accepted too); repeated ini keys accumulate.
    CommaList,
    /// A mapping of strings to strings; Python config only.
    Dict,
    /// A file mode in octal digits, uWSGI style: `664` means `0o664`.
    Mode,
    /// A umask: Python ints as they are; text is read like Python's `int(x, 0)`, except that a
    /// leading `0` also means octal (`022`), which `int` would refuse.
    Umask,
    /// A server hook: a Python callable taking `min..=max` positional arguments.
    Hook {
        min: u32,
        max: u32,
        signature: &'static str,
    },
}

impl Kind {
    /// The name of the type, for the docs.
    pub fn describe(self) -> String {
        match self {
            Kind::Flag => "boolean".into(),
            Kind::Int { min, .. } if min >= 1 => "positive integer".into(),
            Kind::Int { .. } => "integer".into(),
            Kind::Seconds => "seconds (number)".into(),
            Kind::Str => "string".into(),
            Kind::Choice(c) => format!("one of {}", c.join(", ")),
            Kind::Strings => "list of strings".into(),
            Kind::CommaList => "comma-separated list".into(),
            Kind::Dict => "dict".into(),
            Kind::Mode => "octal file mode".into(),
            Kind::Umask => "umask (integer)".into(),
            Kind::Hook { .. } => "callable".into(),
        }
    }

    /// Lists accumulate over repeated keys of one source instead of the last one winning.
    pub fn accumulates(self) -> bool {
        matches!(self, Kind::Strings | Kind::CommaList)
    }
}

/// A default value, written so the table can be a `static`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Def {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'static str),
    List(&'static [&'static str]),
    Dict(&'static [(&'static str, &'static str)]),
}

/// Whether the server acts on a setting yet. Kept in the table so `--help`, the docs and the
/// warnings printed at start-up tell the truth about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The server acts on it.
    Active,
    /// Accepted and validated; the named feature that uses it has not landed yet.
    Pending(&'static str),
    /// Accepted for compatibility and deliberately ignored, for the reason given.
    NoOp(&'static str),
}

/// Where a setting may be given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Command line, `*_CMD_ARGS`, config files.
    Anywhere,
    /// Only the command line and `*_CMD_ARGS`: it chooses or inspects the config itself.
    CommandLine,
}

/// A per-item validator: returns the normalised text or says what was expected.
pub type Check = fn(&str) -> Result<String, String>;

/// One setting.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// gunicorn's Python-config name (ours where gunicorn has none).
    pub name: &'static str,
    pub section: Section,
    /// Short command-line flag.
    pub short: Option<char>,
    /// Long flags without `--`; the first is the one shown first. gunicorn's exact spellings.
    pub flags: &'static [&'static str],
    /// uWSGI ini keys. Every long flag is also accepted as an ini key.
    pub ini: &'static [&'static str],
    /// Environment variable that supplies the default (below config files in precedence).
    pub env: Option<&'static str>,
    pub kind: Kind,
    pub default: Def,
    /// How to show the default when `default` alone would mislead.
    pub default_doc: Option<&'static str>,
    /// Placeholder for the value in `--help`.
    pub meta: &'static str,
    /// The value a flag takes when given without one (`--print-config`, `--proxy-protocol`).
    pub optional_value: Option<&'static str>,
    /// One or two sentences, shown by `--help` and the docs.
    pub help: &'static str,
    /// More detail for the docs only (may be empty).
    pub doc: &'static str,
    pub status: Status,
    pub scope: Scope,
    /// Validates and normalises each text item (each list element).
    pub check: Option<Check>,
}

impl Setting {
    /// The key used when printing the setting as a uWSGI ini file.
    pub fn ini_key(&self) -> Option<&'static str> {
        self.ini.first().or(self.flags.first()).copied()
    }

    /// `--flag` as shown to users (the first long flag).
    pub fn primary_flag(&self) -> Option<String> {
        self.flags.first().map(|f| format!("--{f}"))
    }

    /// Whether the setting is a server hook.
    pub fn is_hook(&self) -> bool {
        matches!(self.kind, Kind::Hook { .. })
    }
}

/// The base every entry starts from; entries override what differs.
const fn base(
    name: &'static str,
    section: Section,
    kind: Kind,
    default: Def,
    help: &'static str,
) -> Setting {
    Setting {
        name,
        section,
        short: None,
        flags: &[],
        ini: &[],
        env: None,
        kind,
        default,
        default_doc: None,
        meta: "",
        optional_value: None,
        help,
        doc: "",
        status: Status::Active,
        scope: Scope::Anywhere,
        check: None,
    }
}

const fn hook(
    name: &'static str,
    min: u32,
    max: u32,
    signature: &'static str,
    help: &'static str,
) -> Setting {
    base(
        name,
        Section::Hooks,
        Kind::Hook {
            min,
            max,
            signature,
        },
        Def::None,
        help,
    )
}

const UINT: Kind = Kind::Int {
    min: 0,
    max: u32::MAX as i64,
};
const POS_UINT: Kind = Kind::Int {
    min: 1,
    max: u32::MAX as i64,
};
const BYTES: Kind = Kind::Int {
    min: 0,
    max: i64::MAX,
};

/// gunicorn's default access log format.
pub const DEFAULT_ACCESS_LOG_FORMAT: &str =
    r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

/// Every setting, in display order.
pub static SETTINGS: &[Setting] = &[
    // ---- Config file -------------------------------------------------------------------------
    Setting {
        short: Some('c'),
        flags: &["config"],
        meta: "CONFIG",
        scope: Scope::CommandLine,
        default_doc: Some("`./ferrocorn.conf.py`, else `./gunicorn.conf.py`, when present"),
        doc: "A `.ini` file given here is read as a uWSGI ini file (same as `--ini`). A Python \
              file is executed like gunicorn does: every module-level name that matches a setting \
              is used, callables become server hooks, modules and classes are ignored, and other \
              names get a warning (with a suggestion when one is close).",
        ..base(
            "config",
            Section::ConfigFile,
            Kind::Str,
            Def::None,
            "Python config file (gunicorn format), or `python:MODULE.NAME` to import one.",
        )
    },
    Setting {
        flags: &["ini"],
        meta: "FILE[:SECTION]",
        scope: Scope::CommandLine,
        doc: "Use either `--config` or `--ini`, not both.",
        ..base(
            "ini",
            Section::ConfigFile,
            Kind::Str,
            Def::None,
            "uWSGI ini config file; SECTION defaults to `uwsgi`.",
        )
    },
    Setting {
        flags: &["check-config"],
        scope: Scope::CommandLine,
        doc: "Exit status: 0 valid, 1 valid but the environment has problems (each reported on one \
              line: a missing `chdir`, an unknown user...), 64 invalid. The app is not imported.",
        ..base(
            "check_config",
            Section::ConfigFile,
            Kind::Flag,
            Def::Bool(false),
            "Validate the configuration, report environment problems, and exit.",
        )
    },
    Setting {
        flags: &["print-config"],
        meta: "FORMAT",
        optional_value: Some("text"),
        scope: Scope::CommandLine,
        doc: "`--print-config` lists every setting with its source (`default`, `FILE:LINE`, \
              `$VARIABLE` or `command line`). `--print-config=gunicorn` and `--print-config=ini` \
              print only the settings that differ from the defaults, as a config file in that \
              dialect, which ferrocorn reads back unchanged: a way to convert between the two.",
        ..base(
            "print_config",
            Section::ConfigFile,
            Kind::Choice(&["text", "gunicorn", "ini"]),
            Def::None,
            "Print the effective settings and exit; `=gunicorn` or `=ini` print a config file.",
        )
    },
    Setting {
        ini: &["module", "wsgi"],
        meta: "APP",
        default_doc: Some("none: required to serve"),
        doc: "On the command line this is the positional `APP` argument. In an ini file `module` \
              may be `a.b:app` or `a.b` with `callable = app`.",
        ..base(
            "wsgi_app",
            Section::ConfigFile,
            Kind::Str,
            Def::None,
            "The WSGI application as MODULE[:CALLABLE]; CALLABLE defaults to `application` and may \
             be a dotted path or a factory call such as `create_app()`.",
        )
    },
    Setting {
        flags: &["wsgi-file"],
        ini: &["wsgi-file", "file"],
        meta: "FILE",
        doc: "uWSGI's `wsgi-file`. When both an app module and a file are given, the one from the \
              higher-precedence source wins.",
        ..base(
            "wsgi_file",
            Section::ConfigFile,
            Kind::Str,
            Def::None,
            "Load the application from this Python file instead of a module; the callable is \
             `application` or the ini file's `callable`.",
        )
    },
    // ---- Sockets -------------------------------------------------------------------------------
    Setting {
        short: Some('b'),
        flags: &["bind"],
        ini: &["http-socket", "http"],
        meta: "ADDRESS",
        check: Some(checks::http_address),
        default_doc: Some("`127.0.0.1:8000`, only when no uwsgi or FastCGI socket is set either"),
        doc: "`HOST` alone means port 8000. In ini files the uWSGI forms work too: a path is a Unix \
              socket, `@NAME` an abstract one. uWSGI's `http` (its HTTP router) maps here as well: \
              ferrocorn serves HTTP itself, no router process needed.",
        ..base(
            "bind",
            Section::Sockets,
            Kind::Strings,
            Def::List(&["127.0.0.1:8000"]),
            "Address to serve HTTP on: HOST:PORT, [IPv6]:PORT, :PORT, unix:PATH or fd://FD; \
             repeatable.",
        )
    },
    Setting {
        flags: &["uwsgi-socket"],
        ini: &["socket", "uwsgi-socket"],
        meta: "ADDRESS",
        check: Some(checks::uwsgi_address),
        status: Status::Active,
        doc: "This is uWSGI's `socket` (the binary uwsgi protocol that nginx's `uwsgi_pass` and \
              Apache's `mod_proxy_uwsgi` speak), not HTTP.",
        ..base(
            "uwsgi_socket",
            Section::Sockets,
            Kind::Strings,
            Def::List(&[]),
            "Address to serve the uwsgi protocol on: HOST:PORT, :PORT, a path (Unix socket) or \
             @NAME (abstract Unix socket); repeatable.",
        )
    },
    Setting {
        flags: &["fastcgi-socket"],
        ini: &["fastcgi-socket"],
        meta: "ADDRESS",
        check: Some(checks::uwsgi_address),
        doc: "With no address configured at all, a listening socket on fd 0 is served as FastCGI \
              (how Apache mod_fcgid starts its applications); `fd://0` names it explicitly.",
        ..base(
            "fastcgi_socket",
            Section::Sockets,
            Kind::Strings,
            Def::List(&[]),
            "Address to serve FastCGI on (nginx `fastcgi_pass`, Apache mod_fcgid/mod_proxy_fcgi), \
             in the same forms as --uwsgi-socket; repeatable.",
        )
    },
    Setting {
        flags: &["backlog"],
        ini: &["listen"],
        meta: "INT",
        ..base(
            "backlog",
            Section::Sockets,
            Kind::Int { min: 1, max: i32::MAX as i64 },
            Def::Int(2048),
            "Maximum number of pending connections per socket (the kernel caps it at \
             net.core.somaxconn).",
        )
    },
    Setting {
        flags: &["chmod-socket"],
        ini: &["chmod-socket"],
        meta: "MODE",
        optional_value: Some("666"),
        status: Status::Active,
        default_doc: Some("unset: the umask decides"),
        ..base(
            "chmod_socket",
            Section::Sockets,
            Kind::Mode,
            Def::None,
            "Permission bits for Unix sockets, in octal (`664`); without a value 666.",
        )
    },
    Setting {
        flags: &["chown-socket"],
        ini: &["chown-socket"],
        meta: "USER[:GROUP]",
        check: Some(checks::chown),
        status: Status::Active,
        ..base(
            "chown_socket",
            Section::Sockets,
            Kind::Str,
            Def::None,
            "Owner (and group) for Unix sockets.",
        )
    },
    Setting {
        flags: &["vacuum"],
        ini: &["vacuum"],
        status: Status::Active,
        ..base(
            "vacuum",
            Section::Sockets,
            Kind::Flag,
            Def::Bool(false),
            "Remove Unix socket files and the pid file at exit.",
        )
    },
    // ---- Worker processes ----------------------------------------------------------------------
    Setting {
        short: Some('w'),
        flags: &["workers"],
        ini: &["processes", "workers"],
        env: Some("WEB_CONCURRENCY"),
        meta: "INT",
        default_doc: Some("`$WEB_CONCURRENCY`, else 1"),
        doc: "With dynamic workers (`workers_min`/`workers_max`) this is how many start.",
        ..base(
            "workers",
            Section::Workers,
            Kind::Int { min: 1, max: 65535 },
            Def::Int(1),
            "Number of worker processes; each runs --threads request threads.",
        )
    },
    Setting {
        flags: &["threads"],
        ini: &["threads"],
        meta: "INT",
        doc: "Threads overlap requests that wait (I/O, sleeps), since the GIL is released \
              meanwhile. For CPU-bound requests one thread serves while the others sleep, at \
              about the cost of `--threads 1`. Use more workers (`-w`) to use more cores.",
        ..base(
            "threads",
            Section::Workers,
            Kind::Int { min: 1, max: 65535 },
            Def::Int(1),
            "Request threads per worker; each parses requests and calls the app itself.",
        )
    },
    Setting {
        short: Some('k'),
        flags: &["worker-class"],
        meta: "STRING",
        check: Some(checks::worker_class),
        doc: "`sync`, `gthread` and their class paths (`gunicorn.workers.sync.SyncWorker`...) all \
              mean ferrocorn's threaded worker, sized by `threads`. Other classes (gevent, \
              eventlet, uvicorn...) are accepted with a warning and ignored.",
        ..base(
            "worker_class",
            Section::Workers,
            Kind::Str,
            Def::Str("sync"),
            "gunicorn's worker type: sync and gthread both mean ferrocorn's threaded worker.",
        )
    },
    Setting {
        flags: &["worker-connections"],
        meta: "INT",
        status: Status::NoOp("only gunicorn's async (gevent, eventlet) workers use it"),
        ..base(
            "worker_connections",
            Section::Workers,
            POS_UINT,
            Def::Int(1000),
            "Maximum simultaneous clients of an async worker.",
        )
    },
    Setting {
        short: Some('t'),
        flags: &["timeout"],
        meta: "SECONDS",
        doc: "This catches workers that hang as a whole (a deadlock, a C extension stuck without \
              the GIL). To bound single requests use `harakiri`.",
        ..base(
            "timeout",
            Section::Workers,
            Kind::Seconds,
            Def::Float(30.0),
            "A worker silent for this long is killed and replaced, after its Python stacks are \
             dumped to the error log; 0 disables.",
        )
    },
    Setting {
        flags: &["graceful-timeout"],
        ini: &["reload-mercy", "worker-reload-mercy"],
        meta: "SECONDS",
        ..base(
            "graceful_timeout",
            Section::Workers,
            Kind::Seconds,
            Def::Float(30.0),
            "On stop or restart, how long workers get to finish in-flight requests before they are \
             killed.",
        )
    },
    Setting {
        flags: &["max-requests"],
        ini: &["max-requests"],
        meta: "INT",
        ..base(
            "max_requests",
            Section::Workers,
            BYTES,
            Def::Int(0),
            "Restart a worker after it has served this many requests (0: never); limits the damage \
             of memory leaks.",
        )
    },
    Setting {
        flags: &["max-requests-jitter"],
        ini: &["max-requests-delta"],
        meta: "INT",
        ..base(
            "max_requests_jitter",
            Section::Workers,
            BYTES,
            Def::Int(0),
            "Add a random 0..N to max_requests per worker so workers do not all restart at once.",
        )
    },
    Setting {
        flags: &["reload-on-rss"],
        ini: &["reload-on-rss"],
        meta: "MB",
        ..base(
            "reload_on_rss",
            Section::Workers,
            BYTES,
            Def::Int(0),
            "Restart a worker, after its current requests, once its resident memory exceeds this \
             many megabytes (0: off).",
        )
    },
    Setting {
        flags: &["memory-report"],
        ini: &["memory-report"],
        ..base(
            "memory_report",
            Section::Workers,
            Kind::Flag,
            Def::Bool(false),
            "Log the workers' memory use (resident set size), like uWSGI's memory-report.",
        )
    },
    Setting {
        flags: &["harakiri"],
        ini: &["harakiri"],
        meta: "SECONDS",
        doc: "Unlike `timeout`, which catches workers that stop responding altogether, this bounds \
              every single request.",
        ..base(
            "harakiri",
            Section::Workers,
            Kind::Seconds,
            Def::Float(0.0),
            "Kill and replace a worker whose current request has run longer than this (0: off).",
        )
    },
    Setting {
        flags: &["workers-min"],
        meta: "INT",
        doc: "uWSGI's `cheaper`. Dynamic workers are on when `workers_min` is below `workers_max`; \
              between the two, ferrocorn keeps `min_spare` to `max_spare` workers idle.",
        ..base(
            "workers_min",
            Section::Workers,
            UINT,
            Def::Int(0),
            "Dynamic workers: never run fewer than this (0: the --workers count).",
        )
    },
    Setting {
        flags: &["workers-max"],
        meta: "INT",
        doc: "In a uWSGI file with `cheaper`, `processes` is this maximum.",
        ..base(
            "workers_max",
            Section::Workers,
            UINT,
            Def::Int(0),
            "Dynamic workers: never run more than this (0: the --workers count).",
        )
    },
    Setting {
        flags: &["min-spare"],
        meta: "INT",
        ..base(
            "min_spare",
            Section::Workers,
            UINT,
            Def::Int(1),
            "Dynamic workers: start another worker when fewer than this many are idle.",
        )
    },
    Setting {
        flags: &["max-spare"],
        meta: "INT",
        ..base(
            "max_spare",
            Section::Workers,
            UINT,
            Def::Int(3),
            "Dynamic workers: stop a worker when more than this many are idle.",
        )
    },
    // ---- Connections ---------------------------------------------------------------------------
    Setting {
        flags: &["keep-alive", "keepalive"],
        meta: "SECONDS",
        doc: "gunicorn's default is 2; ferrocorn's threads do not block on idle connections, so a \
              longer default costs nothing and saves reconnects behind proxies.",
        ..base(
            "keepalive",
            Section::Connections,
            Kind::Seconds,
            Def::Float(5.0),
            "Seconds to keep an idle keep-alive connection open.",
        )
    },
    Setting {
        flags: &["header-timeout"],
        meta: "SECONDS",
        ..base(
            "header_timeout",
            Section::Connections,
            Kind::Seconds,
            Def::Float(10.0),
            "Seconds a client has to send a complete request head (slow-loris defence).",
        )
    },
    Setting {
        flags: &["client-timeout"],
        ini: &["socket-timeout"],
        meta: "SECONDS",
        ..base(
            "client_timeout",
            Section::Connections,
            Kind::Seconds,
            Def::Float(30.0),
            "Longest stall while reading a request body or writing a response before the \
             connection is dropped.",
        )
    },
    // ---- Request limits ------------------------------------------------------------------------
    Setting {
        flags: &["limit-request-line"],
        meta: "INT",
        ..base(
            "limit_request_line",
            Section::Limits,
            UINT,
            Def::Int(4094),
            "Longest HTTP request line in bytes (0: unlimited); longer gets 414.",
        )
    },
    Setting {
        flags: &["limit-request-fields"],
        meta: "INT",
        ..base(
            "limit_request_fields",
            Section::Limits,
            Kind::Int { min: 0, max: 32768 },
            Def::Int(100),
            "Most header fields in a request (at most 32768); more gets 431.",
        )
    },
    Setting {
        flags: &["limit-request-field_size", "limit-request-field-size"],
        meta: "INT",
        ..base(
            "limit_request_field_size",
            Section::Limits,
            UINT,
            Def::Int(8190),
            "Longest header field in bytes (0: unlimited); longer gets 431.",
        )
    },
    Setting {
        flags: &["limit-request-body"],
        ini: &["limit-post"],
        meta: "INT",
        ..base(
            "limit_request_body",
            Section::Limits,
            BYTES,
            Def::Int(0),
            "Largest request body in bytes (0: unlimited); larger gets 413.",
        )
    },
    Setting {
        flags: &["limit-request-head"],
        ini: &["buffer-size"],
        meta: "INT",
        status: Status::Active,
        doc: "uWSGI's `buffer-size` maps here. Its default of 4096 is often raised because uWSGI \
              refuses larger uwsgi packets; ferrocorn's default leaves only the per-line limits \
              and the protocol's own 65535-byte cap on uwsgi packets, and lets FastCGI params \
              total 64 KiB.",
        ..base(
            "limit_request_head",
            Section::Limits,
            UINT,
            Def::Int(0),
            "Largest request head in bytes: request line plus header fields, a whole uwsgi \
             packet, or the params of a FastCGI request (0: only the limits above).",
        )
    },
    Setting {
        flags: &["permit-obsolete-folding"],
        ..base(
            "permit_obsolete_folding",
            Section::Limits,
            Kind::Flag,
            Def::Bool(false),
            "Accept obsolete line folding in headers (RFC 9112 forbids it).",
        )
    },
    Setting {
        flags: &["permit-unconventional-http-method"],
        ..base(
            "permit_unconventional_http_method",
            Section::Limits,
            Kind::Flag,
            Def::Bool(false),
            "Accept methods that are not 3-20 uppercase token characters.",
        )
    },
    Setting {
        flags: &["casefold-http-method"],
        ..base(
            "casefold_http_method",
            Section::Limits,
            Kind::Flag,
            Def::Bool(false),
            "Uppercase the request method (with --permit-unconventional-http-method).",
        )
    },
    Setting {
        flags: &["strip-header-spaces"],
        ..base(
            "strip_header_spaces",
            Section::Limits,
            Kind::Flag,
            Def::Bool(false),
            "Strip whitespace before the colon of header names instead of refusing (unsafe).",
        )
    },
    Setting {
        flags: &["header-map"],
        meta: "POLICY",
        doc: "`drop` (default) silently drops e.g. `X_Forwarded_For`, which would otherwise land on \
              the same environ key as `X-Forwarded-For` and could spoof it.",
        ..base(
            "header_map",
            Section::Limits,
            Kind::Choice(&["drop", "refuse", "dangerous"]),
            Def::Str("drop"),
            "Header names containing `_`: drop, refuse (400) or dangerous (keep).",
        )
    },
    // ---- Proxies -------------------------------------------------------------------------------
    Setting {
        flags: &["forwarded-allow-ips"],
        env: Some("FORWARDED_ALLOW_IPS"),
        meta: "STRING",
        check: Some(checks::allow_entry),
        status: Status::Active,
        default_doc: Some("`127.0.0.1,::1`, or `$FORWARDED_ALLOW_IPS`"),
        ..base(
            "forwarded_allow_ips",
            Section::Proxies,
            Kind::CommaList,
            Def::List(&["127.0.0.1", "::1"]),
            "Front ends (IPs, CIDR networks, or *) trusted to set X-Forwarded-For, \
             secure_scheme_headers and forwarder_headers.",
        )
    },
    Setting {
        status: Status::Active,
        check: Some(checks::header_name),
        doc: "Python config only, as in gunicorn. Keys are header names, matched \
              case-insensitively; a request from a trusted front end with one of them set to its \
              value gets `wsgi.url_scheme = https`.",
        ..base(
            "secure_scheme_headers",
            Section::Proxies,
            Kind::Dict,
            Def::Dict(&[
                ("X-FORWARDED-PROTOCOL", "ssl"),
                ("X-FORWARDED-PROTO", "https"),
                ("X-FORWARDED-SSL", "on"),
            ]),
            "Headers, with values, by which a trusted front end says a request came over HTTPS.",
        )
    },
    Setting {
        flags: &["forwarder-headers"],
        meta: "STRING",
        check: Some(checks::header_name),
        status: Status::Active,
        ..base(
            "forwarder_headers",
            Section::Proxies,
            Kind::CommaList,
            Def::List(&["SCRIPT_NAME", "PATH_INFO"]),
            "Underscore headers a trusted front end may send to set these environ keys, whatever \
             header_map says.",
        )
    },
    Setting {
        check: Some(checks::header_name),
        status: Status::Active,
        doc: "Python config only (older gunicorn's setting, still common in config files).",
        ..base(
            "x_forwarded_for_header",
            Section::Proxies,
            Kind::Str,
            Def::Str("X-FORWARDED-FOR"),
            "Header whose right-most untrusted address becomes REMOTE_ADDR when the peer is a \
             trusted front end.",
        )
    },
    Setting {
        flags: &["proxy-protocol"],
        meta: "MODE",
        optional_value: Some("auto"),
        status: Status::Active,
        doc: "`off`, `v1` (text), `v2` (binary) or `auto`; without a value `auto`. A Python `True` \
              means `auto`.",
        ..base(
            "proxy_protocol",
            Section::Proxies,
            Kind::Choice(&["off", "v1", "v2", "auto"]),
            Def::Str("off"),
            "Read a PROXY protocol header (HAProxy, stunnel) at the start of each connection.",
        )
    },
    Setting {
        flags: &["proxy-allow-from"],
        meta: "STRING",
        check: Some(checks::allow_entry),
        status: Status::Active,
        ..base(
            "proxy_allow_ips",
            Section::Proxies,
            Kind::CommaList,
            Def::List(&["127.0.0.1", "::1"]),
            "Front ends (IPs, CIDR networks, or *) allowed to send a PROXY protocol header.",
        )
    },
    Setting {
        flags: &["script-name"],
        meta: "PREFIX",
        check: Some(checks::script_name),
        status: Status::Active,
        doc: "uWSGI's `mount = PREFIX=APP` sets this (and the app); `manage-script-name` is \
              implied.",
        ..base(
            "script_name",
            Section::Proxies,
            Kind::Str,
            Def::None,
            "Serve the app under this URL prefix: SCRIPT_NAME is set to it and it is stripped from \
             PATH_INFO.",
        )
    },
    // ---- Static files --------------------------------------------------------------------------
    Setting {
        flags: &["static"],
        ini: &["static-map"],
        meta: "URL=DIR",
        check: Some(checks::static_map),
        status: Status::Active,
        doc: "In a Python config file this may also be a dict `{'/static': '/srv/app/static'}`. \
              Served by the worker without entering Python (sendfile, ETag/Last-Modified, \
              Range, `.br`/`.gz` siblings); GET and HEAD only (405 otherwise). The longest \
              matching prefix is searched first, then shorter and repeated ones in order; a path \
              that names no regular file under any of them goes to the app, as in uWSGI. See \
              docs/frontends.md, \"Static files\".",
        ..base(
            "static_map",
            Section::StaticFiles,
            Kind::Strings,
            Def::List(&[]),
            "Serve the files under DIR at the URL prefix (e.g. /static=/srv/app/static) without \
             calling the app; repeatable.",
        )
    },
    // ---- Logging -------------------------------------------------------------------------------
    Setting {
        flags: &["access-logfile"],
        meta: "FILE",
        status: Status::Active,
        default_doc: Some("unset: no access log"),
        ..base(
            "accesslog",
            Section::Logging,
            Kind::Str,
            Def::None,
            "Access log file; `-` is stdout.",
        )
    },
    Setting {
        flags: &["access-logformat"],
        meta: "STRING",
        status: Status::Active,
        doc: "gunicorn's atoms: `h` remote address, `l` `-`, `u` user, `t` date, `r` request line, \
              `s` status, `b` length, `f` referer, `a` user agent, `T`/`D`/`M` request time in \
              s/µs/ms, `{header}i` request header, `{header}o` response header, `{key}e` environ.",
        ..base(
            "access_log_format",
            Section::Logging,
            Kind::Str,
            Def::Str(DEFAULT_ACCESS_LOG_FORMAT),
            "Access log line format (gunicorn's %(atom)s format).",
        )
    },
    Setting {
        flags: &["access-log-json"],
        status: Status::Active,
        ..base(
            "access_log_json",
            Section::Logging,
            Kind::Flag,
            Def::Bool(false),
            "Write the access log as JSON lines, one object per request, instead of \
             access_log_format.",
        )
    },
    Setting {
        flags: &["disable-logging"],
        ini: &["disable-logging"],
        status: Status::Active,
        doc: "uWSGI logs every request unless told not to; ferrocorn, like gunicorn, logs requests \
              only with `accesslog`.",
        ..base(
            "disable_logging",
            Section::Logging,
            Kind::Flag,
            Def::Bool(false),
            "Write no access log, even when accesslog is set.",
        )
    },
    Setting {
        flags: &["error-logfile", "log-file"],
        ini: &["logto"],
        meta: "FILE",
        doc: "uWSGI's `daemonize = FILE` sets this and `daemon`.",
        ..base(
            "errorlog",
            Section::Logging,
            Kind::Str,
            Def::Str("-"),
            "Error log file; `-` is stderr.",
        )
    },
    Setting {
        flags: &["log-level"],
        meta: "LEVEL",
        ..base(
            "loglevel",
            Section::Logging,
            Kind::Choice(&["debug", "info", "warning", "error", "critical"]),
            Def::Str("info"),
            "Error log level: debug, info, warning, error or critical.",
        )
    },
    Setting {
        flags: &["capture-output"],
        status: Status::Active,
        doc: "Only when the error log is a file. Python's `sys.stdout` and `sys.stderr` are then \
              line-buffered, so each `print()` reaches the log promptly and as one whole line \
              (also with `PYTHONUNBUFFERED`), never split by a log line written meanwhile.",
        ..base(
            "capture_output",
            Section::Logging,
            Kind::Flag,
            Def::Bool(false),
            "Send the app's stdout and stderr to the error log.",
        )
    },
    // ---- Server mechanics ----------------------------------------------------------------------
    Setting {
        flags: &["preload"],
        doc: "Preloading saves memory through copy-on-write but means code changes need a full \
              restart, and anything the app opens at import (database connections, threads) is \
              shared by every worker.",
        ..base(
            "preload_app",
            Section::Mechanics,
            Kind::Flag,
            Def::Bool(false),
            "Import the app in the master before forking the workers.",
        )
    },
    Setting {
        flags: &["lazy-apps"],
        ini: &["lazy-apps", "lazy"],
        doc: "Lazy is ferrocorn's (and gunicorn's) default, while uWSGI's default is to preload. \
              `lazy-apps = false` therefore means `preload_app`; when both are set and disagree, \
              the one from the higher-precedence source wins.",
        ..base(
            "lazy_apps",
            Section::Mechanics,
            Kind::Flag,
            Def::Bool(true),
            "Import the app in each worker after fork (the default).",
        )
    },
    Setting {
        flags: &["reload"],
        ..base(
            "reload",
            Section::Mechanics,
            Kind::Flag,
            Def::Bool(false),
            "Restart the workers when a loaded Python file changes (development only).",
        )
    },
    Setting {
        flags: &["reload-extra-file"],
        meta: "FILES",
        ..base(
            "reload_extra_files",
            Section::Mechanics,
            Kind::Strings,
            Def::List(&[]),
            "Also watch these files (templates, settings) with --reload; repeatable.",
        )
    },
    Setting {
        flags: &["chdir"],
        ini: &["chdir"],
        meta: "DIR",
        default_doc: Some("unset: the current directory"),
        ..base(
            "chdir",
            Section::Mechanics,
            Kind::Str,
            Def::None,
            "Change to this directory before loading the app; it also goes first on sys.path.",
        )
    },
    Setting {
        flags: &["pythonpath"],
        ini: &["pythonpath", "python-path", "pp"],
        meta: "PATHS",
        ..base(
            "pythonpath",
            Section::Mechanics,
            Kind::CommaList,
            Def::List(&[]),
            "Comma-separated directories to put first on sys.path.",
        )
    },
    Setting {
        ini: &["home", "virtualenv", "venv", "pyhome"],
        status: Status::NoOp(
            "ferrocorn runs in the Python it was started with: start the virtualenv's \
             bin/ferrocorn instead",
        ),
        ..base(
            "virtualenv",
            Section::Mechanics,
            Kind::Str,
            Def::None,
            "uWSGI's home/virtualenv: recorded only.",
        )
    },
    Setting {
        short: Some('e'),
        flags: &["env"],
        ini: &["env"],
        meta: "KEY=VALUE",
        check: Some(checks::env_pair),
        ..base(
            "raw_env",
            Section::Mechanics,
            Kind::Strings,
            Def::List(&[]),
            "Set an environment variable (os.environ) before the app loads; repeatable.",
        )
    },
    Setting {
        short: Some('D'),
        flags: &["daemon"],
        doc: "uWSGI's `daemonize = FILE` sets this and `errorlog`.",
        ..base(
            "daemon",
            Section::Mechanics,
            Kind::Flag,
            Def::Bool(false),
            "Detach from the terminal and run in the background.",
        )
    },
    Setting {
        short: Some('p'),
        flags: &["pid"],
        ini: &["pidfile"],
        meta: "FILE",
        ..base(
            "pidfile",
            Section::Mechanics,
            Kind::Str,
            Def::None,
            "Write the master's process id to this file.",
        )
    },
    Setting {
        short: Some('u'),
        flags: &["user"],
        ini: &["uid"],
        meta: "USER",
        default_doc: Some("unset: the current user"),
        ..base(
            "user",
            Section::Mechanics,
            Kind::Str,
            Def::None,
            "Run the workers as this user (name or number).",
        )
    },
    Setting {
        short: Some('g'),
        flags: &["group"],
        ini: &["gid"],
        meta: "GROUP",
        default_doc: Some("unset: the current group"),
        ..base(
            "group",
            Section::Mechanics,
            Kind::Str,
            Def::None,
            "Run the workers as this group (name or number).",
        )
    },
    Setting {
        short: Some('m'),
        flags: &["umask"],
        ini: &["umask"],
        meta: "INT",
        doc: "Text is read like Python's `int(x, 0)` (`18`, `0o22`), and a leading zero also means \
              octal (`022`).",
        ..base(
            "umask",
            Section::Mechanics,
            Kind::Umask,
            Def::Int(0),
            "File mode creation mask of the server processes.",
        )
    },
    Setting {
        short: Some('n'),
        flags: &["name"],
        ini: &["procname"],
        meta: "STRING",
        default_doc: Some("unset: `ferrocorn`"),
        ..base(
            "proc_name",
            Section::Mechanics,
            Kind::Str,
            Def::None,
            "Base of the process titles shown by ps and top.",
        )
    },
    Setting {
        flags: &["worker-tmp-dir"],
        meta: "DIR",
        status: Status::NoOp("ferrocorn's heartbeat uses shared memory, not files"),
        ..base(
            "worker_tmp_dir",
            Section::Mechanics,
            Kind::Str,
            Def::None,
            "Directory for gunicorn's worker heartbeat files.",
        )
    },
    Setting {
        flags: &["server-header"],
        meta: "STRING",
        check: Some(checks::header_value),
        ..base(
            "server_header",
            Section::Mechanics,
            Kind::Str,
            Def::Str("ferrocorn"),
            "The value of the Server response header.",
        )
    },
    // ---- Hooks ---------------------------------------------------------------------------------
    hook("on_starting", 1, 1, "on_starting(server)", "Called in the master before it starts."),
    hook("on_reload", 1, 1, "on_reload(server)", "Called in the master on a reload (HUP)."),
    hook("when_ready", 1, 1, "when_ready(server)", "Called in the master once the sockets listen."),
    hook("pre_fork", 2, 2, "pre_fork(server, worker)", "Called in the master before a worker is forked."),
    hook("post_fork", 2, 2, "post_fork(server, worker)", "Called in a new worker right after fork."),
    hook(
        "post_worker_init",
        1,
        1,
        "post_worker_init(worker)",
        "Called in a worker after it has loaded the app.",
    ),
    hook("worker_int", 1, 1, "worker_int(worker)", "Called in a worker that got INT or QUIT."),
    hook(
        "worker_abort",
        1,
        1,
        "worker_abort(worker)",
        "Accepted, never called: a worker past its timeout writes every thread's stack to the \
         error log instead (its Python code may be stuck, so no hook could run reliably).",
    ),
    hook("pre_exec", 1, 1, "pre_exec(server)", "Called in the master before a new master is executed."),
    hook(
        "pre_request",
        2,
        2,
        "pre_request(worker, req)",
        "Called in a worker before it handles a request.",
    ),
    hook(
        "post_request",
        2,
        4,
        "post_request(worker, req, environ, resp)",
        "Called in a worker after it has handled a request (2 to 4 parameters).",
    ),
    hook(
        "child_exit",
        2,
        2,
        "child_exit(server, worker)",
        "Called in the master after a worker has exited.",
    ),
    hook(
        "worker_exit",
        2,
        2,
        "worker_exit(server, worker)",
        "Called in a worker just before it exits.",
    ),
    hook(
        "nworkers_changed",
        3,
        3,
        "nworkers_changed(server, new_value, old_value)",
        "Called in the master when the number of workers changes.",
    ),
    hook("on_exit", 1, 1, "on_exit(server)", "Called in the master just before it exits."),
];

/// Look a setting up by its Python-config name.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// What a uWSGI key that is not a setting's own key does here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IniAction {
    /// Accepted silently: ferrocorn always behaves this way.
    Always,
    /// Accepted with a warning: it has no effect here.
    Ignored,
    /// Handled by the ini reader (it maps onto other settings).
    Mapped,
}

/// A uWSGI ini key handled outside the settings' own keys.
#[derive(Clone, Copy, Debug)]
pub struct IniExtra {
    pub keys: &'static [&'static str],
    pub action: IniAction,
    /// What it does here, and why; shown in the docs and in warnings.
    pub doc: &'static str,
}

/// uWSGI keys that are not a single setting's key: accepted behaviours, no-ops and mappings.
pub static INI_EXTRAS: &[IniExtra] = &[
    IniExtra {
        keys: &["master"],
        action: IniAction::Always,
        doc: "ferrocorn always runs a master process that supervises the workers.",
    },
    IniExtra {
        keys: &["enable-threads"],
        action: IniAction::Always,
        doc: "Python threads always work (`threads` sets the request threads).",
    },
    IniExtra {
        keys: &["thunder-lock"],
        action: IniAction::Always,
        doc: "workers wait on the shared sockets with EPOLLEXCLUSIVE, so the kernel \
              wakes one worker per connection, and only a worker with an idle thread accepts.",
    },
    IniExtra {
        keys: &["die-on-term"],
        action: IniAction::Always,
        doc: "TERM always stops ferrocorn gracefully (in-flight requests finish); uWSGI without \
              die-on-term would reload instead. HUP reloads.",
    },
    IniExtra {
        keys: &["single-interpreter"],
        action: IniAction::Always,
        doc: "ferrocorn hosts one app in one interpreter.",
    },
    IniExtra {
        keys: &["need-app"],
        action: IniAction::Always,
        doc: "ferrocorn never starts without its app.",
    },
    IniExtra {
        keys: &["strict"],
        action: IniAction::Always,
        doc: "ferrocorn is always strict: unknown keys are errors (keys only used as %(...) \
              placeholders excepted).",
    },
    IniExtra {
        keys: &["plugins", "plugin"],
        action: IniAction::Always,
        doc: "Python support is built in.",
    },
    IniExtra {
        keys: &["manage-script-name"],
        action: IniAction::Always,
        doc: "With `mount`/`script_name`, SCRIPT_NAME is always managed.",
    },
    IniExtra {
        keys: &[
            "no-orphans",
            "auto-procname",
            "harakiri-verbose",
            "logdate",
            "log-date",
        ],
        action: IniAction::Always,
        doc: "ferrocorn always behaves this way (workers exit with their master, processes are \
              named, timeouts are logged with stacks, log lines are dated).",
    },
    IniExtra {
        keys: &[
            "post-buffering",
            "offload-threads",
            "stats",
            "stats-http",
            "memory-report-stats",
        ],
        action: IniAction::Ignored,
        doc: "ferrocorn has no stats server, request offloading or post-buffering.",
    },
    IniExtra {
        keys: &["callable"],
        action: IniAction::Mapped,
        doc: "Name of the WSGI callable for `module = a.b` or `wsgi-file`; default `application`.",
    },
    IniExtra {
        keys: &["mount"],
        action: IniAction::Mapped,
        doc:
            "`mount = PREFIX=APP` sets `script_name` to PREFIX and the app to APP (a module, or a \
              file when it ends in `.py`). One mount only.",
    },
    IniExtra {
        keys: &["daemonize"],
        action: IniAction::Mapped,
        doc: "`daemonize = FILE` sets `daemon` and logs to FILE (`errorlog`).",
    },
    IniExtra {
        keys: &["py-autoreload", "python-autoreload"],
        action: IniAction::Mapped,
        doc: "A non-zero value sets `reload`.",
    },
    IniExtra {
        keys: &["cheaper"],
        action: IniAction::Mapped,
        doc: "Turns on dynamic workers: `cheaper` is `workers_min` and `processes` becomes \
              `workers_max`.",
    },
    IniExtra {
        keys: &["cheaper-initial"],
        action: IniAction::Mapped,
        doc: "Workers started at first (`workers`); default: the `cheaper` count.",
    },
    IniExtra {
        keys: &["cheaper-step", "cheaper-algo", "cheaper-overload"],
        action: IniAction::Ignored,
        doc: "ferrocorn's dynamic workers keep `min_spare` to `max_spare` workers idle instead.",
    },
];

/// gunicorn settings ferrocorn does not take, and why; a Python config file may still set them
/// (they are ignored with this explanation instead of an "unknown setting" warning).
pub static GUNICORN_UNSUPPORTED: &[(&[&str], &str)] = &[
    (
        &[
            "keyfile",
            "certfile",
            "ssl_version",
            "cert_reqs",
            "ca_certs",
            "suppress_ragged_eofs",
            "do_handshake_on_connect",
            "ciphers",
            "ssl_context",
        ],
        "ferrocorn does not terminate TLS: let the front end (nginx, a load balancer) do it",
    ),
    (
        &[
            "logger_class",
            "logconfig",
            "logconfig_dict",
            "logconfig_json",
            "syslog",
            "syslog_addr",
            "syslog_prefix",
            "syslog_facility",
            "disable_redirect_access_to_syslog",
            "enable_stdio_inheritance",
        ],
        "ferrocorn's logging is configured by errorlog, loglevel and accesslog only",
    ),
    (
        &[
            "statsd_host",
            "statsd_prefix",
            "dogstatsd_tags",
            "enable_backlog_metric",
        ],
        "metrics export is not supported",
    ),
    (
        &[
            "http_protocols",
            "http2_cleartext",
            "http2_max_concurrent_streams",
            "http2_initial_window_size",
            "http2_max_frame_size",
            "http2_max_header_list_size",
            "asgi_loop",
            "asgi_lifespan",
            "asgi_disconnect_grace_period",
            "websocket_max_message_size",
            "http_parser",
            "root_path",
        ],
        "ferrocorn is an HTTP/1.1 WSGI server",
    ),
    (
        &["paste", "raw_paste_global_conf"],
        "PasteDeploy apps are not supported: point APP at the WSGI callable",
    ),
    (
        &[
            "reload_engine",
            "spew",
            "sendfile",
            "reuse_port",
            "initgroups",
            "tmp_upload_dir",
            "default_proc_name",
            "protocol",
            "uwsgi_allow_ips",
            "permit_unconventional_http_version",
            "control_socket",
            "control_socket_mode",
            "control_socket_disable",
            "dirty_apps",
            "dirty_workers",
            "dirty_timeout",
            "dirty_threads",
            "dirty_graceful_timeout",
            "on_dirty_starting",
            "dirty_post_fork",
            "dirty_worker_init",
            "dirty_worker_exit",
        ],
        "not supported by ferrocorn",
    ),
];

/// Why a gunicorn setting is not supported, if it is one of those.
pub fn gunicorn_unsupported(name: &str) -> Option<&'static str> {
    GUNICORN_UNSUPPORTED
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, why)| *why)
}

/// Find the uWSGI extra a key belongs to.
pub fn ini_extra(key: &str) -> Option<&'static IniExtra> {
    INI_EXTRAS.iter().find(|e| e.keys.contains(&key))
}
