"""A small Flask application exercising the usual WSGI paths.

Run it from the repository root::

    ferrocorn examples.flaskapp:app

Routes:
  GET  /            plain-text greeting
  GET  /api/json    a JSON document
  POST /api/echo    echoes a JSON body back (400 if the body is not JSON)
  POST /data        reads the raw body with request.get_data(); returns its size and sha256
  GET  /stream      a streamed (generator) response: ?n= chunks, ?delay= seconds between them
  GET  /error       raises, so Flask answers 500 and logs the traceback
"""
import hashlib
import time

from flask import Flask, Response, abort, jsonify, request

app = Flask(__name__)

MAX_STREAM_CHUNKS = 100_000
MAX_STREAM_DELAY = 5.0


@app.get("/")
def index():
    return "Hello from Flask!\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/api/json")
def api_json():
    return jsonify(
        message="hello",
        items=[{"id": i, "name": f"item {i}"} for i in range(1, 6)],
        success=True,
    )


@app.post("/api/echo")
def api_echo():
    data = request.get_json(silent=True)
    if data is None:
        return jsonify(success=False, error="expected a JSON body"), 400
    return jsonify(success=True, data=data)


@app.post("/data")
def data():
    body = request.get_data()
    return jsonify(
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        content_type=request.content_type,
        chunked="chunked" in request.headers.get("Transfer-Encoding", "").lower(),
    )


@app.get("/stream")
def stream():
    n = request.args.get("n", 10, type=int)
    delay = request.args.get("delay", 0.0, type=float)
    if not 0 <= n <= MAX_STREAM_CHUNKS or not 0 <= delay <= MAX_STREAM_DELAY:
        abort(400)

    def generate():
        for i in range(n):
            if i and delay:
                time.sleep(delay)
            yield f"chunk {i}\n"

    return Response(generate(), mimetype="text/plain")


@app.get("/error")
def error():
    raise RuntimeError("flaskapp example: /error always fails")
