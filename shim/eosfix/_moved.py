"""The old import paths of the modules that moved into ``eosfix.diagnostics`` and ``eosfix.vendoring``.

Each old module (``eosfix/doctor.py`` and so on) is one call to :func:`alias`: importing it gives the moved
module itself, the same object under both names, so its attributes, patches of them and pickles agree. Run as
``python -m eosfix.demo``, it runs the moved module as the main module instead.
"""

import importlib
import sys


def alias(old: str, new: str) -> None:
    """Make the module being imported as ``old`` the module ``new`` (``old`` is its ``__name__``)."""
    if old == "__main__":
        import runpy

        runpy.run_module(new, run_name="__main__", alter_sys=True)
        return
    sys.modules[old] = importlib.import_module(new)
