"""WSGI app for the hook, access-log and seed-config tests (``tests/test_hooks.py``,
``tests/test_access_log.py``, ``tests/test_seed_configs.py``).

Served as ``hook_apps:app``; routes, parameters in the query string:

* ``/pid``              -> JSON ``{"pid", "ppid", "multithread", "multiprocess"}``; sets
  ``environ["myapp.seen"] = "yes"`` (so a post_request hook can tell it got the app's environ).
* ``/boom``             -> raises ``RuntimeError("boom-from-app")`` before ``start_response`` (a 500).
* ``/status?code=N``    -> answers ``N`` with body ``status N\\n``.
* ``/headers``          -> 200 with response headers ``X-Resp: resp-value`` and ``Content-Type``; sets
  ``environ["myapp.user"] = "set-by-app"`` (an environ key an app adds, as auth middleware does).
* ``/bytes?n=N``        -> N bytes of ``x`` with a Content-Length.
* ``/sleep?s=S``        -> sleeps S seconds, then ``slept``.
* anything else         -> ``hello\\n`` (6 bytes).
"""
from __future__ import annotations

import json
import os
import time
from urllib.parse import parse_qs


def _params(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def _send(start_response, status, body, ctype="text/plain", extra=()):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body))), *extra])
    return [body]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    params = _params(environ)
    if path == "/pid":
        environ["myapp.seen"] = "yes"
        body = json.dumps({
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "multithread": environ["wsgi.multithread"],
            "multiprocess": environ["wsgi.multiprocess"],
        }).encode()
        return _send(start_response, "200 OK", body, "application/json")
    if path == "/boom":
        raise RuntimeError("boom-from-app")
    if path == "/status":
        code = int(params.get("code", "200"))
        from http import HTTPStatus

        return _send(start_response, f"{code} {HTTPStatus(code).phrase}", f"status {code}\n".encode())
    if path == "/headers":
        environ["myapp.user"] = "set-by-app"
        return _send(start_response, "200 OK", b"headers\n", extra=[("X-Resp", "resp-value")])
    if path == "/bytes":
        return _send(start_response, "200 OK", b"x" * int(params.get("n", "10")))
    if path == "/sleep":
        time.sleep(float(params.get("s", "0.5")))
        return _send(start_response, "200 OK", b"slept")
    return _send(start_response, "200 OK", b"hello\n")


application = app
