"""Helpers for the process-manager tests: real processes, real signals, read from ``/proc``.

Not a WSGI app; it lives in ``tests/apps`` because that is the helper directory the test files add
to ``sys.path``.  Linux only (reads ``/proc``).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from urllib.parse import quote
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent  # tests/apps
TESTS = HERE.parent
EXAMPLES = TESTS.parent / "examples"
SERVER_KIND = os.environ.get("FERROCORN_TEST_SERVER", "ferrocorn")
LISTEN_RE = re.compile(r"Listening at: (?:http|uwsgi|fastcgi)://(\[[^\]]+\]|[^:\s]+):(\d+) \((\d+)\)")


# -- waiting --------------------------------------------------------------------------------------

def wait_for(predicate, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate()`` until it returns something truthy; return it.  AssertionError on timeout
    (the message includes the last value seen)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")
        time.sleep(interval)


# -- /proc ----------------------------------------------------------------------------------------

def proc_stat(pid: int):
    """(state, ppid) of ``pid`` from /proc/<pid>/stat, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(")") + 2:].split()  # the command name may contain spaces and parentheses
    return rest[0], int(rest[1])


def children(pid: int) -> list[int]:
    """Every direct child of ``pid`` (zombies included), found by scanning /proc for the ppid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is not None and st[1] == pid:
            out.append(int(name))
    return sorted(out)


def workers(master: int) -> list[int]:
    """The master's live (non-zombie) children: its workers."""
    out = []
    for c in children(master):
        st = proc_stat(c)
        if st is not None and st[0] != "Z":
            out.append(c)
    return out


def zombie_children(pid: int) -> list[int]:
    return [c for c in children(pid) if (proc_stat(c) or ("",))[0] == "Z"]


def is_running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def describe(pid: int) -> str:
    st = proc_stat(pid)
    return f"{pid}: gone" if st is None else f"{pid}: state {st[0]}, ppid {st[1]}"


def cmdline(pid: int) -> str:
    """/proc/<pid>/cmdline with NULs shown as spaces (process titles overwrite it)."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()


def wait_workers(master: int, n: int, timeout: float = 10.0, exclude=()) -> list[int]:
    """Wait until ``master`` has exactly ``n`` live workers, none of them in ``exclude``; return them."""
    exclude = set(exclude)

    def ok():
        ws = workers(master)
        if len(ws) == n and not exclude.intersection(ws):
            return (ws,)  # a 1-tuple is truthy even when n == 0
        return None

    try:
        return wait_for(ok, timeout, message=f"{n} workers of master {master} (excluding {sorted(exclude)})")[0]
    except AssertionError as e:
        raise AssertionError(f"{e}; workers now: {workers(master)}") from None


def wait_no_zombies(master: int, timeout: float = 3.0):
    """A dead worker is a zombie only until the master reaps it: allow ``timeout`` for that."""
    deadline = time.monotonic() + timeout
    while zombie_children(master):
        if time.monotonic() > deadline:
            raise AssertionError(f"master {master} left zombie children: {zombie_children(master)}")
        time.sleep(0.05)


def wait_pids_gone(pids, timeout: float = 3.0):
    """Every pid in ``pids`` has left the process table: exited *and* reaped.  (A worker that becomes a
    zombie after its master exits was not reaped by the master; in containers whose init does not reap,
    it stays a zombie forever.)"""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if proc_stat(p) is not None]
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError("processes still in the process table: " + ", ".join(describe(p) for p in left))
        time.sleep(0.05)


def master_pid(server) -> int:
    """The master is the process the test started, and it announces itself in ``Listening at``."""
    m = LISTEN_RE.search(server.log)
    assert m, "no 'Listening at: URL (PID)' line:\n" + server.log
    pid = int(m.group(3))
    assert pid == server.proc.pid, f"'Listening at' names pid {pid}, but the started process is {server.proc.pid}"
    return pid


# -- network --------------------------------------------------------------------------------------

def port_closed(host: str, port: int) -> bool:
    """True when nothing listens on (host, port) any more: connect is refused."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


def http_get(host: str, port: int, path: str, timeout: float = 10.0):
    """One GET on a fresh connection (``Connection: close``); returns (status, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def get_json(server, path: str, timeout: float = 10.0) -> dict:
    status, body = http_get(server.host, server.port, path, timeout)
    assert status == 200, (status, body[:300])
    return json.loads(body)


def served_by(server, timeout: float = 10.0) -> int:
    """The pid of the worker that answers ``/pid``."""
    return get_json(server, "/pid", timeout)["pid"]


class BackgroundRequest(threading.Thread):
    """One GET in a thread: ``result`` is (status, body) or ``error`` the exception."""

    def __init__(self, host, port, path, timeout=30.0):
        super().__init__(daemon=True)
        self.args_ = (host, port, path, timeout)
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = http_get(*self.args_)
        except Exception as e:  # noqa: BLE001 - the test inspects it
            self.error = e

    def finish(self, timeout):
        self.join(timeout)
        assert not self.is_alive(), f"request {self.args_[2]} still running after {timeout}s"
        return self


def in_flight(srv, tmp_path, path, name="in-flight", timeout=30.0):
    """Start GET ``path`` in a thread and return once the app has entered it (marker file written)."""
    marker = tmp_path / name
    sep = "&" if "?" in path else "?"
    req = BackgroundRequest(srv.host, srv.port, f"{path}{sep}marker={quote(str(marker))}", timeout=timeout)
    req.start()
    wait_for(marker.exists, 10, message="the request to reach the app")
    return req


def completed_ok(req) -> bool:
    """The background request finished with a 200."""
    return req.error is None and req.result is not None and req.result[0] == 200


class LoadGen:
    """Background load: ``concurrency`` threads loop GET ``path`` on fresh connections until stopped,
    bounded by ``max_requests`` in total and ``max_seconds``.  Counts successes (status 200) and
    records every failure (exception or other status) and every worker pid seen (JSON ``pid``)."""

    def __init__(self, host, port, path="/pid", concurrency=1, interval=0.01, max_requests=3000,
                 max_seconds=30.0, timeout=10.0):
        self.host, self.port, self.path = host, port, path
        self.interval, self.max_requests, self.max_seconds, self.timeout = interval, max_requests, max_seconds, timeout
        self.ok = 0
        self.failures: list[str] = []
        self.pids: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(concurrency)]

    @classmethod
    def on(cls, server, **kw):
        return cls(server.host, server.port, **kw)

    def start(self):
        self._t0 = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            with self._lock:
                if self.ok + len(self.failures) >= self.max_requests:
                    return
            if time.monotonic() - self._t0 > self.max_seconds:
                return
            try:
                status, body = http_get(self.host, self.port, self.path, self.timeout)
                pid = None
                if status == 200 and body.startswith(b"{"):
                    pid = json.loads(body).get("pid")
                with self._lock:
                    if status == 200:
                        self.ok += 1
                        if pid is not None:
                            self.pids.append(pid)
                    else:
                        self.failures.append(f"status {status}: {body[:200]!r}")
            except Exception as e:  # noqa: BLE001 - every failure is recorded and asserted on
                with self._lock:
                    self.failures.append(repr(e))
            self._stop.wait(self.interval)

    @property
    def total(self):
        with self._lock:
            return self.ok + len(self.failures)

    def wait_total(self, n, timeout=10.0):
        wait_for(lambda: self.total >= n, timeout, message=f"{n} requests by the load generator")

    def stop(self, timeout=15.0):
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        assert not any(t.is_alive() for t in self._threads), "load generator threads did not stop"
        return self


# -- servers that log to a file (USR1, daemon mode) ------------------------------------------------

def server_cmd(args) -> list[str]:
    mod = "gunicorn" if SERVER_KIND == "gunicorn" else "ferrocorn"
    return [sys.executable, "-m", mod, *args]


def server_env(cwd, extra=None) -> dict:
    """The environment conftest's ``start_server`` gives a server (same PYTHONPATH)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(HERE), str(EXAMPLES), str(cwd), env.get("PYTHONPATH", "")] if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def listening_in(path: Path):
    """(host, port, pid) from the first ``Listening at`` line of the log file at ``path``, or None."""
    try:
        m = LISTEN_RE.search(path.read_text(errors="replace"))
    except FileNotFoundError:
        return None
    return (m.group(1).strip("[]"), int(m.group(2)), int(m.group(3))) if m else None


def kill_tree(pid: int):
    """Last-resort cleanup: SIGKILL ``pid`` and its children (by pid, never by name)."""
    for c in children(pid):
        try:
            os.kill(c, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_to_exit(args, cwd, timeout: float, env=None):
    """Run a server command expected to exit on its own; returns (returncode, output, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(server_cmd(args), cwd=str(cwd), env=server_env(cwd, env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(5)
        raise AssertionError(f"server did not exit within {timeout}s:\n{out.decode('utf-8', 'replace')}")
    return proc.returncode, out.decode("utf-8", "replace"), time.monotonic() - t0


def read_pid(path: Path):
    """The pid in a pidfile, or None while it is missing or empty."""
    try:
        text = Path(path).read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


class FileLoggedServer:
    """A server whose error log goes to a file (conftest's ``start_server`` watches stdout for the
    ``Listening at`` line, which is not there when ``--error-logfile FILE`` is given)."""

    def __init__(self, args, cwd, errlog: Path, env=None, timeout: float = 20.0):
        self.cwd, self.errlog = Path(cwd), Path(errlog)
        self.out_path = self.cwd / "server-output.txt"
        self._out = open(self.out_path, "ab")
        self.cmd = server_cmd(["-b", "127.0.0.1:0", *args])
        self.proc = subprocess.Popen(self.cmd, cwd=str(cwd), env=server_env(cwd, env), stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            found = listening_in(self.errlog)
            if found:
                self.host, self.port, self.announced_pid = found
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start ({self.proc.returncode}):\n{self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        parts = []
        for p in (self.errlog, self.out_path):
            try:
                parts.append(f"--- {p.name} ---\n" + p.read_text(errors="replace"))
            except FileNotFoundError:
                pass
        return "\n".join(parts)

    def stop(self, timeout: float = 15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._out.close()
        return self.proc.returncode


def launch_daemon(args, cwd, pidfile: Path, errlog: Path, timeout: float = 10.0):
    """Run ``SERVER -D --pid PIDFILE --error-logfile ERRLOG -b 127.0.0.1:0 ARGS`` in *this* session.

    The launching command must return on its own and must not keep our stdout pipe open (``communicate``
    only returns at EOF, i.e. once the daemon has let go of it).  Returns (launcher returncode, launcher
    output, daemon pid); the daemon pid is None when no pidfile appeared.
    """
    cmd = server_cmd(["-D", "--pid", str(pidfile), "--error-logfile", str(errlog), "-b", "127.0.0.1:0", *args])
    proc = subprocess.Popen(cmd, cwd=str(cwd), env=server_env(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        proc.communicate(5)
        pid = read_pid(pidfile)
        if pid:
            kill_tree(pid)
        raise AssertionError(f"the daemonizing command did not return (or kept stdout open) within {timeout}s")
    try:
        pid = wait_for(lambda: read_pid(pidfile), 10, message=f"pidfile {pidfile}")
    except AssertionError:
        pid = None
    return proc.returncode, out.decode("utf-8", "replace"), pid


def stop_detached(pid: int, sig=signal.SIGTERM, timeout: float = 10.0) -> bool:
    """Signal a process that is not our child (a daemon, a re-exec'd master) and wait until it stops
    running; True if it stopped, otherwise it and its children are SIGKILLed and False is returned."""
    if not is_running(pid):
        return True
    kids = workers(pid)
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        time.sleep(0.05)
    kill_tree(pid)
    for k in kids:
        kill_tree(k)
    return False
