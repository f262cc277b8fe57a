"""``pipebench compare``: recorded runs side by side (each figure with its ratio to the
first run), and a regression gate for CI (``--fail-if``).

Exit codes: 0; 1 a ``--fail-if`` threshold was passed (with ``--strict``, also when the
gate cannot tell); 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import textwrap
import time
from typing import Any

from rich.console import Console
from rich.text import Text

from workbench.cli.args import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    JSON_HELP,
    json_path,
    number_of_seconds,
    positive_int,
    write_json,
)
from workbench.cli.history import history_with_warnings
from workbench.engine.compare import MAX_RUNS, compare_reports, resolve_run
from workbench.engine.compare_caveats import MIN_BATCHES, MIN_SECONDS, caveats
from workbench.engine.gate import (
    FAILED,
    Check,
    blocking,
    check,
    gate_result,
    names_help,
    parse_threshold,
)
from workbench.errors import UserError
from workbench.views.compare import compare_view, gate_lines
from workbench.views.text import user_text

EPILOG = f"""\
regression gate: --fail-if NAME:CHANGE, repeatable. CHANGE is a percentage: -5% fails
when the figure of a run falls more than 5% below the first run's, +10% when it rises
more than 10%, 5% in the figure's worse direction. Every run after the first is checked
against the first. The figures:
{names_help()}

The gate cannot tell, and says so, when the runs are of different pipelines, a run is
partial (stopped by the user, failed, crashed, over its memory budget) or too short
to tell (fewer than {MIN_BATCHES} batches out of the last stage or under {MIN_SECONDS:g} s;
see --min-batches, --min-seconds), a run is a schema 1 record, or a figure is N/A; it
then exits 0, or 1 with --strict.

example: pipebench compare base.json new.json --fail-if items_per_s:-5% \\
           --fail-if peak_private:+10%"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``compare`` command to the ``pipebench`` parser."""
    p = subparsers.add_parser(
        "compare",
        help="recorded runs side by side, with the ratio of each figure; a regression gate",
        description=textwrap.fill(
            "Each run is a number from pipebench history (1 the oldest, -1 the newest), a "
            "run id or a prefix of one, or a report file (--json). The first run is the base; "
            f"ratios are each run's figure / the base's. Up to {MAX_RUNS} runs. Runs of "
            "different lengths compare on rates and per-item figures: a stage's self time "
            "per item out of the last stage, peak private memory above the start per item "
            "of a batch.",
            88,
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", metavar="RUN", nargs="+", help="two or more runs; the first is the base")
    p.add_argument(
        "--fail-if",
        action="append",
        default=[],
        metavar="NAME:CHANGE",
        help="exit 1 when a figure changes past CHANGE against the first run (see below)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 also when the gate cannot tell (a short, partial or different run, "
        "a figure N/A)",
    )
    p.add_argument(
        "--min-batches",
        type=positive_int,
        default=MIN_BATCHES,
        metavar="N",
        help=f"a run with fewer batches out of its last stage is too short to tell "
        f"(default {MIN_BATCHES})",
    )
    p.add_argument(
        "--min-seconds",
        type=lambda t: number_of_seconds(t, strict=False),
        default=MIN_SECONDS,
        metavar="S",
        help=f"a run shorter than this is too short to tell (default {MIN_SECONDS:g})",
    )
    p.add_argument(
        "--json",
        type=json_path,
        metavar="FILE",
        help="also write every figure, its ratios, the warnings and the gate to FILE" + JSON_HELP,
    )
    return p


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    if len(args.runs) < 2:
        raise UserError("pipebench compare: give two or more runs (the first is the base)")
    if len(args.runs) > MAX_RUNS:
        raise UserError(
            f"pipebench compare: {len(args.runs)} runs given; at most {MAX_RUNS} fit side by side"
        )
    thresholds = [parse_threshold(t) for t in args.fail_if]
    history = history_with_warnings()
    reports = [resolve_run(ref, history) for ref in args.runs]
    figures = compare_reports(reports)
    found = caveats(reports, args.min_batches, args.min_seconds)
    checks = check(figures, thresholds, len(reports))
    result, unsure = gate_result(checks, found) if thresholds else ("", [])
    code = EXIT_OK
    if result == "failed" or (result == "cannot tell" and args.strict):
        code = EXIT_RUN_FAILED
    if args.json:
        write_json(
            args.json,
            {
                "runs": [r.get("run_id") for r in reports],
                "a": reports[0].get("run_id"),
                "b": reports[1].get("run_id"),
                "figures": [
                    {
                        "section": f.section,
                        "figure": f.label,
                        "key": f.key or None,
                        "values": list(f.values),
                        "a": f.a,
                        "b": f.b,
                        "unit": f.unit,
                        "ratios": [f.ratio(i) for i in range(1, len(reports))],
                        "ratio": f.ratio(1),
                        "verdicts": [f.verdict(i) for i in range(1, len(reports))],
                        "verdict": f.verdict(1),
                    }
                    for f in figures
                ],
                "caveats": [{"kind": c.kind, "runs": list(c.runs), "text": c.text} for c in found],
                "gate": {
                    "result": result or None,
                    "strict": args.strict,
                    "min_batches": args.min_batches,
                    "min_seconds": args.min_seconds,
                    "checks": [
                        {
                            "threshold": c.threshold.text,
                            "figure": c.name,
                            "run": c.run,
                            "base": c.base,
                            "value": c.value,
                            "change": c.change,
                            "outcome": c.outcome,
                        }
                        for c in checks
                    ],
                    "cannot_tell": unsure,
                    "exit_code": code,
                },
                "written_at": time.time(),
            },
        )
    console.print(compare_view(reports, min_batches=args.min_batches, min_s=args.min_seconds))
    if thresholds:
        console.print()
        blocked = [i for i in range(1, len(reports)) if blocking(found, i)]
        for line in gate_lines(checks, len(reports), blocked):
            console.print(line, soft_wrap=True)
        console.print(_summary(result, unsure, args, checks), soft_wrap=True)
    return code


def _summary(result: str, unsure: list[str], args: argparse.Namespace, checks: list[Check]) -> Text:
    failed = sum(c.outcome == FAILED for c in checks)
    if result == "failed":
        return Text.assemble(
            ("gate: failed", "red bold"),
            f": {failed} check{'' if failed == 1 else 's'} past the limit",
            *((" (", user_text("; ".join(unsure)), ")") if unsure else ()),
        )
    if result == "passed":
        return Text.assemble(("gate: passed", "green bold"), f": {len(checks)} checks in limits")
    tail = "exit 1 (--strict)" if args.strict else "not failing (--strict would fail)"
    t = Text.assemble(("gate: cannot tell", "yellow bold"), ": ")
    t.append_text(user_text("; ".join(unsure)))
    if failed:
        t.append(f"; {failed} check{'' if failed == 1 else 's'} past the limit not counted")
    t.append(f"; {tail}")
    return t
