"""The runner mode "lines": a pipeline run with ``line_profiler`` (or ``cProfile``) on the
stages chosen, reported as one ``LineProfile`` event when the run is over.

``LineRun`` is the ordinary ``child.Run`` (same probes, limits, snapshots and stop) with
its ``instrument`` hook choosing the stages and wrapping them (see ``lines_tracers``).
Options (``RunOptions.mode_options``): ``stages`` (names), ``all`` (bool), ``functions``
(``module:qualname`` specs, line view only) and ``view`` ("lines" or "functions").
Something asked for that cannot be profiled is a problem line in the event (exit 2); when
nothing at all can be, the run ends before it starts.
"""

from __future__ import annotations

import inspect
import signal
import sys
import types
import warnings
from collections.abc import Iterator
from typing import Any

from workbench.engine.child import EXIT_OK, EXIT_USER_ERROR, Run
from workbench.engine.lines.calls import function_rows
from workbench.engine.lines.targets import (
    Resolved,
    delegating_lines,
    resolve_function,
    resolve_source,
    resolve_stage,
    select_stages,
    swap_everywhere,
)
from workbench.engine.lines.tracers import (
    CallTracer,
    CodeKey,
    LineTracer,
    Tracer,
    Watch,
    Watched,
    call_watched,
    code_key,
)
from workbench.engine.protocol_tools import CallStat, LineProfile, ProfiledFunction
from workbench.errors import UserError

VIEWS = ("lines", "functions")
#: Rows of the function view sent: the top this many by own time, and by cumulative time.
TOP_CALLS = 40


class LineRun(Run):
    """One pipeline run with a profiler on the chosen stages."""

    def __init__(self, config: Any, outbox: Any, block: Any = None):
        super().__init__(config, outbox, block)
        opts = config.options
        self.view: str = opts.get("view", "lines")
        if self.view not in VIEWS:
            raise ValueError(f"unknown view {self.view!r}")
        self.wanted = tuple(opts.get("stages") or ())
        self.everything = bool(opts.get("all"))
        self.function_specs = tuple(opts.get("functions") or ())
        self.tracer: Tracer | None = None
        self.watch: Watch | None = None
        self.chosen: list[str] = []
        self.targets: list[tuple[Resolved, bool]] = []  # (resolved, is a --function)
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.reported = False
        self.pipeline_name = "the pipeline"
        self.pipeline_module = ""

    # ---- choosing and wrapping ------------------------------------------------------
    def load(self) -> tuple[Any, dict[str, Any]]:
        pipe, params = super().load()
        self.pipeline_name = pipe.name
        self.pipeline_module = pipe.factory.__module__
        return pipe, params

    def instrument(
        self, source: Iterator[Any], stages: list[Any]
    ) -> tuple[Iterator[Any], list[Any]]:
        names = self.stage_names
        lines = self.view == "lines"
        home = sys.modules.get(self.pipeline_module) or types.ModuleType("?")
        helpers = [resolve_function(s, home) for s in self.function_specs] if lines else []
        if self.function_specs and not lines:
            self.notes.append(
                "--function applies to the line view; the function view "
                "shows every function the chosen stages call"
            )
        # No stage named: the --function helpers are profiled wherever they run.
        anywhere = not self.wanted and not self.everything
        picked, self.problems = select_stages(
            names, self.wanted, self.everything or anywhere, self.pipeline_name
        )
        remake = None
        for i in [] if anywhere else picked:
            if i == 0:
                resolved, remake = resolve_source(names[0], source)
            else:
                resolved = resolve_stage(names[i], stages[i - 1])
            self.targets.append((resolved, False))
            if resolved.problem and lines:
                # A builtin stage still runs in a window: --function helpers it calls count.
                excused = self.everything or any(h.functions for h in helpers)
                if excused:
                    self.notes.append(f"not line-profiled: {resolved.problem}")
                else:
                    self.problems.append(resolved.problem)
            if resolved.note and lines:
                self.notes.append(resolved.note)
        for h in helpers:
            self.targets.append((h, True))
            if h.problem:
                self.problems.append(h.problem)
            if h.note:
                self.notes.append(h.note)
        if not picked or (lines and not any(r.functions for r, _ in self.targets)):
            self.send_profile()
            raise UserError(self.problems[0] if self.problems else "nothing to profile")
        self.chosen = [] if anywhere else [names[i] for i in picked]
        if not lines:
            self.notes.append(
                "cumulative time leaves out the time a stage waited on its upstream stages, "
                "as the line view does; pipebench's own calls are not listed"
            )
        self.tracer = LineTracer() if lines else CallTracer()
        self.watch = watch = Watch(self.tracer)
        if isinstance(self.tracer, LineTracer):
            self._register(self.tracer)
        if 0 in picked:
            if lines and remake is not None:
                old, source = source, remake()
                getattr(old, "close", lambda: None)()  # never started: nothing runs
            source = Watched(watch, source)
        wrapped = list(stages)
        for i in picked:
            if i > 0:
                wrapped[i - 1] = self._watched_stage(names[i], stages[i - 1])
        return source, wrapped

    def _register(self, tracer: LineTracer) -> None:
        """Give the functions to line_profiler (which replaces their code objects)."""
        staged = {f for r, helper in self.targets if not helper for f in r.functions}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # line_profiler's advice on __wrapped__
            for resolved, helper in self.targets:
                for fn in resolved.functions:
                    if helper and fn in staged:
                        self.notes.append(
                            f"--function {resolved.label} is a stage already profiled"
                        )
                        continue
                    tracer.add(fn, helper)
                for compiled, twin in resolved.swaps:
                    if not swap_everywhere(compiled, twin):
                        self.notes.append(
                            f"--function {resolved.label}: no module holds the compiled "
                            "function by name, so the pipeline still calls the compiled code "
                            "and its Python twin's lines get no hits"
                        )

    def _watched_stage(self, name: str, fn: Any) -> Any:
        watch = self.watch
        assert watch is not None
        codes = {
            f.__code__
            for r, helper in self.targets
            if r.label == name and not helper
            for f in r.functions
        }
        lines = self.view == "lines"

        def stage(upstream: Iterator[Any]) -> Any:
            out = call_watched(watch, fn, upstream)
            inner = out.it if isinstance(out, Watched) else out
            step = getattr(type(inner), "__next__", None)
            if (
                lines
                and codes
                and getattr(inner, "gi_code", None) not in codes
                and getattr(step, "__code__", None) not in codes
            ):
                self.notes.append(
                    f"stage {name} returned a {type(inner).__name__}: its own lines ran "
                    "once, building it; the per-item work runs inside that iterator, so "
                    "profile the functions it calls with --function MODULE:QUALNAME"
                )
            return out

        return stage

    # ---- reporting ------------------------------------------------------------------
    def close_chain(self) -> None:
        """Close the chain (its finally blocks run inside their windows), then report."""
        super().close_chain()
        self.send_profile()

    def send_profile(self) -> None:
        if self.reported:
            return
        self.reported = True
        functions: tuple[ProfiledFunction, ...] = ()
        calls: tuple[CallStat, ...] = ()
        if isinstance(self.tracer, LineTracer):
            functions = self._functions(self.tracer)
        elif isinstance(self.tracer, CallTracer):
            calls = self._calls(self.tracer)
        self.outbox.post(
            LineProfile(
                view=self.view,
                stages=tuple(self.chosen),
                functions=functions,
                calls=calls,
                problems=tuple(self.problems),
                notes=tuple(dict.fromkeys(self.notes)),
            )
        )

    def _functions(self, tracer: LineTracer) -> tuple[ProfiledFunction, ...]:
        line_stats = tracer.line_stats()
        out = []
        seen: set[CodeKey] = set()
        for resolved, helper in self.targets:
            for fn in resolved.functions:
                key = code_key(fn.__code__)
                if key in seen:
                    continue
                seen.add(key)
                stats = line_stats.get(key, ())
                if resolved.swaps and not any(s.hits for s in stats):
                    self.notes.append(
                        f"--function {resolved.label} never ran: the pipeline reaches the "
                        "compiled function through a reference pipebench could not swap (a "
                        "closure, a partial, an attribute); call it through a module global"
                    )
                source, first = _source(fn)
                for n in delegating_lines(fn):
                    self.notes.append(
                        f"{fn.__qualname__} line {n} delegates with `yield from`: "
                        "line_profiler counts that line once, so most of its time shows "
                        "nowhere; profile the generator it delegates to with --function"
                    )
                out.append(
                    ProfiledFunction(
                        name=fn.__qualname__,
                        module=fn.__module__,
                        path=fn.__code__.co_filename,
                        first_line=first,
                        source=source,
                        lines=tuple(stats),
                        stage=None if helper else resolved.label,
                    )
                )
        return tuple(out)

    def _calls(self, tracer: CallTracer) -> tuple[CallStat, ...]:
        rows = function_rows(tracer.stats(), tracer.waits)
        by_own = sorted(rows, key=lambda c: -c.own_s)[:TOP_CALLS]
        by_cum = sorted(rows, key=lambda c: -c.cum_s)[:TOP_CALLS]
        return tuple(dict.fromkeys(by_own + by_cum))


def _source(fn: types.FunctionType) -> tuple[tuple[str, ...], int]:
    """The function's source lines and the number of its first line."""
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return (), fn.__code__.co_firstlineno
    return tuple(line.rstrip("\n") for line in lines), max(first, 1)


def child_main(cfg: Any, outbox: Any, block: Any = None) -> int:
    """The "lines" runner mode: returns the exit code (2 when something asked for could not
    be profiled, whatever else was)."""
    run = LineRun(cfg, outbox, block)
    signal.signal(signal.SIGINT, run.on_signal)
    signal.signal(signal.SIGTERM, run.on_signal)
    code = run.execute()
    if code == EXIT_OK and run.problems:
        return EXIT_USER_ERROR
    return code
