//! The validated [`Config`]: the merge of all sources by precedence, checks that involve several
//! settings, the typed fields the server reads, and [`Config::environment_problems`].
//!
//! Why typed fields on top of the table: the server should read `cfg.workers` as a `u32`, not look
//! strings up; the table stays the single declaration, and this file is the one place that turns
//! its values into the server's types.

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::addr::{AllowList, Dialect, ListenAddr};
use crate::source::{Assign, ConfigError, Origin, Warning};
use crate::table::{Setting, Status, SETTINGS};
use crate::value::{convert, RawValue, Value};

/// What to do with request header names that contain `_` (gunicorn's `header_map`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderMap {
    /// Drop the header (default): `X_Forwarded_For` could otherwise spoof `X-Forwarded-For`.
    Drop,
    /// Answer 400.
    Refuse,
    /// Keep it; it lands on the same environ key as its dashed twin.
    Dangerous,
}

/// Error-log severity, gunicorn's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    /// The upper-case name used in log lines.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
            LogLevel::Critical => "CRITICAL",
        }
    }
}

/// PROXY protocol mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyProtocol {
    Off,
    V1,
    V2,
    /// Detect v1 or v2.
    Auto,
}

/// The wire protocol a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Uwsgi,
    FastCgi,
}

impl Protocol {
    /// The scheme used in the "Listening at: SCHEME://..." line.
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Uwsgi => "uwsgi",
            Protocol::FastCgi => "fastcgi",
        }
    }
}

/// One socket to listen on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    pub protocol: Protocol,
    pub addr: ListenAddr,
    /// The address in gunicorn's spelling, as configured (`:8000` stays so).
    pub spec: String,
}

/// Where the app comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppSpec {
    /// `MODULE[:CALLABLE]`, as the loader takes it.
    Module(String),
    /// A Python file (uWSGI's `wsgi-file`) and the callable's name in it.
    File { path: PathBuf, callable: String },
}

/// One setting's effective value and where it came from.
#[derive(Clone, Debug)]
pub struct Effective {
    pub setting: &'static Setting,
    pub value: Value,
    pub origin: Origin,
    /// The key as written where it was set (the setting's name for defaults).
    pub written: String,
}

impl Effective {
    /// Whether the value differs from the table's default.
    pub fn is_default(&self) -> bool {
        self.value == Value::from_def(&self.setting.default)
    }
}

/// Validated settings, in the units the server uses. Built by [`crate::load`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The app as `MODULE[:CALLABLE]`, or `FILE:CALLABLE` for a file; for messages. Always set
    /// when [`crate::load`] returns [`crate::Loaded::Run`].
    pub app: String,
    /// How to load the app.
    pub app_spec: AppSpec,
    /// The config file that was read (as the user named it), if any.
    pub config_file: Option<String>,

    /// HTTP addresses (gunicorn spelling); empty when only uwsgi/FastCGI sockets are configured.
    pub binds: Vec<String>,
    /// Every socket to listen on, HTTP first, then uwsgi, then FastCGI.
    pub listeners: Vec<Listen>,
    /// No address was configured: `listeners` holds the default HTTP bind, which gives way to
    /// a FastCGI listener found on fd 0 (a web server such as Apache mod_fcgid started us).
    pub default_bind: bool,
    pub backlog: i32,
    /// Mode bits for Unix sockets.
    pub chmod_socket: Option<u32>,
    /// `USER[:GROUP]` for Unix sockets.
    pub chown_socket: Option<String>,
    pub vacuum: bool,

    /// Workers to start (the fixed count unless dynamic workers are on).
    pub workers: u32,
    pub threads: u32,
    /// `sync`, `gthread`, or another class (warned about and ignored).
    pub worker_class: String,
    /// Kill workers silent this long; zero disables.
    pub timeout: Duration,
    pub graceful_timeout: Duration,
    /// Restart a worker after this many requests; 0 never.
    pub max_requests: u64,
    pub max_requests_jitter: u64,
    /// Restart a worker whose resident size exceeds this many bytes (the setting is in MB);
    /// 0 never.
    pub reload_on_rss: u64,
    pub memory_report: bool,
    /// Per-request limit (uWSGI's harakiri).
    pub harakiri: Option<Duration>,
    /// Dynamic workers, when on: `(workers_min, workers_max, min_spare, max_spare)`, with
    /// `workers_min <= workers <= workers_max` (`workers` is the count started with).
    pub dynamic: Option<(u32, u32, u32, u32)>,

    pub keepalive: Duration,
    pub header_timeout: Duration,
    pub client_timeout: Duration,

    pub limit_request_line: usize,
    pub limit_request_fields: usize,
    pub limit_request_field_size: usize,
    pub limit_request_body: u64,
    /// Largest whole request head; 0 means only the other limits.
    pub limit_request_head: usize,
    pub permit_obsolete_folding: bool,
    pub permit_unconventional_http_method: bool,
    pub casefold_http_method: bool,
    pub strip_header_spaces: bool,
    pub header_map: HeaderMap,

    pub forwarded_allow_ips: AllowList,
    /// Header names upper-cased, with the value that means https.
    pub secure_scheme_headers: Vec<(String, String)>,
    pub forwarder_headers: Vec<String>,
    pub x_forwarded_for_header: String,
    pub proxy_protocol: ProxyProtocol,
    pub proxy_allow_ips: AllowList,
    /// URL prefix without trailing `/`.
    pub script_name: Option<String>,

    /// (URL prefix, directory).
    pub static_map: Vec<(String, PathBuf)>,

    /// Access log destination (`-` stdout); `None` when off (also when `disable_logging`).
    pub accesslog: Option<String>,
    pub access_log_format: String,
    pub access_log_json: bool,
    pub disable_logging: bool,
    /// Error log destination; `-` is stderr.
    pub error_logfile: String,
    pub log_level: LogLevel,
    pub capture_output: bool,

    /// Import the app before forking (`preload_app`, or uWSGI `lazy-apps = false`).
    pub preload_app: bool,
    pub reload: bool,
    pub reload_extra_files: Vec<PathBuf>,
    pub chdir: Option<PathBuf>,
    pub pythonpath: Vec<PathBuf>,
    /// uWSGI `home`/`virtualenv`, recorded only.
    pub virtualenv: Option<PathBuf>,
    /// Environment variables to set before the app loads.
    pub raw_env: Vec<(String, String)>,
    pub daemon: bool,
    pub pidfile: Option<PathBuf>,
    /// Uid to run the workers as (a user name is resolved; [`crate::load`] refuses to serve
    /// when it does not exist).
    pub user: Option<u32>,
    /// Gid to run the workers as.
    pub group: Option<u32>,
    /// Only when set: `None` leaves the inherited umask alone.
    pub umask: Option<u32>,
    /// Base of the process titles: `proc_name`, else the app.
    pub proc_name: String,
    pub worker_tmp_dir: Option<PathBuf>,
    pub server_header: String,

    /// Hooks set in a Python config file: name -> `repr()` of the callable. The callables
    /// themselves stay with the Python side (`ferrocorn-py` keeps them by name).
    pub hooks: BTreeMap<String, String>,

    /// Every setting's effective value and origin, in table order.
    pub effective: Vec<Effective>,
}

/// Apply the layers over the defaults: a later layer replaces a setting; within one layer,
/// repeated list keys (ini `socket = ...` twice) accumulate.
pub fn merge(layers: &[Vec<Assign>]) -> Vec<Effective> {
    let mut eff: Vec<Effective> = SETTINGS
        .iter()
        .map(|s| Effective {
            setting: s,
            value: Value::from_def(&s.default),
            origin: Origin::Default,
            written: s.name.to_string(),
        })
        .collect();
    for layer in layers {
        let mut touched: Vec<&str> = Vec::new();
        for a in layer {
            let Some(e) = eff.iter_mut().find(|e| e.setting.name == a.setting.name) else {
                continue;
            };
            let again = touched.contains(&a.setting.name);
            match (&mut e.value, &a.value) {
                (Value::List(old), Value::List(new)) if again && a.setting.kind.accumulates() => {
                    old.extend(new.iter().cloned());
                    e.origin = a.origin.clone();
                }
                _ => {
                    e.value = a.value.clone();
                    e.origin = a.origin.clone();
                    e.written = a.written.clone();
                }
            }
            touched.push(a.setting.name);
        }
    }
    eff
}

/// Defaults that come from environment variables (`$WEB_CONCURRENCY`, `$FORWARDED_ALLOW_IPS`).
pub fn env_layer(env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Assign>, ConfigError> {
    let mut out = Vec::new();
    for s in SETTINGS {
        let Some(var) = s.env else { continue };
        let Some(text) = env(var).filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        let origin = Origin::Env(var.to_string());
        let value = convert(s, &RawValue::Str(text)).map_err(|e| ConfigError {
            key: var.to_string(),
            origin: Some(origin.clone()),
            message: format!("${var}: invalid value for {}: {e}", s.name),
            code: crate::EX_USAGE,
        })?;
        out.push(Assign {
            setting: s,
            value,
            origin,
            written: format!("${var}"),
        });
    }
    Ok(out)
}

/// Read access to the merged values by name. Types are guaranteed by `convert`; a mismatch would
/// be a bug in the table, so the fallbacks only keep this panic-free.
struct View<'a>(&'a [Effective]);

impl<'a> View<'a> {
    fn get(&self, name: &str) -> Option<&'a Effective> {
        self.0.iter().find(|e| e.setting.name == name)
    }
    fn value(&self, name: &str) -> &'a Value {
        static NONE: Value = Value::None;
        self.get(name).map(|e| &e.value).unwrap_or(&NONE)
    }
    fn origin(&self, name: &str) -> Origin {
        self.get(name)
            .map(|e| e.origin.clone())
            .unwrap_or(Origin::Default)
    }
    fn explicit(&self, name: &str) -> bool {
        !matches!(self.origin(name), Origin::Default)
    }
    fn bool(&self, name: &str) -> bool {
        matches!(self.value(name), Value::Bool(true))
    }
    fn int(&self, name: &str) -> i64 {
        match self.value(name) {
            Value::Int(i) => *i,
            _ => 0,
        }
    }
    fn uint<T: TryFrom<i64> + Default>(&self, name: &str) -> T {
        T::try_from(self.int(name)).unwrap_or_default()
    }
    fn secs(&self, name: &str) -> Duration {
        match self.value(name) {
            Value::Float(f) => Duration::from_secs_f64(*f),
            _ => Duration::ZERO,
        }
    }
    fn opt_str(&self, name: &str) -> Option<String> {
        match self.value(name) {
            Value::Str(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }
    fn str(&self, name: &str) -> String {
        self.opt_str(name).unwrap_or_default()
    }
    fn list(&self, name: &str) -> Vec<String> {
        match self.value(name) {
            Value::List(l) => l.clone(),
            _ => Vec::new(),
        }
    }
    fn dict(&self, name: &str) -> Vec<(String, String)> {
        match self.value(name) {
            Value::Dict(d) => d.clone(),
            _ => Vec::new(),
        }
    }
    /// `written (origin)` for messages about a value's source.
    fn cite(&self, name: &str) -> String {
        match self.get(name) {
            Some(e) if e.origin != Origin::Default => {
                format!("{} ({})", e.written, e.origin.place())
            }
            _ => format!("{name} (default)"),
        }
    }
}

fn listeners(
    v: &View<'_>,
    name: &str,
    protocol: Protocol,
    dialect: Dialect,
) -> Result<Vec<Listen>, ConfigError> {
    v.list(name)
        .into_iter()
        .map(|spec| {
            ListenAddr::parse(&spec, dialect)
                .map(|addr| Listen {
                    protocol,
                    addr,
                    spec: spec.clone(),
                })
                .map_err(|e| ConfigError::invalid(&v.origin(name), name, e))
        })
        .collect()
}

/// Build the typed config from merged values and check the rules that span several settings.
/// `require_app` is false for `--check-config` and `--print-config`.
pub fn build(
    eff: Vec<Effective>,
    callable: Option<String>,
    config_file: Option<String>,
    require_app: bool,
) -> Result<(Config, Vec<Warning>), ConfigError> {
    let v = View(&eff);
    let mut warnings = Vec::new();

    // Not-yet-active and no-op settings that were set on purpose: say so at start-up.
    for e in &eff {
        if e.origin == Origin::Default || e.is_default() {
            continue;
        }
        match e.setting.status {
            Status::Active => {}
            Status::Pending(feature) => warnings.push(Warning::at(
                &e.origin,
                format!(
                    "{} is accepted but has no effect yet (it takes effect when {feature} lands)",
                    e.written
                ),
            )),
            Status::NoOp(why) => warnings.push(Warning::at(
                &e.origin,
                format!("{} has no effect: {why}", e.written),
            )),
        }
    }

    if let Err(e) = crate::access_format::parse(&v.str("access_log_format")) {
        return Err(ConfigError::usage(
            "access_log_format",
            format!("{} ({})", e.0, v.cite("access_log_format")),
        ));
    }

    // The app: a module or a file, whichever came from the higher-precedence source.
    let module = v.opt_str("wsgi_app").map(|m| (m, v.origin("wsgi_app")));
    let file = v.opt_str("wsgi_file").map(|f| (f, v.origin("wsgi_file")));
    let callable = callable.unwrap_or_else(|| "application".to_string());
    let app_spec = match (module, file) {
        (Some((m, mo)), Some((f, fo))) => {
            if mo.rank() == fo.rank() {
                return Err(ConfigError::usage(
                    "wsgi_file",
                    format!(
                        "both an app module ({}) and a wsgi-file ({}) are set; keep one",
                        v.cite("wsgi_app"),
                        v.cite("wsgi_file")
                    ),
                ));
            }
            if mo.rank() > fo.rank() {
                Some(AppSpec::Module(m))
            } else {
                Some(AppSpec::File {
                    path: PathBuf::from(f),
                    callable,
                })
            }
        }
        (Some((m, _)), None) => Some(AppSpec::Module(m)),
        (None, Some((f, _))) => Some(AppSpec::File {
            path: PathBuf::from(f),
            callable,
        }),
        (None, None) => None,
    };
    let (app, app_spec) = match app_spec {
        Some(AppSpec::Module(m)) => (m.clone(), AppSpec::Module(m)),
        Some(AppSpec::File { path, callable }) => (
            format!("{}:{callable}", path.display()),
            AppSpec::File { path, callable },
        ),
        None if require_app => {
            return Err(ConfigError::usage(
                "APP",
                "no application given: pass MODULE[:CALLABLE] (or set wsgi_app in the config \
                 file, module or wsgi-file in an ini file)",
            ))
        }
        None => (String::new(), AppSpec::Module(String::new())),
    };

    // Sockets: the default HTTP address only when nothing else listens.
    let mut http = listeners(&v, "bind", Protocol::Http, Dialect::Gunicorn)?;
    let uwsgi = listeners(&v, "uwsgi_socket", Protocol::Uwsgi, Dialect::Uwsgi)?;
    let fastcgi = listeners(&v, "fastcgi_socket", Protocol::FastCgi, Dialect::Uwsgi)?;
    let others = !uwsgi.is_empty() || !fastcgi.is_empty();
    if others && !v.explicit("bind") {
        http.clear();
    }
    let default_bind = !others && !v.explicit("bind");
    if http.is_empty() && uwsgi.is_empty() && fastcgi.is_empty() {
        return Err(ConfigError::usage(
            "bind",
            format!("no address to listen on: {} is empty", v.cite("bind")),
        ));
    }
    let binds: Vec<String> = http.iter().map(|l| l.spec.clone()).collect();
    let all_listeners: Vec<Listen> = http.into_iter().chain(uwsgi).chain(fastcgi).collect();

    // Workers: fixed, or dynamic between workers_min and workers_max.
    let workers: u32 = v.uint("workers");
    let workers_min = match v.uint::<u32>("workers_min") {
        0 => workers,
        n => n,
    };
    let workers_max = match v.uint::<u32>("workers_max") {
        0 => workers,
        n => n,
    };
    if workers_min > workers {
        return Err(ConfigError::usage(
            "workers_min",
            format!(
                "{} is above the starting workers, {}",
                v.cite("workers_min"),
                v.cite("workers")
            ),
        ));
    }
    if workers_max < workers {
        return Err(ConfigError::usage(
            "workers_max",
            format!(
                "{} is below the starting workers, {}",
                v.cite("workers_max"),
                v.cite("workers")
            ),
        ));
    }
    let (min_spare, max_spare): (u32, u32) = (v.uint("min_spare"), v.uint("max_spare"));
    let dynamic =
        (workers_min < workers_max).then_some((workers_min, workers_max, min_spare, max_spare));
    if min_spare > max_spare {
        return Err(ConfigError::usage(
            "min_spare",
            format!("{} is above {}", v.cite("min_spare"), v.cite("max_spare")),
        ));
    }

    // Preload versus uWSGI's lazy-apps: the higher-precedence source wins when they disagree.
    let preload = v.bool("preload_app");
    let lazy = v.bool("lazy_apps");
    let preload_app = match (v.explicit("preload_app"), v.explicit("lazy_apps")) {
        (true, true) if preload == lazy => {
            let (po, lo) = (v.origin("preload_app"), v.origin("lazy_apps"));
            if po.rank() >= lo.rank() {
                if po.rank() == lo.rank() {
                    warnings.push(Warning::at(
                        &po,
                        format!(
                            "{} and {} disagree; {} wins",
                            v.cite("preload_app"),
                            v.cite("lazy_apps"),
                            v.cite("preload_app")
                        ),
                    ));
                }
                preload
            } else {
                !lazy
            }
        }
        (_, true) => !lazy,
        _ => preload,
    };

    let worker_class = v.str("worker_class");
    if !matches!(worker_class.as_str(), "sync" | "gthread") {
        warnings.push(Warning::at(
            &v.origin("worker_class"),
            format!(
                "worker class {worker_class:?} ignored: ferrocorn runs its own threaded workers \
                 (sized by threads)"
            ),
        ));
    }

    let disable_logging = v.bool("disable_logging");
    let log_level = match v.str("loglevel").as_str() {
        "debug" => LogLevel::Debug,
        "warning" => LogLevel::Warning,
        "error" => LogLevel::Error,
        "critical" => LogLevel::Critical,
        _ => LogLevel::Info,
    };
    let header_map = match v.str("header_map").as_str() {
        "refuse" => HeaderMap::Refuse,
        "dangerous" => HeaderMap::Dangerous,
        _ => HeaderMap::Drop,
    };
    let proxy_protocol = match v.str("proxy_protocol").as_str() {
        "v1" => ProxyProtocol::V1,
        "v2" => ProxyProtocol::V2,
        "auto" => ProxyProtocol::Auto,
        _ => ProxyProtocol::Off,
    };
    let allow = |name: &str| {
        AllowList::from_entries(&v.list(name))
            .map_err(|e| ConfigError::invalid(&v.origin(name), name, e))
    };
    let split_pair = |s: &str| match s.split_once('=') {
        Some((k, val)) => (k.trim().to_string(), val.to_string()),
        None => (s.to_string(), String::new()),
    };
    let hooks = eff
        .iter()
        .filter_map(|e| match &e.value {
            Value::Hook(r) => Some((e.setting.name.to_string(), r.clone())),
            _ => None,
        })
        .collect();
    let harakiri = v.secs("harakiri");
    let proc_name = v
        .opt_str("proc_name")
        .unwrap_or_else(|| match app.as_str() {
            "" => "ferrocorn".to_string(),
            a => a.to_string(),
        });

    let cfg = Config {
        app,
        app_spec,
        config_file,
        binds,
        listeners: all_listeners,
        default_bind,
        backlog: v.uint("backlog"),
        chmod_socket: match v.value("chmod_socket") {
            Value::Int(m) => u32::try_from(*m).ok(),
            _ => None,
        },
        chown_socket: v.opt_str("chown_socket"),
        vacuum: v.bool("vacuum"),
        workers,
        threads: v.uint("threads"),
        worker_class,
        timeout: v.secs("timeout"),
        graceful_timeout: v.secs("graceful_timeout"),
        max_requests: v.uint("max_requests"),
        max_requests_jitter: v.uint("max_requests_jitter"),
        reload_on_rss: v.uint::<u64>("reload_on_rss").saturating_mul(1 << 20),
        memory_report: v.bool("memory_report"),
        harakiri: (!harakiri.is_zero()).then_some(harakiri),
        dynamic,
        keepalive: v.secs("keepalive"),
        header_timeout: v.secs("header_timeout"),
        client_timeout: v.secs("client_timeout"),
        limit_request_line: v.uint("limit_request_line"),
        limit_request_fields: v.uint("limit_request_fields"),
        limit_request_field_size: v.uint("limit_request_field_size"),
        limit_request_body: v.uint("limit_request_body"),
        limit_request_head: v.uint("limit_request_head"),
        permit_obsolete_folding: v.bool("permit_obsolete_folding"),
        permit_unconventional_http_method: v.bool("permit_unconventional_http_method"),
        casefold_http_method: v.bool("casefold_http_method"),
        strip_header_spaces: v.bool("strip_header_spaces"),
        header_map,
        forwarded_allow_ips: allow("forwarded_allow_ips")?,
        secure_scheme_headers: v
            .dict("secure_scheme_headers")
            .into_iter()
            .map(|(k, val)| (k.to_ascii_uppercase(), val))
            .collect(),
        forwarder_headers: v.list("forwarder_headers"),
        x_forwarded_for_header: v.str("x_forwarded_for_header"),
        proxy_protocol,
        proxy_allow_ips: allow("proxy_allow_ips")?,
        script_name: v.opt_str("script_name"),
        static_map: v
            .list("static_map")
            .iter()
            .map(|s| {
                let (url, dir) = split_pair(s);
                (url, PathBuf::from(dir))
            })
            .collect(),
        accesslog: v.opt_str("accesslog").filter(|_| !disable_logging),
        access_log_format: v.str("access_log_format"),
        access_log_json: v.bool("access_log_json"),
        disable_logging,
        error_logfile: v.opt_str("errorlog").unwrap_or_else(|| "-".into()),
        log_level,
        capture_output: v.bool("capture_output"),
        preload_app,
        reload: v.bool("reload"),
        reload_extra_files: v
            .list("reload_extra_files")
            .iter()
            .map(PathBuf::from)
            .collect(),
        chdir: v.opt_str("chdir").map(PathBuf::from),
        pythonpath: v.list("pythonpath").iter().map(PathBuf::from).collect(),
        virtualenv: v.opt_str("virtualenv").map(PathBuf::from),
        raw_env: v.list("raw_env").iter().map(|s| split_pair(s)).collect(),
        daemon: v.bool("daemon"),
        pidfile: v.opt_str("pidfile").map(PathBuf::from),
        user: v.opt_str("user").and_then(|u| resolve_user(&u)),
        group: v.opt_str("group").and_then(|g| resolve_group(&g)),
        umask: v.explicit("umask").then(|| v.uint::<u32>("umask")),
        proc_name,
        worker_tmp_dir: v.opt_str("worker_tmp_dir").map(PathBuf::from),
        server_header: v.str("server_header"),
        hooks,
        effective: Vec::new(),
    };
    Ok((
        Config {
            effective: eff,
            ..cfg
        },
        warnings,
    ))
}

/// A user given by name or number, as a uid; `None` when no such user exists here.
fn resolve_user(u: &str) -> Option<u32> {
    u.parse::<u32>()
        .ok()
        .or_else(|| match nix::unistd::User::from_name(u) {
            Ok(Some(user)) => Some(user.uid.as_raw()),
            _ => None,
        })
}

/// A group given by name or number, as a gid.
fn resolve_group(g: &str) -> Option<u32> {
    g.parse::<u32>()
        .ok()
        .or_else(|| match nix::unistd::Group::from_name(g) {
            Ok(Some(group)) => Some(group.gid.as_raw()),
            _ => None,
        })
}

fn user_exists(u: &str) -> bool {
    resolve_user(u).is_some()
}

fn group_exists(g: &str) -> bool {
    resolve_group(g).is_some()
}

/// The addresses of this machine's network interfaces.
fn local_addresses() -> Vec<IpAddr> {
    match nix::ifaddrs::getifaddrs() {
        Ok(ifs) => ifs
            .filter_map(|i| i.address)
            .filter_map(|a| {
                a.as_sockaddr_in()
                    .map(|v4| IpAddr::V4(v4.ip()))
                    .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

impl Config {
    /// Where a setting's value came from (`None` for an unknown name).
    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.effective
            .iter()
            .find(|e| e.setting.name == name)
            .map(|e| &e.origin)
    }

    /// A text setting's effective value, as configured (before resolving names to ids).
    fn text(&self, name: &str) -> Option<String> {
        match self
            .effective
            .iter()
            .find(|e| e.setting.name == name)
            .map(|e| &e.value)
        {
            Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }

    fn cite(&self, name: &str) -> String {
        match self.effective.iter().find(|e| e.setting.name == name) {
            Some(e) if e.origin != Origin::Default => {
                format!("{}: {}", e.origin.place(), e.written)
            }
            _ => name.to_string(),
        }
    }

    /// TCP addresses that cannot be bound here: host names that do not resolve, and addresses
    /// that belong to no interface of this machine (the seed's `bind = '0.1:8000'`, which is
    /// 0.0.0.1). `--check-config` reports these; a server start leaves them to binding, which
    /// also knows about `ip_nonlocal_bind` and interfaces that come up late.
    pub fn address_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut local: Option<Vec<IpAddr>> = None;
        for l in &self.listeners {
            let ListenAddr::Tcp { host, port } = &l.addr else {
                continue;
            };
            let name = match l.protocol {
                Protocol::Http => "bind",
                Protocol::Uwsgi => "uwsgi_socket",
                Protocol::FastCgi => "fastcgi_socket",
            };
            let ips: Vec<IpAddr> = match (host.as_str(), *port).to_socket_addrs() {
                Ok(a) => a.map(|a| a.ip()).collect(),
                Err(e) => {
                    out.push(format!(
                        "{}: {}: cannot resolve host {host:?}: {e}",
                        self.cite(name),
                        l.spec
                    ));
                    continue;
                }
            };
            let local = local.get_or_insert_with(local_addresses);
            let bindable =
                |ip: &IpAddr| ip.is_unspecified() || ip.is_loopback() || local.contains(ip);
            if !ips.iter().any(bindable) {
                let list: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
                out.push(format!(
                    "{}: {}: {host} is {}, not an address of this machine",
                    self.cite(name),
                    l.spec,
                    list.join(", ")
                ));
            }
        }
        out
    }

    /// Problems of this machine with a valid config: a `chdir` that does not exist, users and
    /// groups (also `chown_socket`'s) that do not exist, missing directories for files. One line
    /// each, naming the setting and where it was set; call before binding and exit 1 when any.
    /// Relative paths are checked against `chdir` (else the current directory), as the server
    /// will use them after changing directory. Addresses are not checked: binding reports those.
    pub fn environment_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let base = match &self.chdir {
            Some(d) => {
                if !d.is_dir() {
                    out.push(format!(
                        "{}: directory {:?} does not exist",
                        self.cite("chdir"),
                        d.display().to_string()
                    ));
                }
                std::env::current_dir().unwrap_or_default().join(d)
            }
            None => std::env::current_dir().unwrap_or_default(),
        };
        let resolve = |p: &Path| base.join(p);
        let base_ok = base.is_dir();
        if let Some(u) = &self.text("user") {
            if !user_exists(u) {
                out.push(format!("{}: user {u:?} does not exist", self.cite("user")));
            }
        }
        if let Some(g) = &self.text("group") {
            if !group_exists(g) {
                out.push(format!(
                    "{}: group {g:?} does not exist",
                    self.cite("group")
                ));
            }
        }
        if let Some(spec) = &self.chown_socket {
            let (u, g) = match spec.split_once(':') {
                Some((u, g)) => (u, Some(g)),
                None => (spec.as_str(), None),
            };
            if !user_exists(u) {
                out.push(format!(
                    "{}: user {u:?} does not exist",
                    self.cite("chown_socket")
                ));
            }
            if let Some(g) = g {
                if !group_exists(g) {
                    out.push(format!(
                        "{}: group {g:?} does not exist",
                        self.cite("chown_socket")
                    ));
                }
            }
        }
        // Paths relative to a missing chdir would all fail too; one line about chdir is enough.
        if !base_ok {
            return out;
        }
        if let AppSpec::File { path, .. } = &self.app_spec {
            if !resolve(path).is_file() {
                out.push(format!(
                    "{}: file {:?} does not exist",
                    self.cite("wsgi_file"),
                    path.display().to_string()
                ));
            }
        }
        for (url, dir) in &self.static_map {
            if !resolve(dir).is_dir() {
                out.push(format!(
                    "{}: directory {:?} for {url} does not exist",
                    self.cite("static_map"),
                    dir.display().to_string()
                ));
            }
        }
        let files = [
            (
                "pidfile",
                self.pidfile.as_ref().map(|p| p.display().to_string()),
            ),
            ("accesslog", self.accesslog.clone()),
            ("errorlog", Some(self.error_logfile.clone())),
        ];
        for (name, file) in files {
            let Some(f) = file.filter(|f| f != "-") else {
                continue;
            };
            let full = resolve(Path::new(&f));
            if let Some(parent) = full.parent() {
                if !parent.is_dir() {
                    out.push(format!(
                        "{}: directory {:?} for {f:?} does not exist",
                        self.cite(name),
                        parent.display().to_string()
                    ));
                }
            }
        }
        out
    }
}
