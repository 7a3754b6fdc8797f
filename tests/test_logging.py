"""Asynchronous logging: a stalled log never holds a request, lines are never torn or interleaved,
``--capture-output`` still lands in the error log, and the last lines before an exit are written.

Real servers, a real FIFO whose reader does not read (the pipe fills at 64 KiB and ``write(2)``
blocks, as on a stalled disk), real pipes and files shared by several worker processes.
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from proctools import (  # noqa: E402
    FileLoggedServer,
    in_flight,
    master_pid,
    run_to_exit,
    wait_for,
    wait_workers,
)

pytestmark = pytest.mark.ferrocorn_only

APP = "hook_apps:app"
FORMAT = "%(U)s %({x-pad}i)s end"
LINE_RE = re.compile(r"/n/(\d+-\d+) (p+) end")
ERROR_LINE_RE = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[[A-Z]+\] .*")
DROPPED_RE = re.compile(r"ferrocorn: (\d+) log lines dropped \(log file too slow\)")


def hammer(host, port, clients: int, per_client: int, pad_len, timeout=10.0):
    """``clients`` threads, each on one keep-alive connection, GET ``/n/<client>-<i>`` with an
    ``X-Pad`` header of ``pad_len(client, i)`` (at least 1) bytes.  Returns (errors, slowest request in seconds)."""
    errors: list = []
    slowest = [0.0]

    def client(c: int):
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            for i in range(per_client):
                t0 = time.monotonic()
                conn.request("GET", f"/n/{c}-{i}", headers={"X-Pad": "p" * pad_len(c, i)})
                resp = conn.getresponse()
                resp.read()
                slowest[0] = max(slowest[0], time.monotonic() - t0)
                if resp.status != 200:
                    errors.append((c, i, resp.status))
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append((c, repr(e)))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors, slowest[0]


def check_access_lines(lines, pad_len):
    """Every line is a whole access-log line with the pad its request sent; returns their tags."""
    tags = []
    for line in lines:
        m = LINE_RE.fullmatch(line)
        assert m, f"torn or interleaved line: {line[:120]!r}...{line[-60:]!r} ({len(line)} chars)"
        c, i = (int(x) for x in m[1].split("-"))
        assert len(m[2]) == pad_len(c, i), f"line of /n/{m[1]} has a pad of {len(m[2])} bytes"
        tags.append(m[1])
    assert len(tags) == len(set(tags)), "a request logged twice"
    return tags


def dropped_in(text: str) -> int:
    return sum(int(n) for n in DROPPED_RE.findall(text))


# -- a stalled log --------------------------------------------------------------------------------

def test_a_stalled_access_log_never_holds_requests_and_every_line_is_whole_or_counted(start_server, tmp_path):
    fifo = tmp_path / "access.fifo"
    os.mkfifo(fifo)
    # The reader end is open (so the server can open the FIFO) but nobody reads it yet.
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        srv = start_server("-w", "2", "--threads", "2", "--access-logfile", str(fifo),
                           "--access-logformat", FORMAT, APP, cwd=tmp_path)
        wait_workers(master_pid(srv), 2)
        clients, per_client = 4, 500

        def pad(c, i):
            return 1000 + (c * 7 + i) % 50

        # ~2 MB of access log: the 64 KiB pipe 30 times over, and the writers' queues several times.
        t0 = time.monotonic()
        errors, slowest = hammer(srv.host, srv.port, clients, per_client, pad)
        took = time.monotonic() - t0
        total = clients * per_client
        assert not errors, errors[:5]
        assert slowest < 2.0, f"a request took {slowest:.2f}s while the access log was stalled"
        assert took < 60, f"{total} requests took {took:.1f}s"

        # Now read: each request is either a whole line in the FIFO or counted in a notice on the
        # error log (written once the writer gets through again).
        buf = bytearray()

        def read_available():
            while True:
                try:
                    chunk = os.read(rfd, 1 << 16)
                except BlockingIOError:
                    return
                if not chunk:
                    return
                buf.extend(chunk)

        def all_accounted_for():
            read_available()
            n_lines, dropped = buf.count(b"\n"), dropped_in(srv.log)
            return n_lines + dropped >= total and (n_lines, dropped)

        n_lines, dropped = wait_for(all_accounted_for, 20, message="every request logged or counted as dropped")
        assert dropped > 0, "nothing was dropped: the pipe never filled?"
        assert n_lines + dropped == total, (n_lines, dropped, total)
        text = buf.decode("utf-8")
        assert text.endswith("\n")
        check_access_lines(text.splitlines(), pad)
        assert re.search(r"\[WARNING\] ferrocorn: \d+ log lines dropped \(log file too slow\): access log "
                         + re.escape(str(fifo)), srv.log), srv.log[-2000:]

        # The log works again once its reader keeps up.
        errors, _ = hammer(srv.host, srv.port, 1, 1, lambda c, i: 3)
        assert not errors
        wait_for(lambda: read_available() or b"/n/0-0 ppp end\n" in buf, 10, message="a line after the stall")
    finally:
        os.close(rfd)


# -- whole lines under concurrency ----------------------------------------------------------------

@pytest.mark.parametrize("target", ["file", "pipe"])
def test_many_workers_and_threads_never_tear_or_interleave_lines(start_server, tmp_path, target):
    """Three workers with two threads each write one file (O_APPEND) or one pipe (stdout, which the
    error log shares). Line lengths straddle the writer's 4 KiB batches; in the file some lines are
    longer than a batch (written alone). In the pipe every line stays under PIPE_BUF, the size up to
    which a pipe write is atomic."""
    acc = tmp_path / "access.log"
    dest = str(acc) if target == "file" else "-"
    srv = start_server("-w", "3", "--threads", "2", "--access-logfile", dest, "--access-logformat", FORMAT,
                       APP, cwd=tmp_path)
    wait_workers(master_pid(srv), 3)
    clients, per_client = 6, 250
    longest = 6000 if target == "file" else 3900

    def pad(c, i):
        return 1 + (c * 997 + i * 131) % longest

    errors, _ = hammer(srv.host, srv.port, clients, per_client, pad)
    assert not errors, errors[:5]
    total = clients * per_client

    def access_lines():
        if target == "file":
            return acc.read_text(encoding="utf-8").splitlines()
        return [line for line in srv.log.splitlines() if not ERROR_LINE_RE.fullmatch(line)]

    # Drops are allowed only if counted (the test's own pipe reader could fall behind), never torn lines.
    wait_for(lambda: len(access_lines()) + dropped_in(srv.log) >= total, 20,
             message=f"{total} access-log lines")
    assert srv.stop() == 0
    got = access_lines()
    tags = check_access_lines(got, pad)
    assert len(tags) + dropped_in(srv.log) == total


# -- --capture-output -----------------------------------------------------------------------------

PRINTING_APP = '''
import sys


def app(environ, start_response):
    print("print-from-app " + environ["PATH_INFO"])
    sys.stderr.write("stderr-from-app " + environ["PATH_INFO"] + "\\n")
    environ["wsgi.errors"].write("wsgi-errors-from-app " + environ["PATH_INFO"] + "\\n")
    start_response("200 OK", [("Content-Length", "3")])
    return [b"ok\\n"]
'''


def test_capture_output_sends_the_apps_stdout_and_stderr_to_the_error_log_file(tmp_path):
    (tmp_path / "printing_app.py").write_text(PRINTING_APP)
    err = tmp_path / "error.log"
    srv = FileLoggedServer(["--error-logfile", str(err), "--capture-output", "printing_app:app"], tmp_path, err)
    try:
        errors, _ = hammer(srv.host, srv.port, 1, 3, lambda c, i: 1)
        assert not errors, errors
        for i in range(3):
            for what in ("print-from-app", "stderr-from-app", "wsgi-errors-from-app"):
                wait_for(lambda: f"{what} /n/0-{i}" in err.read_text(), 10, message=f"{what} /n/0-{i}")
    finally:
        assert srv.stop() == 0
    assert "Shutting down: Master" in err.read_text()


def test_captured_print_lines_stay_whole_among_log_lines(tmp_path):
    # With PYTHONUNBUFFERED=1 (common in containers) print() writes its text and its newline in
    # two writes; the log writer thread's lines (wsgi.errors, here from 4 request threads) could
    # land in between. Captured stdout/stderr are line-buffered, so every line is written whole.
    (tmp_path / "printing_app.py").write_text(PRINTING_APP)
    err = tmp_path / "error.log"
    srv = FileLoggedServer(["--error-logfile", str(err), "--capture-output", "--threads", "4", "printing_app:app"],
                           tmp_path, err, env={"PYTHONUNBUFFERED": "1"})
    try:
        errors, _ = hammer(srv.host, srv.port, 8, 60, lambda c, i: 1)
        assert not errors, errors
        wait_for(lambda: err.read_text().count("print-from-app ") >= 480, 10, message="480 prints")
    finally:
        assert srv.stop() == 0
    lines = err.read_text().splitlines()
    for what in ("print-from-app", "stderr-from-app", "wsgi-errors-from-app"):
        mine = [ln for ln in lines if what in ln]
        assert len(mine) == 480, (what, len(mine))
        torn = [ln for ln in mine if not re.fullmatch(what + r" /n/\d+-\d+", ln.split("] ")[-1])]
        assert not torn, torn[:5]


def test_an_unfinished_captured_line_is_written_when_the_worker_stops(tmp_path):
    # print(..., end="") leaves the line in sys.stdout's buffer (line-buffered once captured);
    # a worker leaves by exit(2), so it flushes Python's stdio itself first.
    (tmp_path / "partial_app.py").write_text(
        "def app(environ, start_response):\n"
        "    print('partial-line-' + environ['PATH_INFO'], end='')\n"
        "    start_response('200 OK', [('Content-Length', '3')])\n"
        "    return [b'ok\\n']\n")
    err = tmp_path / "error.log"
    srv = FileLoggedServer(["--error-logfile", str(err), "--capture-output", "partial_app:app"], tmp_path, err)
    try:
        assert not hammer(srv.host, srv.port, 1, 1, lambda c, i: 1)[0]
    finally:
        assert srv.stop() == 0
    assert "partial-line-/n/0-0" in err.read_text()


def test_captured_output_follows_the_error_log_after_usr1(tmp_path):
    """logrotate renames the file and sends USR1: the app's print() goes to the new file too."""
    (tmp_path / "printing_app.py").write_text(PRINTING_APP)
    err = tmp_path / "error.log"
    srv = FileLoggedServer(["--error-logfile", str(err), "--capture-output", "printing_app:app"], tmp_path, err)
    try:
        assert not hammer(srv.host, srv.port, 1, 1, lambda c, i: 1)[0]
        wait_for(lambda: "print-from-app /n/0-0" in err.read_text(), 10, message="first print")
        rotated = tmp_path / "error.log.1"
        err.rename(rotated)
        os.kill(srv.announced_pid, signal.SIGUSR1)  # the master passes it to its workers
        wait_for(lambda: err.exists() and "Handling signal: usr1" in rotated.read_text() + err.read_text(), 10,
                 message="reopen")

        def printed_to_new_file():
            assert not hammer(srv.host, srv.port, 1, 1, lambda c, i: 1)[0]
            return "print-from-app /n/0-0" in err.read_text()

        wait_for(printed_to_new_file, 10, interval=0.3, message="a print in the new file")
        assert "stderr-from-app /n/0-0" in err.read_text()
    finally:
        assert srv.stop() == 0


# -- the last lines before an exit ----------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_the_last_lines_before_an_exit_are_in_the_error_log(tmp_path, sig):
    """INT: workers exit at once (std::process::exit) with a request in flight (a second thread
    handles the signal); TERM: they finish and return. Either way each worker's last line and then
    the master's are in the file."""
    err = tmp_path / "error.log"
    srv = FileLoggedServer(["-w", "2", "--threads", "2", "--error-logfile", str(err), "proc_apps:app"],
                           tmp_path, err)
    try:
        workers = wait_workers(srv.announced_pid, 2)
        # A worker signalled before it has booted dies by the signal, without a last line.
        for w in workers:
            wait_for(lambda: f"Worker booted (pid: {w})" in err.read_text(), 15, message=f"worker {w} booted")
        req = in_flight(srv, tmp_path, "/sleep?s=30") if sig == signal.SIGINT else None
        os.kill(srv.announced_pid, sig)
        assert srv.proc.wait(15) == 0
        if req:
            req.finish(10)
    finally:
        srv.stop()
    log = err.read_text()
    last = "Quick shutdown: exiting now" if sig == signal.SIGINT else "Worker exiting"
    for w in workers:
        assert re.search(rf"\[{w}\] \[INFO\] {last}", log), log
    assert log.rstrip("\n").splitlines()[-1].endswith("Shutting down: Master (exit status 0)"), log


def test_a_boot_failure_leaves_the_traceback_and_the_exit_reason_in_the_error_log(tmp_path):
    (tmp_path / "broken_at_import_zz.py").write_text('raise RuntimeError("deliberate failure at import time")\n')
    err = tmp_path / "error.log"
    rc, out, _ = run_to_exit(["-b", "127.0.0.1:0", "-w", "2", "--error-logfile", str(err),
                              "broken_at_import_zz:app"], tmp_path, timeout=20)
    log = err.read_text()
    assert rc == 4, out + log
    assert "RuntimeError: deliberate failure at import time" in log, log
    assert "failed to boot" in log, log
    assert log.rstrip("\n").splitlines()[-1].endswith("Shutting down: Master (exit status 4)"), log

