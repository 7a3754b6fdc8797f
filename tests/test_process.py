"""The master/worker process manager: worker count, crash recovery, app loading, timeouts, recycling,
dynamic workers and operations (pidfile, daemon, process titles, reload).

Real processes only: the master is the process the test started (it announces itself in
``Listening at: URL (PID)``), its workers are its children in ``/proc``, and the app
(``tests/apps/proc_apps.py``) reports which process answered.  Run with
``FERROCORN_TEST_SERVER=gunicorn`` to check the tests against gunicorn; ``ferrocorn_only`` marks
behaviour gunicorn does not have (each says why).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from proctools import in_flight, completed_ok  # noqa: E402
from proctools import (  # noqa: E402
    BackgroundRequest,
    LoadGen,
    cmdline,
    get_json,
    http_get,
    is_running,
    launch_daemon,
    listening_in,
    master_pid,
    port_closed,
    proc_stat,
    read_pid,
    run_to_exit,
    served_by,
    stop_detached,
    wait_for,
    wait_no_zombies,
    wait_pids_gone,
    wait_workers,
    workers,
)

ferrocorn_only = pytest.mark.ferrocorn_only
APP = "proc_apps:app"
PROC_APPS = Path(__file__).resolve().parent / "apps" / "proc_apps.py"


def _runs(seq):
    """Lengths of the runs of equal consecutive items: [a, a, b, b, b] -> [2, 3]."""
    out = []
    for i, x in enumerate(seq):
        if i and x == seq[i - 1]:
            out[-1] += 1
        else:
            out.append(1)
    return out


# -- worker count ---------------------------------------------------------------------------------

def test_default_is_one_worker_process_separate_from_the_master(start_server, tmp_path, monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    srv = start_server(APP, cwd=tmp_path)
    master = master_pid(srv)
    (worker,) = wait_workers(master, 1)
    info = get_json(srv, "/pid")
    assert info["pid"] == worker != master, "requests are answered by a worker process, not the master"
    assert info["ppid"] == master


@pytest.mark.parametrize("args, env, expected", [
    (["-w", "3"], {}, 3),
    (["--workers", "2"], {}, 2),
    ([], {"WEB_CONCURRENCY": "2"}, 2),
    (["-w", "1"], {"WEB_CONCURRENCY": "3"}, 1),  # the flag wins over the environment
], ids=["-w3", "--workers2", "WEB_CONCURRENCY", "flag-beats-env"])
def test_worker_count_from_flag_or_web_concurrency(start_server, tmp_path, monkeypatch, args, env, expected):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    srv = start_server(*args, APP, cwd=tmp_path, env=env)
    master = master_pid(srv)
    ws = wait_workers(master, expected)
    time.sleep(1.0)
    assert workers(master) == ws, "the worker set must be stable once started"
    for w in ws:
        assert proc_stat(w)[1] == master
    for _ in range(2 * expected):
        assert served_by(srv) in ws


def test_threads_serve_requests_concurrently_in_one_worker(start_server, tmp_path):
    srv = start_server("-w", "1", "--threads", "4", APP, cwd=tmp_path)
    master = master_pid(srv)
    (worker,) = wait_workers(master, 1)
    t0 = time.monotonic()
    reqs = [BackgroundRequest(srv.host, srv.port, "/sleep?s=1", timeout=10) for _ in range(4)]
    for r in reqs:
        r.start()
    for r in reqs:
        r.finish(10)
    elapsed = time.monotonic() - t0
    assert all(completed_ok(r) for r in reqs), [r.result or r.error for r in reqs]
    assert {json.loads(r.result[1])["pid"] for r in reqs} == {worker}
    assert elapsed < 2.5, f"4 x 1 s requests on 4 threads took {elapsed:.1f}s (serialised?)"


# -- crashes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["exit", "segv"])
def test_crashing_app_does_not_take_the_master_down(start_server, tmp_path, how):
    srv = start_server("-w", "1", APP, cwd=tmp_path)
    master = master_pid(srv)
    (before,) = wait_workers(master, 1)
    assert served_by(srv) == before
    try:
        status, _ = http_get(srv.host, srv.port, f"/crash?how={how}", timeout=10)
    except (ConnectionError, http.client.HTTPException) as e:  # the worker died mid-request
        status = repr(e)
    assert status != 200
    # The very next request is served (by the replacement: the listening socket outlives the worker).
    after = served_by(srv, timeout=10)
    assert after != before
    assert srv.alive()
    assert after in workers(master)
    wait_pids_gone([before])
    wait_no_zombies(master)
    for _ in range(5):
        assert served_by(srv) == after


# -- app loading ----------------------------------------------------------------------------------

def test_app_is_imported_lazily_in_each_worker_by_default(start_server, tmp_path):
    srv = start_server("-w", "2", APP, cwd=tmp_path)
    master = master_pid(srv)
    ws = wait_workers(master, 2)
    for _ in range(4):
        info = get_json(srv, "/pid")
        assert info["pid"] in ws
        assert info["import_pid"] == info["pid"] != master, "without --preload each worker imports the app"


def test_preload_imports_the_app_once_in_the_master(start_server, tmp_path):
    srv = start_server("-w", "2", "--preload", APP, cwd=tmp_path)
    master = master_pid(srv)
    ws = wait_workers(master, 2)
    for _ in range(4):
        info = get_json(srv, "/pid")
        assert info["pid"] in ws
        assert info["import_pid"] == master, "with --preload the app is imported before fork, in the master"


BROKEN_MODULE = 'raise RuntimeError("deliberate failure at import time")\n'


@pytest.mark.parametrize("kind", ["missing-module", "module-raises"])
def test_app_that_cannot_be_imported_stops_the_server_once_with_a_message(tmp_path, kind):
    if kind == "missing-module":
        module = "proc_no_such_module_zz"
        expected = [module]
    else:
        module = "proc_broken_module_zz"
        (tmp_path / f"{module}.py").write_text(BROKEN_MODULE)
        expected = [module, "deliberate failure at import time"]
    rc, out, secs = run_to_exit(["-b", "127.0.0.1:0", "-w", "2", f"{module}:app"], tmp_path, timeout=15)
    assert rc != 0, out
    assert secs < 10, f"took {secs:.1f}s to give up (restart loop?):\n{out}"
    for text in expected:
        assert text in out, f"{text!r} not in the output:\n{out}"


# ferrocorn_only: gunicorn exits 3 ("Worker failed to boot.") for an ImportError; ferrocorn reports
# every failure to load the app as exit 4, "App failed to load".
@ferrocorn_only
def test_app_load_failure_is_exit_4(tmp_path):
    rc, out, _ = run_to_exit(["-b", "127.0.0.1:0", "-w", "2", "proc_no_such_module_zz:app"], tmp_path, timeout=15)
    assert rc == 4, out
    assert "App failed to load" in out, out


def test_bind_failure_is_exit_1(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc, out, _ = run_to_exit(["-b", f"127.0.0.1:{port}", APP], tmp_path, timeout=15)
    assert rc == 1, out
    assert str(port) in out, out


# -- timeouts -------------------------------------------------------------------------------------

def _stuck_worker_is_replaced(start_server, tmp_path, *extra):
    srv = start_server("-w", "1", "--threads", "1", "-t", "2", *extra, APP, cwd=tmp_path)
    master = master_pid(srv)
    (stuck,) = wait_workers(master, 1)
    req = in_flight(srv, tmp_path, "/stuck")
    t0 = time.monotonic()
    (replacement,) = wait_workers(master, 1, timeout=12, exclude=[stuck])
    waited = time.monotonic() - t0
    req.finish(5)
    assert not completed_ok(req)
    assert waited > 1.5, f"worker replaced after {waited:.1f}s, before its 2 s timeout"
    assert served_by(srv) == replacement
    wait_pids_gone([stuck])
    wait_no_zombies(master)
    return srv


def test_worker_stuck_past_timeout_is_killed_and_replaced(start_server, tmp_path):
    _stuck_worker_is_replaced(start_server, tmp_path)


def _stuck_line() -> int:
    for n, line in enumerate(PROC_APPS.read_text().splitlines(), 1):
        if "STUCK-LINE" in line:
            return n
    raise AssertionError("STUCK-LINE marker missing from proc_apps.py")


# ferrocorn_only: gunicorn kills a timed-out worker (SIGABRT) without dumping its threads' stacks.
@ferrocorn_only
def test_timeout_dumps_every_thread_stack_to_the_error_log_before_killing(start_server, tmp_path):
    srv = _stuck_worker_is_replaced(start_server, tmp_path)
    srv.wait_for_log(r"stuck_forever_here", timeout=3)
    line = _stuck_line()
    # "proc_apps.py:LINE", or the Python traceback spelling 'proc_apps.py", line LINE'.
    srv.wait_for_log(rf'proc_apps\.py(?::|", line ){line}\b', timeout=3)


# ferrocorn_only: --harakiri is uWSGI's per-request limit; gunicorn has no such flag.
@ferrocorn_only
def test_harakiri_recycles_a_worker_with_one_overlong_request_while_others_answer(start_server, tmp_path):
    srv = start_server("-w", "1", "--threads", "4", "-t", "30", "--harakiri", "3", APP, cwd=tmp_path)
    master = master_pid(srv)
    (worker,) = wait_workers(master, 1)
    victim = in_flight(srv, tmp_path, "/sleep/harakiri-victim?s=60", timeout=60)
    t0 = time.monotonic()
    answered = 0
    while time.monotonic() - t0 < 1.5:  # the other threads keep answering meanwhile
        assert served_by(srv, timeout=5) == worker
        answered += 1
    assert answered >= 5
    (replacement,) = wait_workers(master, 1, timeout=10, exclude=[worker])
    waited = time.monotonic() - t0
    victim.finish(5)
    assert not completed_ok(victim)
    assert waited > 2.5, f"recycled after {waited:.1f}s, before --harakiri 3"
    srv.wait_for_log(r"/sleep/harakiri-victim", timeout=3)
    assert served_by(srv) == replacement
    wait_no_zombies(master)


# -- recycling ------------------------------------------------------------------------------------

def test_max_requests_recycles_the_worker_after_exactly_n_requests(start_server, tmp_path):
    srv = start_server("-w", "1", "--max-requests", "3", APP, cwd=tmp_path)
    master = master_pid(srv)
    pids = [served_by(srv) for _ in range(10)]  # each one asserts 200: no request fails
    runs = _runs(pids)
    assert len(set(pids)) == len(runs) >= 3, pids  # a pid never comes back
    assert all(r == 3 for r in runs[:-1]) and runs[-1] <= 3, pids
    wait_pids_gone(sorted(set(pids) - {pids[-1]}))  # every recycled worker exited and was reaped
    wait_no_zombies(master)


def test_max_requests_jitter_bounds_each_worker_lifetime(start_server, tmp_path):
    srv = start_server("-w", "1", "--max-requests", "4", "--max-requests-jitter", "3", APP, cwd=tmp_path)
    master = master_pid(srv)
    pids = [served_by(srv) for _ in range(30)]
    runs = _runs(pids)
    assert len(set(pids)) == len(runs) >= 4, pids
    assert all(4 <= r <= 7 for r in runs[:-1]) and runs[-1] <= 7, runs
    wait_no_zombies(master)


def test_max_requests_recycling_under_load_fails_no_request(start_server, tmp_path):
    srv = start_server("-w", "2", "--max-requests", "10", APP, cwd=tmp_path)
    master_pid(srv)
    load = LoadGen.on(srv, concurrency=2, max_requests=120).start()
    try:
        load.wait_total(120, timeout=15)
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]
    assert len(set(load.pids)) >= 120 // 10, "workers were not recycled every 10 requests"


# ferrocorn_only: uWSGI's reload-on-rss; gunicorn has no memory-based recycling.
@ferrocorn_only
def test_reload_on_rss_recycles_a_worker_after_the_request_that_grew_it(start_server, tmp_path):
    srv = start_server("-w", "1", "--reload-on-rss", "150", APP, cwd=tmp_path)
    master = master_pid(srv)
    (before,) = wait_workers(master, 1)
    for _ in range(3):
        assert served_by(srv) == before, "a worker below the RSS limit must not be recycled"
    status, body = http_get(srv.host, srv.port, "/alloc?mb=200", timeout=20)
    assert status == 200, body
    assert json.loads(body) == {"pid": before, "held_mb": 200}
    after = wait_for(lambda: (lambda p: p if p != before else None)(served_by(srv)), 10,
                     interval=0.2, message="a new worker after RSS went over the limit")
    assert after in workers(master)
    wait_pids_gone([before])


# ferrocorn_only: the worker's RSS in access-log lines is a ferrocorn addition (uWSGI memory-report).
@ferrocorn_only
def test_memory_report_adds_worker_rss_to_access_log_lines(start_server, tmp_path):
    srv = start_server("-w", "1", "--memory-report", "--access-logfile", "-", APP, cwd=tmp_path)
    assert http_get(srv.host, srv.port, "/pid?memory-report-probe")[0] == 200
    line = srv.wait_for_log(r"(?m)^.*memory-report-probe.*$", timeout=5).group(0)
    m = re.search(r"(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|kB|KB|MB|GB|K|M|G)\b", line)
    assert m, f"no memory figure with a unit in the access line: {line!r}"
    scale = {"k": 1 / 1024, "m": 1, "g": 1024}[m.group(2)[0].lower()]
    mb = float(m.group(1)) * scale
    assert 1 <= mb <= 4096, f"implausible RSS {m.group(0)!r} in {line!r}"


# ferrocorn_only: php-fpm style dynamic workers (--workers-min/--workers-max/--min-spare/--max-spare).
@ferrocorn_only
def test_dynamic_workers_grow_under_load_and_shrink_after(start_server, tmp_path):
    srv = start_server("--workers-min", "1", "--workers-max", "4", "--min-spare", "1", "--max-spare", "2",
                       "--threads", "1", APP, cwd=tmp_path)
    master = master_pid(srv)
    initial = len(wait_for(lambda: workers(master), 5, message="a first worker"))
    assert 1 <= initial <= 2
    counts = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            counts.append(len(workers(master)))
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    load = LoadGen.on(srv, path="/sleep?s=0.5", concurrency=5, interval=0, max_seconds=7).start()
    try:
        time.sleep(6)
    finally:
        load.stop()
    peak = max(counts)
    try:
        assert load.failures == [], load.failures[:5]
        assert peak >= 3, f"workers did not grow under load: {counts}"
        wait_for(lambda: len(workers(master)) <= 2, 8, interval=0.2, message="workers to shrink to --max-spare")
    finally:
        stop.set()
        sampler.join(2)
    assert max(counts) <= 4, f"more than --workers-max 4: {counts}"
    assert len(workers(master)) >= 1
    assert served_by(srv) in workers(master)
    wait_no_zombies(master)


# -- operations -----------------------------------------------------------------------------------

def test_pidfile_holds_the_master_pid_and_is_removed_on_exit(start_server, tmp_path):
    pidfile = tmp_path / "server.pid"
    srv = start_server("-w", "2", "--pid", str(pidfile), APP, cwd=tmp_path)
    master = master_pid(srv)
    assert read_pid(pidfile) == master
    ws = wait_workers(master, 2)
    assert srv.stop() == 0
    assert not pidfile.exists()
    wait_pids_gone(ws)
    assert port_closed(srv.host, srv.port)


def test_daemon_detaches_serves_and_stops_via_its_pidfile(tmp_path):
    pidfile, err = tmp_path / "daemon.pid", tmp_path / "error.log"
    rc, out, daemon = launch_daemon(["-w", "1", APP], tmp_path, pidfile, err)
    assert rc == 0, out
    assert daemon, f"no pidfile written by the daemon:\n{out}"
    try:
        assert is_running(daemon)
        assert os.getsid(daemon) != os.getsid(0), "the daemon must leave the launching session"
        host, port, announced = wait_for(lambda: listening_in(err), 10, message="Listening at in the error log")
        assert announced == daemon
        (worker,) = wait_workers(daemon, 1)
        status, body = http_get(host, port, "/pid")
        assert status == 200 and json.loads(body)["pid"] == worker
    finally:
        stopped = stop_detached(daemon)
    assert stopped, "the daemon did not stop on TERM:\n" + err.read_text()
    assert port_closed(host, port)
    wait_for(lambda: not pidfile.exists(), 3, message="the pidfile to be removed")
    wait_pids_gone([worker])


# ferrocorn_only: gunicorn sets titles only when setproctitle is installed, and spells them "gunicorn: ...".
@ferrocorn_only
def test_name_sets_master_and_worker_process_titles(start_server, tmp_path):
    srv = start_server("-w", "2", "-n", "proctitle-probe", APP, cwd=tmp_path)
    master = master_pid(srv)
    ws = wait_workers(master, 2)
    wait_for(lambda: "ferrocorn: master [proctitle-probe]" in cmdline(master), 5,
             message=f"the master title (cmdline now {cmdline(master)!r})")
    for w in ws:
        wait_for(lambda: "ferrocorn: worker [proctitle-probe]" in cmdline(w), 5,
                 message=f"the worker title (cmdline now {cmdline(w)!r})")


RELOAD_APP = '''VERSION = {version!r}


def app(environ, start_response):
    body = VERSION.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def test_reload_serves_edited_code_within_seconds(start_server, tmp_path):
    module = tmp_path / "proc_reload_probe.py"
    module.write_text(RELOAD_APP.format(version="first version"))
    srv = start_server("-w", "1", "--reload", "proc_reload_probe:app", cwd=tmp_path,
                       env={"PYTHONDONTWRITEBYTECODE": "1"})
    master_pid(srv)
    assert http_get(srv.host, srv.port, "/") == (200, b"first version")
    time.sleep(0.5)
    module.write_text(RELOAD_APP.format(version="second version, edited"))
    st = module.stat()
    os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # coarse-mtime filesystems
    deadline = time.monotonic() + 10
    while True:
        status, body = http_get(srv.host, srv.port, "/")
        assert status == 200, body  # the socket stays open across the reload: requests wait, never fail
        if body == b"second version, edited":
            break
        assert body == b"first version", body
        assert time.monotonic() < deadline, "the edit was not picked up within 10 s"
        time.sleep(0.2)
