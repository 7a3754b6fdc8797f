//! Finding the WSGI callable from `MODULE[:CALLABLE]`, gunicorn style: CALLABLE defaults to
//! `application`, may be a dotted attribute path, and may be a factory call `name()` or
//! `name(literal, key=literal)` (arguments parsed with `ast.literal_eval`, never executed).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// Why the app could not be loaded; `message` is what the user sees.
pub struct LoadError {
    pub message: String,
    /// The Python traceback, when an import or call raised.
    pub traceback: Option<String>,
}

fn format_traceback(py: Python<'_>, e: &PyErr) -> String {
    // Pass the traceback explicitly: on Python 3.11 a fetched exception's __traceback__ may be unset.
    let tb = py
        .import("traceback")
        .and_then(|m| m.getattr("format_exception"))
        .and_then(|f| f.call1((e.get_type(py), e.value(py), e.traceback(py))));
    match tb.and_then(|l| l.extract::<Vec<String>>()) {
        Ok(lines) => lines.concat(),
        Err(_) => format!("{e}"),
    }
}

/// Format a Python exception with its traceback, the way the error log shows it.
pub fn traceback_text(py: Python<'_>, e: &PyErr) -> String {
    format_traceback(py, e)
}

/// Split `name(args)` into the name and the argument text.
fn split_call(spec: &str) -> Result<(&str, Option<&str>), String> {
    match spec.find('(') {
        None => Ok((spec, None)),
        Some(i) => {
            let args = spec[i + 1..]
                .strip_suffix(')')
                .ok_or_else(|| format!("{spec:?}: missing ')'"))?;
            Ok((&spec[..i], Some(args)))
        }
    }
}

fn parse_args<'py>(
    py: Python<'py>,
    args: &str,
) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
    // Parse `f(<args>)` as a Python expression and evaluate only literals.
    let ast = py.import("ast")?;
    let code = format!("f({args})");
    let tree = ast.call_method1("parse", (code, "<app spec>", "eval"))?;
    let call = tree.getattr("body")?;
    let literal_eval = ast.getattr("literal_eval")?;
    let mut pos = Vec::new();
    for a in call.getattr("args")?.try_iter()? {
        pos.push(literal_eval.call1((a?,))?);
    }
    let kwargs = PyDict::new(py);
    for k in call.getattr("keywords")?.try_iter()? {
        let k = k?;
        kwargs.set_item(
            k.getattr("arg")?,
            literal_eval.call1((k.getattr("value")?,))?,
        )?;
    }
    Ok((PyTuple::new(py, pos)?, kwargs))
}

/// Import the module and resolve the callable.
pub fn load(py: Python<'_>, spec: &str) -> Result<Py<PyAny>, LoadError> {
    let plain = |message: String| LoadError {
        message,
        traceback: None,
    };
    let (module, attr) = match spec.split_once(':') {
        Some((m, a)) => (m.trim(), a.trim()),
        None => (spec.trim(), "application"),
    };
    if module.is_empty() || attr.is_empty() {
        return Err(plain(format!("{spec:?} is not MODULE[:CALLABLE]")));
    }
    let m = py.import(module).map_err(|e| LoadError {
        message: format!("cannot import module {module:?}: {}", e.value(py)),
        traceback: Some(format_traceback(py, &e)),
    })?;
    let (name, args) = split_call(attr).map_err(plain)?;
    let mut obj: Bound<'_, PyAny> = m.into_any();
    for part in name.split('.') {
        obj = obj
            .getattr(part.trim())
            .map_err(|_| plain(format!("failed to find attribute {name:?} in {module:?}")))?;
    }
    if let Some(args) = args {
        let (a, k) = parse_args(py, args).map_err(|e| {
            plain(format!(
                "cannot parse arguments of {attr:?}: {}",
                e.value(py)
            ))
        })?;
        obj = obj.call(a, Some(&k)).map_err(|e| LoadError {
            message: format!("the application factory {attr:?} raised: {}", e.value(py)),
            traceback: Some(format_traceback(py, &e)),
        })?;
    }
    if !obj.is_callable() {
        return Err(plain(format!(
            "application object {spec:?} is not callable"
        )));
    }
    Ok(obj.unbind())
}

/// Load the callable `callable` from a Python file (uWSGI's `wsgi-file`), run as module `uwsgi_file_<stem>`.
pub fn load_file(
    py: Python<'_>,
    path: &std::path::Path,
    callable: &str,
) -> Result<Py<PyAny>, LoadError> {
    let plain = |message: String| LoadError {
        message,
        traceback: None,
    };
    let stem = path
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        })
        .unwrap_or_default();
    let name = format!("uwsgi_file_{stem}");
    let run = || -> PyResult<Bound<'_, PyAny>> {
        let util = py.import("importlib.util")?;
        let spec = util.call_method1(
            "spec_from_file_location",
            (name.as_str(), path.to_string_lossy().as_ref()),
        )?;
        let module = util.call_method1("module_from_spec", (&spec,))?;
        py.import("sys")?
            .getattr("modules")?
            .set_item(name.as_str(), &module)?;
        spec.getattr("loader")?
            .call_method1("exec_module", (&module,))?;
        Ok(module)
    };
    let module = run().map_err(|e| LoadError {
        message: format!("cannot load {}: {}", path.display(), e.value(py)),
        traceback: Some(format_traceback(py, &e)),
    })?;
    let obj = module
        .getattr(callable)
        .map_err(|_| plain(format!("failed to find {callable:?} in {}", path.display())))?;
    if !obj.is_callable() {
        return Err(plain(format!(
            "{callable:?} in {} is not callable",
            path.display()
        )));
    }
    Ok(obj.unbind())
}
