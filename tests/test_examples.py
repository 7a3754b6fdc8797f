"""The README's first command: ``ferrocorn examples.hello:app`` from the repository root."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
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


def _readme_run_command() -> list[str]:
    """The README's first command line, after its `pip install . &&`: what a new user types."""
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    first = block.splitlines()[0].split("#", 1)[0]
    install, _, run = first.partition("&&")
    assert install.split() == ["pip", "install", "."], first
    return run.split()


def test_readme_first_command_serves_on_the_default_address():
    # The installed console script, exactly as the README spells it, with nothing else: no -b,
    # so it must bind 127.0.0.1:8000 by default.
    cmd = _readme_run_command()
    assert cmd[0] == "ferrocorn"
    script = shutil.which("ferrocorn") or str(Path(sys.executable).parent / "ferrocorn")
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", 8000))
    except OSError:
        pytest.skip("127.0.0.1:8000 is in use on this machine")
    finally:
        probe.close()
    env = {k: v for k, v in os.environ.items()
           if k not in ("FERROCORN_CMD_ARGS", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "PYTHONPATH")}
    proc = subprocess.Popen([script, *cmd[1:]], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = requests.get("http://127.0.0.1:8000/", timeout=5)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
                assert time.monotonic() < deadline, "nothing listening on 127.0.0.1:8000 after 30 s"
                time.sleep(0.1)
        assert r.status_code == 200 and r.text == "Hello, World!\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    log = out.decode(errors="replace")
    assert proc.returncode == 0, log
    assert "Listening at: http://127.0.0.1:8000" in log, log
