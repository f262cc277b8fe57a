"""The batch-size search, pure: what is sampled next, when growth stops, what is recommended.

A simulated sweep drives ``next_size`` against a throughput curve (items/s by batch size)
with multiplicative noise per sample, as a loaded machine gives; each size's figure is
then the median of its samples.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable

import pytest

from workbench.engine.sweep.answer import recommend
from workbench.engine.sweep.points import (
    FAILED,
    FILL,
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
    powers_of_two,
)
from workbench.engine.sweep.search import grown_sizes, growth_stop, next_size, refinement
from workbench.engine.sweep.stats import median_interval

Curve = Callable[[int], float]


def point(
    size: int,
    rate: float | None,
    outcome: str = OK,
    phase: str = GROW,
    rss: int | None = None,
    sample: int = 1,
    gpu_state: str | None = None,
) -> SweepPoint:
    """A sample whose last stage counts ``size`` items per batch, 10 batches measured."""
    ok = outcome == OK
    return SweepPoint(
        size,
        phase,
        outcome,
        "stopped" if ok else "failed",
        rate if ok else None,
        rss_peak_bytes=rss,
        warmup_excluded=True,
        measured_items=10 * size if ok else 0,
        measured_batches=10 if ok else 0,
        sample=sample,
        batches_per_s=rate / size if ok and rate else None,
        gpu_state=gpu_state,
    )


def simulate(
    settings: SweepSettings,
    curve: Curve,
    fits: Callable[[int], bool] = lambda b: True,
    noise: float = 0.0,
    seed: int = 0,
    jitter: tuple[float, ...] = (0.0,),
) -> list[SweepPoint]:
    """Drive ``next_size`` against ``curve`` with ±``noise`` (uniform) per sample, or the
    relative ``jitter`` of the n-th sample of each size (cycled)."""
    rng = random.Random(seed)
    points: list[SweepPoint] = []
    while (step := next_size(points, settings)) is not None:
        size, phase = step
        n = 1 + sum(1 for p in points if p.batch_size == size)
        if fits(size):
            wobble = rng.uniform(-noise, noise) + jitter[(n - 1) % len(jitter)]
            rate = curve(size) * (1 + wobble)
            points.append(point(size, rate, OK, phase, sample=n))
        else:
            points.append(point(size, None, OVER_BUDGET, phase, sample=n))
        assert len(points) <= full_sweep_runs(settings), "past the cap"
    return points


def sizes_run(points: list[SweepPoint], phase: str | None = None) -> list[int]:
    out: list[int] = []
    for p in points:
        if p.batch_size not in out and (phase is None or p.phase == phase):
            out.append(p.batch_size)
    return out


def per_batch_cost(t0: float, t1: float, t2: float = 0.0) -> Curve:
    """Items/s when a batch of b costs t0 + t1 b + t2 b² seconds."""
    return lambda b: b / (t0 + t1 * b + t2 * b * b)


def best_power(settings: SweepSettings, curve: Curve, fits=lambda b: True) -> int:
    return max(
        (b for b in powers_of_two(settings.min_size, settings.max_size) if fits(b)), key=curve
    )


def test_the_full_sweep_counts_rounds():
    assert powers_of_two(8, 100) == [8, 16, 32, 64]
    assert full_sweep_runs(SweepSettings(min_size=16, max_size=4096)) == 9 * 3
    assert full_sweep_runs(SweepSettings(min_size=16, max_size=4096, samples=1)) == 9
    assert grown_sizes(SweepSettings(min_size=8, max_size=65536)) == [
        8,
        32,
        128,
        512,
        2048,
        8192,
        32768,
    ]


def test_median_interval_assumes_noise_below_three_samples_then_reads_the_spread():
    med, lo, hi = median_interval([100.0], noise=0.1)
    assert (med, lo, hi) == (100.0, 90.0, 110.0)
    med, lo, hi = median_interval([90.0, 100.0, 110.0], noise=0.1)
    # IQR of 3 (inclusive quartiles) = 10; notch = 1.57 * 10 / sqrt(3) = 9.06
    assert med == 100.0 and hi - med == pytest.approx(9.064, abs=1e-3)
    tight = median_interval([99.0, 100.0, 101.0, 100.0, 100.5, 99.5], noise=0.1)
    assert tight[2] - tight[0] < 1.0  # six close samples: known within ±1%
    with pytest.raises(ValueError):
        median_interval([], 0.1)


def test_every_size_in_the_race_gets_three_interleaved_samples():
    s = SweepSettings(min_size=8, max_size=4096)
    curve = per_batch_cost(1e-3, 1e-5, 2e-8)
    pts = simulate(s, curve)
    ans = recommend(pts, s)
    assert ans.recommended is not None
    counts = {b: sum(1 for p in pts if p.batch_size == b) for b in sizes_run(pts)}
    # 8 runs at 15% of the best: one sample says it cannot be a contender. 2048 falls under
    # half of the size grown before it, a cliff: a second sample first (one stalled run
    # could look so), then it is out.
    assert ans.out == (8, 2048) and counts[8] == 1 and counts[2048] == 2
    assert all(n >= 3 for b, n in counts.items() if b not in ans.out), counts
    assert "2 out of the race" in ans.reason
    # Growth runs ahead one sample at a time, then the sizes are sampled in rounds: no
    # size's three samples are back to back while others wait.
    order = [p.batch_size for p in pts]
    assert order[:5] == [8, 32, 128, 512, 2048]
    for b, n in counts.items():
        if n >= 3 and b not in (64, 256):  # the two fills share their rounds (2 sizes)
            first3 = [i for i, x in enumerate(order) if x == b][:3]
            assert first3[-1] - first3[0] > 2, (b, order)
    assert [p.sample for p in pts if p.batch_size == 32] == [1, 2, 3]


def test_a_size_is_out_of_the_race_only_when_noise_cannot_save_it():
    s = SweepSettings(sizes=(8, 16, 64), samples=3)
    pts = [point(64, 100.0, phase=LISTED), point(8, 40.0, phase=LISTED)]
    pts.append(point(16, 47.0, phase=LISTED))
    # 8 at 40%: 44 < 0.5 * 90; 16 at 47%: 51.7 > 45, so it gets its samples.
    assert next_size(pts, s) == (64, LISTED)
    pts.append(point(64, 100.0, phase=LISTED, sample=2))
    assert next_size(pts, s) == (16, LISTED)


def test_a_plateau_does_not_stop_the_growth():
    # 64 ≈ 128 < 256 (the curve the old rule stopped on), falling after 512.
    table = {8: 20, 16: 40, 32: 70, 64: 100, 128: 101, 256: 140, 512: 150, 1024: 110}
    curve: Curve = lambda b: float(table.get(b, 60 if b > 1024 else (table[512] + table[256]) / 2))  # noqa: E731
    s = SweepSettings(min_size=8, max_size=8192, growth=2)
    pts = simulate(s, curve)
    ans = recommend(pts, s)
    assert ans.recommended is not None and ans.recommended.batch_size in (384, 512)
    assert 1024 in sizes_run(pts)  # it went past the plateau and the peak
    # With x4 growth (8, 32, 128, 512, 2048) the plateau is not even a stop candidate.
    s4 = SweepSettings(min_size=8, max_size=8192)
    ans4 = recommend(simulate(s4, curve), s4)
    assert ans4.recommended is not None and ans4.recommended.batch_size in (384, 512)


def test_growth_stops_clearly_below_the_best_then_fills_the_bracket():
    # Peak at 256 (b = sqrt(2e-3 / 2e-8) = 316 on a continuous axis); 2048 far below.
    curve = per_batch_cost(2e-3, 2e-6, 2e-8)
    s = SweepSettings(min_size=8, max_size=65536)
    pts = simulate(s, curve)  # no noise: three equal samples, nothing within noise
    assert sizes_run(pts, GROW) == [8, 32, 128, 512, 2048]
    assert growth_stop(pts, s) == "2048 is clearly below 256 (-66%, the intervals apart)"
    assert sizes_run(pts, FILL) == [256]  # 128 and 512 are grown already
    assert sizes_run(pts, REFINE) == []  # 128 and 512 are clearly below 256
    ans = recommend(pts, s)
    assert ans.recommended is not None and ans.recommended.batch_size == 256
    assert ans.out == (8, 32, 2048)  # under half of 256: 8 and 32 on one sample each,
    # 2048 on two (under half of 512 grown before it: a cliff gets a second sample)
    assert len(pts) == 13 <= 0.6 * full_sweep_runs(s)  # against 14 sizes x 3


def test_a_rival_within_noise_gets_its_own_bracket_and_the_midpoint_between():
    # 256 ≈ 512 within noise, 384 between them the true best.
    table = {8: 5, 32: 20, 128: 70, 256: 100, 384: 104, 512: 99, 1024: 80, 2048: 40}
    s = SweepSettings(min_size=8, max_size=4096)
    pts = simulate(s, lambda b: float(table.get(b, 10)), jitter=(0.03, -0.03, 0.0))
    assert sizes_run(pts, GROW) == [8, 32, 128, 512, 2048]
    assert set(sizes_run(pts, FILL)) == {256, 1024}  # both neighbours of 512
    assert sizes_run(pts, REFINE) == [384]
    ans = recommend(pts, s)
    assert ans.recommended is not None and ans.recommended.batch_size == 384
    assert set(ans.near) == {256, 512}
    # The midpoint takes turns with the best of the time (256), not three runs in a row.
    tail = [p.batch_size for p in pts if p.batch_size in (256, 384)][-5:]
    assert tail == [384, 256, 384, 256, 384]
    # One midpoint per sweep: 384 being best, no 320 or 448 follows.
    assert next_size(pts, s) is None


def test_noisy_samples_still_find_the_best_on_random_curves():
    s = SweepSettings(min_size=8, max_size=65536)
    shares, runs = [], []
    for seed in range(40):
        rng = random.Random(1000 + seed)
        t0, t1 = rng.uniform(1e-4, 1e-2), rng.uniform(1e-7, 1e-5)
        t2 = rng.choice([0.0, rng.uniform(1e-10, 1e-7)])
        curve = per_batch_cost(t0, t1, t2)
        pts = simulate(s, curve, noise=0.10, seed=seed)
        ans = recommend(pts, s)
        assert ans.recommended is not None
        shares.append(curve(ans.recommended.batch_size) / curve(best_power(s, curve)))
        runs.append(len(pts))
    # ±10% per sample: the medians of 3 still differ by a few % at times.
    assert min(shares) >= 0.9, shares
    assert sum(x >= 0.95 for x in shares) >= 36, shares
    assert max(runs) <= full_sweep_runs(s)


def test_noise_over_many_sweeps_reaches_98_percent_of_the_best_power_mostly():
    curve = per_batch_cost(2e-3, 1e-6, 1e-9)  # a broad top around 1400
    s = SweepSettings(min_size=8, max_size=65536)
    best = curve(best_power(s, curve))
    good, runs = 0, []
    for seed in range(40):
        pts = simulate(s, curve, noise=0.10, seed=seed)
        rec = recommend(pts, s).recommended
        assert rec is not None
        good += curve(rec.batch_size) >= 0.98 * best
        runs.append(len(pts))
    assert good >= 36, good
    assert statistics.median(runs) <= 0.6 * full_sweep_runs(s), runs
    assert max(runs) <= 0.7 * full_sweep_runs(s), runs


def test_a_failure_stops_growth_and_the_margin_holds_below_it():
    s = SweepSettings(min_size=16, max_size=4096)
    pts = simulate(s, per_batch_cost(0.02, 2e-5), fits=lambda b: b <= 600)
    assert sizes_run(pts, GROW) == [16, 64, 256, 1024]
    assert growth_stop(pts, s) == "1024 passed a memory budget"
    assert [p.batch_size for p in pts if p.batch_size == 1024] == [1024]  # no retry
    assert sizes_run(pts, FILL) == [128, 512]  # 512 is 50% below 1024: it may be the one
    ans = recommend(pts, s)
    assert ans.recommended is not None and ans.recommended.batch_size == 512
    assert ans.largest_fit is not None and ans.largest_fit.batch_size == 512
    assert "50% below 1024" in ans.reason
    # With a margin of 60%, 512 could not be recommended after 1024 failed: never run.
    wide = SweepSettings(min_size=16, max_size=4096, margin=0.6)
    pts = simulate(wide, per_batch_cost(0.02, 2e-5), fits=lambda b: b <= 600)
    assert 512 not in sizes_run(pts)
    ans = recommend(pts, wide)
    assert ans.recommended is not None and ans.recommended.batch_size == 256


def test_largest_that_fit_only_when_something_failed():
    s = SweepSettings(min_size=8, max_size=64)
    pts = simulate(s, per_batch_cost(0.02, 0.0))
    ans = recommend(pts, s)
    assert ans.recommended is not None and ans.recommended.batch_size == 64
    assert ans.largest_fit is None


def test_the_first_size_failing_ends_the_sweep_without_a_recommendation():
    s = SweepSettings(min_size=64, max_size=1024)
    pts = simulate(s, lambda b: 1.0, fits=lambda b: False)
    assert [p.batch_size for p in pts] == [64]
    ans = recommend(pts, s)
    assert ans.recommended is None and ans.largest_fit is None


@pytest.mark.parametrize("seed", range(30))
def test_random_models_never_recommend_a_size_that_did_not_run(seed):
    rng = random.Random(seed)
    curve = per_batch_cost(
        rng.uniform(1e-3, 0.1), rng.uniform(0, 1e-4), rng.choice([0.0, rng.uniform(1e-9, 1e-5)])
    )
    limit = rng.choice([None, rng.randint(4, 5000)])
    fits = lambda b: limit is None or b <= limit  # noqa: E731
    s = SweepSettings(min_size=rng.choice([1, 4, 8, 16]), max_size=rng.choice([256, 4096]))
    pts = simulate(s, curve, fits, noise=0.05, seed=seed)
    ans = recommend(pts, s)
    ran = {p.batch_size for p in pts}
    if ans.recommended is not None:
        assert ans.recommended.batch_size in ran and ans.recommended.ok
        assert ans.recommended.n >= 3
        for p in pts:
            if p.failed:
                assert ans.recommended.batch_size <= (1 - s.margin) * p.batch_size


def test_precision_samples_go_to_the_best_and_its_rival_only():
    s = SweepSettings(sizes=(64, 128, 256), samples=3, max_samples=5, precision=0.03)
    rates = {64: [50, 51, 50], 128: [100, 80, 120], 256: [110, 90, 105]}
    pts = [
        point(b, rates[b][i], phase=LISTED, sample=i + 1) for i in range(3) for b in (64, 128, 256)
    ]
    extra = []
    while (step := next_size(pts, s)) is not None:
        size, _ = step
        extra.append(size)
        n = 1 + sum(1 for p in pts if p.batch_size == size)
        pts.append(point(size, 100.0, phase=LISTED, sample=n))
    assert sorted(extra) == [128, 128, 256, 256]  # 64 is far below: no more samples
    assert extra[:2] in ([128, 256], [256, 128])  # interleaved
    # Precise enough after three: nothing more.
    calm = [
        point(b, 100.0 + b / 1000, phase=LISTED, sample=i + 1) for i in range(3) for b in (64, 128)
    ]
    assert next_size(calm, SweepSettings(sizes=(64, 128))) is None


def test_list_mode_samples_in_rounds_and_skips_failed_sizes():
    s = SweepSettings(sizes=(64, 1024, 128), max_samples=3)
    pts: list[SweepPoint] = []
    while (step := next_size(pts, s)) is not None:
        size, phase = step
        assert phase == LISTED
        n = 1 + sum(1 for p in pts if p.batch_size == size)
        bad = size == 1024
        pts.append(
            point(
                size, None if bad else float(size), OUT_OF_MEMORY if bad else OK, LISTED, sample=n
            )
        )
    assert [p.batch_size for p in pts] == [64, 1024, 128, 64, 128, 64, 128]
    ans = recommend(pts, s)
    assert ans.recommended is not None and ans.recommended.batch_size == 128
    assert ans.largest_fit is not None and ans.largest_fit.batch_size == 128


def test_within_noise_and_too_slow_and_failed_sizes():
    s = SweepSettings()
    pts = [point(64, r, sample=i + 1) for i, r in enumerate((100.0, 104.0, 98.0))]
    pts += [point(128, r, sample=i + 1) for i, r in enumerate((101.0, 103.0, 99.0))]
    pts += [point(256, r, sample=i + 1) for i, r in enumerate((150.0, 151.0, 149.0))]
    ans = recommend(pts, s)
    assert ans.recommended is not None and ans.recommended.batch_size == 256
    assert ans.near == ()
    ans = recommend(pts[:6], s)
    assert ans.recommended is not None and ans.recommended.batch_size == 128
    assert ans.near == (64,)
    slow = [point(8, None, TOO_SLOW), point(16, None, FAILED), point(4, 10.0)]
    ans = recommend(slow, SweepSettings(margin=0.2))
    assert ans.recommended is not None and ans.recommended.batch_size == 4
    assert "from 1 sample only" in ans.reason
    assert recommend([point(8, None, TOO_SLOW)], s).recommended is None


def test_a_size_failing_at_its_second_sample_is_a_failed_size():
    pts = [point(64, 100.0), point(128, 150.0), point(64, 101.0, sample=2)]
    pts.append(point(128, None, OUT_OF_MEMORY, sample=2))
    ans = recommend(pts, SweepSettings())
    assert ans.recommended is not None and ans.recommended.batch_size == 64
    assert ans.largest_fit is not None and ans.largest_fit.batch_size == 64


def test_a_gpu_budget_without_a_gpu_is_said_so():
    s = SweepSettings(gpu_memory_budget=2**30)
    pts = [point(64, 100.0, gpu_state="no NVIDIA driver")]
    ans = recommend(pts, s)
    assert ans.gpu_note == "the GPU budget of 1.00 GiB could not be checked: no NVIDIA driver"
    assert recommend(pts, SweepSettings()).gpu_note is None
    with_gpu = [point(64, 100.0)]
    with_gpu[0] = SweepPoint(**{**with_gpu[0].__dict__, "gpu_peak_bytes": 10})
    assert recommend(with_gpu, s).gpu_note is None


def test_no_midpoint_when_the_noise_is_larger_than_it_could_gain():
    table = {8: 5, 32: 20, 128: 70, 256: 100, 384: 104, 512: 99, 1024: 80, 2048: 40}
    s = SweepSettings(min_size=8, max_size=4096)
    # Samples ±15% apart: the best's median is known within ±13% at best, over 2 x 3%.
    pts = simulate(s, lambda b: float(table.get(b, 10)), jitter=(0.15, -0.15, 0.0))
    assert sizes_run(pts, REFINE) == []
    assert (refinement(pts, s) or "").startswith("no midpoint: the best's median is known only")
    calm = simulate(s, lambda b: float(table.get(b, 10)), jitter=(0.01, -0.01, 0.0))
    assert refinement(calm, s) == "midpoint 384 run"
    assert refinement(calm, SweepSettings(sizes=(8, 16))) is None


def test_extra_samples_are_capped_at_two_sizes_worth_on_a_plateau():
    # A long plateau: every size from 512 up within noise; the best keeps changing.
    s = SweepSettings(min_size=8, max_size=65536)
    curve = per_batch_cost(1e-2, 1e-6)  # within 5% of its top from 8192 up
    for seed in range(10):
        pts = simulate(s, curve, noise=0.2, seed=seed)
        counts = {b: sum(1 for p in pts if p.batch_size == b) for b in sizes_run(pts)}
        extra = sum(max(0, n - s.samples) for n in counts.values())
        assert extra <= 2 * (s.max_samples - s.samples), counts


def test_one_stalled_sample_does_not_end_the_growth():
    """A flat curve whose first run at 128 stalled (a tenth of its rate, as a BLAS stall
    did on this machine): the cliff gets a second sample, the growth goes on past it."""
    s = SweepSettings(min_size=8, max_size=4096)
    table = {8: 200, 32: 550, 128: 840, 512: 900, 2048: 650}
    seen: dict[int, int] = {}

    def curve(b: int) -> float:
        seen[b] = seen.get(b, 0) + 1
        if b == 128 and seen[b] == 1:
            return 94.0  # the stalled run
        return float(table.get(b, 600))

    pts = simulate(s, curve)
    assert 512 in sizes_run(pts, GROW)  # grown past the stall
    assert sum(1 for p in pts if p.batch_size == 128) >= 2
    ans = recommend(pts, s)
    assert ans.recommended is not None and ans.recommended.batch_size == 512
