"""sleep: a blocking 10 ms wait (a stand-in for a database call), then a short answer."""

import time

BODY = b"slept 10 ms"


def app(environ, start_response):
    time.sleep(0.010)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]
