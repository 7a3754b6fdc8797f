"""PEP 3333 behaviour through real sockets: the environ, wsgi.input, start_response (status/header
validation, exc_info), write(), lazy headers, close(), errors, wsgi.file_wrapper and validator-wrapped
apps.  Apps live in tests/apps/wsgi_apps.py.
"""
from __future__ import annotations

import json
import os
import re
import socket
import struct
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
import wsgi_apps  # noqa: E402
from rawhttp import SERVER_KIND, Conn, build_request, chunked  # noqa: E402

ferrocorn_only = pytest.mark.ferrocorn_only


def _environ(resp):
    assert resp.status == 200, resp.raw[:500]
    return json.loads(resp.body)


def _value(env, key):
    return env[key]["value"]


def _wait_for_file(path: Path, timeout=5.0) -> str:
    """The file's text once something was written to it, and again 0.3 s later (so a second
    close() right after the first shows as two lines)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            time.sleep(0.3)
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError("%s was not written within %ss (close() not called?)" % (path, timeout))


# ---------------------------------------------------------------------------------------------
# environ
# ---------------------------------------------------------------------------------------------

def test_environ_has_every_pep3333_key_with_the_right_type(start_server):
    # plain start_server (not serve): one worker, one thread, so multithread/multiprocess are False
    srv = start_server("--threads", "1", "wsgi_apps:environ_app")
    with Conn(srv) as c:
        client_port = c.sock.getsockname()[1]
        r = c.request("GET", "/some/path?a=1&b=%20", host="127.0.0.1:%d" % srv.port,
                      headers=[("X-Custom", "custom value")])
    env = _environ(r)

    assert _value(env, "REQUEST_METHOD") == "GET"
    assert _value(env, "SCRIPT_NAME") == ""
    assert _value(env, "PATH_INFO") == "/some/path"
    assert _value(env, "QUERY_STRING") == "a=1&b=%20"
    assert _value(env, "RAW_URI") == "/some/path?a=1&b=%20"
    assert _value(env, "SERVER_NAME") == "127.0.0.1"
    assert _value(env, "SERVER_PORT") == str(srv.port)
    assert _value(env, "SERVER_PROTOCOL") == "HTTP/1.1"
    assert _value(env, "REMOTE_ADDR") == "127.0.0.1"
    assert _value(env, "REMOTE_PORT") == str(client_port)
    assert _value(env, "HTTP_HOST") == "127.0.0.1:%d" % srv.port
    assert _value(env, "HTTP_X_CUSTOM") == "custom value"

    assert env["wsgi.version"] == {"type": "tuple", "value": [1, 0]}
    assert _value(env, "wsgi.url_scheme") == "http"
    assert set(env["wsgi.input"]["attrs"]) >= {"read", "readline", "readlines", "__iter__"}
    assert set(env["wsgi.errors"]["attrs"]) >= {"write", "writelines", "flush"}
    for key, expected in [("wsgi.multithread", False), ("wsgi.multiprocess", False),
                          ("wsgi.run_once", False), ("wsgi.input_terminated", True)]:
        assert env[key] == {"type": "bool", "value": expected}, key
    assert env["wsgi.file_wrapper"]["callable"] is True

    # PEP 3333: CGI-style keys are native strings; no body -> no CONTENT_* keys at all
    for key, desc in env.items():
        if "." not in key:
            assert desc["type"] == "str", (key, desc)
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
        assert key not in env, key
    # Exactly these keys: nothing of the server's own bookkeeping (the template is pre-sized with
    # placeholders and a deleted key) shows. (gunicorn adds keys of its own.)
    if SERVER_KIND == "ferrocorn":
        assert set(env) == {
            "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "RAW_URI", "SERVER_NAME",
            "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE", "GATEWAY_INTERFACE", "REMOTE_ADDR",
            "REMOTE_PORT", "HTTP_HOST", "HTTP_X_CUSTOM", "wsgi.version", "wsgi.url_scheme", "wsgi.input",
            "wsgi.errors", "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once", "wsgi.file_wrapper",
            "wsgi.input_terminated",
        }, sorted(env)


def test_content_type_and_length_present_when_request_has_them(serve):
    srv = serve("environ_app")
    with Conn(srv) as c:
        r = c.request("POST", "/", headers=[("Content-Type", "text/plain; charset=utf-8"),
                                           ("Content-Length", "5")], body=b"hello")
    env = _environ(r)
    assert env["CONTENT_TYPE"] == {"type": "str", "value": "text/plain; charset=utf-8"}
    assert env["CONTENT_LENGTH"] == {"type": "str", "value": "5"}
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env


def test_path_info_is_percent_decoded_as_latin1_and_raw_uri_is_not(serve):
    srv = serve("environ_app")
    with Conn(srv) as c:
        r = c.request("GET", "/caf%C3%A9/a%20b?x=%C3%A9")
    env = _environ(r)
    assert _value(env, "PATH_INFO") == "/caf\u00c3\u00a9/a b"  # the UTF-8 bytes, one latin-1 char each
    assert _value(env, "RAW_URI") == "/caf%C3%A9/a%20b?x=%C3%A9"
    assert _value(env, "QUERY_STRING") == "x=%C3%A9"


def test_query_string_is_passed_raw(serve):
    srv = serve("environ_app")
    with Conn(srv) as c:
        r = c.request("GET", "/p?q=%20a+b&empty=&flag&x=%2F")
    assert _value(_environ(r), "QUERY_STRING") == "q=%20a+b&empty=&flag&x=%2F"


def test_server_protocol_is_http10_for_http10_requests(serve):
    srv = serve("environ_app")
    with Conn(srv) as c:
        c.send(build_request("GET", "/", version="HTTP/1.0"))
        r = c.read_response()
    assert _value(_environ(r), "SERVER_PROTOCOL") == "HTTP/1.0"


def test_repeated_headers_keep_every_value_in_order(serve):
    srv = serve("environ_app")
    with Conn(srv) as c:
        r = c.request("GET", "/", headers=[("X-Multi", "a"), ("X-Other", "o"), ("X-Multi", "b"),
                                          ("X-Multi", "c")])
    env = _environ(r)
    assert [v.strip() for v in _value(env, "HTTP_X_MULTI").split(",")] == ["a", "b", "c"]
    assert _value(env, "HTTP_X_OTHER") == "o"


@ferrocorn_only  # gunicorn joins repeated headers with "," (no space)
def test_repeated_headers_are_joined_with_comma_space(serve):
    srv = serve("environ_app")
    with Conn(srv) as c:
        r = c.request("GET", "/", headers=[("X-Multi", "a"), ("X-Multi", "b")])
    assert _value(_environ(r), "HTTP_X_MULTI") == "a, b"


@ferrocorn_only  # gunicorn joins repeated Cookie headers with "," too, which breaks cookie parsing
def test_repeated_cookie_headers_are_joined_with_semicolon(serve):
    srv = serve("environ_app")
    with Conn(srv) as c:
        r = c.request("GET", "/", headers=[("Cookie", "a=1"), ("Cookie", "b=2; c=3")])
    assert _value(_environ(r), "HTTP_COOKIE") == "a=1; b=2; c=3"


def test_wsgi_multithread_is_true_with_several_threads(serve):
    srv = serve("environ_app", "--threads", "4")
    with Conn(srv) as c:
        env = _environ(c.request("GET", "/"))
    assert env["wsgi.multithread"] == {"type": "bool", "value": True}
    assert env["wsgi.multiprocess"] == {"type": "bool", "value": False}


def test_wsgi_multiprocess_is_true_with_several_workers(start_server):
    srv = start_server("--workers", "2", "wsgi_apps:environ_app")
    with Conn(srv) as c:
        env = _environ(c.request("GET", "/"))
    assert env["wsgi.multiprocess"] == {"type": "bool", "value": True}


def test_wsgi_errors_reaches_the_error_log(serve):
    srv = serve("errors_writer")
    with Conn(srv) as c:
        assert c.request("GET", "/").body == b"ok"
    srv.wait_for_log("wsgi-errors-marker-5d1e", timeout=5)
    srv.wait_for_log("wsgi-errors-writelines-marker", timeout=5)


# ---------------------------------------------------------------------------------------------
# wsgi.input
# ---------------------------------------------------------------------------------------------

BODY = b"line1\nline2 is longer\n\nline4 has no newline"
LINES = BODY.splitlines(keepends=True)


def _check_input_mode(mode, result):
    pieces, rest, after = [p.encode("latin-1") for p in result["pieces"]], result["rest"], result["after_eof"]
    assert result["types"] == ["bytes"]
    assert after == "", "read past the end of the body"
    if mode in ("read", "read_minus1", "read_none"):
        assert pieces == [BODY] and rest == ""
    elif mode == "read_n":  # read(4) until b""
        assert pieces[-1] == b"" and all(0 < len(p) <= 4 for p in pieces[:-1]), pieces
        assert b"".join(pieces) == BODY and rest == ""
    elif mode == "readline":
        assert pieces == LINES + [b""] and rest == ""
    elif mode == "readline_n":  # readline(3) until b""
        assert pieces[-1] == b"" and all(0 < len(p) <= 3 for p in pieces[:-1]), pieces
        assert all(b"\n" not in p[:-1] for p in pieces), "readline(3) crossed a line end: %r" % pieces
        assert b"".join(pieces) == BODY and rest == ""
    elif mode in ("readlines", "iter"):
        assert pieces == LINES and rest == ""
    elif mode == "readlines_hint":
        # PEP 3333 lets the server ignore the hint, but what it returns must be whole lines, in order
        assert 1 <= len(pieces) <= len(LINES) and pieces == LINES[:len(pieces)]
        assert b"".join(pieces) + rest.encode("latin-1") == BODY
    else:
        raise AssertionError(mode)


@pytest.mark.parametrize("mode", ["read", "read_n", "read_minus1", "read_none", "readline", "readline_n",
                                  "readlines", "readlines_hint", "iter"])
def test_wsgi_input_reading_styles(serve, mode):
    srv = serve("input_modes")
    cl_request = build_request("POST", "/?mode=" + mode,
                               headers=[("Content-Length", str(len(BODY)))], body=BODY)
    # chunk boundaries deliberately fall in the middle of lines
    chunked_request = build_request("POST", "/?mode=" + mode, headers=[("Transfer-Encoding", "chunked")],
                                    body=chunked(BODY[:3], BODY[3:10], BODY[10:11], BODY[11:]))
    with Conn(srv) as c:
        # pipelined: reading the first body must not eat into the second request
        c.send(cl_request + chunked_request + build_request("GET", "/?mode=read"))
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    for r in (r1, r2):
        assert r.status == 200, r.raw[:500]
        _check_input_mode(mode, json.loads(r.body))
    assert r3.status == 200 and json.loads(r3.body)["pieces"] == [""]


def test_wsgi_input_read_stops_at_the_end_of_the_body(serve):
    srv = serve("echo")
    with Conn(srv) as c:
        c.send(build_request("POST", "/cl", headers=[("Content-Length", "3")], body=b"abc")
               + build_request("POST", "/chunked", headers=[("Transfer-Encoding", "chunked")],
                               body=chunked(b"de", b"f"))
               + build_request("GET", "/last"))
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    assert (r1.header("X-Path"), r1.body) == ("/cl", b"abc")
    assert (r2.header("X-Path"), r2.body) == ("/chunked", b"def")
    assert (r3.header("X-Path"), r3.body) == ("/last", b"")


def test_wsgi_input_is_empty_without_a_body(serve):
    srv = serve("input_modes")
    with Conn(srv) as c:
        r = c.request("GET", "/?mode=readline")
    assert json.loads(r.body) == {"pieces": [""], "rest": "", "after_eof": "", "types": ["bytes"]}


def test_wsgi_input_read_fills_a_large_body_sent_in_pieces(serve):
    """``read()`` of a Content-Length body builds the bytes object across many socket reads and
    waits for the client; every byte must arrive once and in order."""
    body = os.urandom(300 * 1024 + 7)
    srv = serve("echo")
    with Conn(srv) as c:
        c.send(build_request("POST", "/big", headers=[("Content-Length", str(len(body)))]))
        for start in range(0, len(body), 64 * 1024):
            c.send(body[start:start + 64 * 1024])
            time.sleep(0.02)  # the app is already reading and must wait for the rest
        r = c.read_response()
        assert r.status == 200
        assert r.body == body
        assert c.request("GET", "/again").status == 200  # same connection, still in step


def test_client_gone_in_the_middle_of_a_body_read(serve):
    """The client sends 30 KiB of a declared 100 KiB body and goes away while the app is in
    ``read()``: the app gets an error, nothing is answered, and the same worker serves the next
    client."""
    srv = serve("echo")
    for _ in range(3):
        with Conn(srv) as c:
            c.send(build_request("POST", "/cut", headers=[("Content-Length", str(100 * 1024))])
                   + b"x" * (30 * 1024))
            time.sleep(0.2)
        with Conn(srv) as c:
            r = c.request("POST", "/next", headers=[("Content-Length", "3")], body=b"abc")
        assert (r.status, r.body) == (200, b"abc")
    if SERVER_KIND == "ferrocorn":
        assert len(re.findall(r"Booting worker with pid", srv.log)) == 1, srv.log


# ---------------------------------------------------------------------------------------------
# start_response
# ---------------------------------------------------------------------------------------------

def _start_response_request(srv, **params):
    query = "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in params.items())
    with Conn(srv) as c:
        c.send(build_request("GET", "/?" + query, headers=[("Connection", "close")]))
        r = c.read_response()
    return r


@pytest.mark.parametrize("status", [
    pytest.param("200", marks=ferrocorn_only),  # gunicorn accepts a bare status code without a reason
    "abc OK",
    "200 OK\r\n",
    "200 OK\r\nX-Injected: yes",
    "99 Too Short",
    "2000 Too Long",
])
def test_invalid_status_gives_500(serve, status):
    srv = serve("start_response_args")
    r = _start_response_request(srv, status=status)
    assert r.status == 500
    assert r.header("X-Injected") is None
    assert b"app-body" not in r.body
    assert _start_response_request(srv, status="201 Created").status == 201  # server still fine


@pytest.mark.parametrize("hname,hvalue", [
    ("X-Test", "a\r\nX-Injected: yes"),
    ("X-Test", "a\nX-Injected: yes"),
    ("X-Test", "a\rb"),
    ("X-Test\r\nX-Injected", "yes"),
    ("X-Test", "\u20acuro"),   # not latin-1
    ("X-\u20ac", "v"),         # not latin-1
], ids=["crlf-value", "lf-value", "cr-value", "crlf-name", "non-latin1-value", "non-latin1-name"])
def test_invalid_response_header_gives_500(serve, hname, hvalue):
    srv = serve("start_response_args")
    r = _start_response_request(srv, status="200 OK", hname=hname, hvalue=hvalue)
    assert r.status == 500
    assert r.header("X-Injected") is None
    assert b"app-body" not in r.body


def test_valid_custom_status_and_latin1_header_pass_through(serve):
    srv = serve("start_response_args")
    r = _start_response_request(srv, status="299 Custom Reason", hname="X-Latin", hvalue="caf\u00e9")
    assert (r.status, r.reason) == (299, "Custom Reason")
    assert r.raw.split(b"\r\n\r\n")[0].count(b"X-Latin: caf\xe9") == 1
    assert r.body == b"app-body"


def test_exc_info_replaces_headers_before_anything_was_sent(serve):
    srv = serve("exc_info_before_headers")
    with Conn(srv) as c:
        r = c.request("GET", "/")
    assert r.status == 503
    assert r.body == b"replaced"


@ferrocorn_only  # gunicorn appends the second header list to the first (X-First and 2 Content-Types)
def test_exc_info_discards_the_first_headers(serve):
    srv = serve("exc_info_before_headers")
    with Conn(srv) as c:
        r = c.request("GET", "/")
    assert r.status == 503
    assert r.header("X-First") is None
    assert r.header_all("Content-Type") == ["text/plain"]


def test_start_response_twice_without_exc_info_is_an_error(serve):
    srv = serve("start_response_twice")
    with Conn(srv) as c:
        r = c.request("GET", "/", headers=[("Connection", "close")])
    assert r.status == 500
    assert b"should-not-be-sent" not in r.body


def test_exc_info_after_headers_were_sent_reraises_and_truncates(serve):
    srv = serve("exc_info_after_headers")
    with Conn(srv) as c:
        c.send(build_request("GET", "/"))
        data = c.read_until_close()  # the server must close; a timeout here means it hung
    assert data.startswith(b"HTTP/1.1 200")
    assert b"partial" in data
    assert b"must-not-be-sent" not in data
    assert not data.endswith(b"0\r\n\r\n"), "a truncated response must not look complete"
    # start_response re-raised the app's own exception: it reaches the error log with its message.
    srv.wait_for_log(r"RuntimeError: late failure", timeout=5)


# ---------------------------------------------------------------------------------------------
# write() and when headers go out
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("app,body", [("write_only", b"hello world"), ("write_mixed", b"one two three")])
def test_legacy_write_callable(serve, app, body):
    srv = serve(app)
    with Conn(srv) as c:
        r = c.request("GET", "/")
        assert r.status == 200 and r.body == body
        assert c.request("GET", "/").body == body  # framing intact for the next request


def test_empty_first_chunk_then_data(serve):
    srv = serve("empty_first_chunk")
    with Conn(srv) as c:
        r = c.request("GET", "/")
        assert r.status == 200 and r.body == b"data"
        assert c.request("GET", "/").body == b"data"


@ferrocorn_only  # gunicorn sends the headers on the first (even empty) chunk, so it cannot 500 here
def test_headers_wait_for_first_nonempty_chunk(serve):
    # PEP 3333: headers must not be sent before the first non-empty body bytestring, so an error
    # after only b"" can still become a clean 500.
    srv = serve("empty_then_error")
    with Conn(srv) as c:
        r = c.request("GET", "/")
    assert r.status == 500


def test_start_response_called_lazily_inside_generator(serve):
    srv = serve("lazy_start_response")
    with Conn(srv) as c:
        r = c.request("GET", "/")
    assert r.status == 200 and r.header("X-Lazy") == "yes" and r.body == b"lazy body"


# ---------------------------------------------------------------------------------------------
# close(), errors
# ---------------------------------------------------------------------------------------------

def _closing_target(marker: Path, mode: str) -> str:
    return "/?marker=%s&mode=%s" % (quote(str(marker), safe=""), mode)


def test_close_called_after_normal_completion(serve, tmp_path):
    srv = serve("closing")
    marker = tmp_path / "closed"
    with Conn(srv) as c:
        r = c.request("GET", _closing_target(marker, "normal"))
        assert r.status == 200 and r.body == b"abc"
    assert _wait_for_file(marker) == "closed\n"  # exactly once


def test_close_called_after_exception_during_iteration(serve, tmp_path):
    srv = serve("closing")
    marker = tmp_path / "closed"
    with Conn(srv) as c:
        c.send(build_request("GET", _closing_target(marker, "raise")))
        c.read_until_close()
    assert _wait_for_file(marker) == "closed\n"


def test_close_called_when_client_disconnects_mid_stream(serve, tmp_path):
    srv = serve("closing")
    marker = tmp_path / "closed"
    c = Conn(srv)
    c.send(build_request("GET", _closing_target(marker, "infinite")))
    got = b""
    while len(got) < 200_000:
        got += c.sock.recv(65536)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
    c.close()
    assert got.startswith(b"HTTP/1.1 200")
    assert _wait_for_file(marker, timeout=8) == "closed\n"
    assert srv.alive()


@pytest.mark.parametrize("mode", [
    # gunicorn sends the headers on the first (even empty) chunk, so it cannot 500 here
    pytest.param("empty_then_raise", marks=ferrocorn_only),
    "lazy_bad_header",
])
def test_close_called_when_the_server_answers_500_for_the_iterable(serve, tmp_path, mode):
    # The iterable failed before any header was due (an exception after b"", or start_response
    # refusing a CR/LF header on first iteration): the server answers 500 itself, and must still
    # call close() once.
    srv = serve("closing")
    marker = tmp_path / "closed"
    with Conn(srv) as c:
        r = c.request("GET", _closing_target(marker, mode))
        assert r.status == 500
        assert r.header("X-Injected") is None and b"must-not-be-sent" not in r.body
    assert _wait_for_file(marker) == "closed\n"
    with Conn(srv) as c:
        assert c.request("GET", _closing_target(tmp_path / "next", "normal")).body == b"abc"


def test_exception_before_headers_gives_500_and_logs_traceback(serve):
    srv = serve("error_before_headers")
    with Conn(srv) as c:
        r = c.request("GET", "/")
        assert r.status == 500
        assert b"boom-before-headers-7f3a" not in r.body  # no traceback leaked to the client
    srv.wait_for_log(r"Traceback \(most recent call last\)", timeout=5)
    srv.wait_for_log(r'File "[^"]*wsgi_apps\.py", line \d+, in error_before_headers', timeout=5)
    srv.wait_for_log("RuntimeError: boom-before-headers-7f3a", timeout=5)


def test_exception_after_headers_closes_connection(serve):
    srv = serve("error_after_headers")
    with Conn(srv) as c:
        c.send(build_request("GET", "/"))
        data = c.read_until_close()
    assert data.startswith(b"HTTP/1.1 200")
    assert b"first-part" in data
    assert not data.endswith(b"0\r\n\r\n"), "a truncated response must not look complete"
    srv.wait_for_log("boom-after-headers-91c2", timeout=5)


@ferrocorn_only  # gunicorn keeps the connection open after a short body, so the client hangs
def test_body_shorter_than_content_length_closes_connection_and_logs(serve):
    srv = serve("short_body")  # default --keepalive 5: an idle-timeout close would take 5 s
    with Conn(srv) as c:
        c.send(build_request("GET", "/"))
        head = c.read_until(b"\r\n\r\n")
        assert b"Content-Length: 10" in head
        t0 = time.monotonic()
        closed, rest = c.wait_closed(1.5)
        assert closed, "connection left open after a short body: the client would hang"
        assert time.monotonic() - t0 < 1.5
        assert c.buf + rest == b"abc"
    if SERVER_KIND == "ferrocorn":
        srv.wait_for_log(r"shorter than its Content-Length \(3 of 10 bytes\)", timeout=5)
    else:
        srv.wait_for_log(r"(?i)content.length", timeout=5)


# ---------------------------------------------------------------------------------------------
# wsgi.file_wrapper
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def mib_file(tmp_path):
    p = tmp_path / "blob.bin"
    p.write_bytes(os.urandom(1024 * 1024))
    return p


def test_file_wrapper_serves_file_with_content_length(serve, mib_file):
    srv = serve("file_wrapper")
    target = "/?path=" + quote(str(mib_file), safe="")
    with Conn(srv, timeout=10) as c:
        r = c.request("GET", target)
        assert r.status == 200
        assert r.header("Content-Length") == str(1024 * 1024)
        assert r.body == mib_file.read_bytes()
        assert c.request("GET", target).body == mib_file.read_bytes()  # and again on the same connection


def test_file_wrapper_of_a_real_file_goes_by_sendfile(serve, mib_file, tmp_path):
    # The file's read methods raise: a server that read it through Python (the iterable fallback)
    # would fail the response. close() of the wrapper closes the file, once per request.
    srv = serve("file_wrapper_sendfile_only")
    marker = tmp_path / "closed"
    target = "/?path=%s&marker=%s" % (quote(str(mib_file), safe=""), quote(str(marker), safe=""))
    with Conn(srv, timeout=10) as c:
        for _ in range(2):
            r = c.request("GET", target)
            assert r.status == 200 and r.header("Content-Length") == str(1024 * 1024)
            assert r.body == mib_file.read_bytes()
    assert _wait_for_file(marker) == "closed\nclosed\n"
    assert "instead of sendfile" not in srv.log


def test_file_wrapper_head_has_no_body(serve, mib_file):
    srv = serve("file_wrapper")
    target = "/?path=" + quote(str(mib_file), safe="")
    with Conn(srv, timeout=10) as c:
        c.send(build_request("HEAD", target) + build_request("GET", target))
        head = c.read_response("HEAD")
        assert head.status == 200 and head.header("Content-Length") == str(1024 * 1024)
        get = c.read_response("GET")
        assert get.raw.startswith(b"HTTP/1.1 200"), get.raw[:80]
        assert get.body == mib_file.read_bytes()


def test_file_wrapper_with_file_like_object_without_fileno(serve):
    srv = serve("file_wrapper_bytesio")
    with Conn(srv, timeout=10) as c:
        r = c.request("GET", "/")
        assert r.status == 200 and r.body == wsgi_apps.BYTESIO_CONTENT
        assert c.request("GET", "/").body == wsgi_apps.BYTESIO_CONTENT


# ---------------------------------------------------------------------------------------------
# wsgiref.validate.validator: raises AssertionError (-> 500 / broken response) on any violation
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["get", "post", "head", "stream", "file_wrapper"])
def test_validator_wrapped_app_passes(serve, kind, mib_file):
    srv = serve("validated")
    file_target = "/file?path=" + quote(str(mib_file), safe="")
    with Conn(srv, timeout=10) as c:
        if kind == "get":
            r = c.request("GET", "/")
            assert r.body == b"validated get"
        elif kind == "post":
            r = c.request("POST", "/post", headers=[("Content-Length", "9"), ("Content-Type", "text/plain")],
                          body=b"post body")
            assert r.body == b"post body"
        elif kind == "head":
            r = c.request("HEAD", "/")
            assert r.header("Content-Length") == "13"
        elif kind == "stream":
            r = c.request("GET", "/stream")
            assert r.body == b"part0;part1;part2;part3;part4;"
        else:
            r = c.request("GET", file_target)
            assert r.body == mib_file.read_bytes()
        assert r.status == 200, r.raw[:300]
        # a second request on the same connection: framing intact, and the first iterator is gone
        assert c.request("GET", "/").body == b"validated get"
    time.sleep(0.2)
    for bad in ("AssertionError", "WSGIWarning", "garbage collected without being closed", "Traceback"):
        assert bad not in srv.log, srv.log
