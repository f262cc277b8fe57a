"""Sweep quality: does the auto sweep find the best batch size, in less time than a full one?

For each pipeline (``numpy_batches`` and ``numpy_batches_torch`` by default) this runs, paired:

- the **full sweep**: every power of two from ``--min`` to ``--max``, 3 rounds (every size
  sampled 3 times in interleaved rounds, no size left out early), and
- the **auto sweep** (``pipebench sweep --auto`` with its defaults),

their runs interleaved one by one (full, auto, full, auto, ... while both have runs left),
so a change in the machine's load falls on both. The "best" is the size with the highest
median in the full sweep. When the auto sweep recommends another size, the two are then
run against each other, interleaved, ``--confirm`` times each, and the ratio of their
medians is its quality (a midpoint such as 1536 has no figure in the full sweep; the
auto sweep's own figure for it would flatter it, having been picked for being high).

Time is each sweep's own runs, start to exit (forking, the factory, the measured seconds,
stopping), summed. Goal (issue 17): quality ≥ 0.98 in ≤ 60% of the full sweep's time.

    .venv/bin/python benchmarks/sweep_quality.py [--trials 1] [--seconds-per-run 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.engine.follow import Follower, Step
from workbench.engine.protocol import Event, Exited
from workbench.engine.sweep.run import SweepJob, SweepResult, SweepState, finish, run_sweep
from workbench.engine.sweep.search import SweepSettings, powers_of_two
from workbench.engine.sweep.stats import SizeResult
from workbench.units import format_rate

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ("numpy_batches", "numpy_batches_torch")


@dataclass
class Paired:
    """Two sweep jobs followed as one, their runs alternating; each run's wall time (start
    to exit) is added to its own sweep's."""

    jobs: tuple[SweepJob, SweepJob]
    spent: list[float] = field(default_factory=lambda: [0.0, 0.0])
    runs: list[int] = field(default_factory=lambda: [0, 0])
    turn: int = 0
    current: int = 0
    inner: Step | None = None
    t0: float = 0.0

    def initial(self) -> tuple[SweepState, SweepState]:
        return self.jobs[0].initial(), self.jobs[1].initial()

    def next_step(self, state: tuple[SweepState, SweepState]) -> Step | None:
        for k in (self.turn, 1 - self.turn):
            step = self.jobs[k].next_step(state[k])
            if step is not None:
                self.current, self.turn, self.inner = k, 1 - k, step
                self.t0 = time.monotonic()
                return Step(f"{k}/{step.label}", step.target, step.options)
        return None

    def fold(
        self, state: tuple[SweepState, SweepState], step: Step, event: Event
    ) -> tuple[SweepState, SweepState]:
        k, inner = self.current, self.inner
        assert inner is not None
        folded = self.jobs[k].fold(state[k], inner, event)
        if isinstance(event, Exited):
            self.spent[k] += time.monotonic() - self.t0
            self.runs[k] += 1
        return (folded, state[1]) if k == 0 else (state[0], folded)

    def fold_lines(
        self, state: tuple[SweepState, SweepState], step: Step, lines: Any, skipped: int
    ) -> tuple[SweepState, SweepState]:
        return state  # the pipelines' output is not needed here

    def check(self, state: tuple[SweepState, SweepState], step: Step) -> str | None:
        assert self.inner is not None
        return self.jobs[self.current].check(state[self.current], self.inner)

    def stopped(self, reason: str) -> None:
        for job in self.jobs:
            job.stopped(reason)

    def close(self) -> None:
        for job in self.jobs:
            job.close()


def full_settings(auto: SweepSettings) -> SweepSettings:
    """A full power-of-two sweep with 3 rounds: every size sampled 3 times, none left out
    early (``out_below=0``), no extra samples."""
    sizes = tuple(powers_of_two(auto.min_size, auto.max_size))
    return replace(auto, sizes=sizes, samples=3, max_samples=3, out_below=0.0)


def size_line(z: SizeResult, best: float | None) -> str:
    if z.items_per_s is None:
        return f"{z.batch_size:>6}  {z.outcome}"
    share = f"{z.items_per_s / best:6.1%}" if best else ""
    spread = f"±{100 * (z.precision or 0):.1f}%"
    rates = " ".join(format_rate(r) for r in z.rates)
    return (
        f"{z.batch_size:>6}  {format_rate(z.items_per_s):>7} {spread:>7} {share}  "
        f"n={len(z.samples)} [{rates}]"
    )


def confirm(target: str, auto: SweepSettings, best: int, rec: int, rounds: int) -> SweepResult:
    """``best`` and ``rec`` against each other, interleaved, ``rounds`` runs each."""
    settings = replace(auto, sizes=(best, rec), samples=rounds, max_samples=rounds, out_below=0.0)
    return run_sweep(target, settings, save=False)


def trial(name: str, auto: SweepSettings, rounds: int) -> dict[str, Any]:
    target = f"{ROOT}/pipelines/numpy_batches.py:{name}"
    full = full_settings(auto)
    paired = Paired((SweepJob(target, full), SweepJob(target, auto)))
    load0 = os.getloadavg()
    state = Follower(paired, interval=0.5).run()
    results = [finish(s, interrupted=False, save=False) for s in state]
    fr, ar = results
    assert fr.answer is not None and ar.answer is not None
    best_full = fr.answer.recommended
    rec = ar.answer.recommended
    print(f"\n== {name}: load average {load0[0]:.2f} at the start")
    print(f"full sweep ({paired.runs[0]} runs, {paired.spent[0]:.1f} s): medians of 3")
    top = best_full.items_per_s if best_full else None
    for z in sorted(fr.answer.sizes, key=lambda z: z.batch_size):
        print("  " + size_line(z, top))
    print(
        f"auto sweep ({paired.runs[1]} runs, {paired.spent[1]:.1f} s): "
        f"growth ended: {ar.to_json()['growth_stopped']}"
    )
    for z in ar.answer.sizes:
        print("  " + size_line(z, top) + f"  {z.phase}")
    out: dict[str, Any] = {
        "pipeline": name,
        "full_s": paired.spent[0],
        "auto_s": paired.spent[1],
        "full_runs": paired.runs[0],
        "auto_runs": paired.runs[1],
        "best": best_full.batch_size if best_full else None,
        "recommended": rec.batch_size if rec else None,
        "load": (load0[0], os.getloadavg()[0]),
    }
    if best_full is None or rec is None:
        out["quality"] = None
        return out
    if rec.batch_size == best_full.batch_size:
        out["quality"], out["how"] = 1.0, "the same size"
    else:
        check = confirm(target, auto, best_full.batch_size, rec.batch_size, rounds)
        assert check.answer is not None
        by = {z.batch_size: z for z in check.answer.sizes}
        a, b = by[rec.batch_size].items_per_s, by[best_full.batch_size].items_per_s
        out["quality"] = a / b if a and b else None
        out["how"] = (
            f"{rounds} interleaved runs each: {rec.batch_size} {format_rate(a)}, "
            f"{best_full.batch_size} {format_rate(b)}"
        )
        in_full = next((z for z in fr.answer.sizes if z.batch_size == rec.batch_size), None)
        if in_full is not None and in_full.items_per_s and top:
            out["how"] += f"; in the full sweep {in_full.items_per_s / top:.3f}"
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pipelines", default=",".join(PIPELINES))
    p.add_argument("--trials", type=int, default=1, help="paired sweeps per pipeline")
    p.add_argument("--seconds-per-run", type=float, default=SweepSettings().seconds_per_run)
    p.add_argument("--min", type=int, default=SweepSettings().min_size)
    p.add_argument("--max", type=int, default=SweepSettings().max_size)
    p.add_argument("--confirm", type=int, default=5, help="runs each to compare two sizes")
    args = p.parse_args(argv)
    os.environ.setdefault("PIPEBENCH_HOME", tempfile.mkdtemp(prefix="pipebench-sweepq-"))
    auto = SweepSettings(min_size=args.min, max_size=args.max, seconds_per_run=args.seconds_per_run)
    blas = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    print(
        f"sweep quality: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
        f"python {sys.version.split()[0]}, BLAS threads env {blas}"
    )
    print(
        f"sizes {args.min}..{args.max}; each run {args.seconds_per_run:g} s; auto: "
        f"{auto.samples}-{auto.max_samples} samples per size, x{auto.growth} growth; "
        f"full: {len(powers_of_two(args.min, args.max))} sizes x 3 rounds"
    )
    rows = []
    for name in args.pipelines.split(","):
        for _ in range(args.trials):
            rows.append(trial(name, auto, args.confirm))
    print("\n== paired results (goal: quality >= 0.98 in <= 60% of the full sweep's time)")
    print(
        f"{'pipeline':<22} {'best':>6} {'rec':>6} {'quality':>8} {'auto s':>7} "
        f"{'full s':>7} {'time':>6} {'runs':>7}  load  how"
    )
    for r in rows:
        q = f"{r['quality']:.3f}" if r.get("quality") is not None else "–"
        share = r["auto_s"] / r["full_s"] if r["full_s"] else float("nan")
        print(
            f"{r['pipeline']:<22} {r['best']!s:>6} {r['recommended']!s:>6} {q:>8} "
            f"{r['auto_s']:>7.1f} {r['full_s']:>7.1f} {share:>6.0%} "
            f"{r['auto_runs']:>3}/{r['full_runs']:<3} {r['load'][0]:.1f}-{r['load'][1]:.1f}  "
            f"{r.get('how', '')}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
