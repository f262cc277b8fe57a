"""Running a sweep: each batch size in a fresh runner child, points streamed as they come.

``SweepJob`` is the sweep as a job of the one run follower (``engine.follow``): it asks
``search.next_size`` what to run, folds each run with ``session.apply`` (as ``pipebench run``
does), turns it into a point with ``measure.point_from_report``, saves its record, and hands
the point to ``on_point`` before the next size is chosen. ``run_sweep`` follows it to its end
from any thread; ``cancel`` ends it (the run going is stopped, its point dropped).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from workbench.engine import records
from workbench.engine.follow import Follower, Starter, Step, Update
from workbench.engine.protocol import Event, Exited, Snapshot
from workbench.engine.records import check_home
from workbench.engine.runner import RunOptions, start_run
from workbench.engine.session import RunState, apply, report, with_lines
from workbench.engine.sweep.measure import Sample, point_from_report, sample_of
from workbench.engine.sweep.search import (
    Answer,
    SweepPoint,
    SweepSettings,
    full_sweep_runs,
    growth_stop,
    next_size,
    recommend,
)
from workbench.errors import UserError

#: Snapshots of a sweep run come this often (s): the warm-up and the last batch are located
#: to within this.
SNAPSHOT_S = 0.02
SWEEP_SCHEMA = 1

OnStart = Callable[[int, str], object]
OnPoint = Callable[[SweepPoint], object]
OnState = Callable[[int, RunState], object]


@dataclass
class SweepResult:
    """A sweep so far or at its end."""

    sweep_id: str
    target: str
    settings: SweepSettings
    started_at: float
    points: list[SweepPoint] = field(default_factory=list)
    answer: Answer | None = None
    interrupted: bool = False
    finished_at: float | None = None
    pipeline: str | None = None
    path: str | None = None
    params: dict[str, Any] | None = None  # as the first run resolved them
    saved_to: str | None = None  # where its JSON was saved

    def to_json(self) -> dict[str, Any]:
        """The sweep's JSON: every point, the answer and how the search ended."""
        s = self.settings
        answer = self.answer or recommend(self.points, s)
        stop = growth_stop(self.points, s) if s.auto else None
        return {
            "schema": SWEEP_SCHEMA,
            "kind": "sweep",
            "sweep_id": self.sweep_id,
            "target": self.target,
            "pipeline": self.pipeline,
            "path": self.path,
            "params": self.params,
            "mode": "auto" if s.auto else "list",
            "settings": {
                "batch_sizes": list(s.sizes) or None,
                "min": s.min_size,
                "max": s.max_size,
                "seconds_per_run": s.seconds_per_run,
                "max_batches": s.max_batches,
                "memory_budget_bytes": s.memory_budget,
                "gpu_memory_budget_bytes": s.gpu_memory_budget,
                "warmup_batches": s.warmup_batches,
                "warmup_s": s.warmup_s,
                "improvement": s.improvement,
                "margin": s.margin,
                "params": s.params,
            },
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "interrupted": self.interrupted,
            "runs": len(self.points),
            "full_power_of_two_runs": full_sweep_runs(s) if s.auto else None,
            "growth_stopped": stop,
            "points": [asdict(p) for p in self.points],
            "recommended": asdict(answer.recommended) if answer.recommended else None,
            "largest_fit": asdict(answer.largest_fit) if answer.largest_fit else None,
            "reason": answer.reason,
            "passed_over": [{"batch_size": b, "why": w} for b, w in answer.passed_over],
            "within_noise": list(answer.near),
        }


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None


def run_options(size: int, settings: SweepSettings) -> RunOptions:
    params = {**settings.params, "batch_size": str(size)}
    return RunOptions(
        params=params,
        max_batches=settings.max_batches,
        max_seconds=settings.seconds_per_run,
        memory_budget=settings.memory_budget,
        snapshot_s=SNAPSHOT_S,
        warm=True,  # every size forked from one import of the module (engine.warm)
    )


def _gpu_peak(snapshot: Snapshot) -> int | None:
    gpu = snapshot.sections.gpu
    return gpu.peak_bytes if gpu is not None else None


@dataclass(frozen=True)
class SweepState:
    """A sweep folded so far: its points, and the run going with the samples it gave."""

    result: SweepResult
    run: RunState | None = None
    samples: tuple[Sample, ...] = ()
    gpu_over: bool = False


class SweepJob:
    """The sweep as a follower job: one run per batch size, ``sweep.next_size`` choosing the
    next from the points so far. When a run ends, its point is made from its report and the
    snapshots it went through, and its record is saved (as ``pipebench run`` saves one)."""

    def __init__(
        self,
        target: str,
        settings: SweepSettings,
        *,
        on_start: OnStart | None = None,
        on_point: OnPoint | None = None,
    ):
        self.target = target
        self.settings = settings
        self.on_start = on_start
        self.on_point = on_point
        self.cancelled = False
        self._result = SweepResult(uuid.uuid4().hex[:12], target, settings, time.time())

    def initial(self) -> SweepState:
        return SweepState(self._result)

    def next_step(self, state: SweepState) -> Step | None:
        if self.cancelled:
            return None
        step = next_size(state.result.points, self.settings)
        if step is None:
            return None
        size, phase = step
        if self.on_start is not None:
            self.on_start(size, phase)
        return Step(f"{phase}:{size}", self.target, run_options(size, self.settings))

    def fold(self, state: SweepState, step: Step, event: Event) -> SweepState:
        run = state.run
        if run is None or run.ended:
            size = int(step.label.partition(":")[2])
            run = RunState(
                self.target,
                started_at=time.time(),
                options={**step.options.as_dict(), "sweep": state.result.sweep_id, "size": size},
            )
            state = replace(state, run=run, samples=(), gpu_over=False)
        run = apply(run, event)
        state = replace(state, run=run)
        if isinstance(event, Snapshot):
            sample = sample_of(event)
            if sample is not None:
                state = replace(state, samples=(*state.samples, sample))
            peak = _gpu_peak(event)
            budget = self.settings.gpu_memory_budget
            if budget and peak and peak > budget:
                state = replace(state, gpu_over=True)
        if isinstance(event, Exited):
            state = self._finish(state, step)
        return state

    def fold_lines(
        self, state: SweepState, step: Step, lines: list[tuple[str, str]], skipped: int
    ) -> SweepState:
        if state.run is None:
            return state
        return replace(state, run=with_lines(state.run, lines, skipped))

    def check(self, state: SweepState, step: Step) -> str | None:
        """The GPU budget is enforced here, from the snapshots."""
        return "gpu_memory_budget" if state.gpu_over else None

    def stopped(self, reason: str) -> None:
        """The sweep was stopped: the run going gives no point, no other size starts."""
        self.cancelled = True

    def close(self) -> None:
        pass

    def _finish(self, state: SweepState, step: Step) -> SweepState:
        run = state.run
        assert run is not None
        result = state.result
        phase, _, size_text = step.label.partition(":")
        size = int(size_text)
        if run.hello is not None and result.pipeline is None:
            params = dict(run.hello.params)
            params.pop("batch_size", None)
            result = replace(
                result, pipeline=run.hello.pipeline, path=run.hello.path, params=params
            )
        failure = run.failure
        if failure is not None and failure.phase == "load":
            self.cancelled = True
            raise UserError(failure.message)  # the target or a parameter is wrong: every size
        if self.cancelled and not state.gpu_over:
            return replace(state, result=result)  # a stopped run is no point
        rep = report(run, finished_at=time.time())
        rep["sweep"] = {"sweep_id": result.sweep_id, "batch_size": size, "phase": phase}
        path = records.save_run(rep)
        point = point_from_report(
            rep, state.samples, size, phase, self.settings, state.gpu_over, str(path)
        )
        result = replace(result, points=[*result.points, point])
        if self.on_point is not None:
            self.on_point(point)
        return replace(state, result=result)


def finish(state: SweepState, *, interrupted: bool, save: bool = True) -> SweepResult:
    """The sweep's result from its final state: the answer, and its JSON saved if ``save``."""
    result = state.result
    result = replace(
        result,
        interrupted=interrupted,
        finished_at=time.time(),
        answer=recommend(result.points, result.settings),
    )
    if save:
        result = replace(result, saved_to=save_sweep(result))
    return result


def run_sweep(
    target: str,
    settings: SweepSettings,
    *,
    on_start: OnStart | None = None,
    on_point: OnPoint | None = None,
    on_state: OnState | None = None,
    cancel: threading.Event | None = None,
    kill: threading.Event | None = None,
    starter: Starter = start_run,
    save: bool = True,
) -> SweepResult:
    """Run the sweep to its end (or until ``cancel`` is set) and return every point and the
    answer; ``on_start(size, phase)``, ``on_state(size, state)`` (about 4 a second) and
    ``on_point(point)`` are called from the calling thread as it goes; setting ``cancel``
    stops the sweep, ``kill`` kills the run going.

    The sweep's JSON is saved under ``<PIPEBENCH_HOME>/sweeps`` when ``save``; each run is
    also a run record, as for ``pipebench run``. Raises ``UserError`` when the target or a
    parameter is wrong (the first run says so), or the home is unsafe.
    """
    check_home()
    cancel = cancel or threading.Event()
    job = SweepJob(target, settings, on_start=on_start, on_point=on_point)

    def updated(update: Update[SweepState]) -> None:
        if cancel.is_set() and not asked.is_set():
            asked.set()
            follower.request_stop("user")  # once: a second request would kill
        if kill is not None and kill.is_set():
            follower.kill()
        run = update.state.run
        if on_state is not None and run is not None and update.step is not None:
            on_state(int(update.step.label.partition(":")[2]), run)

    asked = threading.Event()
    follower: Follower[SweepState] = Follower(
        job, starter=starter, interval=0.25, on_update=updated
    )
    if cancel.is_set():
        job.stopped("user")
    state = follower.run()
    return finish(state, interrupted=job.cancelled, save=save)


def save_sweep(result: SweepResult) -> str:
    """Write the sweep's JSON under ``<PIPEBENCH_HOME>/sweeps``; returns its path."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(result.started_at))
    name = f"{stamp}-{records.safe_name(result.pipeline, 'sweep')}-{result.sweep_id}.json"
    return str(records.save_to("sweeps", name, result.to_json()))
