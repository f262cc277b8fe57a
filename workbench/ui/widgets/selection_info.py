"""What the highlighted tree item is: a pipeline's doc and parameters, or why it cannot run."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from workbench.ui.settings import PipelineSettings, param_value
from workbench.ui.widgets.catalog_tree import CatalogItem


def describe(item: CatalogItem | None, settings: PipelineSettings | None) -> Text:
    """The text for ``item``: its doc and parameters, or why it cannot run here."""
    if item is None:
        return Text("")
    text = Text()
    text.append(item.name, "bold")
    if item.reason:
        text.append(f"\n⊘ {item.reason}", "bold")
        return text
    if item.kind == "kernels":
        k = item.payload
        if getattr(k, "doc", ""):
            text.append(f"\n{k.doc}", "italic")
        text.append(f"\nkernel set: {', '.join(getattr(k, 'impls', ()))}")
        text.append("\nEnter/k time it (table and log-log plot)", "dim")
        return text
    info = item.pipeline
    if info is None:
        count = len(getattr(item.payload, "pipelines", ()))
        kernels = len(getattr(item.payload, "kernels", ()))
        text.append(f"\n{count} pipeline(s)" + (f", {kernels} kernel set(s)" if kernels else ""))
        return text
    if info.doc:
        text.append(f"\n{info.doc}", "italic")
    settings = settings or PipelineSettings()
    for name, default, _ in info.params:
        value = param_value(info, settings, name)
        changed = name in settings.params and value != str(default)
        text.append(f"\n{name}={value}" + (" *" if changed else ""))
    if settings.memory_budget:
        from workbench.units import format_bytes

        text.append(f"\nbudget {format_bytes(settings.memory_budget)}")
    text.append("\nEnter/r run · p params", "dim")
    return text


class SelectionInfo(Static):
    """The highlighted item described, under the tree."""

    def show(self, item: CatalogItem | None, settings: PipelineSettings | None) -> None:
        self.update(describe(item, settings))
