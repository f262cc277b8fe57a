"""Parent side of a line profile: the profiled run and the unprofiled baseline, one after
the other, for the cost of looking.

``LinesJob`` is the job of the one run follower (``engine.follow``) that ``pipebench lines``
and the TUI's line-profile screen both run: the profile first (a bad stage name fails
fast), then the baseline with the same parameters and limits; with no stage named it runs
the baseline first and profiles its bottleneck. The two runs never overlap, so neither
slows the other.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.follow import Step
from workbench.engine.lines.session import (
    BASELINE,
    PROFILE,
    LinesState,
    apply_lines,
    apply_output,
    begin,
    most_self_time,
    run_of,
)
from workbench.engine.output import LogLine
from workbench.engine.protocol import FAILED, Event, Exited
from workbench.engine.runner import RunOptions


@dataclass(frozen=True)
class LinesRequest:
    """What to profile, and how long to run."""

    target: str
    params: dict[str, str] = field(default_factory=dict)
    stages: tuple[str, ...] = ()  # none and not all_stages: profile the bottleneck
    all_stages: bool = False
    functions: tuple[str, ...] = ()  # module:qualname, line view only
    view: str = "lines"  # or "functions" (cProfile)
    max_batches: int | None = None
    max_seconds: float | None = None
    baseline: bool = True
    cwd: str | None = None

    def run_options(self, profiled: bool) -> RunOptions:
        mode_options = {
            "stages": list(self.stages),
            "all": self.all_stages,
            "functions": list(self.functions),
            "view": self.view,
        }
        return RunOptions(
            params=dict(self.params),
            max_batches=self.max_batches,
            max_seconds=self.max_seconds,
            cwd=self.cwd,
            mode="lines" if profiled else "pipeline",
            mode_options=mode_options if profiled else {},
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "stages": list(self.stages),
            "all": self.all_stages,
            "functions": list(self.functions),
            "view": self.view,
            "max_batches": self.max_batches,
            "max_seconds": self.max_seconds,
        }


class LinesJob:
    """The profiled run and its baseline, one after the other, as a follower job whose
    state is a ``LinesState`` (folded with ``session.apply_lines``; each run's output into
    its own ``RunState`` with ``engine.session.with_lines``).

    With stages named (or all of them): the profile first (a bad stage name fails fast),
    then the baseline when ``request.baseline``. With none: the baseline first, then the
    profile of the stage with the most self time in it (its bottleneck when it had the
    evidence to name one). A profile that profiled nothing or failed, a baseline that
    measured no stage, or a stop, ends the job: no further run starts.
    """

    def __init__(self, request: LinesRequest):
        self.request = request
        self.pick = not request.stages and not request.all_stages
        self.plan: list[str] = [BASELINE, PROFILE] if self.pick else [PROFILE]
        if request.baseline and not self.pick:
            self.plan.append(BASELINE)
        self.cancelled = False

    def initial(self) -> LinesState:
        r = self.request
        return LinesState(r.target, view=r.view, options=r.as_dict())

    def next_step(self, state: LinesState) -> Step | None:
        if self.cancelled or not self.plan:
            return None
        phase = self.plan.pop(0)
        request = self.request
        if phase == PROFILE and self.pick:
            request = dataclasses.replace(request, stages=(state.picked,) if state.picked else ())
        return Step(phase, request.target, request.run_options(phase == PROFILE))

    def fold(self, state: LinesState, step: Step, event: Event) -> LinesState:
        state = apply_lines(_begun(state, step.label), step.label, event)
        if isinstance(event, Exited):
            state = self._after(state, step.label)
        return state

    def fold_lines(
        self, state: LinesState, step: Step, lines: list[LogLine], skipped: int
    ) -> LinesState:
        return apply_output(_begun(state, step.label), step.label, lines, skipped)

    def check(self, state: LinesState, step: Step) -> str | None:
        return None

    def stopped(self, reason: str) -> None:
        """Stopped: what the run going measured is kept; the other run does not start."""
        self.cancelled = True

    def close(self) -> None:
        pass

    def _after(self, state: LinesState, phase: str) -> LinesState:
        """A run ended: choose the stage to profile after a baseline, or end the job."""
        base = state.baseline
        if phase == BASELINE and PROFILE in self.plan and base is not None:
            picked = most_self_time(base)
            state = dataclasses.replace(state, picked=picked)
            if picked is None or base.status == FAILED:
                self.plan.clear()  # nothing ran: nothing to profile
        if phase == PROFILE:
            run = state.profiled
            nothing = state.profile is None or not state.profile.stages
            if run is None or nothing or run.status == FAILED:
                self.plan.clear()  # bad input or a failing pipeline: no baseline to compare
        return state


def _begun(state: LinesState, phase: str) -> LinesState:
    """``state`` with the run of ``phase`` begun: its start time is the parent's clock at
    its first event or output line."""
    return state if run_of(state, phase) is not None else begin(state, phase, time.time())
