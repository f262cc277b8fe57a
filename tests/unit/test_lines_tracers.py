"""The profiler windows in this process: a stage's upstream waits kept out of its lines,
helpers counted only inside the stage, cProfile's clock stopped while the stage waits."""

from __future__ import annotations

import time

from workbench.engine.lines_tracers import (
    CallTracer,
    LineTracer,
    StageClock,
    Watch,
    Watched,
    call_watched,
    code_key,
)
from workbench.engine.protocol import LineProfile, LineStat, ProfiledFunction, decode, encode


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


def run(tracer, n=20):
    watch = Watch(tracer)
    out = call_watched(watch, stage_fn, slow_source(n))
    assert isinstance(out, Watched)
    assert list(out) == [i + 1 for i in range(n)]
    out.close()
    assert watch.stack == []


def test_upstream_waits_are_taken_out_and_helpers_counted_inside_only():
    tracer = LineTracer()
    tracer.add(stage_fn, helper=False)
    tracer.add(shared, helper=True)
    run(tracer)
    timings, unit = tracer.timings()
    first = stage_fn.__code__.co_firstlineno
    rows = {line: (hits, t * unit) for line, hits, t in timings[code_key(stage_fn.__code__)]}
    wait = tracer.waits[(code_key(stage_fn.__code__), first + 1)] / 1e9
    assert wait >= 20 * 0.002  # the for line waited for every item
    assert rows[first + 1][0] == 21
    assert rows[first + 1][1] >= wait  # line_profiler's own figure still holds the wait
    # The helper ran 40 times (20 upstream, 20 in the stage): only the stage's count.
    helper = timings[code_key(shared.__code__)]
    assert [hits for _, hits, _ in helper] == [20]


def test_the_function_view_clock_stands_still_while_the_stage_waits():
    tracer = CallTracer()
    run(tracer)
    stats = {name: (nc, own, cum) for (_, _, name), (_, nc, own, cum, _) in
             tracer.stats().items()}
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
        view="lines", stages=("s",),
        functions=(ProfiledFunction("f", "m", "/m.py", 3, ("def f():", "    x = 1"),
                                    (LineStat(4, 2, 0.5, 0.1),), "s"),),
        problems=("no stage 'x'",), notes=("a note",))
    back = decode(encode(event))
    assert back == event
    assert isinstance(back.functions[0].lines[0], LineStat)
    assert back.functions[0].total_s == 0.5
