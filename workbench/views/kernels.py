"""Rich renderings of a kernels run for the headless CLI: machine header, one table per
kernel (rows grouped by size), and the notes that explain every mark."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from workbench.engine.kernels.env import blas_vendor
from workbench.engine.kernels.session import BASELINES, KernelRow, KernelState, kernel_rows
from workbench.units import format_count, format_seconds
from workbench.views.run import STATUS_STYLE
from workbench.views.text import user_text

MARK_STYLE = {"✓": "green", "✗": "red", "?": "yellow"}
#: The most columns of an implementation's label, narrow and wide (cut with …: the figures
#: keep theirs).
IMPL_WIDTH = (16, 40)


def _threads_text(threads: dict[str, Any]) -> str:
    parts = []
    for lib in threads.get("blas") or []:
        parts.append(f"BLAS {lib.get('threads')}")
    for key, name in (("numba", "Numba"), ("torch", "torch")):
        if key in threads:
            parts.append(f"{name} {threads[key]}")
    omp = {lib.get("threads") for lib in threads.get("openmp") or []}
    if omp:
        parts.append("OpenMP " + "/".join(str(x) for x in sorted(omp, key=str)))
    return f"{threads.get('requested')} requested ({', '.join(parts)})"


def header(state: KernelState) -> Text:
    """What was measured, where, and how."""
    t = Text()
    env = state.environments[0] if state.environments else None
    t.append_text(user_text(state.target, "bold"))
    if env is None:
        t.append("\nstarting…", style="dim")
        return t
    where = env.path if env.path and not state.target.startswith(env.path) else env.module
    t.append_text(user_text(f"  ({where}, pid {env.pid})", "dim"))
    # What the runner said of its machine is text from elsewhere too: shown as text.
    versions = "".join(
        f" · {name} {env.versions[name]}" for name in ("numpy", "numba", "torch")
        if name in env.versions
    )  # fmt: skip
    t.append("\n")
    t.append_text(user_text(f"CPU {env.cpu}, {env.cpus} usable · Python {env.python}{versions}"))
    t.append("\n")
    t.append_text(
        user_text(f"threads: {_threads_text(env.threads)} · BLAS: {blas_vendor(env.threads)}")
    )
    gemm = env.gemm or {}
    if state.gemm_gflops:
        t.append(
            f"\nGEMM probe: {format_count(state.gemm_gflops)} GFLOP/s (float64 {gemm.get('n')}x"
            f"{gemm.get('n')} matmul, median, these threads)"
        )
    elif gemm.get("error"):
        t.append_text(user_text(f"\nGEMM probe failed: {gemm['error']}", "yellow", newlines=True))
    cuda = gemm.get("cuda") or {}
    if state.gemm_rate("cuda"):
        t.append("\n")
        t.append_text(
            user_text(
                f"CUDA GEMM probe: {format_count(state.gemm_rate('cuda'))} GFLOP/s on "
                f"{cuda.get('name')} (float64 {cuda.get('n')}x{cuda.get('n')} torch.matmul, "
                "median): the yardstick of CUDA rows"
            )
        )
    elif cuda.get("error"):
        t.append_text(
            user_text(f"\nCUDA GEMM probe failed: {cuda['error']}", "yellow", newlines=True)
        )
    s = env.settings
    t.append(
        f"\ntiming: {s.get('samples')} samples of ≥{format_seconds(s.get('min_sample_s'))}"
        f" after ≥{format_seconds(s.get('warmup_s'))} warm-up, GC off; budget "
        f"{format_seconds(s.get('max_time_s'))} per row, cut-off "
        f"{format_seconds(s.get('cutoff_s'))} per call, first call ended past "
        f"{format_seconds(s.get('first_call_limit_s'))}; "
        f"{len(state.environments)} of {state.rounds} process(es)",
        style="dim",
    )
    parallel = sorted({label for p in state.plans for label in p.get("parallel", ())})
    if parallel:
        t.append("\n")
        t.append_text(
            user_text(
                f"parallel implementations ({', '.join(parallel)}) run at "
                f"{s.get('parallel_threads')} thread(s), the others at {s.get('threads')}",
                "dim",
            )
        )
    return t


def _speed(x: float | None) -> str:
    return format_count(x, "x")


def _num(x: float | None, pct: bool = False) -> str:
    if x is None:
        return ""
    if pct:
        return format_count(100 * x, "%")
    return format_count(x)


#: Below this console width a kernel's timings and speeds are two tables, not one.
WIDE = 130
_TIMING = ("compile", "median", "IQR", "min", "n")


def speed_columns(plan: dict[str, Any]) -> list[str]:
    """The speed columns of a kernel set's table: the thread count, speedups against each
    baseline, then GFLOP/s and the share of the GEMM rate when it declares ``flops``, GB/s
    for ``bytes``."""
    cols = ["thr"] + [f"×{base}" for base in BASELINES]
    if plan.get("flops"):
        cols += ["GFLOP/s", "of GEMM"]
    if plan.get("bytes"):
        cols.append("GB/s")
    return cols


def figure_cells(row: KernelRow, plan: dict[str, Any], columns: list[str]) -> list[str]:
    """A row's figures as text, one per name in ``columns`` (timings in seconds from the
    row's sample summary, speeds as ``speed_columns`` names them); blank where unknown."""
    s = row.summary
    values = {
        "compile": format_seconds(row.compile_s) if row.compile_s is not None else "",
        "median": format_seconds(s.median) if s else "",
        "IQR": format_seconds(s.iqr) if s and s.n > 1 else "",
        "min": format_seconds(s.min) if s else "",
        "n": str(s.n) if s else "",
        "thr": str(row.threads) if row.threads else "",
        "GFLOP/s": _num(row.gflops),
        "of GEMM": _num(row.gemm_fraction, pct=True),
        "GB/s": _num(row.gbps),
    }
    for base in BASELINES:
        values[f"×{base}"] = _speed(row.speedup.get(base))
    return [values[c] for c in columns]


def kernel_table(
    plan: dict[str, Any],
    rows: list[KernelRow],
    columns: list[str],
    notes: dict[tuple[int, str], int],
    title: bool = True,
    impl_width: int = IMPL_WIDTH[0],
) -> Table:
    """One kernel: a row per implementation and size (sizes separated), with the given
    measurement columns; ``notes`` numbers the rows' footnotes. The second table of a
    narrow layout (``title`` False) leaves out the mark and the note, which the first has."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, title_justify="left")
    if title:
        table.title = Text.assemble(
            user_text(plan["name"], "bold"),
            "  ",
            user_text(plan.get("doc") or ""),
            "  ",
            user_text(f"reference: {plan.get('reference')}", "dim"),
        )
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("impl", no_wrap=True, overflow="ellipsis", max_width=impl_width)
    if title:
        table.add_column("ok", justify="center", no_wrap=True)
    for col in columns:
        table.add_column(col, justify="right", no_wrap=True)
    if title:
        table.add_column("note", justify="right", no_wrap=True)
    last_size = None
    for row in rows:
        if last_size is not None and row.size != last_size:
            table.add_section()
        note = notes.get((row.size, row.impl))
        mark = [Text(row.mark, style=MARK_STYLE.get(row.mark, ""))] if title else []
        tail = [Text(f"[{note}]" if note else "")] if title else []
        table.add_row(
            f"{row.size:,}" if row.size != last_size else "",
            user_text(row.impl + (" (ref)" if row.reference else "")),
            *mark,
            *figure_cells(row, plan, columns),
            *tail,
            style="dim" if row.status == "skipped" else None,
        )
        last_size = row.size
    return table


def kernel_section(plan: dict[str, Any], rows: list[KernelRow], width: int) -> list[Any]:
    """A kernel's table (two when narrow), its numbered notes and its legend."""
    notes: dict[tuple[int, str], int] = {}
    lines = Text()
    for row in rows:
        if row.notes:
            notes[(row.size, row.impl)] = len(notes) + 1
            style = "red" if row.status == "error" or row.correct is False else "yellow"
            lines.append_text(user_text(f"[{len(notes)}] {row.impl} at {row.size:,}: ", "bold"))
            lines.append_text(user_text("; ".join(row.notes), style))
            lines.append("\n")
    speed = speed_columns(plan)
    if width >= WIDE:
        parts: list[Any] = [
            kernel_table(plan, rows, list(_TIMING) + speed, notes, impl_width=IMPL_WIDTH[1])
        ]
    else:
        parts = [
            kernel_table(plan, rows, list(_TIMING), notes),
            kernel_table(plan, rows, speed, notes, title=False),
        ]
    for label, why in plan.get("unavailable", {}).items():
        lines.append_text(user_text(f"{label}: not run, {why}", "dim"))
        lines.append("\n")
    lines.append(
        "✓ agrees with the reference · ✗ wrong or failed (no speedup shown) · ? not "
        "checked · compile: Numba's compile time in the first call, kept out of the "
        "samples · median, IQR, min: seconds per call · ×: times faster · thr: the threads "
        "its pools were pinned to · inputs: a fresh copy per implementation and per "
        "sample, per call for one that mutates its input",
        style="dim",
    )
    parts.append(lines)
    return parts


def kernels_view(state: KernelState, width: int = 80, show_status: bool = True) -> Group:
    """Header, one table per kernel with results so far, and the run's status."""
    parts: list[Any] = [header(state)]
    for plan in state.plans:
        rows = kernel_rows(state, plan["name"])
        if rows:
            parts += kernel_section(plan, rows, width)
    if show_status:
        status = state.status
        t = Text()
        t.append(status, style=STATUS_STYLE.get(status, ""))
        if state.message:
            t.append(": ")
            t.append_text(user_text(state.message))
        parts.append(t)
    return Group(*parts)
