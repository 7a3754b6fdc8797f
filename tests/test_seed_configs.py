"""The configs users brought (``tests/fixtures/seed/``, see its README): checked, printed and served by
real ``python -m ferrocorn`` processes.

* ``gunicorn_conf.py`` / ``uwsgi.ini`` are the users' files byte for byte: ``--check-config`` must
  report exactly their environment-specific problems (and, for the ini, warn about every inline
  comment), one clear line each, never a traceback.
* ``gunicorn_conf.adapted.py`` serves the Django example as it is (its own ``bind``: no ``-b`` here);
  the adapted ini serves it behind real nginx ``uwsgi_pass``, and with ``http-socket`` instead of
  ``socket`` directly.
* Precedence: command line > ``$FERROCORN_CMD_ARGS`` > ``$GUNICORN_CMD_ARGS`` > config file >
  ``$WEB_CONCURRENCY`` > defaults, shown by ``--print-config`` and by what the server does.
"""
from __future__ import annotations

import grp
import json
import pwd
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from frontends import NGINX, Nginx  # noqa: E402
from proctools import get_json, http_get, server_cmd, server_env, wait_workers  # noqa: E402

pytestmark = pytest.mark.ferrocorn_only  # --check-config, --print-config, ini files: ferrocorn's

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "fixtures" / "seed"
DJSITE = ROOT / "examples" / "djsite"
GUNICORN_SEED = SEED / "gunicorn_conf.py"
GUNICORN_ADAPTED = SEED / "gunicorn_conf.adapted.py"
UWSGI_SEED = SEED / "uwsgi.ini"
UWSGI_ADAPTED = SEED / "uwsgi.adapted.ini"
CLEAN_ENV_KEYS = ("GUNICORN_CMD_ARGS", "FERROCORN_CMD_ARGS", "WEB_CONCURRENCY")
# For conftest's start_server (which inherits os.environ): no command-line layers from the outside,
# and the seed's own `workers = int(os.environ.get("WEB_CONCURRENCY", "1"))` sees 1.
NEUTRAL_ENV = {"GUNICORN_CMD_ARGS": "", "FERROCORN_CMD_ARGS": "", "WEB_CONCURRENCY": "1"}


def run(args, cwd=ROOT, env=None, timeout=30):
    """``python -m ferrocorn ARGS`` to completion; returns (code, stdout, stderr)."""
    full = server_env(cwd, env)
    for k in CLEAN_ENV_KEYS:
        if k not in (env or {}):
            full.pop(k, None)
    p = subprocess.run(server_cmd(args), cwd=str(cwd), env=full, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def print_config(args, cwd=ROOT, env=None) -> dict:
    """``--print-config`` as {setting: (value text, source)}."""
    code, out, err = run([*args, "--print-config"], cwd=cwd, env=env)
    assert code == 0, (code, out, err)
    settings = {}
    for line in out.splitlines():
        m = re.fullmatch(r"(\w+)\s+= (.*?)  # (.*)", line)
        if m:
            settings[m[1]] = (m[2], m[3])
    assert "threads" in settings and "bind" in settings, out
    return settings


@pytest.fixture
def plain_server(start_server):
    """A server started with exactly the given arguments (no ``-b``: the config file's address is
    used), with no command-line layers or WEB_CONCURRENCY inherited from the outside."""

    def start(*args, cwd=ROOT, env=None):
        return start_server(*args, cwd=cwd, env=env, bind=None, unset_env=CLEAN_ENV_KEYS)

    return start


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


# -- the seeds as users wrote them ----------------------------------------------------------------

def test_gunicorn_seed_check_config_reports_only_the_bind():
    code, out, err = run(["-c", "tests/fixtures/seed/gunicorn_conf.py", "--check-config", "examples.hello:app"])
    assert code != 0, "0.1:8000 cannot be bound here: --check-config must fail"
    assert code == 1, f"an environment problem, not an invalid file (64): {code}\n{err}"
    assert out == ""
    problem_lines = err.splitlines()
    assert len(problem_lines) == 1, f"exactly one line expected:\n{err}"
    (line,) = problem_lines
    assert "bind" in line and "0.1:8000" in line, line
    assert "gunicorn_conf.py:5" in line, "the line names the file and line of the setting"
    assert "Traceback" not in err


def test_gunicorn_seed_starts_with_one_clear_bind_error():
    code, out, err = run(["-c", str(GUNICORN_SEED), "-w", "1", "examples.hello:app"], timeout=30)
    assert code == 1, (code, out, err)
    text = out + err
    assert re.search(r"CRITICAL.*0\.1:8000", text), text
    assert "Traceback" not in text and "Booting worker" not in text, text


def _uwsgi_key_lines() -> list[tuple[int, str]]:
    out = []
    for n, line in enumerate(UWSGI_SEED.read_text(encoding="utf-8").splitlines(), 1):
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            out.append((n, line.split("=", 1)[0].strip()))
    return out


def test_uwsgi_seed_check_config_reports_chdir_and_user_and_warns_per_inline_comment():
    code, out, err = run(["--ini", "tests/fixtures/seed/uwsgi.ini", "--check-config"])
    assert code == 1, (code, out, err)
    assert out == ""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    expected = ['uwsgi.ini:6: chdir: directory "/path/to/project" does not exist']
    if not user_exists("nginx"):
        expected.append('uwsgi.ini:9: chown-socket: user "nginx" does not exist')
    if not group_exists("nginx"):
        expected.append('uwsgi.ini:9: chown-socket: group "nginx" does not exist')
    assert len(errors) == len(expected), "only the chdir and user problems:\n" + "\n".join(errors)
    for want, got in zip(expected, errors):
        assert got.endswith(want), (got, want)
    # Nothing about the app: with chdir missing the module cannot be judged, and is not imported.
    assert "djangoapp" not in "\n".join(errors)

    warnings = [line for line in err.splitlines() if "warning:" in line]
    inline = [w for w in warnings if "inline comment" in w]
    keys = _uwsgi_key_lines()
    assert len(keys) == 16
    assert len(inline) == len(keys), "one warning per inline comment:\n" + "\n".join(inline)
    for (n, key), w in zip(keys, inline):
        assert f"uwsgi.ini:{n}: {key}: inline comment ignored" in w, (n, key, w)
    # Each line of the output stands alone: no wrapped continuation lines.
    assert all(re.match(r"ferrocorn: (warning|error): ", line) for line in err.splitlines()), err


def test_uwsgi_seed_starts_with_clear_errors_and_no_traceback():
    code, out, err = run(["--ini", str(UWSGI_SEED)], timeout=30)
    assert code == 1, (code, out, err)
    assert "/path/to/project" in err and "Traceback" not in out + err
    assert "Listening at" not in out + err


# -- the adapted gunicorn file serves the Django example ------------------------------------------

def test_adapted_gunicorn_config_serves_django_with_its_own_settings(plain_server):
    srv = plain_server("-c", str(GUNICORN_ADAPTED), "--chdir", str(DJSITE), "djsite.wsgi:application",
                       cwd=DJSITE)
    assert srv.host == "127.0.0.1", "the file's bind (127.0.0.1:0) is the one used"
    srv.wait_for_log(r"Using worker: threads \(3 per worker\)")  # threads = workers * 2 + 1 from the file
    status, body = http_get(srv.host, srv.port, "/api/json")
    assert status == 200, body[:500]
    data = json.loads(body)
    assert data["message"] == "hello" and data["success"] is True and len(data["items"]) == 5
    # accesslog = '-' from the file: the request is logged on stdout in gunicorn's format.
    srv.wait_for_log(r'127\.0\.0\.1 - - \[[^\]]+\] "GET /api/json HTTP/1\.1" 200 \d+ "-" "[^"]*"')
    assert http_get(srv.host, srv.port, "/no-such-page")[0] == 404
    assert srv.stop() == 0
    assert "Traceback" not in srv.log


def test_adapted_gunicorn_config_print_config_shows_file_values_and_lines():
    s = print_config(["-c", str(GUNICORN_ADAPTED), "djsite.wsgi:application"])
    src = str(GUNICORN_ADAPTED)
    assert s["workers"] == ("1", f"{src}:3")
    assert s["threads"] == ("3", f"{src}:4")
    assert s["bind"] == ("['127.0.0.1:0']", f"{src}:5")
    assert s["accesslog"] == ("'-'", f"{src}:6")
    assert s["errorlog"] == ("'-'", f"{src}:7")
    assert s["reload"] == ("True", f"{src}:8")
    assert s["daemon"] == ("False", f"{src}:9")
    assert s["timeout"] == ("120", f"{src}:10")
    assert s["x_forwarded_for_header"] == ("'X-FORWARDED-FOR'", f"{src}:11")
    assert s["graceful_timeout"] == ("30", "default")
    assert s["wsgi_app"] == ("'djsite.wsgi:application'", "command line (APP)")


def test_adapted_gunicorn_config_reads_web_concurrency_itself():
    s = print_config(["-c", str(GUNICORN_ADAPTED), "x:app"], env={"WEB_CONCURRENCY": "3"})
    src = str(GUNICORN_ADAPTED)
    assert s["workers"] == ("3", f"{src}:3"), "the file computes workers from $WEB_CONCURRENCY"
    assert s["threads"] == ("7", f"{src}:4")


# -- precedence -----------------------------------------------------------------------------------

LAYERS = [
    # (env, cli, expected threads, expected source)
    ({}, [], "3", "FILE:4"),
    ({"GUNICORN_CMD_ARGS": "--threads 5"}, [], "5", "$GUNICORN_CMD_ARGS (--threads)"),
    ({"GUNICORN_CMD_ARGS": "--threads 5", "FERROCORN_CMD_ARGS": "--threads=6"}, [], "6",
     "$FERROCORN_CMD_ARGS (--threads)"),
    ({"GUNICORN_CMD_ARGS": "--threads 5", "FERROCORN_CMD_ARGS": "--threads=6"}, ["--threads", "7"], "7",
     "command line (--threads)"),
    ({"FERROCORN_CMD_ARGS": "--threads=6"}, ["--threads", "7"], "7", "command line (--threads)"),
]


@pytest.mark.parametrize("env,cli,value,source", LAYERS, ids=["file", "gunicorn-env", "ferrocorn-env", "cli", "cli-over-ferrocorn-env"])
def test_precedence_shown_by_print_config(env, cli, value, source):
    s = print_config(["-c", str(GUNICORN_ADAPTED), *cli, "djsite.wsgi:application"], env=env)
    assert s["threads"] == (value, source.replace("FILE", str(GUNICORN_ADAPTED)))
    # Layers replace only what they set: the file's timeout stays.
    assert s["timeout"] == ("120", f"{GUNICORN_ADAPTED}:10")


def test_precedence_file_over_web_concurrency_over_default(tmp_path):
    assert print_config(["x:app"], cwd=tmp_path)["workers"] == ("1", "default")
    assert print_config(["x:app"], cwd=tmp_path, env={"WEB_CONCURRENCY": "4"})["workers"] == ("4", "$WEB_CONCURRENCY")
    conf = tmp_path / "conf.py"
    conf.write_text("workers = 2\n")
    got = print_config(["-c", str(conf), "x:app"], cwd=tmp_path, env={"WEB_CONCURRENCY": "4"})["workers"]
    assert got == ("2", f"{conf}:1")


def test_app_in_cmd_args_is_ignored_with_a_warning():
    code, out, err = run(["-c", str(GUNICORN_ADAPTED), "--print-config", "djsite.wsgi:application"],
                         env={"GUNICORN_CMD_ARGS": "other.module:app --threads 2"})
    assert code == 0, err
    assert re.search(r"wsgi_app\s+= 'djsite\.wsgi:application'  # command line", out), out
    assert "other.module:app" in err and "ignored" in err, err


def _threads_in_effect(start_server, tmp_path, env, cli):
    srv = start_server("-c", str(GUNICORN_ADAPTED), *cli, "hook_apps:app", cwd=tmp_path, env=env)
    m = srv.wait_for_log(r"Using worker: threads \((\d+) per worker\)")
    multithread = get_json(srv, "/pid")["multithread"]
    return srv, int(m[1]), multithread


@pytest.mark.parametrize("env,cli,value,source", LAYERS, ids=["file", "gunicorn-env", "ferrocorn-env", "cli", "cli-over-ferrocorn-env"])
def test_precedence_in_real_behaviour(start_server, tmp_path, env, cli, value, source):
    _, threads, multithread = _threads_in_effect(start_server, tmp_path, {**NEUTRAL_ENV, **env}, cli)
    assert threads == int(value)
    assert multithread is True


@pytest.mark.parametrize("where", ["gunicorn-env", "ferrocorn-env", "cli"])
def test_threads_one_from_a_higher_layer_turns_multithread_off(start_server, tmp_path, where):
    env = dict(NEUTRAL_ENV)
    cli = []
    if where == "gunicorn-env":
        env["GUNICORN_CMD_ARGS"] = "--threads 1"
    elif where == "ferrocorn-env":
        env.update(GUNICORN_CMD_ARGS="--threads 4", FERROCORN_CMD_ARGS="--threads 1")
    else:
        env.update(FERROCORN_CMD_ARGS="--threads 4")
        cli = ["--threads", "1"]
    _, threads, multithread = _threads_in_effect(start_server, tmp_path, env, cli)
    assert (threads, multithread) == (1, False)


def test_the_files_three_threads_serve_three_requests_at_once(start_server, tmp_path):
    srv = start_server("-c", str(GUNICORN_ADAPTED), "hook_apps:app", cwd=tmp_path,
                       env=NEUTRAL_ENV)
    get_json(srv, "/pid")  # booted
    results = []

    def one():
        results.append(http_get(srv.host, srv.port, "/sleep?s=0.8")[0])

    t0 = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    elapsed = time.monotonic() - t0
    assert results == [200, 200, 200]
    assert elapsed < 1.6, f"3 requests of 0.8 s took {elapsed:.2f} s on one worker with threads = 3"


# -- uWSGI ini with http-socket serves the Django example -----------------------------------------

def _http_ini(tmp_path: Path) -> Path:
    """The adapted ini with only what this test needs changed: ``socket`` (the uwsgi protocol)
    becomes ``http-socket``, and ``chdir`` is absolute (``%d`` would point into tmp_path)."""
    out = []
    for line in UWSGI_ADAPTED.read_text(encoding="utf-8").splitlines():
        if line.startswith("socket ="):
            line = "http-socket = 127.0.0.1:0 # (test: HTTP instead of the uwsgi protocol)"
        elif line.startswith("chdir ="):
            line = f"chdir = {DJSITE}"
        out.append(line)
    ini = tmp_path / "uwsgi.http.ini"
    ini.write_text("\n".join(out) + "\n", encoding="utf-8")
    return ini


def test_uwsgi_ini_with_http_socket_serves_django(plain_server, tmp_path):
    ini = _http_ini(tmp_path)
    srv = plain_server("--ini", str(ini), cwd=tmp_path)
    assert srv.host == "127.0.0.1"
    wait_workers(srv.pid, 4, timeout=20)  # processes = 4
    for _ in range(4):
        status, body = http_get(srv.host, srv.port, "/api/json")
        assert status == 200, body[:500]
        assert json.loads(body)["message"] == "hello"
    assert srv.stop() == 0
    assert "Traceback" not in srv.log


def test_uwsgi_ini_settings_in_effect_by_print_config(tmp_path):
    ini = _http_ini(tmp_path)
    s = print_config(["--ini", str(ini)], cwd=tmp_path)
    assert s["workers"] == ("4", f"{ini}:4")
    assert s["bind"][0] == "['127.0.0.1:0']"
    assert s["wsgi_app"] == ("'djsite.wsgi:application'", f"{ini}:7")
    assert s["max_requests"] == ("5000", f"{ini}:15")
    assert s["harakiri"] == ("60", f"{ini}:16")
    assert s["memory_report"] == ("True", f"{ini}:17")
    assert s["disable_logging"] == ("False", f"{ini}:18")
    assert s["lazy_apps"][0] == "True"


@pytest.mark.skipif(NGINX is None, reason="nginx is installed by scripts/test.sh")
def test_adapted_uwsgi_ini_serves_django_behind_real_nginx_uwsgi_pass(plain_server, tmp_path):
    """The seed's deployment: its ini (only the environment-specific lines adapted) speaks the
    uwsgi protocol on ``socket``, and real nginx passes requests to it with ``uwsgi_pass``."""
    srv = plain_server("--ini", str(UWSGI_ADAPTED), cwd=tmp_path)
    srv.wait_for_log(r"Listening at: uwsgi://127\.0\.0\.1:\d+")
    wait_workers(srv.pid, 4, timeout=20)  # processes = 4
    with Nginx(tmp_path, f"""
location / {{
  include /etc/nginx/uwsgi_params;
  uwsgi_pass 127.0.0.1:{srv.port};
}}
""") as port:
        for _ in range(4):
            status, body = http_get("127.0.0.1", port, "/api/json")
            assert status == 200, body[:500]
            assert json.loads(body)["message"] == "hello"
        status, body = http_get("127.0.0.1", port, "/page")
        assert status == 200 and b"/static/" in body
    assert srv.stop() == 0
    assert "Traceback" not in srv.log
