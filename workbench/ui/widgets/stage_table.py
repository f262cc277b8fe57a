"""The stage table: one row per stage from ``session.stage_rows``, the bottleneck marked.

It is drawn as one Rich table sized to the widget, so at 80 columns every figure still
fits; the bottleneck is marked with ◀ and named under the table, readable without colour.
"""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from workbench.engine.session import RunState, stage_rows
from workbench.engine.units import format_rate, format_seconds

#: Below this width the table is compact: no self time in seconds (self % stays), no rule.
WIDE = 70


class StageTable(Widget):
    """Items, batches, items/s, self time and mean time per batch of each stage."""

    DEFAULT_CSS = """
    StageTable { height: auto; }
    StageTable > .stage-table--bottleneck { text-style: bold; color: $warning; }
    StageTable > .stage-table--failed { color: $error; }
    StageTable > .stage-table--caption { color: $text-muted; }
    """
    COMPONENT_CLASSES = {
        "stage-table--bottleneck", "stage-table--failed", "stage-table--caption",
    }

    state: reactive[RunState | None] = reactive(None, layout=True)
    """The run shown; None before the first run."""

    def render(self) -> RenderableType:
        state = self.state
        if state is None:
            return Text("No run yet: pick a pipeline on the left and press Enter or r.",
                        style=self.get_component_rich_style("stage-table--caption"))
        rows = stage_rows(state)
        if not rows:
            note = "waiting for the runner to load the pipeline…"
            if state.ended:
                note = "the pipeline never started: see the log below"
            return Text(note, style=self.get_component_rich_style("stage-table--caption"))
        wide = self.size.width >= WIDE
        # Narrow: no rule under the header (one more line for the stages).
        table = Table(box=box.SIMPLE_HEAD if wide else None, padding=(0, 0, 0, 1),
                      pad_edge=False, expand=False, show_edge=False, header_style="bold")
        table.add_column("stage", no_wrap=True, overflow="ellipsis", ratio=None)
        for name in ("items", "batches", "items/s", *(("self s",) if wide else ()),
                     "self %" if wide else "self%", "per batch"):
            table.add_column(name, justify="right", no_wrap=True)
        top_style = self.get_component_rich_style("stage-table--bottleneck")
        failed_style = self.get_component_rich_style("stage-table--failed")
        for r in rows:
            mark = " ◀" if r.bottleneck else (" ✗" if r.failed else "")
            cells = [r.name + mark, f"{r.items:,}", f"{r.batches:,}", format_rate(r.items_per_s)]
            if wide:
                cells.append(f"{r.self_s:.3f}")
            cells += [f"{r.self_pct:.1f}", format_seconds(r.mean_batch_s)]
            style = top_style if r.bottleneck else (failed_style if r.failed else None)
            table.add_row(*cells, style=style)
        top = next((r for r in rows if r.bottleneck), None)
        caption_style = self.get_component_rich_style("stage-table--caption")
        if top is None:
            return Group(table, Text("no self time measured yet", style=caption_style))
        caption = Text(f"◀ bottleneck: {top.name}, {top.self_pct:.1f}% of the run in its "
                       "own code (largest self time)" if wide else
                       f"◀ bottleneck: {top.name} ({top.self_pct:.1f}% self time)",
                       style=caption_style)
        failed = next((r for r in rows if r.failed), None)
        if failed is not None:
            caption.append(f"\n✗ failed in: {failed.name}", style=failed_style)
        return Group(table, caption)
