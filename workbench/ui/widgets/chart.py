"""A small bar chart over time, drawn with block characters, with an optional limit line.

Unlike ``Sparkline`` it can be several rows high and draw a labelled horizontal line (the
memory budget), so what a run is close to is visible without colour. It draws through the
line API (one strip per row, computed once per change), which keeps frequent updates cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.segment import Segment
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"


def resample(data: Sequence[float], width: int) -> list[float]:
    """``data`` in at most ``width`` columns, each the largest of the points it covers."""
    if len(data) <= width:
        return list(data)
    step = len(data) / width
    return [
        max(data[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)]) for i in range(width)
    ]


def chart_rows(
    values: Sequence[float], width: int, height: int, limit: float | None, label: str
) -> list[list[tuple[str, bool]]]:
    """Each row of the chart, top first, as runs of (text, is_limit_line)."""
    levels = [
        round(v / (max(max(values), limit or 0.0) * 1.05 or 1.0) * height * 8)
        for v in resample(values, width)
    ]
    levels += [0] * (width - len(levels))  # the chart fills in from the left
    top = max(max(values), limit or 0.0) * 1.05 or 1.0
    limit_row = -1
    if limit:
        limit_row = height - 1 - min(height - 1, int(limit / top * height))
    rows = []
    for row in range(height):
        floor = (height - 1 - row) * 8
        cells = [min(8, max(0, level - floor)) for level in levels]
        if row != limit_row:
            rows.append([("".join(BLOCKS[c] for c in cells), False)])
            continue
        runs: list[tuple[str, bool]] = []
        for col, c in enumerate(cells):
            if c < 8:  # the line shows where no bar covers it; its label sits on it
                ch = label[col - 1] if 1 <= col <= len(label) < width - 2 else "┄"
                runs.append((ch, True))
            else:
                runs.append((BLOCKS[c], False))
        merged: list[tuple[str, bool]] = []
        for text, is_limit in runs:
            if merged and merged[-1][1] == is_limit:
                merged[-1] = (merged[-1][0] + text, is_limit)
            else:
                merged.append((text, is_limit))
        rows.append(merged)
    return rows


class BarChart(Widget):
    """Values over time as columns of block characters, newest on the right."""

    DEFAULT_CSS = """
    BarChart { height: 3; }
    BarChart > .barchart--bar { color: $primary; }
    BarChart > .barchart--limit { color: $error; }
    BarChart > .barchart--empty { color: $text-muted; }
    """
    COMPONENT_CLASSES = {"barchart--bar", "barchart--limit", "barchart--empty"}

    data: reactive[tuple[float, ...]] = reactive(())
    """The values, oldest first."""
    limit: reactive[float | None] = reactive(None)
    """A value drawn as a dashed line across the chart (e.g. the memory budget), or None."""

    def __init__(
        self,
        *,
        empty: str = "no data yet",
        limit_label: str = "limit",
        fmt: Callable[[float], str] = str,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.empty = empty
        self.limit_label = limit_label
        self.fmt = fmt
        self._strips: list[Strip] = []
        self._key: object = None

    def _build(self) -> list[Strip]:
        width, height = self.size.width, max(1, self.size.height)
        key = (self.data, self.limit, width, height)
        if key == self._key:
            return self._strips
        base = self.rich_style
        if not self.data or width < 4:
            style = base + self.get_component_rich_style("barchart--empty")
            first = Strip([Segment(self.empty[:width], style)])
            strips = [first.adjust_cell_length(width, base)]
            strips += [Strip.blank(width, base)] * (height - 1)
        else:
            bar = base + self.get_component_rich_style("barchart--bar")
            lim = base + self.get_component_rich_style("barchart--limit")
            label = f" {self.limit_label} {self.fmt(self.limit or 0)} "
            strips = [
                Strip([Segment(text, lim if is_limit else bar) for text, is_limit in row], width)
                for row in chart_rows(self.data, width, height, self.limit, label)
            ]
        self._key, self._strips = key, strips
        return strips

    def render_line(self, y: int) -> Strip:
        strips = self._build()
        return strips[y] if 0 <= y < len(strips) else Strip.blank(self.size.width, self.rich_style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._key = None  # a theme or class change: styles must be fetched again
