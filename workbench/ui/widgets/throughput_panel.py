"""Items per second out of the last stage over the run, as a bar chart."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from workbench.ui.widgets.chart import BarChart
from workbench.units import format_rate


class ThroughputPanel(Vertical):
    """Throughput over time: one column per snapshot (merged when the run is long)."""

    def compose(self) -> ComposeResult:
        yield Static("", id="throughput-figures")
        yield BarChart(id="throughput-chart", empty="no sample yet")

    def on_mount(self) -> None:
        self.border_title = "items/s out of the last stage"

    def show(self, rates: tuple[float, ...]) -> None:
        """Show the series of items/s, oldest first."""
        label = self.query_one("#throughput-figures", Static)
        text = f"now {format_rate(rates[-1])} · max {format_rate(max(rates))}" if rates else ""
        label.update(text, layout=False)  # one line, fixed in CSS: a repaint only
        self.query_one("#throughput-chart", BarChart).data = rates
