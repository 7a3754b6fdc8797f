"""Run a WSGI app under meinheld: python run_meinheld.py MODULE:CALLABLE HOST PORT."""

import importlib
import sys

from meinheld import server


def load(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr or "application")


if __name__ == "__main__":
    target, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    server.set_access_logger(None)
    server.listen((host, port))
    server.run(load(target))
