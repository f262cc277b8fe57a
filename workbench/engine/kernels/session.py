"""Pure aggregation of a kernels run: events in, table rows, plot series and report out.

The CLI and the UI both fold events with ``apply_kernel_event`` and read the same rows,
so the JSON a script gets and the numbers a person sees agree. Results of the same
kernel, size and implementation from several processes (``--rigorous``) are merged:
their samples pooled, their compile times' median kept, the worst verdict kept.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from workbench.engine.kernels.rowinfo import ONCE, PER_CALL, RowInfo, unpack
from workbench.engine.kernels.stats import Summary, summarize
from workbench.engine.protocol import FAILED, FINISHED, Event, Exited, Failure, Finished, Log
from workbench.engine.protocol_tools import KernelEnvironment, KernelResult
from workbench.text import printable
from workbench.units import format_seconds

#: The labels speedups are computed against.
BASELINES = ("python", "numpy")
#: Lines of the implementations' output kept (the newest); the rest are only counted.
OUTPUT_TAIL = 200


@dataclass(frozen=True)
class KernelState:
    """Everything known about a kernels run so far."""

    target: str
    rounds: int = 1  # processes expected
    options: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0
    environments: tuple[KernelEnvironment, ...] = ()
    results: tuple[KernelResult, ...] = ()
    logs: tuple[Log, ...] = ()
    failure: Failure | None = None
    finished: tuple[Finished, ...] = ()
    exits: tuple[Exited, ...] = ()
    output_tail: tuple[str, ...] = ()  # the newest output lines, "[stream] text"
    output_lines: int = 0  # every output line the implementations printed, kept or not

    @property
    def ended(self) -> bool:
        """No more events will come (the rule ``runner.KernelsJob`` follows)."""
        if not self.exits:
            return False
        last = self.exits[-1]
        stopped = any(f.status != FINISHED for f in self.finished)
        return (
            len(self.exits) >= self.rounds
            or last.returncode != 0
            or self.failure is not None
            or stopped
        )

    @property
    def status(self) -> str:
        if self.failure is not None:
            return FAILED
        for f in self.finished:
            if f.status != FINISHED:
                return f.status
        if self.exits and self.exits[-1].returncode != 0 and len(self.finished) < len(self.exits):
            return "crashed"
        if self.ended:
            return FINISHED
        return "running" if self.environments else "starting"

    @property
    def message(self) -> str | None:
        if self.failure is not None:
            return self.failure.message
        for f in self.finished:
            if f.message:
                return f.message
        if self.exits and self.exits[-1].returncode != 0 and len(self.finished) < len(self.exits):
            last = self.exits[-1]
            if last.killed_by:
                return f"the runner was killed ({last.killed_by}); the rows so far are kept"
            tail = "; ".join(last.stderr_tail[-3:])
            return f"the runner exited with {last.signal or last.returncode}" + (
                f": {tail}" if tail else ""
            )
        return None

    @property
    def gemm_gflops(self) -> float | None:
        """The GEMM probe's rate, the median over the processes that measured it."""
        return self.gemm_rate(None)

    def gemm_rate(self, device: str | None, threads: int | None = None) -> float | None:
        """The GEMM rate of the CPU (device None or "cpu") or of the CUDA device; with
        ``threads``, the CPU's at that thread count (None where it was not probed)."""
        rates = []
        for e in self.environments:
            g = e.gemm or {}
            if device == "cuda":
                g = g.get("cuda") or {}
            elif threads is not None and g.get("threads", threads) != threads:
                g = (g.get("at_threads") or {}).get(str(threads)) or {}
            if g.get("gflops"):
                rates.append(g["gflops"])
        return statistics.median(rates) if rates else None

    @property
    def plans(self) -> tuple[dict[str, Any], ...]:
        return self.environments[0].kernels if self.environments else ()


def apply_kernel_event(state: KernelState, ev: Event) -> KernelState:
    """The state after one event (a pure function)."""
    if isinstance(ev, KernelResult):
        return replace(state, results=state.results + (ev,))
    if isinstance(ev, KernelEnvironment):
        return replace(state, environments=state.environments + (ev,))
    if isinstance(ev, Log):
        return replace(state, logs=state.logs + (ev,))
    if isinstance(ev, Failure):
        return replace(state, failure=state.failure or ev)
    if isinstance(ev, Finished):
        return replace(state, finished=state.finished + (ev,))
    if isinstance(ev, Exited):
        return replace(state, exits=state.exits + (ev,))
    return state


def with_output(state: KernelState, lines: list[tuple[str, str]], skipped: int) -> KernelState:
    """The state after output lines (``(stream, text)``) the runners printed, and
    ``skipped`` lines that went unseen; only the newest ``OUTPUT_TAIL`` lines are kept."""
    if not lines and not skipped:
        return state
    kept = [f"[{s}] {printable(t)}" for s, t in lines[-OUTPUT_TAIL:]]
    return replace(
        state,
        output_tail=(*state.output_tail, *kept)[-OUTPUT_TAIL:],
        output_lines=state.output_lines + len(lines) + skipped,
    )


@dataclass(frozen=True)
class KernelRow:
    """One implementation of one kernel at one size, merged over the processes."""

    kernel: str
    size: int
    impl: str
    status: str  # "ok", "error", "skipped"
    correct: bool | None
    check: str | None
    error: str | None
    reference: bool
    rounds: tuple[KernelResult, ...]
    summary: Summary | None
    compile_s: float | None
    first_call_s: float | None
    recompiles: int
    low_n: str | None
    skipped: str | None
    flops: float | None
    bytes: float | None
    speedup: dict[str, float] = field(default_factory=dict)  # baseline label -> x faster
    gflops: float | None = None
    gbps: float | None = None
    gemm_fraction: float | None = None
    info: RowInfo = field(default_factory=RowInfo)  # threads, inputs, mutation

    @property
    def threads(self) -> int | None:
        """The thread count its pools were pinned to."""
        return self.info.threads

    @property
    def mutates(self) -> bool:
        """Its first call changed its inputs (in any process)."""
        return bool(self.info.mutates)

    @property
    def samples(self) -> tuple[float, ...]:
        return tuple(s for r in self.rounds for s in r.samples)

    @property
    def trusted(self) -> bool:
        """Timed and not found wrong: its speed may be compared."""
        return self.status == "ok" and self.correct is not False and self.summary is not None

    @property
    def mark(self) -> str:
        if self.status == "error":
            return "✗"
        if self.correct is True:
            return "✓"
        if self.correct is False:
            return "✗"
        return "?"

    @property
    def unstable(self) -> str | None:
        return self.summary.unstable if self.summary else None

    @property
    def notes(self) -> list[str]:
        out = []
        if self.error:
            out.append(self.error)
        elif self.correct is False and self.check:
            out.append(f"disagrees with the reference: {self.check}")
        elif self.correct is None and self.check:
            out.append(self.check)
        if self.mutates:
            out.append(
                "mutates its input: timed call by call, each call on a fresh copy"
                + (
                    f" (a copy takes {format_seconds(self.info.copy_s)}, off the clock)"
                    if self.info.copy_s is not None
                    else ""
                )
            )
        elif self.info.inputs == ONCE and self.info.copy_s is not None:
            out.append(
                f"one copy of the inputs for all samples: a copy takes "
                f"{format_seconds(self.info.copy_s)}, too long to make one per sample"
            )
        if self.info.input_note:
            out.append(self.info.input_note)
        if self.skipped:
            out.append(self.skipped)
        if self.low_n:
            out.append(self.low_n)
        if self.recompiles:
            out.append(f"recompiled {self.recompiles}x during timing")
        if self.unstable:
            out.append(self.unstable)
        if self.gemm_fraction is not None and self.gemm_fraction > 1.0:
            out.append(
                f"{self.gemm_fraction:.0%} of the GEMM probe's rate: the probe is no ceiling "
                "here; the declared flops may count more operations than the kernel does"
            )
        return out


def _merge_info(infos: list[RowInfo]) -> RowInfo:
    """One row's facts over its processes: any mutation counts, the slowest copy."""
    first = infos[0]
    mutates = [i.mutates for i in infos if i.mutates is not None]
    copies = [i.copy_s for i in infos if i.copy_s is not None]
    inputs = PER_CALL if any(i.inputs == PER_CALL for i in infos) else first.inputs
    return replace(
        first,
        mutates=any(mutates) if mutates else None,
        inputs=inputs or next((i.inputs for i in infos if i.inputs), None),
        copy_s=max(copies) if copies else None,
        input_note=next((i.input_note for i in infos if i.input_note), None),
    )


def _merge(group: list[KernelResult]) -> KernelRow:
    unpacked = [unpack(r.check) for r in group]
    group = [replace(r, check=v) for r, (v, _) in zip(group, unpacked, strict=True)]
    info = _merge_info([i for _, i in unpacked])
    first = group[0]
    statuses = {r.status for r in group}
    status = "error" if "error" in statuses else "ok" if "ok" in statuses else "skipped"
    verdicts = [r.correct for r in group]
    correct = False if False in verdicts else None if None in verdicts else True
    worst = next((r for r in group if r.correct is correct and r.check), first)
    compiles = [r.compile_s for r in group if r.compile_s is not None]
    firsts = [r.first_call_s for r in group if r.first_call_s is not None]
    samples = [s for r in group for s in r.samples]
    low_n = next((r.low_n for r in group if r.low_n), None)
    skipped = next((r.skipped for r in group if r.skipped), None) if status != "ok" else None
    return KernelRow(
        kernel=first.kernel,
        size=first.size,
        impl=first.impl,
        status=status,
        correct=correct,
        check=worst.check,
        error=next((r.error for r in group if r.error), None),
        reference=first.reference,
        rounds=tuple(group),
        summary=summarize(samples),
        compile_s=statistics.median(compiles) if compiles else None,
        first_call_s=statistics.median(firsts) if firsts else None,
        recompiles=sum(r.recompiles for r in group),
        low_n=low_n,
        skipped=skipped,
        flops=first.flops,
        bytes=first.bytes,
        info=info,
    )


def kernel_rows(state: KernelState, kernel: str | None = None) -> list[KernelRow]:
    """The rows to show, by kernel (plan order), size, then implementation (run order),
    with speedups, GFLOP/s and the fraction of the GEMM rate filled in."""
    groups: dict[tuple[str, int, str], list[KernelResult]] = {}
    for r in state.results:
        if kernel is None or r.kernel == kernel:
            groups.setdefault((r.kernel, r.size, r.impl), []).append(r)
    rows = {key: _merge(g) for key, g in groups.items()}
    out = []
    for key, row in rows.items():
        kname, size, _ = key
        speedup = {}
        if row.trusted:
            assert row.summary is not None
            for base in BASELINES:
                b = rows.get((kname, size, base))
                if b is not None and b.trusted and b.summary is not None and row.summary.median:
                    speedup[base] = b.summary.median / row.summary.median
        gflops = gbps = frac = None
        if row.trusted and row.summary is not None and row.summary.median > 0:
            if row.flops:
                gflops = row.flops / row.summary.median / 1e9
                gemm = state.gemm_rate(row.rounds[0].device, row.threads)
                frac = gflops / gemm if gemm else None
            if row.bytes:
                gbps = row.bytes / row.summary.median / 1e9
        out.append(replace(row, speedup=speedup, gflops=gflops, gbps=gbps, gemm_fraction=frac))
    order = {
        p["name"]: (i, {label: j for j, label in enumerate(p["impls"])})
        for i, p in enumerate(state.plans)
    }

    def sort_key(row: KernelRow) -> tuple[int, int, int, str]:
        k, impls = order.get(row.kernel, (len(order), {}))
        return (k, row.size, impls.get(row.impl, len(impls)), row.impl)

    return sorted(out, key=sort_key)


def kernel_series(state: KernelState, kernel: str) -> dict[str, list[tuple[int, float]]]:
    """For a log-log plot of time against size: implementation -> [(size, median s)],
    trusted rows only."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in kernel_rows(state, kernel):
        if row.trusted and row.summary is not None:
            series.setdefault(row.impl, []).append((row.size, row.summary.median))
    return series


def _row_dict(row: KernelRow) -> dict[str, Any]:
    s = row.summary
    return {
        "kernel": row.kernel,
        "size": row.size,
        "impl": row.impl,
        "status": row.status,
        "correct": row.correct,
        "check": row.check,
        "error": row.error,
        "reference": row.reference,
        "threads": row.threads,
        "parallel": row.info.parallel,
        "mutates": row.info.mutates,
        "inputs": row.info.inputs,
        "copy_s": row.info.copy_s,
        "compile_s": row.compile_s,
        "first_call_s": row.first_call_s,
        "recompiles": row.recompiles,
        "n": s.n if s else 0,
        "median_s": s.median if s else None,
        "q1_s": s.q1 if s else None,
        "q3_s": s.q3 if s else None,
        "iqr_s": s.iqr if s else None,
        "min_s": s.min if s else None,
        "max_s": s.max if s else None,
        "unstable": row.unstable,
        "low_n": row.low_n,
        "skipped": row.skipped,
        "flops": row.flops,
        "bytes": row.bytes,
        "speedup": row.speedup,
        "gflops": row.gflops,
        "gbps": row.gbps,
        "gemm_fraction": row.gemm_fraction,
        "rounds": [
            {
                "round": r.round,
                "status": r.status,
                "samples": list(r.samples),
                "loops": r.loops,
                "warmup_s": r.warmup_s,
                "first_call_s": r.first_call_s,
                "compile_s": r.compile_s,
                "compiles": r.compiles,
                "recompiles": r.recompiles,
                "traceback": r.traceback,
            }
            for r in row.rounds
        ],
    }


def kernel_report(state: KernelState, finished_at: float | None = None) -> dict[str, Any]:
    """The whole run as JSON-ready data: machine metadata, raw samples, verdicts."""
    env = state.environments[0] if state.environments else None
    machine: dict[str, Any] = {}
    if env is not None:
        machine = {
            "cpu": env.cpu,
            "cpus": env.cpus,
            "python": env.python,
            "versions": env.versions,
            "threads": env.threads,
            "gemm_gflops": state.gemm_gflops,
            "gemm_gflops_cuda": state.gemm_rate("cuda"),
            "gemm": [e.gemm for e in state.environments],
        }
    return {
        "kind": "kernels",
        "target": state.target,
        "options": state.options,
        "status": state.status,
        "message": state.message,
        "started_at": state.started_at,
        "finished_at": finished_at or time.time(),
        "processes": len(state.environments),
        "machine": machine,
        "kernels": list(state.plans),
        "environments": [asdict(e) for e in state.environments],
        "results": [_row_dict(r) for r in kernel_rows(state)],
        "failure": asdict(state.failure) if state.failure else None,
        "logs": [f"{lg.stream}: {lg.text}" for lg in state.logs],
        "output_lines": state.output_lines,
        "output_tail": list(state.output_tail),
    }
