"""The runs of one pipeline, from its run records, so batch sizes compare at a glance.

``m`` marks a run (A, B, C, ... in the first column: text, not colour; up to
``MAX_RUNS``) and ``C`` asks to compare every marked run against the first marked
(``CompareRequested``); with one run marked, it is compared with the run under the cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from workbench.engine.compare import LETTERS, MAX_RUNS
from workbench.ui.widgets.run_header import STATUS_TEXT
from workbench.units import format_bytes, format_rate, format_seconds

COLUMNS = ("#", "batch", "items/s", "peak RSS", "peak GPU", "time", "status", "other params")
SHORT_STATUS = {"budget_exceeded": "over budget", "failed": "failed", "crashed": "crashed"}
MARKS = LETTERS[:MAX_RUNS]


def status_cell(status: str) -> str:
    symbol, word = STATUS_TEXT.get(status, ("?", status))
    return f"{symbol} {SHORT_STATUS.get(status, word)}"


def gpu_cell(rec: dict[str, Any]) -> str:
    """The run's peak GPU memory; "N/A" when its GPU section says there was none (see its
    ``state``), "–" for a record without a GPU section."""
    gpu = rec.get("gpu")
    if not isinstance(gpu, dict):
        return "–"
    peak = gpu.get("peak_bytes")
    return "N/A" if peak is None else format_bytes(peak)


def record_cells(number: int, rec: dict[str, Any], best: bool, mark: str = "") -> tuple[str, ...]:
    """The cells of one record; the fastest finished run gets a ★, a marked one its letter."""
    params = dict(rec.get("params") or {})
    batch = params.pop("batch_size", None)
    mem = rec.get("memory") or {}
    rate = format_rate(rec.get("items_per_s") or 0.0)
    return (
        f"{number} {mark}" if mark else str(number),
        "-" if batch is None else str(batch),
        f"★ {rate}" if best else rate,
        format_bytes(mem.get("rss_peak_bytes")) if mem else "N/A",
        gpu_cell(rec),
        format_seconds(rec.get("duration_s")),
        status_cell(str(rec.get("status"))),
        " ".join(f"{k}={v}" for k, v in params.items()),
    )


class RunsTable(DataTable[str]):
    """Newest run first; ★ marks the fastest finished run, A, B, C, ... the runs to compare."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "mark", "Mark"),
        Binding("C", "compare", "Compare", key_display="C"),
    ]

    @dataclass
    class CompareRequested(Message):
        """``C``: show ``runs`` side by side, the first the base (records as ``load_runs``
        gives them)."""

        runs: list[dict[str, Any]]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.records: dict[str, dict[str, Any]] = {}
        """The records shown, by run id."""
        self.marked: list[str] = []
        """Run ids of the marked runs in the order marked: A (the base) first."""
        self._numbers: dict[str, int] = {}
        self._best: str | None = None

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show_records(self, records: list[dict[str, Any]]) -> None:
        """Show ``records`` (oldest first, as ``records.load_runs`` gives them); marks of
        runs still listed are kept."""
        finished = [r for r in records if r.get("status") == "finished"]
        best = max(finished, key=lambda r: r.get("items_per_s") or 0.0) if finished else None
        self._best = str(best.get("run_id")) if best else None
        self.records = {str(r.get("run_id")): r for r in records}
        self._numbers = {str(r.get("run_id")): n for n, r in enumerate(records, start=1)}
        self.marked = [m for m in self.marked if m in self.records]
        self.clear()
        for number, rec in reversed(list(enumerate(records, start=1))):
            key = str(rec.get("run_id"))
            self.add_row(*record_cells(number, rec, key == self._best, self._mark(key)), key=key)

    def _mark(self, run_id: str) -> str:
        return MARKS[self.marked.index(run_id)] if run_id in self.marked else ""

    def _redraw_marks(self) -> None:
        for run_id, rec in self.records.items():
            cell = record_cells(self._numbers[run_id], rec, False, self._mark(run_id))[0]
            self.update_cell(run_id, "#", cell, update_width=True)

    @property
    def cursor_run(self) -> str | None:
        """The run id under the cursor."""
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def action_mark(self) -> None:
        """Mark the run under the cursor with the next letter (A, B, C, ...), or unmark it
        (the later marks move up a letter)."""
        run_id = self.cursor_run
        if run_id is None:
            self.notify("no run recorded yet", severity="warning")
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        elif len(self.marked) >= MAX_RUNS:
            self.notify(
                f"{MAX_RUNS} runs are marked, as many as fit side by side: unmark one with m",
                severity="warning",
            )
            return
        else:
            self.marked.append(run_id)
        self._redraw_marks()

    def action_compare(self) -> None:
        """Compare every marked run against the first marked (one marked: it and the run
        under the cursor)."""
        runs = list(self.marked)
        cursor = self.cursor_run
        if len(runs) == 1 and cursor is not None and cursor != runs[0]:
            runs.append(cursor)
        if len(runs) < 2:
            self.notify("mark runs with m (A is the base), then press C", severity="warning")
            return
        self.post_message(self.CompareRequested([self.records[r] for r in runs]))
