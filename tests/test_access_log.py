"""The access log: gunicorn's format and atoms, JSON lines, ``--disable-logging``, ``--memory-report``,
USR1 reopening, and whole lines under concurrency.  Real servers, real sockets, real signals.

Tests not marked ``ferrocorn_only`` also pass against gunicorn (``FERROCORN_TEST_SERVER=gunicorn``);
the ones marked with :func:`ferrocorn_bug` show gunicorn's behaviour where ferrocorn differs today.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from proctools import (  # noqa: E402
    BackgroundRequest,
    http_get,
    master_pid,
    run_to_exit,
    wait_for,
    wait_workers,
)

from conftest import raw_request  # noqa: E402

ferrocorn_only = pytest.mark.ferrocorn_only
APP = "hook_apps:app"
SERVER_KIND = os.environ.get("FERROCORN_TEST_SERVER", "ferrocorn")
DEFAULT_RE = re.compile(  # gunicorn's default: %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"
    r'(?P<h>\S+) (?P<l>\S+) (?P<u>\S+) \[(?P<t>[^\]]+)\] "(?P<r>[^"]*)" (?P<s>\d{3}) (?P<b>\S+) '
    r'"(?P<f>[^"]*)" "(?P<a>[^"]*)"'
)


def ferrocorn_bug(reason: str):
    """A known ferrocorn bug: the test shows gunicorn's behaviour (it passes against gunicorn)."""
    return pytest.mark.xfail(SERVER_KIND == "ferrocorn", strict=True, reason="BUG: " + reason)


def lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def wait_lines(path: Path, n: int, timeout: float = 10.0) -> list[str]:
    """At least ``n`` lines in the access log at ``path`` (a line is written after the response)."""
    return wait_for(lambda: (lambda ls: ls if len(ls) >= n else None)(lines(path)), timeout,
                    message=f"{n} access-log line(s) in {path}")


def basic(user: str, password: str = "pw") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def get(srv, target: str, headers: dict | None = None, method: str = "GET", version: str = "1.1"):
    """One request on a fresh connection with exactly these headers; returns (status, body)."""
    hdrs = {"Host": "example.test", "Connection": "close", **(headers or {})}
    head = f"{method} {target} HTTP/{version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    data = raw_request(srv, head.encode("utf-8") + b"\r\n")
    status_line, _, rest = data.partition(b"\r\n")
    body = rest.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in rest else b""
    return int(status_line.split()[1]), body


def start_logged(start_server, tmp_path, *args, env=None, name="access.log"):
    acc = tmp_path / name
    srv = start_server("--access-logfile", str(acc), *args, APP, cwd=tmp_path, env=env)
    return srv, acc


# -- gunicorn's default format --------------------------------------------------------------------

def test_default_format_line_like_gunicorn(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    status, body = get(srv, "/some/page?q=1&x=%2F", {
        "Referer": "http://ref.example/from?a=b",
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) TestAgent/1.0",
        "Authorization": basic("alice"),
    })
    assert (status, body) == (200, b"hello\n")
    (line,) = wait_lines(acc, 1)
    m = DEFAULT_RE.fullmatch(line)
    assert m, f"not gunicorn's default format: {line!r}"
    assert m["h"] == "127.0.0.1"
    assert m["l"] == "-"
    assert m["u"] == "alice"
    assert m["r"] == "GET /some/page?q=1&x=%2F HTTP/1.1"
    assert m["s"] == "200"
    assert m["b"] == "6"
    assert m["f"] == "http://ref.example/from?a=b"
    assert m["a"] == "Mozilla/5.0 (X11; Linux x86_64) TestAgent/1.0"
    when = datetime.strptime(m["t"], "%d/%b/%Y:%H:%M:%S %z")
    assert before.timestamp() - 1 <= when.timestamp() <= time.time() + 1, m["t"]


def test_times_are_in_the_servers_local_zone_like_gunicorn(start_server, tmp_path):
    # A POSIX TZ string needs no tzdata: UTC+05:30 (gunicorn uses local time for both logs).
    srv, acc = start_logged(start_server, tmp_path, env={"TZ": "IST-5:30"})
    assert get(srv, "/tz")[0] == 200
    (line,) = wait_lines(acc, 1)
    when = datetime.strptime(DEFAULT_RE.fullmatch(line)["t"], "%d/%b/%Y:%H:%M:%S %z")
    assert when.utcoffset().total_seconds() == 5.5 * 3600, line
    assert abs(when.timestamp() - time.time()) < 5, line
    assert re.search(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0530\] \[\d+\] \[INFO\] Listening at", srv.log, re.M), srv.log


def test_access_logfile_dash_writes_to_stdout(start_server, tmp_path):
    srv = start_server("--access-logfile", "-", APP, cwd=tmp_path)
    assert get(srv, "/to-stdout?x=1", {"User-Agent": "stdout-agent"})[0] == 200
    m = srv.wait_for_log(r'(?m)^127\.0\.0\.1 - - \[[^\]]+\] "GET /to-stdout\?x=1 HTTP/1\.1" 200 6 "-" "stdout-agent"$')
    assert m


# -- every atom -----------------------------------------------------------------------------------

ATOMS = ("h", "l", "u", "t", "r", "m", "U", "q", "H", "s", "B", "b", "f", "a", "T", "D", "M", "L", "p")
ATOM_FORMAT = "|".join(f"{a}=%({a})s" for a in ATOMS) + \
    "|i=%({X-Req-Id}i)s|o=%({x-resp}o)s|e=%({REMOTE_ADDR}e)s|pct=%%"


def parse_atoms(line: str) -> dict:
    return dict(part.split("=", 1) for part in line.split("|"))


def test_every_atom(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path, "--access-logformat", ATOM_FORMAT)
    master = master_pid(srv)
    (worker,) = wait_workers(master, 1)

    # 1: everything present (headers, auth, query, a response header).
    assert get(srv, "/headers?a=1&b=%2F", {
        "Referer": "http://r.example/", "User-Agent": "atom-agent/2", "Authorization": basic("bob"),
        "X-Req-Id": "req-42",
    })[0] == 200
    # 2: HTTP/1.0, a percent-encoded path, nothing optional.
    assert get(srv, "/sp%61ce%20here/x", version="1.0")[0] == 200
    # 3: a request that takes a while.
    assert get(srv, "/sleep?s=0.3")[0] == 200
    first, second, third = (parse_atoms(line) for line in wait_lines(acc, 3))

    assert first["h"] == "127.0.0.1"
    assert first["l"] == "-"
    assert first["u"] == "bob"
    assert re.fullmatch(r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", first["t"]), first["t"]
    assert first["r"] == "GET /headers?a=1&b=%2F HTTP/1.1"
    assert first["m"] == "GET"
    assert first["U"] == "/headers"
    assert first["q"] == "a=1&b=%2F"
    assert first["H"] == "HTTP/1.1"
    assert first["s"] == "200"
    assert first["B"] == first["b"] == str(len(b"headers\n"))
    assert first["f"] == "http://r.example/"
    assert first["a"] == "atom-agent/2"
    assert first["p"] == f"<{worker}>"
    assert first["i"] == "req-42", "{header}i: request header, name matched case-insensitively"
    assert first["o"] == "resp-value", "{header}o: response header"
    assert first["e"] == "127.0.0.1", "{var}e: environ"
    assert first["pct"] == "%"

    assert second["r"] == "GET /sp%61ce%20here/x HTTP/1.0", "r is the request line as sent"
    assert second["U"] in ("/space here/x", "/sp%61ce%20here/x")  # decoded: see the next test
    assert second["H"] == "HTTP/1.0"
    assert second["q"] == ""
    assert second["u"] == second["f"] == second["i"] == second["o"] == "-"
    assert second["a"] == "-"
    assert second["B"] == second["b"] == "6"

    t, d, ms, secs = int(third["T"]), int(third["D"]), int(third["M"]), third["L"]
    assert t == 0
    assert 300_000 <= d < 5_000_000, f"D is microseconds: {d}"
    assert ms == d // 1000, (ms, d)
    assert re.fullmatch(r"\d+\.\d{6}", secs), secs
    assert abs(float(secs) * 1_000_000 - d) <= 1, (secs, d)


def test_path_atoms_are_the_decoded_path_info(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path, "--access-logformat", "%(U)s|%({PATH_INFO}e)s|%(r)s")
    assert get(srv, "/sp%61ce%20here/x?k=%20")[0] == 200
    assert wait_lines(acc, 1) == ["/space here/x|/space here/x|GET /sp%61ce%20here/x?k=%20 HTTP/1.1"]


# -- statuses -------------------------------------------------------------------------------------

def test_500_404_and_head_are_logged_with_their_status(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path)
    assert get(srv, "/boom")[0] == 500
    assert get(srv, "/status?code=404")[0] == 404
    assert get(srv, "/head-me", method="HEAD")[0] == 200
    got = [DEFAULT_RE.fullmatch(line) for line in wait_lines(acc, 3)]
    assert all(got), got
    by_request = {m["r"]: m for m in got}
    assert by_request["GET /boom HTTP/1.1"]["s"] == "500"
    assert by_request["GET /status?code=404 HTTP/1.1"]["s"] == "404"
    assert by_request["GET /status?code=404 HTTP/1.1"]["b"] == str(len(b"status 404\n"))
    assert by_request["HEAD /head-me HTTP/1.1"]["s"] == "200"


def test_bytes_count_only_body_bytes_sent_for_head_and_204(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path, "--access-logformat", "%(m)s %(s)s %(B)s")
    assert get(srv, "/head-me", method="HEAD") == (200, b"")
    assert get(srv, "/status?code=204") == (204, b"")
    assert wait_lines(acc, 2) == ["HEAD 200 0", "GET 204 0"]


# -- escaping and the atoms' sources (gunicorn compatibility) -------------------------------------

def test_quotes_in_values_are_escaped_like_gunicorn(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path)
    assert get(srv, "/q", {"User-Agent": 'evil" 200 "forged', "Referer": 'r"ef'})[0] == 200
    (line,) = wait_lines(acc, 1)
    assert line.endswith(r'"r\"ef" "evil\" 200 \"forged"'), line


def test_env_atom_reads_any_key_of_the_wsgi_environ(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path, "--access-logformat",
                            "%({REMOTE_PORT}e)s|%({wsgi.url_scheme}e)s|%({myapp.seen}e)s")
    with srv.connect() as s:
        local_port = s.getsockname()[1]
        s.sendall(b"GET /pid HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
    (line,) = wait_lines(acc, 1)
    assert line == f"{local_port}|http|yes"


def test_env_atom_name_is_case_insensitive_like_gunicorn(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path, "--access-logformat", "%({remote_addr}e)s")
    assert get(srv, "/")[0] == 200
    assert wait_lines(acc, 1) == ["127.0.0.1"]


def test_env_atom_does_not_read_the_process_environment(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path, "--access-logformat", "%({FERRO_TEST_SECRET}e)s",
                            env={"FERRO_TEST_SECRET": "s3cr3t-value"})
    assert get(srv, "/")[0] == 200
    assert wait_lines(acc, 1) == ["-"]


def test_user_from_basic_auth_with_any_scheme_case(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path, "--access-logformat", "%(u)s")
    token = base64.b64encode(b"carol:pw").decode()
    assert get(srv, "/", {"Authorization": "BASIC " + token})[0] == 200
    assert wait_lines(acc, 1) == ["carol"]


@ferrocorn_only  # gunicorn accepts any %(name)s and logs '-' for unknown names
def test_an_invalid_format_is_refused_before_binding(tmp_path):
    code, out, _ = run_to_exit(["--access-logfile", "-", "--access-logformat", "%(zz)s", "--check-config", APP],
                               tmp_path, timeout=20)
    assert code == 64 and "zz" in out, (code, out)
    code, out, _ = run_to_exit(["-b", "127.0.0.1:0", "--access-logfile", "-", "--access-logformat", "%(zz)s",
                                APP], tmp_path, timeout=20)
    assert code == 64, (code, out)
    assert "Listening at" not in out, out


# -- JSON lines -----------------------------------------------------------------------------------

@ferrocorn_only
def test_json_lines_parse_and_carry_the_request(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path, "--access-log-json")
    master = master_pid(srv)
    (worker,) = wait_workers(master, 1)
    agent = 'Agent "quoted" \\back\tslash \u20ac'
    status, body = get(srv, "/pid?x=1&y=%22", {"User-Agent": agent, "Referer": "http://r/",
                                               "Authorization": basic("dave")})
    assert status == 200
    assert get(srv, "/%FF%FE/raw")[0] == 200           # a path that is not UTF-8 once decoded
    assert get(srv, "/boom")[0] == 500
    assert get(srv, "/h", method="HEAD")[0] == 200
    assert get(srv, "/x", version="1.0")[0] == 200
    objs = [json.loads(line) for line in wait_lines(acc, 5)]
    assert all(isinstance(o, dict) for o in objs)
    first = objs[0]
    assert first["method"] == "GET"
    assert first["path"] == "/pid"
    assert first["query"] == "x=1&y=%22"
    assert first["status"] == 200
    assert first["bytes"] == len(body)
    assert first["protocol"] == "HTTP/1.1"
    assert first["remote_addr"] == "127.0.0.1"
    assert first["user_agent"] == agent
    assert first["referer"] == "http://r/"
    assert first["user"] == "dave"
    assert first["pid"] == worker
    assert isinstance(first["duration_ms"], (int, float)) and first["duration_ms"] >= 0
    datetime.strptime(first["time"], "%d/%b/%Y:%H:%M:%S %z")
    assert "rss_bytes" not in first, "memory figures only with --memory-report"
    assert objs[1]["path"].startswith("/") and objs[1]["path"].endswith("/raw") and objs[1]["status"] == 200
    assert (objs[2]["path"], objs[2]["status"]) == ("/boom", 500)
    assert (objs[3]["method"], objs[3]["status"]) == ("HEAD", 200)
    assert objs[4]["protocol"] == "HTTP/1.0"
    for o in objs:
        assert isinstance(o["status"], int) and isinstance(o["bytes"], int)


# -- --disable-logging ----------------------------------------------------------------------------

@ferrocorn_only
def test_disable_logging_on_the_command_line_wins_over_access_logfile(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path, "--disable-logging")
    for _ in range(3):
        assert get(srv, "/")[0] == 200
    assert srv.stop() == 0
    assert lines(acc) == []


@ferrocorn_only
@pytest.mark.parametrize("disabled", ["true", "false"])
def test_disable_logging_in_a_uwsgi_ini(start_server, tmp_path, disabled):
    acc = tmp_path / "access.log"
    ini = tmp_path / "app.ini"
    ini.write_text(
        "[uwsgi]\n"
        "http-socket = 127.0.0.1:0\n"
        f"module = {APP}\n"
        f"access-logfile = {acc}\n"
        f"disable-logging = {disabled}\n"
    )
    srv = start_server("--ini", str(ini), cwd=tmp_path)
    for _ in range(3):
        assert get(srv, "/")[0] == 200
    if disabled == "false":
        assert len(wait_lines(acc, 3)) == 3
    assert srv.stop() == 0
    assert len(lines(acc)) == (0 if disabled == "true" else 3)


# -- --memory-report ------------------------------------------------------------------------------

def _vm_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@ferrocorn_only
def test_memory_report_adds_the_worker_rss_to_each_line(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path, "--memory-report", "--access-logformat", "%(s)s %(U)s")
    (worker,) = wait_workers(master_pid(srv), 1)
    assert get(srv, "/one")[0] == 200
    (line,) = wait_lines(acc, 1)
    m = re.fullmatch(r"200 /one \{rss: (\d+\.\d) MB\}", line)
    assert m, line
    rss = float(m[1]) * 1048576
    real = _vm_rss_bytes(worker)
    assert 0.5 * real <= rss <= 2 * real, (rss, real)

    srv2, acc2 = start_logged(start_server, tmp_path, "--memory-report", "--access-log-json", name="json.log")
    (worker2,) = wait_workers(master_pid(srv2), 1)
    assert get(srv2, "/two")[0] == 200
    (obj,) = [json.loads(x) for x in wait_lines(acc2, 1)]
    assert isinstance(obj["rss_bytes"], int)
    real = _vm_rss_bytes(worker2)
    assert 0.5 * real <= obj["rss_bytes"] <= 2 * real, (obj["rss_bytes"], real)


# -- USR1 -----------------------------------------------------------------------------------------

def test_usr1_after_rename_reopens_in_every_worker(start_server, tmp_path):
    srv, acc = start_logged(start_server, tmp_path, "-w", "2", "--access-logformat", "%(p)s %(U)s")
    master = master_pid(srv)
    pids = wait_workers(master, 2)
    assert http_get(srv.host, srv.port, "/before")[0] == 200
    wait_lines(acc, 1)

    rotated = tmp_path / "access.log.1"
    acc.rename(rotated)
    os.kill(master, signal.SIGUSR1)
    srv.wait_for_log(r"(?i)usr1")
    time.sleep(0.5)  # the master forwards USR1; give each worker a moment to act on it

    # Keep one worker busy with a slow request so the other one answers the quick ones: both write.
    seen: set = set()
    for round_ in range(10):
        slow = BackgroundRequest(srv.host, srv.port, f"/sleep?s=0.6&after-{round_}", timeout=10)
        slow.start()
        time.sleep(0.2)
        for i in range(3):
            assert http_get(srv.host, srv.port, f"/after-{round_}-{i}")[0] == 200
        slow.finish(10)
        seen = {int(line.split()[0].strip("<>")) for line in lines(acc)}
        if seen >= set(pids):
            break
    assert seen >= set(pids), f"after USR1 only {seen} of {pids} wrote to the new file:\n{lines(acc)}"
    assert acc.exists(), "a fresh file at the old path"
    assert not [line for line in lines(rotated) if "after" in line], \
        f"lines written after USR1 went to the rotated file: {lines(rotated)}"
    assert [line.split()[1] for line in lines(rotated)] == ["/before"]


# -- whole lines under concurrency ----------------------------------------------------------------

TEXT_FORMAT = '%(m)s %(U)s %(s)s %(B)s "%(a)s" %({x-tag}i)s'
TEXT_RE = re.compile(r'GET /bytes 200 (\d+) "(agent-[a-z]{1000})" (t\d-\d+)')


@pytest.mark.parametrize("kind", [pytest.param("json", marks=ferrocorn_only), "text"])
def test_lines_never_interleave_under_concurrency(start_server, tmp_path, kind):
    fmt_args = ["--access-log-json"] if kind == "json" else ["--access-logformat", TEXT_FORMAT]
    srv, acc = start_logged(start_server, tmp_path, "-w", "2", "--threads", "2", *fmt_args)
    wait_workers(master_pid(srv), 2)
    agent = "agent-" + "x" * 1000
    n_threads, per_thread = 4, 200
    errors: list = []

    def client(t: int):
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
        try:
            for i in range(per_thread):
                size = 1 + (t * per_thread + i) % 500
                conn.request("GET", f"/bytes?n={size}&tag=t{t}-{i}", headers={"User-Agent": agent, "X-Tag": f"t{t}-{i}"})
                resp = conn.getresponse()
                if resp.status != 200 or len(resp.read()) != size:
                    errors.append((t, i, resp.status))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((t, repr(e)))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors[:5]
    total = n_threads * per_thread
    got = wait_lines(acc, total)
    assert srv.stop() == 0
    got = lines(acc)
    assert len(got) == total, f"{len(got)} lines for {total} requests"
    tags = []
    for line in got:
        if kind == "json":
            obj = json.loads(line)  # raises on a torn or interleaved line
            assert obj["user_agent"] == agent and obj["status"] == 200 and obj["path"] == "/bytes", line[:200]
            tags.append(obj["query"])
        else:
            m = TEXT_RE.fullmatch(line)
            assert m and m[2] == agent, f"torn or interleaved line: {line[:200]!r}"
            tags.append(m[3])
    assert len(set(tags)) == total, "every request logged exactly once"
