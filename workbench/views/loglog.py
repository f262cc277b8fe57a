"""A text log-log plot of time against size, one symbol per implementation (kernels).

The size axis is ``render_curve``'s log axis (its columns and labels); time is on a log
axis too, one row per step, with the decades labelled. Each implementation has its own
symbol, joined to its next point by dots and named in the legend, so it reads without
colour; a point that falls on another moves up to two columns aside, and where there is
no room left, ``*`` marks the crowd.
"""

from __future__ import annotations

import math

from rich.text import Text

from workbench.units import format_seconds
from workbench.views.curve import axis_labels, columns

MARKERS = "●■▲◆✚○□△◇✕"
STYLES = ("cyan", "magenta", "green", "yellow", "blue", "red")
LABEL_W = 7  # the time labels on the left


def loglog(
    series: dict[str, list[tuple[int, float]]],
    *,
    width: int,
    height: int,
    title: str = "median time per call against size (log-log)",
) -> Text:
    """The plot of ``series`` (``kernels_session.kernel_series``), ``width`` columns wide
    and ``height`` rows for the points, plus a title, the axis and the legend."""
    points = {impl: sorted(p for p in pts if p[1] > 0) for impl, pts in series.items()}
    points = {impl: pts for impl, pts in points.items() if pts}
    out = Text(no_wrap=True, overflow="crop")
    out.append(title, style="bold")
    if not points:
        out.append("\nno timing yet", style="dim")
        return out
    height = max(3, height)
    plot_w = max(8, width - LABEL_W - 1)
    cols = columns(sorted({s for pts in points.values() for s, _ in pts}), plot_w)
    logs = [math.log10(t) for pts in points.values() for _, t in pts]
    lo, hi = min(logs), max(logs)
    if hi - lo < 0.3:  # all alike: open the axis a little around them
        lo, hi = lo - 0.5, hi + 0.5

    def row_of(t: float) -> int:
        return round((hi - math.log10(t)) / (hi - lo) * (height - 1))

    grid = [[" "] * plot_w for _ in range(height)]
    styles = [[""] * plot_w for _ in range(height)]
    for k, pts in enumerate(points.values()):
        mark, style = MARKERS[k % len(MARKERS)], STYLES[k % len(STYLES)]
        prev: tuple[int, int] | None = None
        for size, t in pts:
            c, r = cols[size], row_of(t)
            if prev is not None and c - prev[0] > 1:
                pc, pr = prev
                for x in range(pc + 1, c):
                    y = round(pr + (r - pr) * (x - pc) / (c - pc))
                    if grid[y][x] == " ":
                        grid[y][x], styles[y][x] = "·", style
            free = [
                x
                for x in (c, c + 1, c - 1, c + 2, c - 2)
                if 0 <= x < plot_w and grid[r][x] in (" ", "·")
            ]
            if free:  # a point close to another one moves a column aside
                grid[r][free[0]], styles[r][free[0]] = mark, style
            else:
                grid[r][c], styles[r][c] = "*", "bold"
            prev = (c, r)
    labels: dict[int, str] = {0: format_seconds(10**hi), height - 1: format_seconds(10**lo)}
    for decade in range(math.ceil(lo), math.floor(hi) + 1):
        labels.setdefault(row_of(10.0**decade), format_seconds(10.0**decade))
    for r in range(height):
        out.append("\n")
        out.append(labels.get(r, "").rjust(LABEL_W)[:LABEL_W] + "┤", style="dim")
        for c in range(plot_w):
            out.append(grid[r][c], styles[r][c] or None)
    out.append("\n" + " " * LABEL_W + "└" + "─" * plot_w, style="dim")
    out.append("\n" + " " * (LABEL_W + 1))
    out.append_text(axis_labels(cols, plot_w))
    out.append("\n")
    used = 0
    for k, impl in enumerate(points):
        entry = f"{MARKERS[k % len(MARKERS)]} {impl}"
        if used and used + 2 + len(entry) > width:  # the legend wraps, it is not cut
            out.append("\n")
            used = 0
        elif used:
            out.append("  ")
            used += 2
        out.append(entry, style=STYLES[k % len(STYLES)])
        used += len(entry)
    return out
