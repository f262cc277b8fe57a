"""The one way a run's events reach the UI: a thread that follows the run and posts updates.

A ``RunBridge`` runs the engine's ``Follower`` on one run (a live runner child, or a recorded
stream in tests) and turns each of its coalesced updates into a ``RunUpdated`` message: the
latest state, the live rate and memory series for the charts, and the run's newest log
lines. However fast the pipeline, the UI gets a bounded number of messages a second; once
the run is over it posts ``RunEnded``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from textual.message import Message

from workbench.engine.follow import INTERVAL_S, Follower, RunJob, Starter, Update
from workbench.engine.protocol import Event, Exited, Failure, Finished, Hello, Log
from workbench.engine.runner import RunOptions, start_run
from workbench.engine.session import RunState
from workbench.text import log_line
from workbench.ui.messages import LogLine, RunEnded, RunUpdated

#: Log lines an update carries at most; older unseen lines are reported as skipped.
RECENT_LINES = 500


class Series:
    """A series of at most ``capacity`` points that halves its resolution when full, so it
    always covers the whole run."""

    def __init__(self, capacity: int = 240, reduce: Callable[[list[float]], float] = max):
        self.capacity = capacity
        self.reduce = reduce
        self.points: list[float] = []

    def add(self, value: float) -> None:
        self.points.append(value)
        if len(self.points) >= self.capacity:
            pts = self.points
            self.points = [self.reduce(pts[i : i + 2]) for i in range(0, len(pts), 2)]


def log_lines(event: Event) -> list[LogLine]:
    """The lines an event of the run adds to its log (text still to be sanitised)."""
    if isinstance(event, Log):
        return [(event.stream, event.text)]
    if isinstance(event, Hello):
        params = " ".join(f"{k}={v}" for k, v in event.params.items())
        return [
            (
                "pipebench",
                f"started {event.pipeline} ({params}) in pid {event.pid}, probe {event.probe}, "
                f"stages: {', '.join(event.stages)}",
            )
        ]
    if isinstance(event, Failure):
        where = f" in stage {event.stage}" if event.stage else ""
        lines: list[LogLine] = [
            ("error", f"error ({event.phase}{where}): {event.type}: {event.message}")
        ]
        if event.traceback:
            lines += [("traceback", ln) for ln in event.traceback.rstrip().splitlines()]
        return lines
    if isinstance(event, Finished):
        tail = f": {event.message}" if event.message else ""
        return [("pipebench", f"run {event.status}{tail}")]
    if isinstance(event, Exited):
        how = f"signal {event.signal}" if event.signal else f"code {event.returncode}"
        why = f" (killed: {event.killed_by})" if event.killed_by else ""
        lines = [("pipebench", f"runner process exited with {how}{why}")]
        if event.ended:
            lines.append(
                ("pipebench", f"ended what the run left running: {', '.join(event.ended)}")
            )
        return lines
    return []


class RunBridge(threading.Thread):
    """Follows one run in a thread and posts coalesced updates to the UI."""

    def __init__(
        self,
        target: str,
        options: RunOptions,
        state: RunState,
        post: Callable[[Message], object],
        *,
        starter: Starter = start_run,
        interval: float = INTERVAL_S,
    ) -> None:
        super().__init__(name=f"pipebench-bridge-{state.run_id}", daemon=True)
        self.run_id = state.run_id
        self.follower: Follower[RunState] = Follower(
            RunJob(target, options, state),
            starter=starter,
            interval=interval,
            on_update=self._updated,
        )
        self.ended = False
        self._post = post
        self._quiet = threading.Event()
        self._rates = Series(reduce=max)
        self._memory = Series(reduce=max)
        self._charted_ns = -1  # the snapshot the charts' last point is of
        self._recent: deque[LogLine] = deque(maxlen=RECENT_LINES)
        self._log_total = 0

    @property
    def state(self) -> RunState:
        return self.follower.state

    def stop(self) -> None:
        """Post nothing more (the app is going away); the run itself is not touched."""
        self._quiet.set()

    def _updated(self, update: Update[RunState]) -> None:
        state = update.state
        snap = state.snapshot
        # One point per new snapshot: an update without one (output lines) adds none, so
        # the charts follow the run's clock, not how often it prints.
        if snap is not None and not update.ended and snap.elapsed_ns > self._charted_ns:
            self._charted_ns = snap.elapsed_ns
            if state.rate is not None:
                self._rates.add(state.rate)
            if snap.memory is not None:
                self._memory.add(snap.memory.now.private)
        if update.skipped:
            self._recent.append(("pipebench", f"… {update.skipped:,} lines not shown"))
            self._log_total += 1
        self._recent.extend(update.lines)
        self._log_total += len(update.lines)
        for event in update.notes:
            lines = [(s, log_line(text)) for s, text in log_lines(event)]
            self._recent.extend(lines)
            self._log_total += len(lines)
        if self._quiet.is_set():
            return
        self._post(
            RunUpdated(
                self.run_id,
                state,
                events=self.follower.events,
                rates=tuple(self._rates.points),
                memory=tuple(int(x) for x in self._memory.points),
                log_total=self._log_total,
                log_recent=tuple(self._recent),
                ended=update.ended,
            )
        )

    def run(self) -> None:
        try:
            self.follower.run()
        except Exception as exc:  # a bug here must not leave the UI waiting forever
            self._recent.append(
                ("error", f"pipebench stopped following this run: {type(exc).__name__}: {exc}")
            )
            self._log_total += 1
        self.ended = True
        if not self._quiet.is_set():
            self._post(RunEnded(self.run_id, self.follower.state))
