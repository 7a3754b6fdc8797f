"""`--via-nginx`: one nginx in front of every server, as people deploy them.

nginx (one worker process) listens on its own port and proxies to the server under test with
`proxy_pass`, HTTP/1.1 and an upstream keep-alive pool as large as wrk's connection count, so
the server sees a few busy kept connections from a proxy instead of wrk's. wrk loads nginx; the
server's CPU, RSS, new-connection probe and starvation sampler still look at the server itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

from .procs import port_open, wait_port_free


class NginxFront:
    """``with NginxFront(listen_port, upstream_port, pool) as port:`` runs nginx for a whole run."""

    def __init__(self, listen_port: int, upstream_port: int, pool: int, host: str = "127.0.0.1"):
        self.listen_port = listen_port
        self.upstream_port = upstream_port
        self.pool = pool
        self.host = host
        self.proc: subprocess.Popen | None = None
        self.dir: Path | None = None

    @staticmethod
    def binary() -> str | None:
        return shutil.which("nginx") or (str(Path("/usr/sbin/nginx")) if Path("/usr/sbin/nginx").exists()
                                         else None)

    def __enter__(self) -> int:
        exe = self.binary()
        if exe is None:
            raise RuntimeError("--via-nginx needs nginx (apt-get install nginx-light)")
        if not wait_port_free(self.host, self.listen_port, timeout=5):
            raise RuntimeError(f"port {self.listen_port} (nginx) is in use")
        self.dir = Path(tempfile.mkdtemp(prefix="ferrobench-nginx-"))
        d = self.dir
        user = "user root;" if os.geteuid() == 0 else ""
        temps = "\n".join(f"  {k}_temp_path {d}/{k};" for k in
                          ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (d / "nginx.conf").write_text(textwrap.dedent(f"""\
            {user}
            daemon off;
            worker_processes 1;
            pid {d}/nginx.pid;
            error_log {d}/error.log warn;
            events {{ worker_connections 4096; }}
            http {{
              access_log off;
            {temps}
              upstream app {{ server {self.host}:{self.upstream_port}; keepalive {self.pool}; }}
              server {{
                listen {self.host}:{self.listen_port};
                client_max_body_size 16m;
                location / {{
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_set_header Host $host;
                  proxy_pass http://app;
                }}
              }}
            }}
            """))
        self.proc = subprocess.Popen([exe, "-c", str(d / "nginx.conf"), "-p", str(d)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not port_open(self.host, self.listen_port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (d / "error.log").read_text() if (d / "error.log").exists() else ""
                raise RuntimeError(f"nginx did not start: {log[-500:]}")
            time.sleep(0.05)
        return self.listen_port

    def __exit__(self, *exc) -> bool:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False
