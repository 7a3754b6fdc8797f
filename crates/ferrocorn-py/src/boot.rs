//! Start-up: settings, logging, paths, sockets, the app, then the worker loop. Every failure here
//! becomes one clear line and a meaningful exit status, never a bare traceback.

use std::sync::Arc;
use std::time::Duration;

use ferrocorn_config::{parse_args, Config, HeaderMap, ParseOutcome, EX_USAGE};
use ferrocorn_proto::http1::{HeaderMapPolicy, Limits};
use ferrocorn_server::http1::Http1Settings;
use ferrocorn_server::listener::{self, Listener};
use ferrocorn_server::log;
use ferrocorn_server::worker::{self, WorkerSettings};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::loader;
use crate::wsgi::WsgiApp;

/// Exit status when the app cannot be imported (gunicorn's APP_LOAD_ERROR).
pub const EXIT_APP_LOAD: i32 = 4;
/// Exit status when a socket cannot be bound or another start-up step fails.
pub const EXIT_STARTUP: i32 = 1;

pub fn run(py: Python<'_>, argv: Vec<String>) -> i32 {
    let wc = std::env::var("WEB_CONCURRENCY").ok();
    let cfg = match parse_args(argv, wc.as_deref()) {
        Ok(c) => c,
        Err(ParseOutcome::Clap(e)) => {
            let _ = e.print();
            return if e.use_stderr() { EX_USAGE } else { 0 };
        }
        Err(ParseOutcome::Invalid(e)) => {
            eprintln!("ferrocorn: error: {e}");
            return EX_USAGE;
        }
    };
    if let Err(e) = log::init(&cfg.error_logfile, cfg.log_level) {
        eprintln!(
            "ferrocorn: error: cannot open error log {:?}: {e}",
            cfg.error_logfile
        );
        return EXIT_STARTUP;
    }
    match start(py, cfg) {
        Ok(()) => 0,
        Err(code) => code,
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

fn start(py: Python<'_>, cfg: Config) -> Result<(), i32> {
    log::info(&format!("Starting ferrocorn {}", env!("CARGO_PKG_VERSION")));
    setup_paths(py, &cfg).map_err(|m| {
        log::critical(&m);
        EXIT_STARTUP
    })?;
    let mut listeners: Vec<Listener> = Vec::new();
    for b in &cfg.binds {
        match listener::bind(b, cfg.backlog) {
            Ok(ls) => listeners.extend(ls),
            Err(e) => {
                log::critical(&e.to_string());
                return Err(EXIT_STARTUP);
            }
        }
    }
    let pid = std::process::id();
    for l in &listeners {
        log::info(&format!("Listening at: {} ({pid})", l.url));
    }
    log::info(&format!(
        "Using worker: threads ({} per worker)",
        cfg.threads
    ));
    log::info(&format!("Booting worker with pid: {pid}"));
    let callable = loader::load(py, &cfg.app).map_err(|e| {
        let mut msg = format!("App failed to load: {}", e.message);
        if let Some(tb) = e.traceback {
            msg.push('\n');
            msg.push_str(&tb);
        }
        log::critical(&msg);
        EXIT_APP_LOAD
    })?;
    let app = WsgiApp::new(py, callable, &listeners, &cfg).map_err(|e| {
        log::critical(&format!("cannot prepare the WSGI environment: {e}"));
        EXIT_STARTUP
    })?;
    let settings = WorkerSettings {
        threads: cfg.threads,
        http: Http1Settings::new(
            limits(&cfg),
            cfg.keepalive,
            cfg.header_timeout,
            cfg.client_timeout,
            cfg.server_header.clone(),
        ),
        graceful_timeout: Duration::from_secs(30),
    };
    let app: Arc<dyn ferrocorn_server::App> = Arc::new(app);
    let res = py.detach(move || worker::run(settings, listeners, app));
    match res {
        Ok(()) => {
            log::info(&format!("Worker exiting (pid: {pid})"));
            Ok(())
        }
        Err(e) => {
            log::critical(&format!("worker failed: {e}"));
            Err(EXIT_STARTUP)
        }
    }
}
