"""The workbench's tools beyond a plain run: batch-size sweep, kernels, line profile and
the comparison of two recorded runs, as functions of the app they act on.

The app (``PipebenchApp``) holds the selection, the settings and the run going, and calls
these from its actions and message handlers. A tool that runs pipelines of its own never
competes with a run for the CPU: it waits, through ``PipebenchApp.when_idle``, for the run
going to stop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand
from textual.screen import Screen

from workbench.engine.compare import LETTERS
from workbench.engine.kernels.runner import KernelOptions
from workbench.engine.sweep.search import SweepSettings
from workbench.ui.screens.compare import CompareScreen
from workbench.ui.screens.kernels import KernelsScreen
from workbench.ui.screens.lines import LineProfileScreen
from workbench.ui.screens.sweep import SweepScreen
from workbench.ui.screens.tuning import TuningScreen
from workbench.ui.settings import PipelineSettings, param_value
from workbench.ui.widgets.catalog_tree import CatalogItem
from workbench.ui.widgets.runs_table import RunsTable
from workbench.ui.widgets.stage_table import StageTable

if TYPE_CHECKING:
    from workbench.ui.app import PipebenchApp

#: Actions of the tools that only make sense on the main screen.
TOOL_ACTIONS = {"sweep", "kernels", "tuning"}


# ---- sweep ----------------------------------------------------------------------------
def sweep(app: PipebenchApp) -> None:
    """Sweep the batch size of the selected pipeline (its other settings kept)."""
    item = app.selected_pipeline()
    if item is None or item.pipeline is None:
        return
    info = item.pipeline
    if "batch_size" not in {name for name, _, _ in info.params}:
        app.notify(f"{info.name} has no batch_size parameter to sweep", severity="error")
        return
    st = app.settings.get(info.target, PipelineSettings())
    params = {k: v for k, v in st.params.items() if k != "batch_size"}
    settings = SweepSettings(params=params, memory_budget=st.memory_budget)

    def closed(_result: object) -> None:
        # The sweep's runs are recorded: the runs table lists them at once.
        shown = app.selected
        if shown is not None and shown.pipeline is not None:
            app.load_records(shown.pipeline.name, shown.module_path)

    app.when_idle(
        "the sweep",
        lambda: app.push_screen(SweepScreen(info.target, settings, title=item.name), closed),
    )


def apply_batch_size(app: PipebenchApp, msg: SweepScreen.BatchSizeApplied) -> None:
    """Use the sweep's recommendation for that pipeline from now on."""
    if isinstance(app.screen, SweepScreen):
        app.screen.dismiss(None)
    use_batch_size(app, msg.target, msg.batch_size)


def use_batch_size(app: PipebenchApp, target: str, size: int) -> None:
    """Use ``size`` as the batch size of the pipeline ``target`` from now on."""
    app.settings[target] = app.settings.get(target, PipelineSettings()).with_param(
        "batch_size", str(size)
    )
    item = app.selected
    if item is not None and item.pipeline is not None and item.pipeline.target == target:
        app.main.show_selection(item, app.settings[target])
        app.load_records(item.pipeline.name, item.module_path)
        if app.shown_run_id is None:
            app.follow_selection()  # the header shows the parameters it will run with
    app.notify(f"batch_size={size} set: press r to run with it", timeout=4)


# ---- tuning ---------------------------------------------------------------------------
def tuning(app: PipebenchApp) -> None:
    """The tuning view of the selected pipeline: its runs at the other parameters set now
    (batch size apart), with its memory budget. Nothing is run, so no run is stopped."""
    item = app.selected_pipeline()
    if item is None or item.pipeline is None:
        return
    info = item.pipeline
    st = app.settings.get(info.target, PipelineSettings())
    params = {
        name: str(param_value(info, st, name)) for name, _, _ in info.params if name != "batch_size"
    }
    app.push_screen(
        TuningScreen(info.target, info.name, item.module_path, params, st.memory_budget)
    )


# ---- kernels --------------------------------------------------------------------------
def kernels(app: PipebenchApp) -> None:
    """Time the kernel set selected in the tree."""
    item = app.selected
    if item is None or item.kind != "kernels":
        app.notify("select a kernel set (◇) in the tree first", severity="warning")
        return
    open_kernels(app, item)


def open_kernels(app: PipebenchApp, item: CatalogItem) -> None:
    """Time the kernel set ``item`` in the kernels view."""
    kset = item.payload
    options = KernelOptions(kernel=kset.name, threads="1", processes=1)
    app.when_idle(
        f"timing {kset.name}",
        lambda: app.push_screen(KernelsScreen(kset.target, options, title=kset.name)),
    )


# ---- line profile ---------------------------------------------------------------------
def profile_stage(app: PipebenchApp, msg: StageTable.ProfileRequested) -> None:
    """Profile the stage selected in the stage table, line by line, in the run shown."""
    update = app.last_update
    if update is None:
        app.notify("run the pipeline first", severity="warning")
        return
    state = update.state
    target = state.target
    params = dict(app.settings.get(target, PipelineSettings()).params)
    name = state.hello.pipeline if state.hello else target
    app.when_idle(
        f"profiling {msg.stage}",
        lambda: app.push_screen(LineProfileScreen(target, params, msg.stage, title=name)),
    )


# ---- compare --------------------------------------------------------------------------
def compare_runs(app: PipebenchApp, msg: RunsTable.CompareRequested) -> None:
    """Show the runs marked in the runs table side by side, the first marked as the base."""
    names = ", ".join(
        f"{LETTERS[i]} = run {r.get('_number') or '?'}" for i, r in enumerate(msg.runs)
    )
    app.push_screen(CompareScreen(msg.runs, title=names))


def applies(app: PipebenchApp, action: str) -> bool:
    """Whether a tool's action fits the item selected (sweep: a pipeline; kernels: a
    kernel set)."""
    kind = app.selected.kind if app.selected else None
    return kind == {"sweep": "pipeline", "kernels": "kernels", "tuning": "pipeline"}.get(
        action, kind
    )


def commands(app: PipebenchApp, screen: Screen[Any]) -> Iterable[SystemCommand]:
    """The tools in the command palette."""
    yield SystemCommand("Sweep batch size", "Find the batch size to use (w)", app.action_sweep)
    yield SystemCommand("Time kernels", "Time the selected kernel set (k)", app.action_kernels)
