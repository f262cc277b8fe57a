"""The help screen: every key, and what the figures on the main screen measure.

It scrolls (↑ ↓, PgUp PgDn, Home End); a line under it says when more is below, so a short
terminal (80x24) does not hide half of it without a sign.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]Keys[/b] (the footer shows those of the panel with the focus)
  ↑ ↓         move in the pipeline tree; Tab moves between panels
  Enter, r    run the selected pipeline (a run going is stopped first);
              on a kernel set (◇): time it in the kernels view
  s, space    stop the run: its finally blocks run; killed after 3 s.
              A stop before the first batch is a cancel: the run is
              recorded as cancelled and never counts as a result
  + / -       double / halve the batch size and run again; pressed
              again while the run starts, the presses add up to one
              restart at the last size
  b           type a batch size and run
  p           parameters and memory budget of the pipeline
  t           tuning: items/s and peak private memory of the pipeline
              against batch size (log2), from its recorded runs and
              sweeps; ★ the best within the budget, a uses it
  w           sweep the batch size of the selected pipeline: short
              runs, interleaved, 3 or more a size, medians with their
              noise (±); a applies the recommended size
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
  o           (runs table) newest first, or fastest first (items/s)
  ← →         (side tabs, wherever the focus is in them) caches, GPU,
              resources, parallel stages
  Esc         close a tuning, sweep, kernels, line profile or compare
              view
  ctrl+p      command palette
  ?           this help
  q           quit (stops the run first; q twice kills it)

[b]What is shown[/b]
  tree        modules and their pipelines; ◇ a kernel set;
              ✗ the module failed to import (selected: the error in
              full and its fix), ⊘ the pipeline cannot run here (a
              requirement is missing; selected: which)
  header      the selected pipeline's run (going, or its latest in
              this session), or what the selection is; it also says
              when a run of another pipeline is going
  progress    a bar while the pipeline prepares its data before its
              first batch (workbench.progress in its factory)
  stages      per stage: items and batches out, items/s over the run,
              self time (in the stage's own code, upstream excluded)
              in seconds and % of the run, mean self time per batch;
              ▸ the selected stage (when the table has the focus)
  ◀           the bottleneck: the stage with the largest self time
  items/s     out of the last stage: now (over a window of ≥ 1 s and
              ≥ 5 batches, said), max over such windows; one bar per
              update; a finished run shows its average only
  memory      of the run's processes (the runner and its workers; not
              pipebench, not the Python heap), now and peak: private
              (anonymous + shared: what a budget holds), RSS (every
              resident page), file-backed (mapped files the kernel can
              drop); the dashed line is the memory budget
  caches      per cache the run touched: hits, misses, hit %, entries,
              size, seconds saved; ! notes a cache that does not earn
              its keep
  GPU         GPU memory of the runner (torch and NVML), now, peak
              and over time, or why there is none (no driver, ...)
  resources   the run's resource contexts (with blocks) as a tree:
              how long each was held and how it ended
  parallel    per parallel stage: workers, tasks in flight, items/s,
              speedup, efficiency, busy share and the verdict (the
              tab is there only when the run has parallel stages)
  runs        every run of the pipeline, from the run records (they
              survive a restart); ★ marks the fastest finished run,
              A, B, ... the runs marked to compare; the title names the
              parameters every run shares; peak GPU shows when a run
              used a GPU
  status      ◌ starting  ● running  ✓ finished  ■ stopped
              ■ cancelled (stopped before its first batch: no result)
              ✗ failed/crashed  ▲ over the memory budget

Escape, q or ? closes this."""


class HelpScreen(ModalScreen[None]):
    """Keys and meanings."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-frame"):
            with VerticalScroll(id="help-box"):
                yield Static(HELP, id="help-text")
            yield Static("", id="help-more")

    def on_mount(self) -> None:
        self.query_one("#help-frame").border_title = "pipebench help"
        box = self.query_one("#help-box", VerticalScroll)
        box.focus()  # ↑ ↓ PgUp PgDn scroll it at once
        self.watch(box, "scroll_y", self._scrolled, init=False)
        self.watch(box, "max_scroll_y", self._scrolled, init=False)
        self.call_after_refresh(self._scrolled)

    def _scrolled(self, _value: float = 0.0) -> None:
        box = self.query_one("#help-box", VerticalScroll)
        hint = self.query_one("#help-more", Static)
        if box.max_scroll_y <= 0:
            hint.update("Esc closes")
        elif box.scroll_y < box.max_scroll_y:
            below = int(box.max_scroll_y - box.scroll_y)
            hint.update(
                f"▼ {below} more line{'' if below == 1 else 's'} below: ↓ PgDn scroll · Esc closes"
            )
        else:
            hint.update("▲ the end: ↑ PgUp scroll back · Esc closes")

    def action_close(self) -> None:
        self.dismiss(None)
