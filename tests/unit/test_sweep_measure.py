"""Throughput after the warm-up, and how a run's report becomes a sweep point."""

from __future__ import annotations

from workbench.engine.sweep.measure import Sample, classify, point_from_report, steady_rate
from workbench.engine.sweep.search import FAILED as POINT_FAILED
from workbench.engine.sweep.search import OK, OUT_OF_MEMORY, OVER_BUDGET, TOO_SLOW, SweepSettings

MIB = 2**20


def timeline(
    batch_times: list[float], size: int, every: float = 0.02, end: float | None = None
) -> list[Sample]:
    """Snapshots every ``every`` s of a run whose batches take ``batch_times`` seconds."""
    done, t = [], 0.0
    for bt in batch_times:
        t += bt
        done.append(t)
    end = done[-1] if end is None else end
    out, now = [], every
    while now <= end + 1e-9:
        n = sum(1 for d in done if d <= now + 1e-12)
        out.append(Sample(int(now * 1e9), n * size, n))
        now += every
    return out


def test_warmup_batches_are_left_out():
    # Two slow warm-up batches (0.5 s each), then 20 batches of 0.1 s: 100 items/s.
    samples = timeline([0.5, 0.5] + [0.1] * 20, size=10)
    whole = samples[-1].items / (samples[-1].elapsed_ns / 1e9)
    steady = steady_rate(samples, warmup_batches=2)
    assert steady is not None and steady.warmup_excluded
    assert abs(steady.items_per_s - 100.0) < 3.0
    assert whole < 75  # the warm-up drags the whole-run figure down
    assert steady.batches == 20


def test_warmup_seconds_are_left_out():
    samples = timeline([0.3] * 3 + [0.05] * 40, size=5)  # 0.9 s slow, then 100 items/s
    steady = steady_rate(samples, warmup_batches=0, warmup_s=1.0)
    assert steady is not None and steady.warmup_excluded
    assert abs(steady.items_per_s - 100.0) < 4.0


def test_a_batch_cut_off_by_the_time_limit_counts_nowhere():
    # Batches of 0.4 s; the run is stopped at 2.1 s, in the middle of the sixth batch.
    samples = timeline([0.4] * 5, size=40, end=2.1)
    steady = steady_rate(samples, warmup_batches=1)
    assert steady is not None and abs(steady.items_per_s - 100.0) < 6.0
    whole = samples[-1].items / 2.1
    assert whole < 96


def test_too_short_for_the_warmup_falls_back_to_the_whole_run():
    samples = timeline([0.1, 0.1], size=10)
    steady = steady_rate(samples, warmup_batches=5)
    assert steady is not None and not steady.warmup_excluded
    assert abs(steady.items_per_s - 100.0) < 5.0
    assert steady_rate([], 2) is None
    assert steady_rate([Sample(10**9, 0, 0)], 2) is None


def report(status="stopped", error=None, rss=50 * MIB, gpu=None, items_per_s=10.0):
    rep = {
        "status": status,
        "error": error,
        "items_per_s": items_per_s,
        "duration_s": 2.0,
        "run_id": "abc",
        "memory": {"rss_peak_bytes": rss},
    }
    if gpu is not None:
        rep["gpu"] = gpu
    return rep


def test_out_of_memory_in_every_form():
    s = SweepSettings()
    for err in (
        {"type": "MemoryError", "message": ""},
        {"type": "OutOfMemoryError", "message": "CUDA out of memory. Tried 2 GiB"},
        {"type": "RuntimeError", "message": "CUDA out of memory. Tried to allocate"},
        {"type": "UserError", "message": "pipeline p: its factory raised MemoryError: too big"},
    ):
        assert classify(report("failed", err), s)[0] == OUT_OF_MEMORY, err


def test_budgets_passed():
    s = SweepSettings(memory_budget=100 * MIB, gpu_memory_budget=MIB)
    outcome, why = classify(report("budget_exceeded", rss=120 * MIB), s)
    assert outcome == OVER_BUDGET and "memory budget of 100 MiB" in (why or "")
    # The kernel's high-water mark caught a peak between two samples.
    assert classify(report("stopped", rss=101 * MIB), s)[0] == OVER_BUDGET
    outcome, why = classify(report(gpu={"peak_bytes": 2 * MIB}), s)
    assert outcome == OVER_BUDGET and "GPU budget" in (why or "")
    assert classify(report(), s, gpu_over=True)[0] == OVER_BUDGET


def test_other_failures_and_fine_runs():
    s = SweepSettings()
    assert classify(report("failed", {"type": "ValueError", "message": "x"}), s) == (
        POINT_FAILED,
        "ValueError: x",
    )
    assert (
        classify(report("crashed", {"type": "crashed", "message": "SIGSEGV"}), s)[0] == POINT_FAILED
    )
    assert classify(report("stopped"), s) == (OK, None)
    assert classify(report("finished", gpu={"state": "no NVIDIA driver"}), s) == (OK, None)


def test_point_from_report_fields():
    s = SweepSettings(warmup_batches=1)
    samples = timeline([0.5] + [0.1] * 10, size=10)
    p = point_from_report(
        report(gpu={"peak_bytes": 3 * MIB, "state": None}), samples, 10, "grow", s, record="/r.json"
    )
    assert p.ok and p.items_per_s is not None and abs(p.items_per_s - 100) < 5
    assert p.rss_peak_bytes == 50 * MIB and p.gpu_peak_bytes == 3 * MIB
    assert p.record == "/r.json" and p.run_id == "abc" and p.warmup_excluded
    # No GPU section (or no figure in it): N/A, never an error.
    assert point_from_report(report(), samples, 10, "grow", s).gpu_peak_bytes is None


def test_no_batch_after_the_warmup_is_too_slow():
    s = SweepSettings(warmup_batches=2, seconds_per_run=1.0)
    samples = timeline([0.6], size=10, end=1.0)
    p = point_from_report(report("stopped"), samples, 10, "grow", s)
    assert p.outcome == TOO_SLOW and p.items_per_s is None
    assert "raise --seconds-per-run" in (p.error or "")
    p = point_from_report(
        report("failed", {"type": "MemoryError", "message": "m"}), samples, 10, "grow", s
    )
    assert p.outcome == OUT_OF_MEMORY and p.items_per_s is None


def test_a_sample_keeps_each_stage_and_the_batch_rate():
    s = SweepSettings(warmup_batches=1)
    samples = timeline([0.5] + [0.1] * 10, size=10)
    rep = report()
    rep["stages"] = [
        {"name": "src", "items": 110, "batches": 11},
        {"name": "loss", "items": 11, "batches": 11},
    ]
    p = point_from_report(rep, samples, 10, "grow", s, sample=2)
    assert p.sample == 2 and p.stage_items == (110, 11) and p.stage_batches == (11, 11)
    assert p.batches_per_s is not None and abs(p.batches_per_s - 10.0) < 0.5
    slow = point_from_report(report("stopped"), timeline([0.6], 10, end=1.0), 10, "grow", s)
    assert slow.outcome == TOO_SLOW and slow.batches_per_s is None
