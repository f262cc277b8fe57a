"""Snapshots of the main screen fed by recorded runs: deterministic, no process spawned.

Nothing on screen comes from the wall clock (elapsed time is the run's own, from its
snapshots), no cursor blinks on the main screen, and the catalog is fixed.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from tests.snapshots.conftest import make_app, wait_until
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


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_finished_run(snap_compare: Any, size: tuple[int, int]) -> None:
    """jsonl_tokens replayed to the end: stage table, bottleneck, charts, runs, log."""
    assert snap_compare(make_app(), terminal_size=size, run_before=run_to_end)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_running(snap_compare: Any, size: tuple[int, int]) -> None:
    """The same run part way: state running, the numbers so far."""

    async def part_way(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await wait_until(pilot, lambda: app.selected is not None)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.last_update is not None and app.last_update.events == 9)
        await wait_until(pilot, lambda: app.main.query_one(RunsTable).row_count == 2)
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


def test_help(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), press=["question_mark"])


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
