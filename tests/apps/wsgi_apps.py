"""Small WSGI applications used by the HTTP/1.1 and PEP 3333 tests.

Each callable is served on its own (``wsgi_apps:NAME``).  Conventions:

* Apps decorated with ``@recorded`` append one line ``METHOD RAW_URI`` to the file named by the
  ``FERRO_TEST_CALLS`` environment variable (when set) *on entry*, so a test can prove that a bad
  request never reached the application.
* Parameters come from the query string (``?marker=/tmp/x&mode=raise``), never from server flags,
  so one server can be reused for several requests.
* Apps that describe the environ answer with JSON (``application/json``).
"""
from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _record(environ):
    path = os.environ.get("FERRO_TEST_CALLS")
    if path:
        line = "%s %s\n" % (environ.get("REQUEST_METHOD"), environ.get("RAW_URI") or environ.get("PATH_INFO"))
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("latin-1", "replace"))
        finally:
            os.close(fd)


def recorded(app):
    def wrapper(environ, start_response):
        _record(environ)
        return app(environ, start_response)

    wrapper.__name__ = app.__name__
    wrapper.__doc__ = app.__doc__
    return wrapper


def _params(environ):
    """Query-string parameters as {name: last value} (values percent-decoded as UTF-8)."""
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def _touch(path, text="closed"):
    if path:
        with open(path, "a") as f:
            f.write(text + "\n")


def _json_response(start_response, obj, status="200 OK"):
    body = json.dumps(obj).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _describe(value):
    """A JSON-able description of one environ value: its type name plus the value or its attributes."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return {"type": type(value).__name__, "value": value}
    if isinstance(value, tuple):
        return {"type": "tuple", "value": list(value)}
    attrs = [a for a in ("read", "readline", "readlines", "__iter__", "write", "writelines", "flush")
             if hasattr(value, a)]
    return {"type": type(value).__name__, "callable": callable(value), "attrs": attrs}


# ---------------------------------------------------------------------------------------------
# basic apps
# ---------------------------------------------------------------------------------------------

@recorded
def hello(environ, start_response):
    """200 ``hello`` with a Content-Length; never reads the body."""
    body = b"hello"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@recorded
def environ_app(environ, start_response):
    """Describes every environ key (type and value) as JSON."""
    return _json_response(start_response, {k: _describe(v) for k, v in environ.items()})


@recorded
def echo(environ, start_response):
    """Reads the whole body with ``read()`` and sends it back.

    Response headers: ``X-Content-Length`` (the CONTENT_LENGTH key or ``<absent>``),
    ``X-Path`` (PATH_INFO) and ``X-Method`` (REQUEST_METHOD).
    """
    body = environ["wsgi.input"].read()
    start_response("200 OK", [
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", str(len(body))),
        ("X-Content-Length", environ.get("CONTENT_LENGTH", "<absent>")),
        ("X-Path", environ.get("PATH_INFO", "")),
        ("X-Method", environ["REQUEST_METHOD"]),
    ])
    return [body]


def input_modes(environ, start_response):
    """Reads wsgi.input the way ``?mode=`` says and reports the pieces (latin-1 strings) as JSON.

    Every mode finishes with one more ``read()`` (reported as ``rest``) so a test can check that
    nothing is lost or duplicated, and then ``after_eof`` = one more ``read(1)``.
    """
    inp = environ["wsgi.input"]
    mode = _params(environ).get("mode", "read")
    pieces = []
    if mode == "read":
        pieces.append(inp.read())
    elif mode == "read_minus1":
        pieces.append(inp.read(-1))
    elif mode == "read_none":
        pieces.append(inp.read(None))
    elif mode == "read_n":
        while True:
            piece = inp.read(4)
            pieces.append(piece)
            if not piece:
                break
    elif mode == "readline":
        while True:
            piece = inp.readline()
            pieces.append(piece)
            if not piece:
                break
    elif mode == "readline_n":
        while True:
            piece = inp.readline(3)
            pieces.append(piece)
            if not piece:
                break
    elif mode == "readlines":
        pieces.extend(inp.readlines())
    elif mode == "readlines_hint":
        pieces.extend(inp.readlines(1))
    elif mode == "iter":
        pieces.extend(iter(inp))
    else:
        raise ValueError("unknown mode %r" % mode)
    rest = inp.read()
    after = inp.read(1)
    types = sorted({type(p).__name__ for p in pieces + [rest, after]})
    return _json_response(start_response, {
        "pieces": [p.decode("latin-1") for p in pieces],
        "rest": rest.decode("latin-1"),
        "after_eof": after.decode("latin-1"),
        "types": types,
    })


@recorded
def no_content_length(environ, start_response):
    """``hello world`` from a generator (length unknown in advance), without a Content-Length.

    A generator, not a list: a server may legitimately compute a Content-Length for a list.
    """
    def body():
        yield b"hello "
        yield b"world"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return body()


@recorded
def slow(environ, start_response):
    """Sleeps 0.5 s, then reports wsgi.multithread and the thread that served it."""
    time.sleep(0.5)
    return _json_response(start_response, {
        "multithread": environ["wsgi.multithread"],
        "thread": threading.get_ident(),
    })


def short_body(environ, start_response):
    """Promises Content-Length: 10 but sends only 3 bytes."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
    return [b"abc"]


# ---------------------------------------------------------------------------------------------
# start_response behaviour
# ---------------------------------------------------------------------------------------------

def start_response_args(environ, start_response):
    """Calls start_response with ``?status=`` and optionally one header ``?hname=`` / ``?hvalue=``."""
    p = _params(environ)
    headers = [("Content-Type", "text/plain")]
    if "hname" in p or "hvalue" in p:
        headers.append((p.get("hname", "X-Test"), p.get("hvalue", "v")))
    start_response(p.get("status", "200 OK"), headers)
    return [b"app-body"]


def exc_info_before_headers(environ, start_response):
    """Starts a 200, hits an error, replaces it with a 503 via exc_info (nothing was sent yet)."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "yes")])
    try:
        raise RuntimeError("replace me")
    except RuntimeError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced"]


def start_response_twice(environ, start_response):
    """Calls start_response twice without exc_info: a PEP 3333 violation (must become a 500)."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    start_response("201 Created", [("Content-Type", "text/plain")])
    return [b"should-not-be-sent"]


def exc_info_after_headers(environ, start_response):
    """Sends part of a body, then calls start_response with exc_info: it must re-raise."""
    def body():
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise RuntimeError("late failure")
        except RuntimeError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        yield b"must-not-be-sent"
    return body()


def write_only(environ, start_response):
    """Legacy app: the whole body goes through write()."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"hello ")
    write(b"world")
    return []


def write_mixed(environ, start_response):
    """Legacy app: write() first, then an iterable."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"one ")
    return [b"two ", b"three"]


def empty_first_chunk(environ, start_response):
    """Yields b"" before the real data."""
    def body():
        yield b""
        yield b"data"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return body()


def empty_then_error(environ, start_response):
    """Yields only b"" then fails: headers were never due, so the server can still answer 500."""
    def body():
        yield b""
        raise RuntimeError("failure after an empty chunk")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return body()


def stream_items(environ, start_response):
    """A generator of ``?n=`` items, item ``i`` being ``?size=`` bytes of ``chr(65 + i % 26)``
    (so order and loss show), ``?gap=`` seconds apart. ``?cl=`` the Content-Length: ``exact``
    (default), ``none``, or a number (e.g. shorter than the items). ``?raise_after=K``: raise
    after K items. ``?write_at=K``: call write(b"<w>") right before item K. ``?pause_at=K`` and
    ``?pause=S``: sleep S seconds before item K."""
    p = _params(environ)
    n, size, gap = int(p.get("n", "16")), int(p.get("size", "65536")), float(p.get("gap", "0"))
    raise_after = int(p["raise_after"]) if "raise_after" in p else None
    write_at = int(p["write_at"]) if "write_at" in p else None
    pause_at, pause = int(p.get("pause_at", "-1")), float(p.get("pause", "0"))
    headers = [("Content-Type", "application/octet-stream")]
    cl = p.get("cl", "exact")
    if cl == "exact":
        headers.append(("Content-Length", str(n * size + (3 if write_at is not None else 0))))
    elif cl != "none":
        headers.append(("Content-Length", cl))
    write = start_response("200 OK", headers)

    def body():
        for i in range(n):
            if raise_after is not None and i == raise_after:
                raise RuntimeError("stream failed after %d items" % i)
            if i == write_at:
                write(b"<w>")
            if gap and i:
                time.sleep(gap)
            if i == pause_at:
                time.sleep(pause)
            yield bytes([65 + i % 26]) * size
    return body()


def lazy_start_response(environ, start_response):
    """Calls start_response inside its generator, on first iteration."""
    def body():
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Lazy", "yes")])
        yield b"lazy "
        yield b"body"
    return body()


# ---------------------------------------------------------------------------------------------
# errors and close()
# ---------------------------------------------------------------------------------------------

class ClosingIterable:
    """Iterable whose close() appends to the file ``?marker=``.

    ``?mode=normal`` (default): yields ``a``, ``b``, ``c``.
    ``?mode=raise``: yields ``a`` then raises.
    ``?mode=infinite``: yields 64 KiB chunks every 10 ms for up to 20 s (until the client leaves).
    ``?mode=empty_then_raise``: yields ``b""`` then raises (the server can still answer 500).
    ``?mode=lazy_bad_header``: calls start_response on first iteration with a header value holding
    CR/LF, which start_response refuses (the server answers 500).
    """

    def __init__(self, marker, mode, start_response=None):
        self.marker = marker
        self.mode = mode
        self.start_response = start_response

    def __iter__(self):
        if self.mode == "empty_then_raise":
            yield b""
            raise RuntimeError("failure after an empty chunk")
        if self.mode == "lazy_bad_header":
            self.start_response("200 OK", [("Content-Type", "text/plain"), ("X-Test", "a\r\nX-Injected: yes")])
            yield b"must-not-be-sent"
            return
        if self.mode == "raise":
            yield b"a"
            raise RuntimeError("failure during iteration")
        if self.mode == "infinite":
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                yield b"x" * 65536
                time.sleep(0.01)
            return
        yield b"a"
        yield b"b"
        yield b"c"

    def close(self):
        _touch(self.marker, "closed")


def closing(environ, start_response):
    p = _params(environ)
    mode = p.get("mode", "normal")
    if mode == "lazy_bad_header":
        return ClosingIterable(p.get("marker"), mode, start_response)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ClosingIterable(p.get("marker"), mode)


def error_before_headers(environ, start_response):
    raise RuntimeError("boom-before-headers-7f3a")


def error_after_headers(environ, start_response):
    def body():
        yield b"first-part"
        raise RuntimeError("boom-after-headers-91c2")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return body()


# ---------------------------------------------------------------------------------------------
# wsgi.file_wrapper
# ---------------------------------------------------------------------------------------------

def file_wrapper(environ, start_response):
    """Serves the file ``?path=`` through wsgi.file_wrapper, with a Content-Length."""
    path = _params(environ)["path"]
    size = os.path.getsize(path)
    f = open(path, "rb")
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](f, 65536)


class _UnreadableFile(io.FileIO):
    """A real file whose read methods raise: served correctly only if the server never reads it
    through Python (sendfile on its fileno()). close() also appends to ``marker``."""

    def __init__(self, path, marker):
        super().__init__(path, "rb")
        self.marker = marker

    def read(self, *args):
        raise RuntimeError("the server read the file through Python instead of sendfile")

    readinto = readall = read

    def close(self):
        if not self.closed:
            _touch(self.marker, "closed")
        super().close()


def file_wrapper_sendfile_only(environ, start_response):
    """Like file_wrapper, around a file whose read() raises; ``?marker=`` records close()."""
    p = _params(environ)
    size = os.path.getsize(p["path"])
    f = _UnreadableFile(p["path"], p.get("marker"))
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](f, 65536)


BYTESIO_CONTENT = bytes(range(256)) * 1024  # 256 KiB, every byte value


def file_wrapper_bytesio(environ, start_response):
    """wsgi.file_wrapper around an io.BytesIO (no fileno()); no Content-Length."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](io.BytesIO(BYTESIO_CONTENT), 8192)


# ---------------------------------------------------------------------------------------------
# apps wrapped in wsgiref.validate.validator (it raises AssertionError on any PEP 3333 violation)
# ---------------------------------------------------------------------------------------------

def _plain_get(environ, start_response):
    body = b"validated get"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _plain_post(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
    return [body]


def _plain_stream(environ, start_response):
    def body():
        for i in range(5):
            yield b"part%d;" % i
    start_response("200 OK", [("Content-Type", "text/plain")])
    return body()


def _dispatch_validated(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/post":
        return _plain_post(environ, start_response)
    if path == "/stream":
        return _plain_stream(environ, start_response)
    if path == "/file":
        return file_wrapper(environ, start_response)
    return _plain_get(environ, start_response)


validated = validator(_dispatch_validated)


def errors_writer(environ, start_response):
    """Writes a line to wsgi.errors (it must reach the server's error log)."""
    errors = environ["wsgi.errors"]
    errors.write("wsgi-errors-marker-5d1e\n")
    errors.writelines(["wsgi-errors-", "writelines-marker\n"])
    errors.flush()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def paced(environ, start_response):
    """``first`` then, ``?pause=S`` seconds later (default 1), ``second``, from a generator.

    ``?length=1`` announces the total Content-Length up front. Then ``?tail=S`` makes the
    generator sleep S seconds after its last item, and ``?extra=N`` yields N empty items after
    it: the body is complete before the iterable is over.
    """
    q = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
    pause = float(q.get("pause", "1"))
    headers = [("Content-Type", "text/plain")]
    if q.get("length") == "1":
        headers.append(("Content-Length", str(len(b"firstsecond"))))

    def body():
        yield b"first"
        time.sleep(pause)
        yield b"second"
        for _ in range(int(q.get("extra", "0"))):
            yield b""
        time.sleep(float(q.get("tail", "0")))
    start_response("200 OK", headers)
    return body()


def fast_or_slow(environ, start_response):
    """``/slow?s=S`` sleeps S seconds (default 2) with the GIL released; any other path answers
    at once. The body names the path."""
    path = environ.get("PATH_INFO", "")
    if path == "/slow":
        time.sleep(float(_params(environ).get("s", "2")))
    body = path.encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
