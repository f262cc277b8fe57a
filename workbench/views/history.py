"""The history table: recorded runs, numbered as ``pipebench compare`` takes them.

What ``pipebench history`` prints; the TUI's runs table shows the same records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from workbench.engine.records import is_cancelled
from workbench.units import format_bytes, format_rate, format_seconds
from workbench.views.text import user_text

STATUS_MARK = {"finished": "✓", "stopped": "■", "cancelled": "■", "budget_exceeded": "▲"}
STATUS_SHORT = {"budget_exceeded": "budget"}


#: Columns of the history table whose figures are right-aligned.
_RIGHT = frozenset({"#", "batch", "items/s", "peak RSS", "peak GPU", "time"})
#: Narrowest the "other params" column gets; below it they go under the table instead.
PARAMS_MIN_WIDTH = 20


#: The most characters of a pipeline name a history row shows.
NAME_LIMIT = 160


def history_table(runs: Sequence[tuple[int, dict[str, Any]]], width: int = 80) -> Table:
    """Recorded runs, numbered as ``pipebench compare`` takes them (1 the oldest).

    The start time, duration and run id show from 110 columns up, the GPU column when a
    run has one. Numbers are never cut; pipeline names are never cut either (they are what
    ``pipebench history NAME`` takes) but wrap where the line is too narrow; the parameters that differ between the runs listed wrap instead: in a column
    that takes what the others leave of ``width``, or, where that is under
    ``PARAMS_MIN_WIDTH`` columns, one wrapped line per run under the table.
    """
    wide = width >= 110
    gpu = any(
        isinstance(r.get("gpu"), dict) and r["gpu"].get("peak_bytes") is not None for _, r in runs
    )
    cols = (
        ["#"]
        + (["started UTC"] if wide else [])
        + ["pipeline", "batch", "status", "items/s", "peak RSS"]
    )
    cols += ["peak GPU"] if gpu else []
    cols += ["time", "run id"] if wide else []
    varying, same = _split_params([r for _, r in runs])
    rows = [_history_cells(number, rec, varying, gpu) for number, rec in runs]
    # Each column costs its widest cell plus 3 (padding and rule); no padding at the edges.
    fixed = sum(max(cell_len(c), *(cell_len(r[c].plain) for r in rows)) + 3 for c in cols)
    in_column = bool(varying) and width - fixed - 3 >= PARAMS_MIN_WIDTH
    if in_column:
        cols.append("other params")
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        expand=in_column,  # the parameters take what the other columns leave
        width=width if in_column else None,
        padding=(0, 1),
        caption_justify="left",
    )
    notes: list[Text] = []
    if same:
        notes.append(
            Text("the same in every run listed: ").append_text(
                user_text(" ".join(f"{k}={v}" for k, v in same.items()))
            )
        )
    if varying and not in_column:
        notes += [
            Text(f"#{n} ").append(row["other params"])
            for (n, _), row in zip(runs, rows, strict=True)
        ]
    if notes:
        table.caption = Text("\n", style="dim").join(notes)
    for name in cols:
        # Figures and the run number keep their whole width; where the line is too narrow,
        # a long pipeline name (or the parameters) wraps onto the next lines instead.
        whole = name not in ("pipeline", "other params")
        table.add_column(
            name,
            no_wrap=whole,
            overflow="fold",
            min_width=max([cell_len(name)] + [cell_len(r[name].plain) for r in rows])
            if whole
            else None,
            ratio=1 if name == "other params" else None,
            justify="right" if name in _RIGHT else "left",
        )
    for row in rows:
        table.add_row(*[row[c] for c in cols])
    return table


def _history_cells(
    number: int, rec: dict[str, Any], varying: Sequence[str], gpu: bool
) -> dict[str, Text]:
    """One run's cells of the history table, by column name."""
    params = dict(rec.get("params") or {})
    batch = params.pop("batch_size", None)
    status = "cancelled" if is_cancelled(rec) else str(rec.get("status"))
    style = {"finished": "green", "stopped": "yellow", "cancelled": "dim"}.get(status, "red")
    cells = {
        "#": Text(str(number)),
        "started UTC": user_text(str(rec.get("started_at") or "?")[5:16].replace("T", " ")),
        # a name of thousands of characters wraps onto a few lines, then is cut
        "pipeline": user_text(rec.get("pipeline") or rec.get("target"), limit=NAME_LIMIT),
        "batch": user_text("–" if batch is None else batch),
        "status": user_text(
            f"{STATUS_MARK.get(status, '✗')} {STATUS_SHORT.get(status, status)}", style
        ),
        "items/s": Text(format_rate(rec.get("items_per_s") or 0.0)),
        "peak RSS": Text(format_bytes((rec.get("memory") or {}).get("rss_peak_bytes"))),
        "time": Text(format_seconds(rec.get("duration_s"))),
        "run id": user_text(rec.get("run_id")),
        "other params": user_text(" ".join(f"{k}={v}" for k, v in params.items() if k in varying)),
    }
    if gpu:
        peak = (
            (rec.get("gpu") or {}).get("peak_bytes") if isinstance(rec.get("gpu"), dict) else None
        )
        cells["peak GPU"] = Text(format_bytes(peak) if peak is not None else "N/A")
    return cells


def _split_params(runs: Sequence[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    """The parameters (batch size aside) whose values differ between runs, and the others
    with their one value."""
    values: dict[str, set[str]] = {}
    for r in runs:
        params = r.get("params") or {}
        for k in params:
            values.setdefault(k, set())
    for r in runs:
        params = r.get("params") or {}
        for k in values:
            values[k].add(repr(params.get(k, "–")))
    values.pop("batch_size", None)
    varying = [k for k, v in values.items() if len(v) > 1]
    first = runs[0].get("params") or {} if runs else {}
    same = {k: first.get(k) for k, v in values.items() if len(v) == 1}
    return varying, same
