"""Signals to the master and to the workers: real signals sent to real processes.

Every test reads the process tree from ``/proc`` (the master is the process the test started; its
workers are its children), drives load with real HTTP requests on fresh connections, and checks that
nothing is left behind: no zombie children, no process outliving its master, no open listening port.
The semantics are gunicorn's (see docs/signals.md); run with ``FERROCORN_TEST_SERVER=gunicorn`` to
check the tests themselves against gunicorn.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from proctools import in_flight, completed_ok  # noqa: E402
from proctools import (  # noqa: E402
    BackgroundRequest,
    FileLoggedServer,
    LoadGen,
    http_get,
    is_running,
    launch_daemon,
    listening_in,
    master_pid,
    port_closed,
    read_pid,
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


# -- HUP ------------------------------------------------------------------------------------------

def test_hup_replaces_all_workers_gracefully_with_zero_failed_requests(start_server, tmp_path):
    srv = start_server("-w", "2", "--graceful-timeout", "5", APP, cwd=tmp_path)
    master = master_pid(srv)
    old = wait_workers(master, 2)
    load = LoadGen.on(srv).start()
    try:
        load.wait_total(20)
        os.kill(master, signal.SIGHUP)
        new = wait_workers(master, 2, timeout=10, exclude=old)
        before = load.total
        load.wait_total(before + 30, timeout=10)  # the new generation answers under load too
    finally:
        load.stop()
    assert load.failures == [], f"{len(load.failures)} failed of {load.total}: {load.failures[:5]}"
    assert set(new) & set(load.pids), f"no request answered by the new workers {new}"
    assert srv.alive() and master_pid(srv) == master, "HUP must keep the master"
    wait_pids_gone(old)  # the old workers exited and were reaped
    wait_no_zombies(master)
    assert served_by(srv) in workers(master)


# -- TTIN / TTOU ----------------------------------------------------------------------------------

def test_ttin_adds_and_ttou_removes_a_worker_never_below_one(start_server, tmp_path):
    srv = start_server("-w", "2", APP, cwd=tmp_path)
    master = master_pid(srv)
    two = wait_workers(master, 2)

    os.kill(master, signal.SIGTTIN)
    three = wait_workers(master, 3)
    assert set(two) < set(three), "TTIN must add a worker, not replace the existing ones"

    os.kill(master, signal.SIGTTOU)
    back_to_two = wait_workers(master, 2)
    assert set(back_to_two) < set(three), "TTOU must remove one worker and keep the others"

    os.kill(master, signal.SIGTTOU)
    one = wait_workers(master, 1)
    assert set(one) < set(back_to_two)

    # One more TTOU at one worker is a no-op: the last worker stays, untouched, for good.
    os.kill(master, signal.SIGTTOU)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert workers(master) == one, f"TTOU at 1 worker changed the workers: {one} -> {workers(master)}"
        time.sleep(0.05)
    assert served_by(srv) == one[0]
    wait_no_zombies(master)


# -- USR1 -----------------------------------------------------------------------------------------

def test_usr1_reopens_error_and_access_logs(tmp_path):
    err, acc = tmp_path / "error.log", tmp_path / "access.log"
    srv = FileLoggedServer(["-w", "1", "--error-logfile", str(err), "--access-logfile", str(acc), APP],
                           tmp_path, err)
    try:
        master = srv.proc.pid
        assert srv.announced_pid == master
        (w,) = wait_workers(master, 1)
        assert http_get(srv.host, srv.port, "/pid?before-rotation")[0] == 200
        wait_for(lambda: acc.exists() and "before-rotation" in acc.read_text(), 5, message="access log line")

        # logrotate-style: move the files away, then ask for them to be reopened.
        err_old, acc_old = tmp_path / "error.log.1", tmp_path / "access.log.1"
        err.rename(err_old)
        acc.rename(acc_old)
        os.kill(master, signal.SIGUSR1)
        wait_for(err.exists, 5, message="a new error log at the old path")

        # The running worker (same pid) writes its access lines to the new file.
        def logged_after():
            for i in range(25):  # about 5 s
                status, _ = http_get(srv.host, srv.port, f"/pid?after-rotation-{i}")
                assert status == 200
                if acc.exists() and "after-rotation" in acc.read_text():
                    return True
                time.sleep(0.2)
            return False
        assert logged_after(), "no access-log line reached the new access.log after USR1:\n" + srv.output()
        assert workers(master) == [w], "USR1 must not replace workers"

        # The master writes to the new error log: a worker spawned now is announced there.
        os.kill(master, signal.SIGTTIN)
        new = [p for p in wait_workers(master, 2) if p != w][0]
        wait_for(lambda: str(new) in err.read_text(), 5, message=f"new worker {new} in the reopened error log")
        assert str(new) not in err_old.read_text(), "a line about the new worker went to the rotated file"
    except BaseException:
        sys.stderr.write(srv.output())
        raise
    finally:
        srv.stop()


# -- USR2 -----------------------------------------------------------------------------------------

def test_usr2_reexecs_a_new_master_and_term_to_the_old_one_has_zero_downtime(start_server, tmp_path):
    pidfile = tmp_path / "app.pid"
    pidfile2 = tmp_path / "app.pid.2"
    srv = start_server("-w", "2", "--pid", str(pidfile), "--graceful-timeout", "5", APP, cwd=tmp_path)
    old_master = master_pid(srv)
    old_workers = wait_workers(old_master, 2)
    assert read_pid(pidfile) == old_master
    load = LoadGen.on(srv).start()
    new_master = None
    try:
        load.wait_total(10)
        os.kill(old_master, signal.SIGUSR2)
        new_master = wait_for(lambda: read_pid(pidfile2), 15, message=f"{pidfile2} with the new master's pid")
        assert new_master != old_master
        wait_workers(new_master, 2, timeout=15)
        # The new master announces the very same address (it inherited the socket).
        srv.wait_for_log(rf"Listening at: http://[^\s]+:{srv.port} \({new_master}\)", timeout=5)
        # Until told otherwise the old master keeps running with its workers.
        assert srv.alive()
        assert set(old_workers) <= set(workers(old_master))
        assert read_pid(pidfile) == old_master

        before = load.total
        os.kill(old_master, signal.SIGTERM)
        assert srv.proc.wait(15) == 0
        load.wait_total(before + 40, timeout=15)
        load.stop()
        assert load.failures == [], f"{len(load.failures)} failed of {load.total}: {load.failures[:5]}"
        assert is_running(new_master), "the new master must keep running"
        wait_pids_gone(old_workers)
        assert not port_closed(srv.host, srv.port)
        live = workers(new_master)
        for _ in range(5):
            assert served_by(srv) in live
        # Once its parent is gone the new master is promoted: the pidfile is its own again.
        wait_for(lambda: read_pid(pidfile) == new_master, 5, message=f"{pidfile} to name the new master")
        assert not pidfile2.exists()
        assert stop_detached(new_master), "the new master did not stop on TERM"
    finally:
        load.stop()
        if new_master is not None and is_running(new_master):
            stop_detached(new_master)


# -- WINCH ----------------------------------------------------------------------------------------

def test_winch_is_ignored_when_not_daemonized(start_server, tmp_path):
    srv = start_server("-w", "2", APP, cwd=tmp_path)
    master = master_pid(srv)
    before = wait_workers(master, 2)
    os.kill(master, signal.SIGWINCH)  # a terminal resize must not stop the workers
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert workers(master) == before
        time.sleep(0.05)
    assert served_by(srv) in before


def test_winch_stops_the_workers_of_a_daemon_and_keeps_the_master(tmp_path):
    pidfile, err = tmp_path / "d.pid", tmp_path / "error.log"
    rc, out, daemon = launch_daemon(["-w", "2", APP], tmp_path, pidfile, err)
    assert rc == 0 and daemon, out
    try:
        host, port, announced = wait_for(lambda: listening_in(err), 10, message="Listening at in the error log")
        assert announced == daemon
        wait_workers(daemon, 2)
        os.kill(daemon, signal.SIGWINCH)
        wait_workers(daemon, 0, timeout=10)
        time.sleep(1.5)
        assert is_running(daemon), "WINCH must keep the master"
        assert workers(daemon) == [], "WINCH means no workers until HUP"
        os.kill(daemon, signal.SIGHUP)  # HUP brings the configured workers back
        wait_workers(daemon, 2, timeout=10)
        assert http_get(host, port, "/pid")[0] == 200
        assert stop_detached(daemon), "daemon did not stop on TERM:\n" + err.read_text()
        wait_for(lambda: not pidfile.exists(), 3, message="the pidfile to be removed")
    finally:
        if is_running(daemon):
            stop_detached(daemon)


# -- TERM / INT / QUIT ----------------------------------------------------------------------------

def test_term_is_graceful_in_flight_request_completes_then_exit_0(start_server, tmp_path):
    pidfile = tmp_path / "app.pid"
    srv = start_server("-w", "1", "--graceful-timeout", "3", "--pid", str(pidfile), APP, cwd=tmp_path)
    master = master_pid(srv)
    ws = wait_workers(master, 1)
    req = in_flight(srv, tmp_path, "/sleep?s=1")
    t0 = time.monotonic()
    os.kill(master, signal.SIGTERM)
    rc = srv.proc.wait(10)
    elapsed = time.monotonic() - t0
    req.finish(5)
    assert completed_ok(req), f"in-flight request was not completed: {req.result or req.error!r}"
    assert rc == 0
    assert elapsed < 3 + 1.5, f"graceful stop took {elapsed:.1f}s with --graceful-timeout 3"
    assert port_closed(srv.host, srv.port), "the listening port is still open after the master exited"
    wait_pids_gone(ws)
    assert not pidfile.exists(), "the pidfile must be removed on exit"


def test_term_cuts_off_a_request_longer_than_graceful_timeout(start_server, tmp_path):
    srv = start_server("-w", "1", "--graceful-timeout", "2", APP, cwd=tmp_path)
    master = master_pid(srv)
    ws = wait_workers(master, 1)
    req = in_flight(srv, tmp_path, "/sleep?s=30")
    t0 = time.monotonic()
    os.kill(master, signal.SIGTERM)
    rc = srv.proc.wait(10)
    elapsed = time.monotonic() - t0
    req.finish(5)
    assert not completed_ok(req), "a 30 s request cannot have completed"
    assert rc == 0
    assert 1.5 <= elapsed < 2 + 3, f"exit {elapsed:.1f}s after TERM; expected about --graceful-timeout 2"
    assert port_closed(srv.host, srv.port)
    wait_pids_gone(ws)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["INT", "QUIT"])
def test_int_and_quit_stop_quickly_despite_a_long_request(start_server, tmp_path, sig):
    srv = start_server("-w", "2", "--graceful-timeout", "10", APP, cwd=tmp_path)
    master = master_pid(srv)
    ws = wait_workers(master, 2)
    req = in_flight(srv, tmp_path, "/sleep?s=30")
    t0 = time.monotonic()
    os.kill(master, sig)
    rc = srv.proc.wait(10)
    elapsed = time.monotonic() - t0
    req.finish(5)
    assert elapsed < 4, f"quick stop took {elapsed:.1f}s (a graceful stop would wait up to 10 s)"
    assert rc == 0
    assert not completed_ok(req)
    assert port_closed(srv.host, srv.port)
    wait_pids_gone(ws)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["INT", "QUIT"])
def test_int_and_quit_interrupt_the_request_of_a_busy_single_thread_worker(start_server, tmp_path, sig):
    """One worker, one thread, busy in the app: the signal interrupts the request (as gunicorn's
    SystemExit does), so the worker runs its worker_int hook and exits by itself instead of being
    killed a second later by the master."""
    hooks = tmp_path / "hooks.py"
    hooks.write_text(
        "def worker_int(worker):\n"
        f"    open({str(tmp_path / 'worker_int')!r}, 'w').write(str(worker.pid))\n")
    srv = start_server("-w", "1", "--threads", "1", "-c", str(hooks), APP, cwd=tmp_path)
    master = master_pid(srv)
    (w,) = wait_workers(master, 1)
    req = in_flight(srv, tmp_path, "/sleep?s=30")
    t0 = time.monotonic()
    os.kill(master, sig)
    rc = srv.proc.wait(10)
    elapsed = time.monotonic() - t0
    req.finish(5)
    assert rc == 0
    assert not completed_ok(req)
    assert (tmp_path / "worker_int").read_text() == str(w), "the worker ran its worker_int hook"
    assert f"Worker (pid:{w}) exited with code 0" in srv.log, srv.log
    assert "SIGKILL" not in srv.log and "Traceback" not in srv.log, srv.log
    assert elapsed < 1.0, f"the worker took {elapsed:.2f}s to quit"


# -- signals to one worker ------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGQUIT], ids=["KILL", "TERM", "QUIT"])
def test_a_worker_that_dies_by_signal_is_replaced(start_server, tmp_path, sig):
    srv = start_server("-w", "2", APP, cwd=tmp_path)
    master = master_pid(srv)
    before = wait_workers(master, 2)
    victim, survivor = before
    os.kill(victim, sig)
    after = wait_workers(master, 2, timeout=10, exclude=[victim])
    assert survivor in after, "only the signalled worker may be replaced"
    wait_no_zombies(master)
    wait_pids_gone([victim])
    assert srv.alive()
    for _ in range(10):
        assert served_by(srv) in after


@ferrocorn_only
@pytest.mark.parametrize("sig", [signal.SIGTTIN, signal.SIGUSR1, signal.SIGHUP])
def test_signal_sent_right_after_listening_is_handled_once_the_master_is_up(start_server, tmp_path, sig):
    # "Listening at" comes before the app is preloaded and the master installs its handlers. A
    # supervisor that signals as soon as it sees that line must not kill (USR1, HUP: default
    # action terminate) or stop (TTIN) the master: the signal waits, then is handled.
    (tmp_path / "slow_import.py").write_text(
        "import time\n"
        "time.sleep(1.5)\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Length', '2')])\n"
        "    return [b'ok']\n")
    srv = start_server("--preload", "slow_import:app", cwd=tmp_path)
    master = master_pid(srv)
    os.kill(master, sig)
    wait_workers(master, 2 if sig == signal.SIGTTIN else 1, timeout=20)
    name = {signal.SIGTTIN: "ttin", signal.SIGUSR1: "usr1", signal.SIGHUP: "hup"}[sig]
    srv.wait_for_log(rf"Handling signal: {name}", timeout=10)
    assert srv.alive()
    status, body = http_get(srv.host, srv.port, "/")
    assert status == 200 and body == b"ok"
