"""What the run's sections cost: the runner child's read and encode of one ``Sections`` event
per snapshot interval (time taken from the pipeline's process, under its GIL), and the
parent's decode of it into typed sections.

The child-only sections of a busy run: 10 in-memory caches, the resource contexts of a run
that has entered hundreds of blocks (the 200 closed ones kept and a few open), and two
parallel stages. Each figure is the median over ``--reads`` reads, with the records
unchanged since the last read ("steady") and with one new context each read ("changing").

    python benchmarks/sections_cost.py
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
import types
from collections.abc import Callable

from workbench.authoring import parallel
from workbench.authoring.parallel_stats import ParallelStats
from workbench.authoring.recording import REGISTRY
from workbench.authoring.resources import timed
from workbench.engine.protocol import Sections, decode, encode
from workbench.engine.sections.caches import CachesSampler
from workbench.engine.sections.parallel_sampler import ParallelSampler
from workbench.engine.sections.resources import ContextsSampler
from workbench.engine.sections.snapshot import SnapshotSections


def feature(x: int) -> int:
    return 2 * x


def median_us(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--contexts", type=int, default=300, help="blocks entered before")
    args = parser.parse_args()

    mod = types.ModuleType("bench_pipeline")
    for i in range(10):
        f = functools.lru_cache(maxsize=128)(feature)
        for k in range(50):
            f(k % 20)
        setattr(mod, f"f{i}", f)
    caches = CachesSampler(mod)
    contexts = ContextsSampler(REGISTRY)
    par = ParallelSampler()
    for i in range(2):
        parallel.REGISTRY.append(ParallelStats(f"stage{i}", i + 1, "loky", None, 4, 4, True, 8))
    for i in range(args.contexts):
        with timed(f"step{i % 7}"):
            pass
    opened = [timed(f"epoch{i}") for i in range(3)]
    for block in opened:
        block.__enter__()

    def child_read(change: bool) -> str:
        if change:
            with timed("one more"):
                pass
        sections = SnapshotSections(caches=caches.read(), contexts=contexts.read())
        sections = SnapshotSections(
            caches=sections.caches, contexts=sections.contexts, parallel=par.read()
        )
        return encode(Sections(sections))

    line = child_read(False)
    records = len(contexts.read().records)
    print(
        f"sections of one snapshot: 10 caches, {records} context records, 2 parallel stages "
        f"({len(line):,} bytes of JSON)"
    )
    for label, change in (("steady", False), ("changing", True)):
        us = median_us(lambda change=change: child_read(change), args.reads)  # type: ignore[misc]
        line = child_read(change)
        parent = median_us(lambda line=line: decode(line), args.reads)  # type: ignore[misc]
        print(
            f"  {label:8}  runner child: read + encode {us / 1000:6.2f} ms "
            f"({us / 1000:.2f}% of a core at 10 snapshots/s); parent: decode {parent / 1000:6.2f} ms"
        )
    for block in reversed(opened):
        block.__exit__(None, None, None)


if __name__ == "__main__":
    main()
