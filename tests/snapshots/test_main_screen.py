"""Snapshots of the main screen fed by recorded runs: deterministic, no process spawned.

Nothing on screen comes from the wall clock (elapsed time is the run's own, from its
snapshots), no cursor blinks on the main screen, and the catalog is fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.snapshots.conftest import catalog, make_app, wait_until
from workbench.engine.protocol import STOPPED, Exited, Finished
from workbench.engine.runner import RunOptions
from workbench.ui.app import PipebenchApp
from workbench.ui.messages import RunUpdated
from workbench.ui.replay import ReplayHandle
from workbench.ui.widgets.catalog_tree import CatalogTree
from workbench.ui.widgets.runs_table import RunsTable

pytestmark = pytest.mark.usefixtures("records")


async def run_to_end(pilot: Pilot[Any], records: int = 3, key: str = "r") -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.selected is not None)
    await pilot.press(key)
    await wait_until(
        pilot, lambda: app.active is None and app.last_update is not None and app.last_update.ended
    )
    table = app.main.query_one(RunsTable)
    await wait_until(pilot, lambda: table.row_count == records)
    await pilot.pause()


SIZES = [(80, 24), (120, 36), (160, 48)]
IDS = ["80x24", "120x36", "160x48"]


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_finished_run(snap_compare: Any, size: tuple[int, int]) -> None:
    """jsonl_tokens replayed to the end: stage table, bottleneck, charts, runs, log."""
    assert snap_compare(make_app(), terminal_size=size, run_before=run_to_end)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_running(snap_compare: Any, size: tuple[int, int]) -> None:
    """The same run part way: state running, the numbers so far."""

    async def part_way(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await wait_until(pilot, lambda: app.selected is not None)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.last_update is not None and app.last_update.events == 9)
        await wait_until(pilot, lambda: app.main.query_one(RunsTable).row_count == 2)
        # The replay stays "running" and the bridge adds a chart point per update, so the
        # charts grow with the wall clock: freeze them at the first point of each series.
        app.active.bridge.stop()
        await pilot.pause()
        last = app.last_update
        app.main.show_update(
            RunUpdated(
                last.run_id,
                last.state,
                events=last.events,
                rates=last.rates[:1],
                memory=last.memory[:1],
                log_total=last.log_total,
                log_recent=last.log_recent,
            )
        )
        await pilot.pause()

    assert snap_compare(make_app(stop_after=9), terminal_size=size, run_before=part_way)


def test_failed_run(snap_compare: Any) -> None:
    """A stage raising mid-run: FAILED, the message, the traceback in the log."""

    async def fail(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await wait_until(pilot, lambda: app.selected is not None)
        tree = app.main.query_one(CatalogTree)
        node = next(
            n for n in tree._tree_nodes.values() if n.data is not None and n.data.name == "failing"
        )
        tree.move_cursor(node)
        await pilot.pause()
        await run_to_end(pilot, records=1)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=fail)


def test_unavailable_selected(snap_compare: Any) -> None:
    """A pipeline that cannot run here is dimmed and says why when selected."""

    async def select(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await wait_until(pilot, lambda: app.selected is not None)
        await pilot.press("down")
        await wait_until(
            pilot, lambda: app.selected is not None and app.selected.name == "jsonl_tokens_torch"
        )
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=select)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_help(snap_compare: Any, size: tuple[int, int]) -> None:
    """At 80x24 the line under the text says how much is below."""

    async def open_help(pilot: Pilot[Any]) -> None:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen")
        await pilot.pause(0.2)

    assert snap_compare(make_app(), terminal_size=size, run_before=open_help)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_tuning_view(snap_compare: Any, size: tuple[int, int]) -> None:
    """t after the replayed run: items/s and peak private memory against batch size (16,
    64, 256 on a log2 axis), the best marked, the table of sizes."""

    async def tune(pilot: Pilot[Any]) -> None:
        await run_to_end(pilot)
        await pilot.press("t")
        await wait_until(
            pilot,
            lambda: (
                type(pilot.app.screen).__name__ == "TuningScreen"
                and pilot.app.screen.result is not None
            ),
        )
        await pilot.pause(0.2)

    assert snap_compare(make_app(), terminal_size=size, run_before=tune)


def test_import_error_selected(snap_compare: Any) -> None:
    """The module that failed to import: ✗ in the tree, its error in full (wrapped) and its
    fix in the run view, at 80 columns."""

    async def select_broken(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await wait_until(pilot, lambda: app.selected is not None)
        tree = app.main.query_one(CatalogTree)
        node = next(
            n
            for n in tree._tree_nodes.values()
            if n.data is not None and n.data.name == "broken.py"
        )
        tree.move_cursor(node)
        await wait_until(
            pilot, lambda: app.selected is not None and app.selected.name == "broken.py"
        )
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=select_broken)


def test_cancelled_while_loading(snap_compare: Any) -> None:
    """A run stopped while its module loaded: ■ cancelled, not a result, in the header and
    in the runs table."""

    def starter(target: str, options: RunOptions) -> ReplayHandle:
        return ReplayHandle(
            [
                Finished(STOPPED, "user", "stopped by the user (while the module loaded)"),
                Exited(0, stop_reason="user"),
            ]
        )

    app = PipebenchApp(Path("/data"), modules=catalog(), starter=starter, interval=0.01)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_to_end)


def test_params_dialog(snap_compare: Any) -> None:
    async def open_params(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await wait_until(pilot, lambda: app.selected is not None)
        await pilot.press("p")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=open_params)


def test_compare_two_runs(snap_compare: Any) -> None:
    """The two earlier runs marked (m) in the runs table and compared (C): every figure of
    A and B, the ratio and the verdict in words."""

    async def compare(pilot: Pilot[Any]) -> None:
        await run_to_end(pilot)
        pilot.app.main.query_one(RunsTable).focus()
        await pilot.press("down", "m", "down", "m", "C")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "CompareScreen")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=compare)
