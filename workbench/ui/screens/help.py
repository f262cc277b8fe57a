"""The help screen: every key, and what the figures on the main screen measure."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]Keys[/b]
  ↑ ↓ ← →     move in the pipeline tree; Tab moves between panels
  Enter, r    run the selected pipeline (a run going is stopped first)
  s, space    stop the run: its finally blocks run; killed after 3 s
  + / -       double / halve the batch size and run again
  b           type a batch size and run
  p           parameters and memory budget of the pipeline
  ctrl+p      command palette
  ?           this help
  q           quit (stops the run first; q twice kills it)

[b]What is shown[/b]
  tree        modules and their pipelines; ◇ a kernel set (run with
              `pipebench kernels`); ⊘ cannot run here, ✗ import error
  stages      per stage: items and batches out, items/s over the run,
              self time (in the stage's own code, upstream excluded)
              in seconds and % of the run, mean self time per batch
  ◀           the bottleneck: the stage with the largest self time
  items/s     out of the last stage, one bar per snapshot (0.1 s)
  memory      RSS and USS of the runner process (the child running
              the pipeline; not pipebench, not the Python heap), now
              and peak; the dashed line is the memory budget
  runs        every run of the pipeline, from the run records (they
              survive a restart); ★ marks the fastest finished run
  status      ● running  ✓ finished  ■ stopped  ✗ failed/crashed
              ▲ over the memory budget

Escape, q or ? closes this."""


class HelpScreen(ModalScreen[None]):
    """Keys and meanings."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(HELP, id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-box").border_title = "pipebench help"

    def action_close(self) -> None:
        self.dismiss(None)
