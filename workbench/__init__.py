"""pipebench: a terminal workbench for ML data pipelines.

The public authoring API lives here; it never imports Textual or the engine.
"""

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

__all__ = ["Pipeline", "PipelineDefinitionError", "data_dir", "data_file", "pipeline", "stage"]
__all__ += ["KernelDefinitionError", "KernelSet", "as_lists", "kernels", "torch_inputs"]
__all__ += ["experiment_log", "gpu_memory", "sqlite_transaction", "timed", "track"]
__all__ += ["cached", "disk_cached", "progress"]
__version__ = "0.1.0"
