"""What the stage probe costs: ns per item per boundary on trivial stages, and the % of
wall time it adds to jsonl_tokens at batch 64. Probed and plain runs are interleaved in one
process and the medians compared, so machine noise hits both alike.

    python benchmarks/probe_overhead.py [--items 2000000] [--rows 100000] [--repeats 7]

Goals (issue 2): at most 100 ns per item per boundary; at most 1% on jsonl_tokens.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PIPEBENCH_HOME", tempfile.mkdtemp(prefix="pipebench-bench-"))

from workbench.authoring.pipeline import stage_name  # noqa: E402
from workbench.engine import probe  # noqa: E402


def passthrough(it: Iterator[Any]) -> Iterator[Any]:
    for x in it:  # noqa: UP028 - the plainest stage a user writes, on purpose
        yield x


def build(parts: tuple[Any, ...], impl: str | None) -> Iterator[Any]:
    """The chain as the runner child builds it; impl None means no probes at all."""
    source, *stages = parts
    it = iter(source)
    if impl is None:
        for s in stages:
            it = s(it)
        return it
    counter, types = probe.count_items, probe.batch_types()
    if impl == "c":
        clock = probe._c_probe.Clock(len(parts), counter, types)
        wrap = probe._c_probe.Probe
    else:
        clock = probe.PyClock(len(parts), counter, types)
        wrap = probe.PyProbe
    # As in the runner child, where the sampler thread's beats keep the probe from
    # stepping aside; here nothing beats, so it does every 50 ms: the worst case.
    clock.set_starve(50_000_000)
    it = wrap(clock, 0, it)
    for i, s in enumerate(stages, 1):
        out = s(it)
        clock.charge(i)
        it = wrap(clock, i, out)
    return it


def timed_drain(make: Callable[[], Iterator[Any]]) -> float:
    chain = make()
    gc.collect()
    gc.disable()
    t = time.perf_counter()
    deque(chain, maxlen=0)
    elapsed = time.perf_counter() - t
    gc.enable()
    return elapsed


def interleaved(variants: dict[str, Callable[[], Iterator[Any]]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, make in variants.items():
            times[name].append(timed_drain(make))
    return {k: statistics.median(v) for k, v in times.items()}


def trivial_stages(items: int, stages: int, repeats: int) -> None:
    boundaries = stages + 1
    impls = ["c", "python"] if probe._c_probe is not None else ["python"]

    def parts() -> tuple[Any, ...]:
        return (range(items), *([passthrough] * stages))

    variants: dict[str, Callable[[], Iterator[Any]]] = {"plain": lambda: build(parts(), None)}
    for impl in impls:
        variants[impl] = lambda impl=impl: build(parts(), impl)
    med = interleaved(variants, repeats)
    print(
        f"trivial chain: range({items:,}) -> {stages} pass-through generator stages "
        f"({boundaries} probed boundaries), median of {repeats} interleaved runs"
    )
    print(f"  plain  {med['plain']:.3f} s  ({med['plain'] / items * 1e9:.0f} ns per item)")
    for impl in impls:
        per = (med[impl] - med["plain"]) / (items * boundaries) * 1e9
        verdict = "meets" if per <= 100 else "misses"
        print(
            f"  {impl:6} {med[impl]:.3f} s  -> {per:.1f} ns per item per boundary "
            f"({verdict} the 100 ns goal)"
        )


def jsonl_tokens(rows: int, batch_size: int, repeats: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
    import jsonl_tokens as jt

    jt.corpus(rows)  # make the data once, outside the timing
    factory = jt.jsonl_tokens.factory

    variants = {
        "plain": lambda: build(factory(batch_size=batch_size, rows=rows), None),
        "probed": lambda: build(factory(batch_size=batch_size, rows=rows), probe.IMPLEMENTATION),
    }
    med = interleaved(variants, repeats)
    names = [stage_name(p) for p in factory(batch_size=batch_size, rows=rows)]
    over = (med["probed"] - med["plain"]) / med["plain"] * 100
    print(
        f"jsonl_tokens rows={rows:,} batch_size={batch_size} ({' -> '.join(names)}), "
        f"median of {repeats} interleaved runs, {probe.IMPLEMENTATION} probe"
    )
    print(
        f"  plain {med['plain']:.3f} s, probed {med['probed']:.3f} s -> overhead {over:+.2f}% "
        f"({'meets' if over <= 1 else 'misses'} the 1% goal)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2_000_000)
    ap.add_argument("--stages", type=int, default=3)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    print(f"probe implementation in use: {probe.IMPLEMENTATION}; python {sys.version.split()[0]}")
    trivial_stages(args.items, args.stages, args.repeats)
    jsonl_tokens(args.rows, args.batch_size, args.repeats)


if __name__ == "__main__":
    main()
