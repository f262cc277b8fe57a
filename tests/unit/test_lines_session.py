"""The line-profile job folded from events: rows with shares and ranks, the cost of looking,
and the report ``--json`` writes."""

from __future__ import annotations

from workbench.engine.lines.session import (
    BASELINE,
    PROFILE,
    LinesState,
    apply_lines,
    cost_of_looking,
    hottest,
    line_rows,
    lines_report,
    top_calls,
)
from workbench.engine.protocol import Exited, Finished, Hello, Snapshot, StageSample
from workbench.engine.protocol_tools import CallStat, LineProfile, LineStat, ProfiledFunction

FN = ProfiledFunction(
    name="hot",
    module="m",
    path="/m.py",
    first_line=1,
    source=(
        "def hot(items):",
        "    for x in items:",
        "        a = 1",
        "        b = heavy()",
        "        yield a + b",
    ),
    lines=(
        LineStat(2, 11, 0.01, 0.4),
        LineStat(3, 10, 0.02),
        LineStat(4, 10, 0.9),
        LineStat(5, 10, 0.07),
    ),
    stage="hot",
)
MEM = None  # memory plays no part in a line profile's figures


def events(per_item_ns: int, items: int):
    elapsed = per_item_ns * items
    return [
        Hello(1, "p", "m", "/m.py", {}, ("src", "hot"), "c", "3.11", 0.0),
        Snapshot(
            elapsed,
            (
                StageSample(items, items, elapsed // 10, True),
                StageSample(items, items, elapsed * 8 // 10, True),
            ),
            0,
            MEM,
        ),
        Finished("finished"),
        Exited(0),
    ]


def test_line_rows_share_rank_and_order():
    rows = line_rows(FN)
    assert [r.line for r in rows] == [1, 2, 3, 4, 5]
    assert not rows[0].ran and rows[0].hits == 0
    hot = rows[3]
    assert hot.rank == 1 and round(hot.pct, 1) == 90.0 and hot.per_hit_s == 0.09
    assert [r.rank for r in rows] == [None, None, 3, 1, 2]
    assert rows[1].upstream_s == 0.4
    assert [r.line for r in hottest(rows, 2)] == [4, 5]
    assert [r.line for r in hottest(rows, None)] == [4, 5, 3, 2]


def test_cost_of_looking_from_both_runs():
    state = LinesState("m.py:p")
    for ev in events(1_000_000, 100):  # profiled: 1 ms per item
        state = apply_lines(state, PROFILE, ev)
    state = apply_lines(state, PROFILE, LineProfile("lines", ("hot",), (FN,)))
    assert cost_of_looking(state) is None  # no baseline yet
    for ev in events(250_000, 100):  # baseline: 4 times faster
        state = apply_lines(state, BASELINE, ev)
    cost = cost_of_looking(state)
    assert cost is not None
    assert round(cost.slowdown or 0, 6) == 4.0
    assert cost.baseline_items == cost.profiled_items == 100
    (stage,) = cost.stages
    assert stage.name == "hot" and round(stage.factor or 0, 6) == 4.0
    report = lines_report(state)
    assert report["functions"][0]["hottest"] == [4, 5, 3]
    assert report["cost_of_looking"]["slowdown"] == cost.slowdown
    assert report["runs"]["baseline"]["status"] == "finished"


def test_top_calls():
    calls = (CallStat("a", "/m.py", 1, 1, 1, 0.1, 0.9), CallStat("b", "/m.py", 5, 3, 3, 0.5, 0.5))
    assert [c.name for c in top_calls(calls, "own", 5)] == ["b", "a"]
    assert [c.name for c in top_calls(calls, "cum", 1)] == ["a"]
