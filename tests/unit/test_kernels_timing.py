"""The timing harness in this process, with real Numba compilations (small sizes)."""

from __future__ import annotations

import gc
import time

import numpy as np
from numba import njit

from workbench.engine.kernels.timing import (
    CompileWatch,
    TimingSettings,
    first_call,
    measure,
)

FAST = TimingSettings(samples=5, min_sample_s=0.002, warmup_s=0.02, max_time_s=1.0, cutoff_s=1.0)


def test_compile_time_is_reported_apart_and_the_samples_exclude_it():
    @njit
    def total(a):
        s = 0.0
        for i in range(a.shape[0]):
            s += a[i]
        return s

    a = np.ones(1000)
    first = first_call(total, (a,))
    assert first.result == 1000.0
    assert first.compiles >= 1 and first.compile_s is not None
    assert first.compile_s <= first.seconds
    m = measure(total, (a,), FAST)
    assert m.recompiles == 0
    assert m.summary is not None and len(m.samples) == 5
    # Compiling takes hundreds of milliseconds; a call on 1000 floats, microseconds.
    assert m.summary.median < first.compile_s / 100
    again = first_call(total, (a,))
    assert again.compiles == 0 and again.compile_s is None


def test_a_compilation_during_timing_is_counted_as_a_recompile():
    @njit
    def inner(x):
        return x * 2

    calls = [0]

    def impl():
        calls[0] += 1
        if calls[0] == 3:
            inner(np.float32(1.0))  # a new signature: Numba compiles again
        return inner(1.0)

    first = first_call(impl, ())
    assert first.compiles >= 1
    m = measure(impl, (), FAST)
    assert m.recompiles >= 1


def test_samples_are_calibrated_warmed_up_and_taken_with_the_gc_off():
    seen = []

    def impl():
        seen.append(gc.isenabled())
        return sum(range(200))

    was = gc.isenabled()
    m = measure(impl, (), FAST)
    assert gc.isenabled() == was
    assert not any(seen)
    assert m.warmup_s >= FAST.warmup_s and m.warmup_calls > 1
    assert m.loops > 1
    assert all(s * m.loops >= FAST.min_sample_s * 0.5 for s in m.samples)
    assert m.low_n is None


def test_slow_calls_get_fewer_samples_marked_low_n():
    def slow():
        time.sleep(0.03)

    m = measure(
        slow,
        (),
        TimingSettings(samples=7, min_sample_s=0.001, warmup_s=0.01, max_time_s=0.1, cutoff_s=1.0),
    )
    assert m.loops == 1
    assert 1 <= len(m.samples) < 7
    assert m.low_n is not None and "low n" in m.low_n


def test_compile_watch_without_compilation_counts_nothing():
    with CompileWatch() as w:
        sum(range(10))
    assert w.count == 0 and w.seconds == 0.0
