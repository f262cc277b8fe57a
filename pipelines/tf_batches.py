"""Batches from ``tf.data.Dataset.from_generator`` (seed 001), then ``map``, ``batch`` and
``prefetch``, fed to NumPy stages.

The generator hands out slices of a NumPy array, as the article's ``gen()`` does; tf.data
normalizes each slice (``map`` on ``num_parallel_calls`` threads), cuts the rows into batches
of ``batch_size`` and prefetches them. Everything tf.data does runs on its own threads, ahead
of the chain: the stage probe sees only the wait for the next batch (the run's notes say so),
while the run's CPU time and memory include that work. Needs TensorFlow (the ``tf`` extra:
``pip install -e '.[tf]'``); listed as unavailable without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from workbench import pipeline, stage

# TensorFlow's C++ logging (oneDNN notices, allocator lines) off unless asked for; set
# before TensorFlow is imported (in the factory).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_data(size: int, dim: int, seed: int = 0) -> np.ndarray:
    """``size`` rows of ``dim`` float32 features, the same every time for a seed."""
    rng = np.random.default_rng(seed)
    scale = np.linspace(0.5, 4.0, dim, dtype=np.float32)
    return rng.standard_normal((size, dim), dtype=np.float32) * scale + 3.0


def slices(data: np.ndarray, chunk: int) -> Any:
    """The article's ``gen``: a generator function handing out slices of the array."""

    def gen() -> Iterator[np.ndarray]:
        for i in range(0, len(data), chunk):
            yield data[i : i + chunk]

    return gen


def to_numpy(batches: Iterator[Any]) -> Iterator[np.ndarray]:
    for t in batches:
        yield t.numpy()


def random_features(
    batches: Iterator[np.ndarray], width: int = 256, seed: int = 2
) -> Iterator[np.ndarray]:
    """Random Fourier features: cos(x W + b)."""
    rng = np.random.default_rng(seed)
    w = b = None
    for x in batches:
        if w is None:
            w = rng.standard_normal((x.shape[1], width)).astype(np.float32)
            b = rng.uniform(0, 2 * np.pi, width).astype(np.float32)
        yield np.cos(x @ w + b)


@pipeline(requires=["tensorflow"])
def tf_batches(batch_size: int = 256, size: int = 200_000, dim: int = 32, parallel_calls: int = 2):
    """tf.data.Dataset.from_generator over array slices, then map, batch and prefetch."""
    import tensorflow as tf

    data = make_data(size, dim)
    spec = tf.TensorSpec(shape=(None, dim), dtype=tf.float32)
    dataset = (
        tf.data.Dataset.from_generator(slices(data, 128), output_signature=spec)
        .map(
            lambda x: (x - tf.reduce_mean(x, axis=0)) / (tf.math.reduce_std(x, axis=0) + 1e-6),
            num_parallel_calls=parallel_calls,
        )
        .unbatch()
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    return dataset, to_numpy, stage(random_features, name="features")
