"""Parent side of a line profile: start the profiled run, and the job that also runs the
unprofiled baseline, one after the other, for the cost of looking.

``start_line_profile`` is the one call the TUI needs for a panel: a ``RunHandle`` whose
events end ``LineProfile``, ``Finished``, ``Exited``. ``LinesJob`` is what ``pipebench
lines`` runs: the profile first (a bad stage name fails fast), then the baseline with the
same parameters and limits; with no stage named it runs the baseline first and profiles
its bottleneck. The two runs never overlap, so neither slows the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.lines.session import BASELINE, PROFILE, LinesState, apply_lines
from workbench.engine.protocol import FAILED, Event, Exited
from workbench.engine.runner import RunHandle, RunOptions, start_run
from workbench.engine.session import stage_rows


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


def start_line_profile(
    target: str,
    params: dict[str, str],
    stages: str | Sequence[str],
    *,
    view: str = "lines",
    functions: Sequence[str] = (),
    max_batches: int | None = None,
    max_seconds: float | None = None,
    cwd: str | None = None,
) -> RunHandle:
    """Start one profiled run of ``target`` with line_profiler (``view="lines"``) or
    cProfile (``view="functions"``) on ``stages`` (a name or names).

    Returns the run's handle: its events are the pipeline's (Hello, Snapshot, Log, ...),
    then one ``LineProfile``, ``Finished`` and ``Exited``. A stage name that does not exist
    is a problem line in the ``LineProfile`` (and a ``Failure`` when nothing is left).
    """
    names = (stages,) if isinstance(stages, str) else tuple(stages)
    request = LinesRequest(
        target,
        dict(params),
        names,
        view=view,
        functions=tuple(functions),
        max_batches=max_batches,
        max_seconds=max_seconds,
        cwd=cwd,
    )
    return start_run(target, request.run_options(profiled=True))


class LinesJob:
    """The profiled run and its baseline, one after the other, folded into one state.

    Pull events with ``get()`` (each with its phase) until ``done``; ``state`` is the fold.
    ``stop()`` stops the run in progress and starts no other.
    """

    def __init__(self, request: LinesRequest):
        self.request = request
        self.state = LinesState(request.target, view=request.view, options=request.as_dict())
        pick = not request.stages and not request.all_stages
        self.plan: list[str] = [BASELINE, PROFILE] if pick else [PROFILE]
        if request.baseline and not pick:
            self.plan.append(BASELINE)
        self.phase: str | None = None
        self.handle: RunHandle | None = None
        self.picked: str | None = None  # the bottleneck chosen when no stage was named
        self.stopped = False
        self.done = False

    def start(self) -> LinesJob:
        self._next_phase()
        return self

    def _next_phase(self) -> None:
        if self.stopped or not self.plan:
            self.done = True
            return
        self.phase = self.plan.pop(0)
        request = self.request
        if self.phase == PROFILE and not request.stages and not request.all_stages:
            request = dataclasses.replace(request, stages=(self.picked,) if self.picked else ())
        self.handle = start_run(request.target, request.run_options(self.phase == PROFILE))

    def get(self, timeout: float | None = None) -> tuple[str, Event]:
        """The next event and its phase; raises ``queue.Empty`` after ``timeout``."""
        if self.handle is None or self.phase is None or self.done:
            raise RuntimeError("the job is not running")
        event = self.handle.events.get(timeout=timeout)
        phase = self.phase
        self.state = apply_lines(self.state, phase, event)
        if isinstance(event, Exited):
            self._after(phase)
        return phase, event

    def _after(self, phase: str) -> None:
        state = self.state
        if phase == BASELINE and PROFILE in self.plan and state.baseline is not None:
            rows = stage_rows(state.baseline)
            self.picked = next((r.name for r in rows if r.bottleneck), None)
            self.state = dataclasses.replace(state, picked=self.picked)
            if self.picked is None or state.baseline.status == FAILED:
                self.plan.clear()  # nothing ran: nothing to profile
        if phase == PROFILE:
            run = state.profiled
            nothing = state.profile is None or not state.profile.stages
            if run is None or nothing or run.status == FAILED:
                self.plan.clear()  # bad input or a failing pipeline: no baseline to compare
        self._next_phase()

    def events(self) -> Iterator[tuple[str, Event]]:
        """Every (phase, event) to the end (for threads; a CLI loop should call ``get``)."""
        while not self.done:
            yield self.get()

    def stop(self) -> None:
        self.stopped = True
        if self.handle is not None:
            self.handle.stop()

    def kill(self) -> None:
        self.stopped = True
        if self.handle is not None:
            self.handle.kill()

    @property
    def running(self) -> bool:
        return not self.done
