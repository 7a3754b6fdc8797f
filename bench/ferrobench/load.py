"""Load generation with wrk, wrk output parsing, and the fresh-connection probe."""

from __future__ import annotations

import http.client
import re
import resource
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

WRK_TIMEOUT = "2s"  # wrk's own default, spelled out: a slower response counts as a timeout error
PROBE_TIMEOUT = 10.0

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    socket_errors: int = 0
    non_2xx: int = 0
    raw: str = ""
    cpu_seconds: float | None = None  # wrk's own user + system CPU time over its run

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unrecognised wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    result = WrkResult(raw=output)
    if m := re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output):
        result.requests = int(m.group(1))
        result.seconds = _duration_ms(m.group(2) + m.group(3)) / 1000
    if m := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result.rps = float(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE):
        result.p50_ms = _duration_ms(m.group(1))
    if m := re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE):
        result.p99_ms = _duration_ms(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        result.socket_errors = sum(int(g) for g in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        result.non_2xx = int(m.group(1))
    return result


def wrk_command(url: str, duration: float, connections: int, threads: int,
                script: Path | None) -> list[str]:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s",
           "--timeout", WRK_TIMEOUT, "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    return cmd + [url]


def run_wrk(cmd: list[str], duration: float) -> WrkResult:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or "requests in" not in proc.stdout:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    result = parse_wrk(proc.stdout)
    # Children reaped meanwhile (ss, the probe's helpers) are short-lived; wrk dominates this.
    result.cpu_seconds = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


# --- starved connections --------------------------------------------------------------------

def client_bytes_received(port: int) -> dict[str, int] | None:
    """bytes_received of every established client socket connected to `port`, keyed by local
    address (from `ss -tni`), or None if ss is not available."""
    try:
        out = subprocess.run(["ss", "-tniH", "state", "established", f"( dport = :{port} )"],
                             capture_output=True, text=True, timeout=10).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    sockets: dict[str, int] = {}
    local = None
    for line in out.splitlines():
        if line and not line[0].isspace():        # "Recv-Q Send-Q Local Peer" line
            local = line.split()[2]
            sockets[local] = 0
        elif local is not None and (m := re.search(r"bytes_received:(\d+)", line)):
            sockets[local] = int(m.group(1))
    return sockets


@dataclass
class StarvationSampler:
    """Samples the load generator's sockets at two moments of the run. A connection that is open
    at both and received no byte in between was starved: the server left it waiting all that
    time (wrk does not count such connections as errors, and they are absent from its latency
    figures). A connection that the server closed in between is not counted."""

    port: int
    first: float   # seconds after start()
    second: float
    starved: int | None = None
    sampled: int | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def finish(self) -> None:
        assert self._thread is not None
        self._thread.join(15)

    def _run(self) -> None:
        began = time.monotonic()
        time.sleep(self.first)
        before = client_bytes_received(self.port)
        time.sleep(max(0.0, self.second - (time.monotonic() - began)))
        after = client_bytes_received(self.port)
        if before is None or after is None:
            return
        both = [key for key in before if key in after]
        self.sampled = len(before)
        self.starved = sum(1 for key in both if after[key] == before[key])


# --- fresh-connection probe --------------------------------------------------------------------

@dataclass
class ProbeResult:
    ms: float | None = None          # None: no full response within PROBE_TIMEOUT
    status: int | None = None
    error: str | None = None
    answered_after_load: bool = False  # the response only came once wrk had stopped

    def describe(self) -> str:
        if self.ms is None:
            return f">{PROBE_TIMEOUT:.0f}s" if self.error is None else f"error: {self.error}"
        return f"{self.ms:.1f} ms"


@dataclass
class Probe:
    """Opens one new TCP connection `delay` seconds from start() and times a full GET on it."""

    host: str
    port: int
    path: str
    delay: float          # seconds from start() to the probe
    load_duration: float  # the load (started right after start()) lasts this long
    result: ProbeResult = field(default_factory=ProbeResult)
    _thread: threading.Thread | None = None
    _started_at: float = 0.0
    _done_at: float | None = None

    def start(self) -> None:
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def finish(self) -> ProbeResult:
        assert self._thread is not None
        self._thread.join(PROBE_TIMEOUT + 5)
        if self._done_at is not None:
            # Answered when the load was (about to be) over: the wait under load was longer.
            load_end = self._started_at + self.load_duration - 0.1
            self.result.answered_after_load = self._done_at >= load_end
        return self.result

    def _run(self) -> None:
        time.sleep(self.delay)
        started = time.monotonic()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=PROBE_TIMEOUT)
        try:
            conn.request("GET", self.path, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            elapsed = time.monotonic() - started
            self._done_at = time.monotonic()
            self.result.status = response.status
            if elapsed <= PROBE_TIMEOUT:
                self.result.ms = elapsed * 1000
        except TimeoutError:
            pass  # ms stays None: reported as ">10s"
        except (OSError, http.client.HTTPException) as exc:
            self.result.error = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
