"""The FastCGI front end: raw records as nginx's stock ``fastcgi_params`` and others send them
(environ, bodies, CGI responses in STDOUT records, KEEP_CONN, GET_VALUES, CANT_MPX_CONN,
UNKNOWN_ROLE, ABORT_REQUEST, garbage), the listener on fd 0, and the real programs in front:
nginx ``fastcgi_pass`` (TCP and Unix socket, with and without ``fastcgi_keep_conn``), ``cgi-fcgi``,
Apache ``mod_proxy_fcgi`` (``enablereuse=on``) and ``mod_fcgid`` starting ferrocorn itself."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))

import fcgiclient as fc  # noqa: E402
from djcheck import check_django_through, djsite_with_static  # noqa: E402
from frontends import NGINX, Apache, CountingRelay, Nginx, apache_has  # noqa: E402
from proctools import is_running, master_pid, read_pid, stop_detached, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.ferrocorn_only
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is installed by scripts/test.sh")
CGI_FCGI = shutil.which("cgi-fcgi")
needs_cgi_fcgi = pytest.mark.skipif(CGI_FCGI is None,
                                    reason="cgi-fcgi (libfcgi-bin) is installed by scripts/test.sh")
FASTCGI_PARAMS = Path("/etc/nginx/fastcgi_params")


def fcgi_server(start_server, *args, **kw):
    """A server with only a FastCGI socket on a free TCP port; returns (server, (host, port))."""
    srv = start_server("--fastcgi-socket", "127.0.0.1:0", *args, bind=None, **kw)
    return srv, (srv.host, srv.port)


def env_of(body: bytes) -> dict:
    return {k: v.get("value") for k, v in json.loads(body).items()}


def environ_of(addr, params, body=b"", **kw) -> dict:
    status, _headers, raw = fc.call(addr, params, body, **kw)
    assert status == 200, raw[:500]
    return env_of(raw)


# ---- the environ ---------------------------------------------------------------------------------

def test_environ_from_nginx_fastcgi_params(start_server):
    srv, addr = fcgi_server(start_server, "wsgi_apps:environ_app")
    srv.wait_for_log(r"Listening at: fastcgi://127\.0\.0\.1:\d+")
    p = fc.nginx_params("GET", "/caf\xc3\xa9 x", "a=1&b=%20", extra={
        "REQUEST_URI": "/caf%C3%A9%20x?a=1&b=%20",
        "HTTPS": "on",
        "HTTP_USER_AGENT": "test-agent",
        "HTTP_CONTENT_TYPE": "text/plain",  # nginx passes the client's headers this way too
    })
    env = environ_of(addr, p)
    assert env["REQUEST_METHOD"] == "GET"
    # nginx's SCRIPT_NAME is the whole (decoded) path and there is no PATH_INFO: without a mount
    # point the whole path is PATH_INFO, decoded once (UTF-8 bytes as latin-1, per PEP 3333).
    assert env["SCRIPT_NAME"] == "" and env["PATH_INFO"] == "/caf\xc3\xa9 x"
    assert env["QUERY_STRING"] == "a=1&b=%20"
    assert env["RAW_URI"] == "/caf%C3%A9%20x?a=1&b=%20"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "198.51.100.7" and env["REMOTE_PORT"] == "50123"
    assert env["SERVER_NAME"] == "example.test" and env["SERVER_PORT"] == "80"
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == "example.test" and env["HTTP_USER_AGENT"] == "test-agent"
    assert "HTTP_CONTENT_TYPE" not in env
    assert env["DOCUMENT_ROOT"] == "/usr/share/nginx/html"
    assert env["CONTENT_LENGTH"] == ""


def test_mount_point_split_path_info_and_repeated_params(start_server):
    srv, addr = fcgi_server(start_server, "--script-name", "/app", "wsgi_apps:environ_app")
    env = environ_of(addr, fc.nginx_params("GET", "/app/x/y"))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/x/y")
    srv2, addr2 = fcgi_server(start_server, "wsgi_apps:environ_app")
    # fastcgi_split_path_info: the front end's own split is kept.
    p = fc.nginx_params("GET", "/app/x", extra={"SCRIPT_NAME": "/app", "PATH_INFO": "/x"})
    env = environ_of(addr2, p)
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/x")
    p = list(fc.nginx_params().items()) + [
        ("HTTP_X_MULTI", "a"), ("HTTP_X_MULTI", "b"), ("HTTP_COOKIE", "x=1"), ("HTTP_COOKIE", "y=2")]
    env = environ_of(addr2, p)
    assert env["HTTP_X_MULTI"] == "a, b" and env["HTTP_COOKIE"] == "x=1; y=2"


def test_params_split_across_records_and_pairs_split_too(start_server):
    srv, addr = fcgi_server(start_server, "wsgi_apps:environ_app")
    p = fc.nginx_params("GET", "/split", extra={"HTTP_X_LONG": "v" * 3000})
    for size in (1, 7, 100, 1000):
        env = environ_of(addr, p, params_size=size)
        assert env["PATH_INFO"] == "/split" and env["HTTP_X_LONG"] == "v" * 3000


def test_pep3333_validator_through_fastcgi(start_server, tmp_path):
    srv, addr = fcgi_server(start_server, "wsgi_apps:validated")
    assert fc.call(addr, fc.nginx_params("GET", "/"))[:3:2] == (200, b"validated get")
    body = os.urandom(5000)
    status, _, out = fc.call(addr, fc.nginx_params("POST", "/post", body=body), body)
    assert status == 200 and out == body
    status, _, out = fc.call(addr, fc.nginx_params("GET", "/stream"))
    assert status == 200 and out == b"part0;part1;part2;part3;part4;"
    f = tmp_path / "data.bin"
    f.write_bytes(os.urandom(100_000))
    status, _, out = fc.call(addr, fc.nginx_params("GET", "/file", f"path={f}"))
    assert status == 200 and out == f.read_bytes()
    assert "AssertionError" not in srv.log and "Traceback" not in srv.log


# ---- bodies and responses ------------------------------------------------------------------------

def test_bodies_and_cgi_responses(start_server):
    srv, addr = fcgi_server(start_server, "fcgi_apps:router")
    body = os.urandom(300_000)
    p = fc.nginx_params("POST", "/echo", body=body)
    with fc.connect(addr) as s:
        s.sendall(fc.request(p, body, stdin_size=8000))
        out, err, end, seen = fc.Reader(s).response()
    assert end == (0, fc.REQUEST_COMPLETE)
    status, headers, resp, order = fc.parse_cgi(out)
    assert status == 200 and resp == body and headers["content-length"] == str(len(body))
    # A CGI response: a Status line first, the app's headers, nothing of ours.
    assert order[0] == ("Status", "200 OK")
    assert not {"date", "server", "connection", "transfer-encoding"} & set(headers)
    stdout = [r for r in seen if r[0] == fc.STDOUT]
    assert all(len(c) <= 65535 for _, _, c in stdout) and stdout[-1][2] == b""
    # No Content-Length: the body ends with the STDOUT stream, never chunked.
    status, headers, resp = fc.call(addr, fc.nginx_params("GET", "/stream", "n=3"))
    assert status == 200 and resp == b"chunk 0\nchunk 1\nchunk 2\n" and "content-length" not in headers
    # HEAD: the head only, with the app's Content-Length.
    status, headers, resp = fc.call(addr, fc.nginx_params("HEAD", "/hello"))
    assert status == 200 and resp == b"" and headers["content-length"] == "5"
    # An app error before the head: 500, and the request still ends properly.
    srv2, addr2 = fcgi_server(start_server, "wsgi_apps:error_before_headers")
    status, _, resp = fc.call(addr2, fc.nginx_params())
    assert status == 500
    srv2.wait_for_log("boom-before-headers-7f3a")


def test_streamed_body_without_content_length(start_server):
    """nginx with fastcgi_request_buffering off and a chunked client body: no CONTENT_LENGTH, the
    body is whatever STDIN brings until its empty record."""
    srv, addr = fcgi_server(start_server, "fcgi_apps:router")
    p = fc.nginx_params("PUT", "/digest")
    pieces = [os.urandom(n) for n in (10, 70_000, 1, 5000)]
    with fc.connect(addr) as s:
        s.sendall(fc.begin() + fc.stream(fc.PARAMS, 1, fc.params_block(p)))
        for piece in pieces:
            time.sleep(0.05)
            s.sendall(b"".join(fc.record(fc.STDIN, 1, piece[i:i + 32768], 3)
                               for i in range(0, len(piece), 32768)))
        s.sendall(fc.record(fc.STDIN, 1))
        out, _, end, _ = fc.Reader(s).response()
    data = b"".join(pieces)
    res = json.loads(fc.parse_cgi(out)[2])
    assert end == (0, fc.REQUEST_COMPLETE)
    assert res == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "content_length": ""}


def test_file_wrapper_goes_out_in_records(start_server, tmp_path):
    srv, addr = fcgi_server(start_server, "fcgi_apps:router")
    f = tmp_path / "big.bin"
    f.write_bytes(os.urandom(200_003))
    with fc.connect(addr) as s:
        s.sendall(fc.request(fc.nginx_params("GET", "/file", f"path={f}")))
        out, _, end, seen = fc.Reader(s).response()
    assert end == (0, fc.REQUEST_COMPLETE)
    assert fc.parse_cgi(out)[2] == f.read_bytes()
    assert all(len(c) <= 65535 for k, _, c in seen if k == fc.STDOUT)


@pytest.mark.parametrize("n,size", [(40, 50_000), (300, 100)])
def test_held_stream_items_go_out_in_records(start_server, n, size):
    # Quick items of a Content-Length body are held and written together (hold.rs): on FastCGI
    # in STDOUT records of at most 65535 bytes, 2 MB spanning several batches, every byte in order.
    srv, addr = fcgi_server(start_server, "wsgi_apps:stream_items")
    want = b"".join(bytes([65 + i % 26]) * size for i in range(n))
    with fc.connect(addr) as s:
        r = fc.Reader(s)
        for rid in (1, 2):
            s.sendall(fc.request(fc.nginx_params("GET", "/", f"n={n}&size={size}"), rid=rid, keep_conn=True))
            out, _, end, seen = r.response(rid)
            assert end == (0, fc.REQUEST_COMPLETE)
            assert fc.parse_cgi(out)[2] == want
            assert all(len(c) <= 65535 for k, _, c in seen if k == fc.STDOUT)


def test_keep_conn_serves_several_requests_and_closes_without_it(start_server):
    srv, addr = fcgi_server(start_server, "fcgi_apps:router")
    with fc.connect(addr) as s:
        r = fc.Reader(s)
        for i, rid in enumerate((1, 2, 1, 7)):
            body = b"x" * (i * 1000)
            s.sendall(fc.request(fc.nginx_params("POST", "/echo", body=body), body, rid=rid, keep_conn=True))
            out, _, end, _ = r.response(rid)
            assert end == (0, fc.REQUEST_COMPLETE) and fc.parse_cgi(out)[2] == body
        # Two requests sent at once (the second waits for the first to finish).
        s.sendall(fc.request(fc.nginx_params("GET", "/hello"), rid=3, keep_conn=True)
                  + fc.request(fc.nginx_params("GET", "/hello"), rid=4, keep_conn=True))
        assert r.response(3)[2] == (0, fc.REQUEST_COMPLETE)
        assert r.response(4)[2] == (0, fc.REQUEST_COMPLETE)
        assert not r.closed(timeout=0.5)
        # Without KEEP_CONN the application closes after END_REQUEST.
        s.sendall(fc.request(fc.nginx_params("GET", "/hello"), rid=5))
        assert r.response(5)[2] == (0, fc.REQUEST_COMPLETE)
        assert r.closed()
    # An unread body does not stop the connection from being reused.
    with fc.connect(addr) as s:
        r = fc.Reader(s)
        body = os.urandom(200_000)
        s.sendall(fc.request(fc.nginx_params("POST", "/hello", body=body), body, keep_conn=True))
        assert r.response()[2] == (0, fc.REQUEST_COMPLETE)
        s.sendall(fc.request(fc.nginx_params("GET", "/hello"), rid=2, keep_conn=True))
        out, _, end, _ = r.response(2)
        assert end == (0, fc.REQUEST_COMPLETE) and fc.parse_cgi(out)[2] == b"hello"


def test_keep_conn_requests_each_bring_their_client_and_are_logged(start_server, tmp_path):
    log = tmp_path / "access.log"
    srv, addr = fcgi_server(start_server, "--access-logfile", str(log), "--access-logformat",
                            '%(h)s "%(r)s" %(s)s %(b)s', "fcgi_apps:router")
    clients = ["198.51.100.1", "198.51.100.2", "203.0.113.9"]
    with fc.connect(addr) as s:
        r = fc.Reader(s)
        for i, ip in enumerate(clients):
            p = fc.nginx_params("GET", "/env", f"i={i}", extra={"REMOTE_ADDR": ip, "REMOTE_PORT": str(1000 + i)})
            s.sendall(fc.request(p, keep_conn=True))
            out, _, end, _ = r.response()
            env = env_of(fc.parse_cgi(out)[2])
            assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == (ip, str(1000 + i))
    wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 3, 5, message="3 access-log lines")
    for i, (line, ip) in enumerate(zip(log.read_text().splitlines(), clients)):
        assert line.startswith(f'{ip} "GET /env?i={i} HTTP/1.1" 200 '), line


def test_get_values_answered_truthfully(start_server):
    srv, addr = fcgi_server(start_server, "-w", "2", "--threads", "3", "fcgi_apps:router")
    query = fc.pair(b"FCGI_MAX_CONNS", b"") + fc.pair(b"FCGI_MAX_REQS", b"") + \
        fc.pair(b"FCGI_MPXS_CONNS", b"") + fc.pair(b"PHP_VALUE", b"")
    with fc.connect(addr) as s:
        s.sendall(fc.record(fc.GET_VALUES, 0, query))
        r = fc.Reader(s)
        kind, rid, content = r.record()
        assert (kind, rid) == (fc.GET_VALUES_RESULT, 0)
        assert content == (fc.pair(b"FCGI_MAX_CONNS", b"6") + fc.pair(b"FCGI_MAX_REQS", b"6")
                           + fc.pair(b"FCGI_MPXS_CONNS", b"0"))
        # Then a request on the same connection, and a GET_VALUES in the middle of its body.
        p = fc.nginx_params("POST", "/echo", body=b"abcd")
        s.sendall(fc.begin() + fc.stream(fc.PARAMS, 1, fc.params_block(p))
                  + fc.record(fc.STDIN, 1, b"ab") + fc.record(fc.GET_VALUES, 0, fc.pair(b"FCGI_MAX_REQS", b""))
                  + fc.record(fc.STDIN, 1, b"cd") + fc.record(fc.STDIN, 1))
        out, _, end, seen = r.response()
        assert end == (0, fc.REQUEST_COMPLETE) and fc.parse_cgi(out)[2] == b"abcd"
        assert (fc.GET_VALUES_RESULT, 0, fc.pair(b"FCGI_MAX_REQS", b"6")) in seen


def test_second_request_while_busy_gets_cant_mpx_conn(start_server):
    srv, addr = fcgi_server(start_server, "fcgi_apps:router")
    p = fc.nginx_params("POST", "/echo", body=b"12345")
    with fc.connect(addr) as s:
        s.sendall(fc.begin(1, flags=fc.KEEP_CONN) + fc.stream(fc.PARAMS, 1, fc.params_block(p))
                  + fc.begin(2, flags=fc.KEEP_CONN)  # a second request while the first is active
                  + fc.record(fc.STDIN, 1, b"123")
                  + fc.stream(fc.PARAMS, 2, fc.params_block(fc.nginx_params())) + fc.stream(fc.STDIN, 2, b"")
                  + fc.record(fc.STDIN, 1, b"45") + fc.record(fc.STDIN, 1))
        r = fc.Reader(s)
        out, _, end, seen = r.response(1)
        assert end == (0, fc.REQUEST_COMPLETE) and fc.parse_cgi(out)[2] == b"12345"
        ends = [struct.unpack(">IB3x", c) for k, rid, c in seen if k == fc.END_REQUEST and rid == 2]
        assert ends == [(0, fc.CANT_MPX_CONN)]
        # The connection is still good for the next request.
        s.sendall(fc.request(fc.nginx_params("GET", "/hello"), rid=3, keep_conn=True))
        assert r.response(3)[2] == (0, fc.REQUEST_COMPLETE)
    srv.wait_for_log(r"fastcgi: refused request 2: one request at a time .*FCGI_CANT_MPX_CONN")


def test_other_roles_and_unknown_management_records(start_server):
    srv, addr = fcgi_server(start_server, "fcgi_apps:router")
    with fc.connect(addr) as s:
        s.sendall(fc.begin(1, role=fc.AUTHORIZER, flags=fc.KEEP_CONN)
                  + fc.stream(fc.PARAMS, 1, fc.params_block(fc.nginx_params())) + fc.stream(fc.STDIN, 1, b"")
                  + fc.record(42, 0, b"mgmt"))
        r = fc.Reader(s)
        assert r.record() == (fc.END_REQUEST, 1, struct.pack(">IB3x", 0, fc.UNKNOWN_ROLE))
        assert r.record() == (fc.UNKNOWN_TYPE, 0, bytes([42]) + bytes(7))
        s.sendall(fc.request(fc.nginx_params("GET", "/hello"), rid=2))
        out, _, end, _ = r.response(2)
        assert end == (0, fc.REQUEST_COMPLETE) and fc.parse_cgi(out)[2] == b"hello"
    srv.wait_for_log(r"fastcgi: refused request 1: only the Responder role")


def test_abort_during_the_body_ends_the_request_and_closes_the_iterable(start_server, tmp_path):
    srv, addr = fcgi_server(start_server, "fcgi_apps:router")
    marker = tmp_path / "closed"
    p = fc.nginx_params("POST", "/reading", f"marker={marker}", body=b"x" * 5000)
    with fc.connect(addr) as s:
        s.sendall(fc.begin(1, flags=fc.KEEP_CONN) + fc.stream(fc.PARAMS, 1, fc.params_block(p))
                  + fc.record(fc.STDIN, 1, b"x" * 2000))
        time.sleep(0.3)  # the app is reading, waiting for more
        s.sendall(fc.record(fc.ABORT_REQUEST, 1) + fc.record(fc.STDIN, 1, b"late") + fc.record(fc.STDIN, 1))
        r = fc.Reader(s)
        _out, _, end, _ = r.response(1)
        assert end == (0, fc.REQUEST_COMPLETE)
        wait_for(marker.exists, 10, message="the iterable's close()")
        # KEEP_CONN: the aborted request's leftovers are skipped, the next request is served.
        s.sendall(fc.request(fc.nginx_params("GET", "/hello"), rid=2, keep_conn=True))
        out, _, end, _ = r.response(2)
        assert end == (0, fc.REQUEST_COMPLETE) and fc.parse_cgi(out)[2] == b"hello"
    assert marker.read_text() == "closed\n"


def test_abort_while_streaming_a_response(start_server, tmp_path):
    srv, addr = fcgi_server(start_server, "wsgi_apps:closing")
    marker = tmp_path / "closed"
    p = fc.nginx_params("GET", "/", f"marker={marker}&mode=infinite")
    with fc.connect(addr) as s:
        s.sendall(fc.request(p, keep_conn=True))
        r = fc.Reader(s)
        kind, rid, content = r.record()
        assert (kind, rid) == (fc.STDOUT, 1) and content.startswith(b"Status: 200 OK\r\n")
        s.sendall(fc.record(fc.ABORT_REQUEST, 1))
        t0 = time.monotonic()
        _out, _, end, _ = r.response(1)
        assert end == (0, fc.REQUEST_COMPLETE) and time.monotonic() - t0 < 10
        wait_for(marker.exists, 10, message="the iterable's close()")
        s.sendall(fc.request(fc.nginx_params("GET", "/", f"marker={marker}"), rid=2))
        out, _, end, _ = r.response(2)
        assert end == (0, fc.REQUEST_COMPLETE) and fc.parse_cgi(out)[2] == b"abc"


def _abort_mid_stream(addr, params, then_params, then_body) -> bytes:
    """Start a long streamed response on a KEEP_CONN connection, abort it after its first
    STDOUT record, check the request ends promptly and the next one is served; return what
    the aborted request had sent."""
    with fc.connect(addr) as s:
        s.sendall(fc.request(params, keep_conn=True))
        r = fc.Reader(s)
        assert r.record()[0] == fc.STDOUT
        s.sendall(fc.record(fc.ABORT_REQUEST, 1))
        t0 = time.monotonic()
        out, _, end, _ = r.response(1)
        assert end == (0, fc.REQUEST_COMPLETE) and time.monotonic() - t0 < 10
        s.sendall(fc.request(then_params, rid=2))
        after, _, end, _ = r.response(2)
        assert end == (0, fc.REQUEST_COMPLETE) and fc.parse_cgi(after)[2] == then_body
    return out


def test_abort_while_streaming_small_items(start_server):
    """A stream of small items (flushed one by one) notices the abort too."""
    srv, addr = fcgi_server(start_server, "fcgi_apps:router")
    out = _abort_mid_stream(addr, fc.nginx_params("GET", "/stream", "n=100000"),
                            fc.nginx_params("GET", "/hello"), b"hello")
    assert out.count(b"chunk ") < 100000


def test_abort_while_streaming_held_items(start_server):
    """An endless Content-Length stream of quick 64 KiB items (held and written in batches)
    notices the abort too."""
    srv, addr = fcgi_server(start_server, "wsgi_apps:stream_items")
    out = _abort_mid_stream(addr, fc.nginx_params("GET", "/", "n=1000000&size=65536"),
                            fc.nginx_params("GET", "/", "n=3&size=5"), b"AAAAABBBBBCCCCC")
    assert len(out) < 1000000 * 65536


def test_garbage_closes_cleanly_and_the_worker_keeps_serving(start_server):
    srv, addr = fcgi_server(start_server, "--log-level", "debug", "-w", "1", "fcgi_apps:router")
    good = fc.request(fc.nginx_params("GET", "/hello"))

    def ask(data: bytes, timeout=5.0):
        with fc.connect(addr, timeout) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)  # nothing more comes: a request cut short ends now
            r = fc.Reader(s)
            seen = []
            try:
                while (rec := r.record()) is not None:
                    seen.append(rec)
            except socket.timeout:
                pass
            return seen

    assert any(k == fc.END_REQUEST for k, _, _ in ask(good))
    bad = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # HTTP on a FastCGI socket
        struct.pack(">BBHHBB", 2, 1, 1, 8, 0, 0) + bytes(8),  # version 2
        fc.record(fc.BEGIN_REQUEST, 1, b"\0\1\0"),  # short BEGIN_REQUEST body
        fc.begin(1) + fc.record(fc.PARAMS, 1, b"\x05\x80\x00") + fc.record(fc.PARAMS, 1),  # truncated pair
        fc.begin(1) + fc.begin(1),  # the same id twice
        fc.begin(1) + fc.record(fc.STDOUT, 1, b"x"),  # a record only applications send
        fc.begin(1) + fc.record(fc.PARAMS, 1, fc.params_block({"PATH_INFO": "/"})) + fc.record(fc.PARAMS, 1)
        + fc.record(fc.STDIN, 1),  # no REQUEST_METHOD
        fc.request(fc.nginx_params(extra={"CONTENT_LENGTH": "12x"})),
        fc.begin(1) + fc.record(fc.PARAMS, 1) + fc.record(fc.STDIN, 1, b"ab") + fc.record(fc.STDIN, 1, b"c", 0)[:5],
    ]
    rng = random.Random(7)
    for _ in range(30):
        junk = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            junk[rng.randrange(len(junk))] = rng.getrandbits(8)
        bad.append(bytes(junk[:rng.randint(1, len(junk))]))
    for b in bad:
        ask(b, timeout=3)  # answered or closed; a truncated request times out on our side
    srv.wait_for_log(r"fastcgi: record with protocol version 71 .*this looks like HTTP")
    srv.wait_for_log(r"fastcgi: BEGIN_REQUEST body of 3 bytes")
    srv.wait_for_log(r"fastcgi: malformed params: truncated 4-byte length")
    srv.wait_for_log(r"fastcgi: request without a usable REQUEST_METHOD")
    srv.wait_for_log(r"fastcgi: request without a usable CONTENT_LENGTH")
    assert any(k == fc.END_REQUEST for k, _, _ in ask(good))
    assert "Traceback" not in srv.log and "panicked" not in srv.log
    assert srv.alive()


def test_params_over_limit_request_head_and_body_over_limit(start_server):
    srv, addr = fcgi_server(start_server, "--limit-request-head", "4096", "--limit-request-body", "1000",
                            "fcgi_apps:router")
    big = fc.nginx_params(extra={"HTTP_X_BIG": "x" * 5000})
    with fc.connect(addr) as s:
        s.sendall(fc.request(big))
        assert fc.Reader(s).response()[2] is None  # closed
    srv.wait_for_log(r"fastcgi: params larger than the limit of 4096 bytes")
    body = b"x" * 2000
    status, _, _ = fc.call(addr, fc.nginx_params("POST", "/echo", body=body), body)
    assert status == 413
    # Without CONTENT_LENGTH the limit applies to what STDIN brings.
    p = fc.nginx_params("POST", "/digest")
    status, _, out = fc.call(addr, p, body)
    assert status == 413, out
    # nginx's largest params (64 KiB) pass with the default.
    srv2, addr2 = fcgi_server(start_server, "fcgi_apps:router")
    big = fc.nginx_params("GET", "/hello", extra={"HTTP_X_BIG": "x" * 60000})
    assert fc.call(addr2, big)[0] == 200


def test_unix_abstract_and_ipv6_sockets(start_server, tmp_path):
    path = tmp_path / "fcgi.sock"
    name = f"ferrocorn-fcgi-{os.getpid()}"
    srv = start_server("--fastcgi-socket", str(path), "--fastcgi-socket", f"@{name}", "--chmod-socket=660",
                       "--vacuum", "-b", "127.0.0.1:0", "fcgi_apps:router", bind=None)
    srv.wait_for_log(rf"Listening at: unix:{path} \(fastcgi\)")
    srv.wait_for_log(rf"Listening at: unix:@{name} \(fastcgi\)")
    assert oct(path.stat().st_mode & 0o777) == "0o660"
    assert fc.call(str(path), fc.nginx_params("GET", "/hello"))[2] == b"hello"
    assert fc.call("\0" + name, fc.nginx_params("GET", "/hello"))[2] == b"hello"
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=10)  # HTTP next to them
    c.request("GET", "/hello")
    assert c.getresponse().read() == b"hello"
    c.close()
    assert srv.stop() == 0
    assert not path.exists()  # --vacuum removed our socket file
    if socket.has_ipv6:
        try:
            socket.create_server(("::1", 0), family=socket.AF_INET6).close()
        except OSError:
            return
        srv6 = start_server("--fastcgi-socket", "[::1]:0", "fcgi_apps:router", bind=None)
        assert srv6.host == "::1"
        assert fc.call(("::1", srv6.port), fc.nginx_params("GET", "/hello"))[2] == b"hello"


def _listening_socket() -> socket.socket:
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    return ls


def test_listener_on_fd0_found_and_named(start_server):
    """Apache mod_fcgid starts its application with the listening socket as stdin: with no address
    configured ferrocorn finds it there; ``--fastcgi-socket fd://0`` names it."""
    for args in ([], ["--fastcgi-socket", "fd://0"]):
        ls = _listening_socket()
        port = ls.getsockname()[1]
        srv = start_server(*args, "-w", "2", "fcgi_apps:router", bind=None, stdin=ls)
        ls.close()
        assert srv.port == port
        srv.wait_for_log(rf"Listening at: fastcgi://127\.0\.0\.1:{port}")
        if not args:
            srv.wait_for_log("fd 0 is a listening socket")
        for _ in range(4):
            assert fc.call(("127.0.0.1", port), fc.nginx_params("GET", "/hello"))[2] == b"hello"
        srv.stop()
    # With an address configured, a listener on fd 0 is left alone.
    ls = _listening_socket()
    srv = start_server("fcgi_apps:router", stdin=ls)
    ls.close()
    assert srv.url.startswith("http://") and "fd 0 is a listening socket" not in srv.log


def test_usr2_reexec_keeps_the_listener_speaking_fastcgi(start_server, tmp_path):
    pidfile = tmp_path / "app.pid"
    srv, addr = fcgi_server(start_server, "--pid", str(pidfile), "fcgi_apps:router", cwd=tmp_path)
    old_master = master_pid(srv)
    new_master = None
    try:
        os.kill(old_master, signal.SIGUSR2)
        pidfile2 = tmp_path / "app.pid.2"
        new_master = wait_for(lambda: read_pid(pidfile2), 15, message="the new master's pidfile")
        srv.wait_for_log(rf"Listening at: fastcgi://127\.0\.0\.1:{srv.port} \({new_master}\)", timeout=15)
        os.kill(old_master, signal.SIGTERM)
        assert srv.proc.wait(15) == 0
        for _ in range(3):
            assert fc.call(addr, fc.nginx_params("GET", "/hello"))[2] == b"hello"
    finally:
        if new_master is not None and is_running(new_master):
            assert stop_detached(new_master)


# ---- real nginx in front ---------------------------------------------------------------------------

def _through_nginx(port: int, *, rounds: int = 3) -> tuple[int, int]:
    """The checks every nginx test runs through ``port``; returns the requests made, and how many
    of them were HEAD requests."""
    n = 0
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(method, target, body=None, headers=None, **kw):
        nonlocal n
        n += 1
        c.request(method, target, body=body, headers=headers or {}, **kw)
        r = c.getresponse()
        return r, r.read()

    for _ in range(rounds):
        # The environ: path decoded once, repeated headers joined, the client nginx saw.
        c.putrequest("GET", "/env/r%C3%A9sum%C3%A9?x=%2F", skip_host=True)
        for k, v in [("Host", "h.test"), ("X-Multi", "a"), ("X-Multi", "b"), ("Cookie", "a=1"),
                     ("Cookie", "b=2"), ("Content-Type", "text/x-odd")]:
            c.putheader(k, v)
        c.endheaders()
        n += 1
        r = c.getresponse()
        env = env_of(r.read())
        assert r.status == 200
        assert env["SCRIPT_NAME"] == "" and env["PATH_INFO"] == "/env/r\xc3\xa9sum\xc3\xa9"
        assert env["QUERY_STRING"] == "x=%2F" and env["RAW_URI"] == "/env/r%C3%A9sum%C3%A9?x=%2F"
        assert env["HTTP_X_MULTI"] == "a, b" and env["HTTP_COOKIE"] == "a=1; b=2"
        assert env["CONTENT_TYPE"] == "text/x-odd" and "HTTP_CONTENT_TYPE" not in env
        assert env["REMOTE_ADDR"] == "127.0.0.1" and env["SERVER_NAME"] == "localhost"
        assert env["HTTP_HOST"] == "h.test" and env["REQUEST_METHOD"] == "GET"
        # A streamed response (no Content-Length): nginx frames it for its client.
        r, body = get("GET", "/stream?n=200")
        assert r.status == 200 and body.count(b"chunk ") == 200
        # HEAD: the head only; the client connection to nginx stays usable.
        r, body = get("HEAD", "/hello")
        assert r.status == 200 and body == b"" and r.getheader("Content-Length") == "5"
    # Several MiB sent chunked by the client: nginx buffers it and sends CONTENT_LENGTH (/echo),
    # or streams it without (/digest, fastcgi_request_buffering off).
    data = os.urandom(5 * 1024 * 1024 + 3)

    def chunks():
        for i in range(0, len(data), 256 * 1024):
            yield data[i:i + 256 * 1024]

    r, body = get("POST", "/echo", body=chunks(), encode_chunked=True,
                  headers={"Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream"})
    assert r.status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    assert r.getheader("X-Content-Length") == str(len(data))
    r, body = get("PUT", "/digest", body=chunks(), encode_chunked=True,
                  headers={"Transfer-Encoding": "chunked"})
    res = json.loads(body)
    assert r.status == 200 and res["size"] == len(data)
    assert res["sha256"] == hashlib.sha256(data).hexdigest()
    r, body = get("GET", "/hello")
    assert r.status == 200 and body == b"hello"
    c.close()
    return n, rounds


def _nginx_locations(upstream: str, keep: bool) -> str:
    keep_conn = "fastcgi_keep_conn on;" if keep else ""
    return f"""
location / {{
  include {FASTCGI_PARAMS};
  {keep_conn}
  fastcgi_pass {upstream};
}}
location /digest {{
  include {FASTCGI_PARAMS};
  {keep_conn}
  fastcgi_request_buffering off;
  fastcgi_pass {upstream};
}}
"""


@needs_nginx
@pytest.mark.parametrize("keep", [False, True], ids=["one-request-per-connection", "keep-conn"])
def test_nginx_fastcgi_pass_tcp(start_server, tmp_path, keep):
    srv, addr = fcgi_server(start_server, "--threads", "2", "fcgi_apps:router")
    relay = CountingRelay(addr)
    with relay as (rhost, rport):
        upstream = f"upstream app {{ server {rhost}:{rport}; keepalive 4; }}"
        with Nginx(tmp_path, _nginx_locations("app", keep), http_extra=upstream) as port:
            n, heads = _through_nginx(port)
        # With fastcgi_keep_conn and an upstream keepalive pool nginx reuses its connection;
        # without, every request has its own (closed by ferrocorn after END_REQUEST). nginx
        # itself drops the connection after a HEAD: it stops reading at the response head and
        # so never sees the END_REQUEST it keeps connections on (ngx_http_fastcgi_input_filter).
        if keep:
            assert relay.accepted == 1 + heads, (relay.accepted, heads)
        else:
            assert relay.accepted == n, (relay.accepted, n)
    assert "Traceback" not in srv.log


@needs_nginx
@pytest.mark.parametrize("keep", [False, True], ids=["one-request-per-connection", "keep-conn"])
def test_nginx_fastcgi_pass_unix_socket(start_server, tmp_path, keep):
    os.chmod(tmp_path, 0o755)
    sock = tmp_path / "fcgi.sock"
    srv = start_server("--fastcgi-socket", str(sock), "--chmod-socket=666", "-b", "127.0.0.1:0",
                       "fcgi_apps:router", bind=None)
    wait_for(sock.exists, 20, message="the FastCGI socket")
    relay = CountingRelay(str(sock), listen_path=str(tmp_path / "relay.sock"))
    with relay as rpath:
        upstream = f"upstream app {{ server unix:{rpath}; keepalive 4; }}"
        with Nginx(tmp_path, _nginx_locations("app", keep), http_extra=upstream) as port:
            n, heads = _through_nginx(port, rounds=2)
        if keep:
            assert relay.accepted == 1 + heads, (relay.accepted, heads)
        else:
            assert relay.accepted == n, (relay.accepted, n)
    # And straight to the socket, no relay in between.
    with Nginx(tmp_path, _nginx_locations(f"unix:{sock}", False)) as port:
        _through_nginx(port, rounds=1)
    assert "Traceback" not in srv.log


@needs_nginx
def test_django_behind_real_nginx_fastcgi_pass(start_server, tmp_path):
    djsite, static_root, env = djsite_with_static(tmp_path)
    srv = start_server("--fastcgi-socket", "127.0.0.1:0", "--chdir", str(djsite), "djsite.wsgi:application",
                       cwd=djsite, env=env, bind=None)
    with Nginx(tmp_path, f"""
location /static {{ alias {static_root}/; }}
location / {{
  include {FASTCGI_PARAMS};
  fastcgi_keep_conn on;
  fastcgi_pass app;
}}
""", http_extra=f"upstream app {{ server 127.0.0.1:{srv.port}; keepalive 2; }}") as port:
        check_django_through(port)
    assert "Traceback" not in srv.log


# ---- cgi-fcgi ----------------------------------------------------------------------------------------

@needs_cgi_fcgi
def test_cgi_fcgi_bind_connect(start_server, tmp_path):
    sock = tmp_path / "fcgi.sock"
    srv = start_server("--fastcgi-socket", "127.0.0.1:0", "--fastcgi-socket", str(sock),
                       "fcgi_apps:router", bind=None)
    wait_for(sock.exists, 20, message="the FastCGI socket")
    body = os.urandom(100_000)
    env = {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "/echo", "QUERY_STRING": "a=b",
           "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/octet-stream",
           "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
           "REMOTE_ADDR": "127.0.0.1", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for target in (f"{srv.host}:{srv.port}", str(sock)):
        out = subprocess.run([CGI_FCGI, "-bind", "-connect", target], input=body, env=env,
                             capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        status, headers, resp, _ = fc.parse_cgi(out.stdout)
        assert status == 200 and resp == body
        assert headers["x-path"] == "/echo" and headers["x-content-length"] == str(len(body))
    env.update(REQUEST_METHOD="GET", SCRIPT_NAME="/env", CONTENT_LENGTH="")
    out = subprocess.run([CGI_FCGI, "-bind", "-connect", str(sock)], input=b"", env=env,
                         capture_output=True, timeout=30)
    got = env_of(fc.parse_cgi(out.stdout)[2])
    assert (got["SCRIPT_NAME"], got["PATH_INFO"], got["QUERY_STRING"]) == ("", "/env", "a=b")
    assert got["REMOTE_ADDR"] == "127.0.0.1" and got["SERVER_PROTOCOL"] == "HTTP/1.1"


# ---- real Apache httpd in front ----------------------------------------------------------------------

# One child process, so the connection pool Apache keeps per child is the only one.
APACHE_ONE_CHILD = """
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
"""


@pytest.mark.skipif(not apache_has("mod_proxy", "mod_proxy_fcgi"),
                    reason="apache2 is installed by scripts/test.sh")
def test_behind_real_apache_mod_proxy_fcgi_enablereuse(start_server, tmp_path):
    srv, addr = fcgi_server(start_server, "--script-name", "/app", "fcgi_apps:router")
    relay = CountingRelay(addr)
    with relay as (rhost, rport):
        with Apache(tmp_path, APACHE_ONE_CHILD + f"""
ProxyPass /app fcgi://{rhost}:{rport}/ enablereuse=on
""", modules=["mod_proxy", "mod_proxy_fcgi"]) as port:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            n = 0
            for _ in range(3):
                c.putrequest("GET", "/app/env/some/wh%C3%A9re?x=1")
                c.putheader("X-Multi", "a")
                c.putheader("X-Multi", "b")
                c.endheaders()
                n += 1
                r = c.getresponse()
                body = r.read()
                assert r.status == 200, body[:300]
                env = env_of(body)
                # mod_proxy_fcgi sends SCRIPT_NAME = the whole decoded path and no PATH_INFO;
                # the mount point splits it.
                assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/env/some/wh\xc3\xa9re")
                assert env["QUERY_STRING"] == "x=1" and env["RAW_URI"] == "/app/env/some/wh%C3%A9re?x=1"
                assert env["REMOTE_ADDR"] == "127.0.0.1" and env["HTTP_X_MULTI"] == "a, b"
            data = os.urandom(2 * 1024 * 1024 + 5)
            c.request("POST", "/app/echo", body=data, headers={"Content-Type": "application/octet-stream"})
            n += 1
            r = c.getresponse()
            assert r.status == 200 and r.read() == data
            c.request("GET", "/app/stream?n=500")
            n += 1
            r = c.getresponse()
            assert r.status == 200 and r.read().count(b"chunk ") == 500
            c.close()
            # enablereuse=on: Apache sets KEEP_CONN and keeps its connection for the next requests.
            assert relay.accepted == 1, (relay.accepted, n)
    assert "Traceback" not in srv.log


def _python_for_user(user: str, pythonpath: str) -> str | None:
    """An interpreter ``user`` can run ferrocorn with (ours may live where only we can reach)."""
    if os.geteuid() != 0:
        return sys.executable
    if shutil.which("runuser") is None:
        return None
    v = sys.version_info
    for cand in (sys.executable, f"/usr/bin/python{v.major}.{v.minor}", "/usr/bin/python3"):
        if not os.path.exists(cand):
            continue
        ok = subprocess.run(["runuser", "-u", user, "--", "env", f"PYTHONPATH={pythonpath}", cand, "-c",
                             "import sys, ferrocorn._ferrocorn; "
                             f"sys.exit(sys.version_info[:2] != {tuple(v[:2])})"],
                            capture_output=True, timeout=30)
        if ok.returncode == 0:
            return cand
    return None


@pytest.mark.skipif(not apache_has("mod_fcgid"), reason="libapache2-mod-fcgid is installed by scripts/test.sh")
def test_behind_real_apache_mod_fcgid_which_starts_ferrocorn():
    """mod_fcgid starts the application itself, with the listening socket as its stdin (fd 0). (One
    process here, so its log is the one to read; mod_fcgid starts more for concurrent requests.)"""
    import ferrocorn
    import tempfile
    # Apache's children run as www-data when we are root: they must reach these files. Our
    # interpreter's site-packages may not be reachable (pyenv under /root), so the installed
    # package is copied next to them; the system's python3 of the same version runs it.
    work = Path(tempfile.mkdtemp(prefix="ferrocorn-fcgid-"))
    try:
        os.chmod(work, 0o755)
        site = work / "site"
        shutil.copytree(Path(ferrocorn.__file__).resolve().parent, site / "ferrocorn",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for d, dirs, files in os.walk(site):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o755)
        pythonpath = os.pathsep.join([str(site), str(ROOT / "tests" / "apps")])
        user = "www-data" if os.geteuid() == 0 else None
        python = _python_for_user(user, pythonpath) if user else sys.executable
        if python is None:
            pytest.skip("no Python interpreter of this version that Apache's user (www-data) can run")
        ipc = work / "ipc"
        ipc.mkdir()
        os.chmod(ipc, 0o777)
        log = work / "app.log"
        wrapper = work / "app.fcgi"
        wrapper.write_text(f"#!/bin/sh\nexec {python} -m ferrocorn -w 1 --script-name /fcgid "
                           f"fcgi_apps:router 2>>{log}\n")
        os.chmod(wrapper, 0o755)
        log.touch()
        os.chmod(log, 0o666)
        with Apache(work, APACHE_ONE_CHILD + f"""
FcgidIPCDir {ipc}
FcgidProcessTableFile {work}/fcgid_shm
FcgidInitialEnv PYTHONPATH {pythonpath}
FcgidMaxProcessesPerClass 1
FcgidMaxRequestLen 67108864
<Location /fcgid>
  SetHandler fcgid-script
  Options +ExecCGI
  FcgidWrapper {wrapper} virtual
</Location>
""", modules=["mod_fcgid"]) as port:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("GET", "/fcgid/env/x?y=1")
            r = c.getresponse()
            body = r.read()
            assert r.status == 200, (body[:500], log.read_text())
            env = env_of(body)
            assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/fcgid", "/env/x")
            assert env["QUERY_STRING"] == "y=1" and env["REQUEST_METHOD"] == "GET"
            data = os.urandom(1024 * 1024 + 1)
            c.request("POST", "/fcgid/digest", body=data, headers={"Content-Type": "application/octet-stream"})
            r = c.getresponse()
            res = json.loads(r.read())
            assert r.status == 200 and res["sha256"] == hashlib.sha256(data).hexdigest()
            for _ in range(5):
                c.request("GET", "/fcgid/hello")
                r = c.getresponse()
                assert r.status == 200 and r.read() == b"hello"
            c.close()
            text = log.read_text()
            assert "fd 0 is a listening socket" in text, text
            assert "Listening at: unix:" in text and "(fastcgi)" in text, text
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.skipif(not apache_has("mod_proxy", "mod_proxy_fcgi"),
                    reason="apache2 is installed by scripts/test.sh")
def test_django_behind_real_apache_mod_proxy_fcgi_with_its_static_files(start_server, tmp_path):
    """The example Django project behind Apache ``mod_proxy_fcgi``; its collected static files are
    served by ferrocorn itself (``--static``), so they reach the browser through Apache too."""
    djsite, static_root, env = djsite_with_static(tmp_path)
    srv = start_server("--fastcgi-socket", "127.0.0.1:0", "--static", f"/static={static_root}",
                       "--chdir", str(djsite), "djsite.wsgi:application", cwd=djsite, env=env, bind=None)
    with Apache(tmp_path, APACHE_ONE_CHILD + f"""
ProxyPass / fcgi://127.0.0.1:{srv.port}/ enablereuse=on
""", modules=["mod_proxy", "mod_proxy_fcgi"]) as port:
        check_django_through(port, chunked_upload=False)
    assert "Traceback" not in srv.log
