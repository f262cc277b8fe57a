"""Memory of the run's process tree: private, RSS and file-backed memory now and at peak,
the private memory over time, and the budget line (figures from ``views.memory``'s names).

The figures are a small table (what, now, peak) that fits a column 31 characters wide, so
every figure keeps its unit at 80 columns."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from workbench.engine.sections.memory import MemorySection
from workbench.engine.session import RunState
from workbench.ui.widgets.chart import BarChart
from workbench.ui.widgets.shown import show
from workbench.units import format_bytes

#: Width of the label column of the figures.
LABEL = 11


def figures_text(mem: MemorySection | None, budget_text: str, processes: int) -> str:
    """The panel's figures: how many processes and a line per measure (now, peak), then the
    budget; "no sample yet" before the first reading."""
    if mem is None:
        return f"no sample yet\n\n\n\n{budget_text}"

    def row(label: str, now: int | None, peak: int | None) -> str:
        return f"{label:<{LABEL}}{format_bytes(now):>9} {format_bytes(peak):>9}"

    count = f"{processes} process{'' if processes == 1 else 'es'}"
    lines = [
        f"{count:<{LABEL}}{'now':>9} {'peak':>9}",
        row("private", mem.now.private, mem.peak.private),
        row("RSS", mem.now.rss, mem.peak.rss),
        row("file-backed", mem.now.file, mem.peak.file),
        budget_text,
    ]
    return "\n".join(lines)


class MemoryPanel(Vertical):
    """The run's processes' memory (not the Python heap), with the memory budget line."""

    def compose(self) -> ComposeResult:
        yield Static("no run shown", id="memory-figures")
        yield BarChart(
            id="memory-chart",
            empty="private memory: no sample",
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
        snap = state.snapshot
        mem = snap.memory if snap is not None else None
        budget_text = (
            f"budget {format_bytes(budget)} ({on})" if budget else "no budget (p sets one)"
        )
        procs = 0
        if mem is not None:
            procs = (
                len([p for p in mem.processes if p.alive])
                if not state.ended
                else len(mem.processes)
            )
        # Its height is fixed in CSS: a repaint, not a new layout of the screen.
        show(
            self.query_one("#memory-figures", Static),
            figures_text(mem, budget_text, procs),
            layout=False,
        )
        chart = self.query_one("#memory-chart", BarChart)
        chart.limit = float(budget) if budget and on == "private" else None
        chart.data = tuple(float(x) for x in series)

    def clear(self) -> None:
        """No run shown."""
        show(self.query_one("#memory-figures", Static), "no run shown", layout=False)
        chart = self.query_one("#memory-chart", BarChart)
        chart.limit = None
        chart.data = ()
