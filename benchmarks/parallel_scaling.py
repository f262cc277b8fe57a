"""Does fanning a CPU-bound stage out pay? Serial, 2 loky workers and a local Dask cluster of
2 workers, each measured as a user would: the whole ``pipebench run`` command.

    python benchmarks/parallel_scaling.py [--batches 150] [--repeat 3] [--workers 2]

The stage is pure Python (it holds the GIL, as tokenizers and parsers do), about 40 ms a
batch, and every run does the same fixed work. The runs are paired and interleaved: each
round runs all three configurations back to back, in a rotated order, and each parallel
run is compared with the serial run of its own round, so that a machine getting busier or
quieter during the benchmark shifts both sides of a ratio alike. Figures are medians over
the rounds:

- command s: wall time of ``pipebench run`` from start to exit (interpreter, import, worker
  or cluster start-up, the work, shutdown): what a user waits;
- speedup (command): serial command s / this command s; efficiency = speedup / workers;
- speedup (steady): the parallel section's items/s from the first parallel result on,
  over the serial run's items/s: what the workers give once started;
- start s: the parallel section's ``open_s`` (starting the Dask cluster) plus ``startup_s``
  (to the first parallel result).

Efficiency above 100% is flagged as noise: a CPU-bound stage cannot scale super-linearly,
so such a figure says the serial run was slowed by something else (another process).
Other processes take cores too: the load average before each round is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
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
def scaling(batches_n: int = 150, workers: int = 0):
    """A source of small batches and the CPU-bound stage; workers=0: a plain serial stage."""
    if workers == 0:
        return batches(batches_n), stage(crunch_all, name="crunch")
    return batches(batches_n), stage(crunch, name="crunch", workers=workers)


CONFIGS = ("serial", "loky", "dask")


def run_command(config: str, n: int, workers: int, home: Path) -> dict[str, Any]:
    """One ``pipebench run`` as a user types it; its wall time and its report's figures."""
    report = home / f"{config}-{time.monotonic_ns()}.json"
    argv = [sys.executable, "-m", "workbench.cli.main", "run", f"{HERE}:scaling"]
    argv += ["--param", f"batches_n={n}", "--json", str(report)]
    if config == "serial":
        argv += ["--param", "workers=0"]
    else:
        argv += ["--param", f"workers={workers}", "--backend", config]
        if config == "dask":
            argv += ["--workers", str(workers)]
    env = dict(os.environ, PIPEBENCH_HOME=str(home))
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{config}: exit {proc.returncode}\n{proc.stderr or proc.stdout}")
    rep = json.loads(report.read_text())
    stages = (rep.get("parallel") or {}).get("stages") or []
    st = stages[0] if stages else {}
    return {
        "config": config,
        "wall": wall,
        "rate": rep["items_per_s"],
        "steady": st.get("items_per_s"),
        "start": (st.get("open_s") or 0.0) + (st.get("startup_s") or 0.0) if st else None,
        "busy": st.get("utilization"),
        "overhead": (st.get("transfer") or {}).get("task_overhead_s"),
    }


def rounds(n: int, workers: int, repeat: int, home: Path) -> list[dict[str, dict[str, Any]]]:
    out = []
    for r in range(repeat):
        order = CONFIGS[r % 3 :] + CONFIGS[: r % 3]  # rotated: no configuration always first
        load = os.getloadavg()[0]
        got = {c: run_command(c, n, workers, home) for c in order}
        print(
            f"round {r + 1}: load {load:.2f}; "
            + ", ".join(f"{c} {got[c]['wall']:.2f} s" for c in order),
            flush=True,
        )
        out.append(got)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=150, help="batches per run (~40 ms each)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians over them)")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs; {args.batches} batches of ~40 ms a run; "
        f"{args.workers} workers; {args.repeat} paired rounds"
    )
    with tempfile.TemporaryDirectory(prefix="pipebench-bench-") as tmp:
        home = Path(tmp)
        os.chmod(home, 0o700)
        data = rounds(args.batches, args.workers, args.repeat, home)
    print(
        f"\n{'configuration':14} {'command s':>9} {'speedup':>8} {'efficiency':>10} "
        f"{'steady x':>8} {'steady eff':>10} {'start s':>7} {'busy':>5} {'overhead':>9}"
    )
    noisy = []
    for c in CONFIGS:
        walls = [r[c]["wall"] for r in data]
        paired = [r["serial"]["wall"] / r[c]["wall"] for r in data]
        steady = [
            r[c]["steady"] / r["serial"]["rate"]
            for r in data
            if r[c]["steady"] and r["serial"]["rate"]
        ]
        k = 1 if c == "serial" else args.workers
        speedup = median(paired)
        eff = speedup / k
        s_x = median(steady) if steady else None
        s_eff = s_x / k if s_x is not None else None
        starts = [r[c]["start"] for r in data if r[c]["start"] is not None]
        busy = [r[c]["busy"] for r in data if r[c]["busy"] is not None]
        over = [r[c]["overhead"] for r in data if r[c]["overhead"] is not None]
        flag = ""
        if c != "serial" and (eff > 1.0 or (s_eff or 0) > 1.0):
            flag = " *"
            noisy.append(c)
        print(
            f"{c:14} {median(walls):9.2f} {speedup:7.2f}x {100 * eff:9.0f}% "
            + (f"{s_x:7.2f}x {100 * s_eff:9.0f}%" if s_x is not None else f"{'–':>8} {'–':>10}")
            + (f" {median(starts):7.2f}" if starts else f" {'–':>7}")
            + (f" {100 * median(busy):4.0f}%" if busy else f" {'–':>5}")
            + (f" {1000 * median(over):6.1f} ms" if over else f" {'–':>9}")
            + flag
        )
    print(
        "\ncommand s: the whole `pipebench run`, median over rounds; speedup: paired with the "
        "serial run of the same round; steady: the parallel rate from the first parallel "
        "result on over the serial run's rate; start s: cluster start (Dask) plus time to the "
        "first parallel result; overhead: a task's round trip beyond its compute (Dask)"
    )
    if noisy:
        print(
            f"* efficiency above 100% for {', '.join(noisy)}: noise, not a result (a "
            "CPU-bound stage cannot scale super-linearly; something slowed the serial run)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
