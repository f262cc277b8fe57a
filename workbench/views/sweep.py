"""Rich renderings of a batch-size sweep: its sizes, the curve and the answer.

Shared by ``pipebench sweep`` and the TUI's Sweep view, so both show the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from workbench.engine.sweep.answer import Answer
from workbench.engine.sweep.points import (
    OK,
    OUT_OF_MEMORY,
    OVER_BUDGET,
    TOO_SLOW,
    SweepPoint,
    SweepSettings,
)
from workbench.engine.sweep.stats import (
    ITEMS_FIX,
    LEAST_FOR_SPREAD,
    SizeResult,
    item_basis,
    sizes_of,
)
from workbench.units import format_bytes, format_rate
from workbench.views.curve import chart
from workbench.views.text import user_text

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
    "±",
    "vs best",
    "batches/s",
    "n",
    "peak RSS",
    "peak GPU",
)
RIGHT = {"batch", "items/s", "±", "vs best", "batches/s", "n", "peak RSS", "peak GPU"}
#: The marks of the second column, explained under the table when they appear.
MARKS = {
    "★": "recommended",
    "◆": "largest size that fit",
    "≈": "within noise of the best",
    "o": "out of the race: under half the best, no more samples",
    "p": f"provisional: fewer than {LEAST_FOR_SPREAD} samples",
    "w": "too short to leave the warm-up out",
    "f": "few batches measured: raise --seconds-per-run",
}
#: What the table's figures are, under it.
LEGEND = (
    "items/s: median of the n runs, warm-up left out; ± how well it is known (box-plot notch, ~95%)"
)
#: Columns left out, in this order, when the table is wider than the terminal.
OPTIONAL = ("phase", "vs best", "batches/s")


def marks(z: SizeResult, answer: Answer | None) -> str:
    """The marks of a size (see ``MARKS``)."""
    out = ""
    if answer is not None:
        out += "★" if answer.recommended is not None and answer.recommended is z else ""
        out += "◆" if answer.largest_fit is not None and answer.largest_fit is z else ""
        out += "≈" if z.batch_size in answer.near else ""
    if answer is not None and z.batch_size in answer.out:
        out += "o"
    elif z.ok and z.n < LEAST_FOR_SPREAD:
        out += "p"
    if z.ok and not z.warmup_excluded:
        out += "w"
    elif z.ok and z.measured_batches < 3:
        out += "f"
    return out


def size_cells(z: SizeResult, best: float | None, answer: Answer | None) -> tuple[str, ...]:
    """The cells of one size, in ``COLUMNS`` order (the TUI table uses them too)."""
    outcome = OUTCOME_TEXT.get(z.outcome, ("✗ failed", "red"))[0]
    rate = format_rate(z.items_per_s) if z.items_per_s is not None else "–"
    vs = f"{100 * z.items_per_s / best:.0f}%" if best and z.items_per_s else "–"
    spread = f"±{100 * z.precision:.2g}%" if z.precision is not None else "–"
    batches = format_rate(z.batches_per_s) if z.batches_per_s is not None else "–"
    gpu = format_bytes(z.gpu_peak_bytes) if z.gpu_peak_bytes is not None else "N/A"
    return (
        str(z.batch_size),
        marks(z, answer),
        z.phase,
        outcome,
        rate,
        spread,
        vs,
        batches,
        str(len(z.samples)),
        format_bytes(z.rss_peak_bytes),
        gpu,
    )


def notes(sizes: Sequence[SizeResult], answer: Answer | None) -> list[str]:
    """The legend of the marks used, then one line per size that did not run fine."""
    used = "".join(marks(z, answer) for z in sizes)
    out = [f"{m} {what}" for m, what in MARKS.items() if m in used]
    lines = [LEGEND] if sizes else []
    lines += ["   ".join(out)] if out else []
    for z in sizes:
        if z.error and not z.ok:
            symbol = OUTCOME_TEXT.get(z.outcome, ("✗",))[0].split()[0]
            lines.append(f"{symbol} {z.batch_size}: {z.error}")
    return lines


def sizes_for(
    points: Sequence[SweepPoint], answer: Answer | None, settings: SweepSettings | None = None
) -> tuple[SizeResult, ...]:
    """The sizes to show: the answer's, or the samples folded so far."""
    if answer is not None and answer.sizes:
        return answer.sizes
    return tuple(sizes_of(points, settings or SweepSettings(), item_basis(points)))


def points_table(
    points: Sequence[SweepPoint],
    answer: Answer | None = None,
    running: tuple[int, str] | None = None,
    gpu: bool | None = None,
    settings: SweepSettings | None = None,
    width: int | None = None,
) -> Table:
    """One row per size (its samples folded) in the order first run, the run going as a
    last row, the legend, marks and errors under it; the GPU column shows when a size has
    a GPU figure (or ``gpu`` says so). Within ``width`` columns, the ``OPTIONAL`` columns
    are left out (in that order) rather than cut."""
    sizes = sizes_for(points, answer, settings)
    if gpu is None:
        gpu = any(z.gpu_peak_bytes is not None for z in sizes)
    keep = [i for i, name in enumerate(COLUMNS) if gpu or name != "peak GPU"]
    rates = [z.items_per_s for z in sizes if z.items_per_s]
    best = max(rates) if rates else None
    rows = [size_cells(z, best, answer) for z in sizes]
    for name in OPTIONAL:
        if width is None or _width(keep, rows) <= width:
            break
        keep.remove(COLUMNS.index(name))
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
    for z, row in zip(sizes, rows, strict=True):
        style = OUTCOME_TEXT.get(z.outcome, ("", "red"))[1]
        cells: list[str | Text] = list(row)
        cells[3] = Text(str(cells[3]), style=style)
        bold = answer is not None and answer.recommended is z
        table.add_row(*[cells[i] for i in keep], style="bold" if bold else None)
    if running is not None:
        going: list[str | Text] = [str(running[0]), "", running[1], Text("● run", style="cyan")]
        going += [""] * (len(COLUMNS) - len(going))
        table.add_row(*[going[i] for i in keep])
    lines = notes(sizes, answer)
    if lines:
        table.caption = user_text("\n".join(lines), "dim", newlines=True)
    return table


def _width(keep: Sequence[int], rows: Sequence[Sequence[str]]) -> int:
    """The table's width with the columns ``keep``: a space of padding each side of a
    column but the outer ones, a blank edge each side and a blank rule between columns."""
    cells = sum(max([len(COLUMNS[i])] + [len(r[i]) for r in rows]) for i in keep)
    return cells + 3 * (len(keep) - 1) + 2


def figures(z: SizeResult) -> str:
    gpu = f", peak GPU {format_bytes(z.gpu_peak_bytes)}" if z.gpu_peak_bytes is not None else ""
    spread = f" ±{100 * z.precision:.1f}%" if z.precision is not None else ""
    return (
        f"{format_rate(z.items_per_s)} items/s{spread} (median of {z.n}), peak RSS "
        f"{format_bytes(z.rss_peak_bytes)}{gpu}"
    )


def items_text(answer: Answer) -> Text:
    """The loud part about items: what the ranking counts when the last stage yields one
    item per batch, and the fix; empty otherwise."""
    t = Text()
    warning = answer.basis.warning
    if warning:
        t.append("⚠ one item per batch: ", style="bold yellow")
        t.append_text(user_text(warning, "yellow"))
        t.append("\n  fix: ", style="bold")
        t.append(ITEMS_FIX)
    return t


def answer_text(answer: Answer) -> Text:
    """The recommendation with its evidence, the largest size that fit when one failed, the
    sizes within noise, and what could not be checked."""
    t = Text()
    loud = items_text(answer)
    if loud.plain:
        t.append_text(loud)
        t.append("\n")
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
    if answer.gpu_note:
        t.append(f"⚠ {answer.gpu_note}\n", style="bold yellow")
    t.rstrip()
    return t


def curve(
    points: Sequence[SweepPoint],
    settings: SweepSettings,
    answer: Answer | None,
    width: int = 72,
    height: int = 6,
) -> Group:
    """Median throughput and peak memory against batch size (log2), GPU memory when
    measured: one bar per size, its samples folded."""
    sizes = sizes_for(points, answer, settings)
    mark = answer.recommended.batch_size if answer and answer.recommended else None
    ranked = answer.basis.ranked_by if answer is not None else "items"
    parts: list[Any] = [
        chart(
            sizes,
            lambda z: z.items_per_s,
            width=width,
            height=height,
            mark=mark,
            title=f"median items/s after warm-up vs batch size (log2; {ranked})",
            fmt=format_rate,
        ),
        chart(
            sizes,
            lambda z: z.rss_peak_bytes,
            width=width,
            height=max(3, height // 2),
            title="peak RSS of the runner",
            fmt=format_bytes,
            mark=mark,
            limit=settings.memory_budget,
            limit_label="budget",
        ),
    ]
    if any(z.gpu_peak_bytes is not None for z in sizes) or settings.gpu_memory_budget:
        parts.append(
            chart(
                sizes,
                lambda z: z.gpu_peak_bytes,
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
        f"auto: sizes from {settings.min_size} to at most {settings.max_size} by "
        f"×{settings.growth}, then the powers of two and midpoints next to the best"
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
        f"\n{how}; each size {settings.samples}-{settings.max_samples} interleaved runs "
        f"of {settings.seconds_per_run:g} s, warm-up "
        f"{settings.warmup_batches} batches"
        + (f" and {settings.warmup_s:g} s" if settings.warmup_s else "")
        + f" left out; {', '.join(budgets) or 'no memory budget'}",
        style="dim",
    )
    return t
