"""The stage probe, in both implementations: counts, batches, self time, failures."""

from __future__ import annotations

import time
from collections import namedtuple

import numpy as np
import pytest

from workbench.engine import probe
from workbench.engine.probe import PyClock, PyProbe, count_items

IMPLS = ["python"] + (["c"] if probe._c_probe is not None else [])


def make_chain(impl, source, *stages):
    n = 1 + len(stages)
    if impl == "c":
        clock = probe._c_probe.Clock(n, count_items, probe.batch_types())
        wrap = probe._c_probe.Probe
    else:
        clock = PyClock(n, count_items, probe.batch_types())
        wrap = PyProbe
    probes = [wrap(clock, 0, iter(source))]
    for i, s in enumerate(stages, 1):
        out = s(probes[-1])
        clock.charge(i)  # as the runner child does after calling each stage
        probes.append(wrap(clock, i, out))
    return clock, probes


def double(it):
    for x in it:
        yield x
        yield x


def batch10(it):
    batch = []
    for x in it:
        batch.append(x)
        if len(batch) == 10:
            yield batch
            batch = []
    if batch:
        yield batch


def test_c_probe_was_built():
    # The C probe is the fast path; the package build must produce it on this platform.
    assert probe.IMPLEMENTATION == "c"


@pytest.mark.parametrize("impl", IMPLS)
def test_counts_items_and_batches_per_stage(impl):
    clock, probes = make_chain(impl, range(95), double, batch10)
    out = list(probes[-1])
    clock.finish()
    r = probe.read(clock)
    assert r.items == (95, 190, 190)
    assert r.batches == (95, 190, 19)  # 18 full batches of 10 and one of 10: 190/10 = 19
    assert sum(len(b) for b in out) == 190
    assert r.done == (True, True, True)
    assert r.failed == -1


@pytest.mark.parametrize("impl", IMPLS)
def test_self_time_goes_to_the_stage_that_spends_it(impl):
    def slow(it):
        for x in it:
            time.sleep(0.002)
            yield x

    def fast(it):
        yield from it

    clock, probes = make_chain(impl, range(50), slow, fast)
    start = time.monotonic_ns()
    for _ in probes[-1]:
        pass
    clock.finish()
    wall = time.monotonic_ns() - start
    r = probe.read(clock)
    assert r.self_ns[1] >= 50 * 2_000_000  # at least the sleeps
    assert r.self_ns[1] > 0.9 * sum(r.self_ns)
    # Self times telescope: with the sink they add up to the clock's wall time exactly,
    # and that is the chain's wall time within 5%.
    assert sum(r.self_ns) == r.elapsed_ns
    assert abs(r.elapsed_ns - wall) < 0.05 * wall


@pytest.mark.parametrize("impl", IMPLS)
def test_an_eager_stage_is_charged_for_consuming_its_upstream(impl):
    def load_everything(it):
        data = list(it)  # consumes the source while the chain is being built
        time.sleep(0.05)
        return iter(data)

    clock, probes = make_chain(impl, range(1000), load_everything)
    for _ in probes[-1]:
        pass
    clock.finish()
    r = probe.read(clock)
    assert r.items == (1000, 1000)
    assert r.self_ns[1] >= 50_000_000


@pytest.mark.parametrize("impl", IMPLS)
def test_the_stage_that_raised_is_recorded(impl):
    def explode(it):
        for i, x in enumerate(it):
            if i == 7:
                raise ValueError("bad row")
            yield x

    def passthrough(it):
        yield from it

    clock, probes = make_chain(impl, range(100), explode, passthrough)
    with pytest.raises(ValueError):
        for _ in probes[-1]:
            pass
    r = probe.read(clock)
    assert r.failed == 1
    assert r.items[1] == 7  # the counts so far are kept


@pytest.mark.parametrize("impl", IMPLS)
def test_close_runs_the_stage_finally_block(impl):
    closed = []

    def guarded(it):
        try:
            yield from it
        finally:
            closed.append(True)

    clock, probes = make_chain(impl, range(100), guarded)
    next(probes[-1])
    probes[-1].close()
    assert closed == [True]


Row = namedtuple("Row", "id text")
Batch = namedtuple("Batch", "x y")


@pytest.mark.parametrize(
    "value, expected",
    [
        (3, 1),
        ("text", 1),
        ({"text": "a", "label": 1}, 1),  # a record
        ([1, 2, 3], 3),
        ((1, 2), 2),
        ([], 0),
        (np.zeros((64, 8)), 64),
        (np.float32(1.0), 1),
        (np.array(5), 1),  # 0-d
        ((np.zeros((32, 4)), np.zeros(32)), 32),  # (X, y) as collated
        ([np.zeros((16, 4)), np.zeros(16)], 16),
        ([np.zeros(5), np.zeros(7)], 2),  # a list of ragged arrays is a batch of 2
        ({"ids": np.zeros((8, 3)), "mask": np.zeros((8, 3))}, 8),
        (Row(1, "a"), 1),
        (Batch(np.zeros((12, 2)), np.zeros(12)), 12),
    ],
)
@pytest.mark.parametrize("impl", IMPLS)
def test_items_per_yielded_value(impl, value, expected):
    clock, probes = make_chain(impl, [value])
    list(probes[-1])
    assert probe.read(clock).items[0] == expected
    assert count_items(value) == expected


def test_torch_tensors_count_their_leading_dimension():
    torch = pytest.importorskip("torch")
    for impl in IMPLS:
        clock, probes = make_chain(impl, [torch.zeros(10, 3), torch.tensor(1.0)])
        list(probes[-1])
        assert probe.read(clock).items[0] == 11
