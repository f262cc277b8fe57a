"""``pipebench list``: the pipelines (and kernel sets) of a folder or module."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from workbench.cli.args import EXIT_OK
from workbench.engine.catalog import discover
from workbench.engine.loader import default_root
from workbench.errors import UserError
from workbench.views.run import catalog_table
from workbench.views.text import user_text


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``list`` command to the ``pipebench`` parser."""
    p = subparsers.add_parser("list", help="list the pipelines of a folder or module")
    p.add_argument("path", nargs="?", help="folder or .py file (default ./pipelines or examples)")
    return p


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    root = Path(args.path) if args.path else default_root()
    modules = discover(root)
    if not modules:
        raise UserError(f"no pipeline modules (*.py) in {root}")
    console.print(user_text(root, "bold"))
    console.print(catalog_table(modules))
    return EXIT_OK
