"""pipebench's own cache decorators: ``cached`` (in memory, LRU) and ``disk_cached``
(``joblib.Memory`` on disk with a byte limit), both counted and shown by pipebench.

Plain ``functools.lru_cache``, ``joblib.Memory.cache`` and any object with a
``cache_info()`` method are found in a pipeline module without these; the decorators add
what those lack: a byte limit on disk, a default folder under ``$PIPEBENCH_HOME``, and
registration, so a cache made anywhere (inside a factory, in a helper module) is shown.
Light to import: joblib is imported when the first disk cache is made.
"""

from __future__ import annotations

import errno
import functools
import importlib
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from workbench.authoring.cachestats import CacheStats, folder_usage, time_misses
from workbench.authoring.home import home_folder, pipebench_home, private_folder

#: Every cache made by these decorators in this process, in the order they were made.
REGISTRY: list[Any] = []

_lru_cache = functools.lru_cache  # the real one, whatever is patched later
#: Past the byte limit, results are dropped down to this share of it, so that the next few
#: new results do not each pay for a scan of the whole folder.
LOW_WATER = 0.9


def _qualname(func: Any) -> str:
    return str(getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func)))


def _user_error(message: str) -> Exception:
    from workbench.errors import UserError  # light; only when there is an error

    return UserError(message)


def default_location() -> Path:
    """Where ``disk_cached`` keeps results unless told otherwise: ``<home>/cache``."""
    return pipebench_home() / "cache"


#: Why a folder that exists cannot take a new file, when what is in it can still be read.
READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def write_error(folder: Path) -> OSError | None:
    """Make ``folder`` if needed and write and remove a file in it: None when that works,
    else the error (``NotADirectoryError`` when ``folder`` is a file)."""
    try:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".pipebench-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc
    return None


def check_cache_folder(folder: Path, what: str) -> OSError | None:
    """Check that a disk cache can use ``folder``: None when results can be written there,
    else the error that stops writes when ``folder`` is read-only but readable (a read-only
    mount, no write permission): the results in it can still be served.

    Raises:
        UserError: the folder cannot be made or is a file: no result can be there to serve.
    """
    exc = write_error(folder)
    if exc is None:
        return None
    if exc.errno in READ_ONLY_ERRNOS and folder.is_dir() and os.access(folder, os.R_OK | os.X_OK):
        return exc
    raise _user_error(
        f"{what}: cannot write to the cache folder {folder} "
        f"({exc.strerror or type(exc).__name__}); give it a writable location "
        "or set PIPEBENCH_HOME to a writable folder"
    )


def serve_read_only(folder: Path, what: str, exc: OSError) -> None:
    """Say once, on stderr (the run's log), that a cache in ``folder`` only serves what is
    there, and keep joblib from warning again at each new result it cannot store there."""
    print(
        f"pipebench: {what}: {folder} is read-only ({exc.strerror or exc}): its results are "
        "served, new ones are computed but not stored",
        file=sys.stderr,
        flush=True,
    )
    from joblib.memory import CacheWarning  # joblib is imported already: a cache exists

    warnings.filterwarnings(
        "ignore",
        message=r"Unable to cache to disk\..*" + re.escape(str(folder)),
        category=CacheWarning,
    )


def cached(
    func: Callable[..., Any] | None = None,
    /,
    *,
    maxsize: int | None = 128,
    typed: bool = False,
    name: str | None = None,
) -> Any:
    """Cache a function's results in memory (least recently used first out past ``maxsize``).

    It is ``functools.lru_cache`` (``cache_info``, ``cache_clear`` and the C fast path on
    a hit), with each miss timed and its result's size estimated, so pipebench can show
    seconds saved and bytes held.

    Args:
        maxsize: most results kept; None for no limit.
        typed: cache ``f(1)`` and ``f(1.0)`` apart.
        name: the name shown (default: the function's qualified name).
    """

    def decorate(f: Callable[..., Any]) -> Any:
        stats = CacheStats(name or _qualname(f), "memory")
        wrapper = _lru_cache(maxsize=maxsize, typed=typed)(time_misses(f, stats))
        REGISTRY.append(wrapper)
        return wrapper

    return decorate(func) if func is not None else decorate


class DiskCacheInfo(NamedTuple):
    """What ``DiskCache.cache_info()`` says, like ``lru_cache``'s, plus disk figures."""

    hits: int
    misses: int
    entries: int
    bytes: int
    bytes_limit: int | None
    seconds_saved: float


def _parse_limit(limit: int | str | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, str):
        from workbench.units import parse_size  # raises a one-line UserError

        return parse_size(limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise _user_error(f"bytes_limit must be a size such as 500MB or 2**30, not {limit!r}")
    return limit


class DiskCache:
    """A function cached on disk by ``joblib.Memory``, counted by pipebench, and held under
    ``bytes_limit`` with ``Memory.reduce_size`` (results used least recently go first).

    joblib's own invalidation applies: when the function's code changes, its results are
    dropped. ``clear()`` (alias ``cache_clear()``) drops them on request.
    """

    kind = "disk"

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        location: str | Path | None = None,
        bytes_limit: int | str | None = None,
        name: str | None = None,
        mmap_mode: str | None = None,
        compress: bool | int = False,
        ignore: list[str] | None = None,
        verbose: int = 0,
    ):
        from joblib import Memory

        from workbench.authoring.joblib_counting import count_calls

        self.name = name or _qualname(func)
        self.bytes_limit = _parse_limit(bytes_limit)
        what = f"disk cache {self.name}"
        # Results load as pickles, and a pickle runs code: a folder others can write to is
        # refused, as is a home that is not private; folders made here are made 0700.
        if location is None:
            self.location = home_folder("cache")
        else:
            self.location = private_folder(Path(location), f"the cache folder of {what}")
        #: Why results cannot be stored (a read-only folder that still serves its results).
        self.read_only: OSError | None = check_cache_folder(self.location, what)
        try:
            # A Path (not a str) location is used as given, without a joblib/ subfolder.
            self.memory = Memory(
                self.location, mmap_mode=mmap_mode, compress=compress, verbose=verbose
            )
            memorized = self.memory.cache(func, ignore=ignore)
        except OSError as exc:
            raise _user_error(
                f"{what}: cannot use the cache folder {self.location} ({exc.strerror or exc})"
            ) from None
        self.folder = Path(memorized.store_backend.location, memorized.func_id)
        self.read_only = check_cache_folder(self.folder, what) or self.read_only
        if self.read_only is not None:
            serve_read_only(self.folder, what, self.read_only)
        stats, _ = count_calls(memorized, self.name)
        assert stats is not None
        self.stats: CacheStats = stats
        self.memorized = memorized
        self._scoped: Any = None  # a Memory on this function's folder alone, for reduce_size
        self._approx: int | None = None  # bytes on disk, kept up to date between scans
        self._lock = threading.Lock()
        functools.update_wrapper(self, func)
        REGISTRY.append(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        before = self.stats.misses
        out = self.memorized(*args, **kwargs)
        if self.bytes_limit is not None and self.stats.misses != before and not self.read_only:
            self._account_write()
        return out

    def _account_write(self) -> None:
        with self._lock:
            call_id = self.stats.last_write
            if self._approx is None or call_id is None:
                self._approx = folder_usage(str(self.folder))[1]
            else:
                entry = os.path.join(self.memorized.store_backend.location, *call_id)
                try:
                    with os.scandir(entry) as files:
                        self._approx += sum(f.stat().st_size for f in files if f.is_file())
                except OSError:
                    pass
            if self.bytes_limit is not None and self._approx > self.bytes_limit:
                self._reduce()

    def _reduce(self) -> None:
        from joblib import Memory

        if self._scoped is None:
            self._scoped = Memory(self.folder, verbose=0)
        assert self.bytes_limit is not None
        self._scoped.reduce_size(bytes_limit=int(self.bytes_limit * LOW_WATER))
        self._approx = folder_usage(str(self.folder))[1]

    def enforce_limit(self) -> None:
        """Bring the results on disk under ``bytes_limit`` now (a no-op without one, when
        they are under it already, or in a read-only folder)."""
        if self.bytes_limit is not None and self.read_only is None:
            with self._lock:
                if folder_usage(str(self.folder))[1] > self.bytes_limit:
                    self._reduce()

    def cache_info(self) -> DiskCacheInfo:
        entries, nbytes = folder_usage(str(self.folder))
        s = self.stats
        return DiskCacheInfo(s.hits, s.misses, entries, nbytes, self.bytes_limit, s.saved_s)

    def clear(self) -> None:
        """Drop every result of this function from the disk."""
        with self._lock:
            self.memorized.clear(warn=False)
            self._approx = None

    cache_clear = clear

    def check_call_in_cache(self, *args: Any, **kwargs: Any) -> bool:
        return bool(self.memorized.check_call_in_cache(*args, **kwargs))

    def call_and_shelve(self, *args: Any, **kwargs: Any) -> Any:
        return self.memorized.call_and_shelve(*args, **kwargs)

    @property
    def func(self) -> Callable[..., Any]:
        return self.memorized.func  # type: ignore[no-any-return]

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        # Pickled by reference, like a function, so process pools can send it.
        return _resolve, (self.__module__, getattr(self, "__qualname__", self.name))

    def __repr__(self) -> str:
        limit = f", bytes_limit={self.bytes_limit}" if self.bytes_limit is not None else ""
        return f"<disk_cached {self.name} in {self.folder}{limit}>"


def _resolve(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def disk_cached(
    func: Callable[..., Any] | None = None,
    /,
    *,
    location: str | Path | None = None,
    bytes_limit: int | str | None = None,
    name: str | None = None,
    mmap_mode: str | None = None,
    compress: bool | int = False,
    ignore: list[str] | None = None,
    verbose: int = 0,
) -> Any:
    """Cache a function's results on disk with ``joblib.Memory``; they outlive the process.

    Args:
        location: the cache folder (default ``$PIPEBENCH_HOME/cache``), made ``0700`` if
            missing. Results load as pickles (a pickle runs code), so a folder that belongs
            to someone else or that its group or others can write to is refused with a
            one-line ``UserError`` when the function is decorated, as is one that cannot be
            made. A read-only folder (a read-only mount) serves the results already in it:
            new ones are computed but not stored, said once on stderr.
        bytes_limit: most bytes of results kept for this function (``"500MB"``, ``2**30``);
            checked after each new result and at the end of a run.
        name: the name shown (default: the function's qualified name).
        mmap_mode, compress, ignore, verbose: as for ``joblib.Memory.cache``.
    """

    def decorate(f: Callable[..., Any]) -> DiskCache:
        return DiskCache(
            f,
            location=location,
            bytes_limit=bytes_limit,
            name=name,
            mmap_mode=mmap_mode,
            compress=compress,
            ignore=ignore,
            verbose=verbose,
        )

    return decorate(func) if func is not None else decorate
