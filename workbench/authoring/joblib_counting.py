"""Hits and misses of ``joblib.Memory`` caches, which keep no counters of their own.

``count_calls`` swaps a ``MemorizedFunc``'s class for a subclass that counts: the object
stays the same one, so every reference the user's code holds is counted, and joblib's own
logic (hashing, code-change invalidation, validation callbacks) is untouched. Imports
joblib, so it is imported only where a joblib cache exists.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from time import perf_counter
from typing import Any

from joblib.memory import AsyncMemorizedFunc, MemorizedFunc

from workbench.authoring.cachestats import CacheStats, folder_usage

log = logging.getLogger("workbench.authoring.caching")

_tls = threading.local()  # per thread: the stack of calls in progress, and the quiet flag
_MAX_DURATIONS = 100_000  # recorded compute times kept in memory per cache


class _Call:
    """One call through ``_cached_call``: which entry it asked for and whether it computed."""

    __slots__ = ("call_id", "missed")

    def __init__(self) -> None:
        self.call_id: Any = None
        self.missed = False


def _stack() -> list[_Call]:
    try:
        return _tls.stack  # type: ignore[no-any-return]
    except AttributeError:
        _tls.stack = []
        return _tls.stack  # type: ignore[no-any-return]


# The base methods, called directly: cheaper than super() on every hit.
_base_cached_call = MemorizedFunc._cached_call
_base_is_valid = MemorizedFunc._is_in_cache_and_valid
_base_load_item = MemorizedFunc._load_item


class CountedMemorizedFunc(MemorizedFunc):
    """A ``MemorizedFunc`` that counts hits, misses, unreadable entries and invalidations
    into the ``CacheStats`` kept in its ``_pb_stats`` attribute (dropped when pickled, so a
    worker process gets a plain, working cache)."""

    def _cached_call(self, args: Any, kwargs: Any, shelving: bool) -> Any:
        stats: CacheStats | None = self.__dict__.get("_pb_stats")
        if stats is None:
            return _base_cached_call(self, args, kwargs, shelving)
        stack = _stack()
        call = _Call()
        stack.append(call)
        start = perf_counter()
        try:
            out = _base_cached_call(self, args, kwargs, shelving)
        finally:
            stack.pop()
        if not call.missed:
            stats.hits += 1
            stats.hit_s += perf_counter() - start
            stats.saved_s += self._pb_duration(stats, call.call_id)
        return out

    def _is_in_cache_and_valid(self, call_id: Any) -> bool:
        stack = _stack()
        if stack:
            stack[-1].call_id = call_id
        return bool(_base_is_valid(self, call_id))

    def _call(self, call_id: Any, args: Any, kwargs: Any, shelving: bool = False) -> Any:
        stats: CacheStats | None = self.__dict__.get("_pb_stats")
        if stats is None:
            return super()._call(call_id, args, kwargs, shelving)
        stats.misses += 1
        stack = _stack()
        if stack:
            stack[-1].missed = True
        out = super()._call(call_id, args, kwargs, shelving)
        stats.last_write = call_id
        metadata = out[1] if isinstance(out, tuple) and len(out) == 2 else None
        if isinstance(metadata, dict) and "duration" in metadata:
            if len(stats.durations) >= _MAX_DURATIONS:
                stats.durations.clear()
            stats.durations[call_id] = float(metadata["duration"])
        return out

    def _load_item(self, call_id: Any, metadata: Any = None) -> Any:
        try:
            return _base_load_item(self, call_id, metadata)
        except Exception as exc:
            stats: CacheStats | None = self.__dict__.get("_pb_stats")
            if stats is None:
                raise
            stats.load_failures += 1
            where = os.path.join(self.store_backend.location, *call_id)
            log.warning(
                "pipebench: cache %s: cannot read the entry in %s (%s: %s); counted as a "
                "miss and computed again",
                stats.name,
                where,
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )
            _tls.quiet = True  # joblib's own multi-line warning about it is not repeated
            raise

    def clear(self, warn: bool = True) -> None:
        stats: CacheStats | None = self.__dict__.get("_pb_stats")
        # joblib clears from _check_previous_func_code when the code changed; telling that
        # from the caller costs nothing on the calls that do not clear.
        caller = sys._getframe(1).f_code.co_name
        if stats is not None and caller == "_check_previous_func_code":
            entries, _ = folder_usage(self.func_folder())
            stats.invalidations += 1
            if entries:
                log.warning(
                    "pipebench: cache %s: the code of %s changed, so joblib dropped its %d "
                    "cached result(s)",
                    stats.name,
                    getattr(self.func, "__qualname__", "?"),
                    entries,
                )
        super().clear(warn=warn)

    def warn(self, msg: str) -> None:
        if getattr(_tls, "quiet", False):
            _tls.quiet = False
            return
        super().warn(msg)

    def func_folder(self) -> str:
        """The folder holding this function's results."""
        return os.path.join(self.store_backend.location, self.func_id)

    def _pb_duration(self, stats: CacheStats, call_id: Any) -> float:
        """The compute time joblib recorded for an entry (its metadata.json), read once."""
        if call_id is None:
            return 0.0
        seconds = stats.durations.get(call_id)
        if seconds is None:
            metadata = self.store_backend.get_metadata(call_id)  # {} when unreadable
            try:
                seconds = float(metadata.get("duration", 0.0))
            except (TypeError, ValueError):
                seconds = 0.0
            if len(stats.durations) >= _MAX_DURATIONS:
                stats.durations.clear()
            stats.durations[call_id] = seconds
        return seconds

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = super().__getstate__()
        state.pop("_pb_stats", None)
        return state


def count_calls(memorized: Any, name: str) -> tuple[CacheStats | None, str | None]:
    """Start counting the calls of a ``MemorizedFunc``: its stats, or None and the reason
    it cannot be counted."""
    if isinstance(memorized, CountedMemorizedFunc):
        stats = memorized.__dict__.get("_pb_stats")
        if stats is None:
            stats = memorized.__dict__["_pb_stats"] = CacheStats(name, "disk")
        return stats, None
    if isinstance(memorized, AsyncMemorizedFunc):
        return None, "async joblib functions are not counted"
    if type(memorized) is not MemorizedFunc:
        return None, f"a {type(memorized).__name__} (subclass of MemorizedFunc) is not counted"
    stats = CacheStats(name, "disk")
    memorized.__dict__["_pb_stats"] = stats
    memorized.__class__ = CountedMemorizedFunc
    return stats, None
