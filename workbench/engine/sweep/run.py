"""Running a sweep: each batch size in a fresh runner child, points streamed as they come.

``run_sweep`` asks ``sweep.next_size`` what to run, runs it with ``run_size`` (the runner,
the session fold and the run record, as ``pipebench run`` does), turns it into a point with
``sweep_measure`` and hands it to ``on_point`` before choosing the next size. It can be
called from any thread; ``cancel`` ends it (the run going is stopped, its point dropped).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from workbench.engine import records
from workbench.engine.protocol import Snapshot
from workbench.engine.runner import RunHandle, RunOptions, start_run
from workbench.engine.session import RunState, apply, report
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

Starter = Callable[[str, RunOptions], RunHandle]
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
    )


def _gpu_peak(snapshot: Snapshot) -> int | None:
    gpu = snapshot.sections.get("gpu")
    peak = gpu.get("peak_bytes") if isinstance(gpu, dict) else None
    return int(peak) if isinstance(peak, (int, float)) else None


def run_size(
    target: str,
    size: int,
    phase: str,
    settings: SweepSettings,
    *,
    cancel: threading.Event,
    sweep_id: str,
    on_state: OnState | None = None,
    kill: threading.Event | None = None,
    starter: Starter = start_run,
) -> tuple[SweepPoint | None, RunState]:
    """Run one size to its end; the point (None when cancelled) and the final state.

    The GPU budget is enforced here, from the snapshots: a run whose GPU peak passes it is
    stopped. ``cancel`` stops the run (it is killed after the grace period), ``kill`` kills
    it now.
    """
    options = run_options(size, settings)
    handle = starter(target, options)
    state = RunState(
        target,
        started_at=time.time(),
        options={
            "max_batches": options.max_batches,
            "max_seconds": options.max_seconds,
            "memory_budget_bytes": options.memory_budget,
            "snapshot_s": options.snapshot_s,
            "sweep": sweep_id,
        },
    )
    samples: list[Sample] = []
    gpu_over = stopping = False
    next_state = 0.0
    try:
        while not state.ended:
            try:
                ev = handle.events.get(timeout=0.1)
            except queue.Empty:
                ev = None
            if ev is not None:
                state = apply(state, ev)
                if isinstance(ev, Snapshot):
                    sample = sample_of(ev)
                    if sample is not None:
                        samples.append(sample)
                    peak = _gpu_peak(ev)
                    budget = settings.gpu_memory_budget
                    if budget and peak and peak > budget and not gpu_over:
                        gpu_over = True
                        handle.stop()
            if cancel.is_set() and not stopping:
                stopping = True
                handle.stop()
            if kill is not None and kill.is_set():
                handle.kill()
            now = time.monotonic()
            if on_state is not None and (now >= next_state or state.ended):
                on_state(size, state)
                next_state = now + 0.25
    finally:
        if handle.running:
            handle.kill()
    failure = state.failure
    if failure is not None and failure.phase == "load":
        raise UserError(failure.message)  # the target or a parameter is wrong: every size
    if cancel.is_set() and not gpu_over:
        return None, state
    rep = report(state, finished_at=time.time())
    rep["sweep"] = {"sweep_id": sweep_id, "batch_size": size, "phase": phase}
    path = records.save_run(rep)
    return point_from_report(rep, samples, size, phase, settings, gpu_over, str(path)), state


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
    answer; ``on_start(size, phase)``, ``on_state(size, state)`` (at most 4 a second) and
    ``on_point(point)`` are called from the calling thread as it goes.

    The sweep's JSON is saved under ``<PIPEBENCH_HOME>/sweeps`` when ``save``; each run is
    also a run record, as for ``pipebench run``. Raises ``UserError`` when the target or a
    parameter is wrong (the first run says so), or the home is one that others can write to
    (``records.check_home``, before any run).
    """
    records.check_home()
    cancel = cancel or threading.Event()
    result = SweepResult(uuid.uuid4().hex[:12], target, settings, time.time())
    while not cancel.is_set():
        step = next_size(result.points, settings)
        if step is None:
            break
        size, phase = step
        if on_start is not None:
            on_start(size, phase)
        point, state = run_size(
            target,
            size,
            phase,
            settings,
            cancel=cancel,
            sweep_id=result.sweep_id,
            on_state=on_state,
            kill=kill,
            starter=starter,
        )
        if state.hello is not None and result.pipeline is None:
            params = dict(state.hello.params)
            params.pop("batch_size", None)
            result.pipeline, result.path, result.params = (
                state.hello.pipeline,
                state.hello.path,
                params,
            )
        if point is None:
            break
        result.points.append(point)
        if on_point is not None:
            on_point(point)
    result.interrupted = cancel.is_set()
    result.finished_at = time.time()
    result.answer = recommend(result.points, settings)
    if save:
        save_sweep(result)
    return result


def save_sweep(result: SweepResult) -> str:
    """Write the sweep's JSON under ``<PIPEBENCH_HOME>/sweeps``; returns its path."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(result.started_at))
    name = f"{stamp}-{records.safe_name(result.pipeline, 'sweep')}-{result.sweep_id}.json"
    return str(records.save_to("sweeps", name, result.to_json()))
