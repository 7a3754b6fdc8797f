"""Gathered writes (issue 3).

A worker with one thread serves every ready connection of a poll round, then writes the small
finished responses of that round back to back (at most 1 ms after the first of them finished),
so the peer is woken once per round instead of once per response. None of that may show to a
client: every response reaches its own connection, in order, pipelined or not; a streamed item
is sent before the app produces the next one; and a response is never lost when the
connection's next bytes are garbage, when the client goes away, or when the worker stops.
"""
from __future__ import annotations

import http.client
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from frontends import NGINX, CountingRelay, Nginx  # noqa: E402
from rawhttp import Conn, ConnectionClosed, build_request  # noqa: E402

ferrocorn_only = pytest.mark.ferrocorn_only


@pytest.mark.parametrize("threads", ["1", "4"])  # 4: the serving thread keeps the poll turn
def test_every_connection_of_a_round_gets_its_own_responses(serve, threads):
    srv = serve("echo", "--threads", threads)
    conns = [Conn(srv) for _ in range(48)]
    try:
        for rnd in range(15):
            # Every connection has a request waiting before any answer is read: the worker finds
            # them together in one poll round.
            for i, c in enumerate(conns):
                body = b"%d-%d" % (i, rnd) * (i % 3)
                c.send(build_request("POST", f"/c{i}/r{rnd}", headers=[("Content-Length", str(len(body)))],
                                     body=body))
            for i, c in enumerate(conns):
                r = c.read_response()
                assert r.status == 200
                assert r.header("X-Path") == f"/c{i}/r{rnd}"
                assert r.body == b"%d-%d" % (i, rnd) * (i % 3)
    finally:
        for c in conns:
            c.close()


def test_pipelined_requests_on_many_connections_are_answered_in_order(serve):
    srv = serve("echo")
    conns = [Conn(srv) for _ in range(16)]
    try:
        for i, c in enumerate(conns):
            c.send(b"".join(build_request("GET", f"/c{i}/p{k}") for k in range(4)))
        for i, c in enumerate(conns):
            for k in range(4):
                r = c.read_response()
                assert r.status == 200 and r.header("X-Path") == f"/c{i}/p{k}"
    finally:
        for c in conns:
            c.close()


def test_answer_reaches_the_client_before_a_bad_pipelined_request_closes(serve):
    srv = serve("echo")
    with Conn(srv) as c:
        c.send(build_request("GET", "/good") + b"BAD REQUEST LINE\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.header("X-Path") == "/good"
        r = c.read_response()
        assert r.status == 400
        closed, _ = c.wait_closed(3)
        assert closed


def test_first_request_on_a_new_connection_is_answered_at_once(serve):
    # The request that comes with the connection is served from the accept path, outside any
    # round: its answer must not wait for a later event on that connection.
    srv = serve("hello")
    for _ in range(20):
        with Conn(srv, timeout=2) as c:
            c.send(build_request("GET", "/"))
            r = c.read_response()
            assert r.status == 200 and r.body == b"hello"


@pytest.mark.parametrize("length", ["0", "1"])
def test_streamed_item_is_sent_before_the_next_is_produced(serve, length):
    srv = serve("paced")
    with Conn(srv) as c:
        t0 = time.monotonic()
        c.send(build_request("GET", f"/?pause=1.5&length={length}"))
        c.read_until(b"first")
        took = time.monotonic() - t0
        assert took < 1.0, f"the first item took {took:.2f}s: it waited for the second"
        r_rest = c.read_until(b"second")
        assert r_rest.endswith(b"second")


def test_body_complete_before_the_iterable_ends(serve):
    # Content-Length reached on the last data item, then empty items: one whole response, and
    # the connection serves the next request.
    srv = serve("paced")
    with Conn(srv) as c:
        for _ in range(3):
            r = c.request("GET", "/?pause=0&length=1&extra=3")
            assert r.status == 200 and r.body == b"firstsecond"
            assert r.header("Content-Length") == "11"


def test_many_clients_at_once_all_answered(serve):
    srv = serve("hello")
    errors: list[str] = []

    def client(n):
        try:
            with Conn(srv, timeout=10) as c:
                for _ in range(n):
                    r = c.request("GET", "/")
                    if r.status != 200 or r.body != b"hello":
                        errors.append(f"{r.status} {r.body!r}")
        except Exception as e:  # noqa: BLE001 - collected and reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(200,)) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]


def test_client_gone_before_the_round_ends_costs_nothing(serve):
    srv = serve("echo")
    for _ in range(5):
        socks = []
        for i in range(16):
            s = srv.connect()
            s.sendall(build_request("GET", f"/gone{i}"))
            socks.append(s)
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
    with Conn(srv) as c:
        r = c.request("GET", "/after")
        assert r.status == 200 and r.header("X-Path") == "/after"
    assert srv.alive()


@ferrocorn_only
def test_stop_during_a_round_leaves_no_partial_answer(serve):
    # TERM may land in the middle of a round. A request the worker read gets its whole answer
    # before the connection closes; one it had not read yet gets a clean close, never a torn or
    # misplaced response.
    srv = serve("echo", "--graceful-timeout", "5")
    conns = [Conn(srv) for _ in range(16)]
    for i, c in enumerate(conns):
        assert c.request("GET", f"/warm{i}").status == 200
    for i, c in enumerate(conns):
        c.send(build_request("GET", f"/last{i}"))
    srv.stop()
    for i, c in enumerate(conns):
        try:
            r = c.read_response()
        except ConnectionClosed:
            assert c.buf == b"", f"connection {i} closed mid-response: {c.buf!r}"
            continue
        assert r.status == 200 and r.header("X-Path") == f"/last{i}"
    for c in conns:
        c.close()


FASTCGI_PARAMS = Path("/etc/nginx/fastcgi_params")

NGINX_LOCATIONS = {
    # proxy_pass over HTTP/1.1 with kept upstream connections.
    "proxy_pass": """
location / {
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_pass http://app;
}
""",
    # fastcgi_pass with KEEP_CONN: the answer and its END_REQUEST are gathered together.
    "fastcgi_keep_conn": f"""
location / {{
  include {FASTCGI_PARAMS};
  fastcgi_keep_conn on;
  fastcgi_pass app;
}}
""",
}


@ferrocorn_only
@pytest.mark.skipif(NGINX is None, reason="nginx is installed by scripts/test.sh")
@pytest.mark.parametrize("front", list(NGINX_LOCATIONS))
def test_behind_nginx_keepalive_pool_every_answer_reaches_its_request(start_server, tmp_path, front):
    # The production shape: nginx with an upstream keep-alive pool and many clients at once, so
    # nginx has several requests in flight on its kept connections and the worker answers them
    # in rounds. Every body is unique: a gathered answer sent on the wrong connection or for the
    # wrong request would show.
    if front == "proxy_pass":
        srv = start_server("wsgi_apps:echo")
    else:
        srv = start_server("--fastcgi-socket", "127.0.0.1:0", "wsgi_apps:echo", bind=None)
    relay = CountingRelay((srv.host, srv.port))
    errors: list[str] = []
    with relay as (rhost, rport):
        upstream = f"upstream app {{ server {rhost}:{rport}; keepalive 16; }}"
        with Nginx(tmp_path, NGINX_LOCATIONS[front], http_extra=upstream) as port:
            def client(k):
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    for i in range(60):
                        body = b"<%d.%d>" % (k, i) * (1 + i % 4)
                        c.request("POST", f"/k{k}/i{i}", body=body)
                        r = c.getresponse()
                        got = r.read()
                        if r.status != 200 or got != body:
                            errors.append(f"{k}/{i}: {r.status} {got[:40]!r}")
                    c.close()
                except Exception as e:  # noqa: BLE001 - collected and reported below
                    errors.append(f"{k}: {e!r}")

            threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
    assert not errors, errors[:5]
    # nginx kept its connections: far fewer than the 960 requests.
    assert relay.accepted <= 64, relay.accepted
    assert "Traceback" not in srv.log
