"""The real app under Pilot with pipelines that misbehave (issue 13): markup and escape
sequences in what a pipeline prints, raises and is called reach the tree, the header, the log
and the toasts as text, and the app keeps running; a run stuck in one C call says so live;
``q q`` on a run that ignores its stop keeps the record."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from textual.widgets._toast import Toast

from tests.functional.conftest import (
    async_test,
    make_app,
    notifications,
    run_to_end,
    select,
    wait_until,
)
from tests.functional.test_run_control import header_text, log_text, start_and_wait_running
from tests.integration.hostile import ESCAPES, MARKUP
from workbench.engine.records import load_runs

TEXT = MARKUP + " " + ESCAPES

MODULE = '''
"""Pipelines that say and do hostile things."""
import itertools
import signal
import sys
import time

from workbench import pipeline, stage

TEXT = {text!r}


def ticks():
    i = 0
    while True:
        time.sleep(0.002)
        yield [i]
        i += 1


def talk(it):
    for i, b in enumerate(it):
        print("print " + TEXT)
        print("stderr " + TEXT, file=sys.stderr)
        print("\\x1b[31mred\\x1b[0m and \\x1b[2J\\x1b[Hcleared?")
        if i == 20:
            raise ValueError("msg " + TEXT)
        yield b


@pipeline(name="pipe " + TEXT)
def loud(batch_size: int = 1):
    """Prints and raises markup and escape sequences."""
    return ticks(), stage(talk, name="stage " + TEXT)


def read(it):
    for b in it:
        yield b


def parse(it):
    for i, b in enumerate(it):
        if i == 30:
            sum(itertools.repeat(1, 10**11))  # minutes in one C call, the GIL held
        yield b


@pipeline
def in_c(batch_size: int = 1):
    """Stuck in C at its 31st batch."""
    return ticks(), read, parse


def deaf(it):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for i, b in enumerate(it):
        yield b
        if i == 30:
            while True:  # never at a stage boundary again
                time.sleep(0.01)


@pipeline
def stubborn(batch_size: int = 1):
    """Ignores every stop."""
    return ticks(), deaf
'''


def setup(write_module: Any) -> Path:
    return write_module("hostile", textwrap.dedent(MODULE.format(text=TEXT))).parent


def no_raw(text: str) -> None:
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert not bad, f"raw control characters on screen: {sorted(set(bad))!r}"


@async_test
async def test_markup_and_sequences_reach_the_screen_as_text(write_module: Any) -> None:
    app = make_app(setup(write_module))
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await select(pilot, "pipe " + TEXT)
        assert await run_to_end(pilot) == "failed"
        assert app.is_running  # a toast with "[/x]" no longer takes the app down
        header = header_text(app)
        assert f"pipe {MARKUP}" in header and f"msg {MARKUP}" in header
        log = log_text(app)
        assert f"print {MARKUP}" in log and f"stderr {MARKUP}" in log
        assert "red and cleared?" in log  # colour decoded, the clear screen dropped
        for text in (header, log):
            no_raw(text)
        # The error toast shows the message as written: no tag read, no action bound.
        assert any(f"msg {MARKUP}" in n for n in notifications(pilot)), notifications(pilot)

        def toasts() -> list[str]:
            return [str(t.render().plain) for t in app.screen.query(Toast)]

        await wait_until(
            pilot, lambda: any(f"msg {MARKUP}" in t for t in toasts()), what="the error toast"
        )
        for t in toasts():
            no_raw(t)
        [record] = load_runs(pipeline="pipe " + TEXT)
        assert record["error"]["message"] == "msg " + TEXT
        # The app goes on: another run starts and is stopped.
        await select(pilot, "in_c")
        assert app.is_running


@async_test
async def test_a_run_stuck_in_c_says_so_live_and_memory_keeps_moving(write_module: Any) -> None:
    app = make_app(setup(write_module))
    async with app.run_test(size=(120, 30)) as pilot:
        await select(pilot, "in_c")
        await start_and_wait_running(pilot)

        def stalled() -> bool:
            state = app.last_update.state if app.last_update else None
            return state is not None and (state.stalled_s or 0) > 1.5

        await wait_until(pilot, stalled, timeout=30, what="the stall to be seen")
        header = header_text(app)
        assert (
            "no update for" in header
            and "the pipeline is inside one long call in stage parse" in header
        ), header
        first = app.last_update.state.snapshot
        await pilot.pause(0.6)
        later = app.last_update.state.snapshot
        assert later.elapsed_ns > first.elapsed_ns  # the parent's readings go on
        assert later.memory is not None and later.memory.now.rss > 0
        assert app.last_update.state.running_stage == "parse"
        await pilot.press("s")  # the SIGINT waits for the C call: killed after the grace
        await wait_until(pilot, lambda: app.active is None, timeout=20, what="the kill")
        state = app.last_update.state
        assert state.status == "stopped" and state.stop_reason == "user"
        [record] = load_runs(pipeline="in_c")
        assert record["bottleneck"] == "parse"
        assert record["memory"] is not None


@async_test
async def test_q_q_on_a_run_that_ignores_its_stop_keeps_its_record(write_module: Any) -> None:
    app = make_app(setup(write_module))
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "stubborn")
        await start_and_wait_running(pilot)
        await pilot.pause(0.5)  # past batch 30: deaf to everything now
        await pilot.press("q")
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, timeout=15, what="the quit")
    [record] = load_runs(pipeline="stubborn")
    assert record["status"] == "stopped" and record["stop_reason"] == "user"
    assert record["batches"] > 30 and record["memory"] is not None
