"""Apps for the static-file tests (``static_apps:NAME``)."""
from __future__ import annotations

import ctypes
import threading
import time

from wsgi_apps import _params, _touch, recorded

# ctypes.PyDLL calls keep the GIL held for the whole C call (ctypes.CDLL would release it).
_LIBC_WITH_GIL = ctypes.PyDLL(None)


@recorded
def gil_hog(environ, start_response):
    """``/hog?marker=PATH&ms=N``: writes the marker, then sleeps N ms inside C *holding the GIL*,
    so no Python code in the process can run meanwhile. ``/ident``: the serving thread's ident,
    after 0.3 s of ``time.sleep`` (GIL released). Any other path: ``hello`` at once, with
    ``X-Answered-At`` (time.time()) so a test can see when Python got to run it."""
    path = environ.get("PATH_INFO")
    if path == "/hog":
        p = _params(environ)
        _touch(p.get("marker"), "in")
        _LIBC_WITH_GIL.usleep(ctypes.c_uint(int(p.get("ms", "3000")) * 1000))
        body = b"hogged"
    elif path == "/ident":
        time.sleep(0.3)  # GIL released: a concurrent request can be taken by another thread
        body = str(threading.get_ident()).encode()
    else:
        body = b"hello"
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
        ("X-Answered-At", repr(time.time())),
    ])
    return [body]
