"""Recorded runs side by side, and the regression gate's verdict, as Rich renderables.

``compare_view(reports)`` is what ``pipebench compare`` prints and what the TUI shows for
the runs marked in its runs table; ``gate_view`` is the gate's lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workbench.engine.compare import LETTERS, Figure, compare_reports
from workbench.engine.compare_caveats import MIN_BATCHES, MIN_SECONDS, Caveat, caveats
from workbench.engine.gate import FAILED, PASSED, Check
from workbench.units import format_bytes, format_count, format_rate, format_seconds
from workbench.views.text import user_text

VERDICT_STYLE = {"better": "green", "worse": "red", "same": "dim"}
#: Where more than two runs share a table, a verdict is one mark after the ratio.
VERDICT_MARK = {"better": "+", "worse": "-", "same": "="}
STATUS_STYLE = {"finished": "green", "stopped": "yellow"}


def format_figure(value: float | None, unit: str) -> str:
    """A figure in its unit's format; ``N/A`` where the run does not have it."""
    if value is None:
        return "N/A"
    if unit in ("items/s", "batches/s"):
        return format_rate(value)
    if unit == "bytes":
        return format_bytes(value)
    if unit == "s":
        return format_seconds(value)
    if unit == "%":
        return f"{value:.1f}%"
    return format_count(value) if value != int(value) else f"{value:,.0f}"


def format_ratio(f: Figure, i: int = 1) -> str:
    """``×1.50`` (run ``i`` / the base), ``–`` where there is no ratio."""
    r = f.ratio(i)
    return "–" if r is None else f"×{format_count(r)}"


def _params(rep: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in (rep.get("params") or {}).items())


def run_title(label: str, rep: dict[str, Any]) -> Text:
    """``A: pipeline params status run id, start`` (user text never read as markup)."""
    t = Text()
    t.append(f"{label}: ", style="bold")
    t.append_text(user_text(rep.get("pipeline") or rep.get("target"), "bold"))
    t.append(" ")
    t.append_text(user_text(_params(rep)))
    status = str(rep.get("status"))
    t.append("  ")
    t.append_text(user_text(status, STATUS_STYLE.get(status, "red")))
    number = rep.get("_number")
    which = f" (#{number})" if isinstance(number, int) else ""
    t.append_text(
        user_text(f"  run {rep.get('run_id')}{which}, {(rep.get('started_at') or '?')[:19]}", "dim")
    )
    return t


def caveat_lines(found: Sequence[Caveat]) -> list[Text]:
    """One line per caveat, marked in text (``warning:``) as well as colour."""
    return [Text.assemble(("warning: ", "yellow bold"), user_text(c.text, "yellow")) for c in found]


def _show(f: Figure) -> bool:
    if all(v is None for v in f.values):
        return False
    if f.label == "compile":  # only where some run compiled
        return any(v for v in f.values)
    return True


def figures_table(figures: Sequence[Figure], runs: int) -> Table:
    """One row per figure, under a row naming its section, with each run's value and, for
    every run after the base, its ratio to the base and the verdict: with two runs in
    columns of their own (the verdict in words); with more, under the value in the same
    cell, the verdict as a mark (``+`` better, ``-`` worse, ``=`` same), so that four runs
    fit 80 columns."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, show_edge=False)
    table.add_column("figure", no_wrap=True)
    for i in range(runs):
        table.add_column(LETTERS[i], justify="right", no_wrap=True)
    if runs == 2:
        table.add_column("B / A", justify="right", no_wrap=True)
        table.add_column("", no_wrap=True)
    section = None
    for f in figures:
        if not _show(f):
            continue
        if f.section != section:
            if section is not None:
                table.add_section()
            table.add_row(user_text(f.section, "bold"))
            section = f.section
        cells: list[RenderableType] = [Text(f"  {f.label}")]
        for i, v in enumerate(f.values):
            cell = Text(format_figure(v, f.unit))
            if i and runs > 2:
                verdict = f.verdict(i)
                mark = VERDICT_MARK.get(verdict, " ")
                cell.append(
                    f"\n{format_ratio(f, i)} {mark}", style=VERDICT_STYLE.get(verdict, "dim")
                )
            cells.append(cell)
        if runs == 2:
            verdict = f.verdict(1)
            cells.append(Text(format_ratio(f, 1), style=VERDICT_STYLE.get(verdict, "")))
            cells.append(Text(verdict, style=VERDICT_STYLE.get(verdict, "")))
        table.add_row(*cells)
    return table


NOTES = (
    "{ratio}: the run's figure divided by A's (the base). Per item: divided by the items "
    "out of the last stage (self per item leaves JIT compilation out); private per item: "
    "peak private memory above the chain's start, per item of a batch (growth under 1 MiB, "
    "the allocator's churn, reads 0). Better is higher "
    "for items/s, batches/s and hit rate, lower for times per item and memory."
)


def compare_view(
    reports: Sequence[dict[str, Any]],
    *,
    min_batches: int = MIN_BATCHES,
    min_s: float = MIN_SECONDS,
) -> Group:
    """Runs side by side (the first is the base): a title line per run, a warning per
    caveat (different pipelines, a partial or short run, an old record), every figure with
    its ratio to the base and whether it is better or worse, in words or marks (so it
    reads without colour), and the notes that say what the figures are."""
    rs = list(reports)
    titles = [run_title(LETTERS[i], r) for i, r in enumerate(rs)]
    table = figures_table(compare_reports(rs), len(rs))
    ratio = "B / A" if len(rs) == 2 else "X / A"
    notes = Text(NOTES.format(ratio=ratio), style="dim")
    if len(rs) > 2:
        notes.append(
            " Under each value of B, C, ...: its ratio to A and a mark: + better, - worse, "
            "= same (within 1%).",
            style="dim",
        )
    keys = sorted({k for r in rs for k in (r.get("params") or {})})
    diff = [k for k in keys if len({repr((r.get("params") or {}).get(k)) for r in rs}) > 1]
    if diff:
        notes.append("\nparameters that differ: ", style="dim")
        notes.append_text(user_text(", ".join(diff), "dim"))
    found = caveats(rs, min_batches, min_s)
    return Group(*titles, *caveat_lines(found), table, notes)


def gate_lines(checks: Sequence[Check], runs: int, not_counted: Sequence[int] = ()) -> list[Text]:
    """One line per check: ``FAIL``, ``ok`` or ``N/A``, the figure, both values and the
    change against the limit (``items_per_s: 1.00k → 940 items/s, -6.0% (limit -5%)``).

    Args:
        not_counted: runs the gate cannot tell about (a caveat concerns them or the
            base): a change past the limit there reads ``over``, not ``FAIL``.
    """
    out = []
    for c in checks:
        outcome = "over" if c.outcome == FAILED and c.run in not_counted else c.outcome
        unit = c.figure.unit
        suffix = f" {unit}" if unit in ("items/s", "batches/s") else ""
        which = f" ({LETTERS[c.run]} against A)" if runs > 2 else ""
        head = user_text(f"{c.threshold.name if c.figure.section == '' else c.name}{which}: ")
        style = {FAILED: "red bold", PASSED: "green"}.get(outcome, "yellow")
        line = Text.assemble((f"{outcome:<4} ", style), head)
        if c.change is None:
            why = (
                "the base is 0"
                if c.base == 0
                else "not in any run"
                if c.figure.section == ""
                else "N/A in "
                + " and ".join(LETTERS[i] for i, v in ((0, c.base), (c.run, c.value)) if v is None)
            )
            line.append(f"cannot tell ({why}; limit {c.threshold.change_text})")
        else:
            line.append(
                f"{format_figure(c.base, unit)} → {format_figure(c.value, unit)}{suffix}, "
                f"{100 * c.change:+.1f}% (limit {c.threshold.change_text}"
                + ("; not counted)" if outcome == "over" else ")")
            )
        out.append(line)
    return out
