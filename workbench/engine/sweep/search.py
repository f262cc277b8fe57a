"""Batch-size search, pure: which size to sample next, given the samples so far.

Every size is measured by ``samples`` short runs at least, interleaved: the size with the
fewest samples goes next (the one sampled longest ago on a tie), so a drift in the machine's
load spreads over all sizes instead of deciding between two of them.

``--auto`` brackets the maximum on a log2 axis, then refines inside the bracket:

1. **Grow** by ``growth`` (×4) from ``min_size``. A size that is merely no better than the
   best (a plateau, as 64 ≈ 128 < 256) does not stop the growth; it stops at a size that
   failed (out of memory, a budget passed, any error) or gave no batch in time, at one that
   is clearly below the best (its interval under the best's, and ``drop`` (10%) below its
   median), at two grown sizes in a row below the best's interval, or at ``max_size``.
   Growth runs one size ahead on provisional figures (±``noise`` until a size has 3
   samples) and is judged again as samples come in.
2. **Fill**: once the best has its samples, the powers of two next to it that the growth
   skipped are run, and next to its neighbours within noise of it (each may be the true
   best: noise cannot then hide the maximum one step outside the bracket).
3. **Refine**: the midpoint between the best and its better neighbour, when that neighbour
   is within noise of the best (the maximum may lie between them) and the best's median is
   known within twice ``precision`` (noisier, a gain of a few % could not be told from
   noise); once per sweep.
4. **Precision**: the best and its closest rival within noise get more samples (up to
   ``max_samples``) while their median is known less well than ``precision``; the
   midpoint takes turns with the best, so the two are compared under the same load. In all
   no more extra samples than bring two sizes to ``max_samples``.

A size whose interval lies wholly under ``out_below`` (half) of the best's is out of the
race: it gets no more samples, as more could not make it a contender (a first sample at
40% of the best, even 10% low, is under 50% of the best even 10% high); every size that
could be the best gets its ``samples``.

Never more runs than a full power-of-two sweep from min to max with ``samples`` rounds; no
size at or within ``margin`` below a size that failed is run after it failed (it could not
be recommended). With ``sizes`` listed, each is sampled in interleaved rounds in order.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.engine.sweep.answer import Answer, recommend
from workbench.engine.sweep.points import (
    FAILED,
    FAILURES,
    FILL,
    GROW,
    LISTED,
    OK,
    OUT_OF_MEMORY,
    OUTCOME_WORDS,
    OVER_BUDGET,
    REFINE,
    TOO_SLOW,
    SweepPoint,
    SweepSettings,
    full_sweep_runs,
    max_runs,
    powers_of_two,
)
from workbench.engine.sweep.stats import (
    SizeResult,
    allowed,
    below,
    best_of,
    eligible,
    overlaps,
    ruled_out,
    sizes_of,
)

__all__ = [
    "FAILED",
    "FAILURES",
    "FILL",
    "GROW",
    "LISTED",
    "OK",
    "OUTCOME_WORDS",
    "OUT_OF_MEMORY",
    "OVER_BUDGET",
    "REFINE",
    "TOO_SLOW",
    "Answer",
    "SweepPoint",
    "SweepSettings",
    "full_sweep_runs",
    "growth_stop",
    "max_runs",
    "next_size",
    "powers_of_two",
    "recommend",
    "refinement",
]


def grown_sizes(settings: SweepSettings) -> list[int]:
    """``min, min*growth, min*growth², ...`` up to ``max``."""
    out, size = [], settings.min_size
    while size <= settings.max_size:
        out.append(size)
        size *= max(2, settings.growth)
    return out


def _grown(by: dict[int, SizeResult], settings: SweepSettings) -> list[SizeResult]:
    """The grown sizes measured so far, in order (the growth's chain)."""
    chain = []
    for size in grown_sizes(settings):
        if size not in by:
            break
        chain.append(by[size])
    return chain


def _cliff(s: SizeResult, by: dict[int, SizeResult], settings: SweepSettings) -> bool:
    """Whether ``s`` has one sample only, under ``out_below`` of the size measured before it:
    a cliff a throughput curve rarely has, more often one stalled run (a BLAS stall made a
    1 s run ten times slower). Such a size gets a second sample before it is judged."""
    if s.n != 1 or not s.items_per_s:
        return False
    smaller = [z for z in by.values() if z.batch_size < s.batch_size and z.ok and z.items_per_s]
    if not smaller:
        return False
    before = max(smaller, key=lambda z: z.batch_size)
    return s.items_per_s < settings.out_below * (before.items_per_s or 0.0)


def _growth_stop(by: dict[int, SizeResult], settings: SweepSettings) -> str | None:
    grown = _grown(by, settings)
    if not grown:
        return None
    last = grown[-1]
    if not last.ok:
        return f"{last.batch_size} {OUTCOME_WORDS[last.outcome]}"
    if _cliff(last, by, settings):
        return None  # its second sample first (``_proposals``)
    best = best_of(eligible(list(by.values()), settings.margin)[0])
    drop = None
    if best is not None and last is not best and last.items_per_s and best.items_per_s:
        change = last.items_per_s / best.items_per_s - 1
        if below(last, best) and change <= -settings.drop:
            return (
                f"{last.batch_size} is clearly below {best.batch_size} "
                f"({change:+.0%}, the intervals apart)"
            )
        before = grown[-2] if len(grown) >= 2 else None
        if before is not None and before is not best and below(before, best) and below(last, best):
            drop = (
                f"{before.batch_size} and {last.batch_size} are both clearly below "
                f"{best.batch_size}"
            )
    if last.batch_size * max(2, settings.growth) > settings.max_size:
        return f"the next size is above --max {settings.max_size}"
    return drop


def growth_stop(points: Sequence[SweepPoint], settings: SweepSettings) -> str | None:
    """Why the growth has ended, judged on the samples so far; None while it goes on."""
    return _growth_stop({s.batch_size: s for s in sizes_of(points, settings)}, settings)


def _pending(
    s: SizeResult, settings: SweepSettings, best: SizeResult | None, by: dict[int, SizeResult]
) -> bool:
    """Whether a size started is short of its samples (a size that failed, gave no
    figure, or is out of the race gets no more; a cliff on one sample is not out yet)."""
    return (
        s.ok
        and s.n < settings.samples
        and len(s.samples) < settings.max_samples
        and (_cliff(s, by, settings) or not ruled_out(s, best, settings.out_below))
    )


def _best(sizes: Sequence[SizeResult], settings: SweepSettings) -> SizeResult | None:
    return best_of(eligible(sizes, settings.margin)[0])


def _proposals(by: dict[int, SizeResult], settings: SweepSettings) -> list[tuple[int, str]]:
    """New sizes the auto search wants now (module docstring, steps 1-3)."""
    if _growth_stop(by, settings) is None:
        grown = _grown(by, settings)
        if grown and _cliff(grown[-1], by, settings):
            return []  # the cliff's second sample goes first (a pending size)
        size = next(s for s in grown_sizes(settings) if s not in by)
        return [(size, GROW)]
    sizes = list(by.values())
    best = _best(sizes, settings)
    pending = {s.batch_size for s in sizes if _pending(s, settings, best, by)}
    if best is None or best.batch_size in pending:
        return []  # fill and refine around a best with complete figures only
    grid = set(powers_of_two(settings.min_size, settings.max_size))
    # The best and its neighbours on the grid within noise of it: each may be the true
    # best, so the powers of two on both sides of each are measured (a bracket that noise
    # cannot fool by one step).
    near = (best.batch_size // 2, best.batch_size * 2)
    rivals = [z for z in sizes if z.batch_size in near and z.ok and overlaps(z, best)]
    wanted: list[int] = []
    for z in [best, *sorted(rivals, key=lambda z: -(z.items_per_s or 0.0))]:
        for n in (z.batch_size // 2, z.batch_size * 2):
            if z.batch_size in grid and n in grid and n not in wanted:
                wanted.append(n)
    wanted = [n for n in wanted if allowed(n, sizes, settings.margin)]
    if pending - set(wanted):
        return []  # other sizes first: they may move the best
    fills = [(n, FILL) for n in wanted if n not in by]
    if fills or pending:
        return fills
    if best.batch_size not in grid or any(z.phase == REFINE for z in sizes):
        return []  # one midpoint per sweep: finer steps are lost in the noise
    neighbours = [n for n in (best.batch_size // 2, best.batch_size * 2) if n in by]
    better = best_of([by[n] for n in neighbours if by[n].ok])
    if better is None or not overlaps(better, best) or _too_noisy(best, settings):
        return []
    mid = (best.batch_size + better.batch_size) // 2
    lo, hi = sorted((best.batch_size, better.batch_size))
    if lo < mid < hi and mid not in by and allowed(mid, sizes, settings.margin):
        return [(mid, REFINE)]
    return []


def _too_noisy(best: SizeResult, settings: SweepSettings) -> bool:
    """Whether the best's median is known too poorly (worse than twice ``precision``) for
    a midpoint, which gains a few % at most, to be told from noise."""
    return (best.precision or 0.0) > 2 * settings.precision


def refinement(points: Sequence[SweepPoint], settings: SweepSettings) -> str | None:
    """What the refinement did, in words (None before the growth ended)."""
    sizes = sizes_of(points, settings)
    by = {z.batch_size: z for z in sizes}
    if not settings.auto or _growth_stop(by, settings) is None:
        return None
    mids = [z.batch_size for z in sizes if z.phase == REFINE]
    if mids:
        return f"midpoint {mids[0]} run"
    best = _best(sizes, settings)
    if best is None:
        return None
    if _too_noisy(best, settings) and best.precision is not None:
        return (
            f"no midpoint: the best's median is known only within ±{best.precision:.0%}, "
            f"more than a midpoint could gain (it is run within ±{2 * settings.precision:.0%})"
        )
    return "no midpoint: the best's neighbours are clearly below it, or were not run"


def _extra_left(by: dict[int, SizeResult], settings: SweepSettings) -> bool:
    """Whether the sweep may still take samples beyond ``samples`` per size: as many in all
    as bring two sizes (the best and its rival) to ``max_samples``, however often the best
    changes on a plateau."""
    used = sum(max(0, len(z.samples) - settings.samples) for z in by.values())
    return used < 2 * (settings.max_samples - settings.samples)


def _imprecise(by: dict[int, SizeResult], settings: SweepSettings) -> list[int]:
    """The best and its closest rival within noise, while their medians are known less
    well than ``precision`` and they have room for more samples."""
    fine = eligible(list(by.values()), settings.margin)[0]
    best = best_of(fine)
    if best is None or not _extra_left(by, settings):
        return []
    rival = best_of([s for s in fine if s is not best and overlaps(s, best)])
    return [
        s.batch_size
        for s in (best, rival)
        if s is not None
        and s.n >= settings.samples
        and len(s.samples) < settings.max_samples
        and (s.precision or 0.0) > settings.precision
    ]


def next_size(points: Sequence[SweepPoint], settings: SweepSettings) -> tuple[int, str] | None:
    """The size of the next sample and why it is in the sweep (its phase); None when the
    sweep is done."""
    if len(points) >= max_runs(settings):
        return None
    sizes = sizes_of(points, settings)
    by = {s.batch_size: s for s in sizes}
    best = _best(sizes, settings)
    last_run = {p.batch_size: i for i, p in enumerate(points)}
    if settings.auto:
        new = _proposals(by, settings)
    else:
        new = [(size, LISTED) for size in settings.sizes if size not in by]
    choices = [(0, -1, i, size, phase) for i, (size, phase) in enumerate(new)]
    choices += [
        (len(s.samples), last_run[s.batch_size], 0, s.batch_size, s.phase)
        for s in sizes
        if _pending(s, settings, best, by)
    ]
    if not choices or (len(choices) == 1 and choices[0][4] == REFINE):
        # The midpoint takes turns with the best (and with the precision samples of its
        # rival), least recently sampled first, rather than running back to back: the two
        # are compared under the same load.
        lone = {c[3] for c in choices}
        partners = set(_imprecise(by, settings))
        fine = eligible(sizes, settings.margin)[0]
        other = best_of([z for z in fine if z.batch_size not in lone])
        if (
            lone
            and other is not None
            and len(other.samples) < settings.max_samples
            and _extra_left(by, settings)
        ):
            partners.add(other.batch_size)
        choices = [(0, *c[1:]) for c in choices] + [
            (0, last_run[size], 0, size, by[size].phase) for size in sorted(partners - lone)
        ]
    if not choices:
        return None
    _, _, _, size, phase = min(choices)
    return size, phase
