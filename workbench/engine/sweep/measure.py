"""One sweep point from one run, pure: throughput after the warm-up, and the outcome.

The warm-up (the first ``warmup_batches`` batches, and the first ``warmup_s`` seconds) is
left out of the throughput: it is measured from the snapshot where the last stage completed
its first batch after the warm-up to the snapshot where it completed its last batch, so a
batch cut off by the time limit counts neither in the items nor in the time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workbench.engine.protocol import BUDGET_EXCEEDED, CRASHED, FAILED, Snapshot
from workbench.engine.sweep.points import (
    FAILED as POINT_FAILED,
)
from workbench.engine.sweep.points import (
    OK,
    OUT_OF_MEMORY,
    OVER_BUDGET,
    TOO_SLOW,
    SweepPoint,
    SweepSettings,
)
from workbench.units import format_bytes

#: Error types that mean out of memory (``torch.cuda.OutOfMemoryError`` is the second).
OOM_TYPES = ("MemoryError", "OutOfMemoryError")
_OOM_TEXT = re.compile(r"\b(MemoryError|OutOfMemoryError)\b|CUDA out of memory")


@dataclass(frozen=True)
class Sample:
    """The last stage's counters at one snapshot."""

    elapsed_ns: int
    items: int
    batches: int


def sample_of(snapshot: Snapshot) -> Sample | None:
    if not snapshot.stages:
        return None
    last = snapshot.stages[-1]
    return Sample(snapshot.elapsed_ns, last.items, last.batches)


@dataclass(frozen=True)
class Steady:
    """Throughput out of the last stage over the measured window."""

    items_per_s: float
    items: int
    batches: int
    seconds: float
    warmup_excluded: bool  # False: the run was too short, this is the whole run


def steady_rate(
    samples: Sequence[Sample], warmup_batches: int = 0, warmup_s: float = 0.0
) -> Steady | None:
    """Items per second after the warm-up; the whole run's when no batch came after it;
    None when nothing came out at all."""
    if not samples or samples[-1].elapsed_ns <= 0:
        return None
    final = samples[-1]
    start = None
    prev_batches = 0
    for s in samples:
        if (
            s.batches > prev_batches
            and s.batches >= max(warmup_batches, 1)
            and s.elapsed_ns >= warmup_s * 1e9
        ):
            start = s
            break
        prev_batches = s.batches
    end = next((s for s in samples if s.batches == final.batches), final)
    if start is not None and end.batches > start.batches and end.elapsed_ns > start.elapsed_ns:
        seconds = (end.elapsed_ns - start.elapsed_ns) / 1e9
        items = end.items - start.items
        return Steady(items / seconds, items, end.batches - start.batches, seconds, True)
    if final.items == 0:
        return None
    seconds = final.elapsed_ns / 1e9
    return Steady(final.items / seconds, final.items, final.batches, seconds, False)


def oom_error(error: dict[str, Any] | None) -> bool:
    """Whether a report's error is an out-of-memory (also when the factory raised it)."""
    if not error:
        return False
    if error.get("type") in OOM_TYPES:
        return True
    return bool(_OOM_TEXT.search(f"{error.get('message') or ''}"))


def _peak(report: dict[str, Any], section: str, key: str) -> int | None:
    value = (report.get(section) or {}).get(key)
    return int(value) if isinstance(value, (int, float)) else None


def classify(
    report: dict[str, Any], settings: SweepSettings, gpu_over: bool = False
) -> tuple[str, str | None]:
    """The point's outcome and, unless it is OK, one line saying why."""
    status, error = report.get("status"), report.get("error")
    rss = _peak(report, "memory", "rss_peak_bytes")
    gpu = _peak(report, "gpu", "peak_bytes")
    rss_budget, gpu_budget = settings.memory_budget, settings.gpu_memory_budget
    if oom_error(error):
        assert error is not None
        return OUT_OF_MEMORY, f"{error.get('type')}: {error.get('message')}"
    if status == BUDGET_EXCEEDED or (rss_budget and rss and rss > rss_budget):
        return OVER_BUDGET, (
            f"peak RSS {format_bytes(rss)} passed the memory budget of {format_bytes(rss_budget)}"
        )
    if gpu_over or (gpu_budget and gpu and gpu > gpu_budget):
        return OVER_BUDGET, (
            f"peak GPU memory {format_bytes(gpu)} passed the GPU budget "
            f"of {format_bytes(gpu_budget)}"
        )
    if status in (FAILED, CRASHED):
        if error:
            return POINT_FAILED, f"{error.get('type')}: {error.get('message')}"
        return POINT_FAILED, report.get("message") or status
    return OK, None


def point_from_report(
    report: dict[str, Any],
    samples: Sequence[Sample],
    size: int,
    phase: str,
    settings: SweepSettings,
    gpu_over: bool = False,
    record: str | None = None,
    sample: int = 1,
) -> SweepPoint:
    """The sample for one finished run (the ``sample``-th of its size): its report, and
    the snapshots it went through."""
    outcome, why = classify(report, settings, gpu_over)
    steady = steady_rate(samples, settings.warmup_batches, settings.warmup_s)
    rate = None
    if outcome == OK:
        if steady is None or (not steady.warmup_excluded and report.get("status") != "finished"):
            outcome = TOO_SLOW
            why = (
                f"no batch came out after the warm-up within {settings.seconds_per_run:g} s: "
                "raise --seconds-per-run"
            )
            if not report.get("batches") and report.get("message"):
                why = f"no batch came out: {report.get('message')}"
        else:
            rate = steady.items_per_s
    gpu = report.get("gpu") or {}
    stages = [s for s in report.get("stages") or [] if isinstance(s, dict)]
    return SweepPoint(
        batch_size=size,
        phase=phase,
        outcome=outcome,
        status=str(report.get("status")),
        items_per_s=rate,
        items_per_s_run=float(report.get("items_per_s") or 0.0),
        warmup_excluded=bool(steady and steady.warmup_excluded),
        measured_items=steady.items if steady else 0,
        measured_batches=steady.batches if steady else 0,
        measured_s=steady.seconds if steady else 0.0,
        rss_peak_bytes=_peak(report, "memory", "rss_peak_bytes"),
        gpu_peak_bytes=_peak(report, "gpu", "peak_bytes"),
        gpu_state=gpu.get("state") if isinstance(gpu, dict) else None,
        error=why,
        duration_s=float(report.get("duration_s") or 0.0),
        run_id=report.get("run_id"),
        record=record,
        sample=sample,
        batches_per_s=steady.batches / steady.seconds if rate is not None and steady else None,
        stage_items=tuple(int(s.get("items") or 0) for s in stages),
        stage_batches=tuple(int(s.get("batches") or 0) for s in stages),
    )
