//! ferrocorn's settings: every option with gunicorn's spelling, parsed from the command line and
//! validated into one [`Config`] before anything binds.
//!
//! Flags keep gunicorn's exact spellings (including `--limit-request-field_size`) so existing command
//! lines keep working.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};

/// What to do with request header names that contain `_` (gunicorn's `header_map`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HeaderMap {
    /// Drop the header (default): `X_Forwarded_For` could otherwise spoof `X-Forwarded-For`.
    Drop,
    /// Answer 400.
    Refuse,
    /// Keep it; it lands on the same environ key as its dashed twin.
    Dangerous,
}

/// The command line, gunicorn style.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ferrocorn",
    version,
    about = "A fast WSGI server written in Rust: a drop-in for gunicorn.",
    after_help = "APP is MODULE[:CALLABLE]; CALLABLE defaults to `application` and may be `factory()`."
)]
pub struct Cli {
    /// The WSGI application, as MODULE[:CALLABLE].
    #[arg(value_name = "APP")]
    pub app: Option<String>,

    /// Address to listen on: HOST:PORT, [IPv6]:PORT or :PORT. Repeatable.
    #[arg(short = 'b', long = "bind", value_name = "ADDRESS", action = ArgAction::Append)]
    pub bind: Vec<String>,

    /// Number of worker processes (default: $WEB_CONCURRENCY or 1).
    #[arg(short = 'w', long = "workers", value_name = "INT")]
    pub workers: Option<u32>,

    /// Request threads per worker; each parses requests and calls the app itself.
    #[arg(long = "threads", value_name = "INT", default_value_t = 1)]
    pub threads: u32,

    /// Change to this directory before loading the app.
    #[arg(long = "chdir", value_name = "DIR")]
    pub chdir: Option<PathBuf>,

    /// Comma-separated directories to add to the Python path.
    #[arg(long = "pythonpath", value_name = "PATHS")]
    pub pythonpath: Option<String>,

    /// Seconds to keep an idle keep-alive connection open.
    #[arg(long = "keepalive", value_name = "SECONDS", default_value_t = 5.0)]
    pub keepalive: f64,

    /// Seconds a client has to send a complete request head (slow-loris defence).
    #[arg(
        long = "header-timeout",
        value_name = "SECONDS",
        default_value_t = 10.0
    )]
    pub header_timeout: f64,

    /// Seconds a read of the request body or a write of the response may stall before the connection is dropped.
    #[arg(
        long = "client-timeout",
        value_name = "SECONDS",
        default_value_t = 30.0
    )]
    pub client_timeout: f64,

    /// Worker timeout in seconds (supervision arrives with the process manager).
    #[arg(
        short = 't',
        long = "timeout",
        value_name = "INT",
        default_value_t = 30
    )]
    pub timeout: u64,

    /// Seconds TERM waits for in-flight requests before workers are killed.
    #[arg(long = "graceful-timeout", value_name = "INT", default_value_t = 30)]
    pub graceful_timeout: u64,

    /// Recycle a worker (gracefully) after this many requests (0 = never).
    #[arg(long = "max-requests", value_name = "INT", default_value_t = 0)]
    pub max_requests: u64,

    /// Add a random 0..N to max-requests per worker so workers do not all restart at once.
    #[arg(long = "max-requests-jitter", value_name = "INT", default_value_t = 0)]
    pub max_requests_jitter: u64,

    /// Recycle a worker after a request leaves its RSS above this many MB (uWSGI's reload-on-rss; 0 = off).
    #[arg(long = "reload-on-rss", value_name = "MB", default_value_t = 0)]
    pub reload_on_rss: u64,

    /// Recycle a worker when one request runs longer than this many seconds (uWSGI's harakiri; 0 = off).
    #[arg(long = "harakiri", value_name = "SECONDS", default_value_t = 0)]
    pub harakiri: u64,

    /// Dynamic workers: the fewest workers to keep (enables php-fpm style scaling with --workers-max).
    #[arg(long = "workers-min", value_name = "INT")]
    pub workers_min: Option<u32>,

    /// Dynamic workers: the most workers to run.
    #[arg(long = "workers-max", value_name = "INT")]
    pub workers_max: Option<u32>,

    /// Dynamic workers: spawn more when fewer than this many workers are idle.
    #[arg(long = "min-spare", value_name = "INT")]
    pub min_spare: Option<u32>,

    /// Dynamic workers: retire the longest-idle worker when more than this many are idle.
    #[arg(long = "max-spare", value_name = "INT")]
    pub max_spare: Option<u32>,

    /// Load the app in the master before forking workers (copy-on-write; the GC is frozen first).
    #[arg(long = "preload")]
    pub preload_app: bool,

    /// Write the master's pid to this file.
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pub pidfile: Option<PathBuf>,

    /// Process name shown in titles: `ferrocorn: master [NAME]`.
    #[arg(short = 'n', long = "name", value_name = "STRING")]
    pub proc_name: Option<String>,

    /// Detach from the terminal and run in the background.
    #[arg(short = 'D', long = "daemon")]
    pub daemon: bool,

    /// Run workers as this user (name or uid) after binding.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,

    /// Run workers as this group (name or gid) after binding.
    #[arg(short = 'g', long = "group", value_name = "GROUP")]
    pub group: Option<String>,

    /// File mode creation mask (octal, e.g. 0o22 or 022).
    #[arg(short = 'm', long = "umask", value_name = "INT")]
    pub umask: Option<String>,

    /// Restart workers when the app's Python files (or --reload-extra-file files) change. Development only.
    #[arg(long = "reload")]
    pub reload: bool,

    /// An extra file to watch with --reload. Repeatable.
    #[arg(long = "reload-extra-file", value_name = "FILE", action = ArgAction::Append)]
    pub reload_extra_file: Vec<PathBuf>,

    /// Accepted for gunicorn compatibility; ferrocorn's heartbeat uses shared memory, not files.
    #[arg(long = "worker-tmp-dir", value_name = "DIR")]
    pub worker_tmp_dir: Option<PathBuf>,

    /// Maximum size of the HTTP request line in bytes (0 = unlimited).
    #[arg(
        long = "limit-request-line",
        value_name = "INT",
        default_value_t = 4094
    )]
    pub limit_request_line: usize,

    /// Maximum number of request header fields (at most 32768).
    #[arg(
        long = "limit-request-fields",
        value_name = "INT",
        default_value_t = 100
    )]
    pub limit_request_fields: usize,

    /// Maximum size of one request header field in bytes (0 = unlimited).
    #[arg(
        long = "limit-request-field_size",
        alias = "limit-request-field-size",
        value_name = "INT",
        default_value_t = 8190
    )]
    pub limit_request_field_size: usize,

    /// Maximum request body size in bytes (0 = unlimited); larger bodies get 413.
    #[arg(long = "limit-request-body", value_name = "INT", default_value_t = 0)]
    pub limit_request_body: u64,

    /// Accept obsolete line folding in headers (RFC 9112 forbids it).
    #[arg(long = "permit-obsolete-folding")]
    pub permit_obsolete_folding: bool,

    /// Accept methods that are not 3-20 uppercase token characters.
    #[arg(long = "permit-unconventional-http-method")]
    pub permit_unconventional_http_method: bool,

    /// Uppercase the request method before checking it.
    #[arg(long = "casefold-http-method")]
    pub casefold_http_method: bool,

    /// Strip whitespace before the colon of header names (unsafe; off by default).
    #[arg(long = "strip-header-spaces")]
    pub strip_header_spaces: bool,

    /// Header names with underscores: drop, refuse (400) or dangerous (keep).
    #[arg(long = "header-map", value_enum, default_value_t = HeaderMap::Drop)]
    pub header_map: HeaderMap,

    /// Maximum number of pending connections.
    #[arg(long = "backlog", value_name = "INT", default_value_t = 2048)]
    pub backlog: i32,

    /// Error log file; `-` is stderr.
    #[arg(
        long = "error-logfile",
        alias = "log-file",
        value_name = "FILE",
        default_value = "-"
    )]
    pub error_logfile: String,

    /// Error log level: debug, info, warning, error, critical.
    #[arg(long = "log-level", value_name = "LEVEL", default_value = "info")]
    pub log_level: String,

    /// The value of the `Server` response header.
    #[arg(
        long = "server-header",
        value_name = "STRING",
        default_value = "ferrocorn"
    )]
    pub server_header: String,
}

/// Validated settings, in the units the server uses.
#[derive(Debug, Clone)]
pub struct Config {
    pub app: String,
    pub binds: Vec<String>,
    pub workers: u32,
    pub threads: u32,
    pub chdir: Option<PathBuf>,
    pub pythonpath: Vec<PathBuf>,
    pub keepalive: Duration,
    pub header_timeout: Duration,
    pub client_timeout: Duration,
    pub timeout: Duration,
    pub graceful_timeout: Duration,
    pub max_requests: u64,
    pub max_requests_jitter: u64,
    /// Bytes (0 = off).
    pub reload_on_rss: u64,
    pub harakiri: Option<Duration>,
    /// (min, max, min_spare, max_spare) when dynamic workers are on.
    pub dynamic: Option<(u32, u32, u32, u32)>,
    pub preload_app: bool,
    pub pidfile: Option<PathBuf>,
    pub proc_name: String,
    pub daemon: bool,
    /// (uid, gid) to switch workers to.
    pub user: Option<u32>,
    pub group: Option<u32>,
    pub umask: Option<u32>,
    pub reload: bool,
    pub reload_extra_files: Vec<PathBuf>,
    pub limit_request_line: usize,
    pub limit_request_fields: usize,
    pub limit_request_field_size: usize,
    pub limit_request_body: u64,
    pub permit_obsolete_folding: bool,
    pub permit_unconventional_http_method: bool,
    pub casefold_http_method: bool,
    pub strip_header_spaces: bool,
    pub header_map: HeaderMap,
    pub backlog: i32,
    pub error_logfile: String,
    pub log_level: LogLevel,
    pub server_header: String,
}

/// Error-log severity, gunicorn's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    /// The upper-case name used in log lines.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
            LogLevel::Critical => "CRITICAL",
        }
    }
}

/// A setting that failed validation: names the setting and says what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: &'static str,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid value for {}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Exit status for usage errors (BSD `EX_USAGE`), used for every invalid setting.
pub const EX_USAGE: i32 = 64;

fn seconds(key: &'static str, v: f64) -> Result<Duration, ConfigError> {
    if !v.is_finite() || v < 0.0 {
        return Err(ConfigError {
            key,
            message: format!("expected a non-negative number of seconds, got {v}"),
        });
    }
    Ok(Duration::from_secs_f64(v))
}

impl Cli {
    /// Validate the parsed command line. `web_concurrency` is `$WEB_CONCURRENCY`, used when `-w` is absent.
    pub fn into_config(self, web_concurrency: Option<&str>) -> Result<Config, ConfigError> {
        let app = self
            .app
            .filter(|a| !a.trim().is_empty())
            .ok_or(ConfigError {
                key: "APP",
                message: "no application given (MODULE[:CALLABLE])".into(),
            })?;
        let workers = match (self.workers, web_concurrency) {
            (Some(w), _) => w,
            (None, Some(s)) => s.trim().parse::<u32>().map_err(|_| ConfigError {
                key: "WEB_CONCURRENCY",
                message: format!("expected a positive integer, got {s:?}"),
            })?,
            (None, None) => 1,
        };
        if workers == 0 {
            return Err(ConfigError {
                key: "workers",
                message: "must be at least 1".into(),
            });
        }
        if self.threads == 0 {
            return Err(ConfigError {
                key: "threads",
                message: "must be at least 1".into(),
            });
        }
        if self.limit_request_fields > 32768 {
            return Err(ConfigError {
                key: "limit_request_fields",
                message: "must be at most 32768".into(),
            });
        }
        if self.backlog <= 0 {
            return Err(ConfigError {
                key: "backlog",
                message: "must be positive".into(),
            });
        }
        let log_level = match self.log_level.to_ascii_lowercase().as_str() {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warning" | "warn" => LogLevel::Warning,
            "error" => LogLevel::Error,
            "critical" => LogLevel::Critical,
            other => {
                return Err(ConfigError {
                    key: "loglevel",
                    message: format!(
                        "expected debug, info, warning, error or critical, got {other:?}"
                    ),
                })
            }
        };
        if self.server_header.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(ConfigError {
                key: "server_header",
                message: "must not contain control characters".into(),
            });
        }
        let dynamic = match (self.workers_min, self.workers_max) {
            (None, None) => None,
            (min, max) => {
                let min = min.unwrap_or(1);
                let max = max.unwrap_or(min.max(workers));
                if min == 0 || max < min {
                    return Err(ConfigError {
                        key: "workers_min",
                        message: format!(
                            "need 1 <= workers_min <= workers_max, got {min} and {max}"
                        ),
                    });
                }
                let min_spare = self.min_spare.unwrap_or(1);
                let max_spare = self.max_spare.unwrap_or(min_spare.max(1) + 2);
                if max_spare < min_spare {
                    return Err(ConfigError {
                        key: "max_spare",
                        message: format!(
                            "must be at least min_spare ({min_spare}), got {max_spare}"
                        ),
                    });
                }
                Some((min, max, min_spare, max_spare))
            }
        };
        let proc_name = self.proc_name.clone().unwrap_or_else(|| app.clone());
        let umask = match &self.umask {
            None => None,
            Some(u) => {
                let t = u.trim();
                let digits = t
                    .strip_prefix("0o")
                    .or_else(|| t.strip_prefix("0O"))
                    .unwrap_or(t);
                Some(
                    u32::from_str_radix(digits, 8)
                        .ok()
                        .filter(|m| *m <= 0o777)
                        .ok_or(ConfigError {
                            key: "umask",
                            message: format!("expected an octal mode like 022 or 0o22, got {u:?}"),
                        })?,
                )
            }
        };
        let user = match &self.user {
            None => None,
            Some(u) => Some(lookup_user(u)?),
        };
        let group = match &self.group {
            None => None,
            Some(g) => Some(lookup_group(g)?),
        };
        let binds = if self.bind.is_empty() {
            vec!["127.0.0.1:8000".to_string()]
        } else {
            self.bind
        };
        Ok(Config {
            app,
            binds,
            workers,
            threads: self.threads,
            chdir: self.chdir,
            pythonpath: self
                .pythonpath
                .map(|p| {
                    p.split(',')
                        .filter(|s| !s.is_empty())
                        .map(PathBuf::from)
                        .collect()
                })
                .unwrap_or_default(),
            keepalive: seconds("keepalive", self.keepalive)?,
            header_timeout: seconds("header_timeout", self.header_timeout)?,
            client_timeout: seconds("client_timeout", self.client_timeout)?,
            timeout: Duration::from_secs(self.timeout),
            graceful_timeout: Duration::from_secs(self.graceful_timeout),
            max_requests: self.max_requests,
            max_requests_jitter: self.max_requests_jitter,
            reload_on_rss: self.reload_on_rss.saturating_mul(1 << 20),
            harakiri: (self.harakiri > 0).then(|| Duration::from_secs(self.harakiri)),
            dynamic,
            preload_app: self.preload_app,
            pidfile: self.pidfile,
            proc_name,
            daemon: self.daemon,
            user,
            group,
            umask,
            reload: self.reload,
            reload_extra_files: self.reload_extra_file,
            limit_request_line: self.limit_request_line,
            limit_request_fields: self.limit_request_fields,
            limit_request_field_size: self.limit_request_field_size,
            limit_request_body: self.limit_request_body,
            permit_obsolete_folding: self.permit_obsolete_folding,
            permit_unconventional_http_method: self.permit_unconventional_http_method,
            casefold_http_method: self.casefold_http_method,
            strip_header_spaces: self.strip_header_spaces,
            header_map: self.header_map,
            backlog: self.backlog,
            error_logfile: self.error_logfile,
            log_level,
            server_header: self.server_header,
        })
    }
}

/// A user name or numeric uid -> uid.
fn lookup_user(u: &str) -> Result<u32, ConfigError> {
    if let Ok(n) = u.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::User::from_name(u) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        _ => Err(ConfigError {
            key: "user",
            message: format!("no such user: {u:?}"),
        }),
    }
}

/// A group name or numeric gid -> gid.
fn lookup_group(g: &str) -> Result<u32, ConfigError> {
    if let Ok(n) = g.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::Group::from_name(g) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        _ => Err(ConfigError {
            key: "group",
            message: format!("no such group: {g:?}"),
        }),
    }
}

/// Parse and validate a full argv (argv[0] is the program name).
pub fn parse_args<I, T>(argv: I, web_concurrency: Option<&str>) -> Result<Config, ParseOutcome>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(argv).map_err(ParseOutcome::Clap)?;
    cli.into_config(web_concurrency)
        .map_err(ParseOutcome::Invalid)
}

/// Why argument parsing did not produce a Config.
#[derive(Debug)]
pub enum ParseOutcome {
    /// clap's own answer: `--help`, `--version`, or a usage error (it knows how to print itself).
    Clap(clap::Error),
    /// A value clap accepted but validation refused.
    Invalid(ConfigError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gunicorn_spellings_parse() {
        let c = parse_args(
            [
                "ferrocorn",
                "-b",
                "0.0.0.0:9000",
                "--threads",
                "4",
                "--limit-request-field_size",
                "100",
                "m:app",
            ],
            None,
        )
        .expect("valid");
        assert_eq!(c.binds, vec!["0.0.0.0:9000"]);
        assert_eq!(c.threads, 4);
        assert_eq!(c.limit_request_field_size, 100);
        assert_eq!(c.app, "m:app");
    }

    #[test]
    fn web_concurrency_sets_workers_only_without_flag() {
        assert_eq!(parse_args(["f", "m"], Some("3")).expect("valid").workers, 3);
        assert_eq!(
            parse_args(["f", "-w", "2", "m"], Some("3"))
                .expect("valid")
                .workers,
            2
        );
        match parse_args(["f", "m"], Some("x")) {
            Err(ParseOutcome::Invalid(e)) => assert_eq!(e.key, "WEB_CONCURRENCY"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn zero_threads_is_refused_with_key() {
        match parse_args(["f", "--threads", "0", "m"], None) {
            Err(ParseOutcome::Invalid(e)) => assert_eq!(e.key, "threads"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }
}
