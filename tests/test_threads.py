"""Several request threads in one worker (``--threads N``) and the poll turn (issue 3).

While requests are short and CPU-bound, the thread that serves keeps the turn to poll for new work,
so one thread serves a whole poll round holding the GIL and gathers the round's responses, as one
thread does. None of that may cost a client anything: a thread stuck in the app (I/O, a slow
request) is taken over after about a millisecond, so new requests are served by the other threads,
and the responses the stuck thread had gathered are written by the thread that took over.
(test_write_gathering.py checks that 48 connections with 4 threads get their own responses.)
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from rawhttp import Conn, build_request  # noqa: E402

ferrocorn_only = pytest.mark.ferrocorn_only


def _warm_up(srv, n=64):
    """Fast requests, so the worker sees short CPU-bound turns (the mode that keeps the turn)."""
    with Conn(srv) as c:
        for i in range(n):
            assert c.request("GET", f"/warm{i}").status == 200


def test_a_thread_stuck_in_the_app_leaves_new_requests_to_the_others(serve):
    srv = serve("fast_or_slow", "--threads", "2")
    _warm_up(srv)
    slow = Conn(srv, timeout=10)
    try:
        t0 = time.monotonic()
        slow.send(build_request("GET", "/slow?s=2"))
        time.sleep(0.1)
        with Conn(srv) as c:
            for i in range(20):
                started = time.monotonic()
                r = c.request("GET", f"/fast{i}")
                assert (r.status, r.body) == (200, f"/fast{i}".encode())
                assert time.monotonic() - started < 0.5, "request %d waited for the stuck thread" % i
        assert time.monotonic() - t0 < 1.8, "fast requests were held until the slow one ended"
        r = slow.read_response()
        assert (r.status, r.body) == (200, b"/slow")
    finally:
        slow.close()


@ferrocorn_only
def test_responses_gathered_by_a_thread_that_gets_stuck_are_written_by_another(serve):
    """A fast request and, right behind it on another connection, a slow one: the thread that
    serves both (in one round) gathers the fast response, then sleeps in the slow request. The
    fast response must not wait for it."""
    srv = serve("fast_or_slow", "--threads", "2")
    _warm_up(srv)
    for attempt in range(6):
        fast, slow = Conn(srv, timeout=10), Conn(srv, timeout=10)
        try:
            got = {}

            def read_fast():
                r = fast.read_response()
                got["at"] = time.monotonic()
                got["body"] = r.body

            reader = threading.Thread(target=read_fast)
            reader.start()
            t0 = time.monotonic()
            fast.send(build_request("GET", f"/fast{attempt}"))
            slow.send(build_request("GET", "/slow?s=1.5"))
            reader.join(5)
            assert got.get("body") == f"/fast{attempt}".encode()
            assert got["at"] - t0 < 0.5, "attempt %d: the fast response waited %.2f s for the slow one" % (
                attempt, got["at"] - t0)
            assert slow.read_response().body == b"/slow"
        finally:
            fast.close()
            slow.close()
        _warm_up(srv, 16)  # the slow request made turns look long: back to short ones


def test_threads_overlap_requests_that_wait_on_io(serve):
    """An app that mostly waits (its turns use little CPU) gets every thread: 4 requests of 0.5 s
    sent together finish together."""
    srv = serve("fast_or_slow", "--threads", "4")
    _warm_up(srv)
    conns = [Conn(srv, timeout=10) for _ in range(4)]
    try:
        t0 = time.monotonic()
        for c in conns:
            c.send(build_request("GET", "/slow?s=0.5"))
        for c in conns:
            assert c.read_response().body == b"/slow"
        assert time.monotonic() - t0 < 1.2
    finally:
        for c in conns:
            c.close()
