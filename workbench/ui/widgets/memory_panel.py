"""Memory of the run's process tree: private and file-backed memory now and at peak, the
private memory over time, and the budget line (figures from ``views.memory``'s names)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from workbench.engine.session import RunState
from workbench.ui.widgets.chart import BarChart
from workbench.units import format_bytes


class MemoryPanel(Vertical):
    """The run's processes' memory (not the Python heap), with the memory budget line."""

    def compose(self) -> ComposeResult:
        yield Static("no run yet", id="memory-figures")
        yield BarChart(
            id="memory-chart",
            empty="private memory over time: no sample",
            limit_label="budget",
            fmt=format_bytes,
        )
        yield Static(
            "private: anonymous + shared (cannot be reclaimed); file-backed: mapped files the "
            "kernel can drop",
            id="memory-note",
            classes="note",
        )

    def on_mount(self) -> None:
        self.border_title = "memory (run's processes)"

    def show(self, state: RunState, series: tuple[int, ...]) -> None:
        """Show ``state``'s latest memory reading and the private-memory series."""
        budget = state.options.get("memory_budget_bytes")
        on = state.options.get("budget_on") or "private"
        figures = self.query_one("#memory-figures", Static)
        chart = self.query_one("#memory-chart", BarChart)
        snap = state.snapshot
        mem = snap.memory if snap is not None else None
        budget_text = f"budget {format_bytes(budget)} ({on})" if budget else "no budget"
        if mem is None:
            text = f"no sample yet\n\n{budget_text}"
        else:
            procs = (
                len([p for p in mem.processes if p.alive])
                if not state.ended
                else len(mem.processes)
            )
            text = (
                f"private {format_bytes(mem.now.private)} peak {format_bytes(mem.peak.private)}\n"
                f"file-backed {format_bytes(mem.now.file)} · RSS {format_bytes(mem.now.rss)} "
                f"peak {format_bytes(mem.peak.rss)}\n"
                f"{budget_text} · {procs} process{'' if procs == 1 else 'es'}"
            )
        # Its height is fixed in CSS: a repaint, not a new layout of the screen.
        figures.update(text, layout=False)
        chart.limit = float(budget) if budget and on == "private" else None
        chart.data = tuple(float(x) for x in series)
