//! Python config files (gunicorn's format), from the names and values the Python side extracted.
//!
//! Why the executing happens elsewhere: a config file is Python code (it may import `os` and
//! compute values), so only an interpreter can run it, and this crate must not depend on pyo3.
//! `ferrocorn._config.load` runs the file and returns `(name, value, line)` triples; the
//! `ferrocorn-py` crate converts the values to [`RawValue`] and hands them here.

use crate::source::{suggest, Assign, ConfigError, Origin, Warning};
use crate::table::{gunicorn_unsupported, setting, Scope, SETTINGS};
use crate::value::{convert, RawValue};

/// One name the Python side found: `(name, value, line of its last assignment)`.
pub type PyEntry = (String, RawValue, Option<u32>);

/// Validate a Python config file's names. `path` is the file as the user named it, for messages.
pub fn read(path: &str, entries: Vec<PyEntry>) -> Result<(Vec<Assign>, Vec<Warning>), ConfigError> {
    let mut assigns = Vec::new();
    let mut warnings = Vec::new();
    for (name, raw, line) in entries {
        let origin = Origin::File {
            path: path.to_string(),
            line,
        };
        // Private helpers (`_base = ...`) are the file's own business.
        if name.starts_with('_') {
            continue;
        }
        if let Some(s) = setting(&name) {
            if s.scope == Scope::CommandLine {
                warnings.push(Warning::at(
                    &origin,
                    format!("{name} only works on the command line; ignored here"),
                ));
                continue;
            }
            let value = convert(s, &raw).map_err(|e| ConfigError::invalid(&origin, &name, e))?;
            assigns.push(Assign {
                setting: s,
                value,
                origin,
                written: name,
            });
            continue;
        }
        if let Some(why) = gunicorn_unsupported(&name) {
            warnings.push(Warning::at(
                &origin,
                format!("gunicorn setting {name} is not supported: {why}; ignored"),
            ));
            continue;
        }
        let candidates = SETTINGS
            .iter()
            .filter(|s| s.scope == Scope::Anywhere)
            .map(|s| s.name);
        match (suggest(&name, candidates), &raw) {
            // A helper function (or one imported) that is not a misspelt hook.
            (None, RawValue::Hook { .. }) => {}
            (Some(close), _) => warnings.push(Warning::at(
                &origin,
                format!("{name} is not a setting; ignored (did you mean {close}?)"),
            )),
            (None, _) => warnings.push(Warning::at(
                &origin,
                format!("{name} is not a setting; ignored"),
            )),
        }
    }
    Ok((assigns, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn e(name: &str, v: RawValue, line: u32) -> PyEntry {
        (name.to_string(), v, Some(line))
    }

    #[test]
    fn settings_hooks_and_unknown_names() {
        let (a, w) = read(
            "conf.py",
            vec![
                e("workers", RawValue::Int(3), 1),
                e("worker", RawValue::Int(3), 2),
                e("BASE_DIR", RawValue::Str("/srv".into()), 3),
                e(
                    "post_fork",
                    RawValue::Hook {
                        repr: "<function post_fork>".into(),
                        arity: Some(2),
                    },
                    4,
                ),
                e(
                    "helper",
                    RawValue::Hook {
                        repr: "<function helper>".into(),
                        arity: Some(0),
                    },
                    5,
                ),
                e(
                    "post_forks",
                    RawValue::Hook {
                        repr: "<function post_forks>".into(),
                        arity: Some(2),
                    },
                    6,
                ),
                e("_private", RawValue::Int(1), 7),
                e("certfile", RawValue::Str("x.pem".into()), 8),
            ],
        )
        .expect("valid");
        let names: Vec<&str> = a.iter().map(|a| a.setting.name).collect();
        assert_eq!(names, ["workers", "post_fork"]);
        assert_eq!(a[1].value, Value::Hook("<function post_fork>".into()));
        let msgs: Vec<&str> = w.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "conf.py:2: worker is not a setting; ignored (did you mean workers?)",
                "conf.py:3: BASE_DIR is not a setting; ignored",
                "conf.py:6: post_forks is not a setting; ignored (did you mean post_fork?)",
                "conf.py:8: gunicorn setting certfile is not supported: ferrocorn does not \
                 terminate TLS: let the front end (nginx, a load balancer) do it; ignored",
            ]
        );
    }

    #[test]
    fn bad_value_names_file_line_and_expectation() {
        let err = read(
            "conf.py",
            vec![e("timeout", RawValue::Str("soon".into()), 9)],
        )
        .expect_err("invalid");
        assert_eq!(
            err.message,
            "conf.py:9: invalid value for timeout: expected a number of seconds (0 or more), got \"soon\""
        );
        assert_eq!(err.code, crate::EX_USAGE);
    }

    #[test]
    fn a_value_where_a_hook_belongs_and_vice_versa() {
        let err = read("c.py", vec![e("on_starting", RawValue::Str("x".into()), 1)])
            .expect_err("invalid");
        assert!(
            err.message.contains("expected a callable"),
            "{}",
            err.message
        );
        let err = read(
            "c.py",
            vec![e(
                "workers",
                RawValue::Hook {
                    repr: "<function workers>".into(),
                    arity: Some(0),
                },
                2,
            )],
        )
        .expect_err("invalid");
        assert!(err
            .message
            .starts_with("c.py:2: invalid value for workers: expected an integer"));
    }
}
