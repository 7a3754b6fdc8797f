"""WSGI application for the process-manager tests (``tests/test_process.py``, ``tests/test_signals.py``).

Served as ``proc_apps:app``; one server answers every route, chosen by path, with parameters in the
query string:

* ``/pid``                -> JSON ``{"pid", "ppid", "import_pid"}``: the worker serving the request, its
  parent, and the process that imported this module (the master under ``--preload``).
* ``/sleep...?s=SECONDS`` -> sleeps, then JSON ``{"pid", "slept"}``.  Any path starting with ``/sleep``
  works, so a test can give a request a recognisable name (``/sleep/harakiri-victim``).
  ``&marker=FILE`` appends a line to FILE on entry, so a test knows the request is in flight.
* ``/stuck?marker=FILE``  -> never returns (``time.sleep(1000)`` inside :func:`stuck_forever_here`).
* ``/crash?how=exit``     -> ``os._exit(1)`` in the middle of the request.
* ``/crash?how=segv``     -> a real segmentation fault (reads address 0 with ctypes).
* ``/alloc?mb=N``         -> keeps N MiB of touched memory alive in a module-level list (RSS grows).
"""
from __future__ import annotations

import json
import os
import time
from urllib.parse import parse_qs

IMPORT_PID = os.getpid()
_HOARD: list = []


def _params(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def _mark(params, text="entered"):
    path = params.get("marker")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, ("%s %d\n" % (text, os.getpid())).encode())
        finally:
            os.close(fd)


def _json(start_response, obj, status="200 OK"):
    body = json.dumps(obj).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def stuck_forever_here(params):
    """The function a stack dump of a stuck worker must name."""
    _mark(params, "stuck")
    time.sleep(1000)  # STUCK-LINE (tests locate this line by this comment)
    return "unreachable"


def _crash(how):
    if how == "segv":
        import ctypes

        ctypes.string_at(0)  # SIGSEGV
    os._exit(1)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    params = _params(environ)
    pid = os.getpid()
    if path == "/pid":
        return _json(start_response, {"pid": pid, "ppid": os.getppid(), "import_pid": IMPORT_PID})
    if path.startswith("/sleep"):
        _mark(params)
        seconds = float(params.get("s", "1"))
        time.sleep(seconds)
        return _json(start_response, {"pid": pid, "slept": seconds})
    if path == "/stuck":
        stuck_forever_here(params)
    if path == "/crash":
        _mark(params)
        _crash(params.get("how", "exit"))
    if path == "/alloc":
        mb = int(params.get("mb", "200"))
        # b"\x01" * n is filled by memset, so every page is touched and counts in RSS.
        _HOARD.append(b"\x01" * (mb * 1024 * 1024))
        return _json(start_response, {"pid": pid, "held_mb": sum(len(b) for b in _HOARD) >> 20})
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


application = app
