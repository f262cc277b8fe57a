"""Headless views of the "contexts" and "gpu" sections: a contexts table and GPU lines.

Registered in ``workbench.views.run.SECTION_VIEWS``; each takes the section's data (as sent in
the snapshots and kept in the report) and returns a Rich renderable.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from workbench.units import format_bytes, format_seconds

#: Rows shown headless; the JSON report has every kept record.
MAX_ROWS = 40

#: How the exception that ended a block reads in the outcome column.
CAUSES = {"GeneratorExit": "closed", "StopRun": "stopped", "KeyboardInterrupt": "Ctrl-C"}
OUTCOME_STYLE = {"ok": "green", "committed": "green", "open": "cyan", "closed": "yellow"}


def tree_order(records: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Records depth first, each followed by the contexts nested in it, in entry order.

    A run of closed sibling records of the same name with nothing nested in them (a
    ``@timed`` function called per batch) becomes one row, "name ×N", with summed figures.
    """
    ids = {r["id"] for r in records}
    children: dict[int | None, list[dict[str, Any]]] = {}
    for r in records:
        parent = r.get("parent") if r.get("parent") in ids else None
        children.setdefault(parent, []).append(r)

    def leaf(r: dict[str, Any]) -> bool:
        return r["id"] not in children and r.get("outcome") != "open"

    def walk(parent: int | None, depth: int) -> Iterator[dict[str, Any]]:
        kids = children.get(parent, [])
        i = 0
        while i < len(kids):
            r = kids[i]
            j = i + 1
            while (
                leaf(r)
                and j < len(kids)
                and leaf(kids[j])
                and (kids[j]["kind"], kids[j]["name"]) == (r["kind"], r["name"])
            ):
                j += 1
            if j - i > 1:
                yield {**merge(kids[i:j]), "depth": depth}
            else:
                yield {**r, "depth": depth}
                yield from walk(r["id"], depth + 1)
            i = j

    yield from walk(None, 0)


def merge(run: list[dict[str, Any]]) -> dict[str, Any]:
    """One row standing for ``run``, closed siblings of one name."""

    def total(key: str) -> int | None:
        values = [r.get(key) for r in run]
        return None if any(v is None for v in values) else sum(values)  # type: ignore[arg-type]

    outcomes: dict[str, int] = {}
    for r in run:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    outcome = (
        next(iter(outcomes))
        if len(outcomes) == 1
        else ", ".join(f"{n} {o}" for o, n in outcomes.items())
    )
    return {
        **run[0],
        "name": f"{run[0]['name']} ×{len(run)}",
        "duration_s": sum(r["duration_s"] or 0.0 for r in run),
        "rss_delta_bytes": total("rss_delta_bytes"),
        "gpu_delta_bytes": total("gpu_delta_bytes"),
        "outcome": outcome,
        "exits": max(r.get("exits", 1) for r in run),
        "note": None,
    }


def outcome_text(r: dict[str, Any]) -> Text:
    """ "rolled back (ValueError)", "stopped (user)", "ok", ... styled by how it went."""
    outcome = r.get("outcome") or "?"
    text = outcome
    cause = CAUSES.get(r.get("exception") or "", r.get("exception"))
    if outcome == "rolled back" and cause:
        text = f"{outcome} ({cause})"
    style = OUTCOME_STYLE.get(outcome, "red" if outcome[:1].isupper() else "yellow")
    if r.get("exits", 1) > 1:
        text += f" ×{r['exits']} exits"
        style = "red"
    return Text(text, style=style)


def duration_of(r: dict[str, Any], now_s: float | None) -> str:
    if r.get("duration_s") is not None:
        return format_seconds(r["duration_s"])
    if now_s is not None:
        return format_seconds(max(0.0, now_s - r["start_s"])) + "…"
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

    def __init__(self, data: dict[str, Any]):
        self.data = data

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        records = self.data["records"]
        show_start = width >= 100
        show_gpu = any(r.get("gpu_delta_bytes") is not None for r in records)
        outcome_w = max([11, *(len(outcome_text(r)) for r in tree_order(records))])
        numbers = 2 + (show_gpu + show_start)
        # two edges, and two characters between columns (a rule and collapsed padding)
        used = 2 + numbers * (self.NUMBER_WIDTH + 2) + outcome_w + 2
        yield self.table(max(18, min(48, width - used)), show_start, show_gpu)

    def table(self, name_width: int, show_start: bool = True, show_gpu: bool = True) -> Table:
        data = self.data
        rows = list(tree_order(data["records"]))
        hidden = max(0, len(rows) - MAX_ROWS)
        if hidden:  # keep the open ones and the latest
            keep = {id(r) for r in rows if r["outcome"] == "open"}
            latest = sorted(rows, key=lambda r: -r["id"])[: max(0, MAX_ROWS - len(keep))]
            keep |= {id(r) for r in latest}
            rows = [r for r in rows if id(r) in keep]
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
        now_s = data.get("now_s")
        for r in rows:
            indent = "  " * r["depth"] + ("└ " if r["depth"] else "")
            label = Text(indent + shorten(r["name"], name_width - len(indent)))
            note_indent = " " * (len(indent) + 1)
            for line in textwrap.wrap(r.get("note") or "", max(8, name_width - len(note_indent))):
                label.append("\n" + note_indent + line, style="dim")
            start = [format_seconds(r["start_s"])] if show_start else []
            gpu = [signed_bytes(r.get("gpu_delta_bytes"))] if show_gpu else []
            table.add_row(
                label,
                *start,
                duration_of(r, now_s),
                signed_bytes(r.get("rss_delta_bytes")),
                *gpu,
                outcome_text(r),
            )
        caption = (
            f"{data.get('total', len(rows))} contexts, {data.get('open', 0)} open; "
            "RSS Δ: the runner's RSS change across the block; "
            + (
                "GPU Δ: torch.cuda allocated change"
                if show_gpu
                else "no GPU change to show: CUDA not in use"
            )
        )
        if hidden or data.get("dropped"):
            caption += f"; {hidden + int(data.get('dropped') or 0)} older not shown"
        for t in [t for t in data.get("totals", []) if t["count"] > 1][:3]:
            caption += f"\n{t['name']} ×{t['count']}: {format_seconds(t['total_s'])} in all" + (
                f", {t['failed']} not ok" if t["failed"] else ""
            )
        table.caption = caption
        return table


def contexts_view(data: dict[str, Any] | None) -> ContextsTable | None:
    """The contexts table: nesting by indentation, times, RSS and GPU changes, outcome."""
    if not data or not data.get("records"):
        return None
    return ContextsTable(data)


def gpu_view(data: dict[str, Any] | None) -> Text | None:
    """GPU lines: the state when there is no GPU in use, else NVML and torch.cuda figures."""
    if not data:
        return None
    if data.get("state"):
        details = [
            f"NVML: {data.get('nvml')}"
            + (f" ({data['nvml_detail']})" if data.get("nvml_detail") else ""),
            f"torch: {data.get('torch')}",
        ]
        return Text(f"GPU: {data['state']} ({'; '.join(details)})", style="dim")
    out = Text()
    driver = f", driver {data['driver']}" if data.get("driver") else ""
    for d in data.get("devices", []):
        if d.get("process_bytes") in (None, 0) and d.get("allocated_bytes") is None:
            continue  # a device this run does not use
        util = f", {d['util_pct']}% busy" if d.get("util_pct") is not None else ""
        out.append(
            f"GPU cuda:{d['index']} {d.get('name') or ''} (NVML{driver}): device used "
            f"{format_bytes(d.get('used_bytes'))} of {format_bytes(d.get('total_bytes'))}, "
            f"this run {format_bytes(d.get('process_bytes'))}{util}\n"
        )
    out.append(
        f"GPU this run: process {format_bytes(data.get('process_bytes'))} "
        f"(peak {format_bytes(data.get('peak_process_bytes'))}, NVML); torch.cuda allocated "
        f"{format_bytes(data.get('allocated_bytes'))} (peak "
        f"{format_bytes(data.get('peak_allocated_bytes'))}), reserved "
        f"{format_bytes(data.get('reserved_bytes'))} (peak "
        f"{format_bytes(data.get('peak_reserved_bytes'))})"
    )
    if data.get("nvml") != "ok":
        out.append(f"; NVML: {data.get('nvml')}", style="dim")
    if data.get("error"):
        out.append(f"; sampler: {data['error']}", style="red")
    return out
