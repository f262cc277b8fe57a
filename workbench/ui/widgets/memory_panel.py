"""Process memory of the runner child: RSS and USS now and at peak, RSS over time, budget."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from workbench.engine.session import RunState
from workbench.ui.widgets.chart import BarChart
from workbench.units import format_bytes


class MemoryPanel(Vertical):
    """RSS/USS of the runner process (not the Python heap), with the memory budget line."""

    def compose(self) -> ComposeResult:
        yield Static("no run yet", id="memory-figures")
        yield BarChart(
            id="memory-chart",
            empty="RSS over time: no sample",
            limit_label="budget",
            fmt=format_bytes,
        )
        yield Static("whole-process memory, not Python heap", id="memory-note", classes="note")

    def on_mount(self) -> None:
        self.border_title = "memory (runner process)"

    def show(self, state: RunState, rss: tuple[int, ...]) -> None:
        """Show ``state``'s latest memory sample and the RSS series."""
        budget = state.options.get("memory_budget_bytes")
        figures = self.query_one("#memory-figures", Static)
        chart = self.query_one("#memory-chart", BarChart)
        snap = state.snapshot
        budget_text = f"budget {format_bytes(budget)}" if budget else "budget none"
        if snap is None:
            text = f"no sample yet\n\n{budget_text}"
        else:
            m = snap.memory
            text = (
                f"RSS {format_bytes(m.rss)} peak {format_bytes(m.rss_peak)}\n"
                f"USS {format_bytes(m.uss)} peak {format_bytes(m.uss_peak)}\n"
                f"{budget_text} · start {format_bytes(m.rss_start)}"
            )
        # Its height is fixed in CSS: a repaint, not a new layout of the screen.
        figures.update(text, layout=False)
        chart.limit = float(budget) if budget else None
        chart.data = tuple(float(x) for x in rss)
