//! The configs users brought (`tests/fixtures/seed/`) load as written: only their
//! environment-specific lines are reported, one clear line each. The adapted copies load clean.
//! The Python seed is fed as the Python side (`ferrocorn._config.load`) returns it;
//! `tests/test_config.py` checks that the Python side returns exactly these triples.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrocorn_config::{
    load, load_without_environment_checks, AppSpec, Config, Exit, ListenAddr, Loaded, Protocol,
    PyEntry, RawValue, Sources,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// What `ferrocorn._config.load("tests/fixtures/seed/gunicorn_conf.py")` returns, with `bind`
/// as given (the adapted copy differs only there).
fn gunicorn_seed(bind: &str) -> Vec<PyEntry> {
    let s = |v: &str| RawValue::Str(v.into());
    vec![
        ("workers".into(), RawValue::Int(1), Some(3)),
        ("threads".into(), RawValue::Int(3), Some(4)),
        ("bind".into(), s(bind), Some(5)),
        ("accesslog".into(), s("-"), Some(6)),
        ("errorlog".into(), s("-"), Some(7)),
        ("reload".into(), RawValue::Bool(true), Some(8)),
        ("daemon".into(), RawValue::Bool(false), Some(9)),
        ("timeout".into(), RawValue::Int(120), Some(10)),
        (
            "x_forwarded_for_header".into(),
            s("X-FORWARDED-FOR"),
            Some(11),
        ),
    ]
}

fn run(argv: &[&str], py: Vec<PyEntry>) -> Result<Loaded, ferrocorn_config::ConfigError> {
    let env = |_: &str| None;
    let python = move |_: &str| Ok(py.clone());
    load_without_environment_checks(Sources {
        argv: std::iter::once("ferrocorn")
            .chain(argv.iter().copied())
            .map(String::from)
            .collect(),
        env: &env,
        python_file: &python,
        cwd: root(),
    })
}

fn exit(argv: &[&str], py: Vec<PyEntry>) -> Exit {
    match run(argv, py) {
        Ok(Loaded::Exit(e)) => e,
        other => panic!("expected an exit, got {other:?}"),
    }
}

fn config(argv: &[&str], py: Vec<PyEntry>) -> Config {
    match run(argv, py) {
        Ok(Loaded::Run(c, _)) => *c,
        other => panic!("expected a config, got {other:?}"),
    }
}

fn errors(e: &Exit) -> Vec<&str> {
    e.stderr
        .iter()
        .filter_map(|l| l.strip_prefix("error: "))
        .collect()
}

fn user_exists(name: &str) -> bool {
    matches!(nix::unistd::User::from_name(name), Ok(Some(_)))
}

fn group_exists(name: &str) -> bool {
    matches!(nix::unistd::Group::from_name(name), Ok(Some(_)))
}

const GUNICORN_SEED: &str = "tests/fixtures/seed/gunicorn_conf.py";
const UWSGI_SEED: &str = "tests/fixtures/seed/uwsgi.ini";

#[test]
fn gunicorn_seed_checks_except_its_bind() {
    let e = exit(
        &["-c", GUNICORN_SEED, "--check-config"],
        gunicorn_seed("0.1:8000"),
    );
    assert_eq!(
        errors(&e),
        [format!(
            "{GUNICORN_SEED}:5: bind: 0.1:8000: 0.1 is 0.0.0.1, not an address of this machine"
        )]
    );
    assert_eq!(e.code, 1, "environment problems exit 1, not 64");
    let warnings: Vec<&String> = e
        .stderr
        .iter()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    // accesslog, errorlog, reload, ... are all acted on now: the file loads without warnings.
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
}

#[test]
fn gunicorn_seed_values() {
    let c = config(
        &["-c", GUNICORN_SEED, "app:application"],
        gunicorn_seed("0.1:8000"),
    );
    assert_eq!(c.workers, 1);
    assert_eq!(c.threads, 3);
    assert_eq!(c.binds, ["0.1:8000"]);
    assert_eq!(c.accesslog.as_deref(), Some("-"));
    assert_eq!(c.error_logfile, "-");
    assert!(c.reload);
    assert!(!c.daemon);
    assert_eq!(c.timeout, Duration::from_secs(120));
    assert_eq!(c.x_forwarded_for_header, "X-FORWARDED-FOR");
    assert_eq!(c.config_file.as_deref(), Some(GUNICORN_SEED));
}

#[test]
fn gunicorn_seed_adapted_checks_clean() {
    let e = exit(
        &[
            "-c",
            "tests/fixtures/seed/gunicorn_conf.adapted.py",
            "--check-config",
        ],
        gunicorn_seed("127.0.0.1:0"),
    );
    assert_eq!(errors(&e), Vec::<&str>::new());
    assert_eq!(e.code, 0);
}

#[test]
fn uwsgi_seed_checks_except_its_environment_lines() {
    let e = exit(&["--ini", UWSGI_SEED, "--check-config"], Vec::new());
    let mut want = vec![format!(
        "{UWSGI_SEED}:6: chdir: directory \"/path/to/project\" does not exist"
    )];
    if !user_exists("nginx") {
        want.push(format!(
            "{UWSGI_SEED}:9: chown-socket: user \"nginx\" does not exist"
        ));
    }
    if !group_exists("nginx") {
        want.push(format!(
            "{UWSGI_SEED}:9: chown-socket: group \"nginx\" does not exist"
        ));
    }
    assert_eq!(errors(&e), want);
    assert_eq!(e.code, 1);
    // Every line carries a trailing "# comment", which uWSGI syntax does not have: one warning each.
    let inline: Vec<&String> = e
        .stderr
        .iter()
        .filter(|l| l.contains("inline comment ignored"))
        .collect();
    assert_eq!(inline.len(), 16, "{:?}", e.stderr);
    assert!(inline[0].starts_with(&format!(
        "warning: {UWSGI_SEED}:3: master: inline comment ignored"
    )));
}

#[test]
fn uwsgi_seed_refuses_to_run_here_with_one_line_per_problem() {
    let env = |_: &str| None;
    let python = |_: &str| Ok(Vec::new());
    let e = load(Sources {
        argv: vec!["ferrocorn".into(), "--ini".into(), UWSGI_SEED.into()],
        env: &env,
        python_file: &python,
        cwd: root(),
    })
    .expect_err("the seed's chdir does not exist here");
    assert_eq!(e.code, ferrocorn_config::EXIT_ENVIRONMENT);
    assert_eq!(
        e.message.lines().next(),
        Some(
            format!("{UWSGI_SEED}:6: chdir: directory \"/path/to/project\" does not exist")
                .as_str()
        )
    );
}

#[test]
fn uwsgi_seed_values() {
    let c = config(&["--ini", UWSGI_SEED], Vec::new());
    assert_eq!(
        c.app_spec,
        AppSpec::Module("djangoapp.wsgi:application".into())
    );
    assert_eq!(c.workers, 4);
    assert!(c.binds.is_empty());
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].protocol, Protocol::Uwsgi);
    assert_eq!(
        c.listeners[0].addr,
        ListenAddr::Tcp {
            host: "0.0.0.0".into(),
            port: 8000
        }
    );
    assert_eq!(c.chdir, Some(PathBuf::from("/path/to/project")));
    assert_eq!(c.chmod_socket, Some(0o664));
    assert_eq!(c.chown_socket.as_deref(), Some("nginx:nginx"));
    assert!(c.vacuum);
    assert!(!c.preload_app);
    assert_eq!(c.max_requests, 5000);
    assert_eq!(c.harakiri, Some(Duration::from_secs(60)));
    assert!(c.memory_report);
    assert!(!c.disable_logging);
}

#[test]
fn uwsgi_seed_adapted_checks_clean() {
    let adapted = "tests/fixtures/seed/uwsgi.adapted.ini";
    let e = exit(&["--ini", adapted, "--check-config"], Vec::new());
    assert_eq!(errors(&e), Vec::<&str>::new());
    assert_eq!(e.code, 0);
    let c = config(&["--ini", adapted], Vec::new());
    assert_eq!(c.app, "djsite.wsgi:application");
    let chdir = c.chdir.clone().expect("chdir");
    assert_eq!(
        chdir.canonicalize().expect("exists"),
        root().join("examples/djsite")
    );
    assert_eq!(c.listeners[0].spec, "127.0.0.1:0");
}

#[test]
fn seeds_are_unchanged_copies() {
    let shared = Path::new("/work/shared/seed-configs");
    for name in ["gunicorn_conf.py", "uwsgi.ini"] {
        let ours = std::fs::read(root().join("tests/fixtures/seed").join(name)).expect("fixture");
        if let Ok(theirs) = std::fs::read(shared.join(name)) {
            assert_eq!(ours, theirs, "{name} must stay byte-identical to the seed");
        }
    }
}

#[test]
fn adapted_copies_change_only_marked_lines() {
    for (seed, adapted) in [
        ("gunicorn_conf.py", "gunicorn_conf.adapted.py"),
        ("uwsgi.ini", "uwsgi.adapted.ini"),
    ] {
        let dir = root().join("tests/fixtures/seed");
        let a = std::fs::read_to_string(dir.join(seed)).expect("seed");
        let b = std::fs::read_to_string(dir.join(adapted)).expect("adapted");
        assert_eq!(a.lines().count(), b.lines().count(), "{adapted}");
        for (x, y) in a.lines().zip(b.lines()) {
            assert!(
                x == y || y.contains("(adapted:"),
                "{adapted}: unmarked change {y:?}"
            );
        }
    }
}
