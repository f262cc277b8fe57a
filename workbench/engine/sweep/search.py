"""Batch-size search, pure: which size to run next, and which size to recommend.

A sweep is a list of measured points (one runner child each, see ``sweep_run``). With
``--auto`` it grows by powers of two from ``min_size`` until throughput stops improving by
more than ``improvement``, a size fails (out of memory, a budget passed, any error) or
``max_size`` is reached, then runs the midpoints between the best size and its neighbours,
never more runs in all than a full power-of-two sweep from ``min_size`` to ``max_size``.
The recommendation is the fastest size that ran within the budgets and at least ``margin``
below every size that failed; a size that did not run is never recommended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

#: Outcomes of a point. OUT_OF_MEMORY: MemoryError or torch's OutOfMemoryError;
#: OVER_BUDGET: RSS or GPU memory passed its budget; FAILED: any other error or crash;
#: TOO_SLOW: ran, but no batch came out after the warm-up in the time given.
OK, OUT_OF_MEMORY, OVER_BUDGET, FAILED, TOO_SLOW = (
    "ok",
    "out_of_memory",
    "over_budget",
    "failed",
    "too_slow",
)
#: Outcomes that count as a failed size (the recommendation keeps a margin below them).
FAILURES = (OUT_OF_MEMORY, OVER_BUDGET, FAILED)
GROW, REFINE, LISTED = "grow", "refine", "list"


@dataclass(frozen=True)
class SweepSettings:
    """What a sweep runs: the sizes (a list, or the auto search) and how each is measured."""

    sizes: tuple[int, ...] = ()  # run exactly these, in order; empty: the auto search
    min_size: int = 8
    max_size: int = 65536
    seconds_per_run: float = 3.0
    max_batches: int | None = None
    memory_budget: int | None = None  # bytes of RSS
    gpu_memory_budget: int | None = None  # bytes of peak GPU memory
    warmup_batches: int = 2
    warmup_s: float = 0.0
    improvement: float = 0.03  # growth stops below this relative gain
    margin: float = 0.2  # the recommendation stays this fraction below any failed size
    params: dict[str, str] = field(default_factory=dict)  # other pipeline parameters

    @property
    def auto(self) -> bool:
        return not self.sizes


@dataclass(frozen=True)
class SweepPoint:
    """One batch size as measured in its own runner child."""

    batch_size: int
    phase: str  # GROW, REFINE or LISTED
    outcome: str  # OK, OUT_OF_MEMORY, OVER_BUDGET, FAILED or TOO_SLOW
    status: str  # the run's own status (finished, stopped, failed, budget_exceeded, ...)
    items_per_s: float | None  # after the warm-up; None unless the outcome is OK
    items_per_s_run: float = 0.0  # over the whole run, warm-up included
    warmup_excluded: bool = False  # False: too short to leave the warm-up out
    measured_items: int = 0
    measured_batches: int = 0
    measured_s: float = 0.0
    rss_peak_bytes: int | None = None
    gpu_peak_bytes: int | None = None
    gpu_state: str | None = None  # why there is no GPU figure ("no NVIDIA driver", ...)
    error: str | None = None  # one line: what failed
    duration_s: float = 0.0
    run_id: str | None = None
    record: str | None = None  # the run record's path

    @property
    def ok(self) -> bool:
        return self.outcome == OK

    @property
    def failed(self) -> bool:
        return self.outcome in FAILURES


def powers_of_two(lo: int, hi: int) -> list[int]:
    """``lo, 2*lo, 4*lo, ...`` up to ``hi``: the sizes of a full power-of-two sweep."""
    out, size = [], lo
    while size <= hi:
        out.append(size)
        size *= 2
    return out


def full_sweep_runs(settings: SweepSettings) -> int:
    """How many runs a full power-of-two sweep from min to max takes (the auto cap)."""
    return len(powers_of_two(settings.min_size, settings.max_size))


def best_ok(points: Sequence[SweepPoint]) -> SweepPoint | None:
    """The fastest point that ran fine (the smaller size on a tie)."""
    ok = [p for p in points if p.ok and p.items_per_s is not None]
    return max(ok, key=lambda p: (p.items_per_s, -p.batch_size)) if ok else None


def gain(new: float, old: float) -> float:
    return new / old - 1.0 if old > 0 else float("inf")


def growth_stop(points: Sequence[SweepPoint], settings: SweepSettings) -> str | None:
    """Why the power-of-two growth has ended, or None while it goes on."""
    grown = [p for p in points if p.phase == GROW]
    if not grown:
        return None
    last = grown[-1]
    if not last.ok:
        return f"{last.batch_size} {OUTCOME_WORDS[last.outcome]}"
    before = best_ok(grown[:-1])
    if before is not None and last.items_per_s is not None and before.items_per_s:
        g = gain(last.items_per_s, before.items_per_s)
        if g <= settings.improvement:
            return (
                f"throughput at {last.batch_size} is {g:+.1%} against {before.batch_size}, "
                f"not more than +{settings.improvement:.0%}"
            )
    if last.batch_size * 2 > settings.max_size:
        return f"reached --max {settings.max_size}"
    return None


def refinements(points: Sequence[SweepPoint], settings: SweepSettings) -> list[int]:
    """The midpoints between the best grown size and its neighbours (lower one first)."""
    grown = [p for p in points if p.phase == GROW]
    best = best_ok(grown)
    if best is None:
        return []
    ran = {p.batch_size for p in grown}
    size = best.batch_size
    out = []
    for lo, hi in ((size // 2, size), (size, size * 2)):
        if lo in ran and hi in ran and lo != hi:
            mid = (lo + hi) // 2
            if lo < mid < hi:
                out.append(mid)
    return out


def next_size(points: Sequence[SweepPoint], settings: SweepSettings) -> tuple[int, str] | None:
    """The next size to run and its phase, given the points so far; None when done."""
    ran = {p.batch_size for p in points}
    if not settings.auto:
        todo = [s for s in settings.sizes if s not in ran]
        return (todo[0], LISTED) if todo else None
    grown = [p for p in points if p.phase == GROW]
    if growth_stop(points, settings) is None:
        size = grown[-1].batch_size * 2 if grown else settings.min_size
        return size, GROW
    if len(points) >= full_sweep_runs(settings):
        return None  # never more runs than the full power-of-two sweep
    for mid in refinements(points, settings):
        if mid not in ran:
            return mid, REFINE
    return None


@dataclass(frozen=True)
class Answer:
    """The sweep's answer: the recommended size beside the largest size that fit."""

    recommended: SweepPoint | None
    largest_fit: SweepPoint | None
    reason: str
    #: Sizes that ran fine but were passed over, with why (too close to a failed size).
    passed_over: tuple[tuple[int, str], ...] = ()
    #: Sizes whose throughput is within ``improvement`` of the recommended one (noise).
    near: tuple[int, ...] = ()


def recommend(points: Sequence[SweepPoint], settings: SweepSettings) -> Answer:
    """The fastest size that fit the budgets, ``margin`` below every failed size."""
    ok = [p for p in points if p.ok and p.items_per_s is not None]
    failed = sorted(p.batch_size for p in points if p.failed)
    largest = max(ok, key=lambda p: p.batch_size) if ok else None
    if not ok:
        why = "no size ran to a measurement" if points else "no size ran"
        return Answer(None, None, why)
    passed_over = []
    eligible = []
    for p in ok:
        limit = next((f for f in failed if p.batch_size > (1 - settings.margin) * f), None)
        if limit is None:
            eligible.append(p)
        else:
            passed_over.append(
                (p.batch_size, f"within {settings.margin:.0%} of {limit}, which failed")
            )
    best = best_ok(eligible)
    if best is None:
        return Answer(
            None,
            largest,
            f"every size that fit is within {settings.margin:.0%} of "
            "a size that failed: lower --margin or sweep smaller sizes",
            tuple(passed_over),
        )
    assert best.items_per_s is not None
    near = tuple(
        sorted(
            p.batch_size
            for p in ok
            if p is not best
            and p.items_per_s
            and gain(best.items_per_s, p.items_per_s) <= settings.improvement
        )
    )
    reason = f"fastest of the {len(ok)} size{'s' if len(ok) != 1 else ''} that fit"
    above = [f for f in failed if f > best.batch_size]
    if above:
        below = 1 - best.batch_size / above[0]
        reason += f", {below:.0%} below {above[0]} (the smallest larger size, which failed)"
    return Answer(best, largest, reason, tuple(passed_over), near)


OUTCOME_WORDS = {
    OK: "ran",
    OUT_OF_MEMORY: "ran out of memory",
    OVER_BUDGET: "passed a memory budget",
    FAILED: "failed",
    TOO_SLOW: "gave no batch after the warm-up in time",
}
