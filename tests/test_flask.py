"""End-to-end tests of the bundled Flask example (examples/flaskapp.py) over real sockets."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent

import flask  # noqa: E402,F401  (a missing Flask fails the suite instead of skipping it)


@pytest.fixture
def start_flask(start_server):
    def start(*extra):
        return start_server(*extra, "examples.flaskapp:app", cwd=ROOT)

    return start


@pytest.fixture
def flask_server(start_flask):
    return start_flask()


def test_index(flask_server):
    r = requests.get(flask_server.url + "/", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.text == "Hello from Flask!\n"
    assert int(r.headers["Content-Length"]) == len(r.content)


def test_api_json(flask_server):
    r = requests.get(flask_server.url + "/api/json", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert int(r.headers["Content-Length"]) == len(r.content)
    body = r.json()
    assert body["message"] == "hello" and body["success"] is True
    assert [item["id"] for item in body["items"]] == [1, 2, 3, 4, 5]


def test_api_echo_json(flask_server):
    payload = {"username": "john", "tags": ["a", "b"], "nested": {"n": 1, "unicode": "h\u00e9llo \u2603"}}
    r = requests.post(flask_server.url + "/api/echo", json=payload, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"success": True, "data": payload}


def test_api_echo_rejects_non_json_and_get(flask_server):
    r = requests.post(flask_server.url + "/api/echo", data={"username": "john"}, timeout=10)
    assert r.status_code == 400
    assert r.json()["success"] is False
    r = requests.get(flask_server.url + "/api/echo", timeout=10)
    assert r.status_code == 405
    assert "POST" in r.headers["Allow"]


def test_get_data_with_content_length(flask_server):
    content = os.urandom(3 * 1024 * 1024 + 7)
    r = requests.post(
        flask_server.url + "/data", data=content,
        headers={"Content-Type": "application/octet-stream"}, timeout=30,
    )
    assert r.status_code == 200
    assert r.json() == {
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "content_type": "application/octet-stream",
        "chunked": False,
    }


def test_get_data_with_chunked_request_body(flask_server):
    content = os.urandom(2 * 1024 * 1024 + 5)

    def pieces():
        for i in range(0, len(content), 50_000):
            yield content[i:i + 50_000]

    r = requests.post(
        flask_server.url + "/data", data=pieces(),
        headers={"Content-Type": "application/octet-stream"}, timeout=30,
    )
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 200
    assert r.json()["size"] == len(content)
    assert r.json()["sha256"] == hashlib.sha256(content).hexdigest()


def test_get_data_empty_body(flask_server):
    r = requests.post(flask_server.url + "/data", timeout=10)
    assert r.status_code == 200
    assert r.json()["size"] == 0
    assert r.json()["sha256"] == hashlib.sha256(b"").hexdigest()


def test_stream_is_chunked_and_complete(flask_server):
    n = 200
    r = requests.get(flask_server.url + f"/stream?n={n}", stream=True, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in r.headers
    assert list(r.iter_lines(decode_unicode=True)) == [f"chunk {i}" for i in range(n)]


def test_stream_is_not_buffered(flask_server):
    # 5 chunks 0.4 s apart: the first must reach the client long before the generator finishes.
    start = time.monotonic()
    r = requests.get(flask_server.url + "/stream?n=5&delay=0.4", stream=True, timeout=10)
    assert r.status_code == 200
    chunks = r.iter_content(chunk_size=None)
    first = next(chunks)
    first_at = time.monotonic() - start
    rest = b"".join(chunks)
    total = time.monotonic() - start
    assert first == b"chunk 0\n"
    assert (first + rest).decode() == "".join(f"chunk {i}\n" for i in range(5))
    assert total >= 1.6
    assert first_at < 1.0, f"first chunk after {first_at:.2f}s of {total:.2f}s: response was buffered"


def test_error_is_500_and_traceback_is_logged(flask_server):
    r = requests.get(flask_server.url + "/error", timeout=10)
    assert r.status_code == 500
    assert "Internal Server Error" in r.text
    assert "Traceback" not in r.text and "RuntimeError" not in r.text
    # Flask logs the exception to wsgi.errors, which must end up in the server's error log.
    flask_server.wait_for_log(
        r"Exception on /error \[GET\]\s+Traceback \(most recent call last\):"
        r"[\s\S]*flaskapp\.py[\s\S]*RuntimeError: flaskapp example: /error always fails"
    )
    assert requests.get(flask_server.url + "/api/json", timeout=10).status_code == 200
    assert flask_server.alive()


def test_keepalive_several_requests_on_one_connection(start_flask):
    server = start_flask("--threads", "4")
    url = server.url
    seen = []

    def record_connection(r, *args, **kwargs):
        # Called before the body is read, while urllib3 still holds the connection (a connection
        # the server is closing has no socket any more).
        sock = getattr(r.raw.connection, "sock", None)
        seen.append((sock.getsockname() if sock else None, r.headers.get("Connection")))

    with requests.Session() as s:
        s.hooks["response"].append(record_connection)
        for i in range(4):
            assert s.get(url + "/api/json", timeout=10).json()["success"] is True
            assert s.post(url + "/api/echo", json={"i": i}, timeout=10).json()["data"] == {"i": i}
            r = s.post(url + "/data", data=b"x" * 1000, timeout=10)
            assert r.json()["size"] == 1000
            assert s.get(url + "/stream?n=3", timeout=10).text == "chunk 0\nchunk 1\nchunk 2\n"
    assert len(seen) == 16
    addrs = {addr for addr, _ in seen}
    assert None not in addrs and len(addrs) == 1, f"the connection was not kept alive: {seen}"
    assert all(header != "close" for _, header in seen)
