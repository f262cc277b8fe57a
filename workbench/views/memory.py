"""The memory of a run's process tree: totals, the split, and a row per process or group.

Shared by ``pipebench run`` and the TUI's memory panel. Every figure says what it is: RSS
is not the Python heap, file-backed pages are ones the kernel can drop, and "private"
(anonymous + shared memory) is what a ``--memory-budget`` applies to by default.
"""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workbench.engine.sections.memory import MemorySection, MemoryTotals
from workbench.units import format_bytes
from workbench.views.text import user_text

#: The rows of the totals table: (label, what it is, figure of MemoryTotals).
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("private", "anonymous + shared memory: what the kernel cannot drop", "private"),
    ("file-backed", "clean pages of mapped files, which the kernel can drop", "file"),
    ("RSS", "all resident pages (not the Python heap)", "rss"),
    ("USS", "pages only these processes map", "uss"),
    ("PSS", "shared pages split between the processes that map them", "pss"),
)


def figure(t: MemoryTotals, key: str) -> int | None:
    """One figure of ``t`` by its key in ``FIGURES``."""
    return t.private if key == "private" else getattr(t, key)


def totals_table(mem: MemorySection, *, explain: bool = True) -> Table:
    """The tree's totals at the chain's start, at their peak and now (or at the end);
    ``explain`` adds a column saying what each figure is."""
    return _totals_table(mem, explain)


def _totals_table(mem: MemorySection, explain: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, show_edge=False)
    table.add_column("memory", no_wrap=True)
    for name in ("start", "peak", "end"):
        table.add_column(name, justify="right", no_wrap=True)
    if explain:
        table.add_column("what it is", style="dim", overflow="fold")
    for label, what, key in FIGURES:
        row = [label] + [format_bytes(figure(t, key)) for t in (mem.start, mem.peak, mem.now)]
        table.add_row(*row, *([what] if explain else []))
    return table


def process_rows(mem: MemorySection) -> list[tuple[str, str, str, str]]:
    """(who, processes, peak private, peak RSS) per role: "loky worker ×4" and the like."""
    out = []
    for role, count, _now, peak in mem.groups():
        who = role if count == 1 else f"{role} ×{count}"
        out.append((who, str(count), format_bytes(peak.private), format_bytes(peak.rss)))
    return out


def processes_table(mem: MemorySection) -> Table:
    """One row per process or group of the tree, with its peaks."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, show_edge=False)
    table.add_column("process", no_wrap=True, overflow="ellipsis", max_width=40)
    table.add_column("peak private", justify="right", no_wrap=True)
    table.add_column("peak RSS", justify="right", no_wrap=True)
    for who, _n, private, rss in process_rows(mem):
        table.add_row(user_text(who), private, rss)
    return table


def source_line(mem: MemorySection) -> Text:
    """Where the figures come from and how often, and the kernel's own high-water mark."""
    rate = 1 / mem.interval_s if mem.interval_s else 0
    hwm = (
        f"; the runner's own RSS high-water mark over the chain (the kernel's VmHWM): "
        f"{format_bytes(mem.runner_hwm)}"
        if mem.runner_hwm is not None
        else ""
    )
    startup = (
        f"; before the chain (import and data preparation, not in the figures above) the "
        f"runner's RSS peaked at {format_bytes(mem.runner_startup_peak)}"
        if mem.runner_startup_peak is not None
        else ""
    )
    budget = f"; budget {format_bytes(mem.budget)} of {mem.budget_on} memory" if mem.budget else ""
    faster = " (every 2 ms near the budget)" if mem.budget else ""
    return Text(
        f"memory of the run's {len(mem.processes)} process"
        f"{'' if len(mem.processes) == 1 else 'es'}, read by pipebench from /proc "
        f"{rate:.0f} times a second{faster} ({mem.samples} readings since the runner started;"
        f" a peak is the highest reading, and RSS's also the kernel's: a spike shorter than"
        f" a reading shows in RSS only){hwm}{startup}{budget}",
        style="dim",
    )


def legend() -> Text:
    """What each figure is, in one paragraph (where the table has no room for a column)."""
    return Text(
        "; ".join(f"{label}: {what}" for label, what, _key in FIGURES),
        style="dim",
    )


def memory_view(mem: MemorySection | None, width: int = 120, ended: bool = True) -> RenderableType:
    """The headless memory block of ``pipebench run`` for a console ``width`` wide; without
    a reading, why (the run ended before its chain started, or, live, none came yet)."""
    if mem is None:
        if not ended:
            return Text("memory: no reading yet (they start with the chain)", style="dim")
        return Text("memory: no sample (the run ended before its chain started)")
    wide = width >= 110
    parts: list[RenderableType] = [totals_table(mem, explain=wide)]
    if not wide:
        parts.append(legend())
    if len(mem.processes) > 1:
        parts.append(processes_table(mem))
    parts.append(source_line(mem))
    return Group(*parts)
