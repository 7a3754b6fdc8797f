//! Values: what a source hands over ([`RawValue`]), what a setting holds after validation
//! ([`Value`]), and the conversion between them, driven by the setting's [`Kind`].
//!
//! Why one conversion for every source: a string from the command line, a value in an ini file
//! and a Python object from a config file must mean the same thing, and fail with the same
//! "expected ..." text, so users learn one set of rules.

use crate::table::{Def, Kind, Setting};

/// A value as a source delivers it. Python config values arrive in this shape (the `ferrocorn-py`
/// crate converts the objects `ferrocorn._config.load` returns); text sources use [`RawValue::Str`]
/// and [`RawValue::List`] of strings, flags [`RawValue::Bool`].
#[derive(Clone, Debug, PartialEq)]
pub enum RawValue {
    /// Python `None`: the setting goes back to its default.
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A Python list or tuple.
    List(Vec<RawValue>),
    /// A Python dict, keys converted with `str()`.
    Dict(Vec<(String, RawValue)>),
    /// A Python callable (a server hook). The callable itself stays on the Python side.
    Hook {
        /// `repr()` of the callable, for messages and `--print-config`.
        repr: String,
        /// Number of positional parameters, or `None` when it takes `*args` or cannot be
        /// inspected (then any count is accepted).
        arity: Option<u32>,
    },
    /// Any other Python object (an int too large for i64, a set of objects...): `repr()` and type.
    Unsupported(String),
}

impl RawValue {
    /// How the value is quoted back to the user in error messages.
    pub fn describe(&self) -> String {
        match self {
            RawValue::None => "None".into(),
            RawValue::Bool(b) => if *b { "True" } else { "False" }.into(),
            RawValue::Int(i) => i.to_string(),
            RawValue::Float(f) => format!("{f:?}"),
            RawValue::Str(s) => format!("{s:?}"),
            RawValue::List(items) => {
                let inner: Vec<String> = items.iter().map(RawValue::describe).collect();
                format!("[{}]", inner.join(", "))
            }
            RawValue::Dict(items) => {
                let inner: Vec<String> = items
                    .iter()
                    .map(|(k, v)| format!("{k:?}: {}", v.describe()))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
            RawValue::Hook { repr, .. } => repr.clone(),
            RawValue::Unsupported(r) => r.clone(),
        }
    }
}

/// A validated value, in the shape its [`Kind`] implies.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Unset (no default).
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<String>),
    Dict(Vec<(String, String)>),
    /// A hook was set; the text is the callable's `repr()`.
    Hook(String),
}

impl Value {
    /// The value a table default stands for.
    pub fn from_def(d: &Def) -> Value {
        match d {
            Def::None => Value::None,
            Def::Bool(b) => Value::Bool(*b),
            Def::Int(i) => Value::Int(*i),
            Def::Float(f) => Value::Float(*f),
            Def::Str(s) => Value::Str((*s).to_string()),
            Def::List(l) => Value::List(l.iter().map(|s| (*s).to_string()).collect()),
            Def::Dict(d) => Value::Dict(
                d.iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
            ),
        }
    }

    /// Python literal syntax (for `--print-config` and the gunicorn dialect).
    pub fn python(&self, kind: Kind) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Int(i) => match kind {
                Kind::Mode | Kind::Umask => format!("0o{i:o}"),
                _ => i.to_string(),
            },
            Value::Float(f) => fmt_number(*f),
            Value::Str(s) => py_str(s),
            Value::List(l) => {
                let items: Vec<String> = l.iter().map(|s| py_str(s)).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Dict(d) => {
                let items: Vec<String> = d
                    .iter()
                    .map(|(k, v)| format!("{}: {}", py_str(k), py_str(v)))
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            Value::Hook(r) => r.clone(),
        }
    }

    /// The value as ini text items: one per key line (lists repeat the key).
    pub fn ini_items(&self, kind: Kind) -> Vec<String> {
        match self {
            Value::None => Vec::new(),
            Value::Bool(b) => vec![if *b { "true" } else { "false" }.into()],
            Value::Int(i) => vec![match kind {
                Kind::Mode | Kind::Umask => format!("0{i:o}"),
                _ => i.to_string(),
            }],
            Value::Float(f) => vec![fmt_number(*f)],
            Value::Str(s) => vec![s.clone()],
            Value::List(l) => l.clone(),
            Value::Dict(d) => d.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            Value::Hook(r) => vec![r.clone()],
        }
    }
}

/// A number without a useless `.0`.
pub fn fmt_number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// A Python string literal.
pub fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Parse a boolean word: gunicorn's true/false plus uWSGI's yes/no/on/off/1/0; empty means true
/// (an ini key without a value, like uWSGI's bare `master =`).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" | "1" | "" => Some(true),
        "false" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Parse an integer like Python's `int(s, 0)`: optional sign, `0x`/`0o`/`0b` prefixes, `_`
/// separators. `leading_zero_octal` also reads `022` as octal (uWSGI and shell habit).
pub fn parse_int(s: &str, leading_zero_octal: bool) -> Option<i64> {
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let lower = t.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if leading_zero_octal && lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let v = i64::from_str_radix(&clean, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn expected_int(min: i64, max: i64) -> String {
    if min == 0 && max >= u32::MAX as i64 {
        "a non-negative integer".into()
    } else if min == 1 && max >= u32::MAX as i64 {
        "a positive integer".into()
    } else {
        format!("an integer from {min} to {max}")
    }
}

/// The text of a single string item, or an error for other value shapes.
fn want_str(raw: &RawValue, expected: &str) -> Result<String, String> {
    match raw {
        RawValue::Str(s) => Ok(s.clone()),
        other => Err(format!("expected {expected}, got {}", other.describe())),
    }
}

fn run_check(s: &Setting, item: &str) -> Result<String, String> {
    match s.check {
        Some(check) => check(item),
        None => Ok(item.to_string()),
    }
}

/// Validate one raw value for a setting. The error text says what was expected and what was
/// given; the caller adds where it came from.
pub fn convert(s: &Setting, raw: &RawValue) -> Result<Value, String> {
    if matches!(raw, RawValue::None) {
        return Ok(Value::from_def(&s.default));
    }
    match s.kind {
        Kind::Flag => match raw {
            RawValue::Bool(b) => Ok(Value::Bool(*b)),
            RawValue::Int(0) => Ok(Value::Bool(false)),
            RawValue::Int(1) => Ok(Value::Bool(true)),
            RawValue::Str(t) => parse_bool(t).map(Value::Bool).ok_or_else(|| {
                format!("expected true or false (also yes/no, on/off, 1/0), got {t:?}")
            }),
            other => Err(format!("expected True or False, got {}", other.describe())),
        },
        Kind::Int { min, max } => {
            let v = match raw {
                RawValue::Int(i) => Some(*i),
                RawValue::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => Some(*f as i64),
                RawValue::Str(t) => parse_int(t, false),
                _ => None,
            };
            match v {
                Some(v) if (min..=max).contains(&v) => Ok(Value::Int(v)),
                _ => Err(format!(
                    "expected {}, got {}",
                    expected_int(min, max),
                    raw.describe()
                )),
            }
        }
        Kind::Seconds => {
            let v = match raw {
                RawValue::Int(i) => Some(*i as f64),
                RawValue::Float(f) => Some(*f),
                RawValue::Str(t) => t.trim().parse::<f64>().ok(),
                _ => None,
            };
            match v {
                // A year is far beyond any sane timeout and keeps Duration conversion safe.
                Some(v) if v.is_finite() && (0.0..=31_536_000.0).contains(&v) => {
                    Ok(Value::Float(v))
                }
                _ => Err(format!(
                    "expected a number of seconds (0 or more), got {}",
                    raw.describe()
                )),
            }
        }
        Kind::Str => {
            let t = match raw {
                // gunicorn takes a uid or gid as a number too.
                RawValue::Int(i) if matches!(s.name, "user" | "group") && *i >= 0 => i.to_string(),
                other => want_str(other, "a string")?,
            };
            run_check(s, &t).map(Value::Str)
        }
        Kind::Choice(choices) => {
            let t = match raw {
                // gunicorn's proxy_protocol takes True/False.
                RawValue::Bool(b) if choices.contains(&"auto") => {
                    if *b { "auto" } else { "off" }.to_string()
                }
                other => want_str(other, &format!("one of {}", choices.join(", ")))?,
            };
            let lower = t.trim().to_ascii_lowercase();
            let canon = match lower.as_str() {
                "warn" if choices.contains(&"warning") => "warning".to_string(),
                "true" | "1" | "on" if choices.contains(&"auto") => "auto".to_string(),
                "false" | "0" | "none" if choices.contains(&"off") => "off".to_string(),
                _ => lower,
            };
            if choices.contains(&canon.as_str()) {
                Ok(Value::Str(canon))
            } else {
                Err(format!("expected one of {}, got {t:?}", choices.join(", ")))
            }
        }
        Kind::Strings => {
            let items: Vec<String> = match raw {
                RawValue::Str(t) => vec![t.clone()],
                RawValue::List(l) => l
                    .iter()
                    .map(|i| want_str(i, "a list of strings"))
                    .collect::<Result<_, _>>()?,
                // static_map = {'/static': '/srv/static'} reads naturally in Python.
                RawValue::Dict(d) if s.name == "static_map" => d
                    .iter()
                    .map(|(k, v)| want_str(v, "a directory").map(|v| format!("{k}={v}")))
                    .collect::<Result<_, _>>()?,
                other => {
                    return Err(format!(
                        "expected a string or a list of strings, got {}",
                        other.describe()
                    ))
                }
            };
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(run_check(s, &i)?);
            }
            Ok(Value::List(out))
        }
        Kind::CommaList => {
            let parts: Vec<String> = match raw {
                RawValue::Str(t) => t.split(',').map(|p| p.trim().to_string()).collect(),
                RawValue::List(l) => l
                    .iter()
                    .map(|i| want_str(i, "a comma-separated string or a list of strings"))
                    .collect::<Result<_, _>>()?,
                other => {
                    return Err(format!(
                        "expected a comma-separated string or a list of strings, got {}",
                        other.describe()
                    ))
                }
            };
            let mut out = Vec::new();
            for p in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
                out.push(run_check(s, p)?);
            }
            Ok(Value::List(out))
        }
        Kind::Dict => match raw {
            RawValue::Dict(d) => {
                let mut out = Vec::with_capacity(d.len());
                for (k, v) in d {
                    let v = match v {
                        RawValue::Str(t) => t.clone(),
                        other => {
                            return Err(format!(
                                "expected string values, got {} for {k:?}",
                                other.describe()
                            ))
                        }
                    };
                    out.push((run_check(s, k)?, v));
                }
                Ok(Value::Dict(out))
            }
            other => Err(format!(
                "expected a dict of strings, got {}",
                other.describe()
            )),
        },
        Kind::Mode => {
            let v = match raw {
                RawValue::Int(i) => Some(*i),
                RawValue::Str(t) => {
                    let t = t.trim();
                    let digits = t.strip_prefix("0o").unwrap_or(t);
                    if !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                        i64::from_str_radix(digits, 8).ok()
                    } else {
                        None
                    }
                }
                _ => None,
            };
            match v {
                Some(v) if (0..=0o7777).contains(&v) => Ok(Value::Int(v)),
                _ => Err(format!(
                    "expected an octal file mode such as 664, got {}",
                    raw.describe()
                )),
            }
        }
        Kind::Umask => {
            let v = match raw {
                RawValue::Int(i) => Some(*i),
                RawValue::Str(t) => parse_int(t, true),
                _ => None,
            };
            match v {
                Some(v) if (0..=0o777).contains(&v) => Ok(Value::Int(v)),
                _ => Err(format!(
                    "expected a umask from 0 to 0o777 (e.g. 0o22 or 022), got {}",
                    raw.describe()
                )),
            }
        }
        Kind::Hook {
            min,
            max,
            signature,
        } => match raw {
            RawValue::Hook { repr, arity } => match arity {
                Some(n) if *n < min || *n > max => {
                    let want = if min == max {
                        format!("{min}")
                    } else {
                        format!("{min} to {max}")
                    };
                    Err(format!(
                        "expected a callable taking {want} positional arguments ({signature}), \
                         got {repr} taking {n}"
                    ))
                }
                _ => Ok(Value::Hook(repr.clone())),
            },
            other => Err(format!(
                "expected a callable such as `def {signature}:`, got {}",
                other.describe()
            )),
        },
    }
}

/// Per-item validators named in the table.
pub mod checks {
    use crate::addr::{Dialect, ListenAddr};

    /// `bind`: gunicorn's address forms.
    pub fn http_address(s: &str) -> Result<String, String> {
        ListenAddr::parse(s, Dialect::Gunicorn).map(|a| a.spec(s))
    }

    /// uwsgi and FastCGI sockets: uWSGI's forms (a bare name is a Unix socket path).
    pub fn uwsgi_address(s: &str) -> Result<String, String> {
        ListenAddr::parse(s, Dialect::Uwsgi).map(|a| a.spec(s))
    }

    /// `USER[:GROUP]`.
    pub fn chown(s: &str) -> Result<String, String> {
        let t = s.trim();
        let (user, group) = match t.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (t, None),
        };
        if user.is_empty() || group.is_some_and(str::is_empty) || t.contains(char::is_whitespace) {
            return Err(format!("expected USER or USER:GROUP, got {s:?}"));
        }
        Ok(t.to_string())
    }

    /// `KEY=VALUE` for the app's environment.
    pub fn env_pair(s: &str) -> Result<String, String> {
        match s.split_once('=') {
            Some((k, _)) if !k.trim().is_empty() && !k.contains('\0') => Ok(s.to_string()),
            _ => Err(format!("expected KEY=VALUE, got {s:?}")),
        }
    }

    /// `URL=DIR` for static files.
    pub fn static_map(s: &str) -> Result<String, String> {
        match s.split_once('=') {
            Some((url, dir)) if url.starts_with('/') && !dir.trim().is_empty() => {
                Ok(format!("{}={}", url.trim_end_matches('/'), dir.trim()))
            }
            _ => Err(format!(
                "expected URL=DIR with URL starting with /, e.g. /static=/srv/app/static, got {s:?}"
            )),
        }
    }

    /// A URL prefix: starts with `/`; a trailing `/` is dropped (`/` alone means no prefix).
    pub fn script_name(s: &str) -> Result<String, String> {
        let t = s.trim();
        if !t.starts_with('/') || t.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(format!("expected a URL path starting with /, got {s:?}"));
        }
        Ok(t.trim_end_matches('/').to_string())
    }

    /// A header field name (token characters).
    pub fn header_name(s: &str) -> Result<String, String> {
        let t = s.trim();
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if t.is_empty() || !t.bytes().all(token) {
            return Err(format!("expected a header name, got {s:?}"));
        }
        Ok(t.to_string())
    }

    /// A header value: no control characters.
    pub fn header_value(s: &str) -> Result<String, String> {
        if s.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err("must not contain control characters".into());
        }
        Ok(s.to_string())
    }

    /// An entry of an address allow list: `*`, an IP or a CIDR network.
    pub fn allow_entry(s: &str) -> Result<String, String> {
        crate::addr::AllowList::parse_entry(s.trim()).map(|_| s.trim().to_string())
    }

    /// gunicorn's worker classes; the ones meaning "threads" are normalised.
    pub fn worker_class(s: &str) -> Result<String, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("expected a worker class such as sync or gthread".into());
        }
        Ok(match t {
            "sync" | "egg:gunicorn#sync" | "gunicorn.workers.sync.SyncWorker" => "sync".into(),
            "gthread" | "egg:gunicorn#gthread" | "gunicorn.workers.gthread.ThreadWorker" => {
                "gthread".into()
            }
            other => other.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{setting, SETTINGS};

    fn s(name: &str) -> &'static Setting {
        match setting(name) {
            Some(s) => s,
            None => panic!("no setting {name}"),
        }
    }

    #[test]
    fn every_default_converts_to_its_own_kind() {
        for st in SETTINGS {
            let v = Value::from_def(&st.default);
            let ok = matches!(
                (st.kind, &v),
                (_, Value::None)
                    | (Kind::Flag, Value::Bool(_))
                    | (Kind::Int { .. } | Kind::Mode | Kind::Umask, Value::Int(_))
                    | (Kind::Seconds, Value::Float(_))
                    | (Kind::Str | Kind::Choice(_), Value::Str(_))
                    | (Kind::Strings | Kind::CommaList, Value::List(_))
                    | (Kind::Dict, Value::Dict(_))
            );
            assert!(ok, "default of {} does not fit its kind", st.name);
        }
    }

    #[test]
    fn ints_follow_python_int_with_base_zero() {
        assert_eq!(parse_int("0x10", false), Some(16));
        assert_eq!(parse_int("0o22", false), Some(18));
        assert_eq!(parse_int("1_000", false), Some(1000));
        assert_eq!(parse_int("022", false), Some(22));
        assert_eq!(parse_int("022", true), Some(18));
        assert_eq!(parse_int("four", false), None);
        assert_eq!(parse_int("", false), None);
    }

    #[test]
    fn int_errors_say_what_was_expected() {
        let e = convert(s("workers"), &RawValue::Str("four".into())).expect_err("invalid");
        assert_eq!(e, "expected an integer from 1 to 65535, got \"four\"");
        let e = convert(s("workers"), &RawValue::Bool(true)).expect_err("invalid");
        assert!(e.contains("got True"), "{e}");
        assert_eq!(
            convert(s("workers"), &RawValue::Float(3.0)),
            Ok(Value::Int(3))
        );
    }

    #[test]
    fn booleans_accept_uwsgi_words() {
        for (t, b) in [("yes", true), ("Off", false), ("1", true), ("false", false)] {
            assert_eq!(
                convert(s("reload"), &RawValue::Str(t.into())),
                Ok(Value::Bool(b))
            );
        }
        assert!(convert(s("reload"), &RawValue::Str("maybe".into())).is_err());
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(
            convert(s("chmod_socket"), &RawValue::Str("664".into())),
            Ok(Value::Int(0o664))
        );
        assert!(convert(s("chmod_socket"), &RawValue::Str("689".into())).is_err());
        assert_eq!(
            convert(s("umask"), &RawValue::Str("022".into())),
            Ok(Value::Int(0o22))
        );
        assert_eq!(
            convert(s("umask"), &RawValue::Str("18".into())),
            Ok(Value::Int(18))
        );
    }

    #[test]
    fn none_resets_to_the_default() {
        assert_eq!(
            convert(s("errorlog"), &RawValue::None),
            Ok(Value::Str("-".into()))
        );
    }

    #[test]
    fn hooks_check_their_arity() {
        let h = |arity| RawValue::Hook {
            repr: "<function post_fork>".into(),
            arity,
        };
        assert!(convert(s("post_fork"), &h(Some(2))).is_ok());
        assert!(convert(s("post_fork"), &h(None)).is_ok());
        let e = convert(s("post_fork"), &h(Some(1))).expect_err("invalid");
        assert!(e.contains("post_fork(server, worker)"), "{e}");
        assert!(convert(s("post_request"), &h(Some(3))).is_ok());
        let e = convert(s("post_fork"), &RawValue::Int(1)).expect_err("invalid");
        assert!(e.contains("expected a callable"), "{e}");
    }

    #[test]
    fn choices_are_case_insensitive_and_know_aliases() {
        assert_eq!(
            convert(s("loglevel"), &RawValue::Str("WARN".into())),
            Ok(Value::Str("warning".into()))
        );
        assert_eq!(
            convert(s("proxy_protocol"), &RawValue::Bool(true)),
            Ok(Value::Str("auto".into()))
        );
        let e = convert(s("header_map"), &RawValue::Str("keep".into())).expect_err("invalid");
        assert_eq!(e, "expected one of drop, refuse, dangerous, got \"keep\"");
    }

    #[test]
    fn lists_take_strings_and_lists_and_check_items() {
        assert_eq!(
            convert(s("bind"), &RawValue::Str(":80".into())),
            Ok(Value::List(vec![":80".into()]))
        );
        assert_eq!(
            convert(s("pythonpath"), &RawValue::Str("a, b,,".into())),
            Ok(Value::List(vec!["a".into(), "b".into()]))
        );
        assert!(convert(s("raw_env"), &RawValue::Str("NOEQUALS".into())).is_err());
        assert_eq!(
            convert(
                s("static_map"),
                &RawValue::Dict(vec![("/s".into(), RawValue::Str("/srv".into()))])
            ),
            Ok(Value::List(vec!["/s=/srv".into()]))
        );
        let e = convert(s("bind"), &RawValue::Int(8000)).expect_err("invalid");
        assert!(e.contains("got 8000"), "{e}");
    }

    #[test]
    fn seconds_refuse_negative_and_nan() {
        assert!(convert(s("timeout"), &RawValue::Int(-1)).is_err());
        assert!(convert(s("timeout"), &RawValue::Str("nan".into())).is_err());
        assert_eq!(
            convert(s("timeout"), &RawValue::Str("2.5".into())),
            Ok(Value::Float(2.5))
        );
    }

    #[test]
    fn python_literals_round_trip_quotes() {
        assert_eq!(py_str("it's"), "'it\\'s'");
        assert_eq!(Value::Int(0o22).python(Kind::Umask), "0o22".to_string());
    }
}
