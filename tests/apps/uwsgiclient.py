"""A minimal uwsgi-protocol client for the tests: builds packets (vars block + body), sends them
over TCP or a Unix socket and reads the HTTP response up to the server's close."""
from __future__ import annotations

import socket
import struct


def packet(vars: list[tuple[str, str]] | dict, body: bytes = b"", modifier1: int = 0,
           modifier2: int = 0) -> bytes:
    items = vars.items() if isinstance(vars, dict) else vars
    block = b""
    for k, v in items:
        kb, vb = k.encode("latin-1"), v.encode("latin-1")
        block += struct.pack("<H", len(kb)) + kb + struct.pack("<H", len(vb)) + vb
    return struct.pack("<BHB", modifier1, len(block), modifier2) + block + body


def request_vars(method="GET", path="/", query="", body=b"", extra=None) -> dict:
    """What nginx's stock uwsgi_params sends for a simple request."""
    uri = path + ("?" + query if query else "")
    v = {
        "QUERY_STRING": query,
        "REQUEST_METHOD": method,
        "CONTENT_TYPE": "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "REQUEST_URI": uri,
        "PATH_INFO": path,
        "DOCUMENT_ROOT": "/usr/share/nginx/html",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_SCHEME": "http",
        "REMOTE_ADDR": "198.51.100.7",
        "REMOTE_PORT": "50123",
        "SERVER_PORT": "80",
        "SERVER_NAME": "example.test",
        "HTTP_HOST": "example.test",
    }
    v.update(extra or {})
    return v


def send(address, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, then read everything until the server closes."""
    if isinstance(address, (tuple, list)):
        s = socket.create_connection(tuple(address), timeout=timeout)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(address)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    finally:
        s.close()


def parse_response(raw: bytes) -> tuple[int, dict, bytes]:
    """(status, headers with lower-case names, body) of an HTTP response read to the close."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def call(address, vars, body: bytes = b"", **kw) -> tuple[int, dict, bytes]:
    return parse_response(send(address, packet(vars, body, **kw)))
