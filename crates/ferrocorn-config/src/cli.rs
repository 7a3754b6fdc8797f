//! The command line, built with clap's builder API from the settings table, and the reading of
//! `$GUNICORN_CMD_ARGS` / `$FERROCORN_CMD_ARGS` with the same parser.
//!
//! Why the builder rather than derive: the flags, their help and their grouping all come from the
//! table, so a setting added there appears on the command line, in `--help` and in the docs with
//! nothing else to edit. clap only splits the arguments; values are validated by the same code as
//! config files (all values are taken as text), so errors read the same everywhere.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::source::{Assign, ConfigError, Origin};
use crate::table::{Def, Kind, Setting, Status, SETTINGS};
use crate::value::{convert, fmt_number, RawValue};

/// The id of the positional APP argument.
pub const APP_ARG: &str = "wsgi_app";

/// The `--help` text for one setting: its help, whether it works yet, its default.
pub fn help_line(s: &Setting) -> String {
    let mut h = s.help.to_string();
    match s.status {
        Status::Active => {}
        Status::Pending(feature) => {
            h.push_str(&format!(" (accepted; takes effect when {feature} lands)"))
        }
        Status::NoOp(why) => h.push_str(&format!(" (accepted; no effect: {why})")),
    }
    if let Some(d) = default_text(s) {
        h.push_str(&format!(" [default: {d}]"));
    }
    h
}

/// The default as users would type it, or `None` when there is nothing worth showing.
pub fn default_text(s: &Setting) -> Option<String> {
    if let Some(d) = s.default_doc {
        return Some(d.replace('`', ""));
    }
    match s.default {
        Def::None | Def::Bool(false) => None,
        Def::Bool(true) => Some("on".into()),
        Def::Int(i) => Some(match s.kind {
            Kind::Mode | Kind::Umask => format!("0o{i:o}"),
            _ => i.to_string(),
        }),
        Def::Float(f) => Some(fmt_number(f)),
        Def::Str(t) => Some(t.to_string()),
        Def::List(&[]) => None,
        Def::List(l) => Some(l.join(",")),
        Def::Dict(d) => Some(
            d.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
    }
}

fn arg_for(s: &'static Setting) -> Option<Arg> {
    let (first, rest) = s.flags.split_first()?;
    let mut a = Arg::new(s.name)
        .long(*first)
        .help(help_line(s))
        .help_heading(s.section.title());
    for alias in rest {
        a = a.visible_alias(*alias);
    }
    if let Some(c) = s.short {
        a = a.short(c);
    }
    a = match s.kind {
        Kind::Flag => a.action(ArgAction::SetTrue),
        Kind::Strings | Kind::CommaList => a.action(ArgAction::Append).value_name(s.meta),
        _ => a.action(ArgAction::Set).value_name(s.meta),
    };
    if let Some(v) = s.optional_value {
        a = a
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value(v);
    }
    Some(a)
}

/// The whole command line.
pub fn command() -> Command {
    let mut cmd = Command::new("ferrocorn")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A fast WSGI server written in Rust: a drop-in for gunicorn and uWSGI.")
        .override_usage("ferrocorn [OPTIONS] [APP]")
        .after_help(
            "APP is MODULE[:CALLABLE]; CALLABLE defaults to `application` and may be `factory()`.\n\
             Settings also come from a config file (-c FILE, --ini FILE, ./ferrocorn.conf.py or \
             ./gunicorn.conf.py) and from $FERROCORN_CMD_ARGS / $GUNICORN_CMD_ARGS. Precedence: \
             command line > *_CMD_ARGS > config file > environment defaults > defaults. \
             Every setting is described in docs/settings.md.",
        )
        .disable_version_flag(true)
        .args_override_self(true)
        .arg(
            Arg::new("version")
                .short('v')
                .long("version")
                .action(ArgAction::Version)
                .help("Print the version and exit."),
        )
        .arg(
            Arg::new(APP_ARG)
                .value_name("APP")
                .help("The WSGI application, as MODULE[:CALLABLE]."),
        );
    for s in SETTINGS {
        if let Some(a) = arg_for(s) {
            cmd = cmd.arg(a);
        }
    }
    cmd
}

/// What one parsed command line (or `*_CMD_ARGS`) says.
pub struct Parsed {
    pub assigns: Vec<Assign>,
    /// The positional APP, with the origin to report.
    pub app: Option<(String, Origin)>,
}

/// Validate the values clap collected. `origin` makes the origin for a flag.
pub fn read(m: &ArgMatches, origin: &dyn Fn(String) -> Origin) -> Result<Parsed, ConfigError> {
    let mut assigns = Vec::new();
    for s in SETTINGS {
        if s.flags.is_empty() || m.value_source(s.name) != Some(ValueSource::CommandLine) {
            continue;
        }
        let flag = s.primary_flag().unwrap_or_else(|| s.name.to_string());
        let raw = match s.kind {
            Kind::Flag => RawValue::Bool(m.get_flag(s.name)),
            Kind::Strings => RawValue::List(
                m.get_many::<String>(s.name)
                    .into_iter()
                    .flatten()
                    .map(|v| RawValue::Str(v.clone()))
                    .collect(),
            ),
            // Repeated comma lists join, so `--pythonpath a --pythonpath b` keeps both.
            Kind::CommaList => RawValue::Str(
                m.get_many::<String>(s.name)
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => match m.get_one::<String>(s.name) {
                Some(v) => RawValue::Str(v.clone()),
                None => continue,
            },
        };
        let o = origin(flag.clone());
        let value = convert(s, &raw).map_err(|e| ConfigError::invalid(&o, &flag, e))?;
        assigns.push(Assign {
            setting: s,
            value,
            origin: o,
            written: flag,
        });
    }
    let app = m
        .get_one::<String>(APP_ARG)
        .map(|a| (a.clone(), origin("APP".into())));
    Ok(Parsed { assigns, app })
}

/// Split `$GUNICORN_CMD_ARGS` the way a POSIX shell would (Python's `shlex.split`, as gunicorn
/// does): whitespace separates, quotes group, backslash escapes.
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => cur.push(c),
                    None => return Err("trailing backslash".into()),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_consistent() {
        // clap checks its own invariants (duplicate flags, shorts...) in debug builds.
        command().debug_assert();
    }

    #[test]
    fn shell_split_like_shlex() {
        assert_eq!(
            shell_split(r#"-w 3 --name 'my app' -e "A=b c" x\ y"#),
            Ok(vec![
                "-w".to_string(),
                "3".into(),
                "--name".into(),
                "my app".into(),
                "-e".into(),
                "A=b c".into(),
                "x y".into()
            ])
        );
        assert_eq!(shell_split("  "), Ok(vec![]));
        assert_eq!(shell_split("''"), Ok(vec![String::new()]));
        assert!(shell_split("'open").is_err());
    }

    #[test]
    fn help_shows_gunicorn_spellings_and_status() {
        let help = command().render_long_help().to_string();
        for s in SETTINGS {
            for f in s.flags {
                assert!(
                    help.contains(&format!("--{f}")),
                    "--{f} missing from --help"
                );
            }
        }
        assert!(help.contains("--limit-request-field_size"));
        // Statuses show in the help: no-op settings say so; nothing is pending any more.
        assert!(help.contains("(accepted; no effect: "));
        assert!(!help.contains("takes effect when"));
    }
}
