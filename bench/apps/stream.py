"""stream: a 1 MiB response produced by a generator as 16 chunks of 64 KiB.

The Content-Length is declared, so every server can send the body as is
(no chunked transfer encoding); what is measured is writing 16 separate
iterable items to the socket.
"""

CHUNK = b"x" * 65536
COUNT = 16


def _chunks():
    for _ in range(COUNT):
        yield CHUNK


def app(environ, start_response):
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(CHUNK) * COUNT))],
    )
    return _chunks()
