"""Timing one implementation honestly: first call apart, warm-up, calibrated samples.

The first call is timed on its own, with Numba's compile events counted and timed
(``numba.core.event``), so compile time never leaks into the samples; any compilation
later, during warm-up or timing, is counted as a recompile. Then: a warm-up of at least
``warmup_s``; loops per sample calibrated so each sample lasts ``min_sample_s``; the GC
off while timing; fewer samples ("low n") where the time budget cannot hold them all.

Inputs: ``measure`` can take a fresh copy of the inputs before each sample (untimed),
and, for an implementation that changes its input, before each call (``per_call``: the
calls are then timed one by one, the copies between them off the clock).
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from workbench.engine.kernels.stats import Summary, summarize
from workbench.units import format_seconds


@dataclass(frozen=True)
class TimingSettings:
    """How hard to measure."""

    samples: int = 7
    min_sample_s: float = 0.02  # each sample lasts at least this long (loops calibrated)
    warmup_s: float = 0.1  # calls before timing, for at least this long
    max_time_s: float = 2.0  # budget for the samples of one implementation at one size
    cutoff_s: float = 1.0  # a call slower than this is not timed (measured or predicted)
    first_call_limit_s: float = 30.0  # the first call (compile included) is ended past this


@dataclass(frozen=True)
class Measurement:
    """The samples of one implementation at one size."""

    samples: tuple[float, ...]  # seconds per call
    loops: int
    warmup_s: float
    warmup_calls: int
    recompiles: int
    low_n: str | None

    @property
    def summary(self) -> Summary | None:
        return summarize(self.samples)


class CompileWatch:
    """Counts and times Numba compilations while active (nested ones counted once in
    the time); does nothing where Numba is not installed."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self._depth = 0
        self._t0 = 0.0
        self._listener: Any = None

    def on_start(self) -> None:
        self.count += 1
        if self._depth == 0:
            self._t0 = time.perf_counter()
        self._depth += 1

    def on_end(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.seconds += time.perf_counter() - self._t0

    def __enter__(self) -> CompileWatch:
        try:
            from numba.core import event
        except ImportError:
            return self
        watch = self

        class Listener(event.Listener):  # type: ignore[misc]
            def on_start(self, ev: Any) -> None:
                watch.on_start()

            def on_end(self, ev: Any) -> None:
                watch.on_end()

        self._listener = Listener()
        event.register("numba:compile", self._listener)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._listener is not None:
            from numba.core import event

            event.unregister("numba:compile", self._listener)
            self._listener = None


def run_loops(
    fn: Callable[..., Any], args: tuple[Any, ...], loops: int, sync: Callable[[], Any] | None = None
) -> float:
    """Seconds for ``loops`` calls of ``fn(*args)`` (then ``sync()``, for devices)."""
    clock = time.perf_counter
    it = repeat(None, loops)
    t0 = clock()
    for _ in it:
        fn(*args)
    if sync is not None:
        sync()
    return clock() - t0


def run_calls_fresh(
    fn: Callable[..., Any],
    fresh: Callable[[], tuple[Any, ...]],
    loops: int,
    sync: Callable[[], Any] | None = None,
) -> float:
    """Seconds for ``loops`` calls, each on new inputs from ``fresh()`` made off the clock
    (the clock is read around each call, so its own cost, tens of ns, counts)."""
    clock = time.perf_counter
    total = 0.0
    for _ in range(loops):
        args = fresh()
        t0 = clock()
        fn(*args)
        if sync is not None:
            sync()
        total += clock() - t0
    return total


@dataclass(frozen=True)
class FirstCall:
    """The first call of an implementation: its result and what it cost."""

    result: Any
    seconds: float
    compiles: int
    compile_s: float | None  # None when nothing was compiled


def first_call(
    fn: Callable[..., Any], args: tuple[Any, ...], sync: Callable[[], Any] | None = None
) -> FirstCall:
    """Call ``fn`` once, timing it and the Numba compilations it triggers."""
    with CompileWatch() as watch:
        t0 = time.perf_counter()
        result = fn(*args)
        if sync is not None:
            sync()
        seconds = time.perf_counter() - t0
    return FirstCall(result, seconds, watch.count, watch.seconds if watch.count else None)


def measure(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    settings: TimingSettings,
    sync: Callable[[], Any] | None = None,
    *,
    fresh: Callable[[], tuple[Any, ...]] | None = None,
    per_call: bool = False,
    copy_s: float = 0.0,
) -> Measurement:
    """Warm up, calibrate and take the samples, with the GC off throughout.

    Args:
        fn, args: the implementation and its (prepared) inputs.
        sync: called after the calls of a sample, before the clock is read (devices).
        fresh: makes new inputs; with it, each sample starts on new inputs (untimed).
        per_call: each call on new inputs from ``fresh`` (for an implementation that
            changes its input); ``copy_s`` (seconds one ``fresh()`` takes) then bounds
            the loops so the copies do not stretch the row past its budget.

    Returns:
        The samples in seconds per call, the loops per sample and what the warm-up took.
    """
    if per_call and fresh is None:
        raise ValueError("per_call needs fresh")
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        with CompileWatch() as watch:

            def sample(loops: int) -> float:
                if per_call:
                    assert fresh is not None
                    return run_calls_fresh(fn, fresh, loops, sync)
                return run_loops(fn, fresh() if fresh is not None else args, loops, sync)

            call_s, warm_s, warm_calls = _warm_up(sample, settings)
            loops = max(1, math.ceil(settings.min_sample_s / call_s)) if call_s > 0 else 1
            wanted = max(1, settings.samples)
            # Wall seconds one call costs, and the wall budget of the samples: a call
            # on fresh inputs also costs its copy (off the clock), so it gets twice the time.
            cost, budget = call_s, settings.max_time_s
            if per_call:
                cost, budget = call_s + copy_s, 2 * settings.max_time_s
                if cost * loops * wanted > budget:  # fewer loops first: samples keep n
                    loops = max(1, int(budget / (cost * wanted)))
            n = wanted
            low_n = None
            if cost * loops * wanted > budget:
                n = max(1, min(wanted, int(budget // (cost * loops))))
                if n < wanted:
                    low_n = (
                        f"low n: {n} of {wanted} samples fit the "
                        f"{format_seconds(settings.max_time_s)} budget (a call takes "
                        f"{format_seconds(call_s)})"
                    )
            samples = tuple(sample(loops) / loops for _ in range(n))
    finally:
        if gc_was_enabled:
            gc.enable()
    return Measurement(samples, loops, warm_s, warm_calls, watch.count, low_n)


def _warm_up(sample: Callable[[int], float], settings: TimingSettings) -> tuple[float, float, int]:
    """Call in growing batches for at least ``warmup_s`` of calls (or four times that
    in wall time, where fresh inputs are copied between calls); returns the fastest time
    per call seen in a batch (the calibration estimate), the time spent and the calls made."""
    spent, calls, batch, best = 0.0, 0, 1, math.inf
    wall0 = time.perf_counter()
    while True:
        t = sample(batch)
        spent += t
        calls += batch
        best = min(best, t / batch)
        if spent >= settings.warmup_s or time.perf_counter() - wall0 >= 4 * settings.warmup_s:
            return best, spent, calls
        left = settings.warmup_s - spent
        batch = max(1, min(batch * 2, int(left / best) + 1 if best > 0 else batch * 2))
