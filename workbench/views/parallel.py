"""Headless view of the "parallel" section, and the bottleneck note for a parallel stage.

Registered in ``workbench.views.run.SECTION_VIEWS``. A parallel stage's self time in the stage
table is the main thread waiting for its results: the time the chain was held up by it,
not the compute its workers did (``busy`` here, which can exceed the run's wall time).
Stage names, worker addresses, errors and verdicts (which quote errors) are user text: they
are built as ``Text`` through ``views.text.user_text``, never as markup.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from workbench.engine.sections.parallel import ParallelSection, ParallelStage
from workbench.engine.session import RunState
from workbench.units import format_bytes, format_count, format_rate, format_seconds
from workbench.views.text import user_text

#: Workers listed per stage in the headless view (the JSON report has up to 64).
WORKERS_SHOWN = 8


def format_share(x: float | None) -> str:
    """A fraction (0.42) as a whole percentage (``42%``); ``–`` when unknown."""
    return "–" if x is None else f"{100 * x:.0f}%"


def format_speedup(x: float | None) -> str:
    """A speedup as ``1.83x`` (three significant digits); ``–`` when unknown."""
    return "–" if x is None else format_count(x, "x")


def format_rate_or_dash(x: float | None) -> str:
    """Items per second as ``units.format_rate`` writes them; ``–`` when unknown."""
    return "–" if x is None else format_rate(x)


def _bytes(n: float | None) -> str:
    return "–" if n is None else format_bytes(n)


def workers_label(s: ParallelStage) -> str:
    """A parallel stage's workers: their number, and ``(cluster)`` on Dask."""
    if s.backend == "dask":
        return f"{s.workers} (cluster)"
    return str(s.workers)


def where_text(data: ParallelSection) -> Text:
    """Which backend ran the stages: for Dask, which cluster (local or attached), its
    scheduler, how it is secured and its dashboard."""
    text = Text(str(data.backend or "?"))
    cluster = data.cluster
    if cluster is not None:
        kind = "local cluster" if cluster.kind == "local" else "attached cluster"
        text.append(f", {kind} at ")
        text.append_text(user_text(cluster.scheduler or "?"))
        if cluster.kind == "local":
            text.append(f"; security: {cluster.security or 'none'}")
            text.append("; dashboard: ")
            text.append_text(user_text(cluster.dashboard or "off"))
    elif data.scheduler:
        text.append(" at ")
        text.append_text(user_text(data.scheduler))
    return text


def transfer_text(s: ParallelStage) -> Text | None:
    """What moving values and results cost a Dask stage, in one line (None elsewhere)."""
    t = s.transfer
    if t is None or not t.sent_values:
        return None
    text = Text("  moving data: ")
    text.append(
        f"{t.sent_values} values, {_bytes(t.sent_bytes)} (function included), "
        f"pickled in {format_seconds(t.sent_pickle_s)} by the main thread; "
        f"{t.received_results} results, {_bytes(t.received_bytes)}, unpickled in "
        f"{format_seconds(t.received_unpickle_s)}; handing tasks to Dask "
        f"{format_seconds(t.submit_s)}"
    )
    if t.task_overhead_s is not None:
        text.append(
            f"; round trip beyond the compute {format_seconds(t.task_overhead_s)} a task "
            "(measured on the serial values)"
        )
    return text


def workers_table(s: ParallelStage, limit: int | None = WORKERS_SHOWN) -> Table | None:
    """Per worker of a stage: tasks, busy time (and its share of the stage's parallel
    time), and for Dask the memory the scheduler reports."""
    rows = s.per_worker
    if not rows:
        return None
    dask = s.backend == "dask"
    table = Table(box=None, pad_edge=False, expand=False, show_header=True, padding=(0, 1))
    table.add_column("  worker", no_wrap=True, overflow="ellipsis", max_width=32)
    table.add_column("tasks", justify="right")
    table.add_column("busy", justify="right")
    table.add_column("busy %", justify="right")
    if dask:
        table.add_column("memory", justify="right")
        table.add_column("peak", justify="right")
        table.add_column("limit", justify="right")
    wall = s.stage_s or 0.0  # since its first value
    shown = rows if limit is None else rows[:limit]
    for w in shown:
        cells: list[Any] = [
            Text("  ") + user_text(w.worker),
            str(w.tasks),
            format_seconds(w.busy_s),
            format_share(min(1.0, w.busy_s / wall)) if wall > 0 else "–",
        ]
        if dask:
            cells += [
                _bytes(w.memory_bytes),
                _bytes(w.memory_peak_bytes),
                _bytes(w.memory_limit_bytes),
            ]
        table.add_row(*cells)
    more = len(rows) - len(shown) + s.workers_not_listed
    if more:
        table.add_row(Text(f"  … {more} more workers (in the JSON report)", style="dim"))
    return table


def parallel_view(data: ParallelSection | None) -> Group | None:
    """One row per parallel stage, then per stage its workers, what moving data costs and
    its verdict; None when the run has no parallel stage."""
    if data is None or not data.stages:
        return None
    stages = data.stages
    title = Text("parallel stages (")
    title.append_text(where_text(data))
    title.append(")")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    table.add_column("stage", no_wrap=True, overflow="ellipsis", max_width=24)
    for name in ("workers", "in flight", "items/s", "speedup", "efficiency", "busy"):
        table.add_column(name, justify="right", no_wrap=True)
    parts: list[Any] = [title, table]
    for s in stages:
        table.add_row(
            user_text(s.stage),
            workers_label(s),
            f"{s.in_flight}/{s.max_in_flight}",
            format_rate_or_dash(s.items_per_s),
            format_speedup(s.speedup),
            format_share(s.efficiency),
            format_share(s.utilization),
        )
    for s in stages:
        note = user_text(s.stage, "bold")
        startup = s.startup_s
        serial = (
            f": serial {format_rate_or_dash(s.serial_items_per_s)} items/s over its first "
            f"{s.serial_batches} batches ({s.serial_where or 'main thread'}); "
            if s.serial_batches
            else ": no serial measure (it ended before its first batches); "
        )
        note.append(
            f"{serial}waited {format_seconds(s.wait_s)}"
            + (f" ({format_seconds(startup)} for the first result)" if startup is not None else "")
        )
        if s.open_s and s.open_s >= 0.05:
            note.append(f"; {format_seconds(s.open_s)} to start or reach its workers")
        parts.append(note)
        verdict = Text("  → ")
        verdict.append_text(user_text(s.verdict))
        parts.append(verdict)
        moving = transfer_text(s)
        if moving is not None:
            parts.append(moving)
        workers = workers_table(s)
        if workers is not None:
            parts.append(workers)
    for group in data.workers_memory:
        line = Text("workers' memory: ")
        line.append_text(user_text(group.role))
        line.append(
            f" ×{group.processes}, peak private {format_bytes(group.peak_private_bytes)}"
            f", peak RSS {format_bytes(group.peak_rss_bytes)} (read from /proc by pipebench)"
        )
        parts.append(line)
    dask = any(s.backend == "dask" for s in data.stages)
    parts.append(
        Text(
            "items/s and busy from the first parallel result on (start-up excluded); "
            "efficiency = speedup / workers; busy = worker time / (workers x time)"
            + ("; worker memory: the process's RSS as the Dask scheduler last heard it"
               if dask else ""),
            style="dim",
        )
    )  # fmt: skip
    if data.problem:
        parts.append(user_text(f"! {data.problem}", "bold"))
    return Group(*parts)


def bottleneck_note(state: RunState, index: int) -> str:
    """For the stage table's caption: what the bottleneck's self time means when it is a
    parallel stage, else ""."""
    snap = state.snapshot
    section = snap.sections.parallel if snap is not None else None
    names = state.hello.stages if state.hello else ()
    s = section.stage_at(index, names) if section is not None else None
    if s is None:
        return ""
    startup = s.startup_s
    return (
        f"; a parallel stage: its self time is the main thread waiting on "
        f"{s.workers} {s.backend} worker(s), busy "
        f"{format_share(s.utilization)}"
        + (
            f", {format_seconds(startup)} of it for the first result (worker start-up)"
            if startup is not None
            else ""
        )
    )
