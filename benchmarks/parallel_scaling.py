"""Items/s of a CPU-bound stage run serially, on 1 and 2 loky workers, on 2 threads, and on
a local Dask cluster of two one-thread workers, each in a real runner child.

    python benchmarks/parallel_scaling.py [--seconds 8] [--skip-dask]

The stage is pure Python (it holds the GIL, as tokenizers and parsers do), about 40 ms a
batch. Each run is stopped after ``--seconds``; the figures are the parallel section's
steady rate (from the first parallel result on, so worker start-up is out of it) and the
whole run's rate. Speedup is against the serial run's rate; efficiency = speedup / workers.
Goal (issue 9): at least 1.7x at 2 loky workers on a 2-core machine. Other processes on the
machine take cores too: the load average before each run is printed with its figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from workbench import pipeline, stage

HERE = Path(__file__).resolve()


def crunch(batch: list[int]) -> list[int]:
    """Pure-Python arithmetic over one batch: CPU-bound, GIL-bound, a small result."""
    out = []
    for x in batch:
        acc = x
        for i in range(100_000):
            acc = (acc * 1103515245 + 12345 + i) & 0x7FFFFFFF
        out.append(acc)
    return out


def batches(n: int, size: int = 4) -> Any:
    for i in range(n):
        yield [i * size + j for j in range(size)]


def crunch_all(upstream: Any) -> Any:
    for batch in upstream:
        yield crunch(batch)


@pipeline
def scaling(batches_n: int = 100_000, workers: int = 0):
    """A source of small batches and the CPU-bound stage; workers=0: a plain serial stage."""
    if workers == 0:
        return batches(batches_n), stage(crunch_all, name="crunch")
    return batches(batches_n), stage(crunch, name="crunch", workers=workers)


def run_once(
    label: str, workers: int, backend: str, seconds: float, scheduler: str | None = None
) -> dict[str, Any]:
    from workbench.engine.follow import follow_run
    from workbench.engine.runner import RunOptions
    from workbench.engine.session import report

    os.environ["PIPEBENCH_BACKEND"] = backend
    if scheduler:
        os.environ["PIPEBENCH_DASK_SCHEDULER"] = scheduler
    load = os.getloadavg()[0]
    state = follow_run(
        f"{HERE}:scaling", RunOptions(params={"workers": str(workers)}, max_seconds=seconds)
    )
    rep = report(state)
    if rep["status"] not in ("finished", "stopped"):
        raise SystemExit(f"{label}: {rep['status']}: {rep['message']}")
    stages = (rep.get("parallel") or {}).get("stages") or []
    st = stages[0] if stages else {}
    return {
        "label": label,
        "workers": workers,
        "load": load,
        "run_rate": rep["items_per_s"],
        "steady": st.get("items_per_s"),
        "own": st.get("speedup"),
        "busy": st.get("utilization"),
        "cpu": st.get("cpu_share"),
        "startup_s": st.get("startup_s"),
    }


def machine_check(n: int = 8) -> float:
    """What plain ``multiprocessing.Pool(2)`` gets over one process on the same tasks right
    now: the ceiling that other processes on the machine leave."""
    from multiprocessing import Pool

    work = [list(range(i * 4, i * 4 + 4)) for i in range(n)]
    t0 = time.perf_counter()
    for b in work:
        crunch(b)
    one = time.perf_counter() - t0
    with Pool(2) as pool:
        pool.map(crunch, [[0]] * 2)
        t0 = time.perf_counter()
        pool.map(crunch, work, chunksize=1)
        two = time.perf_counter() - t0
    return one / two


def sequence(seconds: float, counts: list[int], skip_dask: bool) -> list[dict[str, Any]]:
    """One run of each configuration; the serial stage first and last (a cold first run
    must not flatter the speedups)."""
    rows = [run_once("serial stage", 0, "loky", seconds)]
    for n in counts:
        rows.append(run_once(f"loky, {n} worker{'s' if n > 1 else ''}", n, "loky", seconds))
    rows.append(run_once("threading, 2 threads", 2, "threading", seconds))
    if not skip_dask:
        from distributed import LocalCluster

        n = max(2, max(counts))
        with LocalCluster(
            host="127.0.0.1",
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster:
            time.sleep(1.0)
            rows.append(
                run_once(
                    f"dask, {n} workers x 1 thread", n, "dask", seconds, cluster.scheduler_address
                )
            )
    rows.append(run_once("serial stage", 0, "loky", seconds))
    return rows


def merge(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per configuration: the median of each figure, the highest load."""
    from statistics import median

    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["label"], []).append(r)
    out = []
    for label, rs in by.items():
        row: dict[str, Any] = {
            "label": label,
            "workers": rs[0]["workers"],
            "n": len(rs),
            "load": max(r["load"] for r in rs),
        }
        for key in ("run_rate", "steady", "own", "busy", "cpu", "startup_s"):
            values = [r[key] for r in rs if r[key] is not None]
            row[key] = median(values) if values else None
        out.append(row)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", default="1,2", help="loky worker counts, e.g. 1,2,4")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the whole sequence N times; the figures are medians",
    )
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    home = Path(
        os.environ.setdefault(
            "PIPEBENCH_HOME", str(Path("/tmp") / f"pipebench-bench-{os.getpid()}")
        )
    )
    print(
        f"{os.cpu_count()} CPUs; {args.seconds:g} s a run, {args.repeat} time(s) each; "
        f"records in {home}"
    )
    ceiling = machine_check()
    print(
        f"machine check: multiprocessing.Pool(2) runs the same tasks {ceiling:.2f}x faster "
        f"than one process (load {os.getloadavg()[0]:.2f})"
    )
    runs = [r for _ in range(args.repeat) for r in sequence(args.seconds, counts, args.skip_dask)]
    rows = merge(runs)
    base = rows[0]["run_rate"]  # the serial stage's median
    print(
        f"\n{'run (median of n)':28} {'n':>2} {'load':>5} {'items/s':>9} {'steady/s':>9} "
        f"{'speedup':>8} {'efficiency':>10} {'own':>6} {'busy':>5} {'on CPU':>6} {'start-up':>8}"
    )
    for r in rows:
        rate = r["steady"] or r["run_rate"]
        speedup = rate / base
        eff = speedup / max(1, r["workers"])
        busy = f"{100 * r['busy']:.0f}%" if r["busy"] is not None else "–"
        start = f"{r['startup_s']:.2f}s" if r["startup_s"] is not None else "–"
        cpu = f"{100 * r['cpu']:.0f}%" if r["cpu"] is not None else "–"
        own = f"{r['own']:.2f}x" if r["own"] is not None else "–"
        print(
            f"{r['label']:28} {r['n']:2} {r['load']:5.2f} {r['run_rate']:9.1f} "
            f"{(r['steady'] or 0):9.1f} {speedup:7.2f}x {100 * eff:9.0f}% {own:>6} "
            f"{busy:>5} {cpu:>6} {start:>8}"
        )
    print(
        "\nitems/s: the whole run (start-up included); steady/s: from the first parallel "
        "result on; speedup and efficiency use steady/s against the serial stage's items/s "
        "(its runs, first and last in each sequence); own: pipebench's figure, steady/s "
        "against the same stage's first batches run serially in that run; "
        "busy: worker time / (workers x time); on CPU: share of that busy time the workers "
        "ran on a CPU; load: highest 1-minute load average before a run (other processes)"
    )
    two = next((r for r in rows if r["label"] == "loky, 2 workers"), None)
    if two is not None:
        got = (two["steady"] or 0) / base
        print(
            f"goal: >= 1.7x at 2 loky workers: {'met' if got >= 1.7 else 'NOT met'} "
            f"({got:.2f}x; the machine check allowed {ceiling:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
