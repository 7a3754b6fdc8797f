//! `wsgi.errors`: a text stream that writes into the server's error log.

use ferrocorn_server::log;
use pyo3::prelude::*;

/// The `wsgi.errors` stream (one shared instance; each write is one log write).
#[pyclass(module = "ferrocorn._ferrocorn", frozen)]
pub struct ErrorStream;

#[pymethods]
impl ErrorStream {
    fn write(&self, s: &str) -> usize {
        log::write_raw(s.as_bytes());
        s.chars().count()
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            let line = line?;
            log::write_raw(line.extract::<&str>()?.as_bytes());
        }
        Ok(())
    }

    fn flush(&self) {}
}
