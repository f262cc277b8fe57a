"""Pilot tests of runs that stop, fail, crash, hang, pass their budget or flood the UI, and
of quitting mid-run: real runner children from tiny modules written into tmp_path."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil

from tests.functional.conftest import (
    async_test,
    make_app,
    notifications,
    run_to_end,
    select,
    set_params,
    wait_until,
)
from workbench.engine.records import load_runs
from workbench.ui.messages import RunUpdated
from workbench.ui.widgets.run_header import RunHeader
from workbench.ui.widgets.run_log import RunLog

MODULE = '''
"""Pipelines that misbehave, for the app's tests."""
import os
import signal
import sys
import time

from workbench import pipeline


def ticks(batch_size):
    i = 0
    while True:
        time.sleep(0.002)
        yield [i] * batch_size
        i += 1


def square(batches):
    for b in batches:
        yield [x * x for x in b]


def explode(batches):
    for i, b in enumerate(batches):
        if i == 20:
            print("about to fail", file=sys.stderr)
            raise ValueError("boom at batch 20")
        yield b


def die(batches):
    for i, b in enumerate(batches):
        if i == 20:
            os.kill(os.getpid(), signal.SIGKILL)
        yield b


def deaf(batches):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for i, b in enumerate(batches):
        yield b
        if i == 0:
            while True:  # never at a stage boundary again, where a stop would be raised
                time.sleep(0.01)


def hoard(batches):
    kept = []
    for b in batches:
        kept.append(bytearray(2 * 1024 * 1024))
        yield b


def fast_source(batch_size):
    i = 0
    while True:
        yield i
        i += 1


def chatty(items):
    for x in items:
        print(x)
        yield x


@pipeline
def forever(batch_size: int = 8):
    """Runs until stopped."""
    return ticks(batch_size), square


@pipeline
def failing(batch_size: int = 8):
    """A stage raises at batch 20."""
    return ticks(batch_size), explode


@pipeline
def crashing(batch_size: int = 8):
    """The process is killed at batch 20."""
    return ticks(batch_size), die


@pipeline
def stubborn(batch_size: int = 8):
    """Ignores the stop request."""
    return ticks(batch_size), deaf


@pipeline
def hog(batch_size: int = 8):
    """Keeps 2 MiB per batch."""
    return ticks(batch_size), hoard


@pipeline
def picky(batch_size: int = 8, n: int = 1):
    """Its factory refuses a negative n."""
    if n < 0:
        raise ValueError(f"n must be positive, not {n}")
    return ticks(batch_size), square


@pipeline
def flood(batch_size: int = 1):
    """As many items a second as Python can make, each printed."""
    return fast_source(batch_size), chatty
'''


def setup(write_module: Any) -> Path:
    return write_module("misbehave", MODULE).parent


def header_text(app: Any) -> str:
    return str(app.main.query_one(RunHeader).render())


def log_text(app: Any) -> str:
    return "\n".join(strip.text for strip in app.main.query_one(RunLog).lines)


async def start_and_wait_running(pilot: Any) -> int:
    """Press r and wait for items to flow; returns the runner child's pid."""
    app = pilot.app
    before = app.shown_run_id
    await pilot.press("r")
    await wait_until(
        pilot,
        lambda: (
            app.shown_run_id != before
            and app.last_update is not None
            and app.last_update.run_id == app.shown_run_id
            and app.last_update.state.snapshot is not None
            and app.last_update.state.snapshot.stages[-1].items > 0
        ),
        what="items to flow",
    )
    hello = app.last_update.state.hello
    assert hello is not None
    return hello.pid


def gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True  # dead, not yet reaped
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@async_test
async def test_stop_a_running_pipeline(write_module: Any) -> None:
    app = make_app(setup(write_module))
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "forever")
        pid = await start_and_wait_running(pilot)
        assert "● running" in header_text(app)
        await pilot.press("s")
        await wait_until(pilot, lambda: app.active is None, what="the run to end")
        state = app.last_update.state
        assert state.status == "stopped" and state.stop_reason == "user"
        assert "■ stopped" in header_text(app)
        assert gone(pid)
        assert [r["status"] for r in load_runs(pipeline="forever")] == ["stopped"]
        # Space stops too.
        await start_and_wait_running(pilot)
        await pilot.press("space")
        await wait_until(pilot, lambda: app.active is None, what="the run to end")
        assert app.last_update.state.status == "stopped"


@async_test
async def test_failing_pipeline_shows_its_error(write_module: Any) -> None:
    app = make_app(setup(write_module))
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "failing")
        assert await run_to_end(pilot) == "failed"
        header = header_text(app)
        assert "✗ FAILED" in header
        assert "stage explode raised ValueError: boom at batch 20" in header
        log = log_text(app)
        assert "Traceback (most recent call last)" in log
        assert "ValueError: boom at batch 20" in log
        assert "! about to fail" in log  # the pipeline's stderr
        assert any("failed" in n for n in notifications(pilot))
        record = load_runs(pipeline="failing")[0]
        assert record["status"] == "failed" and record["error"]["type"] == "ValueError"
        # The app keeps working: another run goes.
        await select(pilot, "forever")
        await start_and_wait_running(pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: app.active is None)


@async_test
async def test_factory_refusing_a_value_is_a_one_line_error(write_module: Any) -> None:
    app = make_app(setup(write_module))
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "picky")
        await set_params(pilot, n="-3")
        assert await run_to_end(pilot) == "failed"
        assert any(
            "its factory raised ValueError: n must be positive, not -3" in n
            for n in notifications(pilot)
        )
        assert load_runs(pipeline="picky") == []  # like the CLI: bad input, no record
        await set_params(pilot, n="3")
        await start_and_wait_running(pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: app.active is None)


@async_test
async def test_crash_and_hang(write_module: Any) -> None:
    app = make_app(setup(write_module))
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "crashing")
        assert await run_to_end(pilot) == "crashed"
        assert "✗ CRASHED" in header_text(app)
        assert "SIGKILL" in header_text(app)
        # A run that ignores the stop request is killed after the grace period.
        await select(pilot, "stubborn")
        pid = await start_and_wait_running(pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: app.active is None, timeout=15, what="the kill")
        state = app.last_update.state
        assert state.status == "stopped"
        assert "did not stop within the grace period" in (state.message or "")
        assert gone(pid)


@async_test
async def test_memory_budget(write_module: Any) -> None:
    app = make_app(setup(write_module))
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "hog")
        await set_params(pilot, budget="120MiB")
        assert app.settings[app.selected.pipeline.target].memory_budget == 120 * 1024**2
        assert await run_to_end(pilot, timeout=30) == "budget_exceeded"
        assert "▲ OVER MEMORY BUDGET" in header_text(app)
        assert "budget 120 MiB" in header_text(app)
        record = load_runs(pipeline="hog")[0]
        assert record["options"]["memory_budget_bytes"] == 120 * 1024**2


@async_test
async def test_quit_during_a_run_leaves_no_child(write_module: Any) -> None:
    app = make_app(setup(write_module))
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "forever")
        pid = await start_and_wait_running(pilot)
        await pilot.press("q")  # stops the run, then quits
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")
    assert gone(pid)
    assert [r["status"] for r in load_runs(pipeline="forever")] == ["stopped"]

    # A child that ignores the stop: q twice kills it and quits at once.
    app = make_app(setup(write_module))
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "stubborn")
        pid = await start_and_wait_running(pilot)
        await pilot.press("q")
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")
    assert gone(pid)

    # The app ended some other way (unmount): the child is killed all the same.
    app = make_app(setup(write_module))
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "forever")
        pid = await start_and_wait_running(pilot)
        app.exit()
    assert gone(pid)


@async_test
async def test_fast_chatty_pipeline_cannot_flood_the_ui(write_module: Any) -> None:
    updates: list[float] = []

    def hook(message: Any) -> None:
        if isinstance(message, RunUpdated):
            updates.append(time.monotonic())

    app = make_app(setup(write_module))
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await select(pilot, "flood")
        await start_and_wait_running(pilot)
        started = time.monotonic()
        await pilot.pause(2.0)
        # The UI still answers a key promptly: time from the key to its action.
        stopped_at: list[float] = []
        stop = app.action_stop

        def timed_stop() -> None:
            stopped_at.append(time.monotonic())
            stop()

        app.action_stop = timed_stop  # type: ignore[method-assign]
        t0 = time.monotonic()
        await pilot.press("s")
        key_latency = stopped_at[0] - t0
        await wait_until(pilot, lambda: app.active is None, timeout=15, what="the stop")
        elapsed = time.monotonic() - started
        state = app.last_update.state
        items = state.snapshot.stages[-1].items
        log = log_text(app)
    assert state.status == "stopped"
    assert items > 100_000, f"only {items} items: not a fast pipeline"
    # Coalesced: about one update per interval (0.05 s here), never one per event.
    assert len(updates) < (elapsed + 1) / 0.05 * 1.5, len(updates)
    print(
        f"key latency {key_latency:.3f} s, {len(updates)} updates in {elapsed:.1f} s, {items} items"
    )
    assert key_latency < 1.0
    assert "lines not shown" in log
