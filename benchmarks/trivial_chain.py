"""Five trivial stages over single items: the probe's cost per item per boundary, laid bare.

Used by ``benchmarks/overhead.py``; run it as any pipeline module:
``pipebench run benchmarks/trivial_chain.py:five``.
"""

from __future__ import annotations

from collections.abc import Iterator

from workbench import pipeline


def numbers(n: int) -> Iterator[int]:
    yield from range(n)


def passthrough(items: Iterator[int]) -> Iterator[int]:
    for x in items:  # noqa: UP028 - a stage as people write it; yield from differs
        yield x


@pipeline
def five(n: int = 20_000_000):
    """range(n) through five stages that pass each item on: no work but the chain's."""
    return numbers(n), passthrough, passthrough, passthrough, passthrough, passthrough
