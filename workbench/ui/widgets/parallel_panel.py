"""The run's parallel stages: workers, tasks in flight, items/s, efficiency, the verdict, and
per worker its tasks, busy share and (Dask) memory.

Fed with the "parallel" section of each snapshot (``update_section``). Short lines per stage
rather than the headless tables (``views.parallel.parallel_view``), so it reads in a tab 56
columns wide (80x24); the figures are formatted by the same helpers, and every user string
(stage names, worker addresses, errors) goes through ``views.text.user_text``.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from workbench.engine.sections.parallel import ParallelSection, ParallelStage
from workbench.units import format_bytes, format_seconds
from workbench.views.parallel import (
    format_rate_or_dash,
    format_share,
    format_speedup,
    where_text,
    workers_label,
)
from workbench.views.text import user_text

#: Workers listed per stage in the panel.
WORKERS_SHOWN = 6


def _worker_lines(text: Text, s: ParallelStage) -> None:
    rows = s.per_worker
    wall = s.stage_s or 0.0  # since its first value
    for w in rows[:WORKERS_SHOWN]:
        text.append("\n  ")
        text.append_text(user_text(w.worker, "dim"))
        text.append(f" {w.tasks} tasks")
        if wall > 0:
            text.append(f" · busy {format_share(min(1.0, w.busy_s / wall))}")
        if w.memory_bytes is not None:
            text.append(f" · {format_bytes(w.memory_bytes)}")
    more = len(rows) - min(len(rows), WORKERS_SHOWN) + s.workers_not_listed
    if more:
        text.append(f"\n  … {more} more workers", style="dim")


def parallel_text(data: ParallelSection | None) -> Text:
    """Each parallel stage in a few short lines; a one-line note when there is none."""
    if data is None or not data.stages:
        return Text("no parallel stage in this run", style="dim")
    text = Text("backend ", style="dim")
    text.append_text(where_text(data))
    for s in data.stages:
        text.append("\n")
        text.append_text(user_text(s.stage, "bold"))
        text.append(f" · {workers_label(s)} workers · {s.in_flight}/{s.max_in_flight} in flight")
        # Two figures a line: each keeps its unit on its line at 80 columns.
        text.append(
            f"\n  {format_rate_or_dash(s.items_per_s)} items/s"
            f" · speedup {format_speedup(s.speedup)}"
            f"\n  efficiency {format_share(s.efficiency)}"
            f" · busy {format_share(s.utilization)}"
        )
        t = s.transfer
        if t is not None and t.received_results:
            text.append(
                f"\n  moving data: {format_bytes(t.bytes_per_task)} and "
                f"{format_seconds(t.main_thread_s_per_task)} of main thread a task"
            )
            if t.task_overhead_s is not None:
                text.append(f", round trip +{format_seconds(t.task_overhead_s)}")
        if s.verdict:
            text.append("\n  → ", style="italic")
            text.append_text(user_text(s.verdict, "italic"))
        _worker_lines(text, s)
    if data.problem:
        text.append("\n! ", style="bold")
        text.append_text(user_text(data.problem, "bold"))
    return text


def has_stages(data: ParallelSection | None) -> bool:
    """Whether the section lists any parallel stage (the panel is shown only then)."""
    return data is not None and bool(data.stages)


class ParallelPanel(Static):
    """Per parallel stage: workers, in flight, items/s, efficiency, verdict, workers."""

    DEFAULT_CSS = "ParallelPanel { height: auto; padding: 0 1; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(parallel_text(None), id=id, classes=classes)
        self.data: ParallelSection | None = None

    def update_section(self, data: ParallelSection | None) -> None:
        """Show the latest "parallel" section (None: no run yet)."""
        if data == self.data:
            return
        self.data = data
        self.update(parallel_text(data))
