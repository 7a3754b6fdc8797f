//! uWSGI ini files: `[section]`s of `key = value` lines, with uWSGI's references (`%(key)`),
//! magic variables (`%d`, `%n`, ...) and environment variables (`$(NAME)`).
//!
//! Why a reader of our own: uWSGI's ini dialect is not Python's configparser (repeated keys
//! accumulate, values are raw text, `%(...)` means something else), and every message must name
//! the file and the line. Keys are a setting's uWSGI keys or any of its long flags; keys that are
//! uWSGI behaviours ferrocorn always has (or maps onto other settings) are in
//! [`INI_EXTRAS`](crate::table::INI_EXTRAS).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::addr::{Dialect, ListenAddr};
use crate::source::{suggest, Assign, ConfigError, Origin, Warning};
use crate::table::{ini_extra, setting, IniAction, Scope, Setting, INI_EXTRAS, SETTINGS};
use crate::value::{convert, parse_int, RawValue, Value};

/// What an ini file contributed.
#[derive(Debug, Default)]
pub struct IniFile {
    pub assigns: Vec<Assign>,
    pub warnings: Vec<Warning>,
    /// `callable = NAME`, used for `wsgi-file` (and already applied to `module = a.b`).
    pub callable: Option<String>,
}

/// Normalise a key for lookup: uWSGI spells options with `-`, gunicorn with `_`.
pub fn norm_key(k: &str) -> String {
    k.trim().to_ascii_lowercase().replace('_', "-")
}

/// Every key the ini reader knows, normalised, with its setting (or `None` for an extra).
pub fn known_keys() -> BTreeMap<String, Option<&'static Setting>> {
    let mut m = BTreeMap::new();
    for s in SETTINGS {
        for k in s.ini.iter().chain(s.flags) {
            m.insert(norm_key(k), Some(s));
        }
    }
    for e in INI_EXTRAS {
        for k in e.keys {
            m.insert(norm_key(k), None);
        }
    }
    m
}

/// Split `FILE[:SECTION]`; the whole text is a file name when such a file exists.
pub fn split_spec(spec: &str, cwd: &Path) -> (PathBuf, String) {
    let whole = cwd.join(spec);
    if !whole.is_file() {
        if let Some((file, section)) = spec.rsplit_once(':') {
            if !file.is_empty() && !section.contains('/') {
                return (
                    PathBuf::from(file),
                    if section.is_empty() { "uwsgi" } else { section }.to_string(),
                );
            }
        }
    }
    (PathBuf::from(spec), "uwsgi".to_string())
}

/// One `key = value` line of the chosen section, after expansion.
struct Line {
    key: String,
    norm: String,
    value: String,
    origin: Origin,
}

/// Facts about the file for magic variables.
struct Magic {
    abs: PathBuf,
    as_given: String,
    section: String,
}

impl Magic {
    fn expand(&self, c: char) -> Option<String> {
        let name = self
            .abs
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = self
            .abs
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = self.abs.parent().unwrap_or_else(|| Path::new("/"));
        Some(match c {
            'p' | 'P' => self.abs.display().to_string(),
            'o' | 'O' => self.as_given.clone(),
            's' | 'S' => name,
            'n' | 'N' => stem,
            'e' | 'E' => self
                .abs
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default(),
            'd' | 'D' => {
                let d = dir.display().to_string();
                if d.ends_with('/') {
                    d
                } else {
                    format!("{d}/")
                }
            }
            'c' | 'C' => dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            'x' | 'X' => format!("{}:{}", name, self.section),
            'k' => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .to_string(),
            // uname's node name, as gethostname(2) returns it on Linux.
            'h' => std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default(),
            't' => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs().to_string())
                .unwrap_or_default(),
            'u' => nix::unistd::geteuid().to_string(),
            'g' => nix::unistd::getegid().to_string(),
            'U' => nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| nix::unistd::geteuid().to_string()),
            'G' => nix::unistd::Group::from_gid(nix::unistd::getegid())
                .ok()
                .flatten()
                .map(|g| g.name)
                .unwrap_or_else(|| nix::unistd::getegid().to_string()),
            _ => return None,
        })
    }
}

/// Where an inline comment starts: `#` or `;` after whitespace.
fn inline_comment(value: &str) -> Option<usize> {
    let b = value.as_bytes();
    (1..b.len())
        .find(|&i| (b[i] == b'#' || b[i] == b';') && (b[i - 1] == b' ' || b[i - 1] == b'\t'))
}

/// Expand `$(ENV)`, `%(key)` and `%x` in a value.
fn expand(
    value: &str,
    origin: &Origin,
    magic: &Magic,
    defined: &BTreeMap<String, String>,
    env: &dyn Fn(&str) -> Option<String>,
    referenced: &mut BTreeSet<String>,
    warnings: &mut Vec<Warning>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find(['$', '%']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let sigil = tail.as_bytes()[0];
        if tail[1..].starts_with('(') {
            let Some(close) = tail.find(')') else {
                return Err(ConfigError::at(
                    origin,
                    "",
                    format!("unclosed {}( in {value:?}", sigil as char),
                ));
            };
            let name = &tail[2..close];
            if sigil == b'$' {
                match env(name) {
                    Some(v) => out.push_str(&v),
                    None => warnings.push(Warning::at(
                        origin,
                        format!("environment variable {name} is not set; $({name}) is empty"),
                    )),
                }
            } else {
                let key = norm_key(name);
                match defined.get(&key) {
                    Some(v) => {
                        referenced.insert(key);
                        out.push_str(v);
                    }
                    None => {
                        return Err(ConfigError::at(
                            origin,
                            name,
                            format!(
                                "%({name}) refers to no option set above this line in the section"
                            ),
                        ))
                    }
                }
            }
            rest = &tail[close + 1..];
            continue;
        }
        let next = tail[1..].chars().next();
        match (sigil, next.and_then(|c| magic.expand(c).map(|v| (c, v)))) {
            (b'%', Some((c, v))) => {
                out.push_str(&v);
                rest = &tail[1 + c.len_utf8()..];
            }
            _ => {
                out.push(sigil as char);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Read the lines of the chosen section, expanding values; the first pass.
fn read_lines(
    text: &str,
    path_display: &str,
    section: &str,
    magic: &Magic,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<Warning>,
) -> Result<(Vec<Line>, BTreeSet<String>), ConfigError> {
    let mut lines = Vec::new();
    let mut defined: BTreeMap<String, String> = BTreeMap::new();
    let mut referenced = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut found = false;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.lines().enumerate() {
        let origin = Origin::File {
            path: path_display.to_string(),
            line: Some(i as u32 + 1),
        };
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(rest) = t.strip_prefix('[') {
            let Some(name) = rest.split_once(']').map(|(n, _)| n.trim()) else {
                return Err(ConfigError::at(
                    &origin,
                    t,
                    format!("expected [section], got {t:?}"),
                ));
            };
            found |= name == section;
            current = Some(name.to_string());
            continue;
        }
        if current.as_deref() != Some(section) {
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            return Err(ConfigError::at(
                &origin,
                t,
                format!("expected KEY = VALUE, got {t:?}"),
            ));
        };
        let key = k.trim();
        if key.is_empty() {
            return Err(ConfigError::at(
                &origin,
                t,
                format!("expected KEY = VALUE, got {t:?}"),
            ));
        }
        let mut value = v.trim();
        if let Some(at) = inline_comment(value) {
            warnings.push(Warning::at(
                &origin,
                format!(
                    "{key}: inline comment ignored (uWSGI has none: it would read all of {value:?} \
                     as the value)"
                ),
            ));
            value = value[..at].trim_end();
        }
        let norm = norm_key(key);
        // gunicorn's access log format is made of %(atom)s: it is not an ini reference.
        let value = if norm == "access-logformat" {
            value.to_string()
        } else {
            expand(
                value,
                &origin,
                magic,
                &defined,
                env,
                &mut referenced,
                warnings,
            )?
        };
        defined.insert(norm.clone(), value.clone());
        lines.push(Line {
            key: key.to_string(),
            norm,
            value,
            origin,
        });
    }
    if !found {
        return Err(ConfigError::usage(
            "ini",
            format!("{path_display}: no [{section}] section"),
        ));
    }
    Ok((lines, referenced))
}

fn assign(s: &'static Setting, line: &Line, raw: RawValue) -> Result<Assign, ConfigError> {
    let value = convert(s, &raw).map_err(|e| ConfigError::invalid(&line.origin, &line.key, e))?;
    Ok(Assign {
        setting: s,
        value,
        origin: line.origin.clone(),
        written: line.key.clone(),
    })
}

fn table(name: &str) -> Result<&'static Setting, ConfigError> {
    setting(name).ok_or_else(|| ConfigError::usage(name, format!("internal: no setting {name}")))
}

fn int_of(line: &Line) -> Result<i64, ConfigError> {
    parse_int(&line.value, false)
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ConfigError::invalid(
                &line.origin,
                &line.key,
                format!("expected a non-negative integer, got {:?}", line.value),
            )
        })
}

/// Load one section of a uWSGI ini file. `spec` is `FILE[:SECTION]` as the user gave it,
/// relative paths resolved against `cwd`.
pub fn load(
    spec: &str,
    cwd: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<IniFile, ConfigError> {
    let (path, section) = split_spec(spec, cwd);
    let path_display = path.display().to_string();
    let full = cwd.join(&path);
    let text = std::fs::read_to_string(&full).map_err(|e| {
        ConfigError::usage(
            "ini",
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("ini file {path_display:?} does not exist")
            } else {
                format!("cannot read ini file {path_display:?}: {e}")
            },
        )
    })?;
    let abs = std::fs::canonicalize(&full).unwrap_or(full);
    let magic = Magic {
        abs,
        as_given: path_display.clone(),
        section: section.clone(),
    };
    let mut out = IniFile::default();
    let (lines, referenced) = read_lines(
        &text,
        &path_display,
        &section,
        &magic,
        env,
        &mut out.warnings,
    )?;
    interpret(&lines, &referenced, &mut out)?;
    Ok(out)
}

/// The second pass: map each key onto settings.
fn interpret(
    lines: &[Line],
    referenced: &BTreeSet<String>,
    out: &mut IniFile,
) -> Result<(), ConfigError> {
    let keys = known_keys();
    let mut cheaper: Option<(i64, Origin)> = None;
    let mut cheaper_initial: Option<(i64, Origin)> = None;
    let mut mounted = false;
    for line in lines {
        match keys.get(&line.norm) {
            Some(Some(s)) if s.scope == Scope::CommandLine => {
                out.warnings.push(Warning::at(
                    &line.origin,
                    format!("{} only works on the command line; ignored here", line.key),
                ));
            }
            Some(Some(s)) => {
                let raw = match line.norm.as_str() {
                    // uWSGI's HTTP sockets use its own address forms.
                    "http-socket" | "http" => {
                        let a = ListenAddr::parse(&line.value, Dialect::Uwsgi)
                            .map_err(|e| ConfigError::invalid(&line.origin, &line.key, e))?;
                        RawValue::Str(a.spec(&line.value))
                    }
                    // `chmod-socket` without a value means 666, as in uWSGI.
                    "chmod-socket" if line.value.is_empty() => {
                        RawValue::Str(s.optional_value.unwrap_or("666").to_string())
                    }
                    _ => RawValue::Str(line.value.clone()),
                };
                out.assigns.push(assign(s, line, raw)?);
            }
            Some(None) => mapped(line, out, &mut cheaper, &mut cheaper_initial, &mut mounted)?,
            None if referenced.contains(&line.norm) => {}
            None => {
                let hint = match suggest(&line.key, keys.keys().map(String::as_str)) {
                    Some(s) => format!(" (did you mean {s:?}?)"),
                    None => String::new(),
                };
                return Err(ConfigError::at(
                    &line.origin,
                    &line.key,
                    format!(
                        "unknown option {:?}{hint}; docs/settings.md lists the uWSGI keys \
                         ferrocorn reads",
                        line.key
                    ),
                ));
            }
        }
    }
    // With `cheaper`, uWSGI's `processes` is the maximum and `cheaper-initial` the start count.
    if let Some((min, cheaper_origin)) = cheaper {
        let workers_max = table("workers_max")?;
        for a in out
            .assigns
            .iter_mut()
            .filter(|a| a.setting.name == "workers")
        {
            a.setting = workers_max;
        }
        let (start, origin, written) = match cheaper_initial {
            Some((n, o)) => (n, o, "cheaper-initial"),
            None => (min, cheaper_origin, "cheaper"),
        };
        let workers = table("workers")?;
        let value = convert(workers, &RawValue::Int(start.max(1)))
            .map_err(|e| ConfigError::invalid(&origin, written, e))?;
        out.assigns.push(Assign {
            setting: workers,
            value,
            origin,
            written: written.into(),
        });
    }
    // `callable` completes `module = a.b` and names the callable of `wsgi-file`.
    if let Some(callable) = out.callable.clone() {
        for a in out
            .assigns
            .iter_mut()
            .filter(|a| a.setting.name == "wsgi_app")
        {
            if let Value::Str(m) = &a.value {
                if !m.contains(':') {
                    a.value = Value::Str(format!("{m}:{callable}"));
                }
            }
        }
    }
    Ok(())
}

/// Keys in [`INI_EXTRAS`]: accepted behaviours, ignored options and mappings.
fn mapped(
    line: &Line,
    out: &mut IniFile,
    cheaper: &mut Option<(i64, Origin)>,
    cheaper_initial: &mut Option<(i64, Origin)>,
    mounted: &mut bool,
) -> Result<(), ConfigError> {
    let Some(extra) = ini_extra(&line.norm) else {
        return Ok(());
    };
    match extra.action {
        IniAction::Always => Ok(()),
        IniAction::Ignored => {
            out.warnings.push(Warning::at(
                &line.origin,
                format!("{} has no effect in ferrocorn: {}", line.key, extra.doc),
            ));
            Ok(())
        }
        IniAction::Mapped => match line.norm.as_str() {
            "callable" => {
                let name = line.value.trim();
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(ConfigError::invalid(
                        &line.origin,
                        &line.key,
                        format!("expected a callable name, got {:?}", line.value),
                    ));
                }
                out.callable = Some(name.to_string());
                Ok(())
            }
            "mount" => {
                if *mounted {
                    return Err(ConfigError::at(
                        &line.origin,
                        &line.key,
                        "a second mount: ferrocorn serves one app per server",
                    ));
                }
                *mounted = true;
                let Some((prefix, app)) = line.value.split_once('=') else {
                    return Err(ConfigError::invalid(
                        &line.origin,
                        &line.key,
                        format!("expected PREFIX=APP, got {:?}", line.value),
                    ));
                };
                out.assigns.push(assign(
                    table("script_name")?,
                    line,
                    RawValue::Str(prefix.trim().to_string()),
                )?);
                let app = app.trim();
                let target = if app.ends_with(".py") || app.contains('/') {
                    "wsgi_file"
                } else {
                    "wsgi_app"
                };
                out.assigns.push(assign(
                    table(target)?,
                    line,
                    RawValue::Str(app.to_string()),
                )?);
                Ok(())
            }
            "daemonize" => {
                out.assigns
                    .push(assign(table("daemon")?, line, RawValue::Bool(true))?);
                if !line.value.is_empty() {
                    out.assigns.push(assign(
                        table("errorlog")?,
                        line,
                        RawValue::Str(line.value.clone()),
                    )?);
                }
                Ok(())
            }
            "py-autoreload" | "python-autoreload" => {
                let n = int_of(line)?;
                out.assigns
                    .push(assign(table("reload")?, line, RawValue::Bool(n > 0))?);
                Ok(())
            }
            "cheaper" => {
                let n = int_of(line)?;
                *cheaper = Some((n, line.origin.clone()));
                out.assigns
                    .push(assign(table("workers_min")?, line, RawValue::Int(n))?);
                Ok(())
            }
            "cheaper-initial" => {
                *cheaper_initial = Some((int_of(line)?, line.origin.clone()));
                Ok(())
            }
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_means_two_things() {
        // Each ini key (and each long flag used as one) belongs to exactly one setting or extra.
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for s in SETTINGS {
            let mut own: BTreeSet<String> = BTreeSet::new();
            for k in s.ini.iter().chain(s.flags) {
                own.insert(norm_key(k));
            }
            for k in own {
                if let Some(prev) = seen.insert(k.clone(), s.name.to_string()) {
                    panic!("ini key {k} belongs to {prev} and {}", s.name);
                }
            }
        }
        for e in INI_EXTRAS {
            for k in e.keys {
                if let Some(prev) = seen.insert(norm_key(k), "extra".into()) {
                    panic!("ini key {k} is both an extra and {prev}");
                }
            }
        }
    }

    #[test]
    fn inline_comments_need_whitespace_before() {
        assert_eq!(inline_comment("true # x"), Some(5));
        assert_eq!(inline_comment("a;b"), None);
        assert_eq!(inline_comment("/x#y"), None);
        assert_eq!(inline_comment("1\t; c"), Some(2));
    }

    #[test]
    fn spec_splits_section() {
        let cwd = Path::new("/nonexistent-dir");
        assert_eq!(
            split_spec("app.ini:prod", cwd),
            (PathBuf::from("app.ini"), "prod".to_string())
        );
        assert_eq!(
            split_spec("app.ini", cwd),
            (PathBuf::from("app.ini"), "uwsgi".to_string())
        );
        assert_eq!(
            split_spec("/etc/x.ini", cwd),
            (PathBuf::from("/etc/x.ini"), "uwsgi".to_string())
        );
    }
}
