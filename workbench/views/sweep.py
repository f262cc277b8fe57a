"""Rich renderings of a batch-size sweep: the points, the curve and the answer.

Shared by ``pipebench sweep`` and the TUI's Sweep view, so both show the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from workbench.engine.sweep.search import (
    OK,
    OUT_OF_MEMORY,
    OVER_BUDGET,
    TOO_SLOW,
    Answer,
    SweepPoint,
    SweepSettings,
)
from workbench.units import format_bytes, format_rate, format_seconds
from workbench.views.curve import chart

OUTCOME_TEXT = {
    OK: ("✓ ok", "green"),
    OUT_OF_MEMORY: ("✗ OOM", "red"),
    OVER_BUDGET: ("▲ budget", "red"),
    TOO_SLOW: ("… slow", "yellow"),
}
COLUMNS = (
    "batch",
    "",
    "phase",
    "outcome",
    "items/s",
    "vs best",
    "peak RSS",
    "peak GPU",
    "measured",
)
RIGHT = {"batch", "items/s", "vs best", "peak RSS", "peak GPU", "measured"}
#: The marks of the second column, explained under the table when they appear.
MARKS = {
    "★": "recommended",
    "◆": "largest size that fit",
    "≈": "within noise of the best",
    "w": "too short to leave the warm-up out",
    "f": "few batches measured: raise --seconds-per-run",
}


def marks(p: SweepPoint, answer: Answer | None) -> str:
    """The marks of a point (see ``MARKS``)."""
    out = ""
    if answer is not None:
        out += "★" if answer.recommended is p else ""
        out += "◆" if answer.largest_fit is p else ""
        out += "≈" if p.batch_size in answer.near else ""
    if p.ok and not p.warmup_excluded:
        out += "w"
    elif p.ok and p.measured_batches < 3:
        out += "f"
    return out


def point_cells(p: SweepPoint, best: float | None, answer: Answer | None) -> tuple[str, ...]:
    """The cells of one point, in ``COLUMNS`` order (the TUI table uses them too)."""
    outcome = OUTCOME_TEXT.get(p.outcome, ("✗ failed", "red"))[0]
    rate = format_rate(p.items_per_s) if p.items_per_s is not None else "–"
    vs = f"{100 * p.items_per_s / best:.0f}%" if best and p.items_per_s else "–"
    measured = (
        f"{p.measured_batches}b {format_seconds(p.measured_s)}" if p.measured_batches else "–"
    )
    gpu = format_bytes(p.gpu_peak_bytes) if p.gpu_peak_bytes is not None else "N/A"
    return (
        str(p.batch_size),
        marks(p, answer),
        p.phase,
        outcome,
        rate,
        vs,
        format_bytes(p.rss_peak_bytes),
        gpu,
        measured,
    )


def notes(points: Sequence[SweepPoint], answer: Answer | None) -> list[str]:
    """The legend of the marks used, then one line per size that did not run fine."""
    used = "".join(marks(p, answer) for p in points)
    out = [f"{m} {what}" for m, what in MARKS.items() if m in used]
    lines = ["   ".join(out)] if out else []
    for p in points:
        if p.error and not p.ok:
            symbol = OUTCOME_TEXT.get(p.outcome, ("✗",))[0].split()[0]
            lines.append(f"{symbol} {p.batch_size}: {p.error}")
    return lines


def points_table(
    points: Sequence[SweepPoint],
    answer: Answer | None = None,
    running: tuple[int, str] | None = None,
    gpu: bool | None = None,
) -> Table:
    """Every point in the order run, the run going as a last row, the marks and errors
    under it; the GPU column shows when a point has a GPU figure (or ``gpu`` says so)."""
    if gpu is None:
        gpu = any(p.gpu_peak_bytes is not None for p in points)
    keep = [i for i, name in enumerate(COLUMNS) if gpu or name != "peak GPU"]
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, expand=False, padding=(0, 1), caption_justify="left"
    )
    for i in keep:
        table.add_column(
            COLUMNS[i],
            justify="right" if COLUMNS[i] in RIGHT else "left",
            no_wrap=True,
            min_width=len(COLUMNS[i]),
        )
    rates = [p.items_per_s for p in points if p.items_per_s]
    best = max(rates) if rates else None
    for p in points:
        style = OUTCOME_TEXT.get(p.outcome, ("", "red"))[1]
        cells: list[str | Text] = list(point_cells(p, best, answer))
        cells[3] = Text(str(cells[3]), style=style)
        bold = answer is not None and answer.recommended is p
        table.add_row(*[cells[i] for i in keep], style="bold" if bold else None)
    if running is not None:
        row: list[str | Text] = [str(running[0]), "", running[1], Text("● run", style="cyan")]
        table.add_row(*row, *[""] * (len(keep) - 4))
    lines = notes(points, answer)
    if lines:
        table.caption = Text("\n".join(lines), style="dim")
    return table


def figures(p: SweepPoint) -> str:
    gpu = f", peak GPU {format_bytes(p.gpu_peak_bytes)}" if p.gpu_peak_bytes is not None else ""
    return (
        f"{format_rate(p.items_per_s)} items/s after warm-up, peak RSS "
        f"{format_bytes(p.rss_peak_bytes)}{gpu}"
    )


def answer_text(answer: Answer) -> Text:
    """The recommendation beside the largest size that fit, each with its figures."""
    t = Text()
    rec, big = answer.recommended, answer.largest_fit
    if rec is not None:
        t.append("recommended batch_size ", style="bold")
        t.append(f"{rec.batch_size}", style="bold green")
        t.append(f": {figures(rec)}\n")
        t.append(f"  why: {answer.reason}\n", style="dim")
    else:
        t.append("no recommendation: ", style="bold red")
        t.append(f"{answer.reason}\n")
    if big is not None:
        t.append("largest that fit     ", style="bold")
        t.append(f"{big.batch_size}")
        t.append(f": {figures(big)}\n")
    for size, why in answer.passed_over:
        t.append(f"  passed over {size}: {why}\n", style="dim")
    if answer.near:
        t.append(f"  within noise of the best: {', '.join(map(str, answer.near))}\n", style="dim")
    t.rstrip()
    return t


def curve(
    points: Sequence[SweepPoint],
    settings: SweepSettings,
    answer: Answer | None,
    width: int = 72,
    height: int = 6,
) -> Group:
    """Throughput and peak memory against batch size (log2), GPU memory when measured."""
    mark = answer.recommended.batch_size if answer and answer.recommended else None
    parts: list[Any] = [
        chart(
            points,
            lambda p: p.items_per_s,
            width=width,
            height=height,
            mark=mark,
            title="items/s after warm-up vs batch size (log2)",
            fmt=format_rate,
        ),
        chart(
            points,
            lambda p: p.rss_peak_bytes,
            width=width,
            height=max(3, height // 2),
            title="peak RSS of the runner",
            fmt=format_bytes,
            mark=mark,
            limit=settings.memory_budget,
            limit_label="budget",
        ),
    ]
    if any(p.gpu_peak_bytes is not None for p in points) or settings.gpu_memory_budget:
        parts.append(
            chart(
                points,
                lambda p: p.gpu_peak_bytes,
                width=width,
                height=max(3, height // 2),
                title="peak GPU memory",
                fmt=format_bytes,
                mark=mark,
                limit=settings.gpu_memory_budget,
                limit_label="GPU budget",
            )
        )
    return Group(*parts)


def sweep_header(target: str, settings: SweepSettings) -> Text:
    how = (
        f"auto: powers of two from {settings.min_size} to at most {settings.max_size}, then refined"
        if settings.auto
        else "batch sizes " + ",".join(map(str, settings.sizes))
    )
    budgets = []
    if settings.memory_budget:
        budgets.append(f"RSS ≤ {format_bytes(settings.memory_budget)}")
    if settings.gpu_memory_budget:
        budgets.append(f"GPU ≤ {format_bytes(settings.gpu_memory_budget)}")
    t = Text()
    t.append(f"sweep {target}", style="bold")
    t.append(
        f"\n{how}; {settings.seconds_per_run:g} s per run, warm-up "
        f"{settings.warmup_batches} batches"
        + (f" and {settings.warmup_s:g} s" if settings.warmup_s else "")
        + f" left out; {', '.join(budgets) or 'no memory budget'}",
        style="dim",
    )
    return t
