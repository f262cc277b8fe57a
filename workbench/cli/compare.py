"""``pipebench compare``: two run reports side by side, with the ratio B / A of each figure.

Exit codes: 0, or 2 for bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from workbench.cli.args import (
    EXIT_OK,
    JSON_HELP,
    write_json,
)
from workbench.cli.history import history_with_warnings
from workbench.engine.compare import compare_reports, resolve_run
from workbench.views.compare import compare_view


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``compare`` command to the ``pipebench`` parser."""
    p = subparsers.add_parser(
        "compare",
        help="two run reports side by side, with the ratio of each figure",
        description="Each run is a number from pipebench history (1 the oldest, -1 the "
        "newest), a run id or a prefix of one, or a report file (--json).",
    )
    p.add_argument("a", metavar="RUN", help="run A")
    p.add_argument("b", metavar="RUN", help="run B (ratios are B / A)")
    p.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="also write every figure and ratio to FILE" + JSON_HELP,
    )
    return p


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    history = history_with_warnings()
    a, b = resolve_run(args.a, history), resolve_run(args.b, history)
    if args.json:
        figures = [
            {
                "section": f.section,
                "figure": f.label,
                "a": f.a,
                "b": f.b,
                "unit": f.unit,
                "ratio": f.ratio,
                "verdict": f.verdict,
            }
            for f in compare_reports(a, b)
        ]
        write_json(
            args.json,
            {
                "a": a.get("run_id"),
                "b": b.get("run_id"),
                "figures": figures,
                "written_at": time.time(),
            },
        )
    console.print(compare_view(a, b))
    return EXIT_OK
