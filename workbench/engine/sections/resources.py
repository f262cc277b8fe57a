"""The run's "contexts" section: every resource context the pipeline entered, live.

The context managers themselves are public (``workbench.authoring.resources``) and record into the
process's registry (``workbench.authoring.recording``); this sampler starts the registry's clock with
the run, sends its records with each snapshot, and checks at the end that none is left open.
"""

from __future__ import annotations

import gc
from typing import Any

from workbench.authoring.recording import REGISTRY, Registry
from workbench.engine.sections import SamplerContext, SectionSampler


class ContextsSampler(SectionSampler):
    """Section "contexts": records of entered and exited contexts with their nesting."""

    name = section = "contexts"

    def __init__(self, registry: Registry = REGISTRY):
        super().__init__()
        self.registry = registry
        registry.begin_run()
        registry.listener = self._entered

    def _entered(self) -> None:
        if self.wake is not None:
            self.wake()

    def active(self) -> bool:
        return bool(self.registry.records())

    def read(self) -> Any:
        return self.registry.section()

    def close(self) -> None:
        """After the chain is closed. A context still open then belongs to a generator that
        nothing closed (say a helper generator in a reference cycle): collect it, so that
        its ``with`` blocks exit; whatever is left is marked as left open."""
        if self.registry.open_records():
            gc.collect()
        for rec in self.registry.open_records():
            rec.note = "still open when the run ended"
            self.registry.changed()


def make_sampler(ctx: SamplerContext) -> ContextsSampler:
    """Section factory (see ``engine.child.section_samplers``)."""
    return ContextsSampler()
