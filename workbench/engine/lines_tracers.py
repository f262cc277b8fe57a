"""Profilers switched on only while a chosen stage works, with its upstream waits kept out.

A chosen stage is called, and its iterator advanced, inside a *window* (``Watched``); the
iterator it pulls from is a ``Gate``. While the stage works the profiler runs; while it
waits on the gate for its upstream (other stages, the source) its own clock stops:
``line_profiler`` cannot stop its clock, so the time each waiting line spent in the gate is
measured and taken out of that line afterwards; ``cProfile`` is given a clock that stands
still while the stage waits. Windows nest (``--all``): a chosen upstream stage working
inside a downstream stage's wait is profiled in its own window.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

CodeKey = tuple[str, int, str]  # (filename, first line, name), as line_profiler keys them


def code_key(code: types.CodeType) -> CodeKey:
    """line_profiler's label of a code object (its qualified name from Python 3.11 on)."""
    return (code.co_filename, code.co_firstlineno,
            getattr(code, "co_qualname", code.co_name))


class Tracer:
    """What a profiler does as the chosen stages start, pause, resume and stop working."""

    def start(self) -> None:
        """The outermost window opened."""

    def stop(self) -> None:
        """The outermost window closed."""

    def working(self, yes: bool) -> None:
        """A chosen stage resumed its own work (True) or began waiting upstream (False)."""

    def waited(self, frame: types.FrameType, ns: int) -> None:
        """``frame`` (a frame pulling from a gate) waited ``ns`` on its upstream."""


class Watch:
    """The stack of windows (a stage working) and gates (a stage waiting) on the main
    thread, telling its tracer every change. Other threads pass straight through."""

    def __init__(self, tracer: Tracer):
        self.tracer = tracer
        self.stack: list[bool] = []
        self.ident = threading.main_thread().ident

    def push(self, working: bool) -> None:
        stack = self.stack
        before = stack[-1] if stack else None
        if not stack:
            self.tracer.start()
        stack.append(working)
        if before is not working:
            self.tracer.working(working)

    def pop(self) -> None:
        stack = self.stack
        was = stack.pop()
        after = stack[-1] if stack else None
        if after is not was and after is not None:
            self.tracer.working(after)
        if not stack:
            if was:
                self.tracer.working(False)
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
        w = self._watch
        if not w.on_main_thread():
            return self._next()
        caller = sys._getframe(1)
        t0 = time.perf_counter_ns()  # the bookkeeping counts as waiting, not as the line
        w.push(False)
        try:
            return self._next()
        finally:
            w.pop()
            w.tracer.waited(caller, time.perf_counter_ns() - t0)


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
WINDOW_CODES = frozenset({Watched.__next__.__code__, Watched.close.__code__,
                          call_watched.__code__})


class LineTracer(Tracer):
    """``line_profiler`` on the stage functions (running through their waits, which are
    measured and taken out afterwards) and on ``--function`` helpers (paused while the
    stage waits, so a helper also called upstream is not counted)."""

    def __init__(self) -> None:
        from line_profiler import LineProfiler  # only when a line profile is asked for

        self.stages = LineProfiler()
        self.helpers = LineProfiler()
        self.stage_codes: set[CodeKey] = set()
        self.helper_codes: set[CodeKey] = set()
        self.waits: dict[tuple[CodeKey, int], int] = defaultdict(int)
        self.lost_hits: dict[tuple[CodeKey, int], int] = defaultdict(int)
        self._helpers_on = False

    def add(self, fn: types.FunctionType, helper: bool) -> None:
        """Register ``fn`` (its code is replaced by a marked copy: call it after this)."""
        (self.helpers if helper else self.stages).add_function(fn)
        (self.helper_codes if helper else self.stage_codes).add(code_key(fn.__code__))

    def start(self) -> None:
        self.stages.enable_by_count()

    def stop(self) -> None:
        self.stages.disable_by_count()

    def working(self, yes: bool) -> None:
        if not self.helper_codes:
            return
        if yes and not self._helpers_on:
            self.helpers.enable_by_count()
        elif not yes and self._helpers_on:
            self.helpers.disable_by_count()
        self._helpers_on = yes

    def waited(self, frame: types.FrameType, ns: int) -> None:
        f: types.FrameType | None = frame
        while f is not None and f.f_code not in WINDOW_CODES:
            key = code_key(f.f_code)
            if key in self.stage_codes:
                self.waits[(key, f.f_lineno)] += ns
            elif key in self.helper_codes:
                # Pausing the helper profiler dropped this line's pending hit: count it.
                self.lost_hits[(key, f.f_lineno)] += 1
            f = f.f_back

    def timings(self) -> tuple[dict[CodeKey, list[tuple[int, int, int]]], float]:
        """Per function, ``(line, hits, time in units)`` rows; and the unit in seconds."""
        out: dict[CodeKey, list[tuple[int, int, int]]] = {}
        unit = 1e-9
        for prof in (self.stages, self.helpers):
            stats = prof.get_stats()
            unit = stats.unit
            for key, rows in stats.timings.items():
                out.setdefault(key, []).extend(rows)
        return out, unit


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
    """``cProfile`` while any chosen stage runs, on a clock that stops while it waits."""

    def __init__(self) -> None:
        import cProfile

        self.clock = StageClock()
        self.profile = cProfile.Profile(self.clock)

    def start(self) -> None:
        self.profile.enable()

    def stop(self) -> None:
        self.profile.disable()

    def working(self, yes: bool) -> None:
        self.clock.freeze(not yes)

    def stats(self) -> dict[tuple[str, int, str], tuple[int, int, float, float, Any]]:
        import pstats

        return pstats.Stats(self.profile).stats  # type: ignore[attr-defined, no-any-return]
