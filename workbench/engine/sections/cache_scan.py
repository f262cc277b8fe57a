"""Caches found in the user's classes, and caches that cannot be counted, for ``caches``.

- In a class of the user's code: ``functools.lru_cache``/``functools.cache`` on a method (also
  under ``staticmethod``, ``classmethod`` or ``property``), and the ``cached_property``
  values ``workbench.authoring.autorecord`` counts.
- A decorator's wrapper that caches without counters, such as a hand-made pickle/MD5 disk
  cache (``if os.path.exists(cache_file): return pickle.load(f)``) or a dict memo: found by
  what its code does, listed as "a cache without counters" with the one-line change that
  makes it counted, never counted by guess.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Iterator
from typing import Any

from workbench.authoring.autorecord import CountedCachedProperty
from workbench.engine.usercode import is_user_function

#: Names in a wrapper's code that store results (pickle/json/joblib ``dump``, NumPy
#: ``save``, pandas ``to_pickle``) and that load them back: a wrapper that does both keeps
#: results on disk. Plain file writes and reads (a log) are not enough.
_DISK_WRITE = frozenset({"dump", "save", "savez", "to_pickle", "to_parquet"})
_DISK_READ = frozenset({"load", "read_pickle", "read_parquet"})
_CACHE_WORD = re.compile(r"cach|memo", re.IGNORECASE)


def class_caches(cls: type) -> Iterator[tuple[str, Any]]:
    """``(name, cache)`` for the lru caches and counted ``cached_property`` values that
    ``cls`` defines itself (names like ``Tokenizer.encode``)."""
    for attr, value in list(vars(cls).items()):
        inner = value
        if isinstance(value, (staticmethod, classmethod)):
            inner = value.__func__
        elif isinstance(value, property):
            inner = value.fget
        if isinstance(inner, (functools._lru_cache_wrapper, CountedCachedProperty)):
            yield f"{cls.__qualname__}.{attr}", inner


def _wrapped_function(wrapper: Any) -> Any:
    """The user function a decorator's wrapper closes over, or None."""
    for cell in wrapper.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if inspect.isfunction(value) and value is not wrapper:
            return value
    return None


def _holds_dict(wrapper: Any) -> bool:
    for cell in wrapper.__closure__ or ():
        try:
            if isinstance(cell.cell_contents, dict):
                return True
        except ValueError:
            continue
    return False


def uncounted_cache(value: Any) -> tuple[str, str, str] | None:
    """``(kind, decorator, function)`` when ``value`` is a decorator's wrapper that caches
    results without counting them, else None.

    A wrapper is such a cache when it is the user's code, closes over the function it wraps,
    and either keeps results on disk (its code both stores them, e.g. ``pickle.dump``, and
    loads them back, e.g. ``pickle.load``) or its decorator is named for a cache (``cache``,
    ``memo``) and it holds a dict.
    """
    if not inspect.isfunction(value) or "<locals>" not in value.__qualname__:
        return None
    if not is_user_function(value):
        return None
    func = _wrapped_function(value)
    if func is None or hasattr(value, "cache_info"):
        return None
    names = set(value.__code__.co_names)
    on_disk = bool(names & _DISK_WRITE) and bool(names & _DISK_READ)
    decorator = value.__qualname__.split(".<locals>")[0]
    named = bool(_CACHE_WORD.search(decorator))
    if not (on_disk or (named and _holds_dict(value))):
        return None
    return ("disk" if on_disk else "memory"), decorator, func.__qualname__


def counting_hint(kind: str, decorator: str, function: str) -> str:
    """The reason shown for a cache without counters: what it is and the one-line change
    that makes pipebench count it."""
    short = decorator.rsplit(".", 1)[-1]
    if kind == "disk":
        change = (
            f"decorate {function} with @workbench.disk_cached instead of @{short} "
            "(joblib on disk, with a size limit)"
        )
    else:
        change = f"decorate {function} with @functools.lru_cache(maxsize=None) instead of @{short}"
    return f"a cache without counters (made by {decorator}): to count it, {change}"
