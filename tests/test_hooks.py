"""Server hooks from a gunicorn-style Python config file (``-c conf.py``): real processes, real signals.

Every hook of the config file written by :func:`hook_config` appends one JSON line to the file named
by ``$HOOKLOG`` (in the server's real environment: the config file runs before ``raw_env`` is
applied) with the process it ran in (``pid``, ``ppid``), whether the app module was imported yet, and
the attributes of the objects it was given.  A single append-only file written with one ``write``
per line keeps the order in which the hooks ran, across the master and the workers.

``HOOK_RAISE=name,name`` (or ``all``) makes those hooks raise after recording themselves.

The objects are ferrocorn's stand-ins for gunicorn's ``Arbiter``/``Worker``/``Request``/``Response``
(see docs/hooks.md and python/ferrocorn/_hooks.py).  Tests not marked ``ferrocorn_only`` also pass
against gunicorn (``FERROCORN_TEST_SERVER=gunicorn``), which checks the tests themselves.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from proctools import (  # noqa: E402
    BackgroundRequest,
    FileLoggedServer,
    http_get,
    master_pid,
    run_to_exit,
    wait_for,
    wait_pids_gone,
    wait_workers,
    workers,
)

ferrocorn_only = pytest.mark.ferrocorn_only
APP = "hook_apps:app"
SERVER_KIND = os.environ.get("FERROCORN_TEST_SERVER", "ferrocorn")


def ferrocorn_bug(reason: str):
    """A known ferrocorn bug: the test shows gunicorn's behaviour (it passes against gunicorn)."""
    return pytest.mark.xfail(SERVER_KIND == "ferrocorn", strict=True, reason="BUG: " + reason)

ALL_HOOKS = (
    "on_starting", "when_ready", "pre_fork", "post_fork", "post_worker_init", "worker_exit",
    "child_exit", "nworkers_changed", "on_reload", "on_exit", "pre_request", "post_request",
    "worker_int",
)

HOOK_CONFIG = '''
import json
import os
import socket
import sys

_LOG = os.environ["HOOKLOG"]
_RAISE = set(filter(None, os.environ.get("HOOK_RAISE", "").split(",")))
_SERVER = ("pid", "proc_name", "num_workers", "log")
_WORKER = ("pid", "ppid", "age", "alive", "log")
_REQ = ("method", "uri", "path", "query", "version", "headers")
_RESP = ("status", "status_code", "sent")


def _attrs(obj, names):
    out = {}
    for n in names:
        v = getattr(obj, n, "<missing>")
        if n == "log":
            v = all(hasattr(v, m) for m in ("debug", "info", "warning", "error", "exception"))
        out[n] = v
    return out


def _bound():
    port = int(os.environ.get("HOOKPORT", "0"))
    if not port:
        return None
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def _emit(name, **fields):
    rec = {"hook": name, "pid": os.getpid(), "ppid": os.getppid(),
           "app_loaded": "hook_apps" in sys.modules, "t": __import__("time").time()}
    rec.update(fields)
    line = (json.dumps(rec, default=repr) + "\\n").encode()
    fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    if name in _RAISE or "all" in _RAISE:
        raise RuntimeError("hook-failure-" + name)


def on_starting(server):
    _emit("on_starting", server=_attrs(server, _SERVER), bound=_bound())


def when_ready(server):
    _emit("when_ready", server=_attrs(server, _SERVER), bound=_bound())


def pre_fork(server, worker):
    _emit("pre_fork", server=_attrs(server, _SERVER), worker=_attrs(worker, _WORKER))


def post_fork(server, worker):
    _emit("post_fork", server=_attrs(server, _SERVER), worker=_attrs(worker, _WORKER))


def post_worker_init(worker):
    _emit("post_worker_init", worker=_attrs(worker, _WORKER))


def worker_exit(server, worker):
    _emit("worker_exit", server=_attrs(server, _SERVER), worker=_attrs(worker, _WORKER))


def child_exit(server, worker):
    _emit("child_exit", server=_attrs(server, _SERVER), worker=_attrs(worker, _WORKER))


def nworkers_changed(server, new_value, old_value):
    _emit("nworkers_changed", server=_attrs(server, _SERVER), new=new_value, old=old_value)


def on_reload(server):
    _emit("on_reload", server=_attrs(server, _SERVER))


def on_exit(server):
    _emit("on_exit", server=_attrs(server, _SERVER))


def pre_request(worker, req):
    _emit("pre_request", worker=_attrs(worker, _WORKER), req=_attrs(req, _REQ))


def post_request(worker, req, environ, resp):
    _emit("post_request", worker=_attrs(worker, _WORKER), req=_attrs(req, _REQ),
          resp=_attrs(resp, _RESP),
          environ={k: environ.get(k) for k in ("REQUEST_METHOD", "PATH_INFO", "myapp.seen")})


def worker_int(worker):
    _emit("worker_int", worker=_attrs(worker, _WORKER))
'''


# -- helpers --------------------------------------------------------------------------------------

def hook_config(tmp_path: Path, extra: str = "") -> Path:
    conf = tmp_path / "hooks_conf.py"
    conf.write_text(HOOK_CONFIG + textwrap.dedent(extra), encoding="utf-8")
    return conf


def records(path: Path) -> list[dict]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def of(recs, hook, **match) -> list[dict]:
    """Records of ``hook`` whose top-level fields equal ``match``.

    gunicorn also calls nworkers_changed once while it sets itself up (``old_value`` None, before
    on_starting); ferrocorn does not (docs/hooks.md).  That call is left out here, so the same tests
    describe both servers."""
    return [r for r in recs if r["hook"] == hook and all(r.get(k) == v for k, v in match.items())
            and not (hook == "nworkers_changed" and r.get("old") is None)]


def wait_record(path: Path, hook: str, n: int = 1, timeout: float = 10.0, **match) -> list[dict]:
    """Wait until at least ``n`` records of ``hook`` (matching ``match``) are in the log; return them."""
    try:
        return wait_for(lambda: (lambda got: got if len(got) >= n else None)(of(records(path), hook, **match)),
                        timeout, message=f"{n} {hook} record(s) {match or ''}")
    except AssertionError as e:
        raise AssertionError(f"{e}\nhook log:\n" + "\n".join(json.dumps(r) for r in records(path))) from None


def index_of(recs, rec) -> int:
    return recs.index(rec)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_hooked(start_server, tmp_path, *args, env=None, bind="127.0.0.1:0", extra_conf=""):
    hooklog = tmp_path / "hooks.jsonl"
    conf = hook_config(tmp_path, extra_conf)
    full_env = {"HOOKLOG": str(hooklog)}
    full_env.update(env or {})
    srv = start_server("-c", str(conf), *args, APP, cwd=tmp_path, env=full_env, bind=bind)
    return srv, hooklog


def booted_workers(hooklog: Path, master: int, n: int, exclude=()) -> list[int]:
    """The pids of ``n`` workers that have run post_worker_init (so their app is loaded)."""
    wait_workers(master, n, exclude=exclude)
    recs = wait_record(hooklog, "post_worker_init", n=n + len(exclude))
    live = set(workers(master))
    return sorted({r["pid"] for r in recs} & live - set(exclude))


# -- start-up -------------------------------------------------------------------------------------

def test_start_up_hooks_run_in_order_in_the_right_processes(start_server, tmp_path):
    port = free_port()
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "2", "-n", "hooked",
                                env={"HOOKPORT": str(port)}, bind=f"127.0.0.1:{port}")
    master = master_pid(srv)
    pids = booted_workers(hooklog, master, 2)
    recs = records(hooklog)

    (starting,) = of(recs, "on_starting")
    (ready,) = of(recs, "when_ready")
    pre_forks = of(recs, "pre_fork")
    assert len(pre_forks) == 2, recs

    # Master hooks run in the master, with the master as server.pid.
    for r in [starting, ready, *pre_forks]:
        assert r["pid"] == master, r
        assert r["server"]["pid"] == master, r
        assert r["server"]["proc_name"] == "hooked", r
        assert r["server"]["num_workers"] == 2, r
        assert r["server"]["log"] is True, "server.log must be a logger"
        assert r["app_loaded"] is False, "the master must not import the app without --preload"
    # on_starting runs before the sockets are bound, when_ready once they listen.
    assert starting["bound"] is False, "on_starting must run before the listening socket exists"
    assert ready["bound"] is True, "when_ready must run once the listening socket accepts connections"
    assert index_of(recs, starting) < index_of(recs, ready) < min(index_of(recs, r) for r in pre_forks)

    # pre_fork: in the master, before the worker exists.
    for r in pre_forks:
        assert r["worker"]["pid"] in (None, "[booting]"), r
        assert r["worker"]["ppid"] == master, r
        assert r["worker"]["log"] is True

    for w in pids:
        (pf,) = of(recs, "post_fork", pid=w)
        (pwi,) = of(recs, "post_worker_init", pid=w)
        assert pf["ppid"] == master and pwi["ppid"] == master
        assert pf["server"]["pid"] == master, "post_fork's server is the master"
        assert pf["worker"]["pid"] == w and pf["worker"]["ppid"] == master, pf
        assert pwi["worker"]["pid"] == w and pwi["worker"]["ppid"] == master, pwi
        assert pf["worker"]["alive"] is True and pwi["worker"]["alive"] is True
        assert pf["worker"]["log"] is True and pwi["worker"]["log"] is True
        # post_fork runs right after fork (app not imported yet), post_worker_init once it is.
        assert pf["app_loaded"] is False, "post_fork must run before the worker imports the app"
        assert pwi["app_loaded"] is True, "post_worker_init must run after the worker imported the app"
        assert index_of(recs, ready) < index_of(recs, pf) < index_of(recs, pwi)

    # Nothing that belongs to later moments has run.
    for hook in ("worker_exit", "child_exit", "nworkers_changed", "on_reload", "on_exit",
                 "pre_request", "post_request", "worker_int"):
        assert not of(recs, hook), f"{hook} ran during start-up: {of(recs, hook)}"


def test_worker_age_is_the_same_in_every_hook_of_one_worker(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "2")
    master = master_pid(srv)
    pids = booted_workers(hooklog, master, 2)
    srv.stop()
    recs = records(hooklog)
    pre_ages = sorted(r["worker"]["age"] for r in of(recs, "pre_fork"))
    post_ages = sorted(of(recs, "post_fork", pid=w)[0]["worker"]["age"] for w in pids)
    assert len(set(pre_ages)) == 2, f"the two workers need distinct ages: {pre_ages}"
    assert post_ages == pre_ages, f"pre_fork announced ages {pre_ages}, post_fork saw {post_ages}"
    for w in pids:
        ages = {of(recs, h, pid=w)[0]["worker"]["age"] for h in ("post_fork", "post_worker_init", "worker_exit")}
        ages.update(r["worker"]["age"] for r in of(recs, "child_exit") if r["worker"]["pid"] == w)
        assert len(ages) == 1, f"worker {w} had ages {ages} in its hooks"


# -- requests -------------------------------------------------------------------------------------

def test_pre_and_post_request_run_in_the_serving_worker_with_the_request(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "1")
    master = master_pid(srv)
    (w,) = booted_workers(hooklog, master, 1)

    with srv.connect() as s:
        s.sendall(b"GET /pid?x=1&y=%20z HTTP/1.1\r\nHost: h\r\nX-Test-Header: tv\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["pid"] == w

    (post,) = wait_record(hooklog, "post_request")
    recs = records(hooklog)
    (pre,) = of(recs, "pre_request")
    assert index_of(recs, pre) < index_of(recs, post)
    for r in (pre, post):
        assert r["pid"] == w and r["ppid"] == master, r
        assert r["worker"]["pid"] == w and r["worker"]["ppid"] == master and r["worker"]["alive"] is True
        req = r["req"]
        assert req["method"] == "GET"
        assert req["uri"] == "/pid?x=1&y=%20z"
        assert req["path"] == "/pid"
        assert req["query"] == "x=1&y=%20z"
        assert list(req["version"]) == [1, 1]
        headers = [tuple(h) for h in req["headers"]]
        assert ("X-TEST-HEADER", "tv") in headers, headers
        assert ("HOST", "h") in headers, headers
    # The app has run by post_request: it set a key in the very environ post_request gets.
    assert post["environ"] == {"REQUEST_METHOD": "GET", "PATH_INFO": "/pid", "myapp.seen": "yes"}
    assert post["resp"]["status"] == "200 OK"
    assert post["resp"]["status_code"] == 200
    assert post["resp"]["sent"] == len(body)


def test_post_request_sees_the_status_of_error_responses(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path)
    assert http_get(srv.host, srv.port, "/status?code=404")[0] == 404
    (post,) = wait_record(hooklog, "post_request")
    assert post["resp"]["status_code"] == 404 and post["resp"]["status"] == "404 Not Found"
    assert post["resp"]["sent"] == len(b"status 404\n")


@ferrocorn_only  # gunicorn hands post_request a Response whose status was never set (None)
def test_post_request_sees_the_500_of_a_failing_app(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path)
    assert http_get(srv.host, srv.port, "/boom")[0] == 500
    (post,) = wait_record(hooklog, "post_request")
    assert post["resp"]["status_code"] == 500
    assert post["resp"]["status"] == "500 Internal Server Error"
    assert post["req"]["path"] == "/boom"


# -- stopping -------------------------------------------------------------------------------------

def test_graceful_stop_runs_worker_exit_child_exit_then_on_exit(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "2")
    master = master_pid(srv)
    pids = booted_workers(hooklog, master, 2)
    assert srv.stop(signal.SIGTERM) == 0
    recs = records(hooklog)

    for w in pids:
        (we,) = of(recs, "worker_exit", pid=w)
        assert we["ppid"] == master
        assert we["worker"]["pid"] == w and we["server"]["pid"] == master, we
        ce = [r for r in of(recs, "child_exit") if r["worker"]["pid"] == w]
        assert len(ce) == 1, f"child_exit for worker {w}: {ce}"
        assert ce[0]["pid"] == master and ce[0]["server"]["pid"] == master
        assert index_of(recs, we) < index_of(recs, ce[0]), "child_exit must follow the worker's own exit"
    (on_exit,) = of(recs, "on_exit")
    assert on_exit["pid"] == master and on_exit["server"]["pid"] == master
    assert recs[-1] is on_exit, "on_exit must be the last hook: " + json.dumps(recs[-3:])
    assert not of(recs, "worker_int"), "a graceful stop is not an interrupt"


# -- TTIN / TTOU ----------------------------------------------------------------------------------

def test_nworkers_changed_on_ttin_and_ttou_in_the_master(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "1")
    master = master_pid(srv)
    (first,) = booted_workers(hooklog, master, 1)

    os.kill(master, signal.SIGTTIN)
    (up,) = wait_record(hooklog, "nworkers_changed")
    assert (up["new"], up["old"]) == (2, 1)
    assert up["pid"] == master and up["server"]["pid"] == master
    booted_workers(hooklog, master, 2)

    os.kill(master, signal.SIGTTOU)
    down = wait_record(hooklog, "nworkers_changed", n=2)[1]
    assert (down["new"], down["old"]) == (1, 2)
    assert down["pid"] == master
    wait_workers(master, 1)

    # TTOU at one worker changes nothing, so the hook is not called.
    os.kill(master, signal.SIGTTOU)
    time.sleep(1.0)
    assert len(of(records(hooklog), "nworkers_changed")) == 2, records(hooklog)


def test_nworkers_changed_sees_the_new_count_on_server(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "1")
    master = master_pid(srv)
    booted_workers(hooklog, master, 1)
    os.kill(master, signal.SIGTTIN)
    (up,) = wait_record(hooklog, "nworkers_changed")
    assert up["server"]["num_workers"] == up["new"] == 2


# -- HUP ------------------------------------------------------------------------------------------

def test_on_reload_runs_in_the_master_before_the_new_workers_fork(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "2")
    master = master_pid(srv)
    old = booted_workers(hooklog, master, 2)
    n_pre_fork = len(of(records(hooklog), "pre_fork"))

    os.kill(master, signal.SIGHUP)
    (reload_rec,) = wait_record(hooklog, "on_reload")
    new = booted_workers(hooklog, master, 2, exclude=old)
    wait_pids_gone(old, timeout=10)
    for w in old:
        wait_for(lambda: [r for r in of(records(hooklog), "child_exit") if r["worker"]["pid"] == w], 5,
                 message=f"child_exit for old worker {w}")
    recs = records(hooklog)
    assert reload_rec["pid"] == master and reload_rec["server"]["pid"] == master
    at = index_of(recs, of(recs, "on_reload")[0])
    new_pre_forks = of(recs, "pre_fork")[n_pre_fork:]
    assert len(new_pre_forks) >= 2
    assert all(index_of(recs, r) > at for r in new_pre_forks), "on_reload must run before the new forks"
    for w in new:
        assert index_of(recs, of(recs, "post_fork", pid=w)[0]) > at
    for w in old:
        assert of(recs, "worker_exit", pid=w), f"old worker {w} did not run worker_exit"
    assert srv.alive() and master_pid(srv) == master


# -- INT / QUIT to workers ------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["INT", "QUIT"])
def test_worker_int_runs_in_a_worker_that_gets_int_or_quit(start_server, tmp_path, sig):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "2")
    master = master_pid(srv)
    a, b = booted_workers(hooklog, master, 2)

    os.kill(a, sig)
    (wi,) = wait_record(hooklog, "worker_int")
    assert wi["pid"] == a and wi["ppid"] == master
    assert wi["worker"]["pid"] == a and wi["worker"]["ppid"] == master
    wait_pids_gone([a], timeout=10)
    replacement = booted_workers(hooklog, master, 2, exclude=[a])
    assert b in replacement, "only the signalled worker may go"
    ce = wait_for(lambda: [r for r in of(records(hooklog), "child_exit") if r["worker"]["pid"] == a], 5,
                  message="child_exit for the interrupted worker")
    assert ce[0]["pid"] == master
    assert not [r for r in of(records(hooklog), "worker_int") if r["pid"] != a]


def test_worker_exit_also_runs_after_worker_int(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "1")
    master = master_pid(srv)
    (w,) = booted_workers(hooklog, master, 1)
    os.kill(w, signal.SIGINT)
    wait_record(hooklog, "worker_int", pid=w)
    wait_for(lambda: [r for r in of(records(hooklog), "child_exit") if r["worker"]["pid"] == w], 10,
             message="child_exit for the interrupted worker")
    recs = records(hooklog)
    assert of(recs, "worker_exit", pid=w), "worker_exit did not run in the interrupted worker"


def test_quick_stop_runs_worker_int_in_every_worker_and_on_exit(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "2")
    master = master_pid(srv)
    pids = booted_workers(hooklog, master, 2)
    assert srv.stop(signal.SIGINT) == 0
    recs = records(hooklog)
    assert sorted(r["pid"] for r in of(recs, "worker_int")) == pids
    (on_exit,) = of(recs, "on_exit")
    assert on_exit["pid"] == master and recs[-1] is on_exit


# -- failing hooks --------------------------------------------------------------------------------

def _assert_hook_failure_logged(log: str, name: str):
    m = re.search(rf"Exception in {name} hook\n(.*\n)*?.*RuntimeError: hook-failure-{name}", log)
    assert m, f"no 'Exception in {name} hook' with its traceback in the error log:\n{log}"
    assert "Traceback (most recent call last)" in m.group(0), m.group(0)
    assert "hooks_conf.py" in m.group(0), "the traceback must point into the config file"


@ferrocorn_only  # gunicorn lets some of these exceptions stop the worker or fail the request
def test_hooks_that_raise_are_logged_and_do_not_stop_the_server(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "1", env={"HOOK_RAISE": "all"})
    master = master_pid(srv)
    (w,) = booted_workers(hooklog, master, 1)

    # Requests are answered although pre_request and post_request raise.
    for _ in range(3):
        status, body = http_get(srv.host, srv.port, "/pid")
        assert status == 200 and json.loads(body)["pid"] == w, "the same worker keeps serving"
    wait_record(hooklog, "post_request", n=3)

    os.kill(master, signal.SIGTTIN)
    two = booted_workers(hooklog, master, 2)
    os.kill(master, signal.SIGHUP)
    wait_record(hooklog, "on_reload")
    booted_workers(hooklog, master, 2, exclude=two)
    wait_for(lambda: len(of(records(hooklog), "child_exit")) >= 2, 10, message="old workers reaped")
    assert http_get(srv.host, srv.port, "/pid")[0] == 200
    assert srv.stop(signal.SIGTERM) == 0, "raising hooks must not change the exit status"

    log = srv.log
    for name in ("on_starting", "when_ready", "pre_fork", "post_fork", "post_worker_init", "pre_request",
                 "post_request", "nworkers_changed", "on_reload", "worker_exit", "child_exit", "on_exit"):
        assert of(records(hooklog), name), f"{name} never ran"
        _assert_hook_failure_logged(log, name)
    assert "Shutting down: Master (exit status 0)" in log


@ferrocorn_only
def test_a_raising_worker_int_is_logged_and_the_worker_still_exits(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "1", env={"HOOK_RAISE": "worker_int"})
    master = master_pid(srv)
    (w,) = booted_workers(hooklog, master, 1)
    os.kill(w, signal.SIGINT)
    wait_pids_gone([w], timeout=10)
    booted_workers(hooklog, master, 1, exclude=[w])
    srv.wait_for_log(r"Exception in worker_int hook")
    _assert_hook_failure_logged(srv.log, "worker_int")
    assert http_get(srv.host, srv.port, "/pid")[0] == 200


@ferrocorn_only
def test_a_hook_with_the_wrong_parameters_is_refused_at_load(tmp_path):
    conf = tmp_path / "bad_conf.py"
    conf.write_text("workers = 1\n\ndef when_ready():\n    pass\n")
    code, out, _ = run_to_exit(["-c", str(conf), "-b", "127.0.0.1:0", APP], tmp_path, timeout=20)
    assert code == 64, out
    assert re.search(r"bad_conf\.py:3: .*when_ready.*1 positional", out), out
    assert "Traceback" not in out and "Listening at" not in out, out


# -- logging from hooks ---------------------------------------------------------------------------

def test_server_log_and_worker_log_write_to_the_error_log(tmp_path):
    hooklog, err = tmp_path / "hooks.jsonl", tmp_path / "error.log"
    conf = hook_config(tmp_path, '''
        _when_ready = when_ready
        _post_worker_init = post_worker_init


        def when_ready(server):
            _when_ready(server)
            server.log.info("info-from-when-ready")
            server.log.warning("warning-from-when-ready")


        def post_worker_init(worker):
            _post_worker_init(worker)
            worker.log.info("info-from-post-worker-init")
        ''')
    srv = FileLoggedServer(["-c", str(conf), "--error-logfile", str(err), APP], tmp_path, err,
                           env={"HOOKLOG": str(hooklog)})
    try:
        wait_record(hooklog, "post_worker_init")
        time.sleep(0.3)
        text = err.read_text()
        for marker in ("info-from-when-ready", "warning-from-when-ready", "info-from-post-worker-init"):
            assert marker in text, f"{marker!r} not in the error log file:\n{srv.output()}"
    finally:
        srv.stop()


# -- worker_abort is replaced by the stack dump ---------------------------------------------------

@ferrocorn_only  # gunicorn calls worker_abort on SIGABRT instead
def test_timeout_dumps_stacks_instead_of_calling_worker_abort(start_server, tmp_path):
    srv, hooklog = start_hooked(start_server, tmp_path, "-w", "1", "--timeout", "1", extra_conf='''
        def worker_abort(worker):
            _emit("worker_abort", worker=_attrs(worker, _WORKER))


        def pre_exec(server):
            _emit("pre_exec", server=_attrs(server, _SERVER))
        ''')
    master = master_pid(srv)
    (w,) = booted_workers(hooklog, master, 1)
    req = BackgroundRequest(srv.host, srv.port, "/sleep?s=30", timeout=20)
    req.start()
    wait_pids_gone([w], timeout=10)
    wait_for(lambda: [r for r in of(records(hooklog), "child_exit") if r["worker"]["pid"] == w], 5,
             message="child_exit for the timed-out worker")
    srv.wait_for_log(r"hook_apps\.py.*line \d+ in app")  # faulthandler's dump names the stuck frame
    recs = records(hooklog)
    assert not of(recs, "worker_abort"), "worker_abort is documented as never called"
    assert not of(recs, "pre_exec")
    req.finish(20)


# -- post_request's short forms -------------------------------------------------------------------

@pytest.mark.parametrize("params", ["worker, req", "worker, req, environ"])
def test_post_request_with_two_or_three_parameters(start_server, tmp_path, params):
    srv, hooklog = start_hooked(start_server, tmp_path, extra_conf=f'''
        def post_request({params}):
            _emit("post_request", worker=_attrs(worker, _WORKER), req=_attrs(req, _REQ))
        ''')
    assert http_get(srv.host, srv.port, "/pid?short")[0] == 200
    time.sleep(0.3)
    assert "Exception in post_request hook" not in srv.log, srv.log
    (post,) = wait_record(hooklog, "post_request", timeout=3)
    assert post["req"]["uri"] == "/pid?short"
