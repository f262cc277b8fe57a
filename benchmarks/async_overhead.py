"""What an async source or stage costs per item in a pipebench run, against the same async
chain driven by plain asyncio (``asyncio.run`` over ``async for``) and against sync stages.

Each chain passes ``--items`` integers through one stage that does nothing; the chains are
built as the runner child builds them (``AsyncChain`` and the stage probe), interleaved over
``--repeats`` rounds, and the medians printed in µs per item: CPU time of this process
(``time.process_time``, steady on a machine shared with other work) and wall time.

    python benchmarks/async_overhead.py [--items 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.engine import probe  # noqa: E402
from workbench.engine.asyncstages import AsyncChain  # noqa: E402


async def agen(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def astage(it: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for x in it:
        yield x


def sstage(it: Iterator[Any]) -> Iterator[Any]:
    for x in it:  # noqa: UP028 - the plainest stage, on purpose
        yield x


def probed(source: Any, stage: Any) -> tuple[float, float]:
    """CPU and wall seconds per item through a probed chain of ``source`` and ``stage``."""
    block = probe.Block.private()
    chain = AsyncChain("bench")
    clock = probe.make_clock(block, 2, lambda: RuntimeError("stop"))
    probes = [probe.make_probe(clock, 0, chain.source(source, "source"))]
    out = chain.call(stage, probes[-1], "stage")
    clock.charge(1)
    probes.append(probe.make_probe(clock, 1, chain.output(out, "stage")))
    n = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in probes[-1]:
        n += 1
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    for p in reversed(probes):
        p.close()
    return cpu / n, wall / n


def plain_asyncio(n: int) -> tuple[float, float]:
    """CPU and wall seconds per item through the same async chain on plain asyncio."""

    async def main() -> tuple[float, float]:
        count = 0
        cpu, wall = time.process_time(), time.perf_counter()
        async for _ in astage(agen(n)):
            count += 1
        return (time.process_time() - cpu) / count, (time.perf_counter() - wall) / count

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.items
    cases = {
        "sync source, sync stage (probed)": lambda: probed(iter(range(n)), sstage),
        "async source, sync stage (probed)": lambda: probed(agen(n), sstage),
        "sync source, async stage (probed)": lambda: probed(iter(range(n)), astage),
        "async source, async stage (probed)": lambda: probed(agen(n), astage),
        "async source, async stage (plain asyncio)": lambda: plain_asyncio(n),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, case in cases.items():
            times[name].append(case())
    print(f"{n:,} items, median of {args.repeats} rounds (probe: {probe.IMPLEMENTATION})")
    print(f"  {'chain':<44} {'CPU µs/item':>12} {'wall µs/item':>13}")
    for name, ts in times.items():
        cpu = statistics.median(t[0] for t in ts) * 1e6
        wall = statistics.median(t[1] for t in ts) * 1e6
        print(f"  {name:<44} {cpu:12.2f} {wall:13.2f}")


if __name__ == "__main__":
    main()
