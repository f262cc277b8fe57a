"""The runner child's sampler of the "parallel" section (``sections.parallel``), in a module
of its own: every run has this sampler, and a run without a parallel stage builds none of
the section's classes before its chain (each frozen dataclass costs ~1 ms to create on
Python 3.11). Such a run sends the section once, in its final reading, after its chain has
closed: the backend its parallel stages would use, and no stages.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from workbench.engine.sections import SamplerContext, SectionSampler
from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.engine.sections.parallel import ParallelSection


def stage_registry() -> Any:
    """The parallel stages made so far (``authoring.parallel.REGISTRY``); none where nothing
    imported that module (a pipeline without parallel stages: the runner does not import
    it either)."""
    module = sys.modules.get("workbench.authoring.parallel")
    return module.REGISTRY if module is not None else []


class ParallelSampler(SectionSampler):
    """Section "parallel" (``ParallelSection``): the backend, and each parallel stage's
    figures, read from the stages' own counters."""

    name = section = "parallel"

    def __init__(self) -> None:
        super().__init__()
        stage_registry().clear()  # stages a warm server's import made are not this run's
        # The run's choice is read where it is first needed, from the environment as the
        # run started: a pipeline that changes it later does not change what ran.
        self._env = {k: v for k, v in os.environ.items() if k.startswith("PIPEBENCH_")}
        self._choice: tuple[str | None, str | None, str | None] | None = None

    def active(self) -> bool:
        return bool(stage_registry())

    def read(self) -> ParallelSection | None:
        """None (nothing to show) while the run has no parallel stage."""
        return self.read_final() if stage_registry() else None

    def read_final(self) -> ParallelSection:
        from workbench.engine.sections.parallel import section_now

        return section_now(*self.choice())

    def choice(self) -> tuple[str | None, str | None, str | None]:
        """(backend, scheduler, problem): what ``--backend``/``--scheduler`` chose (the
        ``PIPEBENCH_*`` variables as the run started), or the backend asked for and why it
        cannot be used (raised again, and fatal, only where a stage is parallel)."""
        if self._choice is None:
            from workbench.authoring.parallel_backends import BACKEND_ENV, choice_from_env

            try:
                choice = choice_from_env(self._env)
                self._choice = (choice.name, choice.scheduler, None)
            except UserError as exc:
                self._choice = (self._env.get(BACKEND_ENV), None, exc.message)
        return self._choice


def make_sampler(ctx: SamplerContext) -> ParallelSampler:
    """Section factory (see ``engine.child.section_samplers``)."""
    return ParallelSampler()
