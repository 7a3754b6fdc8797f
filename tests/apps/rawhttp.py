"""A strict little HTTP/1.x client over raw sockets, for tests where exact bytes matter.

Not a WSGI app: it lives here because ``tests/apps`` is the helper directory the test files may add
to ``sys.path``.  It parses responses strictly (CRLF line ends, exact Content-Length, well-formed
chunked framing) so a framing bug in the server shows up as a test failure, not as a hang.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field


class ConnectionClosed(Exception):
    """The server closed the connection before a complete response arrived."""


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list  # [(name, value)] in wire order
    body: bytes = b""
    chunked: bool = False
    informational: list = field(default_factory=list)  # 1xx status codes seen before this response
    raw: bytes = b""  # every byte of this response on the wire (1xx included)

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]


def build_request(method="GET", target="/", headers=(), body=b"", version="HTTP/1.1", host="localhost"):
    """Request bytes; ``host=None`` omits the Host header; Content-Length is NOT added automatically."""
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    lines.extend("%s: %s" % (k, v) for k, v in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*pieces, trailers=b""):
    """Chunked encoding of ``pieces`` (bytes), with the last-chunk and optional trailer lines."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n" + trailers + b"\r\n"


class Conn:
    """One client connection with its own receive buffer (so leftover bytes are never lost)."""

    def __init__(self, server, timeout=5.0):
        self.sock = server.connect(timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False

    # -- low level ---------------------------------------------------------------------------
    def send(self, data: bytes):
        self.sock.sendall(data)

    def _recv(self):
        if self.eof:
            raise ConnectionClosed("connection already closed; buffered=%r" % self.buf[:200])
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise ConnectionClosed("server closed the connection; buffered=%r" % self.buf[:200])
        self.buf += data

    def read_until(self, sep: bytes) -> bytes:
        """Bytes up to and including ``sep`` (raises ConnectionClosed at EOF)."""
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out, self.buf = self.buf[: i + len(sep)], self.buf[i + len(sep):]
                return out
            self._recv()

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._recv()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until_close(self) -> bytes:
        """Everything until EOF (raises socket.timeout if the server keeps the connection open)."""
        while True:
            try:
                self._recv()
            except ConnectionClosed:
                out, self.buf = self.buf, b""
                return out

    def wait_closed(self, timeout: float) -> tuple[bool, bytes]:
        """(closed?, bytes received meanwhile): whether the server closes within ``timeout``."""
        old = self.sock.gettimeout()
        deadline = time.monotonic() + timeout
        got = b""
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False, got
                self.sock.settimeout(left)
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    return False, got
                except ConnectionResetError:
                    data = b""
                if not data:
                    self.eof = True
                    return True, got
                got += data
        finally:
            self.sock.settimeout(old)

    # -- responses ---------------------------------------------------------------------------
    def read_response(self, method="GET") -> Response:
        raw = b""
        informational = []
        while True:
            head = self.read_until(b"\r\n\r\n")
            raw += head
            lines = head[:-4].split(b"\r\n")
            status_line = lines[0].decode("latin-1")
            parts = status_line.split(" ", 2)
            assert len(parts) >= 2 and parts[0].startswith("HTTP/"), "bad status line %r" % status_line
            version, status = parts[0], int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = []
            for line in lines[1:]:
                assert b":" in line, "bad header line %r" % line
                k, v = line.split(b":", 1)
                headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
            if 100 <= status < 200:
                informational.append(status)
                continue
            break
        resp = Response(version, status, reason, headers, informational=informational)
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in te:
            resp.chunked = True
            body = b""
            while True:
                size_line = self.read_until(b"\r\n")
                raw += size_line
                size = int(size_line[:-2].split(b";", 1)[0], 16)
                if size == 0:
                    while True:  # trailer section, ends with an empty line
                        t = self.read_until(b"\r\n")
                        raw += t
                        if t == b"\r\n":
                            break
                    break
                data = self._read_exact(size + 2)
                raw += data
                assert data[-2:] == b"\r\n", "chunk not followed by CRLF: %r" % data[-10:]
                body += data[:-2]
        elif cl is not None:
            body = self._read_exact(int(cl))
            raw += body
        else:
            body = self.read_until_close()
            raw += body
        resp.body = body
        resp.raw = raw
        return resp

    def request(self, *args, method_for_body=None, **kw) -> Response:
        """Send ``build_request(*args, **kw)`` and read one response."""
        method = args[0] if args else kw.get("method", "GET")
        self.send(build_request(*args, **kw))
        return self.read_response(method_for_body or method)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def send_and_collect(server, data: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send ``data`` on a fresh connection; return (everything received, closed-by-server?)."""
    with Conn(server, timeout) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything; still read its answer
        closed, got = c.wait_closed(timeout)
        return got, closed


def status_of(data: bytes) -> int | None:
    """The status code of the first response in ``data`` (None if there is none)."""
    if not data.startswith(b"HTTP/1."):
        return None
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


# -- server command lines -----------------------------------------------------------------------
import os as _os

SERVER_KIND = _os.environ.get("FERROCORN_TEST_SERVER", "ferrocorn")

# gunicorn spells the idle keep-alive flag ``--keep-alive``; ferrocorn's spelling is ``--keepalive``.
_GUNICORN_SPELLING = {"--keepalive": "--keep-alive"}


def server_args(*args):
    """Server arguments written with ferrocorn's flags, adapted when validating against gunicorn.

    gunicorn's default (sync) worker never keeps a connection alive, so keep-alive and pipelining
    need its threaded worker (``-k gthread``), which is what ferrocorn's design corresponds to.
    """
    args = list(args)
    if SERVER_KIND != "gunicorn":
        return args
    args = [_GUNICORN_SPELLING.get(a, a) for a in args]
    if "-k" not in args and "--worker-class" not in args:
        args = ["-k", "gthread", *args]
    return args
