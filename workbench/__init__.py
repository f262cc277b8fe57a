"""pipebench: a terminal workbench for ML data pipelines.

The public authoring API lives here; it never imports Textual or the engine. Each name is
imported from its module when first used (PEP 562), so the ``pipebench`` command, which does
not author pipelines, does not pay for importing them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.authoring.caching import cached, disk_cached
    from workbench.authoring.home import data_dir, data_file
    from workbench.authoring.kernels import (
        KernelDefinitionError,
        KernelSet,
        as_lists,
        kernels,
        torch_inputs,
    )
    from workbench.authoring.pipeline import (
        Pipeline,
        PipelineDefinitionError,
        pipeline,
        stage,
    )
    from workbench.authoring.progress import progress
    from workbench.authoring.resources import (
        experiment_log,
        gpu_memory,
        sqlite_transaction,
        timed,
        track,
    )

#: public name -> the module that defines it
_HOME = {
    "cached": "caching",
    "disk_cached": "caching",
    "data_dir": "home",
    "data_file": "home",
    "KernelDefinitionError": "kernels",
    "KernelSet": "kernels",
    "as_lists": "kernels",
    "kernels": "kernels",
    "torch_inputs": "kernels",
    "Pipeline": "pipeline",
    "PipelineDefinitionError": "pipeline",
    "pipeline": "pipeline",
    "stage": "pipeline",
    "progress": "progress",
    "experiment_log": "resources",
    "gpu_memory": "resources",
    "sqlite_transaction": "resources",
    "timed": "resources",
    "track": "resources",
}

__all__ = [
    "as_lists",
    "cached",
    "data_dir",
    "data_file",
    "disk_cached",
    "experiment_log",
    "gpu_memory",
    "KernelDefinitionError",
    "kernels",
    "KernelSet",
    "Pipeline",
    "pipeline",
    "PipelineDefinitionError",
    "progress",
    "sqlite_transaction",
    "stage",
    "timed",
    "torch_inputs",
    "track",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"workbench.authoring.{module}"), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
