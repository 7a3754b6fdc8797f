"""The example Django project (examples/djsite) behind a real front end: its static files
collected for the front end to serve, and one walk through the site as a browser makes it (pages,
static files, a CSRF form, a streamed response, a multi-MiB chunked upload, HEAD). Shared by the
uwsgi and FastCGI front-end tests."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DJSITE = ROOT / "examples" / "djsite"


def djsite_with_static(tmp_path: Path):
    """Collect the example's static files under ``tmp_path``; returns (project dir, static root,
    the environment the server needs to agree on that root)."""
    static_root = tmp_path / "staticfiles"
    env = {"DJANGO_STATIC_ROOT": str(static_root)}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=str(DJSITE),
                   env={**os.environ, **env}, check=True, capture_output=True, timeout=60)
    return DJSITE, static_root, env


def check_django_through(port: int, chunked_upload: bool = True):
    """Walk the example site through the front end listening on 127.0.0.1:``port`` (/static is
    served by the front end or by ferrocorn's ``--static`` behind it).

    ``chunked_upload=False`` for Apache: mod_proxy_fcgi passes a client's chunked body on as a
    stream without CONTENT_LENGTH (Django reads CONTENT_LENGTH bytes only, so it would see an empty
    body whatever the server, gunicorn too), and mod_proxy_uwsgi answers such a request 411 itself.
    nginx buffers the body and sends its length."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", "/api/json")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200, body[:300]
    assert json.loads(body)["success"] is True
    c.request("GET", "/page")
    r = c.getresponse()
    page = r.read()
    assert r.status == 200 and b"/static/" in page
    c.request("GET", "/static/demo/style.css")
    r = c.getresponse()
    assert r.status == 200 and len(r.read()) > 0
    # A form with its CSRF token and cookie, as a browser does it.
    c.request("GET", "/form")
    r = c.getresponse()
    form = r.read().decode()
    cookie = r.getheader("Set-Cookie").split(";")[0]
    token = form.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    body = f"csrfmiddlewaretoken={token}&name=Ann&email=ann%40example.com&message=hi"
    c.request("POST", "/form", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
        "Referer": f"http://127.0.0.1:{port}/form"})
    r = c.getresponse()
    r.read()
    assert r.status == 302, r.status
    # A streamed response (no length) through the front end.
    c.request("GET", "/stream?n=50")
    r = c.getresponse()
    assert r.status == 200 and r.read().count(b"chunk ") == 50
    # A multi-MiB upload, sent chunked by the client when the front end turns it into a length.
    data = os.urandom(3 * 1024 * 1024 + 17)
    boundary = "----ferrocorn"
    mp = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.bin\"\r\n"
          f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()

    def chunks():
        for i in range(0, len(mp), 100_000):
            yield mp[i:i + 100_000]

    if chunked_upload:
        c.request("POST", "/upload", body=chunks(), encode_chunked=True,
                  headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                           "Transfer-Encoding": "chunked"})
    else:
        c.request("POST", "/upload", body=mp,
                  headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    r = c.getresponse()
    res = json.loads(r.read())
    assert r.status == 200 and res["size"] == len(data), res
    assert res["sha256"] == hashlib.sha256(data).hexdigest()
    # HEAD: the head only (the example's views are GET-only, so Django answers 405), and the
    # client connection to the front end stays usable.
    c.request("HEAD", "/")
    r = c.getresponse()
    assert r.status == 405 and r.read() == b""
    c.request("GET", "/api/json")
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read())["success"] is True
    c.close()
