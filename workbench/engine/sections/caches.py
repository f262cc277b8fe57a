"""The caches a run touches, found without changing the user's code: section ``caches``.

Found in the pipeline module's namespace: ``functools.lru_cache``/``functools.cache``
functions, ``joblib.Memory(...).cache`` functions, and any other object with a
``cache_info()`` method; in the classes of the user's code it holds, ``lru_cache`` on methods
and ``cached_property`` (counted by ``authoring.autorecord``); plus every cache made with
``workbench.cached``/``disk_cached``, wherever it was made. A decorator that caches without
counters is listed as such, unavailable, with the change that makes it counted
(``cache_scan``). Per cache: hits, misses, hit rate, entries, bytes and seconds saved
(see ``cache_entries``). Requests to clear a cache are served here, on the sampler thread
(see ``cache_control``).
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from types import ModuleType
from typing import Any

from workbench.authoring import caching
from workbench.authoring.home import unsafe_fix, unsafe_reason
from workbench.authoring.pipeline import Pipeline
from workbench.engine.sections import SamplerContext, SectionSampler, cache_control
from workbench.engine.sections.cache_entries import (
    CacheRow,
    DiskEntry,
    Entry,
    InfoEntry,
    LruEntry,
    PropertyEntry,
    UnavailableEntry,
)
from workbench.engine.sections.cache_scan import class_caches, counting_hint, uncounted_cache
from workbench.engine.sections.json_form import JsonForm
from workbench.engine.usercode import user_classes

SECTION = "caches"
_SERVED_KEPT = 20


@dataclass(frozen=True)
class ServedClear(JsonForm):
    """The runner's answer to a request to clear a cache (see ``cache_control``):
    ``id`` is the request's, ``ok`` whether the cache was cleared, ``message`` what was
    done or why not, in a few words."""

    id: str | None
    name: str
    ok: bool
    message: str


@dataclass(frozen=True)
class CachesSection(JsonForm):
    """Section "caches" (runner child): one row per cache the run touches, and how to ask
    the run to clear one.

    ``live``: the run can still take clear requests, written into the folder ``control``
    (None once the run is over, or where the folder could not be made) of the runner
    ``pid``; ``served``: the answers to the latest requests (at most 20), oldest first.
    """

    caches: tuple[CacheRow, ...] = ()
    live: bool = False
    pid: int | None = None
    control: str | None = None
    served: tuple[ServedClear, ...] = ()

    def row(self, name: str) -> CacheRow | None:
        """The row of the cache called ``name``, if the run has one."""
        return next((r for r in self.caches if r.name == name), None)

    def answer(self, request_id: str) -> ServedClear | None:
        """The run's answer to the clear request ``request_id``, once it is in."""
        return next((s for s in self.served if s.id == request_id), None)


def _unsafe(folder: Path) -> str | None:
    """Why others could write to ``folder`` and the fix, or None (also when it is missing:
    joblib makes it with the user's umask)."""
    try:
        st = folder.stat()
    except OSError:
        return None
    why = unsafe_reason(st)
    return None if why is None else f"{why}; {unsafe_fix(folder, st)}"


def _joblib_entry(name: str, value: Any, source: str, disk_cache: Any = None) -> Entry:
    from workbench.authoring.joblib_counting import count_calls  # joblib is imported already

    stats, reason = count_calls(value, name)
    if stats is None:
        return UnavailableEntry(name, value, "disk", source, reason or "not counted")
    return DiskEntry(name, value, stats, source, disk_cache)


def classify(name: str, value: Any) -> Entry | None:
    """The entry for a module-level value that is a cache, else None."""
    if isinstance(value, (ModuleType, type, Pipeline)):
        return None
    if isinstance(value, functools._lru_cache_wrapper):
        return LruEntry(name, value, "lru_cache")
    if isinstance(value, caching.DiskCache):
        return _joblib_entry(value.name, value.memorized, "pipebench", value)
    memory = sys.modules.get("joblib.memory")  # never import joblib to look for it
    if memory is not None and isinstance(value, memory.MemorizedFunc):
        return _joblib_entry(name, value, "joblib")
    try:
        import inspect

        if inspect.getattr_static(value, "cache_info", None) is None:
            return None
        if not callable(getattr(value, "cache_info", None)):
            return None
    except Exception:
        return None
    return InfoEntry(name, value)


def _class_entry(name: str, value: Any) -> Entry:
    if isinstance(value, functools._lru_cache_wrapper):
        return LruEntry(name, value, "lru_cache")
    return PropertyEntry(name, value)


def _uncounted(name: str, value: Any) -> Entry | None:
    """An "unavailable" row for a decorator's wrapper that caches without counters."""
    found = uncounted_cache(value)
    if found is None:
        return None
    return UnavailableEntry(name, value, found[0], "uncounted", counting_hint(*found))


def registered(obj: Any) -> Entry:
    """The entry for a cache made by pipebench's own decorators."""
    if isinstance(obj, caching.DiskCache):
        return _joblib_entry(obj.name, obj.memorized, "pipebench", obj)
    stats = getattr(obj, "__pipebench_stats__", None)
    return LruEntry(stats.name if stats is not None else str(obj), obj, "pipebench")


class CachesSampler(SectionSampler):
    """Reads every cache of the run each snapshot; serves clear requests."""

    section = SECTION
    name = "caches"

    def __init__(self, module: ModuleType | None, control: Path | None = None):
        super().__init__()
        self.module = module
        self.control = control
        self.entries: dict[str, Entry] = {}
        self._ids: set[int] = set()
        self._registry_seen = 0
        self._rescanned = False
        self.live = True
        self.served: list[ServedClear] = []
        self.adopt_registry()  # first: pipebench's own caches go under their own names
        self.scan_module()

    # ---- finding caches ---------------------------------------------------------------
    def _add(self, entry: Entry, obj: Any) -> None:
        if id(obj) in self._ids:
            return
        self._ids.add(id(obj))
        name, n = entry.name, 1
        while name in self.entries:
            n += 1
            name = f"{entry.name}#{n}"
        entry.name = name
        self.entries[name] = entry

    def adopt_registry(self) -> None:
        reg = caching.REGISTRY
        while self._registry_seen < len(reg):
            obj = reg[self._registry_seen]
            self._registry_seen += 1
            self._add(registered(obj), obj)

    def scan_module(self) -> None:
        """Caches in the module's namespace and in the classes of the user's code it holds
        (methods, ``cached_property``), and caches there that keep no counters."""
        if self.module is None:
            return
        for name, value in list(vars(self.module).items()):
            if name.startswith("__") or id(value) in self._ids:
                continue
            entry = classify(name, value) or _uncounted(name, value)
            if entry is not None:
                self._add(entry, value)
        for cls in user_classes(self.module):
            for name, value in class_caches(cls):
                if id(value) not in self._ids:
                    self._add(_class_entry(name, value), value)
            for attr, value in list(vars(cls).items()):
                entry = _uncounted(f"{cls.__qualname__}.{attr}", value)
                if entry is not None and id(value) not in self._ids:
                    self._add(entry, value)

    def check_folders(self) -> None:
        """Check the folder of each ``joblib.Memory`` cache found in the module.

        A folder that cannot exist (a file in the way, cannot be made) is refused with a
        one-line ``UserError``: joblib would fail there too. A read-only one runs: its
        results are served, new ones computed and not stored, said once (as joblib only
        warns). One that belongs to someone else or that others can write to gets one
        warning line: the user chose it, and the module behaves the same without pipebench
        (``disk_cached`` folders and the home, pipebench's own, are refused instead).
        """
        warned: set[str] = set()
        for entry in self.entries.values():
            if not isinstance(entry, DiskEntry) or entry.disk_cache is not None:
                continue
            what = f"joblib cache {entry.name}"
            folder = Path(entry.folder)
            root = Path(entry.obj.store_backend.location)
            # Memory("x") keeps results in x/joblib: x is the folder the user chose.
            chosen = (root.parent,) if root.name == "joblib" else ()
            for place in (*chosen, root, folder):
                why = _unsafe(place)
                if why is not None and str(place) not in warned:
                    warned.add(str(place))
                    print(
                        f"pipebench: {what}: {place}: others could plant results there that "
                        f"load as pickles (code run as you): {why}",
                        file=sys.stderr,
                        flush=True,
                    )
            entry.read_only = caching.check_cache_folder(folder, what)
            if entry.read_only is not None:
                caching.serve_read_only(folder, what, entry.read_only)

    # ---- clearing ---------------------------------------------------------------------
    def serve(self) -> None:
        for req in cache_control.take_requests(self.control):
            name = req["clear"]
            entry = self.entries.get(name)
            try:
                if entry is None:
                    raise KeyError(f"no cache named {name!r}")
                ok, message = True, entry.clear()
            except Exception as exc:
                ok, message = False, f"could not clear {name}: {type(exc).__name__}: {exc}"
            print(f"pipebench: {message}", file=sys.stderr, flush=True)
            req_id = req.get("id")
            self.served.append(
                ServedClear(req_id if isinstance(req_id, str) else None, name, ok, message)
            )
            del self.served[:-_SERVED_KEPT]

    # ---- SectionSampler ---------------------------------------------------------------
    def active(self) -> bool:
        self.adopt_registry()
        if not self._rescanned:  # once more after the factory ran: caches it bound
            self._rescanned = True
            self.scan_module()
        return bool(self.entries)

    def read(self) -> CachesSection:
        self.adopt_registry()
        if not self._rescanned:  # once more after the factory ran: caches it bound
            self._rescanned = True
            self.scan_module()
        if self.live:
            self.serve()
        now = monotonic()
        return CachesSection(
            caches=tuple(e.row(now) for e in self.entries.values()),
            live=self.live,
            pid=os.getpid(),
            control=str(self.control) if self.live and self.control else None,
            served=tuple(self.served),
        )

    def close(self) -> None:
        self.adopt_registry()
        self.serve()
        self.live = False
        cache_control.remove_folder(self.control)
        errors = []
        for entry in self.entries.values():
            try:
                entry.finish()
            except Exception as exc:
                errors.append(f"{entry.name}: {type(exc).__name__}: {exc}")
        if errors:
            raise RuntimeError("; ".join(errors))


def make_sampler(ctx: SamplerContext) -> CachesSampler | None:
    """The caches sampler of a run (a section factory, see ``engine.child.section_samplers``).

    Raises ``UserError`` for a disk cache folder that cannot be used; any other
    failure costs the run its caches section (with a line in the log), not the run.
    """
    from workbench.errors import UserError

    try:
        control: Path | None = cache_control.make_control_folder()
    except OSError as exc:
        print(f"pipebench: caches cannot be cleared during this run: {exc}", file=sys.stderr)
        control = None
    try:
        sampler = CachesSampler(ctx.module, control)
        sampler.check_folders()
    except UserError:
        cache_control.remove_folder(control)
        raise
    except Exception as exc:
        cache_control.remove_folder(control)
        print(
            f"pipebench: caches are not shown for this run: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return None
    return sampler
