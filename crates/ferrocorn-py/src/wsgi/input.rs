//! `wsgi.input`: the request body as a file-like object that never reads past the body.
//!
//! Bytes already in the connection buffer are returned without a syscall; when it has to wait for
//! the client it releases the GIL. `read(n)` fills the result in as few waits as the network allows.

use std::mem::MaybeUninit;

use ferrocorn_server::body::{BodyError, BodyReader};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::unlock::Unlock;
use crate::wsgi::start_response::StartResponse;

/// Largest block read at once when the caller asked for "everything".
const BLOCK: usize = 64 * 1024;

/// A `read(n)` still wanting this much goes from the socket straight into its result.
const DIRECT_READ_MIN: usize = 16 * 1024;

#[pyclass(module = "ferrocorn._ferrocorn")]
pub struct InputStream {
    pub body: Option<BodyReader>,
    /// The response side, to know whether `100 Continue` may still be sent.
    sr: Py<StartResponse>,
    /// Bytes read ahead by `readline` and not yet handed out.
    ahead: Vec<u8>,
    /// The client's fault found while reading the body (bad chunking, too large, gone): the server
    /// answers this instead of a 500 if the app lets the exception escape.
    pub client_error: Option<ClientError>,
}

/// A body read failure that is the client's doing.
#[derive(Debug, Clone, Copy)]
pub enum ClientError {
    /// Malformed or oversized body: answer with this status.
    Protocol(u16, &'static str),
    /// The client went away or stalled: nobody to answer.
    Gone,
}

/// Turn a body error into the Python exception the app sees, remembering whose fault it was.
fn body_err(slot: &mut Option<ClientError>, e: BodyError) -> PyErr {
    match e {
        BodyError::Io(e) => {
            *slot = Some(ClientError::Gone);
            PyOSError::new_err(format!("error reading the request body: {e}"))
        }
        BodyError::Protocol(code, reason) => {
            *slot = Some(ClientError::Protocol(code, reason));
            PyValueError::new_err(format!("invalid request body: {code} {reason}"))
        }
    }
}

/// Write position in a `bytes` object being filled (see [`bytes_filled_by`]).
struct Fill {
    ptr: *mut u8,
    len: usize,
    off: usize,
}

impl Fill {
    /// Append `src`; bytes beyond the object's length are dropped (never happens: callers ask
    /// for at most what is left).
    fn put(&mut self, src: &[u8]) {
        let n = src.len().min(self.len - self.off);
        // SAFETY: `ptr` points at `len` writable bytes of a bytes object nobody else sees yet,
        // and `off + n <= len`.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(self.off), n) };
        self.off += n;
    }

    /// The part not written yet, to be filled in place (then [`Fill::advance`]).
    fn rest(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: `ptr + off .. ptr + len` is writable memory of a bytes object nobody else sees
        // yet; `MaybeUninit<u8>` makes no claim about its contents.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.ptr.add(self.off).cast::<MaybeUninit<u8>>(),
                self.len - self.off,
            )
        }
    }

    /// Count `n` bytes written in place through [`Fill::rest`].
    fn advance(&mut self, n: usize) {
        self.off = (self.off + n).min(self.len);
    }
}

/// A `bytes` object of exactly `len` bytes, filled by calling `step(fill, filled_so_far)` until
/// full. Unlike `PyBytes::new_with` it does not zero the memory first: for a 64 KiB body that
/// memset was 2% of the echo benchmark's CPU.
fn bytes_filled_by<'py>(
    py: Python<'py>,
    len: usize,
    mut step: impl FnMut(&mut Fill, usize) -> PyResult<()>,
) -> PyResult<Bound<'py, PyBytes>> {
    let size = pyo3::ffi::Py_ssize_t::try_from(len)
        .map_err(|_| PyValueError::new_err("read size too large"))?;
    // SAFETY: a null source asks CPython for an uninitialised bytes object of `size` bytes; the
    // returned reference is owned (or null with an exception set, which from_owned_ptr_or_err turns
    // into the error).
    let obj = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), size),
        )?
    };
    // SAFETY: `obj` is an exact bytes object, so PyBytes_AsString returns its data pointer.
    let ptr = unsafe { pyo3::ffi::PyBytes_AsString(obj.as_ptr()) }.cast::<u8>();
    let mut fill = Fill { ptr, len, off: 0 };
    while fill.off < len {
        let before = fill.off;
        step(&mut fill, before)?;
        if fill.off == before {
            return Err(PyOSError::new_err("request body ended early"));
        }
    }
    // Nothing uninitialised is left: every byte up to `len` was written above. On an error the
    // object is dropped unread.
    Ok(obj.cast_into::<PyBytes>()?)
}

impl InputStream {
    /// Fast path for a length-delimited body with nothing read ahead: the result's size is known,
    /// so the bytes object is allocated once and filled straight from the connection buffer.
    fn exact_read<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<usize>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if !self.ahead.is_empty() {
            return Ok(None);
        }
        let Some(remaining) = self.body.as_ref().and_then(|b| b.remaining_hint()) else {
            return Ok(None);
        };
        let n = match size {
            Some(s) => (s as u64).min(remaining),
            None => remaining,
        } as usize;
        if n == 0 {
            return Ok(Some(PyBytes::new(py, b"")));
        }
        let head_sent = self.sr.borrow(py).committed();
        let (body, client_error) = (&mut self.body, &mut self.client_error);
        let body = body
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("I/O operation on a finished request"))?;
        let bytes = bytes_filled_by(py, n, |dst, off| {
            // Most of a big body is read from the socket straight into the result.
            if n - off >= DIRECT_READ_MIN {
                if let Some(got) = body.read_direct(dst.rest(), &Unlock(py), head_sent) {
                    dst.advance(got.map_err(|e| body_err(client_error, e))?);
                    return Ok(());
                }
            }
            let chunk = match body.read(n - off, &Unlock(py), head_sent) {
                Ok(c) => c,
                Err(e) => return Err(body_err(client_error, e)),
            };
            if chunk.is_empty() {
                return Err(PyOSError::new_err("request body ended early"));
            }
            dst.put(chunk);
            Ok(())
        })?;
        Ok(Some(bytes))
    }
    /// `METHOD TARGET` of the request, for log lines (the head lives in the body's buffer).
    pub fn describe(&self, head: &ferrocorn_server::app::Head) -> String {
        match &self.body {
            Some(b) => ferrocorn_server::Request::new(b.buffer(), head).describe(),
            None => String::from("-"),
        }
    }

    pub fn new(body: BodyReader, sr: Py<StartResponse>) -> Self {
        InputStream {
            body: Some(body),
            sr,
            ahead: Vec::new(),
            client_error: None,
        }
    }

    /// Append up to `max` body bytes to `out` (fewer only at the end of the body).
    fn read_into(&mut self, py: Python<'_>, out: &mut Vec<u8>, max: usize) -> PyResult<()> {
        let take = self.ahead.len().min(max);
        out.extend(self.ahead.drain(..take));
        let mut want = max - take;
        if want == 0 {
            return Ok(());
        }
        let head_sent = self.sr.borrow(py).committed();
        let body = self
            .body
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("I/O operation on a finished request"))?;
        while want > 0 {
            let chunk = match body.read(want, &Unlock(py), head_sent) {
                Ok(c) => c,
                Err(e) => return Err(body_err(&mut self.client_error, e)),
            };
            if chunk.is_empty() {
                break;
            }
            want -= chunk.len();
            out.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// One line (up to `limit` bytes), keeping what was read past it for later.
    fn line(&mut self, py: Python<'_>, limit: Option<usize>) -> PyResult<Vec<u8>> {
        let limit = limit.unwrap_or(usize::MAX);
        let mut scanned = 0usize;
        loop {
            if let Some(i) = memchr_nl(&self.ahead[scanned..]) {
                let end = (scanned + i + 1).min(limit);
                return Ok(self.ahead.drain(..end).collect());
            }
            if self.ahead.len() >= limit {
                return Ok(self.ahead.drain(..limit).collect());
            }
            scanned = self.ahead.len();
            let head_sent = self.sr.borrow(py).committed();
            let body = self
                .body
                .as_mut()
                .ok_or_else(|| PyValueError::new_err("I/O operation on a finished request"))?;
            let want = (limit - self.ahead.len()).min(BLOCK);
            let chunk = match body.read(want, &Unlock(py), head_sent) {
                Ok(c) => c,
                Err(e) => return Err(body_err(&mut self.client_error, e)),
            };
            if chunk.is_empty() {
                return Ok(std::mem::take(&mut self.ahead));
            }
            self.ahead.extend_from_slice(chunk);
        }
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Interpret a size argument: None or negative means "all".
fn size_arg(size: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    match size {
        None => Ok(None),
        Some(s) if s.is_none() => Ok(None),
        Some(s) => {
            let n: i64 = s.extract()?;
            Ok(if n < 0 { None } else { Some(n as usize) })
        }
    }
}

#[pymethods]
impl InputStream {
    #[pyo3(signature = (size = None))]
    fn read<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let size = size_arg(size)?;
        if let Some(b) = self.exact_read(py, size)? {
            return Ok(b);
        }
        let mut out = Vec::new();
        match size {
            Some(n) => {
                let hint = self
                    .body
                    .as_ref()
                    .and_then(|b| b.remaining_hint())
                    .unwrap_or(n as u64);
                out.reserve((n as u64).min(hint + self.ahead.len() as u64) as usize);
                self.read_into(py, &mut out, n)?;
            }
            None => {
                if let Some(h) = self.body.as_ref().and_then(|b| b.remaining_hint()) {
                    out.reserve(h as usize + self.ahead.len());
                }
                loop {
                    let before = out.len();
                    self.read_into(py, &mut out, BLOCK)?;
                    if out.len() == before {
                        break;
                    }
                }
            }
        }
        Ok(PyBytes::new(py, &out))
    }

    #[pyo3(signature = (size = None))]
    fn readline<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let limit = size_arg(size)?;
        let line = self.line(py, limit)?;
        Ok(PyBytes::new(py, &line))
    }

    #[pyo3(signature = (hint = None))]
    fn readlines<'py>(
        &mut self,
        py: Python<'py>,
        hint: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let hint = size_arg(hint)?.filter(|&h| h > 0);
        let lines = PyList::empty(py);
        let mut total = 0usize;
        loop {
            let line = self.line(py, None)?;
            if line.is_empty() {
                break;
            }
            total += line.len();
            lines.append(PyBytes::new(py, &line))?;
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.line(py, None)?;
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
    }

    fn readable(&self) -> bool {
        true
    }

    fn close(&self) {}
}
