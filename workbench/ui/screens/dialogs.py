"""Small modal dialogs: type a batch size; edit a pipeline's parameters and memory budget.

A bad value is refused with a one-line notification naming the problem and the fix; the
dialog stays open so it can be corrected, and Escape leaves it unchanged.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from workbench.engine.catalog import PipelineInfo
from workbench.errors import UserError
from workbench.ui.settings import (
    PipelineSettings,
    check_param,
    param_value,
    parse_batch_size,
    parse_budget,
)
from workbench.units import format_bytes
from workbench.views.text import user_text


class BatchSizeDialog(ModalScreen[int | None]):
    """Type a batch size; Enter runs with it."""

    AUTO_FOCUS = "Input"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, pipeline: str, current: str | None) -> None:
        super().__init__(classes="dialog")
        self.pipeline = pipeline
        self.current = current or ""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box"):
            yield Label(user_text(f"Batch size for {self.pipeline} (Enter runs, Esc cancels)"))
            yield Input(self.current, placeholder="e.g. 64", id="batch-size", compact=True)

    def on_mount(self) -> None:
        self.query_one("#dialog-box").border_title = "batch size"
        # Explicitly: auto focus is skipped while the terminal reports it has no focus.
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            value = parse_batch_size(event.value)
        except UserError as exc:
            self.notify(exc.message, title="bad batch size", severity="error")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ParamsDialog(ModalScreen[PipelineSettings | None]):
    """Edit every parameter of a pipeline and its memory budget."""

    AUTO_FOCUS = "Input"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, info: PipelineInfo, settings: PipelineSettings) -> None:
        super().__init__(classes="dialog")
        self.info = info
        self.settings = settings

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box"):
            yield Label(user_text(f"Parameters of {self.info.name} (Enter saves, Esc cancels)"))
            with VerticalScroll(id="param-list"):
                for name, default, kind in self.info.params:
                    with Horizontal(classes="param-row"):
                        yield Label(user_text(f"{name} ({kind})"), classes="param-name")
                        yield Input(
                            param_value(self.info, self.settings, name) or "",
                            placeholder=str(default),
                            id=f"param-{name}",
                            compact=True,
                        )
                with Horizontal(classes="param-row"):
                    yield Label("memory budget", classes="param-name")
                    budget = self.settings.memory_budget
                    yield Input(
                        format_bytes(budget).replace(" ", "") if budget else "",
                        placeholder="none, or e.g. 2GiB",
                        id="memory-budget",
                        compact=True,
                    )
            with Horizontal(id="dialog-buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#dialog-box").border_title = "parameters"
        self.query_one(Input).focus()

    def collect(self) -> PipelineSettings:
        """The settings typed, checked; raises UserError on the first bad value."""
        params: dict[str, str] = {}
        for name, default, _ in self.info.params:
            text = self.query_one(f"#param-{name}", Input).value
            if not text.strip():
                continue  # empty: the default
            value = check_param(self.info, name, text)
            if value != str(default):
                params[name] = value
        budget = parse_budget(self.query_one("#memory-budget", Input).value)
        return PipelineSettings(params=params, memory_budget=budget)

    def _save(self) -> None:
        try:
            settings = self.collect()
        except UserError as exc:
            self.notify(exc.message, title="bad parameter", severity="error")
            return
        self.dismiss(settings)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
