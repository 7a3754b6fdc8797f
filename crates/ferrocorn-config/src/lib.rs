//! ferrocorn's settings: one table ([`table::SETTINGS`]) declares every setting once, with
//! gunicorn's names and flags, uWSGI's ini keys, environment variables, types, defaults and help.
//! The command line (clap, builder API), `--help`, the config sources, `--print-config` and
//! `docs/settings.md` are all derived from it, and [`load`] turns the sources into one validated
//! [`Config`] before anything binds.
//!
//! Sources, highest precedence first: the command line; `$FERROCORN_CMD_ARGS` (then
//! `$GUNICORN_CMD_ARGS`), split like a shell would; one config file (a gunicorn Python file via
//! `-c`, found as `./ferrocorn.conf.py` / `./gunicorn.conf.py`, or a uWSGI ini via `--ini`);
//! environment defaults (`$WEB_CONCURRENCY`, `$FORWARDED_ALLOW_IPS`); the table's defaults.
//!
//! This crate does not depend on pyo3: Python config files are executed by
//! `ferrocorn._config.load` on the Python side, and their values arrive as [`RawValue`]s through
//! [`Sources::python_file`].

pub mod access_format;
pub mod addr;
mod cli;
mod config;
pub mod docs;
mod ini;
mod print;
mod python;
mod source;
pub mod table;
mod value;

use std::ffi::OsString;
use std::path::PathBuf;

pub use addr::{AllowList, Dialect, ListenAddr};
pub use cli::command;
pub use config::{
    AppSpec, Config, Effective, HeaderMap, Listen, LogLevel, Protocol, ProxyProtocol,
};
pub use python::PyEntry;
pub use source::{ConfigError, Origin, Warning, EX_USAGE};
pub use value::{RawValue, Value};

use source::Assign;

/// Everything [`load`] reads, passed in so tests (and the Python side) control it.
pub struct Sources<'a> {
    /// The full command line; `argv[0]` is the program name.
    pub argv: Vec<String>,
    /// Environment lookup (`std::env::var(..).ok()` in production).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Executes a Python config file or `python:MODULE` spec and returns its names, values and
    /// lines (what `ferrocorn._config.load` returns, converted to [`RawValue`]). On failure the
    /// error is the complete message to show (it names the file and line).
    pub python_file: &'a dyn Fn(&str) -> Result<Vec<PyEntry>, String>,
    /// Directory that relative config-file paths and the default `./gunicorn.conf.py` are
    /// looked up in: the process's current directory.
    pub cwd: PathBuf,
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl<'a> Sources<'a> {
    /// Sources for a real start: this process's environment and current directory.
    pub fn from_process(
        argv: Vec<String>,
        python_file: &'a dyn Fn(&str) -> Result<Vec<PyEntry>, String>,
    ) -> Sources<'a> {
        Sources {
            argv,
            env: &process_env,
            python_file,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }
}

/// What the caller should do.
#[derive(Debug)]
pub enum Loaded {
    /// Serve with this config. Log the warnings once the error log is open.
    Run(Box<Config>, Vec<Warning>),
    /// Print and exit: `--help`, `--version`, `--check-config`, `--print-config`.
    Exit(Exit),
}

/// Output of a command that does not serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Exit status.
    pub code: i32,
    /// Text for stdout (help, version, printed config).
    pub stdout: String,
    /// Lines for stderr (warnings, environment problems).
    pub stderr: Vec<String>,
}

/// Exit status when a valid configuration does not fit this machine (a missing `chdir`, an
/// unknown user): the same status as any other start-up failure.
pub const EXIT_ENVIRONMENT: i32 = 1;

/// Names of the variables holding extra arguments, lowest precedence first.
const CMD_ARGS_VARS: [&str; 2] = ["GUNICORN_CMD_ARGS", "FERROCORN_CMD_ARGS"];

/// Default Python config files, looked for in the current directory when none is named.
const DEFAULT_CONFIG_FILES: [&str; 2] = ["ferrocorn.conf.py", "gunicorn.conf.py"];

fn clap_error(e: clap::Error, place: Option<&str>) -> Result<Loaded, ConfigError> {
    use clap::error::ErrorKind;
    let text = e.render().to_string();
    match (e.kind(), place) {
        (ErrorKind::DisplayHelp | ErrorKind::DisplayVersion, None) => Ok(Loaded::Exit(Exit {
            code: 0,
            stdout: text,
            stderr: Vec::new(),
        })),
        _ => {
            let body = text.trim_end();
            let body = body.strip_prefix("error: ").unwrap_or(body);
            Err(ConfigError::usage(
                "command line",
                match place {
                    Some(p) => format!("{p}: {body}"),
                    None => body.to_string(),
                },
            ))
        }
    }
}

/// Which config file to read, and from which layer the choice came.
enum FileChoice {
    Python(String),
    Ini(String),
}

/// `-c app.ini` and `-c app.ini:section` name ini files.
fn is_ini(spec: &str) -> bool {
    spec.ends_with(".ini")
        || spec
            .rsplit_once(':')
            .is_some_and(|(f, _)| f.ends_with(".ini"))
}

fn file_choice(layer: &[Assign]) -> Result<Option<FileChoice>, ConfigError> {
    let get = |name: &str| {
        layer
            .iter()
            .rev()
            .find_map(|a| match (&a.value, a.setting.name == name) {
                (Value::Str(s), true) if !s.is_empty() => Some(s.clone()),
                _ => None,
            })
    };
    match (get("config"), get("ini")) {
        (Some(_), Some(_)) => Err(ConfigError::usage(
            "config",
            "use either -c/--config or --ini, not both",
        )),
        (Some(c), None) if is_ini(&c) => Ok(Some(FileChoice::Ini(c))),
        (Some(c), None) => Ok(Some(FileChoice::Python(c))),
        (None, Some(i)) => Ok(Some(FileChoice::Ini(i))),
        (None, None) => Ok(None),
    }
}

/// Read every source and validate the result. Errors carry exit status 64 and a message naming
/// the key, the place (file and line, variable, or command line) and what was expected; a valid
/// config that this machine cannot run ([`Config::environment_problems`]) is an error with status
/// 1 and one problem per line.
pub fn load(src: Sources<'_>) -> Result<Loaded, ConfigError> {
    match load_without_environment_checks(src)? {
        Loaded::Run(cfg, warnings) => {
            // Checked here, before anything binds or daemonizes, so a missing user can never
            // mean "keep running as root" and every problem is one line on the terminal.
            let problems = cfg.environment_problems();
            if problems.is_empty() {
                Ok(Loaded::Run(cfg, warnings))
            } else {
                Err(ConfigError {
                    key: "environment".into(),
                    origin: None,
                    message: problems.join("\n"),
                    code: EXIT_ENVIRONMENT,
                })
            }
        }
        exit => Ok(exit),
    }
}

/// [`load`] without the environment checks of a run: for tests and tools that inspect a config
/// written for another machine.
#[doc(hidden)]
pub fn load_without_environment_checks(src: Sources<'_>) -> Result<Loaded, ConfigError> {
    let cmd = cli::command();
    let matches = match cmd.clone().try_get_matches_from(&src.argv) {
        Ok(m) => m,
        Err(e) => return clap_error(e, None),
    };
    let cli = cli::read(&matches, &|flag| Origin::Cli { flag })?;
    let mut warnings: Vec<Warning> = Vec::new();

    // $GUNICORN_CMD_ARGS, then $FERROCORN_CMD_ARGS on top.
    let mut cmd_layers: Vec<Vec<Assign>> = Vec::new();
    for var in CMD_ARGS_VARS {
        let Some(text) = (src.env)(var) else { continue };
        let words =
            cli::shell_split(&text).map_err(|e| ConfigError::usage(var, format!("${var}: {e}")))?;
        if words.is_empty() {
            continue;
        }
        let argv = std::iter::once("ferrocorn".to_string()).chain(words);
        let m = match cmd.clone().try_get_matches_from(argv) {
            Ok(m) => m,
            Err(e) => return clap_error(e, Some(&format!("${var}"))),
        };
        let parsed = cli::read(&m, &|flag| Origin::CmdArgs {
            var: var.to_string(),
            flag,
        })?;
        if let Some((app, origin)) = parsed.app {
            warnings.push(Warning::at(
                &origin,
                format!("APP {app:?} ignored here (as gunicorn does); give it on the command line"),
            ));
        }
        cmd_layers.push(parsed.assigns);
    }

    // The config file: named on the command line, else in *_CMD_ARGS, else a default file.
    let mut choice = file_choice(&cli.assigns)?;
    for layer in cmd_layers.iter().rev() {
        if choice.is_none() {
            choice = file_choice(layer)?;
        }
    }
    if choice.is_none() {
        choice = DEFAULT_CONFIG_FILES
            .iter()
            .find(|f| src.cwd.join(f).is_file())
            .map(|f| FileChoice::Python((*f).to_string()));
    }
    let mut callable = None;
    let (file_layer, config_file) = match choice {
        None => (Vec::new(), None),
        Some(FileChoice::Ini(spec)) => {
            let f = ini::load(&spec, &src.cwd, src.env)?;
            warnings.extend(f.warnings);
            callable = f.callable;
            (f.assigns, Some(spec))
        }
        Some(FileChoice::Python(spec)) => {
            let path = spec.strip_prefix("file:").unwrap_or(&spec).to_string();
            if !path.starts_with("python:") && !src.cwd.join(&path).is_file() {
                return Err(ConfigError::usage(
                    "config",
                    format!("config file {path:?} does not exist"),
                ));
            }
            let entries = (src.python_file)(&path).map_err(|e| ConfigError::usage("config", e))?;
            let (assigns, w) = python::read(&path, entries)?;
            warnings.extend(w);
            (assigns, Some(path))
        }
    };

    let mut layers = vec![config::env_layer(src.env)?, file_layer];
    layers.extend(cmd_layers);
    let mut cli_layer = cli.assigns;
    if let Some((app, origin)) = cli.app {
        if let Some(s) = table::setting("wsgi_app") {
            cli_layer.push(Assign {
                setting: s,
                value: Value::Str(app),
                origin,
                written: "APP".into(),
            });
        }
    }
    layers.push(cli_layer);
    let effective = config::merge(&layers);

    let flag = |name: &str| {
        effective
            .iter()
            .find(|e| e.setting.name == name)
            .map(|e| e.value.clone())
    };
    let print_format = match flag("print_config") {
        Some(Value::Str(f)) => Some(f),
        _ => None,
    };
    let check = matches!(flag("check_config"), Some(Value::Bool(true)));
    let serve = print_format.is_none() && !check;

    let (cfg, w) = config::build(effective, callable, config_file, serve)?;
    warnings.extend(w);
    if serve {
        return Ok(Loaded::Run(Box::new(cfg), warnings));
    }
    let mut exit = Exit {
        code: 0,
        stdout: String::new(),
        stderr: warnings.iter().map(|w| format!("warning: {w}")).collect(),
    };
    if let Some(format) = print_format {
        exit.stdout = match format.as_str() {
            "gunicorn" => print::gunicorn(&cfg),
            "ini" => print::ini(&cfg),
            _ => print::text(&cfg),
        };
    }
    if check {
        let mut problems = cfg.environment_problems();
        problems.extend(cfg.address_problems());
        if !problems.is_empty() {
            exit.code = EXIT_ENVIRONMENT;
        }
        exit.stderr
            .extend(problems.into_iter().map(|p| format!("error: {p}")));
    }
    Ok(Loaded::Exit(exit))
}

/// Why argument parsing did not produce a Config (the pre-[`load`] interface).
#[derive(Debug)]
pub enum ParseOutcome {
    /// Help or version text (print it, exit 0), or a usage error; it knows how to print itself.
    Clap(clap::Error),
    /// A value that validation refused.
    Invalid(ConfigError),
}

/// The pre-[`load`] entry point, kept so existing callers compile: the command line,
/// `$WEB_CONCURRENCY` (given) and uWSGI ini files only; Python config files need [`load`] with a
/// Python executor. Prefer [`load`].
pub fn parse_args<I, T>(argv: I, web_concurrency: Option<&str>) -> Result<Config, ParseOutcome>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<String> = argv
        .into_iter()
        .map(|a| a.into().to_string_lossy().into_owned())
        .collect();
    let wc = web_concurrency.map(str::to_string);
    let env = move |name: &str| {
        if name == "WEB_CONCURRENCY" {
            wc.clone()
        } else {
            None
        }
    };
    let no_python = |path: &str| -> Result<Vec<PyEntry>, String> {
        Err(format!(
            "{path}: Python config files are read through ferrocorn's Python side"
        ))
    };
    let src = Sources {
        argv,
        env: &env,
        python_file: &no_python,
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    match load(src) {
        Ok(Loaded::Run(cfg, _)) => Ok(*cfg),
        Ok(Loaded::Exit(exit)) if exit.code == 0 => {
            let mut text = exit.stdout;
            for line in exit.stderr {
                text.push_str(&line);
                text.push('\n');
            }
            Err(ParseOutcome::Clap(clap::Error::raw(
                clap::error::ErrorKind::DisplayHelp,
                text,
            )))
        }
        Ok(Loaded::Exit(exit)) => Err(ParseOutcome::Invalid(ConfigError {
            key: "check_config".into(),
            origin: None,
            message: exit.stderr.join("\n"),
            code: exit.code,
        })),
        Err(e) => Err(ParseOutcome::Invalid(e)),
    }
}

#[cfg(test)]
mod tests;
