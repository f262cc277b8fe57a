"""One cache as pipebench shows it: its row (``CacheRow``), and an adapter per kind that
reads its figures and clears it.

Every adapter turns its cache into a ``CacheRow`` (see ``make_row``); a cache that fails to
say anything becomes an "unavailable" row with the reason, never an exception.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from workbench.authoring.cachestats import STATS_ATTR, CacheStats, folder_usage
from workbench.engine.sections.json_form import JsonForm
from workbench.errors import StopRun
from workbench.text import exception_message

#: Fields a ``cache_info()`` result may offer besides ``hits`` and ``misses``.
_ENTRIES = ("currsize", "entries", "size")
_BYTES = ("bytes", "nbytes", "size_bytes")


@dataclass(frozen=True)
class CacheRow(JsonForm):
    """One cache of the run at one moment (None: not measured, or not for this kind).

    ``kind`` is "memory" or "disk"; ``source`` says how it was found: "lru_cache",
    "pipebench" (``workbench.cached``/``disk_cached``), "joblib", "cache_info" (any object
    with ``cache_info()``), "cached_property", or "uncounted" (a decorator that caches
    without counters: ``available`` false, ``reason`` the change that makes it counted).
    ``hits``/``misses`` are counts since the run started (an lru_cache's clears included);
    ``hit_rate`` is hits / (hits + misses), 0 to 1. ``entries`` and ``maxsize`` count
    results; ``bytes`` is their size, on disk or (``bytes_basis`` "estimate") entries ×
    the mean measured result size, or as ``cache_info()`` "reported"; ``bytes_limit`` is a
    ``disk_cached`` size limit. ``seconds_saved`` is the compute time the hits did not
    spend (``saved_basis`` says how it was found); ``hit_seconds`` what the hits of a disk
    cache cost to load. ``path`` is a disk cache's folder. ``load_failures`` counts
    unreadable entries taken as misses, ``invalidations`` results joblib dropped because the
    function's code changed. ``deletions`` (``cached_property``): values deleted from
    instances; ``read_only`` (disk): results are served but new ones cannot be stored.
    """

    name: str
    kind: str
    source: str
    available: bool = True
    reason: str | None = None
    hits: int | None = None
    misses: int | None = None
    hit_rate: float | None = None
    entries: int | None = None
    maxsize: int | None = None
    bytes: int | None = None
    bytes_basis: str | None = None
    bytes_limit: int | None = None
    seconds_saved: float | None = None
    saved_basis: str | None = None
    hit_seconds: float | None = None
    path: str | None = None
    clearable: bool = True
    load_failures: int = 0
    invalidations: int = 0
    deletions: int | None = None
    read_only: bool | None = None


def make_row(name: str, kind: str, source: str, **fields: Any) -> CacheRow:
    """The row of one cache; ``hit_rate`` derived from hits and misses."""
    hits, misses = fields.get("hits"), fields.get("misses")
    total = (hits or 0) + (misses or 0)
    rate = hits / total if hits is not None and total else None
    return CacheRow(name, kind, source, hit_rate=rate, **fields)


class Entry:
    """A cache found in the run. ``row`` is throttled: a cache slow to read is read less
    often (at most ~5% of the sampler thread's time), and never raises."""

    kind = "memory"
    source = "?"

    def __init__(self, name: str, obj: Any):
        self.name = name
        self.obj = obj
        self._row: CacheRow | None = None
        self._next = 0.0

    def figures(self, now: float) -> dict[str, Any]:
        raise NotImplementedError

    def clear(self) -> str:
        """Clear the cache; returns what was done, in a few words."""
        raise NotImplementedError

    def finish(self) -> None:
        """The run is over: last scans and limits (main thread)."""
        self._next = 0.0

    def refresh(self) -> None:
        self._next = 0.0

    def row(self, now: float) -> CacheRow:
        if self._row is not None and now < self._next:
            return self._row
        start = perf_counter()
        try:
            fields = self.figures(now)
            row = make_row(self.name, fields.pop("kind", self.kind), self.source, **fields)
        except StopRun:
            raise
        except BaseException as exc:  # one bad cache must not end the run (nor can its
            # cache_info, raising SystemExit, end pipebench's thread)
            row = unavailable(self.name, self.kind, self.source, describe_error(exc, self))
        self._next = now + 20 * (perf_counter() - start)
        self._row = row
        return row


def describe_error(exc: BaseException, entry: Entry) -> str:
    what = "cache_info()" if entry.source == "cache_info" else "reading it"
    message = exception_message(exc)
    text = message.splitlines()[0] if message else ""
    return f"{what} raised {type(exc).__name__}" + (f": {text}" if text else "")


def unavailable(name: str, kind: str, source: str, reason: str) -> CacheRow:
    return CacheRow(name, kind, source, available=False, reason=reason, clearable=False)


class LruEntry(Entry):
    """``functools.lru_cache`` / ``functools.cache`` / ``workbench.cached``: counters from
    ``cache_info()``; miss time and result sizes from the miss timer where there is one."""

    def __init__(self, name: str, obj: Any, source: str):
        super().__init__(name, obj)
        self.source = source
        self._base_hits = self._base_misses = 0  # counters before the clears made here

    def figures(self, now: float) -> dict[str, Any]:
        info = self.obj.cache_info()
        stats: CacheStats | None = getattr(self.obj, STATS_ATTR, None)
        hits, misses = info.hits + self._base_hits, info.misses + self._base_misses
        mean = stats.mean_miss_s() if stats is not None else None
        size = stats.mean_result_bytes() if stats is not None else None
        if mean is not None:
            saved, basis = hits * mean, "hits × mean measured miss time"
        elif stats is not None or not hits:
            saved, basis = 0.0, "no miss timed yet"
        else:
            saved, basis = (
                None,
                "misses not timed (lru_cache applied outside the pipeline's folder)",
            )
        return dict(
            hits=hits,
            misses=misses,
            entries=info.currsize,
            maxsize=info.maxsize,
            bytes=int(info.currsize * size) if size is not None else None,
            bytes_basis="estimate" if size is not None else None,
            seconds_saved=saved,
            saved_basis=basis,
        )

    def clear(self) -> str:
        info = self.obj.cache_info()
        self._base_hits += info.hits  # cache_clear() zeroes the counters too: keep them
        self._base_misses += info.misses
        self.obj.cache_clear()
        self.refresh()
        return f"cleared {self.name}: {info.currsize} entries dropped from memory"


class PropertyEntry(Entry):
    """A ``cached_property`` counted by ``workbench.authoring.autorecord``: hits, misses
    (each a computation, timed) and the time the hits saved; values live in the instances,
    so there is no entry count and nothing to clear from here."""

    source = "cached_property"

    def figures(self, now: float) -> dict[str, Any]:
        info = self.obj.cache_info()
        stats: CacheStats | None = getattr(self.obj, STATS_ATTR, None)
        mean = stats.mean_miss_s() if stats is not None else None
        if mean is not None:
            saved, basis = info.hits * mean, "hits × mean measured miss time"
        else:
            saved, basis = 0.0, "no miss timed yet"
        return dict(
            hits=info.hits,
            misses=info.misses,
            seconds_saved=saved,
            saved_basis=basis,
            clearable=False,
            deletions=info.deletions,
        )

    def clear(self) -> str:
        raise ValueError(
            f"{self.name} keeps its values in the instances: delete the attribute "
            "(`del obj.attr`) to compute it again"
        )


class DiskEntry(Entry):
    """A ``joblib.Memory`` cached function (found, or made by ``workbench.disk_cached``):
    hits and misses counted by pipebench, entries and bytes from its folder on disk."""

    kind = "disk"
    SCAN_S = 1.0  # the folder is scanned at most this often (and at the end)

    def __init__(
        self, name: str, memorized: Any, stats: CacheStats, source: str, disk_cache: Any = None
    ):
        super().__init__(name, memorized)
        self.source = source
        self.stats = stats
        self.disk_cache = disk_cache  # the workbench.DiskCache, when it is one
        self.folder = memorized.func_folder()
        #: Why results cannot be stored in the folder (read-only: only served), or None.
        self.read_only: OSError | None = getattr(disk_cache, "read_only", None)
        self._usage = (0, 0)
        self._next_scan = 0.0

    def figures(self, now: float) -> dict[str, Any]:
        if now >= self._next_scan:
            start = perf_counter()
            self._usage = folder_usage(self.folder)
            self._next_scan = now + max(self.SCAN_S, 50 * (perf_counter() - start))
        s = self.stats
        entries, nbytes = self._usage
        return dict(
            hits=s.hits,
            misses=s.misses,
            entries=entries,
            bytes=nbytes,
            bytes_basis="on disk",
            bytes_limit=getattr(self.disk_cache, "bytes_limit", None),
            seconds_saved=s.saved_s,
            saved_basis="compute time joblib recorded for each hit",
            hit_seconds=s.hit_s,
            path=self.folder,
            load_failures=s.load_failures,
            invalidations=s.invalidations,
            read_only=self.read_only is not None,
        )

    def clear(self) -> str:
        entries, nbytes = folder_usage(self.folder)
        if self.disk_cache is not None:
            self.disk_cache.clear()
        else:
            self.obj.clear(warn=False)
        self.refresh()
        return f"cleared {self.name}: {entries} entries ({nbytes} bytes) removed from {self.folder}"

    def refresh(self) -> None:
        self._next = self._next_scan = 0.0

    def finish(self) -> None:
        if self.disk_cache is not None:
            self.disk_cache.enforce_limit()
        self.refresh()


class InfoEntry(Entry):
    """Any object with a ``cache_info()`` method, a user's own cache among them. It must
    give ``hits`` and ``misses``; ``currsize``/``entries``, ``maxsize``, ``bytes``,
    ``seconds_saved``, ``kind`` ("memory" or "disk") and ``path`` are shown when given."""

    source = "cache_info"

    def figures(self, now: float) -> dict[str, Any]:
        info = _as_dict(self.obj.cache_info())
        hits, misses = _count(info.get("hits")), _count(info.get("misses"))
        if hits is None or misses is None:
            raise ValueError("its result has no whole-number hits and misses")
        kind = info.get("kind") if info.get("kind") in ("memory", "disk") else self.kind
        nbytes = _first(info, _BYTES)
        saved = info.get("seconds_saved")
        saved = (
            float(saved)
            if isinstance(saved, (int, float)) and not isinstance(saved, bool)
            else None
        )
        path = info.get("path")
        return dict(
            kind=kind,
            hits=hits,
            misses=misses,
            entries=_first(info, _ENTRIES),
            maxsize=_count(info.get("maxsize")),
            bytes=nbytes,
            bytes_basis="reported" if nbytes is not None else None,
            seconds_saved=saved,
            saved_basis="reported by cache_info()" if saved is not None else None,
            path=str(path) if path else None,
            clearable=self._clear_method() is not None,
        )

    def _clear_method(self) -> Any:
        for attr in ("cache_clear", "clear"):
            if inspect.getattr_static(self.obj, attr, None) is not None:
                method = getattr(self.obj, attr, None)
                if callable(method):
                    return method
        return None

    def clear(self) -> str:
        method = self._clear_method()
        if method is None:
            raise ValueError(f"{self.name} has no cache_clear() or clear() method")
        method()
        self.refresh()
        return f"cleared {self.name} with its {method.__name__}()"


def _as_dict(info: Any) -> dict[str, Any]:
    if isinstance(info, dict):
        return info
    if hasattr(info, "_asdict"):
        return dict(info._asdict())
    keys = ("hits", "misses", "maxsize", "seconds_saved", "kind", "path", *_ENTRIES, *_BYTES)
    return {k: getattr(info, k) for k in keys if hasattr(info, k)}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first(info: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for k in keys:
        v = _count(info.get(k))
        if v is not None:
            return v
    return None


class UnavailableEntry(Entry):
    """A cache found but not counted (an async joblib function, ...), shown with why."""

    def __init__(self, name: str, obj: Any, kind: str, source: str, reason: str):
        super().__init__(name, obj)
        self.kind, self.source, self.reason = kind, source, reason

    def row(self, now: float) -> CacheRow:
        return unavailable(self.name, self.kind, self.source, self.reason)

    def clear(self) -> str:
        raise ValueError(f"{self.name} is not counted by pipebench: {self.reason}")
