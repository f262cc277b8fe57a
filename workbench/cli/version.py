"""``pipebench --version``: pipebench's version, the Python running it, and which stage
probe a run gets (the C extension, or the pure-Python fallback and why)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform

import workbench

PURE_PROBE_ENV = "PIPEBENCH_PURE_PROBE"


def probe_line() -> str:
    """Which stage probe a run started now would use, as the runner child decides it
    (``workbench.engine.probe``): the C extension, or the pure-Python fallback with the
    reason (asked for, not built, or built but not importable)."""
    if os.environ.get(PURE_PROBE_ENV):
        return f"pure-Python fallback ({PURE_PROBE_ENV} is set)"
    if importlib.util.find_spec("workbench.engine._probe") is None:
        return "pure-Python fallback (the C extension was not built)"
    try:
        importlib.import_module("workbench.engine._probe")
    except ImportError as exc:
        return f"pure-Python fallback (the C extension does not import: {exc})"
    return "C extension"


def version_line() -> str:
    """One line: ``pipebench 0.1.0 (Python 3.11.7 CPython; stage probe: C extension)``."""
    python = f"{platform.python_version()} {platform.python_implementation()}"
    return f"pipebench {workbench.__version__} (Python {python}; stage probe: {probe_line()})"
