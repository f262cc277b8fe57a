"""Events survive the JSON-lines round trip; anything else is refused clearly."""

import pytest

from workbench.engine.protocol import (
    VERSION,
    Exited,
    Failure,
    Finished,
    Hello,
    Log,
    MemorySample,
    ProtocolError,
    Snapshot,
    StageSample,
    decode,
    encode,
)

MEM = MemorySample(
    rss=10, uss=8, rss_start=5, rss_peak=12, rss_peak_sampled=11, rss_hwm=12, uss_peak=9
)
EVENTS = [
    Hello(1, "p", "m", "/x/m.py", {"batch_size": 4}, ("src", "a"), "c", "3.11.7", 1.5),
    Snapshot(
        100,
        (StageSample(4, 1, 60, False), StageSample(4, 1, 40, True)),
        0,
        MEM,
        -1,
        {"caches": [{"name": "f", "hits": 1}]},
    ),
    Log("stdout", "hello"),
    Failure("run", "ValueError", "bad", "Traceback...", "a", False),
    Finished("failed", None, "stage a raised"),
    Exited(-9, "SIGKILL", "memory_budget", ("last line",)),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_round_trip(event):
    line = encode(event)
    assert line.endswith("\n") and "\n" not in line[:-1]
    assert decode(line) == event


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        '{"v": 1, "e": "nope"}',
        '{"v": 99, "e": "log", "stream": "a", "text": "b"}',
        f'{{"v": {VERSION}, "e": "log"}}',
    ],
)
def test_bad_lines_are_refused(line):
    with pytest.raises(ProtocolError):
        decode(line)
