"""Two recorded runs side by side: every figure of A and B, the ratio B / A and a verdict.

The same ``render_compare.compare_view`` that ``pipebench compare`` prints, in a modal
screen that scrolls; Escape closes it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.views.compare import compare_view


class CompareScreen(ModalScreen[None]):
    """Run A against run B (records as ``records.load_runs`` gives them)."""

    CSS_PATH = "../styles/tools.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,C", "close", "Close"),
    ]

    def __init__(self, a: dict[str, Any], b: dict[str, Any], title: str = "compare runs"):
        super().__init__()
        self.a = a
        self.b = b
        self._title = title

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="compare-box"):
            yield Static(compare_view(self.a, self.b), id="compare-text")

    def on_mount(self) -> None:
        box = self.query_one("#compare-box")
        box.border_title = self._title
        box.border_subtitle = "↑↓ scroll · Esc closes"
        box.focus()

    def action_close(self) -> None:
        self.dismiss(None)
