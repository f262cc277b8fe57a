"""App-wide messages: what the bridge thread and the workers tell the UI, past tense."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from workbench.engine.catalog import ModuleInfo
from workbench.engine.session import RunState

#: One line of a run's log: (stream, text). Streams are "stdout", "stderr", "pipebench",
#: "error" and "traceback".
LogLine = tuple[str, str]


class RunUpdated(Message):
    """The latest state of a run, posted at most every bridge interval.

    A pending update is replaced by a newer one of the same run (``can_replace``), so a
    UI that falls behind skips states instead of queueing them. Log lines are not lost
    with a replaced update: each update carries the running count of lines and the most
    recent ones, and the log widget writes what it has not shown yet.
    """

    def __init__(
        self,
        run_id: str,
        state: RunState,
        *,
        events: int,
        rates: tuple[float, ...],
        memory: tuple[int, ...],
        log_total: int,
        log_recent: tuple[LogLine, ...],
        ended: bool = False,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.state = state
        self.events = events
        """Events folded into ``state`` so far."""
        self.rates = rates
        """The live (windowed) items per second out of the last stage, one point per update
        (downsampled)."""
        self.memory = memory
        """Private memory (anonymous + shared) of the run's processes in bytes, one point
        per update (downsampled)."""
        self.log_total = log_total
        self.log_recent = log_recent
        self.ended = ended

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunUpdated) and message.run_id == self.run_id and not self.ended


class RunEnded(Message):
    """A run's process is gone; ``state`` is final (posted after its last update)."""

    def __init__(self, run_id: str, state: RunState) -> None:
        super().__init__()
        self.run_id = run_id
        self.state = state


class CatalogLoaded(Message):
    """The modules under the root were discovered (or failed to be)."""

    def __init__(self, modules: list[ModuleInfo], error: str | None = None) -> None:
        super().__init__()
        self.modules = modules
        self.error = error


class RunRecordsLoaded(Message):
    """The run records of one pipeline were read from disk, oldest first; ``skipped`` holds
    one warning line per file in the records folder that is no readable record."""

    def __init__(
        self,
        pipeline: str,
        path: str,
        records: list[dict[str, Any]],
        skipped: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.path = path
        self.records = records
        self.skipped = skipped
