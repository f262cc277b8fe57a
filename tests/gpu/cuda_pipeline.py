"""A pipeline that holds ``batch_size`` MiB of CUDA memory per batch, for the GPU tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from workbench import gpu_memory, pipeline, timed


def batches(n: int) -> Iterator[int]:
    yield from range(n)


def on_gpu(items: Iterator[int], mib: int) -> Iterator[Any]:
    import torch

    with gpu_memory("cuda"):
        for i in items:
            with timed("step"):
                x = torch.full((mib << 20,), i % 255, dtype=torch.uint8, device="cuda")
                y = x.float().sum()  # a float32 copy: 4x the batch, freed at once
            yield y


@pipeline(requires=["torch"])
def cuda_batches(batch_size: int = 16, batches_n: int = 20):
    """Each batch allocates ``batch_size`` MiB on the GPU (and 4x that briefly)."""
    import functools

    return batches(batches_n), functools.partial(on_gpu, mib=batch_size)
