"""ferrocorn: a fast, dependable WSGI server written in Rust.

The command line (``ferrocorn`` or ``python -m ferrocorn``) is the whole interface; this package only
hands ``sys.argv`` to the Rust extension, which does the work.
"""
from ._ferrocorn import __version__

__all__ = ["__version__"]
