"""Stopping the kernels and line-profile screens, driven by Pilot with real runner children:
``s`` stops the job through its follower, what was measured stays on screen, and a stopped
line profile starts no unprofiled run after it."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.widgets import DataTable

from tests.functional.conftest import async_test, wait_until
from workbench.engine.kernels.runner import KernelOptions
from workbench.engine.kernels.timing import TimingSettings
from workbench.engine.session import stage_rows
from workbench.ui.screens.kernels import KernelsScreen
from workbench.ui.screens.lines import LineProfileScreen
from workbench.ui.widgets.line_profile_panel import LineProfilePanel

SLOW = """
import time

from workbench import kernels, pipeline


def numbers(n):
    for i in range(n):
        yield i


def hot(items):
    for x in items:
        time.sleep(0.001)
        yield x


@pipeline
def endless(n: int = 10**9):
    return numbers(n), hot


@kernels(sizes=tuple(range(1, 400)))
def nap(n):
    return (n,)


@nap.impl("python")
def nap_python(n):
    time.sleep(0.002)
    return n
"""


@async_test
async def test_s_stops_a_line_profile_and_no_baseline_follows(write_module: Any) -> None:
    path = write_module("slowmod", SLOW)
    app: App[None] = App()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = LineProfileScreen(f"{path}:endless", {}, "hot", title="endless")
        await app.push_screen(screen)
        await wait_until(
            pilot,
            lambda: (
                (s := screen.states.get("lines")) is not None
                and s.profiled is not None
                and bool(stage_rows(s.profiled))
                and stage_rows(s.profiled)[-1].items > 20
            ),
            timeout=30,
            what="the profiled run to count items",
        )
        await pilot.press("f")  # a job is going: the function view waits for it to end
        await pilot.pause()
        assert screen.view == "lines" and "functions" not in screen.states
        assert "cProfile" not in str(screen.query_one(".lp-status").render())
        await pilot.press("s")
        await wait_until(pilot, lambda: not screen.running, timeout=30, what="the job to end")
        state = screen.states["lines"]
        assert state.profiled is not None and state.profiled.status == "stopped"
        assert state.baseline is None  # stopped: the unprofiled run never started
        panel = screen.query_one(LineProfilePanel)
        assert panel.lines_profile is not None and panel.cost is None
        assert panel.query_one(DataTable).row_count > 0  # what it profiled is shown
        await pilot.press("s")  # nothing is going: a hint, nothing else
        assert not screen.running


@async_test
async def test_s_stops_the_kernels_screen_and_r_runs_it_again(write_module: Any) -> None:
    path = write_module("slowmod", SLOW)
    timing = TimingSettings(samples=3, min_sample_s=0.002, warmup_s=0.01)
    options = KernelOptions(kernel="nap", gemm=False, timing=timing)
    app: App[None] = App()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = KernelsScreen(str(path), options, title="nap")
        await app.push_screen(screen)
        await wait_until(
            pilot, lambda: len(screen.state.results) >= 2, timeout=30, what="a few rows"
        )
        first = screen.follower
        await pilot.press("s")
        await wait_until(pilot, lambda: screen.ended, timeout=30, what="the run to stop")
        assert screen.state.status == "stopped"
        table = screen.query_one("#kernels-table", DataTable)
        assert 1 <= table.row_count < 399
        await pilot.press("r")
        assert screen.follower is not first and screen.running
        await pilot.press("s")
        await wait_until(pilot, lambda: screen.ended, timeout=30, what="the rerun to stop")
