"""Example applications bundled with ferrocorn (see each module's docstring for how to run it)."""
