"""Rich renderings of a line profile for ``pipebench lines``: one table per function, the
function view, and the cost of looking. The hottest lines are marked in text (#1, #2, ...),
so the tables read without colour."""

from __future__ import annotations

import os
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from workbench.engine.lines.session import (
    Cost,
    LinesState,
    cost_of_looking,
    hottest,
    line_rows,
    top_calls,
)
from workbench.engine.protocol_tools import CallStat, ProfiledFunction
from workbench.engine.session import bottleneck, stage_rows
from workbench.units import format_count, format_rate, format_seconds
from workbench.views.run import params_text
from workbench.views.text import user_text

HOT_STYLE = {1: "bold red", 2: "red", 3: "yellow"}


def short_path(path: str) -> str:
    """``path`` relative to the working folder when it is inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _t(s: float) -> str:
    return format_seconds(s) if s > 0 else "0"


def header(state: LinesState) -> Text:
    run = state.profiled
    hello = run.hello if run else None
    what = "function profile (cProfile)" if state.view == "functions" else "line profile"
    text = Text(f"{what} of ", style="bold")
    text.append_text(user_text(hello.pipeline if hello else state.target))
    params = params_text(hello.params if hello else None)
    if params:
        text.append_text(user_text(f" ({params})", "dim"))
    if state.profile and state.profile.stages:
        text.append(" · stage ").append_text(user_text(", ".join(state.profile.stages)))
        if state.picked:
            text.append(f" ({picked_why(state)}; choose with --stage)", style="dim")
    rows = stage_rows(run) if run else []
    if rows:
        text.append(
            f" · {rows[-1].batches:,} batches, {rows[-1].items:,} items out, "
            f"{run.status if run else ''}",
            style="dim",
        )
    return text


def _self_time(state: LinesState, stage: str | None) -> float | None:
    if stage is None or state.profiled is None:
        return None
    return next((r.self_s for r in stage_rows(state.profiled) if r.name == stage), None)


def picked_why(state: LinesState) -> str:
    """Why the profiled stage was chosen when none was named."""
    base = state.baseline
    if base is not None and bottleneck(base) is not None:
        return "the bottleneck of the unprofiled run"
    return "the most self time in the unprofiled run, too little to name a bottleneck"


def function_caption(fn: ProfiledFunction, state: LinesState) -> Text:
    where = f"{short_path(fn.path)}:{fn.first_line}"
    text = Text()
    text.append_text(user_text(fn.name, "bold"))
    text.append_text(
        user_text(f"  {'stage ' + fn.stage if fn.stage else '--function'} · {where}", "dim")
    )
    total = fn.total_s
    waited = sum(s.upstream_s for s in fn.lines)
    if not fn.lines:
        text.append("\n  did not run while the chosen stages worked", style="yellow")
        return text
    text.append(f"\n  {_t(total)} on its lines")
    self_s = _self_time(state, fn.stage)
    if self_s:
        text.append(f" of the stage's {_t(self_s)} self time ({100 * total / self_s:.0f}%)")
    if waited > 0:
        text.append(f"; {_t(waited)} waiting on upstream stages kept out", style="dim")
    return text


def function_table(fn: ProfiledFunction, top: int | None = None) -> Table:
    """Every line of ``fn`` in source order, or its ``top`` hottest lines, hottest first."""
    rows = line_rows(fn)
    shown = hottest(rows, top) if top is not None else rows
    waits = any(r.upstream_s > 0 for r in rows)
    names = ["line", "hits", "time", "per hit", "% time", "hot"] + (["waited"] if waits else [])
    body = []
    for r in shown:
        cells = [str(r.line)]
        if r.ran:
            cells += [f"{r.hits:,}", _t(r.time_s), _t(r.per_hit_s or 0.0), f"{r.pct:.1f}%"]
        else:
            cells += ["", "", "", ""]
        cells.append(f"#{r.rank}" if r.rank else "")
        if waits:
            cells.append(_t(r.upstream_s) if r.upstream_s > 0 else "")
        body.append((r, cells))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    for i, name in enumerate(names):  # the figures keep their width; the source gives way
        width = max([len(name)] + [len(c[i]) for _, c in body])
        table.add_column(
            name, justify="left" if name == "hot" else "right", no_wrap=True, min_width=width
        )
    table.add_column("source", no_wrap=True, overflow="ellipsis")
    for r, cells in body:
        table.add_row(
            *cells,
            user_text(r.text.rstrip()),  # source is data: never markup or escapes
            style=HOT_STYLE.get(r.rank or 0, "" if r.ran else "dim"),
        )
    return table


def call_label(c: CallStat) -> str:
    if c.path == "~":
        return c.name
    return f"{c.name}  {short_path(c.path)}:{c.line}"


def calls_table(calls: tuple[CallStat, ...], by: str, top: int) -> Table:
    """The function view: the top functions by own ("own") or cumulative ("cum") time."""
    title = "by own time" if by == "own" else "by cumulative time (own + what it calls)"
    table = Table(
        title=f"top {top} functions {title}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        expand=False,
    )
    for name in ("calls", "own", "own/call", "cum", "cum/call"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("function", no_wrap=True, overflow="ellipsis")
    body = []
    for c in top_calls(calls, by, top):
        calls_text = (
            f"{c.calls:,}"
            if c.calls == c.primitive_calls
            else (f"{c.calls:,}/{c.primitive_calls:,}")
        )
        body.append(
            [
                calls_text,
                _t(c.own_s),
                _t(c.own_s / c.calls if c.calls else 0),
                _t(c.cum_s),
                _t(c.cum_s / c.calls if c.calls else 0),
            ]
        )
    for i, column in enumerate(table.columns[:-1]):
        column.min_width = max([len(str(column.header))] + [len(b[i]) for b in body])
    for b, c in zip(body, top_calls(calls, by, top), strict=True):
        table.add_row(*b, user_text(call_label(c)))
    return table


def cost_text(cost: Cost | None, state: LinesState) -> Text:
    """The cost of looking, one paragraph: both throughputs, the slowdown, per stage."""
    tool = "cProfile" if state.view == "functions" else "line_profiler"
    text = Text("cost of looking: ", style="bold")
    if cost is None:
        why = (
            "the profiled run was stopped or failed, so the unprofiled one did not run"
            if state.baseline is None
            else "the unprofiled run did not finish"
        )
        text.append(f"not measured ({why})", style="yellow")
        return text
    text.append(
        f"{format_rate(cost.baseline_items_per_s)} items/s without {tool}, "
        f"{format_rate(cost.profiled_items_per_s)} items/s with it"
    )
    if cost.slowdown is not None and cost.slowdown < 0.95:
        text.append(
            f": the profiled run was {format_count(1 / cost.slowdown)}× faster, so the two "
            "runs differ by more than what looking costs (the machine's load, caches "
            "warming): run it again",
            style="bold yellow",
        )
    elif cost.slowdown is not None and cost.slowdown < 1:
        text.append(": no slowdown to see (within the run-to-run noise)", style="bold")
    elif cost.slowdown is not None:
        text.append(f": {format_count(cost.slowdown)}× slower", style="bold")
    same = cost.baseline_items == cost.profiled_items
    text.append(
        f" ({'same ' if same else ''}{cost.profiled_items:,} items"
        + ("" if same else f" vs {cost.baseline_items:,}")
        + ")",
        style="dim",
    )
    for s in cost.stages:
        if s.factor is None:
            continue
        text.append("\n  ").append_text(user_text(s.name))
        text.append(
            ": self time per item "
            f"{format_seconds(s.baseline_s_per_item)} → "
            f"{format_seconds(s.profiled_s_per_item)} ({format_count(s.factor)}×"
            + (", within the noise)" if s.factor < 1 else ")")
        )
    return text


def lines_view(state: LinesState, top: int | None = None, calls_top: int = 15) -> Group:
    """Everything ``pipebench lines`` prints on stdout once the job is over."""
    parts: list[Any] = [header(state)]
    prof = state.profile
    if prof is not None:
        for fn in prof.functions:
            parts += [Text(""), function_caption(fn, state)]
            if fn.lines:
                parts.append(function_table(fn, top))
        if prof.view == "functions":
            n = top or calls_top
            parts += [
                Text(""),
                calls_table(prof.calls, "own", n),
                calls_table(prof.calls, "cum", n),
            ]
        for note in prof.notes:
            parts.append(user_text(f"note: {note}", "dim"))
    if state.baseline is not None or (prof is not None and prof.stages):
        parts += [Text(""), cost_text(cost_of_looking(state), state)]
    return Group(*parts)
