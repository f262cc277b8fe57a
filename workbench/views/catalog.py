"""What a module that failed to import needs: its error in full and the fix, as text.

The catalog keeps one line per module that failed (``ModuleInfo.error``, from
``engine.loader.load_module``); this adds what to do about it, by the kind of failure, for
the TUI's run view and anywhere else the error is shown whole.
"""

from __future__ import annotations

import re

from rich.text import Text

from workbench.views.text import user_text

#: The symbols of the tree, the panels and help: one meaning each.
IMPORT_FAILED = "✗"  # the module failed to import: none of its pipelines can be listed
CANNOT_RUN = "⊘"  # listed, but cannot run here (a requirement is missing)

_MISSING = re.compile(r"it needs the module '([^']+)', which is not installed")
_SYNTAX = re.compile(r"^syntax error in (.+), line (\d+)")
_TIMEOUT = re.compile(r"did not finish within")


def import_fix(error: str) -> str:
    """What to do about an import error of the catalog (one sentence)."""
    restart = "then restart pipebench (the tree is read once, at start)"
    m = _MISSING.search(error)
    if m:
        top = m.group(1).split(".")[0]
        return (
            f"install {top} in the Python environment pipebench runs in (pip install {top}; "
            f"a package can be named differently from its module), {restart}"
        )
    m = _SYNTAX.search(error)
    if m:
        return f"correct line {m.group(2)} of {m.group(1)}, {restart}"
    if _TIMEOUT.search(error):
        return (
            "an import must be quick: move slow work (data, downloads) into the pipeline's "
            f"factory, {restart}"
        )
    return f"run it alone (python FILE) to see the traceback, fix it, {restart}"


def import_error_text(name: str, error: str, style: str = "") -> Text:
    """``✗ NAME failed to import``, the error in full, and the fix; wraps to any width."""
    out = Text(style=style)
    out.append(f"{IMPORT_FAILED} ", "bold red")
    out.append_text(user_text(name, "bold"))
    out.append(" failed to import\n", "bold")
    out.append_text(user_text(error))
    out.append("\nfix: ", "bold")
    out.append_text(user_text(import_fix(error)))
    return out
