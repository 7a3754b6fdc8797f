"""Helpers for bench/run.py: server and scenario definitions, process control, wrk, reporting."""

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
VENV_DIR = BENCH_DIR / ".venv"
VENV_BIN = VENV_DIR / "bin"
APPS_DIR = BENCH_DIR / "apps"
RUNNERS_DIR = BENCH_DIR / "runners"
LUA_DIR = BENCH_DIR / "lua"
RESULTS_DIR = BENCH_DIR / "results"
DJSITE_DIR = REPO_DIR / "examples" / "djsite"
INSTALL_STATUS_DIR = VENV_DIR / "install-status"
