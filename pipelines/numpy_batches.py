"""Batches over a NumPy array with transforms applied on the fly (seed 001).

The same stages fed three ways: slices of an in-memory array, slices of a ``np.memmap``
file (only the pages touched are read), and a torch ``IterableDataset`` yielding tensors.
``numpy_batches_parallel`` is the parallel twin: its costliest stage on worker processes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from workbench import data_file, pipeline, progress, stage


def make_data(size: int, dim: int, seed: int = 0) -> np.ndarray:
    """``size`` rows of ``dim`` float32 features, the same every time for a seed."""
    rng = np.random.default_rng(seed)
    scale = np.linspace(0.5, 4.0, dim, dtype=np.float32)
    return rng.standard_normal((size, dim), dtype=np.float32) * scale + 3.0


def memmap_file(size: int, dim: int, seed: int = 0) -> Path:
    """The data written once to an .npy file that can be memory-mapped (any number of runs
    may ask at once: one writes it, the others wait for it)."""

    def write(tmp: Path) -> None:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(size, dim))
        for start in range(0, size, 100_000):  # a chunk at a time: never all in memory
            stop = min(size, start + 100_000)
            out[start:stop] = make_data(stop - start, dim, seed * 1_000_003 + start)
            progress("writing the memory-mapped array", stop, size, unit="rows")
        out.flush()
        del out

    return data_file(f"features-{size}x{dim}-{seed}.npy", write)


def batch_generator(data: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for i in range(0, len(data), batch_size):
        yield data[i : i + batch_size]


def normalize(batches: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Standardize each batch per feature (on the fly: no normalized copy of the data)."""
    for b in batches:
        b = np.asarray(b, dtype=np.float32)
        yield (b - b.mean(axis=0)) / (b.std(axis=0) + 1e-6)


def augment(
    batches: Iterator[np.ndarray], seed: int = 1, noise: float = 0.05
) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    for b in batches:
        yield b + rng.normal(0.0, noise, b.shape).astype(np.float32)


def random_features(
    batches: Iterator[np.ndarray], width: int = 256, seed: int = 2
) -> Iterator[np.ndarray]:
    """Random Fourier features: cos(x W + b), the costliest step per item."""
    w = b = None
    rng = np.random.default_rng(seed)
    for x in batches:
        if w is None:
            w = rng.standard_normal((x.shape[1], width)).astype(np.float32)
            b = rng.uniform(0, 2 * np.pi, width).astype(np.float32)
        yield np.cos(x @ w + b)


STAGES = (normalize, augment, stage(random_features, name="features"))


@pipeline
def numpy_batches(batch_size: int = 256, size: int = 1_000_000, dim: int = 32):
    """Slices of an in-memory array, normalized, augmented and featurized on the fly."""
    return (batch_generator(make_data(size, dim), batch_size), *STAGES)


@pipeline
def numpy_batches_memmap(batch_size: int = 256, size: int = 1_000_000, dim: int = 32):
    """The same stages over a memory-mapped .npy file: RSS grows only with pages read."""
    data = np.load(memmap_file(size, dim), mmap_mode="r")
    return (batch_generator(data, batch_size), *STAGES)


def _tensor_dataset(data: np.ndarray, batch_size: int) -> Any:
    import torch
    from torch.utils.data import IterableDataset

    class CustomBatchDataset(IterableDataset):  # type: ignore[misc]
        """Yields one float32 tensor per batch; the data stays a NumPy array."""

        def __iter__(self) -> Iterator[torch.Tensor]:
            for i in range(0, len(data), batch_size):
                yield torch.from_numpy(data[i : i + batch_size])

    return CustomBatchDataset()


def tensors_to_numpy(batches: Iterator[Any]) -> Iterator[np.ndarray]:
    for t in batches:
        yield t.numpy()


@pipeline(requires=["torch"])
def numpy_batches_torch(batch_size: int = 256, size: int = 1_000_000, dim: int = 32):
    """A torch IterableDataset yielding tensors, through DataLoader(batch_size=None)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(_tensor_dataset(make_data(size, dim), batch_size), batch_size=None)
    return (loader, tensors_to_numpy, *STAGES)


# ---- the parallel twin: the costliest stage fanned out over worker processes ------------
@functools.lru_cache(maxsize=8)
def _projection(dim: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The random projection ``random_features`` draws, made once per process."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((dim, width)).astype(np.float32)
    b = rng.uniform(0, 2 * np.pi, width).astype(np.float32)
    return w, b


def random_features_batch(x: np.ndarray, width: int = 256, seed: int = 2) -> np.ndarray:
    """``random_features`` for one batch: a map-like function that workers can run."""
    w, b = _projection(x.shape[1], width, seed)
    return np.cos(x @ w + b)


@pipeline
def numpy_batches_parallel(
    batch_size: int = 4096, size: int = 1_000_000, dim: int = 32, workers: int = 2
):
    """The same stages with the features stage on `workers` processes (pipebench run
    --backend picks loky, threading or a Dask cluster); larger batches pay for the fan-out."""
    features = stage(random_features_batch, name="features", workers=workers)
    return batch_generator(make_data(size, dim), batch_size), normalize, augment, features
