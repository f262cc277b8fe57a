"""Pure aggregation of a run's events into its state, the stage rows and the report.

``apply(state, event)`` returns a new frozen ``RunState``; the headless CLI and the TUI both
fold the same events through it, so both show the same numbers.
"""

from __future__ import annotations

import dataclasses
import platform
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import workbench
from workbench.engine.protocol import (
    BUDGET_EXCEEDED,
    CRASHED,
    FAILED,
    FINAL_STATUSES,
    STOPPED,
    Event,
    Exited,
    Failure,
    Finished,
    Hello,
    Log,
    Snapshot,
)

LOG_TAIL = 200
REPORT_SCHEMA = 1


@dataclass(frozen=True)
class RunState:
    """Everything known about one run so far."""

    target: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: float = 0.0  # epoch seconds, from the parent's clock
    options: dict[str, Any] = field(default_factory=dict)
    hello: Hello | None = None
    snapshot: Snapshot | None = None
    previous: Snapshot | None = None
    status: str = "starting"
    stop_reason: str | None = None
    message: str | None = None
    failure: Failure | None = None
    exited: Exited | None = None
    log_tail: tuple[str, ...] = ()

    @property
    def ended(self) -> bool:
        return self.exited is not None

    @property
    def elapsed_s(self) -> float:
        return self.snapshot.elapsed_ns / 1e9 if self.snapshot else 0.0


@dataclass(frozen=True)
class StageRow:
    """One stage as shown: counts, throughput, self time and whether it is the bottleneck."""

    name: str
    items: int
    batches: int
    items_per_s: float
    self_s: float
    self_pct: float
    mean_batch_s: float | None
    bottleneck: bool
    done: bool
    failed: bool


def _final_status(state: RunState, ex: Exited) -> tuple[str, str | None]:
    """Status and message once the process is gone, from what the child said (if it
    said anything) and how it ended."""
    if ex.killed_by == "memory_budget":
        return BUDGET_EXCEEDED, state.message or (
            "RSS stayed over the memory budget and the run was killed"
        )
    if state.status in FINAL_STATUSES:
        return state.status, state.message
    if ex.killed_by == "stop_timeout":
        return STOPPED, "did not stop within the grace period and was killed"
    if ex.killed_by == "max_seconds":
        return STOPPED, "time limit reached; did not stop in time and was killed"
    if ex.killed_by == "user_kill":
        return STOPPED, "killed by the user"
    if ex.signal:
        hint = " (the kernel's OOM killer sends this too)" if ex.signal == "SIGKILL" else ""
        return CRASHED, f"the runner process was killed by {ex.signal}{hint}"
    if ex.returncode != 0:
        return CRASHED, f"the runner process exited with code {ex.returncode} without a report"
    return CRASHED, "the runner process ended without a report"


def apply(state: RunState, event: Event) -> RunState:
    """The state after one more event."""
    replace = dataclasses.replace
    if isinstance(event, Snapshot):
        return replace(
            state,
            snapshot=event,
            previous=state.snapshot,
            status="running" if state.status == "starting" else state.status,
        )
    if isinstance(event, Log):
        tail = state.log_tail[-(LOG_TAIL - 1) :] + (f"[{event.stream}] {event.text}",)
        return replace(state, log_tail=tail)
    if isinstance(event, Hello):
        return replace(state, hello=event)
    if isinstance(event, Failure):
        return replace(state, failure=state.failure or event)
    if isinstance(event, Finished):
        return replace(state, status=event.status, stop_reason=event.reason, message=event.message)
    if isinstance(event, Exited):
        status, message = _final_status(state, event)
        if status == CRASHED and state.status not in FINAL_STATUSES and event.stderr_tail:
            message = f"{message}; last stderr: {event.stderr_tail[-1]}"
        return replace(state, exited=event, status=status, message=message)
    return state


def stage_rows(state: RunState) -> list[StageRow]:
    """The stage table: one row per stage, the bottleneck (largest self time) marked."""
    snap, hello = state.snapshot, state.hello
    if hello is None:
        return []
    if snap is None:
        return [StageRow(n, 0, 0, 0.0, 0.0, 0.0, None, False, False, False) for n in hello.stages]
    elapsed = snap.elapsed_ns / 1e9
    selfs = [s.self_ns for s in snap.stages]
    top = max(range(len(selfs)), key=selfs.__getitem__) if any(selfs) else -1
    rows = []
    for i, (name, s) in enumerate(zip(hello.stages, snap.stages, strict=True)):
        self_s = s.self_ns / 1e9
        rows.append(
            StageRow(
                name=name,
                items=s.items,
                batches=s.batches,
                items_per_s=s.items / elapsed if elapsed > 0 else 0.0,
                self_s=self_s,
                self_pct=100.0 * self_s / elapsed if elapsed > 0 else 0.0,
                mean_batch_s=self_s / s.batches if s.batches else None,
                bottleneck=i == top,
                done=s.done,
                failed=i == snap.failed_stage,
            )
        )
    return rows


def rate_now(state: RunState) -> float | None:
    """Items per second out of the last stage between the last two snapshots."""
    a, b = state.previous, state.snapshot
    if a is None or b is None or not b.stages or b.elapsed_ns <= a.elapsed_ns:
        return None
    return (b.stages[-1].items - a.stages[-1].items) / ((b.elapsed_ns - a.elapsed_ns) / 1e9)


def throughput(state: RunState) -> float | None:
    """Items per second out of the last stage over the whole run."""
    rows = stage_rows(state)
    return rows[-1].items_per_s if rows and state.snapshot else None


def _iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None


def report(state: RunState, finished_at: float | None = None) -> dict[str, Any]:
    """The run report, as written to ``--json`` and the run records (schema in README)."""
    hello, snap, mem = state.hello, state.snapshot, None
    if snap is not None:
        m = snap.memory
        mem = {
            "rss_start_bytes": m.rss_start,
            "rss_peak_bytes": m.rss_peak,
            "rss_end_bytes": m.rss,
            "uss_peak_bytes": m.uss_peak,
            "rss_peak_sampled_bytes": m.rss_peak_sampled,
            "rss_hwm_bytes": m.rss_hwm,
        }
    err = None
    if state.failure is not None:
        f = state.failure
        err = {
            "type": f.type,
            "message": f.message,
            "traceback": f.traceback,
            "stage": f.stage,
            "phase": f.phase,
        }
    elif state.status == CRASHED or (state.status == FAILED and state.message):
        err = {
            "type": state.status,
            "message": state.message,
            "traceback": None,
            "stage": None,
            "phase": "run",
        }
    rows = stage_rows(state)
    bottleneck = next((r.name for r in rows if r.bottleneck), None)
    total = snap.elapsed_ns / 1e9 if snap else 0.0
    return {
        "schema": REPORT_SCHEMA,
        "run_id": state.run_id,
        "target": state.target,
        "pipeline": hello.pipeline if hello else None,
        "module": hello.module if hello else None,
        "path": hello.path if hello else None,
        "params": hello.params if hello else None,
        "status": state.status,
        "stop_reason": state.stop_reason,
        "message": state.message,
        "started_at": _iso(state.started_at),
        "finished_at": _iso(finished_at) if finished_at else None,
        "duration_s": total,
        "items": rows[-1].items if rows else 0,
        "items_per_s": rows[-1].items_per_s if rows else 0.0,
        "bottleneck": bottleneck,
        "stages": [
            {
                "name": r.name,
                "items": r.items,
                "batches": r.batches,
                "items_per_s": r.items_per_s,
                "self_s": r.self_s,
                "self_pct": r.self_pct,
                "mean_batch_s": r.mean_batch_s,
                "bottleneck": r.bottleneck,
                "done": r.done,
            }
            for r in rows
        ],
        "sink_s": snap.sink_ns / 1e9 if snap else 0.0,
        "memory": mem,
        "error": err,
        "options": state.options,
        "environment": {
            "pipebench": workbench.__version__,
            "python": hello.python if hello else platform.python_version(),
            "probe": hello.probe if hello else None,
            "pid": hello.pid if hello else None,
            "host": socket.gethostname(),
            "exit_code": state.exited.returncode if state.exited else None,
        },
        "log_tail": list(state.log_tail[-50:]),
        # Sections added by section samplers (caches, gpu, contexts, ...): their last value.
        **(dict(snap.sections) if snap else {}),
    }
