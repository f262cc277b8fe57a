"""The stage table: one row per stage from ``session.stage_rows``, the bottleneck marked.

Drawn as plain aligned columns sized to their content (cheap to redraw several times a
second, and at 80 columns every figure still fits); the bottleneck is marked with ◀ and
named under the table, so it reads without colour. With the focus, ↑/↓ select a stage (▸
in the gutter) and ``l`` asks for a line profile of it (``ProfileRequested``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from workbench.engine.session import RunState, StageRow, stage_rows
from workbench.units import format_rate, format_seconds
from workbench.views.text import user_text

#: Below this width the table is compact: no self time in seconds (self % stays).
WIDE = 70


#: The most columns of a stage name in the table (cut with …: the figures keep their line).
NAME_COLS = 28


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table_lines(rows: list[StageRow], wide: bool, width: int | None = None) -> list[str]:
    """The header and one line per stage, columns aligned (names left, numbers right);
    within ``width`` characters, the batches column, then the items column, are left out
    (the rates, self time and time per batch stay whole: a wrapped figure is misread)."""
    lines: list[str] = []
    for drop in ((), ("batches",), ("batches", "items")):
        lines = _lines(rows, wide, drop)
        if width is None or max(len(line) for line in lines) <= width:
            break
    return lines


def _lines(rows: list[StageRow], wide: bool, drop: tuple[str, ...]) -> list[str]:
    names = ["stage", "items", "batches", "items/s", *(["self"] if wide else [])]
    names += ["self %" if wide else "self%", "per batch"]
    body = []
    for r in rows:
        mark = " ◀" if r.bottleneck else (" ✗" if r.failed else "")
        cells = [
            _cut(user_text(r.name, limit=None).plain, NAME_COLS) + mark,
            f"{r.items:,}",
            f"{r.batches:,}",
            format_rate(r.items_per_s),
        ]
        if wide:
            cells.append(format_seconds(r.self_s))
        cells += [f"{r.self_pct:.1f}", format_seconds(r.mean_batch_s)]
        body.append(cells)
    keep = [i for i, name in enumerate(names) if name not in drop]
    table = [[line[i] for i in keep] for line in [names, *body]]
    widths = [max(len(line[i]) for line in table) for i in range(len(keep))]
    gap = "  " if wide else " "

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return gap.join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    return [fmt(line) for line in table]


class StageTable(Widget, can_focus=True):
    """Items, batches, items/s, self time and mean time per batch of each stage."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Previous stage", show=False),
        Binding("down", "move(1)", "Next stage", show=False),
        Binding("l", "line_profile", "Line profile"),
    ]

    DEFAULT_CSS = """
    StageTable { height: auto; }
    StageTable > .stage-table--header { text-style: bold; }
    StageTable > .stage-table--bottleneck { text-style: bold; color: $warning; }
    StageTable > .stage-table--failed { color: $error; }
    StageTable > .stage-table--caption { color: $text-muted; }
    StageTable > .stage-table--cursor { text-style: reverse; }
    """
    COMPONENT_CLASSES = {
        "stage-table--header",
        "stage-table--bottleneck",
        "stage-table--failed",
        "stage-table--caption",
        "stage-table--cursor",
    }

    state: reactive[RunState | None] = reactive(None, repaint=False)
    """The run shown; None before the first run."""
    cursor: reactive[int] = reactive(0)
    """The selected stage's row (shown with the focus; ``l`` profiles it)."""
    idle_note: reactive[str] = reactive(
        "No run yet: pick a pipeline on the left and press Enter or r.", layout=True
    )
    """What the table says while no run is shown."""

    @dataclass
    class ProfileRequested(Message):
        """``l`` on a stage: profile it line by line."""

        stage: str

    _shape: tuple[object, ...] = ()

    def watch_state(self, state: RunState | None) -> None:
        # A new layout of the screen only when the table's height can change (rows, caption):
        # most updates change numbers only, and a repaint is far cheaper.
        rows = stage_rows(state) if state is not None else []
        shape = (
            state is None,
            len(rows),
            any(r.bottleneck for r in rows),
            any(r.failed for r in rows),
            state.ended if state else None,
        )
        self.refresh(layout=shape != self._shape)
        self._shape = shape

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"stage-table--{name}")

    @property
    def selected_stage(self) -> str | None:
        """The name of the selected stage; None before a run has stages."""
        rows = stage_rows(self.state) if self.state is not None else []
        return rows[min(self.cursor, len(rows) - 1)].name if rows else None

    def action_move(self, by: int) -> None:
        count = len(stage_rows(self.state)) if self.state is not None else 0
        if count:
            self.cursor = max(0, min(count - 1, self.cursor + by))

    def action_line_profile(self) -> None:
        stage = self.selected_stage
        if stage is None:
            self.notify("no stage to profile yet: run the pipeline first", severity="warning")
            return
        self.post_message(self.ProfileRequested(stage))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def render(self) -> RenderableType:
        state = self.state
        caption_style = self._style("caption")
        if state is None:
            return Text(f" {self.idle_note}", style=caption_style)
        rows = stage_rows(state)
        if not rows:
            note = "waiting for the runner to load the pipeline…"
            if state.progress is not None:
                note = "the pipeline prepares its data before its first batch (above)"
            if state.cancelled:
                note = "cancelled before the pipeline started: no stage ran"
            elif state.ended:
                note = "the pipeline never started: see the log below"
            return Text(f" {note}", style=caption_style)
        wide = self.size.width >= WIDE
        lines = table_lines(rows, wide, self.content_size.width - 1)  # 1: the cursor mark
        cursor = min(self.cursor, len(rows) - 1) if self.has_focus else -1
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {lines[0]}", self._style("header"))
        for i, (r, line) in enumerate(zip(rows, lines[1:], strict=True)):
            style = (
                self._style("bottleneck")
                if r.bottleneck
                else self._style("failed")
                if r.failed
                else Style()
            )
            text.append("\n▸" if i == cursor else "\n ", style)
            text.append(line, style + self._style("cursor") if i == cursor else style)
        top = next((r for r in rows if r.bottleneck), None)
        if top is None:
            text.append("\n no self time measured yet", caption_style)
        elif wide:
            text.append("\n ◀ bottleneck: ", caption_style)
            text.append_text(user_text(top.name, caption_style))
            text.append(
                f", {top.self_pct:.1f}% of the run in its own code (largest self time)",
                caption_style,
            )
        else:
            text.append("\n ◀ bottleneck: ", caption_style)
            text.append_text(user_text(top.name, caption_style))
            text.append(f" ({top.self_pct:.1f}% self time)", caption_style)
        failed = next((r for r in rows if r.failed), None)
        if failed is not None:
            text.append("\n ✗ failed in: ", self._style("failed"))
            text.append_text(user_text(failed.name, self._style("failed")))
        return text
