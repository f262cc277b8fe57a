"""The workbench's tools beyond a plain run: batch-size sweep, kernels, line profile and
the comparison of two recorded runs, as the app's actions and message handlers.

``ToolsApp`` is the base of ``PipebenchApp`` (which holds the selection, the settings and
the run going). A tool that runs pipelines of its own never competes with a run for the
CPU: the run going is stopped first and the tool opens once it has ended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.screen import Screen

from workbench.engine.kernels.runner import KernelOptions
from workbench.engine.sweep.search import SweepSettings
from workbench.ui.screens.compare import CompareScreen
from workbench.ui.screens.kernels import KernelsScreen
from workbench.ui.screens.lines import LineProfileScreen
from workbench.ui.screens.sweep import SweepScreen
from workbench.ui.settings import PipelineSettings
from workbench.ui.widgets.catalog_tree import CatalogItem
from workbench.ui.widgets.runs_table import RunsTable
from workbench.ui.widgets.stage_table import StageTable

if TYPE_CHECKING:
    from workbench.ui.messages import RunUpdated
    from workbench.ui.run_control import ActiveRun
    from workbench.ui.screens.main import MainScreen

#: Actions of the tools that only make sense on the main screen.
TOOL_ACTIONS = {"sweep", "kernels"}


class ToolsApp(App[int]):
    """Sweep (``w``), kernels (``k``/Enter on a kernel set), line profile (``l`` on a
    stage) and compare (``m`` and ``C`` in the runs table)."""

    if TYPE_CHECKING:  # provided by PipebenchApp
        selected: CatalogItem | None
        active: ActiveRun | None
        settings: dict[str, PipelineSettings]
        main: MainScreen
        last_update: RunUpdated | None
        _queued: CatalogItem | None

        def _selected_pipeline(self) -> CatalogItem | None: ...

        def load_records(self, pipeline: str, module_path: str) -> object: ...

    _then: Callable[[], object] | None = None
    """What to do once the run going has ended (a tool waiting for the CPU)."""

    def when_idle(self, what: str, then: Callable[[], object]) -> None:
        """Do ``then`` now, or stop the run going and do it once that run has ended."""
        active = self.active
        if active is None:
            then()
            return
        self._queued = None
        self._then = then
        if active.running:
            active.stop()
        self.notify(f"stopping {active.pipeline} first, then {what}…")

    def run_waiting_tool(self) -> None:
        """Called when a run has ended: open the tool that waited for it, if any."""
        then, self._then = self._then, None
        if then is not None:
            then()

    # ---- sweep --------------------------------------------------------------------------
    def action_sweep(self) -> None:
        """Sweep the batch size of the selected pipeline (its other settings kept)."""
        item = self._selected_pipeline()
        if item is None or item.pipeline is None:
            return
        info = item.pipeline
        if "batch_size" not in {name for name, _, _ in info.params}:
            self.notify(f"{info.name} has no batch_size parameter to sweep", severity="error")
            return
        st = self.settings.get(info.target, PipelineSettings())
        params = {k: v for k, v in st.params.items() if k != "batch_size"}
        settings = SweepSettings(params=params, memory_budget=st.memory_budget)
        self.when_idle(
            "the sweep",
            lambda: self.push_screen(SweepScreen(info.target, settings, title=item.name)),
        )

    def on_sweep_screen_batch_size_applied(self, msg: SweepScreen.BatchSizeApplied) -> None:
        """Use the sweep's recommendation for that pipeline from now on."""
        self.settings[msg.target] = self.settings.get(msg.target, PipelineSettings()).with_param(
            "batch_size", str(msg.batch_size)
        )
        if isinstance(self.screen, SweepScreen):
            self.screen.dismiss(None)
        item = self.selected
        if item is not None and item.pipeline is not None and item.pipeline.target == msg.target:
            self.main.show_selection(item, self.settings[msg.target])
            self.load_records(item.pipeline.name, item.module_path)
        self.notify(f"batch_size={msg.batch_size} set: press r to run with it", timeout=4)

    # ---- kernels ------------------------------------------------------------------------
    def action_kernels(self) -> None:
        item = self.selected
        if item is None or item.kind != "kernels":
            self.notify("select a kernel set (◇) in the tree first", severity="warning")
            return
        self.open_kernels(item)

    def open_kernels(self, item: CatalogItem) -> None:
        """Time the kernel set ``item`` in the kernels view."""
        kset = item.payload
        options = KernelOptions(kernel=kset.name, threads="1", processes=1)
        self.when_idle(
            f"timing {kset.name}",
            lambda: self.push_screen(KernelsScreen(kset.target, options, title=kset.name)),
        )

    # ---- line profile -------------------------------------------------------------------
    def on_stage_table_profile_requested(self, msg: StageTable.ProfileRequested) -> None:
        """Profile the stage selected in the stage table, line by line, in the run shown."""
        update = self.last_update
        if update is None:
            self.notify("run the pipeline first", severity="warning")
            return
        state = update.state
        target = state.target
        params = dict(self.settings.get(target, PipelineSettings()).params)
        name = state.hello.pipeline if state.hello else target
        self.when_idle(
            f"profiling {msg.stage}",
            lambda: self.push_screen(LineProfileScreen(target, params, msg.stage, title=name)),
        )

    # ---- compare ------------------------------------------------------------------------
    def on_runs_table_compare_requested(self, msg: RunsTable.CompareRequested) -> None:
        table = self.main.query_one(RunsTable)
        number = {run_id: n for n, run_id in enumerate(table.records, start=1)}
        a, b = (number.get(str(r.get("run_id")), "?") for r in (msg.a, msg.b))
        self.push_screen(CompareScreen(msg.a, msg.b, title=f"A = run {a}, B = run {b}"))

    def tool_applies(self, action: str) -> bool:
        """Whether a tool's action fits the item selected (sweep: a pipeline; kernels: a
        kernel set)."""
        kind = self.selected.kind if self.selected else None
        return kind == {"sweep": "pipeline", "kernels": "kernels"}.get(action, kind)

    def tool_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The tools in the command palette."""
        yield SystemCommand("Sweep batch size", "Find the batch size to use (w)", self.action_sweep)
        yield SystemCommand("Time kernels", "Time the selected kernel set (k)", self.action_kernels)
