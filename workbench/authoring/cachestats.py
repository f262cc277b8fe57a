"""What pipebench counts for one cache: timed misses, result sizes, hits and misses on disk.

Imported by user pipeline modules (through ``workbench.authoring.caching``) and by the runner child,
so it stays light: no joblib, no engine. Nothing here runs on a cache hit of an in-memory
cache; only misses (which compute anyway) pay for a clock read and a size estimate.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import threading
from collections.abc import Callable
from itertools import islice
from time import perf_counter
from typing import Any

#: The attribute under which a timed function (and the lru_cache wrapping it) keeps its stats.
STATS_ATTR = "__pipebench_stats__"

_SAMPLE = 32  # items of a container measured when estimating its size
_SIZED_ALWAYS, _SIZE_EVERY = 64, 16  # results sized: the first 64, then one miss in 16
_HASH = re.compile(r"[a-f0-9]{32}")  # the name of a joblib result folder


class CacheStats:
    """Counters of one cache, written by the threads using it, read by the sampler thread.

    In-memory caches built on ``functools.lru_cache`` count hits and misses themselves
    (``cache_info()``); pipebench adds the time of each miss and the size of its result.
    Disk caches on ``joblib.Memory`` have no counters, so pipebench counts their hits and
    misses here, with the compute time joblib recorded for each entry that was hit.
    """

    __slots__ = (
        "name",
        "kind",
        "hits",
        "misses",
        "timed",
        "miss_s",
        "sized",
        "result_bytes",
        "saved_s",
        "hit_s",
        "load_failures",
        "invalidations",
        "durations",
        "last_write",
    )

    def __init__(self, name: str, kind: str = "memory"):
        self.name = name
        self.kind = kind
        self.hits = 0  # disk caches: calls answered from the cache
        self.misses = 0  # disk caches: calls that computed
        self.timed = 0  # misses that went through the miss timer (nested ones included)
        self.miss_s = 0.0  # seconds spent computing misses (outermost calls only)
        self.sized = 0  # results whose size was estimated
        self.result_bytes = 0  # their estimated sizes, summed
        self.saved_s = 0.0  # disk caches: recorded compute time of the entries that were hit
        self.hit_s = 0.0  # disk caches: seconds spent answering hits (loading results)
        self.load_failures = 0  # disk entries that could not be read (counted as misses)
        self.invalidations = 0  # times joblib dropped the cache because the code changed
        self.durations: dict[Any, float] = {}  # disk caches: entry -> recorded compute s
        self.last_write: Any = None  # disk caches: the entry the last miss wrote

    def mean_miss_s(self) -> float | None:
        """Mean compute time of a miss, measured; None before the first timed miss."""
        return self.miss_s / self.timed if self.timed else None

    def mean_result_bytes(self) -> float | None:
        return self.result_bytes / self.sized if self.sized else None

    def add_result(self, result: Any) -> None:
        try:
            self.result_bytes += sizeof(result)
            self.sized += 1
        except Exception:  # an object whose size cannot be taken is simply not counted
            pass


def time_misses(func: Callable[..., Any], stats: CacheStats) -> Callable[..., Any]:
    """``func`` wrapped to time each call and estimate its result's size.

    Placed *inside* an ``lru_cache``, it runs only on misses: hits never reach it. A
    recursive function is timed once per outermost call, so the mean time per miss is
    the total compute time over the number of misses.
    """
    local = threading.local()

    @functools.wraps(func)
    def compute(*args: Any, **kwargs: Any) -> Any:
        stats.timed += 1
        if getattr(local, "busy", False):
            return func(*args, **kwargs)
        local.busy = True
        start = perf_counter()
        try:
            result = func(*args, **kwargs)
        finally:
            local.busy = False
            stats.miss_s += perf_counter() - start
        if stats.sized < _SIZED_ALWAYS or not stats.timed % _SIZE_EVERY:
            stats.add_result(result)  # the mean size comes from a sample past the first ones
        return result

    setattr(compute, STATS_ATTR, stats)
    return compute


_SCALAR, _BUFFER, _MAPPING, _COLLECTION = range(4)
_kinds: dict[type, int] = {}  # how each type's size is taken, decided once per type


def _kind(t: type) -> int:
    kind = _kinds.get(t)
    if kind is None:
        if hasattr(t, "nbytes"):  # numpy arrays, torch tensors, memoryviews
            kind = _BUFFER
        elif issubclass(t, dict):
            kind = _MAPPING
        elif issubclass(t, (list, tuple, set, frozenset)):
            kind = _COLLECTION
        else:
            kind = _SCALAR
        _kinds[t] = kind
    return kind


def sizeof(obj: Any, depth: int = 2) -> int:
    """An estimate of the bytes ``obj`` holds: array buffers in full, containers from a
    sample of their items (``depth`` levels down), everything else by ``sys.getsizeof``."""
    size = sys.getsizeof(obj)
    kind = _kind(type(obj))
    if kind == _SCALAR or (depth <= 0 and kind != _BUFFER):
        return size
    if kind == _BUFFER:
        nbytes = obj.nbytes
        return max(size, nbytes) if isinstance(nbytes, int) else size
    if kind == _MAPPING:
        items: list[Any] = []
        for k, v in islice(obj.items(), _SAMPLE):
            items.extend((k, v))
        n = 2 * len(obj)
    else:
        items = list(islice(obj, _SAMPLE))
        n = len(obj)
    if items:
        size += int(sum(sizeof(x, depth - 1) for x in items) * n / len(items))
    return size


def folder_usage(folder: str) -> tuple[int, int]:
    """Entries and bytes of a joblib function folder: its result folders (32 hex digits),
    counted the way ``Memory.reduce_size`` counts them (the files in each). (0, 0) when
    the folder is missing."""
    entries = total = 0
    try:
        with os.scandir(folder) as it:
            subdirs = [e.path for e in it if _HASH.fullmatch(e.name) and e.is_dir()]
    except OSError:
        return 0, 0
    for path in subdirs:
        try:
            with os.scandir(path) as files:
                total += sum(f.stat().st_size for f in files if f.is_file())
            entries += 1
        except OSError:  # removed under us (cleared, reduced): not counted
            continue
    return entries, total
