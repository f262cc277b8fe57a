"""Caching the costly steps of a pipeline three ways, and seeing whether each earns its keep
(seed 003): ``joblib.Memory`` on disk, a hand-made pickle/MD5 disk cache, ``lru_cache``.

The corpus is ``shards`` shards of ``docs_per_shard`` distinct documents, read ``epochs``
times in the same order, so every count is known in advance. With the defaults (8 shards of
50 documents, 3 epochs: 400 distinct documents, 1200 reads):

- ``load_shard``, joblib.Memory on disk, one call per shard and epoch (24): the first run
  has 8 misses and 16 hits; every later run 24 hits and no miss.
- ``tokenize_text``, a pickle/MD5 file cache on disk, one call per read (1200): the first
  run has 400 misses and 800 hits; every later run 1200 hits and no miss.
- ``text_features``, functools.lru_cache in memory, one call per read (1200): 400 misses
  and 800 hits in every run.

The two disk caches persist across runs (each run is a new process); the lru_cache starts
empty in each. Its ``maxsize`` (512) holds all 400 documents: were it below 400, the cyclic
order would evict every entry just before its reuse, and it would never hit (LRU's worst
case). The slow steps are stand-ins: ``load_shard`` sleeps 50 ms (reading and decoding a
shard), ``tokenize_text`` 0.5 ms (a slow tokenizer). The disk caches live under
``$PIPEBENCH_HOME/data/cached_features``; delete it, or clear them with ``c`` in the caches
panel, to start cold.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import pickle
import re
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Memory

from workbench import data_dir, pipeline

CACHE_ROOT = data_dir() / "cached_features"
memory = Memory(CACHE_ROOT / "joblib", verbose=0)
log = logging.getLogger(__name__)

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "xe", "zu", "ba", "de", "fi", "go"]


# ---- a hand-made disk cache (the seed's custom decorator), with cache_info() -----------


def pickle_cache(folder: Path) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Cache results in ``folder``, one pickle file per call, named by the MD5 of the
    pickled arguments. ``cache_info()`` is what lets pipebench count it."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        counts = {"hits": 0, "misses": 0, "seconds_saved": 0.0}

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = hashlib.md5(pickle.dumps((args, kwargs))).hexdigest()
            path = folder / f"{func.__name__}_{key}.pkl"
            try:
                with open(path, "rb") as f:
                    seconds, result = pickle.load(f)
                counts["hits"] += 1
                counts["seconds_saved"] += seconds
                return result
            except FileNotFoundError:
                pass
            except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
                log.warning(
                    "%s: unreadable cache entry %s (%s); computing it again",
                    func.__name__,
                    path,
                    type(exc).__name__,
                )
            counts["misses"] += 1
            start = time.perf_counter()
            result = func(*args, **kwargs)
            seconds = time.perf_counter() - start
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:  # whole or not at all: write, then rename
                    pickle.dump((seconds, result), f)
                os.replace(tmp, path)
            except BaseException:  # an error, a stop: no half-written temp file left
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            return result

        def cache_info() -> dict[str, Any]:
            files = list(folder.glob(f"{func.__name__}_*.pkl")) if folder.is_dir() else []
            return {
                **counts,
                "entries": len(files),
                "kind": "disk",
                "path": str(folder),
                "bytes": sum(f.stat().st_size for f in files if f.exists()),
            }

        def cache_clear() -> None:
            for f in folder.glob(f"{func.__name__}_*.pkl"):
                f.unlink(missing_ok=True)

        wrapper.cache_info = cache_info  # type: ignore[attr-defined]
        wrapper.cache_clear = cache_clear  # type: ignore[attr-defined]
        return wrapper

    return decorate


# ---- the cached steps --------------------------------------------------------------------


def document(doc_id: int) -> str:
    """Document ``doc_id``'s text: 20 to 40 made-up words, the same every time."""
    rng = np.random.default_rng(doc_id)
    words = [
        "".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), 3))
        for _ in range(int(rng.integers(20, 41)))
    ]
    return f"Doc {doc_id}: " + " ".join(words).capitalize() + "."


@memory.cache
def load_shard(shard: int, docs_per_shard: int) -> list[str]:
    """Read and decode one shard (50 ms stands in for the I/O): its documents' texts."""
    time.sleep(0.05)
    start = shard * docs_per_shard
    return [document(i) for i in range(start, start + docs_per_shard)]


_WORD = re.compile(r"\w+")


@pickle_cache(CACHE_ROOT / "tokens")
def tokenize_text(text: str) -> tuple[str, ...]:
    """Lower-cased word tokens (0.5 ms stands in for a slow tokenizer)."""
    time.sleep(0.0005)
    return tuple(_WORD.findall(text.lower()))


@functools.lru_cache(maxsize=512)
def text_features(tokens: tuple[str, ...], dim: int = 256) -> np.ndarray:
    """Hashed unigram and bigram counts, L2-normalised: a ``dim`` float32 vector."""
    v = np.zeros(dim, dtype=np.float32)
    grams = list(tokens) + [a + " " + b for a, b in zip(tokens, tokens[1:], strict=False)]
    for g in grams:
        v[zlib.crc32(g.encode()) % dim] += 1.0
    return v / (np.linalg.norm(v) or 1.0)


# ---- the pipeline -----------------------------------------------------------------------


def read_shards(
    shards: int, docs_per_shard: int, epochs: int, batch_size: int
) -> Iterator[list[str]]:
    """Every shard in order, ``epochs`` times, in batches of texts."""
    batch: list[str] = []
    for _ in range(epochs):
        for shard in range(shards):
            for text in load_shard(shard, docs_per_shard):
                batch.append(text)
                if len(batch) == batch_size:
                    yield batch
                    batch = []
    if batch:
        yield batch


def tokenize(batches: Iterator[list[str]]) -> Iterator[list[tuple[str, ...]]]:
    for batch in batches:
        yield [tokenize_text(t) for t in batch]


def featurize(batches: Iterator[list[tuple[str, ...]]]) -> Iterator[np.ndarray]:
    for batch in batches:
        yield np.stack([text_features(toks) for toks in batch])


@pipeline
def cached_features(
    batch_size: int = 64, shards: int = 8, docs_per_shard: int = 50, epochs: int = 3
):
    """Shards read through joblib.Memory, tokenized through a pickle cache, featurized
    through lru_cache; the data repeats so that every hit and miss is known."""
    return read_shards(shards, docs_per_shard, epochs, batch_size), tokenize, featurize
