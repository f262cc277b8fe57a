"""A sweep's samples folded per batch size, pure: the median, how well it is known, and
which items it counts.

How well a median is known: ``median ± 1.57·IQR/√n`` over the size's samples, the notch of
a box plot (McGill, Tukey & Larsen 1978; R's ``boxplot.stats``), roughly a 95% interval for
the median. With fewer than 3 samples there is no spread to read, so ``settings.noise``
(±10% by default) is assumed instead, and the size is marked provisional.

Which items: the sweep ranks by items per second, and items are what the run report counts
(``workbench.authoring.items``: a list its length, an array its leading dimension, a tuple,
dict or scalar one item; ``stage(fn, items=...)`` and ``@pipeline(items=...)`` override).
When the last stage yields one item per batch (a loss, a sum) at every size, items/s out of
the chain are batches/s, and a sweep on them would favour small batches; ``item_basis``
then ranks by the items of the last stage whose batches still hold several items, when that
stage hands the last one exactly one batch per output (so its items per batch are the
samples behind each output), and says so; when no stage qualifies it ranks by what the
chain yields and warns that these are batches.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.engine.sweep.points import (
    FAILURES,
    OK,
    TOO_SLOW,
    SweepPoint,
    SweepSettings,
)

#: The box-plot notch: median ± NOTCH * IQR / sqrt(n) holds the median with about 95%.
NOTCH = 1.57
#: Samples needed before their spread says how well the median is known.
LEAST_FOR_SPREAD = 3
#: The fix to print when the last stage yields one item per batch.
ITEMS_FIX = (
    "say what a value holds: stage(fn, items=...) on the last stage or "
    "@pipeline(items=...), e.g. stage(loss, items=batch_size) in the factory"
)


def median_interval(values: Sequence[float], noise: float) -> tuple[float, float, float]:
    """``(median, low, high)`` of ``values`` (see the module's docstring).

    Raises:
        ValueError: when ``values`` is empty.
    """
    if not values:
        raise ValueError("no values")
    med = statistics.median(values)
    if len(values) < LEAST_FOR_SPREAD:
        half = noise * abs(med)
    else:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        half = NOTCH * (q3 - q1) / math.sqrt(len(values))
    return med, med - half, med + half


@dataclass(frozen=True)
class ItemBasis:
    """Which items a sweep ranks by (see the module's docstring)."""

    stage: int | None = None  # the stage ranked on; None: items out of the chain
    name: str | None = None  # that stage's name
    last: str | None = None  # the last stage's name
    one_per_batch: bool = False  # the last stage yields one item per batch at every size

    def rate(self, p: SweepPoint) -> float | None:
        """The items per second of ``p`` that the sweep ranks by; None unless it ran fine.

        On an upstream stage: batches per second out of the chain over the measured window
        times that stage's mean items per batch over the run.
        """
        if not p.ok or p.items_per_s is None:
            return None
        if self.stage is None:
            return p.items_per_s
        k = self.stage
        if p.batches_per_s is None or k >= len(p.stage_batches) or not p.stage_batches[k]:
            return None
        return p.batches_per_s * p.stage_items[k] / p.stage_batches[k]

    @property
    def ranked_by(self) -> str:
        """What the ranked figure counts, in a few words."""
        if self.stage is None:
            what = "items out of the chain"
            return f"{what} (one per batch: these are batches)" if self.one_per_batch else what
        return f"items of stage {self.name}"

    @property
    def warning(self) -> str | None:
        """The loud line to print when the last stage yields one item per batch."""
        if not self.one_per_batch:
            return None
        head = (
            f"the last stage{f' {self.last}' if self.last else ''} yields one item per batch "
            "at every size: its items/s are batches/s"
        )
        if self.stage is None:
            return (
                f"{head}, and no earlier stage hands it one batch of several items per "
                "output, so the sweep ranks batches/s, which favours small batches"
            )
        return (
            f"{head}; ranked instead by the items of stage {self.name}, which hands it "
            "exactly one batch per output (its items per batch are the samples behind "
            "each output)"
        )


def _one_item_each(p: SweepPoint) -> bool:
    """Whether the last stage of ``p`` yielded one item per batch over the measured window
    (to a few counts: a snapshot may read the items counter a batch ahead of the other)."""
    return abs(p.measured_items - p.measured_batches) <= max(2, 0.005 * p.measured_batches)


def _one_batch_each(p: SweepPoint, j: int) -> bool:
    """Whether stage ``j`` of ``p`` handed the last stage one batch per output (give or
    take the batches in flight between them when the run stopped) with several items."""
    last = len(p.stage_batches) - 1
    if j >= last or len(p.stage_items) != len(p.stage_batches):
        return False
    bj, bl = p.stage_batches[j], p.stage_batches[last]
    slack = max(last - j + 2, math.ceil(0.01 * bj))
    return 0 <= bj - bl <= slack and p.stage_items[j] > bj


def item_basis(points: Sequence[SweepPoint], names: Sequence[str] = ()) -> ItemBasis:
    """Which items to rank ``points`` by (see the module's docstring); ``names`` are the
    stages' names, source first, for the words."""
    last_name = names[-1] if names else None
    sized = [p for p in points if p.ok and p.batch_size >= 2 and p.measured_batches > 0]
    if not sized or not all(_one_item_each(p) for p in sized):
        return ItemBasis(last=last_name)
    stages = min(len(p.stage_batches) for p in sized)
    for j in range(stages - 2, -1, -1):
        if all(_one_batch_each(p, j) for p in sized):
            name = names[j] if j < len(names) else f"#{j}"
            return ItemBasis(j, name, last_name, one_per_batch=True)
    return ItemBasis(None, None, last_name, one_per_batch=True)


@dataclass(frozen=True)
class SizeResult:
    """One batch size: its samples (runs) in the order run and their median."""

    batch_size: int
    phase: str
    samples: tuple[SweepPoint, ...]
    outcome: str  # a failure if any sample failed; TOO_SLOW if none ran to a figure
    rates: tuple[float, ...]  # the ranked items/s of the samples that ran fine
    items_per_s: float | None  # median of ``rates``
    low: float | None  # the interval of the median (module docstring)
    high: float | None
    out_items_per_s: float | None  # median items/s out of the chain
    batches_per_s: float | None  # median batches/s out of the chain
    rss_peak_bytes: int | None  # the highest of the samples
    gpu_peak_bytes: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.outcome == OK

    @property
    def failed(self) -> bool:
        return self.outcome in FAILURES

    @property
    def n(self) -> int:
        """Samples that ran to a figure."""
        return len(self.rates)

    @property
    def precision(self) -> float | None:
        """Half the interval's width over the median (0.03: known within ±3%)."""
        if self.items_per_s is None or self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2 / self.items_per_s if self.items_per_s else None

    @property
    def warmup_excluded(self) -> bool:
        return all(p.warmup_excluded for p in self.samples if p.ok)

    @property
    def measured_batches(self) -> int:
        return min((p.measured_batches for p in self.samples if p.ok), default=0)


def _median(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def _peak(values: Sequence[int | None]) -> int | None:
    kept = [v for v in values if v is not None]
    return max(kept) if kept else None


def size_result(
    samples: Sequence[SweepPoint], settings: SweepSettings, basis: ItemBasis
) -> SizeResult:
    """The samples of one size folded (they share ``batch_size``)."""
    first = samples[0]
    rates = tuple(r for r in (basis.rate(p) for p in samples) if r is not None)
    bad = next((p for p in samples if p.failed), None)
    outcome = bad.outcome if bad else (OK if rates else TOO_SLOW)
    error = bad.error if bad else (None if rates else first.error)
    med = low = high = None
    if rates:
        med, low, high = median_interval(rates, settings.noise)
    fine = [p for p in samples if p.ok]
    return SizeResult(
        first.batch_size,
        first.phase,
        tuple(samples),
        outcome,
        rates,
        med,
        low,
        high,
        _median([p.items_per_s for p in fine]),
        _median([p.batches_per_s for p in fine]),
        _peak([p.rss_peak_bytes for p in samples]),
        _peak([p.gpu_peak_bytes for p in samples]),
        error,
    )


def sizes_of(
    points: Sequence[SweepPoint], settings: SweepSettings, basis: ItemBasis | None = None
) -> list[SizeResult]:
    """One result per size, in the order the sizes were first run."""
    basis = item_basis(points) if basis is None else basis
    by_size: dict[int, list[SweepPoint]] = {}
    for p in points:
        by_size.setdefault(p.batch_size, []).append(p)
    return [size_result(group, settings, basis) for group in by_size.values()]


def eligible(
    sizes: Sequence[SizeResult], margin: float
) -> tuple[list[SizeResult], list[tuple[int, str]]]:
    """The sizes that ran fine at least ``margin`` below every failed size, and the ones
    passed over with why."""
    failed = sorted(s.batch_size for s in sizes if s.failed)
    keep, passed = [], []
    for s in sizes:
        if not s.ok or s.items_per_s is None:
            continue
        limit = next((f for f in failed if s.batch_size > (1 - margin) * f), None)
        if limit is None:
            keep.append(s)
        else:
            passed.append((s.batch_size, f"within {margin:.0%} of {limit}, which failed"))
    return keep, passed


def allowed(size: int, sizes: Sequence[SizeResult], margin: float) -> bool:
    """Whether ``size`` could be recommended: ``margin`` below every size that failed."""
    return all(size <= (1 - margin) * s.batch_size for s in sizes if s.failed)


def best_of(sizes: Sequence[SizeResult]) -> SizeResult | None:
    """The highest median (the smaller size on a tie)."""
    ranked = [s for s in sizes if s.items_per_s is not None]
    return max(ranked, key=lambda s: (s.items_per_s, -s.batch_size)) if ranked else None


def overlaps(a: SizeResult, b: SizeResult) -> bool:
    """Whether the medians' intervals of ``a`` and ``b`` overlap (within noise)."""
    if a.low is None or a.high is None or b.low is None or b.high is None:
        return False
    return a.high >= b.low and b.high >= a.low


def below(a: SizeResult, best: SizeResult) -> bool:
    """Whether ``a`` is clearly below ``best``: its interval all under the best's."""
    return a.high is not None and best.low is not None and a.high < best.low


def ruled_out(s: SizeResult, best: SizeResult | None, fraction: float) -> bool:
    """Whether ``s`` is out of the race: the top of its interval under ``fraction`` of the
    bottom of the best's, so that more samples could not make it a contender."""
    if best is None or s is best or s.high is None or best.low is None:
        return False
    return s.high < fraction * best.low
