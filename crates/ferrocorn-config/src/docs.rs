//! `docs/settings.md`, rendered from the table.
//!
//! Why generated: hand-written option docs drift from the code within a release. The crate's
//! `docs_are_current` test fails when the committed file differs from [`render`]; regenerate with
//! `cargo run -p ferrocorn-config --example render-docs > docs/settings.md` (or run the test with
//! `FERROCORN_BLESS=1`).

use crate::cli::default_text;
use crate::table::{
    IniAction, Kind, Scope, Section, Setting, Status, GUNICORN_UNSUPPORTED, INI_EXTRAS, SETTINGS,
};

/// The command that regenerates the docs, quoted in the file and in test failures.
pub const REGENERATE: &str =
    "cargo run -p ferrocorn-config --example render-docs > docs/settings.md";

fn anchor(title: &str) -> String {
    title
        .to_ascii_lowercase()
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

fn code_list(items: &[String]) -> String {
    if items.is_empty() {
        "—".into()
    } else {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn cli_forms(s: &Setting) -> Vec<String> {
    let value = match (s.kind, s.optional_value) {
        (Kind::Flag, _) => String::new(),
        (_, Some(_)) => format!("[={}]", s.meta),
        _ => format!(" {}", s.meta),
    };
    let mut out: Vec<String> = s.short.iter().map(|c| format!("-{c}{value}")).collect();
    out.extend(s.flags.iter().map(|f| format!("--{f}{value}")));
    if s.name == "wsgi_app" {
        out.push("APP (positional)".into());
    }
    out
}

fn setting_md(s: &Setting, out: &mut String) {
    out.push_str(&format!("### `{}`\n\n", s.name));
    let python = if s.scope == Scope::CommandLine {
        "— (command line only)".to_string()
    } else {
        format!("`{}`", s.name)
    };
    let ini: Vec<String> = if s.scope == Scope::CommandLine {
        Vec::new()
    } else {
        s.ini.iter().map(|k| (*k).to_string()).collect()
    };
    let default = s
        .default_doc
        .map(str::to_string)
        .or_else(|| default_text(s).map(|d| format!("`{d}`")))
        .unwrap_or_else(|| match s.kind {
            Kind::Flag => "off".into(),
            Kind::Strings | Kind::CommaList => "empty".into(),
            _ => "unset".into(),
        });
    let kind = match s.kind {
        Kind::Hook { signature, .. } => format!("callable `{signature}`"),
        k => k.describe(),
    };
    out.push_str("| Command line | Python config | uWSGI ini | Environment | Type | Default |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    out.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} |\n\n",
        code_list(&cli_forms(s)).replace('|', "\\|"),
        python,
        code_list(&ini),
        s.env
            .map(|e| format!("`${e}`"))
            .unwrap_or_else(|| "—".into()),
        kind.replace('|', "\\|"),
        default.replace('|', "\\|"),
    ));
    out.push_str(s.help);
    out.push('\n');
    if !s.doc.is_empty() {
        out.push('\n');
        out.push_str(s.doc);
        out.push('\n');
    }
    match s.status {
        Status::Active => {}
        Status::Pending(feature) => out.push_str(&format!(
            "\n> Accepted and validated; takes effect when {feature} lands.\n"
        )),
        Status::NoOp(why) => out.push_str(&format!("\n> Accepted; no effect: {why}.\n")),
    }
    out.push('\n');
}

const INTRO: &str = "\
Every setting below is declared once, in `crates/ferrocorn-config/src/table.rs`; the command line,
`--help`, the config-file readers and this page are derived from that table. Names are gunicorn's
(its Python config names and its exact flag spellings), so gunicorn command lines and config files
work unchanged; uWSGI ini files work too.

## Sources and precedence

Highest first:

1. the command line;
2. `$FERROCORN_CMD_ARGS`, then `$GUNICORN_CMD_ARGS` (split like a shell would; the APP argument is
   ignored there, as gunicorn does);
3. one config file: `-c FILE` (a gunicorn Python file; `python:MODULE` imports one; a `.ini` file
   is read as uWSGI ini), `--ini FILE[:SECTION]`, or else `./ferrocorn.conf.py` or
   `./gunicorn.conf.py` when present;
4. environment defaults: `$WEB_CONCURRENCY` (workers), `$FORWARDED_ALLOW_IPS`;
5. the defaults.

A source replaces a setting wholesale: `-b` on the command line replaces every `bind` of the config
file. Within one ini file, repeated keys of list settings accumulate and others take the last value.

Everything is validated before anything binds. An invalid value, or an unknown ini key, stops with
exit status 64 and one message naming the key, the file and line (or the flag or variable) and what
was expected. Problems of the machine rather than the file (a `chdir` that does not exist, an
unknown user) are reported one line each by `--check-config` and at start-up, with status 1.

## Python config files

Executed as Python, like gunicorn: a fresh module with `__file__` set. Module-level names that are
settings are used; callables named after a [server hook](#server-hooks-python-config-file-only)
become hooks; modules, classes and names starting with `_` are ignored. Any other name gets a
warning naming the file and line, with a suggestion when it looks like a typo of a setting, so a
misspelt `worker = 4` is not silently lost (helper functions are not warned about). Values may be
given in the Python type (`workers = 4`, `reload = True`, `bind = ['a', 'b']`) or as text
(`workers = '4'`); `None` means the default.

## uWSGI ini files

- `[uwsgi]` is read unless `--ini FILE:SECTION` names another section; other sections are ignored.
- `key = value` lines; `#` and `;` start comment lines. uWSGI has no inline comments: a
  ` # comment` after a value is dropped with a warning (uWSGI itself would keep it in the value).
- Keys: a setting's uWSGI keys (listed below) or any of its long flags (`keep-alive = 10`); `_` and
  `-` are interchangeable.
- Booleans: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`; an empty value is true.
- Repeated keys: list settings (`socket`, `env`, `static-map`, `pythonpath`...) accumulate; others
  take the last value.
- `%(key)` is the value of a key set above it (any key, so `base = /srv/app` then
  `chdir = %(base)` works; such placeholder keys are not errors). A reference to nothing set above
  is an error.
- Magic variables: `%d` directory of the file (with a trailing `/`), `%p` its absolute path, `%s`
  its name, `%n` its name without extension, `%e` its extension, `%c` the name of its directory,
  `%o` the path as given, `%x` `NAME:SECTION`, `%k` CPU count, `%h` host name, `%u`/`%U` user id
  and name, `%g`/`%G` group id and name, `%t` Unix time.
- `$(NAME)` is the environment variable NAME (empty, with a warning, when unset).
- Addresses keep uWSGI's forms: `HOST:PORT`, `:PORT`, a path (a Unix socket), `@NAME` (an abstract
  Unix socket).

## Checking and converting

- `--check-config` validates, reports environment problems, and exits (0 fine, 1 environment
  problems, 64 invalid).
- `--print-config` prints every setting with where its value came from.
- `--print-config=gunicorn` / `--print-config=ini` print the settings that differ from the defaults
  as a config file in that dialect, which ferrocorn reads back unchanged.
";

/// The whole of `docs/settings.md`.
pub fn render() -> String {
    let mut out = String::new();
    out.push_str("# Settings\n\n");
    out.push_str(&format!(
        "<!-- Generated from crates/ferrocorn-config/src/table.rs; do not edit by hand.\n     \
         Regenerate: {REGENERATE} -->\n\n"
    ));
    out.push_str(INTRO);
    out.push_str("\n## Contents\n\n");
    for sec in Section::ALL {
        out.push_str(&format!("- [{}](#{})\n", sec.title(), anchor(sec.title())));
    }
    out.push_str("- [uWSGI ini keys](#uwsgi-ini-keys)\n");
    out.push_str("- [gunicorn settings ferrocorn does not take](#gunicorn-settings-ferrocorn-does-not-take)\n\n");
    for sec in Section::ALL {
        out.push_str(&format!("## {}\n\n", sec.title()));
        if sec == Section::Hooks {
            out.push_str(
                "Hooks are functions defined in a Python config file under these names; they are \
                 called with gunicorn's arguments. A hook whose parameter count does not match is \
                 refused when the config is loaded.\n\n",
            );
        }
        for s in SETTINGS.iter().filter(|s| s.section == sec) {
            setting_md(s, &mut out);
        }
    }
    out.push_str("## uWSGI ini keys\n\n");
    out.push_str(
        "Every uWSGI key ferrocorn reads. A key not listed here (and not a long flag) is an error \
         naming the file and line, with a suggestion when one is close.\n\n",
    );
    out.push_str("| Key | Meaning |\n|---|---|\n");
    let mut rows: Vec<(String, String)> = Vec::new();
    for s in SETTINGS.iter().filter(|s| s.scope == Scope::Anywhere) {
        for k in s.ini {
            let mut meaning = format!("[`{}`](#{})", s.name, s.name);
            match *k {
                "http-socket" | "http" => meaning.push_str(" (uWSGI address forms)"),
                "socket" | "uwsgi-socket" => meaning.push_str(" (uwsgi protocol, not HTTP)"),
                "chmod-socket" => meaning.push_str(" (no value: 666)"),
                "module" | "wsgi" => meaning.push_str(" (`a.b:app`, or `a.b` with `callable`)"),
                "processes" | "workers" => {
                    meaning.push_str(" (with `cheaper`: [`workers_max`](#workers_max))")
                }
                _ => {}
            }
            rows.push(((*k).to_string(), meaning));
        }
    }
    for e in INI_EXTRAS {
        let what = match e.action {
            IniAction::Always => format!("Accepted; nothing to set: {}", e.doc),
            IniAction::Ignored => format!("Accepted with a warning, no effect: {}", e.doc),
            IniAction::Mapped => e.doc.to_string(),
        };
        for k in e.keys {
            rows.push(((*k).to_string(), what.clone()));
        }
    }
    rows.sort();
    for (k, m) in rows {
        out.push_str(&format!("| `{k}` | {} |\n", m.replace('|', "\\|")));
    }
    out.push_str("\n## gunicorn settings ferrocorn does not take\n\n");
    out.push_str(
        "In a Python config file these are ignored with a warning that says why; on the command \
         line they are unknown options.\n\n",
    );
    out.push_str("| Settings | Why |\n|---|---|\n");
    for (names, why) in GUNICORN_UNSUPPORTED {
        let names: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
        out.push_str(&format!("| {} | {} |\n", code_list(&names), why));
    }
    out
}
