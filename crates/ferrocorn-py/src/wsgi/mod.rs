//! The WSGI host: implements the server's `App` trait by calling a Python WSGI callable.
//!
//! Each request thread stays attached to the interpreter for its whole life (one thread state, so
//! `threading.local` values survive from request to request and a request costs no thread-state
//! churn) but takes the GIL only when `Handler::handle` is about to call the app. It keeps it after
//! the call while the server finds more ready work without blocking (until another thread has
//! waited for it 1 ms, see `Handler::contended`), and lets go before the server blocks (epoll,
//! draining a body). So a thread that woke from
//! epoll parses, serves static files and writes log lines without the GIL, even while another
//! thread runs Python or a C call holds the GIL. Inside the app call the GIL is released around
//! every blocking wait. The connection's body reader and response writer move into the
//! `wsgi.input` and `start_response` objects for the length of the call and move back afterwards
//! (no shared mutable state).

pub mod environ;
pub mod errors;
pub mod file_wrapper;
pub mod input;
pub mod start_response;

use std::cell::Cell;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use ferrocorn_config::Config;
use ferrocorn_server::app::Busy;
use ferrocorn_server::{log, App, Exchange, Handler, Outcome, Unlocker};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::loader::traceback_text;
use crate::unlock::Unlock;
use environ::{Keys, Scratch};
use file_wrapper::FileWrapper;
use input::{ClientError, InputStream};
use start_response::StartResponse;

/// The loaded app plus everything prepared once for building environs.
pub struct WsgiApp {
    app: Py<PyAny>,
    /// Per listener: the constant part of every environ.
    templates: Vec<Py<PyDict>>,
    keys: Keys,
    /// The mount point: `--script-name`, else `SCRIPT_NAME` from the environment (gunicorn honours
    /// it); stripped from PATH_INFO.
    script_name: Vec<u8>,
    /// gunicorn's `pre_request(worker, req)` and `post_request(worker, req, environ, resp)` hooks.
    pre_request: Option<Py<PyAny>>,
    post_request: Option<Py<PyAny>>,
    /// How many arguments `post_request` takes: gunicorn accepts (worker, req), (worker, req,
    /// environ) and (worker, req, environ, resp).
    post_request_arity: usize,
}

impl WsgiApp {
    /// `names`: `(SERVER_NAME, SERVER_PORT)` per listener, in listener order.
    pub fn new(
        py: Python<'_>,
        app: Py<PyAny>,
        names: &[(String, String)],
        cfg: &Config,
    ) -> PyResult<Self> {
        // --script-name (uWSGI `mount`) wins over SCRIPT_NAME in the environment (gunicorn's way).
        let script_name = cfg
            .script_name
            .clone()
            .or_else(|| std::env::var("SCRIPT_NAME").ok())
            .unwrap_or_default();
        let script_name = script_name.trim_end_matches('/').to_string();
        let errors = Py::new(py, errors::ErrorStream)?;
        let wrapper = py.get_type::<FileWrapper>();
        let mut templates = Vec::new();
        let multiprocess = cfg.workers > 1 || cfg.dynamic.is_some_and(|d| d.1 > 1);
        for (server_name, server_port) in names {
            let d = PyDict::new(py);
            d.set_item("wsgi.version", (1, 0))?;
            d.set_item("wsgi.url_scheme", "http")?;
            d.set_item("wsgi.errors", &errors)?;
            d.set_item("wsgi.multithread", cfg.threads > 1)?;
            d.set_item("wsgi.multiprocess", multiprocess)?;
            d.set_item("wsgi.run_once", false)?;
            d.set_item("wsgi.file_wrapper", &wrapper)?;
            d.set_item("wsgi.input_terminated", true)?;
            d.set_item("SCRIPT_NAME", script_name.as_str())?;
            d.set_item("SERVER_NAME", server_name.as_str())?;
            d.set_item("SERVER_PORT", server_port.as_str())?;
            d.set_item(
                "SERVER_SOFTWARE",
                concat!("ferrocorn/", env!("CARGO_PKG_VERSION")),
            )?;
            d.set_item("GATEWAY_INTERFACE", "CGI/1.1")?;
            size_for_requests(&d)?;
            templates.push(d.unbind());
        }
        Ok(WsgiApp {
            app,
            templates,
            keys: Keys::new(py),
            script_name: script_name.into_bytes(),
            pre_request: None,
            post_request: None,
            post_request_arity: 4,
        })
    }
}

impl WsgiApp {
    /// Attach the per-request hooks from a config file.
    pub fn set_request_hooks(&mut self, py: Python<'_>, hooks: &crate::settings::Hooks) {
        self.pre_request = hooks.get("pre_request").map(|f| f.clone_ref(py));
        self.post_request = hooks.get("post_request").map(|f| f.clone_ref(py));
        if let Some(f) = &self.post_request {
            let arity = py
                .import("ferrocorn._config")
                .and_then(|c| c.call_method1("describe_hook", (f,)))
                .and_then(|t| t.extract::<(String, Option<u32>)>())
                .ok()
                .and_then(|(_, a)| a);
            self.post_request_arity = arity.map_or(4, |a| (a as usize).clamp(2, 4));
        }
    }
}

/// Run a per-request hook; exceptions are logged, never fatal.
fn request_hook<'py>(
    py: Python<'py>,
    name: &str,
    f: &Py<PyAny>,
    args: impl FnOnce(&Bound<'py, PyModule>, Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>>,
) {
    let res = py.import("ferrocorn._hooks").and_then(|h| {
        let w = h.call_method0("this_worker")?;
        let a = args(&h, w)?;
        f.bind(py).call1(a)
    });
    if let Err(e) = res {
        log::error(&format!(
            "Exception in {name} hook\n{}",
            traceback_text(py, &e)
        ));
    }
}

/// The server's side of a request thread (its event loop and connection drivers), carried into
/// `Python::detach`.
struct ServerCode<'a>(&'a mut dyn FnMut(&mut dyn Handler));

// SAFETY: `detach` wants `Send` so that nothing bound to the GIL (`Python`, `Bound`) is used
// while it is released. The closure is ferrocorn-server code, which never touches Python, and the
// handler it is given takes the GIL (and opens a `Python::attach` scope) before running any
// Python. The closure runs on this same thread; it is never sent anywhere.
unsafe impl Send for ServerCode<'_> {}

impl ServerCode<'_> {
    /// Take the closure out (a method, so the `move` closure captures the whole Send wrapper).
    fn run(self, h: &mut dyn Handler) {
        (self.0)(h)
    }
}

impl App for WsgiApp {
    fn run_thread(&self, body: &mut dyn FnMut(&mut dyn Handler)) {
        // Attached once for the thread's life (its thread state persists), then detached: the
        // handler takes the GIL when it calls the app.
        Python::attach(|py| {
            let code = ServerCode(body);
            py.detach(move || {
                let mut h = PyHandler {
                    app: self,
                    scratch: Scratch::default(),
                    in_app: false,
                    kept: Cell::new(None),
                    on_busy: None,
                    main: is_main_thread(),
                };
                code.run(&mut h);
                // `h` drops here and lets go of a GIL it kept, before `detach` takes it back.
            })
        })
    }
}

/// A request thread's handler. The thread holds the GIL only from the app call on, until the
/// server next blocks.
struct PyHandler<'a> {
    app: &'a WsgiApp,
    scratch: Scratch,
    /// Inside `handle` (a `Python::attach` scope is open).
    in_app: bool,
    /// Called once the GIL is taken for an app call, or before the server blocks outside one
    /// (see `Handler::set_on_busy`).
    on_busy: Option<Box<dyn Fn(Busy)>>,
    /// The GIL kept after an app call (the state `PyGILState_Ensure` returned): this thread holds
    /// it outside any PyO3 scope until `let_go`.
    kept: Cell<Option<ffi::PyGILState_STATE>>,
    /// This is the process's main thread (the one CPython runs signal handlers on).
    main: bool,
}

/// The process's main thread is inside the app (the only thread CPython runs signal handlers on).
static MAIN_IN_APP: AtomicBool = AtomicBool::new(false);

/// INT/QUIT hook (signal context): while the main thread runs the app, trip CPython's handler for
/// the signal, which raises `WorkerInterrupted` there at the next bytecode.
pub extern "C" fn interrupt_app(sig: libc::c_int) {
    if MAIN_IN_APP.load(Ordering::Acquire) {
        // SAFETY: PyErr_SetInterruptEx is async-signal-safe and needs no thread state (CPython
        // documents both); it only sets a flag the main thread's eval loop checks.
        unsafe {
            ffi::PyErr_SetInterruptEx(sig);
        }
    }
}

fn is_main_thread() -> bool {
    // SAFETY: getpid/gettid have no preconditions.
    unsafe { libc::getpid() == libc::gettid() }
}

/// Request threads of this process waiting for the GIL, and since when (µs on the monotonic clock)
/// the longest-waiting of them has waited (see `Handler::contended`).
static GIL_WAITERS: AtomicUsize = AtomicUsize::new(0);
static GIL_WAIT_SINCE_US: AtomicU64 = AtomicU64::new(0);
/// A waiter gets the GIL at the holder's next request boundary once it has waited this long:
/// far below CPython's 5 ms forced switch (which would interleave requests), far above the cost
/// of a hand-over (which, per request, halves a CPU-bound hello with 4 threads).
const HAND_OVER_AFTER_US: u64 = 1000;

fn monotonic_us() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_micros() as u64
}

/// Counts a waiter out again however `take_gil` is left.
struct WaiterGuard;

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        if GIL_WAITERS.fetch_sub(1, Ordering::AcqRel) > 1 {
            // The next waiter's clock starts now (close enough: it waited at most this long).
            GIL_WAIT_SINCE_US.store(monotonic_us(), Ordering::Relaxed);
        }
    }
}

impl PyHandler<'_> {
    /// Take the GIL for the app call, unless this thread kept it from the last one.
    fn take_gil(&self) {
        if self.kept.get().is_none() {
            // Waiters are counted only where the worker schedules several threads (it set
            // `on_busy`): one thread never waits for another, and skips the clock read.
            let _waiting = self.on_busy.is_some().then(|| {
                if GIL_WAITERS.fetch_add(1, Ordering::AcqRel) == 0 {
                    GIL_WAIT_SINCE_US.store(monotonic_us(), Ordering::Relaxed);
                }
                WaiterGuard
            });
            // SAFETY: the thread has a thread state (attached in `run_thread`) and holds no GIL
            // here (inside that attach's `detach`, outside any other scope). The matching
            // `PyGILState_Release` is in `let_go`, which runs before any other Ensure/Release
            // pair that was opened after this one is left unbalanced: PyO3's own pairs inside
            // `handle` are closed before `handle` returns.
            self.kept.set(Some(unsafe { ffi::PyGILState_Ensure() }));
        }
    }

    /// Let go of a GIL kept after an app call (before the server blocks).
    fn let_go(&self) {
        if let Some(state) = self.kept.take() {
            // SAFETY: pairs with the Ensure in `take_gil`; no PyO3 scope is open on this thread
            // (we are outside `handle`), so the Ensure/Release pairs unwind in order.
            unsafe { ffi::PyGILState_Release(state) }
        }
    }
}

impl Drop for PyHandler<'_> {
    fn drop(&mut self) {
        self.let_go();
    }
}

impl Unlocker for PyHandler<'_> {
    fn unlocked(&self, f: &mut (dyn FnMut() + Send)) {
        if self.in_app {
            // Attached already: this only borrows the token, then releases the GIL around `f`.
            Python::attach(|py| py.detach(f))
        } else {
            // The server is about to block (epoll, draining a body, a static file to a slow
            // client): let go of a kept GIL and do not take it back; the next app call will. And
            // tell the worker, which may let another thread wait for new work meanwhile.
            self.let_go();
            if let Some(busy) = &self.on_busy {
                busy(Busy::Blocking);
            }
            f()
        }
    }
}

impl Handler for PyHandler<'_> {
    fn contended(&self) -> bool {
        GIL_WAITERS.load(Ordering::Acquire) > 0
            && monotonic_us().saturating_sub(GIL_WAIT_SINCE_US.load(Ordering::Relaxed))
                >= HAND_OVER_AFTER_US
    }

    fn set_on_busy(&mut self, f: Box<dyn Fn(Busy)>) {
        self.on_busy = Some(f);
    }

    fn handle(&mut self, ex: &mut Exchange) -> Outcome {
        self.take_gil();
        if let Some(f) = &self.on_busy {
            f(Busy::Serving);
        }
        // The GIL is held: this `attach` only opens PyO3's scope on it (a nested Ensure).
        Python::attach(|py| {
            self.in_app = true;
            let outcome = self.handle_attached(py, ex);
            self.in_app = false;
            outcome
        })
    }
}

impl PyHandler<'_> {
    fn handle_attached(&mut self, py: Python<'_>, ex: &mut Exchange) -> Outcome {
        let env = match self.environ(py, ex) {
            Ok(e) => e,
            Err(e) => {
                log::error(&format!(
                    "cannot build the environ: {}",
                    traceback_text(py, &e)
                ));
                let _ = ex.resp.simple(
                    500,
                    "Internal Server Error",
                    b"Internal Server Error\n",
                    &Unlock(py),
                );
                return Outcome::Close;
            }
        };
        let sr = match Bound::new(py, StartResponse::new(std::mem::take(&mut ex.resp))) {
            Ok(sr) => sr,
            Err(_) => return Outcome::Close,
        };
        let input = match Bound::new(
            py,
            InputStream::new(std::mem::take(&mut ex.body), sr.clone().unbind()),
        ) {
            Ok(i) => i,
            Err(_) => {
                ex.resp = sr.borrow_mut().writer.take().unwrap_or_default();
                return Outcome::Close;
            }
        };
        let req = if self.app.pre_request.is_some() || self.app.post_request.is_some() {
            py.import("ferrocorn._hooks")
                .and_then(|h| h.call_method1("request", (&env,)))
                .ok()
        } else {
            None
        };
        if let (Some(f), Some(r)) = (&self.app.pre_request, &req) {
            request_hook(py, "pre_request", f, |_, w| {
                PyTuple::new(py, [w, r.clone()])
            });
        }
        let main = self.main;
        if main {
            MAIN_IN_APP.store(true, Ordering::Release);
        }
        let outcome = match env.set_item(&self.app.keys.wsgi_input, &input) {
            Ok(()) => call_app(py, self.app.app.bind(py), &env, &sr, &input, ex),
            Err(_) => Outcome::Close,
        };
        if main {
            MAIN_IN_APP.store(false, Ordering::Release);
        }
        if let (Some(f), Some(r)) = (&self.app.post_request, &req) {
            let (status, sent) = sr
                .try_borrow()
                .ok()
                .and_then(|s| s.writer.as_ref().map(|w| (w.status(), w.body_bytes())))
                .unwrap_or((0, 0));
            let arity = self.app.post_request_arity;
            request_hook(py, "post_request", f, |h, w| {
                let resp = h.call_method1("response", (status, sent))?;
                let all = [w, r.clone(), env.clone().into_any(), resp];
                PyTuple::new(py, all.into_iter().take(arity))
            });
        }
        if !ex.logged_env.keys.is_empty() {
            read_logged_env(&env, &mut ex.logged_env);
        }
        // Take the connection's reader and writer back. If the app still holds them busy on another
        // thread, they stay empty and the connection closes.
        let mut outcome = outcome;
        match (sr.try_borrow_mut(), input.try_borrow_mut()) {
            (Ok(mut s), Ok(mut i)) => {
                ex.resp = s.writer.take().unwrap_or_default();
                ex.body = i.body.take().unwrap_or_default();
            }
            _ => outcome = Outcome::Close,
        }
        outcome
    }

    fn environ<'py>(&mut self, py: Python<'py>, ex: &Exchange) -> PyResult<Bound<'py, PyDict>> {
        let template = self.app.templates.get(ex.info.listener).ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err("no environ template for this listener")
        })?;
        let env = template.bind(py).copy()?;
        environ::fill(
            py,
            &self.app.keys,
            &env,
            ex,
            &self.app.script_name,
            &mut self.scratch,
        )?;
        Ok(env)
    }
}

/// Keys `environ::fill` (and the input stream) set on every request, whatever the protocol.
const PER_REQUEST_KEYS: &[&str] = &[
    "REQUEST_METHOD",
    "PATH_INFO",
    "QUERY_STRING",
    "RAW_URI",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "wsgi.input",
];

/// Shape a listener's template so that each request's copy has room for its keys: the keys every
/// request sets get placeholders (each request overwrites them, so none survives), and the table
/// is grown once here. A plain 13-key template copies into a table that one request's keys fill,
/// and the first `HTTP_*` header then resized the dict on every request. Only a matter of speed:
/// with another dict layout the same environ comes out.
fn size_for_requests(d: &Bound<'_, PyDict>) -> PyResult<()> {
    for key in PER_REQUEST_KEYS {
        if !d.contains(*key)? {
            d.set_item(*key, "")?;
        }
    }
    // One more insertion makes CPython grow the table (to 64 slots from 21 entries); deleting it
    // again keeps the table, and leaves the dict dense enough for `copy()` to clone it whole.
    const GROW: &str = "ferrocorn.grow";
    d.set_item(GROW, true)?;
    d.del_item(GROW)?;
    Ok(())
}

/// Read the environ values the access log's `{KEY}e` atoms ask for, as the app left them. Keys
/// match case-insensitively, like gunicorn's lower-cased atom table.
fn read_logged_env(env: &Bound<'_, PyDict>, out: &mut ferrocorn_server::app::LoggedEnv) {
    out.values.clear();
    for key in out.keys.iter() {
        let mut value = env.get_item(key.as_str()).ok().flatten();
        if value.is_none() {
            value = env.iter().find_map(|(k, v)| {
                k.extract::<&str>()
                    .ok()
                    .filter(|k| k.eq_ignore_ascii_case(key))
                    .map(|_| v)
            });
        }
        out.values
            .push(value.and_then(|v| v.str().ok().map(|s| s.to_string_lossy().into_owned())));
    }
}

/// The request line for log messages (read from the body's buffer, where the head lives).
fn request_line(input: &Bound<'_, InputStream>, ex: &Exchange) -> String {
    input
        .try_borrow()
        .map(|i| i.describe(&ex.head))
        .unwrap_or_else(|_| "-".into())
}

/// An exception escaped the app. If it came from a bad request body, answer the client's error
/// (400/413) or nothing if the client is gone; otherwise log the traceback and answer 500 — unless
/// the head is already out, then just close.
/// The app was interrupted by INT/QUIT (`ferrocorn._hooks.WorkerInterrupted`).
fn interrupted(py: Python<'_>, err: &PyErr) -> bool {
    py.import("ferrocorn._hooks")
        .and_then(|h| h.getattr("WorkerInterrupted"))
        .is_ok_and(|cls| err.get_type(py).is_subclass(&cls).unwrap_or(false))
}

fn app_failed(
    py: Python<'_>,
    err: &PyErr,
    sr: &Bound<'_, StartResponse>,
    input: &Bound<'_, InputStream>,
    ex: &Exchange,
) -> Outcome {
    if interrupted(py, err) {
        // INT/QUIT: the worker is quitting; the request ends here, without a traceback.
        log::info(&format!("Request interrupted: {}", request_line(input, ex)));
        return Outcome::Close;
    }
    let client_error = input.try_borrow().ok().and_then(|i| i.client_error);
    let Ok(mut s) = sr.try_borrow_mut() else {
        return Outcome::Close;
    };
    let Some(w) = s.writer.as_mut() else {
        return Outcome::Close;
    };
    match client_error {
        Some(ClientError::Protocol(code, reason)) => {
            log::info(&format!(
                "Bad request body for {}: {code} {reason}",
                request_line(input, ex)
            ));
            if !w.head_committed() {
                let _ = w.simple(code, reason, format!("{reason}\n").as_bytes(), &Unlock(py));
            }
        }
        Some(ClientError::Gone) => {
            log::debug(&format!(
                "Client went away while sending the body of {}",
                request_line(input, ex)
            ));
        }
        None => {
            log::error(&format!(
                "Error handling request {}\n{}",
                request_line(input, ex),
                traceback_text(py, err)
            ));
            if !w.head_committed() {
                let _ = w.simple(
                    500,
                    "Internal Server Error",
                    b"Internal Server Error\n",
                    &Unlock(py),
                );
            }
        }
    }
    Outcome::Close
}

/// Total size of a list/tuple of bytes, when every item is bytes (so Content-Length can be set).
fn known_length(items: &[Bound<'_, PyAny>]) -> Option<u64> {
    let mut n = 0u64;
    for it in items {
        n += it.cast::<PyBytes>().ok()?.as_bytes().len() as u64;
    }
    Some(n)
}

fn call_app(
    py: Python<'_>,
    app: &Bound<'_, PyAny>,
    env: &Bound<'_, PyDict>,
    sr: &Bound<'_, StartResponse>,
    input: &Bound<'_, InputStream>,
    ex: &Exchange,
) -> Outcome {
    let result = match app.call1((env, sr)) {
        Ok(r) => r,
        Err(e) => return app_failed(py, &e, sr, input, ex),
    };
    let outcome = match send_result(py, &result, sr) {
        Ok(()) => finish(py, sr, input, ex),
        Err(e) => {
            if e.is_instance_of::<pyo3::exceptions::PyOSError>(py) && sr.borrow().committed() {
                // The client went away mid-response: nothing to tell it.
                log::debug(&format!(
                    "client gone during {}: {}",
                    request_line(input, ex),
                    e.value(py)
                ));
                Outcome::Close
            } else {
                app_failed(py, &e, sr, input, ex)
            }
        }
    };
    // PEP 3333: close() is always called, whatever happened.
    if !(result.is_exact_instance_of::<PyList>()
        || result.is_exact_instance_of::<PyTuple>()
        || result.is_exact_instance_of::<PyBytes>())
    {
        if let Ok(close) = result.getattr("close") {
            if let Err(e) = close.call0() {
                log::error(&format!(
                    "Error closing the response of {}\n{}",
                    request_line(input, ex),
                    traceback_text(py, &e)
                ));
                return Outcome::Close;
            }
        }
    }
    outcome
}

fn finish(
    py: Python<'_>,
    sr: &Bound<'_, StartResponse>,
    input: &Bound<'_, InputStream>,
    ex: &Exchange,
) -> Outcome {
    let mut s = sr.borrow_mut();
    if !s.committed() {
        if let Err(e) = s.commit(Some(0)) {
            drop(s);
            return app_failed(py, &e, sr, input, ex);
        }
    }
    let Some(w) = s.writer.as_mut() else {
        return Outcome::Close;
    };
    match w.finish(&Unlock(py)) {
        Ok(()) => Outcome::Done,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            log::error(&format!("{}: {e}", request_line(input, ex)));
            Outcome::Close
        }
        Err(_) => Outcome::Close,
    }
}

fn chunk_bytes<'a>(item: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    match item.cast::<PyBytes>() {
        Ok(b) => Ok(b.as_bytes()),
        Err(_) => Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "the application must yield bytes, not {}",
            item.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))),
    }
}

/// Send the app's iterable: lists fast, file wrappers by sendfile, anything else by iteration.
fn send_result(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    sr: &Bound<'_, StartResponse>,
) -> PyResult<()> {
    if let Ok(list) = result.cast::<PyList>() {
        let items: Vec<Bound<'_, PyAny>> = list.iter().collect();
        return send_items(py, &items, sr);
    }
    if let Ok(tuple) = result.cast::<PyTuple>() {
        let items: Vec<Bound<'_, PyAny>> = tuple.iter().collect();
        return send_items(py, &items, sr);
    }
    if let Ok(fw) = result.cast::<FileWrapper>() {
        if send_file(py, fw, sr)? {
            return Ok(());
        }
    }
    let sent = send_items_as_they_come(py, result, sr);
    // What the app produced before it failed still goes out (best effort: the response is cut
    // short either way).
    let released = sr.borrow_mut().release_held(py);
    sent.and(released)
}

/// A generic iterable may pause between items (a stream): the first item goes out at once with
/// the head; later items of a body with a Content-Length that come quickly may be held briefly
/// and sent together (`StartResponse::hold`), the others go out as they come.
fn send_items_as_they_come(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    sr: &Bound<'_, StartResponse>,
) -> PyResult<()> {
    for item in result.try_iter()? {
        let item = item?;
        let data = chunk_bytes(&item)?;
        if data.is_empty() {
            continue;
        }
        let mut s = sr.borrow_mut();
        if let Ok(b) = item.cast::<PyBytes>() {
            if s.hold(py, b)? {
                continue;
            }
        }
        s.send(py, data)?;
        let w = s.writer()?;
        if w.flush_can_wait() {
            // The whole body is in and the worker gathers writes: `finish` leaves it for the
            // end of the poll round.
            continue;
        }
        w.flush(&Unlock(py)).map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!("write to client failed: {e}"))
        })?;
    }
    Ok(())
}

fn send_items(
    py: Python<'_>,
    items: &[Bound<'_, PyAny>],
    sr: &Bound<'_, StartResponse>,
) -> PyResult<()> {
    let mut s = sr.borrow_mut();
    if s.called && !s.committed() {
        if let Some(n) = known_length(items) {
            s.commit(Some(n))?;
        }
    }
    for item in items {
        s.send(py, chunk_bytes(item)?)?;
    }
    Ok(())
}

/// sendfile for a `wsgi.file_wrapper` around a real, regular file. Returns false when the object
/// is not one (the caller then iterates it like any iterable).
fn send_file(
    py: Python<'_>,
    fw: &Bound<'_, FileWrapper>,
    sr: &Bound<'_, StartResponse>,
) -> PyResult<bool> {
    let filelike = fw.borrow().filelike.clone_ref(py);
    let f = filelike.bind(py);
    let Ok(fd) = f.call_method0("fileno").and_then(|n| n.extract::<i32>()) else {
        return Ok(false);
    };
    // SAFETY: the fd belongs to `filelike`, which we hold a reference to for the whole borrow.
    let file = unsafe { BorrowedFd::borrow_raw(fd) };
    let Ok(meta) = nix::sys::stat::fstat(file.as_fd()) else {
        return Ok(false);
    };
    if (meta.st_mode & libc::S_IFMT) != libc::S_IFREG {
        return Ok(false);
    }
    // Honour the file position the app left (and any buffered reads it did).
    let pos: i64 = match f.call_method0("tell").and_then(|p| p.extract()) {
        Ok(p) => p,
        Err(_) => return Ok(false),
    };
    let size = meta.st_size.max(0) as u64;
    let len = size.saturating_sub(pos.max(0) as u64);
    let mut s = sr.borrow_mut();
    if !s.called {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "the application did not call start_response",
        ));
    }
    s.commit(Some(len))?;
    let w = s.writer()?;
    w.send_file(&file, pos, len, &Unlock(py))
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("sendfile failed: {e}")))?;
    Ok(true)
}
