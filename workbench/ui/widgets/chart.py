"""A small bar chart over time, drawn with block characters, with an optional limit line.

Unlike ``Sparkline`` it can be several rows high and draw a labelled horizontal line (the
memory budget), so what a run is close to is visible without colour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"


def resample(data: Sequence[float], width: int) -> list[float]:
    """``data`` in at most ``width`` columns, each the largest of the points it covers."""
    if len(data) <= width:
        return list(data)
    step = len(data) / width
    return [max(data[int(i * step):max(int((i + 1) * step), int(i * step) + 1)])
            for i in range(width)]


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

    def __init__(self, *, empty: str = "no data yet", limit_label: str = "limit",
                 fmt: Callable[[float], str] = str, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.empty = empty
        self.limit_label = limit_label
        self.fmt = fmt

    def render(self) -> RenderableType:
        width, height = self.size.width, max(1, self.size.height)
        if not self.data or width < 4:
            return Text(self.empty, style=self.get_component_rich_style("barchart--empty"))
        values = resample(self.data, width)
        top = max(max(values), self.limit or 0.0) * 1.05 or 1.0
        levels = [round(v / top * height * 8) for v in values]
        levels += [0] * (width - len(levels))  # the chart fills in from the left
        limit_row = -1
        if self.limit:
            limit_row = height - 1 - min(height - 1, int(self.limit / top * height))
        bar = self.get_component_rich_style("barchart--bar")
        lim = self.get_component_rich_style("barchart--limit")
        rows = []
        for row in range(height):
            floor = (height - 1 - row) * 8
            line = Text(no_wrap=True, overflow="crop")
            label = f" {self.limit_label} {self.fmt(self.limit or 0)} "
            for col, level in enumerate(levels):
                fill = min(8, max(0, level - floor))
                if row == limit_row and fill < 8:
                    # The label sits on the line, so the line reads without colour.
                    ch = label[col - 1] if 1 <= col <= len(label) < width - 2 else "┄"
                    line.append(ch, lim)
                else:
                    line.append(BLOCKS[fill], bar)
            rows.append(line)
        return Text("\n", no_wrap=True).join(rows)
