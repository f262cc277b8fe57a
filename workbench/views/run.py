"""Rich renderings of a run and of a catalog, for the headless CLI."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from workbench.engine.catalog import ModuleInfo
from workbench.engine.kernels.load import KernelSetInfo
from workbench.engine.session import RunState, stage_rows
from workbench.units import format_bytes, format_rate, format_seconds
from workbench.views.parallel import bottleneck_note

STATUS_STYLE = {
    "finished": "green",
    "stopped": "yellow",
    "failed": "red",
    "budget_exceeded": "red",
    "crashed": "red",
    "running": "cyan",
    "starting": "cyan",
}


def params_text(params: dict[str, Any] | None) -> str:
    return " ".join(f"{k}={v}" for k, v in (params or {}).items())


def stage_table(state: RunState) -> Table:
    """One row per stage; the bottleneck is marked with ◀ and named in the caption, so it
    reads without colour."""
    rows = stage_rows(state)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, caption_justify="left")
    table.add_column(
        "stage",
        no_wrap=True,
        overflow="ellipsis",
        min_width=min(26, max((len(r.name) + 2 for r in rows), default=5)),
    )
    for name in ("items", "batches", "items/s", "self", "self %", "per batch"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in rows:
        mark = " ◀" if r.bottleneck else (" ✗" if r.failed else "")
        table.add_row(
            r.name + mark,
            f"{r.items:,}",
            f"{r.batches:,}",
            format_rate(r.items_per_s),
            format_seconds(r.self_s),
            f"{r.self_pct:.1f}",
            format_seconds(r.mean_batch_s),
            style="bold" if r.bottleneck else None,
        )
    top = next((r for r in rows if r.bottleneck), None)
    if top is not None:
        table.caption = (
            f"◀ bottleneck: {top.name}, {top.self_pct:.1f}% of the run (largest self time)"
        )
        table.caption += bottleneck_note(state, rows.index(top))  # a parallel stage's wait
    return table


def memory_line(state: RunState) -> Text:
    snap = state.snapshot
    if snap is None:
        return Text("memory: no sample (the run ended before it started)")
    m = snap.memory
    return Text(
        f"memory (runner process RSS, not Python heap): start {format_bytes(m.rss_start)}, "
        f"peak {format_bytes(m.rss_peak)}, end {format_bytes(m.rss)}; "
        f"peak USS {format_bytes(m.uss_peak)}"
    )


def status_line(state: RunState, record: str | None = None) -> Text:
    t = Text()
    t.append(f"{state.status}", style=STATUS_STYLE.get(state.status, ""))
    t.append(f" after {format_seconds(state.elapsed_s)}")
    if state.message:
        t.append(f": {state.message}")
    if record:
        t.append(f"\nrecord: {record}", style="dim")
    return t


#: Headless views of snapshot sections: section name -> "module:function", the function
#: taking the section's data and returning a Rich renderable (or None to show nothing).
SECTION_VIEWS: dict[str, str] = {
    "gpu": "workbench.views.resources:gpu_view",
    "contexts": "workbench.views.resources:contexts_view",
    "caches": "workbench.views.caches:caches_table",
    "parallel": "workbench.views.parallel:parallel_view",
}


def section_views(state: RunState) -> list[Any]:
    """Renderables for the sections of the last snapshot that have a registered view."""
    snap = state.snapshot
    out: list[Any] = []
    for name, spec in SECTION_VIEWS.items():
        if snap is None or name not in snap.sections:
            continue
        module, _, func = spec.partition(":")
        view = getattr(importlib.import_module(module), func)(snap.sections[name])
        if view is not None:
            out.append(view)
    return out


def run_view(state: RunState, record: str | None = None) -> Group:
    hello = state.hello
    title = Text()
    if hello:
        title.append(hello.pipeline, style="bold")
        title.append(f"  {hello.path}  {params_text(hello.params)}", style="dim")
    else:
        title.append(state.target, style="bold")
    parts: list[Any] = [
        title,
        stage_table(state),
        *section_views(state),
        memory_line(state),
        status_line(state, record),
    ]
    return Group(*parts)


def catalog_table(modules: list[ModuleInfo]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    table.add_column("module:pipeline", no_wrap=True)
    table.add_column("parameters")
    table.add_column("about")
    for m in modules:
        name = Path(m.path).name
        if m.error:
            table.add_row(Text(name), "", Text(f"cannot load: {m.error}", style="red"))
            continue
        if not m.pipelines and not m.kernels:
            table.add_row(Text(name, style="dim"), "", Text("no pipelines", style="dim"))
        for p in m.pipelines:
            params = " ".join(f"{n}={d}" for n, d, _ in p.params)
            about = p.doc if p.available else f"unavailable here: {p.reason}"
            table.add_row(
                Text(f"{name}:{p.name}", style="" if p.available else "dim"),
                params,
                Text(about, style="" if p.available else "dim"),
            )
        for k in m.kernels:  # kernel sets: run with `pipebench kernels`
            table.add_row(
                Text(f"{name}:{k.name}"),
                "sizes=" + ",".join(map(_compact, k.sizes)),
                Text(kernel_set_about(k)),
            )
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
