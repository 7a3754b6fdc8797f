"""Static files (issue 5): ``--static URL=DIR`` / uWSGI's ``static-map`` served by the worker in
Rust without calling the app — types, lengths, validators, 304s, ranges, precompressed siblings,
traversal attempts that never return what is outside the root, fall-through to the app for paths
that name no file, a 20 MiB file intact, proof that Python is never entered, the uwsgi and FastCGI
front ends, the ini and Python-config spellings, and the Django example's collected static files."""
from __future__ import annotations

import email.utils
import gzip
import hashlib
import http.client
import os
import socket
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))

import fcgiclient as fc  # noqa: E402
import uwsgiclient as uw  # noqa: E402
from proctools import wait_for  # noqa: E402

try:
    import brotli
except ImportError:  # the server never decodes .br files: any bytes do for the header checks
    brotli = None

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.ferrocorn_only

SECRET = b"TOPSECRET-do-not-serve"
CSS = b"body { color: #123456; }\n" * 40
JS = b"console.log('hi');\n" * 30
ETAG_RE = re.compile(r'^"[0-9a-f]+-[0-9a-f]+(-br|-gz)?"$')


def make_site(tmp: Path) -> Path:
    """tmp/site (the static root) and tmp/secret.txt (outside it)."""
    (tmp / "secret.txt").write_bytes(SECRET)
    (tmp / "secretdir").mkdir()
    (tmp / "secretdir" / "x.txt").write_bytes(SECRET)
    root = tmp / "site"
    (root / "sub").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"hello static\n")
    (root / "has space.txt").write_bytes(b"spaced\n")
    (root / "style.css").write_bytes(CSS)
    (root / "style.css.gz").write_bytes(gzip.compress(CSS))
    (root / "style.css.br").write_bytes(brotli.compress(CSS) if brotli else b"\x8b\x00br-bytes")
    (root / "app.js").write_bytes(JS)
    (root / "app.js.gz").write_bytes(gzip.compress(JS))
    (root / "blob.dat").write_bytes(os.urandom(70_000))
    (root / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(500))
    (root / "sub" / "inner.json").write_bytes(b'{"a": 1}')
    (root / "empty.txt").write_bytes(b"")
    os.symlink(tmp / "secret.txt", root / "out")          # a file outside the root
    os.symlink(tmp / "secretdir", root / "outdir")       # a directory outside the root
    os.symlink(tmp, root / "updir")                       # the parent directory
    os.symlink(root / "hello.txt", root / "in")           # inside, pointing inside: fine
    os.symlink("hello.txt", root / "relin")               # the same, relative
    os.symlink("../secret.txt", root / "relout")          # relative, out of the root
    return root


class Client:
    """One keep-alive HTTP connection; ``get`` returns (status, headers (lower-case), body)."""

    def __init__(self, srv):
        self.c = http.client.HTTPConnection(srv.host, srv.port, timeout=20)

    def req(self, method, target, headers=None, body=None):
        self.c.request(method, target, body=body, headers=headers or {})
        r = self.c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def get(self, target, **headers):
        return self.req("GET", target, {k.replace("_", "-"): v for k, v in headers.items()})

    def close(self):
        self.c.close()


def calls_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


@pytest.fixture
def served(start_server, tmp_path, site):
    """A server with --static /static=site in front of the recording ``hello`` app."""
    calls = tmp_path / "calls"
    srv = start_server("--static", f"/static={site}", "--log-level", "debug",
                       "--access-logfile", "-", "wsgi_apps:hello",
                       env={"FERRO_TEST_CALLS": str(calls)})
    c = Client(srv)
    yield srv, c, calls
    c.close()


def test_files_with_type_length_and_validators(served, site):
    srv, c, calls = served
    st, h, body = c.get("/static/hello.txt")
    assert (st, body) == (200, b"hello static\n")
    assert h["content-type"] == "text/plain; charset=utf-8"
    assert h["content-length"] == "13"
    mtime = int((site / "hello.txt").stat().st_mtime)
    assert h["last-modified"] == email.utils.formatdate(mtime, usegmt=True)
    assert ETAG_RE.match(h["etag"]), h["etag"]
    assert h["cache-control"] == "public, max-age=3600"
    assert h["accept-ranges"] == "bytes"
    assert "vary" not in h and "content-encoding" not in h  # no siblings
    expect = {
        "/static/pic.png": ("image/png", site / "pic.png"),
        "/static/blob.dat": ("application/octet-stream", site / "blob.dat"),
        "/static/sub/inner.json": ("application/json", site / "sub" / "inner.json"),
        "/static/style.css": ("text/css; charset=utf-8", site / "style.css"),
        "/static/app.js": ("text/javascript; charset=utf-8", site / "app.js"),
        "/static/has%20space.txt": ("text/plain; charset=utf-8", site / "has space.txt"),
        "/static/hello.txt?v=123": ("text/plain; charset=utf-8", site / "hello.txt"),
        "/st%61tic/sub/inner.json": ("application/json", site / "sub" / "inner.json"),
        "/static//sub/./inner.json": ("application/json", site / "sub" / "inner.json"),
        "/static/in": ("application/octet-stream", site / "hello.txt"),  # symlink inside the root
        "/static/relin": ("application/octet-stream", site / "hello.txt"),
        "/static/empty.txt": ("text/plain; charset=utf-8", site / "empty.txt"),
    }
    for target, (ctype, f) in expect.items():
        st, h, body = c.get(target)  # all on the one keep-alive connection
        assert st == 200, target
        assert h["content-type"] == ctype, target
        assert body == f.read_bytes() and h["content-length"] == str(len(body)), target
    assert calls_of(calls) == [], "static hits never reach the app"
    # The access log has them, with status and size.
    srv.wait_for_log(r'"GET /static/hello\.txt HTTP/1\.1" 200 13 ')
    srv.wait_for_log(r'"GET /static/blob\.dat HTTP/1\.1" 200 70000 ')


def test_head(served):
    srv, c, calls = served
    st, h, body = c.req("HEAD", "/static/style.css")
    assert (st, body) == (200, b"")
    assert h["content-length"] == str(len(CSS)) and h["content-type"] == "text/css; charset=utf-8"
    assert ETAG_RE.match(h["etag"])
    st, _, body = c.get("/static/style.css")  # the connection is still in step
    assert (st, body) == (200, CSS)
    assert calls_of(calls) == []


def test_not_modified_by_etag_and_by_date(served, site):
    srv, c, calls = served
    _, h, _ = c.get("/static/hello.txt")
    etag, lm = h["etag"], h["last-modified"]
    for inm in (etag, "W/" + etag, f'"nope", {etag}', "*", f'"a,b" , W/{etag}'):
        st, h304, body = c.get("/static/hello.txt", If_None_Match=inm)
        assert (st, body) == (304, b""), inm
        assert h304["etag"] == etag and h304["last-modified"] == lm
        assert h304["cache-control"] == "public, max-age=3600"
        assert "content-length" not in h304
    st, _, body = c.get("/static/hello.txt", If_None_Match='"nope"')
    assert (st, body) == (200, b"hello static\n")
    # If-Modified-Since: the same date or later -> 304; earlier -> 200.
    mtime = int((site / "hello.txt").stat().st_mtime)
    assert c.get("/static/hello.txt", If_Modified_Since=lm)[0] == 304
    later = email.utils.formatdate(mtime + 3600, usegmt=True)
    earlier = email.utils.formatdate(mtime - 3600, usegmt=True)
    assert c.get("/static/hello.txt", If_Modified_Since=later)[0] == 304
    assert c.get("/static/hello.txt", If_Modified_Since=earlier)[0] == 200
    assert c.get("/static/hello.txt", If_Modified_Since="not a date")[0] == 200
    # If-None-Match takes precedence: a mismatch is a 200 even when the date says unmodified.
    assert c.get("/static/hello.txt", If_None_Match='"nope"', If_Modified_Since=later)[0] == 200
    # If-Match that fails -> 412.
    assert c.get("/static/hello.txt", If_Match='"nope"')[0] == 412
    assert c.get("/static/hello.txt", If_Match=etag)[0] == 200
    # A changed file gets a new validator.
    os.utime(site / "hello.txt", (mtime + 10, mtime + 10))
    st, h, _ = c.get("/static/hello.txt", If_None_Match=etag)
    assert st == 200 and h["etag"] != etag
    assert calls_of(calls) == []


def test_ranges(served, site):
    srv, c, calls = served
    data = (site / "blob.dat").read_bytes()
    size = len(data)
    _, h, _ = c.get("/static/blob.dat")
    etag, lm = h["etag"], h["last-modified"]
    cases = {
        "bytes=0-9": (0, 9),
        "bytes=100-": (100, size - 1),
        "bytes=-500": (size - 500, size - 1),
        "bytes=69990-99999999": (69990, size - 1),
        "bytes=5-5": (5, 5),
    }
    for rng, (a, b) in cases.items():
        st, h, body = c.get("/static/blob.dat", Range=rng)
        assert st == 206, rng
        assert h["content-range"] == f"bytes {a}-{b}/{size}", rng
        assert h["content-length"] == str(b - a + 1) and body == data[a:b + 1], rng
        assert h["etag"] == etag
    for rng in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        st, h, body = c.get("/static/blob.dat", Range=rng)
        assert st == 416, rng
        assert h["content-range"] == f"bytes */{size}" and body == b""
    # Several ranges, another unit, nonsense: the whole file.
    for rng in ("bytes=0-1,5-6", "items=0-5", "bytes=9-2", "bytes=x-y"):
        st, h, body = c.get("/static/blob.dat", Range=rng)
        assert (st, body) == (200, data), rng
        assert "content-range" not in h
    # If-Range: a matching ETag or date keeps the range; anything else gets the whole file.
    assert c.get("/static/blob.dat", Range="bytes=0-9", If_Range=etag)[2] == data[:10]
    assert c.get("/static/blob.dat", Range="bytes=0-9", If_Range=lm)[0] == 206
    st, _, body = c.get("/static/blob.dat", Range="bytes=0-9", If_Range='"old"')
    assert (st, body) == (200, data)
    st, _, body = c.get("/static/blob.dat", Range="bytes=0-9", If_Range="W/" + etag)
    assert (st, body) == (200, data)
    earlier = email.utils.formatdate(int((site / "blob.dat").stat().st_mtime) - 60, usegmt=True)
    assert c.get("/static/blob.dat", Range="bytes=0-9", If_Range=earlier)[0] == 200
    # HEAD ignores Range.
    st, h, _ = c.req("HEAD", "/static/blob.dat", {"Range": "bytes=0-9"})
    assert st == 200 and h["content-length"] == str(size)
    # Empty file: nothing is satisfiable.
    assert c.get("/static/empty.txt", Range="bytes=0-")[0] == 416
    assert calls_of(calls) == []


def test_ranges_with_curl(served, site, tmp_path):
    srv, _, _ = served
    data = (site / "blob.dat").read_bytes()
    out = tmp_path / "part"
    url = f"{srv.url}/static/blob.dat"
    r = subprocess.run(["curl", "-sS", "-r", "1000-1999", "-o", str(out), "-w", "%{http_code}", url],
                       capture_output=True, timeout=30, check=True)
    assert r.stdout == b"206" and out.read_bytes() == data[1000:2000]
    # Resuming a download: curl -C asks for the rest and appends it.
    out.write_bytes(data[:12345])
    r = subprocess.run(["curl", "-sS", "-C", "-", "-o", str(out), "-w", "%{http_code}", url],
                       capture_output=True, timeout=30, check=True)
    assert r.stdout == b"206" and out.read_bytes() == data


def test_precompressed_siblings(served, site):
    srv, c, calls = served
    css_br = (site / "style.css.br").read_bytes()
    css_gz = (site / "style.css.gz").read_bytes()
    st, h, body = c.get("/static/style.css", Accept_Encoding="gzip, deflate, br")
    assert (st, body) == (200, css_br)
    assert h["content-encoding"] == "br" and h["vary"] == "Accept-Encoding"
    assert h["content-type"] == "text/css; charset=utf-8"
    assert h["content-length"] == str(len(css_br))
    br_etag = h["etag"]
    st, h, body = c.get("/static/style.css", Accept_Encoding="gzip")
    assert (st, body) == (200, css_gz) and gzip.decompress(body) == CSS
    assert h["content-encoding"] == "gzip" and h["vary"] == "Accept-Encoding"
    gz_etag = h["etag"]
    st, h, body = c.get("/static/style.css")
    assert (st, body) == (200, CSS)
    assert "content-encoding" not in h and h["vary"] == "Accept-Encoding"
    plain_etag = h["etag"]
    assert len({br_etag, gz_etag, plain_etag}) == 3, "each representation has its own ETag"
    assert br_etag.endswith('-br"') and gz_etag.endswith('-gz"')
    # q-values: gzip preferred over br by the client; br refused.
    assert c.get("/static/style.css", Accept_Encoding="br;q=0.5, gzip")[1]["content-encoding"] == "gzip"
    assert c.get("/static/style.css", Accept_Encoding="br;q=0, gzip")[1]["content-encoding"] == "gzip"
    assert "content-encoding" not in c.get("/static/style.css", Accept_Encoding="identity")[1]
    assert c.get("/static/style.css", Accept_Encoding="*")[1]["content-encoding"] == "br"
    # 304 against the representation the client has.
    st, h, _ = c.get("/static/style.css", Accept_Encoding="gzip", If_None_Match=gz_etag)
    assert st == 304 and h["vary"] == "Accept-Encoding" and h["etag"] == gz_etag
    assert c.get("/static/style.css", Accept_Encoding="gzip", If_None_Match=plain_etag)[0] == 200
    # Range requests get the identity bytes (ranges refer to one representation).
    st, h, body = c.get("/static/style.css", Accept_Encoding="gzip, br", Range="bytes=0-9")
    assert (st, body) == (206, CSS[:10])
    assert "content-encoding" not in h and h["vary"] == "Accept-Encoding"
    # Only a .gz sibling: br-only clients get identity (with Vary).
    st, h, body = c.get("/static/app.js", Accept_Encoding="br")
    assert (st, body) == (200, JS) and "content-encoding" not in h and h["vary"] == "Accept-Encoding"
    assert c.get("/static/app.js", Accept_Encoding="br, gzip")[1]["content-encoding"] == "gzip"
    # The sibling itself, asked for by name, is a plain gzip file.
    st, h, body = c.get("/static/style.css.gz")
    assert (st, body) == (200, css_gz) and h["content-type"] == "application/gzip"
    assert "content-encoding" not in h
    assert calls_of(calls) == []


@pytest.mark.skipif(brotli is None, reason="the brotli module is not installed")
def test_curl_decodes_the_brotli_sibling(served):
    srv, _, _ = served
    r = subprocess.run(["curl", "-sS", "--compressed", "-D", "-", f"{srv.url}/static/style.css"],
                       capture_output=True, timeout=30, check=True)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert b"content-encoding: br" in head.lower()
    assert body == CSS


TRAVERSALS = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/.%2e/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/..%2Fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static%2f..%2fsecret.txt",
    "/static/sub/../../secret.txt",
    "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static/..%5csecret.txt",
    "/static/..\\secret.txt",
    "/static/hello.txt%00.png",
    "/static/out",                      # symlink to a file outside
    "/static/relout",                   # relative symlink to a file outside
    "/static/outdir/x.txt",             # through a symlinked directory outside
    "/static/updir/secret.txt",         # through a symlink to the parent
    "/static/updir/site/../secret.txt",
]


def test_traversal_attempts_never_return_what_is_outside(served, tmp_path):
    srv, c, calls = served
    for target in TRAVERSALS:
        st, _, body = c.get(target)
        assert SECRET not in body, target
        assert st == 404, (target, st, body)
        assert body == b"Not Found\n"
    assert calls_of(calls) == [], "refused paths do not reach the app"
    srv.wait_for_log(r"\[DEBUG\] static: refused GET /static/\.\./secret\.txt from 127\.0\.0\.1: a \.\. segment")
    srv.wait_for_log(r"static: refused GET /static/out from .*outside")
    # The same with curl, which would normally squash the dots itself.
    r = subprocess.run(["curl", "-sS", "--path-as-is", "-w", "\n%{http_code}",
                        f"{srv.url}/static/../secret.txt"], capture_output=True, timeout=30)
    assert r.stdout.endswith(b"\n404") and SECRET not in r.stdout
    # Absolute-path tricks name nothing under the root: they go to the app (which says hello),
    # never to the file system outside it.
    for target in (f"/static/{tmp_path}/secret.txt", f"/static/{quote(str(tmp_path), safe='')}%2fsecret.txt",
                   "/static//etc/passwd", "/static/%2fetc%2fpasswd"):
        st, _, body = c.get(target)
        assert (st, body) == (200, b"hello"), target
    assert len(calls_of(calls)) == 4
    assert srv.alive()


def test_directories_get_404_without_the_app(served):
    srv, c, calls = served
    for t in ["/static", "/static/", "/static/sub", "/static/sub/"]:
        st, h, body = c.get(t)
        assert st == 404, t
        assert b"sub" not in body and "etag" not in h  # no listing
    assert calls_of(calls) == []


def test_paths_that_name_no_file_go_to_the_app(served):
    srv, c, calls = served
    targets = ["/static/missing.css", "/static/hello.txt/more", "/staticx/hello.txt", "/other", "/"]
    for t in targets:
        st, h, body = c.get(t)
        assert (st, body) == (200, b"hello"), t
        assert "etag" not in h
    assert calls_of(calls) == [f"GET {t}" for t in targets]


def test_other_methods_get_405(served):
    srv, c, calls = served
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        st, h, body = c.req(method, "/static/hello.txt", body=b"x" * 1000)
        assert st == 405, method
        assert h["allow"] == "GET, HEAD" and body == b"Method Not Allowed\n"
    # The connection survives (the small body was drained) and serves the next request.
    assert c.get("/static/hello.txt")[0] == 200
    assert calls_of(calls) == []
    # A method on a path that names no file is the app's business.
    st, _, body = c.req("POST", "/static/missing", body=b"x")
    assert (st, body) == (200, b"hello")
    assert calls_of(calls) == ["POST /static/missing"]


@pytest.mark.ferrocorn_only
def test_a_slow_static_reader_does_not_hold_up_other_threads(start_server, tmp_path):
    """Two threads: one is stuck sending a big file to a client that does not read; the other
    still takes new requests (the thread blocked on its client passes the poll turn on)."""
    root = tmp_path / "big"
    root.mkdir()
    (root / "big.bin").write_bytes(os.urandom(32 << 20))
    srv = start_server("--threads", "2", "--static", f"/files={root}", "wsgi_apps:hello")
    stuck = socket.create_connection((srv.host, srv.port), timeout=10)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)  # the server fills the socket buffers and blocks writing
    try:
        # An idle thread also looks for work twice a second on its own; the turn must pass at
        # once, so every request here is answered well within that.
        waits = []
        for _ in range(8):
            t0 = time.monotonic()
            c = Client(srv)
            st, _, body = c.get("/")
            c.close()
            assert (st, body) == (200, b"hello")
            waits.append(time.monotonic() - t0)
        assert sorted(waits)[len(waits) // 2] < 0.2, f"new requests waited for the stuck thread: {waits}"
    finally:
        stuck.close()


def test_large_file_arrives_intact(start_server, tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    data = os.urandom(20 << 20)
    (root / "big.bin").write_bytes(data)
    srv = start_server("--static", f"/files={root}", "wsgi_apps:hello")
    c = Client(srv)
    st, h, body = c.get("/files/big.bin")
    assert st == 200 and h["content-length"] == str(len(data))
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    st, _, body = c.get("/files/big.bin", Range="bytes=-3000000")
    assert st == 206 and hashlib.sha256(body).digest() == hashlib.sha256(data[-3000000:]).digest()
    c.close()
    out = tmp_path / "via-curl"
    subprocess.run(["curl", "-sS", "-o", str(out), f"{srv.url}/files/big.bin"], check=True, timeout=60)
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_static_files_do_not_enter_python(start_server, tmp_path, site):
    """One app thread holds the GIL for 3 s inside C; a static file is still served at once on the
    other thread, while a request for the app has to wait for the GIL."""
    calls = tmp_path / "calls"
    srv = start_server("--threads", "2", "--static", f"/static={site}", "static_apps:gil_hog",
                       env={"FERRO_TEST_CALLS": str(calls)})
    # Both request threads must be in their loops first (each attaches to the interpreter once
    # when it starts, which needs the GIL): two concurrent requests served by two threads.
    for _ in range(20):
        idents = []
        ts = [threading.Thread(target=lambda: idents.append(Client(srv).get("/ident")[2]))
              for _ in range(2)]
        for th in ts:
            th.start()
        for th in ts:
            th.join(30)
        if len(set(idents)) == 2:
            break
    else:
        pytest.fail("the second request thread never served a request")
    marker = tmp_path / "hogging"
    done = {}

    def hog():
        c = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
        c.request("GET", f"/hog?ms=3000&marker={quote(str(marker))}")
        r = c.getresponse()
        done["hog"] = (r.status, r.read(), time.monotonic())

    t = threading.Thread(target=hog, daemon=True)
    t.start()
    wait_for(marker.exists, 10, message="the app to start holding the GIL")
    t0 = time.monotonic()
    c = Client(srv)
    st, _, body = c.get("/static/style.css")
    static_took = time.monotonic() - t0
    assert (st, body) == (200, CSS)
    assert static_took < 1.5, f"static file took {static_took:.2f}s while the GIL was held"
    assert t.is_alive(), "the hog was still holding the GIL when the static file arrived"
    # Control: the app itself cannot run until the hog lets go of the GIL.
    st, _, body = Client(srv).get("/quick")
    app_done = time.monotonic()
    assert (st, body) == (200, b"hello")
    t.join(30)
    assert done["hog"][0] == 200
    assert app_done - t0 > 1.5, "the control request should have waited for the GIL"
    app_calls = [c for c in calls_of(calls) if c != "GET /ident"]
    assert app_calls == [f"GET /hog?ms=3000&marker={quote(str(marker))}", "GET /quick"]
    c.close()


def test_over_the_uwsgi_front_end(start_server, tmp_path, site):
    calls = tmp_path / "calls"
    srv = start_server("--uwsgi-socket", "127.0.0.1:0", "--static", f"/static={site}",
                       "wsgi_apps:hello", bind=None, env={"FERRO_TEST_CALLS": str(calls)})
    addr = (srv.host, srv.port)

    def call(path, **extra):
        v = uw.request_vars("GET", path, extra={k.upper(): val for k, val in extra.items()})
        return uw.call(addr, v)

    st, h, body = call("/static/style.css")
    assert (st, body) == (200, CSS)
    assert h["content-type"] == "text/css; charset=utf-8" and h["content-length"] == str(len(CSS))
    etag = h["etag"]
    assert call("/static/style.css", http_if_none_match=etag)[0] == 304
    st, h, body = call("/static/style.css", http_range="bytes=0-4")
    assert (st, body, h["content-range"]) == (206, CSS[:5], f"bytes 0-4/{len(CSS)}")
    st, h, body = call("/static/style.css", http_accept_encoding="gzip")
    assert h["content-encoding"] == "gzip" and gzip.decompress(body) == CSS
    # PATH_INFO arrives decoded from nginx; a space is a space.
    assert call("/static/has space.txt", request_uri="/static/has%20space.txt")[2] == b"spaced\n"
    st, _, body = call("/static/../secret.txt")
    assert st == 404 and SECRET not in body
    st, _, body = call("/static/out")
    assert st == 404 and SECRET not in body
    assert calls_of(calls) == []
    assert call("/static/missing")[2] == b"hello"
    assert calls_of(calls) == ["GET /static/missing"]


def test_over_the_fastcgi_front_end(start_server, tmp_path, site):
    calls = tmp_path / "calls"
    (site / "big.bin").write_bytes(os.urandom(3 << 20))
    srv = start_server("--fastcgi-socket", "127.0.0.1:0", "--static", f"/static={site}",
                       "wsgi_apps:hello", bind=None, env={"FERRO_TEST_CALLS": str(calls)})
    addr = (srv.host, srv.port)

    def call(path, **extra):
        # nginx's stock fastcgi_params: SCRIPT_NAME is the whole path, no PATH_INFO.
        return fc.call(addr, fc.nginx_params("GET", path, extra={k.upper(): v for k, v in extra.items()}))

    st, h, body = call("/static/style.css")
    assert (st, body) == (200, CSS)
    assert h["content-type"] == "text/css; charset=utf-8" and h["content-length"] == str(len(CSS))
    assert call("/static/style.css", http_if_none_match=h["etag"])[0] == 304
    st, h, body = call("/static/style.css", http_range="bytes=-7")
    assert (st, body) == (206, CSS[-7:])
    st, h, body = call("/static/big.bin")  # sendfile, in STDOUT records
    assert st == 200 and body == (site / "big.bin").read_bytes()
    st, _, body = call("/static/../secret.txt")
    assert st == 404 and SECRET not in body
    assert calls_of(calls) == []
    assert call("/static/missing")[2] == b"hello"
    assert calls_of(calls) == ["GET /static/missing"]


def test_uwsgi_ini_static_map(start_server, tmp_path, site):
    ini = tmp_path / "app.ini"
    ini.write_text(
        "[uwsgi]\n"
        "http-socket = 127.0.0.1:0\n"
        "module = wsgi_apps:hello\n"
        f"static-map = /assets={site}\n"
        f"static-map = /more/={site / 'sub'}\n"
    )
    srv = start_server("--ini", str(ini), cwd=tmp_path, bind=None)
    c = Client(srv)
    assert c.get("/assets/hello.txt")[2] == b"hello static\n"
    assert c.get("/more/inner.json")[2] == b'{"a": 1}'
    assert c.get("/static/hello.txt")[2] == b"hello"  # not mapped here: the app
    c.close()
    assert "no effect" not in srv.log


def test_python_config_dict_and_relative_dir(start_server, tmp_path, site):
    conf = tmp_path / "conf.py"
    conf.write_text("static_map = {'/s': 'site'}\n")
    srv = start_server("-c", str(conf), "--chdir", str(tmp_path), "wsgi_apps:hello", cwd=tmp_path)
    c = Client(srv)
    assert c.get("/s/sub/inner.json")[2] == b'{"a": 1}'
    c.close()


def test_django_collectstatic_served_by_ferrocorn(start_server, tmp_path):
    djsite = ROOT / "examples" / "djsite"
    static_root = tmp_path / "staticfiles"
    env = {"DJANGO_STATIC_ROOT": str(static_root)}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=str(djsite),
                   env={**os.environ, **env}, check=True, capture_output=True, timeout=60)
    srv = start_server("--static", f"/static={static_root}", "--chdir", str(djsite),
                       "djsite.wsgi:application", cwd=djsite, env=env)
    c = Client(srv)
    st, _, page = c.get("/page")
    assert st == 200 and b'href="/static/demo/style.css"' in page
    st, h, css = c.get("/static/demo/style.css")
    assert st == 200 and h["content-type"] == "text/css; charset=utf-8"
    assert css == (djsite / "demo" / "static" / "demo" / "style.css").read_bytes()
    assert c.get("/static/demo/missing.css")[0] == 404  # Django's own 404: it fell through
    c.close()
