"""What a sweep runs and what one run of it gives: the settings, and one sample (a run).

A sweep measures each batch size with several short samples, each a run in its own runner
child (``sweep.run``); ``sweep.stats`` folds the samples of one size into its median.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Outcomes of a sample. OUT_OF_MEMORY: MemoryError or torch's OutOfMemoryError;
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
#: Why a size was run: growing by ``growth`` from ``min_size``, filling in the powers of two
#: next to the best, the midpoint between the best and its better neighbour, or listed.
GROW, FILL, REFINE, LISTED = "grow", "fill", "refine", "list"


@dataclass(frozen=True)
class SweepSettings:
    """What a sweep runs: the sizes (a list, or the auto search) and how each is measured.

    Each size gets ``samples`` runs of ``seconds_per_run`` at least, interleaved with the
    other sizes' runs; the best sizes get more (up to ``max_samples``) while their median is
    known less well than ``precision`` (see ``sweep.stats.median_interval``).
    """

    sizes: tuple[int, ...] = ()  # run exactly these; empty: the auto search
    min_size: int = 8
    max_size: int = 65536
    seconds_per_run: float = 1.0  # each sample (run)
    max_batches: int | None = None
    memory_budget: int | None = None  # bytes of RSS
    gpu_memory_budget: int | None = None  # bytes of peak GPU memory
    warmup_batches: int = 2
    warmup_s: float = 0.0
    samples: int = 3  # runs per size at least
    max_samples: int = 5  # runs per size at most (the best ones, for precision)
    precision: float = 0.03  # the best sizes are sampled until their median is known ± this
    growth: int = 4  # the auto search grows by this factor, then fills in powers of two
    drop: float = 0.10  # growth stops at a size this far below the best (and clearly so)
    noise: float = 0.10  # spread assumed for a size with fewer than 3 samples
    out_below: float = 0.5  # a size wholly under this fraction of the best gets no more samples
    margin: float = 0.2  # the recommendation stays this fraction below any failed size
    params: dict[str, str] = field(default_factory=dict)  # other pipeline parameters

    @property
    def auto(self) -> bool:
        return not self.sizes


@dataclass(frozen=True)
class SweepPoint:
    """One sample: one run of one batch size, in its own runner child.

    ``items_per_s`` counts items out of the chain (the last stage, as the run report counts
    them: ``workbench.authoring.items``) over the measured window, the warm-up left out;
    ``stage_items``/``stage_batches`` are each stage's totals at the run's end (position 0
    is the source), which ``sweep.stats.item_basis`` reads to tell when the last stage
    yields one item per batch.
    """

    batch_size: int
    phase: str  # GROW, FILL, REFINE or LISTED: why this size is in the sweep
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
    sample: int = 1  # 1 for the first run of this size, 2 for the second, ...
    batches_per_s: float | None = None  # out of the chain, over the measured window
    stage_items: tuple[int, ...] = ()  # per stage at the run's end, source first
    stage_batches: tuple[int, ...] = ()

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
    """Runs of a full power-of-two sweep from min to max with ``samples`` rounds: the most
    runs the auto search makes."""
    return len(powers_of_two(settings.min_size, settings.max_size)) * max(1, settings.samples)


def max_runs(settings: SweepSettings) -> int:
    """The most runs the sweep makes (for a progress bar): the auto cap, or every listed
    size at ``max_samples``."""
    if settings.auto:
        return full_sweep_runs(settings)
    return len(settings.sizes) * max(settings.samples, settings.max_samples)


#: What each outcome means, in words.
OUTCOME_WORDS = {
    OK: "ran",
    OUT_OF_MEMORY: "ran out of memory",
    OVER_BUDGET: "passed a memory budget",
    FAILED: "failed",
    TOO_SLOW: "gave no batch after the warm-up in time",
}
