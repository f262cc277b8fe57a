"""The line profile of one stage: a profiled run of the pipeline, then its hot lines.

The screen starts the profiled run itself (``lines_runner.start_line_profile``, from the
app's thread, so the child gets the parent-death signal) and follows it in one thread
worker that folds its events and posts a coalesced progress message, then the
``LineProfile`` event for the panel. ``f`` in the panel asks for the function view: a
second run with cProfile. ``o`` measures the cost of looking: the same pipeline unprofiled,
with the same parameters and limits, against the profiled run's throughput.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from workbench.engine.lines.runner import LinesRequest, start_line_profile
from workbench.engine.lines.session import LinesState, cost_of_looking
from workbench.engine.protocol import Exited, LineProfile
from workbench.engine.runner import RunHandle, start_run
from workbench.engine.session import RunState, apply, stage_rows, throughput
from workbench.ui.bridge import INTERVAL_S
from workbench.ui.widgets.line_profile_panel import LineProfilePanel
from workbench.ui.widgets.run_header import STATUS_TEXT
from workbench.units import format_rate, format_seconds

#: Starts a profiled run: ``start_line_profile`` or a stand-in with its signature.
ProfileStarter = Callable[..., RunHandle]
BASELINE = "baseline"
PHASE_TEXT = {
    "lines": "line profile (line_profiler)",
    "functions": "function profile (cProfile)",
    BASELINE: "unprofiled baseline (cost of looking)",
}


def progress_text(phase: str, state: RunState) -> Text:
    """One line on the run going or done: what it is, its status, time and items."""
    symbol, word = STATUS_TEXT.get(state.status, ("?", state.status))
    rows = stage_rows(state)
    items = rows[-1].items if rows else 0
    text = Text()
    text.append(f"{symbol} {word}", style="bold")
    text.append(
        f"  {PHASE_TEXT.get(phase, phase)} · {format_seconds(state.elapsed_s)} · "
        f"{items:,} items · {format_rate(throughput(state))} items/s"
    )
    if state.message and state.ended:
        text.append(f"\n{state.message}", style="italic")
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
    class Progressed(Message):
        """The run going, folded so far; a pending one is replaced by a newer one."""

        phase: str
        state: RunState

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LineProfileScreen.Progressed) and (
                message.phase == self.phase
            )

    @dataclass
    class ProfileReceived(Message):
        """The run's ``LineProfile`` event."""

        profile: LineProfile

    @dataclass
    class RunDone(Message):
        """The run's process is gone; ``state`` is final."""

        phase: str
        state: RunState

    def __init__(
        self,
        target: str,
        params: dict[str, str],
        stage: str,
        *,
        title: str | None = None,
        starter: ProfileStarter = start_line_profile,
        max_batches: int | None = None,
        max_seconds: float | None = None,
    ) -> None:
        super().__init__()
        self.target = target
        self.params = dict(params)
        self.stage = stage
        self.handle: RunHandle | None = None
        self.phase: str | None = None
        self.runs: dict[str, RunState] = {}
        """The final state of each phase that ran ("lines", "functions", "baseline")."""
        self.profile: LineProfile | None = None
        self._title = title or target
        self._starter = starter
        self.max_batches = max_batches
        self.max_seconds = max_seconds

    def compose(self) -> ComposeResult:
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        yield Static(
            Text.assemble(
                ("line profile ", "bold"),
                (f"of stage {self.stage}", "bold"),
                f" · {self._title} {params}",
            ),
            id="lp-head",
        )
        yield Static("starting…", id="lp-progress")
        yield LineProfilePanel(id="lp-panel")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#lp-table").focus()
        self.start("lines")

    # ---- runs -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.handle is not None and self.handle.running

    def start(self, phase: str, stages: tuple[str, ...] = ()) -> None:
        """Start the run of ``phase`` ("lines", "functions" or "baseline") and follow it."""
        if self.running:
            self.notify("a run is going: wait for it, or stop it with s", severity="warning")
            return
        stages = stages or (self.stage,)
        try:
            if phase == BASELINE:
                request = LinesRequest(
                    self.target,
                    self.params,
                    stages,
                    max_batches=self.max_batches,
                    max_seconds=self.max_seconds,
                )
                self.handle = start_run(self.target, request.run_options(profiled=False))
            else:
                self.handle = self._starter(
                    self.target,
                    self.params,
                    stages,
                    view=phase,
                    max_batches=self.max_batches,
                    max_seconds=self.max_seconds,
                )
        except OSError as exc:
            self.notify(f"could not start the run: {exc}", severity="error")
            return
        self.phase = phase
        self.query_one("#lp-progress", Static).update(f"starting the {PHASE_TEXT[phase]}…")
        self.follow(self.handle, phase)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="line-profile",
        description="following the line-profile run",
    )
    def follow(self, handle: RunHandle, phase: str) -> None:
        """Fold the run's events; post progress at most every bridge interval."""
        state = RunState(self.target, started_at=time.time())
        next_post = 0.0
        for ev in handle.iter_events():
            state = apply(state, ev)
            if isinstance(ev, LineProfile):
                self.post_message(self.ProfileReceived(ev))
            now = time.monotonic()
            if now >= next_post and not isinstance(ev, Exited):
                self.post_message(self.Progressed(phase, state))
                next_post = now + INTERVAL_S
        self.post_message(self.RunDone(phase, state))

    def on_line_profile_screen_progressed(self, msg: Progressed) -> None:
        msg.stop()
        self.query_one("#lp-progress", Static).update(progress_text(msg.phase, msg.state))

    def on_line_profile_screen_profile_received(self, msg: ProfileReceived) -> None:
        msg.stop()
        if msg.profile.view == "lines":
            self.profile = msg.profile
        self.query_one(LineProfilePanel).show_profile(msg.profile)

    def on_line_profile_screen_run_done(self, msg: RunDone) -> None:
        msg.stop()
        self.runs[msg.phase] = msg.state
        text = progress_text(msg.phase, msg.state)
        if msg.state.failure is not None:
            text.append(f"\n✗ {msg.state.failure.message}", style="bold")
        elif msg.phase == "lines" and self.profile is not None:
            text.append("  · o: cost of looking", style="dim")
        self.query_one("#lp-progress", Static).update(text)
        if msg.phase == BASELINE:
            self._show_cost()

    def _show_cost(self) -> None:
        lines_state = LinesState(
            self.target,
            profiled=self.runs.get("lines"),
            baseline=self.runs.get(BASELINE),
            profile=self.profile,
        )
        cost = cost_of_looking(lines_state)
        if cost is None:
            self.notify(
                "no cost of looking: one of the two runs measured nothing", severity="warning"
            )
        self.query_one(LineProfilePanel).show_cost(cost)

    def on_line_profile_panel_function_view_requested(
        self, msg: LineProfilePanel.FunctionViewRequested
    ) -> None:
        msg.stop()
        self.start("functions", msg.stages)

    # ---- actions ------------------------------------------------------------------------
    def action_cost(self) -> None:
        if self.running:
            self.notify("wait for the run going to end (or stop it with s)", severity="warning")
        elif "lines" not in self.runs or self.profile is None:
            self.notify("no line profile to compare with yet", severity="warning")
        else:
            self.start(BASELINE)

    def action_stop(self) -> None:
        if not self.running:
            self.notify("no run is going", severity="warning")
            return
        assert self.handle is not None
        self.handle.stop()
        self.notify("stopping the run (what it profiled so far is kept)")

    def action_close(self) -> None:
        self.dismiss(None)

    def on_unmount(self) -> None:
        if self.running:
            assert self.handle is not None
            self.handle.stop()  # killed after the grace period if it does not end
