"""A minimal FastCGI client for the tests: builds records (BEGIN_REQUEST, PARAMS, STDIN, ...),
sends them over TCP or a Unix socket and reads the records the application answers with."""
from __future__ import annotations

import socket
import struct

BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR, DATA = range(1, 9)
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
RESPONDER, AUTHORIZER, FILTER = 1, 2, 3
KEEP_CONN = 1
REQUEST_COMPLETE, CANT_MPX_CONN, OVERLOADED, UNKNOWN_ROLE = range(4)


def record(kind: int, rid: int, content: bytes = b"", padding: int = 0) -> bytes:
    return struct.pack(">BBHHBB", 1, kind, rid, len(content), padding, 0) + content + b"\0" * padding


def pair(name: bytes, value: bytes) -> bytes:
    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return length(len(name)) + length(len(value)) + name + value


def params_block(params) -> bytes:
    items = params.items() if isinstance(params, dict) else params
    return b"".join(pair(k.encode("latin-1"), v.encode("latin-1")) for k, v in items)


def begin(rid: int = 1, role: int = RESPONDER, flags: int = 0) -> bytes:
    return record(BEGIN_REQUEST, rid, struct.pack(">HB5x", role, flags))


def stream(kind: int, rid: int, data: bytes, size: int = 65535, padding: int = 0) -> bytes:
    """``data`` as records of at most ``size`` bytes, then the empty record that ends the stream."""
    out = b"".join(record(kind, rid, data[i:i + size], padding) for i in range(0, len(data), size))
    return out + record(kind, rid)


def request(params, body: bytes = b"", rid: int = 1, keep_conn: bool = False, stdin_size: int = 65535,
            params_size: int = 65535) -> bytes:
    """A whole request: BEGIN_REQUEST, the params stream, the STDIN stream."""
    return (begin(rid, flags=KEEP_CONN if keep_conn else 0)
            + stream(PARAMS, rid, params_block(params), params_size)
            + stream(STDIN, rid, body, stdin_size))


def nginx_params(method="GET", path="/", query="", body=b"", extra=None) -> dict:
    """What nginx's stock /etc/nginx/fastcgi_params sends for a request (SCRIPT_NAME is the whole
    decoded path, there is no PATH_INFO)."""
    uri = path + ("?" + query if query else "")
    p = {
        "QUERY_STRING": query,
        "REQUEST_METHOD": method,
        "CONTENT_TYPE": "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "SCRIPT_NAME": path,
        "REQUEST_URI": uri,
        "DOCUMENT_URI": path,
        "DOCUMENT_ROOT": "/usr/share/nginx/html",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_SCHEME": "http",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "nginx/1.22.1",
        "REMOTE_ADDR": "198.51.100.7",
        "REMOTE_PORT": "50123",
        "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_NAME": "example.test",
        "REDIRECT_STATUS": "200",
        "HTTP_HOST": "example.test",
    }
    p.update(extra or {})
    return p


def connect(address, timeout: float = 10.0) -> socket.socket:
    if isinstance(address, (tuple, list)):
        return socket.create_connection(tuple(address), timeout=timeout)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(address)
    return s


class Reader:
    """Reads records from a connected socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self) -> bool:
        try:
            b = self.sock.recv(65536)
        except ConnectionResetError:
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def record(self):
        """The next record as (type, request id, content), or None at the end of the stream."""
        while len(self.buf) < 8:
            if not self._fill():
                return None
        _v, kind, rid, clen, plen, _r = struct.unpack(">BBHHBB", self.buf[:8])
        while len(self.buf) < 8 + clen + plen:
            if not self._fill():
                return None
        content = self.buf[8:8 + clen]
        self.buf = self.buf[8 + clen + plen:]
        return kind, rid, content

    def response(self, rid: int = 1):
        """Records up to this request's END_REQUEST: (stdout bytes, stderr bytes, (appStatus,
        protocolStatus) or None if the connection ended first, every record seen)."""
        out, err, seen = b"", b"", []
        while True:
            r = self.record()
            if r is None:
                return out, err, None, seen
            seen.append(r)
            kind, got, content = r
            if got != rid:
                continue
            if kind == STDOUT:
                out += content
            elif kind == STDERR:
                err += content
            elif kind == END_REQUEST:
                app_status, proto = struct.unpack(">IB3x", content)
                return out, err, (app_status, proto), seen

    def closed(self, timeout: float = 5.0) -> bool:
        """True if the server closes the connection (nothing more arrives) within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            return not self._fill()
        except socket.timeout:
            return False


def parse_cgi(raw: bytes) -> tuple[int, dict, bytes, list]:
    """(status, {lower-case name: last value}, body, [(name, value) in order]) of a CGI response."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, raw[:200]
    status = 200
    headers: dict[str, str] = {}
    order = []
    for line in head.decode("latin-1").split("\r\n"):
        k, _, v = line.partition(":")
        k, v = k.strip(), v.strip()
        order.append((k, v))
        if k.lower() == "status":
            status = int(v.split()[0])
        headers[k.lower()] = v
    return status, headers, body, order


def call(address, params, body: bytes = b"", **kw) -> tuple[int, dict, bytes]:
    """One request on a fresh connection; (status, headers, body) of the CGI response."""
    with connect(address) as s:
        s.sendall(request(params, body, **kw))
        out, _err, end, _ = Reader(s).response(kw.get("rid", 1))
        assert end == (0, REQUEST_COMPLETE), (end, out[:300])
        status, headers, resp_body, _ = parse_cgi(out)
        return status, headers, resp_body
