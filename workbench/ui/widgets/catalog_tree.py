"""The tree of modules and what they offer (pipelines now, kernel sets later).

Each node carries a ``CatalogItem``; an item of a kind the app does not know yet is still
shown, so new kinds (kernel sets) need only a new item factory and a handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from workbench.engine.catalog import ModuleInfo, PipelineInfo
from workbench.views.catalog import CANNOT_RUN, IMPORT_FAILED
from workbench.views.text import user_text


@dataclass(frozen=True)
class CatalogItem:
    """One node of the tree: a module, a pipeline, or (later) a kernel set."""

    kind: str  # "module", "pipeline", "kernels"
    name: str
    module_path: str
    reason: str | None = None  # why it cannot run here; None when it can
    payload: Any = None  # the PipelineInfo / ModuleInfo behind it

    @property
    def available(self) -> bool:
        return self.reason is None

    @property
    def pipeline(self) -> PipelineInfo | None:
        return self.payload if isinstance(self.payload, PipelineInfo) else None


def module_item(m: ModuleInfo) -> CatalogItem:
    reason = f"cannot load: {m.error}" if m.error else None
    return CatalogItem("module", Path(m.path).name, m.path, reason, m)


def pipeline_item(m: ModuleInfo, p: PipelineInfo) -> CatalogItem:
    return CatalogItem("pipeline", p.name, m.path, p.reason, p)


def kernels_item(m: ModuleInfo, k: Any) -> CatalogItem:
    """A kernel set (``KernelSetInfo``): listed here, run by the kernels view."""
    return CatalogItem("kernels", k.name, m.path, None, k)


def item_label(item: CatalogItem) -> Text:
    """The label: dimmed and marked when it cannot run here (✗ the module failed to import,
    ⊘ the pipeline cannot run here); kernel sets are marked ◇."""
    if item.kind == "module":
        if item.reason:
            label = user_text(item.name, "dim strike")
            label.append(f" {IMPORT_FAILED}", "bold red")
            return label
        return user_text(item.name, "bold")
    if item.reason:
        return user_text(f"{item.name} {CANNOT_RUN}", "dim")
    if item.kind == "kernels":
        return user_text(f"◇ {item.name}", "italic")
    return user_text(item.name)


class CatalogTree(Tree[CatalogItem]):
    """Modules with their pipelines; Enter on a pipeline asks to run it."""

    @dataclass
    class ItemHighlighted(Message):
        """The cursor moved onto an item."""

        item: CatalogItem

    @dataclass
    class ItemChosen(Message):
        """Enter (or a click) on an item."""

        item: CatalogItem

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("pipelines", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.auto_expand = False

    def show_loading(self, text: str) -> None:
        self.clear()
        self.root.add_leaf(user_text(text, "dim italic"))

    def show_modules(self, modules: list[ModuleInfo]) -> None:
        """Replace the tree's content with ``modules`` and put the cursor on the first
        pipeline that can run here."""
        self.clear()
        first: TreeNode[CatalogItem] | None = None
        for m in modules:
            mod = module_item(m)
            node = self.root.add(item_label(mod), data=mod, expand=True)
            kernel_sets = getattr(m, "kernels", ())
            if not m.pipelines and not kernel_sets and not m.error:
                node.add_leaf(Text("no pipelines", style="dim italic"))
            for p in m.pipelines:
                item = pipeline_item(m, p)
                leaf = node.add_leaf(item_label(item), data=item)
                if first is None and item.available:
                    first = leaf
            for k in kernel_sets:
                kitem = kernels_item(m, k)
                node.add_leaf(item_label(kitem), data=kitem)
        if first is not None:
            # Lines are laid out on the next refresh; move the cursor once they are.
            self.call_after_refresh(self.move_cursor, first)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[CatalogItem]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(self.ItemHighlighted(event.node.data))

    def on_tree_node_selected(self, event: Tree.NodeSelected[CatalogItem]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(self.ItemChosen(event.node.data))

    @property
    def current(self) -> CatalogItem | None:
        node = self.cursor_node
        return node.data if node is not None else None
