"""The one run follower: every CLI command and the TUI's bridge follow runs through here.

A ``Job`` says which runs to start, one after the other (a plain run is one; a line profile
is the profiled run and its baseline; a kernels run is one per fresh process; a sweep is one
per batch size), and how to fold their events into its state. ``Follower.run()`` starts
them, reads each run's events and output, folds them, and calls ``on_update`` at most every
``interval`` seconds with the state and the output lines since the last update (sanitised
by ``workbench.text.log_line``; beyond ``lines_per_update`` a count of the lines not shown).

Stopping is decided here, the same way for every caller: the first ``request_stop`` stops
the run going (it is killed if it has not ended within its grace period) and starts no
other; a second one kills it now. Nothing else in pipebench iterates a run's events.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from workbench.engine.output import LogLine
from workbench.engine.protocol import Event, Exited, Finished, Log, Snapshot
from workbench.engine.runner import RunOptions, start_run
from workbench.engine.session import RunState, apply, with_lines
from workbench.text import log_line

S = TypeVar("S")

#: Seconds between two updates (at most).
INTERVAL_S = 0.2
#: Output lines an update carries at most; the rest are counted as not shown.
LINES_PER_UPDATE = 400
#: Events folded at most between two looks at the clock.
DRAIN_MAX = 20_000


class Source(Protocol):
    """A started run as the follower needs it: a ``RunHandle``, or a recorded stream."""

    events: queue.Queue[Event]

    @property
    def running(self) -> bool: ...

    def stop(self, reason: str = "user") -> None: ...

    def kill(self, why: str = "user_kill") -> None: ...


Starter = Callable[[str, RunOptions], Source]


@dataclass(frozen=True)
class Step:
    """One run of a job: what to run, and the label its events are folded under."""

    label: str
    target: str
    options: RunOptions


class Job(Protocol[S]):
    """What a follower follows: its runs, one after the other, and how to fold them."""

    def initial(self) -> S:
        """The state before any run."""
        ...

    def next_step(self, state: S) -> Step | None:
        """The next run to start, or None when the job is done."""
        ...

    def fold(self, state: S, step: Step, event: Event) -> S:
        """The state after one more event of ``step``'s run."""
        ...

    def fold_lines(self, state: S, step: Step, lines: list[LogLine], skipped: int) -> S:
        """The state after output lines of ``step``'s run (and ``skipped`` unseen ones)."""
        ...

    def check(self, state: S, step: Step) -> str | None:
        """A stop reason to ask of the run going now (a budget it passed), or None."""
        ...

    def stopped(self, reason: str) -> None:
        """The job was asked to stop (called once, from the thread that asked)."""
        ...

    def close(self) -> None:
        """The job is over, however it ended: let go of what it holds (temporary files)."""
        ...


class RunJob:
    """The plain job: one run, folded by ``session.apply``."""

    def __init__(self, target: str, options: RunOptions, state: RunState | None = None):
        self.step = Step("run", target, options)
        self._state = state or RunState(target, started_at=time.time(), options=options.as_dict())

    def initial(self) -> RunState:
        return self._state

    def next_step(self, state: RunState) -> Step | None:
        return None if state.ended else self.step

    def fold(self, state: RunState, step: Step, event: Event) -> RunState:
        return apply(state, event)

    def fold_lines(
        self, state: RunState, step: Step, lines: list[LogLine], skipped: int
    ) -> RunState:
        return with_lines(state, lines, skipped)

    def check(self, state: RunState, step: Step) -> str | None:
        return None

    def stopped(self, reason: str) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Update(Generic[S]):
    """What a follower hands its caller, at most every interval."""

    state: S
    step: Step | None
    lines: tuple[LogLine, ...] = ()  # output since the last update, sanitised, newest last
    skipped: int = 0  # output lines since the last update that are not in ``lines``
    notes: tuple[Event, ...] = ()  # events since the last update but snapshots and output
    run_ended: bool = False  # the run of ``step`` ended with this update
    ended: bool = False  # the job is over: the last update


class Follower(Generic[S]):
    """Follows one job to its end; see the module's docstring."""

    def __init__(
        self,
        job: Job[S],
        *,
        starter: Starter = start_run,
        interval: float = INTERVAL_S,
        on_update: Callable[[Update[S]], object] | None = None,
        lines_per_update: int = LINES_PER_UPDATE,
    ):
        self.job = job
        self.state: S = job.initial()
        self.starter = starter
        self.interval = interval
        self.on_update = on_update
        self.lines_per_update = lines_per_update
        self.source: Source | None = None
        self.step: Step | None = None
        self.stop_reason: str | None = None  # the first stop asked for
        self.killed = False
        self.events = 0  # events folded so far
        self._lock = threading.RLock()  # a signal handler may ask while run() holds it
        self._wake = threading.Event()
        self._lines: list[LogLine] = []
        self._skipped = 0
        self._notes: list[Event] = []

    # ---- stopping (any thread) ------------------------------------------------------------
    def request_stop(self, reason: str = "user") -> str:
        """Stop the job: the first request stops the run going and starts no other
        ("stop"); the next kills it ("kill")."""
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
                self.job.stopped(reason)
                what = "stop"
            else:
                self.killed = True
                what = "kill"
            source = self.source
        if source is not None:
            if what == "stop":
                source.stop(reason)
            else:
                source.kill("user_kill")
        self._wake.set()
        return what

    def kill(self) -> None:
        """Kill the run going now and start no other."""
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = "user"
                self.job.stopped("user")
            self.killed = True
            source = self.source
        if source is not None:
            source.kill("user_kill")
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self.stop_reason is not None

    # ---- following ------------------------------------------------------------------------
    def run(self) -> S:
        """Start the job's runs one after the other and follow each to its end; returns the
        final state (after a last update with ``ended``)."""
        try:
            while not self.stopping:
                step = self.job.next_step(self.state)
                if step is None:
                    break
                source = self.starter(step.target, step.options)
                with self._lock:
                    self.source, self.step = source, step
                    reason, killed = self.stop_reason, self.killed
                if killed:
                    source.kill("user_kill")
                elif reason is not None:
                    source.stop(reason)
                self._follow(source, step)
        finally:
            if self.source is not None and self.source.running:
                self.source.kill("user_kill")  # never leave a child behind
            self.job.close()
        self._post(ended=True, run_ended=False)
        return self.state

    def _follow(self, source: Source, step: Step) -> None:
        job = self.job
        output = getattr(source, "output", None)
        next_post = 0.0
        done = False
        finishing = False  # the child said Finished: the final figures come with Exited
        asked: str | None = None
        while not done:
            try:
                batch = [source.events.get(timeout=0.05)]
            except queue.Empty:
                batch = []
            batch += _drain(source.events, DRAIN_MAX)
            state = self.state
            for ev in batch:
                if type(ev) is Log and ev.stream in ("stdout", "stderr"):
                    self._add_lines([(ev.stream, ev.text)], 0)  # a recorded stream's output
                    state = job.fold_lines(state, step, [(ev.stream, ev.text)], 0)
                    continue
                if not isinstance(ev, Snapshot):
                    self._notes.append(ev)
                state = job.fold(state, step, ev)
                if isinstance(ev, Finished):
                    finishing = True
                if isinstance(ev, Exited):
                    done = True
            if output is not None:
                lines, skipped = output.take()
                if lines or skipped:
                    self._add_lines(lines, skipped)
                    state = job.fold_lines(state, step, lines, skipped)
            self.state = state
            self.events += len(batch)
            if not done and asked is None:
                asked = job.check(state, step)
                if asked is not None:
                    source.stop(asked)
            now = time.monotonic()
            if done or (now >= next_post and not finishing):
                self._post(ended=False, run_ended=done)
                next_post = now + self.interval

    def _add_lines(self, lines: list[LogLine], skipped: int) -> None:
        self._skipped += skipped
        self._lines.extend(lines)
        over = len(self._lines) - self.lines_per_update
        if over > 0:
            self._skipped += over
            del self._lines[:over]

    def _post(self, *, ended: bool, run_ended: bool) -> None:
        lines = tuple((s, log_line(t)) for s, t in self._lines)
        skipped, notes = self._skipped, tuple(self._notes)
        self._lines, self._skipped, self._notes = [], 0, []
        if self.on_update is not None:
            self.on_update(Update(self.state, self.step, lines, skipped, notes, run_ended, ended))


def _drain(q: queue.Queue[Event], limit: int) -> list[Event]:
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


def follow_run(
    target: str,
    options: RunOptions,
    *,
    on_update: Callable[[Update[RunState]], object] | None = None,
    interval: float = INTERVAL_S,
    starter: Starter = start_run,
) -> RunState:
    """Run ``target`` once to its end (the simple case of ``Follower``)."""
    return Follower(RunJob(target, options), starter=starter, interval=interval,
                    on_update=on_update).run()  # fmt: skip
