"""The help screen: every key, and what the figures on the main screen measure."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]Keys[/b] (the footer shows those of the panel with the focus)
  ↑ ↓ ← →     move in the pipeline tree; Tab moves between panels
  Enter, r    run the selected pipeline (a run going is stopped first);
              on a kernel set (◇): time it in the kernels view
  s, space    stop the run: its finally blocks run; killed after 3 s
  + / -       double / halve the batch size and run again
  b           type a batch size and run
  p           parameters and memory budget of the pipeline
  w           sweep the batch size of the selected pipeline: each size
              in its own run; a applies the recommended size
  k           time the selected kernel set: table and log-log plot
  l           (stage table) profile the selected stage line by line,
              then unprofiled for the cost of looking; there t sorts
              by time, [ ] step through the functions, f shows the
              function view (cProfile), o the cost of looking, s stops
  c           (caches tab) clear the selected cache, after a yes
  m, C        (runs table) mark runs A, B, C, ...; C compares them
              side by side, A the base (with one marked: it against
              the run under the cursor); per-item figures, and a
              warning when pipelines differ or a run is partial
  ← →         (side tabs) caches, GPU, resources, parallel stages
  Esc         close a sweep, kernels, line profile or compare view
  ctrl+p      command palette
  ?           this help
  q           quit (stops the run first; q twice kills it)

[b]What is shown[/b]
  tree        modules and their pipelines; ◇ a kernel set;
              ⊘ cannot run here, ✗ import error
  stages      per stage: items and batches out, items/s over the run,
              self time (in the stage's own code, upstream excluded)
              in seconds and % of the run, mean self time per batch;
              ▸ the selected stage (when the table has the focus)
  ◀           the bottleneck: the stage with the largest self time
  items/s     out of the last stage, one bar per snapshot (0.1 s)
  memory      RSS and USS of the runner process (the child running
              the pipeline; not pipebench, not the Python heap), now
              and peak; the dashed line is the memory budget
  caches      per cache the run touched: hit rate, seconds saved,
              bytes, hits, misses, entries; ! notes a cache that
              does not earn its keep
  GPU         GPU memory of the runner (torch and NVML), now, peak
              and over time, or why there is none (no driver, ...)
  resources   the run's resource contexts (with blocks) as a tree:
              how long each was held and how it ended
  parallel    per parallel stage: workers, tasks in flight, items/s,
              speedup, efficiency, busy share and the verdict (the
              tab is there only when the run has parallel stages)
  runs        every run of the pipeline, from the run records (they
              survive a restart); ★ marks the fastest finished run,
              A, B, ... the runs marked to compare; peak GPU is N/A
              when the run used no GPU
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
