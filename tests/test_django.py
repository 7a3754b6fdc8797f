"""End-to-end tests of the bundled Django example (examples/djsite) over real sockets.

The server runs ``djsite.wsgi:application`` exactly as the README tells users to:
``ferrocorn --chdir examples/djsite djsite.wsgi:application``.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from urllib3 import encode_multipart_formdata

ROOT = Path(__file__).resolve().parent.parent
DJSITE = ROOT / "examples" / "djsite"

import django  # noqa: E402,F401  (a missing Django fails the suite instead of skipping it)

CSRF_INPUT_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def start_django(start_server):
    def start(*extra):
        return start_server(*extra, "--chdir", str(DJSITE), "djsite.wsgi:application", cwd=DJSITE)

    return start


@pytest.fixture
def django_server(start_django):
    return start_django()


def test_api_json(django_server):
    r = requests.get(django_server.url + "/api/json", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert int(r.headers["Content-Length"]) == len(r.content)
    body = r.json()
    assert body["message"] == "hello"
    assert body["success"] is True
    assert [item["id"] for item in body["items"]] == [1, 2, 3, 4, 5]


def test_api_echo_form_like_seed_test(django_server):
    # The same request as the users' tests_excerpt.py: client.post(url, {'username': 'john'}).
    r = requests.post(django_server.url + "/api/echo", data={"username": "john"}, timeout=10)
    assert r.status_code == 200
    content = r.json()
    assert content["success"] is True
    assert content["content_type"] == "application/x-www-form-urlencoded"
    assert content["data"] == {"username": "john"}


def test_api_echo_json(django_server):
    payload = {"username": "john", "tags": ["a", "b"], "nested": {"n": 1, "unicode": "h\u00e9llo \u2603"}}
    r = requests.post(django_server.url + "/api/echo", json=payload, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"success": True, "content_type": "application/json", "data": payload}


def test_api_echo_rejects_bad_json_and_get(django_server):
    r = requests.post(
        django_server.url + "/api/echo", data=b"{not json",
        headers={"Content-Type": "application/json"}, timeout=10,
    )
    assert r.status_code == 400
    assert r.json()["success"] is False
    r = requests.get(django_server.url + "/api/echo", timeout=10)
    assert r.status_code == 405
    assert "POST" in r.headers["Allow"]


def test_template_page(django_server):
    r = requests.get(django_server.url + "/page", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert int(r.headers["Content-Length"]) == len(r.content)
    html = r.text
    # base.html (inheritance) with the static stylesheet, and the child's loop over 20 items.
    assert "<title>Page | ferrocorn example</title>" in html
    assert '<link rel="stylesheet" href="/static/demo/style.css">' in html
    rows = re.findall(r"<td>Item (\d+)</td><td>(\d+)</td>", html)
    assert [(int(n), int(sq)) for n, sq in rows] == [(i, i * i) for i in range(1, 21)]
    assert "20 items." in html


def test_unknown_url_is_404(django_server):
    r = requests.get(django_server.url + "/no/such/page", timeout=10)
    assert r.status_code == 404
    assert "Not Found" in r.text


def test_form_post_without_csrf_token_is_forbidden(django_server):
    r = requests.post(django_server.url + "/form", data={"name": "Ann", "email": "ann@example.com"}, timeout=10)
    assert r.status_code == 403
    assert "CSRF" in r.text


def test_form_post_with_token_but_without_cookie_is_forbidden(django_server):
    token = CSRF_INPUT_RE.search(requests.get(django_server.url + "/form", timeout=10).text).group(1)
    r = requests.post(
        django_server.url + "/form",
        data={"csrfmiddlewaretoken": token, "name": "Ann", "email": "ann@example.com"}, timeout=10,
    )
    assert r.status_code == 403


def _get_form(session: requests.Session, url: str) -> str:
    r = session.get(url + "/form", timeout=10)
    assert r.status_code == 200
    assert "csrftoken" in session.cookies
    m = CSRF_INPUT_RE.search(r.text)
    assert m, r.text
    return m.group(1)


def test_form_browser_flow_valid(django_server):
    url = django_server.url
    with requests.Session() as s:
        token = _get_form(s, url)
        r = s.post(
            url + "/form",
            data={"csrfmiddlewaretoken": token, "name": "Ann", "email": "ann@example.com"},
            headers={"Referer": url + "/form"}, timeout=10,
        )
    assert [h.status_code for h in r.history] == [302]
    assert r.history[0].headers["Location"] == "/form?ok=1"
    assert r.status_code == 200
    assert r.url == url + "/form?ok=1"
    assert "Thanks, your message was received." in r.text


def test_form_browser_flow_invalid(django_server):
    url = django_server.url
    with requests.Session() as s:
        token = _get_form(s, url)
        r = s.post(
            url + "/form",
            data={"csrfmiddlewaretoken": token, "name": "Ann", "email": "not-an-email"},
            headers={"Referer": url + "/form"}, timeout=10, allow_redirects=False,
        )
    assert r.status_code == 400
    assert "Enter a valid email address." in r.text
    assert 'value="Ann"' in r.text  # the form is re-rendered with what was posted
    assert "Thanks" not in r.text


def test_upload_3mib_file(django_server):
    content = os.urandom(3 * 1024 * 1024 + 123)
    r = requests.post(
        django_server.url + "/upload",
        files={"file": ("random.bin", content, "application/octet-stream")}, timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "success": True,
        "name": "random.bin",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "content_type": "application/octet-stream",
    }


def test_upload_without_file_is_400(django_server):
    r = requests.post(django_server.url + "/upload", data={"other": "x"}, timeout=10)
    assert r.status_code == 400
    assert "file" in r.json()["errors"]


def test_stream_is_chunked_and_complete(django_server):
    n = 50
    r = requests.get(django_server.url + f"/stream?n={n}", stream=True, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in r.headers
    lines = list(r.iter_lines(decode_unicode=True))
    assert lines == [f"chunk {i}" for i in range(n)]


def test_stream_default_and_empty(django_server):
    r = requests.get(django_server.url + "/stream", timeout=10)
    assert r.status_code == 200
    assert r.text == "".join(f"chunk {i}\n" for i in range(10))
    r = requests.get(django_server.url + "/stream?n=0", timeout=10)
    assert r.status_code == 200
    assert r.content == b""
    r = requests.get(django_server.url + "/stream?n=lots", timeout=10)
    assert r.status_code == 400


def test_error_is_500_and_traceback_is_logged(django_server):
    r = requests.get(django_server.url + "/error", timeout=10)
    assert r.status_code == 500
    assert "Server Error (500)" in r.text
    assert "Traceback" not in r.text and "RuntimeError" not in r.text  # DEBUG is off: no leak
    django_server.wait_for_log(
        r"Internal Server Error: /error\s+Traceback \(most recent call last\):"
        r"[\s\S]*views\.py[\s\S]*RuntimeError: djsite example: /error always fails"
    )
    # The server survives the failure.
    assert requests.get(django_server.url + "/api/json", timeout=10).status_code == 200
    assert django_server.alive()


def test_keepalive_several_requests_on_one_connection(start_django):
    server = start_django("--threads", "4")
    url = server.url
    local_addrs = []

    def record_connection(r, *args, **kwargs):
        # Called before the body is read, while urllib3 still holds the connection (a connection
        # the server is closing has no socket any more).
        sock = getattr(r.raw.connection, "sock", None)
        local_addrs.append((sock.getsockname() if sock else None, r.headers.get("Connection")))

    with requests.Session() as s:
        s.hooks["response"].append(record_connection)
        token = _get_form(s, url)
        for _ in range(3):
            r = s.get(url + "/api/json", timeout=10)
            assert r.status_code == 200 and r.json()["success"] is True
            r = s.get(url + "/page", timeout=10)
            assert r.status_code == 200 and r.text.count("<td>Item ") == 20
            r = s.get(url + "/stream?n=5", timeout=10)
            assert r.text == "".join(f"chunk {i}\n" for i in range(5))
            r = s.post(url + "/api/echo", data={"username": "john"}, timeout=10)
            assert r.json()["data"] == {"username": "john"}
        r = s.post(
            url + "/form", data={"csrfmiddlewaretoken": token, "name": "Bo", "email": "bo@example.com"},
            timeout=10,
        )
        assert r.status_code == 200 and "Thanks" in r.text
    assert len(local_addrs) == 15
    addrs = {addr for addr, _ in local_addrs}
    assert None not in addrs and len(addrs) == 1, f"the connection was not kept alive: {local_addrs}"
    assert all(header != "close" for _, header in local_addrs)


def test_collectstatic_gathers_app_css(tmp_path):
    # What a deployment runs before pointing nginx (or ferrocorn) at STATIC_ROOT.
    out = tmp_path / "static"
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=DJSITE, check=True,
        env={**os.environ, "DJANGO_STATIC_ROOT": str(out)}, capture_output=True,
    )
    css = out / "demo" / "style.css"
    assert css.read_bytes() == (DJSITE / "demo" / "static" / "demo" / "style.css").read_bytes()
