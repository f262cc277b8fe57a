"""Pure aggregation of a line-profile job: its two runs, the profile, the cost of looking.

A job is a profiled run (mode "lines") and an unprofiled baseline of the same pipeline with
the same parameters and limits; both fold through ``session.apply``, so their throughputs
are the numbers ``pipebench run`` would show. ``line_rows`` turns one profiled function into
the rows every view shows (hits, time, time per hit, share, the hottest lines ranked).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.protocol import Event
from workbench.engine.protocol_tools import CallStat, LineProfile, ProfiledFunction
from workbench.engine.session import (
    RunState,
    apply,
    report,
    stage_rows,
    throughput,
    with_lines,
)

BASELINE, PROFILE = "baseline", "profile"
#: How many of a function's lines are ranked as its hottest (marked #1, #2, ...).
HOT_LINES = 3
LINES_SCHEMA = 1


@dataclass(frozen=True)
class LinesState:
    """Everything known about one line-profile job so far."""

    target: str
    view: str = "lines"
    profiled: RunState | None = None
    baseline: RunState | None = None
    profile: LineProfile | None = None
    options: dict[str, Any] = field(default_factory=dict)
    picked: str | None = None  # no stage named: the one the baseline chose (most_self_time)


def run_of(state: LinesState, phase: str) -> RunState | None:
    """The run of ``phase`` (baseline or profile) so far, None before its first event."""
    return state.baseline if phase == BASELINE else state.profiled


def begin(state: LinesState, phase: str, started_at: float) -> LinesState:
    """The state with a fresh run for ``phase``, started at ``started_at`` (epoch s)."""
    run = RunState(state.target, started_at=started_at, options=state.options)
    if phase == BASELINE:
        return dataclasses.replace(state, baseline=run)
    return dataclasses.replace(state, profiled=run)


def apply_lines(state: LinesState, phase: str, event: Event) -> LinesState:
    """The state after one more event of the run of ``phase`` (baseline or profile)."""
    replace = dataclasses.replace
    if phase == BASELINE:
        base = state.baseline or RunState(state.target, options=state.options)
        return replace(state, baseline=apply(base, event))
    run = state.profiled or RunState(state.target, options=state.options)
    state = replace(state, profiled=apply(run, event))
    if isinstance(event, LineProfile):
        state = replace(state, profile=event)
    return state


def apply_output(
    state: LinesState, phase: str, lines: list[tuple[str, str]], skipped: int
) -> LinesState:
    """The state after output lines (``(stream, text)``) of the run of ``phase``, and
    ``skipped`` lines of it that went unseen (kept in that run's log tail)."""
    run = run_of(state, phase) or RunState(state.target, options=state.options)
    run = with_lines(run, lines, skipped)
    if phase == BASELINE:
        return dataclasses.replace(state, baseline=run)
    return dataclasses.replace(state, profiled=run)


def running_phase(state: LinesState) -> str | None:
    """The phase whose run is going (begun and not ended), None between runs."""
    for phase in (PROFILE, BASELINE):
        run = run_of(state, phase)
        if run is not None and not run.ended:
            return phase
    return None


def most_self_time(run: RunState) -> str | None:
    """The stage to profile when none was named: ``run``'s bottleneck, or, when the run had
    too little evidence to name one, the stage with the most self time (compilation left
    out); None when no stage took any."""
    rows = stage_rows(run)
    marked = next((r.name for r in rows if r.bottleneck), None)
    if marked is not None or not rows:
        return marked
    top = max(rows, key=lambda r: r.work_s)
    return top.name if top.work_s > 0 else None


@dataclass(frozen=True)
class StageCost:
    """One profiled stage's self time per item, without and with the profiler."""

    name: str
    baseline_s_per_item: float | None
    profiled_s_per_item: float | None

    @property
    def factor(self) -> float | None:
        b, p = self.baseline_s_per_item, self.profiled_s_per_item
        return p / b if b and p else None


@dataclass(frozen=True)
class Cost:
    """The cost of looking: the same pipeline's throughput without and with the profiler."""

    baseline_items_per_s: float
    profiled_items_per_s: float
    baseline_items: int
    profiled_items: int
    stages: tuple[StageCost, ...]

    @property
    def slowdown(self) -> float | None:
        """How many times slower the profiled run was (2.0: half the throughput)."""
        p = self.profiled_items_per_s
        return self.baseline_items_per_s / p if p > 0 else None


def _per_item(state: RunState) -> dict[str, float | None]:
    return {r.name: (r.self_s / r.items if r.items else None) for r in stage_rows(state)}


def cost_of_looking(state: LinesState) -> Cost | None:
    """Both runs' throughput and the profiled stages' self time per item, once both ran."""
    base, prof = state.baseline, state.profiled
    if base is None or prof is None or not base.ended or not prof.ended:
        return None
    b, p = throughput(base), throughput(prof)
    if not b or p is None:
        return None
    b_items, p_items = _per_item(base), _per_item(prof)
    names = state.profile.stages if state.profile else ()
    stages = tuple(StageCost(n, b_items.get(n), p_items.get(n)) for n in names)
    rows_b, rows_p = stage_rows(base), stage_rows(prof)
    return Cost(b, p, rows_b[-1].items if rows_b else 0, rows_p[-1].items if rows_p else 0, stages)


@dataclass(frozen=True)
class LineRow:
    """One source line as shown: hits, time (upstream waits taken out), share, rank."""

    line: int
    text: str
    hits: int
    time_s: float
    per_hit_s: float | None
    pct: float  # of the function's time
    upstream_s: float
    rank: int | None  # 1 for the hottest line, up to HOT_LINES; None otherwise
    ran: bool  # line_profiler saw it run


def line_rows(fn: ProfiledFunction, hot: int = HOT_LINES) -> list[LineRow]:
    """Every source line of ``fn`` in order, with its figures; the hottest ranked."""
    total = fn.total_s
    stats = {s.line: s for s in fn.lines}
    ranked = sorted((s for s in fn.lines if s.time_s > 0), key=lambda s: -s.time_s)[:hot]
    ranks = {s.line: i + 1 for i, s in enumerate(ranked)}
    numbers = [fn.first_line + i for i in range(len(fn.source))]
    numbers += sorted(n for n in stats if n not in set(numbers))  # source unavailable
    rows = []
    for n in numbers:
        i = n - fn.first_line
        text = fn.source[i] if 0 <= i < len(fn.source) else ""
        s = stats.get(n)
        if s is None:
            rows.append(LineRow(n, text, 0, 0.0, None, 0.0, 0.0, None, False))
            continue
        rows.append(
            LineRow(
                n,
                text,
                s.hits,
                s.time_s,
                s.time_s / s.hits if s.hits else None,
                100.0 * s.time_s / total if total > 0 else 0.0,
                s.upstream_s,
                ranks.get(n),
                True,
            )
        )
    return rows


def hottest(rows: list[LineRow], n: int | None) -> list[LineRow]:
    """The ``n`` lines that took the most time, hottest first (all that ran for None)."""
    ran = sorted((r for r in rows if r.ran), key=lambda r: (-r.time_s, r.line))
    return ran if n is None else ran[:n]


def top_calls(calls: tuple[CallStat, ...], by: str, n: int) -> list[CallStat]:
    """The function view's rows: the top ``n`` by "own" or "cum" time."""
    key = (lambda c: -c.own_s) if by == "own" else (lambda c: -c.cum_s)
    return sorted(calls, key=key)[:n]


def lines_report(state: LinesState) -> dict[str, Any]:
    """The job as written by ``--json``: the profile, the cost of looking, both runs."""
    prof = state.profile
    cost = cost_of_looking(state)
    functions = []
    for fn in prof.functions if prof else ():
        rows = line_rows(fn)
        functions.append(
            {
                "name": fn.name,
                "module": fn.module,
                "path": fn.path,
                "stage": fn.stage,
                "first_line": fn.first_line,
                "total_s": fn.total_s,
                "upstream_s": sum(s.upstream_s for s in fn.lines),
                "hottest": [r.line for r in hottest(rows, HOT_LINES)],
                "lines": [dataclasses.asdict(r) for r in rows],
            }
        )
    return {
        "schema": LINES_SCHEMA,
        "kind": "lines",
        "target": state.target,
        "view": state.view,
        "options": state.options,
        "stages": list(prof.stages) if prof else [],
        "functions": functions,
        "calls": [dataclasses.asdict(c) for c in prof.calls] if prof else [],
        "problems": list(prof.problems) if prof else [],
        "notes": list(prof.notes) if prof else [],
        "cost_of_looking": None
        if cost is None
        else {
            "baseline_items_per_s": cost.baseline_items_per_s,
            "profiled_items_per_s": cost.profiled_items_per_s,
            "baseline_items": cost.baseline_items,
            "profiled_items": cost.profiled_items,
            "slowdown": cost.slowdown,
            "stages": [
                {
                    "name": s.name,
                    "baseline_s_per_item": s.baseline_s_per_item,
                    "profiled_s_per_item": s.profiled_s_per_item,
                    "factor": s.factor,
                }
                for s in cost.stages
            ],
        },
        "runs": {
            "profiled": report(state.profiled) if state.profiled else None,
            "baseline": report(state.baseline) if state.baseline else None,
        },
    }
