"""A recorded event stream played as a run, for deterministic tests and demos.

``ReplayHandle`` looks like a ``RunHandle`` to the follower (an event queue, stop, kill), so
a recorded run goes through exactly the code path a live one does: the bridge's follower.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable
from pathlib import Path

from workbench.engine.protocol import STOPPED, Event, Exited, Finished, decode


def read_events(path: str | Path) -> list[Event]:
    """The events of a JSON-lines file written with ``protocol.encode``."""
    text = Path(path).read_text(encoding="utf-8")
    return [decode(line) for line in text.splitlines() if line.strip()]


class ReplayHandle:
    """A run whose events are already known; a stream without ``Exited`` stays running
    until it is stopped."""

    def __init__(self, events: Iterable[Event]) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self._ended = False
        for ev in events:
            self._put(ev)

    def _put(self, ev: Event) -> None:
        if not self._ended:
            self.events.put(ev)
            self._ended = isinstance(ev, Exited)

    @property
    def running(self) -> bool:
        return not self._ended

    def stop(self, reason: str = "user") -> None:
        self._put(Finished(STOPPED, reason, "stopped by the user"))
        self._put(Exited(0, stop_reason=reason))

    def kill(self, why: str = "user_kill") -> None:
        self._put(Exited(-9, "SIGKILL", why))

    def wait(self, timeout: float | None = None) -> bool:
        return self._ended
