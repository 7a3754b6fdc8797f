"""The README's first command: ``ferrocorn examples.hello:app`` from the repository root."""
from __future__ import annotations

from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def test_hello_from_repo_root(start_server):
    server = start_server("examples.hello:app", cwd=ROOT)
    r = requests.get(server.url + "/", timeout=10)
    assert r.status_code == 200
    assert r.text == "Hello, World!\n"
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["Content-Length"] == str(len(b"Hello, World!\n"))


def test_hello_head_has_no_body(start_server):
    server = start_server("examples.hello:app", cwd=ROOT)
    r = requests.head(server.url + "/", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == "14"
    assert r.content == b""
