"""Operations settings of the process manager (issue 4): systemd socket activation, dropping
privileges, umask, and extra files for --reload. Real processes, real sockets."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))

from proctools import http_get, master_pid, server_env, wait_for, wait_workers  # noqa: E402

APP = "proc_apps:app"
ferrocorn_only = pytest.mark.ferrocorn_only


@ferrocorn_only  # gunicorn supports LISTEN_FDS too, but its log line differs; kept to ferrocorn
def test_systemd_socket_activation_uses_the_inherited_socket(tmp_path):
    """LISTEN_FDS/LISTEN_PID: the server serves on fd 3 handed over by its parent, binds nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    fd = sock.fileno()

    def hand_over():  # in the child, before exec: fd 3 = the socket
        os.dup2(fd, 3)

    out = tmp_path / "out.txt"
    with open(out, "wb") as log:
        proc = subprocess.Popen(
            # LISTEN_PID must be the server's own pid: the shell's $$ survives its exec.
            ["/bin/sh", "-c", 'LISTEN_FDS=1 LISTEN_PID=$$ exec "$0" -m ferrocorn "$1"', sys.executable, APP],
            cwd=str(tmp_path), env=server_env(tmp_path),
            # close_fds=False: subprocess closes fds after preexec_fn, which would close fd 3.
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=hand_over, close_fds=False,
            start_new_session=True,
        )
    sock.close()  # only the server holds it now
    try:
        try:
            wait_for(lambda: f"Listening at: http://127.0.0.1:{port}" in out.read_text(), 20,
                     message="the inherited socket to be announced")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{out.read_text()}") from None
        status, body = http_get("127.0.0.1", port, "/pid")
        assert status == 200 and json.loads(body)["ppid"] == proc.pid
        assert "127.0.0.1:8000" not in out.read_text(), "must not bind the default address as well"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def _uid_gid(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    uid = int(next(l for l in status.splitlines() if l.startswith("Uid:")).split()[1])
    gid = int(next(l for l in status.splitlines() if l.startswith("Gid:")).split()[1])
    return uid, gid


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_and_group_apply_to_workers_not_the_master(start_server, tmp_path):
    os.chmod(tmp_path, 0o755)
    # --preload: the interpreter here lives under /root (mode 700), which "nobody" cannot read;
    # importing in the master (as root) first is also how such deployments run.
    srv = start_server("--preload", "-u", "nobody", "-g", "nogroup", APP, cwd=tmp_path)
    master = master_pid(srv)
    (worker,) = wait_workers(master, 1)
    assert _uid_gid(worker) == (65534, 65534)
    assert _uid_gid(master)[0] == 0, "the master keeps its privileges (to re-exec on USR2)"
    assert http_get(srv.host, srv.port, "/pid")[0] == 200


def test_unknown_user_is_a_clear_startup_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "ferrocorn", "-u", "no-such-user-xyz", APP], cwd=str(tmp_path),
                       env=server_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "no-such-user-xyz" in (r.stdout + r.stderr)
    assert "Traceback" not in (r.stdout + r.stderr)


def test_umask_applies_to_files_the_server_creates(start_server, tmp_path):
    pidfile = tmp_path / "umask.pid"
    srv = start_server("-m", "077", "--pid", str(pidfile), APP, cwd=tmp_path)
    master_pid(srv)
    assert pidfile.exists()
    assert pidfile.stat().st_mode & 0o777 == 0o600


@ferrocorn_only  # ferrocorn's log line names the file that changed
def test_reload_extra_file_restarts_the_worker_when_it_changes(start_server, tmp_path):
    extra = tmp_path / "settings.toml"
    extra.write_text("a = 1\n")
    srv = start_server("--reload", "--reload-extra-file", str(extra), APP, cwd=tmp_path)
    master = master_pid(srv)
    (before,) = wait_workers(master, 1)
    time.sleep(0.5)  # let the watcher start
    extra.write_text("a = 2\n")
    srv.wait_for_log(r"Worker reloading: .*settings\.toml modified", timeout=10)
    (after,) = wait_workers(master, 1, timeout=10, exclude=[before])
    assert after != before
    assert http_get(srv.host, srv.port, "/pid")[0] == 200


def test_hup_rereads_the_config_file(start_server, tmp_path):
    """HUP reloads the configuration (gunicorn): a changed worker count in the config file applies
    to the new generation of workers."""
    conf = tmp_path / "conf.py"
    conf.write_text("workers = 1\n")
    srv = start_server("-c", str(conf), APP, cwd=tmp_path)
    master = master_pid(srv)
    (first,) = wait_workers(master, 1)
    conf.write_text("workers = 3\n")
    os.kill(master, signal.SIGHUP)
    new = wait_workers(master, 3, timeout=15, exclude=[first])
    assert len(set(new)) == 3
    srv.wait_for_log(r"Configuration reloaded: 3 workers", timeout=5)
    assert http_get(srv.host, srv.port, "/pid")[0] == 200


def test_hup_with_a_broken_config_keeps_serving_with_the_old_one(start_server, tmp_path):
    conf = tmp_path / "conf.py"
    conf.write_text("workers = 2\n")
    srv = start_server("-c", str(conf), APP, cwd=tmp_path)
    master = master_pid(srv)
    old = wait_workers(master, 2)
    conf.write_text("workers = 'many'\n")
    os.kill(master, signal.SIGHUP)
    srv.wait_for_log(r"keeping the current one", timeout=10)
    wait_workers(master, 2, timeout=15, exclude=old)  # still a rolling restart, same count
    assert http_get(srv.host, srv.port, "/pid")[0] == 200
