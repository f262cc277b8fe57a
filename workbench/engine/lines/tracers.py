"""Profilers switched on only while a chosen stage works, with its upstream waits kept out.

A chosen stage is called, and its iterator advanced, inside a *window* (``Watched``); the
iterator it pulls from is a ``Gate``. While the stage works the profiler runs; while it
waits on the gate for its upstream (other stages, the source), its time stops counting:

- ``line_profiler`` is paused for the wait when every waiting frame is at a ``for`` or
  ``yield from`` (nothing of the line runs after the pull, and the upstream stages run
  untraced, as fast as they can); the hit it drops on each waiting line is added back.
  A line that pulls in the middle of an expression (``heavy(next(up))``) keeps it running,
  and the time of the wait is measured and taken out of that line afterwards.
- ``cProfile`` runs throughout on a clock that stands still while the stage waits.

Windows nest (``--all``): a chosen upstream stage working inside a downstream stage's wait
is profiled in its own window.
"""

from __future__ import annotations

import dis
import sys
import threading
import time
import types
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from workbench.engine.protocol_tools import LineStat

CodeKey = tuple[str, int, str]  # (filename, first line, name), as line_profiler keys them
#: Instructions that pull the next item and leave nothing of the line to run after it.
_CLEAN_PULLS = frozenset(dis.opmap[n] for n in ("FOR_ITER", "SEND", "YIELD_FROM") if n in dis.opmap)
_IDLE = (False, False)


def code_key(code: types.CodeType) -> CodeKey:
    """line_profiler's label of a code object (its qualified name from Python 3.11 on)."""
    return (code.co_filename, code.co_firstlineno, getattr(code, "co_qualname", code.co_name))


class Tracer:
    """What a profiler does as the chosen stages start, pause, resume and stop working."""

    def start(self) -> None:
        """The outermost window opened."""

    def stop(self) -> None:
        """The outermost window closed."""

    def switch(self, working: bool, tracing: bool) -> None:
        """A chosen stage works (``working``) or waits upstream; ``tracing``: keep line
        tracing on (it is on whenever ``working``)."""

    def pulling(self, frame: types.FrameType) -> Any:
        """``frame`` starts waiting on a gate: returns what ``waited`` gets back."""
        return None

    def keeps_tracing(self, pull: Any) -> bool:
        """Whether line tracing must stay on during the wait ``pull``."""
        return False

    def waited(self, pull: Any, since_ns: int) -> None:
        """The wait ``pull`` (from ``pulling``) ended; it began at ``since_ns``."""


class Watch:
    """The stack of windows (a stage working) and gates (a stage waiting) on the main
    thread, telling its tracer every change. Other threads pass straight through."""

    def __init__(self, tracer: Tracer):
        self.tracer = tracer
        self.stack: list[tuple[bool, bool]] = []  # (working, tracing)
        self.ident = threading.main_thread().ident

    def push(self, working: bool, tracing: bool = False) -> None:
        stack = self.stack
        before = stack[-1] if stack else _IDLE
        entry = (working, working or tracing)
        stack.append(entry)
        if len(stack) == 1:
            # Started after the append: a profiler started in this frame would see the
            # append as a call with no caller, which no row of pipebench's could claim.
            self.tracer.start()
        if entry != before:
            self.tracer.switch(*entry)

    def pop(self) -> None:
        stack = self.stack
        was = stack.pop()
        after = stack[-1] if stack else _IDLE
        if after != was:
            self.tracer.switch(*after)
        if not stack:
            self.tracer.stop()

    def on_main_thread(self) -> bool:
        return threading.get_ident() == self.ident


class Gate:
    """The upstream iterator as a chosen stage sees it: time spent in it is a wait."""

    def __init__(self, watch: Watch, upstream: Iterator[Any]):
        self._watch = watch
        self._next = upstream.__next__
        self.upstream = upstream

    def __iter__(self) -> Gate:
        return self

    def __next__(self) -> Any:
        t0 = time.perf_counter_ns()  # the bookkeeping counts as waiting, not as the line
        w = self._watch
        if not w.on_main_thread():
            return self._next()
        tracer = w.tracer
        pull = tracer.pulling(sys._getframe(1))
        w.push(False, tracer.keeps_tracing(pull))
        try:
            return self._next()
        finally:
            w.pop()
            tracer.waited(pull, t0)


class Watched:
    """A chosen stage's output iterator: each step runs in a window."""

    def __init__(self, watch: Watch, it: Iterator[Any]):
        self._watch = watch
        self._next = it.__next__
        self.it = it

    def __iter__(self) -> Watched:
        return self

    def __next__(self) -> Any:
        w = self._watch
        w.push(True)
        try:
            return self._next()
        finally:
            w.pop()

    def close(self) -> None:
        close = getattr(self.it, "close", None)
        if close is None:
            return
        w = self._watch
        w.push(True)
        try:
            close()
        finally:
            w.pop()


def call_watched(watch: Watch, fn: Callable[..., Any], upstream: Iterator[Any]) -> Any:
    """Call a chosen stage on a gated upstream inside a window; its iterator is watched."""
    watch.push(True)
    try:
        out = fn(Gate(watch, upstream))
    finally:
        watch.pop()
    return Watched(watch, out) if isinstance(out, Iterator) else out


#: Frames of these codes end a walk up the stack from a gate: above them is another window.
WINDOW_CODES = frozenset({Watched.__next__.__code__, Watched.close.__code__, call_watched.__code__})


class LineTracer(Tracer):
    """``line_profiler`` on the stage functions and, apart, on ``--function`` helpers
    (counted only while a chosen stage works, never when an upstream stage calls them)."""

    def __init__(self) -> None:
        from line_profiler import LineProfiler  # only when a line profile is asked for

        self.stages = LineProfiler()
        self.helpers = LineProfiler()
        self.stage_codes: set[CodeKey] = set()
        self.helper_codes: set[CodeKey] = set()
        #: Upstream waits per (function, line): ones line_profiler timed (to take out of
        #: the line) and ones it was paused for (shown, nothing to take out).
        self.waits_timed: dict[tuple[CodeKey, int], int] = defaultdict(int)
        self.waits_paused: dict[tuple[CodeKey, int], int] = defaultdict(int)
        self.lost_hits: dict[tuple[CodeKey, int], int] = defaultdict(int)
        self._on = {"stages": False, "helpers": False}

    def add(self, fn: types.FunctionType, helper: bool) -> None:
        """Register ``fn`` (its code is replaced by a marked copy: call it after this)."""
        (self.helpers if helper else self.stages).add_function(fn)
        (self.helper_codes if helper else self.stage_codes).add(code_key(fn.__code__))

    def _set(self, which: str, on: bool) -> None:
        if self._on[which] is on:
            return
        prof = self.stages if which == "stages" else self.helpers
        if on:
            prof.enable_by_count()
        else:
            prof.disable_by_count()  # line_profiler drops the pending line of each frame
        self._on[which] = on

    def switch(self, working: bool, tracing: bool) -> None:
        self._set("stages", tracing)
        if self.helper_codes:
            self._set("helpers", working)

    def pulling(self, frame: types.FrameType) -> Any:
        """The waiting frames of this window: [(function, line, kind)], and whether each
        is at a clean pull (a ``for`` or a ``yield from``)."""
        frames = []
        clean = True
        f: types.FrameType | None = frame
        while f is not None and f.f_code not in WINDOW_CODES:
            code = f.f_code
            clean = clean and code.co_code[f.f_lasti] in _CLEAN_PULLS
            key = code_key(code)
            if key in self.stage_codes:
                frames.append((key, f.f_lineno, True))
            elif key in self.helper_codes:
                frames.append((key, f.f_lineno, False))
            f = f.f_back
        return frames, clean

    def keeps_tracing(self, pull: Any) -> bool:
        return not pull[1]

    def waited(self, pull: Any, since_ns: int) -> None:
        frames, clean = pull
        ns = time.perf_counter_ns() - since_ns
        for key, line, stage in frames:
            if not stage or clean:
                self.lost_hits[(key, line)] += 1  # paused: this line's hit was dropped
            if stage:
                (self.waits_paused if clean else self.waits_timed)[(key, line)] += ns

    def line_stats(self) -> dict[CodeKey, tuple[LineStat, ...]]:
        """Per function, its lines: line_profiler's hits and time, the hits it dropped
        while paused added back, the upstream waits it timed taken out of the time."""
        hits: dict[CodeKey, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        times: dict[CodeKey, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for prof in (self.stages, self.helpers):
            stats = prof.get_stats()
            for key, rows in stats.timings.items():
                for line, n, t in rows:
                    hits[key][line] += n
                    times[key][line] += t * stats.unit
        for (key, line), n in self.lost_hits.items():
            hits[key][line] += n
        out = {}
        for key, lines in hits.items():
            stats_ = []
            for line in sorted(lines):
                timed = self.waits_timed.get((key, line), 0) / 1e9
                waited = timed + self.waits_paused.get((key, line), 0) / 1e9
                stats_.append(
                    LineStat(line, lines[line], max(0.0, times[key][line] - timed), waited)
                )
            out[key] = tuple(stats_)
        return out


class StageClock:
    """``cProfile``'s clock: seconds that stand still while a chosen stage waits."""

    def __init__(self) -> None:
        self.excluded = 0.0
        self.frozen_at: float | None = None

    def __call__(self) -> float:
        frozen = self.frozen_at
        return (time.perf_counter() if frozen is None else frozen) - self.excluded

    def freeze(self, yes: bool) -> None:
        now = time.perf_counter()
        if yes and self.frozen_at is None:
            self.frozen_at = now
        elif not yes and self.frozen_at is not None:
            self.excluded += now - self.frozen_at
            self.frozen_at = None


class CallTracer(Tracer):
    """``cProfile`` while any chosen stage runs, on a clock that stops while it waits.

    A chosen stage's wait on an upstream stage that is chosen too runs that stage's
    window, with the clock going; so each wait is also measured here, on the same clock,
    and charged to every Python function on the stack from the gate up to the waiting
    stage's window (``waits``): ``calls.function_rows`` takes it out of their cumulative
    time, as the line view takes upstream waits out of its lines.
    """

    def __init__(self) -> None:
        import cProfile

        self.clock = StageClock()
        self.profile = cProfile.Profile(self.clock)
        #: pstats key (file, first line, name) -> seconds on the stack during waits.
        self.waits: dict[tuple[str, int, str], float] = defaultdict(float)

    def start(self) -> None:
        self.profile.enable()

    def stop(self) -> None:
        self.profile.disable()

    def switch(self, working: bool, tracing: bool) -> None:
        self.clock.freeze(not working)

    def pulling(self, frame: types.FrameType) -> Any:
        """The functions waiting (each once, however deep it recurses) and the clock."""
        keys = set()
        f: types.FrameType | None = frame
        while f is not None and f.f_code not in WINDOW_CODES:
            code = f.f_code
            keys.add((code.co_filename, code.co_firstlineno, code.co_name))
            f = f.f_back
        return keys, self.clock()

    def waited(self, pull: Any, since_ns: int) -> None:
        keys, t0 = pull
        waited = self.clock() - t0
        for key in keys:
            self.waits[key] += waited

    def stats(self) -> dict[tuple[str, int, str], tuple[int, int, float, float, Any]]:
        import pstats

        return pstats.Stats(self.profile).stats  # type: ignore[attr-defined, no-any-return]
