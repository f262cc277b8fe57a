"""Batch-size tuning in the real app (issue 17): rapid batch keys coalesce into one restart and
a stop during import is a cancel; the run view follows the tree's selection; an import error
shows in full with its fix; ← → switch the side tabs; help says when more is below; the
tuning view (t) draws the recorded runs; the runs table sorts by items/s (o) and keeps three
rows at 80x24 and 120x36; a factory's progress shows as a bar. Real runner children where
a run is involved, records written with ``engine.records`` where only records are."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App
from textual.widgets import ProgressBar, Static, TabbedContent

from tests.functional.conftest import (
    app_of,
    async_test,
    make_app,
    notifications,
    run_to_end,
    select,
    set_params,
    wait_until,
)
from workbench.engine import records
from workbench.engine.catalog import discover
from workbench.engine.protocol import Progress
from workbench.engine.records import load_runs
from workbench.engine.session import RunState
from workbench.engine.sweep.run import SweepResult
from workbench.engine.sweep.search import GROW, OK, SweepPoint, SweepSettings
from workbench.ui.screens.help import HelpScreen
from workbench.ui.screens.main import MainScreen
from workbench.ui.screens.sweep import SweepScreen
from workbench.ui.screens.tuning import TuningScreen
from workbench.ui.widgets.catalog_tree import CatalogTree
from workbench.ui.widgets.run_header import RunHeader
from workbench.ui.widgets.run_progress import RunProgress
from workbench.ui.widgets.runs_table import RunsTable
from workbench.ui.widgets.selection_info import SelectionInfo

MODULE = '''
"""Small pipelines for the tuning tests."""
import time

from workbench import kernels, pipeline, progress

print("importing slowly", flush=True)
time.sleep(1.5)  # long enough to press keys while it loads


def numbers(n, batch_size):
    for i in range(0, n, batch_size):
        yield list(range(i, min(n, i + batch_size)))


def double(batches):
    for b in batches:
        yield [2 * x for x in b]


@pipeline
def small(batch_size: int = 4, n: int = 400):
    """Numbers, doubled."""
    return numbers(n, batch_size), double


@pipeline
def preparing(batch_size: int = 4, parts: int = 8):
    """Its factory makes its data first, saying how far it is."""
    for i in range(parts):
        progress("making the data", i, parts, unit="parts")
        time.sleep(0.25)
    progress("making the data", parts, parts, unit="parts")
    return numbers(200, batch_size), double


@kernels(sizes=(8,), reference="python")
def twice(n):
    """Twice a list."""
    return (list(range(n)),)


@twice.impl("python")
def twice_python(a):
    return [2 * x for x in a]
'''

BROKEN = """
import not_a_module_anywhere_42  # noqa: F401
"""


def plain(renderable: Any, width: int = 200) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def header(app: Any) -> str:
    return plain(app.main.query_one(RunHeader).render(), 100)


def modules_with_broken(write_module: Any) -> tuple[Path, list[Any]]:
    path = write_module("tunemod", MODULE)
    write_module("broken", BROKEN)
    return path, discover(path.parent)


async def select_item(pilot: Any, name: str) -> None:
    """Put the tree's cursor on the item (module, pipeline or kernel set) called ``name``."""
    app = app_of(pilot)
    tree = app.main.query_one(CatalogTree)
    await wait_until(pilot, lambda: app.selected is not None, what="the catalog")
    for line in range(tree.last_line + 1):
        node = tree.get_node_at_line(line)
        if node is not None and node.data is not None and node.data.name == name:
            tree.cursor_line = line
            break
    else:
        raise AssertionError(f"no {name} in the tree")
    await wait_until(pilot, lambda: app.selected is not None and app.selected.name == name)


@async_test
async def test_batch_keys_during_import_coalesce_into_one_restart(write_module: Any) -> None:
    """+ pressed three times while the module imports: the run going is stopped once (a
    cancel "while the module loaded", never a crash), and one run starts at 4 × 8 = 32."""
    path, modules = modules_with_broken(write_module)
    app = make_app(path.parent, modules)
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "small")
        await pilot.press("r")
        # The module is importing once it printed its first line.
        await wait_until(
            pilot,
            lambda: (
                app.last_update is not None
                and any("importing slowly" in t for _, t in app.last_update.log_recent)
            ),
            what="the import to begin",
        )
        await pilot.press("plus", "plus", "plus")
        await wait_until(
            pilot,
            lambda: (
                app.active is None
                and app.last_update is not None
                and app.last_update.ended
                and app.last_update.state.hello is not None
                and app.last_update.state.hello.params["batch_size"] == 32
            ),
            timeout=60,
            what="the run at batch_size=32 to end",
        )
        runs = load_runs(pipeline="small")
        sizes = [r["params"]["batch_size"] if r["params"] else None for r in runs]
        assert sizes[-1] == 32 and runs[-1]["status"] == "finished", runs[-1]
        for r in runs[:-1]:  # every restart before it: cancelled while loading
            assert r["status"] == "stopped" and r["cancelled"], r
            assert "(while the module loaded)" in (r["message"] or "")
        assert len(runs) == 2  # three presses, one restart
        said = notifications(pilot)
        assert not any("crashed" in n or "KeyboardInterrupt" in n for n in said), said
        table = app.main.query_one(RunsTable)
        await wait_until(pilot, lambda: table.row_count == len(runs), what="the runs table")
        statuses = [
            str(table.get_row_at(i)[table.get_column_index("status")]) for i in range(len(runs))
        ]
        assert statuses[0] == "✓ finished" and all(s == "■ cancelled" for s in statuses[1:])


@async_test
async def test_a_stop_while_the_module_loads_is_a_cancel(write_module: Any) -> None:
    path, modules = modules_with_broken(write_module)
    app = make_app(path.parent, modules)
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "small")
        await pilot.press("r")
        await wait_until(
            pilot,
            lambda: (
                app.last_update is not None
                and any("importing slowly" in t for _, t in app.last_update.log_recent)
            ),
            what="the import to begin",
        )
        await pilot.press("s")
        await wait_until(pilot, lambda: app.active is None, timeout=30, what="the run to end")
        state = app.last_update.state
        assert state.cancelled and state.status == "stopped"
        assert "■ cancelled while the module loaded: not a result" in header(app)
        said = notifications(pilot)
        assert any("cancelled before its first batch (while the module loaded)" in n for n in said)
        [rec] = load_runs(pipeline="small")
        assert rec["cancelled"] is True


@async_test
async def test_the_run_view_follows_the_selection(write_module: Any) -> None:
    path, modules = modules_with_broken(write_module)
    app = make_app(path.parent, modules)
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, "small")
        await set_params(pilot, n="40")
        assert await run_to_end(pilot, timeout=60) == "finished"
        assert "✓ finished" in header(app)
        # A kernel set: the header says so, not the last pipeline's run.
        await select_item(pilot, "twice")
        shown = header(app)
        assert "◇ twice" in shown and "kernel set" in shown and "finished" not in shown
        assert app.shown_run_id is None
        assert "kernel set" in str(app.main.query_one(RunsTable).border_title)
        # Another pipeline, not run yet: its name and parameters, and that it has no run.
        await select_item(pilot, "preparing")
        assert "preparing" in header(app) and "not run in this session" in header(app)
        # Back to the first: its run again.
        await select_item(pilot, "small")
        assert "✓ finished" in header(app) and app.last_update is not None
        # The module that failed to import: ✗ in the tree, its error in full and the fix.
        await select_item(pilot, "broken.py")
        tree = app.main.query_one(CatalogTree)
        assert "✗" in tree.cursor_node.label.plain
        shown = header(app)
        assert "✗ broken.py failed to import" in shown
        assert "not_a_module_anywhere_42" in shown and "which is not installed here" in shown
        assert "fix: install not_a_module_anywhere_42" in shown
        assert "✗ failed to import" in plain(app.main.query_one(SelectionInfo).render())
        await pilot.press("r")
        said = notifications(pilot)
        assert any(
            "broken.py failed to import, so none of its pipelines can run" in n for n in said
        )
        assert not any("select a pipeline" in n for n in said)
        # A run going while another item is shown: the header says so.
        await select_item(pilot, "small")
        await set_params(pilot, n="100000000")
        await pilot.press("r")
        await wait_until(
            pilot,
            lambda: app.last_update is not None and app.last_update.state.status == "running",
            timeout=30,
            what="the long run to go",
        )
        await select_item(pilot, "twice")
        await wait_until(pilot, lambda: "● running: small (s stops it)" in header(app))
        await pilot.press("s")
        await wait_until(pilot, lambda: app.active is None, timeout=30, what="the stop")
        assert "running: small" not in header(app)


@async_test
async def test_left_and_right_switch_the_side_tabs_from_inside_a_panel(write_module: Any) -> None:
    path, modules = modules_with_broken(write_module)
    app = make_app(path.parent, modules)
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "small")
        tabs = app.main.query_one("#side-tabs", TabbedContent)
        app.main.query_one("#caches-table").focus()
        await pilot.pause()
        await pilot.press("right")
        assert tabs.active == "tab-gpu"
        await pilot.press("right")
        assert tabs.active == "tab-resources"
        await pilot.press("left", "left")
        assert tabs.active == "tab-caches"
        # Outside the tabs, ← → are the focused widget's (the tree's): the tab stays.
        app.main.query_one(CatalogTree).focus()
        await pilot.press("right")
        assert tabs.active == "tab-caches"


@async_test
async def test_help_at_80x24_says_more_is_below(write_module: Any) -> None:
    path, modules = modules_with_broken(write_module)
    app = make_app(path.parent, modules)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        hint = app.screen.query_one("#help-more", Static)
        await wait_until(pilot, lambda: "more lines below" in str(hint.render()), what="the hint")
        await pilot.press("end")
        await wait_until(pilot, lambda: "the end" in str(hint.render()), what="the end")
        text = str(app.screen.query_one("#help-text", Static).render())
        assert "✗ the module failed to import" in text and "⊘ the pipeline cannot run" in text


def write_runs(path: Path) -> None:
    """Runs of ``small`` at four sizes (64 the fastest), a cancelled one, one at n=5."""
    for i, (batch, rate, private, extra) in enumerate(
        [
            (8, 1000.0, 10, {}),
            (16, 1800.0, 12, {}),
            (64, 2600.0, 30, {}),
            (128, 2500.0, 80, {}),
            (256, 0.0, 20, {"status": "stopped", "cancelled": True, "items": 0}),
            (512, 9000.0, 20, {"params": {"batch_size": 512, "n": 5}}),
        ]
    ):
        rec: dict[str, Any] = {
            "run_id": f"rec{i}",
            "started_at": f"2026-01-0{i + 1}T10:00:00+00:00",
            "pipeline": "small",
            "path": str(path),
            "params": {"batch_size": batch, "n": 400},
            "status": "finished",
            "items": 400,
            "batches": 400 // batch,
            "items_per_s": rate,
            "batches_per_s": rate / batch,
            "duration_s": 1.0,
            "memory": {
                "private_peak_bytes": private * 2**20,
                "rss_peak_bytes": 2 * private * 2**20,
            },
        }
        rec.update(extra)
        records.save_run(rec)


@async_test
async def test_the_tuning_view_draws_the_recorded_sizes(write_module: Any) -> None:
    path, modules = modules_with_broken(write_module)
    write_runs(path)
    app = make_app(path.parent, modules)
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "small")
        await set_params(pilot, budget="50MiB")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, TuningScreen))
        screen = app.screen
        assert isinstance(screen, TuningScreen)
        await wait_until(pilot, lambda: screen.result is not None, what="the records")
        result = screen.result
        assert result is not None
        assert [p.batch_size for p in result.points] == [8, 16, 64, 128]
        assert result.best is not None and result.best.batch_size == 64
        assert result.over_budget == (128,) and result.cancelled == 1 and result.other_params == 1
        drawn = plain(screen.query_one("#tuning-plot", Static).content, 78)
        assert "budget 50.0 MiB" in drawn and "★" in drawn
        title = plain(screen.query_one("#tuning-title", Static).content)
        assert "best: batch_size 64" in title
        assert not screen.query_one(ProgressBar).display  # read: the bar is gone
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        info = app.selected.pipeline if app.selected else None
        assert info is not None and app.settings[info.target].params["batch_size"] == "64"


@async_test
async def test_the_runs_table_keeps_three_rows_and_sorts_by_items_per_s(
    write_module: Any,
) -> None:
    path, modules = modules_with_broken(write_module)
    write_runs(path)
    for size in ((80, 24), (120, 36)):
        app = make_app(path.parent, modules)
        async with app.run_test(size=size) as pilot:
            await select(pilot, "small")
            table = app.main.query_one(RunsTable)
            await wait_until(pilot, lambda t=table: t.row_count == 6, what="the records")
            await pilot.pause()
            assert table.size.height >= 4, size  # a header and three rows
            assert table.region.bottom <= app.main.query_one("#log").region.y, size
            head = app.main.query_one(RunHeader).region
            table.focus()  # Tab into the table never scrolls the run's header away
            await pilot.pause()
            assert app.main.query_one(RunHeader).region == head
            assert "· n=400" not in str(table.border_title)  # n differs: a column says it
            rate = table.get_column_index("items/s")
            first = [str(table.get_row_at(i)[rate]) for i in range(6)]
            assert first[0] == "9.00k"  # newest first; no ★: it ran at n=5, not n=400
            assert "★ 2.60k" in first
            await pilot.press("o")
            ordered = [str(table.get_row_at(i)[rate]) for i in range(6)]
            assert ordered[:2] == ["9.00k", "★ 2.60k"] and ordered[-1] == "–"  # cancelled last
            assert "fastest first (o)" in str(table.border_title)


@async_test
async def test_a_factory_that_prepares_data_shows_a_progress_bar(write_module: Any) -> None:
    path, modules = modules_with_broken(write_module)
    app = make_app(path.parent, modules)
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "preparing")
        await pilot.press("r")
        progress = app.main.query_one(RunProgress)
        bar = progress.query_one(ProgressBar)
        await wait_until(
            pilot,
            lambda: progress.has_class("-shown") and (bar.progress or 0) > 0,
            timeout=30,
            what="the progress bar",
        )
        assert bar.total == 8
        what = plain(progress.query_one("#run-progress-what", Static).render())
        assert "making the data: " in what and " of 8 parts" in what
        assert "prepares its data" in plain(app.main.query_one("#stages").render())
        await wait_until(pilot, lambda: app.active is None, timeout=60, what="the run to end")
        assert app.last_update is not None and app.last_update.state.status == "finished"
        assert not progress.has_class("-shown")


@async_test
async def test_the_sweep_screen_shows_how_far_it_is() -> None:
    """Runs done of those it runs at most, a bar, and what a run's factory prepares."""
    go = threading.Event()
    settings = SweepSettings(min_size=64, max_size=1024)  # at most 5 runs

    def runner(target: str, s: SweepSettings, **kw: Any) -> SweepResult:
        result = SweepResult("s1", target, s, time.time())
        first = SweepPoint(64, GROW, OK, "stopped", 1000.0, warmup_excluded=True)
        kw["on_start"](64, GROW)
        kw["on_point"](first)
        result.points.append(first)
        kw["on_start"](128, GROW)
        making = Progress("making the data", 2, 8, "parts")
        kw["on_state"](128, RunState("m.py:p", progress=making))
        go.wait(10)
        return result

    screen = SweepScreen("m.py:p", settings, runner=runner)

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)

    async with Host().run_test(size=(80, 24)) as pilot:
        line = screen.query_one("#sweep-progress-text", Static)
        await wait_until(
            pilot, lambda: "making the data" in plain(line.render()), what="the progress"
        )
        shown = plain(line.render())
        assert "1 of at most 15 runs done" in shown and "batch_size=128 running" in shown
        assert "making the data: 2 of 8 parts (25%)" in shown
        bar = screen.query_one("#sweep-progress-bar", ProgressBar)
        assert bar.total == 15 and bar.progress == 1
        go.set()
        await wait_until(pilot, lambda: screen.result is not None, what="the end")
        await pilot.pause()
        assert "the sweep is over" in plain(line.render())


@async_test
async def test_a_long_history_says_how_far_it_is_read() -> None:
    class Host(App[None]):
        def compose(self) -> Any:
            yield RunsTable(id="runs")

    async with Host().run_test(size=(80, 10)) as pilot:
        table = pilot.app.query_one(RunsTable)
        table.title = "runs of p (0 recorded)"
        table.show_reading(50, 400)
        assert "reading 50/400 files" in str(table.border_title)
        table.show_reading(400, 400)
        assert str(table.border_title) == "runs of p (0 recorded)"
