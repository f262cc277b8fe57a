"""A text plot of a figure against batch size on a log2 axis, for the CLI and the TUI.

One bar per size that ran, at its log2 position; a size that failed is a ✗ on the axis; a
limit (a memory budget) is a dashed line with its label on it, so it reads without colour.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from rich.text import Text

BLOCKS = " ▁▂▃▄▅▆▇█"
LEFT = 1  # columns before the first bar


class CurvePoint(Protocol):
    """A point the plot can draw: a sweep's ``SweepPoint``, a ``views.tuning.TuningPoint``."""

    @property
    def batch_size(self) -> int: ...

    @property
    def ok(self) -> bool: ...

    @property
    def failed(self) -> bool: ...


P = TypeVar("P", bound=CurvePoint)


def columns(sizes: Sequence[int], width: int) -> dict[int, int]:
    """The column of each size on a log2 axis ``width`` columns wide."""
    if not sizes:
        return {}
    lo, hi = math.log2(min(sizes)), math.log2(max(sizes))
    span = max(1, width - 1 - 2 * LEFT)
    if hi == lo:
        return {s: LEFT + span // 2 for s in sizes}
    return {s: LEFT + round((math.log2(s) - lo) / (hi - lo) * span) for s in sizes}


def axis_labels(cols: dict[int, int], width: int, keep: int | None = None) -> Text:
    """The sizes under their columns, as many as fit without overlapping (powers of two
    and ``keep`` first)."""
    line = [" "] * width
    taken = [False] * width

    def place(size: int) -> None:
        label = str(size)
        start = max(0, min(width - len(label), cols[size] - (len(label) - 1) // 2))
        span = range(max(0, start - 1), min(width, start + len(label) + 1))
        if any(taken[i] for i in span):
            return
        for i, ch in enumerate(label):
            line[start + i] = ch
        for i in range(start, start + len(label)):
            taken[i] = True

    order = sorted(cols, key=lambda s: (s != keep, s & (s - 1) != 0, s))
    for size in order:
        place(size)
    return Text("".join(line).rstrip(), style="dim")


def chart(
    points: Sequence[P],
    value: Callable[[P], float | None],
    *,
    width: int,
    height: int,
    title: str,
    fmt: Callable[[float], str],
    limit: float | None = None,
    limit_label: str = "budget",
    mark: int | None = None,
) -> Text:
    """Bars of ``value`` for each point; ``mark`` (a size) gets a ★ and bold style."""
    width = max(8, width)
    cols = columns([p.batch_size for p in points], width)
    values = {p.batch_size: value(p) for p in points}
    top = max([v for v in values.values() if v] + [limit or 0.0]) * 1.05 or 1.0
    out = Text(no_wrap=True, overflow="crop")
    out.append(title, style="bold")
    peak = max((v for v in values.values() if v), default=None)
    out.append(f"  (max {fmt(peak)})" if peak else "  (nothing measured yet)", style="dim")
    grid = [[" "] * width for _ in range(height)]
    styles: list[list[str]] = [[""] * width for _ in range(height)]
    if limit:
        row = height - 1 - min(height - 1, int(limit / top * height))
        label = f" {limit_label} {fmt(limit)} "
        for c in range(width):
            grid[row][c] = "┄"
            styles[row][c] = "red"
        for i, ch in enumerate(label[: max(0, width - 4)]):
            grid[row][2 + i] = ch
    for p in points:
        c, v = cols[p.batch_size], values[p.batch_size]
        style = "bold green" if p.batch_size == mark else ("red" if p.failed else "cyan")
        if not p.ok and not v:
            grid[height - 1][c], styles[height - 1][c] = "✗", "red"
            continue
        level = max(1, round(v / top * height * 8)) if v else 0
        for r in range(height):
            fill = min(8, max(0, level - (height - 1 - r) * 8))
            if fill:
                grid[r][c], styles[r][c] = BLOCKS[fill], style
        if p.batch_size == mark:
            r = max(0, height - 1 - level // 8 - 1)
            grid[r][c], styles[r][c] = "★", "bold green"
    for r in range(height):
        out.append("\n")
        for c in range(width):
            out.append(grid[r][c], styles[r][c] or None)
    out.append("\n")
    out.append_text(axis_labels(cols, width, mark))
    return out
