"""The caches panel alone, driven by Pilot: rows from a section, ``c`` + confirmation clears."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from workbench.engine.sections.cache_entries import make_row
from workbench.engine.sections.caches import CachesSection, ServedClear
from workbench.ui.widgets.caches_panel import CachesPanel, ConfirmClear


class PanelApp(App[None]):
    """A tiny app holding the panel and keeping what it reports."""

    def __init__(self) -> None:
        super().__init__()
        self.finished: list[CachesPanel.ClearFinished] = []

    def compose(self) -> ComposeResult:
        yield CachesPanel(id="caches")

    def on_caches_panel_clear_finished(self, event: CachesPanel.ClearFinished) -> None:
        self.finished.append(event)


def joblib_folder(tmp_path: Path, entries: int) -> Path:
    folder = tmp_path / "jl" / "mod" / "load"
    for i in range(entries):
        entry = folder / f"{i:032x}"
        entry.mkdir(parents=True)
        (entry / "output.pkl").write_bytes(b"x" * 100)
    (folder / "func_code.py").write_text("# first line: 1\n")
    return folder


def section(
    folder: Path,
    *,
    live: bool,
    control: Path | None = None,
    served: list[ServedClear] | None = None,
) -> CachesSection:
    return CachesSection(
        caches=(
            make_row(
                "load",
                "disk",
                "joblib",
                hits=20,
                misses=10,
                entries=3,
                bytes=300,
                bytes_basis="on disk",
                seconds_saved=1.5,
                path=str(folder),
            ),
            make_row(
                "feats",
                "memory",
                "lru_cache",
                hits=800,
                misses=400,
                entries=400,
                maxsize=512,
                bytes=454_400,
                bytes_basis="estimate",
                seconds_saved=0.02,
            ),
        ),
        live=live,
        pid=os.getpid(),
        control=str(control) if control else None,
        served=tuple(served or ()),
    )


async def until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        assert loop.time() < end, "timed out"
        await pilot.pause(0.02)


def status(panel: CachesPanel) -> str:
    return str(panel.query_one(".caches-status", Static).render())


def test_rows_and_clearing_from_disk_after_the_run(tmp_path: Path) -> None:
    folder = joblib_folder(tmp_path, 3)

    async def scenario() -> None:
        app = PanelApp()
        async with app.run_test(size=(110, 20)) as pilot:
            panel = app.query_one(CachesPanel)
            panel.update_section(section(folder, live=False))
            table = panel.query_one(DataTable)
            table.focus()
            await pilot.pause()
            assert table.row_count == 2
            assert str(table.get_cell("feats", "cache")) == "feats"
            assert str(table.get_cell("feats", "hit rate")) == "66.7%"
            # At 110 columns every figure has its column, each with its unit.
            assert [str(c.label) for c in table.columns.values()] == [
                "cache",
                "hits",
                "misses",
                "hit %",
                "entries",
                "size",
                "saved",
                "kind",
            ]
            assert "2 cache(s)" in status(panel)
            await pilot.press("c")  # the cursor is on the first row: load
            await until(pilot, lambda: isinstance(app.screen, ConfirmClear))
            await pilot.press("n")  # kept
            await until(pilot, lambda: not isinstance(app.screen, ConfirmClear))
            assert len(list(folder.glob("*/output.pkl"))) == 3
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ConfirmClear))
            await pilot.press("y")
            await until(pilot, lambda: bool(app.finished))
            assert app.finished[0].ok and app.finished[0].name == "load"
            assert not list(folder.glob("*/output.pkl"))
            assert (folder / "func_code.py").exists()
            assert "3 entries" in status(panel)
            await pilot.press("down", "c")  # feats lived in the ended run's memory
            await until(pilot, lambda: isinstance(app.screen, ConfirmClear))
            await pilot.press("y")
            await until(pilot, lambda: len(app.finished) == 2)
            assert app.finished[1].ok is False and "the run is over" in status(panel)

    asyncio.run(scenario())


def test_clearing_a_live_run_goes_through_its_control_folder(tmp_path: Path) -> None:
    folder = joblib_folder(tmp_path, 1)
    control = tmp_path / "control"
    control.mkdir()

    async def scenario() -> None:
        app = PanelApp()
        async with app.run_test(size=(110, 20)) as pilot:
            panel = app.query_one(CachesPanel)
            panel.update_section(section(folder, live=True, control=control))
            panel.query_one(DataTable).focus()
            await pilot.press("down", "c")
            await until(pilot, lambda: isinstance(app.screen, ConfirmClear))
            await pilot.press("y")
            await until(pilot, lambda: any(control.glob("*.json")))
            (request,) = control.glob("*.json")
            req = json.loads(request.read_text())
            assert req["clear"] == "feats"
            await until(pilot, lambda: "asked the run" in status(panel))
            assert not app.finished  # pending until the run answers
            answer = ServedClear(
                req["id"], "feats", True, "cleared feats: 400 entries dropped from memory"
            )
            panel.update_section(section(folder, live=True, control=control, served=[answer]))
            await until(pilot, lambda: bool(app.finished))
            assert app.finished[0].ok and "400 entries" in status(panel)

    asyncio.run(scenario())


def test_caches_that_could_not_be_read_say_why() -> None:
    async def scenario() -> None:
        app = PanelApp()
        async with app.run_test(size=(80, 12)) as pilot:
            panel = app.query_one(CachesPanel)
            panel.update_section(None, "TypeError: cache_info() [/x] broke")
            await pilot.pause()
            assert status(panel) == "caches not shown: TypeError: cache_info() [/x] broke"

    asyncio.run(scenario())


def test_figures_that_grow_a_digit_are_shown_whole() -> None:
    """Live counts grow (16 → 3,200 → 160,000): each shows whole on screen, its column
    widened, never cut to ``3,20`` (as a user saw: a wrong figure, not a cut name)."""

    def live(hits: int, saved: float) -> CachesSection:
        row = make_row(
            "load_shard", "memory", "lru_cache", hits=hits, misses=8, entries=8,
            bytes=1000, bytes_basis="estimate", seconds_saved=saved,
        )  # fmt: skip
        return CachesSection(caches=(row,), live=True, pid=os.getpid())

    async def scenario() -> None:
        app = PanelApp()
        async with app.run_test(size=(120, 12)) as pilot:
            panel = app.query_one(CachesPanel)
            for hits, saved in ((16, 0.002), (3_200, 0.4), (160_000, 3.23)):
                panel.update_section(live(hits, saved))
                await pilot.pause()
            table = panel.query_one(DataTable)
            screen = "\n".join(table.render_line(y).text for y in range(table.size.height))
            assert "160,000" in screen, screen
            assert "3.23 s" in screen and "100.0%" in screen, screen

    asyncio.run(scenario())
