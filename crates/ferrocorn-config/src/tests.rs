//! Tests of [`load`]: each source, precedence, the ini dialect, every error path with its message,
//! `--check-config` and `--print-config`.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferrocorn-config-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write scratch file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test run: argv, environment, what the Python side would return, and a directory.
struct Case {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    py: Vec<PyEntry>,
    py_calls: RefCell<Vec<String>>,
    cwd: PathBuf,
}

fn case(argv: &[&str]) -> Case {
    Case {
        argv: std::iter::once("ferrocorn")
            .chain(argv.iter().copied())
            .map(String::from)
            .collect(),
        env: Vec::new(),
        py: Vec::new(),
        py_calls: RefCell::new(Vec::new()),
        cwd: PathBuf::from("/nonexistent-ferrocorn-test-dir"),
    }
}

impl Case {
    fn env(mut self, k: &str, v: &str) -> Case {
        self.env.push((k.into(), v.into()));
        self
    }
    fn py(mut self, entries: Vec<PyEntry>) -> Case {
        self.py = entries;
        self
    }
    fn cwd(mut self, dir: &Path) -> Case {
        self.cwd = dir.to_path_buf();
        self
    }
    fn load(&self) -> Result<Loaded, ConfigError> {
        let env = |k: &str| {
            self.env
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let py = |p: &str| {
            self.py_calls.borrow_mut().push(p.to_string());
            Ok(self.py.clone())
        };
        load_without_environment_checks(Sources {
            argv: self.argv.clone(),
            env: &env,
            python_file: &py,
            cwd: self.cwd.clone(),
        })
    }
    /// The public entry point, with the environment checks of a real start.
    fn load_checked(&self) -> Result<Loaded, ConfigError> {
        let env = |_: &str| None;
        let py = |_: &str| Ok(self.py.clone());
        load(Sources {
            argv: self.argv.clone(),
            env: &env,
            python_file: &py,
            cwd: self.cwd.clone(),
        })
    }
    fn run(&self) -> (Config, Vec<String>) {
        match self.load() {
            Ok(Loaded::Run(c, w)) => (*c, w.into_iter().map(|w| w.message).collect()),
            other => panic!("expected a config to run, got {other:?}"),
        }
    }
    fn cfg(&self) -> Config {
        self.run().0
    }
    fn err(&self) -> ConfigError {
        match self.load() {
            Err(e) => {
                assert_eq!(e.code, EX_USAGE);
                e
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
    fn exit(&self) -> Exit {
        match self.load() {
            Ok(Loaded::Exit(e)) => e,
            other => panic!("expected an exit, got {other:?}"),
        }
    }
}

fn py(name: &str, v: RawValue, line: u32) -> PyEntry {
    (name.to_string(), v, Some(line))
}

fn s(v: &str) -> RawValue {
    RawValue::Str(v.to_string())
}

fn origin_of(c: &Config, name: &str) -> String {
    c.origin(name).map(|o| o.to_string()).unwrap_or_default()
}

// ---- command line -----------------------------------------------------------------------------

#[test]
fn defaults_match_the_docs() {
    let c = case(&["m:app"]).cfg();
    assert_eq!(c.app, "m:app");
    assert_eq!(c.app_spec, AppSpec::Module("m:app".into()));
    assert_eq!(c.binds, ["127.0.0.1:8000"]);
    assert_eq!(c.workers, 1);
    assert_eq!(c.threads, 1);
    assert_eq!(c.keepalive, Duration::from_secs(5));
    assert_eq!(c.header_timeout, Duration::from_secs(10));
    assert_eq!(c.client_timeout, Duration::from_secs(30));
    assert_eq!(c.timeout, Duration::from_secs(30));
    assert_eq!(c.graceful_timeout, Duration::from_secs(30));
    assert_eq!(c.limit_request_line, 4094);
    assert_eq!(c.limit_request_fields, 100);
    assert_eq!(c.limit_request_field_size, 8190);
    assert_eq!(c.limit_request_body, 0);
    assert_eq!(c.header_map, HeaderMap::Drop);
    assert_eq!(c.backlog, 2048);
    assert_eq!(c.error_logfile, "-");
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.server_header, "ferrocorn");
    assert_eq!(c.accesslog, None);
    assert!(!c.preload_app);
    assert_eq!(c.dynamic, None);
    assert_eq!(c.umask, None);
    assert_eq!(c.proc_name, "m:app");
    assert_eq!(c.harakiri, None);
    assert_eq!(
        c.secure_scheme_headers,
        [
            ("X-FORWARDED-PROTOCOL".to_string(), "ssl".to_string()),
            ("X-FORWARDED-PROTO".into(), "https".into()),
            ("X-FORWARDED-SSL".into(), "on".into())
        ]
    );
    assert!(c
        .forwarded_allow_ips
        .allows("127.0.0.1".parse().expect("ip")));
    assert_eq!(c.x_forwarded_for_header, "X-FORWARDED-FOR");
    assert_eq!(origin_of(&c, "workers"), "default");
}

#[test]
fn gunicorn_spellings_parse() {
    let c = case(&[
        "-b",
        "0.0.0.0:9000",
        "--bind",
        "unix:/tmp/x.sock",
        "--threads",
        "4",
        "--limit-request-field_size",
        "100",
        "-w",
        "3",
        "-k",
        "gthread",
        "-t",
        "60",
        "--keep-alive",
        "7",
        "--log-file",
        "/tmp/err.log",
        "--log-level",
        "DEBUG",
        "-D",
        "-e",
        "A=1",
        "--env",
        "B=2=3",
        "-n",
        "myapp",
        "-p",
        "/tmp/x.pid",
        "-m",
        "0o22",
        "--preload",
        "--reload-extra-file",
        "a.html",
        "--reload-extra-file",
        "b.html",
        "--header-map",
        "refuse",
        "--forwarded-allow-ips",
        "10.0.0.0/8,*",
        "--proxy-protocol",
        "--access-logfile",
        "-",
        "m:app",
    ])
    .cfg();
    assert_eq!(c.binds, ["0.0.0.0:9000", "unix:/tmp/x.sock"]);
    assert_eq!(
        c.listeners[1].addr,
        ListenAddr::Unix(PathBuf::from("/tmp/x.sock"))
    );
    assert_eq!(c.threads, 4);
    assert_eq!(c.limit_request_field_size, 100);
    assert_eq!(c.workers, 3);
    assert_eq!(c.worker_class, "gthread");
    assert_eq!(c.timeout, Duration::from_secs(60));
    assert_eq!(c.keepalive, Duration::from_secs(7));
    assert_eq!(c.error_logfile, "/tmp/err.log");
    assert_eq!(c.log_level, LogLevel::Debug);
    assert!(c.daemon);
    assert_eq!(
        c.raw_env,
        [
            ("A".to_string(), "1".to_string()),
            ("B".into(), "2=3".into())
        ]
    );
    assert_eq!(c.proc_name, "myapp");
    assert_eq!(c.pidfile, Some(PathBuf::from("/tmp/x.pid")));
    assert_eq!(c.umask, Some(0o22));
    assert!(c.preload_app);
    assert_eq!(c.reload_extra_files.len(), 2);
    assert_eq!(c.header_map, HeaderMap::Refuse);
    assert!(c.forwarded_allow_ips.any);
    assert_eq!(c.proxy_protocol, ProxyProtocol::Auto);
    assert_eq!(c.accesslog.as_deref(), Some("-"));
    assert_eq!(origin_of(&c, "threads"), "command line (--threads)");
}

#[test]
fn aliases_and_repeats() {
    let c = case(&[
        "--keepalive",
        "3",
        "--limit-request-field-size",
        "10",
        "-w",
        "2",
        "-w",
        "5",
        "--pythonpath",
        "a,b",
        "--pythonpath",
        "c",
        "m",
    ])
    .cfg();
    assert_eq!(c.keepalive, Duration::from_secs(3));
    assert_eq!(c.limit_request_field_size, 10);
    assert_eq!(c.workers, 5, "the last -w wins, as in gunicorn");
    assert_eq!(c.pythonpath, [PathBuf::from("a"), "b".into(), "c".into()]);
}

#[test]
fn web_concurrency_sets_workers_only_when_nothing_else_does() {
    assert_eq!(case(&["m"]).env("WEB_CONCURRENCY", "3").cfg().workers, 3);
    let c = case(&["m"]).env("WEB_CONCURRENCY", "3").cfg();
    assert_eq!(origin_of(&c, "workers"), "$WEB_CONCURRENCY");
    assert_eq!(
        case(&["-w", "2", "m"])
            .env("WEB_CONCURRENCY", "3")
            .cfg()
            .workers,
        2
    );
    let dir = Scratch::new();
    dir.write("app.ini", "[uwsgi]\nprocesses = 4\n");
    let c = case(&["--ini", "app.ini", "m"])
        .env("WEB_CONCURRENCY", "3")
        .cwd(&dir.0)
        .cfg();
    assert_eq!(c.workers, 4, "a config file beats $WEB_CONCURRENCY");
    let e = case(&["m"]).env("WEB_CONCURRENCY", "x").err();
    assert_eq!(e.key, "WEB_CONCURRENCY");
    assert_eq!(
        e.message,
        "$WEB_CONCURRENCY: invalid value for workers: expected an integer from 1 to 65535, got \"x\""
    );
}

#[test]
fn zero_threads_is_refused_with_key() {
    let e = case(&["--threads", "0", "m"]).err();
    assert_eq!(e.key, "--threads");
    assert_eq!(
        e.message,
        "command line: invalid value for --threads: expected an integer from 1 to 65535, got \"0\""
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let e = case(&["--nope", "m"]).err();
    assert!(e.message.contains("--nope"), "{}", e.message);
    assert!(!e.message.starts_with("error:"), "{}", e.message);
}

#[test]
fn help_and_version_exit_zero() {
    let h = case(&["--help"]).exit();
    assert_eq!(h.code, 0);
    assert!(h.stdout.contains("--limit-request-field_size"));
    assert!(
        h.stdout.contains("Worker processes"),
        "sections become help headings"
    );
    let v = case(&["-v"]).exit();
    assert_eq!(v.code, 0);
    assert!(v.stdout.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn missing_app_is_an_error_only_when_serving() {
    let e = case(&[]).err();
    assert_eq!(e.key, "APP");
    assert!(
        e.message.starts_with("no application given"),
        "{}",
        e.message
    );
    assert_eq!(case(&["--check-config"]).exit().code, 0);
}

// ---- environment arguments and precedence ----------------------------------------------------------

#[test]
fn precedence_cli_over_cmd_args_over_file_over_defaults() {
    let dir = Scratch::new();
    dir.write(
        "app.ini",
        "[uwsgi]\nprocesses = 2\nthreads = 2\nmax-requests = 10\nharakiri = 5\n",
    );
    let c = case(&["--ini", "app.ini", "--threads", "8", "m"])
        .env("GUNICORN_CMD_ARGS", "--max-requests 20 -w 3 --harakiri 6")
        .env("FERROCORN_CMD_ARGS", "--harakiri 7")
        .cwd(&dir.0)
        .cfg();
    assert_eq!(c.workers, 3);
    assert_eq!(origin_of(&c, "workers"), "$GUNICORN_CMD_ARGS (--workers)");
    assert_eq!(c.threads, 8);
    assert_eq!(origin_of(&c, "threads"), "command line (--threads)");
    assert_eq!(c.max_requests, 20);
    assert_eq!(c.harakiri, Some(Duration::from_secs(7)));
    assert_eq!(
        origin_of(&c, "harakiri"),
        "$FERROCORN_CMD_ARGS (--harakiri)"
    );
    assert_eq!(c.timeout, Duration::from_secs(30));
    assert_eq!(origin_of(&c, "timeout"), "default");
}

#[test]
fn a_source_replaces_a_list_wholesale() {
    let dir = Scratch::new();
    dir.write("a.ini", "[uwsgi]\nhttp-socket = :1\nhttp-socket = :2\n");
    let c = case(&["--ini", "a.ini", "m"]).cwd(&dir.0).cfg();
    assert_eq!(c.binds, [":1", ":2"]);
    let c = case(&["--ini", "a.ini", "-b", ":3", "m"]).cwd(&dir.0).cfg();
    assert_eq!(c.binds, [":3"]);
}

#[test]
fn cmd_args_can_name_the_config_file_and_ignore_app() {
    let dir = Scratch::new();
    dir.write("a.ini", "[uwsgi]\nprocesses = 6\n");
    let (c, w) = case(&["m"])
        .env("GUNICORN_CMD_ARGS", "--ini a.ini other:app")
        .cwd(&dir.0)
        .run();
    assert_eq!(c.workers, 6);
    assert_eq!(c.app, "m");
    assert_eq!(
        w,
        ["$GUNICORN_CMD_ARGS: APP \"other:app\" ignored here (as gunicorn does); give it on the \
          command line"]
    );
}

#[test]
fn cmd_args_errors_name_the_variable() {
    let e = case(&["m"]).env("GUNICORN_CMD_ARGS", "-w 'x").err();
    assert_eq!(e.message, "$GUNICORN_CMD_ARGS: unterminated single quote");
    let e = case(&["m"]).env("FERROCORN_CMD_ARGS", "-w x").err();
    assert_eq!(
        e.message,
        "$FERROCORN_CMD_ARGS: invalid value for --workers: expected an integer from 1 to 65535, \
         got \"x\""
    );
    let e = case(&["m"]).env("FERROCORN_CMD_ARGS", "--bogus").err();
    assert!(
        e.message.starts_with("$FERROCORN_CMD_ARGS: "),
        "{}",
        e.message
    );
}

// ---- Python config files --------------------------------------------------------------------------

#[test]
fn python_file_values_hooks_and_warnings() {
    let dir = Scratch::new();
    dir.write("conf.py", "# executed by the Python side in production\n");
    let cs = case(&["-c", "conf.py", "m"]).cwd(&dir.0).py(vec![
        py("workers", RawValue::Int(4), 1),
        py("bind", RawValue::List(vec![s(":1"), s(":2")]), 2),
        py("wokers", RawValue::Int(4), 3),
        py(
            "post_fork",
            RawValue::Hook {
                repr: "<function post_fork at 0x1>".into(),
                arity: Some(2),
            },
            4,
        ),
        py(
            "secure_scheme_headers",
            RawValue::Dict(vec![("X-Scheme".into(), s("https"))]),
            5,
        ),
        py("raw_env", s("K=V"), 6),
        py("user", RawValue::Int(1000), 7),
    ]);
    let (c, w) = cs.run();
    assert_eq!(*cs.py_calls.borrow(), ["conf.py"]);
    assert_eq!(c.workers, 4);
    assert_eq!(c.binds, [":1", ":2"]);
    assert_eq!(origin_of(&c, "bind"), "conf.py:2");
    assert_eq!(c.config_file.as_deref(), Some("conf.py"));
    assert_eq!(
        c.hooks.get("post_fork").map(String::as_str),
        Some("<function post_fork at 0x1>")
    );
    assert_eq!(
        c.secure_scheme_headers,
        [("X-SCHEME".to_string(), "https".to_string())]
    );
    assert_eq!(c.raw_env, [("K".to_string(), "V".to_string())]);
    assert_eq!(c.user, Some(1000), "a uid may be a number");
    assert_eq!(
        w,
        ["conf.py:3: wokers is not a setting; ignored (did you mean workers?)"]
    );
}

#[test]
fn python_file_errors() {
    let dir = Scratch::new();
    dir.write("conf.py", "");
    let e = case(&["-c", "conf.py"])
        .cwd(&dir.0)
        .py(vec![py("workers", s("many"), 7)])
        .err();
    assert_eq!(e.key, "workers");
    assert_eq!(
        e.message,
        "conf.py:7: invalid value for workers: expected an integer from 1 to 65535, got \"many\""
    );
    let e = case(&["-c", "missing.py", "m"]).cwd(&dir.0).err();
    assert_eq!(e.message, "config file \"missing.py\" does not exist");
    // The Python side's own failure (a syntax error, an exception) is passed through as is.
    let env = |_: &str| None;
    let failing =
        |_: &str| -> Result<Vec<PyEntry>, String> { Err("conf.py:2: SyntaxError: bad".into()) };
    let e = load(Sources {
        argv: vec![
            "ferrocorn".into(),
            "-c".into(),
            "conf.py".into(),
            "m".into(),
        ],
        env: &env,
        python_file: &failing,
        cwd: dir.0.clone(),
    })
    .expect_err("python failure");
    assert_eq!(e.message, "conf.py:2: SyntaxError: bad");
    assert_eq!(e.code, EX_USAGE);
}

#[test]
fn python_module_spec_goes_to_the_python_side() {
    let cs = case(&["-c", "python:myproj.gunicorn_conf", "m"]).py(vec![py(
        "threads",
        RawValue::Int(2),
        1,
    )]);
    assert_eq!(cs.cfg().threads, 2);
    assert_eq!(*cs.py_calls.borrow(), ["python:myproj.gunicorn_conf"]);
}

#[test]
fn default_config_files_are_found_in_the_current_directory() {
    let dir = Scratch::new();
    dir.write("gunicorn.conf.py", "");
    let cs = case(&["m"])
        .cwd(&dir.0)
        .py(vec![py("threads", RawValue::Int(2), 1)]);
    assert_eq!(cs.cfg().threads, 2);
    assert_eq!(*cs.py_calls.borrow(), ["gunicorn.conf.py"]);
    dir.write("ferrocorn.conf.py", "");
    let cs = case(&["m"]).cwd(&dir.0);
    cs.cfg();
    assert_eq!(*cs.py_calls.borrow(), ["ferrocorn.conf.py"]);
    dir.write("a.ini", "[uwsgi]\n");
    let cs = case(&["--ini", "a.ini", "m"]).cwd(&dir.0);
    cs.cfg();
    assert!(
        cs.py_calls.borrow().is_empty(),
        "an ini file replaces the default"
    );
}

#[test]
fn config_and_ini_together_are_refused() {
    let e = case(&["-c", "a.py", "--ini", "b.ini", "m"]).err();
    assert_eq!(e.message, "use either -c/--config or --ini, not both");
}

// ---- uWSGI ini files ----------------------------------------------------------------------------

fn ini_case(text: &str, extra: &[&str]) -> (Scratch, Case) {
    let dir = Scratch::new();
    dir.write("app.ini", text);
    let mut argv = vec!["--ini", "app.ini"];
    argv.extend_from_slice(extra);
    let c = case(&argv).cwd(&dir.0);
    (dir, c)
}

#[test]
fn ini_keys_map_to_settings() {
    let (_d, cs) = ini_case(
        "[uwsgi]\nmodule = proj.wsgi:application\nprocesses = 4\nthreads = 2\n\
         socket = 127.0.0.1:3031\nsocket = /run/app.sock\nfastcgi-socket = @fcgi\n\
         harakiri = 60\nmax-requests = 5000\nmax-requests-delta = 50\nreload-on-rss = 512\n\
         lazy-apps = true\nvacuum = yes\nchmod-socket =\nmemory-report = on\ndisable-logging = 0\n\
         static-map = /static=/srv/static\nstatic-map = /media/=/srv/media\npidfile = /tmp/a.pid\n\
         uid = 0\ngid = 0\nbuffer-size = 32768\nlimit-post = 1000\nlogto = /tmp/u.log\n\
         listen = 128\nenv = A=1\nenv = B=2\npythonpath = lib\npythonpath = src\n\
         master = true\nenable-threads = true\nthunder-lock = true\ndie-on-term = true\n",
        &[],
    );
    let (c, w) = cs.run();
    assert_eq!(c.app_spec, AppSpec::Module("proj.wsgi:application".into()));
    assert_eq!(c.workers, 4);
    assert_eq!(c.threads, 2);
    assert!(
        c.binds.is_empty(),
        "no default HTTP bind next to uwsgi sockets"
    );
    let protos: Vec<Protocol> = c.listeners.iter().map(|l| l.protocol).collect();
    assert_eq!(
        protos,
        [Protocol::Uwsgi, Protocol::Uwsgi, Protocol::FastCgi]
    );
    assert_eq!(
        c.listeners[1].addr,
        ListenAddr::Unix("/run/app.sock".into())
    );
    assert_eq!(c.listeners[2].addr, ListenAddr::Abstract("fcgi".into()));
    assert_eq!(c.harakiri, Some(Duration::from_secs(60)));
    assert_eq!(c.max_requests, 5000);
    assert_eq!(c.max_requests_jitter, 50);
    assert_eq!(c.reload_on_rss, 512 << 20, "in bytes");
    assert!(!c.preload_app);
    assert!(c.vacuum);
    assert_eq!(c.chmod_socket, Some(0o666));
    assert!(c.memory_report);
    assert!(!c.disable_logging);
    assert_eq!(
        c.static_map,
        [
            ("/static".to_string(), PathBuf::from("/srv/static")),
            ("/media".into(), "/srv/media".into())
        ]
    );
    assert_eq!(c.pidfile, Some("/tmp/a.pid".into()));
    assert_eq!(c.user, Some(0));
    assert_eq!(c.limit_request_head, 32768);
    assert_eq!(c.limit_request_body, 1000);
    assert_eq!(c.error_logfile, "/tmp/u.log");
    assert_eq!(c.backlog, 128);
    assert_eq!(c.raw_env.len(), 2);
    assert_eq!(c.pythonpath, [PathBuf::from("lib"), "src".into()]);
    assert_eq!(origin_of(&c, "workers"), "app.ini:3");
    // Active now: the uwsgi sockets and static-map are not reported as pending.
    assert!(
        !w.iter()
            .any(|w| w.starts_with("app.ini:5:") || w.starts_with("app.ini:6:")),
        "{w:?}"
    );
    assert!(!w.iter().any(|w| w.contains("static-map")), "{w:?}");
}

#[test]
fn ini_booleans_and_last_wins() {
    let (_d, cs) = ini_case(
        "[uwsgi]\nprocesses = 2\nprocesses = 3\nreload = off\nreload = YES\n",
        &["m"],
    );
    let c = cs.cfg();
    assert_eq!(c.workers, 3);
    assert_eq!(origin_of(&c, "workers"), "app.ini:3");
    assert!(c.reload);
    let (_d, cs) = ini_case("[uwsgi]\nvacuum = maybe\n", &["m"]);
    assert_eq!(
        cs.err().message,
        "app.ini:2: invalid value for vacuum: expected true or false (also yes/no, on/off, \
         1/0), got \"maybe\""
    );
}

#[test]
fn ini_references_placeholders_magic_and_env() {
    let dir = Scratch::new();
    let sub = dir.0.join("proj");
    std::fs::create_dir_all(&sub).expect("mkdir");
    std::fs::write(
        sub.join("site.ini"),
        "[uwsgi]\nbase = /srv/%n\nchdir = %(base)/app\nprocname = %s|%c|%e\npidfile = %dpid\n\
         wsgi-file = %p.py\nenv = HOME_DIR=$(HOME_DIR)\nenv = EMPTY=$(UNSET_VAR)\n\
         threads = %(processes)\nprocesses = 2\n",
    )
    .expect("write");
    let e = case(&["--ini", "proj/site.ini"]).cwd(&dir.0).err();
    assert_eq!(
        e.message,
        "proj/site.ini:9: %(processes) refers to no option set above this line in the section"
    );
    let text = std::fs::read_to_string(sub.join("site.ini")).expect("read");
    std::fs::write(
        sub.join("site.ini"),
        text.replace(
            "threads = %(processes)\nprocesses = 2\n",
            "processes = 2\nthreads = %(processes)\n",
        ),
    )
    .expect("write");
    let (c, w) = case(&["--ini", "proj/site.ini"])
        .env("HOME_DIR", "/home/x")
        .cwd(&dir.0)
        .run();
    let abs = std::fs::canonicalize(sub.join("site.ini")).expect("canonical");
    let absdir = abs.parent().expect("parent").display().to_string();
    assert_eq!(c.chdir, Some(PathBuf::from("/srv/site/app")));
    assert_eq!(c.proc_name, "site.ini|proj|ini");
    assert_eq!(c.pidfile, Some(PathBuf::from(format!("{absdir}/pid"))));
    assert_eq!(
        c.app_spec,
        AppSpec::File {
            path: PathBuf::from(format!("{}.py", abs.display())),
            callable: "application".into()
        }
    );
    assert_eq!(
        c.raw_env,
        [
            ("HOME_DIR".to_string(), "/home/x".to_string()),
            ("EMPTY".into(), String::new())
        ]
    );
    assert_eq!(c.threads, 2);
    assert!(
        w.contains(
            &"proj/site.ini:8: environment variable UNSET_VAR is not set; $(UNSET_VAR) is empty"
                .to_string()
        ),
        "{w:?}"
    );
}

#[test]
fn ini_module_callable_and_wsgi_file() {
    let (_d, cs) = ini_case("[uwsgi]\nmodule = proj.wsgi\ncallable = app\n", &[]);
    assert_eq!(cs.cfg().app, "proj.wsgi:app");
    let (_d, cs) = ini_case("[uwsgi]\nwsgi-file = site/wsgi.py\ncallable = app\n", &[]);
    let c = cs.cfg();
    assert_eq!(
        c.app_spec,
        AppSpec::File {
            path: "site/wsgi.py".into(),
            callable: "app".into()
        }
    );
    assert_eq!(c.app, "site/wsgi.py:app");
    // The command line's APP beats the file's wsgi-file.
    let (_d, cs) = ini_case("[uwsgi]\nwsgi-file = site/wsgi.py\n", &["cli:app"]);
    assert_eq!(cs.cfg().app_spec, AppSpec::Module("cli:app".into()));
    let (_d, cs) = ini_case("[uwsgi]\nwsgi-file = a.py\nmodule = b\n", &[]);
    assert!(cs.err().message.starts_with("both an app module"));
}

#[test]
fn ini_mount_daemonize_cheaper_and_autoreload() {
    let (_d, cs) = ini_case(
        "[uwsgi]\nmount = /app=proj.wsgi:application\nmanage-script-name = true\n\
         daemonize = /tmp/d.log\nprocesses = 8\ncheaper = 2\ncheaper-initial = 3\n\
         cheaper-step = 1\npy-autoreload = 2\n",
        &[],
    );
    let (c, w) = cs.run();
    assert_eq!(c.script_name.as_deref(), Some("/app"));
    assert_eq!(c.app, "proj.wsgi:application");
    assert!(c.daemon);
    assert_eq!(c.error_logfile, "/tmp/d.log");
    assert_eq!(c.workers, 3);
    assert_eq!(c.dynamic, Some((2, 8, 1, 3)));
    assert!(c.reload);
    assert!(
        w.iter()
            .any(|w| w.starts_with("app.ini:8: cheaper-step has no effect in ferrocorn")),
        "{w:?}"
    );
    let (_d, cs) = ini_case("[uwsgi]\nmount = /a=x\nmount = /b=y\n", &[]);
    assert_eq!(
        cs.err().message,
        "app.ini:3: a second mount: ferrocorn serves one app per server"
    );
}

#[test]
fn ini_home_is_recorded_with_a_warning() {
    let (_d, cs) = ini_case("[uwsgi]\nhome = /srv/venv\n", &["m"]);
    let (c, w) = cs.run();
    assert_eq!(c.virtualenv, Some(PathBuf::from("/srv/venv")));
    assert_eq!(
        w,
        [
            "app.ini:2: home has no effect: ferrocorn runs in the Python it was started with: \
          start the virtualenv's bin/ferrocorn instead"
        ]
    );
}

#[test]
fn ini_inline_comments_are_stripped_with_a_warning() {
    let (_d, cs) = ini_case(
        "[uwsgi]\nprocesses = 4 # 设置工作进程数量\nthreads = 2 ; two\n",
        &["m"],
    );
    let (c, w) = cs.run();
    assert_eq!(c.workers, 4);
    assert_eq!(c.threads, 2);
    assert_eq!(w.len(), 2);
    assert!(
        w[0].starts_with("app.ini:2: processes: inline comment ignored (uWSGI has none"),
        "{}",
        w[0]
    );
}

#[test]
fn ini_sections() {
    let text = "; comment\n# comment\n[other]\nprocesses = x\n[uwsgi]\nprocesses = 2\n[prod]\nprocesses = 9\n";
    let (_d, cs) = ini_case(text, &["m"]);
    assert_eq!(cs.cfg().workers, 2, "other sections are not read");
    let dir = Scratch::new();
    dir.write("app.ini", text);
    assert_eq!(
        case(&["--ini", "app.ini:prod", "m"])
            .cwd(&dir.0)
            .cfg()
            .workers,
        9
    );
    let e = case(&["--ini", "app.ini:staging", "m"]).cwd(&dir.0).err();
    assert_eq!(e.message, "app.ini: no [staging] section");
    let (_d, cs) = ini_case("\u{feff}[uwsgi]\nthreads = 3\n", &["m"]);
    assert_eq!(cs.cfg().threads, 3, "a UTF-8 BOM is skipped");
}

#[test]
fn ini_syntax_errors_name_the_line() {
    let (_d, cs) = ini_case("[uwsgi]\nprocesses 4\n", &["m"]);
    assert_eq!(
        cs.err().message,
        "app.ini:2: expected KEY = VALUE, got \"processes 4\""
    );
    let (_d, cs) = ini_case("[uwsgi\n", &["m"]);
    assert_eq!(
        cs.err().message,
        "app.ini:1: expected [section], got \"[uwsgi\""
    );
    let (_d, cs) = ini_case("[uwsgi]\nchdir = $(HOME\n", &["m"]);
    assert_eq!(cs.err().message, "app.ini:2: unclosed $( in \"$(HOME\"");
}

#[test]
fn ini_unknown_keys_suggest_and_placeholders_pass() {
    let (_d, cs) = ini_case("[uwsgi]\nproceses = 4\n", &["m"]);
    let e = cs.err();
    assert_eq!(e.key, "proceses");
    assert_eq!(
        e.message,
        "app.ini:2: unknown option \"proceses\" (did you mean \"processes\"?); docs/settings.md \
         lists the uWSGI keys ferrocorn reads"
    );
    let (_d, cs) = ini_case("[uwsgi]\nroute-run = x\n", &["m"]);
    assert!(cs
        .err()
        .message
        .starts_with("app.ini:2: unknown option \"route-run\"; "));
    let (_d, cs) = ini_case("[uwsgi]\nproject = /srv/p\nchdir = %(project)\n", &["m"]);
    assert_eq!(cs.cfg().chdir, Some(PathBuf::from("/srv/p")));
}

#[test]
fn ini_bad_values_name_key_file_line_and_expectation() {
    let (_d, cs) = ini_case("[uwsgi]\n\nprocesses = four\n", &["m"]);
    let e = cs.err();
    assert_eq!(e.key, "processes");
    assert_eq!(
        e.origin,
        Some(Origin::File {
            path: "app.ini".into(),
            line: Some(3)
        })
    );
    assert_eq!(
        e.message,
        "app.ini:3: invalid value for processes: expected an integer from 1 to 65535, got \"four\""
    );
    let (_d, cs) = ini_case("[uwsgi]\nsocket = 1.2.3.4:http\n", &["m"]);
    assert_eq!(
        cs.err().message,
        "app.ini:2: invalid value for socket: \"http\" is not a port number (0-65535) in \
         \"1.2.3.4:http\""
    );
    let (_d, cs) = ini_case("[uwsgi]\nchmod-socket = 999\n", &["m"]);
    assert!(cs.err().message.contains("expected an octal file mode"));
}

#[test]
fn ini_file_errors() {
    let dir = Scratch::new();
    let e = case(&["--ini", "nope.ini", "m"]).cwd(&dir.0).err();
    assert_eq!(e.message, "ini file \"nope.ini\" does not exist");
    dir.write("x.ini", "[uwsgi]\nthreads = 3\n");
    assert_eq!(
        case(&["-c", "x.ini", "m"]).cwd(&dir.0).cfg().threads,
        3,
        "-c with an .ini file reads it as ini"
    );
    dir.write("s.ini", "[prod]\nthreads = 5\n");
    assert_eq!(
        case(&["-c", "s.ini:prod", "m"]).cwd(&dir.0).cfg().threads,
        5
    );
    dir.write("y.ini", "[uwsgi]\nini = other.ini\ncheck-config = true\n");
    let (_, w) = case(&["--ini", "y.ini", "m"]).cwd(&dir.0).run();
    assert_eq!(
        w,
        [
            "y.ini:2: ini only works on the command line; ignored here",
            "y.ini:3: check-config only works on the command line; ignored here"
        ]
    );
}

#[test]
fn ini_http_socket_keeps_uwsgi_forms() {
    let (_d, cs) = ini_case("[uwsgi]\nhttp-socket = app.sock\nhttp = :9090\n", &["m"]);
    let c = cs.cfg();
    assert_eq!(c.binds, ["unix:app.sock", ":9090"]);
}

// ---- cross-setting rules --------------------------------------------------------------------------

#[test]
fn preload_and_lazy_apps() {
    assert!(case(&["--preload", "m"]).cfg().preload_app);
    let (_d, cs) = ini_case("[uwsgi]\nlazy-apps = false\n", &["m"]);
    assert!(
        cs.cfg().preload_app,
        "uWSGI's lazy-apps = false means preload"
    );
    let (_d, cs) = ini_case("[uwsgi]\nlazy-apps = true\n", &["--preload", "m"]);
    assert!(cs.cfg().preload_app, "the command line wins");
    let (_d, cs) = ini_case("[uwsgi]\npreload = true\nlazy-apps = true\n", &["m"]);
    let (c, w) = cs.run();
    assert!(c.preload_app);
    assert!(w[0].contains("disagree"), "{w:?}");
}

#[test]
fn dynamic_workers_are_checked() {
    let c = case(&["-w", "2", "--workers-max", "6", "m"]).cfg();
    assert_eq!((c.workers, c.dynamic), (2, Some((2, 6, 1, 3))));
    let e = case(&["-w", "2", "--workers-min", "3", "m"]).err();
    assert_eq!(
        e.message,
        "--workers-min (command line) is above the starting workers, --workers (command line)"
    );
    let e = case(&["--min-spare", "5", "--max-spare", "2", "m"]).err();
    assert!(e.message.contains("is above"), "{}", e.message);
    let e = case(&["-w", "4", "--workers-max", "2", "m"]).err();
    assert!(e.message.contains("is below"), "{}", e.message);
}

#[test]
fn worker_classes() {
    assert_eq!(
        case(&["-k", "gunicorn.workers.sync.SyncWorker", "m"])
            .cfg()
            .worker_class,
        "sync"
    );
    let (_, w) = case(&["-k", "gevent", "m"]).run();
    assert_eq!(
        w,
        [
            "command line: worker class \"gevent\" ignored: ferrocorn runs its own threaded \
          workers (sized by threads)"
        ]
    );
}

#[test]
fn disable_logging_turns_the_access_log_off() {
    let c = case(&["--access-logfile", "-", "--disable-logging", "m"]).cfg();
    assert_eq!(c.accesslog, None);
}

#[test]
fn empty_bind_list_is_refused() {
    let dir = Scratch::new();
    dir.write("c.py", "");
    let e = case(&["-c", "c.py", "m"])
        .cwd(&dir.0)
        .py(vec![py("bind", RawValue::List(vec![]), 1)])
        .err();
    assert_eq!(e.message, "no address to listen on: bind (c.py:1) is empty");
}

// ---- check and print ------------------------------------------------------------------------------

#[test]
fn check_config_reports_environment_problems() {
    let (_d, cs) = ini_case(
        "[uwsgi]\nchdir = /nonexistent/project\nchown-socket = no-such-user-x:no-such-group-x\n\
         uid = no-such-user-y\n",
        &["--check-config"],
    );
    let exit = cs.exit();
    assert_eq!(exit.code, 1);
    let errors: Vec<&String> = exit
        .stderr
        .iter()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(
        errors,
        [
            "error: app.ini:2: chdir: directory \"/nonexistent/project\" does not exist",
            "error: app.ini:4: uid: user \"no-such-user-y\" does not exist",
            "error: app.ini:3: chown-socket: user \"no-such-user-x\" does not exist",
            "error: app.ini:3: chown-socket: group \"no-such-group-x\" does not exist",
        ]
    );
    let ok = case(&["--check-config", "m"]).exit();
    assert_eq!((ok.code, ok.stdout.as_str()), (0, ""));
    let e = case(&["--check-config", "-w", "0"]).err();
    assert_eq!(e.code, EX_USAGE);
}

#[test]
fn environment_problems_check_relative_paths_against_chdir() {
    let dir = Scratch::new();
    std::fs::create_dir_all(dir.0.join("static")).expect("mkdir");
    let chdir = dir.0.display().to_string();
    let cs = case(&[
        "--chdir",
        &chdir,
        "--static",
        "/s=static",
        "--static",
        "/m=media",
        "--pid",
        "run/x.pid",
        "--wsgi-file",
        "app.py",
    ]);
    let want = [
        "command line: --wsgi-file: file \"app.py\" does not exist".to_string(),
        "command line: --static: directory \"media\" for /m does not exist".into(),
        format!("command line: --pid: directory \"{chdir}/run\" for \"run/x.pid\" does not exist"),
    ];
    assert_eq!(cs.cfg().environment_problems(), want);
    let e = cs.load_checked().expect_err("problems stop a run");
    assert_eq!(e.code, EXIT_ENVIRONMENT);
    assert_eq!(e.message, want.join("\n"));
    let e = case(&["-u", "no-such-user-z", "m"])
        .load_checked()
        .expect_err("an unknown user stops a run");
    assert_eq!(
        e.message,
        "command line: --user: user \"no-such-user-z\" does not exist"
    );
    assert!(matches!(
        case(&["-u", "0", "-g", "0", "m"]).load_checked(),
        Ok(Loaded::Run(..))
    ));
}

#[test]
fn print_config_lists_every_setting_with_its_origin() {
    let (_d, cs) = ini_case(
        "[uwsgi]\nprocesses = 4\n",
        &["--print-config", "-t", "9", "m"],
    );
    let exit = cs.exit();
    assert_eq!(exit.code, 0);
    let line = |name: &str| {
        exit.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert_eq!(line("workers"), "workers = 4 # app.ini:2");
    assert_eq!(line("timeout"), "timeout = 9 # command line (--timeout)");
    assert_eq!(line("threads"), "threads = 1 # default");
    assert_eq!(line("wsgi_app"), "wsgi_app = 'm' # command line (APP)");
    assert_eq!(
        line("print_config"),
        "",
        "command-line-only settings are not listed"
    );
    for st in table::SETTINGS
        .iter()
        .filter(|s| s.scope == table::Scope::Anywhere)
    {
        assert!(!line(st.name).is_empty(), "{} missing", st.name);
    }
}

#[test]
fn print_config_gunicorn_lists_non_defaults() {
    let out = case(&[
        "--print-config=gunicorn",
        "-w",
        "3",
        "--static",
        "/s=/srv",
        "m:app",
    ])
    .exit()
    .stdout;
    let body: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(
        body,
        [
            "wsgi_app = 'm:app'  # command line (APP)",
            "workers = 3  # command line (--workers)",
            "static_map = ['/s=/srv']  # command line (--static)",
        ]
    );
    assert!(out.starts_with("# ferrocorn settings in gunicorn's config-file format"));
}

#[test]
fn print_config_ini_round_trips() {
    let (d, cs) = ini_case(
        "[uwsgi]\nmodule = proj.wsgi:app\nprocesses = 4\nsocket = /run/a.sock\nsocket = @abs\n\
         http-socket = :8080\nchmod-socket = 660\nharakiri = 2.5\nenv = A=1\nenv = B=2\n\
         lazy-apps = false\numask = 022\nheader-timeout = 3\n\
         access-logformat = %(h)s %(r)s\ncheaper = 2\n",
        &["--print-config=ini"],
    );
    let first = cs.exit().stdout;
    assert!(
        first.contains("\nsocket = /run/a.sock\nsocket = @abs\n"),
        "{first}"
    );
    assert!(first.contains("\nhttp-socket = :8080\n"), "{first}");
    d.write("printed.ini", &first);
    let a = ini_case_cfg(&d, "app.ini");
    let b = ini_case_cfg(&d, "printed.ini");
    let shown = |e: &&Effective| e.setting.scope == table::Scope::Anywhere;
    for (x, y) in a
        .effective
        .iter()
        .filter(shown)
        .zip(b.effective.iter().filter(shown))
    {
        assert_eq!(
            x.value, y.value,
            "{} differs after a round trip",
            x.setting.name
        );
    }
}

fn ini_case_cfg(d: &Scratch, file: &str) -> Config {
    case(&["--ini", file]).cwd(&d.0).cfg()
}

#[test]
fn pending_and_noop_settings_say_so_when_set() {
    let (_, w) = case(&[
        "--worker-connections",
        "5",
        "--fastcgi-socket",
        "127.0.0.1:9000",
        "--static",
        "/s=/tmp",
        "m",
    ])
    .run();
    assert_eq!(
        w,
        [
            "command line: --worker-connections has no effect: only gunicorn's async (gevent, \
          eventlet) workers use it"
        ],
        "--fastcgi-socket and --static are active: no warning"
    );
    let (_, w) = case(&["--worker-connections", "1000", "m"]).run();
    assert!(
        w.is_empty(),
        "a value equal to the default is not worth a warning: {w:?}"
    );
}

#[test]
fn parse_args_still_works_for_existing_callers() {
    let c = parse_args(["f", "-b", "0.0.0.0:9000", "m:app"], Some("2")).expect("valid");
    assert_eq!((c.binds[0].as_str(), c.workers), ("0.0.0.0:9000", 2));
    match parse_args(["f", "--threads", "0", "m"], None) {
        Err(ParseOutcome::Invalid(e)) => assert_eq!(e.key, "--threads"),
        other => panic!("expected invalid, got {other:?}"),
    }
    match parse_args(["f", "--help"], None) {
        Err(ParseOutcome::Clap(e)) => assert!(!e.use_stderr()),
        other => panic!("expected help, got {other:?}"),
    }
}
