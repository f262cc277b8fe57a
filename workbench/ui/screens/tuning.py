"""The tuning view (``t``): items/s and peak private memory of one pipeline against batch size,
from its run records and saved sweeps (``views.tuning``), the best size marked, the memory
budget drawn; ``a`` uses the best size from then on.

The records are read in a thread worker (a long history shows a progress bar while it is
read); nothing is run here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.console import Group
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static

from workbench.engine.records import read_history, read_sweeps
from workbench.errors import UserError
from workbench.ui.run_control import same_file
from workbench.views.text import user_text
from workbench.views.tuning import Tuning, tuning, tuning_title, tuning_view


def recorded_budget(records: list[dict[str, Any]]) -> int | None:
    """The private-memory budget of the newest record that ran with one, or None."""
    for rec in reversed(records):
        options = rec.get("options")
        if not isinstance(options, dict):
            continue
        budget = options.get("memory_budget_bytes")
        on = options.get("budget_on") or "private"
        if isinstance(budget, int) and budget > 0 and on == "private":
            return budget
    return None


class TuningScreen(Screen[None]):
    """One pipeline's measured batch sizes, as curves and a table."""

    CSS_PATH = "../styles/tuning.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "apply", "Use best size"),
        Binding("escape,q,t", "close", "Close"),
    ]

    @dataclass
    class Loaded(Message):
        """The records and sweeps were read (``error``: why they could not be)."""

        records: list[dict[str, Any]]
        sweeps: list[dict[str, Any]]
        error: str | None = None

    @dataclass
    class Reading(Message):
        """``done`` of ``total`` files read so far; a pending one is replaced."""

        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TuningScreen.Reading)

    @dataclass
    class BatchSizeApplied(Message):
        """``a``: use ``batch_size`` for ``target`` from now on."""

        target: str
        batch_size: int

    def __init__(
        self,
        target: str,
        name: str,
        module_path: str,
        params: dict[str, str],
        budget: int | None,
    ) -> None:
        super().__init__()
        self.target = target
        self.pipeline_name = name
        self.module_path = module_path
        self.params = params
        """The other parameters the runs must have had (batch_size left out)."""
        self.budget = budget
        """The session's memory budget for the pipeline (None: the recorded one, if any)."""
        self.result: Tuning | None = None

    def compose(self) -> ComposeResult:
        yield Static(user_text(f"tuning {self.pipeline_name}", "bold"), id="tuning-title")
        yield ProgressBar(id="tuning-progress", show_eta=False)
        with VerticalScroll(id="tuning-body"):
            yield Static("reading the run records…", id="tuning-plot")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#tuning-plot").border_title = "batch size"
        self.read_records()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="tuning",
        description="reading the run records and sweeps",
    )
    def read_records(self) -> None:
        def reading(done: int, total: int) -> None:
            self.post_message(self.Reading(done, total))

        try:
            history = read_history(progress=reading)
            sweeps = read_sweeps(progress=reading)
        except UserError as exc:
            self.post_message(self.Loaded([], [], exc.message))
            return
        name, path = self.pipeline_name, self.module_path
        records = [
            r
            for _, r in history.runs
            if r.get("pipeline") == name and same_file(r.get("path"), path)
        ]
        mine = [s for s in sweeps if s.get("pipeline") == name and same_file(s.get("path"), path)]
        self.post_message(self.Loaded(records, mine))

    def on_tuning_screen_reading(self, msg: Reading) -> None:
        msg.stop()
        self.query_one(ProgressBar).update(total=max(1, msg.total), progress=msg.done)

    def on_tuning_screen_loaded(self, msg: Loaded) -> None:
        msg.stop()
        self.query_one(ProgressBar).display = False
        if msg.error:
            self.query_one("#tuning-plot", Static).update(user_text(f"✗ {msg.error}"))
            return
        budget = self.budget or recorded_budget(msg.records)
        self.result = tuning(msg.records, msg.sweeps, params=self.params, budget=budget)
        self.draw()

    def on_resize(self, event: events.Resize) -> None:
        self.draw()

    def draw(self) -> None:
        t = self.result
        if t is None or not self.is_mounted:
            return
        body = self.query_one("#tuning-body")
        width = max(20, body.size.width - 3)
        height = max(10, body.size.height)
        self.query_one("#tuning-title", Static).update(
            tuning_title(self.pipeline_name, self.params, t)
        )
        view: Group = tuning_view(t, width=width, height=height)
        self.query_one("#tuning-plot", Static).update(view)

    def action_apply(self) -> None:
        best = self.result.best if self.result else None
        if best is None:
            self.notify("no size measured yet", severity="warning")
            return
        self.post_message(self.BatchSizeApplied(self.target, best.batch_size))

    def action_close(self) -> None:
        self.dismiss(None)
