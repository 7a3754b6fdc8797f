"""HTTP/1.1 connection behaviour through real sockets: keep-alive, pipelining, chunked bodies in both
directions, Expect: 100-continue, HEAD, Date/Server headers and the keep-alive idle timeout.

Apps live in tests/apps/wsgi_apps.py; the strict raw-socket client in tests/apps/rawhttp.py.
"""
from __future__ import annotations

import email.utils
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import raw_request

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from rawhttp import Conn, ConnectionClosed, build_request, chunked, send_and_collect, status_of  # noqa: E402

ferrocorn_only = pytest.mark.ferrocorn_only


# ---------------------------------------------------------------------------------------------
# keep-alive
# ---------------------------------------------------------------------------------------------

def test_http11_keeps_connection_open_by_default(serve):
    srv = serve("echo")
    with Conn(srv) as c:
        for path in ("/first", "/second", "/third"):
            r = c.request("GET", path)
            assert r.status == 200
            assert r.header("X-Path") == path
            assert (r.header("Connection") or "").lower() != "close"
        assert not c.eof


def test_connection_close_request_closes_after_response(serve):
    srv = serve("hello")
    with Conn(srv) as c:
        r = c.request("GET", "/", headers=[("Connection", "close")])
        assert r.status == 200 and r.body == b"hello"
        # RFC 9112 9.6: the server SHOULD say it is closing.
        assert (r.header("Connection") or "").lower() == "close"
        closed, extra = c.wait_closed(3)
        assert closed and extra == b""


def test_http10_closes_after_response_by_default(serve):
    srv = serve("hello")
    with Conn(srv) as c:
        r = c.request("GET", "/", version="HTTP/1.0")
        assert r.status == 200 and r.body == b"hello"
        assert r.version in ("HTTP/1.0", "HTTP/1.1")
        closed, extra = c.wait_closed(3)
        assert closed and extra == b""


def test_http10_keep_alive_request_keeps_connection_and_says_so(serve):
    srv = serve("echo")
    with Conn(srv) as c:
        for path in ("/a", "/b"):
            r = c.request("GET", path, version="HTTP/1.0", headers=[("Connection", "keep-alive")])
            assert r.status == 200 and r.header("X-Path") == path
            assert (r.header("Connection") or "").lower() == "keep-alive"
        closed, _ = c.wait_closed(0.3)
        assert not closed


def test_keepalive_idle_timeout_closes_idle_connection(serve):
    srv = serve("hello", "--keepalive", "1")
    with Conn(srv) as c:
        assert c.request("GET", "/").status == 200
        # activity inside the idle window keeps the connection usable ...
        time.sleep(0.4)
        assert c.request("GET", "/").body == b"hello"
        # ... and then it is closed after about one idle second.
        t0 = time.monotonic()
        closed, extra = c.wait_closed(4)
        elapsed = time.monotonic() - t0
        assert closed, "connection still open 4 s after --keepalive 1"
        assert extra == b""
        assert 0.5 <= elapsed <= 3.0, elapsed


def test_default_keepalive_does_not_close_after_one_idle_second(serve):
    srv = serve("hello")  # default --keepalive is 5
    with Conn(srv) as c:
        assert c.request("GET", "/").status == 200
        closed, _ = c.wait_closed(1.2)
        assert not closed
        assert c.request("GET", "/").body == b"hello"


# ---------------------------------------------------------------------------------------------
# pipelining
# ---------------------------------------------------------------------------------------------

def test_pipelined_requests_are_answered_in_order(serve):
    srv = serve("echo")
    with Conn(srv) as c:
        c.send(
            build_request("GET", "/one")
            + build_request("POST", "/two", headers=[("Content-Length", "3")], body=b"abc")
            + build_request("GET", "/three")
        )
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
        assert [r.header("X-Path") for r in (r1, r2, r3)] == ["/one", "/two", "/three"]
        assert r2.body == b"abc" and r2.header("X-Method") == "POST"
        assert r1.body == b"" and r3.body == b""


def test_pipelined_request_split_across_packets(serve):
    srv = serve("echo")
    with Conn(srv) as c:
        second = build_request("POST", "/second", headers=[("Content-Length", "5")], body=b"12345")
        c.send(build_request("GET", "/first") + second[:10])
        r1 = c.read_response()
        assert r1.header("X-Path") == "/first"
        time.sleep(0.2)
        c.send(second[10:])
        r2 = c.read_response()
        assert r2.header("X-Path") == "/second" and r2.body == b"12345"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_the_app_never_read_does_not_leak_into_the_next_request(serve, framing):
    # wsgi_apps:environ_app never reads wsgi.input.  The server must skip the unread body (or close
    # the connection); it must never parse the body bytes as the next request.
    srv = serve("environ_app")
    payload = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    if framing == "content-length":
        first = build_request("POST", "/first", headers=[("Content-Length", str(len(payload)))], body=payload)
    else:
        first = build_request("POST", "/first", headers=[("Transfer-Encoding", "chunked")], body=chunked(payload))
    with Conn(srv) as c:
        c.send(first + build_request("GET", "/next"))
        r1 = c.read_response()
        assert r1.status == 200 and json.loads(r1.body)["PATH_INFO"]["value"] == "/first"
        try:
            r2 = c.read_response()
        except ConnectionClosed:
            return  # closing instead of draining is acceptable
        assert r2.status == 200 and json.loads(r2.body)["PATH_INFO"]["value"] == "/next"


# ---------------------------------------------------------------------------------------------
# chunked request bodies
# ---------------------------------------------------------------------------------------------

def test_chunked_request_body_is_dechunked_for_the_app(serve):
    srv = serve("echo")
    with Conn(srv) as c:
        r = c.request("POST", "/", headers=[("Transfer-Encoding", "chunked")],
                      body=chunked(b"hello", b" ", b"world"))
        assert r.status == 200
        assert r.body == b"hello world"
        assert r.header("X-Content-Length") == "<absent>"  # no CONTENT_LENGTH for a chunked body
        # and the connection is still in sync for the next request
        assert c.request("GET", "/after").header("X-Path") == "/after"


def test_chunked_request_with_extensions_and_trailers(serve):
    srv = serve("echo")
    body = b"5;name=value\r\nhello\r\n6;quoted=\"a b\"\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    with Conn(srv) as c:
        r = c.request("POST", "/", headers=[("Transfer-Encoding", "chunked")], body=body)
        assert r.status == 200 and r.body == b"hello world"
        assert c.request("GET", "/after").header("X-Path") == "/after"


def test_chunked_request_trickled_byte_groups(serve):
    srv = serve("echo")
    payload = b"The quick brown fox jumps over the lazy dog"
    data = build_request("POST", "/", headers=[("Transfer-Encoding", "chunked")],
                         body=chunked(payload[:10], payload[10:30], payload[30:]))
    with Conn(srv) as c:
        for i in range(0, len(data), 7):
            c.send(data[i:i + 7])
            time.sleep(0.005)
        r = c.read_response()
        assert r.status == 200 and r.body == payload


def test_large_chunked_request_body(serve):
    srv = serve("echo")
    blob = bytes(range(256)) * 4096  # 1 MiB
    pieces = [blob[i:i + 100_000] for i in range(0, len(blob), 100_000)]
    with Conn(srv, timeout=10) as c:
        r = c.request("POST", "/", headers=[("Transfer-Encoding", "chunked")], body=chunked(*pieces))
        assert r.status == 200 and r.body == blob


# ---------------------------------------------------------------------------------------------
# response framing
# ---------------------------------------------------------------------------------------------

def test_response_without_content_length_is_chunked_on_http11(serve):
    srv = serve("no_content_length")
    with Conn(srv) as c:
        r = c.request("GET", "/")
        assert r.status == 200
        assert r.chunked and r.header("Transfer-Encoding").lower() == "chunked"
        assert r.header("Content-Length") is None
        assert r.body == b"hello world"
        # chunked framing lets the connection live on
        r2 = c.request("GET", "/")
        assert r2.body == b"hello world"


def test_response_without_content_length_is_close_delimited_on_http10(serve):
    srv = serve("no_content_length")
    with Conn(srv) as c:
        c.send(build_request("GET", "/", version="HTTP/1.0"))
        r = c.read_response()  # no length, no chunking: the body runs to EOF
        assert r.status == 200
        assert not r.chunked and r.header("Transfer-Encoding") is None
        assert r.header("Content-Length") is None
        assert r.body == b"hello world"
        assert c.eof


def test_http10_keep_alive_with_unknown_length_is_close_delimited(serve):
    srv = serve("no_content_length")
    with Conn(srv) as c:
        c.send(build_request("GET", "/", version="HTTP/1.0", headers=[("Connection", "keep-alive")]))
        r = c.read_response()  # HTTP/1.0 has no chunked coding: only EOF can end this body
        assert r.status == 200 and not r.chunked
        assert r.header("Content-Length") is None
        assert r.body == b"hello world"
        assert (r.header("Connection") or "").lower() != "keep-alive"
        assert c.eof


def test_head_has_no_body_but_keeps_app_content_length(serve):
    srv = serve("hello")
    with Conn(srv) as c:
        # pipeline HEAD then GET: any body bytes after the HEAD would corrupt the second response
        c.send(build_request("HEAD", "/") + build_request("GET", "/"))
        head = c.read_response("HEAD")
        assert head.status == 200
        assert head.header("Content-Length") == "5"
        get = c.read_response("GET")
        assert get.status == 200 and get.body == b"hello"
        assert get.raw.startswith(b"HTTP/1.1 200")


def test_head_of_streamed_response_has_no_body(serve):
    srv = serve("no_content_length")
    with Conn(srv) as c:
        c.send(build_request("HEAD", "/") + build_request("GET", "/"))
        head = c.read_response("HEAD")
        assert head.status == 200
        get = c.read_response("GET")
        assert get.raw.startswith(b"HTTP/1.1 200"), get.raw[:100]
        assert get.body == b"hello world"


def _assert_recent_http_date(value):
    assert value, "no Date header"
    # IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT"
    assert value.endswith(" GMT"), value
    when = email.utils.parsedate_to_datetime(value)
    assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 60


def test_response_carries_date_header(serve):
    srv = serve("hello")
    with Conn(srv) as c:
        r = c.request("GET", "/")
        _assert_recent_http_date(r.header("Date"))
        assert r.header("Server")
        assert len(r.header_all("Date")) == 1


@ferrocorn_only  # gunicorn announces itself as "gunicorn"
def test_server_header_is_ferrocorn(serve):
    srv = serve("hello")
    with Conn(srv) as c:
        r = c.request("GET", "/")
        assert r.header_all("Server") == ["ferrocorn"]


@ferrocorn_only  # gunicorn's canned error pages (400/500) carry neither Date nor Server
def test_error_responses_carry_date_and_server_headers(serve, start_server):
    srv = serve("hello")
    data, _ = send_and_collect(srv, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    assert status_of(data) == 400
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert "\r\nServer: ferrocorn\r\n" in head + "\r\n"
    date = [line for line in head.split("\r\n") if line.lower().startswith("date:")]
    assert len(date) == 1
    _assert_recent_http_date(date[0].split(":", 1)[1].strip())

    srv500 = start_server("wsgi_apps:error_before_headers")
    with Conn(srv500) as c:
        r = c.request("GET", "/")
        assert r.status == 500
        _assert_recent_http_date(r.header("Date"))
        assert r.header("Server") == "ferrocorn"


# ---------------------------------------------------------------------------------------------
# Expect: 100-continue
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"hello world", bytes(range(256)) * 400],
                         ids=["small", "100KiB"])  # 100 KiB: read from the socket into the app's bytes
def test_expect_100_continue_gets_interim_response_then_final(serve, body):
    srv = serve("echo")
    with Conn(srv) as c:
        c.send(build_request("POST", "/", headers=[("Content-Length", str(len(body))), ("Expect", "100-continue")]))
        # the client waits for the interim response before sending the body
        interim = c.read_until(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(body)
        r = c.read_response()
        assert r.status == 200 and r.body == body
        assert r.informational == []  # exactly one 100 line was sent
        assert c.request("GET", "/next").header("X-Path") == "/next"


@ferrocorn_only  # gunicorn sends "100 Continue" as soon as it has parsed the head, read or not
def test_no_100_continue_when_app_never_reads_body(serve):
    srv = serve("hello")
    with Conn(srv) as c:
        c.send(build_request("POST", "/", headers=[("Content-Length", "5"), ("Expect", "100-continue")]))
        # the body is never sent: the app does not want it, so the final response comes directly
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello"
        assert r.informational == []
        assert b"100 Continue" not in r.raw


def test_expect_100_continue_on_http10_is_ignored(serve):
    # RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored.
    srv = serve("echo")
    data = raw_request(srv, build_request("POST", "/", version="HTTP/1.0", body=b"abc",
                                          headers=[("Content-Length", "3"), ("Expect", "100-continue")]), timeout=5)
    assert data.startswith(b"HTTP/1."), data[:50]
    assert b" 100 " not in data.split(b"\r\n", 1)[0]
    assert data.endswith(b"abc")
