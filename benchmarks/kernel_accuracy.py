"""How pipebench's kernel median compares with ``timeit``'s best (issue 5: within 5% for
every example kernel over 1 ms).

    python benchmarks/kernel_accuracy.py [--sizes-per-kernel 2] [--rounds 1] [--threads 1]

For each CPU implementation of the example kernels (pipelines/distance_kernels.py) at the
largest sizes, in this one process and at the same thread settings: pipebench's harness
(``measure``: warm-up, calibrated samples, median) and ``timeit`` (``autorange`` for the
loop count, then the best of 5 repeats, as ``python -m timeit`` reports it), interleaved,
each figure the median of ``--rounds`` rounds. pipebench's min against the same best is
printed beside it: a median above a best is what noise on a shared machine does.
Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import timeit
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
from workbench.engine.kernels.load import find_kernel_sets  # noqa: E402
from workbench.engine.kernels.timing import TimingSettings, first_call, measure  # noqa: E402
from workbench.engine.loader import Target, load_module  # noqa: E402
from workbench.units import format_seconds  # noqa: E402

GOAL = 0.05  # within 5% ...
OVER_S = 1e-3  # ... for every kernel over 1 ms


def timeit_best(fn: Any, args: tuple[Any, ...], repeat: int = 5) -> float:
    """Seconds per call: the best of ``repeat`` repeats of ``autorange``'s loop count."""
    timer = timeit.Timer("fn(*args)", globals={"fn": fn, "args": args})
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number


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
        default=3,
        help="interleaved rounds; medians of the rounds are compared",
    )
    ap.add_argument("--threads", default="1")
    args = ap.parse_args()

    module = load_module(Target(str(ROOT / "pipelines" / "distance_kernels.py")))
    threads = parse_threads(args.threads)
    settings = TimingSettings()
    apply_threads(threads)
    rows = []
    for kset in find_kernel_sets(module).values():
        for size in sorted(kset.sizes)[-args.sizes_per_kernel :]:
            inputs = kset.inputs(size)
            for impl in kset.impls.values():
                if (
                    impl.device == "cuda"
                    or impl.requires
                    and any(_missing(m) for m in impl.requires)
                ):
                    continue
                call_args = tuple(impl.prepare(*inputs)) if impl.prepare else inputs
                apply_threads(threads)
                first = first_call(impl.fn, call_args)
                per_call = first.seconds - (first.compile_s or 0.0)
                if per_call > settings.cutoff_s:
                    print(
                        f"  {kset.name} {impl.label} at {size:,}: one call takes "
                        f"{format_seconds(per_call)}, past the cut-off; not compared"
                    )
                    continue
                ours, mins, theirs = [], [], []
                for _ in range(args.rounds):
                    m = measure(impl.fn, call_args, settings)
                    assert m.summary is not None
                    ours.append(m.summary.median)
                    mins.append(m.summary.min)
                    theirs.append(timeit_best(impl.fn, call_args))
                pb, ti = statistics.median(ours), statistics.median(theirs)
                lo = statistics.median(mins)
                rows.append((kset.name, size, impl.label, pb, ti, (pb - ti) / ti))
                print(
                    f"  {kset.name:15} {size:>9,} {impl.label:15} pipebench median "
                    f"{format_seconds(pb):>9}  timeit best {format_seconds(ti):>9}  "
                    f"{(pb - ti) / ti:+7.1%}   (pipebench min {(lo - ti) / ti:+6.1%})",
                    flush=True,
                )

    env = thread_report(args.threads)
    print(f"\nCPU {cpu_model()}; threads {threads}; BLAS {blas_vendor(env)}")
    over = [r for r in rows if r[4] > OVER_S]
    met = [r for r in over if abs(r[5]) <= GOAL]
    print(
        f"kernels over {format_seconds(OVER_S)}: {len(over)}; within {GOAL:.0%} of timeit's "
        f"best: {len(met)}"
    )
    for r in over:
        if abs(r[5]) > GOAL:
            print(f"  outside: {r[0]} {r[2]} at {r[1]:,}: {r[5]:+.1%}")
    diffs = [abs(r[5]) for r in over]
    if diffs:
        print(f"median |difference| {statistics.median(diffs):.1%}, worst {max(diffs):.1%}")
    print("goal (every kernel over 1 ms within 5%):", "met" if len(met) == len(over) else "NOT met")
    return 0


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


if __name__ == "__main__":
    sys.exit(main())
