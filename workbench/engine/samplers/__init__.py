"""Samplers read a resource of the runner child on its sampler thread.

Each says up front whether it can work here (``available``) and, if not, why (``reason``),
so a missing capability is shown as a state rather than as a silently missing column.
"""

from __future__ import annotations


class Sampler:
    """Base of the samplers: capability flags and a reason when unavailable."""

    name = "sampler"

    def __init__(self) -> None:
        self.available = True
        self.reason: str | None = None

    def unavailable(self, reason: str) -> None:
        self.available = False
        self.reason = reason
