"""Distance and feature-count kernels in pure Python, NumPy, Numba and torch (seed 004).

Three kernel sets, each written several ways so that ``pipebench kernels`` can time them
side by side, check every result against a reference, and keep Numba's compile time apart:

- ``euclidean``: the distance between two vectors of n float64;
- ``pairwise``: all distances between X (n x 128) and Y (n/2 x 128), float64, by loops,
  NumPy broadcasting, the GEMM form ``|x|^2 + |y|^2 - 2 X Y^T``, ``@njit`` and
  ``@njit(parallel=True)`` with ``prange``, and BLAS plus a fused Numba pass (the two
  parallel ones run at every usable CPU, the others on one thread);
- ``feature_counts``: how often each integer feature occurs, with a dict, ``Counter``,
  ``np.bincount``, ``np.unique`` and a Numba typed ``Dict``.

Inputs come from a seeded generator, so every run measures the same data. Numba functions
compile on their first call, never at import; torch is imported only by the runs that use
it, and its CUDA implementations run only where a device is present.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from numba import njit, prange, types
from numba.typed import Dict

from workbench import as_lists, kernels, torch_inputs

DIM = 128  # features per vector in the pairwise kernel
SEED = 4


# ---- euclidean distance of two vectors ------------------------------------------------
@kernels(
    sizes=(1_000, 10_000, 100_000, 1_000_000),
    reference="python",
    flops=lambda n: 3 * n,
    bytes=lambda n: 16 * n,
)
def euclidean(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance between two vectors of n float64 (k-NN, clustering)."""
    rng = np.random.default_rng(SEED)
    return rng.random(n), rng.random(n)


@euclidean.impl("python", prepare=as_lists)
def euclidean_python(a: list[float], b: list[float]) -> float:
    """A loop over two Python lists."""
    dist = 0.0
    for x, y in zip(a, b, strict=True):
        diff = x - y
        dist += diff * diff
    return dist**0.5


@euclidean.impl("numpy")
def euclidean_numpy(a: np.ndarray, b: np.ndarray) -> float:
    """Vectorised: one temporary array, a dot product, a square root."""
    d = a - b
    return float(np.sqrt(d @ d))


@euclidean.impl("numba")
@njit(cache=False)
def euclidean_numba(a: np.ndarray, b: np.ndarray) -> float:
    """The Python loop compiled by Numba: no temporary array at all."""
    dist = 0.0
    for i in range(a.shape[0]):
        diff = a[i] - b[i]
        dist += diff * diff
    return dist**0.5


@euclidean.impl("torch", requires="torch", prepare=torch_inputs("cpu"))
def euclidean_torch(a: Any, b: Any) -> float:
    """torch on the CPU (tensor methods only: no import in the timed call)."""
    return float((a - b).norm())


@euclidean.impl("torch-cuda", requires="torch", prepare=torch_inputs("cuda"), device="cuda")
def euclidean_torch_cuda(a: Any, b: Any) -> float:
    """torch on the GPU; ``float()`` waits for the result."""
    return float((a - b).norm())


# ---- pairwise distances between two sets of vectors -----------------------------------
def _pairs(n: int) -> float:
    return float(n * max(1, n // 2))


# flops: counted as the matrix multiply the kernel amounts to (2 n m d), so that "of GEMM"
# reads as how close an implementation comes to doing it as well as BLAS does.
@kernels(
    sizes=(100, 250, 500, 1_000),
    reference="numpy",
    flops=lambda n: 2.0 * _pairs(n) * DIM,
    bytes=lambda n: 8.0 * (n + n // 2) * DIM + 8.0 * _pairs(n),
)
def pairwise(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances between X (n x 128) and Y (n/2 x 128) float64 (embeddings, recsys)."""
    rng = np.random.default_rng(SEED)
    return rng.random((n, DIM)), rng.random((max(1, n // 2), DIM))


@pairwise.impl("python", prepare=as_lists)
def pairwise_python(X: list[list[float]], Y: list[list[float]]) -> list[list[float]]:
    """Three nested loops over lists of lists."""
    out = []
    for x in X:
        row = []
        for y in Y:
            dist = 0.0
            for p, q in zip(x, y, strict=True):
                diff = p - q
                dist += diff * diff
            row.append(dist**0.5)
        out.append(row)
    return out


@pairwise.impl("numpy")
def pairwise_numpy(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Broadcasting X[:, None, :] - Y[None, :, :], in blocks of rows so that the
    (rows, m, 128) temporary stays near 16 MiB instead of growing with n^2."""
    out = np.empty((X.shape[0], Y.shape[0]))
    step = max(1, (1 << 21) // max(1, Y.shape[0] * X.shape[1]))
    for i in range(0, X.shape[0], step):
        diff = X[i : i + step, None, :] - Y[None, :, :]
        np.sqrt(np.einsum("ijk,ijk->ij", diff, diff), out=out[i : i + step])
    return out


@pairwise.impl("numpy-gemm")
def pairwise_numpy_gemm(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The GEMM form |x|^2 + |y|^2 - 2 X Y^T: one matrix multiply does the heavy work;
    the rest is done in place on its result."""
    d2 = X @ Y.T
    d2 *= -2.0
    d2 += np.einsum("ij,ij->i", X, X)[:, None]
    d2 += np.einsum("ij,ij->i", Y, Y)[None, :]
    np.maximum(d2, 0.0, out=d2)  # rounding can leave tiny negatives where x == y
    return np.sqrt(d2, out=d2)


@pairwise.impl("numba")
@njit(cache=False)
def pairwise_numba(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The three loops compiled by Numba, on one thread."""
    m, n = X.shape[0], Y.shape[0]
    distances = np.empty((m, n), dtype=np.float64)
    for i in range(m):
        for j in range(n):
            dist = 0.0
            for k in range(X.shape[1]):
                diff = X[i, k] - Y[j, k]
                dist += diff * diff
            distances[i, j] = dist**0.5
    return distances


@pairwise.impl("numba-parallel")
@njit(parallel=True, cache=False)
def pairwise_numba_parallel(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The same loops with the outer one a ``prange``: rows spread over Numba's threads.
    A ``parallel=True`` dispatcher is marked parallel by itself, so it runs at every usable
    CPU (``--parallel-threads``) while the single-threaded ones stay pinned."""
    m, n = X.shape[0], Y.shape[0]
    distances = np.empty((m, n), dtype=np.float64)
    for i in prange(m):
        for j in range(n):
            dist = 0.0
            for k in range(X.shape[1]):
                diff = X[i, k] - Y[j, k]
                dist += diff * diff
            distances[i, j] = dist**0.5
    return distances


@njit(parallel=True, cache=False)
def _distances_from_dot(d: np.ndarray, x2: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """In place: d[i, j] = sqrt(max(|x_i|^2 + |y_j|^2 - 2 d[i, j], 0)), in one pass."""
    for i in prange(d.shape[0]):
        for j in range(d.shape[1]):
            v = x2[i] + y2[j] - 2.0 * d[i, j]
            d[i, j] = np.sqrt(v) if v > 0.0 else 0.0
    return d


@pairwise.impl("numba-gemm", parallel=True)  # BLAS and a prange pass: both use threads
def pairwise_numba_gemm(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """BLAS does X Y^T; one fused Numba pass turns it into distances (Numba combined with
    an optimised library, instead of four NumPy passes over the result)."""
    x2 = np.einsum("ij,ij->i", X, X)
    y2 = np.einsum("ij,ij->i", Y, Y)
    return _distances_from_dot(X @ Y.T, x2, y2)


@pairwise.impl("torch", requires="torch", prepare=torch_inputs("cpu"))
def pairwise_torch(X: Any, Y: Any) -> Any:
    """``torch.cdist`` on the CPU."""
    import torch

    return torch.cdist(X, Y)


@pairwise.impl("torch-cuda", requires="torch", prepare=torch_inputs("cuda"), device="cuda")
def pairwise_torch_cuda(X: Any, Y: Any) -> Any:
    """``torch.cdist`` on the GPU."""
    import torch

    return torch.cdist(X, Y)


# ---- counting integer features --------------------------------------------------------
VOCAB = 50_000  # feature ids are below this; their frequencies follow a Zipf law


@kernels(sizes=(1_000, 10_000, 100_000, 1_000_000), reference="python", bytes=lambda n: 8.0 * n)
def feature_counts(n: int) -> np.ndarray:
    """How often each of n int64 feature ids (Zipf-distributed) occurs, as {id: count}."""
    rng = np.random.default_rng(SEED)
    return np.minimum(rng.zipf(1.3, n), VOCAB).astype(np.int64) - 1


@feature_counts.impl("python", prepare=as_lists)
def feature_counts_python(data: list[int]) -> dict[int, int]:
    """A dict filled in a Python loop."""
    counts: dict[int, int] = {}
    for val in data:
        if val in counts:
            counts[val] += 1
        else:
            counts[val] = 1
    return counts


@feature_counts.impl("python-counter", prepare=as_lists)
def feature_counts_counter(data: list[int]) -> Counter[int]:
    """``collections.Counter``, whose counting loop is in C."""
    return Counter(data)


@feature_counts.impl("numpy")
def feature_counts_numpy(data: np.ndarray) -> dict[int, int]:
    """``np.bincount`` over the ids, then a dict of the non-zero counts."""
    counts = np.bincount(data)
    seen = np.flatnonzero(counts)
    return dict(zip(seen.tolist(), counts[seen].tolist(), strict=True))


@feature_counts.impl("numpy-unique")
def feature_counts_unique(data: np.ndarray) -> dict[int, int]:
    """``np.unique(..., return_counts=True)``: sorts, so it works for any ids."""
    values, counts = np.unique(data, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


@feature_counts.impl("numba")
@njit(cache=False)
def feature_counts_numba(data: np.ndarray) -> Any:
    """A Numba typed ``Dict`` (int64 -> int64) filled in compiled code."""
    counts = Dict.empty(key_type=types.int64, value_type=types.int64)
    for i in range(data.shape[0]):
        val = data[i]
        if val in counts:
            counts[val] += 1
        else:
            counts[val] = 1
    return counts


@feature_counts.impl("torch", requires="torch", prepare=torch_inputs("cpu"))
def feature_counts_torch(data: Any) -> dict[int, int]:
    """``Tensor.bincount`` then a dict of the non-zero counts."""
    counts = data.bincount()
    seen = counts.nonzero().flatten()
    return dict(zip(seen.tolist(), counts[seen].tolist(), strict=True))
