"""Rich renderings of a run and of a catalog, for the headless CLI."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from workbench.engine.catalog import ModuleInfo
from workbench.engine.kernels.load import KernelSetInfo
from workbench.engine.protocol import Progress
from workbench.engine.session import MIN_BATCHES, MIN_SELF_S, RunState, StageRow, stage_rows
from workbench.units import format_count, format_rate, format_seconds
from workbench.views.autofind import instrumented_view, notes_view
from workbench.views.caches import caches_table
from workbench.views.memory import memory_view
from workbench.views.parallel import bottleneck_note, parallel_view
from workbench.views.resources import contexts_view, gpu_view
from workbench.views.text import user_text

STATUS_STYLE = {
    "finished": "green",
    "stopped": "yellow",
    "failed": "red",
    "budget_exceeded": "red",
    "crashed": "red",
    "running": "cyan",
    "starting": "cyan",
}


#: The most columns a name (stage, implementation) takes in a table; the rest is cut (…).
NAME_WIDTH = 40


def params_text(params: dict[str, Any] | None) -> str:
    return " ".join(f"{k}={v}" for k, v in (params or {}).items())


def stage_table(state: RunState) -> Group:
    """One row per stage; the bottleneck is marked with ◀ and named in the caption, so it
    reads without colour. Items and batches per second are averages over the run."""
    rows = stage_rows(state)
    compiled = any(r.compile_s for r in rows)
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        expand=False,
        collapse_padding=True,
        show_edge=False,
        caption_justify="left",
    )
    table.add_column(
        "stage",
        no_wrap=True,
        overflow="ellipsis",
        min_width=min(26, max((len(r.name) + 2 for r in rows), default=5)),
        max_width=NAME_WIDTH,  # a long name is cut, never the figures
    )
    columns = ["items", "batches", "items/s", "batch/s", "self", "self%", "/batch"]
    if compiled:
        columns.append("JIT")
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for r in rows:
        name = user_text(r.name)
        if r.bottleneck:
            name.append(" ◀")
        elif r.failed:
            name.append(" ✗")
        cells: list[Text | str] = [
            name,
            f"{r.items:,}",
            f"{r.batches:,}",
            format_rate(r.items_per_s),
            format_rate(r.batches_per_s),
            format_seconds(r.self_s),
            f"{r.self_pct:.1f}",
            format_seconds(r.mean_batch_s),
        ]
        if compiled:
            cells.append(format_seconds(r.compile_s) if r.compile_s else "")
        table.add_row(*cells, style="bold" if r.bottleneck else None)
    return Group(table, bottleneck_caption(state, rows))


def bottleneck_caption(state: RunState, rows: list[StageRow]) -> Text:
    """What the bottleneck is and why, or why none is named yet."""
    top = next((r for r in rows if r.bottleneck), None)
    out = Text()
    if top is not None:
        out.append("◀ bottleneck: ")
        out.append_text(user_text(top.name))
        out.append(f", {top.self_pct:.1f}% of the run (largest self time")
        out.append(", JIT compilation left out)" if any(r.compile_s for r in rows) else ")")
        out.append(bottleneck_note(state, rows.index(top)))  # a parallel stage's wait
    elif rows:
        why = "the run was too short to tell" if state.ended else "not enough data yet"
        out.append(
            f"no bottleneck named: {why} (it takes {MIN_BATCHES} batches and "
            f"{format_seconds(MIN_SELF_S)} of a stage's own work)",
            style="dim",
        )
    for r in rows:
        if r.compile_s:
            out.append("\nJIT compile: ")
            out.append_text(user_text(r.name))
            out.append(f" spent {format_seconds(r.compile_s)} compiling (Numba), shown apart")
    return out


def progress_text(p: Progress) -> Text:
    """A step the pipeline reported before its batches: "writing the corpus: 45,000 of
    200,000 rows (22%)"."""

    def count(x: float) -> str:  # whole counts as such (3 of 8 parts), others to 3 digits
        if not math.isfinite(x):
            return "?"
        return f"{int(x):,}" if float(x).is_integer() else format_count(x)

    out = user_text(p.what)
    out.append(f": {count(p.done)}")
    total = p.total if p.total and math.isfinite(p.total) and p.total > 0 else None
    if total is not None:
        out.append(f" of {count(total)}")
    if p.unit:
        out.append(" ")
        out.append_text(user_text(p.unit))  # the pipeline's words: text, never control
    if total is not None and math.isfinite(p.done):
        out.append(f" ({100 * p.done / total:.0f}%)")
    return out


def status_line(state: RunState) -> Text:
    t = Text()
    t.append(f"{state.status}", style=STATUS_STYLE.get(state.status, ""))
    if state.snapshot is None and state.progress is not None and not state.ended:
        t.append(" · ")
        t.append_text(progress_text(state.progress))
        return t
    if state.snapshot is None and not state.ended:
        return t  # starting: no chain, no time of its own yet (not "after 0 s")
    t.append(f" after {format_seconds(state.elapsed_s)}")
    if state.stop_reason and state.status != "finished":
        t.append(f" ({state.stop_reason})", style="dim")
    if state.message:
        t.append(": ")
        t.append_text(user_text(state.message))
    stalled = state.stalled_s
    if stalled is not None:
        where = state.running_stage
        t.append(
            f"\nno stage boundary crossed for {format_seconds(stalled)}: the pipeline is "
            "inside one long call",
            style="yellow",
        )
        if where:
            t.append(" (in stage ", style="yellow")
            t.append_text(user_text(where, "yellow"))
            t.append(")", style="yellow")
    ended = state.exited.ended if state.exited else ()
    if ended:
        t.append(f"\nended {len(ended)} process(es) the run left behind: ", style="yellow")
        t.append_text(user_text(", ".join(ended), "yellow"))
    return t


def record_line(record: str) -> Text:
    """Where the run's record is: one line, never folded inside the path (a terminal wraps
    a long one; copied, it is whole)."""
    t = Text("record: ", style="dim", no_wrap=True, overflow="ignore")
    t.append_text(user_text(record, "dim"))
    return t


def unavailable_view(unavailable: Mapping[str, str]) -> Text | None:
    """One line per section whose sampler failed, with why; None when none did."""
    if not unavailable:
        return None
    out = Text()
    for i, (name, why) in enumerate(sorted(unavailable.items())):
        if i:
            out.append("\n")
        out.append(f"{name}: not shown, its sampler failed: ", style="yellow")
        out.append_text(user_text(why, "yellow"))
    return out


def section_views(state: RunState) -> list[Any]:
    """Renderables of the last snapshot's sections that have something to show: GPU,
    contexts, caches, parallel stages, what was instrumented, notes on the chain, then the
    sections that could not be read."""
    snap = state.snapshot
    if snap is None:
        return []
    s = snap.sections
    shown = [
        gpu_view(s.gpu),
        contexts_view(s.contexts),
        caches_table(s.caches),
        parallel_view(s.parallel),
        instrumented_view(s.instrumented),
        notes_view(s.notes),
        unavailable_view(s.unavailable),
    ]
    return [view for view in shown if view is not None]


def run_title(state: RunState) -> Text:
    """The pipeline's name, path and parameters (the target before the child said them)."""
    hello = state.hello
    title = Text()
    if hello:
        title.append_text(user_text(hello.pipeline, "bold"))
        title.append_text(user_text(f"  {hello.path}  {params_text(hello.params)}", "dim"))
    else:
        title.append_text(user_text(state.target, "bold"))
    return title


def run_view(state: RunState, record: str | None = None, width: int = 120) -> Group:
    """The run's report: title, stage table, sections, memory, then how it ended."""
    parts: list[Any] = [
        run_title(state),
        stage_table(state),
        *section_views(state),
        memory_view(state.snapshot.memory if state.snapshot else None, width),
        status_line(state),
    ]
    if record:
        parts.append(record_line(record))
    return Group(*parts)


def live_view(state: RunState, width: int = 120) -> Group:
    """What a terminal shows while the run goes: the status (a stall first of all) right
    under the title, then the stage table, sections and memory. A live view taller than
    the terminal is cut at the bottom, so what matters most comes first."""
    parts: list[Any] = [
        run_title(state),
        status_line(state),
        stage_table(state),
        *section_views(state),
        memory_view(state.snapshot.memory if state.snapshot else None, width, state.ended),
    ]
    return Group(*parts)


def catalog_table(modules: list[ModuleInfo]) -> Table:
    """One row per pipeline or kernel set, as a target (``module.py:name``, what ``pipebench
    run`` takes), with what it is and, under that, its parameters and their defaults."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    table.add_column("module.py:pipeline", no_wrap=True)
    table.add_column("about · parameters (defaults)", ratio=1)
    for m in modules:
        name = Path(m.path).name
        if m.error:
            table.add_row(user_text(name), user_text(f"cannot load: {m.error}", "red"))
            continue
        if not m.pipelines and not m.kernels:
            table.add_row(user_text(name, "dim"), Text("no pipelines", style="dim"))
        for p in m.pipelines:
            params = " ".join(f"{n}={d}" for n, d, _ in p.params)
            about = " ".join(p.doc.split()) if p.available else f"unavailable here: {p.reason}"
            style = "" if p.available else "dim"
            cell = user_text(about, style)
            if params:
                cell.append("\n")
                cell.append_text(user_text(params, "dim"))
            table.add_row(user_text(f"{name}:{p.name}", style), cell)
        for k in m.kernels:  # kernel sets: run with `pipebench kernels`
            cell = user_text(kernel_set_about(k))
            cell.append("\nsizes=" + ",".join(map(_compact, k.sizes)), style="dim")
            table.add_row(user_text(f"{name}:{k.name}"), cell)
    return table


def _compact(n: int) -> str:
    for div, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div}{suffix}"
    return str(n)


def kernel_set_about(k: KernelSetInfo) -> str:
    """One line on a kernel set: its implementations (reference marked) and its doc."""
    impls = ", ".join(
        f"{i}*" if i == k.reference else i for i in k.impls if i not in dict(k.unavailable)
    )
    return f"kernels [{impls}] (* reference) {k.doc}".strip()
