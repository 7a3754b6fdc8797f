"""What is benchmarked: the servers (each with one worker process) and the scenarios (apps)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Callable

from . import APPS_DIR, DJSITE_DIR, INSTALL_STATUS_DIR, LUA_DIR, RUNNERS_DIR, VENV_BIN, VENV_DIR

HOST = "127.0.0.1"

# A command builder gets (WSGI target "module:callable", app directory, port, threads or None).
CommandBuilder = Callable[[str, str, int, "int | None"], list[str]]


@dataclass(frozen=True)
class Server:
    name: str
    package: str                 # pip package, for install status
    build: CommandBuilder
    threads: int | None = None   # worker threads by default; None = not a threaded server
    probe_import: str | None = None  # module to import to check it is installed (runner scripts)
    executable: str | None = None    # console script in the venv to check it is installed
    only_scenarios: tuple[str, ...] | None = None  # None: every scenario; else only these

    def serves(self, scenario: str) -> bool:
        return self.only_scenarios is None or scenario in self.only_scenarios

    def command(self, target: str, app_dir: str, port: int, threads: int | None) -> list[str]:
        return self.build(target, app_dir, port, threads if threads is not None else self.threads)


def _bin(name: str) -> str:
    return str(VENV_BIN / name)


def _ferrocorn(target: str, app_dir: str, port: int, threads: int | None) -> list[str]:
    return [_bin("ferrocorn"), "-w", "1", "--threads", str(threads or 1), "-b", f"{HOST}:{port}", target]


def _gunicorn_sync(target: str, app_dir: str, port: int, threads: int | None) -> list[str]:
    return [_bin("gunicorn"), "-w", "1", "-k", "sync", "-b", f"{HOST}:{port}",
            "--log-level", "warning", target]


def _gunicorn_gthread(target: str, app_dir: str, port: int, threads: int | None) -> list[str]:
    return [_bin("gunicorn"), "-w", "1", "-k", "gthread", "--threads", str(threads or 4),
            "-b", f"{HOST}:{port}", "--log-level", "warning", target]


def _uwsgi(target: str, app_dir: str, port: int, threads: int | None) -> list[str]:
    return [_bin("uwsgi"), "--http11-socket", f"{HOST}:{port}", "--processes", "1", "--master",
            "--module", target, "--pythonpath", app_dir, "--virtualenv", str(VENV_DIR),
            "--disable-logging", "--die-on-term", "--need-app"]


def _granian_common(target: str, port: int) -> list[str]:
    return [_bin("granian"), "--interface", "wsgi", "--host", HOST, "--port", str(port),
            "--no-access-log", "--log-level", "warning"]


def _granian(target: str, app_dir: str, port: int, threads: int | None) -> list[str]:
    return _granian_common(target, port) + [
        "--workers", "1", "--blocking-threads", str(threads or 1), "--runtime-threads", "1", target]


def _granian_default(target: str, app_dir: str, port: int, threads: int | None) -> list[str]:
    return _granian_common(target, port) + [target]


def _runner(script: str) -> CommandBuilder:
    def build(target: str, app_dir: str, port: int, threads: int | None) -> list[str]:
        return [_bin("python"), str(RUNNERS_DIR / script), target, HOST, str(port)]
    return build


def _waitress(target: str, app_dir: str, port: int, threads: int | None) -> list[str]:
    return [_bin("waitress-serve"), f"--listen={HOST}:{port}", f"--threads={threads or 4}", target]


def _floor(binary: str) -> CommandBuilder:
    """A no-Python reference server from bench/floor: answers any GET with "Hello, World!"."""
    def build(target: str, app_dir: str, port: int, threads: int | None) -> list[str]:
        return [_bin(binary), f"{HOST}:{port}"]
    return build


SERVERS: dict[str, Server] = {s.name: s for s in [
    Server("ferrocorn", "ferrocorn", _ferrocorn, threads=1, executable="ferrocorn"),
    Server("ferrocorn-t4", "ferrocorn", _ferrocorn, threads=4, executable="ferrocorn"),
    Server("gunicorn-sync", "gunicorn", _gunicorn_sync, executable="gunicorn"),
    Server("gunicorn-gthread", "gunicorn", _gunicorn_gthread, threads=4, executable="gunicorn"),
    Server("uwsgi", "uwsgi", _uwsgi, executable="uwsgi"),
    Server("granian", "granian", _granian, threads=1, executable="granian"),
    Server("granian-default", "granian", _granian_default, executable="granian"),
    Server("bjoern", "bjoern", _runner("run_bjoern.py"), probe_import="bjoern"),
    Server("meinheld", "meinheld", _runner("run_meinheld.py"), probe_import="meinheld.server"),
    Server("waitress", "waitress", _waitress, threads=4, executable="waitress-serve"),
    # References without Python (bench/floor, built by `bash bench/setup.sh floor`): the floor of
    # this machine's kernel TCP path. They only know the hello answer.
    Server("floor-hyper", "floor", _floor("floor-hyper"), executable="floor-hyper",
           only_scenarios=("hello",)),
    Server("floor-epoll", "floor", _floor("floor-epoll"), executable="floor-epoll",
           only_scenarios=("hello",)),
]}


def unavailable_reason(server: Server) -> str | None:
    """None if the server can be run from the venv, else a one-line reason."""
    if server.executable is not None and (VENV_BIN / server.executable).exists():
        return None
    if server.probe_import is not None:
        check = subprocess.run([_bin("python"), "-c", f"import {server.probe_import}"],
                               capture_output=True, text=True)
        if check.returncode == 0:
            return None
        detail = (check.stderr.strip().splitlines() or ["import failed"])[-1]
    else:
        detail = "not installed"
    failed = INSTALL_STATUS_DIR / f"{server.package}.failed"
    if not failed.exists():
        return detail
    why = "; ".join(ln.strip() for ln in failed.read_text().splitlines()[:2] if ln.strip())
    if server.package == "ferrocorn":
        return f"not installed (last build failed: {why})"
    return f"not installable ({why})"


# --- scenarios ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    name: str
    target: str                       # WSGI "module:callable"
    app_dir: str                      # put on PYTHONPATH / used as cwd
    path: str                         # URL path wrk requests
    method: str = "GET"
    body_size: int = 0                # request body for the readiness check (echo)
    expect_len: int | None = None     # expected response body length, checked once before load
    wrk_script: str | None = None     # Lua script in bench/lua
    threads: int | None = None        # overrides the threads of threaded servers
    note: str = ""

    def missing_reason(self) -> str | None:
        if self.app_dir == str(DJSITE_DIR) and not (DJSITE_DIR / "djsite").is_dir():
            return f"{DJSITE_DIR} does not exist yet (package djsite)"
        return None

    @property
    def lua_path(self):
        return LUA_DIR / self.wrk_script if self.wrk_script else None


_APPS = str(APPS_DIR)
_DJ = str(DJSITE_DIR)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("hello", "hello:app", _APPS, "/", expect_len=13),
    Scenario("echo", "echo:app", _APPS, "/echo", method="POST", body_size=65536,
             expect_len=65536, wrk_script="echo.lua",
             note="POST of a 64 KiB body, read fully and echoed back"),
    Scenario("stream", "stream:app", _APPS, "/stream", expect_len=1 << 20,
             note="1 MiB response from a generator, 16 chunks of 64 KiB, with Content-Length"),
    Scenario("django-json", "djsite.wsgi:application", _DJ, "/api/json",
             note="Django JSON view (examples/djsite)"),
    Scenario("django-page", "djsite.wsgi:application", _DJ, "/page",
             note="Django template page (examples/djsite)"),
    Scenario("sleep", "sleep:app", _APPS, "/sleep", threads=4,
             note="app sleeps 10 ms; threaded servers (ferrocorn, gunicorn-gthread, waitress, "
                  "granian) run with 4 threads here; granian-default keeps its defaults"),
]}
