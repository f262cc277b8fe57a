"""The runs of one pipeline, from its run records, so batch sizes compare at a glance.

Newest first, or fastest first (``o`` switches). ``m`` marks a run (A, B, C, ... in the
first column: text, not colour; up to ``MAX_RUNS``) and ``C`` asks to compare every marked
run against the first marked (``CompareRequested``); with one run marked, it is compared
with the run under the cursor. A run cancelled before its first batch is listed as
"cancelled" with no figures: it is no result, and it is neither ranked, starred nor
compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.console import JustifyMethod
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from workbench.engine.compare import LETTERS, MAX_RUNS
from workbench.engine.records import is_cancelled, is_result
from workbench.ui.widgets.run_header import CANCELLED, STATUS_TEXT
from workbench.units import format_bytes, format_rate, format_seconds
from workbench.views.text import user_text

#: Every column: (key, label). "peak private" is the report's ``memory.private_peak_bytes``.
COLUMNS = (
    ("#", "#"),
    ("batch", "batch"),
    ("items/s", "items/s"),
    ("batch/s", "batch/s"),
    ("peak private", "peak priv"),
    ("peak RSS", "peak RSS"),
    ("peak GPU", "peak GPU"),
    ("status", "status"),
    ("time", "time"),
    ("other params", "other params"),
)
#: Dropped first when the table is narrow (the others fit 56 columns).
OPTIONAL = ("peak RSS", "batch/s")
SHORT_STATUS = {"budget_exceeded": "over budget", "failed": "failed", "crashed": "crashed"}
MARKS = LETTERS[:MAX_RUNS]
_JUSTIFY: dict[str, JustifyMethod] = {
    c: "right"
    for c in ("batch", "items/s", "batch/s", "peak private", "peak RSS", "peak GPU", "time")
}
#: Widths of the table at which the optional columns show.
WIDE = 76


def record_status(rec: dict[str, Any]) -> str:
    """The status a record is shown with ("cancelled" for a stop before the first batch)."""
    return CANCELLED if is_cancelled(rec) else str(rec.get("status"))


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


def _mem(rec: dict[str, Any], key: str) -> str:
    mem = rec.get("memory")
    value = mem.get(key) if isinstance(mem, dict) else None
    return "–" if value is None else format_bytes(value)


def record_cells(number: int, rec: dict[str, Any], best: bool, mark: str = "") -> dict[str, str]:
    """The cells of one record by column key; the fastest finished run gets a ★, a marked
    its letter; a cancelled run shows no figures."""
    params = dict(rec.get("params") or {})
    batch = params.pop("batch_size", None)
    cancelled = is_cancelled(rec)
    rate = "–" if cancelled else format_rate(rec.get("items_per_s") or 0.0)
    batches = rec.get("batches_per_s")
    return {
        "#": f"{number} {mark}" if mark else str(number),
        "batch": "-" if batch is None else user_text(batch).plain,
        "items/s": f"★ {rate}" if best else rate,
        "batch/s": "–" if cancelled or batches is None else format_rate(batches),
        "peak private": "–" if cancelled else _mem(rec, "private_peak_bytes"),
        "peak RSS": "–" if cancelled else _mem(rec, "rss_peak_bytes"),
        "peak GPU": gpu_cell(rec),
        "time": "–" if cancelled else format_seconds(rec.get("duration_s")),
        "status": status_cell(record_status(rec)),
        "other params": user_text(" ".join(f"{k}={v}" for k, v in params.items())).plain,
    }


def other_params(params: Any) -> dict[str, str]:
    """The parameters but the batch size, as text (records keep numbers, settings text)."""
    if not isinstance(params, dict):
        return {}
    return {str(k): str(v) for k, v in params.items() if k != "batch_size"}


def _rate(rec: dict[str, Any]) -> float:
    value = rec.get("items_per_s")
    return float(value) if isinstance(value, int | float) and is_result(rec) else -1.0


class RunsTable(DataTable[Text]):
    """Newest run first (or fastest first); ★ marks the fastest finished run, A, B, C, ... the
    runs to compare."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "mark", "Mark"),
        Binding("C", "compare", "Compare", key_display="C"),
        Binding("o", "order", "Order"),
    ]

    @dataclass
    class CompareRequested(Message):
        """``C``: show ``runs`` side by side, the first the base (records as ``load_runs``
        gives them)."""

        runs: list[dict[str, Any]]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.records: dict[str, dict[str, Any]] = {}
        """The records shown, by run id."""
        self.marked: list[str] = []
        """Run ids of the marked runs in the order marked: A (the base) first."""
        self.by_rate = False
        """Fastest first (``o``) rather than newest first."""
        self._numbers: dict[str, int] = {}
        self._best: str | None = None
        self._title = "runs (from records)"
        self._columns: tuple[str, ...] = ()
        self._widths: dict[str, int] = {}

    def on_mount(self) -> None:
        self._fill()  # the header, before any record

    @property
    def title(self) -> str:
        """What the table lists (its border title adds the order)."""
        return self._title

    @title.setter
    def title(self, text: str) -> None:
        self._title = text
        self._show_title()

    def _show_title(self, extra: str = "") -> None:
        order = " · fastest first (o)" if self.by_rate else ""
        shared = self._shared_params()
        params = f" · {shared}" if shared else ""
        self.border_title = user_text(f"{self._title}{params}{order}{extra}")  # never markup

    def show_reading(self, done: int, total: int) -> None:
        """Say how far the records are read (a long history takes a while)."""
        if total > 0 and done < total:
            self._show_title(f" · reading {done:,}/{total:,} files {_bar(done, total)}")
        else:
            self._show_title()

    def _shared_params(self) -> str | None:
        """The other parameters (batch size apart) when every run listed had the same, as
        text: the title says them once instead of a column repeating them."""
        seen = {record_cells(0, r, False)["other params"] for r in self.records.values()}
        return seen.pop() if len(seen) == 1 else None

    def _wanted_columns(self) -> tuple[str, ...]:
        width = self.size.width or WIDE
        shared = self._shared_params() is not None
        gpu = any(
            isinstance(r.get("gpu"), dict) and r["gpu"].get("peak_bytes")
            for r in self.records.values()
        )
        keep = []
        for key, _ in COLUMNS:
            if key == "peak GPU" and not gpu:
                continue
            if key in OPTIONAL and width < WIDE:
                continue
            if key == "other params" and shared:
                continue
            keep.append(key)
        return tuple(keep)

    def show_records(
        self, records: list[dict[str, Any]], params: dict[str, Any] | None = None
    ) -> None:
        """Show ``records`` (oldest first, as ``records.load_runs`` gives them); marks of
        runs still listed are kept. ★ goes to the fastest finished run, among those with
        the other ``params`` (batch size apart) when given: a run at other parameters
        measured something else."""
        want = other_params(params) if params is not None else None
        finished = [
            r
            for r in records
            if r.get("status") == "finished"
            and (want is None or other_params(r.get("params")) == want)
        ]
        best = max(finished, key=lambda r: r.get("items_per_s") or 0.0) if finished else None
        self._best = str(best.get("run_id")) if best else None
        self.records = {str(r.get("run_id")): r for r in records}
        # The history number (``pipebench history``, ``compare N M``), where the record has one
        self._numbers = {
            str(r.get("run_id")): int(r.get("_number") or n) for n, r in enumerate(records, start=1)
        }
        self.marked = [m for m in self.marked if m in self.records]
        self._fill(keep_cursor=False)
        self._show_title()

    def _fill(self, keep_cursor: bool = True) -> None:
        """(Re)build the rows (and the columns when they change); the cursor stays on its
        run when ``keep_cursor``, else it goes to the first row (new records: the newest)."""
        cursor = self.cursor_run if keep_cursor else None
        columns = self._wanted_columns()
        order = list(self.records.items())[::-1]  # newest first
        if self.by_rate:
            order.sort(key=lambda kv: _rate(kv[1]), reverse=True)
        rows = [
            (key, record_cells(self._numbers[key], rec, key == self._best, self._mark(key)))
            for key, rec in order
        ]
        # Widths from the cells themselves (and room for an A/B mark), set once: the table
        # never shows a cut cell while it catches up.
        labels = dict(COLUMNS)
        widths = {
            c: max([len(labels[c])] + [len(cells[c]) for _, cells in rows]) + (2 * (c == "#"))
            for c in columns
        }
        if columns != self._columns or widths != self._widths:
            self.clear(columns=True)
            for c in columns:
                self.add_column(labels[c], key=c, width=widths[c])
            self._columns, self._widths = columns, widths
        else:
            self.clear()
        for key, cells in rows:
            # Text, not str: a DataTable reads a str cell as markup.
            self.add_row(
                *(Text(cells[c], justify=_JUSTIFY.get(c, "left")) for c in columns), key=key
            )
        if cursor in self.records:
            self.move_cursor(row=self.get_row_index(cursor))

    def on_resize(self, event: events.Resize) -> None:
        if self._wanted_columns() != self._columns:
            self._fill()

    def _mark(self, run_id: str) -> str:
        return MARKS[self.marked.index(run_id)] if run_id in self.marked else ""

    def _redraw_marks(self) -> None:
        for run_id, rec in self.records.items():
            cell = record_cells(self._numbers[run_id], rec, False, self._mark(run_id))["#"]
            self.update_cell(run_id, "#", Text(cell))

    @property
    def cursor_run(self) -> str | None:
        """The run id under the cursor."""
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def action_order(self) -> None:
        """Newest first, or fastest first (items/s; runs that are no result last)."""
        self.by_rate = not self.by_rate
        self._fill()
        self._show_title()

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
        for run_id in runs:
            if is_cancelled(self.records[run_id]):
                self.notify(
                    f"run {self._numbers[run_id]} was cancelled before its first batch: "
                    "it measured nothing to compare",
                    severity="warning",
                )
                return
        self.post_message(self.CompareRequested([self.records[r] for r in runs]))


def _bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else 0
    return "━" * filled + "╌" * (width - filled)
