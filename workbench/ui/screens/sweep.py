"""The Sweep view: a batch-size sweep running live, its curve, its points and its answer.

The screen runs the sweep itself (``engine.sweep_run.run_sweep`` in a thread worker, each
size in its own runner child) and fills in as points come; ``a`` posts
``SweepScreen.BatchSizeApplied`` with the recommended size for the app to use. Leaving
the screen stops the sweep (the run going is stopped, then killed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, ProgressBar, Static

from workbench.engine.protocol import Progress
from workbench.engine.session import RunState, throughput
from workbench.engine.sweep.answer import Answer, recommend
from workbench.engine.sweep.points import SweepPoint, SweepSettings, max_runs
from workbench.engine.sweep.run import SweepResult, run_sweep
from workbench.engine.sweep.stats import SizeResult
from workbench.errors import UserError
from workbench.ui.widgets.run_progress import preparing
from workbench.units import format_rate, format_seconds
from workbench.views.run import progress_text
from workbench.views.sweep import (
    COLUMNS,
    answer_text,
    curve,
    notes,
    size_cells,
    sizes_for,
    sweep_header,
)
from workbench.views.text import user_text

#: ``run_sweep`` or a stand-in with its signature (tests feed constructed points).
SweepRunner = Callable[..., SweepResult]
RUNNING_KEY = "running"


class SweepPlot(Widget):
    """Throughput and peak memory against batch size, log2 axis, redrawn to its width."""

    DEFAULT_CSS = "SweepPlot { height: auto; }"

    points: reactive[tuple[SweepPoint, ...]] = reactive((), layout=True)
    """The points measured so far, in the order run."""
    answer: reactive[Answer | None] = reactive(None)
    """The recommendation so far (its size gets the ★)."""

    def __init__(self, settings: SweepSettings, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.settings = settings

    def render(self) -> Any:
        if not self.points:
            return "no size measured yet"
        return curve(
            self.points, self.settings, self.answer, width=max(20, self.size.width - 1), height=4
        )


class SweepScreen(Screen[None]):
    """A batch-size sweep of one pipeline, filling in live."""

    CSS_PATH = "../styles/sweep.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "apply", "Apply batch size"),
        Binding("s", "stop", "Stop sweep"),
        Binding("escape,q", "close", "Close"),
    ]

    @dataclass
    class RunStarted(Message):
        """The sweep started a run of ``size`` (``phase``: grow, refine or list)."""

        size: int
        phase: str

    @dataclass
    class Progressed(Message):
        """The run going so far; a pending one is replaced by a newer one."""

        size: int
        elapsed_s: float
        items_per_s: float | None
        preparing: Progress | None = None  # what its factory prepares, before its first batch

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SweepScreen.Progressed)

    @dataclass
    class PointMeasured(Message):
        """One more size measured (or failed)."""

        point: SweepPoint

    @dataclass
    class SweepEnded(Message):
        """The sweep is over (done, or stopped: ``result.interrupted``)."""

        result: SweepResult

    @dataclass
    class SweepFailed(Message):
        """The sweep could not run at all (a bad target or parameter)."""

        message: str

    @dataclass
    class BatchSizeApplied(Message):
        """The user applied the recommendation: use ``batch_size`` for ``target``."""

        target: str
        batch_size: int
        point: SizeResult  # the size with its samples

    def __init__(
        self,
        target: str,
        settings: SweepSettings,
        *,
        runner: SweepRunner = run_sweep,
        title: str | None = None,
    ) -> None:
        super().__init__()
        self.target = target
        self.settings = settings
        self.points: list[SweepPoint] = []
        self.answer: Answer | None = None
        self.result: SweepResult | None = None
        self.running: tuple[int, str] | None = None
        self.error: str | None = None
        self._runner = runner
        self._title = title or target
        self._cancel = threading.Event()
        self._kill = threading.Event()
        self._keep: list[int] = list(range(len(COLUMNS)))
        self._gpu_column = True

    def compose(self) -> ComposeResult:
        yield Static(sweep_header(self._title, self.settings), id="sweep-title")
        with Horizontal(id="sweep-progress"):
            yield Static("", id="sweep-progress-text")
            yield ProgressBar(id="sweep-progress-bar", show_eta=False)
        yield Static("starting…", id="sweep-answer")
        with VerticalScroll(id="sweep-body"):
            yield SweepPlot(self.settings, id="sweep-plot")
            yield DataTable(id="sweep-points", cursor_type="row", zebra_stripes=True)
            yield Static("", id="sweep-notes")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#sweep-plot").border_title = "curve"
        self.query_one("#sweep-points").border_title = "points"
        self.query_one("#sweep-answer").border_title = "answer"
        self._columns(bool(self.settings.gpu_memory_budget))
        self._show_progress(None)
        self.start_sweep()

    def _columns(self, gpu: bool) -> None:
        """(Re)build the table's columns; the GPU column only once there is a GPU figure."""
        table = self.query_one("#sweep-points", DataTable)
        self._keep = [i for i, name in enumerate(COLUMNS) if gpu or name != "peak GPU"]
        table.clear(columns=True)
        for i in self._keep:
            table.add_column(COLUMNS[i] or "mark", key=COLUMNS[i] or "mark")
        self._gpu_column = gpu

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="sweep",
        description="batch-size sweep",
    )
    def start_sweep(self) -> None:
        def on_state(size: int, state: RunState) -> None:
            busy = state.progress if preparing(state) else None
            self.post_message(self.Progressed(size, state.elapsed_s, throughput(state), busy))

        try:
            result = self._runner(
                self.target,
                self.settings,
                cancel=self._cancel,
                kill=self._kill,
                on_start=lambda size, phase: self.post_message(self.RunStarted(size, phase)),
                on_point=lambda point: self.post_message(self.PointMeasured(point)),
                on_state=on_state,
            )
        except UserError as exc:
            self.post_message(self.SweepFailed(exc.message))
            return
        self.post_message(self.SweepEnded(result))

    def on_unmount(self) -> None:
        self._cancel.set()

    # ---- what the sweep reports -----------------------------------------------------
    def on_sweep_screen_run_started(self, msg: RunStarted) -> None:
        msg.stop()
        self.running = (msg.size, msg.phase)
        self._refresh(None)

    def on_sweep_screen_progressed(self, msg: Progressed) -> None:
        msg.stop()
        table = self.query_one("#sweep-points", DataTable)
        if self.running and self.running[0] == msg.size and RUNNING_KEY in table.rows:
            # Widened as the figures grow a digit: a column kept narrow would cut them.
            table.update_cell(
                RUNNING_KEY, "items/s", format_rate(msg.items_per_s), update_width=True
            )
            table.update_cell(
                RUNNING_KEY, "outcome", f"● {format_seconds(msg.elapsed_s)}", update_width=True
            )
        self._show_progress(msg.preparing)

    def on_sweep_screen_point_measured(self, msg: PointMeasured) -> None:
        msg.stop()
        self.add_point(msg.point)

    def on_sweep_screen_sweep_ended(self, msg: SweepEnded) -> None:
        msg.stop()
        self.result = msg.result
        self.running = None
        self.points = list(msg.result.points)
        self._refresh(msg.result.answer)

    def on_sweep_screen_sweep_failed(self, msg: SweepFailed) -> None:
        msg.stop()
        self.error, self.running = msg.message, None
        self._refresh(None)
        self.notify(msg.message, title="the sweep cannot run", severity="error")

    def add_point(self, point: SweepPoint) -> None:
        """Show one more point (the table, the curve and the answer so far)."""
        self.points.append(point)
        if self.running and self.running[0] == point.batch_size:
            self.running = None
        self._refresh(None)

    def _refresh(self, answer: Answer | None) -> None:
        self.answer = answer or (recommend(self.points, self.settings) if self.points else None)
        if not self._gpu_column and any(p.gpu_peak_bytes is not None for p in self.points):
            self._columns(True)
        table = self.query_one("#sweep-points", DataTable)
        table.clear()
        sizes = sizes_for(self.points, self.answer, self.settings)
        rates = [z.items_per_s for z in sizes if z.items_per_s]
        best = max(rates) if rates else None
        for i, z in enumerate(sizes):  # one row per size, its samples folded
            cells = size_cells(z, best, self.answer)
            table.add_row(*[cells[c] for c in self._keep], key=f"p{i}")
        if self.running is not None:
            size, phase = self.running
            table.add_row(
                str(size), "", phase, "● running", *[""] * (len(self._keep) - 4), key=RUNNING_KEY
            )
        plot = self.query_one(SweepPlot)
        plot.points = tuple(self.points)
        plot.answer = self.answer
        self._show_progress(None)
        self.query_one("#sweep-notes", Static).update(
            user_text("\n".join(notes(sizes, self.answer)), newlines=True)
        )
        self._show_answer()

    def _show_progress(self, busy: Progress | None) -> None:
        """How far the sweep is (runs done of those it will run at most) and, while a run's
        factory prepares its data, what it prepares."""
        done = len(self.points)
        total = max_runs(self.settings)
        at_most = "at most "
        over = self.result is not None or self.error is not None
        text = Text(f"{done} of {at_most}{total} runs done")
        if over:
            text = Text(f"{done} run{'' if done == 1 else 's'}: the sweep is over")
        elif self.running is not None:
            text.append(f" · batch_size={self.running[0]} running")
            if busy is not None:
                text.append(" · ")
                text.append_text(progress_text(busy))
        self.query_one("#sweep-progress-text", Static).update(text)
        bar = self.query_one("#sweep-progress-bar", ProgressBar)
        bar.update(total=max(total, done), progress=max(total, done) if over else done)

    def _show_answer(self) -> None:
        widget = self.query_one("#sweep-answer", Static)
        if self.error:
            widget.update(user_text(f"✗ {self.error}"))
            return
        if self.answer is None:
            widget.update(
                f"running batch_size={self.running[0]}…" if self.running else "no size measured"
            )
            return
        text = answer_text(self.answer)
        if self.result is None:
            state = f"running batch_size={self.running[0]}" if self.running else "running"
            text.append(f"\n(so far: the sweep is {state})", style="italic")
        elif self.result.interrupted:
            text.append("\n(the sweep was stopped before its end)", style="italic")
        if self.answer.recommended is not None:
            text.append(
                f"\npress a to use batch_size={self.answer.recommended.batch_size}", style="bold"
            )
        widget.update(text)

    # ---- actions ----------------------------------------------------------------------
    def action_apply(self) -> None:
        rec = self.answer.recommended if self.answer else None
        if rec is None:
            self.notify("no recommendation yet", severity="warning")
            return
        self.post_message(self.BatchSizeApplied(self.target, rec.batch_size, rec))
        self.notify(f"batch_size={rec.batch_size} applied")

    def action_stop(self) -> None:
        if self.result is not None or self.error is not None:
            self.notify("the sweep is over", severity="warning")
            return
        if self._cancel.is_set():
            self._kill.set()
            self.notify("killing the run going")
            return
        self._cancel.set()
        self.notify("stopping the sweep (s again kills the run going)")

    def action_close(self) -> None:
        self._cancel.set()
        self.dismiss(None)
