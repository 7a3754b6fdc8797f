"""``ferrocorn._config``: running gunicorn-style Python config files (no server needed).

The Rust side (``crates/ferrocorn-config``) validates what ``_config.load`` returns; its
``tests/seeds.rs`` feeds the seed file as the triples asserted in ``test_gunicorn_seed`` here, so the
two halves are pinned to the same contract.
"""
from __future__ import annotations

import importlib.util
import pathlib
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "fixtures" / "seed"


def _load_config_module():
    """The installed ``ferrocorn._config``, or the source tree's when the install predates it."""
    try:
        from ferrocorn import _config  # type: ignore[attr-defined]

        return _config
    except ImportError:
        path = ROOT / "python" / "ferrocorn" / "_config.py"
        spec = importlib.util.spec_from_file_location("ferrocorn_config_under_test", path)
        module = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        spec.loader.exec_module(module)
        return module


_config = _load_config_module()


def write(tmp_path, text, name="conf.py"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


def as_dict(entries):
    return {name: (value, line) for name, value, line in entries}


def test_gunicorn_seed():
    # The seed as users wrote it (Chinese comments, `import os`, computed values).
    entries = _config.load(str(SEED / "gunicorn_conf.py"))
    assert entries == [
        ("workers", 1, 3),
        ("threads", 3, 4),
        ("bind", "0.1:8000", 5),
        ("accesslog", "-", 6),
        ("errorlog", "-", 7),
        ("reload", True, 8),
        ("daemon", False, 9),
        ("timeout", 120, 10),
        ("x_forwarded_for_header", "X-FORWARDED-FOR", 11),
    ]


def test_gunicorn_seed_reads_web_concurrency(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    got = as_dict(_config.load(str(SEED / "gunicorn_conf.py")))
    assert got["workers"] == (3, 3)
    assert got["threads"] == (7, 4)


def test_adapted_seed_differs_only_in_bind():
    seed = _config.load(str(SEED / "gunicorn_conf.py"))
    adapted = _config.load(str(SEED / "gunicorn_conf.adapted.py"))
    assert [e for e in adapted if e[0] != "bind"] == [e for e in seed if e[0] != "bind"]
    assert ("bind", "127.0.0.1:0", 5) in adapted


def test_hooks_helpers_modules_and_classes(tmp_path):
    path = write(
        tmp_path,
        """
        import os
        import multiprocessing
        from os import path as ospath
        from collections import OrderedDict

        workers = multiprocessing.cpu_count() * 2 + 1
        wokers = 3  # a typo: returned, the Rust side warns with a suggestion

        class Settings:
            pass

        def post_fork(server, worker):
            server.log.info("forked %s", worker.pid)

        def _private_helper():
            return 1

        def helper():
            return os.getcwd()

        __all__ = ["workers"]
        _hidden = 1
        """,
    )
    got = as_dict(_config.load(str(path)))
    names = [n for n, _, _ in _config.load(str(path))]
    # Modules (os, multiprocessing, os.path) and classes (OrderedDict, Settings) are left out, and
    # so are dunder names; everything else is returned in definition order.
    assert names == ["workers", "wokers", "post_fork", "_private_helper", "helper", "_hidden"]
    assert got["workers"][1] == 6
    assert got["wokers"] == (3, 7)
    hook, line = got["post_fork"]
    assert callable(hook) and line == 12
    assert hook.__name__ == "post_fork"
    assert got["helper"][1] == 18


def test_hook_description_counts_positional_parameters(tmp_path):
    path = write(
        tmp_path,
        """
        def post_fork(server, worker):
            pass

        def post_request(worker, req, environ=None, resp=None):
            pass

        def on_exit(*args):
            pass

        def when_ready(server, *, extra=1):
            pass

        class Hooks:
            def worker_int(self, worker):
                pass

        worker_int = Hooks().worker_int
        pre_request = lambda worker, req: None
        """,
    )
    got = as_dict(_config.load(str(path)))
    describe = lambda name: _config.describe_hook(got[name][0])  # noqa: E731
    assert describe("post_fork")[1] == 2
    assert describe("post_request")[1] == 4
    assert describe("on_exit")[1] is None
    assert describe("when_ready")[1] == 1
    assert describe("worker_int")[1] == 1, "a bound method's self is not counted"
    assert describe("pre_request")[1] == 2
    assert describe("post_fork")[0].startswith("<function post_fork")
    assert got["worker_int"][1] == 17
    assert _config.describe_hook(print)[1] is None


def test_values_are_normalised(tmp_path):
    path = write(
        tmp_path,
        """
        import pathlib
        bind = ("127.0.0.1:8000", "[::1]:8000")
        raw_env = {"B=2", "A=1"}
        chdir = pathlib.Path("/srv/app")
        secure_scheme_headers = {"X-FORWARDED-PROTO": "https", 1: ("x",)}
        timeout = 2.5
        reload_extra_files = []
        accesslog = None
        """,
    )
    got = as_dict(_config.load(str(path)))
    assert got["bind"][0] == ["127.0.0.1:8000", "[::1]:8000"]
    assert got["raw_env"][0] == ["A=1", "B=2"]
    assert got["chdir"][0] == "/srv/app"
    assert got["secure_scheme_headers"][0] == {"X-FORWARDED-PROTO": "https", "1": ["x"]}
    assert got["timeout"] == (2.5, 6)
    assert got["reload_extra_files"][0] == []
    assert got["accesslog"] == (None, 8)


def test_runs_like_gunicorn_runs_it(tmp_path):
    path = write(
        tmp_path,
        """
        import dataclasses
        import os

        @dataclasses.dataclass
        class Ports:
            http: int = 8000

        here = os.path.dirname(__file__)
        name = __name__
        bind = f":{Ports().http}"
        """,
    )
    got = as_dict(_config.load(str(path)))
    assert got["here"][0] == str(tmp_path)
    assert got["name"][0] == "__config__"
    assert got["bind"][0] == ":8000"
    assert "__config__" not in sys.modules


def test_lines_are_those_of_the_last_module_level_binding(tmp_path):
    path = write(
        tmp_path,
        """
        workers = 1
        if True:
            threads = 2
        try:
            timeout = 30
        except Exception:
            timeout = 60
        workers = 4
        for i in range(2):
            pass
        with open(__file__) as fh:
            pass
        globals()["backlog"] = 64

        def f():
            keepalive = 9  # local: not a module name
        """,
    )
    got = as_dict(_config.load(str(path)))
    assert got["workers"] == (4, 8)
    assert got["threads"] == (2, 3)
    assert got["timeout"] == (30, 7), "the last binding in the source, whichever branch ran"
    assert got["i"][1] == 9
    assert got["backlog"] == (64, None)
    assert "keepalive" not in got


def test_python_module_spec(tmp_path, monkeypatch):
    pkg = tmp_path / "myproj"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "gunicorn_conf.py").write_text("import os\nworkers = 2\n\ndef on_starting(server):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    got = as_dict(_config.load("python:myproj.gunicorn_conf"))
    assert got["workers"] == (2, 2)
    assert got["on_starting"][1] == 4
    assert "os" not in got
    with pytest.raises(_config.ConfigFileError, match="cannot import config module 'nope.conf'"):
        _config.load("python:nope.conf")


def test_file_prefix(tmp_path):
    path = write(tmp_path, "threads = 4\n")
    assert _config.load(f"file:{path}") == [("threads", 4, 1)]


def test_missing_file(tmp_path):
    with pytest.raises(_config.ConfigFileError) as e:
        _config.load(str(tmp_path / "nope.py"))
    assert str(e.value) == f"config file {str(tmp_path / 'nope.py')!r} does not exist"


def test_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "workers = 2\nthreads = = 3\n")
    with pytest.raises(_config.ConfigFileError) as e:
        _config.load(str(path))
    first = str(e.value).splitlines()[0]
    assert first.startswith(f"{path}:2: SyntaxError: ")
    assert "Traceback" not in str(e.value)


def test_exception_names_file_and_line(tmp_path):
    path = write(tmp_path, "workers = 2\nthreads = undefined_name * 2\n")
    with pytest.raises(_config.ConfigFileError) as e:
        _config.load(str(path))
    assert str(e.value) == f"{path}:2: NameError: name 'undefined_name' is not defined"


def test_exception_in_a_function_shows_the_frames_in_the_file(tmp_path):
    path = write(tmp_path, "def compute():\n    return 1 / 0\n\nworkers = compute()\n")
    with pytest.raises(_config.ConfigFileError) as e:
        _config.load(str(path))
    lines = str(e.value).splitlines()
    assert lines[0] == f"{path}:2: ZeroDivisionError: division by zero"
    assert any("line 4" in l for l in lines[1:])


def test_exit_in_config_file(tmp_path):
    path = write(tmp_path, "import sys\nsys.exit(3)\n")
    with pytest.raises(_config.ConfigFileError, match=r"called exit\(3\)"):
        _config.load(str(path))
