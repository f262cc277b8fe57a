"""What the highlighted tree item is: a pipeline's doc and parameters, or why it cannot run."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from workbench.ui.settings import PipelineSettings, param_value
from workbench.ui.widgets.catalog_tree import CatalogItem
from workbench.views.text import user_text


def describe(item: CatalogItem | None, settings: PipelineSettings | None) -> Text:
    """The text for ``item``: its doc and parameters, or why it cannot run here (names,
    docs, reasons and values are the user's: shown as text)."""
    if item is None:
        return Text("")
    text = Text()

    def line(value: object, style: str = "") -> None:
        text.append("\n")
        text.append_text(user_text(value, style, newlines=True))

    text.append_text(user_text(item.name, "bold"))
    if item.reason:
        line(f"⊘ {item.reason}", "bold")
        return text
    if item.kind == "kernels":
        k = item.payload
        if getattr(k, "doc", ""):
            line(k.doc, "italic")
        line(f"kernel set: {', '.join(getattr(k, 'impls', ()))}")
        text.append("\nEnter/k time it (table and log-log plot)", "dim")
        return text
    info = item.pipeline
    if info is None:
        count = len(getattr(item.payload, "pipelines", ()))
        kernels = len(getattr(item.payload, "kernels", ()))
        text.append(f"\n{count} pipeline(s)" + (f", {kernels} kernel set(s)" if kernels else ""))
        return text
    if info.doc:
        line(info.doc, "italic")
    settings = settings or PipelineSettings()
    for name, default, _ in info.params:
        value = param_value(info, settings, name)
        changed = name in settings.params and value != str(default)
        line(f"{name}={value}" + (" *" if changed else ""))
    if settings.memory_budget:
        from workbench.units import format_bytes

        text.append(f"\nbudget {format_bytes(settings.memory_budget)}")
    text.append("\nEnter/r run · p params", "dim")
    return text


class SelectionInfo(Static):
    """The highlighted item described, under the tree."""

    def show(self, item: CatalogItem | None, settings: PipelineSettings | None) -> None:
        self.update(describe(item, settings))
