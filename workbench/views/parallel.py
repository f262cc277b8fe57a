"""Headless view of the "parallel" section, and the bottleneck note for a parallel stage.

Registered in ``workbench.views.run.SECTION_VIEWS``. A parallel stage's self time in the stage
table is the main thread waiting for its results: the time the chain was held up by it,
not the compute its workers did (``busy`` here, which can exceed the run's wall time).
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from workbench.engine.session import RunState
from workbench.units import format_count, format_rate, format_seconds


def format_share(x: float | None) -> str:
    """A fraction (0.42) as a whole percentage (``42%``); ``–`` when unknown."""
    return "–" if x is None else f"{100 * x:.0f}%"


def format_speedup(x: float | None) -> str:
    """A speedup as ``1.83x`` (three significant digits); ``–`` when unknown."""
    return "–" if x is None else format_count(x, "x")


def format_rate_or_dash(x: float | None) -> str:
    """Items per second as ``units.format_rate`` writes them; ``–`` when unknown."""
    return "–" if x is None else format_rate(x)


def workers_label(s: dict[str, Any]) -> str:
    """A parallel stage's workers: their number, and ``(cluster)`` on Dask."""
    if s["backend"] == "dask":
        return f"{s['workers']} (cluster)"
    return str(s["workers"])


def parallel_view(data: dict[str, Any]) -> Table | None:
    """One row per parallel stage, its serial rate, wait and verdict under the table; None
    when the run has no parallel stage."""
    stages = (data or {}).get("stages") or []
    if not stages:
        return None
    where = data.get("backend") or "?"
    if data.get("scheduler"):
        where += f" at {data['scheduler']}"
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        expand=False,
        title=f"parallel stages ({where})",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("stage", no_wrap=True, overflow="ellipsis", max_width=24)
    for name in ("workers", "in flight", "items/s", "speedup", "efficiency", "busy"):
        table.add_column(name, justify="right", no_wrap=True)
    notes = []
    for s in stages:
        table.add_row(
            s["stage"],
            workers_label(s),
            f"{s['in_flight']}/{s['max_in_flight']}",
            format_rate_or_dash(s["items_per_s"]),
            format_speedup(s["speedup"]),
            format_share(s["efficiency"]),
            format_share(s["utilization"]),
        )
        startup = s.get("startup_s")
        notes.append(
            f"{s['stage']}: serial {format_rate_or_dash(s['serial_items_per_s'])} items/s over its first "
            f"{s['serial_batches']} batches; waited {format_seconds(s['wait_s'])}"
            + (f" ({format_seconds(startup)} for the first result)" if startup is not None else "")
            + f"; {s['verdict']}"
        )
    notes.append(
        "items/s and busy from the first parallel result on (start-up excluded); "
        "efficiency = speedup / workers; busy = worker time / (workers x time)"
    )
    table.caption = "\n".join(notes)
    return table


def bottleneck_note(state: RunState, index: int) -> str:
    """For the stage table's caption: what the bottleneck's self time means when it is a
    parallel stage, else ""."""
    snap = state.snapshot
    section = snap.sections.get("parallel") if snap is not None else None
    names = state.hello.stages if state.hello else ()
    for s in (section or {}).get("stages") or []:
        same = (
            s.get("index") == index
            if s.get("index") is not None
            else (index < len(names) and names[index] == s.get("stage"))
        )
        if same:
            startup = s.get("startup_s")
            return (
                f"; a parallel stage: its self time is the main thread waiting on "
                f"{s['workers']} {s['backend']} worker(s), busy "
                f"{format_share(s.get('utilization'))}"
                + (
                    f", {format_seconds(startup)} of it for the first result (worker start-up)"
                    if startup is not None
                    else ""
                )
            )
    return ""
