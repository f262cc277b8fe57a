"""The line profile of one stage: a profiled run of the pipeline, then its hot lines.

The screen runs the same two-run plan as ``pipebench lines``: one ``LinesJob`` per request,
followed by the one run follower (``engine.follow.Follower``) in a thread worker. On
opening, the stage is profiled with line_profiler and the job then runs the same pipeline
unprofiled, with the same parameters and limits, for the cost of looking; ``f`` in the panel
asks for the function view, a job of its own with cProfile (and its own baseline). The
follower calls back at most every ``follow.INTERVAL_S``: ``Updated`` (a pending one is
replaced by a newer one), ``RunEnded`` after each of the job's runs, ``Ended`` last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from workbench.engine.follow import Follower, Starter, Update
from workbench.engine.lines.runner import LinesJob, LinesRequest
from workbench.engine.lines.session import (
    BASELINE,
    PROFILE,
    LinesState,
    cost_of_looking,
    run_of,
    running_phase,
)
from workbench.engine.runner import start_run
from workbench.engine.session import RunState, stage_rows, throughput
from workbench.text import printable
from workbench.ui.widgets.line_profile_panel import LineProfilePanel
from workbench.ui.widgets.run_header import STATUS_TEXT
from workbench.units import format_count, format_rate, format_seconds
from workbench.views.text import user_text

#: What each run is, by the job's view ("lines", "functions") or "baseline".
PHASE_TEXT = {
    "lines": "line profile (line_profiler)",
    "functions": "function profile (cProfile)",
    BASELINE: "unprofiled baseline (cost of looking)",
}


def progress_text(what: str, state: RunState) -> Text:
    """One line on the run going or done: what it is (a ``PHASE_TEXT`` key), its status,
    time and items."""
    symbol, word = STATUS_TEXT.get(state.status, ("?", state.status))
    rows = stage_rows(state)
    items = rows[-1].items if rows else 0
    text = Text()
    text.append(f"{symbol} {word}", style="bold")
    text.append(
        f"  {PHASE_TEXT.get(what, what)} · {format_seconds(state.elapsed_s)} · "
        f"{items:,} items · {format_rate(throughput(state))} items/s"
    )
    if state.message and state.ended:
        text.append("\n").append_text(user_text(state.message, "italic"))
    return text


class LineProfileScreen(Screen[None]):
    """One stage profiled line by line (``f``: by function), with the cost of looking."""

    CSS_PATH = "../styles/tools.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "stop", "Stop run"),
        Binding("o", "cost", "Cost of looking"),
        Binding("escape,q", "close", "Close"),
    ]

    @dataclass
    class Updated(Message):
        """The job of ``view`` folded so far; a pending one is replaced by a newer one."""

        view: str
        state: LinesState

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LineProfileScreen.Updated) and message.view == self.view

    @dataclass
    class RunEnded(Message):
        """One run of the job of ``view`` ended: its profile (``PROFILE``) or baseline."""

        view: str
        phase: str
        state: LinesState

    @dataclass
    class Ended(Message):
        """The job of ``view`` is over; ``state`` is final. ``error``: following it failed
        (a pipebench bug), what it raised."""

        view: str
        state: LinesState
        error: str | None = None

    def __init__(
        self,
        target: str,
        params: dict[str, str],
        stage: str,
        *,
        title: str | None = None,
        starter: Starter = start_run,
        max_batches: int | None = None,
        max_seconds: float | None = None,
    ) -> None:
        super().__init__()
        self.target = target
        self.params = dict(params)
        self.stage = stage
        self.follower: Follower[LinesState] | None = None
        self.view: str | None = None
        """The view of the job going or last run ("lines" or "functions")."""
        self.ended = True
        """The job last started is over (or none was started)."""
        self.states: dict[str, LinesState] = {}
        """The latest state of each view's job ("lines", "functions")."""
        self._title = title or target
        self._starter = starter
        self.max_batches = max_batches
        self.max_seconds = max_seconds

    def compose(self) -> ComposeResult:
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        yield Static(
            Text.assemble(
                ("line profile ", "bold"),
                ("of stage ", "bold"),
                user_text(self.stage, "bold"),
                " · ",
                user_text(f"{self._title} {params}"),
            ),
            id="lp-head",
        )
        yield Static("starting…", id="lp-progress")
        yield LineProfilePanel(id="lp-panel")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#lp-table").focus()
        self.start("lines")

    # ---- the job ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return not self.ended

    def request(self, view: str, stages: tuple[str, ...] = ()) -> LinesRequest:
        """What ``pipebench lines`` would be asked for this view of these stages."""
        return LinesRequest(
            self.target,
            self.params,
            stages or (self.stage,),
            view=view,
            max_batches=self.max_batches,
            max_seconds=self.max_seconds,
        )

    def start(self, view: str, stages: tuple[str, ...] = ()) -> None:
        """Start the job of ``view`` ("lines" or "functions"): the profile, then its
        baseline; follow it in a thread worker."""
        if self.running:
            self.notify("a run is going: wait for it, or stop it with s", severity="warning")
            return
        self.view, self.ended = view, False

        def updated(update: Update[LinesState]) -> None:  # in the worker's thread
            if update.ended:
                self.post_message(self.Ended(view, update.state))
            elif update.run_ended and update.step is not None:
                self.post_message(self.RunEnded(view, update.step.label, update.state))
            else:
                self.post_message(self.Updated(view, update.state))

        self.follower = Follower(
            LinesJob(self.request(view, stages)), starter=self._starter, on_update=updated
        )
        self.query_one("#lp-progress", Static).update(f"starting the {PHASE_TEXT[view]}…")
        self.follow(self.follower, view)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="line-profile",
        description="following the line-profile job",
    )
    def follow(self, follower: Follower[LinesState], view: str) -> None:
        """Run the follower to the job's end (its last update posts ``Ended``)."""
        try:
            follower.run()
        except Exception as exc:  # a bug here must not leave the screen waiting forever
            self.post_message(self.Ended(view, follower.state, f"{type(exc).__name__}: {exc}"))

    def _fold(self, view: str, state: LinesState) -> None:
        """Keep ``state`` and show its profile as soon as it has come."""
        before = self.states.get(view)
        self.states[view] = state
        if state.profile is not None and (before is None or before.profile is not state.profile):
            self.query_one(LineProfilePanel).show_profile(state.profile)

    def _progress(self, view: str, phase: str, state: LinesState) -> Text | None:
        run = run_of(state, phase)
        if run is None:
            return None
        return progress_text(view if phase == PROFILE else BASELINE, run)

    def on_line_profile_screen_updated(self, msg: Updated) -> None:
        msg.stop()
        if msg.view != self.view or self.ended:
            return
        self._fold(msg.view, msg.state)
        phase = running_phase(msg.state)
        text = self._progress(msg.view, phase, msg.state) if phase else None
        if text is not None:
            self.query_one("#lp-progress", Static).update(text)

    def on_line_profile_screen_run_ended(self, msg: RunEnded) -> None:
        msg.stop()
        self._fold(msg.view, msg.state)
        text = self._progress(msg.view, msg.phase, msg.state)
        run = run_of(msg.state, msg.phase)
        if text is None or run is None:
            return
        if run.failure is not None:
            text.append("\n✗ ").append_text(user_text(run.failure.message, "bold"))
        elif msg.phase == PROFILE and msg.state.profile is not None:
            text.append("  · next: the same run unprofiled, for the cost of looking", "dim")
        self.query_one("#lp-progress", Static).update(text)
        if msg.phase == BASELINE:
            self._show_cost(msg.view, msg.state)

    def on_line_profile_screen_ended(self, msg: Ended) -> None:
        msg.stop()
        self._fold(msg.view, msg.state)
        if msg.view == self.view:
            self.ended = True
        if msg.error is not None:
            self.notify(
                printable(f"following the line profile failed: {msg.error}"),
                severity="error",
                markup=False,
            )
        elif msg.state.baseline is None and msg.state.profile is not None:
            self.notify(
                "no cost of looking: the job ended before the unprofiled run", severity="warning"
            )

    def _show_cost(self, view: str, state: LinesState) -> None:
        cost = cost_of_looking(state)
        if cost is None:
            self.notify(
                "no cost of looking: one of the two runs measured nothing", severity="warning"
            )
        self.query_one(LineProfilePanel).show_cost(cost, view)

    def on_line_profile_panel_function_view_requested(
        self, msg: LineProfilePanel.FunctionViewRequested
    ) -> None:
        msg.stop()
        if self.running:
            self.notify(
                "the function view runs once this job is over (or stop it with s)",
                severity="warning",
            )
            self.query_one(LineProfilePanel).redraw()  # not starting: its status says so again
            return
        self.start("functions", msg.stages)

    # ---- actions ------------------------------------------------------------------------
    def action_cost(self) -> None:
        """Say the cost of looking of the view shown; measure it again (the profile and its
        baseline) when its job ended before it was measured."""
        panel = self.query_one(LineProfilePanel)
        view = panel.view
        cost = panel.cost
        if cost is not None:
            slower = f", {format_count(cost.slowdown)}× slower" if cost.slowdown else ""
            self.notify(
                f"cost of looking: {format_rate(cost.baseline_items_per_s)} → "
                f"{format_rate(cost.profiled_items_per_s)} items/s{slower}"
            )
        elif self.running and self.view == view:
            self.notify("measuring: the unprofiled run comes after the profile")
        elif self.running:
            self.notify("wait for the run going to end (or stop it with s)", severity="warning")
        else:
            state = self.states.get(view)
            stages = state.profile.stages if state is not None and state.profile else ()
            self.notify("profiling again, then the same run unprofiled, for the cost of looking")
            self.start(view, tuple(stages))

    def action_stop(self) -> None:
        if not self.running or self.follower is None:
            self.notify("no run is going", severity="warning")
            return
        what = self.follower.request_stop("user")
        self.notify(
            "stopping the run (what it profiled so far is kept; s again kills it)"
            if what == "stop"
            else "killing the run"
        )

    def action_close(self) -> None:
        self.dismiss(None)

    def on_unmount(self) -> None:
        if self.running and self.follower is not None:
            self.follower.request_stop("user")  # killed after its grace if it does not end
