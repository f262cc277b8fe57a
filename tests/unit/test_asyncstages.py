"""Async sources and stages on the run's event loop, through the real stage probe: values,
order, self time per boundary, concurrency, closing, errors and their messages."""

from __future__ import annotations

import asyncio
import functools
import time

import pytest

from workbench import pipeline, stage
from workbench.authoring.pipeline import PipelineDefinitionError, stage_name
from workbench.engine import probe
from workbench.engine.asyncstages import AsyncChain, is_async_stage
from workbench.errors import UserError


class Stop(BaseException):
    pass


def build(source, *stages):
    """The chain as the runner child builds it: probes over what ``AsyncChain`` gives."""
    block = probe.Block.private()
    chain = AsyncChain("p")
    clock = probe.make_clock(block, 1 + len(stages), Stop)
    probes = [probe.make_probe(clock, 0, chain.source(source, stage_name(source)))]
    for i, s in enumerate(stages, 1):
        out = chain.call(s, probes[-1], stage_name(s))
        clock.charge(i)
        probes.append(probe.make_probe(clock, i, chain.output(out, stage_name(s))))
    return chain, clock, probes, block


def drain(clock, probes, block):
    out = list(probes[-1])
    clock.finish()
    for p in reversed(probes):
        p.close()
    return out, block.read()


async def ids(n):
    for i in range(n):
        yield i


def double(it):
    for x in it:
        yield 2 * x


async def plus_one(it):
    async for x in it:
        yield x + 1


def busy(it, seconds=0.002):
    for x in it:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
        yield x


async def sleepy(it, seconds=0.01):
    async for x in it:
        await asyncio.sleep(seconds)
        yield x


def test_async_source_and_mixed_stages_keep_values_and_order():
    chain, clock, probes, block = build(ids(50), double, plus_one, double)
    out, reading = drain(clock, probes, block)
    assert out == [2 * (2 * i + 1) for i in range(50)]
    assert reading.items == (50, 50, 50, 50) and all(reading.done)
    assert chain.async_parts == ["ids", "plus_one"]


def test_each_boundary_is_timed_as_for_sync_stages():
    # The await is the async stage's own time; a sync stage after it keeps its own.
    chain, clock, probes, block = build(ids(20), sleepy, busy)
    _, reading = drain(clock, probes, block)
    source_s, sleepy_s, busy_s, sink_s = (ns / 1e9 for ns in reading.self_ns)
    assert 0.2 <= sleepy_s <= 0.2 + 0.15  # 20 awaits of 10 ms
    assert 0.04 <= busy_s <= 0.04 + 0.1  # 20 items of 2 ms of work
    assert source_s < 0.05
    assert sum(reading.self_ns) == reading.elapsed_ns


def test_async_after_async_and_sync_before_async():
    chain, clock, probes, block = build(iter(range(10)), plus_one, sleepy, plus_one)
    out, reading = drain(clock, probes, block)
    assert out == [i + 2 for i in range(10)]
    assert reading.self_ns[2] / 1e9 >= 0.1  # the sleeping stage holds the awaits


async def fetch_concurrently(requests, limit=10, latency=0.02):
    sem = asyncio.Semaphore(limit)

    async def one(r):
        async with sem:
            await asyncio.sleep(latency)
            return r

    pending = []
    async for r in requests:
        pending.append(asyncio.ensure_future(one(r)))
        if len(pending) >= limit:
            yield await pending.pop(0)
    for p in pending:
        yield await p


def test_tasks_a_stage_starts_run_concurrently():
    start = time.perf_counter()
    _, clock, probes, block = build(ids(50), fetch_concurrently)
    out, _ = drain(clock, probes, block)
    took = time.perf_counter() - start
    assert out == list(range(50))
    assert took < 0.5  # 50 x 20 ms one at a time would be 1 s


def test_closing_runs_async_finally_blocks_and_cancels_a_pending_step():
    log = []

    async def source():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            await asyncio.sleep(0)
            log.append("source closed")

    async def stage_(it):
        try:
            async for x in it:
                await asyncio.sleep(0.001)
                yield x
        finally:
            await asyncio.sleep(0)
            log.append("stage closed")

    chain, clock, probes, block = build(source(), stage_)
    it = probes[-1]
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    for p in reversed(probes):
        p.close()
    assert log == ["stage closed", "source closed"]
    assert chain.events is not None and chain.events.loop.is_closed()


def test_an_error_in_an_async_stage_propagates_with_its_stage_marked():
    async def bad(it):
        async for x in it:
            if x == 4:  # the third value after double
                raise KeyError("k3")
            yield x

    _, clock, probes, block = build(iter(range(10)), double, bad)
    with pytest.raises(KeyError, match="k3"):
        list(probes[-1])
    assert block.read().failed == 2


def test_an_error_upstream_reaches_the_async_stage_raised():
    seen = []

    def boom(it):
        for x in it:
            if x == 2:
                raise ValueError("bad item")
            yield x

    async def watch(it):
        try:
            async for x in it:
                yield x
        except ValueError as exc:
            seen.append(str(exc))
            raise

    _, clock, probes, block = build(iter(range(10)), boom, watch)
    with pytest.raises(ValueError, match="bad item"):
        list(probes[-1])
    assert seen == ["bad item"] and block.read().failed == 1


def test_detects_async_stages_behind_wrappers():
    async def agen(it, k=1):
        async for x in it:
            yield x

    def gen(it):
        yield from it

    @functools.wraps(agen)
    def wrapped(it):
        return agen(it)

    assert is_async_stage(agen) and is_async_stage(stage(agen, name="a"))
    assert is_async_stage(functools.partial(agen, k=2)) and is_async_stage(wrapped)
    assert not is_async_stage(gen) and not is_async_stage(functools.partial(map, str))


def test_messages_name_what_is_wrong_with_async_code():
    async def coroutine_stage(it):
        return 1

    with pytest.raises(UserError, match=r"coroutine \(an `async def` function without `yield`\)"):
        build(ids(3), coroutine_stage)
    with pytest.raises(UserError, match=r"async generator function, not called: call it"):
        build(ids)
    with pytest.raises(UserError, match=r"is not iterable \(nor an async iterable\)"):
        build(42)

    def returns_async(it):
        return ids(3)

    with pytest.raises(UserError, match="make the stage itself an async generator function"):
        build(iter(range(3)), returns_async)


def test_an_async_factory_is_refused_where_it_is_defined():
    with pytest.raises(PipelineDefinitionError, match="its factory is `async def`"):

        @pipeline
        async def p(n: int = 1):
            return ids(n)
