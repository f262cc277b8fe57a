"""The run's parallel stages: workers, tasks in flight, items/s, efficiency and the verdict.

Fed with the "parallel" section of each snapshot (``update_section``). Four short lines a
stage rather than the headless table (``views_parallel.parallel_view``), so it reads in a
tab 56 columns wide (80x24); the figures are formatted by the same helpers.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from workbench.views.parallel import (
    format_rate_or_dash,
    format_share,
    format_speedup,
    workers_label,
)
from workbench.views.text import user_text


def parallel_text(data: dict[str, Any] | None) -> Text:
    """Each parallel stage in four short lines; a one-line note when there is none."""
    stages = (data or {}).get("stages") or []
    if not data or not stages:
        return Text("no parallel stage in this run", style="dim")
    text = Text()
    where = data.get("backend") or "?"
    if data.get("scheduler"):
        where += f" at {data['scheduler']}"
    text.append(f"backend {where}", style="dim")
    for s in stages:
        text.append("\n")
        text.append_text(user_text(s["stage"], "bold"))
        text.append(
            f" · {workers_label(s)} workers · {s['in_flight']}/{s['max_in_flight']} in flight"
        )
        # Two figures a line: each keeps its unit on its line at 80 columns.
        text.append(
            f"\n  {format_rate_or_dash(s.get('items_per_s'))} items/s"
            f" · speedup {format_speedup(s.get('speedup'))}"
            f"\n  efficiency {format_share(s.get('efficiency'))}"
            f" · busy {format_share(s.get('utilization'))}"
        )
        if s.get("verdict"):
            text.append("\n  → ", style="italic")
            text.append_text(user_text(s["verdict"], "italic"))
    if data.get("problem"):
        text.append("\n! ", style="bold")
        text.append_text(user_text(data["problem"], "bold"))
    return text


def has_stages(data: dict[str, Any] | None) -> bool:
    """Whether the section lists any parallel stage (the panel is shown only then)."""
    return bool((data or {}).get("stages"))


class ParallelPanel(Static):
    """Per parallel stage: workers, in flight, items/s, efficiency, verdict."""

    DEFAULT_CSS = "ParallelPanel { height: auto; padding: 0 1; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(parallel_text(None), id=id, classes=classes)
        self.data: dict[str, Any] | None = None

    def update_section(self, data: dict[str, Any] | None) -> None:
        """Show the latest "parallel" section (None: no run yet)."""
        if data == self.data:
            return
        self.data = data
        self.update(parallel_text(data))
