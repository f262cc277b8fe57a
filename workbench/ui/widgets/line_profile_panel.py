"""A line profile on screen: the source with a timing gutter, or the function view.

Fed with ``LineProfile`` events (``show_profile``) and the cost of looking of each view
(``show_cost``).
The line view lists a profiled function's source with hits, time and % of the function's
time beside each line, the hottest marked #1, #2, #3 (text, not only colour); ``t`` sorts by
time and back, ``[``/``]`` step through the profiled functions. ``f`` switches to the
function view (cProfile: top functions by own or, with ``t``, cumulative time); when no
function profile has been fed yet it posts ``FunctionViewRequested`` for the screen to run
one (a ``LinesJob`` with ``view="functions"``).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from workbench.engine.lines.session import Cost, hottest, line_rows, top_calls
from workbench.engine.protocol_tools import CallStat, LineProfile, ProfiledFunction
from workbench.units import format_count, format_rate, format_seconds
from workbench.views.text import user_text

HOT_STYLE = {1: "bold red", 2: "red", 3: "yellow"}
LINE_COLUMNS = (("line", 5), ("hits", 8), ("time", 8), ("%", 6), ("hot", 3))
CALL_COLUMNS = (("calls", 8), ("own", 8), ("cum", 8))
TOP_CALLS = 30


def _t(s: float) -> str:
    return format_seconds(s) if s > 0 else ""


class LineProfilePanel(Vertical):
    """The profiled functions of a line profile, one at a time, or the function view."""

    DEFAULT_CSS = """
    LineProfilePanel { height: 1fr; padding: 0 1; border-top: solid $primary-muted; }
    LineProfilePanel > .lp-title { text-style: bold; }
    LineProfilePanel > .lp-status { color: $text-muted; height: auto; max-height: 6; }
    LineProfilePanel > DataTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "toggle_sort", "Sort by time"),
        Binding("f", "toggle_view", "Functions"),
        Binding("left_square_bracket", "step(-1)", "Prev function", show=False),
        Binding("right_square_bracket", "step(1)", "Next function", show=False),
    ]

    sort_by_time: reactive[bool] = reactive(False)
    """Lines hottest first (function view: by cumulative time) instead of in source order."""
    view: reactive[str] = reactive("lines")
    """Which view: "lines" (line_profiler) or "functions" (cProfile)."""
    index: reactive[int] = reactive(0)
    """Which profiled function the line view shows."""

    class FunctionViewRequested(Message):
        """``f`` was pressed and no function profile of these stages is here yet."""

        def __init__(self, stages: tuple[str, ...]) -> None:
            super().__init__()
            self.stages = stages

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines_profile: LineProfile | None = None
        self.functions_profile: LineProfile | None = None
        self.costs: dict[str, Cost | None] = {}
        """The cost of looking of each view ("lines", "functions") measured so far."""

    def compose(self) -> ComposeResult:
        yield Static("no line profile yet: select a stage and press l", classes="lp-title")
        yield DataTable(cursor_type="row", zebra_stripes=False, id="lp-table")
        yield Static("", classes="lp-status")

    def on_mount(self) -> None:
        self.border_title = "line profile"
        self._refresh()

    # ---- feeding --------------------------------------------------------------------
    def show_profile(self, profile: LineProfile) -> None:
        """Show a ``LineProfile`` event (its ``view`` says which view it fills)."""
        if profile.view == "functions":
            self.functions_profile = profile
        else:
            self.lines_profile = profile
            self.index = 0
        self.view = profile.view
        self._refresh()

    def show_cost(self, cost: Cost | None, view: str = "lines") -> None:
        """Show the cost of looking of ``view``'s profiler (both throughputs and the
        slowdown), shown with that view."""
        self.costs[view] = cost
        self._refresh()

    @property
    def cost(self) -> Cost | None:
        """The cost of looking of the view shown (None: not measured)."""
        return self.costs.get(self.view)

    def redraw(self) -> None:
        """Draw the view and the status line again from what was fed."""
        self._refresh()

    @property
    def function(self) -> ProfiledFunction | None:
        """The profiled function the line view shows."""
        prof = self.lines_profile
        if prof is None or not prof.functions:
            return None
        return prof.functions[min(self.index, len(prof.functions) - 1)]

    # ---- actions --------------------------------------------------------------------
    def action_toggle_sort(self) -> None:
        self.sort_by_time = not self.sort_by_time

    def action_toggle_view(self) -> None:
        if self.view == "functions":
            self.view = "lines"
        elif self.functions_profile is not None:
            self.view = "functions"
        else:
            stages = self.lines_profile.stages if self.lines_profile else ()
            self.post_message(self.FunctionViewRequested(stages))
            self._status("starting a function profile (cProfile)…")

    def action_step(self, by: int) -> None:
        prof = self.lines_profile
        if prof is not None and prof.functions:
            self.index = (self.index + by) % len(prof.functions)

    def watch_sort_by_time(self) -> None:
        self._refresh()

    def watch_view(self) -> None:
        self._refresh()

    def watch_index(self) -> None:
        self._refresh()

    # ---- drawing --------------------------------------------------------------------
    def _refresh(self) -> None:
        if not self.is_mounted:
            return
        if self.view == "functions" and self.functions_profile is not None:
            self._draw_calls(self.functions_profile.calls)
        else:
            self._draw_lines(self.function)
        self._status(self._status_text())

    def _title(self, text: str | Text) -> None:
        self.query_one(".lp-title", Static).update(text)

    def _status(self, text: str | Text) -> None:
        self.query_one(".lp-status", Static).update(text)

    def _draw_lines(self, fn: ProfiledFunction | None) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for label, width in LINE_COLUMNS:
            table.add_column(label, key=label, width=width)
        table.add_column("source", key="source")
        if fn is None:
            return
        count = len(self.lines_profile.functions) if self.lines_profile else 1
        which = f" ({self.index + 1}/{count}, [ ] to step)" if count > 1 else ""
        kind = f"stage {fn.stage}" if fn.stage else "--function"
        order = "hottest first" if self.sort_by_time else "in source order"
        self._title(
            Text.assemble(
                user_text(fn.name, "bold"),
                " · ",
                user_text(kind),
                f" · {format_seconds(fn.total_s)} · {order}{which}",
            )
        )
        rows = line_rows(fn)
        for r in hottest(rows, None) if self.sort_by_time else rows:
            style = HOT_STYLE.get(r.rank or 0, "" if r.ran else "dim")
            cells = [
                str(r.line),
                f"{r.hits:,}" if r.ran else "",
                _t(r.time_s),
                f"{r.pct:.1f}" if r.ran else "",
                f"#{r.rank}" if r.rank else "",
            ]
            table.add_row(
                *(
                    Text(c, style=style, justify="right" if i < 4 else "left")
                    for i, c in enumerate(cells)
                ),
                user_text(r.text, style),
                key=str(r.line),
            )

    def _draw_calls(self, calls: tuple[CallStat, ...]) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for label, width in CALL_COLUMNS:
            table.add_column(label, key=label, width=width)
        table.add_column("function", key="function")
        by = "cum" if self.sort_by_time else "own"
        self._title(
            Text.assemble(
                ("function view", "bold"),
                f" · cProfile · top {TOP_CALLS} by "
                f"{'cumulative' if by == 'cum' else 'own'} time (t: "
                f"{'own' if by == 'cum' else 'cumulative'})",
            )
        )
        for i, c in enumerate(top_calls(calls, by, TOP_CALLS)):
            where = f"  {c.path.rsplit('/', 1)[-1]}:{c.line}" if c.path != "~" else ""
            mark = "#1 " if i == 0 else ""
            table.add_row(
                Text(f"{c.calls:,}", justify="right"),
                Text(_t(c.own_s), justify="right"),
                Text(_t(c.cum_s), justify="right"),
                user_text(mark + c.name + where, "bold red" if i == 0 else ""),
                key=f"{c.path}:{c.line}:{c.name}",
            )

    def _status_text(self) -> Text:
        prof = self.functions_profile if self.view == "functions" else self.lines_profile
        text = Text()
        if self.cost is not None:
            c = self.cost
            text.append(
                f"cost of looking: {format_rate(c.baseline_items_per_s)} → "
                f"{format_rate(c.profiled_items_per_s)} items/s"
            )
            if c.slowdown is not None:
                text.append(f" ({format_count(c.slowdown)}× slower)", style="bold")
            text.append("\n")
        for line in prof.problems if prof else ():
            text.append_text(user_text(f"! {line}", "red")).append("\n")
        for line in prof.notes if prof else ():
            text.append_text(user_text(f"note: {line}")).append("\n")
        text.append("t sort · f functions/lines · [ ] function")
        return text
