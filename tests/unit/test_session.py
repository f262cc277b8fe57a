"""Folding events into a run's state: rows, bottleneck, final status and the report."""

from __future__ import annotations

from workbench.engine.protocol import (
    Exited,
    Failure,
    Finished,
    Hello,
    Log,
    MemorySample,
    Snapshot,
    StageSample,
)
from workbench.engine.session import RunState, apply, rate_now, report, stage_rows

MEM = MemorySample(
    rss=200, uss=150, rss_start=100, rss_peak=250, rss_peak_sampled=240, rss_hwm=250, uss_peak=160
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


def snap(elapsed_s: float, items: int, selfs=(0.2, 0.5, 0.3)) -> Snapshot:
    stages = tuple(StageSample(items, items // 10, int(s * 1e9), False) for s in selfs)
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
    assert rate_now(state) == 1000.0
    assert state.status == "running"


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
        "self_s": 0.5,
        "self_pct": 50.0,
        "mean_batch_s": 0.005,
        "bottleneck": True,
        "done": False,
    }
    assert rep["memory"]["rss_start_bytes"] == 100
    assert rep["memory"]["rss_peak_bytes"] == 250
    assert rep["memory"]["rss_end_bytes"] == 200
    assert rep["memory"]["uss_peak_bytes"] == 160


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
    s = Snapshot(s.elapsed_ns, s.stages, 0, MEM, -1, {"caches": [{"name": "f"}]})
    assert report(fold(HELLO, s))["caches"] == [{"name": "f"}]
