//! `start_response` and the `write()` callable (PEP 3333).
//!
//! The status and headers are validated at once and written straight into the response writer's
//! buffer (no per-header allocation); they leave with the first non-empty body chunk. A second call
//! with `exc_info` before that replaces them; after it, the exception is re-raised.

use std::borrow::Cow;
use std::time::Instant;

use ferrocorn_proto::http1 as h1;
use ferrocorn_server::hold::{Hold, Holding};
use ferrocorn_server::response::ResponseWriter;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::unlock::Unlock;

/// The `start_response` callable handed to the app; owns the connection's response writer for
/// the duration of the request.
#[pyclass(module = "ferrocorn._ferrocorn")]
pub struct StartResponse {
    pub writer: Option<ResponseWriter>,
    /// start_response has been called (and its status/headers are in the writer).
    pub called: bool,
    /// An extra `Content-Length` the server may add when it knows the body size (see `commit`).
    pub has_length: bool,
    /// Items of the app's iterable held back to go out in one `writev` (see [`Self::hold`]).
    held: Vec<Py<PyBytes>>,
    holding: Holding,
}

/// The bytes of a header string: PEP 3333 strings are latin-1 ("bytes as str").
pub fn latin1<'a>(s: &'a Bound<'_, PyString>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    // Fast path: ASCII is the same in UTF-8 and latin-1.
    if let Ok(t) = s.to_str() {
        if t.is_ascii() {
            return Ok(Cow::Borrowed(t.as_bytes()));
        }
    }
    match s.call_method1("encode", ("latin-1",)) {
        Ok(b) => Ok(Cow::Owned(
            b.cast_into::<PyBytes>()
                .map_err(PyErr::from)?
                .as_bytes()
                .to_vec(),
        )),
        Err(_) => Err(PyValueError::new_err(format!(
            "{what} is not latin-1 encodable: {s}"
        ))),
    }
}

impl StartResponse {
    pub fn new(writer: ResponseWriter) -> Self {
        StartResponse {
            writer: Some(writer),
            called: false,
            has_length: false,
            held: Vec::new(),
            holding: Holding::default(),
        }
    }

    /// Offered every non-empty item of the app's iterable: hold it to send it together with
    /// the next ones when the app produces them quickly (the rules are in
    /// `ferrocorn_server::hold`). Returns false when the item is not held: the caller sends it.
    pub fn hold(&mut self, py: Python<'_>, item: &Bound<'_, PyBytes>) -> PyResult<bool> {
        let w = self.writer()?;
        let left = if w.can_hold_pieces() {
            w.body_left()
        } else {
            None
        };
        let step = self
            .holding
            .offer(Instant::now(), item.as_bytes().len(), left);
        if step == Hold::SendNow {
            return Ok(false);
        }
        self.held.push(item.clone().unbind());
        if step == Hold::KeepAndRelease {
            self.release_held(py)?;
        }
        Ok(true)
    }

    /// Send the held items now, in one `writev`.
    pub fn release_held(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        self.holding.released();
        let pieces: Vec<&[u8]> = held.iter().map(|b| b.as_bytes(py)).collect();
        self.writer()?
            .write_pieces(&pieces, &Unlock(py))
            .map_err(|e| PyOSError::new_err(format!("write to client failed: {e}")))
    }

    pub fn writer(&mut self) -> PyResult<&mut ResponseWriter> {
        self.writer
            .as_mut()
            .ok_or_else(|| PyRuntimeError::new_err("the request is over"))
    }

    /// Whether the head is decided (sent or about to be).
    pub fn committed(&self) -> bool {
        self.writer.as_ref().is_some_and(|w| w.head_committed())
    }

    /// Decide the head now (before the first body bytes). `length`: a body size the server knows
    /// (a list of bytes), added as Content-Length when the app gave none.
    pub fn commit(&mut self, length: Option<u64>) -> PyResult<()> {
        if !self.called {
            return Err(PyRuntimeError::new_err(
                "the application did not call start_response",
            ));
        }
        let add_length = if self.has_length { None } else { length };
        let w = self.writer()?;
        if w.head_committed() {
            return Ok(());
        }
        if let Some(n) = add_length {
            let mut b = itoa::Buffer::new();
            w.header(b"Content-Length", b.format(n).as_bytes());
        }
        w.commit();
        Ok(())
    }

    /// Write a body chunk, committing the head first if needed.
    pub fn send(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        if data.is_empty() {
            return Ok(());
        }
        // Held items go first (a write() from inside the iterable keeps its place).
        self.release_held(py)?;
        self.commit(None)?;
        let w = self.writer()?;
        w.write(data, &Unlock(py))
            .map_err(|e| PyOSError::new_err(format!("write to client failed: {e}")))?;
        Ok(())
    }
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info = None))]
    fn __call__(
        slf: &Bound<'_, Self>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        {
            let mut this = slf.borrow_mut();
            if let Some(exc) = exc_info {
                if this.committed() {
                    // PEP 3333: headers already sent -> re-raise the original exception.
                    let value = exc.get_item(1)?;
                    return Err(PyErr::from_value(value));
                }
            } else if this.called {
                return Err(PyRuntimeError::new_err(
                    "start_response() called a second time without exc_info",
                ));
            }
            let status = status.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "status must be a str, not {}",
                    status
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?;
            let status_bytes = latin1(status, "status")?;
            let code = h1::validate_status(&status_bytes)
                .map_err(|why| PyValueError::new_err(format!("invalid status {status}: {why}")))?;
            // Headers go straight into the writer's buffer. If one is invalid the error reaches the
            // app; a later start_response call (or our 500) starts the head afresh.
            this.called = false;
            let mut has_length = false;
            let w = this.writer()?;
            w.start(&status_bytes, code);
            for item in headers.try_iter()? {
                let item = item?;
                let tuple = item.cast::<PyTuple>().map_err(|_| {
                    PyTypeError::new_err("each header must be a (name, value) tuple")
                })?;
                if tuple.len() != 2 {
                    return Err(PyTypeError::new_err(
                        "each header must be a (name, value) tuple",
                    ));
                }
                let name = tuple.get_item(0)?;
                let value = tuple.get_item(1)?;
                let name = name
                    .cast::<PyString>()
                    .map_err(|_| PyTypeError::new_err("header names must be str"))?;
                let value = value.cast::<PyString>().map_err(|_| {
                    PyTypeError::new_err(format!("value of header {name} must be a str"))
                })?;
                let n = latin1(name, "header name")?;
                let v = latin1(value, "header value")?;
                h1::validate_header(&n, &v).map_err(|why| {
                    PyValueError::new_err(format!("invalid header {name}: {why}"))
                })?;
                has_length |= n.eq_ignore_ascii_case(b"content-length");
                w.header(&n, &v);
            }
            this.called = true;
            this.has_length = has_length;
        }
        Ok(slf.getattr("write")?.unbind())
    }

    /// The legacy `write(data)` callable returned by start_response.
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = data
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err("write() argument must be bytes"))?;
        self.send(py, b.as_bytes())?;
        // write() must push the data out before it returns (PEP 3333).
        let w = self.writer()?;
        w.flush(&Unlock(py))
            .map_err(|e| PyOSError::new_err(format!("write to client failed: {e}")))
    }
}
