"""How pipebench's kernel median compares with ``timeit``'s median of the same calls (issue
15: within 5% for every example kernel over 1 ms).

    python benchmarks/kernel_accuracy.py [--sizes-per-kernel 2] [--rounds 5] [--kernel NAME]

Same statistic on both sides: the median, over samples, of the mean time per call in a
sample. pipebench's harness (``measure``: warm-up, loops calibrated to ``min_sample_s``,
GC off, inputs as ``pipebench kernels`` gives them) against ``timeit`` (``repeat`` with as
many samples of as many calls as pipebench's calibration took, GC off, median; with
``--autorange``, timeit's own loop count instead, whose longer samples catch more of a
busy machine's preemptions),
for each CPU implementation of the example kernels (pipelines/distance_kernels.py) at its
largest sizes, in this one process and at the thread count ``pipebench kernels`` would
give it (parallel ones at every CPU). The two are interleaved, round by round, in
alternating order (ABBA), and each figure is the median of ``--rounds`` rounds; the ratio
pipebench / timeit is printed per kernel. An implementation that changes its input is
timed by pipebench on a fresh copy per call, which timeit cannot do: it is not compared.
Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PIPEBENCH_HOME", tempfile.mkdtemp(prefix="pipebench-bench-"))

from workbench.engine.kernels.env import (  # noqa: E402
    apply_threads,
    blas_vendor,
    cpu_model,
    parse_threads,
    thread_report,
)
from workbench.engine.kernels.inputs import (  # noqa: E402
    PER_SAMPLE_SHARE,
    Inputs,
    fingerprint,
    make_inputs,
    timed,
)
from workbench.engine.kernels.load import find_kernel_sets  # noqa: E402
from workbench.engine.kernels.timing import TimingSettings, first_call, measure  # noqa: E402
from workbench.engine.loader import Target, load_module  # noqa: E402
from workbench.units import format_seconds  # noqa: E402

GOAL = 0.05  # within 5% ...
OVER_S = 1e-3  # ... for every kernel over 1 ms


def timeit_median(fn: Any, args: tuple[Any, ...], samples: int, number: int | None) -> float:
    """Seconds per call: the median of ``samples`` repeats of ``number`` calls (``None``:
    ``autorange``'s count); timeit turns the GC off while it times, as pipebench does."""
    timer = timeit.Timer("fn(*args)", globals={"fn": fn, "args": args})
    if number is None:
        number, _ = timer.autorange()
    return statistics.median(t / number for t in timer.repeat(repeat=samples, number=number))


def compare(
    impl: Any,
    inputs: Inputs,
    settings: TimingSettings,
    threads: int,
    rounds: int,
    autorange: bool = False,
) -> tuple[float, float] | str:
    """pipebench's median and timeit's, each the median of ``rounds`` interleaved rounds
    (ABBA), or why the implementation is not compared."""

    def fresh() -> tuple[Any, ...]:
        made, _ = inputs.fresh()
        return tuple(impl.prepare(*made)) if impl.prepare else made

    call_args = fresh()
    apply_threads(threads)
    before = fingerprint(call_args)
    first = first_call(impl.fn, call_args)
    if before is not None and fingerprint(call_args) != before:
        return "mutates its input"
    per_call = first.seconds - (first.compile_s or 0.0)
    if per_call > settings.cutoff_s:
        return f"one call takes {format_seconds(per_call)}, past the cut-off"
    _, copy_s = timed(fresh)
    per_sample = copy_s <= PER_SAMPLE_SHARE * settings.min_sample_s
    ours: list[float] = []
    theirs: list[float] = []
    loops: list[int] = []

    def pb() -> None:
        m = measure(impl.fn, call_args, settings, fresh=fresh if per_sample else None)
        assert m.summary is not None
        ours.append(m.summary.median)
        loops.append(m.loops)

    def ti() -> None:
        number = None if autorange or not loops else loops[-1]
        theirs.append(timeit_median(impl.fn, call_args, settings.samples, number))

    pb()  # a first calibration: timeit takes pipebench's loop count (not counted)
    ours.clear()
    for r in range(rounds):
        for step in (pb, ti) if r % 2 == 0 else (ti, pb):
            apply_threads(threads)
            step()
    return statistics.median(ours), statistics.median(theirs)


@dataclass(frozen=True)
class Row:
    """One implementation at one size: pipebench's median and timeit's (s per call)."""

    kernel: str
    size: int
    impl: str
    threads: int
    pipebench_s: float
    timeit_s: float

    @property
    def ratio(self) -> float:
        return self.pipebench_s / self.timeit_s


def measure_kernels(
    *,
    sizes_per_kernel: int = 2,
    rounds: int = 5,
    only: Sequence[str] = (),
    threads_spec: str = "1",
    parallel_threads_spec: str = "all",
    autorange: bool = False,
    on_row: Callable[[Row], None] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> list[Row]:
    """Every CPU implementation of the example kernels at their largest
    ``sizes_per_kernel`` sizes (``only``: these kernel sets), each compared by
    ``compare``; an implementation not compared is passed to ``on_skip`` with why."""
    module = load_module(Target(str(ROOT / "pipelines" / "distance_kernels.py")))
    threads = parse_threads(threads_spec)
    parallel_threads = parse_threads(parallel_threads_spec)
    settings = TimingSettings()
    rows = []
    for kset in find_kernel_sets(module).values():
        if only and kset.name not in only:
            continue
        for size in sorted(kset.sizes)[-sizes_per_kernel:]:
            inputs = make_inputs(kset.name, size, kset.factory)
            for impl in kset.impls.values():
                if impl.device == "cuda" or any(_missing(m) for m in impl.requires):
                    continue
                n_threads = parallel_threads if impl.parallel else threads
                got = compare(impl, inputs, settings, n_threads, rounds, autorange)
                if isinstance(got, str):
                    if on_skip is not None:
                        on_skip(f"{kset.name} {impl.label} at {size:,}: {got}; not compared")
                    continue
                row = Row(kset.name, size, impl.label, n_threads, *got)
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--sizes-per-kernel",
        type=int,
        default=2,
        help="the largest N sizes of each kernel (default 2)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="interleaved rounds (ABBA order); the medians of the rounds are compared",
    )
    ap.add_argument("--kernel", action="append", default=[], help="only this kernel set")
    ap.add_argument(
        "--autorange",
        action="store_true",
        help="timeit picks its own loop count (samples of >= 0.2 s) instead of pipebench's",
    )
    ap.add_argument("--threads", default="1", help="threads of the implementations not parallel")
    ap.add_argument("--parallel-threads", default="all", help="threads of the parallel ones")
    args = ap.parse_args()

    print(
        f"  {'kernel':15} {'size':>9} {'impl':15} {'thr':>3} {'pipebench':>10} "
        f"{'timeit':>10} {'ratio':>7}   (medians of {args.rounds} interleaved rounds)"
    )

    def show(r: Row) -> None:
        print(
            f"  {r.kernel:15} {r.size:>9,} {r.impl:15} {r.threads:>3} "
            f"{format_seconds(r.pipebench_s):>10} {format_seconds(r.timeit_s):>10} "
            f"{r.ratio:>7.3f}"
            + ("" if r.timeit_s <= OVER_S else ("   ok" if abs(r.ratio - 1) <= GOAL else "   OUT")),
            flush=True,
        )

    rows = measure_kernels(
        sizes_per_kernel=args.sizes_per_kernel,
        rounds=args.rounds,
        only=args.kernel,
        threads_spec=args.threads,
        parallel_threads_spec=args.parallel_threads,
        autorange=args.autorange,
        on_row=show,
        on_skip=lambda why: print(f"  {why}"),
    )
    threads = parse_threads(args.threads)
    parallel_threads = parse_threads(args.parallel_threads)
    env = thread_report(args.threads)
    print(
        f"\nCPU {cpu_model()}; threads {threads} (parallel implementations "
        f"{parallel_threads}); BLAS {blas_vendor(env)}"
    )
    over = [r for r in rows if r.timeit_s > OVER_S]
    met = [r for r in over if abs(r.ratio - 1) <= GOAL]
    print(
        f"kernels over {format_seconds(OVER_S)}: {len(over)}; pipebench's median within "
        f"{GOAL:.0%} of timeit's median: {len(met)}"
    )
    for r in over:
        if abs(r.ratio - 1) > GOAL:
            print(f"  outside: {r.kernel} {r.impl} at {r.size:,}: ratio {r.ratio:.3f}")
    diffs = [abs(r.ratio - 1) for r in over]
    if diffs:
        print(f"median |ratio - 1| {statistics.median(diffs):.1%}, worst {max(diffs):.1%}")
    print(
        "goal (every kernel over 1 ms within 5%, same statistic):",
        "met" if len(met) == len(over) else "NOT met",
    )
    return 0


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


if __name__ == "__main__":
    sys.exit(main())
