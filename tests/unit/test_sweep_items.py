"""What a sweep ranks by: items, and the loud case of one item per batch out of the chain."""

from __future__ import annotations

from workbench.engine.sweep.answer import recommend
from workbench.engine.sweep.points import LISTED, OK, SweepPoint, SweepSettings
from workbench.engine.sweep.stats import ITEMS_FIX, item_basis

NAMES = ("src", "step")


def sample(
    size: int,
    batches_per_s: float,
    stage_items: tuple[int, ...],
    stage_batches: tuple[int, ...],
    n: int = 1,
) -> SweepPoint:
    """A sample whose last stage's items and batches are the last of ``stage_*``; the
    measured window holds the same items per batch as the whole run."""
    per_batch = stage_items[-1] / stage_batches[-1]
    return SweepPoint(
        size,
        LISTED,
        OK,
        "stopped",
        batches_per_s * per_batch,
        warmup_excluded=True,
        measured_items=round(100 * per_batch),
        measured_batches=100,
        sample=n,
        batches_per_s=batches_per_s,
        stage_items=stage_items,
        stage_batches=stage_batches,
    )


def one_loss_per_batch(size: int, batches_per_s: float, n: int = 1) -> SweepPoint:
    """``src`` yields lists of ``size``; ``step`` yields one float per list (the repro)."""
    batches = 1000
    return sample(size, batches_per_s, (size * (batches + 1), batches), (batches + 1, batches), n)


def test_one_item_per_batch_ranks_by_the_stage_that_still_holds_the_batch():
    # The repro's figures: 8 → 1.85M batches/s, 512 → 122k batches/s (62M samples/s).
    pts = [one_loss_per_batch(8, 1.85e6, n) for n in (1, 2, 3)]
    pts += [one_loss_per_batch(512, 1.22e5, n) for n in (1, 2, 3)]
    basis = item_basis(pts, NAMES)
    assert basis.one_per_batch and basis.stage == 0 and basis.name == "src"
    assert basis.ranked_by == "items of stage src"
    assert "one item per batch" in (basis.warning or "") and "step" in (basis.warning or "")
    rate = basis.rate(pts[-1])
    assert rate is not None and abs(rate / (1.22e5 * 512) - 1) < 0.01  # 62M samples/s
    ans = recommend(pts, SweepSettings(sizes=(8, 512)), NAMES)
    assert ans.recommended is not None and ans.recommended.batch_size == 512
    assert ans.basis == basis and "items of stage src" in ans.reason
    # What the chain yields is kept beside it: batches/s, as its items/s.
    assert ans.recommended.out_items_per_s == ans.recommended.batches_per_s


def test_without_an_upstream_batch_it_ranks_batches_and_says_so():
    # A single stage yielding one value per batch: nothing upstream to count.
    pts = [sample(s, r, (1000,), (1000,)) for s, r in ((8, 2e6), (512, 1e5))]
    basis = item_basis(pts, ("reduce",))
    assert basis.one_per_batch and basis.stage is None
    assert "ranks batches/s" in (basis.warning or "")
    ans = recommend(pts, SweepSettings(sizes=(8, 512)), ("reduce",))
    assert ans.recommended is not None and ans.recommended.batch_size == 8
    assert "one per batch: these are batches" in ans.reason
    # An upstream stage that splits its batches (two per output) is not one batch each.
    split = [sample(s, r, (2000 * s, 2000, 1000), (2000, 2000, 1000)) for s, r in ((8, 2e6),)]
    assert item_basis(split).stage is None


def test_batches_in_flight_do_not_spoil_one_batch_per_output():
    # The source is 2 batches ahead of the last stage when the run stops.
    pts = [sample(64, 1e4, (64 * 502, 502, 500), (502, 502, 500))]
    basis = item_basis(pts, ("src", "mid", "loss"))
    assert basis.stage == 0 and basis.name == "src"  # mid yields one item per batch too
    ahead = [sample(64, 1e4, (64 * 600, 500), (600, 500))]  # 100 more: not one each
    assert item_basis(ahead).stage is None


def test_counted_items_and_size_one_raise_no_alarm():
    fine = [sample(s, 1e3, (s * 100, s * 100), (100, 100)) for s in (1, 8, 64)]
    basis = item_basis(fine, NAMES)
    assert not basis.one_per_batch and basis.warning is None and basis.stage is None
    assert basis.ranked_by == "items out of the chain"
    # Batch size 1 yields one item per batch by right: it is not evidence.
    ones = [sample(1, 1e3, (100, 100), (100, 100))]
    assert not item_basis(ones).one_per_batch
    assert "stage(fn, items=...)" in ITEMS_FIX and "@pipeline(items=...)" in ITEMS_FIX


def test_counters_read_a_batch_apart_still_mean_one_item_per_batch():
    # A snapshot read the items counter just after a batch, the batches counter just before.
    p = one_loss_per_batch(512, 1.4e5)
    torn = p.__class__(**{**p.__dict__, "measured_items": 145318, "measured_batches": 145317})
    assert item_basis([torn], NAMES).stage == 0
    two = sample(512, 1e3, (512 * 100, 200), (100, 100))  # two items per batch: counted
    assert not item_basis([two], NAMES).one_per_batch
