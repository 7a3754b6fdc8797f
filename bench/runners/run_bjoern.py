"""Run a WSGI app under bjoern: python run_bjoern.py MODULE:CALLABLE HOST PORT."""

import importlib
import sys

import bjoern


def load(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr or "application")


if __name__ == "__main__":
    target, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    bjoern.run(load(target), host, port)
