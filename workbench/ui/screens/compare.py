"""Recorded runs side by side: every figure of each, its ratio to run A and a verdict,
with a warning where the compare is unfair (different pipelines, a partial or short run).

The same ``views.compare.compare_view`` that ``pipebench compare`` prints, in a modal
screen that scrolls; Escape closes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.views.compare import compare_view


class CompareScreen(ModalScreen[None]):
    """Runs B, C, ... against run A (records as ``records.load_runs`` gives them)."""

    CSS_PATH = "../styles/tools.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,C", "close", "Close"),
    ]

    def __init__(self, runs: Sequence[dict[str, Any]], title: str = "compare runs"):
        super().__init__()
        self.runs = list(runs)
        """The runs compared, the base (A) first."""
        self._title = title

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="compare-box"):
            yield Static(compare_view(self.runs), id="compare-text")

    def on_mount(self) -> None:
        box = self.query_one("#compare-box")
        box.border_title = self._title
        box.border_subtitle = "↑↓ scroll · Esc closes"
        box.focus()

    def action_close(self) -> None:
        self.dismiss(None)
