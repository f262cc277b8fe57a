"""The Sweep screen alone, in a tiny app, fed by constructed points through a stand-in
for ``run_sweep``: the table fills in live, the curve and the answer follow, ``a`` applies."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from textual.app import App
from textual.widgets import DataTable, Static

from tests.functional.conftest import async_test, wait_until
from workbench.engine.sweep.run import SweepResult
from workbench.engine.sweep.search import (
    GROW,
    OK,
    OUT_OF_MEMORY,
    REFINE,
    SweepPoint,
    SweepSettings,
    recommend,
)
from workbench.errors import UserError
from workbench.ui.screens.sweep import SweepPlot, SweepScreen

MIB = 2**20
SETTINGS = SweepSettings(min_size=64, max_size=1024, memory_budget=400 * MIB)
POINTS = [
    SweepPoint(
        64,
        GROW,
        OK,
        "stopped",
        3000.0,
        rss_peak_bytes=40 * MIB,
        warmup_excluded=True,
        measured_batches=40,
        measured_s=0.9,
    ),
    SweepPoint(
        128,
        GROW,
        OK,
        "stopped",
        5600.0,
        rss_peak_bytes=60 * MIB,
        warmup_excluded=True,
        measured_batches=38,
        measured_s=0.9,
    ),
    SweepPoint(
        256,
        GROW,
        OK,
        "stopped",
        10000.0,
        rss_peak_bytes=100 * MIB,
        warmup_excluded=True,
        measured_batches=30,
        measured_s=0.9,
    ),
    SweepPoint(
        512,
        GROW,
        OUT_OF_MEMORY,
        "failed",
        None,
        rss_peak_bytes=30 * MIB,
        error="MemoryError: cannot allocate",
    ),
    SweepPoint(
        192,
        REFINE,
        OK,
        "stopped",
        8000.0,
        rss_peak_bytes=80 * MIB,
        warmup_excluded=True,
        measured_batches=33,
        measured_s=0.9,
    ),
]


class FakeSweep:
    """Calls back like ``run_sweep``; after the first point it waits for ``go``."""

    def __init__(self, fail: str | None = None) -> None:
        self.go = threading.Event()
        self.fail = fail
        self.cancelled = False

    def __call__(self, target: str, settings: SweepSettings, **kw: Any) -> SweepResult:
        if self.fail:
            raise UserError(self.fail)
        result = SweepResult("s1", target, settings, time.time())
        for i, p in enumerate(POINTS):
            kw["on_start"](p.batch_size, p.phase)
            kw["on_point"](p)
            result.points.append(p)
            if i == 0:
                self.go.wait(10)
            if kw["cancel"].is_set():
                self.cancelled = True
                break
        result.answer = recommend(result.points, settings)
        return result


class Host(App[None]):
    def __init__(self, screen: SweepScreen) -> None:
        super().__init__()
        self.sweep = screen
        self.applied: list[tuple[str, int]] = []

    def on_mount(self) -> None:
        self.push_screen(self.sweep)

    def on_sweep_screen_batch_size_applied(self, msg: SweepScreen.BatchSizeApplied) -> None:
        self.applied.append((msg.target, msg.batch_size))


def text_of(screen: SweepScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


@async_test
async def test_points_fill_in_live_and_a_applies_the_recommendation():
    fake = FakeSweep()
    screen = SweepScreen("mods/costmodel.py:costmodel", SETTINGS, runner=fake)
    app = Host(screen)
    async with app.run_test(size=(100, 40)) as pilot:
        table = screen.query_one("#sweep-points", DataTable)
        await wait_until(pilot, lambda: len(screen.points) == 1, what="the first point")
        assert table.row_count == 1
        assert "so far" in text_of(screen, "#sweep-answer")
        await pilot.press("a")  # the recommendation so far: 64
        await pilot.pause()
        assert app.applied == [("mods/costmodel.py:costmodel", 64)]
        fake.go.set()
        await wait_until(pilot, lambda: screen.result is not None, what="the sweep's end")
        await pilot.pause()
        assert table.row_count == len(POINTS)
        cells = [table.get_row_at(i) for i in range(table.row_count)]
        assert [c[0] for c in cells] == ["64", "128", "256", "512", "192"]
        assert cells[2][1] == "★◆p" and cells[3][3] == "✗ OOM"  # p: one sample each
        answer = text_of(screen, "#sweep-answer")
        assert "recommended batch_size 256" in answer and "press a" in answer
        assert "MemoryError" in text_of(screen, "#sweep-notes")
        console = Console(width=98, record=True, color_system=None)
        console.print(screen.query_one(SweepPlot).render())
        plot = console.export_text()
        assert "★" in plot and "✗" in plot and "budget 400 MiB" in plot
        assert "192" in plot and "512" in plot  # log2 axis labels
        await pilot.press("a")
        await pilot.pause()
        assert app.applied[-1] == ("mods/costmodel.py:costmodel", 256)


@async_test
async def test_stop_cancels_the_sweep_and_a_bad_target_is_shown():
    fake = FakeSweep()
    screen = SweepScreen("m.py:p", SETTINGS, runner=fake)
    app = Host(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(screen.points) == 1, what="the first point")
        await pilot.press("s")
        fake.go.set()
        await wait_until(pilot, lambda: screen.result is not None, what="the sweep's end")
        assert fake.cancelled and len(screen.points) == 1
    bad = SweepScreen("m.py:p", SETTINGS, runner=FakeSweep(fail="m.py has no pipeline p"))
    app = Host(bad)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: bad.error is not None, what="the error")
        await pilot.pause()
        assert "has no pipeline p" in text_of(bad, "#sweep-answer")
        await pilot.press("a")
        await pilot.pause()
        assert app.applied == []
