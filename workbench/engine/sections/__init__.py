"""Sections of a run: what is measured besides the stage counters, each in its own module.

``memory`` (the process tree) and the NVML part of ``gpu`` are sampled by the parent from
outside the pipeline's process. The others are ``SectionSampler``s that only the runner child
can read (cache counters, resource contexts, ``torch.cuda``, parallel stages); the child
builds them with its run (``engine.child.section_samplers``) and reads them on one thread at
the snapshot rate, started only once one of them is ``active``.

Each sampler says up front whether it can work here (``available``) and, if not, why
(``reason``), so a missing capability is shown as a state rather than a missing column.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any


class Sampler:
    """Base of the samplers: capability flags and a reason when unavailable."""

    name = "sampler"

    def __init__(self) -> None:
        self.available = True
        self.reason: str | None = None

    def unavailable(self, reason: str) -> None:
        self.available = False
        self.reason = reason


@dataclass(frozen=True)
class SamplerContext:
    """What a section sampler may look at when the run starts."""

    module: ModuleType  # the user's pipeline module
    pipeline: Any  # the workbench.Pipeline being run
    params: dict[str, Any]


class SectionSampler(Sampler):
    """Adds one named section (JSON-able data) to every snapshot and to the run report.

    The section's last value is what the report holds under ``section``, so a sampler keeps
    its own peaks. ``read`` runs on the sampler thread every snapshot interval.
    """

    section = "section"
    #: Called (from any thread) when the sampler gets something to report, so the child
    #: starts its sections thread; set by the child.
    wake: Any = None

    def active(self) -> bool:
        """Whether there is something to read now (the sections thread starts if so)."""
        return True

    def read(self) -> Any:
        raise NotImplementedError

    def read_final(self) -> Any:
        """The reading sent as the run ends, after its chain has closed (where the work
        no longer counts in the run's figures): ``read()`` unless the live readings leave
        something out."""
        return self.read()

    def close(self) -> None:
        """The run is over (called on the main thread after the chain is closed)."""
