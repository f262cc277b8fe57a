"""The main screen: pipelines on the left, the run in the middle, its runs below, log at the
bottom.

The run column (``#work``) keeps the run's header at its top and the selected pipeline's
runs table at its bottom (at least three rows, at every size); between them the stage table,
throughput and memory side by side, and one tab each for the run's caches, GPU memory,
resource contexts and (when the run has any) parallel stages scroll. A long preparation
before the first batch shows as a progress bar over the stage table. The same layout serves
80x24 and wide terminals; only sizes change (``narrow`` below 120 columns, ``short`` below
40 lines: smaller charts).
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane, Tabs

from workbench.engine.catalog import ModuleInfo
from workbench.engine.sections.parallel import ParallelSection
from workbench.engine.sections.snapshot import SnapshotSections
from workbench.ui.messages import RunUpdated
from workbench.ui.settings import PipelineSettings
from workbench.ui.widgets.caches_panel import CachesPanel
from workbench.ui.widgets.catalog_tree import CatalogItem, CatalogTree
from workbench.ui.widgets.gpu_panel import GpuPanel
from workbench.ui.widgets.memory_panel import MemoryPanel
from workbench.ui.widgets.parallel_panel import ParallelPanel, has_stages
from workbench.ui.widgets.resources_panel import ResourcesPanel
from workbench.ui.widgets.run_header import RunHeader
from workbench.ui.widgets.run_log import RunLog
from workbench.ui.widgets.run_progress import RunProgress
from workbench.ui.widgets.runs_table import RunsTable
from workbench.ui.widgets.selection_info import SelectionInfo, subject
from workbench.ui.widgets.stage_table import StageTable
from workbench.ui.widgets.throughput_panel import ThroughputPanel

#: Below this many columns everything is laid out tighter.
NARROW = 120
#: Below this many lines the charts are shorter (the runs table keeps its rows).
SHORT = 40


class MainScreen(Screen[None]):
    """Pick a pipeline, run it, watch it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Space stops a run wherever the focus is (the tree would toggle a node with it).
        Binding("space", "app.stop", "Stop", show=False, priority=True),
        # Shown in the footer by the caches table itself (its status line says so too).
        Binding("c", "clear_cache", "Clear cache", show=False),
        # ← → switch the side tabs wherever the focus is in them (a table there would
        # scroll sideways instead); elsewhere they do what the focused widget does.
        Binding("left", "switch_tab(-1)", "Previous tab", show=False, priority=True),
        Binding("right", "switch_tab(1)", "Next tab", show=False, priority=True),
    ]

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield CatalogTree(id="catalog")
                yield SelectionInfo(id="selection")
            with Vertical(id="work"):
                yield RunHeader(id="run-header")
                with VerticalScroll(id="run-body"):
                    yield RunProgress(id="run-progress")
                    yield StageTable(id="stages")
                    with Horizontal(id="panels"):
                        yield ThroughputPanel(id="throughput")
                        yield MemoryPanel(id="memory")
                    with TabbedContent(id="side-tabs"):
                        with TabPane("Caches", id="tab-caches"):
                            yield CachesPanel(id="caches")
                        with TabPane("GPU", id="tab-gpu"):
                            yield GpuPanel(id="gpu")
                        with TabPane("Resources", id="tab-resources"):
                            yield ResourcesPanel(id="resources")
                        with TabPane("Parallel", id="tab-parallel"):
                            yield ParallelPanel(id="parallel")
                yield RunsTable(id="runs")
        yield RunLog(id="log")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#left").border_title = "pipelines"
        self.query_one("#stages").border_title = "stages"
        self.query_one("#runs").border_title = "runs (from records)"
        self.query_one("#log").border_title = "log"
        self.query_one(CatalogTree).show_loading("discovering pipelines…")
        self.query_one(CatalogTree).focus()
        self.query_one("#side-tabs", TabbedContent).hide_tab("tab-parallel")

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW
        self.set_class(narrow, "narrow")
        self.set_class(event.size.height < SHORT, "short")
        # ctrl+p still opens the palette: its place in the footer goes to the keys.
        self.query_one(Footer).show_command_palette = not narrow

    # ---- what the app shows ---------------------------------------------------------
    def show_catalog(self, modules: list[ModuleInfo], error: str | None) -> None:
        tree = self.query_one(CatalogTree)
        if error:
            tree.show_loading(f"✗ {error}")
        elif not modules:
            tree.show_loading("no pipeline modules (*.py) here")
        else:
            tree.show_modules(modules)

    def show_selection(self, item: CatalogItem | None, settings: PipelineSettings | None) -> None:
        self.query_one(SelectionInfo).show(item, settings)

    def show_subject(self, item: CatalogItem | None, settings: PipelineSettings | None) -> None:
        """The selection has no run to show: the run view says what it is instead (a
        pipeline not run yet, a kernel set, a module, an import error in full)."""
        with self.app.batch_update():
            header = self.query_one(RunHeader)
            header.state = None
            header.subject = subject(item, settings)
            self.query_one(RunProgress).show(None)
            stages = self.query_one(StageTable)
            stages.state = None
            stages.idle_note = _idle_note(item)
            self.query_one(ThroughputPanel).clear()
            self.query_one(MemoryPanel).clear()
            self.query_one(CachesPanel).update_section(None)
            self.query_one(GpuPanel).reset()
            self.query_one(ResourcesPanel).reset()
            self._show_parallel(None)
        if item is None or item.kind != "pipeline":
            self.show_records(_no_runs_title(item), [])
        self.refresh_bindings()

    def show_elsewhere(self, text: str | None) -> None:
        """Say (or stop saying) in the header that a run goes for another item."""
        self.query_one(RunHeader).elsewhere = text

    def show_records(
        self, title: str, records: list[dict[str, Any]], params: dict[str, str] | None = None
    ) -> None:
        """List ``records`` in the runs table; ★ goes to the fastest finished run with the
        other ``params`` (batch size apart) the pipeline is set to now."""
        found = self.query(RunsTable)
        if not found:
            return  # records read while the app was closing: nothing to show them in
        table = found.first()
        table.title = title
        table.show_records(records, params)

    def show_reading(self, done: int, total: int) -> None:
        """How far the run records are read (a long history takes a while)."""
        found = self.query(RunsTable)
        if found:
            found.first().show_reading(done, total)

    def begin_run(self, run_id: str, title: str, shown: bool = True) -> None:
        """A run starts: its part of the log begins; when it is ``shown`` (its pipeline is
        the one selected), the side tabs forget the last run's figures."""
        self.query_one(RunLog).begin(run_id, title)
        if shown:
            self.reset_panels()
        self.refresh_bindings()

    def reset_panels(self) -> None:
        """Forget what the side tabs show of another run."""
        self.query_one(CachesPanel).update_section(None)
        self.query_one(GpuPanel).reset()
        self.query_one(ResourcesPanel).reset()
        self._show_parallel(None)

    def show_update(self, msg: RunUpdated) -> None:
        """Apply one coalesced update to every panel, in one repaint."""
        with self.app.batch_update():
            header = self.query_one(RunHeader)
            header.subject = None
            header.state = msg.state
            self.query_one(RunProgress).show(msg.state)
            self.query_one(StageTable).state = msg.state
            self.query_one(ThroughputPanel).show(msg.state, msg.rates)
            self.query_one(MemoryPanel).show(msg.state, msg.memory)
            self.query_one(RunLog).show(msg.run_id, msg.log_total, msg.log_recent)
            snap = msg.state.snapshot
            sections = snap.sections if snap is not None else SnapshotSections()
            caches = self.query_one(CachesPanel)
            had_caches = caches.selected_name() is not None
            why = sections.why_unavailable
            caches.update_section(sections.caches, why("caches"))
            self.query_one(GpuPanel).update_section(sections.gpu, why("gpu"))
            self.query_one(ResourcesPanel).update_section(sections.contexts, why("contexts"))
            self._show_parallel(sections.parallel)
        if had_caches != (caches.selected_name() is not None):
            self.refresh_bindings()  # "c Clear cache" comes and goes with the caches

    def _show_parallel(self, data: ParallelSection | None) -> None:
        """The parallel tab is there only while the run has parallel stages."""
        self.query_one(ParallelPanel).update_section(data)
        tabs = self.query_one("#side-tabs", TabbedContent)
        tab = tabs.get_tab("tab-parallel")
        if has_stages(data) != tab.display:
            if has_stages(data):
                tabs.show_tab("tab-parallel")
            else:
                tabs.hide_tab("tab-parallel")

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.has_focus_within:  # chosen by the user: bring it into view
            self.query_one("#run-body").scroll_to_widget(event.tabbed_content, animate=False)

    # ---- side tabs ----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_cache":
            return self.query_one(CachesPanel).selected_name() is not None
        if action == "switch_tab":
            return self.query_one("#side-tabs", TabbedContent).has_focus_within
        return True

    def action_switch_tab(self, step: int) -> None:
        """The previous (-1) or next (1) side tab; the focus goes to the tab row, so that
        it never stays on a panel being hidden."""
        tabs = self.query_one("#side-tabs", TabbedContent).query_one(Tabs)
        tabs.focus()
        if step < 0:
            tabs.action_previous_tab()
        else:
            tabs.action_next_tab()

    # ---- caches -----------------------------------------------------------------------
    def action_clear_cache(self) -> None:
        """Clear the cache selected in the caches tab (it is shown first), after a yes."""
        self.query_one("#side-tabs", TabbedContent).active = "tab-caches"
        self.query_one(CachesPanel).action_clear_cache()

    def on_caches_panel_clear_finished(self, msg: CachesPanel.ClearFinished) -> None:
        self.notify(
            msg.message, title=f"cache {msg.name}", severity="information" if msg.ok else "warning"
        )


def _idle_note(item: CatalogItem | None) -> str:
    """What the stage table says when the selection has no run to show."""
    if item is None:
        return "No run yet: pick a pipeline on the left and press Enter or r."
    if item.kind == "pipeline":
        if item.reason:
            return "This pipeline cannot run here (see above)."
        return "r runs it; t shows its recorded runs against batch size."
    if item.kind == "kernels":
        return "A kernel set is timed in its own view: press k or Enter."
    if item.reason:
        return "None of its pipelines can be listed or run until it imports."
    return "A module: select one of its pipelines below it in the tree."


def _no_runs_title(item: CatalogItem | None) -> str:
    if item is not None and item.kind == "kernels":
        return "runs: a kernel set keeps none (k times it)"
    return "runs: select a pipeline"
