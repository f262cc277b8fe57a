"""The pipebench workbench app: pick a pipeline, run it in a runner child, watch it live.

``run_app(root)`` is what ``pipebench [PATH]`` calls. The catalog, the run starter and the
bridge interval can be injected, so tests can feed the app a recorded run and a fixed
catalog without spawning anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from workbench.engine.catalog import ModuleInfo, discover
from workbench.engine.follow import INTERVAL_S
from workbench.engine.protocol import FINISHED
from workbench.engine.records import check_home, read_history, save_run
from workbench.engine.runner import GRACE_S, RunOptions
from workbench.engine.session import RunState, report, throughput
from workbench.errors import UserError
from workbench.text import printable
from workbench.ui import selection, tools
from workbench.ui.messages import CatalogLoaded, RunEnded, RunRecordsLoaded, RunUpdated
from workbench.ui.run_control import ActiveRun, Starter, default_starter, launch, same_file
from workbench.ui.screens.dialogs import BatchSizeDialog, ParamsDialog
from workbench.ui.screens.help import HelpScreen
from workbench.ui.screens.main import MainScreen
from workbench.ui.screens.sweep import SweepScreen
from workbench.ui.screens.tuning import TuningScreen
from workbench.ui.settings import PipelineSettings, param_value, scaled_batch
from workbench.ui.tools import TOOL_ACTIONS
from workbench.ui.widgets.catalog_tree import CatalogItem, CatalogTree
from workbench.ui.widgets.run_header import cancel_phase
from workbench.ui.widgets.runs_table import RunsTable
from workbench.ui.widgets.stage_table import StageTable
from workbench.units import format_rate

#: Actions that only make sense on the main screen (disabled while a dialog is open).
MAIN_ACTIONS = {"run", "stop", "batch", "batch_size", "params", "tuning", *TOOL_ACTIONS}
#: A restart queued by +, - or b waits until the keys have been still this long (seconds).
SETTLE_S = 0.25
#: A history of at least this many files shows how far it is read.
READING_SHOWN = 200
#: +, - and b share one place in the footer ("+-b Batch"); the help tells them apart.
BATCH = Binding.Group("Batch", compact=True)


class PipebenchApp(App[int]):
    """The workbench: the selection, the settings per pipeline, the run going and what
    waits for it to end (a queued run or a tool, ``workbench.ui.tools``)."""

    CSS_PATH = ["styles/app.tcss", "styles/dialogs.tcss"]
    TITLE = "pipebench"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "run", "Run", key_display="r/⏎"),
        Binding("s", "stop", "Stop", key_display="s/␣"),
        Binding("plus", "batch(2)", "Batch×2", key_display="+", group=BATCH),
        Binding("minus", "batch(0.5)", "Batch÷2", key_display="-", group=BATCH),
        Binding("b", "batch_size", "Batch size…", group=BATCH),
        Binding("p", "params", "Params"),
        Binding("w", "sweep", "Sweep"),
        Binding("t", "tuning", "Tuning"),
        Binding("k", "kernels", "Kernels"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        root: Path,
        *,
        modules: list[ModuleInfo] | None = None,
        starter: Starter | None = None,
        interval: float = INTERVAL_S,
        handle_signals: bool = False,
    ) -> None:
        super().__init__()
        self.root = root
        self.interval = interval
        self.settings: dict[str, PipelineSettings] = {}
        """Parameters and memory budget per pipeline target, for this session."""
        self.selected: CatalogItem | None = None
        self.active: ActiveRun | None = None
        """The run going (or ending); None when there is none."""
        self.shown_run_id: str | None = None
        """The run the run view shows (the selected pipeline's latest in this session)."""
        self.last_update: RunUpdated | None = None
        """The latest update of the shown run (tests read it)."""
        self.latest: dict[str, RunUpdated] = {}
        """The latest update of each pipeline's latest run in this session, by target: the
        run view shows it again when the pipeline is selected again."""
        self._modules = modules
        self._starter: Starter = starter or default_starter
        self._queued: CatalogItem | None = None
        """A pipeline to run once the run going has ended."""
        self._batch_key_at = 0.0
        """When +, - or b last set a batch size (monotonic seconds)."""
        self._then: Callable[[], object] | None = None
        """A tool to open once the run going has ended (it waits for the CPU)."""
        self._quitting = False
        self._hung_up = False
        """SIGHUP or SIGTERM came: the run is being stopped (another changes nothing)."""
        self._recorded: set[str] = set()
        """Run ids whose record is saved (a record is saved once)."""
        self._handle_signals = handle_signals
        self._warned_skipped: set[str] = set()
        self._asked: dict[str, tuple[str, str, dict[str, str]]] = {}
        """Per run id: the pipeline, module path and parameters it was started with (its
        record says them even when the module never loaded)."""
        self.main = MainScreen()
        """The one main screen (dialogs and help go on top of it)."""

    @property
    def queued(self) -> CatalogItem | None:
        """The pipeline that runs once the run going has ended, if any."""
        return self._queued

    def get_default_screen(self) -> Screen[None]:
        return self.main

    # ---- start-up -------------------------------------------------------------------
    def on_mount(self) -> None:
        if self._modules is not None:
            self.post_message(CatalogLoaded(self._modules))
        else:
            # After the first frame: the import child must not compete with drawing it.
            self.call_after_refresh(self.discover_catalog)
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig, reason in ((signal.SIGHUP, "sighup"), (signal.SIGTERM, "sigterm")):
                loop.add_signal_handler(sig, self.hang_up, reason)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="catalog",
        description="discovering the pipeline modules",
    )
    def discover_catalog(self) -> None:
        worker = get_current_worker()
        try:
            # Quitting while a module takes its time to import ends the discovery at once.
            modules = discover(self.root, cancelled=lambda: worker.is_cancelled)
        except UserError as exc:
            self.post_message(CatalogLoaded([], exc.message))
            return
        self.post_message(CatalogLoaded(modules))

    def on_catalog_loaded(self, msg: CatalogLoaded) -> None:
        if not self.main.is_mounted:  # discovery can beat the first frame
            self.call_after_refresh(self.on_catalog_loaded, msg)
            return
        self.main.show_catalog(msg.modules, msg.error)
        if msg.error:
            self.notify(msg.error, title="cannot list pipelines", severity="error")

    # ---- selection ------------------------------------------------------------------
    def on_catalog_tree_item_highlighted(self, msg: CatalogTree.ItemHighlighted) -> None:
        self.selected = msg.item
        self.refresh_bindings()  # w is for pipelines, k for kernel sets
        info = msg.item.pipeline
        self.main.show_selection(msg.item, self.settings.get(info.target) if info else None)
        self.follow_selection()
        if info is not None:
            self.load_records(info.name, msg.item.module_path)

    def follow_selection(self) -> None:
        """Show in the run view what the tree has selected (``ui.selection.follow``)."""
        selection.follow(self)

    def say_elsewhere(self) -> None:
        """Say in the header when the run going is of another item than the one shown."""
        selection.say_elsewhere(self)

    def on_catalog_tree_item_chosen(self, msg: CatalogTree.ItemChosen) -> None:
        if msg.item.kind == "pipeline":
            self.run_item(msg.item)
        elif msg.item.kind == "kernels":
            tools.open_kernels(self, msg.item)
        else:
            node = self.main.query_one(CatalogTree).cursor_node
            if node is not None:
                node.toggle()
            if msg.item.reason:
                selection.not_a_pipeline(self, msg.item)  # the import error and its fix

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="records",
        description="reading the run records",
    )
    def load_records(self, pipeline: str, module_path: str) -> None:
        def reading(done: int, total: int) -> None:
            if total >= READING_SHOWN:
                self.call_from_thread(self.main.show_reading, done, total)

        history = read_history(progress=reading)
        records = [
            r
            for _, r in history.runs
            if r.get("pipeline") == pipeline and same_file(r.get("path"), module_path)
        ]
        skipped = tuple(s.warning for s in history.skipped)
        self.post_message(RunRecordsLoaded(pipeline, module_path, records, skipped))

    def on_run_records_loaded(self, msg: RunRecordsLoaded) -> None:
        info = self.selected.pipeline if self.selected else None
        if (
            info is None
            or info.name != msg.pipeline
            or not same_file(msg.path, self.selected.module_path if self.selected else None)
        ):
            return  # the cursor has moved on
        count = len(msg.records)
        skipped = f", {len(msg.skipped)} unreadable files skipped" if msg.skipped else ""
        settings = self.settings.get(info.target, PipelineSettings())
        current = {name: str(param_value(info, settings, name)) for name, _, _ in info.params}
        self.main.show_records(
            f"runs of {msg.pipeline} ({count} recorded{skipped})", msg.records, current
        )
        new = [w for w in msg.skipped if w not in self._warned_skipped]
        if new:  # once per file and session, not on every move of the cursor
            self._warned_skipped.update(new)
            more = f"\n… and {len(new) - 3} more (pipebench history names them)"
            self.notify(
                "\n".join(new[:3]) + (more if len(new) > 3 else ""),
                title="run records skipped",
                severity="warning",
                markup=False,
            )

    def selected_pipeline(self) -> CatalogItem | None:
        """The pipeline selected in the tree, or None (with a notice saying why) when the
        selection is not a pipeline that can run here."""
        item = self.selected
        if item is not None and item.kind == "kernels":
            self.notify(f"{item.name} is a kernel set: k or Enter times it", severity="warning")
            return None
        if item is not None and item.kind == "module":
            selection.not_a_pipeline(self, item)
            return None
        if item is None or item.pipeline is None:
            self.notify("select a pipeline in the tree first", severity="warning")
            return None
        if item.reason:
            self.notify(f"{item.name} cannot run here: {item.reason}", severity="error")
            return None
        return item

    def _settings(self, item: CatalogItem) -> PipelineSettings:
        assert item.pipeline is not None
        return self.settings.get(item.pipeline.target, PipelineSettings())

    # ---- runs -----------------------------------------------------------------------
    def run_item(self, item: CatalogItem) -> None:
        """Run ``item`` now, or as soon as the run going has stopped."""
        if item.reason:
            self.notify(f"{item.name} cannot run here: {item.reason}", severity="error")
            return
        info = item.pipeline
        if info is None:
            return
        if self.active is None and self._queued is not None:
            self._queued = item  # a restart waits for the keys to settle: it takes this one
            return
        if self.active is not None:
            # Keys pressed while a run starts or stops (+ + +) coalesce: the run going is
            # asked to stop once (a second request would kill it), and the last queued run
            # starts when it has ended, with the settings of that moment.
            waiting = self._queued is not None
            self._queued, self._then = item, None
            if self.active.running and not self.active.bridge.follower.stopping:
                self.active.stop()
            if not waiting:
                self.notify(f"stopping {self.active.pipeline} first…", timeout=2)
            self.say_elsewhere()
            return
        settings = self._settings(item)
        # Warm: a restart with another batch size skips the module's import (engine.warm).
        options = RunOptions(
            params=dict(settings.params), memory_budget=settings.memory_budget, warm=True
        )
        try:
            # A home that others can write to is refused before a run; one that cannot keep
            # the record is said (the run goes ahead: its figures are still shown).
            home_problem = check_home()
            if home_problem:
                self.notify(home_problem, severity="warning")
            self.active = launch(
                self._starter,
                info.target,
                options,
                self.post_message,
                pipeline=info.name,
                module_path=item.module_path,
                interval=self.interval,
            )
        except (OSError, UserError) as exc:
            self.notify(f"could not start {info.name}: {exc}", severity="error")
            return
        params = " ".join(f"{k}={v}" for k, v in settings.params.items())
        self._asked[self.active.run_id] = (
            info.name,
            item.module_path,
            {name: str(param_value(info, settings, name)) for name, _, _ in info.params},
        )
        # Shown when its pipeline is the one selected (a queued run may start after the
        # cursor has moved on: the view keeps following the cursor).
        selected = self.selected.pipeline if self.selected is not None else None
        shown = self.selected is None or (selected is not None and selected.target == info.target)
        self.main.begin_run(self.active.run_id, f"{info.name} {params}".strip(), shown)
        if shown:
            self.shown_run_id = self.active.run_id
        self.say_elsewhere()

    def on_run_updated(self, msg: RunUpdated) -> None:
        self.latest[msg.state.target] = msg
        if msg.run_id != self.shown_run_id:
            return
        self.last_update = msg
        self.main.show_update(msg)

    def action_help_quit(self) -> None:
        """Ctrl+C does not quit (it copies in an input): say which key does, as text (our
        toasts are never markup, so Textual's own wording would show its tags)."""
        for key, active in self.active_bindings.items():
            if active.binding.action in ("quit", "app.quit"):
                self.notify(f"Press {key} to quit", title="Do you want to quit?")
                return

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every toast shows its text as text: user strings (an exception message, a stage
        or file name) are never read as markup or passed on as escape sequences."""
        super().notify(
            printable(message, newlines=True, limit=600),
            title=printable(title, limit=120),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def record_run(self, state: RunState) -> bool:
        """Save the run record of ``state`` once (not for bad input that never started);
        True if it was saved."""
        if state.run_id in self._recorded or (state.bad_input):
            return False
        self._recorded.add(state.run_id)
        rep = report(state, finished_at=time.time())
        asked = self._asked.pop(state.run_id, None)
        if state.hello is None and asked is not None:
            # Cancelled while its module loaded: no Hello, so the report has only the
            # target's parts; the runs table lists it (cancelled) with every parameter asked
            # for, defaults included, as a run's record has them.
            rep["pipeline"], rep["path"], rep["params"] = asked
        try:
            save_run(rep)
        except (OSError, UserError) as exc:
            why = exc.message if isinstance(exc, UserError) else f"{exc.strerror or exc}"
            if not why.startswith("the run record was not saved"):
                why = f"the run record was not saved: {why}"
            self.notify(why, severity="error")
            return False
        return True

    def on_run_ended(self, msg: RunEnded) -> None:
        active = self.active
        if active is None or active.run_id != msg.run_id:
            return
        self.active = None
        if active.running:
            active.shutdown()  # the bridge gave up on a run still going: end it
        active.bridge.join(1.0)
        state = msg.state
        failure = state.failure
        name = active.pipeline
        if failure is not None and state.bad_input:
            # Bad input (a parameter value, an import error): like the CLI, no record.
            self.notify(failure.message, title=f"{name} did not start", severity="error")
        else:
            self.record_run(state)
            if state.status == FINISHED:
                self.notify(f"{name} finished: {format_rate(throughput(state))} items/s")
            elif state.cancelled:
                # A stop before the first batch is a cancel, not a failure: no result.
                if self._queued is None:
                    self.notify(
                        f"{name} cancelled before its first batch ({cancel_phase(state)}): "
                        "recorded as cancelled, not as a result",
                        timeout=4,
                    )
            else:
                detail = f": {state.message}" if state.message else ""
                self.notify(
                    f"{name} {state.status}{detail}",
                    severity="warning" if state.status == "stopped" else "error",
                )
            if self.selected is not None and self.selected.pipeline is not None:
                self.load_records(self.selected.pipeline.name, self.selected.module_path)
        if self._quitting:
            self.exit(0)
        elif self._queued is not None:
            self.start_queued()
        else:
            self.run_waiting_tool()
        self.say_elsewhere()

    def start_queued(self) -> None:
        """Start the run queued behind the one that ended, once the batch keys have been
        still for ``SETTLE_S`` (+ + + is one restart at the last size, not three)."""
        wait = SETTLE_S - (time.monotonic() - self._batch_key_at)
        if wait > 0:
            self.set_timer(wait, self.start_queued)
            return
        item, self._queued = self._queued, None
        if item is not None and self.active is None and not self._quitting:
            self.run_item(item)

    # ---- tools (workbench.ui.tools) -------------------------------------------------
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

    def action_sweep(self) -> None:
        """Sweep the batch size of the selected pipeline (its other settings kept)."""
        tools.sweep(self)

    def action_kernels(self) -> None:
        """Time the selected kernel set."""
        tools.kernels(self)

    def action_tuning(self) -> None:
        """Items/s and peak memory of the selected pipeline against batch size."""
        tools.tuning(self)

    def on_tuning_screen_batch_size_applied(self, msg: TuningScreen.BatchSizeApplied) -> None:
        if isinstance(self.screen, TuningScreen):
            self.screen.dismiss(None)
        tools.use_batch_size(self, msg.target, msg.batch_size)

    def on_sweep_screen_batch_size_applied(self, msg: SweepScreen.BatchSizeApplied) -> None:
        tools.apply_batch_size(self, msg)

    def on_stage_table_profile_requested(self, msg: StageTable.ProfileRequested) -> None:
        tools.profile_stage(self, msg)

    def on_runs_table_compare_requested(self, msg: RunsTable.CompareRequested) -> None:
        tools.compare_runs(self, msg)

    # ---- actions ----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TOOL_ACTIONS and not tools.applies(self, action):
            return False  # w shows in the footer for a pipeline, k for a kernel set
        return action not in MAIN_ACTIONS or isinstance(self.screen, MainScreen)

    def action_run(self) -> None:
        if self.selected is not None and self.selected.kind == "kernels":
            tools.open_kernels(self, self.selected)
            return
        item = self.selected_pipeline()
        if item is not None:
            self.run_item(item)

    def action_stop(self) -> None:
        if self.active is None and self._queued is not None:
            self._queued = None  # a restart waiting for the keys to settle: not any more
            self.notify("restart cancelled")
            return
        if self.active is None or not self.active.running:
            self.notify("no run is going", severity="warning")
            return
        self._queued = None
        self.active.stop()
        self.notify(f"stopping {self.active.pipeline}…")

    def _set_batch(self, item: CatalogItem, size: int) -> None:
        assert item.pipeline is not None
        self.settings[item.pipeline.target] = self._settings(item).with_param(
            "batch_size", str(size)
        )
        self.main.show_selection(item, self._settings(item))
        self._batch_key_at = time.monotonic()
        self.run_item(item)

    def _current_batch(self, item: CatalogItem) -> int | None:
        info = item.pipeline
        assert info is not None
        if "batch_size" not in {name for name, _, _ in info.params}:
            self.notify(f"{info.name} has no batch_size parameter", severity="error")
            return None
        text = param_value(info, self._settings(item), "batch_size")
        try:
            return int(str(text))
        except ValueError:
            self.notify(f"batch_size is {text!r}: set a number with b", severity="error")
            return None

    def action_batch(self, factor: float) -> None:
        item = self.selected_pipeline()
        if item is None:
            return
        current = self._current_batch(item)
        if current is not None:
            self._set_batch(item, scaled_batch(current, factor))

    def action_batch_size(self) -> None:
        item = self.selected_pipeline()
        if item is None or self._current_batch(item) is None:
            return
        assert item.pipeline is not None
        current = param_value(item.pipeline, self._settings(item), "batch_size")

        def chosen(size: int | None) -> None:
            if size is not None:
                self._set_batch(item, size)

        self.push_screen(BatchSizeDialog(item.name, current), chosen)

    def action_params(self) -> None:
        item = self.selected_pipeline()
        if item is None:
            return
        info = item.pipeline
        assert info is not None

        def chosen(settings: PipelineSettings | None) -> None:
            if settings is not None:
                self.settings[info.target] = settings
                self.main.show_selection(item, settings)
                self.notify(f"parameters of {info.name} set: press r to run", timeout=3)

        self.push_screen(ParamsDialog(info, self._settings(item)), chosen)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Quit; a run going is stopped first (q again kills it)."""
        if self.active is None or not self.active.running:
            self.exit(0)
            return
        if self._quitting:
            self.active.stop()  # the second request kills it; its record is still saved
            self.set_timer(2.0, lambda: self.exit(0))
            return
        self._quitting = True
        self._queued = None
        self.active.stop()
        self.notify("stopping the run before quitting (q again to kill it)")
        self.set_timer(GRACE_S + 2.0, lambda: self.exit(0))

    def hang_up(self, reason: str = "sighup") -> None:
        """The terminal went away (SIGHUP) or we were asked to end (SIGTERM): stop the run,
        quit, and make sure of it even if the screen can no longer be written. A second
        signal changes nothing (`timeout` sends SIGTERM twice): it never kills the run."""
        if self._hung_up:
            return
        self._hung_up = True
        self._quitting = True
        self._queued = None
        if self.active is not None and self.active.running:
            self.active.stop(reason)
            self.set_timer(GRACE_S + 1.0, lambda: self.exit(0))
        else:
            self.exit(0)
        active = self.active

        def last_resort() -> None:
            if active is not None:
                active.shutdown(1.0)
            os._exit(129)

        timer = threading.Timer(GRACE_S + 5.0, last_resort)
        timer.daemon = True
        timer.start()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, MainScreen):
            yield SystemCommand("Run", "Run the selected pipeline", self.action_run)
            yield SystemCommand("Stop", "Stop the run going", self.action_stop)
            yield SystemCommand(
                "Double batch size", "Batch size ×2 and run again", lambda: self.action_batch(2)
            )
            yield SystemCommand(
                "Halve batch size", "Batch size ÷2 and run again", lambda: self.action_batch(0.5)
            )
            yield SystemCommand("Batch size…", "Type a batch size and run", self.action_batch_size)
            yield SystemCommand(
                "Tuning", "Items/s and memory against batch size (t)", self.action_tuning
            )
            yield SystemCommand(
                "Parameters…", "Edit parameters and memory budget", self.action_params
            )
            yield from tools.commands(self, screen)
            yield SystemCommand("Help", "Keys and what the figures mean", self.action_help)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one handler for worker errors: say what failed, keep going."""
        if event.state == WorkerState.ERROR:
            worker = event.worker
            self.notify(
                f"{worker.description or worker.name} failed: {worker.error}", severity="error"
            )

    # ---- shutting down ----------------------------------------------------------------
    def on_unmount(self) -> None:
        self.shutdown_runs()

    def shutdown_runs(self) -> None:
        """Leave no runner child behind: kill and wait for the run going, and keep its
        record (what was measured is never lost to a quit)."""
        active, self.active = self.active, None
        if active is not None:
            active.shutdown()
            self.record_run(active.bridge.state)


def run_app(root: Path) -> int:
    """Open the workbench on a folder or module; returns the exit code."""
    app = PipebenchApp(root, handle_signals=True)
    try:
        app.run()
    finally:
        app.shutdown_runs()
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
    # Textual's own exit code: 1 after an error it printed (never 0 after a traceback)
    return int(app.return_code or 0)
