"""The one way a run's events reach the UI: a thread that folds them and posts updates.

A ``RunBridge`` reads the events of one run (a ``RunHandle``'s queue, or any iterable of
events, e.g. a recorded stream), folds them into a ``RunState`` with the engine's own
``session.apply`` and posts a ``RunUpdated`` at most every ``interval`` seconds with the
latest state, plus the log lines seen since. However fast the pipeline, the UI gets a
bounded number of messages a second.
"""

from __future__ import annotations

import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from textual.message import Message

from workbench.engine.protocol import Event, Exited, Failure, Finished, Hello, Log, Snapshot
from workbench.engine.session import LOG_TAIL, RunState, apply, rate_now
from workbench.ui.messages import LogLine, RunEnded, RunUpdated

#: Seconds between two updates of the UI (at most); 5 a second.
INTERVAL_S = 0.2
#: Log lines an update carries at most; older unseen lines are reported as skipped.
RECENT_LINES = 500
#: Events folded at most between two looks at the clock.
DRAIN_MAX = 20_000


class RunSource(Protocol):
    """What the app needs of a run: its event queue and a way to end it (a ``RunHandle``)."""

    events: queue.Queue[Event]

    @property
    def running(self) -> bool: ...

    def stop(self) -> None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...


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
    """The lines an event adds to the run's log."""
    if isinstance(event, Log):
        return [(event.stream, event.text)]
    if isinstance(event, Hello):
        params = " ".join(f"{k}={v}" for k, v in event.params.items())
        return [
            (
                "pipebench",
                f"started {event.pipeline} ({params}) in pid {event.pid}, "
                f"probe {event.probe}, stages: {', '.join(event.stages)}",
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
        return [("pipebench", f"runner process exited with {how}{why}")]
    return []


def drain(q: queue.Queue[Event], limit: int) -> list[Event]:
    """Up to ``limit`` events already in ``q``, taken under one lock (``get_nowait`` per
    event costs a lock round trip each, which adds up at hundreds of thousands a second)."""
    with q.mutex:
        items = q.queue
        if len(items) <= limit:
            out = list(items)
            items.clear()
        else:
            out = [items.popleft() for _ in range(limit)]
    return out


class RunBridge(threading.Thread):
    """Reads one run's events, folds them, and posts coalesced updates to the UI."""

    def __init__(
        self,
        source: queue.Queue[Event] | Iterable[Event],
        state: RunState,
        post: Callable[[Message], object],
        *,
        interval: float = INTERVAL_S,
    ) -> None:
        super().__init__(name=f"pipebench-bridge-{state.run_id}", daemon=True)
        self.run_id = state.run_id
        self.state = state
        self.events = 0
        self.ended = False
        self._source = source
        self._post = post
        self._interval = interval
        self._stopping = threading.Event()
        self._rates = Series(reduce=statistics.fmean)
        self._rss = Series(reduce=max)
        self._recent: deque[LogLine] = deque(maxlen=RECENT_LINES)
        self._log_total = 0
        self._dirty = True

    def stop(self) -> None:
        """Stop reading (the run itself is not touched); join the thread after this."""
        self._stopping.set()

    # ---- folding ------------------------------------------------------------------
    def fold(self, batch: list[Event]) -> None:
        """Apply a batch of events in order. Of many log lines only the last ``LOG_TAIL``
        can change the state (its log tail), so the others are counted but not applied:
        the state is the same as applying them all."""
        skip = sum(1 for e in batch if type(e) is Log) - LOG_TAIL
        state = self.state
        recent = self._recent
        for ev in batch:
            if type(ev) is Log:  # the hot path: a pipeline printing a lot
                recent.append((ev.stream, ev.text))
                self._log_total += 1
                if skip > 0:
                    skip -= 1
                else:
                    state = apply(state, ev)
                continue
            state = apply(state, ev)
            if isinstance(ev, Snapshot):
                rate = rate_now(state)
                if rate is not None:
                    self._rates.add(rate)
                self._rss.add(ev.memory.rss)
            for line in log_lines(ev):
                recent.append(line)
                self._log_total += 1
            if isinstance(ev, Exited):
                self.ended = True
        self.state = state
        self.events += len(batch)
        self._dirty = self._dirty or bool(batch)

    def _message(self) -> RunUpdated:
        return RunUpdated(
            self.run_id,
            self.state,
            events=self.events,
            rates=tuple(self._rates.points),
            rss=tuple(int(x) for x in self._rss.points),
            log_total=self._log_total,
            log_recent=tuple(self._recent),
            ended=self.ended,
        )

    def _flush(self) -> None:
        if self._dirty:
            self._dirty = False
            self._post(self._message())

    # ---- reading ------------------------------------------------------------------
    def run(self) -> None:
        try:
            if isinstance(self._source, queue.Queue):
                self._read_queue(self._source)
            else:
                self._read_iter(iter(self._source))
        except Exception as exc:  # a bug here must not leave the UI waiting forever
            self._recent.append(
                ("error", f"pipebench stopped following this run: {type(exc).__name__}: {exc}")
            )
            self._log_total += 1
            self._dirty = self.ended = True
        if self._stopping.is_set():
            return  # the app is going away: nobody to tell
        self._flush()
        if self.ended:
            self._post(RunEnded(self.run_id, self.state))

    def _read_queue(self, q: queue.Queue[Event]) -> None:
        next_post = 0.0
        while not self._stopping.is_set() and not self.ended:
            wait = max(0.0, next_post - time.monotonic()) if self._dirty else self._interval
            try:
                batch = [q.get(timeout=min(wait, 0.1) or 0.001)]
            except queue.Empty:
                batch = []
            batch += drain(q, DRAIN_MAX)
            self.fold(batch)
            now = time.monotonic()
            if self._dirty and now >= next_post and not self.ended:
                self._flush()
                next_post = now + self._interval

    def _read_iter(self, events: Iterator[Event]) -> None:
        next_post = 0.0
        for ev in events:
            if self._stopping.is_set():
                return
            self.fold([ev])
            if self.ended:
                return
            now = time.monotonic()
            if now >= next_post:
                self._flush()
                next_post = now + self._interval
