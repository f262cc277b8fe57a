"""The tools wired into the real app, driven by Pilot with real runner children: the side
tabs (caches, GPU, resources), line profile (``l``), kernels (``k``), sweep (``w``) and
the comparison of two recorded runs (``m``, ``C``)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.widgets import DataTable, Static, TabbedContent, Tree

from tests.functional.conftest import (
    EXAMPLES,
    app_of,
    async_test,
    make_app,
    run_to_end,
    select,
    set_params,
    wait_until,
)
from workbench.engine.catalog import ModuleInfo, discover
from workbench.engine.sweep.search import OK, SweepPoint
from workbench.ui.screens.compare import CompareScreen
from workbench.ui.screens.kernels import KernelsScreen
from workbench.ui.screens.lines import LineProfileScreen
from workbench.ui.screens.main import MainScreen
from workbench.ui.screens.sweep import SweepScreen
from workbench.ui.widgets.caches_panel import CachesPanel
from workbench.ui.widgets.gpu_panel import GpuPanel
from workbench.ui.widgets.line_profile_panel import LineProfilePanel
from workbench.ui.widgets.resources_panel import ResourcesPanel
from workbench.ui.widgets.runs_table import RunsTable
from workbench.ui.widgets.selection_info import SelectionInfo
from workbench.ui.widgets.stage_table import StageTable

HOT = '''
"""A pipeline with one hot line, one with a parallel stage, and a tiny kernel set."""
import time

import numpy as np

from workbench import kernels, pipeline, stage


def numbers(n):
    for i in range(n):
        yield i


def cool(items):
    for x in items:
        yield x + 1


def hot(items):
    for x in items:
        a = x + 1
        b = sum(i * i for i in range(3000))  # HOT
        yield a + b


@pipeline
def chain(batch_size: int = 1, n: int = 150):
    """numbers, then cool, then hot."""
    return numbers(n), cool, hot


def nap(x):
    time.sleep(0.001)
    return x


@pipeline
def fanned(n: int = 300):
    """numbers fanned out over two workers."""
    return numbers(n), stage(nap, workers=2)


@kernels(sizes=(64, 512), reference="numpy")
def double(n):
    """Twice a vector."""
    return (np.arange(n, dtype=np.float64),)


@double.impl("python")
def double_python(a):
    return [2.0 * x for x in a.tolist()]


@double.impl("numpy")
def double_numpy(a):
    return a * 2.0
'''


def text(widget: Any) -> str:
    return str(widget.render())


def plain(renderable: Any, width: int = 100) -> str:
    """A Rich renderable as plain text."""
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def hot_module(write_module: Any) -> tuple[Path, list[ModuleInfo]]:
    path = write_module("hotmod", HOT)
    return path, discover(path.parent)


@async_test
async def test_side_tabs_show_caches_gpu_and_resources(example_modules: list[ModuleInfo]) -> None:
    """cached_features (small): its three caches in the caches tab, ``c`` asks to clear;
    the GPU tab says why there is no GPU figure; training_resources fills the resources
    tab with its contexts."""
    async with make_app(EXAMPLES, example_modules).run_test(size=(120, 40)) as pilot:
        app = app_of(pilot)
        await select(pilot, "cached_features")
        await set_params(pilot, shards="2", docs_per_shard="5", epochs="2")
        assert await run_to_end(pilot) == "finished"
        panel = app.main.query_one(CachesPanel)
        await wait_until(
            pilot, lambda: panel.query_one(DataTable).row_count == 3, what="three caches"
        )
        names = {
            str(row[0]) for row in (panel.query_one(DataTable).get_row_at(i) for i in range(3))
        }
        assert names == {"load_shard", "tokenize_text", "text_features"}
        assert "3 cache(s)" in text(panel.query_one(".caches-status", Static))
        # c from anywhere on the main screen shows the caches tab and asks first.
        app.main.query_one(TabbedContent).active = "tab-gpu"
        await pilot.press("c")
        await wait_until(
            pilot, lambda: type(app.screen).__name__ == "ConfirmClear", what="the confirmation"
        )
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert app.main.query_one(TabbedContent).active == "tab-caches"

        gpu = text(app.main.query_one(GpuPanel).query_one("#gpu-figures", Static))
        assert "NVML" in gpu and gpu != "no run yet", gpu
        assert not app.main.query_one(TabbedContent).get_tab("tab-parallel").display

        await select(pilot, "training_resources")
        await set_params(pilot, rows="256", epochs="1")
        assert await run_to_end(pilot, timeout=60) == "finished"
        resources = app.main.query_one(ResourcesPanel)
        labels = [str(node.label) for node in resources.query_one(Tree).root.children]
        assert labels and "contexts" in text(resources.query_one("#resources-summary", Static))
        assert any("ok" in label or "committed" in label for label in labels), labels
        # The new run reset the caches tab: training_resources has none.
        assert panel.query_one(DataTable).row_count == 0


@async_test
async def test_parallel_tab_only_for_runs_with_parallel_stages(
    write_module: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("PIPEBENCH_BACKEND", "threading")  # no worker processes to start
    path, modules = hot_module(write_module)
    async with make_app(path.parent, modules).run_test(size=(120, 40)) as pilot:
        app = app_of(pilot)
        tabs = app.main.query_one(TabbedContent)
        assert not tabs.get_tab("tab-parallel").display
        await select(pilot, "fanned")
        assert await run_to_end(pilot) == "finished"
        assert tabs.get_tab("tab-parallel").display
        shown = plain(app.main.query_one("#parallel", Static).content, 60)
        assert "nap · 2 workers" in shown and "items/s" in shown and "efficiency" in shown
        assert "thread 1" in shown and "tasks · busy" in shown  # per worker
        await select(pilot, "chain")
        assert await run_to_end(pilot) == "finished"
        assert not tabs.get_tab("tab-parallel").display


@async_test
async def test_l_on_a_stage_profiles_it_line_by_line(write_module: Any) -> None:
    path, modules = hot_module(write_module)
    async with make_app(path.parent, modules).run_test(size=(120, 36)) as pilot:
        app = app_of(pilot)
        await select(pilot, "chain")
        assert await run_to_end(pilot) == "finished"
        table = app.main.query_one(StageTable)
        table.focus()
        await pilot.press("down", "down", "up", "down")
        assert table.selected_stage == "hot"
        assert "▸hot" in text(table).replace(" ", "")
        await pilot.press("l")
        await wait_until(
            pilot, lambda: isinstance(app.screen, LineProfileScreen), what="the line profile screen"
        )
        screen = app.screen
        assert isinstance(screen, LineProfileScreen)
        panel = screen.query_one(LineProfilePanel)
        await wait_until(
            pilot, lambda: panel.lines_profile is not None, timeout=30, what="the line profile"
        )
        lines = panel.query_one(DataTable)
        hot_line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "# HOT" in t)
        rows = [[str(c) for c in lines.get_row_at(i)] for i in range(lines.row_count)]
        hottest = next(r for r in rows if r[4] == "#1")
        assert hottest[0] == str(hot_line) and "sum(i * i" in hottest[5]
        # The same two-run plan as `pipebench lines`: the same run unprofiled follows.
        await wait_until(
            pilot, lambda: panel.cost is not None, timeout=30, what="the cost of looking"
        )
        assert panel.cost is not None and panel.cost.profiled_items == 150
        assert panel.cost.baseline_items == 150
        state = screen.states["lines"]
        assert state.profiled is not None and state.profiled.options["stages"] == ["hot"]
        assert state.baseline is not None and state.baseline.status == "finished"
        await wait_until(pilot, lambda: not screen.running, what="the job to end")
        await pilot.press("o")  # says the cost of looking measured: no run starts
        assert not screen.running
        await pilot.press("f")  # no function profile yet: the screen runs cProfile
        await wait_until(
            pilot,
            lambda: panel.functions_profile is not None,
            timeout=30,
            what="the function profile",
        )
        assert panel.view == "functions"
        functions = [str(c) for c in lines.get_column("function")]
        assert any("hot" in f or "genexpr" in f for f in functions[:5]), functions
        await wait_until(pilot, lambda: not screen.running, what="the cProfile job to end")
        assert screen.states["functions"].baseline is not None  # its own cost of looking
        assert panel.cost is not None and panel.cost is not panel.costs["lines"]
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))


@async_test
async def test_k_on_a_kernel_set_fills_rows_and_the_plot(write_module: Any) -> None:
    path, modules = hot_module(write_module)
    async with make_app(path.parent, modules).run_test(size=(100, 36)) as pilot:
        app = app_of(pilot)
        await select(pilot, "double")
        await pilot.press("k")
        await wait_until(
            pilot, lambda: isinstance(app.screen, KernelsScreen), what="the kernels screen"
        )
        screen = app.screen
        assert isinstance(screen, KernelsScreen)
        await wait_until(pilot, lambda: screen.ended, timeout=60, what="the kernels run")
        assert screen.state.status == "finished", screen.state.message
        table = screen.query_one("#kernels-table", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert {(r[0], r[1].split()[0]) for r in rows} == {
            ("64", "python"),
            ("64", "numpy"),
            ("512", "python"),
            ("512", "numpy"),
        }
        assert all(r[2] == "✓" for r in rows), rows
        labels = [str(c.label) for c in table.columns.values()]
        assert all(r[labels.index("thr")] == "1" for r in rows), (labels, rows)
        plot = text(screen.query_one("#kernels-plot"))
        legend = plot.splitlines()[-1]  # one symbol per implementation, named
        assert set(legend.split("  ")) == {"● numpy", "■ python"}, plot
        assert plot.count("●") >= 3 and plot.count("■") >= 3 and "┤" in plot, plot
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))


@async_test
async def test_w_opens_the_sweep_and_applying_sets_the_batch_size(write_module: Any) -> None:
    path, modules = hot_module(write_module)
    async with make_app(path.parent, modules).run_test(size=(100, 30)) as pilot:
        app = app_of(pilot)
        await select(pilot, "chain")
        await set_params(pilot, n="100000")  # each size runs its full measuring time
        await pilot.press("w")
        await wait_until(
            pilot, lambda: isinstance(app.screen, SweepScreen), what="the sweep screen"
        )
        screen = app.screen
        assert isinstance(screen, SweepScreen)
        assert screen.settings.params == {"n": "100000"}
        await wait_until(pilot, lambda: screen.running is not None, what="a first size")
        # The sweep's answer applied (posted as its "a" key does): the app takes it.
        point = SweepPoint(48, "grow", OK, "stopped", 1000.0)
        screen.post_message(SweepScreen.BatchSizeApplied(screen.target, 48, point))
        await wait_until(
            pilot, lambda: isinstance(app.screen, MainScreen), what="the sweep to close"
        )
        assert app.settings[screen.target].params["batch_size"] == "48"
        assert "batch_size=48" in text(app.main.query_one(SelectionInfo))
        table = app.main.query_one(RunsTable)  # reloaded: the sweep's runs are records
        await wait_until(pilot, lambda: "runs of chain" in str(table.border_title))


@async_test
async def test_mark_two_runs_and_compare(write_module: Any) -> None:
    path, modules = hot_module(write_module)
    async with make_app(path.parent, modules).run_test(size=(100, 36)) as pilot:
        app = app_of(pilot)
        await select(pilot, "chain")
        await set_params(pilot, n="40")
        assert await run_to_end(pilot) == "finished"
        await set_params(pilot, n="80")
        assert await run_to_end(pilot) == "finished"
        table = app.main.query_one(RunsTable)
        await wait_until(pilot, lambda: table.row_count == 2, what="two records")
        table.focus()
        await pilot.press("C")  # nothing marked yet: a hint, no screen
        assert isinstance(app.screen, MainScreen)
        await pilot.press("m", "down", "m")
        assert [str(table.get_row_at(i)[0]) for i in range(2)] == ["2 A", "1 B"]
        await pilot.press("C")
        await wait_until(
            pilot, lambda: isinstance(app.screen, CompareScreen), what="the comparison"
        )
        shown = plain(app.screen.query_one("#compare-text", Static).content)
        assert "×" in shown and "items/s" in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
