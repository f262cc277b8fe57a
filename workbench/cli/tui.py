"""``pipebench [PATH]``: the workbench (the Textual TUI) on a folder or module.

Textual is imported only once a terminal is there to draw on; without one, the pipelines
are listed instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from workbench.cli.args import EXIT_OK
from workbench.engine.catalog import discover, expand
from workbench.engine.loader import default_root
from workbench.views.run import catalog_table


def cmd_workbench(path: str | None, console: Console) -> int:
    root = Path(path) if path else default_root()
    expand(root)  # no such file, or not a module: one line before anything opens
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        console.print(
            "pipebench: the workbench needs a terminal; headless: `pipebench run TARGET`. "
            "Pipelines here:"
        )
        console.print(catalog_table(discover(root)))
        return EXIT_OK
    from workbench.ui.app import run_app  # Textual is imported only here

    return run_app(root)
