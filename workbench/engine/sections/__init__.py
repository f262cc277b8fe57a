"""Samplers read a resource of the runner child on its sampler thread.

Each says up front whether it can work here (``available``) and, if not, why (``reason``),
so a missing capability is shown as a state rather than as a silently missing column.
"""

from __future__ import annotations

import importlib
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

    def read(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """The run is over (called on the main thread after the chain is closed)."""


#: Factories of section samplers, "module:function"; each takes a SamplerContext and
#: returns a SectionSampler, or None when it has nothing to say about this run.
SECTION_FACTORIES: tuple[str, ...] = (
    "workbench.engine.sections.resources:make_sampler",
    "workbench.engine.sections.gpu:make_sampler",
    "workbench.engine.sections.caches:make_sampler",
    "workbench.engine.sections.parallel:make_sampler",
)


def section_samplers(ctx: SamplerContext) -> list[SectionSampler]:
    out = []
    for spec in SECTION_FACTORIES:
        mod, _, fn = spec.partition(":")
        sampler = getattr(importlib.import_module(mod), fn)(ctx)
        if sampler is not None:
            out.append(sampler)
    return out
