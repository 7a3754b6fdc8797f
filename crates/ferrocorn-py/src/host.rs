//! The master's view of Python: fork with CPython's before/after-fork bookkeeping, boot a worker
//! (import the app unless it was preloaded), stack dumps on request, atexit on the way out, and
//! process titles.

use std::io;
use std::sync::Arc;

use ferrocorn_config::Config;
use ferrocorn_server::master::{Hook, Host, MasterSettings};
use ferrocorn_server::worker::WorkerSettings;
use pyo3::types::PyTuple;

use crate::settings::call_hook;
use ferrocorn_server::{log, App};
use pyo3::prelude::*;

use crate::loader;
use crate::wsgi::WsgiApp;

/// `(SERVER_NAME, SERVER_PORT)` of each listener, for the environ templates.
pub type ListenerNames = Vec<(String, String)>;

pub struct PyHost {
    /// The command line, re-read with the config file on HUP.
    pub argv: Vec<String>,
    /// The current settings (replaced on HUP).
    pub cfg: std::sync::Mutex<Config>,
    pub names: ListenerNames,
    /// The app loaded in the master (`--preload`).
    pub preloaded: Option<Arc<WsgiApp>>,
    /// Server hooks from a Python config file (replaced on HUP).
    pub hooks: std::sync::Mutex<crate::settings::Hooks>,
}

impl PyHost {
    fn cfg(&self) -> std::sync::MutexGuard<'_, Config> {
        self.cfg.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn hooks(&self) -> std::sync::MutexGuard<'_, crate::settings::Hooks> {
        self.hooks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Load the app and prepare its environ templates; `None` after logging why not.
pub fn load_app(
    py: Python<'_>,
    cfg: &Config,
    names: &ListenerNames,
    hooks: &crate::settings::Hooks,
) -> Option<WsgiApp> {
    let loaded = match &cfg.app_spec {
        ferrocorn_config::AppSpec::Module(spec) => loader::load(py, spec),
        ferrocorn_config::AppSpec::File { path, callable } => loader::load_file(py, path, callable),
    };
    let callable = loaded.map_err(|e| {
        let mut msg = format!("App failed to load: {}", e.message);
        if let Some(tb) = e.traceback {
            msg.push('\n');
            msg.push_str(&tb);
        }
        log::critical(&msg);
    });
    let callable = callable.ok()?;
    WsgiApp::new(py, callable, names, cfg)
        .map_err(|e| log::critical(&format!("cannot prepare the WSGI environment: {e}")))
        .ok()
        .map(|mut app| {
            app.set_request_hooks(py, hooks);
            app
        })
}

/// The source files of every imported module (what `--reload` watches).
fn module_files(py: Python<'_>) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(modules) = py.import("sys").and_then(|s| s.getattr("modules")) else {
        return out;
    };
    let Ok(values) = modules
        .call_method0("values")
        .and_then(|v| v.try_iter().map(|i| i.collect::<Vec<_>>()))
    else {
        return out;
    };
    for m in values.into_iter().flatten() {
        if let Ok(f) = m.getattr("__file__").and_then(|f| f.extract::<String>()) {
            if f.ends_with(".py") {
                out.push(std::path::PathBuf::from(f));
            }
        }
    }
    out
}

/// fork(2) with CPython's bookkeeping; `Ok(None)` in the child.
pub fn fork_python() -> io::Result<Option<i32>> {
    Python::attach(|_py| {
        // SAFETY: CPython requires PyOS_BeforeFork/AfterFork_* around fork() with the GIL held,
        // which `attach` guarantees. We fork only from the master or while daemonizing, where the
        // one other thread is the log writer: it never touches Python or std's stdio locks, the
        // child never uses its queue or lock (it starts its own, `log_writer`), and `log::flush()`
        // just before leaves it idle. So the child may run arbitrary code.
        unsafe {
            pyo3::ffi::PyOS_BeforeFork();
            match nix::unistd::fork() {
                Ok(nix::unistd::ForkResult::Child) => {
                    pyo3::ffi::PyOS_AfterFork_Child();
                    Ok(None)
                }
                Ok(nix::unistd::ForkResult::Parent { child }) => {
                    pyo3::ffi::PyOS_AfterFork_Parent();
                    Ok(Some(child.as_raw()))
                }
                Err(e) => {
                    pyo3::ffi::PyOS_AfterFork_Parent();
                    Err(e.into())
                }
            }
        }
    })
}

impl Host for PyHost {
    fn fork(&self) -> io::Result<Option<i32>> {
        fork_python()
    }

    fn boot(&self) -> Option<Arc<dyn App>> {
        Python::attach(|py| {
            let app: Arc<WsgiApp> = match &self.preloaded {
                Some(a) => a.clone(),
                None => Arc::new(load_app(py, &self.cfg(), &self.names, &self.hooks())?),
            };
            // SIGUSR2 from the master (timeout, harakiri) -> every Python thread's stack in the error log.
            let dump = py.import("faulthandler").and_then(|fh| {
                let sig = py.import("signal")?.getattr("SIGUSR2")?;
                let kwargs = pyo3::types::PyDict::new(py);
                kwargs.set_item("file", log::fd())?;
                kwargs.set_item("all_threads", true)?;
                fh.call_method("register", (sig,), Some(&kwargs))
            });
            if let Err(e) = dump {
                log::warning(&format!("stack dumps on timeout unavailable: {e}"));
            }
            // INT/QUIT while the main thread runs the app: raise WorkerInterrupted there (the
            // Python-level handlers), so the worker quits now instead of after the request.
            match py
                .import("ferrocorn._hooks")
                .and_then(|h| h.call_method0("install_interrupt_handlers"))
            {
                Ok(_) => {
                    ferrocorn_server::signals::set_interrupt_hook(Some(crate::wsgi::interrupt_app))
                }
                Err(e) => log::warning(&format!("quick exit during requests unavailable: {e}")),
            }
            let cfg = self.cfg();
            if cfg.reload {
                let mut files = module_files(py);
                files.extend(cfg.reload_extra_files.iter().cloned());
                if let Err(e) = ferrocorn_server::reloader::watch(files) {
                    log::error(&format!("--reload: cannot watch files: {e}"));
                }
            }
            Some(app as Arc<dyn App>)
        })
    }

    fn reload_settings(&self) -> Option<(MasterSettings, WorkerSettings)> {
        Python::attach(|py| {
            let (cfg, warnings, hooks) = match crate::settings::load_settings(py, self.argv.clone())
            {
                crate::settings::Outcome::Run(cfg, warnings, hooks) => (*cfg, warnings, hooks),
                crate::settings::Outcome::Exit(_) => {
                    log::error("HUP: the configuration is invalid now (see above); keeping the current one");
                    return None;
                }
            };
            for w in &warnings {
                log::warning(w);
            }
            if let Err(e) = crate::boot::apply_raw_env(py, &cfg) {
                log::error(&format!("HUP: cannot set environment variables: {e}"));
            }
            let ws = match crate::boot::worker_settings(py, &cfg, &hooks) {
                Ok(ws) => ws,
                Err(e) => {
                    log::error(&format!("HUP: {e}; keeping the current configuration"));
                    return None;
                }
            };
            let ms = crate::boot::master_settings(&cfg);
            *self.cfg() = cfg;
            *self.hooks() = hooks;
            Some((ms, ws))
        })
    }

    fn worker_exit(&self) {
        Python::attach(crate::boot::finish_worker_python)
    }

    fn set_title(&self, title: &str) {
        set_process_title(title);
    }

    fn hook(&self, event: Hook, num_workers: u32) {
        let name = match event {
            Hook::WhenReady { .. } => "when_ready",
            Hook::PreFork { .. } => "pre_fork",
            Hook::PostFork { .. } => "post_fork",
            Hook::PostWorkerInit { .. } => "post_worker_init",
            Hook::WorkerExit { .. } => "worker_exit",
            Hook::ChildExit { .. } => "child_exit",
            Hook::NworkersChanged { .. } => "nworkers_changed",
            Hook::OnReload => "on_reload",
            Hook::OnExit => "on_exit",
            Hook::PreExec => "pre_exec",
        };
        let hooks = self.hooks();
        if !hooks.contains_key(name) {
            return;
        }
        let in_worker = matches!(
            event,
            Hook::PostFork { .. } | Hook::PostWorkerInit { .. } | Hook::WorkerExit { .. }
        );
        let me = std::process::id() as i32;
        let master = if in_worker {
            nix::unistd::getppid().as_raw()
        } else {
            me
        };
        let proc_name = self.cfg().proc_name.clone();
        Python::attach(|py| {
            call_hook(py, &hooks, name, |h| {
                let server = h.call_method1("server", (master, proc_name.as_str(), num_workers))?;
                // `age` is the worker's slot number, the same in every hook of one worker.
                let worker = |pid: Option<i32>, ppid: i32, slot: usize| {
                    h.call_method1("worker", (pid, ppid, slot))
                };
                match event {
                    Hook::PreFork { slot } => PyTuple::new(py, [server, worker(None, me, slot)?]),
                    Hook::PostFork { slot } | Hook::WorkerExit { slot } => {
                        PyTuple::new(py, [server, worker(Some(me), master, slot)?])
                    }
                    Hook::PostWorkerInit { slot } => {
                        PyTuple::new(py, [worker(Some(me), master, slot)?])
                    }
                    Hook::ChildExit { pid, slot } => {
                        PyTuple::new(py, [server, worker(Some(pid), me, slot)?])
                    }
                    Hook::NworkersChanged { new, old } => PyTuple::new(
                        py,
                        [
                            server,
                            new.into_pyobject(py)?.into_any(),
                            old.into_pyobject(py)?.into_any(),
                        ],
                    ),
                    Hook::WhenReady { .. } | Hook::OnReload | Hook::OnExit | Hook::PreExec => {
                        PyTuple::new(py, [server])
                    }
                }
            });
        });
    }
}

/// Set the process title: `comm` (15 bytes, `top`/`ps -o comm`) and the argv area that
/// `/proc/PID/cmdline` and `ps` show (truncated to its original size).
pub fn set_process_title(title: &str) {
    let comm: Vec<u8> = title
        .bytes()
        .filter(|&b| b != 0)
        .take(15)
        .chain(std::iter::once(0))
        .collect();
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes, which `comm` is.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, comm.as_ptr() as libc::c_ulong, 0, 0, 0);
    }
    let Some((start, end)) = argv_area() else {
        return;
    };
    let len = end.saturating_sub(start);
    if len < 2 {
        return;
    }
    let bytes = title.as_bytes();
    let n = bytes.len().min(len - 1);
    // SAFETY: [start, end) is this process's original argv strings area (from /proc/self/stat), which
    // is mapped and writable for the process's whole life; CPython copied argv at start-up and no
    // Rust reference points into it. We write within the area and leave it NUL-terminated.
    unsafe {
        let p = start as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, n);
        std::ptr::write_bytes(p.add(n), 0, len - n);
    }
}

/// `arg_start` and `arg_end` from /proc/self/stat (fields 48 and 49).
fn argv_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field N is fields[N - 3].
    let start: usize = fields.get(48 - 3)?.parse().ok()?;
    let end: usize = fields.get(49 - 3)?.parse().ok()?;
    Some((start, end))
}
