"""Async sources and stages in real runner children: the example's chain, a stop that
closes async generators on the loop, failures, and bad input in one line."""

from __future__ import annotations

from tests.integration.helpers import EXAMPLES, pipebench
from workbench.engine.follow import follow_run
from workbench.engine.runner import RunOptions
from workbench.engine.session import report

FOREVER = """
import asyncio
from workbench import pipeline


async def ticks():
    i = 0
    try:
        while True:
            await asyncio.sleep(0.01)
            yield i
            i += 1
    finally:
        await asyncio.sleep(0)  # an await in a finally block: it runs on the loop
        print("ticks closed")


async def slow(it):
    try:
        async for x in it:
            await asyncio.sleep(0.02)
            yield x
    finally:
        print("slow closed")


def boom(it):
    for x in it:
        if x == 5:
            raise ValueError("bad item 5")
        yield x


@pipeline
def forever(n: int = 0):
    return ticks(), slow


@pipeline
def fails(n: int = 0):
    return ticks(), boom, slow


async def coroutine_stage(it):
    return [x async for x in it]


@pipeline
def coroutine(n: int = 0):
    return ticks(), coroutine_stage
"""

ASYNC_FACTORY = """
from workbench import pipeline


@pipeline
async def p(n: int = 1):
    return iter(range(n))
"""


def test_the_async_example_runs_its_mixed_chain():
    state = follow_run(
        f"{EXAMPLES}/async_fetch.py:async_fetch",
        RunOptions(
            params={"requests": "64", "batch_size": "16", "concurrency": "4"}, max_seconds=60.0
        ),
    )
    assert state.status == "finished", (state.message, state.log_tail)
    rep = report(state)
    assert [(s["name"], s["items"], s["batches"]) for s in rep["stages"]] == [
        ("record_ids", 64, 64),
        ("make_requests", 64, 64),
        ("fetch", 64, 64),
        ("parse", 64, 64),
        ("batch", 64, 4),
    ]
    assert rep["bottleneck"] == "fetch"
    (note,) = rep["notes"]
    assert note["about"] == "async" and "record_ids, fetch" in note["text"]


def test_a_stop_closes_async_generators_on_the_loop(write_module):
    path = write_module("forever", FOREVER)
    state = follow_run(f"{path}:forever", RunOptions(max_seconds=1.0))
    assert state.status == "stopped" and state.stop_reason == "max_seconds", state.message
    log = "\n".join(state.log_tail)
    assert "slow closed" in log and "ticks closed" in log
    assert log.index("slow closed") < log.index("ticks closed")  # last stage first
    rep = report(state)
    ticks, slow = rep["stages"]
    assert slow["batches"] >= 10 and slow["self_s"] >= 0.02 * slow["batches"] * 0.9


def test_a_failure_between_async_stages_names_its_stage(write_module):
    path = write_module("forever", FOREVER)
    state = follow_run(f"{path}:fails", RunOptions(max_seconds=30.0))
    rep = report(state)
    assert rep["status"] == "failed" and rep["error"]["stage"] == "boom"
    assert "bad item 5" in rep["message"]
    assert any("slow closed" in line for line in rep["log_tail"])


def test_async_mistakes_get_one_line_and_exit_2(tmp_path, write_module):
    path = write_module("forever", FOREVER)
    r = pipebench("run", f"{path}:coroutine", cwd=tmp_path, json_name=None)
    assert r.code == 2
    assert "stage coroutine_stage returned coroutine, not an iterator" in r.err
    assert "make that function an async generator" in r.err
    bad = write_module("async_factory", ASYNC_FACTORY)
    r = pipebench("run", str(bad), cwd=tmp_path, json_name=None)
    assert r.code == 2 and "its factory is `async def`" in r.err, r.err
    r = pipebench("list", str(bad), cwd=tmp_path, json_name=None)
    assert r.code == 0 and "its factory is" in r.out
