"""Summary statistics of timing samples (median, IQR, min) and the stability verdict.

Pure functions on per-call seconds, shared by the runner child and the parent's
aggregation, so a result merged from several processes is judged the same way.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.units import format_count

#: A result is unstable when its IQR is more than this fraction of its median ...
UNSTABLE_IQR = 0.10
#: ... or its slowest sample is more than this many times its fastest.
UNSTABLE_SPREAD = 4.0


@dataclass(frozen=True)
class Summary:
    """What a set of per-call timings says."""

    n: int
    median: float
    q1: float
    q3: float
    min: float
    max: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def unstable(self) -> str | None:
        """Why the result should not be trusted, or None."""
        if self.median > 0 and self.iqr / self.median > UNSTABLE_IQR:
            return f"unstable: IQR is {self.iqr / self.median:.0%} of the median"
        if self.min > 0 and self.max > UNSTABLE_SPREAD * self.min:
            return f"unstable: slowest sample {format_count(self.max / self.min)}x the fastest"
        return None


def summarize(samples: Sequence[float]) -> Summary | None:
    """Median, quartiles (inclusive method, as numpy's default) and extremes; None if empty."""
    xs = sorted(samples)
    if not xs:
        return None
    if len(xs) == 1:
        q1 = q3 = xs[0]
    else:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return Summary(len(xs), statistics.median(xs), q1, q3, xs[0], xs[-1])
