"""Headless views of the "contexts" and "gpu" sections: a contexts table and GPU lines.

Shown by ``workbench.views.run.section_views``; each takes its typed section (as sent in
the snapshots and kept in the report) and returns a Rich renderable.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Iterator, Sequence

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from workbench.engine.sections.gpu import GpuSection
from workbench.engine.sections.resources import ContextRow, ContextsSection
from workbench.units import format_bytes, format_seconds
from workbench.views.text import user_text

#: Rows shown headless; the JSON report has every kept record.
MAX_ROWS = 40

#: How the exception that ended a block reads in the outcome column.
CAUSES = {"GeneratorExit": "closed", "StopRun": "stopped", "KeyboardInterrupt": "Ctrl-C"}
OUTCOME_STYLE = {"ok": "green", "committed": "green", "open": "cyan", "closed": "yellow"}


def tree_order(records: Sequence[ContextRow]) -> Iterator[tuple[ContextRow, int]]:
    """Records depth first, each followed by the contexts nested in it, in entry order, with
    their depth in the tree.

    A run of closed sibling records of the same name with nothing nested in them (a
    ``@timed`` function called per batch) becomes one row, "name ×N", with summed figures.
    """
    ids = {r.id for r in records}
    children: dict[int | None, list[ContextRow]] = {}
    for r in records:
        parent = r.parent if r.parent in ids else None
        children.setdefault(parent, []).append(r)

    def leaf(r: ContextRow) -> bool:
        return r.id not in children and r.outcome != "open"

    def walk(parent: int | None, depth: int) -> Iterator[tuple[ContextRow, int]]:
        kids = children.get(parent, [])
        i = 0
        while i < len(kids):
            r = kids[i]
            j = i + 1
            while (
                leaf(r)
                and j < len(kids)
                and leaf(kids[j])
                and (kids[j].kind, kids[j].name) == (r.kind, r.name)
            ):
                j += 1
            if j - i > 1:
                yield merge(kids[i:j]), depth
            else:
                yield r, depth
                yield from walk(r.id, depth + 1)
            i = j

    yield from walk(None, 0)


def merge(run: Sequence[ContextRow]) -> ContextRow:
    """One row standing for ``run``, closed siblings of one name."""

    def total(values: list[int | None]) -> int | None:
        return None if any(v is None for v in values) else sum(v or 0 for v in values)

    outcomes: dict[str, int] = {}
    for r in run:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    outcome = (
        next(iter(outcomes))
        if len(outcomes) == 1
        else ", ".join(f"{n} {o}" for o, n in outcomes.items())
    )
    return dataclasses.replace(
        run[0],
        name=f"{run[0].name} ×{len(run)}",
        duration_s=sum(r.duration_s or 0.0 for r in run),
        rss_delta_bytes=total([r.rss_delta_bytes for r in run]),
        gpu_delta_bytes=total([r.gpu_delta_bytes for r in run]),
        outcome=outcome,
        exits=max(r.exits for r in run),
        note=None,
    )


def outcome_text(r: ContextRow) -> Text:
    """ "rolled back (ValueError)", "stopped (user)", "ok", ... styled by how it went."""
    outcome = r.outcome or "?"
    text = outcome
    cause = CAUSES.get(r.exception or "", r.exception)
    if outcome == "rolled back" and cause:
        text = f"{outcome} ({cause})"
    style = OUTCOME_STYLE.get(outcome, "red" if outcome[:1].isupper() else "yellow")
    if r.exits > 1:
        text += f" ×{r.exits} exits"
        style = "red"
    return user_text(text, style)  # an exception type is the pipeline's name: text


def duration_of(r: ContextRow, now_s: float | None) -> str:
    if r.duration_s is not None:
        return format_seconds(r.duration_s)
    if now_s is not None:
        return format_seconds(max(0.0, now_s - r.start_s)) + "…"
    return "open"


def shorten(name: str, width: int) -> str:
    """``name`` cut in the middle to ``width`` characters, keeping its end."""
    width = max(width, 12)
    if len(name) <= width:
        return name
    tail = width // 3
    return name[: width - tail - 1] + "…" + name[-tail:]


def signed_bytes(n: int | None) -> str:
    if n is None:
        return "N/A"
    return ("+" if n > 0 else "") + format_bytes(n)


class ContextsTable:
    """The contexts table, laid out for the width it is given (the context column takes
    what the figures leave)."""

    NUMBER_WIDTH = 10  # duration, RSS Δ, GPU Δ (e.g. "+624.7 MiB")

    def __init__(self, data: ContextsSection):
        self.data = data

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        records = self.data.records
        show_start = width >= 100
        show_gpu = any(r.gpu_delta_bytes is not None for r in records)
        outcome_w = max([11, *(len(outcome_text(r)) for r, _ in tree_order(records))])
        numbers = 2 + (show_gpu + show_start)
        # two edges, and two characters between columns (a rule and collapsed padding)
        used = 2 + numbers * (self.NUMBER_WIDTH + 2) + outcome_w + 2
        yield self.table(max(18, min(48, width - used)), show_start, show_gpu)

    def table(self, name_width: int, show_start: bool = True, show_gpu: bool = True) -> Table:
        data = self.data
        rows = list(tree_order(data.records))
        hidden = max(0, len(rows) - MAX_ROWS)
        if hidden:  # keep the open ones and the latest
            keep = {i for i, (r, _) in enumerate(rows) if r.outcome == "open"}
            latest = sorted(range(len(rows)), key=lambda i: -rows[i][0].id)
            keep |= set(latest[: max(0, MAX_ROWS - len(keep))])
            rows = [row for i, row in enumerate(rows) if i in keep]
        table = Table(
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
            caption_justify="left",
            title="resource contexts",
            title_justify="left",
        )
        table.add_column("context", no_wrap=True, width=name_width)
        if show_start:
            table.add_column("start", justify="right", no_wrap=True, width=self.NUMBER_WIDTH)
        for name in ("duration", "RSS Δ", "GPU Δ") if show_gpu else ("duration", "RSS Δ"):
            table.add_column(name, justify="right", no_wrap=True, width=self.NUMBER_WIDTH)
        table.add_column("outcome", no_wrap=True, min_width=11)
        now_s = data.now_s
        for r, depth in rows:
            indent = "  " * depth + ("└ " if depth else "")
            label = Text(indent)
            label.append_text(user_text(shorten(r.name, name_width - len(indent))))
            note_indent = " " * (len(indent) + 1)
            for line in textwrap.wrap(r.note or "", max(8, name_width - len(note_indent))):
                label.append("\n" + note_indent + line, style="dim")
            start = [format_seconds(r.start_s)] if show_start else []
            gpu = [signed_bytes(r.gpu_delta_bytes)] if show_gpu else []
            table.add_row(
                label,
                *start,
                duration_of(r, now_s),
                signed_bytes(r.rss_delta_bytes),
                *gpu,
                outcome_text(r),
            )
        caption = Text(
            f"{contexts_count(data.total, data.open)}; "
            "RSS Δ: the runner's RSS change across the block; "
            + (
                "GPU Δ: torch.cuda allocated change"
                if show_gpu
                else "no GPU change to show: CUDA not in use"
            )
        )
        if hidden or data.dropped:
            caption.append(f"; {hidden + data.dropped} older not shown")
        for t in [t for t in data.totals if t.count > 1][:3]:
            caption.append("\n")
            caption.append_text(user_text(t.name))  # the pipeline's name for it: text
            caption.append(
                f" ×{t.count}: {format_seconds(t.total_s)} in all"
                + (f", {t.failed} not ok" if t.failed else "")
            )
        table.caption = caption
        return table


def contexts_view(data: ContextsSection | None) -> ContextsTable | None:
    """The contexts table: nesting by indentation, times, RSS and GPU changes, outcome."""
    if data is None or not data.records:
        return None
    return ContextsTable(data)


def gpu_state_details(data: GpuSection) -> list[str]:
    """Why there is no GPU figure, by source: NVML's state (unless it is the section's
    state, said already) with its detail, and torch's."""
    if data.nvml and data.nvml != data.state:
        nvml = f"NVML: {data.nvml}" + (f" ({data.nvml_detail})" if data.nvml_detail else "")
    else:
        nvml = f"NVML: {data.nvml_detail}" if data.nvml_detail else ""
    torch = data.torch or ""
    if torch and not torch.startswith("torch"):  # its states say "torch ..." themselves
        torch = f"torch: {torch}"
    return [d for d in (nvml, torch) if d]


def contexts_count(total: int, open_: int, sep: str = ", ") -> str:
    """``1 context, 0 open``: the contexts a run entered and those still open."""
    return f"{total:,} context{'' if total == 1 else 's'}{sep}{open_:,} open"


def gpu_view(data: GpuSection | None) -> Text | None:
    """GPU lines: the state when there is no GPU in use, else NVML and torch.cuda figures."""
    if data is None:
        return None
    if data.state:
        details = "; ".join(gpu_state_details(data))
        return Text(f"GPU: {data.state} ({details})", style="dim")
    out = Text()
    driver = f", driver {data.driver}" if data.driver else ""
    for d in data.devices:
        if d.process_bytes in (None, 0) and d.allocated_bytes is None:
            continue  # a device this run does not use
        util = f", {d.util_pct}% busy" if d.util_pct is not None else ""
        out.append(
            f"GPU cuda:{d.index} {d.name or ''} (NVML{driver}): device used "
            f"{format_bytes(d.used_bytes)} of {format_bytes(d.total_bytes)}, "
            f"this run {format_bytes(d.process_bytes)}{util}\n"
        )
    out.append(
        f"GPU this run: process {format_bytes(data.process_bytes)} "
        f"(peak {format_bytes(data.peak_process_bytes)}, NVML); torch.cuda allocated "
        f"{format_bytes(data.allocated_bytes)} (peak "
        f"{format_bytes(data.peak_allocated_bytes)}), reserved "
        f"{format_bytes(data.reserved_bytes)} (peak "
        f"{format_bytes(data.peak_reserved_bytes)})"
    )
    if data.nvml != "ok":
        out.append(f"; NVML: {data.nvml}", style="dim")
    if data.error:
        out.append(f"; sampler: {data.error}", style="red")
    return out
