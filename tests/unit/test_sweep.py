"""The batch-size search, pure: what runs next, when growth stops, what is recommended."""

from __future__ import annotations

import random

import pytest

from workbench.engine.sweep.search import (
    FAILED,
    GROW,
    LISTED,
    OK,
    OUT_OF_MEMORY,
    OVER_BUDGET,
    REFINE,
    TOO_SLOW,
    SweepPoint,
    SweepSettings,
    full_sweep_runs,
    growth_stop,
    next_size,
    powers_of_two,
    recommend,
)


def point(
    size: int, rate: float | None, outcome: str = OK, phase: str = GROW, rss: int | None = None
) -> SweepPoint:
    return SweepPoint(
        size,
        phase,
        outcome,
        "stopped" if outcome == OK else "failed",
        rate if outcome == OK else None,
        rss_peak_bytes=rss,
        warmup_excluded=True,
        measured_batches=10,
    )


def simulate(settings: SweepSettings, rate, fits) -> list[SweepPoint]:
    """Drive ``next_size`` against a cost model: ``rate(size)`` items/s, ``fits(size)``."""
    points: list[SweepPoint] = []
    while (step := next_size(points, settings)) is not None:
        size, phase = step
        assert size not in {p.batch_size for p in points}, "a size ran twice"
        ok = fits(size)
        points.append(point(size, rate(size) if ok else None, OK if ok else OVER_BUDGET, phase))
        assert len(points) <= 64
    return points


def fixed_plus_per_item(per_batch: float, per_item: float):
    return lambda b: b / (per_batch + per_item * b)


def test_powers_and_the_full_sweep_count():
    assert powers_of_two(8, 100) == [8, 16, 32, 64]
    assert full_sweep_runs(SweepSettings(min_size=16, max_size=4096)) == 9


def test_growth_doubles_until_the_budget_then_refines_both_sides():
    s = SweepSettings(min_size=16, max_size=4096)
    pts = simulate(s, fixed_plus_per_item(0.02, 2e-5), lambda b: b <= 600)
    grown = [p.batch_size for p in pts if p.phase == GROW]
    refined = [p.batch_size for p in pts if p.phase == REFINE]
    assert grown == [16, 32, 64, 128, 256, 512, 1024]
    assert refined == [384, 768]
    assert growth_stop(pts, s) == "1024 passed a memory budget"
    ans = recommend(pts, s)
    assert ans.recommended is not None and ans.recommended.batch_size == 512
    assert ans.largest_fit is not None and ans.largest_fit.batch_size == 512
    assert len(pts) <= full_sweep_runs(s)


def test_growth_stops_when_throughput_improves_by_3_percent_or_less():
    # Throughput saturates: b / (0.001 + 1e-4 b) gains < 3% from 256 to 512.
    s = SweepSettings(min_size=8, max_size=65536)
    pts = simulate(s, fixed_plus_per_item(0.001, 1e-4), lambda b: True)
    grown = [p.batch_size for p in pts if p.phase == GROW]
    assert grown[-1] == 512 and "not more than +3%" in (growth_stop(pts, s) or "")
    assert len(pts) < full_sweep_runs(s)


def test_an_interior_optimum_is_found_within_one_power_of_two():
    # time per batch 0.02 + 2e-6 b^2: throughput peaks at b = 100.
    s = SweepSettings(min_size=8, max_size=8192)
    pts = simulate(s, lambda b: b / (0.02 + 2e-6 * b * b), lambda b: True)
    ans = recommend(pts, s)
    assert ans.recommended is not None
    assert 50 <= ans.recommended.batch_size <= 200
    assert [p.batch_size for p in pts if p.phase == REFINE] == [96, 192]
    assert ans.recommended.batch_size == 96  # the refinement beat both powers of two


def test_the_first_size_failing_ends_the_sweep_without_a_recommendation():
    s = SweepSettings(min_size=64, max_size=1024)
    pts = simulate(s, lambda b: 1.0, lambda b: False)
    assert [p.batch_size for p in pts] == [64]
    ans = recommend(pts, s)
    assert ans.recommended is None and ans.largest_fit is None


def test_growth_stops_at_max_and_the_cap_holds():
    s = SweepSettings(min_size=8, max_size=64)
    pts = simulate(s, fixed_plus_per_item(0.02, 0.0), lambda b: True)
    assert [p.batch_size for p in pts] == [8, 16, 32, 64]  # no room left to refine
    assert growth_stop(pts, s) == "reached --max 64"


@pytest.mark.parametrize("seed", range(40))
def test_random_cost_models_never_recommend_a_size_that_did_not_run(seed):
    rng = random.Random(seed)
    per_batch, per_item, quad = (
        rng.uniform(1e-3, 0.1),
        rng.uniform(0, 1e-4),
        rng.choice([0.0, rng.uniform(1e-9, 1e-5)]),
    )
    limit = rng.choice([None, rng.randint(4, 5000)])
    s = SweepSettings(min_size=rng.choice([1, 4, 8, 16]), max_size=rng.choice([256, 4096]))
    rate = lambda b: b / (per_batch + per_item * b + quad * b * b)  # noqa: E731
    fits = lambda b: limit is None or b <= limit  # noqa: E731
    pts = simulate(s, rate, fits)
    assert len(pts) <= full_sweep_runs(s)
    ans = recommend(pts, s)
    if ans.recommended is not None:
        assert ans.recommended in pts and ans.recommended.ok
        assert fits(ans.recommended.batch_size)
        for p in pts:
            if p.failed:
                assert ans.recommended.batch_size <= (1 - s.margin) * p.batch_size
        # Within one power of two of the best power of two that fits.
        fitting = [b for b in powers_of_two(s.min_size, s.max_size) if fits(b)]
        best = max(fitting, key=rate)
        assert best / 2 <= ans.recommended.batch_size <= best * 2


def test_the_margin_passes_over_a_size_just_below_a_failure():
    s = SweepSettings(margin=0.2)
    pts = [point(256, 100.0), point(512, None, OUT_OF_MEMORY), point(480, 130.0, phase=REFINE)]
    ans = recommend(pts, s)
    assert ans.recommended is not None and ans.recommended.batch_size == 256
    assert ans.largest_fit is not None and ans.largest_fit.batch_size == 480
    assert ans.passed_over == ((480, "within 20% of 512, which failed"),)
    assert "50% below 512" in ans.reason


def test_sizes_within_noise_of_the_best_are_named():
    pts = [point(64, 1000.0), point(128, 1020.0), point(256, 1500.0)]
    ans = recommend(pts, SweepSettings())
    assert ans.recommended is not None and ans.recommended.batch_size == 256
    assert ans.near == ()
    ans = recommend([point(64, 1000.0), point(128, 1020.0)], SweepSettings())
    assert ans.recommended is not None and ans.recommended.batch_size == 128
    assert ans.near == (64,)


def test_too_slow_and_failed_points_are_never_recommended():
    pts = [point(8, None, TOO_SLOW), point(16, None, FAILED), point(4, 10.0)]
    ans = recommend(pts, SweepSettings(margin=0.2))
    assert ans.recommended is not None and ans.recommended.batch_size == 4
    assert recommend([point(8, None, TOO_SLOW)], SweepSettings()).recommended is None


def test_list_mode_runs_every_size_in_order_after_failures():
    s = SweepSettings(sizes=(64, 1024, 128))
    pts: list[SweepPoint] = []
    order = []
    while (step := next_size(pts, s)) is not None:
        size, phase = step
        assert phase == LISTED
        order.append(size)
        pts.append(
            point(
                size,
                None if size == 1024 else float(size),
                OUT_OF_MEMORY if size == 1024 else OK,
                LISTED,
            )
        )
    assert order == [64, 1024, 128]
    ans = recommend(pts, s)
    assert ans.recommended is not None and ans.recommended.batch_size == 128
