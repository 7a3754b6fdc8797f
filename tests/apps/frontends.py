"""Real front-end servers for the tests: nginx (and Apache httpd) started as our own processes on
a free port with a config the test writes, stopped at the end. Only the parts of the config that
differ per test are passed in; the boilerplate (pid file, temp dirs, logs) lives here once."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import textwrap
import threading
from pathlib import Path

from proctools import wait_for

NGINX = shutil.which("nginx")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class _FrontEnd:
    """A front-end server process of ours: started on a config file, waited for until it listens
    on ``self.port``, stopped with ``stop_signal`` (then killed if it lingers)."""

    name = "front end"
    stop_signal = signal.SIGTERM
    log_name = ""

    def error_log(self) -> str:
        p = self.dir / self.log_name
        return p.read_text(errors="replace") if p.exists() else ""

    def _start(self, cmd: list[str], timeout: float) -> int:
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: _listening(self.port) or self.proc.poll() is not None, timeout,
                     message=f"{self.name} to listen")
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.proc.stderr.read().decode(errors='replace')}"
                                   f"\n{self.error_log()}")
        except BaseException:
            self.__exit__()
            raise
        return self.port

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return False


class Nginx(_FrontEnd):
    """``with Nginx(tmp_path, server_body) as port:`` runs nginx with ``server_body`` (locations,
    upstreams go in ``http_extra``) inside ``server { listen 127.0.0.1:PORT; ... }``."""

    name = "nginx"
    stop_signal = signal.SIGQUIT  # graceful: finish what is in flight
    log_name = "nginx-error.log"

    def __init__(self, workdir: Path, server_body: str, http_extra: str = ""):
        self.dir = Path(workdir)
        self.server_body = server_body
        self.http_extra = http_extra
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> int:
        d = self.dir
        # pytest's tmp dirs are private (0700): as root, nginx's workers must run as root to reach
        # sockets and files there; otherwise they run as us anyway.
        user = "user root;" if os.geteuid() == 0 else ""
        temps = "\n".join(f"  {k}_temp_path {d}/{k};" for k in
                          ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = d / "nginx.conf"
        conf.write_text(textwrap.dedent(f"""\
            {user}
            daemon off;
            worker_processes 1;
            pid {d}/nginx.pid;
            error_log {d}/nginx-error.log info;
            events {{ worker_connections 256; }}
            http {{
              access_log off;
              client_max_body_size 64m;
            {temps}
            {textwrap.indent(self.http_extra, '  ')}
              server {{
                listen 127.0.0.1:{self.port};
                server_name localhost;
            {textwrap.indent(self.server_body, '    ')}
              }}
            }}
            """))
        return self._start([NGINX or "nginx", "-c", str(conf), "-p", str(d)], 10)


APACHE = shutil.which("apache2") or (os.path.exists("/usr/sbin/apache2") and "/usr/sbin/apache2") or None
APACHE_MODULES = Path("/usr/lib/apache2/modules")


def apache_has(*modules: str) -> bool:
    return APACHE is not None and all((APACHE_MODULES / f"{m}.so").exists() for m in modules)


class Apache(_FrontEnd):
    """``with Apache(tmp_path, body, modules=[...]) as port:`` runs Apache httpd 2.4 in the
    foreground (``-DFOREGROUND``) with a minimal config of our own: the event MPM, the modules
    asked for, ``Listen 127.0.0.1:PORT`` and ``body`` (directives for the main server)."""

    name = "apache"
    stop_signal = signal.SIGTERM  # httpd: TERM stops at once, children too
    log_name = "apache-error.log"
    BASE_MODULES = ("mod_mpm_event", "mod_authz_core", "mod_mime", "mod_dir")

    def __init__(self, workdir: Path, body: str, modules=()):
        self.dir = Path(workdir)
        self.body = body
        self.modules = list(self.BASE_MODULES) + [m for m in modules if m not in self.BASE_MODULES]
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> int:
        d = self.dir
        loads = "\n".join(
            f"LoadModule {m[4:]}_module {APACHE_MODULES}/{m}.so" for m in self.modules)
        # As root, httpd's children must switch to some user; ours reach only world-readable paths.
        user = "User www-data\nGroup www-data" if os.geteuid() == 0 else ""
        conf = d / "apache.conf"
        conf.write_text(textwrap.dedent(f"""\
            ServerRoot {d}
            {loads}
            {user}
            ServerName localhost
            Listen 127.0.0.1:{self.port}
            PidFile {d}/apache.pid
            ErrorLog {d}/apache-error.log
            LogLevel info
            DefaultRuntimeDir {d}
            Mutex file:{d}
            TypesConfig /etc/mime.types
            """) + self.body + "\n")
        return self._start([APACHE or "apache2", "-f", str(conf), "-DFOREGROUND"], 15)


class CountingRelay:
    """``with CountingRelay(target) as address:`` relays every connection made to ``address`` (a
    free TCP port on 127.0.0.1, or the Unix socket path ``listen_path``) to ``target`` (a
    ``(host, port)`` or a Unix socket path), byte for byte, and counts the connections it accepted
    in ``accepted`` — to see whether a front end reuses its connections to the application."""

    def __init__(self, target, listen_path: str | None = None):
        self.target = target
        self.listen_path = listen_path
        self.accepted = 0
        self._lock = threading.Lock()
        self._stop = False
        self._socks: list[socket.socket] = []

    def __enter__(self):
        if self.listen_path:
            self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.server.bind(self.listen_path)
            os.chmod(self.listen_path, 0o666)
            address = self.listen_path
        else:
            self.server = socket.socket()
            self.server.bind(("127.0.0.1", 0))
            address = self.server.getsockname()
        self.server.listen(64)
        self.server.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return address

    def _connect_target(self) -> socket.socket:
        if isinstance(self.target, (tuple, list)):
            return socket.create_connection(tuple(self.target))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.target)
        return s

    def _accept(self):
        while not self._stop:
            try:
                client, _ = self.server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                self.accepted += 1
            upstream = self._connect_target()
            self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def __exit__(self, *exc):
        self._stop = True
        self.server.close()
        self._thread.join(2)
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass
        return False
