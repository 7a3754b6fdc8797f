#!/usr/bin/env python3
"""Benchmark ferrocorn against other WSGI servers on the same apps, with wrk on loopback.

    python bench/run.py                      # 3 runs x 10 s per server and scenario
    python bench/run.py --quick              # 1 run x 3 s: a smoke test
    python bench/run.py --servers ferrocorn,gunicorn-sync --scenarios hello,echo
    python bench/run.py --via-nginx          # the same, with nginx proxy_pass in front of each

Every server runs one worker process; servers run one at a time. For each (run, scenario, server)
the server is started fresh, checked with one request, warmed up for 1 s, loaded with wrk for
--duration seconds while a fresh-connection probe is made half-way through, then stopped.
The runs are interleaved (run 1 of every server, then run 2, ...) so slow drifts in machine load
spread over all servers. Medians are printed as Markdown tables; everything is saved as JSON
under bench/results/.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

from ferrobench import BENCH_DIR, REPO_DIR, RESULTS_DIR, VENV_BIN, VENV_DIR
from ferrobench import procs
from ferrobench.front import NginxFront
from ferrobench.load import Probe, StarvationSampler, run_wrk, wrk_command
from ferrobench.report import Measurement, Row, markdown_table
from ferrobench.servers import HOST, SCENARIOS, SERVERS, Scenario, Server, unavailable_reason

WARMUP_SECONDS = 1.0


@dataclass
class Options:
    runs: int
    duration: float
    connections: int
    wrk_threads: int
    port: int
    servers: list[str]
    scenarios: list[str]
    via_nginx: bool = False
    #: Where wrk sends its load: the server's port, or nginx's with --via-nginx.
    load_port: int | None = None


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, help="runs per server and scenario (default 3; --quick: 1)")
    parser.add_argument("--duration", type=float, help="seconds of load per run (default 10; --quick: 3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk keep-alive connections (default 64)")
    parser.add_argument("--wrk-threads", type=int, default=1,
                        help="wrk threads (default 1: on 2 cores, one for wrk, one for the server)")
    parser.add_argument("--port", type=int, default=18765, help="port the servers listen on (default 18765)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated; default: all: %(default)s")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated; default: all: %(default)s")
    parser.add_argument("--quick", action="store_true", help="1 run of 3 s each (unless --runs/--duration given)")
    parser.add_argument("--via-nginx", action="store_true",
                        help="put nginx (proxy_pass, upstream keep-alive pool) in front of every server; "
                             "wrk loads nginx on --port + 1")
    parser.add_argument("--setup", action="store_true",
                        help="(re)run bench/setup.sh first: installs missing peers, rebuilds ferrocorn")
    args = parser.parse_args(argv)

    servers = _split(args.servers, SERVERS, parser, "server")
    scenarios = _split(args.scenarios, SCENARIOS, parser, "scenario")
    if args.setup or not (VENV_DIR / "bin" / "python").exists():
        run_setup()
    return Options(
        runs=args.runs or (1 if args.quick else 3),
        duration=args.duration or (3.0 if args.quick else 10.0),
        connections=args.connections, wrk_threads=args.wrk_threads, port=args.port,
        servers=servers, scenarios=scenarios, via_nginx=args.via_nginx,
    )


def _split(value: str, known: dict, parser: argparse.ArgumentParser, what: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown {what}(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def run_setup() -> None:
    print("[bench] running bench/setup.sh (creates bench/.venv and installs the servers) ...", flush=True)
    subprocess.run(["bash", str(BENCH_DIR / "setup.sh")], check=True)


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# --- one measurement ---------------------------------------------------------------------------

def server_env(scenario: Scenario) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_DIR)
    env["PYTHONPATH"] = scenario.app_dir
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONHOME", None)
    return env


def check_response(scenario: Scenario, port: int) -> str | None:
    """One request before the load: None if the answer is right, else what is wrong."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        body = b"x" * scenario.body_size if scenario.body_size else None
        conn.request(scenario.method, scenario.path, body=body)
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"check request failed: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if response.status != 200:
        return f"check request got HTTP {response.status}: {data[:200]!r}"
    if scenario.expect_len is not None and len(data) != scenario.expect_len:
        return f"check request got {len(data)} body bytes, expected {scenario.expect_len}"
    return None


def measure(server: Server, scenario: Scenario, opts: Options, run: int) -> Measurement:
    """Start the server, load it, stop it. Raises RuntimeError with the reason on failure."""
    port = opts.port
    if not procs.wait_port_free(HOST, port, timeout=10):
        raise RuntimeError(f"port {port} is still in use by something else")
    cmd = server.command(scenario.target, scenario.app_dir, port, scenario.threads)
    log_path = RESULTS_DIR / "logs" / f"{server.name}-{scenario.name}-run{run}.log"
    running = procs.start_server(cmd, Path(scenario.app_dir), server_env(scenario), log_path)
    try:
        return _load(running, scenario, opts)
    except RuntimeError as exc:
        tail = running.log_tail(8)
        raise RuntimeError(f"{exc}" + (f"\n    server log ({log_path}):\n      " +
                                        tail.replace("\n", "\n      ") if tail else "")) from None
    finally:
        procs.stop_server(running)
        if not procs.wait_port_free(HOST, port):
            say(f"warning: port {port} still answers after stopping {server.name}")


def _load(running: procs.RunningServer, scenario: Scenario, opts: Options) -> Measurement:
    port = opts.port
    problem = procs.wait_listening(running, HOST, port) or check_response(scenario, port)
    if problem:
        raise RuntimeError(problem)
    url = f"http://{HOST}:{opts.load_port or port}{scenario.path}"
    run_wrk(wrk_command(url, WARMUP_SECONDS, opts.connections, opts.wrk_threads, scenario.lua_path),
            WARMUP_SECONDS)

    load_avg = os.getloadavg()[0]
    cpu_before = procs.tree_cpu_seconds(running.pid)
    probe = Probe(HOST, port, scenario.path, delay=opts.duration / 2, load_duration=opts.duration)
    sampler = StarvationSampler(port, first=opts.duration * 0.3, second=opts.duration * 0.9)
    probe.start()
    sampler.start()
    wrk = run_wrk(wrk_command(url, opts.duration, opts.connections, opts.wrk_threads, scenario.lua_path),
                  opts.duration)
    cpu_after = procs.tree_cpu_seconds(running.pid)
    rss = [procs.peak_rss_mib(pid) for pid in procs.worker_pids(running.pid)]
    probe_result = probe.finish()
    sampler.finish()

    cpu = procs.cpu_delta(cpu_before, cpu_after)
    return Measurement(
        rps=wrk.rps, requests=wrk.requests, p50_ms=wrk.p50_ms, p99_ms=wrk.p99_ms,
        cpu_us_per_req=cpu / wrk.requests * 1e6 if wrk.requests else None,
        rss_mib=max((r for r in rss if r is not None), default=None),
        new_conn_ms=probe_result.ms, new_conn_after_load=probe_result.answered_after_load,
        new_conn_error=probe_result.error, errors=wrk.errors, socket_errors=wrk.socket_errors,
        non_2xx=wrk.non_2xx, starved_conns=sampler.starved, load_avg=load_avg,
        wrk_cpu_pct=(wrk.cpu_seconds / (wrk.seconds * opts.wrk_threads) * 100
                     if wrk.cpu_seconds is not None and wrk.seconds else None),
    )


# --- the whole benchmark -----------------------------------------------------------------------

def row_label(server: Server, scenario: Scenario) -> str:
    if scenario.threads is not None and server.threads is not None and server.threads != scenario.threads:
        return f"{server.name} [{scenario.threads} threads]"
    return server.name


def plan(opts: Options) -> tuple[list[Server], list[Scenario], list[str]]:
    """The servers and scenarios that can run, and a line for each one that cannot."""
    notes, servers, scenarios = [], [], []
    for name in opts.servers:
        reason = unavailable_reason(SERVERS[name])
        if reason is None:
            servers.append(SERVERS[name])
        else:
            hint = {"ferrocorn": " (build it with: bash bench/setup.sh ferrocorn)",
                    "floor": " (build them with: bash bench/setup.sh floor)"}.get(SERVERS[name].package, "")
            notes.append(f"{name}: skipped: {reason}{hint}")
    for name in opts.scenarios:
        reason = SCENARIOS[name].missing_reason()
        if reason is None:
            scenarios.append(SCENARIOS[name])
        else:
            notes.append(f"scenario {name}: skipped: {reason}")
    for server in servers:
        if server.only_scenarios is not None and any(not server.serves(sc.name) for sc in scenarios):
            notes.append(f"{server.name}: {', '.join(server.only_scenarios)} only")
    return servers, scenarios, notes


def duplicates(servers: list[Server], scenario: Scenario, port: int) -> dict[str, str]:
    """Servers whose command in this scenario is the same as an earlier one's: name -> that one."""
    seen: dict[tuple, str] = {}
    dup: dict[str, str] = {}
    for server in servers:
        key = tuple(server.command(scenario.target, scenario.app_dir, port, scenario.threads))
        if key in seen:
            dup[server.name] = seen[key]
        else:
            seen[key] = server.name
    return dup


def run_all(opts: Options, servers: list[Server], scenarios: list[Scenario],
            notes: list[str]) -> dict[str, list[Row]]:
    table: dict[str, list[Row]] = {}
    for scenario in scenarios:
        serving = [s for s in servers if s.serves(scenario.name)]
        if not serving:
            continue
        dup = duplicates(serving, scenario, opts.port)
        table[scenario.name] = [Row(s.name, row_label(s, scenario)) for s in serving if s.name not in dup]
        for name, same_as in dup.items():
            notes.append(f"scenario {scenario.name}: {name} runs the same command as {same_as} here; "
                         f"shown once, as {same_as}")
            say(notes[-1])
    total = opts.runs * sum(len(rows) for rows in table.values())
    done = 0
    for run in range(1, opts.runs + 1):
        for scenario in scenarios:
            for row in table.get(scenario.name, []):
                done += 1
                say(f"[{done}/{total}] run {run}/{opts.runs}  {scenario.name:<11}  {row.label}")
                try:
                    m = measure(SERVERS[row.server], scenario, opts, run)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    row.failures.append(str(exc).splitlines()[0])
                    say(f"    FAILED: {exc}")
                    continue
                row.runs.append(m)
                say(f"    {m.rps:,.0f} req/s  p50 {m.p50_ms or 0:.2f} ms  p99 {m.p99_ms or 0:.2f} ms  "
                    f"cpu {m.cpu_us_per_req or 0:.0f} µs/req  rss {m.rss_mib or 0:.1f} MiB  "
                    f"new-conn {'>10s' if m.new_conn_ms is None else f'{m.new_conn_ms:.1f} ms'}  "
                    f"errors {m.errors}  starved {m.starved_conns}")
    return table


# --- output ------------------------------------------------------------------------------------

@cache
def package_versions() -> dict[str, str]:
    out = subprocess.run([str(VENV_BIN / "python"), "-m", "pip", "list", "--format=json",
                          "--disable-pip-version-check"], capture_output=True, text=True)
    try:
        return {p["name"].lower(): p["version"] for p in json.loads(out.stdout)}
    except json.JSONDecodeError:
        return {}


def environment_info(opts: Options) -> dict:
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    ferrocorn_bin = VENV_BIN / "ferrocorn"
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
        "python": subprocess.run([str(VENV_BIN / "python"), "--version"], capture_output=True,
                                 text=True).stdout.strip(),
        "wrk": wrk_version.strip(), "load_avg_at_start": os.getloadavg(),
        "ferrocorn_installed_at": (datetime.fromtimestamp(ferrocorn_bin.stat().st_mtime).isoformat(
            timespec="seconds") if ferrocorn_bin.exists() else None),
        "ferrocorn_version": package_versions().get("ferrocorn"),
        "repo_commit": subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
                                      capture_output=True, text=True).stdout.strip() or None,
        "settings": {"runs": opts.runs, "duration_s": opts.duration, "connections": opts.connections,
                     "via_nginx": opts.via_nginx,
                     "wrk_threads": opts.wrk_threads, "warmup_s": WARMUP_SECONDS},
    }


def print_report(opts: Options, table: dict[str, list[Row]], notes: list[str], env: dict) -> None:
    print()
    print(f"## ferrocorn benchmark — {env['date']}")
    print()
    print(f"{env['cpus']} CPUs, {env['python']}, {env['wrk']}; wrk -t{opts.wrk_threads} "
          f"-c{opts.connections} -d{opts.duration:g}s; medians of {opts.runs} run(s); every server 1 worker "
          f"process. Load average at start: {env['load_avg_at_start'][0]:.2f}.")
    if opts.via_nginx:
        print("Load goes through nginx (1 worker, proxy_pass over HTTP/1.1 with an upstream keep-alive "
              f"pool of {opts.connections}); CPU, RSS and the probes are the server's alone.")
    if env["ferrocorn_installed_at"]:
        print(f"ferrocorn {env['ferrocorn_version']} installed into bench/.venv at {env['ferrocorn_installed_at']} "
              f"(repo HEAD {env['repo_commit']}; rebuild with --setup or bash bench/setup.sh ferrocorn).")
    for note in notes:
        print(f"- {note}")
    for name, rows in table.items():
        print()
        print(f"### {name}" + (f" — {SCENARIOS[name].note}" if SCENARIOS[name].note else ""))
        print()
        print(markdown_table(rows))
    print()
    print("spread: ± half the min–max range of req/s over the runs, as % of the median. "
          "new-conn ms: a fresh connection opened half-way through the load; * = answered only as the "
          "load ended (so under load it would have waited longer); >10s = no answer within 10 s. errors: wrk socket errors + non-2xx/3xx, "
          "summed over all runs. starved: wrk connections that got no byte from 30% to 90% of a run "
          "(wrk counts them nowhere). wrk CPU: the load generator's own CPU over the run, % of its "
          "threads' cores; ! = 95% or more: wrk, not the server, set the req/s (compare CPU µs/req).")


def save_json(opts: Options, table: dict[str, list[Row]], notes: list[str], env: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"bench-{stamp}.json"
    data = {
        "environment": env, "versions": package_versions(), "notes": notes,
        "scenarios": {
            name: [{**row.summary(), "measurements": [m.to_json() for m in row.runs]} for row in rows]
            for name, rows in table.items()
        },
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    opts = parse_args(argv)
    servers, scenarios, notes = plan(opts)
    for note in notes:
        say(note)
    pairs = sum(s.serves(sc.name) for s in servers for sc in scenarios)
    if not pairs:
        say("nothing to run")
        return 1
    per_run = opts.duration + WARMUP_SECONDS + 3
    say(f"{len(servers)} server(s) x {len(scenarios)} scenario(s) x {opts.runs} run(s): "
        f"about {pairs * opts.runs * per_run / 60:.0f} min")
    env = environment_info(opts)
    if opts.via_nginx:
        try:
            with NginxFront(opts.port + 1, opts.port, opts.connections, host=HOST) as front_port:
                opts.load_port = front_port
                table = run_all(opts, servers, scenarios, notes)
        except RuntimeError as exc:
            say(str(exc))
            return 2
    else:
        table = run_all(opts, servers, scenarios, notes)
    print_report(opts, table, notes, env)
    print(f"\nJSON: {save_json(opts, table, notes, env)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
