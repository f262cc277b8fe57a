"""The stage-boundary probe: per-stage items, batches and self time of a generator chain.

Every crossing of a stage boundary (a consumer asking a stage for its next value, or the
stage handing one back) takes one monotonic timestamp and charges the time since the
previous crossing to whoever ran in between: the consumer on the way in, the stage on the
way out. Self times therefore add up exactly to the wall time of the chain (plus the small
share of the sink that drains it). The fast path is the C extension ``_probe``; the
pure-Python ``PyClock``/``PyProbe`` twins below have the same semantics and are used where
the extension could not be built (``PIPEBENCH_PURE_PROBE=1`` forces them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from workbench.authoring.items import batch_types, count_items

try:  # pragma: no cover - which branch runs depends on the build
    if os.environ.get("PIPEBENCH_PURE_PROBE"):
        raise ImportError("pure probe requested")
    import workbench.engine._probe as _c_probe
except ImportError:  # pragma: no cover
    _c_probe = None  # type: ignore[assignment]

#: Which implementation build_chain uses: "c" or "python".
IMPLEMENTATION = "c" if _c_probe is not None else "python"


class PyClock:
    """Pure-Python twin of ``_probe.Clock``."""

    def __init__(self, n: int, counter: Callable[[Any], int], batch_types: tuple[type, ...]):
        if n < 1:
            raise ValueError("a chain needs at least one iterator")
        self.n = n
        self.counter = counter
        self.self_ns = [0] * (n + 1)
        self.items = [0] * n
        self.batches = [0] * n
        self.done = [False] * n
        self.failed = -1
        self.finished = False
        self.start = self.last = self.last_beat = time.monotonic_ns()
        self.starve_ns = 0

    def beat(self) -> None:
        self.last_beat = time.monotonic_ns()

    def set_starve(self, ns: int) -> None:
        self.starve_ns = ns
        self.last_beat = time.monotonic_ns()

    def restart(self) -> None:
        self.start = self.last = time.monotonic_ns()
        self.finished = False

    def finish(self) -> None:
        self.charge(self.n)
        self.finished = True

    def charge(self, index: int) -> None:
        if not 0 <= index <= self.n:
            raise IndexError("chain position out of range")
        t = time.monotonic_ns()
        self.self_ns[index] += t - self.last
        self.last = t

    def read(self) -> tuple[int, list[int], list[int], list[int], list[bool], int]:
        end = self.last if self.finished else time.monotonic_ns()
        return (
            end - self.start,
            list(self.self_ns),
            list(self.items),
            list(self.batches),
            list(self.done),
            self.failed,
        )


class PyProbe:
    """Pure-Python twin of ``_probe.Probe``."""

    def __init__(self, clock: PyClock, index: int, iterator: Iterator[Any]):
        if not 0 <= index < clock.n:
            raise IndexError("probe index out of range")
        if not isinstance(iterator, Iterator):
            raise TypeError("a probe wraps an iterator")
        self.clock = clock
        self.index = index
        self.it = iterator
        self._next = iterator.__next__

    def __iter__(self) -> PyProbe:
        return self

    def __next__(self) -> Any:
        c = self.clock
        i = self.index
        t = time.monotonic_ns()
        c.self_ns[i + 1] += t - c.last
        c.last = t
        try:
            x = self._next()
        except StopIteration:
            t = time.monotonic_ns()
            c.self_ns[i] += t - c.last
            c.last = t
            c.done[i] = True
            raise
        except BaseException:
            t = time.monotonic_ns()
            c.self_ns[i] += t - c.last
            c.last = t
            if c.failed < 0:
                c.failed = i
            raise
        t = time.monotonic_ns()
        c.self_ns[i] += t - c.last
        c.last = t
        if c.starve_ns and t - c.last_beat > c.starve_ns:
            c.last_beat = t
            time.sleep(0.0001)  # let pipebench's starved threads have the GIL (see _probe.c)
            t = time.monotonic_ns()
            c.self_ns[c.n] += t - c.last
            c.last = t
        c.items[i] += c.counter(x)
        c.batches[i] += 1
        return x

    def close(self) -> None:
        close = getattr(self.it, "close", None)
        if close is not None:
            close()


def make_clock(n: int) -> Any:
    """A clock for a chain of ``n`` probed iterators (source and stages)."""
    if _c_probe is not None:
        return _c_probe.Clock(n, count_items, batch_types())
    return PyClock(n, count_items, batch_types())


def make_probe(clock: Any, index: int, iterator: Iterator[Any]) -> Iterator[Any]:
    """Wrap ``iterator``, the output of chain position ``index``, in a probe."""
    if isinstance(clock, PyClock):
        return PyProbe(clock, index, iterator)
    return _c_probe.Probe(clock, index, iterator)  # type: ignore[union-attr]


@dataclass(frozen=True)
class ChainReading:
    """One consistent reading of a chain's counters."""

    elapsed_ns: int
    self_ns: tuple[int, ...]  # per probed iterator, then the sink
    items: tuple[int, ...]
    batches: tuple[int, ...]
    done: tuple[bool, ...]
    failed: int  # index of the stage whose next() raised first, or -1


def read(clock: Any) -> ChainReading:
    elapsed, self_ns, items, batches, done, failed = clock.read()
    return ChainReading(elapsed, tuple(self_ns), tuple(items), tuple(batches), tuple(done), failed)
