"""Each figure pipebench reports, next to an independent measure of the same run (issue 15).

    .venv/bin/python benchmarks/honesty.py [--only rate,self,memory,items,kernels]
        [--kernel-rounds 3] [--kernel-sizes 1]

The runs are real ``pipebench run`` commands (subprocesses, their own ``PIPEBENCH_HOME``)
of the pipelines in ``honesty_pipelines.py``, which keep their own books; the benchmark
reads each run's ``--json`` report and the books and prints them side by side:

- **rate**: items/s over the run against the items the last stage stamped
  (``time.monotonic_ns()`` per batch) over the time from the source's first batch to the
  last stamp; the largest live rate (windows of at least 1 s and 5 batches) against the
  largest over the same kind of window computed from the stamps. A fast phase then a slow
  one, so the two differ. Within 10%.
- **self**: each stage's self time against its own ``perf_counter`` accounting (from the
  batch handed in to the batch yielded). Within 2%.
- **memory**: peak RSS of the run against the kernel's high-water marks: the runner's
  ``VmHWM`` read by the pipeline itself at the end, and ``RUSAGE_CHILDREN``'s
  ``ru_maxrss`` of a wrapper process around ``pipebench run`` (the largest process it
  waited for: the runner), with a 384 MiB spike held over several of pipebench's memory
  samples and a 64 MiB one shorter than a sample. Within 5%.
- **items**: per stage, the items pipebench counted against a hand count: a list of rows,
  one tuple a row, ``(features, labels)`` arrays, a dict of arrays, a torch tensor, a
  number a batch, ``stage(items=...)`` and ``@pipeline(items=...)``. Exact.
- **kernels**: pipebench's median against ``timeit``'s median of the same calls (the same
  statistic, interleaved ABBA: ``kernel_accuracy.py``'s method, reused), for every CPU
  implementation of ``pipelines/distance_kernels.py`` at its largest size. Within 5% where
  the call takes over 1 ms.

Figures only: nothing here is a timed test. A figure outside its tolerance is marked
``OUT`` and listed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
PIPELINES = HERE / "honesty_pipelines.py"
WINDOW_S, WINDOW_BATCHES = 1.0, 5  # as engine.session's live rate

from workbench.units import format_bytes, format_rate, format_seconds  # noqa: E402


@dataclass(frozen=True)
class Row:
    """One figure: pipebench's value, the independent one, and the tolerance (0: exact)."""

    group: str
    figure: str
    pipebench: float | None
    independent: float | None
    source: str
    tolerance: float
    unit: str
    judged: bool = True  # False: shown only (a kernel call under 1 ms)

    @property
    def diff(self) -> float | None:
        if self.pipebench is None or not self.independent:
            return None
        return self.pipebench / self.independent - 1

    @property
    def ok(self) -> bool:
        d = self.diff
        if self.tolerance == 0:
            return self.pipebench == self.independent
        return d is not None and abs(d) <= self.tolerance


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "N/A"
    return {
        "items/s": lambda v: format_rate(v) + " /s",
        "s": format_seconds,
        "bytes": format_bytes,
    }.get(unit, lambda v: f"{v:,.0f}")(value)


def show(row: Row) -> None:
    d = row.diff
    diff = "" if d is None else f"{100 * d:+.2f}%"
    tol = "exact" if row.tolerance == 0 else f"±{100 * row.tolerance:g}%"
    verdict = ("ok" if row.ok else "OUT") if row.judged else "(under 1 ms: not judged)"
    print(
        f"  {row.group:8} {row.figure:44} {fmt(row.pipebench, row.unit):>10} "
        f"{fmt(row.independent, row.unit):>10} {row.source:16} {diff:>8} {tol:>6}  "
        f"{verdict}",
        flush=True,
    )


# ---- running pipebench ------------------------------------------------------------------------

WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, rc)\n"
)


def pipebench_run(
    name: str, params: dict[str, Any], home: Path, work: Path, *, books_kept: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """Run ``pipebench run honesty_pipelines.py:NAME`` in a wrapper process; returns the
    report, the pipeline's books (``books_kept``: it takes an ``out`` parameter) and the
    wrapper's ``RUSAGE_CHILDREN`` peak RSS (bytes)."""
    books = work / f"{name}.books.jsonl"
    books.unlink(missing_ok=True)
    report = work / f"{name}.json"
    argv = [str(Path(sys.executable).with_name("pipebench")), "run", f"{PIPELINES}:{name}"]
    for k, v in {**params, **({"out": str(books)} if books_kept else {})}.items():
        argv += ["--param", f"{k}={v}"]
    argv += ["--json", str(report)]
    env = dict(os.environ, PIPEBENCH_HOME=str(home))
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *argv], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    maxrss, rc = int(out[0]), int(out[1])
    if rc != 0:
        raise SystemExit(f"pipebench run {name} exited {rc}")
    entries = (
        [json.loads(line) for line in books.read_text().splitlines()] if books.exists() else []
    )
    return json.loads(report.read_text()), entries, maxrss


def _book(entries: list[dict[str, Any]], stage: str) -> dict[str, Any]:
    return next(e for e in entries if e.get("stage") == stage)


def max_windowed(stamps: list[tuple[int, int]]) -> float | None:
    """The largest rate over windows of at least ``WINDOW_S`` seconds and
    ``WINDOW_BATCHES`` batches, each the shortest such window ending at a stamp."""
    best = None
    cum = [0]
    for _, n in stamps:
        cum.append(cum[-1] + n)
    i = 0
    for j in range(len(stamps)):
        # the latest start i that still leaves a full window to j
        while (
            i + 1 < j
            and stamps[j][0] - stamps[i + 1][0] >= WINDOW_S * 1e9
            and j - (i + 1) >= WINDOW_BATCHES
        ):
            i += 1
        dt = stamps[j][0] - stamps[i][0]
        if dt >= WINDOW_S * 1e9 and j - i >= WINDOW_BATCHES:
            rate = (cum[j + 1] - cum[i + 1]) / (dt / 1e9)
            best = rate if best is None else max(best, rate)
    return best


# ---- the checks ---------------------------------------------------------------------------------


def rate_and_self(home: Path, work: Path) -> list[Row]:
    rep, books, _ = pipebench_run("phases", {}, home, work)
    stamps = [tuple(s) for s in _book(books, "stamp")["stamps"]]
    first_ns = _book(books, "produce")["first_ns"]
    items = sum(n for _, n in stamps)
    span = (stamps[-1][0] - first_ns) / 1e9
    rows = [
        Row(
            "rate",
            "items/s over the run",
            rep["items_per_s"],
            items / span,
            "stamps",
            0.10,
            "items/s",
        ),
        Row(
            "rate",
            "max live items/s (1 s, 5 batches)",
            rep["rate_max_items_per_s"],
            max_windowed(stamps),  # type: ignore[arg-type]
            "stamps",
            0.10,
            "items/s",
        ),
        Row("rate", "duration of the chain", rep["duration_s"], span, "stamps", 0.02, "s"),
    ]
    for st in rep["stages"]:
        own = _book(books, st["name"])["own_s"]
        rows.append(
            Row("self", f"self time of {st['name']}", st["self_s"], own, "perf_counter", 0.02, "s")
        )
    return rows


def memory(home: Path, work: Path) -> list[Row]:
    """Two spikes: one held over several samples (384 MiB), one shorter than a sample
    (64 MiB: allocated, touched and freed in a few ms)."""
    rows = []
    for mib in (384, 64):
        rep, books, maxrss = pipebench_run("memory_spike", {"spike_mib": mib}, home, work)
        peak = rep["memory"]["rss_peak_bytes"]
        hwm = _book(books, "hwm")["vm_hwm_bytes"]
        what = f"peak RSS, {mib} MiB spike"
        rows.append(Row("memory", what, peak, hwm, "VmHWM (runner)", 0.05, "bytes"))
        rows.append(Row("memory", what, peak, maxrss, "RUSAGE_CHILDREN", 0.05, "bytes"))
    return rows


def items(home: Path, work: Path) -> list[Row]:
    n, b = 40, 32
    rep, _, _ = pipebench_run(
        "item_shapes", {"n": n, "batch_size": b}, home, work, books_kept=False
    )
    hand = {
        "rows": n * b,  # a list of b rows a batch
        "tuples": n * b,  # one (x, y, label) tuple each: one item, not three
        "pairs": n * b,  # (features, labels) of leading dimension b
        "dicts": n * b,  # {"x": ..., "y": ...} of leading dimension b
        "tensors": n * b,  # a torch tensor (b, 3)
        "loss": n,  # one float a batch
        "loss_as_samples": n * b,  # stage(..., items=b)
    }
    rows = [
        Row("items", f"items of {s['name']}", s["items"], hand[s["name"]], "hand count", 0, "count")
        for s in rep["stages"]
    ]
    rows.append(
        Row(
            "items",
            "batches of tuples",
            rep["stages"][1]["batches"],
            n * b,
            "hand count",
            0,
            "count",
        )
    )
    rep, _, _ = pipebench_run(
        "pipeline_override", {"n": n, "batch_size": b}, home, work, books_kept=False
    )
    rows += [
        Row(
            "items",
            f"items of {s['name']} (@pipeline)",
            s["items"],
            n * b,
            "hand count",
            0,
            "count",
        )
        for s in rep["stages"]
    ]
    return rows


def kernels(rounds: int, sizes: int) -> list[Row]:
    from kernel_accuracy import OVER_S, measure_kernels

    rows = []
    for r in measure_kernels(
        sizes_per_kernel=sizes, rounds=rounds, on_skip=lambda why: print(f"  kernels  {why}")
    ):
        figure = f"{r.kernel} {r.impl} @{r.size:,} ({r.threads} thr)"
        judged = r.timeit_s > OVER_S
        row = Row("kernels", figure, r.pipebench_s, r.timeit_s, "timeit median", 0.05, "s", judged)
        rows.append(row)
        show(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--only",
        default="rate,self,memory,items,kernels",
        help="which checks, comma-separated (rate and self share one run)",
    )
    ap.add_argument("--kernel-rounds", type=int, default=3, help="interleaved rounds (ABBA)")
    ap.add_argument("--kernel-sizes", type=int, default=1, help="the largest N sizes per kernel")
    args = ap.parse_args()
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="pipebench-honesty-"))
    home = work / "home"
    print(
        f"  {'check':8} {'figure':44} {'pipebench':>10} {'other':>10} {'measured by':16} "
        f"{'diff':>8} {'limit':>6}"
    )
    rows: list[Row] = []
    if only & {"rate", "self"}:
        for row in rate_and_self(home, work):
            if row.group in only:
                rows.append(row)
                show(row)
    if "memory" in only:
        for row in memory(home, work):
            rows.append(row)
            show(row)
    if "items" in only:
        for row in items(home, work):
            rows.append(row)
            show(row)
    if "kernels" in only:
        rows += kernels(args.kernel_rounds, args.kernel_sizes)
    judged = [r for r in rows if r.judged]
    out = [r for r in judged if not r.ok]
    print(f"\n{len(judged) - len(out)} of {len(judged)} figures within their limits")
    for r in out:
        print(
            f"  OUT: {r.group} {r.figure}: {fmt(r.pipebench, r.unit)} against {fmt(r.independent, r.unit)} ({r.source})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
