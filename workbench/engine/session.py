"""Pure aggregation of a run's events into its state, the stage rows and the report.

``apply(state, event)`` returns a new frozen ``RunState``; the headless CLI and the TUI both
fold the same events through it (through ``engine.follow``), so both show the same numbers.

Figures and the rules behind them:

- **Self time** of a stage: time inside its ``next()`` minus its upstream's; the stage
  self times and the sink's add up to the run's wall time. JIT (Numba) compilation that
  happened inside a stage is shown apart and left out of the self time that names the
  bottleneck.
- **Bottleneck**: the stage with the largest self time (compilation left out), named only
  with enough evidence (``MIN_BATCHES`` batches out of the chain and ``MIN_SELF_S`` of self
  time); before that, "not enough data yet".
- **Live rate**: items per second out of the last stage over a sliding window of at least
  ``WINDOW_S`` seconds and ``WINDOW_BATCHES`` batches (whichever is longer); "max" is the
  largest such windowed rate. A finished run shows its average only.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import workbench
from workbench.engine.loader import parse_target
from workbench.engine.protocol import (
    BUDGET_EXCEEDED,
    CRASHED,
    FAILED,
    FINAL_STATUSES,
    FINISHED,
    STOPPED,
    Event,
    Exited,
    Failure,
    Finished,
    Hello,
    Log,
    Progress,
    Snapshot,
)
from workbench.text import printable

LOG_TAIL = 200
#: Schema version of the run report; bumped when a field changes meaning.
REPORT_SCHEMA = 2
#: The live rate's window: at least this long, and at least this many batches.
WINDOW_S = 1.0
WINDOW_BATCHES = 5
#: Points of the rate history kept (10 snapshots a second: a minute).
WINDOW_POINTS = 600
#: Evidence needed before a bottleneck is named.
MIN_BATCHES = 3
MIN_SELF_S = 0.05
#: No stage boundary crossed for this long: the pipeline is inside one long call.
STALL_S = 1.0


@dataclass(frozen=True)
class RatePoint:
    """Out of the last stage at one snapshot: elapsed ns, items and batches so far."""

    t_ns: int
    items: int
    batches: int


@dataclass(frozen=True)
class RunState:
    """Everything known about one run so far."""

    target: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: float = 0.0  # epoch seconds, from the parent's clock
    options: dict[str, Any] = field(default_factory=dict)
    hello: Hello | None = None
    snapshot: Snapshot | None = None
    status: str = "starting"
    stop_reason: str | None = None
    message: str | None = None
    failure: Failure | None = None
    exited: Exited | None = None
    log_tail: tuple[str, ...] = ()
    log_lines: int = 0  # every output line the run printed, shown or not
    points: tuple[RatePoint, ...] = ()  # recent points for the windowed rate
    rate: float | None = None  # the windowed rate at the last snapshot
    rate_max: float | None = None  # the largest windowed rate so far
    progress: Progress | None = None  # the latest step the pipeline reported before its batches

    @property
    def ended(self) -> bool:
        return self.exited is not None

    @property
    def bad_input(self) -> bool:
        """The run never started for a bad input (a wrong parameter, an import error, a
        stage that is no iterator): a one-line error, no record."""
        f = self.failure
        return f is not None and f.user_error and f.phase in ("load", "build")

    @property
    def cancelled(self) -> bool:
        """Stopped before its first batch came out: not a result (a restart during import,
        a stop while the factory made its data)."""
        snap = self.snapshot
        out = snap.stages[-1].batches if snap is not None and snap.stages else 0
        return self.status == STOPPED and out == 0

    @property
    def elapsed_s(self) -> float:
        return self.snapshot.elapsed_ns / 1e9 if self.snapshot else 0.0

    @property
    def stalled_s(self) -> float | None:
        """Seconds since the last stage boundary was crossed, when that is over ``STALL_S``
        while the run goes (the pipeline is inside one long call); else None."""
        snap = self.snapshot
        if snap is None or self.ended or snap.idle_ns < STALL_S * 1e9:
            return None
        return snap.idle_ns / 1e9

    @property
    def running_stage(self) -> str | None:
        """The stage running at the last snapshot (None for the sink or before Hello)."""
        snap, hello = self.snapshot, self.hello
        if snap is None or hello is None or not 0 <= snap.running < len(hello.stages):
            return None
        return hello.stages[snap.running]


@dataclass(frozen=True)
class StageRow:
    """One stage as shown: counts, throughput, self time and whether it is the bottleneck."""

    name: str
    items: int
    batches: int
    items_per_s: float
    batches_per_s: float
    self_s: float  # compilation included (it happened in this stage's time)
    self_pct: float
    compile_s: float
    mean_batch_s: float | None  # self time per batch, compilation left out
    bottleneck: bool
    done: bool
    failed: bool

    @property
    def work_s(self) -> float:
        """Self time without JIT compilation: what the bottleneck is judged on."""
        return max(0.0, self.self_s - self.compile_s)


def _final_status(state: RunState, ex: Exited) -> tuple[str, str | None]:
    """Status and message once the process is gone, from what the child said (if it
    said anything) and how it ended."""
    reason = state.stop_reason or ex.stop_reason
    if ex.killed_by == "memory_budget" or reason == "memory_budget" or ex.budget is not None:
        how = {
            "memory_budget": "; the run was killed",
            "stop_timeout": "; it did not stop within the grace period and was killed",
        }.get(ex.killed_by or "", "")
        if reason is None and ex.killed_by is None:
            how = "; the run ended before it could be stopped"
        return BUDGET_EXCEEDED, (ex.budget or state.message or "passed the memory budget") + how
    if ex.events_closed and state.status not in FINAL_STATUSES:
        return CRASHED, "the pipeline closed pipebench's events pipe (os.closerange?)"
    if state.status in FINAL_STATUSES:
        return state.status, state.message
    why = f" ({reason})" if reason else ""
    if ex.killed_by == "stop_timeout":
        return STOPPED, f"did not stop within the grace period and was killed{why}"
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


def _windowed(points: tuple[RatePoint, ...]) -> tuple[float | None, tuple[RatePoint, ...]]:
    """The rate over the newest window and the points still needed for the next ones."""
    last = points[-1]
    start = None
    for i in range(len(points) - 2, -1, -1):
        p = points[i]
        if last.t_ns - p.t_ns >= WINDOW_S * 1e9 and last.batches - p.batches >= WINDOW_BATCHES:
            start = i
            break
    if start is None:
        return None, points[-WINDOW_POINTS:]
    p = points[start]
    return (last.items - p.items) / ((last.t_ns - p.t_ns) / 1e9), points[start:]


def window_of(state: RunState) -> tuple[float, int] | None:
    """(seconds, batches) the live rate was measured over, or None before a full window."""
    pts = state.points
    if state.rate is None or len(pts) < 2:
        return None
    return (pts[-1].t_ns - pts[0].t_ns) / 1e9, pts[-1].batches - pts[0].batches


def _on_snapshot(state: RunState, snap: Snapshot) -> RunState:
    status = "running" if state.status == "starting" else state.status
    if not snap.stages:
        return dataclasses.replace(state, snapshot=snap, status=status)
    last = snap.stages[-1]
    points = state.points
    if not points or snap.elapsed_ns > points[-1].t_ns:
        points = (*points, RatePoint(snap.elapsed_ns, last.items, last.batches))
    rate, points = _windowed(points)
    rate_max = state.rate_max
    if rate is not None and (rate_max is None or rate > rate_max):
        rate_max = rate
    return dataclasses.replace(
        state, snapshot=snap, status=status, points=points, rate=rate, rate_max=rate_max
    )


def apply(state: RunState, event: Event) -> RunState:
    """The state after one more event."""
    replace = dataclasses.replace
    if isinstance(event, Snapshot):
        return _on_snapshot(state, event)
    if isinstance(event, Log):
        line = f"[{event.stream}] {printable(event.text)}"
        return replace(
            state,
            log_tail=(*state.log_tail[-(LOG_TAIL - 1) :], line),
            log_lines=state.log_lines + 1,
        )
    if isinstance(event, Hello):
        return replace(state, hello=event)
    if isinstance(event, Progress):
        return replace(state, progress=event)
    if isinstance(event, Failure):
        return replace(state, failure=state.failure or event)
    if isinstance(event, Finished):
        return replace(state, status=event.status, stop_reason=event.reason, message=event.message)
    if isinstance(event, Exited):
        status, message = _final_status(state, event)
        if status == CRASHED and state.status not in FINAL_STATUSES:
            where = state.running_stage
            if where is not None:  # the stage whose next() was entered and never left
                message = f"crashed in stage {where}: {message}"
            said = event.crash or (event.stderr_tail[-1] if event.stderr_tail else None)
            if said:
                message = f"{message}; it said: {printable(said, limit=300)}"
        # A chain that finished by itself before a stop reached it was not stopped.
        reason = None if status == FINISHED else state.stop_reason or event.stop_reason
        return replace(state, exited=event, status=status, message=message, stop_reason=reason)
    return state


def with_lines(state: RunState, lines: list[tuple[str, str]], skipped: int) -> RunState:
    """The state after output lines (``(stream, text)``) taken from the run's output, and
    ``skipped`` lines that went unseen; only the newest ``LOG_TAIL`` lines are kept."""
    if not lines and not skipped:
        return state
    kept = [f"[{s}] {printable(t)}" for s, t in lines[-LOG_TAIL:]]
    tail = (*state.log_tail, *kept)[-LOG_TAIL:]
    return dataclasses.replace(
        state, log_tail=tail, log_lines=state.log_lines + len(lines) + skipped
    )


def has_evidence(rows: list[StageRow]) -> bool:
    """Whether the run has enough data to name a bottleneck."""
    if not rows:
        return False
    top = max(r.work_s for r in rows)
    return rows[-1].batches >= MIN_BATCHES and top >= MIN_SELF_S


def stage_rows(state: RunState) -> list[StageRow]:
    """The stage table: one row per stage, the bottleneck (largest self time, compilation
    left out) marked when there is enough evidence."""
    snap, hello = state.snapshot, state.hello
    if hello is None:
        return []
    if snap is None or len(snap.stages) != len(hello.stages):
        return [
            StageRow(n, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, None, False, False, False)
            for n in hello.stages
        ]
    elapsed = snap.elapsed_ns / 1e9
    rows = []
    for i, (name, s) in enumerate(zip(hello.stages, snap.stages, strict=True)):
        self_s = s.self_ns / 1e9
        compile_s = s.compile_ns / 1e9
        work = max(0.0, self_s - compile_s)
        rows.append(
            StageRow(
                name=name,
                items=s.items,
                batches=s.batches,
                items_per_s=s.items / elapsed if elapsed > 0 else 0.0,
                batches_per_s=s.batches / elapsed if elapsed > 0 else 0.0,
                self_s=self_s,
                self_pct=100.0 * self_s / elapsed if elapsed > 0 else 0.0,
                compile_s=compile_s,
                mean_batch_s=work / s.batches if s.batches else None,
                bottleneck=False,
                done=s.done,
                failed=i == snap.failed_stage,
            )
        )
    if has_evidence(rows):
        top = max(range(len(rows)), key=lambda i: rows[i].work_s)
        rows[top] = dataclasses.replace(rows[top], bottleneck=True)
    return rows


def bottleneck(state: RunState) -> StageRow | None:
    """The bottleneck's row, or None while there is not enough evidence."""
    return next((r for r in stage_rows(state) if r.bottleneck), None)


def throughput(state: RunState) -> float | None:
    """Items per second out of the last stage over the whole run."""
    rows = stage_rows(state)
    return rows[-1].items_per_s if rows and state.snapshot else None


def _iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None


def memory_report(snap: Snapshot | None) -> dict[str, Any] | None:
    """The report's "memory": the tree's totals at start, peak and end, per process, and
    the headline figures under flat names (``rss_peak_bytes``, ``private_peak_bytes``...)."""
    mem = snap.memory if snap is not None else None
    if mem is None or not mem.samples:
        return None  # not measured (a run that ended before the first reading): not zero
    out = mem.to_json()
    out.update(
        {
            "rss_start_bytes": mem.start.rss,
            "rss_peak_bytes": mem.peak.rss,
            "rss_end_bytes": mem.now.rss,
            "private_start_bytes": mem.start.private,
            "private_peak_bytes": mem.peak.private,
            "private_end_bytes": mem.now.private,
            "file_peak_bytes": mem.peak.file,
            "uss_peak_bytes": mem.peak.uss,
            "pss_peak_bytes": mem.peak.pss,
            "processes_seen": len(mem.processes),
        }
    )
    return out


def report(state: RunState, finished_at: float | None = None) -> dict[str, Any]:
    """The run report, as written to ``--json`` and the run records (schema in
    ``workbench/engine/report.schema.json``)."""
    hello, snap = state.hello, state.snapshot
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
            "stage": state.running_stage if state.status == CRASHED else None,
            "phase": "run",
        }
    rows = stage_rows(state)
    top = next((r.name for r in rows if r.bottleneck), None)
    total = snap.elapsed_ns / 1e9 if snap else 0.0
    asked = parse_target(state.target)
    asked_path = os.path.abspath(asked.module) if asked.module.endswith(".py") else None
    ex = state.exited
    return {
        "schema": REPORT_SCHEMA,
        "run_id": state.run_id,
        "target": state.target,
        # Before Hello (cancelled while its module loaded): what was asked for.
        "pipeline": hello.pipeline if hello else asked.name,
        "module": hello.module if hello else None,
        "path": hello.path if hello else asked_path,
        "params": hello.params if hello else state.options.get("params"),
        "status": state.status,
        "cancelled": state.cancelled,
        "stop_reason": state.stop_reason,
        "message": state.message,
        "started_at": _iso(state.started_at),
        "finished_at": _iso(finished_at) if finished_at else None,
        "duration_s": total,
        "items": rows[-1].items if rows else 0,
        "batches": rows[-1].batches if rows else 0,
        "items_per_s": rows[-1].items_per_s if rows else 0.0,
        "batches_per_s": rows[-1].batches_per_s if rows else 0.0,
        "rate_max_items_per_s": state.rate_max,
        "rate_window": {"min_s": WINDOW_S, "min_batches": WINDOW_BATCHES},
        "bottleneck": top,
        "stages": [
            {
                "name": r.name,
                "items": r.items,
                "batches": r.batches,
                "items_per_s": r.items_per_s,
                "batches_per_s": r.batches_per_s,
                "self_s": r.self_s,
                "self_pct": r.self_pct,
                "compile_s": r.compile_s,
                "mean_batch_s": r.mean_batch_s,
                "bottleneck": r.bottleneck,
                "done": r.done,
            }
            for r in rows
        ],
        "sink_s": snap.sink_ns / 1e9 if snap else 0.0,
        "to_first_batch_s": (
            (snap.first_batch_ns - snap.spawned_ns) / 1e9
            if snap is not None and snap.first_batch_ns and snap.spawned_ns
            else None
        ),
        "timing": {  # CLOCK_MONOTONIC stamps, for benchmarks that compare with their own
            "runner_spawned_ns": snap.spawned_ns if snap else None,
            "first_batch_ns": snap.first_batch_ns if snap else None,
        },
        "cpu_s": snap.memory.cpu_s
        if snap is not None and snap.memory and snap.memory.samples
        else None,
        "memory": memory_report(snap),
        "error": err,
        "options": state.options,
        "environment": {
            "pipebench": workbench.__version__,
            "python": hello.python if hello else platform.python_version(),
            "probe": hello.probe if hello else None,
            "pid": hello.pid if hello else None,
            "host": socket.gethostname(),
            "exit_code": ex.returncode if ex else None,
        },
        "ended_processes": list(ex.ended) if ex else [],
        "log_lines": state.log_lines,
        "log_tail": list(state.log_tail[-50:]),
        # Sections (caches, gpu, contexts, parallel, ...): their last value.
        **(snap.sections.to_json() if snap else {}),
    }
