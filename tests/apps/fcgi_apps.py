"""Apps for the FastCGI tests. ``router`` dispatches on the first path segment, so one server
behind nginx or Apache answers every check of a test:

* ``/env``: the environ as JSON (``wsgi_apps.environ_app``)
* ``/echo``: the body sent back (``wsgi_apps.echo``)
* ``/digest``: size and SHA-256 of the body, read in pieces until EOF (no CONTENT_LENGTH needed)
* ``/stream?n=N``: N lines from a generator, no Content-Length
* ``/hello``: ``hello`` with a Content-Length
* ``/file?path=P``: the file through wsgi.file_wrapper (sendfile)
* ``/reading?marker=M``: reads the body only while its iterable is iterated; close() marks M
"""
from __future__ import annotations

import hashlib
import time

import wsgi_apps


def digest(environ, start_response):
    inp = environ["wsgi.input"]
    h = hashlib.sha256()
    n = 0
    while True:
        b = inp.read(65536)
        if not b:
            break
        h.update(b)
        n += len(b)
    return wsgi_apps._json_response(start_response, {
        "size": n, "sha256": h.hexdigest(), "content_length": environ.get("CONTENT_LENGTH")})


def stream(environ, start_response):
    n = int(wsgi_apps._params(environ).get("n", "20"))

    def body():
        for i in range(n):
            yield b"chunk %d\n" % i
            time.sleep(0.002)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return body()


class ReadingIterable:
    """Reads wsgi.input 1 KiB at a time while it is iterated (one line per piece); close() appends
    to the file ``marker``."""

    def __init__(self, environ):
        self.inp = environ["wsgi.input"]
        self.marker = wsgi_apps._params(environ).get("marker")

    def __iter__(self):
        while True:
            piece = self.inp.read(1024)
            if not piece:
                break
            yield b"read %d\n" % len(piece)
        yield b"eof\n"

    def close(self):
        wsgi_apps._touch(self.marker, "closed")


def reading(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ReadingIterable(environ)


ROUTES = {
    "env": wsgi_apps.environ_app,
    "echo": wsgi_apps.echo,
    "digest": digest,
    "stream": stream,
    "hello": wsgi_apps.hello,
    "file": wsgi_apps.file_wrapper,
    "reading": reading,
}


def router(environ, start_response):
    first = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
    app = ROUTES.get(first)
    if app is None:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        return [b"not found\n"]
    return app(environ, start_response)
