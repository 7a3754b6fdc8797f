"""Shared fixtures: start real ferrocorn processes on port 0 and talk to them over real sockets.

A server is started as ``python -m ferrocorn [args] APP`` with ``-b 127.0.0.1:0``; it announces the
address it bound on its error log (stderr) as ``Listening at: http://HOST:PORT (PID)``, which the
fixture waits for.  Set ``FERROCORN_TEST_SERVER=gunicorn`` to run the same tests against gunicorn
(useful to check a test itself; ferrocorn-only behaviour is marked ``ferrocorn_only``).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
ROOT = HERE.parent
EXAMPLES = ROOT / "examples"
SERVER_KIND = os.environ.get("FERROCORN_TEST_SERVER", "ferrocorn")
LISTEN_RE = re.compile(r"Listening at: (?:http|uwsgi|fastcgi)://(\[[^\]]+\]|[^:\s]+):(\d+)(?: \((\d+)\))?")


def pytest_configure(config):
    config.addinivalue_line("markers", "ferrocorn_only: behaviour gunicorn does not have")


def pytest_collection_modifyitems(config, items):
    if SERVER_KIND == "ferrocorn":
        return
    skip = pytest.mark.skip(reason="ferrocorn-only behaviour")
    for item in items:
        if "ferrocorn_only" in item.keywords:
            item.add_marker(skip)


class Server:
    """A running server process; ``log`` collects everything it printed (stdout and stderr)."""

    def __init__(self, args, cwd, env, bind="127.0.0.1:0", timeout=30.0, unset_env=(), stdin=None):
        # bind=None: no -b, the address comes from the server's own config file.
        bind_args = ["-b", bind] if bind is not None else []
        server = "gunicorn" if SERVER_KIND == "gunicorn" else "ferrocorn"
        cmd = [sys.executable, "-m", server, *bind_args, *args]
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in [str(APPS), str(EXAMPLES), str(cwd), full_env.get("PYTHONPATH", "")] if p
        )
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(env or {})
        for k in unset_env:
            full_env.pop(k, None)
        self.cmd = cmd
        self.proc = subprocess.Popen(
            cmd, cwd=str(cwd), env=full_env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.host, self.port = self._wait_listening(timeout)

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self._cond:
                self._lines.append(raw.decode("utf-8", "replace"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def log(self) -> str:
        with self._cond:
            return "".join(self._lines)

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> re.Match:
        """Wait until the server's output matches ``pattern`` (a regex); return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search("".join(self._lines))
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{pattern!r} not in server output:\n{''.join(self._lines)}")
                self._cond.wait(min(left, 0.2))

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = LISTEN_RE.search("".join(self._lines))
                if m:
                    host = m.group(1).strip("[]")
                    # The pid the server announced (the master's), else the process we started.
                    self.pid = int(m.group(3)) if m.group(3) else self.proc.pid
                    return host, int(m.group(2))
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(f"server exited ({self.proc.returncode}):\n{''.join(self._lines)}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"server did not start in {timeout}s:\n{''.join(self._lines)}")
                self._cond.wait(min(left, 0.2))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def connect(self, timeout: float = 10.0) -> socket.socket:
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        return s

    def alive(self) -> bool:
        return self.proc.poll() is None

    def assert_worker_not_replaced(self):
        """The first worker still serves: the master booted exactly one (it logs each boot before
        the fork, so a replacement that answered a request already shows here)."""
        boots = self.log.count("Booting worker with pid")
        assert boots == 1, "a worker died and was replaced (%d boots):\n%s" % (boots, self.log)

    def stop(self, sig=signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._reader.join(5)
        return self.proc.returncode


@pytest.fixture
def start_server(request):
    """Factory: ``start_server("module:app", "--threads", "2", cwd=..., env=...)`` -> Server.

    Every server started is stopped at the end of the test, and its output is shown if the test failed.
    """
    servers: list[Server] = []

    def start(*args, cwd=APPS, env=None, bind="127.0.0.1:0", timeout=30.0, unset_env=(), stdin=None) -> Server:
        # stdin: what the server gets as fd 0 (a listening socket, as Apache mod_fcgid hands it).
        s = Server(list(args), cwd, env, bind=bind, timeout=timeout, unset_env=unset_env, stdin=stdin)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for s in servers:
            sys.stderr.write(f"\n--- output of {' '.join(s.cmd)} ---\n{s.log}\n")


@pytest.fixture
def serve(start_server):
    """serve("echo", "--threads", "2") starts ``wsgi_apps:echo`` with those flags (spelled for
    gunicorn when the suite runs against it). test_proxy.py has a ``serve`` of its own."""
    sys.path.insert(0, str(APPS))
    from rawhttp import server_args

    def _serve(app, *args, **kw):
        return start_server(*server_args(*args), "wsgi_apps:%s" % app, **kw)
    return _serve


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def raw_request(server: Server, data: bytes, timeout: float = 10.0, read_until_close: bool = True) -> bytes:
    """Send raw bytes on a fresh connection and return everything read until the server closes
    (or until ``timeout``)."""
    with server.connect(timeout) as s:
        s.sendall(data)
        chunks = []
        s.settimeout(timeout)
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
                if not read_until_close:
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)
