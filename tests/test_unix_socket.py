"""HTTP on Unix sockets (issue 5, first slice): binding `-b unix:PATH` next to TCP, socket file mode
and owner, stale files from a dead server replaced, a live one refused, `--vacuum` removing only
our own file — and real nginx in front with `proxy_pass http://unix:...` as in the seed's config."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))

from frontends import Nginx  # noqa: E402
from proctools import server_env, wait_for  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ferrocorn_only = pytest.mark.ferrocorn_only


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket file."""

    def __init__(self, path: str, timeout: float = 10.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def unix_get(path: str, target: str, headers=None):
    c = UnixHTTPConnection(path)
    try:
        c.request("GET", target, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


@ferrocorn_only
def test_serves_http_on_a_unix_socket_next_to_tcp(start_server, tmp_path):
    sock = tmp_path / "app.sock"
    srv = start_server("-b", f"unix:{sock}", "--chmod-socket=660", "wsgi_apps:environ_app", cwd=tmp_path)
    srv.wait_for_log(rf"Listening at: unix:{sock}")
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o660
    status, body = unix_get(str(sock), "/hello?x=1", {"X-Forwarded-For": "203.0.113.9"})
    assert status == 200
    env = {k: v["value"] for k, v in json.loads(body).items() if "value" in v}
    assert env["PATH_INFO"] == "/hello" and env["QUERY_STRING"] == "x=1"
    # A Unix-socket peer is a local front end: trusted, so X-Forwarded-For names the client.
    assert env["REMOTE_ADDR"] == "203.0.113.9"
    # and TCP still works on the same server
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    c.request("GET", "/tcp")
    assert c.getresponse().status == 200


@ferrocorn_only
def test_stale_socket_file_is_replaced_and_vacuum_removes_ours(start_server, tmp_path):
    sock = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))
    dead.close()  # a file nobody listens on, as a crashed server leaves behind
    assert sock.exists()
    srv = start_server("-b", f"unix:{sock}", "--vacuum", "wsgi_apps:environ_app", cwd=tmp_path)
    srv.wait_for_log(rf"Listening at: unix:{sock}")
    assert unix_get(str(sock), "/")[0] == 200
    assert srv.stop() == 0
    assert not sock.exists(), "--vacuum must remove the socket file on exit"


@ferrocorn_only
def test_a_live_socket_file_is_refused_with_a_clear_error(tmp_path):
    sock = tmp_path / "live.sock"
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(str(sock))
    live.listen(1)
    try:
        r = subprocess.run([sys.executable, "-m", "ferrocorn", "-b", f"unix:{sock}", "wsgi_apps:environ_app"],
                           cwd=str(tmp_path), env=server_env(tmp_path), capture_output=True, text=True, timeout=30)
        out = r.stdout + r.stderr
        assert r.returncode == 1, out
        assert str(sock) in out and "another server is listening" in out
        assert "Traceback" not in out
    finally:
        live.close()
    assert sock.exists(), "somebody else's live socket must never be removed"


@ferrocorn_only
@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is installed by scripts/test.sh")
def test_django_behind_real_nginx_proxy_pass_to_the_unix_socket(start_server, tmp_path):
    """The seed's deployment (nginx-unix-proxy.conf): nginx proxies to ferrocorn's Unix socket and
    serves /static itself from the collected static files."""
    djsite = ROOT / "examples" / "djsite"
    static_root = tmp_path / "staticfiles"
    env = {"DJANGO_STATIC_ROOT": str(static_root)}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=str(djsite),
                   env={**os.environ, **env}, check=True, capture_output=True, timeout=60)
    sock = tmp_path / "gunicorn.sock"
    os.chmod(tmp_path, 0o755)
    start_server("-b", f"unix:{sock}", "--chmod-socket=666", "--chdir", str(djsite),
                 "djsite.wsgi:application", cwd=djsite, env=env)
    wait_for(sock.exists, 20, message="the Unix socket")
    with Nginx(tmp_path, f"""
location /static {{ alias {static_root}/; }}
location / {{
  proxy_set_header Host $host;
  proxy_set_header X-Real-IP $remote_addr;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_redirect off;
  proxy_pass http://unix:{sock};
}}
""") as port:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/api/json")
        r = c.getresponse()
        assert r.status == 200, r.read()[:300]
        assert json.loads(r.read())["success"] is True
        c.request("GET", "/page")
        r = c.getresponse()
        page = r.read()
        assert r.status == 200 and b"/static/" in page
        c.request("GET", "/static/demo/style.css")  # served by nginx from the collected files
        r = c.getresponse()
        assert r.status == 200 and len(r.read()) > 0
        c.close()
