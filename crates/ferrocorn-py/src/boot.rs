//! Start-up: settings, logging, paths, sockets, the app, then the worker loop. Every failure here
//! becomes one clear line and a meaningful exit status, never a bare traceback.

use std::sync::Arc;

use ferrocorn_config::{Config, HeaderMap, ListenAddr};
use ferrocorn_proto::http1::{HeaderMapPolicy, Limits};
use ferrocorn_server::access_log::AccessLog;
use ferrocorn_server::front::{Front, ServeSettings};
use ferrocorn_server::listener::{self, Listener};
use ferrocorn_server::log;
use ferrocorn_server::master::{self, Dynamic, MasterSettings};
use ferrocorn_server::proxy::ProxySettings;
use ferrocorn_server::static_files::StaticFiles;
use ferrocorn_server::worker::WorkerSettings;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::host::{load_app, ListenerNames, PyHost};
use crate::settings::{self, Hooks};

/// Exit status when the app cannot be imported (gunicorn's APP_LOAD_ERROR).
pub const EXIT_APP_LOAD: i32 = 4;
/// Exit status when a socket cannot be bound or another start-up step fails.
pub const EXIT_STARTUP: i32 = 1;

pub fn run(py: Python<'_>, argv: Vec<String>) -> i32 {
    let (cfg, warnings, hooks) = match settings::load_settings(py, argv.clone()) {
        settings::Outcome::Run(cfg, warnings, hooks) => (*cfg, warnings, hooks),
        settings::Outcome::Exit(code) => return code,
    };
    if let Err(e) = log::init(&cfg.error_logfile, cfg.log_level) {
        eprintln!(
            "ferrocorn: error: cannot open error log {:?}: {e}",
            cfg.error_logfile
        );
        return EXIT_STARTUP;
    }
    for w in &warnings {
        log::warning(w);
    }
    // --capture-output: the app's print() and stray stderr go to the error log file (as in
    // gunicorn, only meaningful when the error log is a file).
    if cfg.capture_output && log::capture_output() {
        line_buffer_stdio(py);
    }
    // `raw_env` (`-e K=V`, ini `env =`): set before anything imports the app.
    if let Err(e) = apply_raw_env(py, &cfg) {
        log::critical(&format!("cannot set environment variables: {e}"));
        return EXIT_STARTUP;
    }
    match start(py, cfg, hooks, argv) {
        Ok(()) => 0,
        Err(code) => code,
    }
}

/// Captured `sys.stdout`/`sys.stderr` write whole lines. Unbuffered (`PYTHONUNBUFFERED=1`, usual
/// in containers) `print()` writes its text and its newline separately, and a log line from the
/// log writer thread could land in between; block-buffered, prints would reach the log late.
fn line_buffer_stdio(py: Python<'_>) {
    let Ok(sys) = py.import("sys") else { return };
    for name in ["stdout", "stderr"] {
        let kwargs = pyo3::types::PyDict::new(py);
        let _ = kwargs.set_item("line_buffering", true);
        let _ = kwargs.set_item("write_through", false);
        if let Ok(stream) = sys.getattr(name) {
            if let Err(e) = stream.call_method("reconfigure", (), Some(&kwargs)) {
                log::debug(&format!("sys.{name} not line-buffered: {e}"));
            }
        }
    }
}

/// What the interpreter's own finalization would do before a worker leaves by `exit(2)`: run the
/// `atexit` handlers, then write what `sys.stdout`/`sys.stderr` still buffer.
pub fn finish_worker_python(py: Python<'_>) {
    if let Ok(atexit) = py.import("atexit") {
        let _ = atexit.call_method0("_run_exitfuncs");
    }
    if let Ok(sys) = py.import("sys") {
        for name in ["stdout", "stderr"] {
            if let Ok(stream) = sys.getattr(name) {
                let _ = stream.call_method0("flush");
            }
        }
    }
}

pub fn apply_raw_env(py: Python<'_>, cfg: &Config) -> PyResult<()> {
    if cfg.raw_env.is_empty() {
        return Ok(());
    }
    let environ = py.import("os")?.getattr("environ")?;
    for (k, v) in &cfg.raw_env {
        environ.set_item(k, v)?;
    }
    Ok(())
}

/// The access log the settings ask for, if any.
fn access_log(cfg: &Config) -> Result<Option<Arc<AccessLog>>, String> {
    if cfg.disable_logging {
        return Ok(None);
    }
    match &cfg.accesslog {
        None => Ok(None),
        Some(path) => AccessLog::new(
            path,
            &cfg.access_log_format,
            cfg.access_log_json,
            cfg.memory_report,
        )
        .map(|a| Some(Arc::new(a))),
    }
}

fn limits(cfg: &Config) -> Limits {
    Limits {
        max_line: cfg.limit_request_line,
        max_fields: cfg.limit_request_fields,
        max_field_size: cfg.limit_request_field_size,
        max_body: cfg.limit_request_body,
        permit_obsolete_folding: cfg.permit_obsolete_folding,
        permit_unconventional_method: cfg.permit_unconventional_http_method,
        casefold_method: cfg.casefold_http_method,
        strip_header_spaces: cfg.strip_header_spaces,
        header_map: match cfg.header_map {
            HeaderMap::Drop => HeaderMapPolicy::Drop,
            HeaderMap::Refuse => HeaderMapPolicy::Refuse,
            HeaderMap::Dangerous => HeaderMapPolicy::Dangerous,
        },
        forwarder_headers: Vec::new(),
    }
}

/// Put the app's directories first on `sys.path`: `--chdir` (like gunicorn) and `--pythonpath`.
fn setup_paths(py: Python<'_>, cfg: &Config) -> Result<(), String> {
    if let Some(dir) = &cfg.chdir {
        std::env::set_current_dir(dir)
            .map_err(|e| format!("cannot chdir to {:?}: {e}", dir.display()))?;
    }
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let sys_path = py
        .import("sys")
        .and_then(|s| s.getattr("path"))
        .and_then(|p| p.cast_into::<PyList>().map_err(PyErr::from))
        .map_err(|e| format!("cannot reach sys.path: {e}"))?;
    let mut dirs = vec![cwd.clone()];
    dirs.extend(cfg.pythonpath.iter().map(|p| cwd.join(p)));
    for d in dirs.iter().rev() {
        let s = d.to_string_lossy().into_owned();
        let _ = sys_path.insert(0, s);
    }
    Ok(())
}

/// chmod-socket / chown-socket for Unix socket files.
fn unix_options(cfg: &Config) -> Result<listener::UnixOptions, String> {
    let owner = match &cfg.chown_socket {
        None => None,
        Some(spec) => {
            let (user, group) = match spec.split_once(':') {
                Some((u, g)) => (u, Some(g)),
                None => (spec.as_str(), None),
            };
            let uid = match user {
                "" => None,
                u => Some(match u.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => nix::unistd::User::from_name(u)
                        .ok()
                        .flatten()
                        .map(|x| x.uid.as_raw())
                        .ok_or_else(|| format!("chown_socket: no such user {u:?}"))?,
                }),
            };
            let gid = match group {
                None | Some("") => None,
                Some(g) => Some(match g.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => nix::unistd::Group::from_name(g)
                        .ok()
                        .flatten()
                        .map(|x| x.gid.as_raw())
                        .ok_or_else(|| format!("chown_socket: no such group {g:?}"))?,
                }),
            };
            Some((uid, gid))
        }
    };
    Ok(listener::UnixOptions {
        mode: cfg.chmod_socket,
        owner,
    })
}

/// The front end that serves a configured protocol.
fn front_of_protocol(p: ferrocorn_config::Protocol) -> Front {
    match p {
        ferrocorn_config::Protocol::Http => Front::Http1,
        ferrocorn_config::Protocol::Uwsgi => Front::Uwsgi,
        ferrocorn_config::Protocol::FastCgi => Front::FastCgi,
    }
}

/// A listening socket on fd 0 this configuration serves: named as `fd://0`, or — with no address
/// configured — found there, as Apache mod_fcgid hands its FastCGI applications their listener.
/// It is moved off fd 0 at once (before daemonizing reopens stdin); returns its new descriptor
/// and whether it was found rather than named (it then serves FastCGI instead of the default
/// HTTP bind).
fn take_stdin_listener(cfg: &Config) -> Result<Option<(i32, bool)>, String> {
    if std::env::var_os(master::INHERIT_ENV).is_some() {
        return Ok(None); // a USR2 re-exec: the listeners come from the old master
    }
    let named = cfg
        .listeners
        .iter()
        .any(|l| matches!(l.addr, ListenAddr::Fd(0)));
    let found = !named && cfg.default_bind && listener::stdin_is_listener();
    if !named && !found {
        return Ok(None);
    }
    let fd = listener::move_off_stdin().map_err(|e| e.to_string())?;
    if found {
        log::info("fd 0 is a listening socket (started by a web server such as Apache mod_fcgid): serving FastCGI on it");
    }
    Ok(Some((fd, found)))
}

/// Listening sockets: inherited from a re-executing master (USR2) or systemd, else bound now.
/// `stdin`: the listener that was on fd 0 (see [`take_stdin_listener`]).
fn listeners(cfg: &Config, stdin: Option<(i32, bool)>) -> Result<Vec<Listener>, String> {
    if let Ok(list) = std::env::var(master::INHERIT_ENV) {
        std::env::remove_var(master::INHERIT_ENV);
        return list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let (fd, front) = s.trim().split_once(':').unwrap_or((s.trim(), "http"));
                let fd = fd
                    .parse::<i32>()
                    .map_err(|_| format!("{}: bad fd {s:?}", master::INHERIT_ENV))?;
                let front = Front::parse(front)
                    .ok_or_else(|| format!("{}: bad protocol in {s:?}", master::INHERIT_ENV))?;
                Ok(listener::inherit(fd)
                    .map_err(|e| e.to_string())?
                    .with_front(front))
            })
            .collect();
    }
    let systemd = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if systemd {
        let n: i32 = std::env::var("LISTEN_FDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        // A socket named as `fd://N` under --uwsgi-socket (--fastcgi-socket) speaks uwsgi
        // (FastCGI); the rest speak HTTP.
        let front_of = |fd: i32| {
            cfg.listeners
                .iter()
                .find(|l| matches!(l.addr, ListenAddr::Fd(n) if n == fd))
                .map_or(Front::Http1, |l| front_of_protocol(l.protocol))
        };
        return (3..3 + n)
            .map(|fd| {
                Ok(listener::inherit(fd)
                    .map_err(|e| e.to_string())?
                    .with_front(front_of(fd)))
            })
            .collect();
    }
    if let Some((fd, true)) = stdin {
        return Ok(vec![listener::inherit(fd)
            .map_err(|e| e.to_string())?
            .with_front(Front::FastCgi)]);
    }
    let mut out = Vec::new();
    let unix = unix_options(cfg)?;
    for l in &cfg.listeners {
        let front = front_of_protocol(l.protocol);
        let bound = match &l.addr {
            ListenAddr::Tcp { host, port } => {
                let spec = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                listener::bind(&spec, cfg.backlog).map_err(|e| e.to_string())?
            }
            ListenAddr::Unix(path) => {
                vec![listener::bind_unix(path, cfg.backlog, &unix).map_err(|e| e.to_string())?]
            }
            ListenAddr::Fd(0) => match stdin {
                Some((fd, _)) => vec![listener::inherit(fd).map_err(|e| e.to_string())?],
                None => return Err("cannot listen on \"fd://0\": not a socket".into()),
            },
            ListenAddr::Fd(fd) => vec![listener::inherit(*fd).map_err(|e| e.to_string())?],
            ListenAddr::Abstract(name) => {
                vec![listener::bind_abstract(name, cfg.backlog).map_err(|e| e.to_string())?]
            }
        };
        out.extend(bound.into_iter().map(|b| b.with_front(front)));
    }
    Ok(out)
}

/// The workers' settings from a validated config (also used again on HUP).
pub fn worker_settings(
    py: Python<'_>,
    cfg: &Config,
    hooks: &Hooks,
) -> Result<WorkerSettings, String> {
    let mut http = ServeSettings::new(
        limits(cfg),
        cfg.keepalive,
        cfg.header_timeout,
        cfg.client_timeout,
        cfg.server_header.clone(),
    );
    // Trusted front ends may also send the underscore headers named in forwarder_headers.
    http.trusted_limits.forwarder_headers = cfg
        .forwarder_headers
        .iter()
        .map(|h| h.as_bytes().to_vec())
        .collect();
    if cfg.limit_request_head > 0 {
        // One cap on a whole head: an HTTP head over it gets 431, a uwsgi packet over it is refused.
        http.max_head = http.max_head.min(cfg.limit_request_head);
        http.uwsgi_max_vars = cfg
            .limit_request_head
            .saturating_sub(ferrocorn_proto::uwsgi::HEADER_LEN)
            .min(ferrocorn_proto::uwsgi::MAX_VARS);
        http.fastcgi_max_params = cfg.limit_request_head;
    }
    // GET_VALUES: as many connections and requests as can be served at once.
    let most_workers = cfg.dynamic.map_or(cfg.workers, |(_, max, _, _)| max);
    let capacity = u64::from(most_workers).saturating_mul(u64::from(cfg.threads));
    http.fastcgi_values = ferrocorn_proto::fastcgi::Values {
        max_conns: capacity,
        max_reqs: capacity,
        mpxs_conns: false,
    };
    http.proxy = ProxySettings::from_config(cfg);
    http.access = access_log(cfg)?;
    if !cfg.static_map.is_empty() {
        // Roots are canonicalized here, after --chdir, once for every worker.
        let files = StaticFiles::new(&cfg.static_map)?;
        for (url, dir) in &cfg.static_map {
            log::debug(&format!("static files: {url} -> {}", dir.display()));
        }
        http.static_files = Some(Arc::new(files));
    }
    if cfg.memory_report && http.access.is_none() {
        log::warning("memory_report adds the worker's RSS to access-log lines, but there is no access log (--access-logfile)");
    }
    Ok(WorkerSettings {
        threads: cfg.threads,
        serve: http,
        graceful_timeout: cfg.graceful_timeout,
        ctl: None,
        on_quick_exit: Some(quick_exit_hooks(py, hooks, cfg)),
    })
}

/// The master's settings from a validated config (pidfile and re-exec details are set by the caller).
pub fn master_settings(cfg: &Config) -> MasterSettings {
    MasterSettings {
        workers: cfg.workers,
        threads: cfg.threads,
        timeout: cfg.timeout,
        graceful_timeout: cfg.graceful_timeout,
        harakiri: cfg.harakiri,
        max_requests: cfg.max_requests,
        max_requests_jitter: cfg.max_requests_jitter,
        reload_on_rss: cfg.reload_on_rss,
        dynamic: cfg.dynamic.map(|(min, max, min_spare, max_spare)| Dynamic {
            min,
            max,
            min_spare,
            max_spare,
        }),
        pidfile: None,
        proc_name: cfg.proc_name.clone(),
        daemon: cfg.daemon,
        user: cfg.user,
        group: cfg.group,
        reexec_argv: Vec::new(),
        promote_pidfile_to: None,
        vacuum: cfg.vacuum,
    }
}

/// What a worker runs when INT/QUIT makes it exit at once: gunicorn's `worker_int(worker)`, then
/// `worker_exit(server, worker)`, then the interpreter's atexit handlers (a quick exit skips the
/// normal way out, which would run them).
fn quick_exit_hooks(
    py: Python<'_>,
    hooks: &Hooks,
    cfg: &Config,
) -> Arc<dyn Fn(usize) + Send + Sync> {
    let worker_int = hooks.get("worker_int").map(|f| f.clone_ref(py));
    let worker_exit = hooks.get("worker_exit").map(|f| f.clone_ref(py));
    let proc_name = cfg.proc_name.clone();
    let workers = cfg.workers;
    Arc::new(move |slot: usize| {
        Python::attach(|py| {
            let me = std::process::id() as i32;
            let master = nix::unistd::getppid().as_raw();
            let run = |name: &str, f: &Py<PyAny>, with_server: bool| {
                let res = py.import("ferrocorn._hooks").and_then(|h| {
                    let w = h.call_method1("worker", (me, master, slot))?;
                    if with_server {
                        let server =
                            h.call_method1("server", (master, proc_name.as_str(), workers))?;
                        f.bind(py).call1((server, w))
                    } else {
                        f.bind(py).call1((w,))
                    }
                });
                if let Err(e) = res {
                    log::error(&format!(
                        "Exception in {name} hook\n{}",
                        crate::loader::traceback_text(py, &e)
                    ));
                }
            };
            if let Some(f) = &worker_int {
                run("worker_int", f, false);
            }
            if let Some(f) = &worker_exit {
                run("worker_exit", f, true);
            }
            finish_worker_python(py);
        })
    })
}

/// Removes the pidfile when dropped, if it still names this process.
struct PidfileGuard(Option<std::path::PathBuf>);

impl Drop for PidfileGuard {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            if std::fs::read_to_string(p).is_ok_and(|s| s.trim() == std::process::id().to_string())
            {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// The interpreter's own command line (`sys.executable` + `sys.orig_argv[1:]`), for USR2 re-exec.
fn original_argv(py: Python<'_>) -> Vec<std::ffi::OsString> {
    let sys = match py.import("sys") {
        Ok(s) => s,
        Err(_) => return std::env::args_os().collect(),
    };
    let exe: Option<String> = sys.getattr("executable").and_then(|e| e.extract()).ok();
    let orig: Option<Vec<String>> = sys.getattr("orig_argv").and_then(|a| a.extract()).ok();
    match (exe, orig) {
        (Some(exe), Some(orig)) if !orig.is_empty() => std::iter::once(exe)
            .chain(orig.into_iter().skip(1))
            .map(Into::into)
            .collect(),
        _ => std::env::args_os().collect(),
    }
}

/// Detach (`-D`): fork, new session, fork again; stdio to /dev/null. The first parents exit 0.
fn daemonize() -> Result<(), i32> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        log::critical(&format!("cannot daemonize ({what}): {e}"));
        EXIT_STARTUP
    };
    for step in 0..2 {
        // Each parent exits right after the fork: what it logged must be written first (the child
        // starts with an empty log queue of its own).
        log::flush();
        match crate::host::fork_python() {
            Ok(Some(_)) => std::process::exit(0),
            Ok(None) => {}
            Err(e) => return Err(fail("fork", &e)),
        }
        if step == 0 {
            nix::unistd::setsid().map_err(|e| fail("setsid", &e))?;
        }
    }
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| fail("/dev/null", &e))?;
    for target in 0..=2 {
        // SAFETY: dup2 onto this process's standard descriptors; `null` is open for the call.
        unsafe {
            libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), target);
        }
    }
    Ok(())
}

fn start(py: Python<'_>, cfg: Config, hooks: Hooks, argv: Vec<String>) -> Result<(), i32> {
    if let Some(mask) = cfg.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    // A listener on fd 0 moves off stdin before daemonizing would replace it.
    let stdin_listener = take_stdin_listener(&cfg).map_err(|m| {
        log::critical(&m);
        EXIT_STARTUP
    })?;
    // gunicorn's order: detach first, then the pidfile, then the sockets (so the pid in the
    // pidfile and in "Listening at" is the daemon's).
    if cfg.daemon {
        daemonize()?;
    }
    let suffix = std::env::var("FERROCORN_PIDFILE_SUFFIX").ok();
    std::env::remove_var("FERROCORN_PIDFILE_SUFFIX");
    let pidfile = cfg.pidfile.as_ref().map(|p| match &suffix {
        Some(s) => std::path::PathBuf::from(format!("{}{s}", p.display())),
        None => p.clone(),
    });
    if let Some(p) = &pidfile {
        if let Err(e) = master::write_pidfile(p, std::process::id()) {
            log::critical(&format!("cannot write pidfile {}: {e}", p.display()));
            return Err(EXIT_STARTUP);
        }
    }
    // Removed on every way out of start-up (the master also removes or renames it when it stops).
    let _pidfile_guard = PidfileGuard(pidfile.clone());
    log::info(&format!("Starting ferrocorn {}", env!("CARGO_PKG_VERSION")));
    let pid = std::process::id();
    settings::call_hook(py, &hooks, "on_starting", |h| {
        let server = h.call_method1("server", (pid, cfg.proc_name.as_str(), cfg.workers))?;
        pyo3::types::PyTuple::new(py, [server])
    });
    setup_paths(py, &cfg).map_err(|m| {
        log::critical(&m);
        EXIT_STARTUP
    })?;
    // From "Listening at" on, supervisors and tests may signal us (USR2, HUP, TTIN...) before the
    // master's handlers exist: hold those signals pending until it has them.
    ferrocorn_server::signals::hold_startup_signals();
    let listeners = listeners(&cfg, stdin_listener).map_err(|m| {
        log::critical(&m);
        EXIT_STARTUP
    })?;
    let pid = std::process::id();
    for l in &listeners {
        log::info(&format!("Listening at: {} ({pid})", l.url));
    }
    log::info(&format!(
        "Using worker: threads ({} per worker)",
        cfg.threads
    ));
    let names: ListenerNames = listeners
        .iter()
        .map(|l| (l.server_name.clone(), l.server_port.clone()))
        .collect();
    let preloaded = if cfg.preload_app {
        let app = load_app(py, &cfg, &names, &hooks).ok_or(EXIT_APP_LOAD)?;
        // Freeze what the import created so copy-on-write pages stay shared after fork.
        if let Ok(gc) = py.import("gc") {
            let _ = gc.call_method0("collect");
            let _ = gc.call_method0("freeze");
        }
        Some(Arc::new(app))
    } else {
        None
    };
    let wsettings = worker_settings(py, &cfg, &hooks).map_err(|m| {
        log::critical(&m);
        EXIT_STARTUP
    })?;
    let mut msettings = master_settings(&cfg);
    msettings.pidfile = pidfile.clone();
    msettings.reexec_argv = original_argv(py);
    msettings.promote_pidfile_to = suffix.as_ref().and(cfg.pidfile.clone());
    let host = PyHost {
        argv,
        cfg: std::sync::Mutex::new(cfg),
        names,
        preloaded,
        hooks: std::sync::Mutex::new(hooks),
    };
    let code = py.detach(|| master::run(msettings, wsettings, listeners, &host));
    if code == 0 {
        Ok(())
    } else {
        Err(code)
    }
}
