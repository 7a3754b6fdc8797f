"""Apps for the static-file tests (``static_apps:NAME``)."""
from __future__ import annotations

import ctypes
import time

from wsgi_apps import _params, _touch, recorded

# ctypes.PyDLL calls keep the GIL held for the whole C call (ctypes.CDLL would release it).
_LIBC_WITH_GIL = ctypes.PyDLL(None)


@recorded
def gil_hog(environ, start_response):
    """``/hog?marker=PATH&ms=N``: writes the marker, then sleeps N ms inside C *holding the GIL*,
    so no Python code in the process can run meanwhile. Any other path: ``hello`` at once, with
    ``X-Answered-At`` (time.time()) so a test can see when Python got to run it."""
    if environ.get("PATH_INFO") == "/hog":
        p = _params(environ)
        _touch(p.get("marker"), "in")
        _LIBC_WITH_GIL.usleep(ctypes.c_uint(int(p.get("ms", "3000")) * 1000))
        body = b"hogged"
    else:
        body = b"hello"
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
        ("X-Answered-At", repr(time.time())),
    ])
    return [body]
