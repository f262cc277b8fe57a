"""The main screen: pipelines on the left, the run in the middle, memory beside it, log below.

The side column (``#side``, beside the throughput chart, under the stage table) is a plain
container: the caches, GPU and resources panels of later issues mount into it after the
memory panel. The same layout serves 80x24 and wide terminals; only sizes change.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer

from workbench.engine.catalog import ModuleInfo
from workbench.ui.messages import RunUpdated
from workbench.ui.settings import PipelineSettings
from workbench.ui.widgets.catalog_tree import CatalogItem, CatalogTree
from workbench.ui.widgets.memory_panel import MemoryPanel
from workbench.ui.widgets.run_header import RunHeader
from workbench.ui.widgets.run_log import RunLog
from workbench.ui.widgets.runs_table import RunsTable
from workbench.ui.widgets.selection_info import SelectionInfo
from workbench.ui.widgets.stage_table import StageTable
from workbench.ui.widgets.throughput_panel import ThroughputPanel

#: Below this many columns everything is laid out tighter.
NARROW = 120


class MainScreen(Screen[None]):
    """Pick a pipeline, run it, watch it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Space stops a run wherever the focus is (the tree would toggle a node with it).
        Binding("space", "app.stop", "Stop", show=False, priority=True),
    ]

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield CatalogTree(id="catalog")
                yield SelectionInfo(id="selection")
            with VerticalScroll(id="work"):
                yield RunHeader(id="run-header")
                yield StageTable(id="stages")
                with Horizontal(id="panels"):
                    yield ThroughputPanel(id="throughput")
                    with Vertical(id="side"):
                        yield MemoryPanel(id="memory")
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

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "narrow")

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

    def show_records(self, title: str, records: list[dict[str, Any]]) -> None:
        table = self.query_one(RunsTable)
        table.border_title = title
        table.show_records(records)

    def begin_run(self, run_id: str, title: str) -> None:
        self.query_one(RunLog).begin(run_id, title)

    def show_update(self, msg: RunUpdated) -> None:
        """Apply one coalesced update to every panel, in one repaint."""
        with self.app.batch_update():
            self.query_one(RunHeader).state = msg.state
            self.query_one(StageTable).state = msg.state
            self.query_one(ThroughputPanel).show(msg.rates)
            self.query_one(MemoryPanel).show(msg.state, msg.rss)
            self.query_one(RunLog).show(msg.run_id, msg.log_total, msg.log_recent)
