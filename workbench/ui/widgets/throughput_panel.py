"""Items per second out of the last stage, live over a stated window, as a bar chart."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from workbench.engine.session import RunState, throughput, window_of
from workbench.ui.widgets.chart import BarChart
from workbench.ui.widgets.shown import show
from workbench.units import format_rate, format_seconds


def rate_lines(state: RunState) -> list[str]:
    """The figures over the chart, a short line each: while the run goes, the rate over its
    window (which is said) and the largest windowed rate; once it has ended, its average
    only."""
    if state.cancelled:
        return ["no batch came out:", "cancelled before the first"]
    if state.ended:
        return [f"average {format_rate(throughput(state))} items/s", "over the whole run"]
    window = window_of(state)
    if state.rate is None or window is None:
        return ["now: measuring", "over ≥ 1 s, ≥ 5 batches"]
    span, batches = window
    return [
        f"now {format_rate(state.rate)} items/s",
        f"over {format_seconds(span)}/{batches} batches",
        f"max {format_rate(state.rate_max)} items/s",
    ]


class ThroughputPanel(Vertical):
    """Throughput over time: one column per update (merged when the run is long)."""

    def compose(self) -> ComposeResult:
        yield Static("no run shown", id="throughput-figures")
        yield BarChart(id="throughput-chart", empty="no sample yet")

    def on_mount(self) -> None:
        self.border_title = "items/s out of the last stage"

    def show(self, state: RunState, rates: tuple[float, ...]) -> None:
        """Show the figures of ``state`` and the series of windowed items/s, oldest first."""
        label = self.query_one("#throughput-figures", Static)
        # The figures' height is fixed in CSS (three lines): a repaint, not a new layout.
        show(label, "\n".join(rate_lines(state)), layout=False)
        self.query_one("#throughput-chart", BarChart).data = rates

    def clear(self) -> None:
        """No run shown."""
        show(self.query_one("#throughput-figures", Static), "no run shown", layout=False)
        self.query_one("#throughput-chart", BarChart).data = ()
