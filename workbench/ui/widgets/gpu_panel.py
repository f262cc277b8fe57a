"""The run's GPU memory: now and peak (NVML and torch.cuda), over time, or why there is none.

Fed with the "gpu" section of each snapshot (``update_section``); keeps its own history, one
point per GPU sample, so the sparkline shows the run's GPU memory over time.
"""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from workbench.engine.sections.gpu import GpuSection
from workbench.ui.widgets.shown import show
from workbench.units import format_bytes
from workbench.views.resources import gpu_state_details
from workbench.views.text import user_text

#: GPU samples kept for the sparkline (at one sample every 0.5 s: two minutes).
HISTORY = 240


def figures_text(data: GpuSection | None) -> str:
    """The panel's figures: the state when no GPU is in use, else now and peak."""
    if data is None:
        return "no run yet"
    if data.state:
        return f"{data.state}\n" + " · ".join(gpu_state_details(data))
    b = format_bytes
    lines = []
    if data.allocated_bytes is not None:
        lines.append(f"torch alloc {b(data.allocated_bytes)} peak {b(data.peak_allocated_bytes)}")
        lines.append(f"reserved {b(data.reserved_bytes)} peak {b(data.peak_reserved_bytes)}")
    lines.append(f"process {b(data.process_bytes)} peak {b(data.peak_process_bytes)} (NVML)")
    used = [d for d in data.used_devices() if d.total_bytes is not None]
    for d in used[:2]:
        util = f" · {d.util_pct}%" if d.util_pct is not None else ""
        lines.append(f"cuda:{d.index} {b(d.used_bytes)} of {b(d.total_bytes)}{util}")
    return "\n".join(lines)


def series_value(data: GpuSection) -> float | None:
    """The point plotted for one sample: torch's allocated bytes, else NVML's process bytes."""
    value = data.allocated_bytes
    if value is None:
        value = data.process_bytes
    return None if value is None else float(value)


class GpuPanel(Vertical):
    """GPU memory of the runner process, now and at peak, with a sparkline over time."""

    DEFAULT_CSS = """
    GpuPanel { height: auto; border-top: solid $primary-muted; padding: 0 1; }
    GpuPanel > #gpu-figures { height: auto; }
    GpuPanel > Sparkline { height: 2; }
    GpuPanel > Sparkline.-empty { display: none; }
    GpuPanel > .note { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.history: deque[float] = deque(maxlen=HISTORY)
        self._last_sample: int | None = None
        self.data: GpuSection | None = None

    def compose(self) -> ComposeResult:
        yield Static("no run yet", id="gpu-figures")
        yield Sparkline([], summary_function=max, id="gpu-spark", classes="-empty")
        yield Static("", id="gpu-note", classes="note")

    def on_mount(self) -> None:
        self.border_title = "GPU memory"

    def reset(self) -> None:
        """A new run: forget the last one's history."""
        self.history.clear()
        self._last_sample = None
        self.update_section(None)

    def update_section(self, data: GpuSection | None, why: str | None = None) -> None:
        """Show the latest "gpu" section (None: no run, or a run that sent none; ``why``:
        the reason it could not be read)."""
        self.data = data
        figures = self.query_one("#gpu-figures", Static)
        if data is None and why:
            show(figures, user_text(f"GPU figures not shown: {why}", "yellow"))
        else:
            show(figures, figures_text(data))
        if data is not None and data.samples != self._last_sample:
            self._last_sample = data.samples
            value = series_value(data)
            if value is not None and not data.state:
                self.history.append(value)
        spark = self.query_one(Sparkline)
        spark.data = list(self.history)
        spark.set_class(len(self.history) < 2, "-empty")
        note = ""
        if data is not None and not data.state:
            what = (
                "torch.cuda allocated"
                if data.allocated_bytes is not None
                else "NVML process memory"
            )
            note = f"over time: {what}"
            if data.peak_bytes is not None:
                note += f" · peak {format_bytes(data.peak_bytes)}"
        show(self.query_one("#gpu-note", Static), note)
