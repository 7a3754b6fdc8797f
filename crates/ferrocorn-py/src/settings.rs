//! Loading settings: the Rust `ferrocorn-config` crate validates everything; this module supplies
//! the one thing only Python can do — executing a gunicorn Python config file — and keeps the
//! server hooks (callables) it defines.

use std::cell::RefCell;
use std::collections::HashMap;

use ferrocorn_config::{load, Config, Loaded, PyEntry, RawValue, Sources};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// Server hooks from the config file, by gunicorn name.
pub type Hooks = HashMap<String, Py<PyAny>>;

/// What start-up should do.
pub enum Outcome {
    Run(Box<Config>, Vec<String>, Hooks),
    Exit(i32),
}

fn to_raw(v: &Bound<'_, PyAny>, cfgmod: &Bound<'_, PyModule>) -> RawValue {
    if v.is_none() {
        return RawValue::None;
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return RawValue::Bool(b.is_true());
    }
    if v.is_instance_of::<PyInt>() {
        return match v.extract::<i64>() {
            Ok(i) => RawValue::Int(i),
            Err(_) => RawValue::Unsupported(v.repr().map(|r| r.to_string()).unwrap_or_default()),
        };
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return RawValue::Float(f.value());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return RawValue::Str(s.to_string());
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items = v.try_iter().map(|it| {
            it.filter_map(Result::ok)
                .map(|x| to_raw(&x, cfgmod))
                .collect()
        });
        return RawValue::List(items.unwrap_or_default());
    }
    if let Ok(d) = v.cast::<PyDict>() {
        return RawValue::Dict(
            d.iter()
                .map(|(k, val)| {
                    (
                        k.str().map(|s| s.to_string()).unwrap_or_default(),
                        to_raw(&val, cfgmod),
                    )
                })
                .collect(),
        );
    }
    if v.is_callable() {
        let (repr, arity) = cfgmod
            .call_method1("describe_hook", (v,))
            .and_then(|t| t.extract::<(String, Option<u32>)>())
            .unwrap_or_else(|_| (v.repr().map(|r| r.to_string()).unwrap_or_default(), None));
        return RawValue::Hook { repr, arity };
    }
    RawValue::Unsupported(v.repr().map(|r| r.to_string()).unwrap_or_default())
}

/// Parse and validate the command line and every config source.
pub fn load_settings(py: Python<'_>, argv: Vec<String>) -> Outcome {
    let cfgmod = match py.import("ferrocorn._config") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("ferrocorn: error: cannot import ferrocorn._config: {e}");
            return Outcome::Exit(1);
        }
    };
    let hooks: RefCell<Hooks> = RefCell::new(HashMap::new());
    let python_file = |spec: &str| -> Result<Vec<PyEntry>, String> {
        let list = cfgmod.call_method1("load", (spec,)).map_err(|e| {
            e.value(py)
                .str()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| e.to_string())
        })?;
        let mut out = Vec::new();
        for item in list.try_iter().map_err(|e| e.to_string())? {
            let (name, v, line): (String, Bound<'_, PyAny>, Option<u32>) =
                item.and_then(|i| i.extract()).map_err(|e| e.to_string())?;
            if v.is_callable() {
                hooks.borrow_mut().insert(name.clone(), v.clone().unbind());
            }
            out.push((name, to_raw(&v, &cfgmod), line));
        }
        Ok(out)
    };
    match load(Sources::from_process(argv, &python_file)) {
        Err(e) => {
            for l in e.message.lines() {
                eprintln!("ferrocorn: error: {l}");
            }
            Outcome::Exit(e.code)
        }
        Ok(Loaded::Exit(x)) => {
            print!("{}", x.stdout);
            for l in &x.stderr {
                eprintln!("ferrocorn: {l}");
            }
            Outcome::Exit(x.code)
        }
        Ok(Loaded::Run(cfg, warnings)) => {
            let mut hooks = hooks.into_inner();
            hooks.retain(|name, _| cfg.hooks.contains_key(name));
            Outcome::Run(
                cfg,
                warnings.into_iter().map(|w| w.message).collect(),
                hooks,
            )
        }
    }
}

/// Call the hook `name` (if the config file set one) with arguments built by `args`; an exception
/// is logged with its traceback and does not stop the server.
pub fn call_hook<'py>(
    py: Python<'py>,
    hooks: &Hooks,
    name: &str,
    args: impl FnOnce(&Bound<'py, PyModule>) -> PyResult<Bound<'py, PyTuple>>,
) {
    let Some(f) = hooks.get(name) else { return };
    let res = py
        .import("ferrocorn._hooks")
        .and_then(|h| args(&h))
        .and_then(|a| f.bind(py).call1(a));
    if let Err(e) = res {
        ferrocorn_server::log::error(&format!(
            "Exception in {name} hook\n{}",
            crate::loader::traceback_text(py, &e)
        ));
    }
}
