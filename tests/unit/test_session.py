"""Folding events into a run's state: rows, bottleneck, final status and the report."""

from __future__ import annotations

import dataclasses

import pytest

from workbench.engine.protocol import (
    Exited,
    Failure,
    Finished,
    Hello,
    Log,
    Snapshot,
    StageSample,
)
from workbench.engine.sections.cache_entries import make_row
from workbench.engine.sections.caches import CachesSection
from workbench.engine.sections.memory import MemorySection, MemoryTotals
from workbench.engine.sections.snapshot import SnapshotSections
from workbench.engine.session import RunState, apply, report, stage_rows, window_of

MEM = MemorySection(
    now=MemoryTotals(rss=200, anon=120, file=80, uss=150),
    start=MemoryTotals(rss=100, anon=60, file=40),
    peak=MemoryTotals(rss=250, anon=170, file=80, uss=160),
    samples=12,
)
HELLO = Hello(
    42,
    "demo",
    "demo_mod",
    "/x/demo_mod.py",
    {"batch_size": 10},
    ("read", "tokenize", "features"),
    "c",
    "3.11.7",
    1000.0,
)


def snap(elapsed_s: float, items: int, selfs=(0.2, 0.5, 0.3), compile_s=0.0) -> Snapshot:
    stages = tuple(
        StageSample(items, items // 10, int(s * 1e9), False, int(compile_s * 1e9) if i == 2 else 0)
        for i, s in enumerate(selfs)
    )
    return Snapshot(int(elapsed_s * 1e9), stages, 0, MEM)


def fold(*events, target="demo_mod.py:demo"):
    state = RunState(target)
    for e in events:
        state = apply(state, e)
    return state


def test_rows_bottleneck_and_rates():
    state = fold(HELLO, snap(0.5, 500), snap(1.0, 1000))
    rows = stage_rows(state)
    assert [r.name for r in rows] == ["read", "tokenize", "features"]
    assert [r.bottleneck for r in rows] == [False, True, False]
    assert rows[1].self_pct == 50.0
    assert rows[0].items_per_s == 1000.0
    assert rows[1].mean_batch_s == 0.5 / 100
    assert rows[0].batches_per_s == 100.0
    assert state.status == "running"


def test_the_live_rate_is_over_a_window_of_a_second_and_five_batches():
    # A tiny gap between two snapshots must not make a rate: 10 items in 1 ms is not 10k/s.
    state = fold(HELLO, snap(0.5, 500), snap(0.501, 510))
    assert state.rate is None and window_of(state) is None
    state = fold(HELLO, snap(0.5, 500), snap(1.0, 1000), snap(1.6, 1600))
    assert state.rate == pytest.approx(1000.0)
    span, batches = window_of(state)
    assert span >= 1.0 and batches >= 5
    # Five batches is the floor even when a second has passed: slow batches widen the window.
    slow = fold(HELLO, snap(0.0, 0), snap(1.0, 20), snap(2.0, 40))
    assert slow.rate is None  # 2 s hold only 4 batches
    slow = fold(HELLO, snap(0.0, 0), snap(1.0, 20), snap(2.0, 40), snap(3.0, 60))
    assert slow.rate == pytest.approx(20.0) and window_of(slow) == (3.0, 6)
    # "max" is the largest windowed rate, never a spike between two close snapshots.
    spiky = fold(HELLO, snap(0.5, 500), snap(1.5, 1500), snap(1.501, 1600), snap(2.6, 2700))
    assert spiky.rate_max is not None and spiky.rate_max < 1100


def test_finished_run_report_has_the_documented_fields():
    state = fold(HELLO, snap(1.0, 1000), Finished("finished"), Exited(0))
    rep = report(state, finished_at=1001.0)
    for key in (
        "pipeline",
        "module",
        "params",
        "status",
        "duration_s",
        "stages",
        "memory",
        "error",
    ):
        assert key in rep
    assert rep["status"] == "finished" and rep["error"] is None
    assert rep["stages"][1] == {
        "name": "tokenize",
        "items": 1000,
        "batches": 100,
        "items_per_s": 1000.0,
        "batches_per_s": 100.0,
        "self_s": 0.5,
        "self_pct": 50.0,
        "compile_s": 0.0,
        "mean_batch_s": 0.005,
        "bottleneck": True,
        "done": False,
    }
    assert rep["memory"]["rss_start_bytes"] == 100
    assert rep["memory"]["rss_peak_bytes"] == 250
    assert rep["memory"]["rss_end_bytes"] == 200
    assert rep["memory"]["uss_peak_bytes"] == 160
    assert rep["memory"]["private_peak_bytes"] == 170
    assert rep["memory"]["file_peak_bytes"] == 80


def test_no_bottleneck_without_evidence():
    # Failed at start: 0 items, a sliver of time. Nothing to name.
    state = fold(HELLO, snap(0.02, 0, selfs=(0.001, 0.019, 0.0)), Exited(1))
    assert not any(r.bottleneck for r in stage_rows(state))
    assert report(state)["bottleneck"] is None
    # Three batches and 50 ms of self time are enough.
    state = fold(HELLO, snap(1.0, 30))
    assert report(state)["bottleneck"] == "tokenize"


def test_jit_compile_time_is_shown_apart_and_does_not_name_the_bottleneck():
    # features took 0.6 s, 0.5 s of it compiling: tokenize (0.5 s of work) is the bottleneck.
    state = fold(HELLO, snap(1.3, 1000, selfs=(0.2, 0.5, 0.6), compile_s=0.5))
    rows = stage_rows(state)
    assert rows[2].compile_s == 0.5 and abs(rows[2].work_s - 0.1) < 1e-9
    assert [r.bottleneck for r in rows] == [False, True, False]
    assert report(state)["stages"][2]["compile_s"] == 0.5


def test_a_kill_keeps_the_reason_the_parent_asked_for():
    state = fold(HELLO, snap(4.0, 300), Exited(-9, "SIGKILL", "stop_timeout", (), "max_seconds"))
    assert state.status == "stopped" and state.stop_reason == "max_seconds"
    assert "max_seconds" in state.message
    assert report(state)["duration_s"] == 4.0 and report(state)["memory"] is not None


def test_a_crash_quotes_the_line_that_says_what_happened():
    ex = Exited(-11, "SIGSEGV", None, ("Extension modules: psutil",), None,
                "Fatal Python error: Segmentation fault")  # fmt: skip
    state = fold(HELLO, snap(1.0, 300), ex)
    assert "Fatal Python error: Segmentation fault" in state.message
    assert "Extension modules" not in state.message


def test_a_closed_events_pipe_ends_the_run_as_crashed_with_that_reason():
    state = fold(HELLO, snap(1.0, 300), Exited(0, events_closed=True))
    assert state.status == "crashed" and "events pipe" in state.message


def test_stage_failure_keeps_counts_and_traceback():
    fail = Failure("run", "ValueError", "bad row", "Traceback ...", "tokenize", False)
    state = fold(
        HELLO, snap(1.0, 300), fail, Finished("failed", None, "stage tokenize raised"), Exited(1)
    )
    rep = report(state)
    assert rep["status"] == "failed"
    assert rep["error"]["type"] == "ValueError" and rep["error"]["traceback"]
    assert rep["stages"][0]["items"] == 300


def test_killed_without_a_word_is_a_crash_with_the_signal_named():
    state = fold(HELLO, snap(1.0, 300), Exited(-11, "SIGSEGV", None, ("Fatal Python error",)))
    assert state.status == "crashed"
    assert "SIGSEGV" in state.message
    assert report(state)["stages"][0]["items"] == 300


def test_budget_kill_wins_over_a_crash():
    state = fold(HELLO, snap(1.0, 300), Exited(-9, "SIGKILL", "memory_budget"))
    assert state.status == "budget_exceeded"
    ex = Exited(-9, "SIGKILL", "memory_budget", (), "memory_budget", None, (), False,
                "private memory 600 MiB passed the budget of 512 MiB")  # fmt: skip
    state = fold(HELLO, snap(1.0, 300), ex)
    assert state.stop_reason == "memory_budget" and "600 MiB" in state.message


def test_stop_then_kill_after_grace_is_stopped():
    state = fold(HELLO, snap(1.0, 300), Exited(-9, "SIGKILL", "stop_timeout"))
    assert state.status == "stopped"


def test_child_status_is_kept_when_it_said_one():
    state = fold(HELLO, snap(1.0, 300), Finished("stopped", "max_seconds", "time limit"), Exited(0))
    assert (state.status, state.stop_reason) == ("stopped", "max_seconds")


def test_log_tail_is_bounded():
    state = fold(*(Log("stdout", str(i)) for i in range(500)))
    assert len(state.log_tail) == 200 and state.log_tail[-1] == "[stdout] 499"


def test_sections_land_in_the_report():
    s = snap(1.0, 10)
    row = make_row("f", "memory", "lru_cache", hits=3, misses=1)
    sections = SnapshotSections(caches=CachesSection((row,)), unavailable={"gpu": "boom"})
    s = Snapshot(s.elapsed_ns, s.stages, 0, MEM, -1, sections)
    rep = report(fold(HELLO, s))
    assert rep["caches"]["caches"] == [row.to_json()]
    assert rep["caches"]["caches"][0]["hit_rate"] == 0.75
    assert rep["gpu"] == {"unavailable": "boom"}
    assert "contexts" not in rep and "torch_cuda" not in rep


def test_memory_never_read_is_not_measured_not_zero() -> None:
    """A run that ended before the parent's first reading has no memory figures (None),
    never 0 B, and no CPU time."""
    unread = MemorySection(now=MemoryTotals(), start=MemoryTotals(), peak=MemoryTotals())
    state = fold(HELLO, dataclasses.replace(snap(1.0, 1000), memory=unread))
    rep = report(state)
    assert rep["memory"] is None and rep["cpu_s"] is None


def test_a_chain_that_finished_before_the_stop_reached_it_was_not_stopped() -> None:
    """The time limit was asked for as the chain ran out by itself: the child says
    finished, so the report says finished, with no stop reason beside it."""
    state = fold(HELLO, snap(1.0, 1000), Finished("finished"), Exited(0, stop_reason="max_seconds"))
    rep = report(state)
    assert rep["status"] == "finished" and rep["stop_reason"] is None


def test_a_starting_run_shows_no_made_up_time_or_end() -> None:
    """Live, before its chain starts (a factory preparing data), a run says it is starting,
    with no "after 0 s", and that no memory reading came yet, not that it ended; the
    report of a run that ended there says it ended before its chain started."""
    from rich.console import Console

    from workbench.views.run import live_view, run_view

    def text(renderable: object) -> str:
        console = Console(width=100, record=True, color_system=None)
        console.print(renderable)
        return console.export_text()

    live = text(live_view(fold(HELLO), 100))
    assert "starting" in live and "after" not in live, live
    assert "no reading yet" in live and "ended" not in live, live
    done = fold(HELLO, Finished("stopped", "user", "stopped by the user"), Exited(0, None))
    assert "the run ended before its chain started" in text(run_view(done))
