"""The runs of one pipeline, from its run records, so batch sizes compare at a glance."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from workbench.engine.units import format_bytes, format_rate, format_seconds
from workbench.ui.widgets.run_header import STATUS_TEXT

COLUMNS = ("#", "batch", "items/s", "peak RSS", "time", "status", "other params")
SHORT_STATUS = {"budget_exceeded": "over budget", "failed": "failed", "crashed": "crashed"}


def status_cell(status: str) -> str:
    symbol, word = STATUS_TEXT.get(status, ("?", status))
    return f"{symbol} {SHORT_STATUS.get(status, word)}"


def record_cells(number: int, rec: dict[str, Any], best: bool) -> tuple[str, ...]:
    """The cells of one record; the fastest finished run gets a ★."""
    params = dict(rec.get("params") or {})
    batch = params.pop("batch_size", None)
    mem = rec.get("memory") or {}
    rate = format_rate(rec.get("items_per_s") or 0.0)
    return (
        str(number),
        "-" if batch is None else str(batch),
        f"★ {rate}" if best else rate,
        format_bytes(mem.get("rss_peak_bytes")) if mem else "N/A",
        format_seconds(rec.get("duration_s")),
        status_cell(str(rec.get("status"))),
        " ".join(f"{k}={v}" for k, v in params.items()),
    )


class RunsTable(DataTable[str]):
    """Newest run first; ★ marks the fastest finished run."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show_records(self, records: list[dict[str, Any]]) -> None:
        """Show ``records`` (oldest first, as ``records.load_runs`` gives them)."""
        finished = [r for r in records if r.get("status") == "finished"]
        best = max(finished, key=lambda r: r.get("items_per_s") or 0.0) if finished else None
        self.clear()
        for number, rec in reversed(list(enumerate(records, start=1))):
            self.add_row(*record_cells(number, rec, rec is best), key=str(rec.get("run_id")))
