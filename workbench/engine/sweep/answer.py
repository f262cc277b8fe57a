"""The sweep's answer, pure: the size to use, the evidence for it, and what it could not check.

The recommendation is the measured size with the highest median items/s (the items of
``stats.item_basis``) among those that ran fine at least ``margin`` below every size that
failed; a size that was not run is never recommended. "Largest that fit" is named only when
a size failed (otherwise every size fit). A GPU budget that no run could check (no GPU,
no driver) is said so, never passed over in silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from workbench.engine.sections.gpu import NO_DRIVER, NVML_UNAVAILABLE, TORCH_NO_CUDA
from workbench.engine.sweep.points import SweepPoint, SweepSettings
from workbench.engine.sweep.stats import (
    ItemBasis,
    SizeResult,
    best_of,
    eligible,
    item_basis,
    overlaps,
    ruled_out,
    sizes_of,
)
from workbench.units import format_bytes

#: GPU states under which a run has no GPU figure to check a budget against.
NO_GPU = (NO_DRIVER, NVML_UNAVAILABLE, TORCH_NO_CUDA)


@dataclass(frozen=True)
class Answer:
    """The sweep's answer: the recommended size, and what else to know about it."""

    recommended: SizeResult | None
    #: The largest size that ran fine; None unless some size failed.
    largest_fit: SizeResult | None
    reason: str
    #: Sizes that ran fine but were passed over, with why (too close to a failed size).
    passed_over: tuple[tuple[int, str], ...] = ()
    #: Sizes whose median's interval overlaps the recommended one's (within noise).
    near: tuple[int, ...] = ()
    basis: ItemBasis = field(default_factory=ItemBasis)
    #: Every size measured, in the order first run.
    sizes: tuple[SizeResult, ...] = ()
    #: Why the GPU budget could not be checked, when it could not.
    gpu_note: str | None = None
    #: Sizes out of the race: so far below the best that they got no more samples.
    out: tuple[int, ...] = ()


def gpu_budget_note(points: Sequence[SweepPoint], settings: SweepSettings) -> str | None:
    """Why the GPU budget could not be checked (no run had a GPU figure, and a run said
    why: no driver, NVML unavailable, torch without CUDA); None when it was or none set."""
    if not settings.gpu_memory_budget or not points:
        return None
    if any(p.gpu_peak_bytes is not None for p in points):
        return None
    states = sorted({p.gpu_state for p in points if p.gpu_state in NO_GPU})
    if not states:
        return None
    return (
        f"the GPU budget of {format_bytes(settings.gpu_memory_budget)} could not be checked: "
        f"{', '.join(s for s in states if s)}"
    )


def recommend(
    points: Sequence[SweepPoint], settings: SweepSettings, names: Sequence[str] = ()
) -> Answer:
    """The answer for the samples so far (see the module's docstring); ``names`` are the
    pipeline's stage names, source first, for the words about items."""
    basis = item_basis(points, names)
    sizes = tuple(sizes_of(points, settings, basis))
    gpu = gpu_budget_note(points, settings)
    ok = [s for s in sizes if s.ok and s.items_per_s is not None]
    failed = sorted(s.batch_size for s in sizes if s.failed)
    largest = max(ok, key=lambda s: s.batch_size) if ok and failed else None
    if not ok:
        why = "no size ran to a measurement" if points else "no size ran"
        return Answer(None, None, why, basis=basis, sizes=sizes, gpu_note=gpu)
    keep, passed_over = eligible(sizes, settings.margin)
    best = best_of(keep)
    if best is None:
        return Answer(
            None,
            largest,
            f"every size that fit is within {settings.margin:.0%} of "
            "a size that failed: lower --margin or sweep smaller sizes",
            tuple(passed_over),
            basis=basis,
            sizes=sizes,
            gpu_note=gpu,
        )
    near = tuple(sorted(s.batch_size for s in ok if s is not best and overlaps(s, best)))
    out = tuple(
        s.batch_size
        for s in ok
        if s.n < settings.samples and ruled_out(s, best, settings.out_below)
    )
    counts = sorted({s.n for s in ok if s.batch_size not in out})
    each = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    reason = (
        f"highest median of the {len(ok)} size{'s' if len(ok) != 1 else ''} that fit "
        f"({each} sample{'s' if counts[-1] != 1 else ''} each"
        + (f"; {len(out)} out of the race, under half the best" if out else "")
        + f"; {basis.ranked_by})"
    )
    if best.n < settings.samples:
        reason += f"; from {best.n} sample{'s' if best.n != 1 else ''} only"
    above = [f for f in failed if f > best.batch_size]
    if above:
        gap = 1 - best.batch_size / above[0]
        reason += f", {gap:.0%} below {above[0]} (the smallest larger size, which failed)"
    return Answer(best, largest, reason, tuple(passed_over), near, basis, sizes, gpu, out)
