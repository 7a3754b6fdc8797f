"""Items of an app's iterable that come quickly are held and written together (one wake-up of the
client for many items; crates/ferrocorn-server/src/hold.rs has the rules). What the client
receives must not change: every byte, in order, cut at the Content-Length, with write() calls
in their place, the items before a failure still sent, and a slow stream still item by item."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from rawhttp import Conn, build_request  # noqa: E402


def expected(n, size, write_at=None):
    items = [bytes([65 + i % 26]) * size for i in range(n)]
    if write_at is not None:
        items.insert(write_at, b"<w>")
    return b"".join(items)


@pytest.mark.parametrize("n,size", [
    (16, 65536),     # the bench's 1 MiB stream
    (300, 100),      # more items than are ever held at once
    (40, 50_000),    # more bytes than are ever held at once
    (3, 1),
])
def test_quick_items_arrive_whole_and_in_order(serve, n, size):
    srv = serve("stream_items")
    with Conn(srv, timeout=10) as c:
        for _ in range(2):  # and the connection is fine for the next request
            r = c.request("GET", "/?n=%d&size=%d" % (n, size))
            assert r.status == 200 and r.header("Content-Length") == str(n * size)
            assert r.body == expected(n, size)


@pytest.mark.parametrize("threads", ["1", "4"])
def test_pipelined_held_streams_stay_apart(serve, threads):
    srv = serve("stream_items", "--threads", threads)
    with Conn(srv, timeout=10) as c:
        c.send(build_request("GET", "/?n=20&size=30000") + build_request("GET", "/?n=5&size=7"))
        assert c.read_response().body == expected(20, 30000)
        assert c.read_response().body == expected(5, 7)


def test_many_clients_of_held_streams_on_four_threads(serve):
    # 12 clients at once, each 5 requests of a held 600 KB stream, against 4 request threads.
    import threading

    srv = serve("stream_items", "--threads", "4")
    want, errors = expected(12, 50_000), []

    def client():
        try:
            with Conn(srv, timeout=20) as c:
                for _ in range(5):
                    r = c.request("GET", "/?n=12&size=50000")
                    assert r.status == 200 and r.body == want
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    srv.assert_worker_not_replaced()


def test_write_inside_the_iterable_keeps_its_place(serve):
    srv = serve("stream_items")
    with Conn(srv, timeout=10) as c:
        r = c.request("GET", "/?n=10&size=1000&write_at=6")
        assert r.status == 200 and r.body == expected(10, 1000, write_at=6)


def test_items_past_the_content_length_are_cut(serve):
    srv = serve("stream_items")
    with Conn(srv, timeout=10) as c:
        r = c.request("GET", "/?n=10&size=1000&cl=4500")
        assert r.status == 200 and r.body == expected(10, 1000)[:4500]
        assert c.request("GET", "/?n=2&size=3").body == expected(2, 3)


def test_items_before_a_failure_are_still_sent(serve):
    # Five quick items, then the iterable raises: the head was sent, so the connection closes;
    # the held items go out first.
    srv = serve("stream_items")
    with Conn(srv, timeout=10) as c:
        c.send(build_request("GET", "/?n=10&size=1000&raise_after=5"))
        data = c.read_until_close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == expected(5, 1000)
    srv.wait_for_log(r"RuntimeError: stream failed after 5 items", timeout=5)
    srv.assert_worker_not_replaced()


def test_a_slow_stream_is_sent_item_by_item(serve):
    # Items 0.4 s apart (with a Content-Length): each must reach the client before the app has
    # produced the next, as without holding.
    srv = serve("stream_items")
    with Conn(srv, timeout=10) as c:
        t0 = time.monotonic()
        c.send(build_request("GET", "/?n=4&size=2000&gap=0.4"))
        c.read_until(b"\r\n\r\n")
        for i in range(4):
            while len(c.buf) < 2000:
                c._recv()
            item, c.buf = c.buf[:2000], c.buf[2000:]
            assert item == bytes([65 + i]) * 2000
            # item i is produced at 0.4 * i s; item i + 1 only 0.4 s later
            assert time.monotonic() - t0 < 0.4 * i + 0.3, "item %d was held back" % i


def test_a_stream_without_content_length_is_never_held(serve):
    # Chunked (a live stream, e.g. server-sent events): three quick items, then the app pauses
    # for 1 s. The three must reach the client during the pause, not after it.
    srv = serve("stream_items")
    with Conn(srv, timeout=10) as c:
        t0 = time.monotonic()
        c.send(build_request("GET", "/?n=4&size=100&cl=none&pause_at=3&pause=1"))
        head = c.read_until(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head
        for i in range(3):
            c.read_until(b"64\r\n")
            assert c.read_until(b"\r\n") == bytes([65 + i]) * 100 + b"\r\n"
        assert time.monotonic() - t0 < 0.7, "quick items of a chunked stream were held"
        c.read_until(b"0\r\n\r\n")
        assert time.monotonic() - t0 >= 1.0
