"""A long preparation before the first batch (``workbench.progress``), as a progress bar.

Shown over the stage table while the pipeline's factory reports progress and no batch has
come out yet (the first run of ``jsonl_tokens`` writes its corpus for seconds); hidden
otherwise, so a run that starts at once never sees it.
"""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from workbench.engine.session import RunState
from workbench.ui.widgets.shown import show
from workbench.views.run import progress_text


def preparing(state: RunState | None) -> bool:
    """Whether ``state`` is a run still preparing: progress reported, no batch out yet."""
    if state is None or state.progress is None or state.ended:
        return False
    snap = state.snapshot
    return snap is None or not snap.stages or snap.stages[-1].batches == 0


class RunProgress(Vertical):
    """What the pipeline prepares and how far, with a bar (indeterminate without a total)."""

    DEFAULT_CSS = """
    RunProgress { height: auto; padding: 0 1; display: none; }
    RunProgress.-shown { display: block; }
    RunProgress > ProgressBar { height: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="run-progress-what")
        yield ProgressBar(id="run-progress-bar", show_eta=True)

    def show(self, state: RunState | None) -> None:
        """Follow ``state``'s progress; hide once a batch is out (or with no progress)."""
        shown = preparing(state)
        self.set_class(shown, "-shown")
        if not shown or state is None or state.progress is None:
            return
        p = state.progress
        show(self.query_one("#run-progress-what", Static), progress_text(p))
        bar = self.query_one(ProgressBar)
        if p.total and math.isfinite(p.total) and p.total > 0 and math.isfinite(p.done):
            bar.update(total=p.total, progress=max(0.0, min(p.done, p.total)))
        else:
            bar.update(total=None)
