"""Server processes: start, wait until ready, measure CPU and RSS through /proc, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- /proc readers -----------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may contain spaces or ')'.
    return raw[raw.rindex(")") + 2:].split()


def _parent_map() -> dict[int, int]:
    """pid -> parent pid for every process on the machine."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                parents[int(entry)] = int(fields[1])
    return parents


def process_tree(root: int) -> list[int]:
    """The root pid and all of its live descendants."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parent_map().items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def worker_pids(root: int) -> list[int]:
    """The processes that serve requests: the root's children if it has any (a master/worker
    server), else the root itself (a single-process server)."""
    tree = process_tree(root)
    parents = _parent_map()
    children = [pid for pid in tree if parents.get(pid) == root]
    return children or [root]


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime + stime of each live pid, in seconds (all threads of the process included)."""
    result = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # After the name: state=0, ppid=1, ..., utime=11, stime=12 (stat fields 14 and 15).
            result[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return result


def tree_cpu_seconds(root: int) -> dict[int, float]:
    return cpu_seconds(process_tree(root))


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two snapshots; a process that appeared in between counts in full."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM (peak resident set size) of one process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


# --- ports -------------------------------------------------------------------------------------

def port_open(host: str, port: int) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port_free(host: str, port: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_open(host, port):
            return True
        time.sleep(0.1)
    return False


# --- server lifecycle --------------------------------------------------------------------------

@dataclass
class RunningServer:
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def start_server(cmd: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> RunningServer:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RunningServer(proc, log_path)


def wait_listening(server: RunningServer, host: str, port: int, timeout: float = 60.0) -> str | None:
    """Poll the port until it accepts connections. Returns None when ready, else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return f"exited with status {server.proc.returncode} before listening"
        if port_open(host, port):
            return None
        time.sleep(0.1)
    return f"not listening on {host}:{port} after {timeout:.0f}s"


def stop_server(server: RunningServer, grace: float = 5.0) -> None:
    """SIGTERM the server, then SIGKILL whatever of its process tree is left."""
    tree = process_tree(server.pid) if server.proc.poll() is None else [server.pid]
    try:
        os.kill(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        server.proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    _kill_all(server.pid, tree)
    try:
        server.proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


def _kill_all(root: int, tree: list[int]) -> None:
    try:
        os.killpg(root, signal.SIGKILL)  # start_new_session made the root a group leader
    except (ProcessLookupError, PermissionError):
        pass
    for pid in tree:  # descendants that left the process group
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
