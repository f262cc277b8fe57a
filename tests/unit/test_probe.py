"""The stage probe, in both implementations: counts, batches, self time, failures, stops,
the counter block both processes share, and the item model."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections import namedtuple

import numpy as np
import pytest

from workbench.authoring.items import count_items
from workbench.engine import probe
from workbench.engine.probe import Block, PyClock, PyProbe

IMPLS = ["python"] + (["c"] if probe._c_probe is not None else [])


class StopRun(KeyboardInterrupt):
    pass


def make_clock(impl, block, n):
    if impl == "c":
        return probe._c_probe.Clock(block.buf, n, count_items, probe.kind_of, StopRun)
    return PyClock(block.words, n, count_items, probe.kind_of, StopRun)


def make_chain(impl, source, *stages, items=None, block=None):
    block = block or Block.private()
    n = 1 + len(stages)
    clock = make_clock(impl, block, n)
    wrap = probe._c_probe.Probe if impl == "c" else PyProbe
    items = items or [None] * n
    probes = [wrap(clock, 0, iter(source), items[0])]
    for i, s in enumerate(stages, 1):
        out = s(probes[-1])
        clock.charge(i)  # as the runner child does after calling each stage
        probes.append(wrap(clock, i, out, items[i]))
    return clock, probes, block


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
    clock, probes, block = make_chain(impl, range(95), double, batch10)
    out = list(probes[-1])
    clock.finish()
    r = block.read()
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

    clock, probes, block = make_chain(impl, range(50), slow, fast)
    start = time.monotonic_ns()
    for _ in probes[-1]:
        pass
    clock.finish()
    wall = time.monotonic_ns() - start
    r = block.read()
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

    clock, probes, block = make_chain(impl, range(1000), load_everything)
    for _ in probes[-1]:
        pass
    clock.finish()
    r = block.read()
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

    clock, probes, block = make_chain(impl, range(100), explode, passthrough)
    with pytest.raises(ValueError):
        for _ in probes[-1]:
            pass
    r = block.read()
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

    clock, probes, block = make_chain(impl, range(100), guarded)
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
        ((1, 2), 1),  # a tuple is a record: one item
        ((1, "x", 0), 1),  # (x, y, label) per row
        ((np.zeros(4), 3), 1),  # a row with a feature vector and a label
        ([], 0),
        (np.zeros((64, 8)), 64),
        (np.float32(1.0), 1),
        (np.array(5), 1),  # 0-d
        ((np.zeros((32, 4)), np.zeros(32)), 32),  # (X, y) as collated
        ([np.zeros((16, 4)), np.zeros(16)], 16),
        ([np.zeros(5), np.zeros(7)], 2),  # a list of ragged arrays is a batch of 2
        ({"ids": np.zeros((8, 3)), "mask": np.zeros((8, 3))}, 8),
        (Row(1, "a"), 1),
        (b"bytes", 1),
        (None, 1),
        (Batch(np.zeros((12, 2)), np.zeros(12)), 12),
    ],
)
@pytest.mark.parametrize("impl", IMPLS)
def test_items_per_yielded_value(impl, value, expected):
    clock, probes, block = make_chain(impl, [value])
    list(probes[-1])
    assert block.read().items[0] == expected
    assert count_items(value) == expected


def test_torch_tensors_count_their_leading_dimension():
    torch = pytest.importorskip("torch")
    for impl in IMPLS:
        clock, probes, block = make_chain(impl, [torch.zeros(10, 3), torch.tensor(1.0)])
        list(probes[-1])
        assert block.read().items[0] == 11
        pair = (torch.zeros(6, 3), torch.zeros(6))  # (features, labels)
        assert count_items(pair) == 6


@pytest.mark.parametrize("impl", IMPLS)
def test_items_override_per_stage(impl):
    def losses(it):
        for batch in it:
            yield float(len(batch))  # one loss per batch

    def batches(it):
        while chunk := list(itertools.islice(it, 8)):
            yield chunk

    # By the model: 8 items per batch, then 1 item (a float) per batch.
    clock, probes, block = make_chain(impl, range(64), batches, losses)
    list(probes[-1])
    assert block.read().items == (64, 64, 8)
    # Saying each loss stands for the batch's items: a function of the value.
    clock, probes, block = make_chain(
        impl, range(64), batches, losses, items=[None, None, lambda loss: int(loss)]
    )
    list(probes[-1])
    assert block.read().items == (64, 64, 64)
    # Or a constant per value.
    clock, probes, block = make_chain(impl, range(64), batches, items=[None, 3])
    list(probes[-1])
    assert block.read().items == (64, 24)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # swallow's end
@pytest.mark.parametrize("impl", IMPLS)
def test_a_stop_is_re_asserted_at_every_boundary(impl):
    """A stage that swallows the stop (``except BaseException: pass``) cannot keep going:
    the next boundary raises it again, and so on until the chain unwinds."""

    def swallow(it):
        while True:
            with contextlib.suppress(BaseException):
                yield next(it)

    clock, probes, block = make_chain(impl, itertools.count(), swallow)
    n = 0
    with pytest.raises(StopRun):
        for _ in probes[-1]:
            n += 1
            if n == 100:
                block.request_stop("max_seconds")
    assert n == 100 and block.stop_reason == "max_seconds"
    r = block.read()
    assert r.failed == -1  # a stop is no stage failing
    clock.set_closing(True)  # closing: the stop is no longer raised
    assert next(probes[0]) is not None


@pytest.mark.parametrize("impl", IMPLS)
def test_the_block_is_shared_memory_the_parent_reads(impl):
    """The parent maps the same memfd and sees the counters as the child writes them."""
    child_side = Block.create()
    assert child_side.fd is not None
    parent_side = Block.attach(os.dup(child_side.fd))  # the child gets a descriptor of its own
    clock, probes, _ = make_chain(impl, range(30), block=child_side)
    assert parent_side.read().items == (0,)
    next(probes[-1])
    next(probes[-1])
    r = parent_side.read()
    assert r.items == (2,) and r.batches == (2,) and not r.finished
    assert sum(r.self_ns) == r.elapsed_ns  # the time in progress is charged to who runs
    list(probes[-1])
    clock.finish()
    r = parent_side.read()
    assert r.finished and r.items == (30,) and r.done == (True,)
    # The parent's stop request reaches the child's probes.
    parent_side.request_stop("user")
    assert child_side.stop_reason == "user"
    parent_side.close()
    child_side.close()


def test_the_c_layout_is_the_python_layout():
    if probe._c_probe is None:
        pytest.skip("the C probe was not built")
    c = probe._c_probe.LAYOUT
    assert c["header"] == probe.HEADER and c["role_slots"] == probe.ROLE_SLOTS
    assert c["magic_value"] == probe.MAGIC_VALUE and c["version"] == probe.LAYOUT_VERSION
    names = ["magic", "layout", "capacity", "n", "ticks", "start_tick", "start_ns", "last_tick", "end_tick", "end_ns", "failed", "running", "stop", "phase", "first_tick", "stop_seen"]  # fmt: skip
    for index, name in enumerate(names):
        assert c[name] == index, name


def test_a_block_holds_the_roles_the_child_records():
    b = Block.private()
    b.set_role(123, 1)
    b.set_role(456, 2)
    assert b.roles() == {123: "DataLoader worker", 456: "multiprocessing child"}


def ticks(impl, seconds):
    """``seconds`` in the clock's ticks (the C clock may count TSC cycles)."""
    if impl == "python" or probe.TICKS == "ns":
        return int(seconds * 1e9)
    return int(seconds * 1e9 / probe.ns_per_tick(1))


@pytest.mark.parametrize("impl", IMPLS)
def test_a_publication_is_made_at_a_boundary_once_its_period_passed(impl):
    """set_publish(ticks, fn): fn runs on the chain's thread at a crossing once ``ticks``
    passed since the last one; its time is the sink's, so the stages' self times keep
    what they spent, and they still add up to the clock's wall time."""
    calls = []

    def publish():
        calls.append(time.monotonic())
        time.sleep(0.01)  # pipebench's reading: not any stage's time

    def slow(it):
        for x in it:
            time.sleep(0.004)
            yield x

    clock, probes, block = make_chain(impl, range(50), slow)
    clock.set_publish(ticks(impl, 0.05), publish)
    for _ in probes[-1]:
        pass
    clock.finish()
    r = block.read()
    # 50 items of 4 ms, one reading at the first crossing after each 50 ms.
    assert 3 <= len(calls) <= 6, calls
    assert all(b - a >= 0.05 for a, b in itertools.pairwise(calls)), calls
    assert r.self_ns[-1] >= 0.01e9 * len(calls)  # the sink has the readings
    assert r.self_ns[1] < 50 * 4e6 * 1.5  # the stage has its sleeps, not the readings
    assert sum(r.self_ns) == r.elapsed_ns
    clock.set_publish(0, None)  # off, and the callable let go of
    with pytest.raises(ValueError):
        clock.set_publish(10, None)


@pytest.mark.parametrize("impl", IMPLS)
def test_a_stop_raised_in_a_publication_goes_up_the_chain(impl):
    """A stop's signal handler can raise while a reading runs on the chain's thread: it
    ends the chain as it would at any boundary, and the reading is not called again."""
    calls = []

    def publish():
        calls.append(1)
        raise StopRun()

    clock, probes, _block = make_chain(impl, itertools.count(), double)
    clock.set_publish(1, publish)
    with pytest.raises(StopRun):
        for _ in probes[-1]:
            pass
    assert calls == [1]
