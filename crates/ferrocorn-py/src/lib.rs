//! The `ferrocorn._ferrocorn` extension module: the only crate that touches Python.
//!
//! `run(argv)` is the whole program (the console script only calls it). Everything that holds the
//! GIL lives here: loading the app, the WSGI adapter (environ, start_response, wsgi.input,
//! wsgi.file_wrapper, wsgi.errors) and releasing the GIL around every blocking wait.

use pyo3::prelude::*;

mod boot;
mod host;
mod loader;
mod settings;
mod unlock;
mod wsgi;

/// Run ferrocorn with a full argv (`argv[0]` is the program name); returns the exit status.
#[pyfunction]
fn run(py: Python<'_>, argv: Vec<String>) -> i32 {
    let code = boot::run(py, argv);
    // The master's last lines (and start-up failures) are written before the interpreter exits.
    py.detach(ferrocorn_server::log::flush);
    code
}

/// Write a message to the server's error log (used by the hooks' `server.log` / `worker.log`).
#[pyfunction]
fn _log(level: &str, message: &str) {
    let level = match level {
        "DEBUG" => ferrocorn_server::log::LogLevel::Debug,
        "WARNING" => ferrocorn_server::log::LogLevel::Warning,
        "ERROR" => ferrocorn_server::log::LogLevel::Error,
        "CRITICAL" => ferrocorn_server::log::LogLevel::Critical,
        _ => ferrocorn_server::log::LogLevel::Info,
    };
    ferrocorn_server::log::log(level, message);
}

#[pymodule]
fn _ferrocorn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(_log, m)?)?;
    m.add_class::<wsgi::input::InputStream>()?;
    m.add_class::<wsgi::start_response::StartResponse>()?;
    m.add_class::<wsgi::file_wrapper::FileWrapper>()?;
    m.add_class::<wsgi::errors::ErrorStream>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
