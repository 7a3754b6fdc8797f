"""Execute a gunicorn-style Python config file and report its settings.

ferrocorn's settings are validated in Rust (the ``ferrocorn-config`` crate), but a gunicorn config
file is Python code: it may ``import os`` and compute values, so only Python can run it. This module
does just that part and hands back plain values:

``load(location) -> list[tuple[name, value, lineno_or_None]]``

* ``location`` is a path (``file:`` prefix allowed) or ``python:dotted.module`` (imported).
* The file runs like gunicorn runs it: a fresh module named ``__config__`` (registered in
  ``sys.modules`` while it runs, so dataclasses and pickling inside it work) with ``__file__`` set,
  via ``exec(compile(source, path, "exec"))``.
* Returned: module-level names that are not dunder, not modules, not classes, in definition order.
  Callables (server hooks, but also helper functions) are returned as they are; the Rust side
  decides which names are settings and warns about the rest.
* Values are normalised to what the Rust side understands: ``None``, ``bool``, ``int``, ``float``,
  ``str``, ``list`` (from lists, tuples, sets), ``dict`` (string keys), callables; ``os.PathLike``
  becomes ``str``. Anything else is returned unchanged, for the caller to report as unsupported.
* The line is that of the name's last module-level assignment (found with ``ast``), so messages
  can point at it; ``None`` when the name was created some other way (``globals()[...] = ...``).

Errors (a missing file, a syntax error, an exception while running) raise ``ConfigFileError``
whose message is one or a few lines naming the file and line, never a bare traceback.

``describe_hook(fn) -> (repr, arity_or_None)`` gives what the Rust side needs to check a hook:
the number of positional parameters, or ``None`` when it takes ``*args``.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import os
import sys
import traceback
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["ConfigFileError", "load", "describe_hook"]

Entry = Tuple[str, Any, Optional[int]]


class ConfigFileError(Exception):
    """The config file could not be run; ``str(err)`` is the whole message to show."""


def _assignment_lines(tree: ast.Module) -> Dict[str, int]:
    """Line of the last module-level binding of each name (assignments, defs, imports, loops).

    Statements nested in ``if``/``try``/``with``/``for``/``while`` at module level still bind
    module names; function and class bodies do not, so they are not entered.
    """
    lines: Dict[str, int] = {}

    def targets(node: ast.AST, line: int) -> None:
        if isinstance(node, ast.Name):
            lines[node.id] = line
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt, line)
        elif isinstance(node, ast.Starred):
            targets(node.value, line)

    def visit(body: List[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                for t in stmt.targets:
                    targets(t, stmt.lineno)
            elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
                targets(stmt.target, stmt.lineno)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                lines[stmt.name] = stmt.lineno
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    name = alias.asname or alias.name.split(".")[0]
                    lines[name] = stmt.lineno
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                targets(stmt.target, stmt.lineno)
                visit(stmt.body)
                visit(stmt.orelse)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars, stmt.lineno)
                visit(stmt.body)
            elif isinstance(stmt, ast.If):
                visit(stmt.body)
                visit(stmt.orelse)
            elif isinstance(stmt, ast.While):
                visit(stmt.body)
                visit(stmt.orelse)
            elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
                visit(stmt.body)
                for handler in stmt.handlers:
                    if handler.name:
                        lines[handler.name] = handler.lineno
                    visit(handler.body)
                visit(stmt.orelse)
                visit(stmt.finalbody)
            elif type(stmt).__name__ == "Match":
                for case in stmt.cases:
                    visit(case.body)
    visit(tree.body)
    return lines


def _normalise(value: Any) -> Any:
    """Turn containers into the plain types the Rust side converts; leave callables alone."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_normalise(v) for v in value]
        if isinstance(value, (set, frozenset)):
            try:
                items.sort()
            except TypeError:
                pass
        return items
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    return value


def _is_setting_candidate(name: str, value: Any) -> bool:
    if name.startswith("__") and name.endswith("__"):
        return False
    if isinstance(value, types.ModuleType):
        return False
    if isinstance(value, type):
        return False
    return True


def _entries(namespace: Dict[str, Any], lines: Dict[str, int]) -> List[Entry]:
    return [
        (name, _normalise(value), lines.get(name))
        for name, value in list(namespace.items())
        if _is_setting_candidate(name, value)
    ]


def _format_exception(path: str, exc: BaseException) -> str:
    """One line naming the file and line of the failure, plus the frames inside the file."""
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename or path}:{exc.lineno}" if exc.lineno else path
        detail = (exc.msg or "invalid syntax").strip()
        text = (exc.text or "").strip()
        return f"{where}: SyntaxError: {detail}" + (f"\n    {text}" if text else "")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    where = f"{path}:{frames[-1].lineno}" if frames else path
    msg = f"{where}: {type(exc).__name__}: {exc}"
    if len(frames) > 1:
        msg += "\n" + "".join(traceback.format_list(frames)).rstrip()
    return msg


def _load_file(path: str) -> List[Entry]:
    if not os.path.exists(path):
        raise ConfigFileError(f"config file {path!r} does not exist")
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as e:
        raise ConfigFileError(f"cannot read config file {path!r}: {e.strerror or e}") from None
    try:
        code = compile(source, path, "exec")
        tree = ast.parse(source, path)
    except SyntaxError as e:
        raise ConfigFileError(_format_exception(path, e)) from None
    except ValueError as e:  # null bytes
        raise ConfigFileError(f"{path}: cannot compile: {e}") from None
    module = types.ModuleType("__config__")
    module.__file__ = os.path.abspath(path)
    namespace = module.__dict__
    previous = sys.modules.get("__config__")
    sys.modules["__config__"] = module
    try:
        exec(code, namespace)
    except SystemExit as e:
        raise ConfigFileError(f"{path}: the config file called exit({e.code!r})") from None
    except Exception as e:  # noqa: BLE001 - every failure becomes one clear message
        raise ConfigFileError(_format_exception(path, e)) from None
    finally:
        if previous is None:
            sys.modules.pop("__config__", None)
        else:
            sys.modules["__config__"] = previous
    return _entries(namespace, _assignment_lines(tree))


def _load_module(name: str) -> List[Entry]:
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        raise ConfigFileError(f"cannot import config module {name!r}: {e}") from None
    except SyntaxError as e:
        raise ConfigFileError(_format_exception(e.filename or name, e)) from None
    except Exception as e:  # noqa: BLE001
        frames = traceback.extract_tb(e.__traceback__)
        origin = frames[-1].filename if frames else name
        raise ConfigFileError(_format_exception(origin, e)) from None
    lines: Dict[str, int] = {}
    filename = getattr(module, "__file__", None)
    if filename and filename.endswith(".py"):
        try:
            with open(filename, "rb") as f:
                lines = _assignment_lines(ast.parse(f.read(), filename))
        except (OSError, SyntaxError, ValueError):
            lines = {}
    return _entries(vars(module), lines)


def load(location: str) -> List[Entry]:
    """Run a config file (or import ``python:module``) and return ``(name, value, line)``."""
    if location.startswith("python:"):
        return _load_module(location[len("python:"):])
    if location.startswith("file:"):
        location = location[len("file:"):]
    return _load_file(location)


def describe_hook(fn: Callable[..., Any]) -> Tuple[str, Optional[int]]:
    """``repr()`` of a callable and its positional parameter count (``None`` with ``*args``).

    Counted like gunicorn's ``util.get_arity``: positional parameters, defaults included; a bound
    method's ``self`` is not counted.
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return repr(fn), None
    arity = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return repr(fn), None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            arity += 1
    return repr(fn), arity
