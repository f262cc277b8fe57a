"""``pipebench history``: the recorded runs, numbered for ``pipebench compare``.

Exit codes: 0, or 2 for bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from workbench.cli.args import (
    EXIT_OK,
    JSON_HELP,
    json_path,
    positive_int,
    write_json,
)
from workbench.engine import records
from workbench.engine.compare import select_runs
from workbench.views.history import history_table
from workbench.views.text import user_text


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``history`` command to the ``pipebench`` parser."""
    p = subparsers.add_parser(
        "history",
        help="list recorded runs",
        description="Recorded runs, oldest first, numbered for pipebench compare.",
    )
    p.add_argument(
        "target",
        nargs="?",
        help="only runs of this pipeline: a name, path/to/module.py[:name] or "
        "package.module[:name]",
    )
    p.add_argument("--last", type=positive_int, metavar="N", help="only the last N runs")
    p.add_argument(
        "--json", type=json_path, metavar="FILE", help="also write the list to FILE" + JSON_HELP
    )
    return p


def numbered_runs(target: str | None) -> list[tuple[int, dict[str, Any]]]:
    """Every recorded run with its history number (1 the oldest), optionally of one target."""
    runs = list(records.read_history().runs)
    return runs if target is None else select_runs(runs, target)


def history_with_warnings() -> records.RunHistory:
    """The run history; one line on stderr for each file in it that was skipped."""
    history = records.read_history()
    if history.skipped:
        err = Console(stderr=True, highlight=False)
        for skip in history.skipped:
            err.print(user_text(skip.warning, "yellow"), soft_wrap=True)
    return history


def cmd_history(args: argparse.Namespace, console: Console) -> int:
    history = history_with_warnings()
    runs = list(history.runs)
    if args.target is not None:
        runs = select_runs(runs, args.target)
    if args.last:
        runs = runs[-args.last :]
    if args.json:
        write_json(args.json, [{"number": n, **r} for n, r in runs])
    if not runs:
        where = f" of {args.target}" if args.target else ""
        console.print(user_text(f"no recorded runs{where} in {records.runs_dir()}"))
        return EXIT_OK
    console.print(history_table(runs, console.width))
    console.print(
        user_text(
            f"{len(runs)} runs in {records.runs_dir()}; compare two with pipebench compare N M",
            "dim",
        )
    )
    return EXIT_OK
