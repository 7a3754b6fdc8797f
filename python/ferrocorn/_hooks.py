"""The objects ferrocorn passes to gunicorn-style server hooks.

gunicorn passes its ``Arbiter`` and ``Worker`` instances; ferrocorn's master and workers are Rust,
so hooks get small stand-ins with the attributes hooks commonly read (see docs/hooks.md):

* ``server``: ``pid`` (the master's), ``proc_name``, ``num_workers``, ``log`` (a logger writing to
  the error log).
* ``worker``: ``pid``, ``ppid``, ``age`` (the worker's slot number), ``alive``, ``log``.
* ``req`` (pre_request/post_request): ``method``, ``uri``, ``path``, ``query``, ``version``,
  ``headers`` (list of ``(NAME, value)`` like gunicorn: names upper-cased).
* ``resp`` (post_request): ``status`` (e.g. ``"200 OK"``), ``status_code``, ``sent`` (body bytes).
"""
from __future__ import annotations

import logging
import os
import types

class _ErrorLogHandler(logging.Handler):
    """Sends records to ferrocorn's error log, in its line format."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from ._ferrocorn import _log as write

            write(record.levelname, self.format(record))
        except Exception:  # a log call must never break a hook
            self.handleError(record)


_log = logging.getLogger("ferrocorn.hooks")
if not any(isinstance(h, _ErrorLogHandler) for h in _log.handlers):
    _log.addHandler(_ErrorLogHandler())
    _log.setLevel(logging.DEBUG)
    _log.propagate = False


def server(pid: int, proc_name: str, num_workers: int) -> types.SimpleNamespace:
    return types.SimpleNamespace(pid=pid, proc_name=proc_name, num_workers=num_workers, log=_log)


def worker(pid: int, ppid: int, age: int) -> types.SimpleNamespace:
    return types.SimpleNamespace(pid=pid, ppid=ppid, age=age, alive=True, log=_log)


def request(environ: dict) -> types.SimpleNamespace:
    headers = [
        (k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")
    ]
    for key, name in (("CONTENT_TYPE", "CONTENT-TYPE"), ("CONTENT_LENGTH", "CONTENT-LENGTH")):
        if key in environ:
            headers.append((name, environ[key]))
    proto = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    try:
        version = tuple(int(x) for x in proto.split("/", 1)[1].split("."))
    except (IndexError, ValueError):
        version = (1, 1)
    return types.SimpleNamespace(
        method=environ.get("REQUEST_METHOD"),
        uri=environ.get("RAW_URI"),
        path=environ.get("PATH_INFO"),
        query=environ.get("QUERY_STRING"),
        version=version,
        headers=headers,
    )


def response(status: int, sent: int) -> types.SimpleNamespace:
    from http import HTTPStatus

    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return types.SimpleNamespace(status=f"{status} {phrase}".strip(), status_code=status, sent=sent)


def this_worker(age: int = 0) -> types.SimpleNamespace:
    return worker(os.getpid(), os.getppid(), age)


class WorkerInterrupted(BaseException):
    """Raised inside the app when the worker is told to quit at once (INT/QUIT) while its only
    free thread is busy with a request: the request ends, and the worker exits (gunicorn raises
    SystemExit there). A BaseException, so ``except Exception`` in the app does not swallow it."""


def interrupt(signum, frame):
    raise WorkerInterrupted(signum)


def install_interrupt_handlers():
    """Python-level handlers for INT and QUIT in a worker: the server's own C-level handlers replace
    Python's afterwards, and trip these only while the main thread is inside the app."""
    import signal

    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, interrupt)
