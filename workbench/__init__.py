"""pipebench: a terminal workbench for ML data pipelines.

The public authoring API lives here; it never imports Textual or the engine.
"""

from workbench.api import Pipeline, PipelineDefinitionError, data_dir, pipeline, stage
from workbench.kernels_api import (
    KernelDefinitionError,
    KernelSet,
    as_lists,
    kernels,
    torch_inputs,
)

__all__ = ["Pipeline", "PipelineDefinitionError", "data_dir", "pipeline", "stage"]
__all__ += ["KernelDefinitionError", "KernelSet", "as_lists", "kernels", "torch_inputs"]
__version__ = "0.1.0"
