"""The run's "parallel" section: per parallel stage, its workers, tasks in flight,
throughput and parallel efficiency, per worker its tasks, busy time and (Dask) memory, and
what moving values and results costs; live and in the report.

The stages keep their own counters (``workbench.authoring.parallel_stats.ParallelStats``);
this sampler only reads them, and the Dask cluster's figures the stage's own thread polls
from the scheduler. The section is there in every run, with the backend the run's parallel
stages would use and an empty ``stages`` list when there are none; ``cluster`` says which
Dask cluster ran them (``kind`` "local": started by pipebench for the run; "attached").
"""

from __future__ import annotations

import sys
from typing import Any

from workbench.authoring import parallel
from workbench.authoring.parallel_backends import BACKEND_ENV, choice_from_env
from workbench.engine.sections import SamplerContext, SectionSampler
from workbench.errors import UserError


class ParallelSampler(SectionSampler):
    """Section "parallel": ``backend``, ``scheduler`` and one dict per parallel stage."""

    name = section = "parallel"

    def __init__(self) -> None:
        super().__init__()
        parallel.REGISTRY.clear()
        self.backend: str | None = None
        self.scheduler: str | None = None
        self.problem: str | None = None
        try:
            choice = choice_from_env()
            self.backend, self.scheduler = choice.name, choice.scheduler
        except UserError as exc:  # raised again, and fatal, only if a stage is parallel
            import os

            self.backend, self.problem = os.environ.get(BACKEND_ENV), exc.message

    def active(self) -> bool:
        return bool(parallel.REGISTRY)

    def read(self) -> Any:
        dask = sys.modules.get("workbench.authoring.parallel_dask")  # imported by a Dask stage
        cluster = dask.cluster_info() if dask is not None else None
        data: dict[str, Any] = {
            "backend": self.backend,
            "scheduler": cluster["scheduler"] if cluster else self.scheduler,
            "cluster": cluster,
            "stages": [s.snapshot() for s in list(parallel.REGISTRY)],
        }
        if self.problem:
            data["problem"] = self.problem
        return data


def make_sampler(ctx: SamplerContext) -> ParallelSampler:
    """Section factory (see ``engine.child.section_samplers``)."""
    return ParallelSampler()
