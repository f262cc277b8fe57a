"""Events survive the JSON-lines round trip; anything else is refused clearly."""

import pytest

from workbench.engine.protocol import (
    VERSION,
    Exited,
    Failure,
    Finished,
    Hello,
    Log,
    ProtocolError,
    Sections,
    Snapshot,
    StageSample,
    decode,
    encode,
)
from workbench.engine.sections.cache_entries import make_row
from workbench.engine.sections.caches import CachesSection
from workbench.engine.sections.memory import MemorySection, MemoryTotals, ProcessMemory
from workbench.engine.sections.snapshot import SnapshotSections

MEM = MemorySection(
    now=MemoryTotals(rss=10, anon=6, file=4, uss=8, pss=9),
    start=MemoryTotals(rss=5, anon=3, file=2),
    peak=MemoryTotals(rss=12, anon=7, file=5, uss=9, pss=10),
    processes=(
        ProcessMemory(7, "runner", "python", True, MemoryTotals(rss=10), MemoryTotals(rss=12), 12),
    ),
    samples=3,
    runner_hwm=12,
)
EVENTS = [
    Hello(1, "p", "m", "/x/m.py", {"batch_size": 4}, ("src", "a"), "c", "3.11.7", 1.5),
    Snapshot(
        100,
        (StageSample(4, 1, 60, False), StageSample(4, 1, 40, True)),
        0,
        MEM,
        -1,
        SnapshotSections(
            caches=CachesSection((make_row("f", "memory", "lru_cache", hits=1, misses=0),))
        ),
    ),
    Snapshot(5, (StageSample(1, 1, 5, True, 2),), 0, None, -1, SnapshotSections(), 1, 7),
    Sections(SnapshotSections(caches=CachesSection(), unavailable={"contexts": "boom"})),
    Log("stdout", "hello"),
    Failure("run", "ValueError", "bad", "Traceback...", "a", False),
    Finished("failed", None, "stage a raised"),
    Exited(-9, "SIGKILL", "memory_budget", ("last line",)),
    Exited(0, None, None, (), "max_seconds", "Fatal Python error", ("loky worker (pid 3)",), True),
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


def test_a_line_of_another_version_names_the_version_it_got():
    with pytest.raises(ProtocolError, match="protocol version 1 is not"):
        decode('{"v": 1, "e": "log", "stream": "a", "text": "b"}')
