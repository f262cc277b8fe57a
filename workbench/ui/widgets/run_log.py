"""The run's log: the pipeline's stdout/stderr, pipebench's notes, errors and tracebacks.

Lines arrive sanitised (``workbench.text.log_line``): colour sequences are turned into
styles by Rich's ANSI decoder, and nothing else a pipeline prints reaches the terminal."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from workbench.text import printable
from workbench.ui.messages import LogLine
from workbench.views.text import log_text

#: A prefix per stream, so that which stream a line came from reads without colour.
PREFIX = {"stdout": "  ", "stderr": "! ", "pipebench": "» ", "error": "✗ ", "traceback": "  "}
#: Lines written per update at most: more than a screenful is never read as it scrolls by,
#: and rendering them is what would slow the UI under a pipeline that prints a lot.
MAX_PER_UPDATE = 100
STYLE = {"stderr": "yellow", "pipebench": "dim", "error": "bold red", "traceback": "red"}


class RunLog(RichLog):
    """Appends what it has not shown yet of each update's recent lines."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id, max_lines=2000, wrap=True, markup=False, highlight=False, auto_scroll=True
        )
        self._run_id: str | None = None
        self._shown = 0

    def begin(self, run_id: str, title: str) -> None:
        """Start the part of the log of a new run."""
        self._run_id, self._shown = run_id, 0
        self.write(Text(f"── {printable(title)} ──", style="bold"))

    def show(self, run_id: str, total: int, recent: tuple[LogLine, ...]) -> None:
        """Write the lines of ``recent`` not shown yet; ``total`` counts all lines so far."""
        if run_id != self._run_id:
            return
        new = total - self._shown
        if new <= 0:
            return
        shown = min(new, len(recent), MAX_PER_UPDATE)
        if new > shown:
            self.write(
                Text(
                    f"… {new - shown:,} lines not shown (too many to follow; "
                    "the last ones are in the run record)",
                    style="dim",
                )
            )
        new = shown
        width = self.scrollable_content_region.width or None
        for stream, line in recent[len(recent) - new :]:
            text = Text(PREFIX.get(stream, "  "), style=STYLE.get(stream, ""))
            text.append_text(log_text(line, STYLE.get(stream, "")))
            self.write(text, width=width)
        self._shown = total
