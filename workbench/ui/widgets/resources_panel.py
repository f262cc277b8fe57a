"""The run's resource contexts as a tree: what each ``with`` block held, how long, how it ended.

Fed with the "contexts" section of each snapshot (``update_section``). Nodes are kept by
record id and updated in place, so the cursor and folding survive live updates; closed
leaves of one name under one parent (a ``@timed`` function called per batch) share a node.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from workbench.authoring.recording import failed_outcome
from workbench.engine.sections.resources import ContextRow, ContextsSection
from workbench.ui.widgets.shown import show
from workbench.units import format_bytes, format_seconds
from workbench.views.resources import contexts_count
from workbench.views.text import user_text

#: Nodes shown at most; the report keeps what the panel leaves out.
MAX_NODES = 400

GOOD = {"ok", "committed"}
#: Closed leaves that share one node: (parent id, kind, name).
GroupKey = tuple[int | None, str, str]


def outcome_style(outcome: str) -> str:
    if outcome in GOOD:
        return "green"
    if outcome == "open":
        return "cyan"
    return "red" if outcome[:1].isupper() else "yellow"


def label_for(
    r: ContextRow, now_s: float | None, count: int = 1, total_s: float | None = None
) -> Text:
    """One node's label: name, duration (running time while open), outcome, RSS change."""
    name = r.name if count == 1 else f"{r.name} ×{count}"
    text = user_text(name)
    if total_s is not None:
        duration = format_seconds(total_s)
    elif r.duration_s is not None:
        duration = format_seconds(r.duration_s)
    elif now_s is not None:
        duration = format_seconds(max(0.0, now_s - r.start_s)) + "…"
    else:
        duration = "…"
    text.append(f" {duration} ", style="dim")
    outcome = r.outcome or "?"
    if outcome == "rolled back" and r.exception:
        cause = {"GeneratorExit": "closed", "StopRun": "stopped"}.get(r.exception, r.exception)
        outcome = f"rolled back ({cause})"
    text.append_text(user_text(outcome, outcome_style(r.outcome or "?")))
    if r.exits > 1:
        text.append(f" ×{r.exits} exits", style="bold red")
    rss = r.rss_delta_bytes
    if rss:
        text.append(f" RSS {'+' if rss > 0 else ''}{format_bytes(rss)}", style="dim")
    gpu = r.gpu_delta_bytes
    if gpu:
        text.append(f" GPU {'+' if gpu > 0 else ''}{format_bytes(gpu)}", style="dim")
    return text


class ResourcesPanel(Vertical):
    """Resource contexts of the run, nested as they were entered."""

    DEFAULT_CSS = """
    ResourcesPanel { height: auto; border-top: solid $primary-muted; padding: 0 1; }
    ResourcesPanel > Tree { height: auto; max-height: 12; padding: 0; }
    ResourcesPanel > .note { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._node_of: dict[int, TreeNode[int]] = {}  # record id -> its node
        self._record_of: dict[int, ContextRow] = {}
        self._group_of: dict[GroupKey, tuple[TreeNode[int], list[ContextRow]]] = {}
        self._not_shown = 0

    def compose(self) -> ComposeResult:
        yield Static("no run yet", id="resources-summary", classes="note")
        tree: Tree[int] = Tree("contexts", id="resources-tree")
        tree.show_root = False
        tree.guide_depth = 2
        yield tree

    def on_mount(self) -> None:
        self.border_title = "resources"

    def reset(self) -> None:
        """A new run: clear the tree."""
        self.query_one(Tree).clear()
        self._node_of.clear()
        self._record_of.clear()
        self._group_of.clear()
        self._not_shown = 0
        show(self.query_one("#resources-summary", Static), "no run yet")

    def update_section(self, data: ContextsSection | None, why: str | None = None) -> None:
        """Add the new records of a "contexts" section and relabel the changed ones
        (``why``: the reason the section could not be read, when it could not)."""
        summary = self.query_one("#resources-summary", Static)
        if data is None:
            if why:
                show(summary, user_text(f"contexts not shown: {why}", "yellow"))
            elif not self._node_of:
                show(summary, "no run yet")
            return
        tree: Tree[int] = self.query_one(Tree)
        now_s = data.now_s
        records = sorted(data.records, key=lambda r: r.id)
        parents = {r.parent for r in records}
        for r in records:
            rid = r.id
            if rid in self._node_of:
                if r != self._record_of.get(rid) or r.outcome == "open":
                    self._node_of[rid].set_label(label_for(r, now_s))
                    self._record_of[rid] = r
                continue
            parent = self._node_of.get(r.parent) if r.parent is not None else None
            under = parent if parent is not None else tree.root
            key = (r.parent, r.kind, r.name)
            leaf = r.outcome != "open" and rid not in parents
            if leaf and key in self._group_of:
                node, members = self._group_of[key]
                members.append(r)
                node.set_label(
                    label_for(r, now_s, len(members), sum(m.duration_s or 0.0 for m in members))
                )
                self._node_of[rid] = node
                continue
            if len(self._node_of) >= MAX_NODES:
                self._not_shown += 1
                continue
            node = under.add(label_for(r, now_s), data=rid, expand=True)
            self._node_of[rid] = node
            self._record_of[rid] = r
            if leaf:
                self._group_of[key] = (node, [r])
        not_ok = sum(1 for r in records if failed_outcome(r.outcome, r.exception))
        text = contexts_count(data.total, data.open, " · ")
        if not_ok:
            text += f" · {not_ok} not ok"
        if self._not_shown or data.dropped:
            text += " · more in the report"
        show(summary, text)
