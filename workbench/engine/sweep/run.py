"""Running a sweep: each sample a fresh runner child, samples streamed as they come.

``SweepJob`` is the sweep as a job of the one run follower (``engine.follow``): it asks
``search.next_size`` what to run, folds each run with ``session.apply`` (as ``pipebench run``
does), turns it into a sample (a ``SweepPoint``) with ``measure.point_from_report``, saves
its record, and hands it to ``on_point`` before the next size is chosen. ``run_sweep`` follows it to its end
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
from workbench.engine.sweep.answer import Answer, recommend
from workbench.engine.sweep.measure import Sample, point_from_report, sample_of
from workbench.engine.sweep.points import SweepPoint, SweepSettings, full_sweep_runs
from workbench.engine.sweep.search import growth_stop, next_size, refinement
from workbench.engine.sweep.stats import ITEMS_FIX, LEAST_FOR_SPREAD, NOTCH, SizeResult
from workbench.errors import UserError

#: Snapshots of a sweep run come this often (s): the warm-up and the last batch are located
#: to within this.
SNAPSHOT_S = 0.02
#: Seconds a sample's factory (and its first batch) may take before the run is stopped.
FACTORY_LIMIT_S = 120.0
SWEEP_SCHEMA = 2

OnStart = Callable[[int, str], object]
OnPoint = Callable[[SweepPoint], object]
OnState = Callable[[int, RunState], object]


@dataclass
class SweepResult:
    """A sweep so far or at its end: every sample (one run each), in the order run."""

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
    stages: tuple[str, ...] = ()  # the pipeline's stage names, source first

    def current_answer(self) -> Answer:
        return self.answer or recommend(self.points, self.settings, self.stages)

    def to_json(self) -> dict[str, Any]:
        """The sweep's JSON: every sample ("points", one run each, with the items/s the
        ranking counts), each size's median and interval ("sizes"), the items ranked by,
        the answer and how the search ended."""
        s = self.settings
        answer = self.current_answer()
        stop = growth_stop(self.points, s) if s.auto else None
        basis = answer.basis
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
                "samples": s.samples,
                "max_samples": s.max_samples,
                "precision": s.precision,
                "growth": s.growth,
                "drop": s.drop,
                "noise": s.noise,
                "margin": s.margin,
                "params": s.params,
            },
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "interrupted": self.interrupted,
            "runs": len(self.points),
            "full_power_of_two_runs": full_sweep_runs(s) if s.auto else None,
            "growth_stopped": stop,
            "refinement": refinement(self.points, s) if s.auto else None,
            "items": {
                "ranked_by": basis.ranked_by,
                "stage": basis.name,
                "stage_index": basis.stage,
                "one_item_per_batch": basis.one_per_batch,
                "warning": basis.warning,
                "fix": ITEMS_FIX if basis.one_per_batch else None,
            },
            "interval": INTERVAL_WORDS,
            "points": [{**asdict(p), "ranked_items_per_s": basis.rate(p)} for p in self.points],
            "sizes": [size_json(z) for z in answer.sizes],
            "recommended": size_json(answer.recommended) if answer.recommended else None,
            "largest_fit": size_json(answer.largest_fit) if answer.largest_fit else None,
            "reason": answer.reason,
            "passed_over": [{"batch_size": b, "why": w} for b, w in answer.passed_over],
            "within_noise": list(answer.near),
            "out_of_race": list(answer.out),
            "gpu_budget_unchecked": answer.gpu_note,
        }


#: How the JSON's "low"/"high" of a size are made.
INTERVAL_WORDS = (
    f"median ± {NOTCH}·IQR/√n of the samples' items/s (a box-plot notch, about 95%); "
    f"with fewer than {LEAST_FOR_SPREAD} samples, ± the assumed noise"
)


def size_json(z: SizeResult) -> dict[str, Any]:
    """One size's figures for the sweep's JSON (its samples are in "points")."""
    return {
        "batch_size": z.batch_size,
        "phase": z.phase,
        "outcome": z.outcome,
        "samples": len(z.samples),
        "samples_ok": z.n,
        "items_per_s": z.items_per_s,
        "low": z.low,
        "high": z.high,
        "precision": z.precision,
        "provisional": z.n < LEAST_FOR_SPREAD,
        "sample_items_per_s": list(z.rates),
        "out_items_per_s": z.out_items_per_s,
        "batches_per_s": z.batches_per_s,
        "rss_peak_bytes": z.rss_peak_bytes,
        "gpu_peak_bytes": z.gpu_peak_bytes,
        "error": z.error,
        "run_ids": [p.run_id for p in z.samples],
    }


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None


def run_options(size: int, settings: SweepSettings) -> RunOptions:
    """One sample's run. Its time limit is not the runner's ``max_seconds`` (which counts
    the factory's time too, so a factory that prepares data for longer than a short
    sample would leave no batch): ``SweepJob.check`` stops it ``seconds_per_run`` after
    its chain started, and the factory gets up to ``FACTORY_LIMIT_S``."""
    params = {**settings.params, "batch_size": str(size)}
    return RunOptions(
        params=params,
        max_batches=settings.max_batches,
        max_seconds=None,
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
    """The sweep as a follower job: one run per sample, ``sweep.next_size`` choosing the
    size of the next from the samples so far. When a run ends, its sample is made from its
    report and the snapshots it went through, and its record is saved (as ``pipebench run``
    saves one, tagged with the sweep, the size and the sample's number)."""

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
        self._step_at = time.monotonic()  # when the run going was asked for
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
        self._step_at = time.monotonic()
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
        """The GPU budget and the sample's time are enforced here: ``seconds_per_run`` from
        the chain's start (the snapshots' clock), ``FACTORY_LIMIT_S`` before it."""
        if state.gpu_over:
            return "gpu_memory_budget"
        run = state.run
        snap = run.snapshot if run is not None and not run.ended else None
        if snap is not None and snap.elapsed_ns >= self.settings.seconds_per_run * 1e9:
            return "max_seconds"
        if snap is None and time.monotonic() - self._step_at >= FACTORY_LIMIT_S:
            return "max_seconds"
        return None

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
                result,
                pipeline=run.hello.pipeline,
                path=run.hello.path,
                params=params,
                stages=tuple(run.hello.stages),
            )
        failure = run.failure
        if failure is not None and failure.phase == "load":
            self.cancelled = True
            raise UserError(failure.message)  # the target or a parameter is wrong: every size
        if self.cancelled and not state.gpu_over:
            return replace(state, result=result)  # a stopped run is no point
        sample = 1 + sum(1 for p in result.points if p.batch_size == size)
        rep = report(run, finished_at=time.time())
        rep["sweep"] = {
            "sweep_id": result.sweep_id,
            "batch_size": size,
            "phase": phase,
            "sample": sample,
        }
        path = records.save_run(rep)
        point = point_from_report(
            rep, state.samples, size, phase, self.settings, state.gpu_over, str(path), sample
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
        answer=recommend(result.points, result.settings, result.stages),
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
