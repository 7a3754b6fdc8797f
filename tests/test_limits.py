"""Request size limits (414/431/413), the request-head timeout, slow clients, and worker threads.

Every rejected request must never reach the app (``wsgi_apps`` records calls in $FERRO_TEST_CALLS),
must get its status and a closed connection, and the server must still answer afterwards.
Limits are probed with clear margins on both sides, not at the exact boundary byte.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from rawhttp import Conn, build_request, chunked, send_and_collect, server_args, status_of  # noqa: E402

ferrocorn_only = pytest.mark.ferrocorn_only


@pytest.fixture
def serve_recorded(start_server, tmp_path):
    """Start ``wsgi_apps:APP`` recording its calls; returns (server, calls_path)."""
    calls = tmp_path / "calls.txt"

    def _serve(*args, app="echo"):
        srv = start_server(*server_args(*args), "wsgi_apps:" + app, env={"FERRO_TEST_CALLS": str(calls)})
        return srv, calls
    return _serve


def _calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _rejected(srv, calls, data: bytes, status: int):
    got, closed = send_and_collect(srv, data, timeout=5)
    assert status_of(got) == status, got[:300]
    assert closed, "connection left open after a %d" % status
    with Conn(srv) as c:
        assert c.request("GET", "/good").status == 200
    srv.assert_worker_not_replaced()
    if calls is not None:
        assert _calls(calls) == ["GET /good"], "a rejected request reached the app"


def _accepted(srv, data: bytes, body: bytes = b""):
    with Conn(srv) as c:
        c.send(data)
        r = c.read_response()
    assert r.status == 200, r.raw[:300]
    assert r.body == body


def _headers(n: int, value_len: int = 8):
    return [("X-Header-%03d" % i, "v" * value_len) for i in range(n)]


# ---------------------------------------------------------------------------------------------
# request line: 414
# ---------------------------------------------------------------------------------------------

def test_request_line_over_default_limit_is_414(serve_recorded):
    srv, calls = serve_recorded()
    _rejected(srv, calls, build_request("GET", "/" + "a" * 5000), 414)


def test_request_line_under_default_limit_is_served(serve_recorded):
    srv, _ = serve_recorded()
    _accepted(srv, build_request("GET", "/" + "a" * 3900))


def test_limit_request_line_option(serve_recorded):
    srv, calls = serve_recorded("--limit-request-line", "100")
    _accepted(srv, build_request("GET", "/" + "a" * 50))
    calls.unlink()
    _rejected(srv, calls, build_request("GET", "/" + "a" * 200), 414)


# ---------------------------------------------------------------------------------------------
# header fields: 431
# ---------------------------------------------------------------------------------------------

def test_too_many_headers_is_431(serve_recorded):
    srv, calls = serve_recorded()  # default --limit-request-fields 100
    _rejected(srv, calls, build_request("GET", "/", headers=_headers(120)), 431)


def test_many_headers_under_default_limit_are_served(serve_recorded):
    srv, _ = serve_recorded()
    _accepted(srv, build_request("GET", "/", headers=_headers(80)))


def test_limit_request_fields_option(serve_recorded):
    srv, calls = serve_recorded("--limit-request-fields", "10")
    _accepted(srv, build_request("GET", "/", headers=_headers(5)))
    calls.unlink()
    _rejected(srv, calls, build_request("GET", "/", headers=_headers(20)), 431)


def test_header_field_over_default_size_is_431(serve_recorded):
    srv, calls = serve_recorded()  # default --limit-request-field_size 8190
    _rejected(srv, calls, build_request("GET", "/", headers=[("X-Big", "b" * 9000)]), 431)


def test_header_field_under_default_size_is_served(serve_recorded):
    srv, _ = serve_recorded()
    _accepted(srv, build_request("GET", "/", headers=[("X-Big", "b" * 7800)]))


def test_limit_request_field_size_option(serve_recorded):
    srv, calls = serve_recorded("--limit-request-field_size", "100")
    _accepted(srv, build_request("GET", "/", headers=[("X-Big", "b" * 50)]))
    calls.unlink()
    _rejected(srv, calls, build_request("GET", "/", headers=[("X-Big", "b" * 200)]), 431)


# ---------------------------------------------------------------------------------------------
# request body: 413 (gunicorn has no --limit-request-body)
# ---------------------------------------------------------------------------------------------

@ferrocorn_only
def test_body_over_limit_with_content_length_is_413(serve_recorded):
    srv, calls = serve_recorded("--limit-request-body", "10")
    _accepted(srv, build_request("POST", "/", headers=[("Content-Length", "10")], body=b"0123456789"),
              body=b"0123456789")
    calls.unlink()
    _rejected(srv, calls, build_request("POST", "/", headers=[("Content-Length", "11")], body=b"0123456789A"), 413)


@ferrocorn_only
def test_body_over_limit_is_413_without_waiting_for_the_body(serve_recorded):
    srv, calls = serve_recorded("--limit-request-body", "1000")
    # the declared length alone decides; the client never sends the megabyte
    _rejected(srv, calls, build_request("POST", "/", headers=[("Content-Length", "1000000")]), 413)


TOO_BIG_CHUNKED = build_request("POST", "/", headers=[("Transfer-Encoding", "chunked")],
                                body=chunked(b"01234", b"56789", b"A"))


@ferrocorn_only
def test_chunked_body_over_limit_is_413(serve_recorded):
    srv, calls = serve_recorded("--limit-request-body", "10")
    ok = build_request("POST", "/", headers=[("Transfer-Encoding", "chunked")], body=chunked(b"01234", b"56789"))
    _accepted(srv, ok, body=b"0123456789")
    _rejected(srv, None, TOO_BIG_CHUNKED, 413)


@ferrocorn_only
def test_chunked_body_over_limit_never_reaches_the_app(serve_recorded):
    # the size of a chunked body is only known once it is read, so this pins reading (up to the
    # limit) before the app is called, as the spec says for every 413
    srv, calls = serve_recorded("--limit-request-body", "10")
    _rejected(srv, calls, TOO_BIG_CHUNKED, 413)


@ferrocorn_only
def test_zero_limit_request_body_means_unlimited(serve_recorded):
    srv, _ = serve_recorded("--limit-request-body", "0")
    blob = b"z" * 3_000_000
    _accepted(srv, build_request("POST", "/", headers=[("Content-Length", str(len(blob)))], body=blob), body=blob)


# ---------------------------------------------------------------------------------------------
# slow clients and the request-head timeout
# ---------------------------------------------------------------------------------------------

@ferrocorn_only  # gunicorn's gthread worker gives the half-read connection its only thread, which blocks
def test_stalled_client_does_not_block_other_clients(serve_recorded):
    srv, _ = serve_recorded("--threads", "1")
    stalled = Conn(srv)
    try:
        stalled.send(b"GET /stalled HTTP/1.1\r\nHost: local")  # half a head, then nothing
        time.sleep(0.2)
        t0 = time.monotonic()
        with Conn(srv, timeout=3) as c:
            r = c.request("GET", "/other")
        assert r.status == 200
        assert time.monotonic() - t0 < 1.0
    finally:
        stalled.close()


@ferrocorn_only  # gunicorn has no --header-timeout
def test_header_timeout_disconnects_stalled_client_while_others_are_served(serve_recorded):
    srv, calls = serve_recorded("--threads", "1", "--header-timeout", "1")
    stalled = Conn(srv)
    try:
        t0 = time.monotonic()
        stalled.send(b"GET /stalled HTTP/1.1\r\nHost: local")
        with Conn(srv, timeout=3) as c:  # meanwhile another client is served promptly
            assert c.request("GET", "/other").status == 200
        assert time.monotonic() - t0 < 0.9
        closed, got = stalled.wait_closed(4)
        elapsed = time.monotonic() - t0
        assert closed, "stalled client still connected 4 s after --header-timeout 1"
        assert 0.8 <= elapsed <= 3.0, elapsed
        # either a plain close or a 408; never a request handed to the app
        assert got == b"" or status_of(got) == 408, got[:200]
    finally:
        stalled.close()
    assert _calls(calls) == ["GET /other"]


@ferrocorn_only  # gunicorn has no --header-timeout
def test_header_timeout_bounds_the_whole_head_not_each_read(serve_recorded):
    srv, calls = serve_recorded("--header-timeout", "1")
    c = Conn(srv)
    try:
        t0 = time.monotonic()
        head = b"GET /trickle HTTP/1.1\r\nHost: localhost\r\n" + b"X-Pad: " + b"p" * 200
        closed = False
        for i in range(len(head)):  # one byte every 50 ms: each read is quick, the head never ends
            try:
                c.send(head[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if time.monotonic() - t0 > 4:
                break
            time.sleep(0.05)
        if not closed:
            closed, _ = c.wait_closed(1)
        elapsed = time.monotonic() - t0
        assert closed, "a trickling client kept its connection beyond the head timeout"
        assert elapsed <= 3.5, elapsed
    finally:
        c.close()
    assert _calls(calls) == []


@ferrocorn_only  # gunicorn has no --header-timeout
def test_header_timeout_does_not_cut_a_slow_but_complete_head(serve_recorded):
    srv, _ = serve_recorded("--header-timeout", "2")
    with Conn(srv) as c:
        c.send(b"GET /slow HTTP/1.1\r\n")
        time.sleep(0.5)
        c.send(b"Host: localhost\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.header("X-Path") == "/slow"


# ---------------------------------------------------------------------------------------------
# worker threads
# ---------------------------------------------------------------------------------------------

def test_threads_serve_slow_requests_concurrently(serve_recorded):
    srv, _ = serve_recorded("--threads", "4", app="slow")
    results = []

    def one():
        with Conn(srv, timeout=5) as c:
            r = c.request("GET", "/")
            results.append((r.status, json.loads(r.body)))

    t0 = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    elapsed = time.monotonic() - t0
    assert len(results) == 4
    assert all(status == 200 and body["multithread"] is True for status, body in results)
    assert len({body["thread"] for _, body in results}) == 4  # four different threads did the work
    assert elapsed < 1.5, "4 x 0.5 s requests took %.2f s with --threads 4" % elapsed
