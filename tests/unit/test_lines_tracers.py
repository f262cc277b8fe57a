"""The profiler windows in this process: a stage's upstream waits kept out of its lines,
helpers counted only inside the stage, cProfile's clock stopped while the stage waits."""

from __future__ import annotations

import time

from workbench.engine.lines.tracers import (
    CallTracer,
    LineTracer,
    StageClock,
    Watch,
    Watched,
    call_watched,
    code_key,
)
from workbench.engine.protocol import decode, encode
from workbench.engine.protocol_tools import LineProfile, LineStat, ProfiledFunction


def slow_source(n):
    for i in range(n):
        time.sleep(0.002)  # upstream work: must not land on the stage's lines
        shared(i)
        yield i


def shared(x):
    return x + 1


def stage_fn(items):
    for x in items:
        y = shared(x)
        yield y


def mid_line(items):
    it = iter(items)
    while True:
        try:
            y = shared(next(it))  # pulls in the middle of the line
        except StopIteration:
            return
        yield y


def run(tracer, fn=stage_fn, n=20):
    watch = Watch(tracer)
    out = call_watched(watch, fn, slow_source(n))
    assert isinstance(out, Watched)
    assert list(out) == [i + 1 for i in range(n)]
    out.close()
    assert watch.stack == []


def line_tracer(fn):
    tracer = LineTracer()
    tracer.add(fn, helper=False)
    tracer.add(shared, helper=True)
    return tracer


def test_a_for_line_waits_untraced_and_keeps_its_hits():
    tracer = line_tracer(stage_fn)
    run(tracer)
    stats = tracer.line_stats()
    first = stage_fn.__code__.co_firstlineno
    lines = {s.line: s for s in stats[code_key(stage_fn.__code__)]}
    assert [lines[first + i].hits for i in (1, 2, 3)] == [21, 20, 20]
    assert lines[first + 1].upstream_s >= 20 * 0.002  # waited for every item
    assert lines[first + 1].time_s < 0.01  # ... and none of it is the line's own time
    # The helper ran 40 times (20 upstream, 20 in the stage): only the stage's count.
    assert [s.hits for s in stats[code_key(shared.__code__)]] == [20]


def test_a_pull_mid_line_is_timed_then_taken_out():
    tracer = line_tracer(mid_line)
    run(tracer, mid_line)
    line = mid_line.__code__.co_firstlineno + 4
    stat = next(s for s in tracer.line_stats()[code_key(mid_line.__code__)] if s.line == line)
    assert stat.hits == 21
    assert stat.upstream_s >= 20 * 0.002
    assert stat.time_s < 0.01
    assert tracer.waits_timed and not tracer.waits_paused


def test_the_function_view_clock_stands_still_while_the_stage_waits():
    tracer = CallTracer()
    run(tracer)
    stats = {name: (nc, own, cum) for (_, _, name), (_, nc, own, cum, _) in tracer.stats().items()}
    assert stats["stage_fn"][0] == 21
    assert stats["stage_fn"][2] < 0.02  # 40 ms of sleeping upstream are not in it
    assert stats["shared"][0] == 40  # called upstream too, but with no time there
    assert stats["slow_source"][2] == 0.0


def test_stage_clock():
    clock = StageClock()
    a = clock()
    clock.freeze(True)
    b = clock()
    time.sleep(0.01)
    assert clock() == b
    clock.freeze(False)
    assert clock() - b < 0.005 and b >= a


def test_line_profile_round_trip():
    event = LineProfile(
        view="lines",
        stages=("s",),
        functions=(
            ProfiledFunction(
                "f", "m", "/m.py", 3, ("def f():", "    x = 1"), (LineStat(4, 2, 0.5, 0.1),), "s"
            ),
        ),
        problems=("no stage 'x'",),
        notes=("a note",),
    )
    back = decode(encode(event))
    assert back == event
    assert isinstance(back.functions[0].lines[0], LineStat)
    assert back.functions[0].total_s == 0.5
