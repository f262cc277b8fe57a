"""What the highlighted tree item is: a pipeline's doc and parameters, or why it cannot run;
and ``subject``, the same for the run view when the item has no run to show."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from workbench.ui.settings import PipelineSettings, param_value
from workbench.ui.widgets.catalog_tree import CatalogItem
from workbench.units import format_bytes
from workbench.views.catalog import CANNOT_RUN, IMPORT_FAILED, import_error_text
from workbench.views.text import user_text


def describe(item: CatalogItem | None, settings: PipelineSettings | None) -> Text:
    """The text for ``item``: its doc and parameters, or why it cannot run here (names,
    docs, reasons and values are the user's: shown as text)."""
    if item is None:
        return Text("")
    text = Text()
    text.append_text(user_text(item.name, "bold"))
    if item.reason:
        if item.kind == "module":
            # The error in full, with its fix, is in the run view (this column is narrow).
            text.append(f"\n{IMPORT_FAILED} failed to import: ", "bold")
            text.append_text(user_text(module_error(item)))
        else:
            text.append(f"\n{CANNOT_RUN} cannot run here: ", "bold")
            text.append_text(user_text(item.reason))
        return text
    if item.kind == "kernels":
        k = item.payload
        if getattr(k, "doc", ""):
            text.append("\n")
            text.append_text(user_text(" ".join(str(k.doc).split()), "italic"))
        text.append("\n")
        text.append_text(user_text(f"kernel set: {', '.join(getattr(k, 'impls', ()))}"))
        text.append("\nEnter/k time it (table and log-log plot)", "dim")
        return text
    info = item.pipeline
    if info is None:
        count = len(getattr(item.payload, "pipelines", ()))
        kernels = len(getattr(item.payload, "kernels", ()))
        text.append(f"\n{count} pipeline(s)" + (f", {kernels} kernel set(s)" if kernels else ""))
        return text
    if info.doc:
        text.append("\n")
        text.append_text(user_text(" ".join(info.doc.split()), "italic"))
    settings = settings or PipelineSettings()
    for name, default, _ in info.params:
        value = param_value(info, settings, name)
        changed = name in settings.params and value != str(default)
        text.append("\n")
        text.append_text(user_text(f"{name}={value}" + (" *" if changed else "")))
    if settings.memory_budget:
        text.append(f"\nbudget {format_bytes(settings.memory_budget)}")
    text.append("\nEnter/r run · p params", "dim")
    return text


def module_error(item: CatalogItem) -> str:
    """The import error of a module item (its ``ModuleInfo.error``)."""
    error = getattr(item.payload, "error", None)
    return str(error or item.reason or "")


def subject(item: CatalogItem | None, settings: PipelineSettings | None) -> Text | None:
    """The run view's header for an item that has no run to show: what it is and what can
    be done with it; a module that failed to import shows its error in full and its fix."""
    if item is None:
        return None
    if item.kind == "module" and item.reason:
        return import_error_text(item.name, module_error(item))
    text = Text()
    if item.kind == "kernels":
        text.append("◇ ", "italic")
        text.append_text(user_text(item.name, "bold"))
        impls = ", ".join(getattr(item.payload, "impls", ()))
        text.append_text(user_text(f"  kernel set: {impls}", "dim"))
        text.append("\nk or Enter times it (table and log-log plot)", "dim")
        return text
    info = item.pipeline
    if info is None:
        text.append_text(user_text(item.name, "bold"))
        count = len(getattr(item.payload, "pipelines", ()))
        text.append(f"  module: {count} pipeline(s)", "dim")
        return text
    text.append_text(user_text(info.name, "bold"))
    values = " ".join(
        f"{name}={param_value(info, settings or PipelineSettings(), name)}"
        for name, _, _ in info.params
    )
    if values:
        text.append_text(user_text(f"  {values}"))
    if item.reason:
        text.append(f"\n{CANNOT_RUN} cannot run here: ", "bold")
        text.append_text(user_text(item.reason))
    else:
        text.append("\nnot run in this session", "dim")
    return text


class SelectionInfo(Static):
    """The highlighted item described, under the tree."""

    def show(self, item: CatalogItem | None, settings: PipelineSettings | None) -> None:
        self.update(describe(item, settings))
