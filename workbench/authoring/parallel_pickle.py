"""Pickling for worker processes: the user's own modules travel by value, libraries by name.

A Dask worker runs on another machine, or in another folder: it has the installed packages
(pipebench among them) but not the user's files. cloudpickle sends a function *by value*
(its code) only when its module is registered with ``register_pickle_by_value``; everything
else, a module-level ``functools.lru_cache`` helper included, goes *by reference* (a name the
worker must import). So for Dask, every module loaded from the user's own files is
registered while a stage's function, its values or its results are pickled, and an
``lru_cache`` wrapper of such a module is rebuilt on the worker around its function sent by
value (with an empty cache: each worker process keeps its own, as it would after an import).

loky workers are local processes with the same ``sys.path``: they import modules by name,
and only a module pipebench had to load under a made-up name travels by value.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import site
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from workbench.errors import UserError

_register_lock = threading.Lock()


def _library_roots() -> tuple[str, ...]:
    """Folders that hold installed code: the standard library and the site folders."""
    roots: set[str] = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if key in paths:
            roots.add(os.path.realpath(paths[key]))
    with contextlib.suppress(AttributeError, OSError):  # a virtualenv's old site.py
        roots.update(os.path.realpath(p) for p in site.getsitepackages())
    with contextlib.suppress(AttributeError, OSError):
        roots.add(os.path.realpath(site.getusersitepackages()))
    return tuple(sorted(roots))


def is_local_module(module: ModuleType, roots: tuple[str, ...] | None = None) -> bool:
    """Whether ``module`` was loaded from the user's own files: it has a source file that
    is neither in the standard library nor in a site-packages or dist-packages folder, and
    it is not pipebench (which every worker has installed)."""
    name = getattr(module, "__name__", "") or ""
    if name == "__main__" or name.split(".")[0] == "workbench":
        return False  # cloudpickle ships __main__ by value by itself
    file = getattr(module, "__file__", None)
    if not isinstance(file, str) or not file.endswith(".py"):
        return False  # built in, frozen, a compiled extension or a namespace package
    path = os.path.realpath(file)
    parts = Path(path).parts
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    for root in _library_roots() if roots is None else roots:
        if path.startswith(root + os.sep):
            return False
    return True


def local_modules() -> list[ModuleType]:
    """Every module of this process loaded from the user's own files (see
    ``is_local_module``): the pipeline module and the helpers it imports."""
    roots = _library_roots()
    return [m for m in list(sys.modules.values()) if m is not None and is_local_module(m, roots)]


def loky_by_value(fn: Any) -> list[ModuleType]:
    """The modules of ``fn`` a loky worker cannot import by name: those pipebench loaded
    under a made-up name (``_pipebench_...``), when another module had the file's name."""
    out = []
    for obj in (fn, getattr(fn, "func", None), type(fn)):
        mod = sys.modules.get(getattr(obj, "__module__", None) or "")
        if mod is not None and mod.__name__.startswith("_pipebench_") and mod not in out:
            out.append(mod)
    return out


def _rebuild_lru_cache(func: Callable[..., Any], maxsize: int | None, typed: bool) -> Any:
    """On the worker: ``functools.lru_cache(maxsize, typed)(func)``, an empty cache."""
    return functools.lru_cache(maxsize=maxsize, typed=typed)(func)


def _unwrap_timing(func: Any) -> Any:
    """The user's function under pipebench's miss timer (``cachestats.time_misses``), which
    the runner puts inside the user's ``lru_cache``s and which holds process-local state."""
    from workbench.authoring.cachestats import STATS_ATTR

    while hasattr(func, STATS_ATTR) and hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    return func


def _pickler_class() -> type:
    import cloudpickle

    class ByValuePickler(cloudpickle.Pickler):  # type: ignore[misc, name-defined]
        """cloudpickle, and ``lru_cache`` wrappers of by-value modules rebuilt around their
        function instead of named (pickle names them, and the worker cannot import it)."""

        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, functools._lru_cache_wrapper):
                func = _unwrap_timing(getattr(obj, "__wrapped__", None))
                module = getattr(func, "__module__", None) or ""
                if func is not None and module in cloudpickle.list_registry_pickle_by_value():
                    params = obj.cache_parameters()
                    return (_rebuild_lru_cache, (func, params["maxsize"], params["typed"]))
            return super().reducer_override(obj)

    return ByValuePickler


_PICKLER: list[type] = []


def dumps(obj: Any, by_value: Iterable[ModuleType] = ()) -> bytes:
    """``obj`` pickled with cloudpickle, the modules ``by_value`` sent as code.

    Raises whatever pickling raises (``TypeError``, ``PicklingError``, ...).
    """
    import cloudpickle

    if not _PICKLER:
        _PICKLER.append(_pickler_class())
    with _register_lock:
        registered = set(cloudpickle.list_registry_pickle_by_value())
        added = [m for m in by_value if m.__name__ not in registered]
        for m in added:
            cloudpickle.register_pickle_by_value(m)
        try:
            buf = io.BytesIO()
            _PICKLER[0](buf, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(obj)
            return buf.getvalue()
        finally:
            for m in added:
                cloudpickle.unregister_pickle_by_value(m)


def dumps_function(fn: Callable[..., Any], backend: str, stage_name: str) -> bytes:
    """``fn`` pickled for ``backend``'s workers, or a ``UserError`` that says it cannot be.

    Dask: every local module by value (see the module's docstring); loky: only modules
    loaded under a made-up name.
    """
    by_value = local_modules() if backend == "dask" else loky_by_value(fn)
    try:
        return dumps(fn, by_value)
    except Exception as exc:
        why = str(exc).split("\n")[0]
        raise UserError(
            f"stage {stage_name}: its function cannot be pickled to send to {backend} "
            f"worker processes ({type(exc).__name__}: {why}); define it at module level "
            "without unpicklable state (open files, locks, generators), or run with "
            "--backend threading"
        ) from None
