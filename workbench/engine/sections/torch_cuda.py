"""What the runner child reads of ``torch.cuda`` (section "torch_cuda", which the parent
folds into "gpu"), in a module of its own: every run has this sampler, and a run whose
pipeline never imports torch builds none of the GPU section's classes (each frozen
dataclass costs ~1 ms to create on Python 3.11, before the first batch). The section's
classes (``sections.gpu``) are imported at the first reading, once torch is imported.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from workbench.engine.sections import SamplerContext, SectionSampler

if TYPE_CHECKING:
    from workbench.engine.sections.gpu import TorchCudaSection

TORCH_NO_CUDA = "torch has no CUDA"
TORCH_NOT_IMPORTED = "torch not imported by the pipeline"
CUDA_NOT_INITIALISED = "CUDA not initialised by the pipeline"
OK = "ok"


def torch_state() -> str:
    """How far the pipeline went with torch's CUDA (never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return TORCH_NOT_IMPORTED
    if getattr(getattr(torch, "version", None), "cuda", None) is None:
        return TORCH_NO_CUDA
    try:
        return OK if torch.cuda.is_initialized() else CUDA_NOT_INITIALISED
    except Exception:
        return CUDA_NOT_INITIALISED


class TorchCudaSampler(SectionSampler):
    """Section "torch_cuda" (runner child): torch's state and its figures per device."""

    name = section = "torch_cuda"

    def active(self) -> bool:
        """A torch built with CUDA is imported: its figures are read at the snapshot rate
        (CUDA is often initialised only by the first batch, after the chain started)."""
        return torch_state() in (OK, CUDA_NOT_INITIALISED)

    def read(self) -> TorchCudaSection | None:
        """None (no section: the parent reads "torch not imported") until torch is."""
        state = torch_state()
        if state == TORCH_NOT_IMPORTED:
            return None
        from workbench.engine.sections.gpu import TorchCudaSection, torch_figures

        return TorchCudaSection(state, tuple(torch_figures()) if state == OK else ())


def make_torch_sampler(ctx: SamplerContext) -> TorchCudaSampler | None:
    """Section factory (see ``engine.child.section_samplers``): always, so that a stage that
    imports torch itself is seen (at the latest by the final read)."""
    return TorchCudaSampler()
