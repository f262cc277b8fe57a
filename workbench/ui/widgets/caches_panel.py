"""The caches of the run: hits, misses, hit rate, entries, bytes, seconds saved; ``c`` clears.

Fed with the ``caches`` section of each snapshot (``update_section``). Clearing asks for a
confirmation, then goes through ``engine.cache_control``: a request to the runner child
while the run is live (answered in a later snapshot), the disk straight from here after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from time import monotonic
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static

from workbench.engine.sections import cache_control
from workbench.engine.sections.cache_entries import CacheRow
from workbench.engine.sections.caches import CachesSection
from workbench.ui.widgets.shown import show
from workbench.units import format_bytes, format_seconds
from workbench.views.caches import COLUMNS, cells, notes
from workbench.views.text import user_text

#: Columns shown: (column of ``views_caches.COLUMNS``, label), the ones every width keeps
#: first (each figure with its unit), then those shown when they fit ("fewer columns
#: rather than cut ones"); the cache's name takes what is left, cut with … if it must.
PANEL_COLUMNS = (
    ("cache", "cache"),
    ("hits", "hits"),
    ("misses", "misses"),
    ("hit rate", "hit %"),
    ("entries", "entries"),
    ("bytes", "size"),
    ("saved", "saved"),
    ("kind", "kind"),
)
#: Columns dropped, in this order, when the panel is too narrow for them.
OPTIONAL = ("kind", "saved")
#: Columns of the cache's name at least; its cell padding (each side) in the table.
NAME_MIN = 8
PAD = 1
_INDEX = {col: COLUMNS.index(col) for col, _ in PANEL_COLUMNS}


def fit_columns(rows: list[tuple[str, ...]], width: int) -> tuple[tuple[str, ...], int]:
    """The columns that fit ``width`` for these cells (rows in ``COLUMNS`` order) and the
    width of the name column: optional columns go before the name is cut below its
    length (never below ``NAME_MIN``)."""

    def need(col: str, label: str) -> int:
        return max([len(label)] + [len(r[_INDEX[col]]) for r in rows])

    keep = [col for col, _ in PANEL_COLUMNS]
    labels = dict(PANEL_COLUMNS)
    name = need("cache", "cache")
    room = width
    for drop in (None, *OPTIONAL):
        if drop is not None:
            keep.remove(drop)
        others = sum(need(c, labels[c]) + 2 * PAD for c in keep if c != "cache")
        room = width - others - 2 * PAD
        if room >= name:
            return tuple(keep), name
    return tuple(keep), max(NAME_MIN, room)


NOTE_S = 8.0  # how long the outcome of a clear stays in the status line


class ConfirmClear(ModalScreen[bool]):
    """Clear this cache? ``y``/Enter clears, ``n``/Esc does not."""

    DEFAULT_CSS = """
    ConfirmClear { align: center middle; }
    ConfirmClear > Vertical {
        width: 60; max-width: 95%; height: auto; padding: 0 1;
        border: round $error; background: $surface;
    }
    ConfirmClear Label { width: 100%; margin: 0 0 1 0; }
    ConfirmClear Horizontal { height: auto; align-horizontal: right; }
    ConfirmClear Button { margin: 0 0 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Clear"),
        Binding("n,escape", "answer(False)", "Keep"),
    ]

    def __init__(self, name: str, detail: str) -> None:
        super().__init__()
        self.cache_name = name
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                user_text(f"Clear the cache {self.cache_name}? {self.detail}"), id="clear-what"
            )
            yield Label("y clears, n or Esc keeps it", classes="note")
            with Horizontal():
                yield Button("Clear", variant="error", id="clear", compact=True)
                yield Button("Keep", id="keep", compact=True)

    def on_mount(self) -> None:
        self.query_one(Vertical).border_title = "clear cache"
        self.query_one("#keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "clear")

    def action_answer(self, clear: bool) -> None:
        self.dismiss(clear)


class CachesPanel(Vertical):
    """One row per cache the run touches; the selected one is cleared with ``c``."""

    DEFAULT_CSS = """
    CachesPanel { height: auto; padding: 0 1; border-top: solid $primary-muted; }
    CachesPanel > DataTable { height: auto; max-height: 8; }
    CachesPanel > .caches-status { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("c", "clear_cache", "Clear cache")]

    class ClearFinished(Message):
        """A clear asked for from this panel is done (or could not be)."""

        def __init__(self, name: str, ok: bool, message: str) -> None:
            super().__init__()
            self.name = name
            self.ok = ok
            self.message = message

    class ClearAnswered(Message):
        """From the clearing worker thread back to the panel: what ``clear_cache`` said."""

        def __init__(self, outcome: cache_control.ClearOutcome) -> None:
            super().__init__()
            self.outcome = outcome

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.section: CachesSection | None = None
        self._keys: tuple[str, ...] = ()
        self._pending: dict[str, str] = {}  # request id -> cache name
        self._note_until = 0.0  # a clear's message stays up until then
        self._layout: tuple[tuple[str, ...], int] = ((), 0)

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", zebra_stripes=False, id="caches-table")
        yield Static("no caches seen yet", classes="caches-status")

    def on_mount(self) -> None:
        self.border_title = "caches"
        self._relayout([])

    def on_resize(self) -> None:
        self._relayout(self.section.caches if self.section is not None else ())

    def _relayout(self, rows: Sequence[CacheRow]) -> bool:
        """Choose the columns for the panel's width; rebuild the table if they changed.
        True when it was rebuilt (its rows are to be added again)."""
        width = (self.content_region.width or 56) - 1  # a column for the scrollbar
        layout = fit_columns([cells(r) for r in rows], width)
        if layout == self._layout:
            return False
        self._layout = layout
        columns, name_width = layout
        table = self.query_one(DataTable)
        selected = self.selected_name()
        table.clear(columns=True)
        labels = dict(PANEL_COLUMNS)
        for col in columns:
            table.add_column(labels[col], key=col, width=name_width if col == "cache" else None)
        for r in rows:
            table.add_row(*self._cells(r), key=r.name)
        self._keys = tuple(r.name for r in rows)
        if selected in self._keys:
            table.move_cursor(row=self._keys.index(selected))
        return True

    # ---- feeding ------------------------------------------------------------------------
    def update_section(self, data: CachesSection | None, why: str | None = None) -> None:
        """Show the ``caches`` section of the latest snapshot (None: nothing yet; ``why``:
        the reason it could not be read, when it could not)."""
        self.section = data
        rows = data.caches if data is not None else ()
        table = self.query_one(DataTable)
        keys = tuple(r.name for r in rows)
        if self._relayout(rows):
            pass  # rebuilt with every row
        elif keys != self._keys:
            selected = self.selected_name()
            table.clear()
            for r in rows:
                table.add_row(*self._cells(r), key=r.name)
            self._keys = keys
            if selected in keys:
                table.move_cursor(row=keys.index(selected))
        else:
            for r in rows:
                for col, value in zip(self._layout[0], self._cells(r), strict=True):
                    # A figure that grew a digit widens its column (the name's is fixed,
                    # cut with …); a column kept at its old width would cut the figure.
                    table.update_cell(r.name, col, value, update_width=col != "cache")
        self._check_served()
        if self._pending or monotonic() < self._note_until:
            return
        if data is None and why:
            self._status(f"caches not shown: {why}")
        elif not rows:
            self._status("no caches seen in this run" if data is not None else "no caches seen yet")
        else:
            self._status(self._summary(rows))

    def _cells(self, row: CacheRow) -> list[Text]:
        texts = cells(row)
        style = "" if row.available else "dim"
        out = []
        for col in self._layout[0]:
            text = user_text(texts[_INDEX[col]], style)
            text.justify = "left" if col in ("cache", "kind") else "right"
            if col == "cache":
                text.truncate(self._layout[1], overflow="ellipsis")
            out.append(text)
        return out

    @staticmethod
    def _summary(rows: Sequence[CacheRow]) -> str:
        saved = sum(r.seconds_saved or 0.0 for r in rows)
        text = (
            f"{len(rows)} cache(s), {format_seconds(saved)} saved in all · "
            "c clears the selected one"
        )
        return "\n".join([text, *(f"! {n}" for n in notes(rows))])

    def _status(self, text: str, hold_s: float = 0.0) -> None:
        # Cache names and a clear's message are user text: shown as written, never markup.
        show(self.query_one(".caches-status", Static), user_text(text, newlines=True))
        if hold_s:
            self._note_until = monotonic() + hold_s

    def _check_served(self) -> None:
        for req_id, name in list(self._pending.items()):
            answer = cache_control.served(self.section, req_id)
            if answer is None and cache_control.is_live(self.section):
                continue  # not answered yet, and the run can still answer
            del self._pending[req_id]
            if answer is None:
                ok, message = False, f"the run ended before clearing {name}"
            else:
                ok, message = answer.ok, answer.message
            self._status(message, NOTE_S)
            self.post_message(self.ClearFinished(name, ok, message))

    # ---- clearing -----------------------------------------------------------------------
    def selected_name(self) -> str | None:
        table = self.query_one(DataTable)
        if not self._keys or table.cursor_row < 0 or table.cursor_row >= len(self._keys):
            return None
        return self._keys[table.cursor_row]

    def action_clear_cache(self) -> None:
        name = self.selected_name()
        if name is None:
            self.notify("no cache to clear", severity="warning")
            return
        row = cache_control.find_row(self.section, name)
        entries = row.entries if row is not None else None
        nbytes = row.bytes if row is not None else None
        detail = f"({entries or 0} entries"
        if nbytes is not None:
            detail += f", {format_bytes(nbytes)}"
        detail += ", on disk)" if row is not None and row.kind == "disk" else ", in memory)"

        def confirmed(clear: bool | None) -> None:
            if clear:
                self._status(f"clearing {name}…")
                self.clear_in_background(name)

        self.app.push_screen(ConfirmClear(name, detail), confirmed)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="caches-clear",
        description="clearing a cache",
    )
    def clear_in_background(self, name: str) -> None:
        """Ask the run to clear ``name``, or clear it on disk (may take a while)."""
        try:
            outcome = cache_control.clear_cache(self.section, name)
        except OSError as exc:
            outcome = cache_control.ClearOutcome(
                name, None, False, False, f"cannot clear {name}: {exc}"
            )
        self.post_message(self.ClearAnswered(outcome))

    def on_caches_panel_clear_answered(self, event: ClearAnswered) -> None:
        event.stop()
        out = event.outcome
        if out.pending and out.request_id:
            self._pending[out.request_id] = out.name
            self._status(f"{out.message}…")
            return
        self._status(out.message, NOTE_S)
        self.post_message(self.ClearFinished(out.name, out.ok, out.message))
