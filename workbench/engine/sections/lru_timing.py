"""Times the misses of ``functools.lru_cache`` functions of the user's code, in the runner child.

``lru_cache`` counts hits and misses but not time, and its C wrapper cannot be reached into
afterwards. So before the pipeline module is imported, the child puts a twin of
``functools.lru_cache`` in its place (``functools.cache`` goes through it too). For
functions defined in the module's folder, the twin puts a miss timer *inside* the cache:
hits never reach it and cost exactly what they cost before; every other function (the
libraries') is decorated by the real ``lru_cache``, untouched. The user's code is not
changed, and nothing is patched in the pipebench process itself.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.authoring.cachestats import STATS_ATTR, CacheStats, time_misses
from workbench.engine.loader import Target

_real_lru_cache = functools.lru_cache
_roots: list[str] = []
_verdicts: dict[str, bool] = {}  # source file -> whether it is user code


def _module_folder(target: Target) -> str | None:
    try:
        if target.is_path:
            return str(Path(target.module).resolve().parent)
        spec = importlib.util.find_spec(target.module)
    except (ImportError, ValueError, OSError):
        return None
    origin = getattr(spec, "origin", None)
    return str(Path(origin).resolve().parent) if origin else None


def is_user_code(func: Any) -> bool:
    """Whether ``func`` was defined in the pipeline module's folder (not in an installed
    package), so its misses are timed."""
    code = getattr(func, "__code__", None)
    return code is not None and is_user_file(code.co_filename)


def is_user_file(filename: str) -> bool:
    """Whether the source file ``filename`` is in the pipeline module's folder (and not in
    an installed package under it): the user's code."""
    if not _roots:
        return False
    verdict = _verdicts.get(filename)
    if verdict is None:
        path = os.path.realpath(filename)
        verdict = False
        for root in _roots:
            if path.startswith(root + os.sep):
                rest = Path(path[len(root) + 1 :]).parts
                verdict = not any(p in ("site-packages", "dist-packages") for p in rest)
                break
        _verdicts[filename] = verdict
    return verdict


def _decorate(decorating: Callable[[Any], Any], func: Any) -> Any:
    if is_user_code(func) and not hasattr(func, STATS_ATTR):
        name = getattr(func, "__qualname__", None) or getattr(func, "__name__", "?")
        func = time_misses(func, CacheStats(str(name), "memory"))
    return decorating(func)


def lru_cache(maxsize: Any = 128, typed: bool = False) -> Any:
    """``functools.lru_cache``, with misses timed for functions of the user's code."""
    if callable(maxsize) and isinstance(typed, bool):  # @lru_cache without arguments
        return _decorate(_real_lru_cache(128, typed), maxsize)
    decorating = _real_lru_cache(maxsize, typed)  # checks the arguments as usual
    return functools.partial(_decorate, decorating)


lru_cache.__doc__ = _real_lru_cache.__doc__


def install(target: Target) -> None:
    """Time the lru_cache misses of functions defined in ``target``'s folder from now on
    (call before importing it). Does nothing when the folder cannot be told."""
    root = _module_folder(target)
    if root is None:
        return
    if root not in _roots:
        _roots.append(root)
        _verdicts.clear()
    functools.lru_cache = lru_cache  # type: ignore[assignment]
