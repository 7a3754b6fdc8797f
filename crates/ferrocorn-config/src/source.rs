//! Where values come from ([`Origin`]), one validated assignment ([`Assign`]), and the two kinds
//! of report a load produces: [`ConfigError`] (stop, exit 64) and [`Warning`] (log and go on).

use std::fmt;

use crate::table::Setting;
use crate::value::Value;

/// Exit status for usage errors (BSD `EX_USAGE`), used for every invalid setting.
pub const EX_USAGE: i32 = 64;

/// Where a setting's effective value came from; shown by `--print-config` and in messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The table's default.
    Default,
    /// An environment variable that supplies a default (`$WEB_CONCURRENCY`).
    Env(String),
    /// A config file; `line` when known (Python values computed in a loop may lack one).
    File { path: String, line: Option<u32> },
    /// `$GUNICORN_CMD_ARGS` / `$FERROCORN_CMD_ARGS`, with the flag used.
    CmdArgs { var: String, flag: String },
    /// The command line, with the flag used.
    Cli { flag: String },
}

impl Origin {
    /// Precedence: a higher rank overrides a lower one.
    pub fn rank(&self) -> u8 {
        match self {
            Origin::Default => 0,
            Origin::Env(_) => 1,
            Origin::File { .. } => 2,
            Origin::CmdArgs { var, .. } if var == "GUNICORN_CMD_ARGS" => 3,
            Origin::CmdArgs { .. } => 4,
            Origin::Cli { .. } => 5,
        }
    }

    /// The place, without the flag, for the start of a message: `file:3`, `command line`...
    pub fn place(&self) -> String {
        match self {
            Origin::Default => "default".into(),
            Origin::Env(v) => format!("${v}"),
            Origin::File {
                path,
                line: Some(l),
            } => format!("{path}:{l}"),
            Origin::File { path, line: None } => path.clone(),
            Origin::CmdArgs { var, .. } => format!("${var}"),
            Origin::Cli { .. } => "command line".into(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CmdArgs { var, flag } => write!(f, "${var} ({flag})"),
            Origin::Cli { flag } => write!(f, "command line ({flag})"),
            other => f.write_str(&other.place()),
        }
    }
}

/// One validated value for one setting from one place.
#[derive(Clone, Debug)]
pub struct Assign {
    pub setting: &'static Setting,
    pub value: Value,
    pub origin: Origin,
    /// The key as the user wrote it (`processes`, `--workers`, `workers`), for messages.
    pub written: String,
}

/// Something to tell the user that does not stop the server: an unknown name in a Python file, an
/// ignored uWSGI option, an inline comment. The lead logs these once logging is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The whole line to log, starting with where it comes from.
    pub message: String,
}

impl Warning {
    /// A warning about a place.
    pub fn at(origin: &Origin, message: impl fmt::Display) -> Warning {
        Warning {
            message: format!("{}: {message}", origin.place()),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A configuration that cannot be used. `message` is the complete text (it names the key, the
/// place, and what was expected); print it as `ferrocorn: error: {message}` and exit with `code`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key as written (`processes`, `--workers`, `APP`...).
    pub key: String,
    /// Where the bad value was, when it came from one place.
    pub origin: Option<Origin>,
    pub message: String,
    /// Exit status: [`EX_USAGE`] (64) for an invalid configuration, 1
    /// ([`crate::EXIT_ENVIRONMENT`]) for a valid one this machine cannot run (then `message` has
    /// one problem per line).
    pub code: i32,
}

impl ConfigError {
    /// An invalid value: `place: invalid value for key: what was expected`.
    pub fn invalid(origin: &Origin, key: &str, expected: impl fmt::Display) -> ConfigError {
        ConfigError {
            key: key.to_string(),
            origin: Some(origin.clone()),
            message: format!("{}: invalid value for {key}: {expected}", origin.place()),
            code: EX_USAGE,
        }
    }

    /// Any other problem at a place (unknown key, syntax error...): `place: message`.
    pub fn at(origin: &Origin, key: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError {
            key: key.to_string(),
            origin: Some(origin.clone()),
            message: format!("{}: {message}", origin.place()),
            code: EX_USAGE,
        }
    }

    /// A problem without a single place (a missing app, conflicting options).
    pub fn usage(key: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError {
            key: key.to_string(),
            origin: None,
            message: message.to_string(),
            code: EX_USAGE,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The known name closest to `name`, when it is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let n = norm(name);
    let limit = 1 + n.chars().count() / 4;
    candidates
        .into_iter()
        .map(|c| (levenshtein(&n, &norm(c)), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance (insertions, deletions, substitutions), by characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }

    #[test]
    fn suggestions_only_when_close() {
        let names = ["workers", "threads", "timeout"];
        assert_eq!(suggest("worker", names), Some("workers"));
        assert_eq!(suggest("threds", names), Some("threads"));
        assert_eq!(suggest("BASE_DIR", names), None);
    }

    #[test]
    fn origins_render_for_messages() {
        let f = Origin::File {
            path: "uwsgi.ini".into(),
            line: Some(3),
        };
        assert_eq!(f.to_string(), "uwsgi.ini:3");
        let c = Origin::Cli {
            flag: "--workers".into(),
        };
        assert_eq!(c.to_string(), "command line (--workers)");
        assert_eq!(
            ConfigError::invalid(&f, "processes", "expected a positive integer").message,
            "uwsgi.ini:3: invalid value for processes: expected a positive integer"
        );
    }
}
